"""DPP fast greedy MAP against brute-force greedy log-det maximisation, plus edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.rerank.dpp import dpp


def random_batch(seed, n_users, n_cand, n_items, dim):
    rng = np.random.default_rng(seed)
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    scores = np.full((n_users, n_cand), -np.inf)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
        scores[u, :n] = -np.sort(-rng.normal(size=n))
    return cands, scores, rng.normal(size=(n_items, dim))


def brute_force_greedy(cands, scores, emb, k, theta, window=None):
    """Greedy argmax log det(L_{W+i}) by explicit determinants, with the paper's r = exp(alpha rel).

    W is every pick so far, or the last window - 1 picks. No stopping rule (the tests use full-rank
    kernels, so every marginal gain is positive).
    """
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    alpha = theta / (2 * (1 - theta))
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        items = [int(i) for i in cands[u] if i >= 0]
        s = np.array([x for i, x in zip(cands[u], scores[u], strict=True) if i >= 0])
        if not items:
            continue
        span = s.max() - s.min()
        rel = (s - s.min()) / span if span > 0 else np.ones_like(s)
        r = np.exp(alpha * rel)
        sim = unit[items] @ unit[items].T
        np.fill_diagonal(sim, 1.0)  # exact, as in the kernel: rounding must not break ties
        big_l = r[:, None] * sim * r[None, :]
        chosen = []
        for _ in range(min(k, len(items))):
            start = 0 if window is None else max(0, len(chosen) - (window - 1))
            ctx = chosen[start:]
            best, best_v = None, -np.inf
            for i in range(len(items)):
                if i in chosen:
                    continue
                idx = [*ctx, i]
                sign, logdet = np.linalg.slogdet(big_l[np.ix_(idx, idx)])
                v = logdet if sign > 0 else -np.inf
                if v > best_v:
                    best, best_v = i, v
            chosen.append(best)
        out[u, : len(chosen)] = [items[i] for i in chosen]
    return out


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 3),
    n_cand=st.integers(1, 7),
    k=st.integers(1, 8),
    theta=st.sampled_from([0.0, 0.2, 0.5, 0.7, 0.85]),
)
def test_fast_greedy_matches_brute_force(seed, n_users, n_cand, k, theta):
    cands, scores, emb = random_batch(seed, n_users, n_cand, 10, dim=8)
    got = dpp(cands, scores, emb, k, theta)
    assert got.dtype == np.int32 and got.shape == (n_users, k)
    np.testing.assert_array_equal(got, brute_force_greedy(cands, scores, emb, k, theta))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_cand=st.integers(2, 8),
    k=st.integers(2, 8),
    window=st.integers(1, 4),
    theta=st.sampled_from([0.0, 0.5, 0.8]),
)
def test_sliding_window_matches_brute_force(seed, n_cand, k, window, theta):
    cands, scores, emb = random_batch(seed, 2, n_cand, 10, dim=8)
    got = dpp(cands, scores, emb, k, theta, window=window)
    np.testing.assert_array_equal(got, brute_force_greedy(cands, scores, emb, k, theta, window))


def test_window_at_least_k_equals_plain_greedy():
    cands, scores, emb = random_batch(5, 30, 12, 40, dim=16)
    np.testing.assert_array_equal(
        dpp(cands, scores, emb, 6, 0.6, window=6), dpp(cands, scores, emb, 6, 0.6)
    )


@pytest.mark.parametrize("theta", [1.0, 1.0 - 1e-9])
def test_theta_to_one_returns_relevance_order(theta):
    cands, scores, emb = random_batch(7, 25, 12, 30, dim=4)
    got = dpp(cands, scores, emb, 10, theta)
    for u in range(25):
        valid = cands[u][cands[u] >= 0][:10]
        np.testing.assert_array_equal(got[u, : valid.size], valid)
        assert (got[u, valid.size :] == -1).all()


def test_hand_case_duplicates_stop_and_fill():
    # items 0 and 1 identical, item 2 orthogonal; theta = 0 ignores relevance
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    cands = np.array([[0, 1, 2]], dtype=np.int32)
    scores = np.array([[3.0, 2.0, 1.0]])
    # all d^2 = 1 -> item 0 (first); then item 1 has d^2 = 0, item 2 keeps 1 -> item 2;
    # then item 1's d^2 = 0 < eps stops the greedy
    np.testing.assert_array_equal(dpp(cands, scores, emb, 3, 0.0), [[0, 2, 1]])
    np.testing.assert_array_equal(dpp(cands, scores, emb, 3, 0.0, fill=False), [[0, 2, -1]])


def test_hand_case_quality_beats_diversity_at_high_theta():
    # item 1 is 60 degrees from item 0 (cos 0.5), item 2 orthogonal but least relevant
    emb = np.array([[1.0, 0.0], [0.5, np.sqrt(3) / 2], [0.0, 1.0]])
    cands = np.array([[0, 1, 2]], dtype=np.int32)
    scores = np.array([[1.0, 0.9, 0.0]])  # rel = [1, 0.9, 0]
    # after item 0: d_i^2 = r_i^2 (1 - cos^2); item 1: r^2 * 0.75, item 2: r^2 * 1
    # theta = 0.5 (alpha 0.5): r1^2 = e^-0.1 = .905 -> .679; r2^2 = e^-1 = .368 -> item 1
    np.testing.assert_array_equal(dpp(cands, scores, emb, 2, 0.5), [[0, 1]])
    # theta = 0.1 (alpha 1/18): r1^2 = .9945 -> .746, r2^2 = .895 -> item 2
    np.testing.assert_array_equal(dpp(cands, scores, emb, 2, 0.1), [[0, 2]])


def test_k_larger_than_n_and_empty_user():
    cands = np.array([[3, 1, -1, -1], [-1, -1, -1, -1]], dtype=np.int32)
    scores = np.array([[2.0, 1.0, -np.inf, -np.inf], [-np.inf] * 4])
    got = dpp(cands, scores, np.eye(5), 6, 0.5)
    np.testing.assert_array_equal(got, [[3, 1, -1, -1, -1, -1], [-1] * 6])


def test_float32_embeddings_give_same_lists():
    cands, scores, emb = random_batch(13, 40, 20, 60, dim=24)
    np.testing.assert_array_equal(
        dpp(cands, scores, emb.astype(np.float32), 8, 0.7), dpp(cands, scores, emb, 8, 0.7)
    )


@pytest.mark.parametrize(
    "kwargs", [{"theta": 1.2}, {"theta": -0.5}, {"window": 0}, {"window": 2.5}, {"eps": -1.0}]
)
def test_invalid_parameters_raise_user_error(kwargs):
    args = {"theta": 0.5, **kwargs}
    with pytest.raises(UserError):
        dpp(np.array([[0, 1]], dtype=np.int32), np.array([[1.0, 0.0]]), np.eye(2), 2, **args)
