"""Item side data of one prepared dataset in item index space: the items table, training
popularity, and the arrays derived from item columns (multi-hot genres, attribute codes,
one-hot vectors), each derived once. Reranking, the ranker's features and metrics read it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from recsys_cli.errors import UserError

GENRES = "genres"
# One-hot similarity vectors are dense: at most this many cells (float32: 1 GiB).
MAX_ONE_HOT_CELLS = 1 << 28


@dataclass
class ItemSide:
    """Per-item data, row i = item index i.

    popularity: training users per item (fit matrix, nonzeros per column); n_train_users: users
    with at least one training interaction (novelty's denominator); items: the items table in
    index order; item_ids: the item id of each index. Derived arrays are computed on first
    use and kept (they depend on the data alone).
    """

    popularity: np.ndarray
    n_train_users: int
    items: pl.DataFrame
    item_ids: pl.Series
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_prepared(cls, data) -> ItemSide:
        """From `pipeline.prepare.Prepared`: popularity from the training (fit) matrix only."""
        fit = data.fit.tocsr()
        return cls(
            popularity=np.bincount(fit.indices, minlength=fit.shape[1]).astype(np.float64),
            n_train_users=int((np.diff(fit.indptr) > 0).sum()),
            items=data.indexed.items,
            item_ids=data.indexed.item_ids,
        )

    @property
    def n_items(self) -> int:
        return self.popularity.size

    def cached(self, key, make):
        """`make()` once per key (for values of the data alone)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def column(self, name: str, needed_by: str) -> pl.Series:
        """An items-table column; one clear error naming who needs it when the data lacks it."""
        if name not in self.items.columns or self.items[name].null_count() == self.items.height:
            have = [c for c in self.items.columns if c != "item"]
            raise UserError(
                f"{needed_by} needs the item column {name!r}, which this dataset does not have "
                f"(item columns: {', '.join(have) or 'none'}; a local dataset can add them with "
                "dataset.items_path)"
            )
        return self.items[name]

    def genres(self, needed_by: str = GENRES) -> np.ndarray:
        """Multi-hot (items x genres) float64 matrix; a string column is split on '|'."""

        def make():
            column = self.column(GENRES, needed_by)
            if column.dtype == pl.Utf8:
                column = column.str.split("|")
            exploded = pl.DataFrame({"i": np.arange(self.n_items), "g": column}).explode("g")
            exploded = exploded.filter(pl.col("g").is_not_null() & (pl.col("g") != ""))
            names = exploded["g"].unique().sort()
            codes = exploded.join(pl.DataFrame({"g": names, "c": np.arange(len(names))}), on="g")
            matrix = np.zeros((self.n_items, max(len(names), 1)), dtype=np.float64)
            matrix[codes["i"].to_numpy(), codes["c"].to_numpy()] = 1.0
            return matrix

        return self.cached(("genres",), make)

    def attribute(self, name: str, needed_by: str) -> np.ndarray:
        """int64 codes of an item column (-1 where null); a list column uses its first value."""

        def make():
            column = self.column(name, needed_by)
            if name == GENRES and column.dtype == pl.Utf8:
                column = column.str.split("|")
            if isinstance(column.dtype, pl.List):
                column = column.list.first()
            column = column.cast(pl.Utf8)
            names = column.drop_nulls().unique().sort()
            codes = pl.DataFrame({"v": column}).join(
                pl.DataFrame({"v": names, "c": np.arange(len(names), dtype=np.int64)}),
                on="v",
                how="left",
                maintain_order="left",
            )
            return codes["c"].fill_null(-1).to_numpy().astype(np.int64)

        return self.cached(("attribute", name), make)

    def one_hot(self, name: str, needed_by: str) -> np.ndarray:
        """float32 (items x values) one-hot of an item column's codes (unknown: an all-zero
        row); one line when it would outgrow MAX_ONE_HOT_CELLS."""

        def make():
            codes = self.attribute(name, needed_by)
            width = int(codes.max()) + 1 if len(codes) else 0
            if self.n_items * max(width, 1) > MAX_ONE_HOT_CELLS:
                raise UserError(
                    f"{needed_by}: similarity = {name!r} needs a {self.n_items:,} x {width:,} "
                    f"one-hot matrix, over the {MAX_ONE_HOT_CELLS:,}-cell limit; use a "
                    "provider_cap or spacing step on that column instead"
                )
            matrix = np.zeros((self.n_items, max(width, 1)), dtype=np.float32)
            known = codes >= 0
            matrix[np.flatnonzero(known), codes[known]] = 1.0
            return matrix

        return self.cached(("one-hot", name), make)

    def novelty_values(self) -> np.ndarray:
        """-log2 p(i), p(i) = training users of i / training users (an unseen item counts as one)."""
        return -np.log2(np.maximum(self.popularity, 1.0) / self.n_train_users)
