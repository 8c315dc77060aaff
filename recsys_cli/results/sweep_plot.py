"""The review figure of a `rank sweep` (the sweep.json payload): PNG, SVG and PDF.

The review figure shows every entry with ±1 standard error bars (per-user standard errors from
metrics.json; none for catalogue metrics), its parameter values as label, filled markers for the
Pareto front and hollow ones for dominated entries, each constraint as a line with its infeasible
side shaded, the chosen (best feasible) entry ringed and the hypervolume's reference point. Two
front metrics: one panel, the front as the staircase that bounds the dominated region (whose area
is the hypervolume). Three or more: a scatter matrix of every pair, no line (a front in three
metrics is not a curve).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from recsys_cli.evaluation.pareto import Constraint, parse_constraint, staircase
from recsys_cli.results.sweep_labels import direction, number, point_label, short_keys

FIGURES = ("sweep.png", "sweep.svg", "sweep.pdf")
DPI = 300  # print resolution of the PNG
MARKERS = "osD^vP*h"
# A constraint line further than this share of the data span outside it would squash the points.
CONSTRAINT_REACH = 0.25


def save_figures(analysis: dict, directory: Path) -> list[str]:
    """Write sweep.png (300 dpi), sweep.svg (text kept as text) and sweep.pdf; their names."""
    import matplotlib

    figure = sweep_figure(analysis)
    with matplotlib.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42}):
        for name in FIGURES:
            figure.savefig(directory / name, dpi=DPI)
    return list(FIGURES)


def sweep_figure(analysis: dict):
    """The review figure (a matplotlib Figure, no pyplot state): one panel for two front
    metrics, a lower-triangle scatter matrix of every pair for more."""
    from matplotlib.figure import Figure

    metrics = analysis["pareto_metrics"]
    short = short_keys(analysis["grid"])
    constraints = [parse_constraint(c) for c in analysis["constraints"]]
    size = len(metrics) - 1
    if size == 1:
        figure = Figure(figsize=(8.5, 5.6))
        axes = figure.subplots()
        panels = [(axes, _panel(axes, analysis, metrics[0], metrics[1], short, constraints))]
        _front(axes, analysis, metrics[0], metrics[1])
        axes.set_title(
            f"hypervolume {analysis['hypervolume']:.6g} (area of the shaded dominated region)",
            fontsize=9,
        )
        axes.legend(
            handles=_legend(analysis, front=True),
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize=7.5,
            frameon=False,
        )
    else:
        figure = Figure(figsize=(3.4 * size + 1.2, 3.2 * size + 1.4))
        grid = figure.subplots(size, size, squeeze=False)
        panels = [
            (
                grid[i, j],
                _panel(grid[i, j], analysis, metrics[j], metrics[i + 1], short, constraints),
            )
            for i in range(size)
            for j in range(i + 1)
        ]
        # The upper triangle is empty: its corner holds the legend, the rest goes.
        for i in range(size):
            for j in range(i + 1, size):
                if (i, j) != (0, size - 1):
                    figure.delaxes(grid[i, j])
        corner = grid[0, size - 1]
        corner.axis("off")
        corner.legend(handles=_legend(analysis, front=False), loc="upper right", fontsize=8)
    figure.suptitle(_title(analysis), fontsize=11)
    footer = _footer(analysis)
    lines = footer.count("\n") + 1
    band = min(0.3, (lines * 0.16 + 0.1) / figure.get_figheight())
    figure.tight_layout(rect=(0.0, band, 1.0, 1.0))
    figure.text(0.01, 0.01, footer, ha="left", va="bottom", fontsize=7.5)
    for axes, labels in panels:
        _place_labels(axes, labels)
    return figure


def _title(analysis: dict) -> str:
    metrics = " vs ".join(analysis["pareto_metrics"])
    return (
        f"sweep {analysis['recipe']}: {metrics}; {len(analysis['entries'])} distinct points "
        f"of {analysis['combinations']} grid combinations"
    )


def _reference(analysis: dict) -> str:
    return ", ".join(f"{m}={analysis['reference'][m]:.4g}" for m in analysis["pareto_metrics"])


def _footer(analysis: dict) -> str:
    reference = _reference(analysis)
    lines = [
        f"Hypervolume {analysis['hypervolume']:.6g}; reference point: {reference} "
        f"({analysis['reference_rule']}).",
        "Error bars: ±1 standard error over users (none for catalogue metrics). "
        "Filled: Pareto-optimal; hollow: dominated.",
    ]
    if analysis["constraints"]:
        lines.append(f"Constraints: {' and '.join(analysis['constraints'])} (x: violated).")
    if analysis["objective"]:
        goal = "max" if analysis["maximize"] else "min"
        best = analysis["best"]
        chosen = (
            f"{best['row']} {point_label(best, short_keys(analysis['grid']))} "
            f"(run {best['run_dir']})"
            if best
            else "none (no feasible point)"
        )
        lines.append(f"Chosen ({goal} {analysis['objective']} among feasible points): {chosen}.")
    return "\n".join(lines)


def _xy(entries: list[dict], metric: str, key: str) -> np.ndarray:
    return np.array([number(e[key][metric]) for e in entries], dtype=np.float64)


def _panel(axes, analysis, x_metric, y_metric, short, constraints: list[Constraint]) -> list:
    """Entries of every row in (x_metric, y_metric) with error bars, constraint lines, the chosen
    entry and the reference point; returns the labels to place, (x, y, text, kind) each."""
    labels: list[tuple[float, float, str, int]] = []
    entries = [
        e
        for e in analysis["entries"]
        if not (
            math.isnan(number(e["metrics"][x_metric])) or math.isnan(number(e["metrics"][y_metric]))
        )
    ]
    for n, row in enumerate(analysis["rows"]):
        mine = [e for e in entries if e["row"] == row]
        if not mine:
            continue
        color, marker = f"C{n % 10}", MARKERS[n % len(MARKERS)]
        x, y = _xy(mine, x_metric, "metrics"), _xy(mine, y_metric, "metrics")
        axes.errorbar(
            x,
            y,
            xerr=np.nan_to_num(_xy(mine, x_metric, "stderr")),
            yerr=np.nan_to_num(_xy(mine, y_metric, "stderr")),
            fmt="none",
            ecolor=color,
            elinewidth=0.8,
            capsize=2,
            alpha=0.6,
        )
        front = np.array([e["pareto"] for e in mine])
        axes.scatter(x[front], y[front], marker=marker, color=color, s=40, zorder=3)
        axes.scatter(
            x[~front],
            y[~front],
            marker=marker,
            facecolors="white",
            edgecolors=color,
            s=40,
            zorder=3,
        )
        labels += [
            (px, py, point_label(entry, short), CHOSEN if entry == analysis["best"] else POINT)
            for entry, px, py in zip(mine, x, y, strict=True)
        ]
    infeasible = [e for e in entries if not e["feasible"]]
    if infeasible:
        axes.scatter(
            _xy(infeasible, x_metric, "metrics"),
            _xy(infeasible, y_metric, "metrics"),
            marker="x",
            color="0.25",
            s=22,
            linewidths=1.0,
            zorder=4,
        )
    best = analysis["best"]
    if best is not None:
        axes.scatter(
            [number(best["metrics"][x_metric])],
            [number(best["metrics"][y_metric])],
            s=300,
            facecolors="none",
            edgecolors="black",
            linewidths=1.8,
            zorder=5,
        )
    reference = analysis["reference"]
    axes.scatter(
        [reference[x_metric]], [reference[y_metric]], marker="X", color="black", s=45, zorder=5
    )
    labels.append((reference[x_metric], reference[y_metric], "reference", REFERENCE))
    for constraint in constraints:
        _constraint(axes, constraint, x_metric, vertical=True)
        _constraint(axes, constraint, y_metric, vertical=False)
    axes.set_xlabel(f"{x_metric} ({direction(analysis, x_metric)})", fontsize=8.5)
    axes.set_ylabel(f"{y_metric} ({direction(analysis, y_metric)})", fontsize=8.5)
    axes.tick_params(labelsize=7.5)
    axes.grid(alpha=0.25)
    return labels


# Label positions tried in turn (offset in points, alignment): right above, right below, left.
OFFSETS = (
    (6, 4, "left", "bottom"),
    (6, -4, "left", "top"),
    (-6, 4, "right", "bottom"),
    (-6, -4, "right", "top"),
    (0, 9, "center", "bottom"),
    (0, -9, "center", "top"),
)
LABEL_SIZE = 6.5
CHOSEN, POINT, REFERENCE = range(3)  # kinds of label, placed in this order


def _place_labels(axes, labels) -> None:
    """Annotate each point at the first offset whose text box stays in the panel and overlaps
    no label placed before and no point (boxes estimated from the font size); the chosen point
    first, the reference point last."""
    axes.get_xlim(), axes.get_ylim()  # settle autoscaled limits before mapping to pixels
    scale = axes.figure.dpi / 72
    anchors = axes.transData.transform([(x, y) for x, y, _, _ in labels]) if labels else []
    # Points take 4 points around them, the ringed chosen point 10.
    reach = [(10 if kind == CHOSEN else 4) * scale for *_, kind in labels]
    taken = [(x - r, y - r, x + r, y + r) for (x, y), r in zip(anchors, reach, strict=True)]
    frame = axes.get_window_extent().extents
    order = sorted(range(len(labels)), key=lambda n: labels[n][3])
    for n in order:
        (px, py), text = anchors[n], labels[n][2]
        size = (len(text) * LABEL_SIZE * 0.62 * scale, LABEL_SIZE * 1.3 * scale)
        far = 2.5 if labels[n][3] == CHOSEN else 1.0  # clear of the ring
        offsets = [(dx * far, dy * far, ha, va) for dx, dy, ha, va in OFFSETS]
        free = (
            o
            for o in offsets
            if _inside(_box(px, py, size, o, scale), frame)
            and not any(_overlap(_box(px, py, size, o, scale), other) for other in taken)
        )
        dx, dy, ha, va = next(free, offsets[0])
        taken.append(_box(px, py, size, (dx, dy, ha, va), scale))
        axes.annotate(
            text,
            (labels[n][0], labels[n][1]),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=LABEL_SIZE,
            color="0.15",
        )


def _box(px, py, size, offset, scale) -> tuple[float, float, float, float]:
    """Pixel box (left, bottom, right, top) of a text of `size` pixels at a label offset."""
    (width, height), (dx, dy, ha, va) = size, offset
    left = px + dx * scale - {"left": 0, "right": width, "center": width / 2}[ha]
    bottom = py + dy * scale - (height if va == "top" else 0)
    return (left, bottom, left + width, bottom + height)


def _inside(box, frame) -> bool:
    return frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1] and box[3] <= frame[3]


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _constraint(axes, constraint: Constraint, metric: str, vertical: bool) -> None:
    """The constraint's threshold as a dashed line, its infeasible side shaded; skipped when the
    threshold lies far outside the data (the footer still states it)."""
    if constraint.metric != metric:
        return
    low, high = axes.get_xlim() if vertical else axes.get_ylim()
    reach = CONSTRAINT_REACH * (high - low)
    if not low - reach <= constraint.value <= high + reach:
        return
    pad = 0.05 * (high - low)  # keeps a line at the data's edge off the frame
    low, high = min(low, constraint.value - pad), max(high, constraint.value + pad)
    lower_side_bad = constraint.op in (">=", ">")
    span = (low, constraint.value) if lower_side_bad else (constraint.value, high)
    line, shade = (axes.axvline, axes.axvspan) if vertical else (axes.axhline, axes.axhspan)
    line(constraint.value, color="C3", linestyle="--", linewidth=1.2, zorder=2)
    shade(*span, color="C3", alpha=0.07, zorder=1)
    (axes.set_xlim if vertical else axes.set_ylim)(low, high)


def _front(axes, analysis: dict, x_metric: str, y_metric: str) -> None:
    """The 2-D front as the staircase bounding the region it dominates up to the reference point
    (that region's area is the hypervolume), shaded."""
    pair = [x_metric, y_metric]
    polygon = staircase(
        np.array([[number(e["metrics"][m]) for m in pair] for e in analysis["entries"]]),
        [analysis["higher_is_better"][m] for m in pair],
        np.array([analysis["reference"][m] for m in pair]),
    )
    if len(polygon):
        axes.fill(polygon[:, 0], polygon[:, 1], color="0.5", alpha=0.12, zorder=0, linewidth=0)
        axes.plot(polygon[:-1, 0], polygon[:-1, 1], color="0.35", linewidth=1.0, zorder=2)


def _legend(analysis: dict, front: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def mark(label, **style):
        return Line2D([], [], linestyle="none", label=label, **style)

    handles = [
        mark(row, marker=MARKERS[n % len(MARKERS)], color=f"C{n % 10}", markersize=6)
        for n, row in enumerate(analysis["rows"])
    ]
    handles += [
        mark("Pareto-optimal (filled)", marker="o", color="0.3", markersize=6),
        mark("dominated (hollow)", marker="o", markerfacecolor="white", color="0.3", markersize=6),
    ]
    if front:
        handles.append(Patch(color="0.5", alpha=0.3, label="dominated region (hypervolume)"))
    if analysis["constraints"]:
        handles.append(
            Line2D(
                [],
                [],
                color="C3",
                linestyle="--",
                label=f"constraint {' and '.join(analysis['constraints'])}",
            )
        )
    if not all(e["feasible"] for e in analysis["entries"]):
        handles.append(mark("violates a constraint", marker="x", color="0.25", markersize=6))
    if analysis["best"] is not None:
        handles.append(
            mark(
                "chosen (best feasible)",
                marker="o",
                markerfacecolor="none",
                markeredgecolor="black",
                markeredgewidth=1.6,
                markersize=12,
            )
        )
    reference = _reference(analysis)
    if not front:  # the scatter matrix's legend sits in a narrow corner
        reference = reference.replace(", ", "\n")
    handles.append(mark(f"reference point ({reference})", marker="X", color="black"))
    return handles
