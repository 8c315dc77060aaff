"""`rank tune`: search parameters on the validation part, confirm the best once on test."""

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
from recsys_cli.errors import RecipeError

StudyOpt = Annotated[
    Path | None,
    typer.Option(
        "--study",
        help="Study directory (default: <results dir>/tune-<recipe name>); an existing one is "
        "resumed. Several processes may run the same study at once.",
    ),
]


@user_errors
def tune(
    recipe_path: RecipeArg,
    study: StudyOpt = None,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Tune the parameters of the recipe's \\[tune] table on the validation part.

    Trials are scored on validation only; the test part is read once, at the end.

    Prints validation and test side by side for the best (or each Pareto-optimal) configuration.

    Writes the study directory: journal, trials.parquet, best.toml or pareto/, test runs, PNGs.

    Run it again to resume the study; a kill -9 loses at most the trials in flight.

    --workers/--scheduler: one trial per Dask worker; several processes may share one study."""
    from recsys_cli.config.loader import load_raw
    from recsys_cli.results.store import results_root
    from recsys_cli.tuning.spec import parse_tune
    from recsys_cli.tuning.tune import default_study_dir
    from recsys_cli.tuning.tune import tune as run_tune

    raw, recipe = load_raw(recipe_path, overrides or [])
    try:
        spec = parse_tune(raw, recipe)
    except RecipeError as error:
        message = str(error).removeprefix(f"{error.path}: ") if error.path else str(error)
        raise RecipeError(error.path, message, str(recipe_path)) from None
    study_dir = study or default_study_dir(results_root(results_dir), recipe)
    step = progress_step(quiet or as_json, verbose)
    if workers or scheduler:
        from recsys_cli.distributed.cluster import connect

        with connect(workers, scheduler) as client:
            result = run_tune(raw, recipe, spec, study_dir, data_dir, step, client)
    else:
        result = run_tune(raw, recipe, spec, study_dir, data_dir, step)
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    elif quiet:
        print(result["study_dir"])
    else:
        _render(result)


def _short(key: str) -> str:
    """'models[0].params.l2' -> 'l2'; 'variants[0].chain[1].weights.novelty' -> 'novelty'."""
    return key.rsplit(".", 1)[-1]


def _value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _render(result: dict) -> None:
    from rich.text import Text

    from recsys_cli.results.report import fit_tables

    metrics = result["metrics"]
    fitted = "refit on training + validation" if result["refit"] else "fitted on training only"
    goals = ", ".join(f"{o['direction']} {o['metric']}" for o in result["objectives"])
    subject = f" subject to {' and '.join(result['constraints'])}" if result["constraints"] else ""
    chosen = [row for config in result["configurations"] for row in config["rows"]]
    keys = list(dict.fromkeys(key for row in chosen for key in row["params"]))
    shorts = [_short(key) for key in keys]
    headers = ["row", "trial"]
    headers += [s if shorts.count(s) == 1 else k for k, s in zip(keys, shorts, strict=True)]
    headers += [f"{metric} {part}" for metric in metrics for part in ("val", "test")]
    rows = []
    for row in chosen:
        cells = [row["row"], str(row["trial"])]
        cells += [_value(row["params"][key]) if key in row["params"] else "" for key in keys]
        for metric in metrics:
            cells += [f"{row['validation'][metric]:.4f}", f"{row['test'][metric]['mean']:.4f}"]
        rows.append(([Text(cell) for cell in cells], None))
    title = f"tune {result['recipe']}: {goals}{subject}  ({result['study_dir']})"
    for table in fit_tables(headers, rows, console.width, fixed=2, title=title):
        console.print(table)
    console.print(
        f"validation: the trial's score; test: read once, {fitted}"
        + ("; test runs reused (the choice did not change)" if result["test_reused"] else ""),
        highlight=False,
        markup=False,
    )
    for study in result["studies"]:
        states = ", ".join(f"{n} {s.lower()}" for s, n in sorted(study["trials"].items()))
        ran = result["ran"].get(study["name"], 0)
        console.print(f"{study['name']}: {states} ({ran} run now)", highlight=False, markup=False)
    if result.get("front"):
        from recsys_cli.results.sweep_text import terminal_plot

        console.print("validation values of every complete trial:", highlight=False)
        for line in terminal_plot(result["front"]):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if result["hypervolume"] is not None:
        hv = result["hypervolume"]
        reference = ", ".join(f"{m}={v:.4f}" for m, v in hv["reference"].items())
        console.print(
            f"hypervolume of the feasible validation front: {hv['hypervolume']:.6g} "
            f"(reference {reference}: {hv['reference_rule']})",
            highlight=False,
            markup=False,
        )
    if not result["configurations"]:
        console.print("no feasible trial: nothing was evaluated on test", markup=False)
    configurations = result["configurations"]
    if len(configurations) > 3:
        configurations = []  # a front: where they are, not one line each
        console.print(
            f"{len(result['configurations'])} Pareto-optimal recipes in "
            f"{result['study_dir']}/pareto/, their test runs in {result['study_dir']}/test/",
            highlight=False,
            markup=False,
        )
    for config in configurations:
        console.print(
            f"recipe: {result['study_dir']}/{config['recipe_file']}  test run: "
            f"{result['study_dir']}/{config['test_run']}",
            highlight=False,
            markup=False,
        )
    err_console.print(f"[dim]figures: {', '.join(result['figures'])}[/dim]")
