"""The recipe schema: one frozen dataclass per section, validated from TOML by `config.loader`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ACCURACY_METRICS = ("ndcg", "recall", "precision", "map", "mrr", "hit_rate")


@dataclass(frozen=True)
class ColumnMap:
    """Column names of a local interactions file; timestamp and weight may be absent."""

    user: str = "user"
    item: str = "item"
    timestamp: str | None = None
    weight: str | None = None


@dataclass(frozen=True)
class DatasetConfig:
    """A catalog dataset by name, or a local CSV/Parquet file when `path` is set."""

    name: str = "ml-100k"
    path: str | None = None
    separator: str = ","
    columns: ColumnMap = field(default_factory=ColumnMap)
    items_path: str | None = None


@dataclass(frozen=True)
class FilterConfig:
    """Rating threshold, binarisation and iterative k-core, applied in that order."""

    min_rating: float | None = None
    binarize: bool = True
    min_user_interactions: int = 0
    min_item_interactions: int = 0

    def __post_init__(self) -> None:
        if self.min_user_interactions < 0 or self.min_item_interactions < 0:
            raise ValueError("k-core minimums must be >= 0")


SplitKind = Literal["temporal", "leave_last", "random", "users"]


@dataclass(frozen=True)
class SplitConfig:
    """How interactions become train / validation / test.

    temporal: global cut in time; `test` is the share of interactions after the cut (or `cutoff`,
    an ISO date); `validation` is the share just before it. leave_last: each user's last `n`
    interactions are test, the `n` before them validation when `validation > 0`. random: each
    user's interactions are split at random by the ratios. users: strong generalization — a
    `test` share of users (and a `validation` share) is held out; `fold_in` of each held-out
    user's interactions is given as input and the rest are targets.
    """

    kind: SplitKind = "temporal"
    test: float = 0.2
    validation: float = 0.0
    cutoff: str | None = None
    n: int = 1
    fold_in: float = 0.8
    evaluate_on: Literal["test", "validation"] = "test"

    def __post_init__(self) -> None:
        if not 0.0 < self.test < 1.0:
            raise ValueError(f"test must be in (0, 1), got {self.test}")
        if not 0.0 <= self.validation < 1.0 - self.test:
            raise ValueError(f"validation must be in [0, 1 - test), got {self.validation}")
        if not 0.0 < self.fold_in < 1.0:
            raise ValueError(f"fold_in must be in (0, 1), got {self.fold_in}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.evaluate_on == "validation" and self.validation == 0.0:
            raise ValueError("evaluate_on = 'validation' needs validation > 0")


@dataclass(frozen=True)
class ModelConfig:
    """One model: registry `name`, display `label` (unique in the recipe) and validated params."""

    name: str
    label: str
    params: Any


@dataclass(frozen=True)
class EvalConfig:
    """Cutoffs and accuracy metrics, and the candidate depth N each model returns."""

    cutoffs: tuple[int, ...] = (10, 20)
    metrics: tuple[Literal["ndcg", "recall", "precision", "map", "mrr", "hit_rate"], ...] = (
        ACCURACY_METRICS
    )
    candidates: int = 100

    def __post_init__(self) -> None:
        if not self.cutoffs or min(self.cutoffs) < 1:
            raise ValueError("cutoffs must be a non-empty list of positive integers")
        if self.candidates < max(self.cutoffs):
            raise ValueError(
                f"candidates ({self.candidates}) must be >= the largest cutoff ({max(self.cutoffs)})"
            )


@dataclass(frozen=True)
class Recipe:
    """A whole experiment: data, split, models, evaluation and the seed."""

    name: str
    models: tuple[ModelConfig, ...]
    description: str = ""
    seed: int = 42
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
