"""A recipe's own interactions file (CSV or Parquet): checked in one streaming pass over the
mapped columns (nothing else of the file is ever read), then handed on as a scan of them (a
Parquet file) or as those columns read (a CSV file, parsed once).

Rows without a user or item id (null, NaN or blank) are dropped and counted in the run report;
bad weights, times and id types are errors naming the first bad data row (see `_ids`,
`_weights`, `_seconds`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recsys_cli.config.schema import DatasetConfig
from recsys_cli.data.dataset import Dataset
from recsys_cli.data.embedded import sha256_of
from recsys_cli.errors import DataError


def _check_path(path: Path, separator: str) -> None:
    if path.is_dir():
        raise DataError(f"{path}: a folder, not a CSV or Parquet file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix != ".parquet" and len(separator.encode()) != 1:
        raise DataError(
            f"dataset.separator = {separator!r}: a CSV separator is one single-byte character, "
            "such as ',', ';' or '\\t'"
        )


@contextlib.contextmanager
def _reading(path: Path, separator: str) -> Iterator[None]:
    """Turn a polars or OS error while reading `path` into one line naming the format."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError) as error:
        kind = "Parquet" if path.suffix == ".parquet" else f"CSV (separator {separator!r})"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: cannot read as {kind}: {first}") from None


def read_table(path: Path, separator: str) -> pl.DataFrame:
    """A whole CSV or Parquet table (items files, logs), with one-line errors."""
    _check_path(path, separator)
    with _reading(path, separator):
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, separator=separator, infer_schema_length=10_000)


def scan_table(path: Path, separator: str) -> tuple[pl.LazyFrame, pl.Schema]:
    """(a scan of a CSV or Parquet table, its schema), with the errors of `read_table`."""
    _check_path(path, separator)
    with _reading(path, separator):
        if path.suffix == ".parquet":
            scan = pl.scan_parquet(path)
        else:
            scan = pl.scan_csv(path, separator=separator, infer_schema_length=10_000)
        return scan, scan.collect_schema()


@dataclass(frozen=True)
class _Rule:
    """Rows where `bad` holds break the rule: the error shows `shown` of the first of them."""

    where: str  # "<file>: column 'x' (dataset.columns.key)"
    bad: pl.Expr
    shown: pl.Expr
    why: str


def _where(path: Path, column: str, key: str) -> str:
    return f"{path}: column {column!r} (dataset.columns.{key})"


def _ids(column: str, dtype: pl.DataType, where: str) -> tuple[pl.Expr, list[_Rule]]:
    """User or item ids as strings or integers; missing ones (null, NaN, blank text) become null.

    Whole-number floats are integer ids (pandas writes an integer column with a missing value as
    floats); any other type (lists, fractional or infinite numbers, booleans, dates) is an error.
    """
    ids = pl.col(column)
    if dtype in (pl.Categorical, pl.Null) or isinstance(dtype, pl.Enum):
        ids, dtype = ids.cast(pl.Utf8), pl.Utf8
    if dtype == pl.Utf8:
        return pl.when(ids.str.strip_chars() == "").then(None).otherwise(ids), []
    if dtype.is_float():
        ids = ids.fill_nan(None)
        as_int = ids.cast(pl.Int64, strict=False)
        odd = (~ids.is_finite() | (ids != ids.floor())).fill_null(False)
        odd = odd | (as_int.is_null() & ids.is_not_null()).fill_null(False)
        why = "ids are strings or integers, not fractional, infinite or huge numbers"
        return as_int, [_Rule(where, odd, ids, why)]
    if dtype.is_integer():
        return ids, []
    raise DataError(f"{where} holds {dtype} values; ids are strings or integers")


def _weights(column: str, dtype: pl.DataType, where: str, keep: pl.Expr) -> tuple[pl.Expr, _Rule]:
    """Weights as Float64; a missing, NaN, infinite or negative one in a kept row is an error: a
    weight is a rating or a count, and any of these would silently become a positive (binarize)
    or a zero metric."""
    if not dtype.is_numeric():
        raise DataError(f"{where} is {dtype}, expected numbers (ratings, play counts)")
    weights = pl.col(column).cast(pl.Float64)
    bad = (~weights.is_finite() | (weights < 0)).fill_null(True) & keep
    why = "a weight is a rating or a count >= 0 (missing, NaN, infinite and negative ones are refused)"
    return weights, _Rule(where, bad, weights, why)


def _seconds(
    column: str, dtype: pl.DataType, where: str, keep: pl.Expr
) -> tuple[pl.Expr, list[_Rule]]:
    """Integer seconds as they are; dates and date-times (typed or ISO text) to epoch seconds.

    A missing (null or NaN) time stays missing; fractional seconds are truncated; a time beyond
    the signed 64-bit range of seconds or an infinite one in a kept row is an error."""
    times = pl.col(column)
    if dtype == pl.Utf8:
        parsed = times.str.to_datetime(strict=False, time_zone="UTC")
        bad = parsed.is_null() & times.is_not_null() & keep
        why = "neither seconds since the epoch nor an ISO date"
        return parsed.dt.epoch("s"), [_Rule(where, bad, times, why)]
    if dtype == pl.Date:
        return times.cast(pl.Datetime("ms", "UTC")).dt.epoch("s"), []
    if isinstance(dtype, pl.Datetime):
        return times.dt.epoch("s"), []
    if not dtype.is_numeric():
        raise DataError(f"{where} is {dtype}, not a time")
    if dtype.is_float():
        times = times.fill_nan(None)
    seconds = times.cast(pl.Int64, strict=False)
    bad = seconds.is_null() & times.is_not_null() & keep
    why = "beyond the 64-bit range of seconds since the epoch"
    return seconds, [_Rule(where, bad, times, why)]


