"""Every registered model passes the same contract (implicit-style known-answer checkerboard)."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.models.base import NotFittedError, Recommender
from recsys_cli.models.registry import create_model, model_names, model_params_class
from recsys_cli.models.topk import topk_excluding

RECBOLE = [
    n for n in model_names() if n.startswith("recbole_") or n in ("sasrec", "gru4rec", "bert4rec")
]
FAST = [n for n in model_names() if n not in RECBOLE]
# Sequence models answer "what comes next", which a checkerboard without time does not define;
# tests/unit/models/test_sequential.py holds their known answers.
PERSONALISED = [n for n in FAST if n not in ("random", "popularity", "markov", "sknn")]
N = 40
# The checkerboard has rank 2: factor models get few factors so they generalise instead of
# reconstructing the observed cells exactly.
CONTRACT_PARAMS = {
    "implicit_als": {"factors": 4, "regularization": 0.1},
    "implicit_bpr": {"factors": 4},
}


def checkerboard() -> tuple[sp.csr_matrix, list[set[int]]]:
    """User u likes the items with the parity of u; 4 of them per user are held out."""
    dense = np.zeros((N, N), dtype=np.float32)
    hidden = []
    for u in range(N):
        own = [j for j in range(N) if j % 2 == u % 2]
        held = {j for j in own if (j // 2 + u) % 5 == 0}
        hidden.append(held)
        dense[u, [j for j in own if j not in held]] = 1.0
    return sp.csr_matrix(dense), hidden


def fitted(name: str, train: sp.csr_matrix):
    params = model_params_class(name)(**CONTRACT_PARAMS.get(name, {}))
    return create_model(name, params, seed=7).fit(train)


@pytest.mark.parametrize("name", PERSONALISED)
def test_known_answer_checkerboard(name):
    train, hidden = checkerboard()
    items, scores = fitted(name, train).recommend(np.arange(N), train, 3)
    for u in range(N):
        assert all(j % 2 == u % 2 for j in items[u]), (u, items[u])
        assert np.all(np.diff(scores[u]) <= 0)


@pytest.mark.parametrize("name", FAST)
def test_excludes_history_and_returns_k_distinct_items(name):
    train, _ = checkerboard()
    items, _ = fitted(name, train).recommend(np.arange(N), train, 10)
    assert items.shape == (N, 10) and items.dtype == np.int32
    for u in range(N):
        assert len(set(items[u])) == 10
        assert not set(items[u]) & set(train[u].indices)


@pytest.mark.parametrize("name", FAST)
def test_short_catalogue_pads_with_minus_one(name):
    train, _ = checkerboard()
    model = fitted(name, train)
    items, scores = model.recommend(np.arange(N), train, 30)  # only 24 unseen items per user
    assert (items[:, 24:] == -1).all() and np.isneginf(scores[:, 24:]).all()
    assert (items[:, :24] >= 0).all()


@pytest.mark.parametrize("name", FAST)
def test_recommend_before_fit_fails_clearly(name):
    model = create_model(name, model_params_class(name)(), seed=0)
    with pytest.raises(NotFittedError):
        model.recommend(np.arange(2), sp.csr_matrix((2, N)), 3)


@pytest.mark.parametrize("name", FAST)
def test_same_seed_same_lists_and_block_size_does_not_matter(name):
    train, _ = checkerboard()
    users = np.arange(N)
    first, _ = fitted(name, train).recommend(users, train, 5, block_size=7)
    second, _ = fitted(name, train).recommend(users, train, 5, block_size=7)
    assert np.array_equal(first, second)
    if name != "random":  # random draws per block, so blocks change its stream
        whole, _ = fitted(name, train).recommend(users, train, 5)
        assert np.array_equal(first, whole)


@pytest.mark.recbole
@pytest.mark.slow
@pytest.mark.parametrize("name", RECBOLE)
def test_recbole_models_keep_the_list_contract(name):
    train, _ = checkerboard()
    model = create_model(name, model_params_class(name)(), seed=0)
    with pytest.raises(NotFittedError):
        model.recommend(np.arange(2), train[:2], 3)
    model = fitted(name, train)
    items, scores = model.recommend(np.arange(N), train, 30)  # 24 unseen items per user
    assert (items[:, 24:] == -1).all() and (items[:, :24] >= 0).all()
    for u in range(N):
        assert len(set(items[u, :24])) == 24
        assert not set(items[u]) & set(train[u].indices)
        assert np.all(np.diff(scores[u, :24]) <= 0)


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
