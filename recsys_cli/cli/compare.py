"""`rank compare`: paired significance tests over users between models of one or more runs."""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer

from recsys_cli.cli.common import console, err_console, parse_list, progress_step, user_errors
from recsys_cli.errors import UserError

Format = Literal["table", "markdown", "latex", "csv", "json"]
EVALS_DIR = "evals"  # where `rank eval` puts a re-evaluation of an evaluated run


@dataclass(frozen=True)
class Source:
    """One argument of `rank compare`: an evaluated run, or one of its re-evaluations
    (RUN/evals/<x>/, which holds per_user.parquet and metrics.json but takes the run's split)."""

    path: Path
    run: Path

    @property
    def is_eval(self) -> bool:
        return self.path != self.run


def _source(path: Path) -> Source:
    from recsys_cli.results.store import RUN_TABLES, check_parquet, open_run_dir

    if path.parent.name == EVALS_DIR and (path / "metrics.json").is_file():
        per_user = path / "per_user.parquet"
        check_parquet(per_user, RUN_TABLES[per_user.name])
        return Source(path, open_run_dir(path.parent.parent))
    return Source(open_run_dir(path, evaluated=True), path)


def _labels(frame) -> list[str]:
    import polars as pl

    return (
        frame.select(pl.format("{}@{}", "metric", "cutoff").alias("label"))
        .unique(maintain_order=True)["label"]
        .to_list()
    )


def _short(labels: list[str]) -> str:
    """['ndcg@10', 'ndcg@20', 'ild@10'] -> 'ndcg@10,20, ild@10'."""
    cutoffs: dict[str, list[str]] = {}
    for label in labels:
        name, _, cutoff = label.rpartition("@")
        cutoffs.setdefault(name, []).append(cutoff)
    return ", ".join(f"{name}@{','.join(ks)}" for name, ks in cutoffs.items()) or "nothing"


