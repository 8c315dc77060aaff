"""The `[tune]` table: what to search, what to optimise under which constraints, and the budget.

```toml
[tune]
model = "EASE"                         # a model label (or name), or a list: one study per model,
                                       # over its registered default space; and/or
params = { "variants[0].chain[0].weights.novelty" = { low = 0.0, high = 1.0 } }
objectives = ["ndcg@10", "ild@10"]     # metric@k; direction from the metric, or `directions`
constraints = ["coverage@10 >= 0.2"]
trials = 100                           # and/or seconds = 600
sampler = "tpe"                        # tpe (several objectives: MOTPE; the default) | nsga2
                                       # (NSGA-II, generations of `population`) | random
seed = 42                              # default: the recipe seed
refit = true                           # test: refit on training + validation
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from recsys_cli.config.schema import Recipe
from recsys_cli.config.validate import build, nearest
from recsys_cli.errors import RecipeError, UserError
from recsys_cli.evaluation.pareto import Constraint, parse_constraint
from recsys_cli.metrics import lower_is_better
from recsys_cli.tuning.space import Param, check_param, default_space, parse_param

_INDEX = re.compile(r"(models|variants)\[(\d+)\]")
DEFAULT_TRIALS = 50


@dataclass(frozen=True)
class TuneTable:
    """The `[tune]` table as written (types checked); `parse_tune` validates it against the recipe.

    population: NSGA-II's generation size. pruner: "median" stops a trial of a model trained by
    epochs (RecBole, with patience > 0: it reports a validation NDCG@10 per epoch) whose value is
    below the median of earlier trials at that epoch (one objective only). seconds: no new
    trial starts after this many seconds of one `rank tune` invocation. trials: trials in the
    study in total, counted over invocations (a resumed study runs only the missing ones)."""

    model: str | tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    objectives: str | tuple[str, ...] = ()
    directions: tuple[Literal["max", "min"], ...] = ()
    constraints: tuple[str, ...] = ()
    row: str | None = None
    trials: int | None = None
    seconds: float | None = None
    sampler: Literal["tpe", "nsga2", "random"] | None = None
    population: int = 20
    seed: int | None = None
    refit: bool = True
    reference: dict[str, float] = field(default_factory=dict)
    pruner: Literal["median", "none"] = "median"


@dataclass(frozen=True)
class Objective:
    """A validation metric of the study's row (metric@k) and whether higher is better."""

    metric: str
    maximize: bool

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"


@dataclass(frozen=True)
class StudySpec:
    """One Optuna study: the row whose metrics are optimised (MODEL or MODEL+variant), its model
    and variant indices in the recipe, and the search space."""

    name: str
    row: str
    model: int
    variant: int | None
    space: tuple[Param, ...]


