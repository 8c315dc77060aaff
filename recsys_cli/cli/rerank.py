"""`rank rerank`: apply variants to a stored run's candidates (no retraining) into a new run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import progress_step, user_errors
from recsys_cli.cli.run import (
    BaselineOpt,
    FormatOpt,
    JsonOpt,
    QuietOpt,
    ResultsOpt,
    RowsOpt,
    SetOpt,
    VerboseOpt,
    display_format,
    show_results,
)


@user_errors
def rerank(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN", help="A run directory written by rank run/train (one seed's run)."
        ),
    ],
    variants: Annotated[
        Path | None,
        typer.Argument(
            metavar="VARIANTS",
            help="Recipe file whose \\[\\[variants]] (and \\[groups], added to the run's) are "
            "applied; "
            "default: the run's own recipe.",
        ),
    ] = None,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    as_json: JsonOpt = False,
    output: FormatOpt = "table",
    rows: RowsOpt = "metrics",
    baseline: BaselineOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Rerank RUN's stored candidates with VARIANTS, evaluate, and store a new run.

    No model is fitted and the data are not read: the candidates, held-out truth and item side
    data come from RUN, so the lists equal those of `rank run` with the same variants. --set
    changes variants\\[...] and groups.* only."""
    from recsys_cli.pipeline.rerun import open_stored, rerank_recipe, rerank_run
    from recsys_cli.results.store import PendingRun, results_root

    stored = open_stored(run_dir)
    _, recipe = rerank_recipe(stored, variants, overrides or [])
    names = list(stored.manifest["models"])
    names += [f"{label}+{v.name}" for label in names for v in recipe.variants if label in v.models]
    output = display_format(output, as_json, rows, baseline, names)
    step = progress_step(quiet, verbose)
    with PendingRun(results_root(results_dir), f"{recipe.name}-rerank") as pending:
        manifest, evaluation = rerank_run(
            stored, recipe, pending.path, step, variants_file=variants
        )
    show_results(evaluation, manifest, pending.final, output, quiet, rows, baseline)
