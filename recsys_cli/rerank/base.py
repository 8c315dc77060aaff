"""The reranker protocol: one class carries a reranker's recipe name, its typed params, the item
columns it reads and its batched behaviour; `rerank.registry` maps recipe names to the classes.

A reranker module stays light (no compiled kernel imported at module level): the recipe schema
imports every registered class to read its `Params`, and loading a recipe should not compile or
load kernels it may never run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    import numpy as np
    import scipy.sparse as sp

    from recsys_cli.rerank.stage import RerankContext

GENRES = "genres"

# Item vectors whose cosine is the similarity (`data.similarity.ItemSimilarity`): genre multi-hot,
# ALS item factors fitted on the training matrix, or one-hot artist.
Similarity = Literal["genres", "factors", "artist"]


def similarity_columns(similarity: Similarity) -> tuple[str, ...]:
    """The item columns a similarity reads: `factors` is learned from interactions alone."""
    return () if similarity == "factors" else (similarity,)


def check_unit(name: str, value: float) -> None:
    """A params check: `value` in [0, 1] (pydantic reports the ValueError at the step)."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


class Reranker(ABC):
    """One rerank step: `reranker = NAME` in a variant's chain.

    `name` is the recipe name; `Params` the frozen pydantic dataclass (`config.validate.section`)
    a step table is validated into (its keys are the step's keys besides `reranker`). Like an
    estimator, `__init__` only stores the validated params.
    """

    name: ClassVar[str]
    Params: ClassVar[type]

    def __init__(self, params: Any) -> None:
        self.params = params

    def columns(self) -> tuple[str, ...]:
        """Item columns these params read; a run checks them before training anything."""
        return ()

    @abstractmethod
    def apply(
        self,
        ctx: RerankContext,
        candidates: np.ndarray,
        scores: np.ndarray,
        history: sp.csr_matrix,
        k: int,
    ) -> np.ndarray:
        """Rerank every user at once.

        candidates: int32 (users x N) item indices by descending model score, -1 padded at the
        end; scores: the model scores aligned with them (-inf at padding); history: the users'
        model input (users x items CSR, same rows); ctx: the run's item side data. Returns int32
        (users x k): distinct items of each user's candidates, -1 padded at the end when a user
        has fewer than k.
        """
