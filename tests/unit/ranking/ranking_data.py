"""A small local dataset with timestamps and item columns (genres, artist, year), and a recipe."""

import numpy as np
import polars as pl


def plays(n_users=80, n_items=40, per_user=15, seed=0) -> pl.DataFrame:
    """Users in three taste clusters, distinct interleaved timestamps."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    clock = rng.permutation(n_users * per_user) * 60 + 1_000_000
    for u in range(n_users):
        pool = np.arange(u % 3, n_items, 3)
        chosen = rng.choice(pool, size=min(per_user, len(pool)), replace=False)
        users += [f"u{u}"] * len(chosen)
        items += [f"i{i}" for i in chosen]
        times += clock[u * per_user : u * per_user + len(chosen)].tolist()
    return pl.DataFrame({"user": users, "item": items, "ts": times, "plays": 1.0})


def items_table(n_items=40, artist=True) -> pl.DataFrame:
    genres = ["Jazz|Rock", "Pop", "Rock", "Jazz|Pop|Folk", "Folk"]
    table = {
        "item": [f"i{i}" for i in range(n_items)],
        "genres": [genres[i % 5] for i in range(n_items)],
        "year": [2000 + i % 20 for i in range(n_items)],
    }
    if artist:
        table["artist"] = [f"artist{i % 7}" for i in range(n_items)]
    return pl.DataFrame(table)


def raw_recipe(path, items_path, **ranker) -> dict:
    return {
        "name": "ranker-unit",
        "seed": 3,
        "dataset": {
            "name": "plays",
            "path": str(path),
            "items_path": str(items_path),
            "columns": {"user": "user", "item": "item", "timestamp": "ts", "weight": "plays"},
        },
        "split": {"kind": "temporal", "test": 0.2},
        "models": [
            {"name": "popularity"},
            {"name": "ease", "params": {"l2": 10.0}},
            {"name": "item_knn"},
        ],
        "groups": {"tail": {"popularity_below": 0.5}},
        "ranker": {
            "generators": ["popularity", "ease", "item_knn"],
            "validation": 0.25,
            "params": {"iterations": 10, "min_data_in_leaf": 5},
            **ranker,
        },
        "eval": {"cutoffs": [5], "candidates": 10},
    }
