"""Item-item neighbourhood models: ItemKNN (shrunk cosine), RP3beta and EASE.

Similarity matrices are built in column blocks and pruned to the `neighbors` strongest entries of
each column (ties at the k-th value go to the lower item index), so memory stays
O(items x neighbors) for the sparse models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender, dense

_BLOCK = 1024


def top_per_column(sim: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the `keep` largest entries of each column of a dense block.

    Entries equal to a column's k-th largest value are taken by increasing row index, so the
    result never depends on how a selection algorithm orders ties. Zeros are never kept (a zero
    similarity is no neighbour), so a column may keep fewer than `keep` entries.
    """
    kth = -np.partition(-sim, keep - 1, axis=0)[keep - 1]
    mask = sim > kth
    room = keep - mask.sum(axis=0)
    tied = (sim == kth) & (kth != 0)
    over = np.flatnonzero(tied.sum(axis=0) > room)  # more ties than places left: lowest rows
    mask |= tied
    if over.size:
        first = tied[:, over] & (np.cumsum(tied[:, over], axis=0) <= room[over])
        mask[:, over] = (sim[:, over] > kth[over]) | first
    return mask


def pruned_similarity(
    left: sp.csr_matrix,
    right: sp.csc_matrix,
    neighbors: int,
    weigh: Callable[[np.ndarray, slice], np.ndarray],
) -> sp.csr_matrix:
    """S = weigh(left @ right) with a zero diagonal, keeping the top `neighbors` of each column."""
    n_items = right.shape[1]
    keep = min(neighbors, n_items)
    rows, cols, vals = [], [], []
    for start in range(0, n_items, _BLOCK):
        block = slice(start, min(start + _BLOCK, n_items))
        sim = weigh(dense(left @ right[:, block]).astype(np.float32), block)
        width = sim.shape[1]
        sim[np.arange(start, start + width), np.arange(width)] = 0.0
        row, col = np.nonzero(top_per_column(sim, keep))
        rows.append(row)
        cols.append(col + start)
        vals.append(sim[row, col])
    similarity = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    similarity.eliminate_zeros()
    return similarity


def prune_sparse_columns(matrix: sp.spmatrix, keep: int) -> sp.csr_matrix:
    """The `keep` largest entries of each column of a sparse matrix (ties: lower row index)."""
    coo = sp.coo_matrix(matrix)
    order = np.lexsort((coo.row, -coo.data, coo.col))
    col = coo.col[order]
    starts = np.searchsorted(col, col, side="left")
    kept = order[np.arange(order.size) - starts < keep]
    return sp.csr_matrix(
        (coo.data[kept], (coo.row[kept], coo.col[kept])), shape=matrix.shape, dtype=np.float32
    )


@dataclass(frozen=True)
class ItemKNNParams:
    neighbors: int = 100
    shrink: float = 10.0

    # `rank tune`'s default ranges ([tune.params] syntax; Dacrema et al., RecSys 2019).
    SEARCH_SPACE = {
        "neighbors": {"low": 5, "high": 1000, "log": True},
        "shrink": {"low": 0.0, "high": 1000.0},
    }

    def __post_init__(self) -> None:
        if self.neighbors < 1 or self.shrink < 0:
            raise ValueError("neighbors must be >= 1 and shrink >= 0")


class SimilarityModel(Recommender):
    """score(u, j) = sum_i h_ui S_ij for a learned item-item matrix `similarity_`."""

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return dense(history @ self.similarity_)


class ItemKNN(SimilarityModel):
    """Item-based kNN: s(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrink); score(u, j) = sum_i h_ui s(i, j).

    Sarwar et al., WWW 2001; shrinkage as tuned by Dacrema et al., RecSys 2019.
    """

    Params = ItemKNNParams

    def _fit(self, train: sp.csr_matrix) -> None:
        norms = np.sqrt(np.asarray(train.multiply(train).sum(axis=0)).ravel()).astype(np.float32)

        def cosine(block: np.ndarray, cols: slice) -> np.ndarray:
            return block / (norms[:, None] * norms[None, cols] + self.params.shrink + 1e-12)

        self.similarity_ = pruned_similarity(
            train.T.tocsr(), train.tocsc(), self.params.neighbors, cosine
        )


@dataclass(frozen=True)
class RP3betaParams:
    alpha: float = 1.0
    beta: float = 0.5
    neighbors: int = 100
    pruning: Literal["rows", "columns"] = "rows"

    SEARCH_SPACE = {  # `rank tune`'s default ranges (Paudel et al. 2017; Dacrema et al. 2019)
        "alpha": {"low": 0.05, "high": 2.0},
        "beta": {"low": 0.0, "high": 1.0},
        "neighbors": {"low": 5, "high": 1000, "log": True},
    }

    def __post_init__(self) -> None:
        if self.neighbors < 1 or self.alpha <= 0:
            raise ValueError("neighbors must be >= 1 and alpha > 0")


class RP3beta(SimilarityModel):
    """Item-user-item random walk with popularity penalty: W_ij = sum_u P_iu^a P_uj^a / pop_j^beta.

    P_ui and P_iu are the row-normalised binary interaction matrix and its transpose (Paudel et
    al., ACM TiiS 2017). `pruning = "rows"` (default) follows the code of Dacrema et al., RecSys
    2019: keep the top `neighbors` of each row of W, L1-normalise the rows, then keep the top
    `neighbors` of each column. `pruning = "columns"` keeps only the top `neighbors` of each
    column of W (each target item's strongest sources), without normalisation.
    """

    Params = RP3betaParams

    def _fit(self, train: sp.csr_matrix) -> None:
        binary = train.copy()
        binary.data[:] = 1.0
        p_ui = _row_normalise(binary).power(self.params.alpha)
        p_iu = _row_normalise(binary.T.tocsr()).power(self.params.alpha)
        popularity = np.diff(binary.tocsc().indptr).astype(np.float32)
        penalty = np.zeros_like(popularity)
        seen = popularity > 0
        penalty[seen] = popularity[seen] ** -self.params.beta
        neighbors = self.params.neighbors
        if self.params.pruning == "columns":
            self.similarity_ = pruned_similarity(
                p_iu, p_ui.tocsc(), neighbors, lambda block, cols: block * penalty[None, cols]
            )
            return
        # W^T = diag(penalty) P_ui^T P_iu^T: its columns are W's rows, pruned the same way.
        transposed = pruned_similarity(
            p_ui.T.tocsr(), p_iu.T.tocsc(), neighbors, lambda block, cols: block * penalty[:, None]
        )
        rows = _row_normalise(transposed.T.tocsr())
        self.similarity_ = prune_sparse_columns(rows, neighbors)


def _row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums) @ matrix, dtype=np.float32)


@dataclass(frozen=True)
class EASEParams:
    l2: float = 500.0

    SEARCH_SPACE = {"l2": {"low": 1.0, "high": 1e5, "log": True}}  # `rank tune`'s default range

    def __post_init__(self) -> None:
        if self.l2 <= 0:
            raise ValueError("l2 must be > 0")


class EASE(Recommender):
    """Embarrassingly shallow autoencoder: P = (X^T X + lambda I)^-1, B = -P / diag(P), diag(B) = 0.

    Closed form of Steck, WWW 2019; score(u) = h_u B. Dense: memory and time grow as items^2 and
    items^3 (about 8 s for 8,000 items on one thread).
    """

    Params = EASEParams

    def _fit(self, train: sp.csr_matrix) -> None:
        gram = dense(train.T @ train).astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.params.l2
        precision = np.linalg.inv(gram)
        weights = precision / (-np.diag(precision))[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights.astype(np.float32)

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.weights_)
