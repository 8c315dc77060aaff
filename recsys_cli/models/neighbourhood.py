"""Item-item neighbourhood models: ItemKNN (shrunk cosine) and RP3beta.

Similarity matrices are pruned to the `neighbors` strongest entries of each column (ties at the
k-th value go to the lower item index) by a compiled sparse product that never holds a dense
items x items matrix, nor a dense items x block one: memory stays O(items x neighbors) for the
sparse models, and one column per thread while it is computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from recsys_cli.models.base import FitContext, Recommender, dense
from recsys_cli.models.topk import ranks_below, sift_down, sift_up
from recsys_cli.progress import NO_PROGRESS, Progress

# Columns per compiled call (one progress step), and rows accumulated at once (float32
# accumulator and int32 row list: 512 KiB, within a core's L2 cache).
_COLUMNS = 8192
_ROW_CHUNK = 1 << 16
# Users per compiled call of SimilarityModel.recommend (one progress step).
_USERS = 1024


@dataclass(frozen=True)
class Weighting:
    """The factor of each entry of a product: S_rc = (left @ right)_rc / (n_r n_c + shrink + eps)
    when `norms` is given (shrunk cosine), times row[r] and col[c] where given (float32)."""

    norms: np.ndarray | None = None
    shrink: float = 0.0
    row: np.ndarray | None = None
    col: np.ndarray | None = None


def pruned_similarity(
    left: sp.spmatrix,
    right: sp.spmatrix,
    neighbors: int,
    weighting: Weighting,
    progress: Progress = NO_PROGRESS,
) -> sp.csr_matrix:
    """S = weighting(left @ right) with a zero diagonal, keeping the `neighbors` largest positive
    entries of each column (ties: lower row), for non-negative inputs.

    Column c of the product is accumulated from the rows of `left` in the columns u where
    `right` has column c's nonzeros (Gustavson's sparse product; cost sum_u nnz(left col u) *
    nnz(right row u)), weighed, and its top entries kept in a heap. Rows are accumulated in
    chunks of _ROW_CHUNK, whose accumulator stays in cache; columns run in parallel threads.
    Each entry sums its terms in the order scipy's `left @ right` does, so S equals that
    product, weighed and pruned, bit for bit. Columns done are counted on `progress`."""
    left, right = left.tocsc(), right.tocsc()
    left.sort_indices()
    right.sort_indices()
    n_rows, n_items = left.shape[0], right.shape[1]
    keep = min(neighbors, n_rows)
    progress.total(n_items, "items")
    none = np.zeros(0, dtype=np.float32)
    norms, row, col = (
        none if values is None else np.ascontiguousarray(values, dtype=np.float32)
        for values in (weighting.norms, weighting.row, weighting.col)
    )
    # bounds[u, k]: where row chunk k starts among the rows of left's column u.
    chunk = min(_ROW_CHUNK, n_rows)
    starts = np.minimum(np.arange(0, n_rows + chunk, chunk, dtype=np.int64), n_rows)
    keys = np.repeat(np.arange(left.shape[1], dtype=np.int64), np.diff(left.indptr)) * n_rows
    keys += left.indices
    wanted = np.arange(left.shape[1], dtype=np.int64)[:, None] * n_rows + starts[None, :]
    bounds = np.searchsorted(keys, wanted).astype(np.int64)
    del keys, wanted
    rows, vals, counts = [], [], []
    for first in range(0, n_items, _COLUMNS):
        last = min(first + _COLUMNS, n_items)
        out_rows = np.empty((last - first, keep), dtype=np.int32)
        out_vals = np.empty((last - first, keep), dtype=np.float32)
        filled = np.empty(last - first, dtype=np.int64)
        _sparse_top_columns(
            bounds, left.indices, left.data, right.indptr, right.indices, right.data,
            chunk, first, last, np.float32(weighting.shrink), norms, row, col,
            numba.get_num_threads(), out_rows, out_vals, filled,
        )  # fmt: skip
        kept = np.arange(keep)[None, :] < filled[:, None]
        rows.append(out_rows[kept])
        vals.append(out_vals[kept])
        counts.append(filled)
        del out_rows, out_vals, kept
        progress.advance(last - first)
    # The kept entries are column after column: a CSC matrix as they stand.
    indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))])
    columns = sp.csc_matrix(
        (np.concatenate(vals), np.concatenate(rows), indptr), shape=(n_rows, n_items)
    )
    del rows, vals
    similarity = columns.tocsr()
    similarity.sort_indices()
    return similarity


@njit(parallel=True, cache=True)
def _sparse_top_columns(
    bounds, l_rows, l_vals, r_ptr, r_rows, r_vals, chunk, first, last, shrink, norms, row,
    col, threads, out_rows, out_vals, counts,
):  # fmt: skip  # pragma: no cover - compiled
    eps = np.float32(1e-12)
    keep = out_rows.shape[1]
    n_chunks = bounds.shape[1] - 1
    # Thread t takes columns first + t, first + t + threads, ...: popular items spread evenly.
    for t in prange(threads):
        acc = np.zeros(chunk, dtype=np.float32)
        touched = np.empty(chunk + 1, dtype=np.int32)
        heap_s = np.empty(keep, dtype=np.float32)
        heap_i = np.empty(keep, dtype=np.int64)
        for c in range(first + t, last, threads):
            size = 0
            for k in range(n_chunks):
                base = k * chunk
                n_touched = 0
                for p in range(r_ptr[c], r_ptr[c + 1]):
                    u = r_rows[p]
                    v = r_vals[p]
                    for q in range(bounds[u, k], bounds[u, k + 1]):
                        # Branch-free: a row is listed when its sum first turns positive.
                        r = l_rows[q] - base
                        before = acc[r]
                        product = l_vals[q] * v
                        touched[n_touched] = r
                        n_touched += (before == 0) & (product > 0)
                        acc[r] = before + product
                for j in range(n_touched):
                    local = touched[j]
                    s = acc[local]
                    acc[local] = 0.0
                    r = base + local
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
                        sift_up(heap_s, heap_i, size)
                        size += 1
                    elif ranks_below(heap_s[0], heap_i[0], s, r):
                        heap_s[0] = s
                        heap_i[0] = r
                        sift_down(heap_s, heap_i, size, 0)
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
    """score(u, j) = sum_i h_ui S_ij for a learned item-item matrix `similarity_`.

    `recommend` makes no dense score rows: a user's scores are summed from the rows of S of
    their history items (in the order of scipy's `history @ S`, so the same float32 values),
    the largest positive ones not in the history kept in a heap, and a list with room left
    completed by zero-score items in increasing index order, as the dense top-k does (scores
    are never negative). Users run in parallel threads; the cost is sum_i nnz(S row i) over
    the history, not the catalogue size.
    """

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return dense(history @ self.similarity_)

    def recommend(self, users, history, k, block_size=None, progress=NO_PROGRESS):
        users, history = self._inputs(users, history)
        history.sort_indices()
        similarity = self.similarity_
        items = np.empty((len(users), k), dtype=np.int32)
        scores = np.empty((len(users), k), dtype=np.float32)
        progress.total(len(users), "users")
        block = block_size or _USERS
        for start in range(0, len(users), block):
            rows = slice(start, start + block)
            part = history[rows]
            _similarity_topk(
                part.indptr, part.indices, part.data, similarity.indptr, similarity.indices,
                similarity.data, self.n_items_, numba.get_num_threads(), items[rows],
                scores[rows],
            )  # fmt: skip
            progress.advance(part.shape[0])
        return items, scores


@njit(parallel=True, cache=True)
def _similarity_topk(
    h_ptr, h_idx, h_val, s_ptr, s_idx, s_val, n_items, threads, out_items, out_scores
):  # pragma: no cover - compiled
    n_users, k = out_items.shape
    for t in prange(threads):
        acc = np.zeros(n_items, dtype=np.float32)
        heard = np.zeros(n_items, dtype=np.bool_)  # the row's history: never recommended
        touched = np.empty(n_items + 1, dtype=np.int32)
        heap_s = np.empty(k, dtype=np.float32)
        heap_i = np.empty(k, dtype=np.int64)
        for row in range(t, n_users, threads):
            start, stop = h_ptr[row], h_ptr[row + 1]
            for p in range(start, stop):
                heard[h_idx[p]] = True
            n_touched = 0
            for p in range(start, stop):
                v = h_val[p]
                i = h_idx[p]
                for q in range(s_ptr[i], s_ptr[i + 1]):
                    j = s_idx[q]
                    before = acc[j]
                    product = v * s_val[q]
                    touched[n_touched] = j
                    n_touched += (before == 0) & (product > 0)
                    acc[j] = before + product
            size = 0
            for x in range(n_touched):
                j = touched[x]
                s = acc[j]
                acc[j] = 0.0
                if heard[j]:
                    continue
                if size < k:
                    heap_s[size] = s
                    heap_i[size] = j
                    sift_up(heap_s, heap_i, size)
                    size += 1
                elif ranks_below(heap_s[0], heap_i[0], s, j):
                    heap_s[0] = s
                    heap_i[0] = j
                    sift_down(heap_s, heap_i, size, 0)
            # Room left: every positive score is in the heap; zero scores follow, lowest first.
            j = 0
            while size < k and j < n_items:
                free = not heard[j]
                for pos in range(size):
                    free &= heap_i[pos] != j
                if free:
                    heap_s[size] = 0.0
                    heap_i[size] = j
                    sift_up(heap_s, heap_i, size)
                    size += 1
                j += 1
            for p in range(start, stop):
                heard[h_idx[p]] = False
            for pos in range(size, k):
                out_items[row, pos] = -1
                out_scores[row, pos] = -np.inf
            while size > 0:  # the worst first, filled from the back: best first
                size -= 1
                out_items[row, size] = heap_i[0]
                out_scores[row, size] = heap_s[0]
                heap_s[0] = heap_s[size]
                heap_i[0] = heap_i[size]
                sift_down(heap_s, heap_i, size, 0)


class ItemKNN(SimilarityModel):
    """Item-based kNN: s(i, j) = <x_i, x_j> / (|x_i| |x_j| + shrink); score(u, j) = sum_i h_ui s(i, j).

    Sarwar et al., WWW 2001; shrinkage as tuned by Dacrema et al., RecSys 2019.
    """

    Params = ItemKNNParams

    def _fit_with(self, train: sp.csr_matrix, context: FitContext) -> None:
        norms = np.sqrt(np.asarray(train.multiply(train).sum(axis=0)).ravel()).astype(np.float32)
        cosine = Weighting(norms=norms, shrink=self.params.shrink)
        self.similarity_ = pruned_similarity(
            train.T, train, self.params.neighbors, cosine, context.progress
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

    def _fit_with(self, train: sp.csr_matrix, context: FitContext) -> None:
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
                p_iu, p_ui, neighbors, Weighting(col=penalty), context.progress
            )
            return
        # W^T = diag(penalty) P_ui^T P_iu^T: its columns are W's rows, pruned the same way.
        transposed = pruned_similarity(
            p_ui.T, p_iu.T, neighbors, Weighting(row=penalty), context.progress
        )
        rows = _row_normalise(transposed.T.tocsr())
        self.similarity_ = prune_sparse_columns(rows, neighbors)


def _row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums) @ matrix, dtype=np.float32)
