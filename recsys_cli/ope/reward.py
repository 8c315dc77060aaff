"""The reward model q(x, l, a) of the direct method and doubly robust estimators, fitted on the
logs: shrunken click rates, batched with bincount.

- item_position: q(l, a) = (S_la + s mu_l) / (N_la + s), the click rate of item a at position l
  shrunk toward the position's mean mu_l with `smoothing` s pseudo-impressions.
- context_item: q(x, l, a) = (S_xla + s q(l, a)) / (N_xla + s), the same per context, shrunk
  toward item_position.
S sums the rewards and N counts the impressions of each logged (context, position, item), each
round counted as often as a bootstrap resample draws it, so that intervals include the reward
model's own sampling error.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.errors import UserError
from recsys_cli.ope.logs import LoggedFeedback

MAX_CELLS = 1 << 27  # contexts x positions x candidates held as float64 (1 GiB)


class RewardModel:
    """`fit(counts)` -> q as an array (1 or C) x L x m (one row shared by every context for
    item_position); `counts[i]` is how often round i is counted (None: once)."""

    def __init__(self, logs: LoggedFeedback, kind: str, smoothing: float):
        self.kind, self.smoothing = kind, smoothing
        self.n_positions, self.m = logs.n_positions, logs.n_candidates
        mask = logs.mask
        self.rounds = np.broadcast_to(np.arange(logs.n_rounds)[:, None], mask.shape)[mask]
        positions = np.broadcast_to(np.arange(self.n_positions), mask.shape)[mask]
        self.rewards = logs.reward[mask]
        self.cells = positions * self.m + logs.items[mask]
        self.n_contexts = len(logs.contexts) if kind == "context_item" else 1
        if kind == "context_item" and self.n_contexts * self.n_positions * self.m > MAX_CELLS:
            raise UserError(
                f"ope.reward_model.kind = 'context_item' needs {self.n_contexts:,} contexts x "
                f"{self.n_positions * self.m:,} (position, candidate) cells, more than fit in "
                "memory; use kind = 'item_position'"
            )
        rows = logs.context[self.rounds].astype(np.int64)
        self.context_cells = rows * (self.n_positions * self.m) + self.cells
        # flat indices of each (round, position) into q and into (rows x L) tables; where nothing
        # was logged they point one past the end, at an appended 0
        n_positions, context = self.n_positions, logs.context[:, None].astype(np.int64)
        positions = np.arange(n_positions)[None, :]
        shared = np.broadcast_to(positions, mask.shape)
        by_context = context * n_positions + positions
        cell = (by_context if kind == "context_item" else shared) * self.m + logs.items
        self._logged = np.where(mask, cell, self.n_contexts * n_positions * self.m)
        self._table = {
            1: np.where(mask, shared, n_positions),
            len(logs.contexts): np.where(mask, by_context, len(logs.contexts) * n_positions),
        }

    def _sums(self, cells: np.ndarray, size: int, counted: np.ndarray):
        """Impressions and reward sums per cell, as (rows) x L x m."""
        shape = (-1, self.n_positions, self.m)
        impressions = np.bincount(cells, counted, minlength=size).reshape(shape)
        rewards = np.bincount(cells, counted * self.rewards, minlength=size).reshape(shape)
        return impressions, rewards

    def fit(self, counts: np.ndarray | None = None) -> np.ndarray:
        counted = np.ones(len(self.rounds)) if counts is None else counts[self.rounds] * 1.0
        size = self.n_positions * self.m
        impressions, rewards = self._sums(self.cells, size, counted)
        shown = impressions.sum(axis=2, keepdims=True)
        overall = np.dot(counted, self.rewards) / max(counted.sum(), 1.0)
        mean = np.full(shown.shape, overall)
        np.divide(rewards.sum(axis=2, keepdims=True), shown, out=mean, where=shown > 0)
        q = (rewards + self.smoothing * mean) / (impressions + self.smoothing)
        if self.kind == "item_position":
            return q
        impressions, rewards = self._sums(self.context_cells, self.n_contexts * size, counted)
        return (rewards + self.smoothing * q) / (impressions + self.smoothing)

    def logged(self, q: np.ndarray) -> np.ndarray:
        """q(x_i, l, a_il) of every logged item (n x L; 0 where nothing was logged)."""
        return np.append(q.ravel(), 0.0)[self._logged]

    def expected(self, q: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """sum_a pi(a | x_i, l) q(x_i, l, a) for every logged (round, position) (0 elsewhere);
        `probs` is the policy's (1 or C) x L x m distribution."""
        table = np.einsum("klm,klm->kl", *np.broadcast_arrays(probs, q))
        return np.append(table.ravel(), 0.0)[self._table[table.shape[0]]]