def _evaluate(
    scan: pl.LazyFrame, rules: list[_Rule], counts: dict[str, pl.Expr]
) -> tuple[list[str | None], dict[str, int]]:
    """One streaming pass over `scan`: each rule's error line, '<where>: <value> in data row N
    (k such rows): <why>' for its first bad row (None where no row breaks it), and each count."""
    row = pl.col("_row")
    found = []
    for n, rule in enumerate(rules):
        found += [
            rule.bad.sum().alias(f"bad{n}"),
            row.filter(rule.bad).first().alias(f"row{n}"),
            rule.shown.filter(rule.bad).first().alias(f"shown{n}"),
        ]
    found += [expr.sum().alias(name) for name, expr in counts.items()]
    if not found:
        return [], {}
    result = (
        scan.with_row_index("_row").select(found).collect(engine="streaming").row(0, named=True)
    )
    errors: list[str | None] = []
    for n, rule in enumerate(rules):
        count = int(result[f"bad{n}"])
        value, line = result[f"shown{n}"], (result[f"row{n}"] or 0) + 1
        errors.append(
            f"{rule.where}: {value!r} in data row {line} ({count:,} such row{'s' * (count > 1)}): "
            f"{rule.why}"
            if count
            else None
        )
    return errors, {name: int(result[name]) for name in counts}


def _raise_first(errors: list[str | None]) -> None:
    for error in errors:
        if error is not None:
            raise DataError(error)


def load_local_file(config: DatasetConfig) -> Dataset:
    """`scan_local_file` with the interactions read in full."""
    return scan_local_file(config).collect()


def scan_local_file(config: DatasetConfig) -> Dataset:
    """A CSV/Parquet interactions file with the recipe's column mapping (and optional items
    file), checked in full: a Parquet file as a scan of the mapped columns, a CSV file read
    (those columns only), as every pass over text would parse it again."""
    path = Path(config.path)
    scan, schema = scan_table(path, config.separator)
    mapping = config.columns
    wanted = {"user": mapping.user, "item": mapping.item}
    wanted.update(
        {k: v for k, v in (("timestamp", mapping.timestamp), ("weight", mapping.weight)) if v}
    )
    for key, column in wanted.items():
        if column not in schema:
            raise DataError(
                f"{path}: column {column!r} (dataset.columns.{key}) not found; "
                f"columns are {', '.join(schema.names())}"
            )
    text = path.suffix != ".parquet"
    if text:  # parsed once, its mapped columns only: each later pass would parse it again
        with _reading(path, config.separator):
            scan = scan.select(*dict.fromkeys(wanted.values())).collect(engine="streaming").lazy()
    users, user_rules = _ids(mapping.user, schema[mapping.user], _where(path, mapping.user, "user"))
    items, item_rules = _ids(mapping.item, schema[mapping.item], _where(path, mapping.item, "item"))
    keep = users.is_not_null() & items.is_not_null()
    id_rules = user_rules + item_rules
    rules = list(id_rules)
    times = pl.lit(None, dtype=pl.Int64)
    if mapping.timestamp:
        where = _where(path, mapping.timestamp, "timestamp")
        times, time_rules = _seconds(mapping.timestamp, schema[mapping.timestamp], where, keep)
        rules += time_rules
    weights = pl.lit(1.0, dtype=pl.Float64)
    if mapping.weight:
        where = _where(path, mapping.weight, "weight")
        weights, weight_rule = _weights(mapping.weight, schema[mapping.weight], where, keep)
        rules.append(weight_rule)
    counts = {
        "kept": keep,
        "source_rows_without_user_id": users.is_null(),
        "source_rows_without_item_id": items.is_null() & users.is_not_null(),
    }
    with _reading(path, config.separator):
        errors, found = _evaluate(scan, rules, counts)
    # Bad ids first; the time and weight rules look at kept rows only, so none kept comes next.
    _raise_first(errors[: len(id_rules)])
    if not found.pop("kept"):
        raise DataError(f"{path}: no row has both a user id and an item id")
    _raise_first(errors[len(id_rules) :])
    notes = dict(found)
    interactions = scan.select(
        users.alias("user"),
        items.alias("item"),
        times.cast(pl.Int64).alias("timestamp"),
        weights.cast(pl.Float64).alias("weight"),
    ).filter(pl.col("user").is_not_null() & pl.col("item").is_not_null())
    if text:
        interactions = interactions.collect()
    digests = [sha256_of(path)]
    id_type = interactions.collect_schema()["item"]
    if config.items_path:
        catalogue = _items_table(Path(config.items_path), config, id_type, notes)
        digests.append(sha256_of(Path(config.items_path)))
    else:
        with _reading(path, config.separator):
            catalogue = interactions.lazy().select(pl.col("item").unique().sort())
            catalogue = catalogue.collect(engine="streaming")
    return Dataset(
        name=config.name,
        interactions=interactions,
        items=catalogue,
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
    expr, rules = _ids(column, items.schema[column], _where(path, column, "item"))
    _raise_first(_evaluate(items.lazy(), rules, {})[0])
    ids = items.select(expr.alias(column))[column]
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
