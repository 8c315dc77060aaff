"""`rank schema`: a JSON Schema that every bundled recipe satisfies and broken recipes fail."""

import copy
import itertools
import json
import re
import tomllib

import jsonschema
import pytest
from typer.testing import CliRunner

from recsys_cli import class_path
from recsys_cli.cli.main import app
from recsys_cli.config.json_schema import CLASS_PATH_PATTERN, recipe_json_schema
from recsys_cli.config.loader import bundled_recipes, recipe_from_dict
from recsys_cli.config.validate import PLAIN_NAME_MAX, PLAIN_NAME_PATTERN, name_problem
from recsys_cli.errors import RecipeError
from recsys_cli.models.registry import model_names, model_params_class
from recsys_cli.tuning.space import parse_param

SCHEMA = recipe_json_schema()
# Draft 7 is what the schema declares; draft 4 is what the TOML language server taplo reads.
VALIDATORS = [jsonschema.Draft7Validator(SCHEMA), jsonschema.Draft4Validator(SCHEMA)]
RECIPES = {name: tomllib.loads(path.read_text()) for name, path in bundled_recipes().items()}


def test_the_schema_is_a_valid_draft_7_and_draft_4_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert '"const":' not in json.dumps(SCHEMA)  # draft 4 would ignore it


def test_every_section_of_a_bundled_recipe_is_covered():
    sections = {key for raw in RECIPES.values() for key in raw}
    assert {"tune", "ranker", "ope", "variants", "groups"} <= sections
    properties = SCHEMA["$defs"]["RecipeFile"]["properties"]
    ope_properties = SCHEMA["$defs"]["OpeRecipeFile"]["properties"]
    assert sections <= set(properties) | set(ope_properties)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_bundled_recipe_satisfies_the_schema(name):
    for validator in VALIDATORS:
        assert list(validator.iter_errors(RECIPES[name])) == [], name


def _broken(name, change):
    raw = copy.deepcopy(RECIPES[name])
    change(raw)
    return raw


def _set(path, value):
    def change(raw):
        *parents, last = path
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value

    return change


