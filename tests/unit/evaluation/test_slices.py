"""Slices: activity quantile buckets and popularity bands against hand-computed cases."""

import polars as pl

from recsys_cli.evaluation.slices import activity_buckets, popularity_bands


def test_activity_buckets_are_equal_count_quantiles():
    users = pl.DataFrame(
        {"user": list("abcdefgh"), "train_interactions": [1, 2, 3, 4, 10, 20, 30, 40]}
    )
    buckets = activity_buckets(users, n_buckets=4).sort("user")
    assert buckets["slice"].to_list() == [
        "q1: 1-1 interactions",
        "q2: 2-3 interactions",
        "q2: 2-3 interactions",
        "q3: 4-10 interactions",
        "q3: 4-10 interactions",
        "q4: 20-40 interactions",
        "q4: 20-40 interactions",
        "q4: 20-40 interactions",
    ]


def test_popularity_bands_split_by_cumulative_interaction_share():
    # Popularity 50, 20, 10, 10, 5, 5 (total 100): cumulative share before each item is
    # 0, .5, .7, .8, .9, .95 -> head {a}, mid {b, c}, tail {d, e, f}.
    items = pl.DataFrame({"item": list("fedcba"), "train_users": [5, 5, 10, 10, 20, 50]})
    bands = popularity_bands(items)
    assert bands["head"].to_list() == ["a"]
    assert bands["mid"].to_list() == ["b", "c"]
    assert sorted(bands["tail"].to_list()) == ["d", "e", "f"]
