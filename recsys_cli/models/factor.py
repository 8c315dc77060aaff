"""Matrix factorisation through implicit: ALS (Hu, Koren & Volinsky, ICDM 2008) and BPR (Rendle et
al., UAI 2009). The only module that imports implicit. Scoring and top-k are our own batched code.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys_cli.models.base import FitContext, Recommender

log = logging.getLogger(__name__)


class FactorModel(Recommender):
    """score(u, i) = <p_u, q_i>; users without a training row are folded in from their history."""

    def _fit_with(self, train: sp.csr_matrix, context: FitContext) -> None:
        """implicit's fit, its per-iteration callback counting iterations on the progress."""
        name = type(self).__name__
        progress = context.progress

        def iteration_done(iteration: int, seconds: float, *_) -> None:
            log.debug("%s: iteration %d/%d, %.2f s", name, iteration + 1, model.iterations, seconds)
            progress.advance()

        # implicit warns and slows down when BLAS runs its own threads beside implicit's.
        with threadpool_limits(1, "blas"):
            model = self._implicit_model()
            progress.total(model.iterations, "iterations")
            started = time.perf_counter()
            model.fit(train, show_progress=False, callback=iteration_done)
        log.info(
            "%s: %d iterations, %d factors, %.2f s",
            name,
            model.iterations,
            model.factors,
            time.perf_counter() - started,
        )
        self.model_ = model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.has_train_row_ = np.diff(train.indptr) > 0

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        factors = self.user_factors_[users]
        cold = ~self.has_train_row_[users] & (np.diff(history.indptr) > 0)
        if cold.any():
            factors = factors.copy()
            factors[cold] = self._fold_in(history[np.flatnonzero(cold)])
        return factors @ self.item_factors_.T

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Least-squares user factors for new users: p = (Q^T Q + reg I)^-1 Q^T h."""
        q = self.item_factors_.astype(np.float64)
        gram = q.T @ q + self.params.regularization * np.eye(q.shape[1])
        return np.linalg.solve(gram, (history @ q).T).T.astype(np.float32)


@dataclass(frozen=True)
class ALSParams:
    factors: int = 64
    regularization: float = 0.01
    alpha: float = 1.0
    iterations: int = 15
    num_threads: int = 0

    # `rank tune`'s default ranges; implicit does not scale regularization by the number of
    # interactions (Rendle et al., RecSys 2022: more factors need more regularization).
    SEARCH_SPACE = {
        "factors": {"low": 16, "high": 256, "log": True},
        "regularization": {"low": 1e-3, "high": 100.0, "log": True},
        "alpha": {"low": 0.1, "high": 100.0, "log": True},
        "iterations": {"low": 5, "high": 50},
    }

    def __post_init__(self) -> None:
        if self.factors < 1 or self.iterations < 1 or self.regularization < 0:
            raise ValueError("factors and iterations must be >= 1, regularization >= 0")


class ImplicitALS(FactorModel):
    """Weighted ALS for implicit feedback, confidence 1 + alpha * weight (implicit 0.7)."""

    Params = ALSParams

    def _implicit_model(self):
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        return AlternatingLeastSquares(
            factors=p.factors,
            regularization=p.regularization,
            alpha=p.alpha,
            iterations=p.iterations,
            num_threads=p.num_threads,
            random_state=self.seed,
        )

    def _fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """The exact ALS user update against the learned item factors (implicit's recalculate)."""
        rows = np.arange(history.shape[0])
        return np.asarray(self.model_.recalculate_user(rows, history), dtype=np.float32)


@dataclass(frozen=True)
class BPRParams:
    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    # One thread keeps training bit-reproducible (implicit's BPR is Hogwild across threads).
    num_threads: int = 1

    SEARCH_SPACE = {  # `rank tune`'s default ranges
        "factors": {"low": 16, "high": 256, "log": True},
        "learning_rate": {"low": 1e-3, "high": 0.1, "log": True},
        "regularization": {"low": 1e-5, "high": 0.1, "log": True},
        "iterations": {"low": 10, "high": 200, "log": True},
    }

    def __post_init__(self) -> None:
        if self.factors < 1 or self.iterations < 1 or self.learning_rate <= 0:
            raise ValueError("factors and iterations must be >= 1, learning_rate > 0")


class ImplicitBPR(FactorModel):
    """Bayesian personalised ranking with SGD over sampled (u, i, j) triples (implicit 0.7)."""

    Params = BPRParams

    def _implicit_model(self):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        return BayesianPersonalizedRanking(
            factors=p.factors,
            learning_rate=p.learning_rate,
            regularization=p.regularization,
            iterations=p.iterations,
            num_threads=p.num_threads,
            random_state=self.seed,
        )
