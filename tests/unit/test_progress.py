"""Library code reports its work on a `Progress` in batches: the totals and counts it states."""

import logging

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.evaluation import comparison
from recsys_cli.evaluation.evaluate import user_blocks
from recsys_cli.models.baselines import Popularity
from recsys_cli.models.ease import EASE
from recsys_cli.models.factor import ALSParams, BPRParams, ImplicitALS, ImplicitBPR
from recsys_cli.progress import NO_PROGRESS, silent_step


class Counted:
    """A `Progress` that records every call."""

    def __init__(self):
        self.totals, self.advances, self.texts = [], [], []

    def total(self, n, unit=""):
        self.totals.append((n, unit))
        self.advances = []

    def advance(self, n=1):
        self.advances.append(n)

    def update(self, text):
        self.texts.append(text)


def train_matrix(n_users=30, n_items=20, seed=0):
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n_users, n_items)) < 0.3).astype(np.float32))


@pytest.mark.parametrize("block", [1, 7, 30, 100])
def test_recommend_counts_users_once_per_block(block):
    train = train_matrix()
    users = np.arange(30)
    progress = Counted()
    model = EASE().fit(train)
    model.recommend(users, train, 5, block_size=block, progress=progress)
    assert progress.totals == [(30, "users")]
    assert progress.advances == [min(block, 30 - s) for s in range(0, 30, block)]


def test_popularity_counts_its_single_pass():
    train = train_matrix()
    progress = Counted()
    Popularity().fit(train).recommend(np.arange(30), train, 5, progress=progress)
    assert progress.totals == [(30, "users")] and progress.advances == [30]


@pytest.mark.parametrize(
    ("model", "iterations"),
    [
        (ImplicitALS(ALSParams(factors=4, iterations=3)), 3),
        (ImplicitBPR(BPRParams(factors=4, iterations=5)), 5),
    ],
)
def test_factor_models_count_iterations(model, iterations):
    progress = Counted()
    model.fit(train_matrix(), progress)
    assert progress.totals == [(iterations, "iterations")]
    assert progress.advances == [1] * iterations


def test_user_blocks_cover_every_user_once(monkeypatch):
    from recsys_cli.evaluation import evaluate

    monkeypatch.setattr(evaluate, "BLOCK_USERS", 4)
    progress = Counted()
    blocks = list(user_blocks(10, progress))
    assert [(b.start, b.stop) for b in blocks] == [(0, 4), (4, 8), (8, 10)]
    assert progress.advances == [4, 4, 2]
    assert list(user_blocks(0, progress)) == []


def test_compare_counts_model_metric_pairs():
    rng = np.random.default_rng(1)
    rows = [
        {"model": m, "user": u, "metric": "ndcg", "cutoff": k, "value": float(rng.random())}
        for m in ("a", "b", "c")
        for k in (5, 10)
        for u in range(20)
    ]
    progress = Counted()
    comparison.compare(
        pl.DataFrame(rows), "a", ["ndcg@5", "ndcg@10"], n_resamples=50, progress=progress
    )
    assert progress.totals == [(4, "comparisons")] and progress.advances == [1] * 4


def test_silent_step_logs_the_duration_and_draws_nothing(caplog):
    with caplog.at_level(logging.DEBUG, logger="recsys_cli"), silent_step("fit x") as progress:
        assert progress is NO_PROGRESS
        progress.total(3)
        progress.advance()
        progress.update("text")
    assert [r.levelname for r in caplog.records] == ["DEBUG", "INFO"]
    assert caplog.records[1].getMessage().startswith("fit x: ")
