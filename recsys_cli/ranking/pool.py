"""Candidate pooling: the union of several generators' top-N lists per user."""

from __future__ import annotations

from dataclasses import dataclass

import numba
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

    One compiled pass over all users: a user's items are marked in a catalogue-sized scratch
    array as they come (first sight: a new pooled row; again: the same row gets this
    generator's score and rank), then the user's rows are put in item order.
    """
    n_users = lists[0][0].shape[0]
    if any(items.shape[0] != n_users for items, _ in lists):
        raise ValueError("every generator's lists must hold the same users")
    items = np.hstack([np.asarray(i, dtype=np.int64) for i, _ in lists])
    scores = np.hstack([np.asarray(s, dtype=np.float32) for _, s in lists])
    generator = np.concatenate([np.full(i.shape[1], g) for g, (i, _) in enumerate(lists)])
    rank = np.concatenate([np.arange(1, i.shape[1] + 1) for i, _ in lists])
    n_items = max(int(items.max(initial=-1)) + 1, 1)
    rows, pooled, pooled_scores, pooled_ranks, offsets = _pool(
        items, scores, generator, rank.astype(np.float32), len(lists), n_items
    )
    return Pool(rows, pooled, pooled_scores, pooled_ranks, offsets)


@numba.njit(cache=True, nogil=True)
def _pool(items, scores, generator, rank, n_generators, n_items):
    n_users, width = items.shape
    seen = np.full(n_items, -1, dtype=np.int64)  # the user who last saw each item
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    for u in range(n_users):  # first pass: each user's number of distinct items
        distinct = 0
        for c in range(width):
            item = items[u, c]
            if item >= 0 and seen[item] != u:
                seen[item] = u
                distinct += 1
        offsets[u + 1] = offsets[u] + distinct
    count = offsets[n_users]
    out_items = np.empty(count, dtype=np.int64)
    out_scores = np.full((count, n_generators), np.nan, dtype=np.float32)
    out_ranks = np.full((count, n_generators), np.nan, dtype=np.float32)
    slot = np.zeros(n_items, dtype=np.int64)  # the pooled row of each item of this user
    seen[:] = -1
    for u in range(n_users):
        start = offsets[u]
        end = start
        for c in range(width):
            item = items[u, c]
            if item < 0:
                continue
            if seen[item] != u:
                seen[item] = u
                slot[item] = end
                out_items[end] = item
                end += 1
            out_scores[slot[item], generator[c]] = scores[u, c]
            out_ranks[slot[item], generator[c]] = rank[c]
        order = start + np.argsort(out_items[start:end])
        out_items[start:end] = out_items[order]
        out_scores[start:end] = out_scores[order]
        out_ranks[start:end] = out_ranks[order]
    rows = np.repeat(np.arange(n_users), offsets[1:] - offsets[:-1])
    return rows, out_items, out_scores, out_ranks, offsets


def rank_pool(pool: Pool, scores: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's pooled items by descending score (ties: lower item index first), cut to
    `length`: (users x length) int32 items, -1 padded, and float32 scores, -inf padded."""
    scores = np.asarray(scores, dtype=np.float32)
    return _rank(pool.offsets, pool.items, scores, length)


@numba.njit(cache=True, nogil=True)
def _rank(offsets, items, scores, length):
    n_users = offsets.shape[0] - 1
    out_items = np.full((n_users, length), -1, dtype=np.int32)
    out_scores = np.full((n_users, length), -np.inf, dtype=np.float32)
    for u in range(n_users):
        start, stop = offsets[u], offsets[u + 1]
        # stable: rows are in item order, so equal scores keep the lower item first
        order = start + np.argsort(-scores[start:stop], kind="mergesort")
        for position in range(min(length, stop - start)):
            out_items[u, position] = items[order[position]]
            out_scores[u, position] = scores[order[position]]
    return out_items, out_scores
