"""Render a paired comparison (`evaluation.comparison.ComparisonReport`): terminal tables (rich),
Markdown, LaTeX, CSV and a JSON-able dict, plus the lines about users left out of pairing."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from recsys_cli.evaluation.comparison import ComparisonReport, ComparisonRow

if TYPE_CHECKING:
    from rich.console import Group

T_MARK = "†"
WILCOXON_MARK = "‡"

HEADER = (
    "model",
    "metric",
    "baseline",
    "value",
    "diff",
    "rel. diff",
    "CI",
    "p (t)",
    "p adj (t)",
    "p (W)",
    "p adj (W)",
    "d_z",
)

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_MARKS = {T_MARK: r"$^{\dagger}$", WILCOXON_MARK: r"$^{\ddagger}$"}


def _fmt(x: float, digits: int = 4) -> str:
    return "nan" if math.isnan(x) else f"{x:.{digits}f}"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "nan"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _fmt_pct(x: float) -> str:
    return "nan" if math.isnan(x) else f"{100.0 * x:+.2f}%"


def _fmt_signed(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:+.4f}"


def _json_number(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def marks(row: ComparisonRow) -> str:
    """† when the adjusted t-test p is below alpha, ‡ for Wilcoxon."""
    return (T_MARK if row.t_significant else "") + (
        WILCOXON_MARK if row.wilcoxon_significant else ""
    )


def legend(report: ComparisonReport) -> str:
    """One-line explanation of the marks, the correction and the interval used."""
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[report.correction]
    kind = "BCa paired bootstrap" if report.interval == "bca" else "paired bootstrap"
    return (
        f"{T_MARK}: paired t-test, {WILCOXON_MARK}: Wilcoxon signed-rank "
        f"(zeros dropped), {correction}-adjusted p < {report.alpha:g} vs {report.baseline}; "
        f"CI: {report.confidence:.0%} {kind} of the difference "
        f"({report.n_resamples} resamples, seed {report.seed}); d_z: Cohen's paired effect size."
    )


def _display_rows(report: ComparisonReport) -> list[list[str]]:
    return [
        [
            r.model,
            r.metric,
            _fmt(r.baseline_mean),
            _fmt(r.model_mean) + marks(r),
            _fmt_signed(r.diff),
            _fmt_pct(r.relative_diff),
            f"[{_fmt_signed(r.ci_low)}, {_fmt_signed(r.ci_high)}]",
            _fmt_p(r.t_pvalue),
            _fmt_p(r.t_pvalue_adjusted),
            _fmt_p(r.wilcoxon_pvalue),
            _fmt_p(r.wilcoxon_pvalue_adjusted),
            _fmt(r.effect_size, 3),
        ]
        for r in report.rows
    ]


def to_rich(report: ComparisonReport, width: int) -> Group:
    """Tables that fit `width` columns (model and metric repeated in each block; no value is
    cut), with significant rows in bold, then the legend."""
    from rich.console import Group
    from rich.text import Text

    from recsys_cli.results.report import fit_tables

    rows = [
        ([Text(cell) for cell in cells], "bold" if r.significant else None)
        for cells, r in zip(_display_rows(report), report.rows, strict=True)
    ]
    tables = fit_tables(
        HEADER, rows, width, fixed=2, title=f"Paired comparison against {report.baseline}"
    )
    return Group(*tables, Text(legend(report), style="dim"))


def to_markdown(report: ComparisonReport) -> str:
    """A GitHub-flavoured Markdown table followed by the legend."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join([" --- "] * 2 + [" ---: "] * (len(HEADER) - 2)) + "|",
    ]
    for cells in _display_rows(report):
        lines.append("| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |")
    lines.append("")
    lines.append(legend(report))
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(report: ComparisonReport) -> str:
    """A booktabs LaTeX tabular; $^\\dagger$ / $^\\ddagger$ mark adjusted p < alpha."""
    header = (
        "Model",
        "Metric",
        "Baseline",
        "Value",
        r"$\Delta$",
        r"$\Delta$\%",
        f"{report.confidence:.0%} CI".replace("%", r"\%"),
        r"$p_t$",
        r"$\tilde p_t$",
        r"$p_W$",
        r"$\tilde p_W$",
        r"$d_z$",
    )
    lines = [
        r"\begin{tabular}{ll" + "r" * (len(header) - 2) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for cells, r in zip(_display_rows(report), report.rows, strict=True):
        cells = [_latex_escape(c) for c in cells]
        cells[3] = _fmt(r.model_mean) + "".join(_LATEX_MARKS[m] for m in marks(r))
        cells = [c.replace("<", r"$<$") for c in cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    text = legend(report)
    for mark, tex in _LATEX_MARKS.items():
        text = text.replace(mark, tex)
    lines.append("% " + text)
    return "\n".join(lines) + "\n"


def to_csv(report: ComparisonReport) -> str:
    """All row fields at full precision, one line per comparison (NaN written as 'nan')."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = [f.name for f in fields(ComparisonRow)]
    writer.writerow(names)
    for r in report.rows:
        values = (getattr(r, name) for name in names)
        writer.writerow([repr(v) if isinstance(v, float) else v for v in values])
    return buf.getvalue()


def to_dict(report: ComparisonReport) -> dict[str, Any]:
    """A JSON-able dict: settings plus one dict per row; NaN and ±inf become None."""
    return {
        "baseline": report.baseline,
        "metrics": list(report.metrics),
        "correction": report.correction,
        "alpha": report.alpha,
        "test": report.test,
        "confidence": report.confidence,
        "interval": report.interval,
        "n_resamples": report.n_resamples,
        "seed": report.seed,
        "zero_method": report.zero_method,
        "rows": [{k: _json_number(v) for k, v in asdict(r).items()} for r in report.rows],
    }


def left_out_lines(left_out: dict[str, tuple[int, dict[str, int]]]) -> list[str]:
    """One line per metric@k that lost users to pairing (`pair_on_shared_users`): how many,
    where and why."""
    from recsys_cli.metrics import UNDEFINED_WHEN, split_metric

    lines = []
    for label, (users, lacking) in left_out.items():
        base = split_metric(label.rpartition("@")[0])[0]
        where = ", ".join(f"{model} ({n:,})" for model, n in lacking.items())
        lines.append(
            f"{label}: {users:,} users left out of the paired tests, having no value in {where}"
            f" ({base} is undefined when {UNDEFINED_WHEN.get(base, 'the list is empty')})"
        )
    return lines
