"""`rank sweep`: one recipe over a grid of rerank/group parameters; Pareto front and best point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import console, err_console, progress_step, user_errors
from recsys_cli.cli.run import (
    DataOpt,
    JsonOpt,
    QuietOpt,
    RecipeArg,
    ResultsOpt,
    SchedulerOpt,
    SetOpt,
    WorkersOpt,
)
from recsys_cli.errors import UserError

GridOpt = Annotated[
    list[str],
    typer.Option(
        "--grid",
        help="KEY=start:stop:count (evenly spaced, both ends included) or KEY=a,b,c; KEY under "
        "variants[...] or groups.*, e.g. 'variants[0].chain[0].lambda=0:1:11'. Repeat for a "
        "product grid.",
    ),
]


def parse_grid(text: str) -> tuple[str, list]:
    """'k=0:1:11' -> (k, 11 evenly spaced floats); 'k=a,b' -> (k, [TOML literal or string...])."""
    import numpy as np

    from recsys_cli.config.loader import parse_value

    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or not spec:
        raise UserError(f"--grid {text!r}: expected KEY=start:stop:count or KEY=a,b,c")
    if ":" in spec:
        parts = spec.split(":")
        try:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
        except (ValueError, IndexError):
            raise UserError(
                f"--grid {text!r}: start:stop:count needs two numbers and an integer"
            ) from None
        if len(parts) != 3 or count < 1:
            raise UserError(f"--grid {text!r}: start:stop:count with count >= 1")
        return key, [round(float(v), 10) for v in np.linspace(start, stop, count)]
    return key, [parse_value(part.strip()) for part in spec.split(",") if part.strip()]


def _metric_keys(text: str | None) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()] if text else []


@user_errors
def sweep(
    recipe_path: RecipeArg,
    grid: GridOpt,
    pareto: Annotated[
        str | None,
        typer.Option(help="Metrics of the front, comma-separated metric@k, e.g. ndcg@10,ild@10."),
    ] = None,
    maximize: Annotated[
        str | None, typer.Option(help="Pick the point with the highest metric@k ...")
    ] = None,
    minimize: Annotated[str | None, typer.Option(help="... or the lowest metric@k")] = None,
    constraint: Annotated[
        list[str] | None,
        typer.Option(help="... among points with METRIC@K OP VALUE (>=, <=, >, <); repeatable."),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="Hypervolume reference point, e.g. 'ndcg@10=0.1,ild@10=0.5' (default: the "
            "worst value of each Pareto metric); fix it to compare sweeps."
        ),
    ] = None,
    rows: Annotated[
        str | None,
        typer.Option(
            help="Rows (MODEL or MODEL+variant) to compare; default: the rows of the variants "
            "the grid changes, else every variant row."
        ),
    ] = None,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Trace a trade-off: rerank over a grid of parameters, with models trained once.

    Every point is stored as a run; prints the trade-off table with Pareto points (*), the
    hypervolume and the best point under constraints, and writes sweep.png and sweep.json.

    With --workers/--scheduler the grid points run on Dask workers (same results)."""
    from recsys_cli.config.loader import load_raw
    from recsys_cli.experiment import run_sweep
    from recsys_cli.results.store import PendingRun, results_root, write_json

    raw, base = load_raw(recipe_path, overrides or [])
    axes = [parse_grid(g) for g in grid]
    if maximize and minimize:
        raise UserError("--maximize and --minimize: give one objective")
    objective = maximize or minimize
    constraints = [_constraint(c) for c in constraint or []]
    reference_point = _reference(reference)
    # Names are checked before anything is trained: a typo must not cost the whole sweep.
    _check_names(base, rows, pareto, objective, constraints)
    step = progress_step(quiet or as_json)
    with PendingRun(results_root(results_dir), f"sweep-{raw['name']}") as pending:
        if workers or scheduler:
            from recsys_cli.distributed import connect, run_sweep_distributed

            with connect(workers, scheduler) as client:
                points = run_sweep_distributed(client, raw, axes, pending.path, data_dir, step)
        else:
            points = run_sweep(raw, axes, pending.path, data_dir, step)
        rows = rows or _grid_rows(raw, axes)
        analysis = analyse(
            points, axes, pareto, objective, bool(maximize), constraints, rows, reference_point
        )
        analysis["recipe"] = raw["name"]
        write_json(pending.path / "sweep.json", analysis)
        _plot(analysis, pending.path / "sweep.png")
    analysis["sweep_dir"] = str(pending.final)
    if as_json:
        print(json.dumps(analysis, indent=2))
    elif not quiet:
        _render(analysis)


