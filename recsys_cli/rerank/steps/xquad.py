"""`xquad`: popularity-aware xQuAD, the long tail as the second aspect."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker, check_unit


@section
class XQuADParams:
    """Popularity-aware xQuAD; tail = items outside the head covering head_share of training."""

    lambda_: float = Field(0.5, alias="lambda")
    variant: Literal["binary", "smooth"] = "binary"
    head_share: float = 0.8

    def __post_init__(self) -> None:
        check_unit("lambda", self.lambda_)
        check_unit("head_share", self.head_share)


class XQuAD(Reranker):
    """Relevance plus coverage of head and tail, weighted by the user's tail share."""

    name = "xquad"
    Params = XQuADParams

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.xquad import tail_preference, xquad

        params = self.params
        tail = ctx.tail(params.head_share)
        p_tail = tail_preference(history.indptr, history.indices, tail)
        return xquad(candidates, scores, tail, p_tail, k, params.lambda_, params.variant)
