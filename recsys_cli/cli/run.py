"""`rank run`, `rank train`, `rank eval` and `rank recipes`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import console, err_console, parse_list, progress_step, user_errors
from recsys_cli.errors import UserError, writing_into


def _complete_recipe(incomplete: str) -> list[str]:
    """Shell completion: the bundled recipe names that start with what was typed."""
    from recsys_cli.config.loader import bundled_recipes

    return [name for name in bundled_recipes() if name.startswith(incomplete)]


RecipeArg = Annotated[
    Path,
    typer.Argument(
        metavar="RECIPE",
        help="Recipe TOML file, or the name of a bundled recipe (see `rank recipes`).",
        autocompletion=_complete_recipe,
    ),
]
SET_EXAMPLE = "models[2].params.l2=500"  # EASE in the quickstart recipe
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help=f"Override a recipe key, e.g. --set {SET_EXAMPLE} (repeatable).",
    ),
]
ResultsOpt = Annotated[
    Path | None,
    typer.Option("--results-dir", help="Run store (default: $RANK_RESULTS_DIR or ./results)."),
]
DataOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Dataset folder (default: $RANK_DATA_DIR or ./datasets)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="table, markdown, csv (one line per model x metric, full precision) or json "
        "(same as --json).",
    ),
]
RowsOpt = Annotated[
    str,
    typer.Option(
        "--rows",
        help="Table rows: metrics (a column per model) or models (a column per metric@k, means "
        "only; for wide variant tables).",
    ),
]
BaselineOpt = Annotated[
    str | None,
    typer.Option(
        "--baseline",
        help="Mark values significantly higher or lower than this model's (paired t-test, Holm).",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="No progress or tables: print only the run directory (stdout)."
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Log steps, counts and timings in detail on stderr (DEBUG)."
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Run on a local Dask cluster of N worker processes (127.0.0.1); needs "
        "recsys-cli\\[distributed].",
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Run on a running Dask scheduler, tcp://HOST:PORT."),
]


def _pending_run(recipe_path: Path, overrides, results_dir):
    from recsys_cli.config.loader import load_recipe
    from recsys_cli.results.store import PendingRun, results_root

    recipe = load_recipe(recipe_path, overrides or [])
    return recipe, PendingRun(results_root(results_dir), recipe.name)


def display_format(output: str, as_json: bool, rows: str, baseline: str | None, names) -> str:
    """Check the display options before any work; the output format (--json: json)."""
    from recsys_cli.results.report import FORMATS, LAYOUTS

    if output not in FORMATS:
        raise UserError(f"--format: {output!r} is not one of {', '.join(FORMATS)}")
    if rows not in LAYOUTS:
        raise UserError(f"--rows: {rows!r} is not one of {', '.join(LAYOUTS)}")
    if baseline is not None and baseline not in names:
        raise UserError(f"--baseline: no model {baseline!r}; the run holds {', '.join(names)}")
    return "json" if as_json else output


def show_results(
    evaluation, manifest, run_dir: Path, output: str, quiet: bool, rows: str, baseline
) -> None:
    from recsys_cli.results.report import counts_lines, summary_table

    if output == "json":
        print(json.dumps({"run_dir": str(run_dir), **evaluation.to_json()}, indent=2))
        return
    if quiet and output == "table":
        print(run_dir)  # scripts read the run directory from stdout
        return
    if not quiet:
        for line in counts_lines(manifest["counts"]):
            err_console.print(line, style="dim", highlight=False, markup=False)
        if "ranker" in manifest:
            from recsys_cli.ranking.report import ranker_lines

            for line in ranker_lines(manifest["ranker"]):
                err_console.print(line, style="dim", highlight=False, markup=False)
    table = summary_table(
        evaluation.summary,
        evaluation.per_user,
        baseline=baseline,
        title=f"{manifest['recipe']}  ({run_dir})",
    )
    if output == "table":
        console.print(table.to_rich(console.width, rows))
    else:
        print(table.to_markdown(rows) if output == "markdown" else table.to_csv(), end="")


@user_errors
def run(
    recipe_path: RecipeArg,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = "table",
    rows: RowsOpt = "metrics",
    baseline: BaselineOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Train every model of RECIPE, evaluate on the held-out split and print the metric table.

    With --workers/--scheduler the evaluation is sharded over users on Dask (same results)."""
    from recsys_cli.experiment import run_recipe

    recipe, pending = _pending_run(recipe_path, overrides, results_dir)
    names = [m.label for m in recipe.models] + ([recipe.ranker.label] if recipe.ranker else [])
    names += [f"{label}+{v.name}" for label in names for v in recipe.variants if label in v.models]
    output = display_format(output, as_json, rows, baseline, names)
    step = progress_step(quiet, verbose)
    if workers or scheduler:
        from recsys_cli.distributed.cluster import connect
        from recsys_cli.distributed.executor import run_recipe_distributed

        with connect(workers, scheduler) as client, pending:
            manifest, evaluation = run_recipe_distributed(
                client, recipe, pending.path, data_dir, step
            )
    else:
        with pending:
            manifest, evaluation = run_recipe(recipe, pending.path, data_dir, step)
    show_results(evaluation, manifest, pending.final, output, quiet, rows, baseline)


