"""Paired bootstrap confidence intervals of mean differences, many comparisons at once.

Every comparison over the same users shares one resampling: a B x n matrix of counts
(`counts[b, i]` = how often user i is drawn in resample b, each row a multinomial draw of n users
with replacement, from n uniform indices drawn by a seeded `numpy.random.Generator`). The
resampled means of all comparisons are then one matrix product, counts @ d.T / n, taken in row
blocks so that memory stays bounded. The percentile interval takes the [(1 - c)/2, (1 + c)/2]
quantiles of the resampled means; the BCa interval (bias-corrected and accelerated) moves those
levels by the bias z0 and the jackknife acceleration a. Efron & Tibshirani (1993), ch. 13 and
14.3; Sakai (2014) for IR use.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

from recsys_cli.evaluation.statistics import paired_rows

Interval = Literal["percentile", "bca"]
INTERVALS: tuple[str, ...] = ("percentile", "bca")

# Resample in blocks of about this many counts (x 8 bytes for the drawn indices, the counts and
# their float copy), so 10,000 resamples of 100,000 users never hold more than ~100 MB at once.
BLOCK_VALUES = 1 << 22


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided confidence interval [low, high] at level `confidence`."""

    low: float
    high: float
    confidence: float


def _as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def resample_counts(
    n: int, n_resamples: int, rng: np.random.Generator | int
) -> Iterator[np.ndarray]:
    """Row blocks (in order) of the n_resamples x n matrix of bootstrap counts.

    Row b counts how often each of the n users is drawn among n uniform draws with replacement
    (`rng.integers(0, n, (rows, n))`, block after block: the same draws as one
    `rng.integers(0, n, (n_resamples, n))`, so the block size changes memory, not the matrix).
    """
    gen = _as_generator(rng)
    rows = max(1, BLOCK_VALUES // n)
    for start in range(0, n_resamples, rows):
        block = min(rows, n_resamples - start)
        idx = gen.integers(0, n, size=(block, n))
        idx += np.arange(block)[:, None] * n  # row b's draws land in row b of the counts
        yield np.bincount(idx.ravel(), minlength=block * n).reshape(block, n)


def resampled_means(d: np.ndarray, blocks: Iterator[np.ndarray], n_resamples: int) -> np.ndarray:
    """n_resamples x P resampled means of the P rows of `d` (P x n): counts @ d.T / n."""
    n = d.shape[1]
    means = np.empty((n_resamples, d.shape[0]))
    start = 0
    for counts in blocks:
        stop = start + counts.shape[0]
        np.matmul(counts.astype(np.float64), d.T, out=means[start:stop])
        start = stop
    means /= n
    return means


def column_quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles of each column of `values` at that column's levels q (k x P): numpy's 'linear'
    method (the same numbers as `np.quantile(values[:, j], q[:, j])`), all columns at once."""
    ordered = np.sort(values, axis=0)
    n = ordered.shape[0]
    q = np.asarray(q, dtype=np.float64)
    virtual = (n - 1) * np.where(np.isnan(q), 0.0, q)
    below = np.floor(virtual)
    gamma = virtual - below
    lo = np.clip(below, 0, n - 1).astype(np.intp)
    hi = np.clip(below + 1, 0, n - 1).astype(np.intp)
    a = np.take_along_axis(ordered, lo, axis=0)
    b = np.take_along_axis(ordered, hi, axis=0)
    diff = b - a
    # numpy's lerp: from the nearer end, so a level of 1 gives the maximum exactly.
    out = np.where(gamma >= 0.5, b - diff * (1.0 - gamma), a + diff * gamma)
    return np.where(np.isnan(q), np.nan, out)


def bca_levels(
    d: np.ndarray, means: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """The BCa interval's quantile levels (alpha_1, alpha_2) of each row of `d` (P x n).

    z0 = Phi^-1((#{theta*_b < theta} + #{theta*_b <= theta}) / 2B) (scipy's tie rule);
    a = sum U^3 / (6 (sum U^2)^(3/2)) with the jackknife U_i = (n - 1)(theta_(.) - theta_(i)),
    which for the mean is d_i - mean(d); alpha_1,2 = Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for
    z = Phi^-1((1 -/+ c)/2). Efron & Tibshirani (1993), 14.3 (eqs. 14.10, 14.15). NaN where z0 is
    infinite (every resampled mean on one side).
    """
    theta = d.mean(axis=1)
    below = (means < theta).sum(axis=0) + (means <= theta).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = ndtri(below / (2.0 * means.shape[0]))
        u = d - theta[:, None]
        a = (u**3).sum(axis=1) / (6.0 * (u**2).sum(axis=1) ** 1.5)
        z = ndtri((1.0 - confidence) / 2.0)
        levels = []
        for edge in (z, -z):
            shifted = z0 + edge
            levels.append(ndtr(z0 + shifted / (1.0 - a * shifted)))
    return levels[0], levels[1]


def bootstrap_intervals(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rng: np.random.Generator | int = 0,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    method: Interval = "percentile",
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap intervals (low, high arrays) of mean(b - a) for each row of a and b (P x n).

    All rows share one resampling of the n users (`resample_counts`), so the P x B resampled
    means are one matrix product. method 'percentile' (Efron & Tibshirani 1993, ch. 13) or 'bca'
    (14.3). Rows whose differences are all equal give that difference as both ends.
    """
    a, b = paired_rows(a, b)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if method not in INTERVALS:
        raise ValueError(f"unknown interval {method!r}; expected one of {', '.join(INTERVALS)}")
    d = b - a
    means = resampled_means(d, resample_counts(d.shape[1], n_resamples, rng), n_resamples)
    if method == "bca":
        low_q, high_q = bca_levels(d, means, confidence)
    else:
        tail = (1.0 - confidence) / 2.0
        low_q = np.full(d.shape[0], tail)
        high_q = np.full(d.shape[0], 1.0 - tail)
    low, high = column_quantiles(means, np.stack([low_q, high_q]))
    # Equal differences: every resample has the same mean (up to rounding in the product).
    flat = (d == d[:, :1]).all(axis=1)
    low[flat] = high[flat] = d[flat, 0]
    return low, high


def paired_bootstrap_ci(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rng: np.random.Generator | int = 0,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    method: Interval = "percentile",
) -> ConfidenceInterval:
    """Bootstrap confidence interval of the mean paired difference mean(b - a) of one comparison
    (see `bootstrap_intervals`)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"expected 1-D arrays, got shapes {a.shape} and {b.shape}")
    low, high = bootstrap_intervals(
        a[None, :],
        b[None, :],
        rng=rng,
        n_resamples=n_resamples,
        confidence=confidence,
        method=method,
    )
    return ConfidenceInterval(float(low[0]), float(high[0]), confidence)
