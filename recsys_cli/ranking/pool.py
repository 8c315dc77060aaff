"""Candidate pooling: the union of several generators' top-N lists per user."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pool:
    """One row per distinct (user row, item), sorted by user row then item index.

    scores[:, g] and ranks[:, g] are generator g's score and 1-based rank of the item, NaN where
    g did not retrieve it. `offsets[r]:offsets[r + 1]` are user row r's pooled items.
    """

    rows: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    offsets: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.rows)


def pool_candidates(lists: list[tuple[np.ndarray, np.ndarray]]) -> Pool:
    """Pool (items, scores) pairs of (users x N_g) arrays, rows aligned, -1 padded.

    Batched: every (row, item) of every generator becomes one int64 key; one np.unique gives the
    pooled rows in (row, item) order and, through its inverse, where each generator's score and
    rank land.
    """
    n_users = lists[0][0].shape[0]
    if any(items.shape[0] != n_users for items, _ in lists):
        raise ValueError("every generator's lists must hold the same users")
    width = max(int(items.max(initial=-1)) for items, _ in lists) + 1
    keys, sources = [], []
    for items, scores in lists:
        row, col = np.nonzero(items >= 0)
        keys.append(row.astype(np.int64) * width + items[row, col])
        sources.append((scores[row, col], col + 1))
    pooled, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    pooled_scores = np.full((len(pooled), len(lists)), np.nan, dtype=np.float32)
    pooled_ranks = np.full((len(pooled), len(lists)), np.nan, dtype=np.float32)
    start = 0
    for g, (values, ranks) in enumerate(sources):
        where = inverse[start : start + len(values)]
        pooled_scores[where, g] = values
        pooled_ranks[where, g] = ranks
        start += len(values)
    rows = pooled // max(width, 1)
    offsets = np.searchsorted(rows, np.arange(n_users + 1)).astype(np.int64)
    return Pool(rows, pooled % max(width, 1), pooled_scores, pooled_ranks, offsets)


def rank_pool(pool: Pool, scores: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's pooled items by descending score (ties: lower item index first), cut to
    `length`: (users x length) int32 items, -1 padded, and float32 scores, -inf padded."""
    order = np.lexsort((pool.items, -scores, pool.rows))
    rows = pool.rows[order]
    position = np.arange(len(order)) - pool.offsets[rows]
    kept = position < length
    items = np.full((pool.n_users, length), -1, dtype=np.int32)
    ranked = np.full((pool.n_users, length), -np.inf, dtype=np.float32)
    items[rows[kept], position[kept]] = pool.items[order[kept]]
    ranked[rows[kept], position[kept]] = scores[order[kept]]
    return items, ranked
