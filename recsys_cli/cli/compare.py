"""`rank compare`: paired significance tests over users between models of one or more runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from recsys_cli.cli.common import console, err_console, parse_list, progress_step, user_errors
from recsys_cli.errors import UserError

Format = Literal["table", "markdown", "latex", "csv", "json"]


@user_errors
def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR...",
            help="Evaluated run directories (same split), or re-evaluations RUN_DIR/evals/NAME.",
        ),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Baseline model (default: the first); across runs EASE names the run's EASE "
            "when only one run has it, else A:EASE."
        ),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated metric@k list, e.g. ndcg@10,recall@20 (default: all stored); "
            "a metric a run lacks is looked up in its re-evaluations."
        ),
    ] = None,
    correction: Annotated[
        str, typer.Option(help="holm, bh or none (across the whole table).")
    ] = "holm",
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    interval: Annotated[
        str,
        typer.Option(
            help="Bootstrap interval: percentile, or bca (bias-corrected and accelerated)."
        ),
    ] = "percentile",
    output: Annotated[
        str, typer.Option("--format", help="table, markdown, latex, csv or json.")
    ] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log the comparison in detail on stderr.")
    ] = False,
) -> None:
    """Paired t-test, Wilcoxon signed-rank and bootstrap CI of every model against a baseline.

    With several runs, rows are labelled A:MODEL, B:MODEL, ... in argument order (legend shown)."""
    from recsys_cli.evaluation.comparison import compare as paired_compare
    from recsys_cli.evaluation.run_comparison import load_paired, metric_labels, resolve_baseline
    from recsys_cli.results import significance
    from recsys_cli.results.readback import damaged_run_reported

    if correction not in ("holm", "bh", "none"):
        raise UserError(f"--correction: {correction!r} is not one of holm, bh, none")
    if interval not in ("percentile", "bca"):
        raise UserError(f"--interval: {interval!r} is not one of percentile, bca")
    if not 0.0 < alpha < 1.0:
        raise UserError(f"--alpha: a significance level is between 0 and 1, got {alpha}")
    if seed < 0:
        raise UserError(f"--seed: seeds are >= 0, got {seed}")
    if output not in ("table", "markdown", "latex", "csv", "json"):
        raise UserError(f"--format: {output!r} is not one of table, markdown, latex, csv, json")
    step = progress_step(quiet, verbose)
    wanted = parse_list(metric, "--metric")

    def note(line: str) -> None:
        err_console.print(line, style="dim", highlight=False, markup=False, soft_wrap=True)

    with damaged_run_reported(" ".join(map(str, run_dirs))):
        paired = load_paired(run_dirs, wanted, note)
    for line in significance.left_out_lines(paired.left_out):
        err_console.print(line, style="dim", highlight=False, markup=False)
    chosen = resolve_baseline(baseline, paired.models)
    with step(f"paired tests against {chosen}") as progress:
        report = paired_compare(
            paired.per_user,
            chosen,
            list(wanted or metric_labels(paired.per_user)),
            correction,
            alpha=alpha,
            seed=seed,
            interval=interval,
            progress=progress,
        )
    legend = [f"{letter}: {path}" for letter, path in paired.runs.items()]
    if as_json or output == "json":
        runs = {k: str(v) for k, v in paired.runs.items()}
        print(json.dumps({**significance.to_dict(report), "runs": runs}, indent=2))
    elif output == "table":
        for line in legend:
            console.print(line, highlight=False, markup=False)
        console.print(significance.to_rich(report, console.width))
    elif output == "csv":
        for line in legend:
            err_console.print(line, highlight=False, markup=False)
        print(significance.to_csv(report), end="")
    elif output == "latex":
        print(significance.to_latex(report) + "".join(f"% {line}\n" for line in legend), end="")
    else:
        print(significance.to_markdown(report) + "".join(f"\n{line}" for line in legend))
