"""Read a TOML recipe, apply `--set key=value` overrides, validate into a frozen `Recipe`."""

from __future__ import annotations

import codecs
import dataclasses
import importlib.resources
import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from recsys_cli.config.schema import (
    RANKER_FEATURES,
    RANKER_LABEL_TERMS,
    ModelConfig,
    ModelEntry,
    RankerConfig,
    Recipe,
    StepConfig,
    VariantConfig,
)
from recsys_cli.config.validate import build, join, nearest, to_plain
from recsys_cli.errors import RecipeError
from recsys_cli.models.registry import model_class

# Names may hold ':' after the first character: blend weights such as `group:tail`.
_PATH_TOKEN = re.compile(r"([A-Za-z_][\w\-:]*)|\[(\d+)\]")
_KEY_PATH = re.compile(r"[A-Za-z_][\w\-:]*(\.[A-Za-z_][\w\-:]*|\[\d+\])*")
_BLEND_OBJECTIVES = ("relevance", "novelty", "popularity")


def load_recipe(path: Path, overrides: list[str] = ()) -> Recipe:
    """Parse, override and validate a recipe file; errors carry the file name and key path."""
    return load_raw(path, overrides)[1]


def bundled_recipes() -> dict[str, Path]:
    """The recipes shipped in the package, by name: the path under recsys_cli/recipes, no .toml."""
    folder = Path(str(importlib.resources.files("recsys_cli").joinpath("recipes")))
    return {
        p.relative_to(folder).with_suffix("").as_posix(): p for p in sorted(folder.rglob("*.toml"))
    }


def resolve_recipe(path: Path | str) -> Path:
    """A recipe file; where no such file exists, the bundled recipe of that name (`quickstart`,
    `scale/ml20m-synthetic`, with or without .toml), so bundled recipes run from any directory."""
    if Path(path).is_file():
        return Path(path)
    bundled = bundled_recipes()
    name = Path(path).as_posix().removesuffix(".toml")
    if name in bundled:
        return bundled[name]
    if Path(path).is_dir():
        raise RecipeError("", "recipe file not found: this is a folder, not a TOML file", str(path))
    raise RecipeError(
        "",
        f"recipe file not found, nor a bundled recipe (`rank recipes`){nearest(name, bundled)}",
        str(path),
    )


def load_raw(path: Path, overrides: list[str] = ()) -> tuple[dict[str, Any], Recipe]:
    """The overridden raw table (for sweeps, which vary it further) and its validated recipe."""
    source = str(path)
    path = resolve_recipe(path)
    raw = read_toml(path, source)
    raw.setdefault("name", path.stem)
    absolute_paths(raw, path.parent)
    try:
        for override in overrides:
            apply_override(raw, override)
        absolute_paths(raw, Path.cwd())  # a path given with --set is relative to where rank runs
        return raw, recipe_from_dict(raw)
    except RecipeError as error:
        raise RecipeError(error.path, str(error).removeprefix(f"{error.path}: "), source) from None


