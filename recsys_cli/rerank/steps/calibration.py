"""`calibration`: Steck's calibrated lists over the items' genres."""

from __future__ import annotations

from pydantic import Field

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import GENRES, Reranker, check_unit


@section
class CalibrationParams:
    """Steck's calibrated reranking over the items' genres."""

    lambda_: float = Field(0.5, alias="lambda")

    def __post_init__(self) -> None:
        check_unit("lambda", self.lambda_)


class Calibration(Reranker):
    """Relevance against the KL divergence of the list's genres from the user's history's."""

    name = "calibration"
    Params = CalibrationParams

    def columns(self) -> tuple[str, ...]:
        return (GENRES,)

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.metrics.beyond_accuracy import genre_distribution
        from recsys_cli.rerank.calibration import calibration

        genres = ctx.side.genres(self.name)
        target = genre_distribution(history.indptr, history.indices, genres)
        return calibration(candidates, scores, genres, target, k, self.params.lambda_)
