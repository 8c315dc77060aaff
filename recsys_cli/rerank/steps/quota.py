"""`quota`: a minimum share of every prefix from a group of items."""

from __future__ import annotations

from typing import ClassVar

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker


@section
class QuotaParams:
    """At least ceil(share * r) of every top-r prefix from `group`: a name from [groups] or
    "discovery" (items whose artist is new to the user, per user)."""

    BUILTIN_GROUPS: ClassVar[tuple[str, ...]] = ("discovery",)

    share: float
    group: str = "discovery"

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {self.share}")


class Quota(Reranker):
    """The best group candidate where a prefix would fall short of the share, else the best."""

    name = "quota"
    Params = QuotaParams

    def columns(self) -> tuple[str, ...]:
        return ("artist",) if self.params.group == "discovery" else ()

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.quota import quota

        member = ctx.groups.membership(self.params.group, candidates, history, self.name)
        return quota(candidates, member, k, self.params.share)
