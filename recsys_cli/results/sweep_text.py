"""The text plot of a `rank sweep` (the sweep.json payload), printed in the terminal."""

from __future__ import annotations

import math

from recsys_cli.evaluation.pareto import parse_constraint
from recsys_cli.results.sweep_labels import direction, number


def terminal_plot(analysis: dict, width: int = 56, height: int = 14) -> list[str]:
    """A character plot of the first two front metrics with tick values, axis titles, the
    constraint lines inside the range and a legend. One row: * Pareto-optimal, o dominated;
    several: a letter per row, upper case on the front. @ marks the chosen entry."""
    x_metric, y_metric = analysis["pareto_metrics"][:2]
    rows = analysis["rows"]
    pts = [
        (number(e["metrics"][x_metric]), number(e["metrics"][y_metric]), e)
        for e in analysis["entries"]
    ]
    pts = [p for p in pts if not (math.isnan(p[0]) or math.isnan(p[1]))]
    if not pts:
        return []
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def column(x):
        return 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1))

    def line(y):
        return height - 1 - (0 if y1 == y0 else round((y - y0) / (y1 - y0) * (height - 1)))

    def symbol(entry):
        if len(rows) == 1:
            return "*" if entry["pareto"] else "o"
        letter = chr(ord("a") + rows.index(entry["row"]) % 26)
        return letter.upper() if entry["pareto"] else letter

    canvas = [[" "] * width for _ in range(height)]
    drawn = []
    for constraint in (parse_constraint(c) for c in analysis["constraints"]):
        if constraint.metric == x_metric and x0 <= constraint.value <= x1:
            for r in range(height):
                canvas[r][column(constraint.value)] = ":"
            drawn.append(f": {constraint}")
        elif constraint.metric == y_metric and y0 <= constraint.value <= y1:
            canvas[line(constraint.value)] = ["."] * width
            drawn.append(f". {constraint}")
        elif constraint.metric in (x_metric, y_metric):
            drawn.append(f"{constraint} lies outside the plotted range")
    # Front entries last, so that they stay visible where two entries share a character cell.
    for x, y, entry in sorted(pts, key=lambda p: p[2]["pareto"]):
        canvas[line(y)][column(x)] = symbol(entry)
    best = analysis["best"]
    if best is not None and best in [p[2] for p in pts]:
        canvas[line(number(best["metrics"][y_metric]))][
            column(number(best["metrics"][x_metric]))
        ] = "@"
    # Ticks at both ends and the middle cell of each axis, labelled with that cell's value.
    y_ticks = {r: y1 - r / (height - 1) * (y1 - y0) for r in (0, (height - 1) // 2, height - 1)}
    x_ticks = {c: x0 + c / (width - 1) * (x1 - x0) for c in (0, (width - 1) // 2, width - 1)}
    margin = max(len(f"{v:.4f}") for v in y_ticks.values())
    lines = [f"{y_metric} ({direction(analysis, y_metric)})"]
    for r, cells in enumerate(canvas):
        tick = f"{y_ticks[r]:.4f}" if r in y_ticks else ""
        lines.append(f"{tick:>{margin}} {'+' if r in y_ticks else '|'}{''.join(cells)}")
    axis = ["-"] * width
    scale: list[str] = []
    for c in sorted(x_ticks, key=lambda c: c in (0, width - 1), reverse=True):  # ends first
        text = f"{x_ticks[c]:.4f}"
        at = 0 if c == 0 else c - len(text) + 1 if c == width - 1 else c - len(text) // 2
        at = max(at, 0)
        scale += [" "] * max(0, at + len(text) - len(scale))
        if all(ch == " " for ch in scale[max(0, at - 1) : at + len(text) + 1]):
            scale[at : at + len(text)] = text
            axis[c] = "+" if c else "-"  # the corner marks the first tick
    lines.append(" " * margin + " +" + "".join(axis))
    lines.append(" " * (margin + 2) + "".join(scale).rstrip())
    title = f"{x_metric} ({direction(analysis, x_metric)})"
    lines.append(" " * (margin + 2 + max(0, (width - len(title)) // 2)) + title)
    if len(rows) == 1:
        lines.append(f"legend: * Pareto-optimal, o dominated ({rows[0]})")
    else:
        letters = [
            f"{chr(ord('A') + n % 26)}/{chr(ord('a') + n % 26)} {r}" for n, r in enumerate(rows)
        ]
        lines.append(f"legend: {'; '.join(letters)} (upper case: Pareto-optimal)")
    marks = ["@ chosen (best feasible)"] * (best is not None) + drawn
    if marks:
        lines.append(f"        {'; '.join(marks)}")
    return lines
