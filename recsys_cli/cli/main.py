"""The `rank` application: command groups joined with add_typer, heavy imports inside commands."""

from __future__ import annotations

from typing import Annotated

import typer

from recsys_cli import __version__
from recsys_cli.cli import (
    bench,
    compare,
    datasets,
    ope,
    report,
    rerank,
    run,
    runs,
    schema,
    sweep,
    tune,
)
from recsys_cli.cli.app import Typer
from recsys_cli.cli.common import OneLineUsageErrors

app = Typer(
    name="rank",
    help="Offline evaluation of personalization: train, evaluate, rerank and compare recommenders "
    "from TOML recipes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineUsageErrors,
)
app.command("run")(run.run)
app.command("train")(run.train)
app.command("eval")(run.evaluate)
app.command("recipes")(run.recipes)
app.command("rerank")(rerank.rerank)
app.command("compare")(compare.compare)
app.command("sweep")(sweep.sweep)
app.command("tune")(tune.tune)
app.command("ope")(ope.ope)
app.command("bench")(bench.bench)
app.command("report")(report.report)
app.command("schema")(schema.schema)
app.add_typer(datasets.app, name="datasets")
app.add_typer(runs.app, name="runs")


def _version(value: bool) -> None:
    if value:
        print(f"rank (recsys-cli) {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """rank: offline evaluation of personalization."""


def main() -> None:
    app()
