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
    user_ids = frame["user"].unique().sort()
    item_ids = frame["item"].unique().sort()
    users = pl.DataFrame({"user": user_ids, "user_idx": np.arange(len(user_ids), dtype=np.int32)})
    items = pl.DataFrame({"item": item_ids, "item_idx": np.arange(len(item_ids), dtype=np.int32)})
    frame = frame.join(users, on="user").join(items, on="item")
    metadata = items.join(dataset.items, on="item", how="left").sort("item_idx").drop("item_idx")
    return Indexed(frame, user_ids, item_ids, metadata)


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
