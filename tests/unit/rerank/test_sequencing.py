"""Provider caps and spacing: naive references, constraint checks on every list, hand cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.rerank.sequencing import (
    provider_cap,
    provider_cap_satisfied,
    spacing,
    spacing_satisfied,
)


def cap_reference(cands, attr, k, c, relax):
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        lst, skipped, count = [], [], {}
        for i in (int(x) for x in cands[u] if x >= 0):
            a = attr[i]
            if a < 0 or count.get(a, 0) < c:
                lst.append(i)
                count[a] = count.get(a, 0) + 1
            else:
                skipped.append(i)
        if relax:
            lst += skipped
        lst = lst[:k]
        out[u, : len(lst)] = lst
    return out


def spacing_reference(cands, attr, k, g, relax):
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        left = [int(x) for x in cands[u] if x >= 0]
        lst = []
        while left and len(lst) < k:
            t = len(lst)
            ok = [
                i
                for i in left
                if attr[i] < 0 or all(attr[lst[s]] != attr[i] for s in range(max(0, t - g), t))
            ]
            if ok:
                item = ok[0]
            elif relax:
                item = left[0]
            else:
                break
            left.remove(item)
            lst.append(item)
        out[u, : len(lst)] = lst
    return out


def naive_cap_ok(recs, attr, c):
    res = []
    for row in recs:
        vals = [attr[i] for i in row if i >= 0 and attr[i] >= 0]
        res.append(all(vals.count(v) <= c for v in vals))
    return np.array(res)


def naive_spacing_ok(recs, attr, g):
    res = []
    for row in recs:
        items = [i for i in row if i >= 0]
        res.append(
            all(
                attr[items[p]] < 0 or attr[items[p]] != attr[items[q]] or q - p > g
                for p in range(len(items))
                for q in range(p + 1, len(items))
            )
        )
    return np.array(res)


def random_case(seed, n_users, n_cand, n_items=14, n_values=4):
    rng = np.random.default_rng(seed)
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
    attr = rng.integers(-1, n_values, size=n_items)
    return cands, attr


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 10),
    k=st.integers(1, 12),
    c=st.integers(1, 3),
    relax=st.booleans(),
)
def test_provider_cap_matches_reference(seed, n_users, n_cand, k, c, relax):
    cands, attr = random_case(seed, n_users, n_cand)
    mode = "relax" if relax else "truncate"
    got = provider_cap(cands, attr, k, c, infeasible=mode)
    np.testing.assert_array_equal(got, cap_reference(cands, attr, k, c, relax))
    np.testing.assert_array_equal(provider_cap_satisfied(got, attr, c), naive_cap_ok(got, attr, c))
    if not relax:
        assert provider_cap_satisfied(got, attr, c).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 10),
    k=st.integers(1, 12),
    g=st.integers(0, 4),
    relax=st.booleans(),
)
def test_spacing_matches_reference(seed, n_users, n_cand, k, g, relax):
    cands, attr = random_case(seed, n_users, n_cand)
    mode = "relax" if relax else "truncate"
    got = spacing(cands, attr, k, g, infeasible=mode)
    np.testing.assert_array_equal(got, spacing_reference(cands, attr, k, g, relax))
    np.testing.assert_array_equal(spacing_satisfied(got, attr, g), naive_spacing_ok(got, attr, g))
    if not relax:
        assert spacing_satisfied(got, attr, g).all()
    else:
        np.testing.assert_array_equal((got >= 0).sum(1), np.minimum((cands >= 0).sum(1), k))


def test_hand_cases():
    # artists: items 0, 1, 2 by artist 7; item 3 by artist 8; item 4 unknown
    attr = np.array([7, 7, 7, 8, -1])
    cands = np.array([[0, 1, 2, 3, 4]], dtype=np.int32)
    np.testing.assert_array_equal(provider_cap(cands, attr, 5, 2), [[0, 1, 3, 4, -1]])
    np.testing.assert_array_equal(
        provider_cap(cands, attr, 5, 2, infeasible="relax"), [[0, 1, 3, 4, 2]]
    )
    # g = 1: 0, 3, 1, 4, 2 (the unknown item 4 separates items 1 and 2)
    np.testing.assert_array_equal(spacing(cands, attr, 5, 1), [[0, 3, 1, 4, 2]])
    # g = 2: 0, 3, 4, 1, then item 2 would be 1 position after item 1 -> truncated
    np.testing.assert_array_equal(spacing(cands, attr, 5, 2), [[0, 3, 4, 1, -1]])
    relaxed = spacing(cands, attr, 5, 2, infeasible="relax")
    np.testing.assert_array_equal(relaxed, [[0, 3, 4, 1, 2]])
    assert not spacing_satisfied(relaxed, attr, 2)[0]
    # g = 0 and a large cap keep the input order; k > N pads
    np.testing.assert_array_equal(spacing(cands, attr, 7, 0), [[0, 1, 2, 3, 4, -1, -1]])
    np.testing.assert_array_equal(provider_cap(cands, attr, 3, 5), [[0, 1, 2]])


@pytest.mark.parametrize(
    "call",
    [
        lambda c, a: provider_cap(c, a, 2, 0),
        lambda c, a: spacing(c, a, 2, -1),
        lambda c, a: spacing(c, a, 2, 1, infeasible="skip"),
        lambda c, a: provider_cap(c, np.array([0, -3]), 2, 1),
        lambda c, a: spacing(np.array([[0, 5]], dtype=np.int32), a, 2, 1),
    ],
)
def test_invalid_input_raises_user_error(call):
    with pytest.raises(UserError):
        call(np.array([[0, 1]], dtype=np.int32), np.array([0, 1]))
