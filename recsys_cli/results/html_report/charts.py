"""Vega-Lite chart specifications of the report, built with Altair."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # two-sided 95% normal quantile
COLUMNS = 4  # small multiples per row


def _alt():
    import altair as alt

    return alt


def interval(mean: float | None, low: float | None, high: float | None) -> dict:
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
                **interval(mean, low, high),
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