_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def read_toml(path: Path, source: str | None = None) -> dict[str, Any]:
    """A TOML file as a table. An unreadable file, text that is not UTF-8 (a UTF-8 byte-order
    mark is accepted) or invalid TOML is a RecipeError naming the file and the place."""
    source = source or str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecipeError("", f"cannot read it ({error.strerror})", source) from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        wide = next((name for bom, name in _WIDE_BOMS.items() if data.startswith(bom)), None)
        line = data[: error.start].count(b"\n") + 1
        found = f"is {wide} text" if wide else f"byte {data[error.start]:#04x} on line {line}"
        raise RecipeError(
            "", f"not UTF-8 ({found}); TOML files are UTF-8: save it as UTF-8", source
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError("", f"invalid TOML: {error}", source) from None


def absolute_paths(raw: dict[str, Any], base: Path) -> None:
    """Make the recipe's file paths (dataset.path, dataset.items_path, groups.*.file) absolute:
    relative ones are read from `base` (the recipe's folder), so a recipe works from any working
    directory and the stored recipe.toml of a run still finds its files."""
    dataset = raw.get("dataset")
    tables = [(dataset, ("path", "items_path"))] if isinstance(dataset, dict) else []
    groups = raw.get("groups")
    if isinstance(groups, dict):
        tables += [(group, ("file",)) for group in groups.values() if isinstance(group, dict)]
    for table, keys in tables:
        for key in keys:
            value = table.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                table[key] = str(base.absolute() / value)


def recipe_from_dict(raw: dict[str, Any]) -> Recipe:
    """Validate a parsed recipe table (`build`: every section, model params against each
    model's type, rerank steps against each reranker's), then what spans sections: labels are
    unique, every group, model label, feature or metric named exists, and the defaults that
    depend on other sections (a variant's models and length, the ranker's length)."""
    raw = dict(raw)
    raw.pop("tune", None)  # read by `rank tune` alone (recsys_cli.tuning); a run ignores it
    if "ope" in raw:  # recsys_cli.ope.config reads these; they have no dataset or split
        raise RecipeError("ope", "an off-policy evaluation recipe: run it with `rank ope`")
    recipe = build(Recipe, raw)
    labels = [m.label for m in recipe.models]
    for i, label in enumerate(labels):
        if labels.index(label) != i:
            raise RecipeError(f"models[{i}].label", f"duplicate label {label!r}; give each a label")
    if recipe.split.kind == "users" or recipe.split.new_users == "fold_in":
        why = (
            "split.kind = 'users' holds out"
            if recipe.split.kind == "users"
            else "split.new_users = 'fold_in' evaluates"
        )
        for i, config in enumerate(recipe.models):
            if not model_class(config.name).folds_in:
                raise RecipeError(
                    f"models[{i}].name",
                    f"{config.name!r} cannot score users it was not trained on, which {why}; "
                    "use another split",
                )
    if recipe.ranker is not None:
        recipe = dataclasses.replace(recipe, ranker=_ranker_config(recipe))
    tables = raw.get("variants", [])
    variants = tuple(
        _variant_config(variant, tables[i], f"variants[{i}]", recipe)
        for i, variant in enumerate(recipe.variants)
    )
    names = [v.name for v in variants]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise RecipeError(f"variants[{i}].name", f"duplicate variant name {name!r}")
    recipe = dataclasses.replace(recipe, variants=variants)
    _check_metrics(recipe)
    return recipe


def _check_metrics(recipe: Recipe) -> None:
    from recsys_cli.metrics import metric_problem

    for i, metric in enumerate(recipe.eval.metrics):
        problem = metric_problem(metric, recipe.groups)
        if problem:
            raise RecipeError(f"eval.metrics[{i}]", problem)


def _variant_config(
    variant: VariantConfig, table: dict[str, Any], path: str, recipe: Recipe
) -> VariantConfig:
    """A variant with its defaults filled where its `table` leaves them out: models (every
    model and the ranker) and length (the largest cutoff; at most eval.candidates)."""
    labels = [m.label for m in recipe.models] + ([recipe.ranker.label] if recipe.ranker else [])
    chosen = variant.models if "models" in table else tuple(labels)
    for i, label in enumerate(chosen):
        if label not in labels:
            raise RecipeError(
                join(join(path, "models"), i),
                f"no model labelled {label!r}" + nearest(label, labels),
            )
    length = variant.length if "length" in table else max(recipe.eval.cutoffs)
    if not 1 <= length <= recipe.eval.candidates:
        raise RecipeError(
            join(path, "length"),
            f"must be between 1 and eval.candidates ({recipe.eval.candidates}), got {length}",
        )
    for i, step in enumerate(variant.chain):
        _check_step(step, join(join(path, "chain"), i), recipe)
    return dataclasses.replace(variant, models=chosen, length=length)


def _ranker_config(recipe: Recipe) -> RankerConfig:
    """The [ranker] table: generators are model labels, features and label terms known names
    (`group:NAME` from [groups]), the row label a new name, length at most the pool."""
    config = recipe.ranker
    labels = [m.label for m in recipe.models]
    groups = [f"group:{g}" for g in recipe.groups]
    for i, label in enumerate(config.generators):
        if label not in labels:
            raise RecipeError(
                f"ranker.generators[{i}]", f"no model labelled {label!r}" + nearest(label, labels)
            )
        if config.generators.index(label) != i:
            raise RecipeError(f"ranker.generators[{i}]", f"{label!r} is named twice")
    for i, name in enumerate(config.features):
        if name not in RANKER_FEATURES and name not in groups:
            valid = [*RANKER_FEATURES, *groups]
            raise RecipeError(
                f"ranker.features[{i}]", f"unknown feature {name!r}" + nearest(name, valid)
            )
        if config.features.index(name) != i:
            raise RecipeError(f"ranker.features[{i}]", f"{name!r} is named twice")
    for term in config.labels.weights:
        if term not in RANKER_LABEL_TERMS and term not in groups:
            valid = [*RANKER_LABEL_TERMS, *groups]
            raise RecipeError(
                f"ranker.labels.weights.{term}",
                f"unknown label term {term!r}" + nearest(term, valid),
            )
    if config.label in labels:
        raise RecipeError("ranker.label", f"{config.label!r} is already a model's label")
    pool = recipe.eval.candidates * len(config.generators)
    length = config.length or recipe.eval.candidates
    if not max(recipe.eval.cutoffs) <= length <= pool:
        raise RecipeError(
            "ranker.length",
            f"must be between the largest cutoff ({max(recipe.eval.cutoffs)}) and the pool "
            f"(eval.candidates x generators = {pool}), got {length}",
        )
    return dataclasses.replace(config, length=length)


def _check_step(step: StepConfig, path: str, recipe: Recipe) -> None:
    """A step's names that point elsewhere in the recipe: its group, its blend objectives."""
    config = step.params
    group = getattr(config, "group", None)
    known = [*recipe.groups, *getattr(type(config), "BUILTIN_GROUPS", ())]
    if group is not None and group not in known:
        raise RecipeError(
            join(path, "group"),
            f"unknown group {group!r}" + nearest(group, known) + " (define it in [groups])",
        )
    for objective in getattr(config, "weights", {}):
        kind, _, group_name = objective.partition(":")
        if kind == "group" and group_name in recipe.groups:
            continue
        if objective in _BLEND_OBJECTIVES:
            continue
        valid = [*_BLEND_OBJECTIVES, *(f"group:{g}" for g in recipe.groups)]
        raise RecipeError(
            join(join(path, "weights"), objective),
            f"unknown objective {objective!r}" + nearest(objective, valid),
        )


def model_config(entry: Any, path: str) -> ModelConfig:
    """A [[models]] table (`rank ope` reads its models with this too)."""
    return build(ModelEntry, entry, path)


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
    """The fully resolved recipe (every default made explicit), as TOML.

    Steps are written flat ({ reranker = "mmr", lambda = 0.5, ... }), as in the recipe, so the
    file loads again; empty groups and variants are left out.
    """
    plain = to_plain(recipe)
    for key in ("groups", "variants"):
        if not plain.get(key):
            plain.pop(key, None)
    for variant in plain.get("variants", []):
        variant["chain"] = [
            {"reranker": step["reranker"], **{k.rstrip("_"): v for k, v in step["params"].items()}}
            for step in variant["chain"]
        ]
    return tomli_w.dumps(plain)
