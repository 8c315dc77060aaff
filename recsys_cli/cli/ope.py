"""`rank ope`: counterfactual (off-policy) evaluation of ranking policies on logged feedback."""

from __future__ import annotations

import json

from recsys_cli.cli.common import console, err_console, progress_step, user_errors
from recsys_cli.cli.run import JsonOpt, QuietOpt, RecipeArg, ResultsOpt, SetOpt, VerboseOpt


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _tables(outcome: dict, title: str, confidence: float, width: int) -> list:
    """The estimator x policy table, split into blocks that fit `width` (policy and estimator
    repeat in each)."""
    from rich.text import Text

    from recsys_cli.results.report import fit_tables

    rows = outcome["results"]
    truth = any(row["on_policy"] is not None for row in rows)
    headers = ["policy", "estimator", "estimate", f"{confidence:.0%} CI", "ESS", "mean w"]
    headers += ["max w", "zero w", *(["on-policy", "rel. error"] if truth else [])]
    cells = []
    for row in rows:
        values = [
            row["policy"],
            row["estimator"],
            _number(row["estimate"]),
            f"[{_number(row['ci'][0])}, {_number(row['ci'][1])}]",
            "-" if row["ess"] is None else f"{row['ess']:,.0f}",
            _number(row["mean_weight"], 3),
            _number(row["max_weight"], 3),
            "-" if row["zero_share"] is None else f"{row['zero_share']:.1%}",
        ]
        if truth:
            error = row["relative_error"]
            values += [_number(row["on_policy"]), "-" if error is None else f"{error:+.1%}"]
        cells.append(([Text(v) for v in values], None))
    return fit_tables(headers, cells, width, fixed=2, title=title)


@user_errors
def ope(
    recipe_path: RecipeArg,
    overrides: SetOpt = None,
    results_dir: ResultsOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Estimate how the policies of RECIPE's \\[ope] table would do online, from logged
    feedback: every estimator with its bootstrap interval and importance-weight diagnostics."""
    from recsys_cli.ope.config import load_ope_recipe
    from recsys_cli.ope.pipeline import run_ope
    from recsys_cli.results.store import PendingRun, results_root

    recipe = load_ope_recipe(recipe_path, overrides or [])
    pending = PendingRun(results_root(results_dir), recipe.name)
    with pending:
        outcome = run_ope(recipe, pending.path, progress_step(quiet, verbose))
    if as_json:
        print(json.dumps({"run_dir": str(pending.final), **outcome}, indent=2))
        return
    if quiet:
        print(pending.final)  # scripts read the run directory from stdout
        return
    logs = outcome["manifest"]["logs"]
    err_console.print(
        f"[dim]{logs['name']}: {logs['rounds']:,} rounds, {logs['positions']} positions, "
        f"{logs['candidates']} candidates, {logs['contexts']} contexts; logging policy's own "
        f"value {logs['on_policy_value']:.4g}[/dim]",
        highlight=False,
    )
    title = f"{recipe.name}  ({pending.final})"
    for table in _tables(outcome, title, recipe.ope.confidence, console.width):
        console.print(table)
