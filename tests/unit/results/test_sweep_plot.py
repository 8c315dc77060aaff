"""The sweep figure and the terminal plot on hand-made sweep.json payloads."""

import numpy as np
import pytest

from recsys_cli.evaluation.pareto import hypervolume
from recsys_cli.results.sweep_labels import point_label, short_keys
from recsys_cli.results.sweep_plot import sweep_figure
from recsys_cli.results.sweep_text import terminal_plot

LAMBDA = "variants[0].chain[0].lambda"


def entry(row, values, pareto, feasible=True, grid=None):
    metrics = dict(zip(("ndcg@10", "gini@10", "ild@10"), values, strict=False))
    return {
        "point": 0,
        "run_dir": "run-000",
        "row": row,
        "grid": grid or {},
        "metrics": metrics,
        "stderr": {m: (None if m == "gini@10" else 0.01) for m in metrics},
        "pareto": pareto,
        "feasible": feasible,
    }


def analysis(entries, metrics, best=None, constraints=()):
    higher = {"ndcg@10": True, "gini@10": False, "ild@10": True}
    return {
        "recipe": "toy",
        "grid": {LAMBDA: [0.0, 0.5, 1.0], "groups.tail.popularity_below": [0.5]},
        "combinations": 3,
        "rows": list(dict.fromkeys(e["row"] for e in entries)),
        "pareto_metrics": metrics,
        "higher_is_better": {m: higher[m] for m in metrics},
        "reference": {m: 0.0 if higher[m] else 2.0 for m in metrics},
        "reference_rule": "given",
        "hypervolume": 0.5,
        "objective": "ndcg@10" if best is not None else None,
        "maximize": True,
        "constraints": list(constraints),
        "best": best,
        "entries": entries,
    }


def test_short_keys_and_labels():
    keys = [LAMBDA, "variants[1].chain[0].lambda", "variants[1].chain[0].theta"]
    short = short_keys(keys)  # the two lambdas differ only in their variant
    assert short == {key: key for key in keys[:2]} | {keys[2]: "theta"}
    assert short_keys([LAMBDA, "groups.tail.popularity_below"]) == {
        LAMBDA: "lambda",
        "groups.tail.popularity_below": "popularity_below",
    }
    e = entry("E+mmr", (0.1, 0.2), True, grid={LAMBDA: 0.5, keys[2]: "x"})
    assert point_label(e, short) == f"{LAMBDA}=0.5, theta=x"


def test_terminal_plot_has_ticks_axis_titles_and_a_legend():
    entries = [
        entry("E+a", (0.0, 0.0), False),
        entry("E+a", (1.0, 0.5), True),
        entry("E+b", (0.5, 1.0), True),
    ]
    payload = analysis(entries, ["ndcg@10", "gini@10"], entries[1], ["ndcg@10>=0.25"])
    lines = terminal_plot(payload, width=21, height=5)
    assert lines[0] == "gini@10 (lower is better)"
    # rows: y = 1, 0.75, 0.5, 0.25, 0 from the top; columns: x * 20 after 'label +'
    grid = [line[8:] for line in lines[1:6]]
    assert [line[:8] for line in lines[1:6]] == [
        "1.0000 +",
        "       |",
        "0.5000 +",
        "       |",
        "0.0000 +",
    ]
    assert grid[0][10] == "B"  # E+b on the front
    assert grid[2][20] == "@"  # the chosen entry
    assert grid[4][0] == "a"  # E+a, dominated
    assert {line[5] for line in grid} == {":"}  # ndcg@10 >= 0.25 at column 5
    assert lines[6] == "       +" + "-" * 10 + "+" + "-" * 9 + "+"
    assert lines[7].split() == ["0.0000", "0.5000", "1.0000"]
    assert lines[8].strip() == "ndcg@10 (higher is better)"
    assert lines[9] == "legend: A/a E+a; B/b E+b (upper case: Pareto-optimal)"
    assert lines[10].split("; ") == ["        @ chosen (best feasible)", ": ndcg@10>=0.25"]
    one_row = analysis(entries[:2], ["ndcg@10", "gini@10"], constraints=["gini@10<=5"])
    lines = terminal_plot(one_row, width=21, height=5)
    assert "* Pareto-optimal, o dominated (E+a)" in lines[-2]
    assert lines[-1].strip() == "gini@10<=5 lies outside the plotted range"


def test_two_metrics_draw_one_panel_with_the_front_region():
    entries = [
        entry("E+a", (0.2, 1.0), True, grid={LAMBDA: 0.0}),
        entry("E+a", (0.4, 1.5), True, grid={LAMBDA: 0.5}),
        entry("E+a", (0.1, 1.8), False, feasible=False, grid={LAMBDA: 1.0}),
    ]
    figure = sweep_figure(analysis(entries, ["ndcg@10", "gini@10"], entries[1], ["ndcg@10>=0.15"]))
    (axes,) = figure.axes
    texts = [t.get_text() for t in axes.texts]
    assert {"lambda=0", "lambda=0.5", "lambda=1", "reference"} <= set(texts)
    # the shaded region is the hypervolume: polygon area against reference (0, 2)
    (region,) = [p for p in axes.patches if p.get_facecolor()[3] > 0 and len(p.get_xy()) > 4]
    xy = region.get_xy()
    area = abs(np.dot(xy[:, 0], np.roll(xy[:, 1], -1)) - np.dot(xy[:, 1], np.roll(xy[:, 0], -1)))
    table = np.array([[e["metrics"]["ndcg@10"], e["metrics"]["gini@10"]] for e in entries])
    assert area / 2 == pytest.approx(hypervolume(table, [True, False], np.array([0.0, 2.0])))
    footer = figure.texts[-1].get_text()
    assert "reference point: ndcg@10=0, gini@10=2" in footer
    assert "Chosen (max ndcg@10 among feasible points): E+a lambda=0.5" in footer


def test_three_metrics_draw_a_scatter_matrix_without_a_front_line():
    entries = [
        entry("E+a", (0.2, 1.0, 0.3), True, grid={LAMBDA: 0.0}),
        entry("E+a", (0.4, 1.5, 0.2), True, grid={LAMBDA: 0.5}),
    ]
    figure = sweep_figure(analysis(entries, ["ndcg@10", "gini@10", "ild@10"]))
    panels = [a for a in figure.axes if a.axison]
    assert sorted((a.get_xlabel().split()[0], a.get_ylabel().split()[0]) for a in panels) == [
        ("gini@10", "ild@10"),
        ("ndcg@10", "gini@10"),
        ("ndcg@10", "ild@10"),
    ]
    assert all(line.get_linestyle() == "None" for a in panels for line in a.get_lines())
    (legend_corner,) = [a for a in figure.axes if not a.axison]
    assert legend_corner.get_legend() is not None
