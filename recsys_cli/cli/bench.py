"""`rank bench`: run the benchmark recipes and fail on metrics that moved beyond tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recsys_cli.cli.common import console, err_console, progress_step, user_errors
from recsys_cli.cli.run import DataOpt, QuietOpt, ResultsOpt, VerboseOpt
from recsys_cli.errors import UserError


def run_recipe(recipe_path: Path, results_dir: Path | None, data_dir: Path | None, step):
    """Train and evaluate one recipe into a new run directory; return its metrics.json payload."""
    from recsys_cli.config.loader import load_recipe
    from recsys_cli.experiment import run_recipe
    from recsys_cli.results.store import PendingRun, results_root

    recipe = load_recipe(recipe_path)
    with PendingRun(results_root(results_dir), recipe.name) as pending:
        _, evaluation = run_recipe(recipe, pending.path, data_dir, step)
    return recipe.name, evaluation.to_json()


@user_errors
def bench(
    recipes_dir: Annotated[Path, typer.Option(help="Folder of benchmark recipes.")] = Path(
        "recipes/bench"
    ),
    baselines: Annotated[Path, typer.Option(help="Folder of committed baselines.")] = Path(
        "results/baselines"
    ),
    update: Annotated[
        bool, typer.Option("--update", help="Rewrite the baselines from this run (rules kept).")
    ] = False,
    results_dir: ResultsOpt = None,
    data_dir: DataOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run recipes/bench/*.toml, compare every metric with results/baselines; exit 1 on a move."""
    from recsys_cli.results.baselines import (
        compare_to_baseline,
        load_baseline,
        means,
        save_baseline,
    )
    from recsys_cli.results.readback import read_json

    recipes = sorted(recipes_dir.glob("*.toml"))
    if not recipes:
        raise UserError(f"{recipes_dir}: no benchmark recipes (*.toml) found")
    checks = []
    step = progress_step(quiet or as_json, verbose)
    for recipe_path in recipes:
        name, metrics = run_recipe(recipe_path, results_dir, data_dir, step)
        path = baselines / f"{name}.json"
        current = means(metrics)
        if update:
            previous = read_json(path) if path.is_file() else None
            checks += compare_to_baseline(name, previous or {}, current)
            save_baseline(path, metrics, previous)
        else:
            checks += compare_to_baseline(name, load_baseline(path), current)
    failed = [c for c in checks if c.failed]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "recipe": c.recipe,
                        "model": c.model,
                        "metric": c.metric,
                        "baseline": c.baseline,
                        "current": c.current,
                        "delta": c.delta,
                        "allowed": c.allowed,
                        "status": c.status,
                    }
                    for c in checks
                ],
                indent=2,
            )
        )
    else:
        table = Table(
            "recipe",
            "model",
            "metric",
            "baseline",
            "current",
            "delta",
            "allowed",
            "status",
            title="rank bench" + (" (baselines updated)" if update else ""),
        )
        for c in failed:
            style = "yellow" if update else "red"  # only changed values are listed
            table.add_row(
                c.recipe,
                c.model,
                c.metric,
                _num(c.baseline),
                _num(c.current),
                _num(c.delta, signed=True),
                _num(c.allowed),
                f"[{style}]{c.status}",
            )
        if failed:
            console.print(table)
        verdict = (
            f"updated {len(recipes)} baseline(s); {len(failed)} value(s) changed"
            if update
            else f"{len(checks) - len(failed)}/{len(checks)} within tolerance"
        )
        err_console.print(verdict)
    if failed and not update:
        raise typer.Exit(1)


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.6f}" if signed else f"{value:.6f}"