def _reference(text: str | None) -> dict[str, float]:
    """'ndcg@10=0.1,ild@10=0.5' -> {metric: value}."""
    point = {}
    for part in _metric_keys(text):
        metric, sep, value = part.partition("=")
        try:
            point[metric.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise UserError(f"--reference: {part!r} is not METRIC@K=VALUE") from None
    return point


def _check_names(base, rows, pareto, objective, constraints) -> None:
    """Every row, Pareto metric, objective and constraint must exist in the recipe."""
    labels = [m.label for m in base.models]
    available = labels + [
        f"{label}+{v.name}" for v in base.variants for label in labels if label in v.models
    ]
    for row in _metric_keys(rows):
        if row not in available:
            raise UserError(f"--rows: no row {row!r}; rows are {', '.join(available)}")
    evaluated = [f"{m}@{k}" for m in base.eval.metrics for k in base.eval.cutoffs]
    named = _metric_keys(pareto) + [objective] * bool(objective) + [c.metric for c in constraints]
    for metric in named:
        if metric not in evaluated:
            raise UserError(
                f"metric {metric!r} is not evaluated by the recipe; it has {', '.join(evaluated)}"
            )


def _grid_rows(raw: dict, axes) -> str | None:
    """Default rows: those of the variants the grid changes (all variant rows when it changes
    only groups)."""
    import re

    touched = {int(m) for key, _ in axes for m in re.findall(r"^variants\[(\d+)\]", key)}
    variants = raw.get("variants", [])
    names = [variants[i].get("name") for i in sorted(touched) if i < len(variants)]
    if not names:
        return None
    labels = [m.get("label", m.get("name")) for m in raw.get("models", [])]
    chosen = [
        f"{label}+{variants[i]['name']}"
        for i in sorted(touched)
        if i < len(variants)
        for label in variants[i].get("models", labels)
    ]
    return ",".join(chosen)


def _constraint(text: str):
    from recsys_cli.evaluation.pareto import parse_constraint

    return parse_constraint(text)


def analyse(points, axes, pareto, objective, maximize, constraints, rows, reference=None) -> dict:
    """The sweep.json payload: one entry per (point, row) with its metrics and marks."""
    import numpy as np

    from recsys_cli.evaluation.pareto import best_feasible, hypervolume, pareto_mask
    from recsys_cli.metrics import lower_is_better

    available = list(points[0].metrics["models"])
    chosen = _metric_keys(rows) or [r for r in available if "+" in r] or available
    for row in chosen:
        if row not in available:
            raise UserError(f"--rows: no row {row!r}; rows are {', '.join(available)}")
    first = points[0].metrics
    evaluated = list(first["models"][chosen[0]])
    metrics = _metric_keys(pareto)
    if not metrics:
        wanted = [objective] + [c.metric for c in constraints]
        metrics = list(dict.fromkeys(m for m in wanted if m))
    if len(metrics) < 2:
        accuracy = [m for m in evaluated if m.split("@")[0] in ("ndcg", "recall", "precision")]
        others = [m for m in evaluated if m not in accuracy and m not in metrics]
        metrics = list(dict.fromkeys(metrics + accuracy[:1] + others[:1]))[:2]
    needed = metrics + [objective] * bool(objective) + [c.metric for c in constraints]
    for metric in needed:
        if metric not in evaluated:
            raise UserError(
                f"metric {metric!r} was not evaluated; the sweep has {', '.join(evaluated)}"
            )
    entries = []
    for point in points:
        for row in chosen:
            values = point.metrics["models"][row]
            entries.append(
                {
                    "point": point.index,
                    "grid": point.values,
                    "row": row,
                    "run_dir": point.run_name,
                    "metrics": {m: values[m]["mean"] for m in dict.fromkeys(needed)},
                }
            )

    def column(metric):
        return np.array([_num(e["metrics"][metric]) for e in entries])

    table = np.column_stack([column(m) for m in metrics])
    higher = [not lower_is_better(m.split("@")[0]) for m in metrics]
    front = pareto_mask(table, higher)
    # Reference point: given per metric (--reference, so that hypervolumes of different sweeps
    # compare), else the worst value of that metric over the sweep's entries.
    reference = reference or {}
    for metric in reference:
        if metric not in metrics:
            raise UserError(f"--reference: {metric!r} is not one of the Pareto metrics {metrics}")
    worst = [
        reference[m]
        if m in reference
        else (np.nanmin(table[:, j]) if up else np.nanmax(table[:, j]))
        for j, (m, up) in enumerate(zip(metrics, higher, strict=True))
    ]
    feasible = np.ones(len(entries), dtype=bool)
    for c in constraints:
        feasible &= c.holds(column(c.metric))
    for entry, on_front, ok in zip(entries, front, feasible, strict=True):
        entry["pareto"] = bool(on_front)
        entry["feasible"] = bool(ok)
    best = None
    if objective:
        index = best_feasible(column(objective), maximize, feasible)
        best = None if index is None else entries[index]
    return {
        "grid": {key: values for key, values in axes},
        "rows": chosen,
        "pareto_metrics": metrics,
        "higher_is_better": dict(zip(metrics, higher, strict=True)),
        "reference": dict(zip(metrics, [float(w) for w in worst], strict=True)),
        "reference_rule": "given"
        if len(reference) == len(metrics)
        else (
            "per-metric worst value over the sweep's entries"
            + (f", except {', '.join(reference)} as given" if reference else "")
        ),
        "hypervolume": hypervolume(table, higher, np.array(worst)),
        "objective": objective,
        "maximize": maximize if objective else None,
        "constraints": [str(c) for c in constraints],
        "best": best,
        "entries": entries,
    }


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def _plot(analysis: dict, path: Path) -> None:
    """sweep.png: every entry in the first two front metrics, Pareto points joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_metric, y_metric = analysis["pareto_metrics"][:2]
    entries = analysis["entries"]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    for row in analysis["rows"]:
        mine = [e for e in entries if e["row"] == row]
        ax.scatter(
            [_num(e["metrics"][x_metric]) for e in mine],
            [_num(e["metrics"][y_metric]) for e in mine],
            label=row,
            alpha=0.6,
        )
    front = sorted((e for e in entries if e["pareto"]), key=lambda e: _num(e["metrics"][x_metric]))
    ax.plot(
        [_num(e["metrics"][x_metric]) for e in front],
        [_num(e["metrics"][y_metric]) for e in front],
        "k--",
        marker="*",
        markersize=10,
        label="Pareto front",
    )
    for e in entries:
        ax.annotate(
            str(e["point"]),
            (_num(e["metrics"][x_metric]), _num(e["metrics"][y_metric])),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel(x_metric)
    ax.set_ylabel(y_metric)
    ax.set_title(f"{analysis['recipe']}: hypervolume {analysis['hypervolume']:.4g}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def terminal_plot(analysis: dict, width: int = 56, height: int = 14) -> list[str]:
    """A character scatter of the first two front metrics: * Pareto, o other entries."""
    import math

    x_metric, y_metric = analysis["pareto_metrics"][:2]
    pts = [
        (_num(e["metrics"][x_metric]), _num(e["metrics"][y_metric]), e["pareto"])
        for e in analysis["entries"]
    ]
    pts = [p for p in pts if not (math.isnan(p[0]) or math.isnan(p[1]))]
    if not pts:
        return []
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grid = [[" "] * width for _ in range(height)]
    for x, y, on_front in sorted(pts, key=lambda p: p[2]):
        col = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1))
        line = 0 if y1 == y0 else round((y - y0) / (y1 - y0) * (height - 1))
        grid[height - 1 - line][col] = "*" if on_front else "o"
    lines = [f"{y_metric} {y1:.4f}"]
    lines += ["  |" + "".join(r) for r in grid]
    lines.append("  +" + "-" * width)
    lines.append(f"   {x0:.4f}{' ' * max(1, width - 12)}{x1:.4f}  {x_metric}")
    return lines


def _render(analysis: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    metrics = list(
        dict.fromkeys(analysis["pareto_metrics"] + list(analysis["entries"][0]["metrics"]))
    )
    keys = list(analysis["grid"])
    table = Table(
        title=f"sweep {analysis['recipe']}  ({analysis['sweep_dir']})", title_justify="left"
    )
    table.add_column("#", justify="right")
    for key in keys:
        table.add_column(escape(key.split(".")[-1] if len(keys) == 1 else key), justify="right")
    table.add_column("row")
    for metric in metrics:
        table.add_column(escape(metric), justify="right")
    table.add_column("pareto", justify="center")
    if analysis["constraints"]:
        table.add_column("feasible", justify="center")
    for e in analysis["entries"]:
        cells = [str(e["point"]), *(f"{e['grid'][k]}" for k in keys), escape(e["row"])]
        cells += [f"{_num(e['metrics'][m]):.4f}" for m in metrics]
        cells.append("*" if e["pareto"] else "")
        if analysis["constraints"]:
            cells.append("yes" if e["feasible"] else "no")
        table.add_row(*cells, style="bold" if e is analysis["best"] else None)
    console.print(table)
    for line in terminal_plot(analysis):
        console.print(line, highlight=False, markup=False)
    ref = ", ".join(f"{m}={v:.4f}" for m, v in analysis["reference"].items())
    console.print(
        f"hypervolume of the front in ({', '.join(analysis['pareto_metrics'])}): "
        f"{analysis['hypervolume']:.6g} (reference point: {analysis['reference_rule']}: {ref})",
        highlight=False,
        markup=False,
    )
    if analysis["objective"]:
        goal = "max" if analysis["maximize"] else "min"
        where = (
            f" subject to {' and '.join(analysis['constraints'])}"
            if analysis["constraints"]
            else ""
        )
        best = analysis["best"]
        if best is None:
            console.print(
                f"no feasible point: no entry satisfies {' and '.join(analysis['constraints'])}",
                markup=False,
            )
        else:
            console.print(
                f"best ({goal} {analysis['objective']}{where}): point {best['point']} "
                f"{best['grid']} {best['row']} = {best['metrics'][analysis['objective']]:.4f} "
                f"(run {best['run_dir']})",
                highlight=False,
                markup=False,
            )
    console.print(f"plot: {analysis['sweep_dir']}/sweep.png", highlight=False, markup=False)
    err_console.print(f"[dim]{len(analysis['entries'])} entries[/dim]")
