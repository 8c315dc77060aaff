"""The item side data a run stores for `rank eval` (`results.side_data`): round trip, what a run
did not store, damaged files."""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.errors import UserError
from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.results.side_data import (
    SIDE_DIR,
    StoredSide,
    read_side_data,
    side_context,
    write_side_data,
)

RECIPE = SimpleNamespace(seed=3, groups={})


def stored(history=True, factors=True) -> StoredSide:
    items = pl.DataFrame(
        {"item": ["a", "b", "c"], "genres": ["Pop|Rock", "Rock", None], "artist": ["x", "y", "x"]}
    )
    profiles = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    return StoredSide(
        items,
        np.array([2.0, 1.0, 0.0]),
        4,
        profiles if history else None,
        np.arange(6.0).reshape(3, 2) if factors else None,
    )


def test_round_trip_gives_the_arrays_metrics_read(tmp_path):
    write_side_data(tmp_path / SIDE_DIR, stored())
    back = read_side_data(tmp_path, n_users=2)
    assert back.items.equals(stored().items) and back.n_train_users == 4
    assert back.popularity.tolist() == [2.0, 1.0, 0.0]
    assert back.history.toarray().tolist() == [[1, 0, 1], [0, 1, 0]]
    users = pl.Series(["u0", "u1"])
    metrics = ("ild", "ild[factors]", "discovery", "aplt", "popularity_lift")
    side = ItemSideData.of(side_context(back, users, RECIPE, metrics), metrics)
    assert side.vectors["factors"].tolist() == [[0, 1], [2, 3], [4, 5]]
    assert side.genres.tolist() == [[1, 1], [0, 1], [0, 0]]  # Pop, Rock
    assert side.artist.tolist() == [0, 1, 0]


def test_what_the_run_did_not_store_is_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="older version of rank"):
        read_side_data(tmp_path, n_users=2)
    write_side_data(tmp_path / SIDE_DIR, stored(history=False, factors=False))
    back = read_side_data(tmp_path, n_users=2)
    users = pl.Series(["u0", "u1"])
    with pytest.raises(UserError, match="'discovery' reads the users' training profiles"):
        side_context(back, users, RECIPE, ("ndcg", "discovery"))
    with pytest.raises(UserError, match="ild\\[factors\\]' reads ALS item factors"):
        side_context(back, users, RECIPE, ("ild[factors]",))
    assert side_context(back, users, RECIPE, ("novelty",)).n_items == 3


def test_damaged_or_foreign_side_data_is_one_line(tmp_path):
    write_side_data(tmp_path / SIDE_DIR, stored())
    with pytest.raises(UserError, match="not those of users.parquet"):
        read_side_data(tmp_path, n_users=5)
    (tmp_path / SIDE_DIR / "arrays.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(UserError, match="not readable"):
        read_side_data(tmp_path, n_users=2)
