"""Calibrated reranking (Steck 2018) against a naive reference, plus a designed monotone case."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.metrics.beyond_accuracy import genre_distribution, miscalibration
from recsys_cli.rerank.calibration import calibration, item_genre_distribution


def minmax(s):
    """Per-user min-max normalisation; all equal -> 1."""
    if s and max(s) > min(s):
        return [(x - min(s)) / (max(s) - min(s)) for x in s]
    return [1.0] * len(s)


def kl_reference(p, q, alpha):
    return sum(
        pg * math.log(pg / ((1 - alpha) * qg + alpha * pg))
        for pg, qg in zip(p, q, strict=True)
        if pg > 0
    )


def calibration_reference(cands, scores, genres, p, k, lam, alpha=0.01):
    pgi = [[x / sum(row) if sum(row) > 0 else 0.0 for x in row] for row in genres.tolist()]
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        items = [int(i) for i in cands[u] if i >= 0]
        s = [x for i, x in zip(cands[u], scores[u], strict=True) if i >= 0]
        rel = minmax(s)
        chosen = []
        while len(chosen) < min(k, len(items)):

            def obj(i, chosen=chosen, items=items, rel=rel, u=u):
                sel = [*chosen, i]
                q = [sum(pgi[items[j]][g] for j in sel) / len(sel) for g in range(len(p[u]))]
                return (1 - lam) * sum(rel[j] for j in sel) - lam * kl_reference(p[u], q, alpha)

            left = [i for i in range(len(items)) if i not in chosen]
            chosen.append(max(left, key=lambda i: (obj(i), -i)))
        out[u, : len(chosen)] = [items[i] for i in chosen]
    return out


def random_case(seed, n_users, n_cand, n_items=12, n_genres=4):
    rng = np.random.default_rng(seed)
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    scores = np.full((n_users, n_cand), -np.inf)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
        scores[u, :n] = -np.sort(-rng.normal(size=n))
    genres = rng.random((n_items, n_genres)) < 0.4
    p = rng.dirichlet(np.ones(n_genres), size=n_users)
    p[rng.random(n_users) < 0.2] = 0.0  # some users without history
    return cands, scores, genres, p


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 7),
    k=st.integers(1, 8),
    lam=st.sampled_from([0.0, 0.3, 0.7, 0.99, 1.0]),
)
def test_calibration_matches_reference(seed, n_users, n_cand, k, lam):
    cands, scores, genres, p = random_case(seed, n_users, n_cand)
    got = calibration(cands, scores, genres, p, k, lam)
    assert got.dtype == np.int32 and got.shape == (n_users, k)
    np.testing.assert_array_equal(got, calibration_reference(cands, scores, genres, p, k, lam))


def test_kl_falls_monotonically_with_lambda_on_designed_case():
    # genres: 0 = pop, 1 = jazz. History 70% pop / 30% jazz. The model ranks 10 pop items first.
    genres = np.array([[1, 0]] * 10 + [[0, 1]] * 4, dtype=bool)
    history = np.array([[0, 1, 2, 3, 4, 5, 6, 10, 11, 12]])  # 7 pop, 3 jazz
    indptr = np.array([0, 10])
    p = genre_distribution(indptr, history.ravel(), genres)
    np.testing.assert_allclose(p, [[0.7, 0.3]])
    cands = np.arange(14, dtype=np.int32)[None, :]
    scores = np.linspace(1.0, 0.0, 14)[None, :]
    kls = []
    for lam in np.linspace(0.0, 1.0, 11):
        recs = calibration(cands, scores, genres, p, 10, float(lam))
        kls.append(float(miscalibration(recs, genres, p)[0]))
    assert all(b <= a + 1e-12 for a, b in zip(kls, kls[1:], strict=False))
    # 10 pop: 0.7 log(0.7 / 0.997) + 0.3 log(0.3 / 0.003) = 1.134; 7 pop + 3 jazz: 0
    assert kls[0] == pytest.approx(0.7 * math.log(0.7 / 0.997) + 0.3 * math.log(100), rel=1e-9)
    assert kls[-1] < 1e-12 and len(set(kls)) > 2


def test_empty_history_keeps_relevance_order():
    genres = np.eye(3, dtype=bool)
    cands = np.array([[2, 0, 1]], dtype=np.int32)
    scores = np.array([[3.0, 2.0, 1.0]])
    got = calibration(cands, scores, genres, np.zeros((1, 3)), 3, 0.9)
    np.testing.assert_array_equal(got, [[2, 0, 1]])


def test_hand_case_picks_missing_genre_and_pads():
    genres = np.array([[1, 0], [1, 0], [0, 1]], dtype=bool)
    cands = np.array([[0, 1, 2, -1]], dtype=np.int32)
    scores = np.array([[3.0, 2.0, 1.0, -np.inf]])
    p = np.array([[0.5, 0.5]])
    # lam = 0.5, step 2: item 1 -> 0.5 * 0.5 - 0.5 * KL(p, [.995, .005]); item 2 -> 0 - 0
    got = calibration(cands, scores, genres, p, 5, 0.5)
    np.testing.assert_array_equal(got, [[0, 2, 1, -1, -1]])


def test_item_genre_distribution_rows():
    pgi = item_genre_distribution(np.array([[1, 1, 0], [0, 0, 0], [2.0, 0, 2.0]]))
    np.testing.assert_allclose(pgi, [[0.5, 0.5, 0], [0, 0, 0], [0.5, 0, 0.5]])


@pytest.mark.parametrize(
    "kwargs", [{"lam": 2.0}, {"alpha": 0.0}, {"p": np.zeros((2, 2))}, {"p": -np.ones((1, 2))}]
)
def test_invalid_input_raises_user_error(kwargs):
    args = {"lam": 0.5, "alpha": 0.01, "p": np.full((1, 2), 0.5), **kwargs}
    with pytest.raises(UserError):
        calibration(
            np.array([[0, 1]], dtype=np.int32),
            np.array([[1.0, 0.0]]),
            np.eye(2, dtype=bool),
            args["p"],
            2,
            args["lam"],
            args["alpha"],
        )
