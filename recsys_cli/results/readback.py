"""Reading a run back: its files checked for completeness, keys and columns before use."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from recsys_cli.errors import UserError
from recsys_cli.results.atomic import TEMP_PREFIX

REQUIRED_FILES = ("recipe.toml", "manifest.json", "test.parquet", "recommendations.parquet")
# Columns each stored table must have for `rank eval`, `rank compare` and slices to read it.
RUN_TABLES = {
    "test.parquet": ("user", "item", "status"),
    "recommendations.parquet": ("model", "user", "rank", "item"),
    "per_user.parquet": ("model", "user", "metric", "cutoff", "value"),
    "users.parquet": ("user", "train_interactions"),
    "items.parquet": ("item", "train_users"),
}
# manifest.json keys that are read back, with their JSON types (a.b: key b of table a).
MANIFEST_KEYS = {
    "recipe": str,
    "dataset": dict,
    "dataset.checksum": str,
    "split": dict,
    "split.fingerprint": str,
    "lists": list,
    "list_depth": int,
    "counts": dict,
    **{
        f"counts.{key}": int
        for key in (
            "interactions",
            "users",
            "items",
            "dataset_interactions",
            "evaluated_users",
            "pairs_evaluated",
            "cold_users_excluded",
            "pairs_cold_user",
            "fit_interactions",
            "pairs_seen_in_input",
            "pairs_on_items_unseen_in_training",
        )
    },
    "counts.kind": str,
    "counts.evaluated_part": str,
}
DAMAGED = "the run directory is damaged (half-copied or edited?): run it again"


def open_run_dir(path: Path, evaluated: bool = False) -> Path:
    """Check that `path` is a complete trained run (and `evaluated`, when asked) whose files can
    be read back: manifest.json with its keys, a valid recipe.toml, and Parquet tables with their
    columns (each seed's sub-run too); one line naming the file and the problem otherwise."""
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    if path.name.startswith(TEMP_PREFIX):
        raise UserError(f"{path}: an unfinished run (interrupted or crashed); run it again")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise UserError(f"{path}: not a complete run directory (missing {', '.join(missing)})")
    if evaluated and not (path / "per_user.parquet").is_file():
        raise UserError(f"{path}: not evaluated yet; run `rank eval {path}` first")
    manifest = read_manifest(path)
    read_run_recipe(path)
    for name, columns in RUN_TABLES.items():
        if (path / name).is_file():
            check_parquet(path / name, columns)
    for seed in manifest.get("seeds", ()):
        open_run_dir(path / "seeds" / f"seed-{seed}", evaluated)
    return path


def read_json(path: Path) -> Any:
    """A JSON file; unreadable or invalid JSON is one line naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not readable as JSON ({error}); {DAMAGED}") from None


def read_manifest(run_dir: Path) -> dict:
    """manifest.json of a run, checked for the keys and types that are read back (MANIFEST_KEYS;
    `seeds`, when present, a list of seeds)."""
    path = run_dir / "manifest.json"
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(manifest).__name__}; {DAMAGED}")
    for key, kind in MANIFEST_KEYS.items():
        parent, _, last = key.rpartition(".")
        value = manifest.get(parent, {}).get(last) if parent else manifest.get(last)
        if not isinstance(value, kind) or isinstance(value, bool):
            problem = "missing" if value is None else f"{type(value).__name__}, not {kind.__name__}"
            raise UserError(f"{path}: {key} is {problem}; {DAMAGED}")
    seeds = manifest.get("seeds", [])
    if not isinstance(seeds, list) or not all(type(s) is int and s >= 0 for s in seeds):
        raise UserError(f"{path}: seeds is not a list of seeds; {DAMAGED}")
    if not all(isinstance(label, str) for label in manifest["lists"]):
        raise UserError(f"{path}: lists is not a list of row labels; {DAMAGED}")
    return manifest


def read_run_recipe(run_dir: Path):
    """The resolved recipe.toml of a run, validated into a `Recipe` (errors name the file)."""
    from recsys_cli.config.loader import read_toml, recipe_from_dict
    from recsys_cli.errors import RecipeError

    path = run_dir / "recipe.toml"
    try:
        return recipe_from_dict(read_toml(path))
    except RecipeError as error:
        if error.source is not None:
            raise
        raise RecipeError(
            error.path, str(error).removeprefix(f"{error.path}: "), str(path)
        ) from None


def check_parquet(path: Path, columns: tuple[str, ...]) -> None:
    """A stored table whose footer and schema can be read, holding `columns` (a truncated,
    empty or foreign file fails here, before any work)."""
    try:
        schema = pl.read_parquet_schema(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise UserError(
            f"{path}: not a readable Parquet file ({_first_line(error)}); {DAMAGED}"
        ) from None
    missing = [c for c in columns if c not in schema]
    if missing:
        raise UserError(f"{path}: lacks the column(s) {', '.join(missing)}; {DAMAGED}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def damaged_run_reported(run_dir: Path | str) -> Iterator[None]:
    """Reading a run's tables: a Parquet file damaged inside (its footer intact, so
    `check_parquet` passed) is one line naming the run(s), not a polars traceback."""
    try:
        yield
    except pl.exceptions.PolarsError as error:
        if "out of specification" not in str(error) and not str(error).startswith("parquet"):
            raise
        raise UserError(
            f"{run_dir}: a stored Parquet file is damaged ({_first_line(error)}); {DAMAGED}"
        ) from None
