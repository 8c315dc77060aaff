"""Renderers of a paired comparison: the table, Markdown, LaTeX, CSV and JSON that `rank compare`
prints, checked for structure and, on a hand-made report, character for character."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from recsys_cli.evaluation.comparison import ComparisonReport, ComparisonRow, compare
from recsys_cli.results import significance
from recsys_cli.results.significance import T_MARK, WILCOXON_MARK

N_USERS = 120


def _frame(values: dict[tuple[str, str, int], np.ndarray]) -> pl.DataFrame:
    return pl.concat(
        pl.DataFrame(
            {
                "user": np.arange(v.size),
                "model": [model] * v.size,
                "metric": [metric] * v.size,
                "cutoff": [cutoff] * v.size,
                "value": v,
            }
        )
        for (model, metric, cutoff), v in values.items()
    )


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


@pytest.fixture
def report(stored) -> ComparisonReport:
    return compare(_frame(stored), "pop", ["ndcg@10", "ndcg@20"], n_resamples=300)


HEADER = ["model", "metric", "baseline", "value", "diff", "rel. diff", "CI", "p (t)",
          "p adj (t)", "p (W)", "p adj (W)", "d_z"]  # fmt: skip


def test_markdown(report: ComparisonReport) -> None:
    lines = significance.to_markdown(report).splitlines()
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
    tex = significance.to_latex(report)
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
    row = significance.to_latex(compare(frame, "pop", ["ndcg_w@10"], n_resamples=50)).splitlines()[
        4
    ]
    assert row.startswith(r"a\&b & ndcg\_w@10 & ")


def test_csv_and_dict(report: ComparisonReport) -> None:
    parsed = list(csv.DictReader(io.StringIO(significance.to_csv(report))))
    names = [f.name for f in ComparisonRow.__dataclass_fields__.values()]
    assert list(parsed[0]) == names
    assert float(parsed[0]["t_pvalue"]) == report.rows[0].t_pvalue  # full precision
    d = significance.to_dict(report)
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["baseline"] == "pop" and d["correction"] == "holm" and d["zero_method"] == "wilcox"
    assert len(d["rows"]) == len(report.rows) and set(d["rows"][0]) == set(names)


def test_dict_replaces_nan_with_none() -> None:
    a = np.zeros(5)
    frame = _frame({("pop", "ndcg", 10): a, ("m", "ndcg", 10): a + np.arange(5) / 10})
    d = significance.to_dict(compare(frame, "pop", ["ndcg@10"], n_resamples=50))
    assert d["rows"][0]["relative_diff"] is None  # baseline mean 0
    json.dumps(d, allow_nan=False)


def test_rich_table(report: ComparisonReport) -> None:
    (table, legend) = significance.to_rich(report, 250).renderables
    assert [c.header.plain for c in table.columns] == HEADER
    assert table.row_count == len(report.rows)
    console = Console(record=True, width=250)
    console.print(table, legend)
    text = console.export_text()
    assert T_MARK in text and "paired bootstrap" in text


def test_rich_table_fits_narrow_consoles_without_cutting_values(report: ComparisonReport) -> None:
    console = Console(record=True, width=80)
    console.print(significance.to_rich(report, 80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for r in report.rows:
        assert f"{r.baseline_mean:.4f}" in text and f"{r.effect_size:.3f}" in text


# --- character for character, on a hand-made report (as printed before the renderers moved) ----


def hand_made(interval: str = "percentile") -> ComparisonReport:
    rows = (
        ComparisonRow("EASE+mmr_1", "ndcg@10", 2000, 0.25, 0.3, 0.05, 0.2, 0.041234, 0.058765,
                      12.5, 3.2e-20, 6.4e-20, 150000.0, 2.5e-9, 5e-9, 0.31, True, True, True),
        ComparisonRow("a&b|c", "exposure_share[tail]@10", 2000, 0.0, 0.01, 0.01, math.nan,
                      -0.002, 0.0213, 1.2, 0.2301, 0.2301, 900.0, 0.04, 0.05, math.inf, False,
                      True, False),
    )  # fmt: skip
    labels = ("ndcg@10", "exposure_share[tail]@10")
    return ComparisonReport(
        "pop_x", labels, rows, "holm", 0.05, "t", 0.95, 10000, 3, interval=interval
    )


LEGEND = (
    "†: paired t-test, ‡: Wilcoxon signed-rank (zeros dropped), Holm-adjusted p < 0.05 vs pop_x; "
    "CI: 95% paired bootstrap of the difference (10000 resamples, seed 3); d_z: Cohen's paired "
    "effect size."
)

MARKDOWN = "\n".join(
    [
        (
            "| model | metric | baseline | value | diff | rel. diff | CI | p (t) | p adj (t) "
            "| p (W) | p adj (W) | d_z |"
        ),
        ("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"),
        (
            "| EASE+mmr_1 | ndcg@10 | 0.2500 | 0.3000†‡ | +0.0500 | +20.00% | [+0.0412, +0.05"
            "88] | <0.0001 | <0.0001 | <0.0001 | <0.0001 | 0.310 |"
        ),
        (
            "| a&b\\|c | exposure_share[tail]@10 | 0.0000 | 0.0100‡ | +0.0100 | nan | [-0.0020"
            ", +0.0213] | 0.2301 | 0.2301 | 0.0400 | 0.0500 | inf |"
        ),
        "",
        (
            "†: paired t-test, ‡: Wilcoxon signed-rank (zeros dropped), Holm-adjusted p < 0.0"
            "5 vs pop_x; CI: 95% paired bootstrap of the difference (10000 resamples, seed 3)"
            "; d_z: Cohen's paired effect size."
        ),
        "",
    ]
)

LATEX = "\n".join(
    [
        "\\begin{tabular}{llrrrrrrrrrr}",
        "\\toprule",
        (
            "Model & Metric & Baseline & Value & $\\Delta$ & $\\Delta$\\% & 95\\% CI & $p_t$ & $\\"
            "tilde p_t$ & $p_W$ & $\\tilde p_W$ & $d_z$ \\\\"
        ),
        "\\midrule",
        (
            "EASE+mmr\\_1 & ndcg@10 & 0.2500 & 0.3000$^{\\dagger}$$^{\\ddagger}$ & +0.0500 & +20"
            ".00\\% & [+0.0412, +0.0588] & $<$0.0001 & $<$0.0001 & $<$0.0001 & $<$0.0001 & 0.3"
            "10 \\\\"
        ),
        (
            "a\\&b|c & exposure\\_share[tail]@10 & 0.0000 & 0.0100$^{\\ddagger}$ & +0.0100 & nan"
            " & [-0.0020, +0.0213] & 0.2301 & 0.2301 & 0.0400 & 0.0500 & inf \\\\"
        ),
        "\\bottomrule",
        "\\end{tabular}",
        (
            "% $^{\\dagger}$: paired t-test, $^{\\ddagger}$: Wilcoxon signed-rank (zeros droppe"
            "d), Holm-adjusted p < 0.05 vs pop_x; CI: 95% paired bootstrap of the difference "
            "(10000 resamples, seed 3); d_z: Cohen's paired effect size."
        ),
        "",
    ]
)


def test_markdown_and_latex_are_unchanged() -> None:
    assert significance.to_markdown(hand_made()) == MARKDOWN
    assert significance.to_latex(hand_made()) == LATEX
    assert significance.legend(hand_made()) == LEGEND


def test_bca_is_named_in_the_legend_and_the_json() -> None:
    assert "CI: 95% BCa paired bootstrap of the difference" in significance.legend(hand_made("bca"))
    assert significance.to_dict(hand_made("bca"))["interval"] == "bca"
    assert significance.to_dict(hand_made())["interval"] == "percentile"


def test_csv_and_json_keep_full_precision_and_write_undefined_values() -> None:
    text = significance.to_csv(hand_made())
    first, second = list(csv.DictReader(io.StringIO(text)))
    assert first["t_pvalue"] == "3.2e-20" and first["ci_low"] == "0.041234"
    assert second["relative_diff"] == "nan" and second["effect_size"] == "inf"
    assert second["t_significant"] == "False"
    d = significance.to_dict(hand_made())
    assert d["rows"][1]["relative_diff"] is None and d["rows"][1]["effect_size"] is None
    assert d["rows"][0]["t_pvalue"] == 3.2e-20
    assert list(d) == ["baseline", "metrics", "correction", "alpha", "test", "confidence",
                       "interval", "n_resamples", "seed", "zero_method", "rows"]  # fmt: skip


def test_left_out_lines_say_how_many_where_and_why() -> None:
    lines = significance.left_out_lines({"ild@10": (1234, {"EASE+mmr": 1200, "pop": 34})})
    assert lines == [
        "ild@10: 1,234 users left out of the paired tests, having no value in EASE+mmr (1,200), "
        "pop (34) (ild is undefined when the list holds fewer than 2 items)"
    ]
