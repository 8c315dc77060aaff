"""Search spaces: recipe key paths, each with a float or int range (optionally log-scaled) or a
list of choices, written as `[tune.params]` entries; each model's default space sits beside its
parameters (`Params.SEARCH_SPACE`, in the same syntax)."""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from recsys_cli.config.loader import apply_override, recipe_from_dict
from recsys_cli.config.validate import nearest
from recsys_cli.errors import RecipeError
from recsys_cli.models.registry import model_params_class

_RANGE_KEYS = ("low", "high", "log", "step", "choices")
# Keys a trial may change: model parameters, rerank variants and item groups. Anything else
# (data, split, evaluation, seeds) would change what the trials are compared on.
_TUNABLE = re.compile(r"models\[\d+\]\.params\..+|variants\[\d+\]\.(?!name$|models$).+|groups\..+")


@dataclass(frozen=True)
class Param:
    """One searched recipe key: a float or int in [low, high] (log scale: sampled uniformly in
    log(value)), optionally on a grid of `step`, or one of `choices`."""

    key: str
    kind: Literal["float", "int", "categorical"]
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        """Draw this parameter's value for an Optuna trial (the key path is its name)."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            step = int(self.step or 1)
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def holds(self, value: Any) -> bool:
        """Whether `value` is one this parameter can take (the recipe's own value is then the
        first trial)."""
        if self.kind == "categorical":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        if not self.low <= value <= self.high:
            return False
        return self.step is None or math.isclose(
            round((value - self.low) / self.step) * self.step, value - self.low, abs_tol=1e-9
        )

    def probes(self) -> list:
        """Values that together exercise the range: both bounds, or every choice."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        scale = ", log" if self.log else ""
        step = f", step {self.step:g}" if self.step is not None else ""
        return f"[{self.low:g}, {self.high:g}]{scale}{step} ({self.kind})"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_param(key: str, spec: Any, where: str) -> Param:
    """`{ low = 1.0, high = 1e5, log = true }` (a float range; integer bounds make an int range),
    `{ low = 5, high = 100, step = 5 }` or `{ choices = ["rows", "columns"] }`; a RecipeError at
    `where` for anything else (an empty range, a log scale with a bound <= 0, ...)."""
    example = "{ low = 1.0, high = 10.0 } or { choices = [...] }"
    if not isinstance(spec, dict):
        raise RecipeError(where, f"expected a range like {example}")
    for name in spec:
        if name not in _RANGE_KEYS:
            raise RecipeError(f"{where}.{name}", "unknown key" + nearest(name, _RANGE_KEYS))
    if "choices" in spec:
        extra = [name for name in spec if name != "choices"]
        if extra:
            raise RecipeError(f"{where}.{extra[0]}", "give either choices or low/high, not both")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise RecipeError(f"{where}.choices", "empty range: expected a non-empty list")
        if not all(isinstance(c, str | int | float | bool) for c in choices):
            raise RecipeError(f"{where}.choices", "choices must be strings, numbers or booleans")
        kinds = {
            str if isinstance(c, str) else bool if isinstance(c, bool) else float for c in choices
        }
        if len(kinds) > 1:
            raise RecipeError(
                f"{where}.choices", "choices must be all strings, all numbers or all booleans"
            )
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise RecipeError(f"{where}.choices", f"{choices} repeat a value")
        return Param(key, "categorical", choices=tuple(choices))
    for bound in ("low", "high"):
        if bound not in spec:
            raise RecipeError(f"{where}.{bound}", f"required; expected a range like {example}")
        if not _number(spec[bound]):
            raise RecipeError(f"{where}.{bound}", f"expected a number, got {spec[bound]!r}")
    low, high = spec["low"], spec["high"]
    log, step = spec.get("log", False), spec.get("step")
    if not isinstance(log, bool):
        raise RecipeError(f"{where}.log", "expected true or false")
    if not low < high:
        raise RecipeError(where, f"empty range: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise RecipeError(f"{where}.low", f"a log scale needs low > 0, got {low}")
    integer = isinstance(low, int) and isinstance(high, int)
    if step is not None:
        if log:
            raise RecipeError(f"{where}.step", "a log scale takes no step")
        if not _number(step) or step <= 0 or (integer and not isinstance(step, int)):
            kind = "a positive integer" if integer else "a positive number"
            raise RecipeError(f"{where}.step", f"expected {kind}, got {step!r}")
    if integer:
        return Param(key, "int", low, high, log, step)
    return Param(key, "float", float(low), float(high), log, None if step is None else float(step))


def set_values(raw: dict, values: dict[str, Any]) -> dict:
    """A copy of the raw recipe table with each key path set to its value."""
    raw = copy.deepcopy(raw)
    for key, value in values.items():
        apply_override(raw, f"{key}={json.dumps(value)}")
    return raw


def check_param(raw: dict, param: Param, where: str) -> None:
    """The key must be tunable and every probe value (bounds or choices) must make a valid
    recipe: an unknown key path or a value the model refuses is a RecipeError at `where`."""
    if not _TUNABLE.fullmatch(param.key):
        raise RecipeError(
            where,
            "only models[i].params.*, variants[i].* (not name or models) and groups.* keys can "
            "be tuned",
        )
    for value in param.probes():
        try:
            recipe_from_dict(set_values(raw, {param.key: value}))
        except RecipeError as error:
            raise RecipeError(where, f"with {param.key} = {value!r}: {error}") from None


def default_space(name: str, index: int) -> list[Param]:
    """The registered default search space of model `name` as the recipe's models[index]."""
    space = getattr(model_params_class(name), "SEARCH_SPACE", {})
    prefix = f"models[{index}].params"
    return [parse_param(f"{prefix}.{key}", spec, f"{prefix}.{key}") for key, spec in space.items()]


_TOKEN = re.compile(r"([A-Za-z_][\w\-:]*)|\[(\d+)\]")


def given_values(resolved: dict, keys) -> dict[str, Any]:
    """The value each key path has in a resolved recipe table (every default explicit, as
    `recipe_to_toml` writes it); keys the recipe does not hold are left out."""
    found = {}
    for key in keys:
        node: Any = resolved
        for name, index in _TOKEN.findall(key):
            if name and isinstance(node, dict) and name in node:
                node = node[name]
            elif not name and isinstance(node, list) and int(index) < len(node):
                node = node[int(index)]
            else:
                break
        else:
            found[key] = node
    return found
