"""Ranker features against per-row Python references; the leak guard; data requirements."""

import dataclasses
import math

import numpy as np
import polars as pl
import pytest
from ranking_data import items_table, plays, raw_recipe

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.config.schema import RANKER_FEATURES
from recsys_cli.errors import UserError
from recsys_cli.experiment import build_context, prepare
from recsys_cli.ranking.features import (
    BUILDERS,
    RECENT_QUANTILE,
    SECONDS_PER_DAY,
    SECONDS_PER_YEAR,
    Stage,
    build_features,
)
from recsys_cli.ranking.pool import pool_candidates
from recsys_cli.ranking.timeline import LeakError

ALL = tuple(RANKER_FEATURES) + ("group:tail",)


@pytest.fixture
def stage(make_recipe):
    recipe = make_recipe(features=list(ALL))
    data = prepare(recipe)
    context = build_context(recipe, data)
    rng = np.random.default_rng(7)
    n_users, n_items = len(data.eval_users), data.indexed.n_items
    lists = []
    for _ in range(2):
        items = np.stack([rng.choice(n_items, 6, replace=False) for _ in range(n_users)])
        items[rng.random(items.shape) < 0.2] = -1  # some shorter lists
        items = -np.sort(-items, axis=1).astype(np.int32)  # padding last
        lists.append((items, rng.random(items.shape).astype(np.float32)))
    return recipe, Stage("test", data, context, pool_candidates(lists), ("a", "b")), lists


def test_every_feature_name_the_loader_admits_has_a_builder():
    assert set(BUILDERS) == set(RANKER_FEATURES)


def reference(stage: Stage, lists) -> dict[str, list[float]]:
    """Each feature of each pooled row, computed row by row from the raw tables."""
    data = stage.data
    past = data.split.fit
    ids = data.indexed
    meta = ids.items.with_row_index("i")
    genres = {i: set(g) for i, g in zip(meta["i"], meta["genres"].str.split("|"), strict=True)}
    artist = dict(zip(meta["i"], meta["artist"], strict=True))
    year = dict(zip(meta["i"], meta["year"], strict=True))
    users_of = past.group_by("item_idx").agg(pl.col("user_idx").n_unique())
    popularity = dict(zip(users_of["item_idx"], users_of["user_idx"], strict=True))
    n_users = past["user_idx"].n_unique()
    times = past["timestamp"].to_list()
    cut = sorted(times)[math.ceil(RECENT_QUANTILE * (len(times) - 1))]
    total = past.group_by("item_idx").len()
    recent = past.filter(pl.col("timestamp") >= cut).group_by("item_idx").len()
    total, recent = (dict(zip(f["item_idx"], f["len"], strict=True)) for f in (total, recent))
    n, big_r, big_c = ids.n_items, sum(recent.values()), len(times)
    first = dict(past.group_by("item_idx").agg(pl.col("timestamp").min()).iter_rows())
    now = max(times)
    history = data.model_input
    out = {name: [] for name in stage_names()}
    for row, item in zip(stage.pool.rows, stage.pool.items, strict=True):
        user = data.eval_users[row]
        mine = history[user].indices.tolist()
        found = [(lists[g][0][row] == item).nonzero()[0] for g in range(2)]
        for g, name in enumerate("ab"):
            hit = len(found[g]) > 0
            out[f"score:{name}"].append(lists[g][1][row][found[g][0]] if hit else np.nan)
            out[f"rank:{name}"].append(found[g][0] + 1 if hit else np.nan)
        out["retrieved_by"].append(sum(len(f) > 0 for f in found))
        out["popularity"].append(popularity.get(item, 0) / n_users)
        out["popularity_trend"].append(
            ((recent.get(item, 0) + 1) / (big_r + n)) / ((total.get(item, 0) + 1) / (big_c + n))
        )
        out["item_age"].append((now - first[item]) / SECONDS_PER_DAY if item in first else np.nan)
        out["release_age"].append(1970 + now / SECONDS_PER_YEAR - year[item])
        out["user_activity"].append(len(mine))
        profile = {}
        for i in mine:
            for g in genres[i]:
                profile[g] = profile.get(g, 0) + 1
        dot = sum(profile.get(g, 0) for g in genres[item])
        norm = math.sqrt(sum(v * v for v in profile.values())) * math.sqrt(len(genres[item]))
        out["genre_affinity"].append(dot / norm if norm else 0.0)
        same = sum(artist[i] == artist[item] for i in mine)
        out["artist_affinity"].append(same / max(len(mine), 1))
        out["artist_new"].append(float(same == 0))
        out["group:tail"].append(float(stage.context.groups.mask("tail")[item]))
    return out


def stage_names():
    return ["score:a", "score:b", "rank:a", "rank:b", *ALL[2:]]


def test_features_equal_a_row_by_row_reference(stage):
    _, stage, lists = stage
    names, matrix = build_features(stage, ALL, "temporal")
    assert names == stage_names()
    expected = reference(stage, lists)
    for j, name in enumerate(names):
        np.testing.assert_allclose(
            matrix[:, j], np.asarray(expected[name], np.float32), rtol=1e-5, err_msg=name
        )


def test_a_stage_whose_past_reaches_into_its_window_is_refused(stage):
    _, stage, _ = stage
    data = stage.data
    leaky = pl.concat([data.split.fit, data.split.truth.head(1)])
    split = dataclasses.replace(data.split, fit=leaky)
    stage.data = dataclasses.replace(data, split=split)
    with pytest.raises(LeakError, match="test window starts at .* up to .*refused"):
        build_features(stage, ("popularity",), "temporal")
    build_features(stage, ("popularity",), "random")  # no time order to check


@pytest.mark.parametrize(
    ("features", "items", "message"),
    [
        (
            ["score", "artist_new"],
            items_table(artist=False),
            r"ranker.features\[1\] \(artist_new\)"
            " needs the item column 'artist', which this dataset does not have",
        ),
        (
            ["genre_affinity"],
            items_table().drop("genres"),
            r"ranker.features\[0\] "
            r"\(genre_affinity\) needs the item column 'genres'",
        ),
    ],
)
def test_features_that_need_missing_item_columns_are_refused(write_data, features, items, message):
    recipe = raw_recipe(*write_data(items=items), features=features)
    recipe = recipe_from_dict(recipe)
    with pytest.raises(UserError, match=message):
        build_context(recipe, prepare(recipe))


def test_time_features_need_timestamps(write_data):
    raw = raw_recipe(*write_data(frame=plays().drop("ts")), features=["item_age"])
    raw["dataset"]["columns"].pop("timestamp")
    raw["split"] = {"kind": "random", "test": 0.2}
    recipe = recipe_from_dict(raw)
    with pytest.raises(UserError, match=r"ranker.features\[0\]: 'item_age' needs interaction"):
        build_context(recipe, prepare(recipe))


def test_a_discovery_label_needs_artists(write_data):
    recipe = recipe_from_dict(
        raw_recipe(
            *write_data(items=items_table(artist=False)), labels={"weights": {"discovery": 1.0}}
        )
    )
    with pytest.raises(UserError, match=r"ranker.labels.weights.discovery \(discovery\) needs"):
        build_context(recipe, prepare(recipe))
