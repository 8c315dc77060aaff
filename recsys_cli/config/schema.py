"""The recipe schema: one frozen dataclass per section, validated from TOML by pydantic
(`config.validate.build`); `config.loader` adds the checks that span sections."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

import pydantic
from pydantic import Field

from recsys_cli.config.rerankers import (  # noqa: F401 (re-exported: the recipe's rerank steps)
    RERANKER_PARAMS,
    RerankStep,
    StepConfig,
)
from recsys_cli.config.tagged import tagged_union
from recsys_cli.config.validate import SECTION, PlainName, name_problem, section
from recsys_cli.metrics import ACCURACY
from recsys_cli.models.registry import default_label, is_model_name, model_class, model_names


@section
class ColumnMap:
    """Column names of a local interactions file; timestamp and weight may be absent."""

    user: str = "user"
    item: str = "item"
    timestamp: str | None = None
    weight: str | None = None


@section
class DatasetConfig:
    """A catalog dataset by name, or a local CSV/Parquet file when `path` is set."""

    name: PlainName = "ml-100k"  # a folder of the data dir
    path: str | None = None
    separator: str = ","
    columns: ColumnMap = dataclasses.field(default_factory=ColumnMap)
    items_path: str | None = None


@section
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


@section
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


@section
class ModelConfig:
    """One model: registry name or `module:Class` path (`name`), display `label` (unique in the
    recipe) and validated params."""

    name: str
    label: str
    params: Any


def model_table(name: str) -> type:
    """The TOML table of a `name` model: `name`, `label` (default: the name, or the class name
    of a `module:Class` name) and its params."""
    return _model_table(name, model_class(name))


@functools.cache
def _model_table(name: str, cls: type) -> type:
    namespace = {
        "__annotations__": {"name": Literal[name], "label": PlainName | None, "params": cls.Params},
        "__doc__": cls.__doc__,
        "label": None,
        "params": dataclasses.field(default_factory=cls.Params),
    }
    table = type(cls.__name__.removesuffix("Model") + "Model", (), namespace)
    return pydantic.dataclasses.dataclass(table, frozen=True, config=SECTION)


class _ModelTables(Mapping[str, type]):
    """Model name -> its [[models]] table: the built-in names, and any `module:Class` name (its
    class imported when a recipe names it; a ClassPathError says why one names no model)."""

    def __getitem__(self, name: str) -> type:
        if not is_model_name(name):
            raise KeyError(name)
        return model_table(name)

    def __contains__(self, name: object) -> bool:
        return is_model_name(name)

    def __iter__(self) -> Iterator[str]:
        return iter(model_names())

    def __len__(self) -> int:
        return len(model_names())


def _model_config(table: Any) -> ModelConfig:
    label = table.label or default_label(table.name)
    problem = name_problem(label)
    if problem:  # a class path's class name as the default label
        raise ValueError(f"the default label {label!r} {problem}; give the model a label")
    return ModelConfig(table.name, label, table.params)


# A [[models]] entry: the name picks the params' type.
ModelEntry = tagged_union("name", "model", _ModelTables(), ModelConfig, _model_config)


@section
class EvalConfig:
    """Cutoffs and metrics, the candidate depth N each model returns, and how many users are
    scored at once (0: about 2^22 scores, i.e. 16 MiB of float32, and 32 to 4,096 users per
    block)."""

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


@section
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


@section
class VariantConfig:
    """A named rerank chain applied to some models' candidates; rows are labelled MODEL+name.

    models: labels it applies to and length: list length; the loader fills both (every model,
    the largest cutoff) when the recipe leaves them out.
    """

    name: PlainName  # rows are labelled MODEL+name: no '+' either
    chain: Annotated[tuple[RerankStep, ...], Field(min_length=1)]
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


@section
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


@section
class RankerLabels:
    """The gain of a pooled (user, item) pair: rel + sum_k w_k t_k (apply_to = "all") or
    rel * (1 + sum_k w_k t_k) ("relevant": business terms count only on relevant items); rel = 1
    when the pair is in the label window, t_k in {0, 1} (discovery, group:NAME)."""

    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    apply_to: Literal["all", "relevant"] = "all"

    def __post_init__(self) -> None:
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("label weights must be >= 0")


@section
class RankerConfig:
    """The two-stage ranker: pool the top-N candidates of the `generators` (model labels), learn
    LambdaMART on labels from a window carved off the end of the training part (`validation`:
    its share, cut as the recipe's split kind cuts), and order each test user's pool. Rows are
    labelled `label`; lists hold `length` items (the loader fills eval.candidates)."""

    generators: tuple[str, ...]
    label: PlainName = "LTR"  # a row label, like a model's
    features: tuple[str, ...] = ("score", "rank", "popularity", "user_activity")
    validation: float = 0.2
    length: int = 0
    threads: int = 1
    labels: RankerLabels = dataclasses.field(default_factory=RankerLabels)
    params: RankerParams = dataclasses.field(default_factory=RankerParams)

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


@section
class Recipe:
    """A whole experiment: data, split, models, evaluation and the seed.

    `seeds` repeats model training and evaluation once per seed over ONE split (made with
    split.seed, else `seed`), so per-user values pair up across seeds.
    """

    name: str
    models: Annotated[tuple[ModelEntry, ...], Field(min_length=1)]
    description: str = ""
    seed: int = 42
    seeds: tuple[int, ...] = ()
    dataset: DatasetConfig = dataclasses.field(default_factory=DatasetConfig)
    filter: FilterConfig = dataclasses.field(default_factory=FilterConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    groups: dict[str, GroupConfig] = dataclasses.field(default_factory=dict)
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
