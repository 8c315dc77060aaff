"""Read a TOML recipe, apply `--set key=value` overrides, validate into a frozen `Recipe`."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from recsys_cli.config.schema import ModelConfig, Recipe
from recsys_cli.config.validate import build, join, nearest, to_plain
from recsys_cli.errors import RecipeError
from recsys_cli.models.registry import model_names, model_params_class

_PATH_TOKEN = re.compile(r"([A-Za-z_][\w\-]*)|\[(\d+)\]")
_KEY_PATH = re.compile(r"[A-Za-z_][\w\-]*(\.[A-Za-z_][\w\-]*|\[\d+\])*")
_MODEL_KEYS = ("name", "label", "params")


def load_recipe(path: Path, overrides: list[str] = ()) -> Recipe:
    """Parse, override and validate a recipe file; errors carry the file name and key path."""
    source = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecipeError("", "recipe file not found", source) from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError("", f"invalid TOML: {error}", source) from None
    raw.setdefault("name", Path(path).stem)
    try:
        for override in overrides:
            apply_override(raw, override)
        return recipe_from_dict(raw)
    except RecipeError as error:
        raise RecipeError(error.path, str(error).removeprefix(f"{error.path}: "), source) from None


def recipe_from_dict(raw: dict[str, Any]) -> Recipe:
    """Validate a parsed recipe table; model params are checked against each model's schema."""
    raw = dict(raw)
    models = raw.pop("models", None)
    if not isinstance(models, list) or not models:
        raise RecipeError("models", "expected a non-empty array of tables ([[models]])")
    configs = tuple(_model_config(entry, f"models[{i}]") for i, entry in enumerate(models))
    labels = [m.label for m in configs]
    for i, label in enumerate(labels):
        if labels.index(label) != i:
            raise RecipeError(f"models[{i}].label", f"duplicate label {label!r}; give each a label")
    return dataclasses.replace(build(Recipe, {**raw, "models": []}), models=configs)


def _model_config(entry: Any, path: str) -> ModelConfig:
    if not isinstance(entry, dict):
        raise RecipeError(path, "expected a table")
    for key in entry:
        if key not in _MODEL_KEYS:
            raise RecipeError(join(path, key), "unknown key" + nearest(key, _MODEL_KEYS))
    name = entry.get("name")
    if not isinstance(name, str):
        raise RecipeError(join(path, "name"), "required model name (a string) is missing")
    if name not in model_names():
        raise RecipeError(
            join(path, "name"), f"unknown model {name!r}" + nearest(name, model_names())
        )
    label = entry.get("label", name)
    if not isinstance(label, str):
        raise RecipeError(join(path, "label"), "expected a string")
    params = build(model_params_class(name), entry.get("params", {}), join(path, "params"))
    return ModelConfig(name=name, label=label, params=params)


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b[1].c=value` in the raw table; the value is read as a TOML literal, else a string."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise RecipeError("", f"--set {override!r}: expected KEY=VALUE, e.g. eval.cutoffs=[5,10]")
    key = key.strip()
    if not _KEY_PATH.fullmatch(key):
        raise RecipeError(
            "", f"--set {override!r}: {key!r} is not a key path like models[1].params.k"
        )
    steps = [n if n else int(i) for n, i in _PATH_TOKEN.findall(key)]
    path, node = "", raw
    for step, following in zip(steps, steps[1:] + [None], strict=True):
        last = following is None
        if isinstance(step, int) and (not isinstance(node, list) or step >= len(node)):
            raise RecipeError(join(path, step), "no such list element to override")
        if isinstance(step, str) and not isinstance(node, dict):
            raise RecipeError(join(path, step), "cannot set a key inside a non-table value")
        target = node
        path = join(path, step)
        if last:
            target[step] = parse_value(text.strip())
        else:
            if isinstance(step, str) and step not in target:
                target[step] = [] if isinstance(following, int) else {}
            node = target[step]


def parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def recipe_to_toml(recipe: Recipe) -> str:
    """The fully resolved recipe (every default made explicit), as TOML."""
    return tomli_w.dumps(to_plain(recipe))
