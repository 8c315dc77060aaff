"""Ranker features of pooled (user, item) rows, built in batches from one stage's data alone.

Every builder gathers per-item or per-user arrays at the pool's rows, or reads sparse user x
attribute products at (row, attribute) pairs: numpy/scipy over all rows at once, no loop over
users. A stage's data are its past (`data.split.fit`: popularity, trend, age) and each user's
input (`data.model_input`: activity and affinities); `timeline.check_before` guards that for a
temporal split the past ends before the window the stage labels or ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.schema import RANKER_FEATURES, RANKER_LABEL_TERMS, Recipe
from recsys_cli.errors import UserError
from recsys_cli.ranking.pool import Pool
from recsys_cli.ranking.sparse import csr_values, row_dots
from recsys_cli.ranking.timeline import check_before

SECONDS_PER_DAY = 86_400.0
SECONDS_PER_YEAR = 365.2425 * SECONDS_PER_DAY
# popularity_trend compares the item's share of the latest quarter of the past with its share
# of the whole past.
RECENT_QUANTILE = 0.75


@dataclass
class Stage:
    """One side of the timeline: its data (`experiment.Prepared`), the item side data built from
    them (`RerankContext`: popularity, groups) and the pooled candidates of `data.eval_users`
    (pool row r is user data.eval_users[r]); `generators` name the pool's score columns."""

    name: str
    data: object
    context: object
    pool: Pool
    generators: tuple[str, ...]
    _cache: dict = field(default_factory=dict, repr=False)

    def cached(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def history(self) -> sp.csr_matrix:
        """0/1 input of the stage's users (rows aligned with the pool's user rows)."""

        def make():
            rows = sp.csr_matrix(self.data.model_input[self.data.eval_users], dtype=np.float32)
            rows.data[:] = 1.0
            return rows

        return self.cached("history", make)

    def past_times(self) -> tuple[np.ndarray, np.ndarray]:
        """(item index, timestamp) of every past interaction that has a timestamp."""
        past = self.data.split.fit.drop_nulls("timestamp")
        return past["item_idx"].to_numpy(), past["timestamp"].to_numpy().astype(np.float64)

    def artist_heard(self) -> np.ndarray:
        """Per pooled row: how many of the user's input items share the item's artist (NaN where
        the item has no artist)."""

        def make():
            codes = self.context.side.attribute("artist", "ranker")
            known = codes >= 0
            one_hot = sp.csr_matrix(
                (np.ones(known.sum(), np.float32), (np.flatnonzero(known), codes[known])),
                shape=(len(codes), max(int(codes.max(initial=-1)) + 1, 1)),
            )
            heard = sp.csr_matrix(self.history() @ one_hot)
            item_codes = codes[self.pool.items]
            values = csr_values(heard, self.pool.rows, np.maximum(item_codes, 0))
            return np.where(item_codes >= 0, values, np.nan)

        return self.cached("artist_heard", make)


Column = tuple[str, np.ndarray]


def _score(stage: Stage) -> list[Column]:
    return [(f"score:{g}", stage.pool.scores[:, j]) for j, g in enumerate(stage.generators)]


def _rank(stage: Stage) -> list[Column]:
    return [(f"rank:{g}", stage.pool.ranks[:, j]) for j, g in enumerate(stage.generators)]


def _retrieved_by(stage: Stage) -> list[Column]:
    """How many generators retrieved the item for the user."""
    return [("retrieved_by", (~np.isnan(stage.pool.ranks)).sum(axis=1))]


def _popularity(stage: Stage) -> list[Column]:
    """Share of the past's users who had the item (a share, so the label stage's shorter past
    and the test stage's longer one are on one scale)."""
    side = stage.context.side
    return [("popularity", side.popularity[stage.pool.items] / max(side.n_train_users, 1))]


def _popularity_trend(stage: Stage) -> list[Column]:
    """(r_i + 1) / (R + n) over (c_i + 1) / (C + n): the item's share of the past's latest
    quarter of interactions (r_i of R) against its share of the whole past (c_i of C), Laplace
    smoothed over n items; above 1 for an item on the rise."""
    items, times = stage.past_times()
    n = stage.context.side.n_items
    recent = times >= np.quantile(times, RECENT_QUANTILE, method="higher")
    total = np.bincount(items, minlength=n)
    latest = np.bincount(items[recent], minlength=n)
    trend = ((latest + 1) / (latest.sum() + n)) / ((total + 1) / (total.sum() + n))
    return [("popularity_trend", trend[stage.pool.items])]


def _item_age(stage: Stage) -> list[Column]:
    """Days between the item's first past interaction and the past's last one (NaN: unseen)."""
    items, times = stage.past_times()
    first = pl.DataFrame({"i": items, "t": times}).group_by("i").agg(pl.col("t").min())
    age = np.full(stage.context.side.n_items, np.nan)
    age[first["i"].to_numpy()] = (times.max() - first["t"].to_numpy()) / SECONDS_PER_DAY
    return [("item_age", age[stage.pool.items])]


def _release_age(stage: Stage) -> list[Column]:
    """Years between the item's release year and the past's last interaction (the latest
    release year where the data have no timestamps)."""
    year = stage.context.side.column("year", "ranker feature 'release_age'").cast(pl.Float64)
    year = year.to_numpy()
    _, times = stage.past_times()
    now = 1970 + times.max() / SECONDS_PER_YEAR if len(times) else np.nanmax(year)
    return [("release_age", now - year[stage.pool.items])]


def _user_activity(stage: Stage) -> list[Column]:
    """Items in the user's input."""
    return [("user_activity", np.diff(stage.history().indptr)[stage.pool.rows])]


def _genre_affinity(stage: Stage) -> list[Column]:
    """Cosine between the user's genre profile (sum of the input items' multi-hot genre
    vectors) and the item's genre vector; 0 where either is empty."""
    genres = sp.csr_matrix(stage.context.side.genres("ranker feature 'genre_affinity'"))
    profile = sp.csr_matrix(stage.history() @ genres)
    rows, items = stage.pool.rows, stage.pool.items
    dot = row_dots(profile, genres, rows, items)
    user_norm = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1)).ravel())
    item_norm = np.sqrt(np.asarray(genres.sum(axis=1)).ravel())  # 0/1 entries
    norms = user_norm[rows] * item_norm[items]
    return [("genre_affinity", np.divide(dot, norms, out=np.zeros_like(dot), where=norms > 0))]