@user_errors
def train(
    recipe_path: RecipeArg,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Fit every model of RECIPE and store candidates and recommendations (no evaluation)."""
    from recsys_cli.experiment import train as train_run

    recipe, pending = _pending_run(recipe_path, overrides, results_dir)
    with pending:
        manifest = train_run(recipe, pending.path, data_dir, progress_step(quiet, verbose))
    if as_json:
        print(json.dumps({"run_dir": str(pending.final), "manifest": manifest}, indent=2))
    elif quiet:
        print(pending.final)
    else:
        console.print(f"trained run: {pending.final}\nevaluate it with: rank eval {pending.final}")


@user_errors
def evaluate(
    run_dir: Annotated[
        Path,
        typer.Argument(metavar="RUN_DIR", help="A run directory written by rank train/run."),
    ],
    cutoffs: Annotated[
        str | None, typer.Option(help="Comma-separated cutoffs, e.g. 5,10,20.")
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated metrics: ndcg,recall,precision,map,mrr,hit_rate, beyond-accuracy "
            "(ild,coverage,gini,novelty,arp,aplt,popularity_lift,miscalibration,serendipity) and "
            "business (discovery,provider_gini,fair_marketplace,exposure_share[GROUP])."
        ),
    ] = None,
    slice_: Annotated[
        str | None,
        typer.Option(
            "--slice",
            help="Break the table down by user_activity (training-activity quartiles) or "
            "item_popularity (head/mid/tail items); prints only, writes nothing.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    output: FormatOpt = "table",
    rows: RowsOpt = "metrics",
    baseline: BaselineOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Evaluate a trained run, optionally with other cutoffs or metrics than its recipe.

    Metrics beyond accuracy read the item side data the run stored (the data are not read)."""
    from recsys_cli.evaluation.stored import evaluate_run, evaluate_seeds, save_evaluation
    from recsys_cli.metrics import metric_problem
    from recsys_cli.results.atomic import ExistingFile
    from recsys_cli.results.readback import (
        damaged_run_reported,
        open_run_dir,
        read_manifest,
        read_run_recipe,
    )
    from recsys_cli.results.store import RUN_LOG, PendingRun, run_log

    run_dir = open_run_dir(run_dir)
    recipe = read_run_recipe(run_dir)
    chosen_cutoffs = parse_list(cutoffs, "--cutoffs", int) or recipe.eval.cutoffs
    chosen_metrics = parse_list(metrics, "--metrics") or recipe.eval.metrics
    for metric in chosen_metrics:
        problem = metric_problem(metric, recipe.groups)
        if problem:
            raise UserError(f"--metrics: {problem}")
    if min(chosen_cutoffs) < 1:
        raise UserError("--cutoffs: cutoffs must be positive integers")
    manifest = read_manifest(run_dir)
    output = display_format(output, as_json, rows, baseline, manifest["lists"])
    step = progress_step(quiet, verbose)
    if slice_ is not None:
        if manifest.get("seeds"):
            raise UserError(
                f"--slice: {run_dir} is a multi-seed run; slice one seed: {run_dir}/seeds/seed-N"
            )
        if baseline is not None:
            raise UserError("--baseline: slices are not tested; compare the whole run instead")
        with damaged_run_reported(run_dir):
            _show_slices(run_dir, slice_, chosen_cutoffs, chosen_metrics, output, rows, step)
        return
    # The run's log gets the evaluation too (a re-evaluation's folder logs only its saving).
    with damaged_run_reported(run_dir), writing_into(run_dir), run_log(run_dir / RUN_LOG):
        if (workers or scheduler) and not manifest.get("seeds"):
            from recsys_cli.distributed.cluster import connect
            from recsys_cli.distributed.executor import evaluate_run_sharded

            with connect(workers, scheduler) as client, step("evaluate on workers") as progress:
                evaluation = evaluate_run_sharded(
                    client, run_dir, chosen_cutoffs, chosen_metrics, progress=progress
                )
        elif manifest.get("seeds"):
            evaluation = evaluate_seeds(run_dir, chosen_cutoffs, chosen_metrics, step=step)
        else:
            with step("evaluate") as progress:
                evaluation = evaluate_run(
                    run_dir, chosen_cutoffs, chosen_metrics, progress=progress
                )
        try:
            if (run_dir / "metrics.json").exists():
                raise ExistingFile(run_dir / "metrics.json")
            save_evaluation(evaluation, run_dir)
            target = run_dir
        except ExistingFile:
            # Never overwrite an earlier (or concurrent) evaluation: this one gets its own folder.
            with PendingRun(run_dir / "evals", "eval") as pending:
                save_evaluation(evaluation, pending.path)
            target = pending.final
    show_results(evaluation, manifest, target, output, quiet, rows, baseline)


def _show_slices(run_dir, kind, cutoffs, metrics, output, rows, step) -> None:
    import polars as pl

    from recsys_cli.evaluation.slices import sliced_summaries
    from recsys_cli.evaluation.stored import evaluate_run
    from recsys_cli.results.readback import read_manifest
    from recsys_cli.results.report import summary_table

    def evaluate(truth_items):
        with step(f"evaluate a {kind} slice") as progress:
            return evaluate_run(
                run_dir, cutoffs, metrics, truth_items=truth_items, progress=progress
            )

    slices = sliced_summaries(run_dir, kind, evaluate)
    if output == "json":
        print(json.dumps({name: summary.to_dicts() for name, summary in slices.items()}, indent=2))
        return
    if output == "csv":
        sliced = [s.select(pl.lit(name).alias("slice"), pl.all()) for name, s in slices.items()]
        print(summary_table(pl.concat(sliced)).to_csv(), end="")
        return
    for name, summary in slices.items():
        table = summary_table(summary, title=f"{kind}: {name}")
        if output == "table":
            console.print(table.to_rich(console.width, rows))
        else:
            print(table.to_markdown(rows))
    cold = read_manifest(run_dir)["counts"].get("cold_users_excluded", 0)
    if kind == "user_activity" and cold:
        err_console.print(f"[dim]cold users (no training history): {cold:,}, not evaluable[/dim]")


@user_errors
def recipes(as_json: JsonOpt = False) -> None:
    """List the bundled recipes: run one from any directory with `rank run NAME`."""
    from rich.table import Table

    from recsys_cli.config.loader import bundled_recipes

    found = []
    for name, path in bundled_recipes().items():
        try:
            description = tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")
        except tomllib.TOMLDecodeError as error:
            description = f"(invalid TOML: {error})"
        found.append({"recipe": name, "description": description, "path": str(path)})
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table(
        "recipe", "description", caption="run one: rank run NAME; --json gives each file's path"
    )
    for entry in found:
        table.add_row(entry["recipe"], entry["description"])
    console.print(table)
