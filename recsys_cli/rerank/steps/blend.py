"""`blend`: a weighted (or Chebyshev) sum of per-user normalised objectives."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker


@section
class BlendParams:
    """Weighted (or Chebyshev) sum of per-user normalised objectives.

    Objectives: relevance (model score), novelty (-log2 of the item's training user share),
    popularity (training users), group:NAME (1 for items of group NAME, else 0).
    """

    weights: dict[str, float] = dataclasses.field(default_factory=lambda: {"relevance": 1.0})
    norm: Literal["minmax", "rank", "zscore"] = "minmax"
    mode: Literal["weighted", "chebyshev"] = "weighted"

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("weights must name at least one objective")
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise ValueError("weights must be >= 0 and not all 0")


class Blend(Reranker):
    """Candidates by the blended value of their objectives."""

    name = "blend"
    Params = BlendParams

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.blend import blend

        params = self.params
        values = [objective(ctx, name, candidates, scores) for name in params.weights]
        weights = list(params.weights.values())
        return blend(candidates, values, weights, k, params.norm, params.mode)


def objective(ctx, name: str, candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-candidate values of a blend objective (higher is better; NaN at padding)."""
    from recsys_cli.rerank.blend import gather

    if name == "relevance":
        return np.where(candidates >= 0, scores, np.nan)
    if name == "novelty":
        return gather(ctx.side.novelty_values(), candidates)
    if name == "popularity":
        return gather(ctx.side.popularity, candidates)
    return gather(ctx.groups.mask(name.removeprefix("group:")).astype(np.float64), candidates)
