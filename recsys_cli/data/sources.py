"""Resolve a recipe's dataset section to a canonical `Dataset`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from recsys_cli.config.schema import DatasetConfig
from recsys_cli.data.dataset import Dataset, canonical_interactions, empty_items
from recsys_cli.data.embedded import EMBEDDED_NAME, load_recbole_ml100k, sha256_of
from recsys_cli.errors import DataError
from recsys_cli.progress import NO_PROGRESS, Progress


def load_dataset(
    config: DatasetConfig, data_dir: Path | None = None, progress: Progress = NO_PROGRESS
) -> Dataset:
    """A local file when `path` is set; ML-100K from the recbole wheel; a synthetic dataset made by
    `rank datasets synth`; else the dataset catalog (a download shown on `progress`)."""
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


def catalogue_bound(config: DatasetConfig, data_dir: Path | None = None) -> tuple[int, str] | None:
    """(at most how many items the dataset has, where that number comes from), known without
    reading its interactions in full: a synthetic dataset's generator settings, a catalog
    entry's published count, or the distinct ids of a local Parquet file's item column (that
    column alone); None for a local CSV file or a catalog entry without a published count."""
    if config.path is not None:
        path = Path(config.path)
        if path.suffix != ".parquet" or not path.is_file():
            return None
        try:
            column = pl.scan_parquet(path).select(pl.col(config.columns.item).n_unique())
            return int(column.collect().item()), f"{path} (distinct {config.columns.item!r})"
        except (pl.exceptions.PolarsError, OSError):
            return None  # read properly, with its one-line error, by load_local_file
    from recsys_cli.data import synthetic
    from recsys_cli.data.catalog import CATALOG
    from recsys_cli.data.store import resolve_data_dir

    if config.name != EMBEDDED_NAME:
        meta = synthetic.saved(resolve_data_dir(data_dir)).get(config.name)
        if meta is not None:
            return synthetic.spec_items(meta["spec"]), f"synthetic dataset {config.name!r}"
    entry = CATALOG.get(config.name)
    if entry is None or entry.expected.items is None:
        return None
    return entry.expected.items, f"{config.name} (published count)"


def read_table(path: Path, separator: str) -> pl.DataFrame:
    if path.is_dir():
        raise DataError(f"{path}: a folder, not a CSV or Parquet file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix != ".parquet" and len(separator.encode()) != 1:
        raise DataError(
            f"dataset.separator = {separator!r}: a CSV separator is one single-byte character, "
            "such as ',', ';' or '\\t'"
        )
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, separator=separator, infer_schema_length=10_000)
    except (pl.exceptions.PolarsError, OSError) as error:
        kind = "Parquet" if path.suffix == ".parquet" else f"CSV (separator {separator!r})"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot read as {kind}: {first}") from None


def _where(path: Path, column: pl.Series, key: str) -> str:
    return f"{path}: column {column.name!r} (dataset.columns.{key})"


def _first_bad(column: pl.Series, bad: pl.Series) -> str:
    """'-1.0 in data row 7 (3 such rows)': the first row where `bad` is true, and the count."""
    row = int(bad.arg_true()[0])
    count = int(bad.sum())
    return f"{column[row]!r} in data row {row + 1} ({count:,} such row{'s' * (count > 1)})"


def _ids(column: pl.Series, path: Path, key: str) -> pl.Series:
    """User or item ids as strings or integers; missing ones (null, NaN, blank text) become null.

    Whole-number floats are integer ids (pandas writes an integer column with a missing value as
    floats); any other type (lists, fractional or infinite numbers, booleans, dates) is an error.
    """
    if column.dtype in (pl.Categorical, pl.Null) or isinstance(column.dtype, pl.Enum):
        column = column.cast(pl.Utf8)
    if column.dtype == pl.Utf8:
        return column.set(column.str.strip_chars() == "", None)
    if column.dtype.is_float():
        column = column.fill_nan(None)
        odd = (~column.is_finite() | (column != column.floor())).fill_null(False)
        as_int = column.cast(pl.Int64, strict=False)
        odd |= (as_int.is_null() & column.is_not_null()).fill_null(False)
        if odd.any():
            raise DataError(
                f"{_where(path, column, key)}: {_first_bad(column, odd)}: ids are strings or "
                "integers, not fractional, infinite or huge numbers"
            )
        return as_int
    if column.dtype.is_integer():
        return column
    raise DataError(
        f"{_where(path, column, key)} holds {column.dtype} values; ids are strings or integers"
    )


def _weights(column: pl.Series, path: Path, keep: pl.Series) -> pl.Series:
    """Weights as Float64; a missing, NaN, infinite or negative one in a kept row is an error: a
    weight is a rating or a count, and any of these would silently become a positive (binarize)
    or a zero metric."""
    if not column.dtype.is_numeric():
        raise DataError(
            f"{_where(path, column, 'weight')} is {column.dtype}, expected numbers (ratings, "
            "play counts)"
        )
    weights = column.cast(pl.Float64)
    bad = (~weights.is_finite() | (weights < 0)).fill_null(True) & keep
    if bad.any():
        raise DataError(
            f"{_where(path, column, 'weight')}: {_first_bad(weights, bad)}: a weight is a rating "
            "or a count >= 0 (missing, NaN, infinite and negative ones are refused)"
        )
    return weights


def _as_epoch_seconds(column: pl.Series, path: Path, key: str, keep: pl.Series) -> pl.Series:
    """Integer seconds as they are; dates and date-times (typed or ISO text) to epoch seconds.

    A missing (null or NaN) time stays missing; fractional seconds are truncated; a time beyond
    the signed 64-bit range of seconds or an infinite one in a kept row is an error."""
    if column.dtype == pl.Utf8:
        parsed = column.str.to_datetime(strict=False, time_zone="UTC")
        bad = parsed.is_null() & column.is_not_null() & keep
        if bad.any():
            raise DataError(
                f"{_where(path, column, key)}: {_first_bad(column, bad)}: neither seconds since "
                "the epoch nor an ISO date"
            )
        column = parsed
    if column.dtype == pl.Date:
        column = column.cast(pl.Datetime("ms", "UTC"))
    if isinstance(column.dtype, pl.Datetime):
        return column.dt.epoch("s")
    if not column.dtype.is_numeric():
        raise DataError(f"{_where(path, column, key)} is {column.dtype}, not a time")
    if column.dtype.is_float():
        column = column.fill_nan(None)
    seconds = column.cast(pl.Int64, strict=False)
    bad = seconds.is_null() & column.is_not_null() & keep
    if bad.any():
        raise DataError(
            f"{_where(path, column, key)}: {_first_bad(column, bad)}: beyond the 64-bit range of "
            "seconds since the epoch"
        )
    return seconds


def load_local_file(config: DatasetConfig) -> Dataset:
    """A CSV/Parquet interactions file with the recipe's column mapping (and optional items file).

    Rows without a user or item id (null, NaN or blank) are dropped and counted in the run
    report; bad weights, times and id types are errors (see `_ids`, `_weights`)."""
    path = Path(config.path)
    frame = read_table(path, config.separator)
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
    users = _ids(frame[mapping.user], path, "user")
    item_ids = _ids(frame[mapping.item], path, "item")
    no_user, no_item = users.is_null(), item_ids.is_null()
    keep = ~(no_user | no_item)
    if not keep.any():
        raise DataError(f"{path}: no row has both a user id and an item id")
    notes = {
        "source_rows_without_user_id": int(no_user.sum()),
        "source_rows_without_item_id": int((no_item & ~no_user).sum()),
    }
    interactions = pl.DataFrame(
        {
            "user": users,
            "item": item_ids,
            "timestamp": _as_epoch_seconds(frame[mapping.timestamp], path, "timestamp", keep)
            if mapping.timestamp
            else pl.Series([None] * frame.height, dtype=pl.Int64),
            "weight": _weights(frame[mapping.weight], path, keep)
            if mapping.weight
            else pl.Series([1.0] * frame.height),
        }
    ).filter(keep)
    digests = [sha256_of(path)]
    if config.items_path:
        items = _items_table(Path(config.items_path), config, interactions["item"].dtype, notes)
        digests.append(sha256_of(Path(config.items_path)))
    else:
        items = empty_items(interactions["item"])
    return Dataset(
        name=config.name,
        interactions=canonical_interactions(interactions),
        items=items,
        checksum="sha256:" + hashlib.sha256("".join(digests).encode()).hexdigest(),
        source=str(path),
        notes={k: v for k, v in notes.items() if v},
    )


def _items_table(
    path: Path, config: DatasetConfig, id_type: pl.DataType, notes: dict
) -> pl.DataFrame:
    """The items file: one row per item id (the interactions' id type); rows without an id are
    dropped and counted, a repeated id is an error (its metadata would be ambiguous)."""
    items = read_table(path, config.separator)
    column = config.columns.item if config.columns.item in items.columns else "item"
    if column not in items.columns:
        raise DataError(f"{path}: needs an {config.columns.item!r} or 'item' column")
    ids = _ids(items[column], path, "item")
    if ids.dtype != id_type:
        cast = ids.cast(id_type, strict=False)
        if (cast.is_null() & ids.is_not_null()).any():
            raise DataError(
                f"{path}: item ids are {ids.dtype}, the interactions' are {id_type}; they must "
                "be the same ids"
            )
        ids = cast
    items = items.with_columns(ids.alias(column)).rename({column: "item"}).filter(ids.is_not_null())
    notes["items_rows_without_id"] = int(ids.null_count())
    repeated = items["item"].is_duplicated()
    if repeated.any():
        first = items["item"].filter(repeated)[0]
        raise DataError(
            f"{path}: item {first!r} has {int((items['item'] == first).sum())} rows; give each "
            "item one row"
        )
    return items
