"""`spacing`: at least `gap` positions between items sharing a value of an item column."""

from __future__ import annotations

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker


@section
class SpacingParams:
    """At least `gap` positions between items sharing a value of an item column."""

    column: str = "artist"
    gap: int = 1

    def __post_init__(self) -> None:
        if self.gap < 0:
            raise ValueError(f"gap must be >= 0, got {self.gap}")


class Spacing(Reranker):
    """Each position takes the first remaining item whose value last appeared > gap earlier."""

    name = "spacing"
    Params = SpacingParams

    def columns(self) -> tuple[str, ...]:
        return (self.params.column,)

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.sequencing import spacing

        codes = ctx.side.attribute(self.params.column, self.name)
        return spacing(candidates, codes, k, self.params.gap)
