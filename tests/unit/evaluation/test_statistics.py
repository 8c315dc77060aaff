"""Paired tests against scipy, corrections against hand and naive references, reports."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import polars as pl
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from recsys_cli.errors import UserError
from recsys_cli.evaluation.statistics import (
    T_MARK,
    WILCOXON_MARK,
    ComparisonReport,
    ComparisonRow,
    adjust_pvalues,
    bh_adjust,
    cohens_dz,
    compare,
    holm_adjust,
    paired_bootstrap_ci,
    paired_t_test,
    relative_improvement,
    wilcoxon_signed_rank,
)

# --- naive references -------------------------------------------------------------------------


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


# --- paired tests against scipy ---------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 30, 200, 5000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_t_test_matches_scipy(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random(n)
    b = a + rng.normal(0.02, 0.1, n)
    ours = paired_t_test(a, b)
    ref = scipy.stats.ttest_rel(b, a)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("n", [1, 8, 40, 60, 3000])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rounded", [False, True])
def test_wilcoxon_matches_scipy(n: int, seed: int, rounded: bool) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random(n)
    b = a + rng.normal(0.03, 0.1, n)
    if rounded:
        # Ties and zero differences, as with NDCG on short lists.
        a, b = np.round(a, 1), np.round(b, 1)
        if not (b - a).any():
            b[0] += 0.1
    ours = wilcoxon_signed_rank(a, b)
    ref = scipy.stats.wilcoxon(b, a)
    assert ours.statistic == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-12)


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
    ci = paired_bootstrap_ci(a, a.copy(), n_resamples=100)
    assert (ci.low, ci.high) == (0.0, 0.0)


def test_single_user() -> None:
    a, b = np.array([0.2]), np.array([0.5])
    assert math.isnan(paired_t_test(a, b).p_value)
    assert wilcoxon_signed_rank(a, b).p_value == scipy.stats.wilcoxon(b, a).pvalue
    assert math.isnan(cohens_dz(a, b))
    ci = paired_bootstrap_ci(a, b, n_resamples=50)
    assert ci.low == pytest.approx(0.3) and ci.high == pytest.approx(0.3)
    # One user without a difference is still "identical arrays".
    assert paired_t_test(a, a).p_value == 1.0


def test_constant_nonzero_difference() -> None:
    a = np.array([0.0, 0.25, 0.5])
    b = a + 0.25  # exact in binary, so the differences have zero variance
    assert paired_t_test(a, b).statistic == math.inf
    assert paired_t_test(a, b).p_value == 0.0
    assert cohens_dz(b, a) == -math.inf


def test_effect_sizes() -> None:
    a = np.array([0.1, 0.2, 0.3, 0.4])
    b = np.array([0.2, 0.2, 0.5, 0.6])
    d = b - a
    assert cohens_dz(a, b) == pytest.approx(d.mean() / d.std(ddof=1))
    assert relative_improvement(a, b) == pytest.approx((b.mean() - a.mean()) / a.mean())
    assert math.isnan(relative_improvement(np.zeros(4), b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (np.zeros(3), np.zeros(4)),
        (np.zeros((2, 2)), np.zeros((2, 2))),
        (np.array([]), np.array([])),
        (np.array([0.1, np.nan]), np.array([0.1, 0.2])),
    ],
)
def test_bad_arrays_raise(a: np.ndarray, b: np.ndarray) -> None:
    with pytest.raises(ValueError):
        paired_t_test(a, b)


# --- bootstrap --------------------------------------------------------------------------------


def test_bootstrap_covers_true_difference_and_matches_normal_theory() -> None:
    rng = np.random.default_rng(42)
    n, true_diff = 20_000, 0.01
    a = rng.random(n)
    b = a + true_diff + rng.normal(0.0, 0.2, n)
    ci = paired_bootstrap_ci(a, b, rng=7, n_resamples=2000)
    assert ci.low < true_diff < ci.high
    d = b - a
    half_width = 1.959964 * d.std(ddof=1) / math.sqrt(n)
    assert (ci.high - ci.low) / 2 == pytest.approx(half_width, rel=0.1)
    assert (ci.low + ci.high) / 2 == pytest.approx(d.mean(), abs=0.2 * half_width)


def test_bootstrap_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random(300), rng.random(300)
    first = paired_bootstrap_ci(a, b, rng=123, n_resamples=1000)
    assert paired_bootstrap_ci(a, b, rng=123, n_resamples=1000) == first
    assert paired_bootstrap_ci(a, b, rng=np.random.default_rng(123), n_resamples=1000) == first
    assert paired_bootstrap_ci(a, b, rng=124, n_resamples=1000) != first


def test_bootstrap_chunks_match_one_shot(monkeypatch: pytest.MonkeyPatch) -> None:
    # The chunk size changes memory, not the resampled means: compare against one big draw.
    import recsys_cli.evaluation.statistics as statistics

    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50)
    monkeypatch.setattr(statistics, "_BOOTSTRAP_CHUNK_VALUES", 50 * 7)
    chunked = paired_bootstrap_ci(a, b, rng=5, n_resamples=100, confidence=0.9)
    idx = np.random.default_rng(5).integers(0, 50, size=(100, 50))
    means = (b - a)[idx].mean(axis=1)
    low, high = np.quantile(means, [0.05, 0.95])
    assert chunked.low == pytest.approx(low) and chunked.high == pytest.approx(high)


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
    assert holm_adjust([]).size == 0
    assert np.isnan(bh_adjust([np.nan])).all()
    with pytest.raises(ValueError):
        holm_adjust([1.5])
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


# --- compare ----------------------------------------------------------------------------------

N_USERS = 120


def _frame(values: dict[tuple[str, str, int], np.ndarray], users: np.ndarray | None = None):
    parts = []
    for (model, metric, cutoff), v in values.items():
        u = np.arange(v.size) if users is None else users
        parts.append(
            pl.DataFrame(
                {
                    "user": u,
                    "model": [model] * v.size,
                    "metric": [metric] * v.size,
                    "cutoff": [cutoff] * v.size,
                    "value": v,
                }
            )
        )
    return pl.concat(parts)


@pytest.fixture
def stored() -> dict[tuple[str, str, int], np.ndarray]:
    rng = np.random.default_rng(11)
    base10 = rng.random(N_USERS)
    base20 = np.clip(base10 + rng.random(N_USERS) * 0.2, 0, 1)
    return {
        ("pop", "ndcg", 10): base10,
        ("pop", "ndcg", 20): base20,
        ("ease", "ndcg", 10): np.clip(base10 + 0.15 + rng.normal(0, 0.1, N_USERS), 0, 1),
        ("ease", "ndcg", 20): np.clip(base20 + 0.15 + rng.normal(0, 0.1, N_USERS), 0, 1),
        ("knn", "ndcg", 10): base10 + rng.normal(0, 0.05, N_USERS),
        ("knn", "ndcg", 20): base20 + rng.normal(0, 0.05, N_USERS),
    }


def test_compare_matches_scipy_on_stored_values(stored) -> None:
    frame = _frame(stored).sample(fraction=1.0, shuffle=True, seed=3)  # pairing must use `user`
    report = compare(frame, "pop", ["ndcg@10", "ndcg@20"], correction="holm", n_resamples=500)
    assert [(r.model, r.metric) for r in report.rows] == [
        ("ease", "ndcg@10"),
        ("knn", "ndcg@10"),
        ("ease", "ndcg@20"),
        ("knn", "ndcg@20"),
    ]
    for r in report.rows:
        cutoff = int(r.metric.split("@")[1])
        a, b = stored[("pop", "ndcg", cutoff)], stored[(r.model, "ndcg", cutoff)]
        assert r.n_users == N_USERS
        assert r.t_pvalue == pytest.approx(scipy.stats.ttest_rel(b, a).pvalue, rel=1e-9)
        assert r.wilcoxon_pvalue == pytest.approx(scipy.stats.wilcoxon(b, a).pvalue, rel=1e-12)
        assert r.diff == pytest.approx(b.mean() - a.mean())
        assert r.baseline_mean == pytest.approx(a.mean())
        assert r.model_mean == pytest.approx(b.mean())
        assert r.effect_size == pytest.approx(cohens_dz(a, b))
        assert r.ci_low < r.diff < r.ci_high
    # The correction runs across the whole table, separately per test.
    np.testing.assert_allclose(
        [r.t_pvalue_adjusted for r in report.rows], naive_holm([r.t_pvalue for r in report.rows])
    )
    np.testing.assert_allclose(
        [r.wilcoxon_pvalue_adjusted for r in report.rows],
        naive_holm([r.wilcoxon_pvalue for r in report.rows]),
    )
    by_model = {(r.model, r.metric): r for r in report.rows}
    assert by_model[("ease", "ndcg@10")].significant
    assert by_model[("ease", "ndcg@10")].wilcoxon_significant


@pytest.mark.parametrize("correction", ["bh", "none"])
def test_compare_other_corrections(stored, correction) -> None:
    report = compare(
        _frame(stored), "pop", ["ndcg@10", "ndcg@20"], correction=correction, n_resamples=200
    )
    raw = [r.t_pvalue for r in report.rows]
    expected = naive_bh(raw) if correction == "bh" else raw
    np.testing.assert_allclose([r.t_pvalue_adjusted for r in report.rows], expected)


def test_compare_is_reproducible_and_stable_per_comparison(stored) -> None:
    first = compare(_frame(stored), "pop", ["ndcg@10"], seed=5, n_resamples=300)
    assert compare(_frame(stored), "pop", ["ndcg@10"], seed=5, n_resamples=300) == first
    # Dropping a model leaves the other model's bootstrap interval untouched.
    without_knn = {k: v for k, v in stored.items() if k[0] != "knn"}
    alone = compare(_frame(without_knn), "pop", ["ndcg@10"], seed=5, n_resamples=300)
    assert (alone.rows[0].ci_low, alone.rows[0].ci_high) == (
        first.rows[0].ci_low,
        first.rows[0].ci_high,
    )


def test_compare_identical_model(stored) -> None:
    same = dict(stored)
    same[("clone", "ndcg", 10)] = stored[("pop", "ndcg", 10)].copy()
    report = compare(_frame(same), "pop", ["ndcg@10"], n_resamples=100)
    clone = next(r for r in report.rows if r.model == "clone")
    assert clone.t_pvalue == 1.0 and clone.wilcoxon_pvalue == 1.0
    assert clone.diff == 0.0 and clone.effect_size == 0.0
    assert not clone.significant


def test_compare_refuses_mismatched_users(stored) -> None:
    frame = _frame(stored).filter(~((pl.col("model") == "knn") & (pl.col("user") < 3)))
    with pytest.raises(UserError, match=r"'knn'.*3 of the baseline's 120 users missing"):
        compare(frame, "pop", ["ndcg@10"])
    extra = pl.concat(
        [
            _frame(stored),
            _frame({("ease", "ndcg", 10): np.array([0.5, 0.5])}, users=np.array([500, 501])),
        ]
    )
    with pytest.raises(UserError, match=r"'ease'.*2 extra users"):
        compare(extra, "pop", ["ndcg@10"])
    no_rows = _frame(stored).filter(~((pl.col("model") == "knn") & (pl.col("cutoff") == 20)))
    with pytest.raises(UserError, match=r"'knn'.*ndcg@20.*all 120"):
        compare(no_rows, "pop", ["ndcg@10", "ndcg@20"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": "nope"}, "baseline 'nope' not found"),
        ({"metrics": ["ndcg"]}, "NAME@CUTOFF"),
        ({"metrics": ["ndcg@5"]}, "no per-user values for ndcg@5; available: ndcg@10, ndcg@20"),
        ({"metrics": []}, "no metrics"),
        ({"correction": "bonferroni"}, "unknown correction"),
        ({"alpha": 1.5}, "alpha"),
    ],
)
def test_compare_user_errors(stored, kwargs, message) -> None:
    args = {"baseline": "pop", "metrics": ["ndcg@10"]} | kwargs
    with pytest.raises(UserError, match=message):
        compare(_frame(stored), **args)


def test_compare_refuses_duplicates_nan_and_lone_baseline(stored) -> None:
    frame = _frame(stored)
    dup = pl.concat([frame, frame.filter((pl.col("model") == "ease") & (pl.col("user") == 0))])
    with pytest.raises(UserError, match="'ease' has 1 users with more than one ndcg@10"):
        compare(dup, "pop", ["ndcg@10"])
    nan = frame.with_columns(
        pl.when((pl.col("model") == "knn") & (pl.col("user") == 4))
        .then(float("nan"))
        .otherwise(pl.col("value"))
        .alias("value")
    )
    with pytest.raises(UserError, match="'knn' has 1 missing or non-finite"):
        compare(nan, "pop", ["ndcg@10", "ndcg@20"])
    with pytest.raises(UserError, match="only the baseline"):
        compare(frame.filter(pl.col("model") == "pop"), "pop", ["ndcg@10"])
    with pytest.raises(UserError, match="lacks columns: cutoff"):
        compare(frame.drop("cutoff"), "pop", ["ndcg@10"])


# --- renderers --------------------------------------------------------------------------------


@pytest.fixture
def report(stored) -> ComparisonReport:
    return compare(_frame(stored), "pop", ["ndcg@10", "ndcg@20"], n_resamples=300)


HEADER = ["model", "metric", "baseline", "value", "diff", "rel. diff", "CI", "p (t)",
          "p adj (t)", "p (W)", "p adj (W)", "d_z"]  # fmt: skip


def test_markdown(report: ComparisonReport) -> None:
    lines = report.to_markdown().splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == HEADER
    body = lines[2 : 2 + len(report.rows)]
    for line, r in zip(body, report.rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == r.model and cells[1] == r.metric
        assert (T_MARK in cells[3]) == r.t_significant
        assert (WILCOXON_MARK in cells[3]) == r.wilcoxon_significant
    assert any(T_MARK in line for line in body)
    assert "Holm-adjusted p < 0.05 vs pop" in lines[-1]


def test_latex(report: ComparisonReport) -> None:
    tex = report.to_latex()
    assert tex.startswith(r"\begin{tabular}{llrrrrrrrrrr}")
    assert r"\toprule" in tex and r"\bottomrule" in tex
    rows = [line for line in tex.splitlines() if line.startswith(("ease", "knn"))]
    assert len(rows) == len(report.rows)
    for line, r in zip(rows, report.rows, strict=True):
        assert line.count("&") == len(HEADER) - 1
        assert (r"$^{\dagger}$" in line) == r.t_significant
        assert (r"$^{\ddagger}$" in line) == r.wilcoxon_significant
        assert r"\%" in line and T_MARK not in line


def test_latex_escapes_names() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(20)
    frame = _frame({("pop", "ndcg_w", 10): a, ("a&b", "ndcg_w", 10): a + 0.1})
    row = compare(frame, "pop", ["ndcg_w@10"], n_resamples=50).to_latex().splitlines()[4]
    assert row.startswith(r"a\&b & ndcg\_w@10 & ")


def test_csv_and_dict(report: ComparisonReport) -> None:
    parsed = list(csv.DictReader(io.StringIO(report.to_csv())))
    names = [f.name for f in ComparisonRow.__dataclass_fields__.values()]
    assert list(parsed[0]) == names
    assert float(parsed[0]["t_pvalue"]) == report.rows[0].t_pvalue  # full precision
    d = report.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["baseline"] == "pop" and d["correction"] == "holm" and d["zero_method"] == "wilcox"
    assert len(d["rows"]) == len(report.rows) and set(d["rows"][0]) == set(names)


def test_dict_replaces_nan_with_none() -> None:
    a = np.zeros(5)
    frame = _frame({("pop", "ndcg", 10): a, ("m", "ndcg", 10): a + np.arange(5) / 10})
    d = compare(frame, "pop", ["ndcg@10"], n_resamples=50).to_dict()
    assert d["rows"][0]["relative_diff"] is None  # baseline mean 0
    json.dumps(d, allow_nan=False)


def test_rich_table(report: ComparisonReport) -> None:
    (table, legend) = report.to_rich(250).renderables
    assert [c.header.plain for c in table.columns] == HEADER
    assert table.row_count == len(report.rows)
    console = Console(record=True, width=250)
    console.print(table, legend)
    text = console.export_text()
    assert T_MARK in text and "paired bootstrap" in text


def test_rich_table_fits_narrow_consoles_without_cutting_values(report: ComparisonReport) -> None:
    console = Console(record=True, width=80)
    console.print(report.to_rich(80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for r in report.rows:
        assert f"{r.baseline_mean:.4f}" in text and f"{r.effect_size:.3f}" in text
