"""The ranker's timeline: the label window carved from the training part, and leak-freedom.

The invariance tests are the proof that no feature reads the window it labels: rewriting which
items the label window (or the test window) holds leaves every feature of that stage unchanged,
while the labels change.
"""

import numpy as np
import polars as pl
import pytest
from ranking_data import plays, raw_recipe

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.experiment import build_context, fit_models, prepare
from recsys_cli.progress import silent_step
from recsys_cli.ranking.features import RANKER_FEATURES
from recsys_cli.ranking.stage import prepare_stages
from recsys_cli.ranking.timeline import labels_data, timeline

FEATURES = [*RANKER_FEATURES, "group:tail"]


def pairs(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select("user_idx", "item_idx", "timestamp").iter_rows())


@pytest.mark.parametrize(
    "split",
    [
        {"kind": "temporal", "test": 0.2},
        {"kind": "temporal", "test": 0.2, "new_users": "fold_in", "fold_in": 0.5},
        {"kind": "leave_last", "test": 0.2, "n": 2},
        {"kind": "random", "test": 0.2},
        {"kind": "users", "test": 0.2, "fold_in": 0.5},
    ],
)
def test_the_label_window_and_window_one_partition_the_training_part(write_data, split):
    raw = raw_recipe(*write_data())
    raw["split"] = split
    recipe = recipe_from_dict(raw)
    data = prepare(recipe)
    window = labels_data(recipe, data)
    parts = window.split
    assert pairs(pl.concat([parts.fit, parts.extra_input, parts.truth])) == pairs(data.split.fit)
    assert window.truth.nnz > 0 and len(window.eval_users) == window.truth.shape[0]
    if split["kind"] == "temporal":
        assert parts.fit["timestamp"].max() < parts.truth["timestamp"].min()
        share = parts.truth.height + parts.extra_input.height
        assert share / data.split.fit.height == pytest.approx(0.25, abs=0.02)
    # label pairs are never in a user's input: no generator could retrieve them
    assert window.truth.multiply(window.model_input[window.eval_users]).nnz == 0


def with_late_users(frame: pl.DataFrame, users: int = 8) -> pl.DataFrame:
    """The first `users` users' interactions moved into the label window (between the 64th and
    72nd percentile of time), so they are new users there."""
    late = pl.col("user").is_in([f"u{u}" for u in range(users)])
    low, high = frame["ts"].quantile(0.64), frame["ts"].quantile(0.72)
    moved = frame.filter(late).with_row_index("k")
    spread = (low + (high - low) * moved["k"] / moved.height).cast(pl.Int64)
    moved = moved.with_columns(ts=spread // 2 * 2 + 1).drop("k")  # odd: no original time is
    return pl.concat([frame.filter(~late), moved]).sort("ts")


@pytest.mark.parametrize("new_users", ["exclude", "fold_in"])
def test_the_timeline_records_three_windows_in_order(write_data, new_users):
    raw = raw_recipe(*write_data(frame=with_late_users(plays())))
    raw["split"] = {"kind": "temporal", "test": 0.2, "new_users": new_users, "fold_in": 0.5}
    recipe = recipe_from_dict(raw)
    data = prepare(recipe)
    record = timeline(labels_data(recipe, data), data)
    assert (record["labels"]["fold_in_input"] > 0) == (new_users == "fold_in")
    assert record["generators"]["to"] < record["labels"]["from"]
    assert record["labels"]["to"] < record["test"]["from"]
    labels = record["labels"]
    assert record["refit"]["interactions"] == (
        record["generators"]["interactions"] + labels["interactions"] + labels["fold_in_input"]
    )
    assert record["refit"]["to"] == record["labels"]["to"]


def stages_of(frame: pl.DataFrame, write_data, name: str):
    recipe = recipe_from_dict(raw_recipe(*write_data(frame=frame, name=name), features=FEATURES))
    data = prepare(recipe)
    context = build_context(recipe, data)
    outputs = fit_models(recipe, data)
    return data, prepare_stages(recipe, data, outputs, context, silent_step, None, "key")


def shuffle_items(frame: pl.DataFrame, start: int, stop: int | None = None) -> pl.DataFrame:
    """The rows with start <= ts < stop get each other's items (a permutation: the catalogue
    and every user's count stay the same)."""
    inside = (pl.col("ts") >= start) & (pl.col("ts") < (stop or 2**62))
    chosen = frame.filter(inside)
    rng = np.random.default_rng(0)
    moved = chosen.with_columns(pl.Series("item", rng.permutation(chosen["item"].to_numpy())))
    return pl.concat([frame.filter(~inside), moved]).sort("ts")


def rows_by_user(stage, features: np.ndarray) -> dict[int, tuple]:
    """user index -> (pooled items, their feature rows): what a stage knows of each user."""
    users = stage.data.eval_users[stage.pool.rows]
    offsets = stage.pool.offsets
    return {
        int(users[offsets[r]]): (
            stage.pool.items[offsets[r] : offsets[r + 1]],
            features[offsets[r] : offsets[r + 1]],
        )
        for r in range(stage.pool.n_users)
        if offsets[r + 1] > offsets[r]
    }


def assert_same_for_shared_users(before: dict, after: dict) -> None:
    """Users labelled (or ranked) in both runs have the same pool and the same features. Which
    users are labelled depends on the window's content by definition (users with label pairs)."""
    shared = before.keys() & after.keys()
    assert len(shared) >= 0.8 * len(before)
    for user in shared:
        assert np.array_equal(before[user][0], after[user][0])
        assert np.array_equal(before[user][1], after[user][1], equal_nan=True)


def test_features_never_read_the_window_they_label(write_data):
    frame = plays()
    data, stages = stages_of(frame, write_data, "plain")
    first_label = int(stages.labels.data.split.truth["timestamp"].min())
    first_test = int(stages.test.data.split.truth["timestamp"].min())

    # 1. the label window rewritten: the label stage's pools and features are the same
    _, moved = stages_of(shuffle_items(frame, first_label, first_test), write_data, "labels")
    assert_same_for_shared_users(
        rows_by_user(stages.labels, stages.train_features),
        rows_by_user(moved.labels, moved.train_features),
    )
    assert pairs(moved.labels.data.split.truth) != pairs(stages.labels.data.split.truth)

    # 2. the test window rewritten: the test stage's pools and features are the same
    moved_data, moved = stages_of(shuffle_items(frame, first_test), write_data, "test")
    assert_same_for_shared_users(
        rows_by_user(stages.test, stages.test_features),
        rows_by_user(moved.test, moved.test_features),
    )
    assert pairs(moved_data.split.truth) != pairs(data.split.truth)  # the truth did change
