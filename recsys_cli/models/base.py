"""The recommender protocol: scikit-learn style `fit`, batched `recommend` over blocks of users."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.topk import topk_excluding
from recsys_cli.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)

# Dense score blocks are capped at this many cells (float32: 128 MiB).
_BLOCK_CELLS = 1 << 25


@dataclass(frozen=True)
class NoParams:
    """A model without hyperparameters."""


class NotFittedError(RuntimeError):
    """`recommend` was called before `fit`."""


class Recommender:
    """Base class: subclasses set `Params` and implement `_fit(train)` and `_scores(users, history)`.

    `fit` takes the users x items training CSR; `recommend(users, history, k)` returns the top-k
    items not in `history` (a CSR whose row i is the input history of `users[i]`), best first.
    A user with no training row but a non-empty history is folded in where the model allows it.
    Both take a `Progress`: `recommend` counts users block by block; `fit` counts iterations of
    models that train in iterations (they override `_fit_counting`).
    """

    Params: ClassVar[type] = NoParams
    # Whether users without training rows can be scored from their input history (the `users`
    # split needs it); checked when a recipe is loaded.
    folds_in: ClassVar[bool] = True
    # Whether `recommend` scores each user from the fitted state and that user's history alone
    # (and the model pickles): a Dask executor may then score users in shards on workers.
    shardable: ClassVar[bool] = True

    def __init__(self, params=None, seed: int = 0):
        self.params = params if params is not None else self.Params()
        self.seed = seed

    @classmethod
    def catalogue_problem(cls, params, n_items: int) -> str | None:
        """Why these params cannot fit a catalogue of `n_items` items (a dense items x items
        model beyond its memory), or None; checked before any data is read in full."""
        return None

    def fit(self, train: sp.csr_matrix, progress: Progress = NO_PROGRESS) -> Recommender:
        train = sp.csr_matrix(train, dtype=np.float32)
        self.n_users_, self.n_items_ = train.shape
        self._fit_counting(train, progress)
        return self

    def recommend(
        self,
        users: np.ndarray,
        history: sp.csr_matrix,
        k: int,
        block_size: int | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> tuple[np.ndarray, np.ndarray]:
        users, history = self._inputs(users, history)
        block = self.block_rows(block_size)
        log.debug(
            "%s: top-%d of %d items for %d users in blocks of %d",
            type(self).__name__,
            k,
            self.n_items_,
            len(users),
            block,
        )
        items = np.empty((len(users), k), dtype=np.int32)
        scores = np.empty((len(users), k), dtype=np.float32)
        progress.total(len(users), "users")
        for start in range(0, len(users), block):
            rows = slice(start, start + block)
            dense = np.ascontiguousarray(self._scores(users[rows], history[rows]), dtype=np.float32)
            items[rows], scores[rows] = topk_excluding(dense, history[rows], k)
            progress.advance(len(users[rows]))
        return items, scores

    def _inputs(self, users, history) -> tuple[np.ndarray, sp.csr_matrix]:
        """`recommend`'s users (int64) and history (float32 CSR, a row per user), checked."""
        if not hasattr(self, "n_items_"):
            raise NotFittedError(f"{type(self).__name__}.recommend called before fit")
        users = np.asarray(users, dtype=np.int64)
        history = sp.csr_matrix(history, dtype=np.float32)
        if history.shape != (len(users), self.n_items_):
            raise ValueError(f"history shape {history.shape} != ({len(users)}, {self.n_items_})")
        return users, history

    def block_rows(self, block_size: int | None = None) -> int:
        """Users scored at once: `block_size`, else as many as fit _BLOCK_CELLS scores."""
        return block_size or max(1, min(4096, _BLOCK_CELLS // max(self.n_items_, 1)))

    def _fit_counting(self, train: sp.csr_matrix, progress: Progress) -> None:
        """`_fit`; a model that trains in iterations overrides this to count them on `progress`."""
        self._fit(train)

    def _fit(self, train: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError


def dense(matrix) -> np.ndarray:
    """A sparse or dense product as a dense ndarray."""
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
