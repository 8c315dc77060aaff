"""`rank report`: one self-contained HTML page for team reviews, with plots.

Charts are Vega-Lite specifications built with Altair and drawn in the page by vega-embed; the
Vega, Vega-Lite and vega-embed JavaScript comes from the vl-convert-python wheel
(`vl_convert.javascript_bundle()`, about 0.9 MB) and is inlined with every chart's data, so the
page opens with no network access. Tables are plain HTML. Error bars are 95% normal intervals of
the mean over users, mean ± 1.96 · standard error; paired comparisons are those of `rank
compare` (statistics.compare: paired t-test and Wilcoxon with Holm or Benjamini-Hochberg
correction over the table, paired bootstrap CI of the difference).

Each chart is a `<div class="chart" data-chart>`; once drawn it gets `data-rendered`, and a
chart that fails shows its error in place and gets `data-error` (the browser test reads both).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys_cli.errors import UserError
from recsys_cli.progress import Step, silent_step
from recsys_cli.results.catalog import Entry

Z95 = 1.959963984540054  # two-sided 95% normal quantile
COLUMNS = 4  # small multiples per row
SLICE_METRICS = 2  # accuracy metrics drawn per slice chart (the first ones of the run)
FOLD_ROWS = 40  # a longer comparison table starts folded (its plot above shows every row)


class Raw(str):
    """HTML that is already safe (built here), inserted without escaping."""


def _esc(value: Any) -> str:
    return value if isinstance(value, Raw) else html.escape(str(value))


def _num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> Raw:
    """An HTML table; columns from `numeric_from` on are right-aligned (numbers)."""
    head = "".join(
        f'<th class="{"num" if j >= numeric_from else ""}">{_esc(h)}</th>'
        for j, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if j >= numeric_from else ""}">{_esc(c)}</td>'
            for j, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return Raw(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def facts(pairs: Iterable[tuple[str, Any]]) -> Raw:
    """A definition list of (label, value) pairs; empty values are left out."""
    items = "".join(
        f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in pairs if v not in (None, "")
    )
    return Raw(f"<dl>{items}</dl>")


@dataclass
class Page:
    """The report being built: sections of HTML and the chart specifications they place."""

    title: str
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # (anchor, title, html)
    charts: dict[str, dict] = field(default_factory=dict)

    def chart(self, chart, caption: str) -> Raw:
        """Place an Altair chart: its spec goes to the page's data, a placeholder here."""
        key = f"chart-{len(self.charts) + 1}"
        self.charts[key] = _clean(chart.to_dict())
        return Raw(
            f'<figure><div class="chart" id="{key}" data-chart></div>'
            f"<figcaption>{_esc(caption)}</figcaption></figure>"
        )

    def section(self, title: str, parts: Iterable[str]) -> None:
        anchor = f"s{len(self.sections) + 1}"
        self.sections.append((anchor, title, "".join(parts)))

    def render(self) -> str:
        import vl_convert

        specs = json.dumps(self.charts, allow_nan=False, separators=(",", ":"))
        toc = "".join(
            f'<li><a href="#{anchor}">{_esc(title)}</a></li>' for anchor, title, _ in self.sections
        )
        body = "".join(
            f'<section id="{anchor}"><h2>{_esc(title)}</h2>{content}</section>'
            for anchor, title, content in self.sections
        )
        made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        from recsys_cli import __version__

        return _TEMPLATE.format(
            title=_esc(self.title),
            style=_STYLE,
            bundle=vl_convert.javascript_bundle().replace("</script", "<\\/script"),
            made=_esc(f"made {made} by rank (recsys-cli) {__version__}"),
            toc=toc,
            body=body,
            specs=specs.replace("</", "<\\/"),  # never closes the script element early
            draw=_DRAW,
        )


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
margin:0 auto;max-width:1280px;padding:24px 32px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 8px;padding-top:12px;
border-top:2px solid #e3e6ec}h3{font-size:15px;margin:22px 0 6px;color:#3b4358}
.meta{color:#68708a;font-size:12px}nav ol{columns:2;font-size:13px;margin:8px 0 0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:13px;margin:6px 0}
dt{color:#68708a}dd{margin:0;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;
word-break:break-all}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 4px}
th,td{padding:3px 9px;border-bottom:1px solid #e3e6ec;text-align:left;white-space:nowrap}
th{background:#f3f5f9;font-weight:600}td.num,th.num{text-align:right;
font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafbfd}
td b{color:#0b5cad}td small{color:#68708a;font-size:11px}
summary{cursor:pointer;color:#0b5cad;margin:6px 0}.scroll{overflow-x:auto;max-width:100%}
figure{margin:10px 0 18px}figcaption{color:#68708a;font-size:12px;max-width:1100px}
.note{color:#68708a;font-size:12.5px;margin:4px 0}
.chart[data-error]{color:#b00020;font-family:monospace;white-space:pre-wrap}
#report-errors:empty{display:none}#report-errors{color:#b00020;border:1px solid #b00020;
padding:8px;margin:12px 0}
"""

_DRAW = """
(function () {
  const specs = JSON.parse(document.getElementById("chart-specs").textContent);
  const errors = document.getElementById("report-errors");
  window.addEventListener("error", (event) => {
    errors.textContent += "script error: " + event.message + "\\n";
  });
  const drawn = Object.entries(specs).map(([id, spec]) => {
    const element = document.getElementById(id);
    return vegaEmbed(element, spec, {actions: false, renderer: "svg"})
      .then(() => { element.dataset.rendered = "true"; })
      .catch((error) => {
        element.dataset.error = "true";
        element.textContent = "this plot could not be drawn: " + error;
        errors.textContent += id + ": " + error + "\\n";
      });
  });
  Promise.all(drawn).then(() => { document.body.dataset.charts = "done"; });
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{bundle}</script>
</head>
<body>
<header><h1>{title}</h1><div class="meta">{made}</div>
<nav><ol>{toc}</ol></nav></header>
<div id="report-errors"></div>
{body}
<script id="chart-specs" type="application/json">{specs}</script>
<script>{draw}</script>
</body>
</html>
"""


# Charts -----------------------------------------------------------------------------------------


def _alt():
    import altair as alt

    return alt


def _interval(mean: float | None, low: float | None, high: float | None) -> dict:
    """low/high of a chart record and its text; without an interval (catalogue-level metrics:
    one value per row) both are the mean, so the rule has no length and scales stay finite."""
    if low is None or high is None or mean is None:
        return {"low": mean, "high": mean, "interval": "none (one value per row)"}
    return {"low": low, "high": high, "interval": f"[{low:.4f}, {high:.4f}]"}


def interval_records(summary) -> list[dict]:
    """Summary rows as chart records: row, metric (metric@k), mean, low, high and interval
    (95% normal interval; none for catalogue-level metrics, which have no standard error),
    users."""
    records = []
    for r in summary.iter_rows(named=True):
        se, mean = r["stderr"], r["mean"]
        ok = se is not None and mean is not None and math.isfinite(se)
        low, high = (mean - Z95 * se, mean + Z95 * se) if ok else (None, None)
        records.append(
            {
                "row": r["model"],
                "metric": f"{r['metric']}@{r['cutoff']}",
                "mean": mean,
                **_interval(mean, low, high),
                "users": r["users"],
            }
        )
    return records


def dot_plot(records: list[dict], rows: list[str], metrics: list[str], x_title: str = ""):
    """Small multiples, one per metric: each row's value as a dot with its interval as a bar
    (independent x scales, so every metric uses its own range)."""
    alt = _alt()
    base = alt.Chart(alt.Data(values=records)).encode(
        y=alt.Y("row:N", sort=rows, title=None),
        color=alt.Color("row:N", sort=rows, legend=None),
        tooltip=[
            alt.Tooltip("row:N"),
            alt.Tooltip("metric:N"),
            alt.Tooltip("mean:Q", format=".4f"),
            alt.Tooltip("interval:N", title="interval"),
        ],
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("low:Q", title=x_title, scale=alt.Scale(zero=False)), x2="high:Q"
    )
    dots = base.mark_point(filled=True, size=55, opacity=1).encode(x="mean:Q")
    return (
        alt.layer(bars, dots)
        .properties(width=210, height=max(60, 17 * len(rows)))
        .facet(facet=alt.Facet("metric:N", sort=metrics, title=None), columns=COLUMNS)
        .resolve_scale(x="independent")
    )


def forest_plot(records: list[dict], rows: list[str], metrics: list[str], baseline: str):
    """Paired differences against the baseline with their bootstrap CI, a rule at 0;
    significant ones (corrected p) filled."""
    alt = _alt()
    data = alt.Data(values=records)
    base = alt.Chart(data).encode(
        y=alt.Y("row:N", sort=rows, title=None),
        tooltip=[
            alt.Tooltip("row:N"),
            alt.Tooltip("metric:N"),
            alt.Tooltip("diff:Q", format="+.4f"),
            alt.Tooltip("low:Q", format="+.4f", title="CI low"),
            alt.Tooltip("high:Q", format="+.4f", title="CI high"),
            alt.Tooltip("p:Q", format=".4f", title="p adjusted"),
        ],
    )
    color = alt.Color(
        "significant:N",
        scale=alt.Scale(domain=["yes", "no"], range=["#c0392b", "#7f8c9d"]),
        title="significant",
    )
    zero = alt.Chart(data).mark_rule(color="#222", strokeDash=[3, 3]).encode(x=alt.datum(0))
    return (
        alt.layer(
            zero,
            base.mark_rule(strokeWidth=2).encode(
                x=alt.X("low:Q", title=f"difference to {baseline}"), x2="high:Q", color=color
            ),
            base.mark_point(filled=True, size=55).encode(x="diff:Q", color=color),
        )
        .properties(width=210, height=max(50, 17 * len(rows)))
        .facet(facet=alt.Facet("metric:N", sort=metrics, title=None), columns=COLUMNS)
        .resolve_scale(x="independent")
    )


def slice_plot(records: list[dict], rows: list[str], slices: list[str], metrics: list[str]):
    """Per metric: each slice (x) with the rows side by side, mean and 95% interval."""
    alt = _alt()
    base = alt.Chart(alt.Data(values=records)).encode(
        x=alt.X("slice:N", sort=slices, title=None, axis=alt.Axis(labelAngle=-20)),
        xOffset=alt.XOffset("row:N", sort=rows),
        color=alt.Color("row:N", sort=rows, title="row"),
        tooltip=[
            alt.Tooltip("slice:N"),
            alt.Tooltip("row:N"),
            alt.Tooltip("mean:Q", format=".4f"),
            alt.Tooltip("users:Q", title="users"),
        ],
    )
    return (
        alt.layer(
            base.mark_bar(opacity=0.85).encode(y=alt.Y("mean:Q", title=None)),
            base.mark_rule().encode(y="low:Q", y2="high:Q"),
        )
        .properties(width=min(560, max(260, 14 * len(rows) * len(slices))), height=200)
        .facet(facet=alt.Facet("metric:N", sort=metrics, title=None), columns=2)
        .resolve_scale(y="independent")
    )


def timing_plot(records: list[dict], rows: list[str]):
    """Seconds per model, fit and recommend stacked."""
    alt = _alt()
    return (
        alt.Chart(alt.Data(values=records))
        .mark_bar()
        .encode(
            y=alt.Y("row:N", sort=rows, title=None),
            x=alt.X("seconds:Q", title="seconds", stack="zero"),
            color=alt.Color("stage:N", title="stage"),
            tooltip=["row:N", "stage:N", alt.Tooltip("seconds:Q", format=".3f")],
        )
        .properties(width=520, height=max(60, 20 * len(rows)))
    )


def tradeoff_plot(
    points: list[dict],
    front: list[dict],
    x_title: str,
    y_title: str,
    reference: dict | None = None,
    limits: Sequence[dict] = (),
    chosen: dict | None = None,
):
    """Every point with ±1 standard error in both metrics (where known), the Pareto front as
    the staircase it dominates up to the reference point, the front's points labelled; the
    constraints as dashed lines (`limits`: {"x" or "y": value, "label"}) and the chosen point
    ringed."""
    alt = _alt()
    base = alt.Chart(alt.Data(values=points))
    x = alt.X("x:Q", title=x_title, scale=alt.Scale(zero=False))
    y = alt.Y("y:Q", title=y_title, scale=alt.Scale(zero=False))
    shape = alt.Shape(
        "feasible:N",
        scale=alt.Scale(domain=["feasible", "infeasible"], range=["circle", "cross"]),
        title=None,
    )
    color = alt.Color(
        "front:N",
        scale=alt.Scale(domain=["Pareto-optimal", "dominated"], range=["#c0392b", "#7f8c9d"]),
        title=None,
    )
    tooltip = [alt.Tooltip("label:N", title="point"), "front:N", "feasible:N"]
    tooltip += [alt.Tooltip("x:Q", format=".4f", title=x_title)]
    tooltip += [alt.Tooltip("y:Q", format=".4f", title=y_title)]
    layers = [
        alt.Chart(alt.Data(values=front))
        .mark_line(interpolate="linear", color="#c0392b", strokeWidth=1.5, opacity=0.7)
        .encode(x="x:Q", y="y:Q", order="order:Q"),
        base.mark_rule(opacity=0.5).encode(x="x_low:Q", x2="x_high:Q", y="y:Q", color=color),
        base.mark_rule(opacity=0.5).encode(x="x:Q", y="y_low:Q", y2="y_high:Q", color=color),
        base.mark_point(filled=True, size=70, opacity=1).encode(
            x=x, y=y, color=color, shape=shape, tooltip=tooltip
        ),
        base.transform_filter("datum.front == 'Pareto-optimal'")
        .mark_text(align="left", dx=7, dy=-7, fontSize=10)
        .encode(x="x:Q", y="y:Q", text="label:N"),
    ]
    if reference is not None:
        layers.append(
            alt.Chart(alt.Data(values=[reference]))
            .mark_point(shape="cross", size=120, color="#222", filled=True)
            .encode(x="x:Q", y="y:Q", tooltip=[alt.Tooltip("what:N", title="")])
        )
    for limit in limits:
        axis = "x" if "x" in limit else "y"
        line = alt.Chart(alt.Data(values=[limit])).mark_rule(strokeDash=[6, 4], color="#8e44ad")
        layers.append(line.encode(**{axis: f"{axis}:Q"}, tooltip=["label:N"]))
    if chosen is not None:
        layers.append(
            alt.Chart(alt.Data(values=[chosen]))
            .mark_point(size=420, color="#111", strokeWidth=2, filled=False)
            .encode(x="x:Q", y="y:Q", tooltip=[alt.Tooltip("label:N", title="chosen")])
        )
    return alt.layer(*layers).properties(width=620, height=400)


def history_plot(records: list[dict], studies: list[str], metric: str):
    """Per study: each complete trial's validation value and the best so far."""
    alt = _alt()
    base = alt.Chart(alt.Data(values=records)).encode(x=alt.X("trial:Q", title="trial"))
    color = alt.Color(
        "feasible:N", scale=alt.Scale(domain=["yes", "no"], range=["#2e6fba", "#c7ccd6"])
    )
    return (
        alt.layer(
            base.mark_point(filled=True, size=35).encode(
                y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
                color=color,
                tooltip=["study:N", "trial:Q", alt.Tooltip("value:Q", format=".4f")],
            ),
            base.mark_line(interpolate="step-after", color="#222").encode(y="best:Q"),
        )
        .properties(width=280, height=170)
        .facet(facet=alt.Facet("study:N", sort=studies, title=None), columns=3)
        .resolve_scale(y="independent")
    )


# Sections ---------------------------------------------------------------------------------------


def _provenance(entry: Entry, manifest: dict) -> Raw:
    data = manifest.get("dataset", {})
    split = manifest.get("split", {})
    git = manifest.get("git") or {}
    versions = manifest.get("versions", {})
    seeds = manifest.get("seeds")
    return facts(
        [
            ("directory", entry.path),
            ("kind", f"{entry.kind}, {entry.status}"),
            ("created", entry.created.strftime("%Y-%m-%d %H:%M UTC")),
            ("recipe", manifest.get("recipe")),
            (
                "dataset",
                f"{data.get('name')}{' (SYNTHETIC)' if data.get('synthetic') else ''}, "
                f"{data.get('checksum')}, from {data.get('source')}"
                if data
                else "",
            ),
            ("split", f"{split.get('kind')}, {split.get('fingerprint')}" if split else ""),
            ("seed", f"{manifest.get('seed')}" + (f"; model seeds {seeds}" if seeds else "")),
            ("git", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}" if git else ""),
            ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
            ("platform", manifest.get("platform")),
        ]
    )


def _metric_table(summary, marks) -> Raw:
    """metric@k x rows: the mean over its 95% interval (and the spread across seeds); the
    significantly best row in bold with *."""
    from recsys_cli.metrics import lower_is_better

    rows = summary["model"].unique(maintain_order=True).to_list()
    cells = {(r["metric"], r["cutoff"], r["model"]): r for r in summary.iter_rows(named=True)}
    keys = summary.select("metric", "cutoff").unique(maintain_order=True).rows()
    body = []
    for metric, cutoff in keys:
        label = f"{metric}@{cutoff}"
        lower = " <small>(lower is better)</small>" if lower_is_better(metric) else ""
        line = [Raw(_esc(label) + lower)]
        for row in rows:
            cell = cells.get((metric, cutoff, row))
            if cell is None:
                line.append("")
                continue
            best = marks is not None and marks.best.get(label) == row
            text = _esc(_num(cell["mean"]) + (" *" if best else ""))
            text = f"<b>{text}</b>" if best else text
            below = []
            if cell["stderr"] is not None and math.isfinite(cell["stderr"]):
                half = Z95 * cell["stderr"]
                below.append(f"[{_num(cell['mean'] - half)}, {_num(cell['mean'] + half)}]")
            if cell.get("seed_sd") is not None:
                below.append(f"sd {_num(cell['seed_sd'])}")
            line.append(Raw(text + "".join(f"<br><small>{_esc(b)}</small>" for b in below)))
        body.append(line)
    return Raw(f'<div class="scroll">{table(["metric", *rows], body)}</div>')


def _slices(run_dir: Path, summary, per_user, step: Step) -> list[tuple[str, list[dict], list]]:
    """(kind, records, slice names) for user activity and item popularity, over the run's first
    accuracy metrics at its first cutoff (re-evaluated from the stored lists; no data needed)."""
    from recsys_cli.evaluation.slices import sliced_summaries
    from recsys_cli.evaluation.stored import evaluate_run
    from recsys_cli.metrics import metric_kind

    accuracy = [
        m for m in summary["metric"].unique(maintain_order=True) if metric_kind(m) == "accuracy"
    ]
    if not accuracy or per_user is None:
        return []
    metrics = tuple(accuracy[:SLICE_METRICS])
    cutoff = int(summary["cutoff"][0])
    out = []
    for kind in ("user_activity", "item_popularity"):

        def evaluate(truth_items, kind=kind):
            with step(f"report: {kind.replace('_', ' ')} slice") as progress:
                return evaluate_run(
                    run_dir, (cutoff,), metrics, truth_items=truth_items, progress=progress
                )

        slices = sliced_summaries(run_dir, kind, evaluate)
        records = [
            {"slice": name, **r} for name, part in slices.items() for r in interval_records(part)
        ]
        out.append((kind, records, list(slices)))
    return out


def run_section(
    page: Page,
    entry: Entry,
    baseline: str | None,
    correction: str,
    step: Step = silent_step,
) -> None:
    """Provenance, counts, metric table with intervals, dot plots, the paired comparison
    against the baseline (table and forest plot), slices and timings of one run."""
    import polars as pl

    from recsys_cli.evaluation.comparison import compare, pair_on_shared_users
    from recsys_cli.evaluation.marks import table_marks
    from recsys_cli.results.catalog import read_summary
    from recsys_cli.results.report import counts_lines
    from recsys_cli.results.significance import legend
    from recsys_cli.results.store import damaged_run_reported, open_run_dir, read_manifest

    open_run_dir(entry.path, evaluated=True)
    manifest = read_manifest(entry.path)
    parts: list[str] = [_provenance(entry, manifest), "<h3>What was evaluated</h3>"]
    parts += [f'<p class="note">{_esc(line)}</p>' for line in counts_lines(manifest["counts"])]
    with damaged_run_reported(entry.path):
        summary = read_summary(entry.path)
        per_user = pl.read_parquet(entry.path / "per_user.parquet")
    rows = summary["model"].unique(maintain_order=True).to_list()
    labels = [
        f"{m}@{k}" for m, k in summary.select("metric", "cutoff").unique(maintain_order=True).rows()
    ]
    paired, left_out = pair_on_shared_users(per_user)
    tested = [
        f"{m}@{k}" for m, k in paired.select("metric", "cutoff").unique(maintain_order=True).rows()
    ]
    tested = [label for label in labels if label in tested]
    marks = table_marks(paired, labels) if tested else None
    users = summary["users"].max()
    parts += [
        "<h3>Metrics</h3>",
        _metric_table(summary, marks),
        f'<p class="note">mean over {users:,} users, below it the 95% interval (mean ± 1.96 '
        "standard errors)"
        + ("; sd: spread across seeds" if "seed_sd" in summary.columns else "")
        + "; bold with *: better than every other row (paired t-tests, Holm, α = 0.05). "
        "Catalogue-level metrics (coverage, gini, provider_gini) are one number per row.</p>",
        page.chart(
            dot_plot(interval_records(summary), rows, labels),
            "Each row's mean with its 95% interval, one panel per metric@k (own x range).",
        ),
    ]
    if len(rows) > 1 and tested:
        chosen = baseline or rows[0]
        if chosen not in rows:
            raise UserError(
                f"--baseline: no row {chosen!r} in {entry.path}; it has {', '.join(rows)}"
            )
        with step(f"report: paired tests against {chosen}") as progress:
            report = compare(paired, chosen, tested, correction, progress=progress)
        parts.append(f"<h3>Paired comparison against {_esc(chosen)}</h3>")
        forest = [
            {
                "row": r.model,
                "metric": r.metric,
                "diff": r.diff,
                "low": r.ci_low,
                "high": r.ci_high,
                "p": r.t_pvalue_adjusted,
                "significant": "yes" if r.significant else "no",
            }
            for r in report.rows
        ]
        parts.append(
            page.chart(
                forest_plot(forest, [r for r in rows if r != chosen], tested, chosen),
                f"Paired difference to {chosen} per user with its 95% bootstrap interval; red: "
                f"significant after {report.correction} correction over the whole table.",
            )
        )
        fold = "" if len(report.rows) <= FOLD_ROWS else " (click to open)"
        parts += [
            f"<details{' open' if not fold else ''}><summary>{len(report.rows)} paired "
            f"comparisons with corrected p-values{fold}</summary>",
            _comparison_table(report),
            f'<p class="note">{_esc(legend(report))}</p></details>',
        ]
        for label, (lost, where) in left_out.items():
            parts.append(
                f'<p class="note">{_esc(label)}: {lost:,} users without a value in '
                f"{_esc(', '.join(where))} are left out of its tests.</p>"
            )
    if not manifest.get("seeds"):
        slices = _slices(entry.path, summary, per_user, step)
        for kind, records, names in slices:
            caption = {
                "user_activity": "Mean over the users of each quartile of training activity "
                "(equal-count)",
                "item_popularity": "Mean with the held-out items restricted to each popularity "
                "band (head: the items of the first 50% of training interactions, mid: to 80%, "
                "tail: the rest)",
            }[kind]
            metrics = list(dict.fromkeys(r["metric"] for r in records))
            parts += [
                f"<h3>Slice: {_esc(kind.replace('_', ' '))}</h3>",
                page.chart(
                    slice_plot(records, rows, names, metrics),
                    f"{caption}, with its 95% interval (thin line).",
                ),
            ]
    else:
        parts.append(
            '<p class="note">Slices: a multi-seed run is sliced per seed (rank report '
            f"{_esc(entry.path)}/seeds/seed-N).</p>"
        )
    parts += _timings(page, manifest)
    page.section(f"{entry.kind}: {entry.name}", parts)


def _comparison_table(report) -> Raw:
    body = [
        [
            r.model,
            r.metric,
            _num(r.baseline_mean),
            Raw(f"<b>{_esc(_num(r.model_mean))}</b>") if r.significant else _num(r.model_mean),
            f"{r.diff:+.4f}",
            "—" if not math.isfinite(r.relative_diff) else f"{r.relative_diff:+.1%}",
            f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
            _p(r.t_pvalue),
            _p(r.t_pvalue_adjusted),
            _p(r.wilcoxon_pvalue_adjusted),
            _num(r.effect_size, 3),
        ]
        for r in report.rows
    ]
    headers = ["row", "metric", report.baseline, "value", "diff", "rel.", "95% CI"]
    headers += ["p (t)", "p adj. (t)", "p adj. (Wilcoxon)", "d_z"]
    return Raw(f'<div class="scroll">{table(headers, body, numeric_from=2)}</div>')


def _timings(page: Page, manifest: dict) -> list[str]:
    timings = manifest.get("timings", {})
    per_seed = timings.get("seeds")
    models = timings.get("models") or (next(iter(per_seed.values()), {}) if per_seed else {}).get(
        "models", {}
    )
    if not models:
        return []
    rows = list(models)
    records = [
        {"row": row, "stage": stage, "seconds": models[row].get(f"{stage}_s", 0.0)}
        for row in rows
        for stage in ("fit", "recommend")
    ]
    totals = [
        (key.removesuffix("_s").replace("_", " "), f"{value:.2f} s")
        for key, value in timings.items()
        if key.endswith("_s") and isinstance(value, int | float)
    ]
    if "peak_memory_mib" in timings:
        totals.append(("peak memory", f"{timings['peak_memory_mib']:.0f} MiB"))
    seed_note = f" (seed {next(iter(per_seed))} of {len(per_seed)})" if per_seed else ""
    return [
        "<h3>Timings</h3>",
        facts(totals),
        page.chart(
            timing_plot(records, rows), f"Seconds to fit and to recommend per model{seed_note}."
        ),
        table(
            ["model", "fit (s)", "recommend (s)"],
            [
                [row, _num(models[row].get("fit_s"), 3), _num(models[row].get("recommend_s"), 3)]
                for row in rows
            ],
        ),
    ]


def sweep_section(page: Page, entry: Entry) -> None:
    """The sweep's settings, the trade-off scatter with the Pareto front (first two front
    metrics) and every entry's values."""
    import numpy as np

    from recsys_cli.evaluation.pareto import parse_constraint, staircase
    from recsys_cli.results.store import read_json
    from recsys_cli.results.sweep_plot import number, point_label, short_keys

    sweep = read_json(entry.path / "sweep.json")
    short = short_keys(sweep["grid"])
    metrics = sweep["pareto_metrics"]
    higher = sweep["higher_is_better"]
    entries = sweep["entries"]
    parts: list[str] = [
        facts(
            [
                ("directory", entry.path),
                ("created", entry.created.strftime("%Y-%m-%d %H:%M UTC")),
                ("recipe", sweep.get("recipe")),
                ("dataset", entry.dataset),
                ("grid", "; ".join(f"{k} = {v}" for k, v in sweep["grid"].items())),
                ("rows", ", ".join(sweep["rows"])),
                ("runs", f"{sweep['runs']} run directories, {len(entries)} distinct entries"),
                (
                    "front metrics",
                    ", ".join(
                        f"{m} ({'higher' if higher[m] else 'lower'} is better)" for m in metrics
                    ),
                ),
                (
                    "hypervolume",
                    f"{sweep['hypervolume']:.6g}, reference "
                    + ", ".join(f"{m}={v:.4f}" for m, v in sweep["reference"].items())
                    + f" ({sweep['reference_rule']})",
                ),
                ("constraints", " and ".join(sweep.get("constraints", ()))),
            ]
        )
    ]
    if sweep.get("best"):
        best = sweep["best"]
        goal = "max" if sweep["maximize"] else "min"
        parts.append(
            f'<p class="note">best ({_esc(goal)} {_esc(sweep["objective"])}): '
            f"{_esc(best['row'])} {_esc(point_label(best, short))} = "
            f"{_num(best['metrics'][sweep['objective']])} (run {_esc(best['run_dir'])})</p>"
        )
    x_metric, y_metric = metrics[:2]
    points = []
    for e in entries:
        x, y = number(e["metrics"][x_metric]), number(e["metrics"][y_metric])
        # no standard error (catalogue-level metrics): a bar of no length
        se_x, se_y = (
            float(np.nan_to_num(number(e["stderr"].get(m)))) for m in (x_metric, y_metric)
        )
        points.append(
            {
                "label": f"{e['row']} {point_label(e, short)}".strip(),
                "front": "Pareto-optimal" if e["pareto"] else "dominated",
                "feasible": "feasible" if e["feasible"] else "infeasible",
                "x": x,
                "y": y,
                "x_low": x - se_x,
                "x_high": x + se_x,
                "y_low": y - se_y,
                "y_high": y + se_y,
            }
        )
    corners = staircase(
        np.array([[p["x"], p["y"]] for p in points]).reshape(len(points), 2),
        [higher[x_metric], higher[y_metric]],
        np.array([sweep["reference"][x_metric], sweep["reference"][y_metric]]),
    )
    front = [
        {"x": float(cx), "y": float(cy), "order": i} for i, (cx, cy) in enumerate(corners[:-1])
    ]
    reference = {
        "x": sweep["reference"][x_metric],
        "y": sweep["reference"][y_metric],
        "what": "hypervolume reference point",
    }
    more = f" (front over {', '.join(metrics)}: the first two drawn)" if len(metrics) > 2 else ""
    axes = {x_metric: "x", y_metric: "y"}
    limits = [
        {axes[c.metric]: c.value, "label": str(c)}
        for c in map(parse_constraint, sweep.get("constraints", ()))
        if c.metric in axes
    ]
    best = sweep.get("best")
    chosen = None
    if best is not None:
        label = f"{best['row']} {point_label(best, short)}"
        chosen = {"x": best["metrics"][x_metric], "y": best["metrics"][y_metric], "label": label}
    parts += [
        "<h3>Trade-off</h3>",
        page.chart(
            tradeoff_plot(
                points,
                front,
                f"{x_metric} ({'higher' if higher[x_metric] else 'lower'} is better)",
                f"{y_metric} ({'higher' if higher[y_metric] else 'lower'} is better)",
                reference,
                limits,
                chosen,
            ),
            "Each entry with ±1 standard error in both metrics (crosses: infeasible under the "
            "constraints); red: Pareto-optimal, joined by "
            "the staircase bounding the region they dominate up to the reference point (+), "
            f"whose area is the hypervolume{more}"
            + ("; dashed: the constraints" if limits else "")
            + ("; ringed: the chosen point" if chosen else "")
            + ".",
        ),
    ]
    shown = list(dict.fromkeys(metrics + list(entries[0]["metrics"]))) if entries else metrics
    body = [
        [
            e["point"],
            e["row"],
            point_label(e, short),
            "*" if e["pareto"] else "",
            "yes" if e["feasible"] else "no",
            *(
                f"{_num(number(e['metrics'][m]))} ± {_num(number(e['stderr'].get(m)))}"
                for m in shown
            ),
            e["run_dir"],
        ]
        for e in entries
    ]
    parts += [
        "<h3>Entries</h3>",
        Raw(
            '<div class="scroll">'
            + table(["#", "row", "grid", "front", "feasible", *shown, "run"], body, numeric_from=5)
            + "</div>"
        ),
    ]
    page.section(f"sweep: {entry.name}", parts)


def study_section(page: Page, entry: Entry) -> None:
    """A tuning study: its objectives, each study's optimisation history on validation, the
    trade-off scatter with the feasible Pareto front for several objectives, and the chosen
    configurations on validation and test."""
    import numpy as np
    import polars as pl

    from recsys_cli.evaluation.pareto import pareto_mask
    from recsys_cli.results.store import read_json

    if entry.status != "complete":
        raise UserError(
            f"{entry.path}: a study without tune.json: run `rank tune` again to finish it"
        )
    result = read_json(entry.path / "tune.json")
    objectives = result["objectives"]
    metric = objectives[0]["metric"]
    maximize = objectives[0]["direction"] == "maximize"
    trials = pl.read_parquet(entry.path / "trials.parquet").filter(pl.col("state") == "COMPLETE")
    studies = trials["study"].unique(maintain_order=True).to_list()
    records = []
    for name in studies:
        best = None
        part = trials.filter(pl.col("study") == name).sort("number")
        for row in part.iter_rows(named=True):
            value = row.get(f"validation/{metric}")
            feasible = row.get("feasible") is not False
            if value is not None and feasible:
                best = value if best is None else (max if maximize else min)(best, value)
            records.append(
                {
                    "study": name,
                    "trial": row["number"],
                    "value": value,
                    "best": best,
                    "feasible": "yes" if feasible else "no",
                }
            )
    goals = ", ".join(f"{o['direction']} {o['metric']}" for o in objectives)
    parts: list[str] = [
        facts(
            [
                ("directory", entry.path),
                ("created", entry.created.strftime("%Y-%m-%d %H:%M UTC")),
                ("recipe", result.get("recipe")),
                ("dataset", entry.dataset),
                ("objectives", goals),
                ("constraints", " and ".join(result.get("constraints", ()))),
                ("sampler", f"{result.get('sampler')}, seed {result.get('seed')}"),
                (
                    "trials",
                    "; ".join(
                        f"{s['name']}: "
                        + ", ".join(f"{n} {k.lower()}" for k, n in s["trials"].items())
                        for s in result["studies"]
                    ),
                ),
                (
                    "test",
                    "refit on training + validation"
                    if result.get("refit")
                    else "fitted on training",
                ),
            ]
        ),
        "<h3>Optimisation history (validation)</h3>",
        page.chart(
            history_plot(records, studies, metric),
            f"Each complete trial's validation {metric} and the best feasible value so far, one "
            "panel per study.",
        ),
    ]
    if len(objectives) >= 2:
        x_metric, y_metric = (o["metric"] for o in objectives[:2])
        values = trials.select(f"validation/{x_metric}", f"validation/{y_metric}").to_numpy()
        feasible = trials["feasible"].fill_null(True).to_numpy().astype(bool)
        higher = [o["direction"] == "maximize" for o in objectives[:2]]
        on_front = np.zeros(len(values), dtype=bool)
        on_front[feasible] = pareto_mask(values[feasible], higher)
        points = [
            {
                "label": f"{s} #{n}",
                "front": "Pareto-optimal" if front else "dominated",
                "feasible": "feasible" if ok else "infeasible",
                "x": float(v[0]),
                "y": float(v[1]),
                "x_low": float(v[0]),
                "x_high": float(v[0]),
                "y_low": float(v[1]),
                "y_high": float(v[1]),
            }
            for s, n, v, ok, front in zip(
                trials["study"], trials["number"], values, feasible, on_front, strict=True
            )
        ]
        order = np.argsort(values[on_front][:, 0])
        front_line = [
            {"x": float(x), "y": float(y), "order": i}
            for i, (x, y) in enumerate(values[on_front][order])
        ]
        parts += [
            "<h3>Trade-off (validation)</h3>",
            page.chart(
                tradeoff_plot(points, front_line, x_metric, y_metric),
                "Every complete trial in the first two objectives; red: the feasible Pareto front.",
            ),
        ]
    metrics = result["metrics"]
    body = []
    for config in result["configurations"]:
        for row in config["rows"]:
            cells = [row["row"], row["trial"]]
            for m in metrics:
                test = row["test"][m]
                cells += [
                    _num(row["validation"][m]),
                    f"{_num(test['mean'])} ± {_num(test.get('stderr'))}",
                ]
            params = ", ".join(
                f"{k.rsplit('.', 1)[-1]}={v:.4g}"
                if isinstance(v, float)
                else f"{k.rsplit('.', 1)[-1]}={v}"
                for k, v in row["params"].items()
            )
            body.append([*cells, params, config.get("test_run", "")])
    headers = ["row", "trial"] + [f"{m} {part}" for m in metrics for part in ("validation", "test")]
    parts += [
        "<h3>Chosen configurations</h3>",
        Raw(
            '<div class="scroll">'
            + table([*headers, "parameters", "test run"], body, numeric_from=1)
            + "</div>"
        ),
        '<p class="note">validation: the trial\'s score; test: read once for the chosen '
        "configuration (± standard error).</p>",
    ]
    page.section(f"study: {entry.name}", parts)


def ope_section(page: Page, entry: Entry) -> None:
    """An off-policy evaluation: the logs, and every policy's estimate per estimator with its
    bootstrap interval (the logging policy's on-policy value as a reference line)."""
    from recsys_cli.results.store import read_json

    manifest = read_json(entry.path / "manifest.json")
    rows = read_json(entry.path / "estimates.json")
    logs = manifest.get("logs", {})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    records = [
        {
            "row": r["estimator"],
            "metric": r["policy"],
            "mean": r["estimate"],
            **_interval(r["estimate"], *r["ci"]),
        }
        for r in rows
    ]
    confidence = manifest.get("confidence", 0.95)
    parts: list[str] = [
        _provenance(entry, manifest),
        facts(
            [
                (
                    "logs",
                    f"{logs.get('name')}: {logs.get('rounds', 0):,} rounds, {logs.get('source')}",
                ),
                ("logged reward", logs.get("on_policy_value")),
                ("bootstrap", f"{manifest.get('bootstrap')} resamples, {confidence:.0%} intervals"),
            ]
        ),
        page.chart(
            dot_plot(records, estimators, policies, x_title="estimated value"),
            f"Each estimator's value of each policy (one panel per policy) with its "
            f"{confidence:.0%} bootstrap interval.",
        ),
        Raw(
            '<div class="scroll">'
            + table(
                ["policy", "estimator", "estimate", "interval", "stderr", "ess", "max weight"],
                [
                    [
                        r["policy"],
                        r["estimator"],
                        _num(r["estimate"]),
                        f"[{_num(r['ci'][0])}, {_num(r['ci'][1])}]",
                        _num(r.get("stderr")),
                        "—" if r.get("ess") is None else f"{r['ess']:,.0f}",
                        _num(r.get("max_weight"), 2),
                    ]
                    for r in rows
                ],
                numeric_from=2,
            )
            + "</div>"
        ),
    ]
    page.section(f"ope: {entry.name}", parts)


def build_report(
    entries: Sequence[Entry],
    *,
    title: str | None = None,
    baseline: str | None = None,
    correction: str = "holm",
    step: Step = silent_step,
) -> str:
    """The HTML page of `entries` (runs, sweeps, studies, OPE runs), one section each."""
    page = Page(title or "rank report: " + ", ".join(e.name for e in entries))
    for entry in entries:
        if entry.kind in ("run", "multi-seed"):
            run_section(page, entry, baseline, correction, step)
        elif entry.kind == "sweep":
            sweep_section(page, entry)
        elif entry.kind == "study":
            study_section(page, entry)
        else:
            ope_section(page, entry)
    with step("report: page"):
        return page.render()
