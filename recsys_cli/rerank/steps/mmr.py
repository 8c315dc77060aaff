"""`mmr`: Maximal Marginal Relevance over a cosine similarity of item vectors."""

from __future__ import annotations

from pydantic import Field

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker, Similarity, check_unit, similarity_columns


@section
class MMRParams:
    """Maximal Marginal Relevance; similarity = cosine of genre multi-hot, ALS item factors, or
    same artist (one-hot artist vectors)."""

    lambda_: float = Field(0.5, alias="lambda")
    similarity: Similarity = "genres"

    def __post_init__(self) -> None:
        check_unit("lambda", self.lambda_)


class MMR(Reranker):
    """Greedy relevance minus the largest similarity to the items already chosen."""

    name = "mmr"
    Params = MMRParams

    def columns(self) -> tuple[str, ...]:
        return similarity_columns(self.params.similarity)

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.mmr import mmr

        vectors = ctx.similarity.vectors(self.params.similarity, self.name)
        return mmr(candidates, scores, vectors, k, self.params.lambda_)
