"""Resolve a recipe's dataset section to a canonical `Dataset`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from recsys_cli.config.schema import DatasetConfig
from recsys_cli.data.dataset import Dataset, canonical_interactions, empty_items
from recsys_cli.data.embedded import EMBEDDED_NAME, load_recbole_ml100k, sha256_of
from recsys_cli.errors import DataError


def load_dataset(
    config: DatasetConfig, data_dir: Path | None = None, progress: bool = True
) -> Dataset:
    """A local file when `path` is set; ML-100K from the recbole wheel; a synthetic dataset made by
    `rank datasets synth`; else the dataset catalog."""
    if config.path is not None:
        return load_local_file(config)
    if config.name == EMBEDDED_NAME:
        return load_recbole_ml100k()
    from recsys_cli.data import synthetic
    from recsys_cli.data.store import load_catalog_dataset, resolve_data_dir

    generated = synthetic.load(resolve_data_dir(data_dir), config.name)
    if generated is not None:
        return generated
    return load_catalog_dataset(config.name, data_dir, progress=progress)


def _read_table(path: Path, separator: str) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, separator=separator, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError) as error:
        kind = "Parquet" if path.suffix == ".parquet" else f"CSV (separator {separator!r})"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot read as {kind}: {first}") from None


def _as_epoch_seconds(column: pl.Series, path: Path, key: str) -> pl.Series:
    """Integer seconds as they are; dates and date-times (typed or ISO text) to epoch seconds."""
    if column.dtype == pl.Utf8:
        parsed = column.str.to_datetime(strict=False, time_zone="UTC")
        if parsed.null_count() > column.null_count():
            bad = column.filter(parsed.is_null() & column.is_not_null())[0]
            raise DataError(
                f"{path}: column {column.name!r} (dataset.columns.{key}) holds {bad!r}, neither "
                "seconds since the epoch nor an ISO date"
            )
        column = parsed
    if column.dtype == pl.Date:
        column = column.cast(pl.Datetime("ms", "UTC"))
    if isinstance(column.dtype, pl.Datetime):
        return column.dt.epoch("s")
    if not column.dtype.is_numeric():
        raise DataError(
            f"{path}: column {column.name!r} (dataset.columns.{key}) is {column.dtype}, not a time"
        )
    return column.cast(pl.Int64)


def load_local_file(config: DatasetConfig) -> Dataset:
    """A CSV/Parquet interactions file with the recipe's column mapping (and optional items file)."""
    path = Path(config.path)
    frame = _read_table(path, config.separator)
    mapping = config.columns
    wanted = {"user": mapping.user, "item": mapping.item}
    wanted.update(
        {k: v for k, v in (("timestamp", mapping.timestamp), ("weight", mapping.weight)) if v}
    )
    for key, column in wanted.items():
        if column not in frame.columns:
            raise DataError(
                f"{path}: column {column!r} (dataset.columns.{key}) not found; "
                f"columns are {', '.join(frame.columns)}"
            )
    if mapping.weight and not frame[mapping.weight].dtype.is_numeric():
        raise DataError(
            f"{path}: column {mapping.weight!r} (dataset.columns.weight) is "
            f"{frame[mapping.weight].dtype}, expected numbers (ratings, play counts)"
        )
    interactions = frame.select(
        pl.col(mapping.user).alias("user"),
        pl.col(mapping.item).alias("item"),
        (
            pl.lit(_as_epoch_seconds(frame[mapping.timestamp], path, "timestamp"))
            if mapping.timestamp
            else pl.lit(None)
        ).alias("timestamp"),
        (pl.col(mapping.weight) if mapping.weight else pl.lit(1.0)).alias("weight"),
    )
    digests = [sha256_of(path)]
    if config.items_path:
        items_path = Path(config.items_path)
        items = _read_table(items_path, config.separator)
        if mapping.item not in items.columns and "item" not in items.columns:
            raise DataError(f"{items_path}: needs an {mapping.item!r} or 'item' column")
        items = items.rename({mapping.item: "item"}) if mapping.item in items.columns else items
        digests.append(sha256_of(items_path))
    else:
        items = empty_items(interactions["item"])
    return Dataset(
        name=config.name,
        interactions=canonical_interactions(interactions),
        items=items,
        checksum="sha256:" + hashlib.sha256("".join(digests).encode()).hexdigest(),
        source=str(path),
    )
