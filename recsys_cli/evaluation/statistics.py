"""Paired significance tests of per-user metric values, effect sizes and multiple-comparison
corrections.

Conventions shared by every function here:

* `a` is the baseline and `b` the model, aligned so that `a[i]` and `b[i]` belong to the same
  user; the paired difference is `d = b - a` (positive means the model is better on a
  higher-is-better metric). The row-wise functions (`paired_t_tests`, `wilcoxon_tests`,
  `effect_sizes`, `relative_improvements`) take 2-D arrays, one comparison per row; the scalar
  ones take one comparison as two 1-D arrays.
* Inputs must be finite: NaN or infinite values raise `ValueError` here (and `UserError`, naming
  the model and metric, from `evaluation.comparison.compare`).
* All differences zero (identical arrays): both tests return statistic 0 and p-value 1.0 — there
  is no evidence of a difference — instead of scipy's NaN from a 0/0 t statistic.
* Fewer than two users: the t-test p-value is NaN (no variance estimate); Wilcoxon follows scipy
  (exact distribution, p-value 1.0 for one non-zero difference).
* NaN p-values stay NaN through the corrections and do not count towards the number of tests.

Sakai (2014), "Statistical reform in information retrieval?", SIGIR Forum 48(1), argues for
paired tests over topics/users with effect sizes, confidence intervals and multiplicity
correction; this module and `evaluation.bootstrap` provide exactly that set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as _sps

Correction = Literal["holm", "bh", "none"]

CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")

WILCOXON_ZERO_METHOD = "wilcox"
"""Zero differences are dropped before ranking (Wilcoxon 1945; scipy's default)."""


@dataclass(frozen=True)
class PairedTestResult:
    """A test statistic and its two-sided p-value."""

    statistic: float
    p_value: float


def paired_rows(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two aligned 2-D finite arrays (one comparison a row) and return them as float64."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"expected 2-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in shape: {a.shape} and {b.shape}")
    if a.shape[1] == 0:
        raise ValueError("paired arrays are empty")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired arrays contain NaN or infinite values")
    return a, b


def _one_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two aligned 1-D arrays as one-row 2-D arrays (validated)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"expected 1-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.size} and {b.size}")
    return paired_rows(a[None, :], b[None, :])


def paired_t_tests(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided paired (Student) t-tests of mean(b - a) = 0, one per row: (t, p) arrays.

    t = mean(d) / (sd(d) / sqrt(n)), d = b - a, sd with n - 1 degrees of freedom;
    p = 2 * (1 - F_t(|t|; n - 1)), by `scipy.stats.ttest_rel`. Student (1908); Sakai (2014).
    All-zero differences give (0, 1.0); zero variance with a non-zero mean gives (±inf, 0.0);
    n < 2 gives (nan, nan).
    """
    a, b = paired_rows(a, b)
    if a.shape[1] < 2:
        t = np.full(a.shape[0], math.nan)
        p = t.copy()
    else:
        # scipy warns about its 0/0 on identical rows (set below) and about precision loss in the
        # variance of nearly constant differences (the statistic is still the one it returns).
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            res = _sps.ttest_rel(b, a, axis=1)
        t = np.array(res.statistic, dtype=np.float64, ndmin=1)
        p = np.array(res.pvalue, dtype=np.float64, ndmin=1)
    same = ~(b != a).any(axis=1)
    t[same], p[same] = 0.0, 1.0
    return t, p


def paired_t_test(a: np.ndarray, b: np.ndarray) -> PairedTestResult:
    """Two-sided paired t-test of one comparison (see `paired_t_tests`)."""
    t, p = paired_t_tests(*_one_pair(a, b))
    return PairedTestResult(float(t[0]), float(p[0]))


def wilcoxon_tests(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilcoxon signed-rank tests of d = b - a, one per row: (W, p) arrays.

    W = min(W+, W-), W± = sum of ranks of |d_i| over d_i > 0 (resp. < 0); zero differences are
    dropped ('wilcox' zero method), p from scipy's exact or normal approximation ('auto'), which
    scipy chooses per comparison. Wilcoxon (1945); Sakai (2014). All-zero differences give
    (0, 1.0).
    """
    a, b = paired_rows(a, b)
    d = b - a
    w = np.zeros(d.shape[0])
    p = np.ones(d.shape[0])
    # One scipy call per comparison (not per user): its choice of exact or approximate p-value
    # depends on each row's zeros and ties.
    for i in np.flatnonzero(d.any(axis=1)):
        res = _sps.wilcoxon(d[i], zero_method=WILCOXON_ZERO_METHOD, alternative="two-sided")
        w[i], p[i] = res.statistic, res.pvalue
    return w, p


def wilcoxon_signed_rank(a: np.ndarray, b: np.ndarray) -> PairedTestResult:
    """Two-sided Wilcoxon signed-rank test of one comparison (see `wilcoxon_tests`)."""
    w, p = wilcoxon_tests(*_one_pair(a, b))
    return PairedTestResult(float(w[0]), float(p[0]))


def effect_sizes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cohen's d for paired samples, one per row: d_z = mean(d) / sd(d), d = b - a, sd with
    n - 1 dof.

    Cohen (1988), eq. 2.3.5; Lakens (2013). All-zero differences give 0.0, zero variance with a
    non-zero mean gives ±inf, n < 2 gives nan.
    """
    a, b = paired_rows(a, b)
    d = b - a
    mean = d.mean(axis=1)
    if d.shape[1] < 2:
        out = np.full(d.shape[0], math.nan)
    else:
        sd = d.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(sd > 0.0, mean / sd, np.copysign(math.inf, mean))
    out[~d.any(axis=1)] = 0.0
    return out


def cohens_dz(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's d_z of one comparison (see `effect_sizes`)."""
    return float(effect_sizes(*_one_pair(a, b))[0])


def relative_improvements(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Relative improvement of the means, one per row: (mean(b) - mean(a)) / mean(a), computed
    as mean(b - a) / mean(a); nan where mean(a) = 0."""
    a, b = paired_rows(a, b)
    base = a.mean(axis=1)
    diff = (b - a).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base != 0.0, diff / base, math.nan)


def relative_improvement(a: np.ndarray, b: np.ndarray) -> float:
    """Relative improvement of the means of one comparison (see `relative_improvements`)."""
    return float(relative_improvements(*_one_pair(a, b))[0])


def _validated_pvalues(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"expected a 1-D array of p-values, got shape {p.shape}")
    ok = ~np.isnan(p)
    if ((p[ok] < 0.0) | (p[ok] > 1.0)).any():
        raise ValueError("p-values must lie in [0, 1]")
    return p


def holm_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    With p_(1) <= ... <= p_(m): p~_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)).
    Holm (1979). NaN entries stay NaN and are not counted in m. (scipy has no Holm adjustment.)
    """
    p = _validated_pvalues(p_values)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def bh_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false discovery rate), in the input order.

    With p_(1) <= ... <= p_(m): p~_(i) = min(1, min_{j >= i} m p_(j) / j), by
    `scipy.stats.false_discovery_control`. Benjamini & Hochberg (1995). NaN entries stay NaN and
    are not counted in m.
    """
    p = _validated_pvalues(p_values)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = _sps.false_discovery_control(p[ok], method="bh")
    return out


def adjust_pvalues(p_values: Sequence[float] | np.ndarray, method: Correction) -> np.ndarray:
    """Adjusted p-values for multiple comparisons: 'holm' (Holm 1979), 'bh' (B&H 1995), 'none'."""
    if method == "holm":
        return holm_adjust(p_values)
    if method == "bh":
        return bh_adjust(p_values)
    if method == "none":
        return _validated_pvalues(p_values).copy()
    raise ValueError(f"unknown correction {method!r}; expected one of {', '.join(CORRECTIONS)}")
