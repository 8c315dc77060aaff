"""Sequencing baselines without torch: first-order item-to-item transitions and session-based kNN.

Both read each user's training history in time order (`SequentialModel.fit_sequences`) and score
the next items from the user's most recent input; all scoring is batched sparse products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender, dense
from recsys_cli.models.sequences import SequentialModel

# Cells of one dense query x neighbour similarity block (float32: 64 MiB).
_SIMILARITY_CELLS = 1 << 24


@dataclass(frozen=True)
class MarkovParams:
    backoff: float = 1e-3
    self_transitions: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.backoff <= 1.0:
            raise ValueError("backoff must be in [0, 1]")


class Markov(SequentialModel, Recommender):
    """First-order item-to-item transitions: score(u, j) = (1 - b) P(j | last_u) + b pop(j).

    P(j | i) = c(i -> j) / sum_k c(i -> k) over consecutive pairs of the training sequences;
    pop(j) = c(j) / sum_k c(k) is the back-off for unseen last items and ties (b = `backoff`).
    Rendle et al., WWW 2010 (the Markov-chain half of FPMC); Ludewig & Jannach, UMUAI 2018 ("AR"
    and "SR" rules).
    """

    Params = MarkovParams

    def _fit(self, train: sp.csr_matrix) -> None:
        sequences, self.input_sequences_ = self._take_sequences(train)
        src, dst = sequences.transitions()
        if not self.params.self_transitions:
            keep = src != dst
            src, dst = src[keep], dst[keep]
        counts = sp.csr_matrix(
            (np.ones(len(src), np.float32), (src, dst)), shape=(self.n_items_, self.n_items_)
        )
        counts.sum_duplicates()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        self.transitions_ = sp.csr_matrix(sp.diags(1.0 / totals) @ counts, dtype=np.float32)
        popularity = np.bincount(sequences.items, minlength=self.n_items_).astype(np.float64)
        self.popularity_ = (popularity / max(popularity.sum(), 1.0)).astype(np.float32)

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        last = self._query_sequences(users, history).last()
        has_last = last >= 0
        onehot = sp.csr_matrix(
            (np.ones(has_last.sum(), np.float32), (np.flatnonzero(has_last), last[has_last])),
            shape=(len(users), self.n_items_),
        )
        b = self.params.backoff
        return (1.0 - b) * dense(onehot @ self.transitions_) + b * self.popularity_[None, :]


@dataclass(frozen=True)
class SKNNParams:
    neighbors: int = 100
    window: int = 10
    decay: Literal["linear", "none"] = "linear"

    def __post_init__(self) -> None:
        if self.neighbors < 1 or self.window < 1:
            raise ValueError("neighbors and window must be >= 1")


class SKNN(SequentialModel, Recommender):
    """Session-based kNN: score(s, j) = sum_{n in N_k(s)} sim(s, n) 1[j in n].

    The session s is the user's `window` most recent input items, weighted w_r = (W - r) / W at r
    steps back with decay "linear" (V-SKNN), else 1; neighbours are the other users' training
    histories as binary vectors x_n; sim(s, n) = <w_s, x_n> / (|w_s| |x_n|) (cosine), and N_k(s)
    the `neighbors` most similar. Jannach & Ludewig, RecSys 2017; Ludewig & Jannach, UMUAI 2018.
    """

    Params = SKNNParams

    def _fit(self, train: sp.csr_matrix) -> None:
        sequences, self.input_sequences_ = self._take_sequences(train)
        binary = sequences.to_csr()
        binary.data[:] = 1.0
        self.sessions_ = binary
        self.sessions_t_ = binary.T.tocsr()
        self.session_norms_ = np.sqrt(np.diff(binary.indptr)).astype(np.float32)

    def _query(self, users: np.ndarray, history: sp.csr_matrix) -> sp.csr_matrix:
        """Weighted users x items matrix of each user's recent window."""
        window = self._query_sequences(users, history).recent(self.params.window)
        if self.params.decay == "linear":
            steps = window.steps_from_end()
            weights = (self.params.window - steps) / self.params.window
        else:
            weights = np.ones(len(window.items))
        return window.to_csr(weights.astype(np.float32))

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        query = self._query(users, history)
        n_sessions = self.sessions_.shape[0]
        keep = min(self.params.neighbors, n_sessions)
        rows = max(1, _SIMILARITY_CELLS // max(n_sessions, 1))
        out = np.empty((len(users), self.n_items_), dtype=np.float32)
        for start in range(0, len(users), rows):
            block = slice(start, start + rows)
            q = query[block]
            q_norm = np.sqrt(np.asarray(q.multiply(q).sum(axis=1)).ravel())
            overlap = dense(q @ self.sessions_t_).astype(np.float32)
            sim = overlap / (q_norm[:, None] * self.session_norms_[None, :] + 1e-12)
            block_users = users[block]
            # A user's own training history is not a neighbour of its own next step.
            sim[np.arange(len(block_users)), block_users] = 0.0
            if keep < n_sessions:
                top = np.argpartition(-sim, keep - 1, axis=1)[:, :keep]
            else:
                top = np.broadcast_to(np.arange(n_sessions), (len(block_users), n_sessions))
            values = np.take_along_axis(sim, top, axis=1)
            neighbours = sp.csr_matrix(
                (
                    values.ravel(),
                    (np.repeat(np.arange(len(block_users)), top.shape[1]), top.ravel()),
                ),
                shape=(len(block_users), n_sessions),
            )
            out[block] = dense(neighbours @ self.sessions_)
        return out
