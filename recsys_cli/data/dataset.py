"""The canonical dataset: an interactions table and an items table (polars).

interactions: `user`, `item` (original ids, Int64 or Utf8), `timestamp` (Int64 seconds since the
epoch, null where the source has none), `weight` (Float64: rating, play count or 1.0). A source
file may hold more columns (e.g. `is_organic`, `watch_ratio`); a run reads these four only.
items: `item` plus whatever metadata is known: `title` (Utf8), `genres` (List(Utf8)), `year`
(Int32), `artist` (Utf8), ...
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import polars as pl

from recsys_cli.errors import DataError

INTERACTION_COLUMNS = ("user", "item", "timestamp", "weight")


@dataclass(frozen=True)
class Dataset:
    """A dataset in canonical form, with the checksum of the source it was read from.

    `interactions` is a DataFrame (read in full) or a LazyFrame (a scan of the source file:
    nothing is read until a stage collects what it needs, see `collect`)."""

    name: str
    interactions: pl.DataFrame | pl.LazyFrame
    items: pl.DataFrame
    checksum: str
    source: str
    synthetic: bool = False
    # Counts for the run report: rows of the source left out under a documented rule.
    notes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        columns = self.interactions.collect_schema().names()
        missing = [c for c in INTERACTION_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"dataset {self.name!r}: interactions lack columns {missing}")
        if "item" not in self.items.columns:
            raise DataError(f"dataset {self.name!r}: items table lacks the 'item' column")

    @property
    def n_interactions(self) -> int:
        """Rows of the interactions table (a scan counts them without keeping them)."""
        if isinstance(self.interactions, pl.DataFrame):
            return self.interactions.height
        return int(self.interactions.select(pl.len()).collect(engine="streaming").item())

    def collect(self) -> Dataset:
        """The same dataset with its interactions read in full (as they are when already read)."""
        if isinstance(self.interactions, pl.DataFrame):
            return self
        return dataclasses.replace(self, interactions=self.interactions.collect(engine="streaming"))


def canonical_interactions(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast a frame with the canonical columns to the canonical dtypes (extra columns kept)."""
    return frame.with_columns(
        pl.col("timestamp").cast(pl.Int64),
        pl.col("weight").cast(pl.Float64),
    )


def empty_items(items: pl.Series) -> pl.DataFrame:
    """An items table with ids only, for sources that carry no metadata."""
    return pl.DataFrame({"item": items.unique().sort()})


def scan_parquet_interactions(path) -> pl.LazyFrame:
    """The canonical columns of an interactions Parquet file written by this package (prepared
    catalog tables, synthetic sets), as a scan: only these columns are ever read."""
    return pl.scan_parquet(path).select(
        "user", "item", pl.col("timestamp").cast(pl.Int64), pl.col("weight").cast(pl.Float64)
    )
