"""Neighbour pruning of ItemKNN and RP3beta against naive references, ties included."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.models import neighbourhood
from recsys_cli.models.neighbourhood import (
    ItemKNN,
    RP3beta,
    Weighting,
    prune_sparse_columns,
    pruned_similarity,
)


def naive_top_columns(w: np.ndarray, k: int) -> np.ndarray:
    """Per column: sort by (-value, row), keep the first k, drop zeros."""
    out = np.zeros_like(w)
    for j in range(w.shape[1]):
        for i in sorted(range(w.shape[0]), key=lambda i: (-w[i, j], i))[:k]:
            out[i, j] = w[i, j]
    return out


def naive_rp3beta(x: np.ndarray, alpha: float, beta: float, k: int, pruning: str) -> np.ndarray:
    """W = P_iu^a P_ui^a / pop^beta, zero diagonal; rows: top-k per row, L1 rows, top-k per
    column (Dacrema et al., RecSys 2019); columns: top-k per column."""
    p_ui = (x / x.sum(axis=1, keepdims=True)) ** alpha
    p_iu = (x.T / x.T.sum(axis=1, keepdims=True)) ** alpha
    w = (p_iu @ p_ui) / x.sum(axis=0)[None, :] ** beta
    np.fill_diagonal(w, 0.0)
    if pruning == "columns":
        return naive_top_columns(w, k)
    w = naive_top_columns(w.T, k).T
    w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
    return naive_top_columns(w, k)


def tied_matrix(seed: int) -> np.ndarray:
    """Binary users x items with duplicated item columns: equal similarities everywhere."""
    rng = np.random.default_rng(seed)
    base = (rng.random((40, 6)) < 0.4).astype(np.float64)
    x = np.repeat(base, 3, axis=1)  # items 3j, 3j+1, 3j+2 are identical
    x[0, :] = 1.0
    return x


def test_prune_sparse_columns_breaks_ties_by_lower_row():
    rng = np.random.default_rng(1)
    dense = rng.integers(0, 3, size=(12, 7)).astype(np.float64)
    pruned = prune_sparse_columns(sp.csr_matrix(dense), 3).toarray()
    np.testing.assert_array_equal(pruned, naive_top_columns(dense, 3))


@pytest.mark.parametrize("k", [2, 4, 5])
def test_item_knn_neighbour_ties_go_to_the_lower_item(k):
    x = tied_matrix(2)
    model = ItemKNN(ItemKNN.Params(neighbors=k, shrink=0.0)).fit(sp.csr_matrix(x))
    norms = np.sqrt((x**2).sum(axis=0))
    cosine = (x.T @ x) / (np.outer(norms, norms) + 1e-12)
    np.fill_diagonal(cosine, 0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), naive_top_columns(cosine, k), atol=1e-6)


@pytest.mark.parametrize("pruning", ["rows", "columns"])
@pytest.mark.parametrize("k", [2, 5, 18])
def test_rp3beta_matches_naive_pruning(pruning, k):
    x = tied_matrix(3)
    params = RP3beta.Params(alpha=0.8, beta=0.4, neighbors=k, pruning=pruning)
    model = RP3beta(params).fit(sp.csr_matrix(x))
    expected = naive_rp3beta(x, 0.8, 0.4, k, pruning)
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-4, atol=1e-6)


def weightings(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [
        Weighting(norms=rng.random(n).astype(np.float32) + 0.5, shrink=3.0),
        Weighting(col=rng.random(n).astype(np.float32)),
        Weighting(row=rng.random(n).astype(np.float32), col=rng.random(n).astype(np.float32)),
    ]


def dense_reference(left: sp.spmatrix, right: sp.spmatrix, weighting: Weighting) -> np.ndarray:
    """scipy's product made dense and weighed in float32 as the docstring says, zero diagonal."""
    sim = (left @ right).toarray().astype(np.float32)
    if weighting.norms is not None:
        norms = weighting.norms
        sim = sim / (norms[:, None] * norms[None, :] + weighting.shrink + 1e-12)
    if weighting.row is not None:
        sim = sim * weighting.row[:, None]
    if weighting.col is not None:
        sim = sim * weighting.col[None, :]
    np.fill_diagonal(sim, 0.0)
    return sim


