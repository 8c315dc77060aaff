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
    VerboseOpt,
    WorkersOpt,
)
from recsys_cli.errors import UserError
from recsys_cli.evaluation.sweep_analysis import analyse, metric_keys

GridOpt = Annotated[
    list[str],
    typer.Option(
        "--grid",
        help="KEY=start:stop:count (evenly spaced, both ends included) or KEY=a,b,c; KEY under "
        "variants[...] or groups.*, e.g. 'variants[0].chain[0].lambda=0:1:11'. Repeat for a "
        "product grid.",
    ),
]


MAX_GRID_POINTS = 10_000  # every point is a reranked, evaluated and stored run


def parse_grid(text: str) -> tuple[str, list]:
    """'k=0:1:11' -> (k, 11 evenly spaced floats); 'k=a,b' -> (k, [TOML literal or string...]).

    At most MAX_GRID_POINTS values, finite ends, no value twice."""
    import math

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
        if not (math.isfinite(start) and math.isfinite(stop)):
            raise UserError(f"--grid {text!r}: start and stop must be finite numbers")
        if count > MAX_GRID_POINTS:
            raise UserError(
                f"--grid {text!r}: {count:,} points; a sweep has at most {MAX_GRID_POINTS:,} "
                "(each point is a stored run)"
            )
        return key, [round(float(v), 10) for v in np.linspace(start, stop, count)]
    values = [parse_value(part.strip()) for part in spec.split(",") if part.strip()]
    if not values:
        raise UserError(f"--grid {text!r}: no values; expected KEY=a,b,c")
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        raise UserError(f"--grid {text!r}: {repeated!r} is given twice; list each value once")
    return key, values


def parse_axes(grid: list[str]) -> list[tuple[str, list]]:
    """Every --grid option; a key given twice, or a product over MAX_GRID_POINTS, is refused."""
    import math

    axes = [parse_grid(g) for g in grid]
    keys = [key for key, _ in axes]
    repeated = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
    if repeated is not None:
        raise UserError(f"--grid: {repeated!r} is in two --grid options; give its values in one")
    points = math.prod(len(values) for _, values in axes)
    if points > MAX_GRID_POINTS:
        raise UserError(
            f"--grid: the product grid has {points:,} points; a sweep has at most "
            f"{MAX_GRID_POINTS:,} (each point is a stored run)"
        )
    return axes


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
    from_run: Annotated[
        Path | None,
        typer.Option(
            "--from-run",
            help="Rerank this stored run's candidates (no model fitted, no data read) with "
            "RECIPE's \\[\\[variants]] and \\[groups]; only variants\\[...] and groups.* can "
            "vary.",
        ),
    ] = None,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Trace a trade-off: rerank over a grid of parameters, with models trained once.

    Each distinct row is evaluated once: a row that a grid key does not change is not rerun.

    Prints the table (Pareto points *), hypervolume, reference point and best feasible point.

    Writes sweep.json and the figure as sweep.png (300 dpi), sweep.svg and sweep.pdf.

    With --workers/--scheduler the grid points run on Dask workers (same results). With
    --from-run the points rerank a stored run's candidates instead of fitting the models."""
    from recsys_cli.config.loader import load_raw
    from recsys_cli.experiment import run_sweep
    from recsys_cli.results.atomic import write_json
    from recsys_cli.results.store import PendingRun, results_root
    from recsys_cli.results.sweep_plot import save_figures

    stored = None
    if from_run is not None:
        from recsys_cli.pipeline.rerun import open_stored, rerank_recipe

        if workers or scheduler:
            raise UserError("--from-run: a sweep of a stored run runs in this process")
        stored = open_stored(from_run)
        raw, base = rerank_recipe(stored, recipe_path, overrides or [])
    else:
        raw, base = load_raw(recipe_path, overrides or [])
    axes = parse_axes(grid)
    if maximize and minimize:
        raise UserError("--maximize and --minimize: give one objective")
    objective = maximize or minimize
    constraints = [_constraint(c) for c in constraint or []]
    reference_point = _reference(reference)
    # Names are checked before anything is trained: a typo must not cost the whole sweep.
    _check_names(base, rows, pareto, objective, constraints)
    step = progress_step(quiet or as_json, verbose)
    with PendingRun(results_root(results_dir), f"sweep-{raw['name']}") as pending:
        if stored is not None:
            from recsys_cli.pipeline.rerun import sweep_stored

            points = sweep_stored(stored, raw, axes, pending.path, step)
        elif workers or scheduler:
            from recsys_cli.distributed.cluster import connect
            from recsys_cli.distributed.sweep import run_sweep_distributed

            with connect(workers, scheduler) as client:
                points = run_sweep_distributed(client, raw, axes, pending.path, data_dir, step)
        else:
            points = run_sweep(raw, axes, pending.path, data_dir, step)
        analysis = analyse(
            points, axes, pareto, objective, bool(maximize), constraints, rows, reference_point
        )
        analysis["recipe"] = raw["name"]
        analysis["figures"] = save_figures(analysis, pending.path)
        write_json(pending.path / "sweep.json", analysis)
    analysis["sweep_dir"] = str(pending.final)
    if as_json:
        print(json.dumps(analysis, indent=2))
    elif quiet:
        print(pending.final)
    else:
        _render(analysis)