def _artist_affinity(stage: Stage) -> list[Column]:
    """Share of the user's input items by the item's artist."""
    activity = np.maximum(np.diff(stage.history().indptr)[stage.pool.rows], 1)
    return [("artist_affinity", stage.artist_heard() / activity)]


def artist_new(stage: Stage) -> np.ndarray:
    """1 where no input item of the user is by the item's artist (NaN: no artist); also the
    `discovery` label term."""
    heard = stage.artist_heard()
    return np.where(np.isnan(heard), np.nan, heard == 0)


def _artist_new(stage: Stage) -> list[Column]:
    return [("artist_new", artist_new(stage))]


BUILDERS: dict[str, Callable[[Stage], list[Column]]] = {
    "score": _score,
    "rank": _rank,
    "retrieved_by": _retrieved_by,
    "popularity": _popularity,
    "popularity_trend": _popularity_trend,
    "item_age": _item_age,
    "release_age": _release_age,
    "user_activity": _user_activity,
    "genre_affinity": _genre_affinity,
    "artist_affinity": _artist_affinity,
    "artist_new": _artist_new,
}


def group_member(stage: Stage, name: str) -> np.ndarray:
    """1.0 where the pooled item is in [groups] NAME (defined from the stage's own past)."""
    return stage.context.groups.mask(name)[stage.pool.items].astype(np.float32)


def build_features(
    stage: Stage, features: tuple[str, ...], kind: str
) -> tuple[list[str], np.ndarray]:
    """(column names, float32 rows x columns in Fortran order) for the recipe's feature names,
    in order; refused first when, for a temporal split, the stage's past reaches into its
    window."""
    check_before(stage.data, kind, stage.name)
    columns: list[Column] = []
    for name in features:
        if name.startswith("group:"):
            columns.append((name, group_member(stage, name.removeprefix("group:"))))
        else:
            columns += BUILDERS[name](stage)
    # column-major: each column is written, and read by the scorer, in one contiguous pass
    matrix = np.empty((len(stage.pool), len(columns)), dtype=np.float32, order="F")
    for j, (_, values) in enumerate(columns):
        matrix[:, j] = values
    return [name for name, _ in columns], matrix


def check_data(recipe: Recipe, context, data) -> None:
    """Before any training: every ranker feature and label term finds the data it needs (item
    columns, timestamps); otherwise one line naming its key path."""
    ranker = recipe.ranker
    needs = [
        (f"ranker.features[{i}]", name, RANKER_FEATURES.get(name))
        for i, name in enumerate(ranker.features)
    ]
    needs += [
        (f"ranker.labels.weights.{term}", term, RANKER_LABEL_TERMS.get(term))
        for term in ranker.labels.weights
    ]
    timed = data.split.fit["timestamp"].null_count() < data.split.fit.height
    for where, name, need in needs:
        if need == "timestamps" and not timed:
            raise UserError(
                f"{where}: {name!r} needs interaction timestamps, which this dataset does not "
                "have; leave it out"
            )
        if need not in (None, "timestamps"):
            context.side.column(need, f"{where} ({name})")
