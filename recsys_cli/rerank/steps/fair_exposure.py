"""`fair_exposure`: FA*IR prefix quotas for a protected group of items."""

from __future__ import annotations

from recsys_cli.config.validate import section
from recsys_cli.rerank.base import Reranker


@section
class FairExposureParams:
    """FA*IR prefix quotas for the items of `group` (a name from [groups])."""

    group: str
    p: float = 0.5
    alpha: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.p < 1.0:
            raise ValueError(f"p must be in (0, 1), got {self.p}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")


class FairExposure(Reranker):
    """Each prefix holds the protected items a binomial test at level alpha requires."""

    name = "fair_exposure"
    Params = FairExposureParams

    def apply(self, ctx, candidates, scores, history, k):
        from recsys_cli.rerank.fairness import fair_exposure

        protected = ctx.groups.mask(self.params.group)
        return fair_exposure(candidates, protected, k, self.params.p, self.params.alpha)
