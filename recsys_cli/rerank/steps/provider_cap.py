"""`provider_cap`: at most `max_per` items per value of an item column."""

from __future__ import annotations

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker


@section
class ProviderCapParams:
    """At most max_per items per value of an item column (artist by default)."""

    column: str = "artist"
    max_per: int = 2

    def __post_init__(self) -> None:
        if self.max_per < 1:
            raise ValueError(f"max_per must be >= 1, got {self.max_per}")


class ProviderCap(Reranker):
    """The input order, skipping an item whose column value has `max_per` items in the list."""

    name = "provider_cap"
    Params = ProviderCapParams

    def columns(self) -> tuple[str, ...]:
        return (self.params.column,)

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.sequencing import provider_cap

        codes = ctx.side.attribute(self.params.column, self.name)
        return provider_cap(candidates, codes, k, self.params.max_per)
