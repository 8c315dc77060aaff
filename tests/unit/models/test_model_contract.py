"""Every registered model passes the same contract (`recsys_cli.testing`: implicit-style
known-answer checkerboard), and the contract catches a model that breaks it."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli import testing
from recsys_cli.models.base import Recommender
from recsys_cli.models.registry import create_model, model_class, model_names, model_params_class
from recsys_cli.models.topk import topk_excluding
from recsys_cli.testing import checkerboard

RECBOLE = [
    n for n in model_names() if n.startswith("recbole_") or n in ("sasrec", "gru4rec", "bert4rec")
]
FAST = [n for n in model_names() if n not in RECBOLE]
# Sequence models answer "what comes next", which a checkerboard without time does not define;
# tests/unit/models/test_sequential.py holds their known answers.
PERSONALISED = [n for n in FAST if n not in ("random", "popularity", "markov", "sknn")]
# The checkerboard has rank 2: factor models get few factors so they generalise instead of
# reconstructing the observed cells exactly.
CONTRACT_PARAMS = {
    "implicit_als": {"factors": 4, "regularization": 0.1},
    "implicit_bpr": {"factors": 4},
}


def contract(name: str) -> tuple[type[Recommender], object]:
    """The class of `name` and its params for the contract."""
    return model_class(name), model_params_class(name)(**CONTRACT_PARAMS.get(name, {}))


def fitted(name: str, train: sp.csr_matrix):
    cls, params = contract(name)
    return testing.fit(cls(params, seed=7), train)


@pytest.mark.parametrize("name", FAST)
def test_class_and_default_params(name):
    testing.check_class(model_class(name))


@pytest.mark.parametrize("name", PERSONALISED)
def test_known_answer_checkerboard(name):
    testing.check_known_answer(*contract(name))


@pytest.mark.parametrize("name", FAST)
def test_excludes_history_and_returns_k_distinct_items(name):
    testing.check_lists(*contract(name))


@pytest.mark.parametrize("name", FAST)
def test_short_catalogue_pads_with_minus_one(name):
    testing.check_short_catalogue(*contract(name))


@pytest.mark.parametrize("name", FAST)
def test_recommend_before_fit_fails_clearly(name):
    testing.check_not_fitted(model_class(name), model_params_class(name)())


@pytest.mark.parametrize("name", FAST)
def test_same_seed_same_lists_and_block_size_does_not_matter(name):
    testing.check_reproducible(*contract(name))


@pytest.mark.parametrize("name", FAST)
def test_fit_takes_progress_work_dir_and_on_epoch(name):
    testing.check_fit_options(*contract(name))


@pytest.mark.recbole
@pytest.mark.slow
@pytest.mark.parametrize("name", RECBOLE)
def test_recbole_models_keep_the_contract(name):
    cls = model_class(name)
    testing.check_recommender(cls, dataclasses.replace(cls.Params(), epochs=2), personalised=False)
    # Early stopping holds out an item per user (a sequence's last item, which the
    # checkerboard's item order makes the highest: lists may then be short) and keeps a best epoch.
    stopping = dataclasses.replace(cls.Params(), epochs=3, patience=1)
    testing.check_fit_options(cls, stopping)
    log = testing.fit(cls(stopping, seed=0), checkerboard()[0]).training_log_
    assert 2 <= len(log.epochs) <= 3 and log.best_epoch == int(np.argmax(log.validation))


class Parity(Recommender):
    """Scores an item 1 when its parity is the user's: keeps the contract."""

    def _fit(self, train):
        self.parity_ = np.arange(self.n_items_) % 2

    def _scores(self, users, history):
        return (self.parity_[None, :] == (users % 2)[:, None]).astype(np.float32)


class ShowsHistory(Parity):
    """Overrides recommend and forgets to exclude the history."""

    def recommend(self, users, history, k, block_size=None, progress=None):
        self._inputs(users, history)
        scores = self._scores(np.asarray(users), history)
        items = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int32)
        return items, np.take_along_axis(scores, items, axis=1)


class Float64Scores(Parity):
    def recommend(self, users, history, k, block_size=None, progress=None):
        items, scores = super().recommend(users, history, k, block_size)
        return items, scores.astype(np.float64)


class BlockDependent(Parity):
    """Claims to be shardable, but ties break one way in blocks of odd length, another in even."""

    def _scores(self, users, history):
        tilt = (len(users) % 2) * np.arange(self.n_items_, dtype=np.float32) / 1000
        return super()._scores(users, history) + tilt


class Unfitted(Parity):
    """Returns empty lists before fit instead of raising."""

    def recommend(self, users, history, k, block_size=None, progress=None):
        if not hasattr(self, "parity_"):
            empty = np.full((len(users), k), -1, dtype=np.int32)
            return empty, np.full((len(users), k), -np.inf, dtype=np.float32)
        return super().recommend(users, history, k, block_size)


class SameForAll(Parity):
    def _scores(self, users, history):
        return np.broadcast_to(self.parity_.astype(np.float32), (len(users), self.n_items_))


class NoDefaults(Parity):
    @dataclasses.dataclass(frozen=True)
    class Params:
        k: int


