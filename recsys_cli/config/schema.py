"""The recipe schema: one frozen dataclass per section, validated from TOML by `config.loader`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from recsys_cli.metrics import ACCURACY


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
    user's interactions is given as input and the rest are targets. `new_users = "fold_in"`
    (temporal only): a user whose first interaction is after the cut gets the earliest `fold_in`
    share of their held-out interactions as input (at least one) and the rest as targets,
    instead of being excluded as cold.
    """

    kind: SplitKind = "temporal"
    test: float = 0.2
    validation: float = 0.0
    cutoff: str | None = None
    n: int = 1
    fold_in: float = 0.8
    new_users: Literal["exclude", "fold_in"] = "exclude"
    evaluate_on: Literal["test", "validation"] = "test"
    # When test is evaluated, the models also learn from the validation part; false: from the
    # training part alone (as while tuning: `rank tune` with refit = false), validation unused.
    train_on_validation: bool = True
    seed: int | None = None  # the split's own seed; default: the recipe seed

    def __post_init__(self) -> None:
        if not 0.0 < self.test < 1.0:
            raise ValueError(f"test must be in (0, 1), got {self.test}")
        if not 0.0 <= self.validation < 1.0 - self.test:
            raise ValueError(f"validation must be in [0, 1 - test), got {self.validation}")
        if not 0.0 < self.fold_in < 1.0:
            raise ValueError(f"fold_in must be in (0, 1), got {self.fold_in}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.new_users == "fold_in" and self.kind != "temporal":
            raise ValueError("new_users = 'fold_in' applies to kind = 'temporal' only")
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
    """Cutoffs and metrics, the candidate depth N each model returns, and how many users are
    scored at once (0: as many as fit 2^25 scores, i.e. 128 MiB of float32 per block)."""

    cutoffs: tuple[int, ...] = (10, 20)
    # Accuracy, beyond-accuracy and business names (recsys_cli.metrics), checked by the loader.
    metrics: tuple[str, ...] = ACCURACY
    candidates: int = 100
    block_size: int = 0

    def __post_init__(self) -> None:
        if self.block_size < 0:
            raise ValueError("block_size must be >= 0 (0 = automatic)")
        for name, values in (("cutoffs", self.cutoffs), ("metrics", self.metrics)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name} {list(values)} repeat a value")
        if not self.cutoffs or min(self.cutoffs) < 1:
            raise ValueError("cutoffs must be a non-empty list of positive integers")
        if self.candidates < max(self.cutoffs):
            raise ValueError(
                f"candidates ({self.candidates}) must be >= the largest cutoff ({max(self.cutoffs)})"
            )


@dataclass(frozen=True)
class GroupConfig:
    """An item group defined from data; exactly one kind.

    popularity_below = q: items whose training popularity (number of training users; summed over
    the items sharing the `by` column's value, e.g. an artist, when `by` is set) is below the
    q-quantile of that popularity over items (or over `by` values), e.g. emerging artists.
    column + one of at_least / at_most / equals / contains: a condition on an item column (list
    columns such as genres: contains = one element). file: a text file of original item ids, one
    per line (a relative path is read from the recipe's folder, like dataset.path).
    """

    popularity_below: float | None = None
    by: str | None = None
    column: str | None = None
    at_least: float | None = None
    at_most: float | None = None
    equals: str | int | float | None = None
    contains: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        kinds = [k for k in ("popularity_below", "column", "file") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "define exactly one kind: popularity_below, column (with a condition) or file"
                + (f"; got {' and '.join(kinds)}" if kinds else "")
            )
        conditions = [
            k for k in ("at_least", "at_most", "equals", "contains") if getattr(self, k) is not None
        ]
        if self.column is not None and len(conditions) != 1:
            raise ValueError(
                "column needs exactly one of at_least, at_most, equals, contains"
                + (f"; got {' and '.join(conditions)}" if conditions else "")
            )
        if self.column is None and conditions:
            raise ValueError(f"{conditions[0]} needs column = ...")
        if self.by is not None and self.popularity_below is None:
            raise ValueError("by only applies to popularity_below")
        if self.popularity_below is not None and not 0.0 < self.popularity_below <= 1.0:
            raise ValueError(f"popularity_below must be in (0, 1], got {self.popularity_below}")


def _unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


Similarity = Literal["genres", "factors", "artist"]


@dataclass(frozen=True)
class MMRParams:
    """Maximal Marginal Relevance; similarity = cosine of genre multi-hot, ALS item factors, or
    same artist (one-hot artist vectors)."""

    lambda_: float = 0.5
    similarity: Similarity = "genres"

    def __post_init__(self) -> None:
        _unit("lambda", self.lambda_)


@dataclass(frozen=True)
class DPPParams:
    """DPP fast greedy MAP; theta trades relevance (1) against diversity (0)."""

    theta: float = 0.5
    window: int | None = None
    similarity: Similarity = "genres"

    def __post_init__(self) -> None:
        _unit("theta", self.theta)
        if self.window is not None and self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


@dataclass(frozen=True)
class CalibrationParams:
    """Steck's calibrated reranking over the items' genres."""

    lambda_: float = 0.5

    def __post_init__(self) -> None:
        _unit("lambda", self.lambda_)


@dataclass(frozen=True)
class XQuADParams:
    """Popularity-aware xQuAD; tail = items outside the head covering head_share of training."""

    lambda_: float = 0.5
    variant: Literal["binary", "smooth"] = "binary"
    head_share: float = 0.8

    def __post_init__(self) -> None:
        _unit("lambda", self.lambda_)
        _unit("head_share", self.head_share)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ProviderCapParams:
    """At most max_per items per value of an item column (artist by default)."""

    column: str = "artist"
    max_per: int = 2

    def __post_init__(self) -> None:
        if self.max_per < 1:
            raise ValueError(f"max_per must be >= 1, got {self.max_per}")


@dataclass(frozen=True)
class SpacingParams:
    """At least `gap` positions between items sharing a value of an item column."""

    column: str = "artist"
    gap: int = 1

    def __post_init__(self) -> None:
        if self.gap < 0:
            raise ValueError(f"gap must be >= 0, got {self.gap}")


@dataclass(frozen=True)
class BlendParams:
    """Weighted (or Chebyshev) sum of per-user normalised objectives.

    Objectives: relevance (model score), novelty (-log2 of the item's training user share),
    popularity (training users), group:NAME (1 for items of group NAME, else 0).
    """

    weights: dict[str, float] = field(default_factory=lambda: {"relevance": 1.0})
    norm: Literal["minmax", "rank", "zscore"] = "minmax"
    mode: Literal["weighted", "chebyshev"] = "weighted"

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("weights must name at least one objective")
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise ValueError("weights must be >= 0 and not all 0")


# Recipe name -> params class; `rerank.stage` maps the same names to the kernels.
@dataclass(frozen=True)
class QuotaParams:
    """At least ceil(share * r) of every top-r prefix from `group`: a name from [groups] or
    "discovery" (items whose artist is new to the user, per user)."""

    BUILTIN_GROUPS: ClassVar[tuple[str, ...]] = ("discovery",)

    share: float
    group: str = "discovery"

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {self.share}")


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


@dataclass(frozen=True)
class StepConfig:
    """One step of a rerank chain: a registered reranker and its validated params."""

    reranker: str
    params: Any


@dataclass(frozen=True)
class VariantConfig:
    """A named rerank chain applied to some models' candidates; rows are labelled MODEL+name.

    models: labels it applies to and length: list length; the loader fills both (every model,
    the largest cutoff) when the recipe leaves them out.
    """

    name: str
    chain: tuple[StepConfig, ...]
    models: tuple[str, ...] = ()
    length: int = 0


# Ranker feature name -> what the data must have for it (None: always there); the builders in
# `recsys_cli.ranking.features` carry the same names. `score` and `rank` give one column per
# generator; `group:NAME` (a [groups] name) is also a feature: membership of that group.
RANKER_FEATURES: dict[str, str | None] = {
    "score": None,
    "rank": None,
    "retrieved_by": None,
    "popularity": None,
    "popularity_trend": "timestamps",
    "item_age": "timestamps",
    "release_age": "year",
    "user_activity": None,
    "genre_affinity": "genres",
    "artist_affinity": "artist",
    "artist_new": "artist",
}
# Business terms of the ranker's labels besides `group:NAME`: discovery = the item's artist is
# new to the user.
RANKER_LABEL_TERMS: dict[str, str | None] = {"discovery": "artist"}


@dataclass(frozen=True)
class RankerParams:
    """LightGBM LambdaMART hyperparameters (Burges, MSR-TR-2010-82); `truncation_level` is
    lambdarank_truncation_level (list positions whose pairs carry gradient)."""

    objective: Literal["lambdarank", "rank_xendcg"] = "lambdarank"
    # Small trees: a few hundred labelled users overfit LightGBM's own defaults (31 leaves);
    # these won on the validation windows of ML-100K and Last.fm 2K.
    iterations: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_data_in_leaf: int = 100
    feature_fraction: float = 1.0
    lambda_l2: float = 0.0
    truncation_level: int = 30

    def __post_init__(self) -> None:
        for name in ("iterations", "min_data_in_leaf", "truncation_level"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_leaves < 2:
            raise ValueError(f"num_leaves must be >= 2, got {self.num_leaves}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if not 0.0 < self.feature_fraction <= 1.0:
            raise ValueError(f"feature_fraction must be in (0, 1], got {self.feature_fraction}")
        if self.lambda_l2 < 0:
            raise ValueError(f"lambda_l2 must be >= 0, got {self.lambda_l2}")


@dataclass(frozen=True)
class RankerLabels:
    """The gain of a pooled (user, item) pair: rel + sum_k w_k t_k (apply_to = "all") or
    rel * (1 + sum_k w_k t_k) ("relevant": business terms count only on relevant items); rel = 1
    when the pair is in the label window, t_k in {0, 1} (discovery, group:NAME)."""

    weights: dict[str, float] = field(default_factory=dict)
    apply_to: Literal["all", "relevant"] = "all"

    def __post_init__(self) -> None:
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("label weights must be >= 0")


@dataclass(frozen=True)
class RankerConfig:
    """The two-stage ranker: pool the top-N candidates of the `generators` (model labels), learn
    LambdaMART on labels from a window carved off the end of the training part (`validation`:
    its share, cut as the recipe's split kind cuts), and order each test user's pool. Rows are
    labelled `label`; lists hold `length` items (the loader fills eval.candidates)."""

    generators: tuple[str, ...]
    label: str = "LTR"
    features: tuple[str, ...] = ("score", "rank", "popularity", "user_activity")
    validation: float = 0.2
    length: int = 0
    threads: int = 1
    labels: RankerLabels = field(default_factory=RankerLabels)
    params: RankerParams = field(default_factory=RankerParams)

    def __post_init__(self) -> None:
        if not self.generators:
            raise ValueError("generators must name at least one model label")
        if not 0.0 < self.validation < 1.0:
            raise ValueError(f"validation must be in (0, 1), got {self.validation}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if not self.features:
            raise ValueError("features must name at least one feature")


MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Recipe:
    """A whole experiment: data, split, models, evaluation and the seed.

    `seeds` repeats model training and evaluation once per seed over ONE split (made with
    split.seed, else `seed`), so per-user values pair up across seeds.
    """

    name: str
    models: tuple[ModelConfig, ...]
    description: str = ""
    seed: int = 42
    seeds: tuple[int, ...] = ()
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    variants: tuple[VariantConfig, ...] = ()
    ranker: RankerConfig | None = None

    def __post_init__(self) -> None:
        seeds = (self.seed, *self.seeds, self.split.seed or 0)
        if min(seeds) < 0 or max(seeds) > MAX_SEED:
            raise ValueError(
                f"seeds must be between 0 and {MAX_SEED} (32-bit seeds, as RecBole's seeding "
                "through numpy and torch takes)"
            )
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {list(self.seeds)} repeat a value")
