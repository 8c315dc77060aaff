"""`rank report`: one self-contained HTML page (plots included) of runs, sweeps, studies and OPE
runs, for team reviews."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.cli.common import console, progress_step, user_errors
from recsys_cli.cli.run import QuietOpt, ResultsOpt, VerboseOpt
from recsys_cli.errors import UserError, writing_into


@user_errors
def report(
    runs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_OR_SWEEP...",
            help="Evaluated runs, sweeps, tuning studies or OPE runs: folders, or (part of) "
            "their names in the results dir.",
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    title: Annotated[str | None, typer.Option(help="Page title (default: the names).")] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="Row the paired comparisons of a run are against (default: its first)."),
    ] = None,
    correction: Annotated[
        str, typer.Option(help="holm, bh or none (across each run's comparison table).")
    ] = "holm",
    results_dir: ResultsOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write one HTML file that opens anywhere without network access: provenance, the metric
    table with 95% intervals, dot plots with error bars, the paired comparison with corrected
    p-values, slices by user activity and item popularity and timings of each run; the
    trade-off with its Pareto front of each sweep or study; the estimates of each OPE run."""
    from recsys_cli.results.catalog import find, refuse_unfinished
    from recsys_cli.results.html_report import build_report
    from recsys_cli.results.store import results_root

    if correction not in ("holm", "bh", "none"):
        raise UserError(f"--correction: {correction!r} is not one of holm, bh, none")
    if output.is_dir():
        raise UserError(f"--output: {output} is a folder; name the HTML file to write")
    root = results_root(results_dir)
    entries = [find(root, run) for run in runs]
    for entry in entries:
        refuse_unfinished(entry)
        if entry.status == "trained":
            raise UserError(f"{entry.path}: a trained run, not evaluated: rank eval {entry.path}")
        if entry.status != "complete":
            raise UserError(f"{entry.path}: an {entry.status} {entry.kind}: run it again to finish")
    step = progress_step(quiet, verbose)
    page = build_report(entries, title=title, baseline=baseline, correction=correction, step=step)
    with writing_into(output.parent if str(output.parent) else Path(".")):
        output.parent.mkdir(parents=True, exist_ok=True)
        temp = output.with_name(f".{output.name}.tmp")
        temp.write_text(page, encoding="utf-8")
        temp.replace(output)
    size = output.stat().st_size
    if quiet:
        print(output)
        return
    console.print(
        f"report: {output} ({size / 2**20:.1f} MiB, {len(entries)} section(s)); open it in any "
        "browser, no network needed",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
