"""Paired tests and effect sizes against scipy and the previous hand-written formulas;
corrections against hand and naive references, and against the previous BH implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.evaluation.statistics import (
    adjust_pvalues,
    bh_adjust,
    cohens_dz,
    effect_sizes,
    holm_adjust,
    paired_t_test,
    paired_t_tests,
    relative_improvement,
    relative_improvements,
    wilcoxon_signed_rank,
    wilcoxon_tests,
)

# --- naive references -------------------------------------------------------------------------


def previous_t_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The t-test `rank compare` computed before it called scipy.stats.ttest_rel."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    n = d.size
    if not d.any():
        return 0.0, 1.0
    if n < 2:
        return math.nan, math.nan
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return math.copysign(math.inf, mean), 0.0
    t = mean / (sd / math.sqrt(n))
    return t, min(2.0 * float(scipy.stats.t.sf(abs(t), n - 1)), 1.0)


def previous_bh(p: np.ndarray) -> np.ndarray:
    """The Benjamini-Hochberg adjustment before it called scipy.stats.false_discovery_control."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * (m / np.arange(1, m + 1))
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def naive_holm(p: list[float]) -> list[float]:
    """Holm (1979) step-down, written as the textbook loop over sorted p-values."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order, start=1):
        running = max(running, (m - rank + 1) * p[i])
        out[i] = min(1.0, running)
    return out


def naive_bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg (1995): p~_(i) = min over j >= i of m p_(j) / j, as a double loop."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for rank, i in enumerate(order, start=1):
        best = math.inf
        for rank_j in range(rank, m + 1):
            best = min(best, m * p[order[rank_j - 1]] / rank_j)
        out[i] = min(1.0, best)
    return out


def paired_case(n: int, seed: int, rounded: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.random(n)
    b = a + rng.normal(0.02, 0.1, n)
    if rounded:
        # Ties and zero differences, as with NDCG on short lists.
        a, b = np.round(a, 1), np.round(b, 1)
        if not (b - a).any():
            b[0] += 0.1
    return a, b


# --- paired tests against scipy and the previous formulas ---------------------------------------


@pytest.mark.parametrize("n", [2, 5, 30, 200, 5000])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rounded", [False, True])
def test_t_test_matches_scipy_and_the_previous_formula(n: int, seed: int, rounded: bool) -> None:
    a, b = paired_case(n, seed, rounded)
    ours = paired_t_test(a, b)
    ref = scipy.stats.ttest_rel(b, a)
    assert ours.statistic == ref.statistic and ours.p_value == ref.pvalue
    t, p = previous_t_test(a, b)
    # The same numbers up to rounding: t differs in the last bit at most, which a p-value far
    # in the tail (p ~ 1e-100) magnifies by about t^2.
    assert ours.statistic == pytest.approx(t, rel=4 * np.finfo(float).eps)
    assert ours.p_value == pytest.approx(p, rel=1e-12, abs=1e-300)


def test_row_wise_t_tests_equal_one_comparison_at_a_time() -> None:
    rng = np.random.default_rng(4)
    a = rng.random((6, 300))
    b = a + rng.normal(0.01, 0.1, (6, 300))
    b[2] = a[2]  # identical: (0, 1) rather than scipy's nan
    b[3] = a[3] + 0.25  # a constant difference: (inf, 0)
    b[3, 0] = a[3, 0] + 0.25
    t, p = paired_t_tests(a, b)
    for i in range(6):
        one = paired_t_test(a[i], b[i])
        assert (t[i], p[i]) == (one.statistic, one.p_value)
        assert (t[i], p[i]) == pytest.approx(previous_t_test(a[i], b[i]), rel=1e-12)
    assert (t[2], p[2]) == (0.0, 1.0)


@pytest.mark.parametrize("n", [1, 8, 40, 60, 3000])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rounded", [False, True])
def test_wilcoxon_matches_scipy(n: int, seed: int, rounded: bool) -> None:
    a, b = paired_case(n, seed, rounded)
    ours = wilcoxon_signed_rank(a, b)
    ref = scipy.stats.wilcoxon(b, a)
    assert ours.statistic == ref.statistic and ours.p_value == ref.pvalue


def test_row_wise_wilcoxon_keeps_each_rows_exact_or_normal_choice() -> None:
    # Row 0: 20 distinct non-zero differences (exact distribution); row 1: 3000 with ties; row 2:
    # identical; row 3: one non-zero difference among zeros.
    rng = np.random.default_rng(5)
    a = rng.random((4, 3000))
    b = a.copy()
    b[0, :20] += rng.normal(0.05, 0.1, 20)
    b[1] = np.round(a[1] + rng.normal(0.01, 0.1, 3000), 1)
    b[3, 7] += 0.5
    w, p = wilcoxon_tests(a, b)
    for i in (0, 1, 3):
        ref = scipy.stats.wilcoxon(b[i] - a[i], zero_method="wilcox")
        assert (w[i], p[i]) == (ref.statistic, ref.pvalue)
    assert (w[2], p[2]) == (0.0, 1.0)


def test_wilcoxon_drops_zero_differences() -> None:
    # 'wilcox' zero method: appending users with zero difference changes nothing. (n > 50, so
    # scipy's 'auto' uses the normal approximation both with and without the zeros.)
    rng = np.random.default_rng(3)
    a = rng.random(80)
    b = a + rng.normal(0.02, 0.1, 80)
    with_zeros = wilcoxon_signed_rank(np.r_[a, [0.5] * 10], np.r_[b, [0.5] * 10])
    assert with_zeros == wilcoxon_signed_rank(a, b)


def test_identical_arrays_give_p_one() -> None:
    a = np.random.default_rng(0).random(50)
    assert paired_t_test(a, a.copy()).p_value == 1.0
    assert paired_t_test(a, a.copy()).statistic == 0.0
    assert wilcoxon_signed_rank(a, a.copy()).p_value == 1.0
    assert cohens_dz(a, a.copy()) == 0.0
    assert relative_improvement(a, a.copy()) == 0.0


def test_single_user() -> None:
    a, b = np.array([0.2]), np.array([0.5])
    assert math.isnan(paired_t_test(a, b).p_value)
    assert math.isnan(paired_t_test(a, b).statistic)
    assert wilcoxon_signed_rank(a, b).p_value == scipy.stats.wilcoxon(b, a).pvalue
    assert math.isnan(cohens_dz(a, b))
    # One user without a difference is still "identical arrays".
    assert paired_t_test(a, a).p_value == 1.0
    assert cohens_dz(a, a) == 0.0


def test_constant_nonzero_difference() -> None:
    a = np.array([0.0, 0.25, 0.5])
    b = a + 0.25  # exact in binary, so the differences have zero variance
    assert (paired_t_test(a, b).statistic, paired_t_test(a, b).p_value) == (math.inf, 0.0)
    assert paired_t_test(b, a).statistic == -math.inf
    assert cohens_dz(b, a) == -math.inf


def test_effect_sizes() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4])
    b = np.array([0.2, 0.2, 0.5, 0.6])
    d = b - a
    assert cohens_dz(a, b) == d.mean() / d.std(ddof=1)
    assert relative_improvement(a, b) == d.mean() / a.mean()
    assert math.isnan(relative_improvement(np.zeros(4), b))


def test_row_wise_effect_sizes_equal_one_comparison_at_a_time() -> None:
    rng = np.random.default_rng(6)
    a = rng.random((5, 40))
    b = a + rng.normal(0.0, 0.1, (5, 40))
    a[1] = 0.0  # baseline mean 0: relative improvement nan
    b[2] = a[2]
    dz, rel = effect_sizes(a, b), relative_improvements(a, b)
    for i in range(5):
        d = b[i] - a[i]
        expected_dz = 0.0 if i == 2 else d.mean() / d.std(ddof=1)
        assert dz[i] == expected_dz == cohens_dz(a[i], b[i])
        expected_rel = d.mean() / a[i].mean() if i != 1 else math.nan
        np.testing.assert_array_equal(rel[i], expected_rel)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.zeros(3), np.zeros(4)),
        (np.zeros((2, 2)), np.zeros((2, 2))),
        (np.array([]), np.array([])),
        (np.array([0.1, np.nan]), np.array([0.1, 0.2])),
        (np.array([0.1, 0.2]), np.array([np.inf, 0.2])),
    ],
)
def test_bad_arrays_raise(a: np.ndarray, b: np.ndarray) -> None:
    with pytest.raises(ValueError):
        paired_t_test(a, b)
    with pytest.raises(ValueError):
        wilcoxon_signed_rank(a, b)


def test_bad_row_arrays_raise() -> None:
    with pytest.raises(ValueError, match="2-D"):
        paired_t_tests(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="differ in shape"):
        effect_sizes(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        wilcoxon_tests(np.zeros((2, 3)), np.array([[0, 1, 2], [0, np.nan, 1]]))


# --- multiple-comparison corrections ----------------------------------------------------------


def test_holm_and_bh_hand_computed() -> None:
    # p = [0.01, 0.04, 0.03, 0.005], m = 4; sorted: 0.005, 0.01, 0.03, 0.04.
    # Holm: m - j + 1 = 4, 3, 2, 1 -> 0.020, 0.030, 0.060, 0.040; running max -> 0.020, 0.030,
    #   0.060, 0.060. Input order: [0.03, 0.06, 0.06, 0.02].
    # BH: m / j = 4, 2, 4/3, 1 -> 0.020, 0.020, 0.040, 0.040; running min from the largest ->
    #   0.020, 0.020, 0.040, 0.040. Input order: [0.02, 0.04, 0.04, 0.02].
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm_adjust(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(bh_adjust(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(adjust_pvalues(p, "none"), p)


def test_corrections_cap_at_one_and_keep_nan() -> None:
    # Holm: sorted 0.3, 0.5, 0.6 -> 0.9, 1.0, 0.6 -> running max 0.9, 1.0, 1.0 (capped).
    # BH: 0.3*3/1 = 0.9, 0.5*3/2 = 0.75, 0.6*3/3 = 0.6 -> running min 0.6, 0.6, 0.6.
    # The NaN is not a test: m = 3, and it stays NaN.
    p = [0.6, np.nan, 0.3, 0.5]
    np.testing.assert_allclose(holm_adjust(p), [1.0, np.nan, 0.9, 1.0])
    np.testing.assert_allclose(bh_adjust(p), [0.6, np.nan, 0.6, 0.6])
    assert holm_adjust([]).size == 0 and bh_adjust([]).size == 0
    assert np.isnan(bh_adjust([np.nan])).all()
    with pytest.raises(ValueError):
        holm_adjust([1.5])
    with pytest.raises(ValueError):
        bh_adjust([-0.1])
    with pytest.raises(ValueError):
        adjust_pvalues([0.1], "bonferroni")  # type: ignore[arg-type]


p_lists = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(p_lists)
def test_holm_matches_naive(p: list[float]) -> None:
    adjusted = holm_adjust(p)
    np.testing.assert_allclose(adjusted, naive_holm(p), rtol=1e-12, atol=0)
    assert (adjusted >= np.asarray(p)).all() and (adjusted <= 1.0).all()
    # Monotone: a smaller raw p never gets a larger adjusted p.
    order = np.argsort(p, kind="stable")
    assert (np.diff(adjusted[order]) >= 0).all()


@settings(max_examples=200, deadline=None)
@given(p_lists)
def test_bh_matches_naive(p: list[float]) -> None:
    adjusted = bh_adjust(p)
    np.testing.assert_allclose(adjusted, naive_bh(p), rtol=1e-12, atol=0)
    assert (adjusted >= np.asarray(p)).all() and (adjusted <= 1.0).all()
    order = np.argsort(p, kind="stable")
    assert (np.diff(adjusted[order]) >= 0).all()
    assert (adjusted <= holm_adjust(p) + 1e-15).all()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0.0, 1.0, allow_nan=False), st.just(math.nan), st.just(0.05)),
        max_size=40,
    )
)
def test_bh_gives_the_previous_numbers_exactly(p: list[float]) -> None:
    # scipy.stats.false_discovery_control computes p * (m / j) like the previous code; ties
    # (repeated 0.05) and NaN entries included.
    np.testing.assert_array_equal(bh_adjust(p), previous_bh(np.asarray(p)))