def _read(source: Source, wanted: tuple[str, ...] | None):
    """Per-user values of `source` for the `wanted` metric@k labels (None: all it stores). A
    label missing from a run's own evaluation is taken from its newest re-evaluation holding it."""
    import polars as pl

    def scan(folder: Path, labels):
        frame = pl.scan_parquet(folder / "per_user.parquet")
        if labels is not None:
            frame = frame.filter(pl.format("{}@{}", "metric", "cutoff").is_in(list(labels)))
        return frame.collect()

    own = scan(source.path, wanted)
    if wanted is None:
        return own
    missing = [label for label in wanted if label not in set(_labels(own))]
    frames = [own]
    evals = sorted(
        (p for p in (source.run / EVALS_DIR).glob("*") if (p / "metrics.json").is_file()),
        reverse=True,  # names start with a UTC timestamp: newest first
    )
    for folder in evals if missing and not source.is_eval else []:
        found = scan(folder, missing)
        if not found.is_empty():
            taken = _labels(found)
            err_console.print(
                f"{', '.join(taken)}: from {folder}",
                style="dim",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            frames.append(found)
            missing = [label for label in missing if label not in taken]
    if missing:
        held = [
            f"{EVALS_DIR}/{folder.name}: {_short(_labels(scan(folder, None)))}" for folder in evals
        ]
        names = dict.fromkeys(label.rpartition("@")[0] for label in missing)
        cutoffs = dict.fromkeys(label.rpartition("@")[2] for label in missing)
        raise UserError(
            f"{source.path}: no per-user values for {', '.join(missing)} (it holds "
            f"{_short(_labels(scan(source.path, None)))}"
            + "".join(f"; {entry}" for entry in ([] if source.is_eval else held))
            + f"); evaluate them with: rank eval {source.run} --cutoffs {','.join(cutoffs)} "
            f"--metrics {','.join(names)}"
        )
    return pl.concat(frames)


def load_per_user(paths: list[Path], metrics: tuple[str, ...] | None = None):
    """Per-user values of evaluated runs (or re-evaluations) sharing one split, and the run
    letters: with several sources every model is labelled `A:EASE`, `B:EASE`, ... and the
    second value maps each letter to its directory (empty for one source)."""
    import polars as pl

    from recsys_cli.experiment import load_manifest
    from recsys_cli.metrics import CATALOGUE_LEVEL, split_metric

    for label in metrics or ():
        name = label.rpartition("@")[0]
        if split_metric(name)[0] in CATALOGUE_LEVEL:
            raise UserError(
                f"--metric: {label} is one value per model (catalogue level): there are no "
                "per-user values to pair"
            )
    if len(paths) > len(string.ascii_uppercase):
        raise UserError(f"compare at most {len(string.ascii_uppercase)} runs at once")
    sources = [_source(path) for path in paths]
    fingerprints = {s.path: load_manifest(s.run)["split"]["fingerprint"] for s in sources}
    first = sources[0].path
    for path, fingerprint in fingerprints.items():
        if fingerprint != fingerprints[first]:
            raise UserError(
                f"{path} and {first} have different split fingerprints "
                f"({fingerprint[:19]}… vs {fingerprints[first][:19]}…): paired tests need the "
                "same held-out users and items"
            )
    frames = [_read(source, metrics) for source in sources]
    if len(sources) == 1:
        return frames[0], {}
    letters = dict(zip(string.ascii_uppercase, (s.path for s in sources), strict=False))
    return pl.concat(
        [
            frame.with_columns((pl.lit(f"{letter}:") + pl.col("model")).alias("model"))
            for letter, frame in zip(letters, frames, strict=True)
        ]
    ), letters


def resolve_baseline(baseline: str | None, models: list[str]) -> str:
    """The baseline's row label: an exact label, or a model name found in exactly one run
    (`EASE` -> `A:EASE`); default the first model."""
    if baseline is None:
        return models[0]
    if baseline in models:
        return baseline
    matches = [m for m in models if m.partition(":")[2] == baseline]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(
            f"--baseline: {baseline!r} is in several runs; name one of {', '.join(matches)}"
        )
    raise UserError(f"--baseline: no model {baseline!r}; the runs hold {', '.join(models)}")


def left_out_lines(left_out: dict[str, tuple[int, dict[str, int]]]) -> list[str]:
    """One line per metric@k that lost users to pairing: how many, where and why."""
    from recsys_cli.metrics import UNDEFINED_WHEN, split_metric

    lines = []
    for label, (users, lacking) in left_out.items():
        base = split_metric(label.rpartition("@")[0])[0]
        where = ", ".join(f"{model} ({n:,})" for model, n in lacking.items())
        lines.append(
            f"{label}: {users:,} users left out of the paired tests, having no value in {where}"
            f" ({base} is undefined when {UNDEFINED_WHEN.get(base, 'the list is empty')})"
        )
    return lines


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
    from recsys_cli.evaluation.statistics import compare as paired_compare
    from recsys_cli.evaluation.statistics import pair_on_shared_users
    from recsys_cli.results.store import damaged_run_reported

    if correction not in ("holm", "bh", "none"):
        raise UserError(f"--correction: {correction!r} is not one of holm, bh, none")
    if not 0.0 < alpha < 1.0:
        raise UserError(f"--alpha: a significance level is between 0 and 1, got {alpha}")
    if seed < 0:
        raise UserError(f"--seed: seeds are >= 0, got {seed}")
    if output not in ("table", "markdown", "latex", "csv", "json"):
        raise UserError(f"--format: {output!r} is not one of table, markdown, latex, csv, json")
    step = progress_step(quiet, verbose)
    wanted = parse_list(metric, "--metric")
    with damaged_run_reported(" ".join(map(str, run_dirs))):
        per_user, runs = load_per_user(run_dirs, wanted)
    per_user, left_out = pair_on_shared_users(per_user)
    for line in left_out_lines(left_out):
        err_console.print(line, style="dim", highlight=False, markup=False)
    models = per_user["model"].unique(maintain_order=True).to_list()
    if not models:
        raise UserError(f"{run_dirs[0]}: no per-user values stored (only catalogue-level metrics)")
    chosen = resolve_baseline(baseline, models)
    with step(f"paired tests against {chosen}") as progress:
        report = paired_compare(
            per_user,
            chosen,
            list(wanted or _labels(per_user)),
            correction,
            alpha=alpha,
            seed=seed,
            progress=progress,
        )
    legend = [f"{letter}: {path}" for letter, path in runs.items()]
    if as_json or output == "json":
        print(
            json.dumps({**report.to_dict(), "runs": {k: str(v) for k, v in runs.items()}}, indent=2)
        )
    elif output == "table":
        for line in legend:
            console.print(line, highlight=False, markup=False)
        console.print(report.to_rich(console.width))
    elif output == "csv":
        for line in legend:
            err_console.print(line, highlight=False, markup=False)
        print(report.to_csv(), end="")
    elif output == "latex":
        print(report.to_latex() + "".join(f"% {line}\n" for line in legend), end="")
    else:
        print(report.to_markdown() + "".join(f"\n{line}" for line in legend))
