"""The canonical dataset: an interactions table and an items table (polars).

interactions: `user`, `item` (original ids, Int64 or Utf8), `timestamp` (Int64 seconds since the
epoch, null where the source has none), `weight` (Float64: rating, play count or 1.0), plus any
extra columns a source keeps (e.g. `is_organic`, `watch_ratio`).
items: `item` plus whatever metadata is known: `title` (Utf8), `genres` (List(Utf8)), `year`
(Int32), `artist` (Utf8), ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from recsys_cli.errors import DataError

INTERACTION_COLUMNS = ("user", "item", "timestamp", "weight")


@dataclass(frozen=True)
class Dataset:
    """A dataset in canonical form, with the checksum of the source it was read from."""

    name: str
    interactions: pl.DataFrame
    items: pl.DataFrame
    checksum: str
    source: str
    synthetic: bool = False
    # Counts for the run report: rows of the source left out under a documented rule.
    notes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in INTERACTION_COLUMNS if c not in self.interactions.columns]
        if missing:
            raise DataError(f"dataset {self.name!r}: interactions lack columns {missing}")
        if "item" not in self.items.columns:
            raise DataError(f"dataset {self.name!r}: items table lacks the 'item' column")

    @property
    def has_timestamps(self) -> bool:
        return self.interactions["timestamp"].null_count() < self.interactions.height


def canonical_interactions(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast a frame with the canonical columns to the canonical dtypes (extra columns kept)."""
    return frame.with_columns(
        pl.col("timestamp").cast(pl.Int64),
        pl.col("weight").cast(pl.Float64),
    )


def empty_items(items: pl.Series) -> pl.DataFrame:
    """An items table with ids only, for sources that carry no metadata."""
    return pl.DataFrame({"item": items.unique().sort()})
