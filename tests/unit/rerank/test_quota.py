"""Share quotas: greedy kernel vs a naive loop, prefix guarantees, relaxation, hand cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.rerank.quota import quota, quota_satisfied


def naive(candidates, member, k, share):
    out = []
    for row, marks in zip(candidates.tolist(), member.tolist(), strict=True):
        pool = [(c, m) for c, m in zip(row, marks, strict=True) if c >= 0]
        chosen, count = [], 0
        for r in range(1, k + 1):
            if not pool:
                break
            need = math.ceil(share * r - 1e-12)
            pick = next((p for p in pool if p[1]), None) if count < need else None
            pick = pick or pool[0]
            pool.remove(pick)
            chosen.append(pick[0])
            count += pick[1]
        out.append(chosen + [-1] * (k - len(chosen)))
    return np.array(out, dtype=np.int32)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10_000),
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(1, 14),
    st.floats(0, 1),
)
def test_matches_naive_loop_and_holds_prefix_quotas(seed, n_users, n, k, share):
    rng = np.random.default_rng(seed)
    candidates = np.stack([rng.permutation(40)[:n] for _ in range(n_users)]).astype(np.int32)
    if rng.random() < 0.3:  # short candidate lists: -1 padding at the end
        candidates[:, rng.integers(0, n + 1) :] = -1
    member = rng.random((n_users, n)) < 0.4
    got = quota(candidates, member, k, share)
    assert np.array_equal(got, naive(candidates, member, k, share))
    for u in range(n_users):
        is_member = {c for c, m in zip(candidates[u], member[u], strict=True) if m and c >= 0}
        marks = np.array([c in is_member for c in got[u]])
        available = len(is_member)
        if quota_satisfied(got[u : u + 1], marks[None, :], share)[0]:
            continue
        # Only allowed when the user's member candidates ran out.
        assert marks.sum() == available


def test_hand_case_moves_members_up_and_relaxes_when_none_remain():
    candidates = np.array([[10, 11, 12, 13, 14]], dtype=np.int32)
    member = np.array([[False, False, True, False, True]])
    # share 0.5: r=1 needs 1 -> 12; r=2 needs 1 -> 10; r=3 needs 2 -> 14; r=4 needs 2 -> 11
    assert quota(candidates, member, 4, 0.5).tolist() == [[12, 10, 14, 11]]
    # share 1: members first, then the quota is relaxed when they run out
    assert quota(candidates, member, 4, 1.0).tolist() == [[12, 14, 10, 11]]
    assert quota(candidates, member, 4, 0.0).tolist() == [[10, 11, 12, 13]]


def test_invalid_input_is_a_user_error():
    candidates = np.zeros((1, 3), dtype=np.int32)
    with pytest.raises(UserError):
        quota(candidates, np.zeros((1, 3), bool), 2, 1.5)
    with pytest.raises(UserError):
        quota(candidates, np.zeros((2, 3), bool), 2, 0.5)