@pytest.mark.parametrize("k", [1, 4, 30, 200])
def test_similarity_is_the_dense_product_pruned_bit_for_bit(k):
    rng = np.random.default_rng(k)
    x = sp.random(120, 150, density=0.08, random_state=k, format="csr", dtype=np.float32)
    x.data = rng.integers(1, 4, size=x.nnz).astype(np.float32)  # many equal similarities
    for weighting in weightings(150, k):
        found = pruned_similarity(x.T, x, k, weighting)
        expected = naive_top_columns(dense_reference(x.T, x, weighting), k)
        assert found.dtype == np.float32 and found.has_sorted_indices
        np.testing.assert_array_equal(found.toarray(), expected)


@pytest.mark.parametrize("k", [1, 2, 4, 5, 18])
def test_similarity_ties_go_to_the_lower_row(k):
    x = tied_matrix(2)
    ones = Weighting(col=np.ones(x.shape[1], dtype=np.float32))
    product = x.T @ x
    np.fill_diagonal(product, 0.0)
    found = pruned_similarity(sp.csr_matrix(x.T), sp.csr_matrix(x), k, ones).toarray()
    np.testing.assert_array_equal(found, naive_top_columns(product, k))


def test_row_chunks_and_threads_do_not_change_the_similarity(monkeypatch):
    """Rows accumulated in several cache-sized chunks, columns over threads: same matrix."""
    rng = np.random.default_rng(5)
    x = sp.random(80, 300, density=0.1, random_state=5, format="csr", dtype=np.float32)
    x.data = rng.integers(1, 3, size=x.nnz).astype(np.float32)
    weighting = weightings(300, 5)[0]
    whole = pruned_similarity(x.T, x, 7, weighting)
    monkeypatch.setattr(neighbourhood, "_ROW_CHUNK", 64)
    monkeypatch.setattr(neighbourhood, "_COLUMNS", 50)
    chunked = pruned_similarity(x.T, x, 7, weighting)
    assert (whole != chunked).nnz == 0
    np.testing.assert_array_equal(
        whole.toarray(), naive_top_columns(dense_reference(x.T, x, weighting), 7)
    )


def test_ease_refuses_a_catalogue_above_max_items_naming_the_memory():
    from recsys_cli.errors import UserError
    from recsys_cli.models.ease import EASE

    assert EASE.catalogue_problem(EASE.Params(), 25_000) is None
    problem = EASE.catalogue_problem(EASE.Params(l2=10.0), 934_057)
    assert "934,057 x 934,057" in problem and "22,751.2 GiB" in problem  # 28 * n^2 bytes
    assert "max_items = 25,000" in problem
    x = sp.csr_matrix(tied_matrix(1))
    with pytest.raises(UserError, match=r"about 0\.0 GiB .*max_items = 17"):
        EASE(EASE.Params(max_items=17)).fit(x)
    assert EASE(EASE.Params(max_items=18)).fit(x).weights_.shape == (18, 18)


@pytest.mark.parametrize("model", [ItemKNN, RP3beta])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_sparse_recommend_equals_the_dense_top_k(model, k):
    """Heap over the history's similarity rows, completed with zero-score items, against the
    generic path (dense `history @ S`, then the compiled top-k): same items, same scores."""
    from recsys_cli.models.base import Recommender

    rng = np.random.default_rng(k)
    x = sp.random(60, 45, density=0.1, random_state=k, format="csr", dtype=np.float32)
    x.data[:] = 1.0
    fitted = model(model.Params(neighbors=3)).fit(x)
    heard = (rng.random((25, 45)) < 0.08) * rng.integers(1, 3, size=(25, 45))
    heard[3] = 0  # a user without history: only zero scores, lowest items first
    heard[4] = 1  # everything heard: no list
    history = sp.csr_matrix(heard.astype(np.float32))
    users = np.arange(25)
    got = fitted.recommend(users, history, k)
    expected = Recommender.recommend(fitted, users, history, k)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert (got[0][4] == -1).all() and (got[0][3][: min(k, 45)] >= 0).all()
