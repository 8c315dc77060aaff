"""OPE recipes: validation with key paths, the resolved TOML, the bundled recipe."""

import tomllib

import pytest

from recsys_cli.config.loader import bundled_recipes, load_recipe
from recsys_cli.errors import RecipeError
from recsys_cli.ope.config import (
    BTSPolicy,
    ModelPolicy,
    UniformPolicy,
    load_ope_recipe,
    ope_recipe_from_dict,
    ope_recipe_to_toml,
)

BASE = {
    "name": "t",
    "ope": {
        "data": {"source": "file", "path": "/logs.csv"},
        "policies": [{"name": "u", "kind": "uniform"}],
    },
}


def recipe(**ope) -> dict:
    return {**BASE, "ope": {**BASE["ope"], **ope}}


def test_defaults_and_policy_kinds():
    parsed = ope_recipe_from_dict(
        recipe(
            policies=[
                {"name": "u", "kind": "uniform"},
                {"name": "b", "kind": "bts", "prior": "zozotown"},
                {"name": "m", "kind": "model", "model": "POP", "ranking": "softmax"},
            ],
            fit={"source": "obd", "behavior": "bts"},
        )
        | {"models": [{"name": "popularity", "label": "POP"}]}
    )
    assert [type(p) for p in parsed.ope.policies] == [UniformPolicy, BTSPolicy, ModelPolicy]
    assert parsed.ope.estimators == ("dm", "ips", "snips", "dr", "switch_dr")
    assert parsed.ope.bootstrap == 1000 and parsed.ope.confidence == 0.95
    assert parsed.ope.data.columns.reward == "reward" and parsed.models[0].label == "POP"
    again = ope_recipe_from_dict(tomllib.loads(ope_recipe_to_toml(parsed)))
    assert again == parsed


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        (recipe(estimators=["ips", "rpis"]), "ope.estimators[1]", "did you mean 'rips'"),
        (recipe(estimators=["ips", "ips"]), "ope", "each once"),
        (
            recipe(policies=[{"name": "x", "kind": "greedy"}]),
            "ope.policies[0].kind",
            "policy kind 'greedy'",
        ),
        (recipe(policies=[{"name": "x"}]), "ope.policies[0].kind", "policy kind missing"),
        (
            recipe(policies=[{"name": "x", "kind": "uniform", "temperature": 1}]),
            "ope.policies[0].temperature",
            "unknown key",
        ),
        (
            recipe(policies=[{"name": "x", "kind": "bts"}]),
            "ope.policies[0]",
            "prior = 'zozotown' or both alpha",
        ),
        (
            recipe(policies=[{"name": "x", "kind": "bts", "alpha": [1, 2], "beta": [1]}]),
            "ope.policies[0]",
            "alpha has 2 values, beta 1",
        ),
        (
            recipe(policies=[{"name": "x", "kind": "model", "model": "POP", "temperature": 0}]),
            "ope.policies[0]",
            "temperature must be > 0",
        ),
        (
            recipe(policies=[{"name": "x", "kind": "model", "model": "EASE"}]),
            "ope.policies[0].model",
            "no [[models]] entry labelled 'EASE'",
        ),
        (
            recipe(policies=[{"name": "x", "kind": "model", "model": "POP"}])
            | {"models": [{"name": "popularity", "label": "POP"}]},
            "ope.fit",
            "add [ope.fit]",
        ),
        (
            recipe(policies=[{"name": "a/b", "kind": "uniform"}]),
            "ope.policies[0].name",
            "is a path",
        ),
        (
            recipe(policies=[{"name": "u", "kind": "uniform"}] * 2),
            "ope.policies[1].name",
            "duplicate policy name",
        ),
        (recipe(policies=[]), "ope.policies", "non-empty array"),
        (recipe(data={"source": "file"}), "ope.data", "needs a path"),
        (
            recipe(data={"source": "obd", "behavior": "greedy"}),
            "ope.data.behavior",
            "'greedy' is not valid",
        ),
        (
            recipe(data={"source": "file", "path": "x", "separator": "::"}),
            "ope.data",
            "single-byte",
        ),
        (recipe(bootstrap=1), "ope", "bootstrap must be >= 2"),
        (recipe(confidence=1.0), "ope", "confidence must be in (0, 1)"),
        (recipe(positions=0), "ope", "positions must be >= 1"),
        (
            recipe(reward_model={"kind": "item_position", "smoothing": 0}),
            "ope.reward_model",
            "smoothing must be > 0",
        ),
        ({**BASE, "dataset": {}}, "dataset", "unknown key in an OPE recipe"),
        ({"name": "t"}, "ope", "expected an [ope] table"),
        ({**BASE, "models": [{"name": "sasrec"}]}, "models[0].name", "cannot be an OPE policy"),
    ],
)
def test_bad_recipes_name_the_key(raw, where, message):
    with pytest.raises(RecipeError) as error:
        ope_recipe_from_dict(raw)
    assert error.value.path == where and message in str(error.value)


def test_the_bundled_recipe_loads_and_refuses_rank_run():
    assert "ope-obd" in bundled_recipes()
    parsed = load_ope_recipe("ope-obd")
    assert parsed.ope.data.source == "obd" and parsed.ope.data.behavior == "random"
    assert {p.name for p in parsed.ope.policies} >= {"random", "bts"}
    with pytest.raises(RecipeError, match="run it with `rank ope`"):
        load_recipe("ope-obd")


def test_relative_paths_are_read_from_the_recipe_folder(tmp_path, monkeypatch):
    (tmp_path / "r.toml").write_text(
        '[ope]\ndata = { source = "file", path = "logs.csv" }\n'
        'policies = [{ name = "u", kind = "uniform", on_policy = { source = "file", path = "u.csv" } }]\n'
    )
    monkeypatch.chdir(tmp_path.parent)
    parsed = load_ope_recipe(tmp_path / "r.toml", ["ope.fit.source=file", "ope.fit.path=f.csv"])
    assert parsed.ope.data.path == str(tmp_path / "logs.csv")
    assert parsed.ope.policies[0].on_policy.path == str(tmp_path / "u.csv")
    assert parsed.ope.fit.path == str(tmp_path.parent / "f.csv")  # --set: the working directory
    with pytest.raises(RecipeError, match="r.toml: ope.tau: expected a number"):
        load_ope_recipe(tmp_path / "r.toml", ["ope.tau=high"])
