"""Splits: no leakage across the temporal cut, fold-in users absent from training, counts add up."""

import numpy as np
import polars as pl
import pytest

from recsys_cli.config.schema import FilterConfig, SplitConfig
from recsys_cli.data.dataset import Dataset, empty_items
from recsys_cli.data.prepare import index_dataset
from recsys_cli.data.splits import split
from recsys_cli.errors import DataError


def indexed(frame: pl.DataFrame):
    dataset = Dataset("synthetic", frame, empty_items(frame["item"]), "sha256:x", "test")
    return index_dataset(dataset, FilterConfig(binarize=False)).interactions


def pairs(frame):
    return set(zip(frame["user_idx"].to_list(), frame["item_idx"].to_list(), strict=True))


def test_temporal_split_has_no_training_interaction_after_the_cut(interactions):
    frame = indexed(interactions)
    result = split(frame, SplitConfig(kind="temporal", test=0.25), seed=0)
    assert result.fit["timestamp"].max() < result.truth["timestamp"].min()
    assert result.fit.height + result.truth.height == frame.height
    assert abs(result.truth.height / frame.height - 0.25) < 0.02


def test_temporal_validation_sits_between_train_and_test(interactions):
    frame = indexed(interactions)
    on_val = split(frame, SplitConfig(test=0.2, validation=0.1, evaluate_on="validation"), 0)
    on_test = split(frame, SplitConfig(test=0.2, validation=0.1), 0)
    assert on_val.fit["timestamp"].max() < on_val.truth["timestamp"].min()
    assert on_val.truth["timestamp"].max() < on_test.truth["timestamp"].min()
    # Evaluating on test trains on train + validation.
    assert on_test.fit.height == on_val.fit.height + on_val.truth.height


def test_temporal_cutoff_date():
    frame = indexed(
        pl.DataFrame(
            {
                "user": ["a", "a", "b", "b"],
                "item": ["x", "y", "x", "z"],
                "timestamp": [0, 86400 * 10, 86400 * 20, 86400 * 30],
                "weight": [1.0] * 4,
            }
        )
    )
    result = split(frame, SplitConfig(cutoff="1970-01-15"), 0)
    assert sorted(result.truth["timestamp"].to_list()) == [86400 * 20, 86400 * 30]


def test_temporal_split_refuses_missing_timestamps(interactions):
    frame = indexed(
        interactions.with_columns(
            pl.when(pl.col("weight") > 4)
            .then(None)
            .otherwise(pl.col("timestamp"))
            .alias("timestamp")
        )
    )
    with pytest.raises(DataError, match="no timestamp"):
        split(frame, SplitConfig(kind="temporal"), 0)


def test_leave_last_takes_each_users_latest(interactions):
    frame = indexed(interactions)
    result = split(frame, SplitConfig(kind="leave_last", n=2), 0)
    latest = frame.sort("timestamp").group_by("user_idx").tail(2)
    assert pairs(result.truth) == pairs(latest)
    assert result.truth.group_by("user_idx").len()["len"].max() == 2


