"""`rank schema`: a JSON Schema that every bundled recipe satisfies and broken recipes fail."""

import copy
import itertools
import json
import re
import tomllib

import jsonschema
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.config.json_schema import recipe_json_schema
from recsys_cli.config.loader import bundled_recipes
from recsys_cli.config.validate import PLAIN_NAME_MAX, PLAIN_NAME_PATTERN, name_problem

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
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_recipe_fails_the_schema(case):
    name, change = BROKEN[case]
    raw = _broken(name, change)
    for validator in VALIDATORS:
        assert not validator.is_valid(raw), case


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
