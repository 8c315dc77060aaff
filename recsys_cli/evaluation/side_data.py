"""The item side data that beyond-accuracy and business metrics read, as arrays in index space."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys_cli.metrics import split_metric
from recsys_cli.metrics.beyond_accuracy import head_tail_split

# Metrics that read the genre matrix or the artist codes (plain `ild` is genre Jaccard).
GENRE_METRICS = frozenset({"ild", "miscalibration"})
ARTIST_METRICS = frozenset({"discovery", "provider_gini", "fair_marketplace"})


@dataclass(frozen=True)
class ItemSideData:
    """Per-item arrays of one prepared dataset (row i is item index i), only those the
    evaluated metrics read.

    popularity: training users per item (float64); n_train_users: users with a training
    interaction (novelty's denominator); genres: items x genres multi-hot (float64); artist: int64
    codes, -1 where unknown; tail: long-tail mask (APLT); vectors: `ild[SIMILARITY]` -> item
    vectors whose cosine is the similarity; groups: group name -> item mask (exposure_share).
    """

    popularity: np.ndarray
    n_train_users: int
    genres: np.ndarray | None = None
    artist: np.ndarray | None = None
    tail: np.ndarray | None = None
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return self.popularity.size

    @classmethod
    def of(cls, source, metrics) -> ItemSideData:
        """The arrays `metrics` read, taken from `source`, the run's item data: `side`
        (`data.side.ItemSide`, which derives them from the dataset's item columns and says in one
        line which metric needs a column the data lack), `groups` (`data.groups.GroupResolver`)
        and `similarity` (`data.similarity.ItemSimilarity`), e.g. a `RerankContext`."""
        side = source.side
        found: dict = {"vectors": {}, "groups": {}}
        for metric in metrics:
            base, argument = split_metric(metric)
            needed_by = f"metric {metric!r}"
            if base in GENRE_METRICS and argument is None:
                found["genres"] = side.genres(needed_by)
            elif base == "ild":
                found["vectors"][argument] = source.similarity.vectors(argument, needed_by)
            elif base in ARTIST_METRICS:
                found["artist"] = side.attribute("artist", needed_by)
            elif base == "aplt":
                found["tail"] = head_tail_split(side.popularity)
            elif base == "exposure_share":
                found["groups"][argument] = source.groups.mask(argument)
        return cls(side.popularity, side.n_train_users, **found)
