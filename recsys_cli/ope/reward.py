"""The reward model q(x, l, a) of the direct method and doubly robust estimators, fitted on the
logs: shrunken click rates, batched with bincount.

- item_position: q(l, a) = (S_la + s mu_l) / (N_la + s), the click rate of item a at position l
  shrunk toward the position's mean mu_l with `smoothing` s pseudo-impressions.
- context_item: q(x, l, a) = (S_xla + s q(l, a)) / (N_xla + s), the same per context, shrunk
  toward item_position.
S sums the rewards and N counts the impressions of each logged (context, position, item), each
round counted as often as a bootstrap resample draws it (a batch of resamples at once: sparse
cells x rounds matrices times the resample counts), so that intervals include the reward
model's own sampling error.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import UserError
from recsys_cli.ope.logs import LoggedFeedback

MAX_CELLS = 1 << 27  # contexts x positions x candidates held as float64 (1 GiB)


class RewardModel:
    """`fit(counts)` -> q for a batch of resamples, b x (1 or C) x L x m (one row shared by every
    context for item_position); `counts[j, i]` is how often resample j counts round i."""

    def __init__(self, logs: LoggedFeedback, kind: str, smoothing: float):
        self.kind, self.smoothing = kind, smoothing
        n_positions, m = self.n_positions, self.m = logs.n_positions, logs.n_candidates
        self.n_contexts = len(logs.contexts) if kind == "context_item" else 1
        if kind == "context_item" and self.n_contexts * n_positions * m > MAX_CELLS:
            raise UserError(
                f"ope.reward_model.kind = 'context_item' needs {self.n_contexts:,} contexts x "
                f"{n_positions * m:,} (position, candidate) cells, more than fit in memory; use "
                "kind = 'item_position'"
            )
        mask = logs.mask
        rounds = np.broadcast_to(np.arange(logs.n_rounds)[:, None], mask.shape)[mask]
        rewards = logs.reward[mask]
        # flat cells (position, item) and (context, position, item) of every logged entry
        shared = np.broadcast_to(np.arange(n_positions), mask.shape)
        by_context = logs.context[:, None].astype(np.int64) * n_positions + shared
        cells = shared * m + np.maximum(logs.items, 0)
        context_cells = by_context * m + np.maximum(logs.items, 0)

        def per_cell(values: np.ndarray, flat: np.ndarray, size: int) -> sp.csc_matrix:
            """cells x rounds: each round's impressions or rewards in each cell."""
            return sp.csc_matrix((values, (flat[mask], rounds)), shape=(size, logs.n_rounds))

        size = n_positions * m
        self.cells = self.n_contexts * size
        levels = [(cells, size)]
        if kind == "context_item":
            levels.append((context_cells, self.n_contexts * size))
        self._shown = [per_cell(np.ones(len(rounds)), f, k) for f, k in levels]
        self._clicked = [per_cell(rewards, f, k) for f, k in levels]
        # flat indices of each (round, position) into q and into (rows x L) tables; where
        # nothing was logged they point one past the end, at an appended 0
        flat = context_cells if kind == "context_item" else cells
        self._logged = np.where(mask, flat, self.cells)
        self._table = {
            1: np.where(mask, shared, n_positions),
            len(logs.contexts): np.where(mask, by_context, len(logs.contexts) * n_positions),
        }

    def fit(self, counts: np.ndarray) -> np.ndarray:
        counts = np.asarray(counts, dtype=np.float64).T  # rounds x b
        shape = (counts.shape[1], -1, self.n_positions, self.m)
        s = self.smoothing

        def sums(level: int) -> tuple[np.ndarray, np.ndarray]:
            impressions = (self._shown[level] @ counts).T.reshape(shape)
            return impressions, (self._clicked[level] @ counts).T.reshape(shape)

        impressions, rewards = sums(0)
        shown = impressions.sum(axis=3, keepdims=True)
        clicks = rewards.sum(axis=3, keepdims=True)
        total = shown.sum(axis=2, keepdims=True)
        overall = np.divide(
            clicks.sum(axis=2, keepdims=True), total, out=np.zeros_like(total), where=total > 0
        )
        mean = np.broadcast_to(overall, shown.shape).copy()  # positions never shown: overall
        np.divide(clicks, shown, out=mean, where=shown > 0)
        q = (rewards + s * mean) / (impressions + s)
        if self.kind == "item_position":
            return q
        impressions, rewards = sums(1)
        return (rewards + s * q) / (impressions + s)

    def logged(self, q: np.ndarray) -> np.ndarray:
        """q(x_i, l, a_il) of every logged item (b x n x L; 0 where nothing was logged)."""
        return _lookup(q.reshape(len(q), -1), self._logged)

    def expected(self, q: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """sum_a pi(a | x_i, l) q(x_i, l, a) for every logged (round, position) (b x n x L; 0
        elsewhere); `probs` is the policy's (1 or C) x L x m distribution."""
        rows = max(q.shape[1], probs.shape[0])
        q = np.broadcast_to(q, (len(q), rows, *q.shape[2:]))
        table = np.einsum("bklm,klm->bkl", q, np.broadcast_to(probs, q.shape[1:]))
        return _lookup(table.reshape(len(q), -1), self._table[rows])


def _lookup(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[:, index] with index == values.shape[1] reading 0."""
    padded = np.concatenate([values, np.zeros((len(values), 1))], axis=1)
    return padded[:, index]