@dataclass(frozen=True)
class TuneSpec:
    studies: tuple[StudySpec, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    trials: int | None
    seconds: float | None
    sampler: str
    population: int
    seed: int
    refit: bool
    reference: dict[str, float]
    pruner: str


def parse_tune(raw: dict, recipe: Recipe) -> TuneSpec:
    """Validate the recipe's `[tune]` table; every problem is a RecipeError naming its key."""
    if "tune" not in raw:
        raise RecipeError(
            "tune", "the recipe has no [tune] table; add one (see `rank tune --help`)"
        )
    table = build(TuneTable, raw["tune"], "tune")
    if recipe.split.validation <= 0:
        raise RecipeError(
            "split.validation",
            "rank tune scores trials on the validation part, and this split has none; set "
            "split.validation > 0 (e.g. 0.1)",
        )
    if recipe.seeds:
        raise RecipeError("seeds", "rank tune trains each trial once; use `seed`, not `seeds`")
    objectives = _objectives(table, recipe)
    constraints = tuple(_constraint(c, i, recipe) for i, c in enumerate(table.constraints))
    params = [parse_param(key, spec, f'tune.params."{key}"') for key, spec in table.params.items()]
    for param in params:
        check_param(raw, param, f'tune.params."{param.key}"')
    models = (table.model,) if isinstance(table.model, str) else table.model
    if models:
        studies = tuple(
            _model_study(raw, recipe, label, i, params) for i, label in enumerate(models)
        )
        claimed = {p.key for s in studies for p in s.space}
        stray = next((p for p in params if p.key not in claimed), None)
        if stray is not None:
            raise RecipeError(
                f'tune.params."{stray.key}"',
                f"with tune.model, every parameter must belong to a tuned model ({', '.join(models)})",
            )
        if table.row is not None:
            raise RecipeError("tune.row", "the rows of tune.model are the models themselves")
    else:
        if not params:
            raise RecipeError("tune", "nothing to tune: give model = LABEL and/or [tune.params]")
        studies = (_row_study(recipe, table.row, params),)
    if len(studies) > 1 and len(objectives) > 1:
        raise RecipeError(
            "tune.objectives",
            "several objectives need one study; with several models, tune each in its own recipe",
        )
    if table.trials is not None and table.trials < 1:
        raise RecipeError("tune.trials", f"expected at least 1, got {table.trials}")
    if table.seconds is not None and table.seconds <= 0:
        raise RecipeError("tune.seconds", f"expected a positive number, got {table.seconds}")
    if table.population < 2:
        raise RecipeError("tune.population", f"expected at least 2, got {table.population}")
    seed = recipe.seed if table.seed is None else table.seed
    if seed < 0:
        raise RecipeError("tune.seed", f"expected a non-negative integer, got {seed}")
    metrics = [o.metric for o in objectives]
    for metric in table.reference:
        if metric not in metrics:
            raise RecipeError(
                f"tune.reference.{metric}", "not an objective" + nearest(metric, metrics)
            )
    trials = table.trials
    if trials is None and table.seconds is None:
        trials = DEFAULT_TRIALS
    return TuneSpec(
        studies=studies,
        objectives=objectives,
        constraints=constraints,
        trials=trials,
        seconds=table.seconds,
        sampler=table.sampler or "tpe",
        population=table.population,
        seed=seed,
        refit=table.refit,
        reference=dict(table.reference),
        pruner=table.pruner if len(objectives) == 1 else "none",  # Optuna prunes one objective
    )


def computed_metrics(recipe: Recipe) -> list[str]:
    return [f"{m}@{k}" for m in recipe.eval.metrics for k in recipe.eval.cutoffs]


def _check_computed(metric: str, where: str, recipe: Recipe) -> None:
    computed = computed_metrics(recipe)
    if metric not in computed:
        raise RecipeError(
            where,
            f"{metric!r} is not computed by the recipe (eval.metrics x eval.cutoffs)"
            + nearest(metric, computed),
        )


def _objectives(table: TuneTable, recipe: Recipe) -> tuple[Objective, ...]:
    names = (table.objectives,) if isinstance(table.objectives, str) else table.objectives
    if not names:
        metric = "ndcg" if "ndcg" in recipe.eval.metrics else recipe.eval.metrics[0]
        names = (f"{metric}@{recipe.eval.cutoffs[0]}",)
    if len(set(names)) != len(names):
        raise RecipeError("tune.objectives", f"{list(names)} repeat a metric")
    for i, name in enumerate(names):
        _check_computed(name, f"tune.objectives[{i}]", recipe)
    if table.directions and len(table.directions) != len(names):
        raise RecipeError(
            "tune.directions", f"give one direction per objective ({len(names)}), or none"
        )
    directions = table.directions or tuple(
        "min" if lower_is_better(name.split("@")[0]) else "max" for name in names
    )
    return tuple(Objective(n, d == "max") for n, d in zip(names, directions, strict=True))


def _constraint(text: str, index: int, recipe: Recipe) -> Constraint:
    where = f"tune.constraints[{index}]"
    try:
        constraint = parse_constraint(text)
    except UserError:
        raise RecipeError(
            where,
            f"{text!r}: expected 'METRIC@K OP VALUE' (>=, <=, >, <), e.g. 'coverage@10 >= 0.2'",
        ) from None
    _check_computed(constraint.metric, where, recipe)
    return constraint


def _indices(key: str) -> dict[str, int]:
    """'variants[1].chain[0].lambda' -> {'variants': 1}: the model or variant a key changes."""
    match = _INDEX.match(key)
    return {match.group(1): int(match.group(2))} if match else {}


def _model_study(raw, recipe: Recipe, label: str, position: int, params) -> StudySpec:
    where = "tune.model" if isinstance(raw["tune"].get("model"), str) else f"tune.model[{position}]"
    labels = [m.label for m in recipe.models]
    if label in labels:
        index = labels.index(label)
    else:
        named = [i for i, m in enumerate(recipe.models) if m.name == label]
        if len(named) != 1:
            found = "several models are" if named else "no model is"
            raise RecipeError(
                where, f"{found} labelled or named {label!r}" + nearest(label, labels)
            )
        index = named[0]
    config = recipe.models[index]
    mine = [p for p in params if _indices(p.key) == {"models": index}]
    space = {p.key: p for p in default_space(config.name, index)}
    space.update({p.key: p for p in mine})  # a [tune.params] range replaces the default
    if not space:
        raise RecipeError(
            where,
            f"{config.label} ({config.name}) has no default search space; give its ranges in "
            "[tune.params]",
        )
    for param in space.values():
        if param not in mine:  # [tune.params] entries are checked where they are read
            check_param(raw, param, f"{where} ({param.key})")
    return StudySpec(config.label, config.label, index, None, tuple(space.values()))


def _rows(recipe: Recipe) -> dict[str, tuple[int, int | None]]:
    """Row label -> (model index, variant index or None), in table order."""
    labels = [m.label for m in recipe.models]
    rows: dict[str, tuple[int, int | None]] = {label: (i, None) for i, label in enumerate(labels)}
    for v, variant in enumerate(recipe.variants):
        rows.update({f"{m}+{variant.name}": (labels.index(m), v) for m in variant.models})
    return rows


def _row_study(recipe: Recipe, row: str | None, params: list[Param]) -> StudySpec:
    """The study of `[tune.params]`: the row named by tune.row, else the one row the parameters
    point at (one variant applied to one model, or one model)."""
    rows = _rows(recipe)
    if row is None:
        touched = [_indices(p.key) for p in params]
        variants = {t["variants"] for t in touched if "variants" in t}
        models = {t["models"] for t in touched if "models" in t}
        candidates = [
            name
            for name, (m, v) in rows.items()
            if (v in variants if variants else v is None) and (not models or models == {m})
        ]
        if len(variants) > 1 or len(candidates) != 1:
            raise RecipeError(
                "tune.row",
                "name the row whose validation metrics are optimised; the recipe has "
                + ", ".join(rows),
            )
        row = candidates[0]
    if row not in rows:
        raise RecipeError("tune.row", f"no row {row!r}" + nearest(row, rows))
    model, variant = rows[row]
    for param in params:
        touched = _indices(param.key)
        if touched.get("models", model) != model or touched.get("variants", variant) != variant:
            raise RecipeError(f'tune.params."{param.key}"', f"does not change row {row!r}")
    return StudySpec(row, row, model, variant, tuple(params))
