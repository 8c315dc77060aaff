"""What differs between two runs: recipe keys (as `--set` key paths), dataset and split
fingerprints, and every metric's change with a paired t-test over users when the splits match
(Holm-corrected over every test of the diff; Holm 1979, Sakai 2014)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.errors import UserError

_MISSING = object()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{'models': [{'params': {'l2': 1}}]} -> {'models[0].params.l2': 1}: leaves by the key
    paths that `--set` takes. Empty tables and lists are leaves themselves."""
    if isinstance(value, dict) and value:
        items = ((f"{prefix}.{k}" if prefix else str(k), v) for k, v in value.items())
    elif isinstance(value, list) and value:
        items = ((f"{prefix}[{i}]", v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, child in items:
        flat.update(flatten(child, key))
    return flat


def recipe_changes(a: dict, b: dict) -> list[dict]:
    """Every key path whose value differs (or exists in one recipe only), in A's order then
    B's: {'key', 'a', 'b'}, with a missing side absent."""
    flat_a, flat_b = flatten(a), flatten(b)
    changes = []
    for key in dict.fromkeys([*flat_a, *flat_b]):
        left, right = flat_a.get(key, _MISSING), flat_b.get(key, _MISSING)
        if left != right or type(left) is not type(right):
            change = {"key": key}
            if left is not _MISSING:
                change["a"] = left
            if right is not _MISSING:
                change["b"] = right
            changes.append(change)
    return changes


@dataclass(frozen=True)
class MetricDelta:
    """One row x metric@k in both runs: means, B - A, and the paired test when there is one
    (`users` paired, p-value raw and Holm-adjusted)."""

    row: str
    metric: str
    a: float | None
    b: float | None
    users: int | None = None
    p_value: float | None = None
    p_adjusted: float | None = None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    def to_json(self) -> dict:
        return {
            "row": self.row,
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "users": self.users,
            "p_value": _finite(self.p_value),
            "p_adjusted": _finite(self.p_adjusted),
        }


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


def _means(run_dir: Path) -> dict[tuple[str, str], float | None]:
    """(row, metric@k) -> mean, in the run's order (see `catalog.read_summary`)."""
    from recsys_cli.results.catalog import read_summary

    return {
        (model, f"{metric}@{cutoff}"): mean
        for model, metric, cutoff, mean in read_summary(run_dir)
        .select("model", "metric", "cutoff", "mean")
        .iter_rows()
    }


def metric_deltas(a: Path, b: Path, paired: bool) -> list[MetricDelta]:
    """MetricDelta for every (row, metric@k) both runs hold, in A's order. With `paired` (same
    split fingerprint) each per-user metric gets a paired t-test over the users both runs
    evaluated (the same users for accuracy; beyond-accuracy metrics undefined for a user in
    either run leave that user out), Holm-adjusted over all tests of the diff."""
    import polars as pl

    from recsys_cli.evaluation.statistics import holm_adjust, paired_t_test
    from recsys_cli.results.readback import damaged_run_reported

    means_a, means_b = _means(a), _means(b)
    shared = [key for key in means_a if key in means_b]
    tests: dict[tuple[str, str], tuple[int, float]] = {}
    if paired and shared:
        keys = ["model", "metric", "cutoff", "user"]
        with damaged_run_reported(f"{a} {b}"):
            left = pl.read_parquet(a / "per_user.parquet")
            right = pl.read_parquet(b / "per_user.parquet")
        joined = left.join(right, on=keys, how="inner", suffix="_b").sort(keys)
        for (model, metric, cutoff), part in joined.group_by(
            ["model", "metric", "cutoff"], maintain_order=True
        ):
            key = (model, f"{metric}@{cutoff}")
            if key in means_a and key in means_b:
                x = part["value"].to_numpy().astype(np.float64)
                y = part["value_b"].to_numpy().astype(np.float64)
                tests[key] = (len(x), paired_t_test(x, y).p_value)
    tested = [key for key in shared if key in tests]
    adjusted = dict(zip(tested, holm_adjust([tests[k][1] for k in tested]), strict=True))
    return [
        MetricDelta(
            row,
            label,
            means_a[row, label],
            means_b[row, label],
            users=tests[row, label][0] if (row, label) in tests else None,
            p_value=tests[row, label][1] if (row, label) in tests else None,
            p_adjusted=float(adjusted[row, label]) if (row, label) in adjusted else None,
        )
        for row, label in shared
    ]


def diff_runs(a: Path, b: Path) -> dict:
    """The diff of two run directories (see the module docstring); refuses runs of different
    datasets, whose metrics do not compare."""
    from recsys_cli.config.loader import read_toml
    from recsys_cli.results.readback import read_manifest

    manifest_a, manifest_b = read_manifest(a), read_manifest(b)
    data_a, data_b = manifest_a["dataset"], manifest_b["dataset"]
    if data_a["checksum"] != data_b["checksum"]:
        raise UserError(
            f"{a} and {b} are runs of different datasets ({data_a.get('name')} "
            f"{data_a['checksum'][:19]}… vs {data_b.get('name')} {data_b['checksum'][:19]}…): "
            "their metrics do not compare"
        )
    same_split = manifest_a["split"]["fingerprint"] == manifest_b["split"]["fingerprint"]
    evaluated = all((p / "metrics.json").is_file() for p in (a, b))
    deltas = metric_deltas(a, b, same_split) if evaluated else []
    rows_a, rows_b = manifest_a["lists"], manifest_b["lists"]
    return {
        "a": str(a),
        "b": str(b),
        "recipe": recipe_changes(read_toml(a / "recipe.toml"), read_toml(b / "recipe.toml")),
        "dataset": {"same": True, "name": data_a.get("name"), "checksum": data_a["checksum"]},
        "split": {
            "same": same_split,
            "a": manifest_a["split"]["fingerprint"],
            "b": manifest_b["split"]["fingerprint"],
        },
        "evaluated": evaluated,
        "rows_only_in": {
            "a": [r for r in rows_a if r not in rows_b],
            "b": [r for r in rows_b if r not in rows_a],
        },
        "deltas": [d.to_json() for d in deltas],
    }
