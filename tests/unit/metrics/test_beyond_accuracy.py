"""Beyond-accuracy metrics against naive pure-Python references and hand-computed values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.metrics.beyond_accuracy import (
    aplt,
    arp,
    coverage,
    genre_distribution,
    gini_exposure,
    gini_index,
    head_tail_split,
    ild_cosine,
    ild_jaccard,
    miscalibration,
    novelty,
    popularity_lift,
    profile_popularity,
    serendipity,
)

N_ITEMS = 12


def random_recs(seed, n_users, k):
    """Distinct items per user, -1 padded at the end (some lists short or empty)."""
    rng = np.random.default_rng(seed)
    recs = np.full((n_users, k), -1, dtype=np.int32)
    for u in range(n_users):
        n = int(rng.integers(0, min(k, N_ITEMS) + 1))
        recs[u, :n] = rng.choice(N_ITEMS, size=n, replace=False)
    return recs, rng


def random_csr(rng, n_users):
    rows = [
        sorted(rng.choice(N_ITEMS, size=int(rng.integers(0, 5)), replace=False).tolist())
        for _ in range(n_users)
    ]
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    return rows, indptr, indices


def nan_equal(a, b):
    np.testing.assert_allclose(
        np.asarray(a, dtype=float),
        np.asarray(b, dtype=float),
        rtol=1e-9,
        atol=1e-12,
        equal_nan=True,
    )


def valid(row):
    return [int(i) for i in row if i >= 0]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 5), k=st.integers(1, 8))
def test_per_user_metrics_match_references(seed, n_users, k):
    recs, rng = random_recs(seed, n_users, k)
    emb = rng.normal(size=(N_ITEMS, 5))
    emb[0] = 0.0  # an item without an embedding
    genres = rng.random((N_ITEMS, 4)) < 0.4
    pop = rng.integers(0, 20, size=N_ITEMS).astype(float)
    item_users = rng.integers(0, 11, size=N_ITEMS).astype(float)
    tail = rng.random(N_ITEMS) < 0.5
    rows, indptr, indices = random_csr(rng, n_users)

    def cos(i, j):
        ni, nj = np.linalg.norm(emb[i]), np.linalg.norm(emb[j])
        return 0.0 if ni == 0 or nj == 0 else float(emb[i] @ emb[j] / (ni * nj))

    def jac(i, j):
        a, b = set(np.flatnonzero(genres[i])), set(np.flatnonzero(genres[j]))
        return len(a & b) / len(a | b) if a | b else 0.0

    def ild(row, sim):
        items = valid(row)
        n = len(items)
        if n < 2:
            return math.nan
        tot = sum(1 - sim(items[a], items[b]) for a in range(n) for b in range(a + 1, n))
        return 2 * tot / (n * (n - 1))

    def mean(xs):
        return sum(xs) / len(xs) if xs else math.nan

    nan_equal(ild_cosine(recs, emb), [ild(r, cos) for r in recs])
    nan_equal(ild_jaccard(recs, genres), [ild(r, jac) for r in recs])
    nan_equal(
        novelty(recs, item_users, 10),
        [mean([-math.log2(max(item_users[i], 1) / 10) for i in valid(r)]) for r in recs],
    )
    nan_equal(arp(recs, pop), [mean([pop[i] for i in valid(r)]) for r in recs])
    nan_equal(aplt(recs, tail), [mean([float(tail[i]) for i in valid(r)]) for r in recs])
    prof = [mean([pop[i] for i in r]) for r in rows]
    nan_equal(profile_popularity(indptr, indices, pop), prof)
    lift = [
        (mean([pop[i] for i in valid(r)]) - p) / p if p == p and p > 0 else math.nan
        for r, p in zip(recs, prof, strict=True)
    ]
    nan_equal(popularity_lift(recs, pop, np.array(prof)), lift)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 5), k=st.integers(1, 8))
def test_calibration_and_serendipity_match_references(seed, n_users, k):
    recs, rng = random_recs(seed, n_users, k)
    genres = (rng.random((N_ITEMS, 3)) < 0.5).astype(float)
    rows, indptr, indices = random_csr(rng, n_users)
    pgi = [[x / sum(g) if sum(g) else 0.0 for x in g] for g in genres.tolist()]
    p_ref = [[sum(pgi[i][g] for i in r) / len(r) if r else 0.0 for g in range(3)] for r in rows]
    p = genre_distribution(indptr, indices, genres)
    nan_equal(p, p_ref)

    def kl(u, row):
        if sum(p_ref[u]) == 0:
            return math.nan
        items = valid(row)
        q = [sum(pgi[i][g] for i in items) / len(items) if items else 0.0 for g in range(3)]
        return sum(
            pg * math.log(pg / (0.99 * qg + 0.01 * pg))
            for pg, qg in zip(p_ref[u], q, strict=True)
            if pg > 0
        )

    nan_equal(miscalibration(recs, genres, p), [kl(u, r) for u, r in enumerate(recs)])

    truth_rows, tptr, tidx = random_csr(rng, n_users)
    popular = np.array([0, 1, 2, -1], dtype=np.int32)
    expect = [
        sum(1 for i in valid(r) if i in truth_rows[u] and i not in (0, 1, 2)) / k
        for u, r in enumerate(recs)
    ]
    nan_equal(serendipity(recs, tptr, tidx, popular), expect)
    per_user = np.tile(popular, (n_users, 1))
    nan_equal(serendipity(recs, tptr, tidx, per_user), expect)


def test_ild_hand_case():
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    recs = np.array([[0, 1, 2], [0, -1, -1]], dtype=np.int32)
    # pairs: cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/sqrt2 -> (1 + 2 (1 - .7071)) / 3
    got = ild_cosine(recs, emb)
    assert got[0] == pytest.approx((1 + 2 * (1 - 1 / math.sqrt(2))) / 3)
    assert math.isnan(got[1])
    genres = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    # Jaccard: (0,1) = 1/2, (0,2) = 0, (1,2) = 0 -> (0.5 + 1 + 1) / 3
    assert ild_jaccard(recs, genres)[0] == pytest.approx(2.5 / 3)


def test_coverage_and_gini_with_unexposed_items():
    recs = np.array([[0, 1], [0, -1], [0, 2]], dtype=np.int32)
    assert coverage(recs, 5) == pytest.approx(3 / 5)
    # exposure [3, 1, 1, 0, 0] -> ascending shares [0, 0, .2, .2, .6], n = 5
    # G = (1/4) * ((2-6)*0 + (4-6)*0 + (6-6)*.2 + (8-6)*.2 + (10-6)*.6) = (0.4 + 2.4) / 4 = 0.7
    assert gini_exposure(recs, 5) == pytest.approx(0.7)
    assert gini_index(np.array([2.0, 2.0, 2.0])) == pytest.approx(0.0)
    assert gini_index(np.array([0.0, 0.0, 5.0])) == pytest.approx(1.0)
    assert math.isnan(gini_exposure(np.full((2, 3), -1, dtype=np.int32), 4))
    assert gini_index(np.array([3.0])) == 0.0


def test_novelty_arp_aplt_hand_case():
    recs = np.array([[0, 1, -1], [-1, -1, -1]], dtype=np.int32)
    item_users = np.array([5.0, 0.0, 10.0])
    nov = novelty(recs, item_users, 10)
    # -log2(0.5) = 1, unseen item counts as one user: -log2(0.1) = 3.3219
    assert nov[0] == pytest.approx((1 + math.log2(10)) / 2)
    assert math.isnan(nov[1])
    pop = np.array([100.0, 4.0, 60.0])
    np.testing.assert_allclose(arp(recs, pop), [52.0, np.nan])
    tail = head_tail_split(pop)  # total 164; 100 < 131.2 <= 160 -> head {0, 2}
    np.testing.assert_array_equal(tail, [False, True, False])
    np.testing.assert_allclose(aplt(recs, tail), [0.5, np.nan])


def test_head_tail_split_edges():
    pop = np.array([10.0, 50.0, 30.0, 10.0, 0.0])
    # descending 50, 30, 10 (item 0 before item 3 on the tie): cum 50, 80 -> 80% reached at 2 items
    np.testing.assert_array_equal(head_tail_split(pop), [True, False, False, True, True])
    np.testing.assert_array_equal(head_tail_split(pop, 0.9), [False, False, False, True, True])
    assert head_tail_split(np.zeros(3)).all()
    with pytest.raises(UserError):
        head_tail_split(pop, 1.5)


def test_popularity_lift_hand_case_and_empty_profile():
    pop = np.array([10.0, 20.0, 30.0])
    recs = np.array([[2, 2], [0, 1]], dtype=np.int32)
    indptr, indices = np.array([0, 2, 2]), np.array([0, 1])
    prof = profile_popularity(indptr, indices, pop)
    np.testing.assert_allclose(prof, [15.0, np.nan])
    np.testing.assert_allclose(popularity_lift(recs, pop, prof), [1.0, np.nan])


def test_miscalibration_hand_case():
    genres = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    p = np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 0.0]])
    recs = np.array([[0, 0], [1, -1], [0, 1]], dtype=np.int32)
    got = miscalibration(recs, genres, p)
    # user 0: q = (1, 0) -> .5 log(.5/.995) + .5 log(.5/.005)
    assert got[0] == pytest.approx(0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(100))
    # user 1: q = (0, 1) -> 1 * log(1 / 0.01)
    assert got[1] == pytest.approx(math.log(100))
    assert math.isnan(got[2])  # empty history


def test_serendipity_hand_case_divides_by_k():
    recs = np.array([[3, 1, 4, -1]], dtype=np.int32)
    # relevant {1, 3, 4}; popularity model recommended item 3 -> items 1 and 4 count
    got = serendipity(recs, np.array([0, 3]), np.array([1, 3, 4]), np.array([3, 0]))
    np.testing.assert_allclose(got, [2 / 4])


def test_invalid_inputs_raise_user_error():
    recs = np.array([[0, 1]], dtype=np.int32)
    with pytest.raises(UserError):
        arp(recs, np.array([1.0]))  # item 1 outside the popularity array
    with pytest.raises(UserError):
        novelty(recs, np.array([1.0, 20.0]), 10)
    with pytest.raises(UserError):
        gini_index(np.array([-1.0, 2.0]))
    with pytest.raises(UserError):
        coverage(recs, 0)
    with pytest.raises(UserError):
        profile_popularity(np.array([0, 3]), np.array([0, 1]), np.ones(2))


@pytest.mark.parametrize("n_genres", [1, 20, 64, 65, 130])
def test_ild_jaccard_bit_masks_equal_the_dot_product_kernel(n_genres):
    """Up to 64 genres the sets are bit masks (popcounts); beyond, dot products: same floats."""
    from recsys_cli.metrics.beyond_accuracy import _ild_kernel

    rng = np.random.default_rng(n_genres)
    genres = (rng.random((50, n_genres)) < 0.3).astype(np.float64)
    genres[:3] = 0.0  # items without genres
    recs = rng.integers(0, 50, size=(40, 12)).astype(np.int32)
    recs[::5, 7:] = -1
    expected = _ild_kernel(recs, genres, genres.sum(axis=1), True)
    np.testing.assert_array_equal(ild_jaccard(recs, genres), expected)
