"""Reranker params, one frozen class per reranker, and the registry of recipe names that picks
one for a rerank step (`{ reranker = "mmr", lambda = 0.3 }`); `rerank.stage` maps the same names
to the kernels."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import pydantic
from pydantic import Field

from recsys_cli.config.tagged import tagged_union
from recsys_cli.config.validate import SECTION, section


def _unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


Similarity = Literal["genres", "factors", "artist"]


@section
class MMRParams:
    """Maximal Marginal Relevance; similarity = cosine of genre multi-hot, ALS item factors, or
    same artist (one-hot artist vectors)."""

    lambda_: float = Field(0.5, alias="lambda")
    similarity: Similarity = "genres"

    def __post_init__(self) -> None:
        _unit("lambda", self.lambda_)


@section
class DPPParams:
    """DPP fast greedy MAP; theta trades relevance (1) against diversity (0)."""

    theta: float = 0.5
    window: int | None = None
    similarity: Similarity = "genres"

    def __post_init__(self) -> None:
        _unit("theta", self.theta)
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


@section
class CalibrationParams:
    """Steck's calibrated reranking over the items' genres."""

    lambda_: float = Field(0.5, alias="lambda")

    def __post_init__(self) -> None:
        _unit("lambda", self.lambda_)


@section
class XQuADParams:
    """Popularity-aware xQuAD; tail = items outside the head covering head_share of training."""

    lambda_: float = Field(0.5, alias="lambda")
    variant: Literal["binary", "smooth"] = "binary"
    head_share: float = 0.8

    def __post_init__(self) -> None:
        _unit("lambda", self.lambda_)
        _unit("head_share", self.head_share)


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


@section
class ProviderCapParams:
    """At most max_per items per value of an item column (artist by default)."""

    column: str = "artist"
    max_per: int = 2

    def __post_init__(self) -> None:
        if self.max_per < 1:
            raise ValueError(f"max_per must be >= 1, got {self.max_per}")


@section
class SpacingParams:
    """At least `gap` positions between items sharing a value of an item column."""

    column: str = "artist"
    gap: int = 1

    def __post_init__(self) -> None:
        if self.gap < 0:
            raise ValueError(f"gap must be >= 0, got {self.gap}")


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


# Recipe name -> params class: the one registry the step union is built from (`step_type`);
# `rerank.stage` maps the same names to the kernels.
RERANKER_PARAMS: dict[str, type] = {
    "mmr": MMRParams,
    "dpp": DPPParams,
    "calibration": CalibrationParams,
    "xquad": XQuADParams,
    "fair_exposure": FairExposureParams,
    "provider_cap": ProviderCapParams,
    "spacing": SpacingParams,
    "blend": BlendParams,
    "quota": QuotaParams,
}


@section
class StepConfig:
    """One step of a rerank chain: a registered reranker and its validated params."""

    reranker: str
    params: Any


def step_table(name: str, params: type) -> type:
    """The TOML table of a `name` step: the params' keys (flat) and `reranker = name`."""
    namespace = {"__annotations__": {"reranker": Literal[name]}, "__doc__": params.__doc__}
    table = type(params.__name__.removesuffix("Params") + "Step", (params,), namespace)
    return pydantic.dataclasses.dataclass(table, frozen=True, kw_only=True, config=SECTION)


def step_type(registry: dict[str, type]) -> Any:
    """A rerank step: a table validated against the params its `reranker` names in `registry`
    (name -> params class), as a StepConfig."""
    tables = {name: step_table(name, params) for name, params in registry.items()}

    def to_config(table: Any) -> StepConfig:
        params = registry[table.reranker]
        values = {f.name: getattr(table, f.name) for f in dataclasses.fields(params)}
        return StepConfig(table.reranker, params(**values))

    return tagged_union("reranker", "reranker", tables, StepConfig, to_config)


RerankStep = step_type(RERANKER_PARAMS)
