"""In-memory evaluation of index arrays (`evaluation.evaluator`) against hand-computed values,
and its pieces: list depth, user shards, id -> index mapping, the side data a metric reads."""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.evaluation import evaluate as evaluate_module
from recsys_cli.evaluation.evaluator import (
    EvalUsers,
    as_lists,
    evaluate,
    join_user_blocks,
    per_user_values,
)
from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.evaluation.stored import index_of


def users_with(truth_rows: list[list[int]], n_items: int = 6) -> EvalUsers:
    rows = [u for u, items in enumerate(truth_rows) for _ in items]
    cols = [i for items in truth_rows for i in items]
    truth = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(truth_rows), n_items))
    return EvalUsers(pl.Series("user", [f"u{u}" for u in range(len(truth_rows))]), truth)


def test_ndcg_recall_and_coverage_by_hand():
    users = users_with([[0], [3, 4], [5]])
    a = np.array([[0, 1], [2, 3], [1, 2]])
    b = np.array([[1, 0], [4, 3], [5, -1]])
    side = ItemSideData(popularity=np.ones(6), n_train_users=3)
    result = evaluate([("a", a), ("b", b)], users, side, (2,), ("ndcg", "recall", "coverage"))
    per_user = result.per_user.filter(pl.col("metric") == "ndcg")
    d2 = 1 / np.log2(3)  # discount of rank 2
    assert per_user["model"].to_list() == ["a"] * 3 + ["b"] * 3
    assert per_user["value"].to_list() == pytest.approx([1.0, d2 / (1 + d2), 0.0, d2, 1.0, 1.0])
    recall = result.per_user.filter(pl.col("metric") == "recall")["value"].to_list()
    assert recall == pytest.approx([1.0, 0.5, 0.0, 1.0, 1.0, 1.0])
    models = result.to_json()["models"]
    assert models["a"]["coverage@2"] == {"mean": 4 / 6, "stderr": None, "users": 3}
    assert models["b"]["coverage@2"]["mean"] == pytest.approx(5 / 6)  # 0, 1, 3, 4, 5
    assert list(models) == ["a", "b"]  # rows in the order added
    assert list(models["a"]) == ["ndcg@2", "recall@2", "coverage@2"]


def test_lists_are_cut_or_padded_to_the_largest_cutoff():
    items = np.array([[4, 2, 7]], dtype=np.int64)
    assert as_lists(items, 2).tolist() == [[4, 2]]
    padded = as_lists(items, 5)
    assert padded.tolist() == [[4, 2, 7, -1, -1]] and padded.dtype == np.int32


def test_users_in_blocks_or_shards_give_the_table_of_all_users(monkeypatch):
    rng = np.random.default_rng(0)
    n_users, n_items = 23, 30
    truth = [list(rng.choice(n_items, size=rng.integers(1, 4), replace=False)) for _ in range(23)]
    users = users_with(truth, n_items)
    history = sp.random(n_users, n_items, density=0.2, format="csr", random_state=1)
    history.data[:] = 1.0
    users = EvalUsers(users.ids, users.truth, history)
    popularity = rng.integers(0, 9, n_items).astype(np.float64)
    side = ItemSideData(popularity, n_train_users=20)
    items = np.argsort(-rng.random((n_users, n_items)), axis=1)[:, :8].astype(np.int32)
    metrics = ("novelty", "ndcg", "popularity_lift", "recall", "coverage")
    whole = per_user_values(items, users, side, (3, 8), metrics)
    assert whole["metric"].unique(maintain_order=True).to_list() == [
        "ndcg",
        "recall",
        "novelty",
        "popularity_lift",
    ]  # fmt: skip  (accuracy first; coverage is one value per row)
    monkeypatch.setattr(evaluate_module, "BLOCK_USERS", 4)
    assert per_user_values(items, users, side, (3, 8), metrics).equals(whole)
    shards = [slice(0, 10), slice(10, 11), slice(11, 23)]
    parts = [per_user_values(items[s], users.rows(s), side, (3, 8), metrics) for s in shards]
    assert join_user_blocks(parts, metrics, (3, 8)).equals(whole)


def test_index_of_any_vocabulary_order_and_missing_ids():
    vocabulary = pl.Series(["c", "a", "b"])
    assert index_of(pl.Series(["a", "b", "z", "c"]), vocabulary).tolist() == [1, 2, -1, 0]
    numbers = pl.Series([30, 10, 20])
    assert index_of(pl.Series([10, 99, 30]), numbers).tolist() == [1, -1, 0]
    assert index_of(pl.Series([10, 20]), pl.Series([10, 20])).tolist() == [0, 1]
    assert index_of(pl.Series([1]), pl.Series([], dtype=pl.Int64)).tolist() == [-1]


def test_side_data_holds_what_the_metrics_read():
    calls = []
    item_side = SimpleNamespace(
        popularity=np.arange(4.0),
        n_train_users=2,
        genres=lambda needed_by: calls.append(("genres", needed_by)) or np.eye(4),
        attribute=lambda name, needed_by: calls.append((name, needed_by)) or np.arange(4),
    )
    source = SimpleNamespace(
        side=item_side,
        similarity=SimpleNamespace(
            vectors=lambda name, needed_by: calls.append((name, needed_by)) or np.ones((4, 2))
        ),
        groups=SimpleNamespace(mask=lambda name: np.array([True, False, True, False])),
    )
    side = ItemSideData.of(source, ("ndcg", "ild[factors]", "exposure_share[g]", "aplt"))
    assert side.genres is None and side.artist is None
    assert list(side.vectors) == ["factors"] and list(side.groups) == ["g"]
    # training users 0, 1, 2, 3: items 3 and 2 cover 0.8 of them (the head)
    assert side.tail.tolist() == [True, True, False, False]
    assert calls == [("factors", "metric 'ild[factors]'")]
    side = ItemSideData.of(source, ("miscalibration", "provider_gini"))
    assert side.genres is not None and side.artist is not None
