"""EASE, the embarrassingly shallow autoencoder, and the shared eigendecomposition that makes
tuning its l2 cheap.

Closed form (Steck, WWW 2019): P = (X^T X + l2 I)^-1, B = -P / diag(P) column-wise, diag(B) = 0;
score(u) = h_u B. With the eigendecomposition X^T X = V diag(lambda) V^T, every l2 gives
P = V diag(1 / (lambda + l2)) V^T: one matrix product per l2 instead of an inversion, so trials
that only change l2 on one training matrix share one `numpy.linalg.eigh`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys_cli.errors import UserError
from recsys_cli.models.base import Recommender, dense

# The spectra EASE fits may share (`shared_gram_spectrum`): training-matrix digest -> spectrum.
_SPECTRA: ContextVar[dict[str, tuple[np.ndarray, np.ndarray]] | None] = ContextVar(
    "ease_spectra", default=None
)


@contextmanager
def shared_gram_spectrum(spectra: dict) -> Iterator[None]:
    """Within this block, EASE fits on the same training matrix share one eigendecomposition of
    X^T X, kept in `spectra` (the caller's, so it outlives the block; only the last matrix's is
    kept): the first fit costs about two inversions, each later one a symmetric matrix product
    (`rank tune`'s trials). Outside such a block EASE inverts directly."""
    token = _SPECTRA.set(spectra)
    try:
        yield
    finally:
        _SPECTRA.reset(token)


def _digest(train: sp.csr_matrix) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(np.asarray(train.shape, dtype=np.int64).tobytes())
    for part in (train.indptr, train.indices, train.data):
        hasher.update(np.ascontiguousarray(part).tobytes())
    return hasher.hexdigest()


@dataclass(frozen=True)
class EASEParams:
    l2: float = 500.0
    # The largest catalogue EASE accepts (its dense matrices: `EASE.BYTES_PER_CELL` a cell);
    # a recipe may raise it where the memory is there.
    max_items: int = 25_000

    SEARCH_SPACE = {"l2": {"low": 1.0, "high": 1e5, "log": True}}  # `rank tune`'s default range

    def __post_init__(self) -> None:
        if self.l2 <= 0 or self.max_items < 1:
            raise ValueError("l2 must be > 0 and max_items >= 1")


class EASE(Recommender):
    """Embarrassingly shallow autoencoder: P = (X^T X + lambda I)^-1, B = -P / diag(P), diag(B) = 0.

    Closed form of Steck, WWW 2019; score(u) = h_u B. Dense: memory and time grow as items^2 and
    items^3 (about 8 s for 8,000 items on one thread); catalogues above `max_items` are refused.
    """

    Params = EASEParams
    # Peak bytes per cell of the items x items matrices: the Gram matrix, its inverse and B in
    # float64 (with the inverse's LAPACK work copy, three alive at once) and B in float32.
    BYTES_PER_CELL = 28

    @classmethod
    def catalogue_problem(cls, params: EASEParams, n_items: int) -> str | None:
        if n_items <= params.max_items:
            return None
        needed = cls.BYTES_PER_CELL * n_items**2
        return (
            f"EASE needs a dense {n_items:,} x {n_items:,} item matrix: about "
            f"{needed / 2**30:,.1f} GiB of memory ({cls.BYTES_PER_CELL} bytes a cell), for a "
            f"catalogue above params.max_items = {params.max_items:,}; raise max_items where "
            "that memory is available, or use item_knn or rp3beta (sparse neighbours)"
        )

    def _fit(self, train: sp.csr_matrix) -> None:
        problem = self.catalogue_problem(self.params, train.shape[1])
        if problem is not None:
            raise UserError(problem)
        spectra = _SPECTRA.get()
        if spectra is None:
            precision = self._precision_by_inverse(train)
        else:
            precision = self._precision_by_spectrum(train, spectra)
        weights = precision / (-np.diag(precision))[None, :]
        weights[np.diag_indices_from(weights)] = 0.0
        self.weights_ = weights.astype(np.float32, copy=False)

    def _precision_by_inverse(self, train: sp.csr_matrix) -> np.ndarray:
        gram = dense(train.T @ train).astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.params.l2
        return np.linalg.inv(gram)

    def _precision_by_spectrum(self, train: sp.csr_matrix, spectra: dict) -> np.ndarray:
        """P = I / l2 - A A^T with A = V diag(sqrt(lambda / (l2 (lambda + l2)))), since
        1 / (lambda + l2) = 1 / l2 - lambda / (l2 (lambda + l2)): the product holds only the
        departure from I / l2, so no off-diagonal entry is a difference of terms of size 1 / l2.
        The product is float32 (a third of float64's time): B agrees with the inverse's to about
        1e-6 of its largest entry at any l2, so a list may differ from a direct fit's only where
        two scores are that close. lambda is clipped at 0 (X^T X is positive semi-definite)."""
        key = _digest(train)
        if key not in spectra:
            gram = dense(train.T @ train).astype(np.float64)
            # One BLAS thread: the tridiagonal reduction is memory bound, and on a busy
            # 2-core machine threaded eigh took 6-22 s against 0.85 s (1,682 items).
            with threadpool_limits(1, user_api="blas"):
                values, vectors = np.linalg.eigh(gram)
            spectra.clear()
            spectra[key] = (np.clip(values, 0.0, None), vectors.astype(np.float32))
        values, vectors = spectra[key]
        l2 = self.params.l2
        scaled = vectors * np.sqrt(values / (l2 * (values + l2))).astype(np.float32)
        precision = -(scaled @ scaled.T)  # numpy computes A A^T as one symmetric rank-k update
        precision[np.diag_indices_from(precision)] += np.float32(1.0 / l2)
        return precision

    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray(history @ self.weights_)