def tied_histories(n_users=400, seed=0) -> pl.DataFrame:
    """Each user: 4 plays at distinct times, then a random number (1-3) of plays sharing the last
    timestamp (items drawn without order), so leave-last must break ties."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        items = rng.choice(50, size=7, replace=False)
        tied = int(rng.integers(1, 4))
        for n, item in enumerate(items[: 4 + tied]):
            rows.append((f"u{u}", f"i{item:02d}", 100 * u + min(n, 4), 1.0))
    return pl.DataFrame(rows, schema=["user", "item", "timestamp", "weight"], orient="row")


def test_leave_last_breaks_time_ties_at_random_and_counts_them():
    frame = indexed(tied_histories())
    result = split(frame, SplitConfig(kind="leave_last", n=1), seed=0)
    last = frame.group_by("user_idx").agg(
        pl.col("item_idx").filter(pl.col("timestamp") == pl.col("timestamp").max()).alias("tied")
    )
    held = result.truth.join(last, on="user_idx")
    # The held-out item is one of the user's last-timestamp items ...
    assert all(i in tied for i, tied in zip(held["item_idx"], held["tied"], strict=True))
    # ... picked without favouring a high (or low) item index: under the old "largest index"
    # rule it was always the maximum of the tied items.
    ties = held.filter(pl.col("tied").list.len() > 1)
    is_max = (ties["item_idx"] == ties["tied"].list.max()).mean()
    assert 0.3 < is_max < 0.75
    # naive count of users whose cut fell inside a tie
    assert result.notes["users_cut_inside_a_time_tie"] == ties.height
    # seeded: the same seed gives the same split, another seed another one
    again, other = (split(frame, SplitConfig(kind="leave_last", n=1), s) for s in (0, 1))
    assert again.fingerprint() == result.fingerprint() != other.fingerprint()


def test_leave_last_tie_order_does_not_depend_on_file_order():
    frame = indexed(tied_histories(50))
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=7)
    config = SplitConfig(kind="leave_last", n=2, validation=0.1)
    first, second = split(frame, config, 3), split(shuffled, config, 3)
    assert first.fingerprint() == second.fingerprint()
    assert "users_validation_cut_inside_a_time_tie" in first.notes


def test_random_split_is_reproducible_and_per_user(interactions):
    frame = indexed(interactions)
    first = split(frame, SplitConfig(kind="random", test=0.25), seed=3)
    second = split(frame, SplitConfig(kind="random", test=0.25), seed=3)
    other = split(frame, SplitConfig(kind="random", test=0.25), seed=4)
    assert first.fingerprint() == second.fingerprint() != other.fingerprint()
    per_user = first.truth.group_by("user_idx").len()["len"]
    assert (per_user == 3).all()  # 12 interactions each, 25 %


def test_strong_generalization_fold_in_users_absent_from_training(interactions):
    frame = indexed(interactions)
    result = split(frame, SplitConfig(kind="users", test=0.2, fold_in=0.75), seed=1)
    held_out = set(result.truth["user_idx"].to_list())
    assert held_out and not held_out & set(result.fit["user_idx"].to_list())
    assert set(result.extra_input["user_idx"].to_list()) == held_out
    assert len(held_out) == 12  # 20 % of 60 users
    assert not pairs(result.extra_input) & pairs(result.truth)
    assert result.extra_input.height == 9 * 12 and result.truth.height == 3 * 12


def test_kcore_is_iterative():
    # Item z has 2 users, but user c drops out (1 interaction), then z has only 1 user left:
    # a single pass would keep (a, z).
    frame = pl.DataFrame(
        {
            "user": ["a", "a", "a", "b", "b", "c"],
            "item": ["x", "y", "z", "x", "y", "z"],
            "timestamp": [1, 2, 3, 4, 5, 6],
            "weight": [1.0] * 6,
        }
    )
    dataset = Dataset("k", frame, empty_items(frame["item"]), "sha256:x", "test")
    kept = index_dataset(dataset, FilterConfig(min_user_interactions=2, min_item_interactions=2))
    assert kept.n_interactions == kept.interactions.height == 4
    assert kept.item_ids.to_list() == ["x", "y"] and kept.user_ids.to_list() == ["a", "b"]
    assert kept.interactions["timestamp"].to_list() == [1, 2, 4, 5]


def test_min_rating_then_binarize(interactions):
    dataset = Dataset("r", interactions, empty_items(interactions["item"]), "sha256:x", "test")
    kept = index_dataset(dataset, FilterConfig(min_rating=4.0, binarize=True)).interactions
    assert kept.height == (interactions["weight"] >= 4).sum()
    assert np.all(kept["weight"].to_numpy() == 1.0)


def test_future_in_training_is_counted_for_per_user_splits_only(interactions):
    frame = indexed(interactions)
    temporal = split(frame, SplitConfig(kind="temporal", test=0.2), 0)
    assert temporal.notes["fit_after_first_heldout"] == 0
    leave_last = split(frame, SplitConfig(kind="leave_last"), 0)
    first = leave_last.truth["timestamp"].min()
    expected = int((leave_last.fit["timestamp"] > first).sum())
    assert leave_last.notes["fit_after_first_heldout"] == expected > 0


def test_the_report_warns_about_the_leak():
    from recsys_cli.results.report import counts_lines

    counts = {
        "interactions": 10,
        "users": 2,
        "items": 5,
        "dataset_interactions": 10,
        "kind": "leave_last",
        "evaluated_part": "test",
        "evaluated_users": 2,
        "pairs_evaluated": 2,
        "cold_users_excluded": 0,
        "pairs_seen_in_input": 0,
        "pairs_on_items_unseen_in_training": 0,
        "fit_interactions": 8,
        "fit_after_first_heldout": 4,
    }
    assert any(
        "4 training interactions (50%)" in line and "Ji et al." in line
        for line in counts_lines(counts)
    )


def test_temporal_cutoff_before_all_data_is_a_clear_error(interactions):
    frame = indexed(interactions)
    with pytest.raises(DataError, match="no interaction lies before it"):
        split(frame, SplitConfig(cutoff="1960-01-01", validation=0.1), 0)


def test_temporal_new_users_fold_in_their_earliest_interactions():
    # a: history before the cut; b: arrives after it with 4 plays; c: one play after the cut.
    rows = [("a", "x", 1), ("a", "y", 2), ("a", "z", 10), ("b", "x", 11), ("b", "y", 12)]
    rows += [("b", "z", 13), ("b", "w", 14), ("c", "x", 15), ("d", "w", 3)]
    frame = indexed(
        pl.DataFrame(
            [(*r, 1.0) for r in rows], schema=["user", "item", "timestamp", "weight"], orient="row"
        )
    )
    users = dict(zip(["a", "b", "c", "d"], range(4), strict=True))
    config = SplitConfig(cutoff="1970-01-01T00:00:10", new_users="fold_in", fold_in=0.5)
    result = split(frame, config, 0)
    assert result.fit["timestamp"].max() < 10  # the model still learns from before the cut only
    # b's two earliest plays are input, the two latest targets; c's only play is input
    assert sorted(result.extra_input["timestamp"].to_list()) == [11, 12, 15]
    assert sorted(zip(result.truth["user_idx"], result.truth["timestamp"], strict=True)) == [
        (users["a"], 10),
        (users["b"], 13),
        (users["b"], 14),
    ]
    assert result.notes["test_new_users_folded_in"] == 1
    assert result.notes["test_new_users_input_only"] == 1
    excluded = split(frame, SplitConfig(cutoff="1970-01-01T00:00:10"), 0)
    assert excluded.extra_input.height == 0 and excluded.truth.height == 6


def test_new_users_fold_in_is_for_temporal_splits_only():
    with pytest.raises(ValueError, match="temporal"):
        SplitConfig(kind="random", new_users="fold_in")
