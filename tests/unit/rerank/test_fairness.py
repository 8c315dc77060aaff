"""FA*IR prefix quotas: the binomial table, the alpha adjustment and every output list."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from recsys_cli.errors import UserError
from recsys_cli.rerank.fairness import (
    fail_probability,
    fair_exposure,
    minimum_protected,
    prefix_quota_satisfied,
)


def fair_reference(cands, protected, k, table, relax):
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        prot = [int(i) for i in cands[u] if i >= 0 and protected[i]]
        other = [int(i) for i in cands[u] if i >= 0 and not protected[i]]
        order = [int(i) for i in cands[u] if i >= 0]
        lst = []
        n_prot = 0
        while len(lst) < min(k, len(order)):
            need = table[len(lst)]
            if n_prot < need:
                if prot:
                    item = prot.pop(0)
                elif relax:
                    item = other.pop(0)
                else:
                    break
            else:
                heads = [x for x in (prot[:1] + other[:1])]
                item = min(heads, key=order.index)
                (prot if item in prot else other).remove(item)
            n_prot += bool(protected[item])
            lst.append(item)
        out[u, : len(lst)] = lst
    return out


def test_unadjusted_table_is_binomial_ppf():
    got = minimum_protected(10, 0.5, 0.1, adjust=False)
    expect = [int(binom.ppf(0.1, i, 0.5)) for i in range(1, 11)]
    np.testing.assert_array_equal(got, expect)
    # hand values: P(X <= 0 | n=4) = 1/16 < .1, P(X <= 1 | n=4) = 5/16 -> m(4) = 1
    assert got[3] == 1 and got[:3].tolist() == [0, 0, 0]


@pytest.mark.parametrize("k,p", [(6, 0.3), (10, 0.5), (12, 0.7)])
def test_fail_probability_matches_enumeration(k, p):
    table = minimum_protected(k, p, 0.3, adjust=False)
    fail = 0.0
    for seq in itertools.product([0, 1], repeat=k):
        prefix = np.cumsum(seq)
        if (prefix < table).any():
            fail += p ** sum(seq) * (1 - p) ** (k - sum(seq))
    assert fail_probability(table, p) == pytest.approx(fail, abs=1e-12)


@pytest.mark.parametrize("k,p,alpha", [(10, 0.5, 0.1), (20, 0.3, 0.05), (40, 0.6, 0.1)])
def test_adjusted_table_controls_overall_failure(k, p, alpha):
    adj = minimum_protected(k, p, alpha)
    raw = minimum_protected(k, p, alpha, adjust=False)
    assert fail_probability(adj, p) <= alpha + 1e-12
    assert (adj <= raw).all()
    # maximal: raising any single entry by one breaks the bound or the monotone table
    assert fail_probability(raw, p) > alpha or (adj == raw).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 10),
    k=st.integers(1, 12),
    p=st.sampled_from([0.2, 0.5, 0.8]),
    relax=st.booleans(),
)
def test_fair_exposure_matches_reference_and_quotas_hold(seed, n_users, n_cand, k, p, relax):
    rng = np.random.default_rng(seed)
    n_items = 15
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
    protected = rng.random(n_items) < 0.4
    mode = "relax" if relax else "truncate"
    got = fair_exposure(cands, protected, k, p, alpha=0.1, infeasible=mode)
    table = minimum_protected(k, p, 0.1)
    np.testing.assert_array_equal(got, fair_reference(cands, protected, k, table, relax))
    ok = prefix_quota_satisfied(got, protected, table)
    if not relax:
        assert ok.all()
    n_valid = (cands >= 0).sum(axis=1)
    lengths = (got >= 0).sum(axis=1)
    if relax:
        np.testing.assert_array_equal(lengths, np.minimum(n_valid, k))


def test_hand_case_protected_item_moves_up():
    protected = np.array([False, False, False, False, True, True])
    cands = np.array([[0, 1, 2, 3, 4, 5]], dtype=np.int32)
    table = minimum_protected(6, 0.5, 0.1, adjust=False)  # [0, 0, 0, 1, 1, 1]
    got = fair_exposure(cands, protected, 6, 0.5, alpha=0.1, adjust=False)
    # position 4 needs one protected item: item 4 jumps over item 3
    np.testing.assert_array_equal(got, [[0, 1, 2, 4, 3, 5]])
    assert prefix_quota_satisfied(got, protected, table).all()
    # no protected candidate at all: truncate before position 4, or relax and report it
    none = np.array([[0, 1, 2, 3, -1, -1]], dtype=np.int32)
    got = fair_exposure(none, protected, 6, 0.5, adjust=False)
    np.testing.assert_array_equal(got, [[0, 1, 2, -1, -1, -1]])
    relaxed = fair_exposure(none, protected, 6, 0.5, adjust=False, infeasible="relax")
    np.testing.assert_array_equal(relaxed, [[0, 1, 2, 3, -1, -1]])
    assert not prefix_quota_satisfied(relaxed, protected, table).any()


@pytest.mark.parametrize(
    "kwargs", [{"p": 0.0}, {"p": 1.0}, {"alpha": 0.0}, {"infeasible": "ignore"}, {"k": 0}]
)
def test_invalid_input_raises_user_error(kwargs):
    args = {"p": 0.5, "alpha": 0.1, "infeasible": "truncate", "k": 2, **kwargs}
    with pytest.raises(UserError):
        fair_exposure(
            np.array([[0, 1]], dtype=np.int32),
            np.array([True, False]),
            args["k"],
            args["p"],
            args["alpha"],
            infeasible=args["infeasible"],
        )