def test_a_model_that_keeps_the_contract_passes():
    testing.check_recommender(Parity)


@pytest.mark.parametrize(
    "cls, message",
    [
        (ShowsHistory, "recommended items of its history"),
        (Float64Scores, "scores are float64"),
        (BlockDependent, "lists depend on the block size"),
        (Unfitted, "did not raise NotFittedError"),
        (SameForAll, "user 0 of parity 0 got"),
        (NoDefaults, "needs a default for k"),
        (dict, "not a Recommender"),
    ],
)
def test_the_contract_catches_a_broken_model(cls, message):
    with pytest.raises(AssertionError, match=message):
        testing.check_recommender(cls)


def test_topk_breaks_ties_by_lower_item_index_and_skips_nan():
    scores = np.array([[1.0, 2.0, 2.0, np.nan, 2.0, -np.inf]], dtype=np.float32)
    history = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, 6))
    items, values = topk_excluding(scores, history, 4)
    assert items.tolist() == [[2, 4, 0, -1]]
    assert values[0, :3].tolist() == [2.0, 2.0, 1.0]


def test_topk_matches_full_sort_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 300)).astype(np.float32)
    history = sp.random(50, 300, density=0.1, random_state=1, format="csr")
    items, _ = topk_excluding(scores, history, 20)
    masked = np.where(history.toarray() > 0, -np.inf, scores)
    expected = np.argsort(-masked, axis=1, kind="stable")[:, :20]
    assert np.array_equal(items, expected)


def test_popularity_scores_by_user_count():
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 0, 0]], dtype=np.float32))
    items, scores = fitted("popularity", train).recommend(np.array([3]), train[[3]], 3)
    assert items.tolist() == [[0, 1, 2]] and scores.tolist() == [[3.0, 1.0, 1.0]]


def test_ease_matches_closed_form():
    rng = np.random.default_rng(3)
    x = (rng.random((30, 12)) < 0.3).astype(np.float64)
    lam = 5.0
    p = np.linalg.inv(x.T @ x + lam * np.eye(12))
    b = np.eye(12) - p / np.diag(p)
    model = create_model("ease", model_params_class("ease")(l2=lam), 0).fit(sp.csr_matrix(x))
    assert np.allclose(model.weights_, b, atol=1e-5)


def test_item_knn_matches_shrunk_cosine():
    rng = np.random.default_rng(4)
    x = (rng.random((25, 8)) < 0.4).astype(np.float64)
    shrink = 3.0
    norms = np.sqrt((x**2).sum(axis=0))
    expected = (x.T @ x) / (np.outer(norms, norms) + shrink + 1e-12)
    np.fill_diagonal(expected, 0.0)
    model = create_model("item_knn", model_params_class("item_knn")(neighbors=8, shrink=shrink), 0)
    model.fit(sp.csr_matrix(x))
    assert np.allclose(model.similarity_.toarray(), expected, atol=1e-6)


def test_item_knn_keeps_top_neighbors_per_column():
    rng = np.random.default_rng(5)
    x = (rng.random((40, 15)) < 0.4).astype(np.float64)
    model = create_model("item_knn", model_params_class("item_knn")(neighbors=3, shrink=0.0), 0)
    similarity = model.fit(sp.csr_matrix(x)).similarity_.toarray()
    assert (np.count_nonzero(similarity, axis=0) <= 3).all()


def test_rp3beta_matches_dense_reference():
    rng = np.random.default_rng(6)
    x = (rng.random((30, 10)) < 0.4).astype(np.float64)
    x[0, :] = 1  # every item seen
    alpha, beta = 0.8, 0.4
    p_ui = (x / x.sum(axis=1, keepdims=True)) ** alpha
    p_iu = (x.T / x.T.sum(axis=1, keepdims=True)) ** alpha
    expected = (p_iu @ p_ui) / x.sum(axis=0)[None, :] ** beta
    np.fill_diagonal(expected, 0.0)
    params = model_params_class("rp3beta")(alpha=alpha, beta=beta, neighbors=10, pruning="columns")
    model = create_model("rp3beta", params, 0).fit(sp.csr_matrix(x))
    assert np.allclose(model.similarity_.toarray(), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["implicit_als", "implicit_bpr"])
def test_factor_models_fold_in_users_without_training_rows(name):
    train, _ = checkerboard()
    fit_matrix = train.tolil()
    fit_matrix[0, :] = 0  # user 0 is held out: no training row
    model = fitted(name, sp.csr_matrix(fit_matrix))
    items, _ = model.recommend(np.array([0]), train[[0]], 3)
    assert all(j % 2 == 0 for j in items[0])


def test_popularity_walk_equals_the_generic_top_k():
    train = sp.random(60, 50, density=0.2, random_state=2, format="csr")
    train.data[:] = 1.0
    model = fitted("popularity", train)
    history = sp.random(60, 50, density=0.3, random_state=3, format="csr")
    fast, fast_scores = model.recommend(np.arange(60), history, 45)
    generic, generic_scores = Recommender.recommend(model, np.arange(60), history, 45)
    assert np.array_equal(fast, generic) and np.array_equal(fast_scores, generic_scores)
