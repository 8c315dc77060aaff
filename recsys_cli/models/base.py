"""The recommender protocol: scikit-learn style `fit`, batched `recommend` over blocks of users."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numba
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys_cli.models.topk import topk_excluding
from recsys_cli.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)

# Dense score blocks hold about this many cells (float32: 16 MiB, so the blocks in flight stay in
# a shared cache while their top-k is taken), and 32 to 4096 users.
_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class NoParams:
    """A model without hyperparameters."""


class NotFittedError(RuntimeError):
    """`recommend` was called before `fit`."""


@dataclass(frozen=True)
class Epoch:
    """One training epoch: its loss, its duration, and the validation NDCG@10 a model that stops
    early computed after it (None: no validation)."""

    loss: float
    seconds: float
    validation: float | None = None


# on_epoch(index from 0, epoch): called after each epoch; raising stops the fit.
OnEpoch = Callable[[int, Epoch], None]


@dataclass
class TrainingLog:
    """What a model trained by epochs did (`Recommender.training_log_`): every epoch run, and
    the one whose weights it kept when it stopped early (`best_epoch`; None: the last)."""

    epochs: list[Epoch] = field(default_factory=list)
    best_epoch: int | None = None

    @property
    def losses(self) -> list[float]:
        return [e.loss for e in self.epochs]

    @property
    def validation(self) -> list[float]:
        """The validation scores of the epochs that computed one."""
        return [e.validation for e in self.epochs if e.validation is not None]


@dataclass(frozen=True)
class FitContext:
    """What `fit` hands a model besides the data: where to count its iterations or epochs, the
    folder it may write files in (None: a temporary one of its own, removed after training) and
    who hears each epoch."""

    progress: Progress = NO_PROGRESS
    work_dir: Path | None = None
    on_epoch: OnEpoch | None = None

    def epoch_done(self, log: TrainingLog, epoch: Epoch) -> None:
        """Append `epoch` to `log`, count it on `progress`, then pass it to `on_epoch` (an
        exception it raises, such as a pruned tuning trial, stops the fit)."""
        log.epochs.append(epoch)
        self.progress.advance()
        if self.on_epoch is not None:
            self.on_epoch(len(log.epochs) - 1, epoch)


class Recommender:
    """Base class: subclasses set `Params` and implement `_fit(train)` and `_scores(users, history)`.

    `fit` takes the users x items training CSR; `recommend(users, history, k)` returns the top-k
    items not in `history` (a CSR whose row i is the input history of `users[i]`), best first.
    A user with no training row but a non-empty history is folded in where the model allows it.
    Both take a `Progress`: `recommend` counts users block by block; `fit` counts the iterations
    or epochs of models that train in them. Such models override `_fit_with(train, context)`
    instead of `_fit`: the `FitContext` holds the progress, the folder to write files in and the
    epoch callback, and a model trained by epochs reports each through `context.epoch_done`
    into its `training_log_`. `recsys_cli.testing.check_recommender` checks the whole contract.
    """

    Params: ClassVar[type] = NoParams
    # Whether users without training rows can be scored from their input history (the `users`
    # split needs it); checked when a recipe is loaded.
    folds_in: ClassVar[bool] = True
    # Whether `recommend` scores each user from the fitted state and that user's history alone
    # (and the model pickles): blocks of users are then scored in parallel threads (`_scores`
    # must only read the fitted state), and a Dask executor may score users in shards on workers.
    shardable: ClassVar[bool] = True
    # Whether `fit` needs each user's interactions in time order: such a model mixes in
    # `sequences.SequentialModel` and is fitted through `fit_sequences`.
    needs_sequences: ClassVar[bool] = False
    # The epochs of the last fit of a model trained by epochs; None for the others.
    training_log_: TrainingLog | None = None

    def __init__(self, params=None, seed: int = 0):
        self.params = params if params is not None else self.Params()
        self.seed = seed

    @classmethod
    def catalogue_problem(cls, params, n_items: int) -> str | None:
        """Why these params cannot fit a catalogue of `n_items` items (a dense items x items
        model beyond its memory), or None; checked before any data is read in full."""
        return None

    def fit(
        self,
        train: sp.csr_matrix,
        progress: Progress = NO_PROGRESS,
        *,
        work_dir: Path | None = None,
        on_epoch: OnEpoch | None = None,
    ) -> Recommender:
        """Learn from `train` (users x items); files the model writes go under `work_dir`, and
        a model trained by epochs calls `on_epoch` after each. Returns self."""
        train = sp.csr_matrix(train, dtype=np.float32)
        self.n_users_, self.n_items_ = train.shape
        self._fit_with(train, FitContext(progress, work_dir, on_epoch))
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

        def score_block(start: int, threads: int) -> int:
            rows = slice(start, start + block)
            dense = np.ascontiguousarray(self._scores(users[rows], history[rows]), dtype=np.float32)
            items[rows], scores[rows] = topk_excluding(dense, history[rows], k, threads)
            return len(dense)

        starts = range(0, len(users), block)
        if not self.shardable:  # blocks in turn, each on every thread
            for start in starts:
                progress.advance(score_block(start, numba.get_num_threads()))
            return items, scores
        # Blocks in parallel threads, one BLAS thread each: a block's top-k is taken while its
        # scores are still in cache, and a user's scores do not depend on the thread count.
        pool = ThreadPoolExecutor(numba.get_num_threads())
        try:
            with threadpool_limits(1, "blas"):
                for done in pool.map(score_block, starts, [1] * len(starts)):
                    progress.advance(done)
        finally:
            pool.shutdown(cancel_futures=True)
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
        """Users scored at once: `block_size`, else about _BLOCK_CELLS scores' worth."""
        return block_size or max(32, min(4096, _BLOCK_CELLS // max(self.n_items_, 1)))

    def _fit_with(self, train: sp.csr_matrix, context: FitContext) -> None:
        """`_fit`; a model that trains in iterations or epochs, or writes files, overrides this."""
        self._fit(train)

    def _fit(self, train: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError


def dense(matrix) -> np.ndarray:
    """A sparse or dense product as a dense ndarray."""
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
