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
    the indexed items in index order.
    """

    interactions: pl.DataFrame
    user_ids: pl.Series
    item_ids: pl.Series
    items: pl.DataFrame

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def apply_filters(frame: pl.DataFrame, config: FilterConfig) -> pl.DataFrame:
    """Keep weight >= min_rating, set weights to 1 when binarising, then repeat the k-core until
    it is stable (k-core counts events; `to_csr(binary=True)` makes repeated pairs one 1)."""
    if config.min_rating is not None:
        frame = frame.filter(pl.col("weight") >= config.min_rating)
    if config.binarize:
        frame = frame.with_columns(pl.lit(1.0).alias("weight"))
    while config.min_user_interactions > 1 or config.min_item_interactions > 1:
        before = frame.height
        frame = frame.filter(
            (pl.len().over("user") >= config.min_user_interactions)
            & (pl.len().over("item") >= config.min_item_interactions)
        )
        if frame.height == before:
            break
    return frame


def index_dataset(dataset: Dataset, config: FilterConfig) -> Indexed:
    """Filter the dataset and give users and items contiguous indices (sorted original ids)."""
    frame = apply_filters(dataset.interactions, config)
    if frame.height == 0:
        raise DataError(f"dataset {dataset.name!r}: no interactions left after filtering")
    user_ids, user_idx = vocabulary(frame["user"])
    item_ids, item_idx = vocabulary(frame["item"])
    frame = frame.with_columns(user_idx.alias("user_idx"), item_idx.alias("item_idx"))
    items = pl.DataFrame({"item": item_ids, "item_idx": np.arange(len(item_ids), dtype=np.int32)})
    metadata = items.join(dataset.items, on="item", how="left").sort("item_idx").drop("item_idx")
    return Indexed(frame, user_ids, item_ids, metadata)


def vocabulary(ids: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(sorted distinct ids, each row's Int32 index into them), without joining the rows: text
    ids through an Enum of the sorted vocabulary (its codes are the indices), integer ids
    spanning a range up to 4 times the rows (at least 2^24) through a lookup table."""
    vocab = ids.unique().sort()
    if ids.dtype == pl.Utf8:
        codes = ids.cast(pl.Enum(vocab)).to_physical()
    elif ids.dtype.is_integer() and int(vocab[-1]) - int(vocab[0]) < max(4 * len(ids), 1 << 24):
        table = np.zeros(int(vocab[-1]) - int(vocab[0]) + 1, dtype=np.int32)
        table[vocab.to_numpy() - vocab[0]] = np.arange(len(vocab), dtype=np.int32)
        codes = table[ids.to_numpy() - vocab[0]]
    else:
        codes = vocab.search_sorted(ids)
    return vocab, pl.Series(codes, dtype=pl.Int32)


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
    matrix = sp.csr_matrix(
        (
            frame["weight"].to_numpy().astype(np.float32),
            (frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy()),
        ),
        shape=(n_users, n_items),
    )
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix
