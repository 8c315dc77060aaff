"""The `[ope]` recipe: logged data, policies, estimators; validated into frozen dataclasses with
errors naming the file and key path (as `config.loader` does for training recipes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import tomli_w

from recsys_cli.config.schema import ModelConfig
from recsys_cli.config.validate import build, join, nearest, plain_name, to_plain
from recsys_cli.errors import RecipeError
from recsys_cli.ope.estimators import ESTIMATORS

# Models that score a context from its row of the training matrix alone (sequential and RecBole
# models need ordered histories or their own data pipeline).
OPE_MODELS = ("random", "popularity", "item_knn", "rp3beta", "ease", "implicit_als", "implicit_bpr")
DEFAULT_ESTIMATORS = ("dm", "ips", "snips", "dr", "switch_dr")
_TOP_KEYS = ("name", "description", "seed", "ope", "models")


@dataclass(frozen=True)
class LogColumns:
    """Column names of a local logs file: one row per (round, position). Without `round` every
    row is its own round, without `position` every row is position 1; `context` lists the
    (categorical) feature columns whose values make a round's context; `prefix` the optional
    probability of the logged items at positions 1..l together under the logging policy."""

    round: str | None = None
    position: str | None = None
    item: str = "item"
    propensity: str = "propensity"
    reward: str = "reward"
    prefix: str | None = None
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogsConfig:
    """Logged feedback: the Open Bandit Dataset sample (source "obd": `behavior` = the logging
    policy random | bts, `campaign` = all | men | women) or a local CSV/Parquet file (source
    "file": `path`, `separator`, `columns`)."""

    source: Literal["obd", "file"] = "obd"
    behavior: Literal["random", "bts"] = "random"
    campaign: Literal["all", "men", "women"] = "all"
    path: str | None = None
    separator: str = ","
    columns: LogColumns = field(default_factory=LogColumns)

    def __post_init__(self) -> None:
        if self.source == "file" and self.path is None:
            raise ValueError("source = 'file' needs a path")
        if self.source == "obd" and self.path is not None:
            raise ValueError("path is read with source = 'file' only")
        if len(self.separator.encode()) != 1:
            raise ValueError(
                f"separator {self.separator!r}: a CSV separator is one single-byte character"
            )


@dataclass(frozen=True)
class RewardModelConfig:
    """The reward model of dm and the doubly robust estimators (`ope.reward`)."""

    kind: Literal["item_position", "context_item"] = "context_item"
    smoothing: float = 10.0

    def __post_init__(self) -> None:
        if self.smoothing <= 0:
            raise ValueError(f"smoothing must be > 0, got {self.smoothing}")


@dataclass(frozen=True)
class UniformPolicy:
    """A uniformly random ranking of the candidates. `on_policy`: logs this very policy
    collected, whose mean reward is its true value (shown beside the estimates)."""

    KIND: ClassVar[str] = "uniform"
    name: str
    on_policy: LogsConfig | None = None


@dataclass(frozen=True)
class BTSPolicy:
    """Bernoulli Thompson sampling: `prior = "zozotown"` (obp's ZOZOTOWN prior of the logs'
    campaign, or `campaign`) or `alpha` and `beta` lists, one per candidate in item id order;
    `samples` Monte Carlo rankings."""

    KIND: ClassVar[str] = "bts"
    name: str
    prior: Literal["zozotown"] | None = None
    campaign: Literal["all", "men", "women"] | None = None
    alpha: tuple[float, ...] | None = None
    beta: tuple[float, ...] | None = None
    samples: int = 100_000
    on_policy: LogsConfig | None = None

    def __post_init__(self) -> None:
        if (self.prior is None) == (self.alpha is None or self.beta is None):
            raise ValueError("give either prior = 'zozotown' or both alpha and beta lists")
        if self.alpha is not None and self.beta is not None:
            if len(self.alpha) != len(self.beta):
                raise ValueError(f"alpha has {len(self.alpha)} values, beta {len(self.beta)}")
            if min(self.alpha + self.beta) <= 0:
                raise ValueError("alpha and beta must be > 0")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")


@dataclass(frozen=True)
class ModelPolicy:
    """A recipe model (`model` = a [[models]] label), fitted on the `[ope.fit]` logs (contexts as
    users, rewarded items as interactions), as a stochastic ranking: `ranking` = softmax |
    plackett_luce (both over s / `temperature`) | epsilon_greedy (`epsilon`); `samples` Monte
    Carlo draws for Plackett-Luce's per-position probabilities."""

    KIND: ClassVar[str] = "model"
    name: str
    model: str
    ranking: Literal["softmax", "plackett_luce", "epsilon_greedy"] = "plackett_luce"
    temperature: float = 1.0
    epsilon: float = 0.1
    samples: int = 10_000
    on_policy: LogsConfig | None = None

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")


PolicyConfig = UniformPolicy | BTSPolicy | ModelPolicy
POLICY_KINDS: dict[str, type] = {cls.KIND: cls for cls in (UniformPolicy, BTSPolicy, ModelPolicy)}


@dataclass(frozen=True)
class OpeConfig:
    """`[ope]`: the logs evaluated (`data`), the logs model policies are fitted on (`fit`), the
    policies, the estimators, the slate length (`positions`; default the largest logged
    position), bootstrap resamples and confidence, the switch / clipping threshold `tau` and
    the reward model."""

    data: LogsConfig = field(default_factory=LogsConfig)
    fit: LogsConfig | None = None
    policies: tuple[PolicyConfig, ...] = ()
    estimators: tuple[str, ...] = DEFAULT_ESTIMATORS
    positions: int | None = None
    bootstrap: int = 1000
    confidence: float = 0.95
    tau: float = 100.0
    reward_model: RewardModelConfig = field(default_factory=RewardModelConfig)

    def __post_init__(self) -> None:
        if self.positions is not None and self.positions < 1:
            raise ValueError(f"positions must be >= 1, got {self.positions}")
        if self.bootstrap < 2:
            raise ValueError(f"bootstrap must be >= 2 resamples, got {self.bootstrap}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")
        if self.tau <= 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if len(set(self.estimators)) != len(self.estimators) or not self.estimators:
            raise ValueError(f"estimators {list(self.estimators)}: a non-empty list, each once")


@dataclass(frozen=True)
class OpeRecipe:
    name: str
    ope: OpeConfig
    description: str = ""
    seed: int = 42
    models: tuple[ModelConfig, ...] = ()


def load_ope_recipe(path: Path | str, overrides: list[str] = ()) -> OpeRecipe:
    """Parse, override (`--set`) and validate an OPE recipe; errors carry the file and key path.
    A relative `path` of the logs is read from the recipe's folder (from the working directory
    when given with --set)."""
    from recsys_cli.config.loader import apply_override, read_toml, resolve_recipe

    source = str(path)
    path = resolve_recipe(path)
    raw = read_toml(path, source)
    raw.setdefault("name", path.stem)
    try:
        _absolute_paths(raw, path.parent)
        for override in overrides:
            apply_override(raw, override)
        _absolute_paths(raw, Path.cwd())
        return ope_recipe_from_dict(raw)
    except RecipeError as error:
        raise RecipeError(error.path, str(error).removeprefix(f"{error.path}: "), source) from None


def _absolute_paths(raw: dict[str, Any], base: Path) -> None:
    ope = raw.get("ope")
    if not isinstance(ope, dict):
        return
    tables = [ope.get("data"), ope.get("fit")]
    policies = ope.get("policies")
    if isinstance(policies, list):
        tables += [p.get("on_policy") for p in policies if isinstance(p, dict)]
    for table in tables:
        value = table.get("path") if isinstance(table, dict) else None
        if isinstance(value, str) and value and not Path(value).is_absolute():
            table["path"] = str(base.absolute() / value)


