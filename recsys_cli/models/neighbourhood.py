"""Item-item neighbourhood models: ItemKNN (shrunk cosine), RP3beta and EASE.

Similarity matrices are built in column blocks and pruned to the `neighbors` strongest entries of
each column, so memory stays O(items x neighbors) for the sparse models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender, dense

_BLOCK = 1024


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
        if keep < n_items:
            top = np.argpartition(-sim, keep - 1, axis=0)[:keep]
        else:
            top = np.broadcast_to(np.arange(n_items)[:, None], (n_items, width))
        values = np.take_along_axis(sim, top, axis=0)
        rows.append(top.ravel())
        cols.append(np.broadcast_to(np.arange(start, start + width), top.shape).ravel())
        vals.append(values.ravel())
    similarity = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    similarity.eliminate_zeros()
    return similarity


@dataclass(frozen=True)
class ItemKNNParams:
    neighbors: int = 100
    shrink: float = 10.0

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

    def __post_init__(self) -> None:
        if self.neighbors < 1 or self.alpha <= 0:
            raise ValueError("neighbors must be >= 1 and alpha > 0")


class RP3beta(SimilarityModel):
    """Item-user-item random walk with popularity penalty: W_ij = sum_u P_iu^a P_uj^a / pop_j^beta.

    P_ui and P_iu are the row-normalised binary interaction matrix and its transpose. Paudel et al., ACM TiiS 2017;
    configuration of Dacrema et al., RecSys 2019.
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

        def walk(block: np.ndarray, cols: slice) -> np.ndarray:
            return block * penalty[None, cols]

        self.similarity_ = pruned_similarity(p_iu, p_ui.tocsc(), self.params.neighbors, walk)


def _row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums) @ matrix, dtype=np.float32)


@dataclass(frozen=True)
class EASEParams:
    l2: float = 500.0

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
