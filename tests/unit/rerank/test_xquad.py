"""Popularity-aware xQuAD against a naive reference, plus hand cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.rerank.xquad import tail_preference, xquad


def minmax(s):
    """Per-user min-max normalisation; all equal -> 1."""
    if s and max(s) > min(s):
        return [(x - min(s)) / (max(s) - min(s)) for x in s]
    return [1.0] * len(s)


def xquad_reference(cands, scores, tail, p_tail, k, lam, variant):
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        items = [int(i) for i in cands[u] if i >= 0]
        s = [x for i, x in zip(cands[u], scores[u], strict=True) if i >= 0]
        rel = minmax(s)
        chosen = []
        while len(chosen) < min(k, len(items)):

            def obj(i, chosen=chosen, items=items, rel=rel, u=u):
                total = 0.0
                for is_tail, pc in ((True, p_tail[u]), (False, 1 - p_tail[u])):
                    in_c = [bool(tail[items[j]]) == is_tail for j in chosen]
                    if variant == "binary":
                        cover = 1.0
                        for x in in_c:
                            cover *= 1 - x
                    else:
                        cover = 1 - sum(in_c) / len(in_c) if in_c else 1.0
                    total += pc * (bool(tail[items[i]]) == is_tail) * cover
                return (1 - lam) * rel[i] + lam * total

            left = [i for i in range(len(items)) if i not in chosen]
            chosen.append(max(left, key=lambda i: (obj(i), -i)))
        out[u, : len(chosen)] = [items[i] for i in chosen]
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 8),
    k=st.integers(1, 9),
    lam=st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]),
    variant=st.sampled_from(["binary", "smooth"]),
)
def test_xquad_matches_reference(seed, n_users, n_cand, k, lam, variant):
    rng = np.random.default_rng(seed)
    n_items = 12
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    scores = np.full((n_users, n_cand), -np.inf)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
        scores[u, :n] = -np.sort(-rng.normal(size=n))
    tail = rng.random(n_items) < 0.5
    p_tail = rng.random(n_users)
    got = xquad(cands, scores, tail, p_tail, k, lam, variant)
    assert got.dtype == np.int32 and got.shape == (n_users, k)
    np.testing.assert_array_equal(
        got, xquad_reference(cands, scores, tail, p_tail, k, lam, variant)
    )


def test_hand_case_binary_and_smooth():
    tail = np.array([False, False, False, True, True])
    cands = np.array([[0, 1, 2, 3, 4]], dtype=np.int32)
    scores = np.array([[4.0, 3.0, 2.0, 1.0, 0.0]])  # rel 1, .75, .5, .25, 0
    p_tail = np.array([0.5])
    # lam = 0.5: step 1 head 0 -> .5 + .25 = .75. Step 2 binary: head cover 0, item 1 -> .375,
    # item 3 -> .125 + .25 = .375: tie -> item 1 (earlier). Then tail item 3: .125 + .25 beats .25
    np.testing.assert_array_equal(xquad(cands, scores, tail, p_tail, 3, 0.5), [[0, 1, 3]])
    # smooth, step 2: head cover 0 (1 - 1/1); same tie -> item 1; step 3: head cover 0, tail 1:
    # item 2 -> .25, item 3 -> .125 + .25 -> item 3; step 4: head cover 1/3, tail 2/3:
    # item 2 -> .25 + .25/3 = .333, item 4 -> 0 + .25 * 2/3 = .167 -> item 2
    np.testing.assert_array_equal(
        xquad(cands, scores, tail, p_tail, 4, 0.5, "smooth"), [[0, 1, 3, 2]]
    )
    # lam = 0 keeps the input order
    np.testing.assert_array_equal(xquad(cands, scores, tail, p_tail, 5, 0.0), cands)


def test_tail_preference_from_profiles():
    tail = np.array([True, False, True, False])
    indptr = np.array([0, 2, 2, 5])
    indices = np.array([0, 1, 0, 2, 3])
    np.testing.assert_allclose(tail_preference(indptr, indices, tail), [0.5, 0.5, 2 / 3])


@pytest.mark.parametrize(
    "kwargs", [{"variant": "soft"}, {"p_tail": np.array([1.5])}, {"p_tail": np.array([0.5, 0.5])}]
)
def test_invalid_input_raises_user_error(kwargs):
    args = {"variant": "binary", "p_tail": np.array([0.5]), **kwargs}
    with pytest.raises(UserError):
        xquad(
            np.array([[0, 1]], dtype=np.int32),
            np.array([[1.0, 0.0]]),
            np.array([True, False]),
            args["p_tail"],
            2,
            0.5,
            args["variant"],
        )
