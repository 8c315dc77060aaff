"""Non-personalised reference models: uniform random and most-popular."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from recsys_cli.models.base import Recommender
from recsys_cli.progress import NO_PROGRESS
from recsys_cli.sorted_search import row_contains


class RandomModel(Recommender):
    """Uniformly random scores from a generator seeded by the recipe seed: the floor of any table."""

    shardable = False  # one generator draws every block's scores in turn

    def _fit(self, train: sp.csr_matrix) -> None:
        self.rng_ = np.random.default_rng(self.seed)

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.rng_.random((len(users), self.n_items_), dtype=np.float32)


class Popularity(Recommender):
    """Most popular first: score(i) = number of training users who interacted with i.

    Every user shares one ranking, so `recommend` walks the global order and skips each user's
    history: O(k + |history|) per user instead of scoring the whole catalogue; the lists equal
    the generic path's (ties by lower item index)."""

    def _fit(self, train: sp.csr_matrix) -> None:
        self.popularity_ = np.diff(train.tocsc().indptr).astype(np.float32)
        self.order_ = np.argsort(-self.popularity_, kind="stable").astype(np.int64)

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_))

    def recommend(self, users, history, k, block_size=None, progress=NO_PROGRESS):
        if not hasattr(self, "order_"):
            return super().recommend(users, history, k, block_size)  # raises NotFittedError
        history = sp.csr_matrix(history, dtype=np.float32)
        history.sort_indices()
        items = np.empty((len(users), k), dtype=np.int32)
        progress.total(len(users), "users")
        _walk_global_order(self.order_, history.indptr, history.indices, items)
        progress.advance(len(users))
        scores = np.where(items >= 0, self.popularity_[np.maximum(items, 0)], -np.inf)
        return items, scores.astype(np.float32)


@njit(cache=True, parallel=True)
def _walk_global_order(order, indptr, indices, out):
    k = out.shape[1]
    for row in prange(out.shape[0]):
        start, stop = indptr[row], indptr[row + 1]
        filled = 0
        for item in order:
            if filled == k:
                break
            if row_contains(indices, start, stop, item):
                continue
            out[row, filled] = item
            filled += 1
        for pos in range(filled, k):
            out[row, pos] = -1
