"""`dpp`: determinantal point process, fast greedy MAP over a cosine similarity kernel."""

from __future__ import annotations

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker, Similarity, check_unit, similarity_columns


@section
class DPPParams:
    """DPP fast greedy MAP; theta trades relevance (1) against diversity (0)."""

    theta: float = 0.5
    window: int | None = None
    similarity: Similarity = "genres"

    def __post_init__(self) -> None:
        check_unit("theta", self.theta)
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


class DPP(Reranker):
    """The list of highest determinant of the quality-weighted similarity kernel."""

    name = "dpp"
    Params = DPPParams

    def columns(self) -> tuple[str, ...]:
        return similarity_columns(self.params.similarity)

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.dpp import dpp

        vectors = ctx.similarity.vectors(self.params.similarity, self.name)
        return dpp(candidates, scores, vectors, k, self.params.theta, window=self.params.window)
