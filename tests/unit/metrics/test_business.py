"""Business-proxy metrics against naive pure-Python references and hand-computed values."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.metrics.business import (
    artist_popularity_bins,
    discovery_rate,
    exposure_share,
    fair_marketplace,
    provider_gini,
)

N_ITEMS = 12


def nan_equal(a, b):
    np.testing.assert_allclose(
        np.asarray(a, dtype=float),
        np.asarray(b, dtype=float),
        rtol=1e-9,
        atol=1e-12,
        equal_nan=True,
    )


def naive_gini(x):
    n, tot = len(x), sum(x)
    if tot == 0:
        return math.nan
    if n == 1:
        return 0.0
    p = sorted(v / tot for v in x)
    return sum((2 * j - n - 1) * p[j - 1] for j in range(1, n + 1)) / (n - 1)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n_users=st.integers(1, 5), k=st.integers(1, 8))
def test_business_metrics_match_references(seed, n_users, k):
    rng = np.random.default_rng(seed)
    recs = np.full((n_users, k), -1, dtype=np.int32)
    for u in range(n_users):
        n = int(rng.integers(0, min(k, N_ITEMS) + 1))
        recs[u, :n] = rng.choice(N_ITEMS, size=n, replace=False)
    group = rng.random(N_ITEMS) < 0.4
    artist = rng.integers(-1, 5, size=N_ITEMS)
    hist = [
        rng.choice(N_ITEMS, size=int(rng.integers(0, 4)), replace=False).tolist()
        for _ in range(n_users)
    ]
    indptr = np.cumsum([0] + [len(h) for h in hist])
    indices = np.array([i for h in hist for i in h], dtype=np.int64)
    bins = rng.integers(0, 10, size=5)

    def share(row):
        items = [int(i) for i in row if i >= 0]
        den = sum(1 / math.log2(r + 1) for r in range(1, len(items) + 1))
        num = sum(1 / math.log2(r + 1) for r, i in enumerate(items, 1) if group[i])
        return num / den if items else math.nan

    def disc(u, row):
        items = [int(i) for i in row if i >= 0]
        seen = {artist[i] for i in hist[u] if artist[i] >= 0}
        new = [i for i in items if artist[i] >= 0 and artist[i] not in seen]
        return len(new) / len(items) if items else math.nan

    def psi(row):
        counts = {}
        for i in row:
            if i >= 0 and artist[i] >= 0:
                b = bins[artist[i]]
                counts[b] = counts.get(b, 0) + 1
        return sum(math.sqrt(c) for c in counts.values())

    nan_equal(exposure_share(recs, group), [share(r) for r in recs])
    nan_equal(
        discovery_rate(recs, artist, indptr, indices), [disc(u, r) for u, r in enumerate(recs)]
    )
    nan_equal(fair_marketplace(recs, artist, bins), [psi(r) for r in recs])
    expo = [sum(1 for r in recs for i in r if i >= 0 and artist[i] == a) for a in range(5)]
    nan_equal(provider_gini(recs, artist, 5), naive_gini(expo))


def test_exposure_share_hand_case():
    group = np.array([True, False, False])
    recs = np.array([[1, 0, 2], [0, -1, -1], [-1, -1, -1]], dtype=np.int32)
    got = exposure_share(recs, group)
    # position 2 holds the group item: (1/log2 3) / (1 + 1/log2 3 + 1/2)
    w2 = 1 / math.log2(3)
    assert got[0] == pytest.approx(w2 / (1 + w2 + 0.5))
    assert got[1] == pytest.approx(1.0)
    assert math.isnan(got[2])


def test_discovery_rate_hand_case_and_empty_history():
    artist = np.array([0, 0, 1, -1])
    recs = np.array([[1, 2, 3], [1, 2, -1]], dtype=np.int32)
    indptr, indices = np.array([0, 1, 1]), np.array([0])
    # user 0 heard artist 0: item 1 old, item 2 new, item 3 unknown artist -> 1/3
    # user 1 has no history: both items of known artist are discoveries -> 1
    np.testing.assert_allclose(discovery_rate(recs, artist, indptr, indices), [1 / 3, 1.0])


def test_provider_gini_counts_unexposed_artists():
    artist = np.array([0, 0, 1, -1])
    recs = np.array([[0, 1, 3], [0, 2, -1]], dtype=np.int32)
    # exposure per artist over 4 artists: [3, 1, 0, 0] -> shares [0, 0, .25, .75]
    # G = (1/3) * (0 + 0 + (6-5)*.25 + (8-5)*.75) = 2.5 / 3
    assert provider_gini(recs, artist, 4) == pytest.approx(2.5 / 3)
    assert provider_gini(recs, artist) == pytest.approx(0.5)  # 2 artists: shares .25, .75


def test_artist_bins_and_fair_marketplace_hand_case():
    pop = np.array([5.0, 1.0, 1.0, 9.0, 3.0])
    # ascending ranks (ties -> lowest): 4, 1, 1, 5, 3 -> floor((rank-1) * 2 / 5)
    np.testing.assert_array_equal(artist_popularity_bins(pop, 2), [1, 0, 0, 1, 0])
    np.testing.assert_array_equal(artist_popularity_bins(np.arange(20.0)), np.arange(20) // 2)
    artist = np.array([0, 1, 2, 3, -1])
    bins = artist_popularity_bins(pop, 2)
    recs = np.array([[0, 3, 1, 4], [-1, -1, -1, -1]], dtype=np.int32)
    # bin 1 holds 2 items, bin 0 one, item 4 has no artist -> sqrt(2) + 1
    np.testing.assert_allclose(fair_marketplace(recs, artist, bins, 2), [math.sqrt(2) + 1, 0.0])


def test_invalid_inputs_raise_user_error():
    recs = np.array([[0, 1]], dtype=np.int32)
    with pytest.raises(UserError):
        exposure_share(recs, np.array([True]))
    with pytest.raises(UserError):
        discovery_rate(recs, np.array([0, -2]), np.array([0, 0]), np.array([], dtype=int))
    with pytest.raises(UserError):
        discovery_rate(recs, np.array([0, 1]), np.array([0, 0, 0]), np.array([], dtype=int))
    with pytest.raises(UserError):
        fair_marketplace(recs, np.array([0, 1]), np.array([0, 12]))
    with pytest.raises(UserError):
        artist_popularity_bins(np.ones(3), 0)
    with pytest.raises(UserError):
        provider_gini(recs, np.array([0, 3]), 2)