def _reference(text: str | None) -> dict[str, float]:
    """'ndcg@10=0.1,ild@10=0.5' -> {metric: value}."""
    point = {}
    for part in metric_keys(text):
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
    labels = [m.label for m in base.models] + ([base.ranker.label] if base.ranker else [])
    available = labels + [
        f"{label}+{v.name}" for v in base.variants for label in labels if label in v.models
    ]
    for row in metric_keys(rows):
        if row not in available:
            raise UserError(f"--rows: no row {row!r}; rows are {', '.join(available)}")
    evaluated = [f"{m}@{k}" for m in base.eval.metrics for k in base.eval.cutoffs]
    named = metric_keys(pareto) + [objective] * bool(objective) + [c.metric for c in constraints]
    for metric in named:
        if metric not in evaluated:
            raise UserError(
                f"metric {metric!r} is not evaluated by the recipe; it has {', '.join(evaluated)}"
            )


def _constraint(text: str):
    from recsys_cli.evaluation.pareto import parse_constraint

    return parse_constraint(text)


def _render(analysis: dict) -> None:
    from rich.text import Text

    from recsys_cli.results.report import fit_tables
    from recsys_cli.results.sweep_labels import number, point_label, short_keys
    from recsys_cli.results.sweep_text import terminal_plot

    metrics = list(
        dict.fromkeys(analysis["pareto_metrics"] + list(analysis["entries"][0]["metrics"]))
    )
    short = short_keys(analysis["grid"])
    reference = ", ".join(f"{m}={analysis['reference'][m]:.4f}" for m in analysis["pareto_metrics"])
    marks = ["pareto"] + ["feasible"] * bool(analysis["constraints"])
    # The point, its grid values, row and marks repeat in every block of metric columns.
    headers = ["#", *short.values(), "row", *marks, *metrics]
    rows = []
    for e in analysis["entries"]:
        cells = [str(e["point"]), *(str(e["grid"].get(k, "")) for k in short), e["row"]]
        cells.append("*" if e["pareto"] else "")
        if analysis["constraints"]:
            cells.append("yes" if e["feasible"] else "no")
        cells += [f"{number(e['metrics'][m]):.4f}" for m in metrics]
        rows.append(([Text(c) for c in cells], "bold" if e is analysis["best"] else None))
    title = f"sweep {analysis['recipe']}  ({analysis['sweep_dir']})"
    fixed = len(headers) - len(metrics)
    for table in fit_tables(headers, rows, console.width, fixed=fixed, title=title):
        console.print(table)
    if any(len(e["grid"]) < len(short) for e in analysis["entries"]):
        console.print("(a blank grid value: that key does not change the row)", highlight=False)
    for line in terminal_plot(analysis):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(
        f"hypervolume of the front in ({', '.join(analysis['pareto_metrics'])}): "
        f"{analysis['hypervolume']:.6g}; reference point {reference} "
        f"({analysis['reference_rule']})",
        highlight=False,
        markup=False,
        soft_wrap=True,
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
                soft_wrap=True,
            )
        else:
            console.print(
                f"best ({goal} {analysis['objective']}{where}): {best['row']} "
                f"{point_label(best, short)} = {best['metrics'][analysis['objective']]:.4f} "
                f"(run {best['run_dir']})",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    figures = ", ".join(f"{analysis['sweep_dir']}/{name}" for name in analysis["figures"])
    console.print(f"figure: {figures}", highlight=False, markup=False, soft_wrap=True)
    err_console.print(
        f"[dim]{analysis['combinations']} grid combinations, {len(analysis['entries'])} distinct "
        f"entries in {analysis['runs']} runs[/dim]"
    )
