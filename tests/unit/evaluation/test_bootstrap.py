"""The shared bootstrap resampling against per-pair gathers, numpy's quantiles, a hand-written
jackknife and scipy.stats.bootstrap (percentile and BCa)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from scipy.special import ndtr, ndtri

from recsys_cli.evaluation import bootstrap
from recsys_cli.evaluation.bootstrap import (
    bca_levels,
    bootstrap_intervals,
    column_quantiles,
    paired_bootstrap_ci,
    resample_counts,
    resampled_means,
)


def test_counts_count_the_drawn_users_and_ignore_the_block_size(monkeypatch) -> None:
    n, b = 37, 101
    idx = np.random.default_rng(9).integers(0, n, size=(b, n))
    naive = np.array([np.bincount(row, minlength=n) for row in idx])
    monkeypatch.setattr(bootstrap, "BLOCK_VALUES", n * 8)  # blocks of 8 rows, the last of 5
    blocks = list(resample_counts(n, b, 9))
    assert [len(block) for block in blocks] == [8] * 12 + [5]
    counts = np.vstack(blocks)
    np.testing.assert_array_equal(counts, naive)
    assert (counts.sum(axis=1) == n).all()
    monkeypatch.setattr(bootstrap, "BLOCK_VALUES", 1 << 22)
    np.testing.assert_array_equal(np.vstack(list(resample_counts(n, b, 9))), naive)


def test_percentile_intervals_of_many_pairs_equal_one_gather_per_pair() -> None:
    # The previous algorithm resampled each pair's differences by gathering d[idx]; with the same
    # indices, the shared counts give the same means (up to summation order) for every pair.
    rng = np.random.default_rng(2)
    n, pairs, b = 300, 4, 500
    a = np.tile(rng.random(n), (pairs, 1))
    m = a + rng.normal(0.01, 0.1, (pairs, n))
    low, high = bootstrap_intervals(a, m, rng=11, n_resamples=b, confidence=0.9)
    idx = np.random.default_rng(11).integers(0, n, size=(b, n))
    for p in range(pairs):
        means = (m[p] - a[p])[idx].mean(axis=1)
        want = np.quantile(means, [0.05, 0.95])
        assert (low[p], high[p]) == pytest.approx(tuple(want), rel=1e-12)


def test_resampled_means_are_a_product_of_counts_and_differences() -> None:
    rng = np.random.default_rng(3)
    d = rng.normal(size=(3, 20))
    counts = np.vstack(list(resample_counts(20, 7, 4)))
    means = resampled_means(d, iter([counts[:4], counts[4:]]), 7)
    np.testing.assert_allclose(means, (counts @ d.T) / 20, rtol=1e-14)


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize(("n", "seed"), [(15, 0), (200, 1), (2000, 2)])
def test_same_resamples_as_scipy_give_scipys_interval(method: str, n: int, seed: int) -> None:
    # scipy draws rng.integers(0, n, (B, n)) in one batch, the draws `resample_counts` makes
    # block by block; the skewed differences make BCa differ from the percentile interval.
    d = np.random.default_rng(seed).exponential(1.0, n) - 0.8
    ours = paired_bootstrap_ci(
        np.zeros(n), d, rng=seed + 7, n_resamples=2000, confidence=0.9, method=method
    )
    ref = scipy.stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=2000,
        confidence_level=0.9,
        method="BCa" if method == "bca" else "percentile",
        rng=np.random.default_rng(seed + 7),
    ).confidence_interval
    assert ours.low == pytest.approx(ref.low, rel=1e-12)
    assert ours.high == pytest.approx(ref.high, rel=1e-12)


def test_bca_agrees_with_scipy_on_other_resamples_within_resampling_noise() -> None:
    d = np.random.default_rng(5).exponential(1.0, 400)
    ours = paired_bootstrap_ci(np.zeros(400), d, rng=1, n_resamples=20_000, method="bca")
    ref = scipy.stats.bootstrap(
        (d,), np.mean, n_resamples=20_000, method="BCa", rng=np.random.default_rng(99)
    ).confidence_interval
    width = ref.high - ref.low
    assert abs(ours.low - ref.low) < 0.03 * width and abs(ours.high - ref.high) < 0.03 * width
    # Right-skewed differences: BCa moves the interval right of the percentile one.
    plain = paired_bootstrap_ci(np.zeros(400), d, rng=1, n_resamples=20_000)
    assert ours.low > plain.low and ours.high > plain.high


def test_bca_levels_match_a_hand_written_jackknife() -> None:
    rng = np.random.default_rng(6)
    d = rng.gamma(2.0, 1.0, (2, 60))
    means = rng.normal(d.mean(axis=1), 0.1, (500, 2))
    low, high = bca_levels(d, means, 0.95)
    for p in range(2):
        theta = d[p].mean()
        z0 = ndtri(((means[:, p] < theta).sum() + (means[:, p] <= theta).sum()) / 1000)
        jack = np.array([np.delete(d[p], i).mean() for i in range(60)])
        u = 59 * (jack.mean() - jack)
        a = (u**3).sum() / (6 * (u**2).sum() ** 1.5)
        z = ndtri(0.025)
        want_low = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        want_high = ndtr(z0 + (z0 - z) / (1 - a * (z0 - z)))
        assert low[p] == pytest.approx(want_low, rel=1e-10)
        assert high[p] == pytest.approx(want_high, rel=1e-10)


def test_column_quantiles_equal_numpy_per_column() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(101, 5))
    q = rng.random((2, 5))
    q[0, 0], q[1, 1], q[0, 2] = 0.0, 1.0, 0.5
    got = column_quantiles(values, q)
    for j in range(5):
        np.testing.assert_array_equal(got[:, j], np.quantile(values[:, j], q[:, j]))
    q[1, 3] = np.nan  # an undefined BCa level gives an undefined end
    assert np.isnan(column_quantiles(values, q)[1, 3])


def test_bootstrap_covers_true_difference_and_matches_normal_theory() -> None:
    rng = np.random.default_rng(42)
    n, true_diff = 20_000, 0.01
    a = rng.random(n)
    b = a + true_diff + rng.normal(0.0, 0.2, n)
    d = b - a
    half_width = 1.959964 * d.std(ddof=1) / math.sqrt(n)
    for method in ("percentile", "bca"):
        ci = paired_bootstrap_ci(a, b, rng=7, n_resamples=2000, method=method)
        assert ci.low < true_diff < ci.high
        assert (ci.high - ci.low) / 2 == pytest.approx(half_width, rel=0.1)
        assert (ci.low + ci.high) / 2 == pytest.approx(d.mean(), abs=0.2 * half_width)


def test_bootstrap_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(300), rng.random(300)
    first = paired_bootstrap_ci(a, b, rng=123, n_resamples=1000)
    assert paired_bootstrap_ci(a, b, rng=123, n_resamples=1000) == first
    assert paired_bootstrap_ci(a, b, rng=np.random.default_rng(123), n_resamples=1000) == first
    assert paired_bootstrap_ci(a, b, rng=124, n_resamples=1000) != first


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_equal_differences_give_a_point_interval(method: str) -> None:
    a = np.random.default_rng(0).random(50)
    ci = paired_bootstrap_ci(a, a.copy(), n_resamples=100, method=method)
    assert (ci.low, ci.high) == (0.0, 0.0)
    one = paired_bootstrap_ci(np.array([0.2]), np.array([0.5]), n_resamples=50, method=method)
    assert (one.low, one.high) == (0.5 - 0.2, 0.5 - 0.2)
    shifted = paired_bootstrap_ci(np.zeros(4), np.full(4, 0.1), n_resamples=50, method=method)
    assert (shifted.low, shifted.high) == (0.1, 0.1)


def test_ties_and_two_users() -> None:
    # Two users, d = [0, 1]: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    low, high = bootstrap_intervals(
        np.zeros((1, 2)), np.array([[0.0, 1.0]]), rng=3, n_resamples=4000, confidence=0.9
    )
    assert (low[0], high[0]) == (0.0, 1.0)
    low, high = bootstrap_intervals(
        np.zeros((1, 2)), np.array([[0.0, 1.0]]), rng=3, n_resamples=4000, confidence=0.4
    )
    assert (low[0], high[0]) == (0.5, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 0}, "n_resamples"),
        ({"confidence": 1.0}, "confidence"),
        ({"method": "basic"}, "unknown interval"),
    ],
)
def test_bad_settings_raise(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_ci(np.zeros(3), np.ones(3), **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_intervals(np.zeros((1, 3)), np.array([[0.0, np.nan, 1.0]]))
