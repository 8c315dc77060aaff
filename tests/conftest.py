"""Shared fixtures: a small synthetic interactions table in canonical form."""

import importlib.util

import numpy as np
import polars as pl
import pytest

HAS_RECBOLE = importlib.util.find_spec("recbole") is not None


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="recbole (and its embedded MovieLens 100K) is not installed")
    for item in items:
        if "recbole" in item.keywords and not HAS_RECBOLE:
            item.add_marker(skip)


def synthetic_interactions(n_users=60, n_items=40, per_user=12, seed=0) -> pl.DataFrame:
    """Users with taste clusters, distinct timestamps, string ids (like many real sources)."""
    rng = np.random.default_rng(seed)
    rows = []
    clocks = rng.permutation(n_users * per_user) * 60 + 1_000_000  # distinct, interleaved
    for u in range(n_users):
        cluster = u % 3
        pool = np.arange(cluster, n_items, 3)
        for n, item in enumerate(rng.choice(pool, size=min(per_user, len(pool)), replace=False)):
            clock = int(clocks[u * per_user + n])
            rows.append((f"u{u}", f"i{item}", clock, float(rng.integers(1, 6))))
    users, items, ts, weight = zip(*rows, strict=True)
    return pl.DataFrame({"user": users, "item": items, "timestamp": ts, "weight": weight})


@pytest.fixture
def interactions() -> pl.DataFrame:
    return synthetic_interactions()


@pytest.fixture
def interactions_csv(tmp_path, interactions):
    path = tmp_path / "plays.csv"
    interactions.rename(
        {"user": "uid", "item": "track", "timestamp": "ts", "weight": "plays"}
    ).write_csv(path)
    return path
