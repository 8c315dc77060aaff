"""Item-item neighbourhood models: ItemKNN (shrunk cosine), RP3beta and EASE.

Similarity matrices are pruned to the `neighbors` strongest entries of each column (ties at the
k-th value go to the lower item index), so memory stays O(items x neighbors) for the sparse
models. Small catalogues take dense column blocks; large ones a compiled sparse product that
never holds more than one column of the item-item matrix per thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from recsys_cli.errors import UserError
from recsys_cli.models.base import Recommender, dense
from recsys_cli.models.topk import _sift_down, _sift_up, _worse
from recsys_cli.progress import NO_PROGRESS, Progress

_BLOCK = 1024
# The dense path's items x _BLOCK float32 block is capped at this many cells (256 MiB): larger
# catalogues take the sparse path.
DENSE_BLOCK_CELLS = 1 << 26
# Columns of the sparse path per compiled call (one progress step).
_SPARSE_COLUMNS = 8192


@dataclass(frozen=True)
class Weighting:
    """The factor of each entry of a product: S_rc = (left @ right)_rc / (n_r n_c + shrink)
    when `norms` is given (shrunk cosine), times row[r] and col[c] where given."""

    norms: np.ndarray | None = None
    shrink: float = 0.0
    row: np.ndarray | None = None
    col: np.ndarray | None = None

    def apply(self, block: np.ndarray, cols: slice) -> np.ndarray:
        """Weigh a dense block holding the columns `cols` of the product."""
        if self.norms is not None:
            block = block / (self.norms[:, None] * self.norms[None, cols] + self.shrink + 1e-12)
        if self.row is not None:
            block = block * self.row[:, None]
        if self.col is not None:
            block = block * self.col[None, cols]
        return block


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
    left: sp.spmatrix,
    right: sp.spmatrix,
    neighbors: int,
    weighting: Weighting,
    progress: Progress = NO_PROGRESS,
) -> sp.csr_matrix:
    """S = weighting(left @ right) with a zero diagonal, keeping the top `neighbors` of each
    column; dense column blocks while items x 1024 cells fit DENSE_BLOCK_CELLS, else
    `sparse_pruned_similarity` (the same matrix). Columns done are counted on `progress`."""
    n_items = right.shape[1]
    keep = min(neighbors, n_items)
    progress.total(n_items, "items")
    if left.shape[0] * _BLOCK > DENSE_BLOCK_CELLS:
        return sparse_pruned_similarity(left, right, keep, weighting, progress)
    left, right = left.tocsr(), right.tocsc()
    rows, cols, vals = [], [], []
    for start in range(0, n_items, _BLOCK):
        block = slice(start, min(start + _BLOCK, n_items))
        sim = weighting.apply(dense(left @ right[:, block]).astype(np.float32), block)
        width = sim.shape[1]
        sim[np.arange(start, start + width), np.arange(width)] = 0.0
        row, col = np.nonzero(top_per_column(sim, keep))
        rows.append(row)
        cols.append(col + start)
        vals.append(sim[row, col])
        progress.advance(width)
    return _assemble(rows, cols, vals, left.shape[0], n_items)


def sparse_pruned_similarity(
    left: sp.spmatrix,
    right: sp.spmatrix,
    neighbors: int,
    weighting: Weighting,
    progress: Progress = NO_PROGRESS,
) -> sp.csr_matrix:
    """`pruned_similarity` without any dense block, for non-negative inputs: column c of the
    product is accumulated from the rows of `right`'s nonzeros in column c (Gustavson's sparse
    product; cost sum_u nnz(left col u) * nnz(right row u)), weighed, and its top `neighbors`
    positive entries taken with a heap (ties: lower row). Columns run in parallel threads;
    each entry is summed in the same order as scipy's product, so S equals the dense path's."""
    left, right = left.tocsc(), right.tocsc()
    left.sort_indices()
    right.sort_indices()
    n_rows, n_items = left.shape[0], right.shape[1]
    keep = min(neighbors, n_rows)
    none = np.zeros(0, dtype=np.float32)
    norms, row, col = (
        none if values is None else np.ascontiguousarray(values, dtype=np.float32)
        for values in (weighting.norms, weighting.row, weighting.col)
    )
    rows, cols, vals = [], [], []
    for first in range(0, n_items, _SPARSE_COLUMNS):
        last = min(first + _SPARSE_COLUMNS, n_items)
        out_rows = np.empty((last - first, keep), dtype=np.int32)
        out_vals = np.empty((last - first, keep), dtype=np.float32)
        counts = np.empty(last - first, dtype=np.int64)
        _sparse_top_columns(
            left.indptr, left.indices, left.data, right.indptr, right.indices, right.data,
            n_rows, first, last, np.float32(weighting.shrink), norms, row, col,
            numba.get_num_threads(), out_rows, out_vals, counts,
        )  # fmt: skip
        filled = np.arange(keep)[None, :] < counts[:, None]
        rows.append(out_rows[filled])
        cols.append(np.repeat(np.arange(first, last), counts))
        vals.append(out_vals[filled])
        progress.advance(last - first)
    return _assemble(rows, cols, vals, n_rows, n_items)


def _assemble(rows, cols, vals, n_rows: int, n_items: int) -> sp.csr_matrix:
    similarity = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_items),
        dtype=np.float32,
    )
    similarity.eliminate_zeros()
    return similarity


@njit(parallel=True, cache=True)
def _sparse_top_columns(
    l_ptr, l_rows, l_vals, r_ptr, r_rows, r_vals, n_rows, first, last, shrink, norms, row,
    col, threads, out_rows, out_vals, counts,
):  # fmt: skip  # pragma: no cover - compiled
    eps = np.float32(1e-12)
    keep = out_rows.shape[1]
    # Thread t takes columns first + t, first + t + threads, ...: popular items spread evenly.
    for t in prange(threads):
        acc = np.zeros(n_rows, dtype=np.float32)
        seen = np.zeros(n_rows, dtype=np.bool_)
        touched = np.empty(n_rows, dtype=np.int64)
        heap_s = np.empty(keep, dtype=np.float32)
        heap_i = np.empty(keep, dtype=np.int64)
        for c in range(first + t, last, threads):
            n_touched = 0
            for p in range(r_ptr[c], r_ptr[c + 1]):
                u = r_rows[p]
                v = r_vals[p]
                for q in range(l_ptr[u], l_ptr[u + 1]):
                    r = l_rows[q]
                    if not seen[r]:
                        seen[r] = True
                        touched[n_touched] = r
                        n_touched += 1
                    acc[r] += l_vals[q] * v
            size = 0
            for j in range(n_touched):
                r = touched[j]
                s = acc[r]
                acc[r] = 0.0
                seen[r] = False
                if r == c:
                    continue
                if norms.size:
                    s = s / (norms[r] * norms[c] + shrink + eps)
                if row.size:
                    s = s * row[r]
                if col.size:
                    s = s * col[c]
                if not s > 0:
                    continue
                if size < keep:
                    heap_s[size] = s
                    heap_i[size] = r
                    _sift_up(heap_s, heap_i, size)
                    size += 1
                elif _worse(heap_s[0], heap_i[0], s, r):
                    heap_s[0] = s
                    heap_i[0] = r
                    _sift_down(heap_s, heap_i, size, 0)
            counts[c - first] = size
            for j in range(size):
                out_rows[c - first, j] = heap_i[j]
                out_vals[c - first, j] = heap_s[j]


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

    def _fit_counting(self, train: sp.csr_matrix, progress: Progress) -> None:
        norms = np.sqrt(np.asarray(train.multiply(train).sum(axis=0)).ravel()).astype(np.float32)
        cosine = Weighting(norms=norms, shrink=self.params.shrink)
        self.similarity_ = pruned_similarity(
            train.T, train, self.params.neighbors, cosine, progress
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

    def _fit_counting(self, train: sp.csr_matrix, progress: Progress) -> None:
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
                p_iu, p_ui, neighbors, Weighting(col=penalty), progress
            )
            return
        # W^T = diag(penalty) P_ui^T P_iu^T: its columns are W's rows, pruned the same way.
        transposed = pruned_similarity(p_ui.T, p_iu.T, neighbors, Weighting(row=penalty), progress)
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