BROKEN = {
    "top-level typo": ("quickstart", _set(("seeed",), 1)),
    "unknown model": ("quickstart", _set(("models", 0, "name"), "eas")),
    "unknown model param": ("quickstart", _set(("models", 2, "params", "l3"), 1.0)),
    "param of the wrong type": ("quickstart", _set(("models", 2, "params", "l2"), "big")),
    "an integer that is a number": ("quickstart", _set(("seed",), 4.5)),
    "unknown split kind": ("quickstart", _set(("split", "kind"), "temporl")),
    "label that is a path": ("quickstart", _set(("models", 0, "label"), "../x")),
    "unknown reranker": ("rerank-ml100k", _set(("variants", 0, "chain", 0, "reranker"), "mrr")),
    "key of another reranker": (
        "rerank-ml100k",
        _set(("variants", 0, "chain", 0), {"reranker": "mmr", "theta": 0.5}),
    ),
    "empty chain": ("rerank-ml100k", _set(("variants", 0, "chain"), [])),
    "tune typo": ("tune-ml100k", _set(("tune", "trails"), 10)),
    "ranker param typo": ("ranker-ml100k", _set(("ranker", "params", "leaves"), 3)),
    "unknown policy kind": ("ope-obd", _set(("ope", "policies", 0, "kind"), "greedy")),
    "OPE logs typo": ("ope-obd", _set(("ope", "data", "sorce"), "obd")),
    "class path with a space": ("quickstart", _set(("models", 0, "name"), "my pkg:Model")),
    "class path with two colons": ("quickstart", _set(("models", 0, "name"), "mypkg:A:B")),
    "class-path model key typo": (
        "quickstart",
        _set(("models", 0), {"name": "mypkg.models:MyModel", "parms": {"alpha": 1}}),
    ),
    "class-path model label that is a path": (
        "quickstart",
        _set(("models", 0), {"name": "mypkg.models:MyModel", "label": "../x"}),
    ),
    "class-path reranker with no class": (
        "rerank-ml100k",
        _set(("variants", 0, "chain", 0), {"reranker": "mypkg.rerank:", "lambda": 0.5}),
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_recipe_fails_the_schema(case):
    name, change = BROKEN[case]
    raw = _broken(name, change)
    for validator in VALIDATORS:
        assert not validator.is_valid(raw), case


# Recipes the loader accepts (checked below) with a model or reranker named by its class path.
CLASS_PATH_RECIPES = {
    "model": (
        "quickstart",
        _set(
            ("models", 2),
            {"name": "recsys_cli.models.ease:EASE", "label": "MyEASE", "params": {"l2": 50.0}},
        ),
    ),
    "model with the class name as label": (
        "quickstart",
        _set(("models", 2), {"name": "recsys_cli.models.ease:EASE"}),
    ),
    "reranker": (
        "rerank-ml100k",
        _set(
            ("variants", 0, "chain", 0),
            {"reranker": "recsys_cli.rerank.steps.mmr:MMR", "lambda": 0.3, "similarity": "genres"},
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CLASS_PATH_RECIPES))
def test_a_model_or_reranker_named_by_its_class_path_satisfies_the_schema(case):
    name, change = CLASS_PATH_RECIPES[case]
    raw = _broken(name, change)
    recipe_from_dict(raw)  # a valid recipe
    for validator in VALIDATORS:
        assert list(validator.iter_errors(raw)) == [], case


def test_a_class_path_outside_the_package_takes_any_params():
    """The schema cannot import the class: its params, and a step's keys, are not checked."""
    raw = copy.deepcopy(RECIPES["rerank-ml100k"])
    raw["models"].append(
        {"name": "mypkg.models:Outer.MyModel", "params": {"alpha": 0.5, "nested": {"a": [1]}}}
    )
    raw["variants"][0]["chain"].append({"reranker": "mypkg.rerank:Mine", "strength": 2})
    for validator in VALIDATORS:
        assert list(validator.iter_errors(raw)) == []


def test_class_path_pattern_agrees_with_the_loader():
    """The schema's pattern accepts exactly the names `load_class` reads as `module:Class`
    (Python's `$` also matches before a final newline: no name in a recipe ends in one)."""
    for n in range(7):
        for name in map("".join, itertools.product("a_1.:é ", repeat=n)):
            assert (re.search(CLASS_PATH_PATTERN, name) is not None) == (
                class_path._CLASS_PATH.fullmatch(name) is not None
            ), name


TUNE_RANGE = SCHEMA["$defs"]["TuneTable"]["properties"]["params"]["additionalProperties"]
RANGE_VALIDATORS = [jsonschema.Draft7Validator(TUNE_RANGE), jsonschema.Draft4Validator(TUNE_RANGE)]
# Ranges `parse_param` refuses, each for a reason the schema says too.
BAD_RANGES = {
    "low as a string": {"low": "0", "high": 1.0},
    "high missing": {"low": 0.0},
    "unknown key": {"low": 0.0, "high": 1.0, "lg": True},
    "log not a boolean": {"low": 1.0, "high": 2.0, "log": 1},
    "log with a step": {"low": 1.0, "high": 8.0, "log": True, "step": 1.0},
    "log from 0": {"low": 0.0, "high": 1.0, "log": True},
    "negative step": {"low": 0.0, "high": 1.0, "step": -0.5},
    "boolean bound": {"low": False, "high": 1},
    "choices and bounds": {"choices": [1, 2], "low": 1},
    "empty choices": {"choices": []},
    "choices not a list": {"choices": "abc"},
    "mixed choices": {"choices": ["a", 1]},
    "booleans and numbers": {"choices": [True, 1]},
    "a list among choices": {"choices": [[1], [2]]},
    "repeated choice": {"choices": ["rows", "rows"]},
    "not a table": 0.5,
}


@pytest.mark.parametrize("case", sorted(BAD_RANGES))
def test_a_bad_tune_range_fails_the_schema_and_the_parser(case):
    spec = BAD_RANGES[case]
    with pytest.raises(RecipeError):
        parse_param("models[0].params.x", spec, "tune.params.x")
    raw = copy.deepcopy(RECIPES["tune-rerank-ml100k"])
    raw["tune"]["params"]["variants[0].chain[0].weights.novelty"] = spec
    for validator in VALIDATORS:
        assert not validator.is_valid(raw), case


def test_every_range_the_parser_accepts_satisfies_the_schema():
    values = (None, -1, 0, 1, 2, 0.5, 1.0, True, "1")
    ranges = [
        {k: v for k, v in zip(("low", "high", "log", "step"), combo, strict=True) if v is not None}
        for combo in itertools.product(values, values, (None, True, False), values)
    ]
    choices = [[1], [1, 2.5], [1, 1.0], ["a", "b"], [True, False], [False], ["a", "a"], [1, "a"]]
    accepted = 0
    for spec in ranges + [{"choices": c} for c in choices]:
        try:
            parse_param("models[0].params.x", spec, "x")
        except RecipeError:
            continue
        accepted += 1
        for validator in RANGE_VALIDATORS:
            assert validator.is_valid(spec), spec
    assert accepted > 20
    for name in model_names():  # the registered default spaces, in the same syntax
        for spec in getattr(model_params_class(name), "SEARCH_SPACE", {}).values():
            for validator in RANGE_VALIDATORS:
                assert validator.is_valid(spec), (name, spec)


def test_plain_name_pattern_agrees_with_the_loader():
    """The schema's pattern (with maxLength) accepts exactly the names `name_problem` accepts."""
    for n in range(6):
        for name in map("".join, itertools.product("a.-_Z0/ ", repeat=n)):
            assert (re.search(PLAIN_NAME_PATTERN, name) is not None) == (
                name_problem(name) is None
            ), name
    assert name_problem("x" * (PLAIN_NAME_MAX + 1)) is not None


def test_rank_schema_prints_it_and_writes_it(tmp_path):
    runner = CliRunner()
    printed = runner.invoke(app, ["schema"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == SCHEMA
    target = tmp_path / "recipe.schema.json"
    written = runner.invoke(app, ["schema", "--output", str(target)])
    assert written.exit_code == 0, written.output
    assert json.loads(target.read_text()) == SCHEMA
    folder = runner.invoke(app, ["schema", "-o", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.stderr
