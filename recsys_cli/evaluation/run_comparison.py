"""The per-user values `rank compare` pairs: evaluated runs (or their re-evaluations) sharing one
split, labelled by run, a metric a run lacks taken from its newest re-evaluation holding it, and
the users every model has a value for."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recsys_cli.errors import UserError

if TYPE_CHECKING:
    import polars as pl

EVALS_DIR = "evals"  # where `rank eval` puts a re-evaluation of an evaluated run


def _ignore(_: str) -> None:
    pass


@dataclass(frozen=True)
class Source:
    """One argument of `rank compare`: an evaluated run, or one of its re-evaluations
    (RUN/evals/<x>/, which holds per_user.parquet and metrics.json but takes the run's split)."""

    path: Path
    run: Path

    @property
    def is_eval(self) -> bool:
        return self.path != self.run


@dataclass(frozen=True)
class PairedRuns:
    """Per-user values ready to pair: `runs` maps each letter to its directory (empty for one
    source); `left_out`: per metric@k that lost users to pairing, see `pair_on_shared_users`."""

    per_user: pl.DataFrame
    runs: dict[str, Path]
    left_out: dict[str, tuple[int, dict[str, int]]]

    @property
    def models(self) -> list[str]:
        return self.per_user["model"].unique(maintain_order=True).to_list()


def _source(path: Path) -> Source:
    from recsys_cli.results.readback import RUN_TABLES, check_parquet, open_run_dir

    if path.parent.name == EVALS_DIR and (path / "metrics.json").is_file():
        per_user = path / "per_user.parquet"
        check_parquet(per_user, RUN_TABLES[per_user.name])
        return Source(path, open_run_dir(path.parent.parent))
    return Source(open_run_dir(path, evaluated=True), path)


def metric_labels(frame: pl.DataFrame) -> list[str]:
    """The metric@k labels of a per-user table, in order of appearance."""
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


def _read(source: Source, wanted: tuple[str, ...] | None, note: Callable[[str], None]):
    """Per-user values of `source` for the `wanted` metric@k labels (None: all it stores). A
    label missing from a run's own evaluation is taken from its newest re-evaluation holding it
    (and `note` says where from)."""
    import polars as pl

    def scan(folder: Path, labels):
        frame = pl.scan_parquet(folder / "per_user.parquet")
        if labels is not None:
            frame = frame.filter(pl.format("{}@{}", "metric", "cutoff").is_in(list(labels)))
        return frame.collect()

    own = scan(source.path, wanted)
    if wanted is None:
        return own
    missing = [label for label in wanted if label not in set(metric_labels(own))]
    frames = [own]
    evals = sorted(
        (p for p in (source.run / EVALS_DIR).glob("*") if (p / "metrics.json").is_file()),
        reverse=True,  # names start with a UTC timestamp: newest first
    )
    for folder in evals if missing and not source.is_eval else []:
        found = scan(folder, missing)
        if not found.is_empty():
            taken = metric_labels(found)
            note(f"{', '.join(taken)}: from {folder}")
            frames.append(found)
            missing = [label for label in missing if label not in taken]
    if missing:
        held = [
            f"{EVALS_DIR}/{folder.name}: {_short(metric_labels(scan(folder, None)))}"
            for folder in evals
        ]
        names = dict.fromkeys(label.rpartition("@")[0] for label in missing)
        cutoffs = dict.fromkeys(label.rpartition("@")[2] for label in missing)
        raise UserError(
            f"{source.path}: no per-user values for {', '.join(missing)} (it holds "
            f"{_short(metric_labels(scan(source.path, None)))}"
            + "".join(f"; {entry}" for entry in ([] if source.is_eval else held))
            + f"); evaluate them with: rank eval {source.run} --cutoffs {','.join(cutoffs)} "
            f"--metrics {','.join(names)}"
        )
    return pl.concat(frames)


def load_per_user(
    paths: list[Path],
    metrics: tuple[str, ...] | None = None,
    note: Callable[[str], None] = _ignore,
):
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
    frames = [_read(source, metrics, note) for source in sources]
    if len(sources) == 1:
        return frames[0], {}
    letters = dict(zip(string.ascii_uppercase, (s.path for s in sources), strict=False))
    return pl.concat(
        [
            frame.with_columns((pl.lit(f"{letter}:") + pl.col("model")).alias("model"))
            for letter, frame in zip(letters, frames, strict=True)
        ]
    ), letters


def load_paired(
    paths: list[Path],
    metrics: tuple[str, ...] | None = None,
    note: Callable[[str], None] = _ignore,
) -> PairedRuns:
    """`load_per_user`, then only the users every model has a value for, per metric@k
    (`pair_on_shared_users`); refuses runs without per-user values."""
    from recsys_cli.evaluation.comparison import pair_on_shared_users

    per_user, runs = load_per_user(paths, metrics, note)
    paired, left_out = pair_on_shared_users(per_user)
    if paired.is_empty():
        raise UserError(f"{paths[0]}: no per-user values stored (only catalogue-level metrics)")
    return PairedRuns(paired, runs, left_out)


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
