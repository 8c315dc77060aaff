"""Filtering (rating threshold, binarisation, iterative k-core) and contiguous index vocabularies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.schema import FilterConfig
from recsys_cli.data.dataset import Dataset
from recsys_cli.errors import DataError


@dataclass(frozen=True)
class Indexed:
    """Interactions with `user_idx`/`item_idx` columns and the vocabularies mapping them back.

    `user_ids[u]` and `item_ids[i]` are the dataset's original ids; `items` holds the metadata of
    the indexed items in index order. `interactions` is a scan when the dataset's is one (its
    rows are read when the split collects its parts), else a DataFrame; `n_interactions` is its
    row count either way.
    """

    interactions: pl.DataFrame | pl.LazyFrame
    user_ids: pl.Series
    item_ids: pl.Series
    items: pl.DataFrame
    n_interactions: int

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def index_dataset(dataset: Dataset, config: FilterConfig) -> Indexed:
    """Filter the dataset and give users and items contiguous indices (sorted original ids).

    Filters: keep weight >= min_rating, set weights to 1 when binarising, then repeat the k-core
    until it is stable (k-core counts events; `to_csr(binary=True)` makes repeated pairs one 1).
    The interactions are read in streaming passes: their distinct ids, then for a k-core the
    rows' integer codes (8 bytes a row); no id is held as text per row.

    The k-core keeps exactly the rows whose user and item survive it (a row leaves only when
    its user's or its item's count falls short, and counts only fall), so the indexed rows are
    the filtered ones whose ids are in the final vocabularies: one more filter of the scan."""
    rows = dataset.interactions.lazy()
    if config.min_rating is not None:
        rows = rows.filter(pl.col("weight") >= config.min_rating)
    if config.binarize:
        rows = rows.with_columns(pl.lit(1.0).alias("weight"))
    # One query each: collected together, the scan they share would be cached in full.
    user_ids = rows.select(pl.col("user").unique().sort()).collect(engine="streaming")["user"]
    item_ids = rows.select(pl.col("item").unique().sort()).collect(engine="streaming")["item"]
    n_rows = int(rows.select(pl.len()).collect(engine="streaming").item())
    frame = rows
    if config.min_user_interactions > 1 or config.min_item_interactions > 1:
        user_ids, item_ids, kept = _k_core(rows, user_ids, item_ids, config)
        if kept < n_rows:
            frame = rows.filter(codes(pl.col("user"), user_ids).is_not_null())
            frame = frame.filter(codes(pl.col("item"), item_ids).is_not_null())
            n_rows = kept
    if n_rows == 0:
        raise DataError(f"dataset {dataset.name!r}: no interactions left after filtering")
    frame = frame.with_columns(
        codes(pl.col("user"), user_ids).alias("user_idx"),
        codes(pl.col("item"), item_ids).alias("item_idx"),
    )
    if isinstance(dataset.interactions, pl.DataFrame):
        frame = frame.collect()
    items = pl.DataFrame({"item": item_ids, "item_idx": np.arange(len(item_ids), dtype=np.int32)})
    metadata = items.join(dataset.items, on="item", how="left").sort("item_idx").drop("item_idx")
    return Indexed(frame, user_ids, item_ids, metadata, n_rows)


def _k_core(
    rows: pl.LazyFrame, user_ids: pl.Series, item_ids: pl.Series, config: FilterConfig
) -> tuple[pl.Series, pl.Series, int]:
    """(users, items, rows) left by the iterative k-core of `rows`, computed on their codes."""
    coded = rows.select(
        codes(pl.col("user"), user_ids).alias("u"), codes(pl.col("item"), item_ids).alias("i")
    )
    coded = coded.collect(engine="streaming")
    users, items = (coded.to_series(n).to_numpy() for n in (0, 1))
    del coded
    while True:
        kept = (np.bincount(users, minlength=len(user_ids)) >= config.min_user_interactions)[
            users
        ] & (np.bincount(items, minlength=len(item_ids)) >= config.min_item_interactions)[items]
        if kept.all():
            break
        users, items = users[kept], items[kept]
    alive_users = np.bincount(users, minlength=len(user_ids)) > 0
    alive_items = np.bincount(items, minlength=len(item_ids)) > 0
    return user_ids.filter(alive_users), item_ids.filter(alive_items), len(users)


def codes(ids: pl.Expr, vocab: pl.Series) -> pl.Expr:
    """Int32 position of each id in the sorted distinct `vocab` (null where it is absent): text
    through an Enum of the vocabulary (its codes are the positions), integers through a lookup
    table where they span a range at most 8 times the vocabulary's (or 2^24), else a hash map."""
    if vocab.dtype == pl.Utf8:
        return ids.cast(pl.Enum(vocab), strict=False).to_physical().cast(pl.Int32)
    positions = np.arange(len(vocab), dtype=np.int32)
    if len(vocab) and vocab.dtype.is_integer():
        low, high = int(vocab[0]), int(vocab[-1])
        if high - low < max(8 * len(vocab), 1 << 24):
            ids = ids.cast(pl.Int64)
            table = np.full(high - low + 1, -1, dtype=np.int32)
            table[vocab.to_numpy() - low] = positions
            found = pl.lit(pl.Series(table)).gather((ids - low).clip(0, high - low))
            return pl.when((ids >= low) & (ids <= high) & (found >= 0)).then(found)
    return ids.replace_strict(vocab, pl.Series(positions), default=None, return_dtype=pl.Int32)


def positions(ids: pl.Series, vocab: pl.Series) -> pl.Series:
    """Int64 position of each id in the sorted distinct `vocab`, null where it is absent
    (a join's inner match, without joining the rows: text through an Enum of the vocabulary,
    other ids through a sorted search)."""
    if ids.dtype == pl.Utf8:
        found = ids.cast(pl.Enum(vocab), strict=False).to_physical()
        return found.cast(pl.Int64)
    sorted_ids = vocab.to_numpy()
    values = ids.to_numpy()
    at = np.minimum(np.searchsorted(sorted_ids, values), max(len(sorted_ids) - 1, 0))
    hit = sorted_ids[at] == values if len(sorted_ids) else np.zeros(len(values), dtype=bool)
    return pl.Series(at.astype(np.int64)).set(pl.Series(~hit), None)


def to_csr(frame: pl.DataFrame, n_users: int, n_items: int, binary: bool = False) -> sp.csr_matrix:
    """users x items CSR of summed weights (duplicates add up: play counts, repeated events), or
    with `binary` a 0/1 matrix (a pair with any interaction is 1, however often it repeats)."""
    # Binary: every entry becomes 1, so the weights need not be read (nor made float64).
    weights = (
        np.ones(frame.height, dtype=np.float32)
        if binary
        else frame["weight"].to_numpy().astype(np.float32)
    )
    matrix = sp.csr_matrix(
        (weights, (frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy())),
        shape=(n_users, n_items),
    )
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix
