"""`rank compare`: paired significance tests over users between models of one or more runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from recsys_cli.cli.common import console, err_console, parse_list, user_errors
from recsys_cli.errors import UserError

Format = Literal["table", "markdown", "latex", "csv", "json"]


def load_per_user(run_dirs: list[Path]):
    """Per-user values of evaluated runs sharing one split; model names get a run prefix when
    several runs are compared and names collide."""
    import polars as pl

    from recsys_cli.experiment import load_manifest
    from recsys_cli.results.store import open_run_dir

    frames, fingerprints = [], {}
    for run_dir in run_dirs:
        open_run_dir(run_dir)
        if not (run_dir / "per_user.parquet").is_file():
            raise UserError(f"{run_dir}: not evaluated yet; run `rank eval {run_dir}` first")
        fingerprints[run_dir] = load_manifest(run_dir)["split"]["fingerprint"]
        frames.append(
            pl.read_parquet(run_dir / "per_user.parquet").with_columns(
                pl.lit(run_dir.name).alias("run")
            )
        )
    first = run_dirs[0]
    for run_dir, fingerprint in fingerprints.items():
        if fingerprint != fingerprints[first]:
            raise UserError(
                f"{run_dir} and {first} have different split fingerprints "
                f"({fingerprint[:19]}… vs {fingerprints[first][:19]}…): paired tests need the "
                "same held-out users and items"
            )
    per_user = pl.concat(frames)
    models = per_user.select("run", "model").unique()
    if models["model"].n_unique() < models.height:
        per_user = per_user.with_columns((pl.col("run") + "/" + pl.col("model")).alias("model"))
    return per_user.drop("run")


def _defined_for_all(per_user):
    """Beyond-accuracy values can be undefined for some users (stored as absent rows): pair
    each such metric on the users every model has; accuracy metrics stay strict (a mismatch
    there means different test sets, which `compare` refuses)."""
    import polars as pl

    from recsys_cli.metrics import metric_kind

    n_models = per_user["model"].n_unique()
    keys = ["metric", "cutoff", "user"]
    beyond = pl.col("metric").map_elements(metric_kind, return_dtype=pl.Utf8) != "accuracy"
    counts = per_user.filter(beyond).group_by(keys).agg(pl.len().alias("_n"))
    partial = counts.filter(pl.col("_n") < n_models)
    if partial.is_empty():
        return per_user, {}
    dropped = {
        f"{m}@{k}": n
        for m, k, n in partial.group_by("metric", "cutoff")
        .agg(pl.len())
        .sort("metric", "cutoff")
        .rows()
    }
    return per_user.join(partial.select(keys), on=keys, how="anti"), dropped


@user_errors
def compare(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR", help="Evaluated run directories (same split)."),
    ],
    baseline: Annotated[
        str | None, typer.Option(help="Baseline model (default: the first).")
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated metric@k list, e.g. ndcg@10,recall@20 (default: all stored)."
        ),
    ] = None,
    correction: Annotated[
        str, typer.Option(help="holm, bh or none (across the whole table).")
    ] = "holm",
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap resampling.")] = 0,
    output: Annotated[
        str, typer.Option("--format", help="table, markdown, latex, csv or json.")
    ] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Paired t-test, Wilcoxon signed-rank and bootstrap CI of every model against a baseline."""
    from recsys_cli.evaluation.statistics import compare as paired_compare

    if correction not in ("holm", "bh", "none"):
        raise UserError(f"--correction: {correction!r} is not one of holm, bh, none")
    if output not in ("table", "markdown", "latex", "csv", "json"):
        raise UserError(f"--format: {output!r} is not one of table, markdown, latex, csv, json")
    per_user, dropped = _defined_for_all(load_per_user(run_dirs))
    for name, count in dropped.items():
        err_console.print(
            f"[dim]{name}: {count:,} users left out (the metric is undefined for them in some "
            "model, e.g. ILD of a list shorter than 2)[/dim]"
        )
    models = per_user["model"].unique(maintain_order=True).to_list()
    chosen = baseline or models[0]
    if chosen not in models:
        raise UserError(f"--baseline: no model {chosen!r}; the runs hold {', '.join(models)}")
    metrics = parse_list(metric, "--metric") or tuple(
        f"{m}@{k}"
        for m, k in per_user.select("metric", "cutoff").unique(maintain_order=True).rows()
    )
    report = paired_compare(
        per_user, chosen, list(metrics), correction=correction, alpha=alpha, seed=seed
    )
    if as_json or output == "json":
        print(json.dumps(report.to_dict(), indent=2))
    elif output == "table":
        console.print(report.to_rich_table())
    else:
        print(
            {"markdown": report.to_markdown, "latex": report.to_latex, "csv": report.to_csv}[
                output
            ]()
        )