def ope_recipe_from_dict(raw: dict[str, Any]) -> OpeRecipe:
    """Validate a parsed OPE recipe: every policy's kind and keys, estimator names, that model
    policies name a [[models]] label usable here, and that they have `[ope.fit]` logs."""
    from recsys_cli.config.loader import model_config

    for key in raw:
        if key not in _TOP_KEYS:
            raise RecipeError(key, "unknown key in an OPE recipe" + nearest(key, _TOP_KEYS))
    ope = raw.get("ope")
    if not isinstance(ope, dict):
        raise RecipeError("ope", "expected an [ope] table")
    models = raw.get("models", [])
    if not isinstance(models, list):
        raise RecipeError("models", "expected an array of tables ([[models]])")
    configs = tuple(model_config(entry, f"models[{i}]") for i, entry in enumerate(models))
    labels = [m.label for m in configs]
    for i, config in enumerate(configs):
        if labels.index(config.label) != i:
            raise RecipeError(f"models[{i}].label", f"duplicate label {config.label!r}")
        if config.name not in OPE_MODELS:
            raise RecipeError(
                f"models[{i}].name",
                f"{config.name!r} cannot be an OPE policy (it needs ordered histories or its own "
                f"data pipeline); use one of {', '.join(OPE_MODELS)}",
            )
    policies = ope.get("policies")
    if not isinstance(policies, list) or not policies:
        raise RecipeError("ope.policies", "expected a non-empty array of tables ([[ope.policies]])")
    parsed = tuple(_policy(entry, f"ope.policies[{i}]", labels) for i, entry in enumerate(policies))
    names = [p.name for p in parsed]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise RecipeError(f"ope.policies[{i}].name", f"duplicate policy name {name!r}")
    config = build(OpeConfig, {**ope, "policies": []}, "ope")
    for i, name in enumerate(config.estimators):
        if name not in ESTIMATORS:
            raise RecipeError(
                f"ope.estimators[{i}]", f"unknown estimator {name!r}" + nearest(name, ESTIMATORS)
            )
    modelled = next((i for i, p in enumerate(parsed) if isinstance(p, ModelPolicy)), None)
    if modelled is not None and config.fit is None:
        raise RecipeError(
            "ope.fit",
            f"ope.policies[{modelled}] is a model policy: add [ope.fit], the logs its model is "
            "fitted on (fitting on the evaluated logs would overstate it)",
        )
    top = {k: v for k, v in raw.items() if k not in ("ope", "models")}
    recipe = build(OpeRecipe, {**top, "ope": {}}, "")
    plain_name(recipe.name, "name")  # a part of the run directory's name
    return dataclasses.replace(
        recipe, ope=dataclasses.replace(config, policies=parsed), models=configs
    )


def _policy(entry: Any, path: str, labels: list[str]) -> PolicyConfig:
    if not isinstance(entry, dict):
        raise RecipeError(path, 'expected a table like { name = "BTS", kind = "bts" }')
    kind = entry.get("kind")
    if kind not in POLICY_KINDS:
        shown = repr(kind) if isinstance(kind, str) else "missing"
        raise RecipeError(
            join(path, "kind"), f"policy kind {shown}" + nearest(str(kind), POLICY_KINDS)
        )
    policy = build(POLICY_KINDS[kind], {k: v for k, v in entry.items() if k != "kind"}, path)
    plain_name(policy.name, join(path, "name"))
    if isinstance(policy, ModelPolicy) and policy.model not in labels:
        raise RecipeError(
            join(path, "model"),
            f"no [[models]] entry labelled {policy.model!r}" + nearest(policy.model, labels),
        )
    return policy


def ope_recipe_to_toml(recipe: OpeRecipe) -> str:
    """The resolved recipe (every default explicit) as TOML, loadable again."""
    plain = to_plain(recipe)
    plain["ope"]["policies"] = [{"kind": p.KIND, **to_plain(p)} for p in recipe.ope.policies]
    if not plain["models"]:
        plain.pop("models")
    return tomli_w.dumps(plain)
