"""Non-personalised reference models: uniform random and most-popular."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import Recommender


class RandomModel(Recommender):
    """Uniformly random scores from a generator seeded by the recipe seed: the floor of any table."""

    def _fit(self, train: sp.csr_matrix) -> None:
        self.rng_ = np.random.default_rng(self.seed)

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return self.rng_.random((len(users), self.n_items_), dtype=np.float32)


class Popularity(Recommender):
    """Most popular first: score(i) = number of training users who interacted with i."""

    def _fit(self, train: sp.csr_matrix) -> None:
        self.popularity_ = np.diff(train.tocsc().indptr).astype(np.float32)

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(users), self.n_items_))
