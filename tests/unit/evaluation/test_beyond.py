"""Beyond-accuracy metrics computed from a run's prepared data (`evaluation.beyond`)."""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.evaluation.beyond import beyond_metrics
from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.rerank.stage import RerankContext


def test_novelty_divides_by_users_with_training_interactions():
    # 5 users, 2 of them (u3, u4) without any training interaction (cold, or held-out only).
    fit = sp.csr_matrix(
        np.array(
            [[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32
        )
    )
    items = pl.DataFrame({"item": ["a", "b", "c", "d"]})
    prepared = SimpleNamespace(
        fit=fit,
        model_input=fit,
        indexed=SimpleNamespace(
            items=items, item_ids=items["item"], user_ids=pl.Series([f"u{i}" for i in range(5)])
        ),
    )
    ctx = RerankContext.from_prepared(prepared, SimpleNamespace(seed=0, groups={}))
    assert ctx.n_train_users == 3
    side = ItemSideData.of(ctx, ("novelty",))
    assert side.n_train_users == 3
    ranked = np.array([[1, 2], [3, -1]], dtype=np.int32)
    per_user, _ = beyond_metrics(
        side, ranked, pl.Series(["u0", "u1"]), None, sp.csr_matrix((2, 4)), (2,), ("novelty",)
    )
    # naive reference: p(i) = training users of i / 3 training users; unseen items count as one
    p = {1: 1 / 3, 2: 1 / 3, 3: 1 / 3}
    expected = [(-np.log2(p[1]) - np.log2(p[2])) / 2, -np.log2(p[3])]
    assert per_user["value"].to_list() == pytest.approx(expected)
    assert ctx.side.novelty_values()[0] == pytest.approx(-np.log2(3 / 3))
