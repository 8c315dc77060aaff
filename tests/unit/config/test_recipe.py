"""Recipe validation: typed frozen configs, key paths and nearest names in errors, overrides."""

import dataclasses

import pytest

from recsys_cli.config.loader import apply_override, load_recipe, recipe_from_dict, recipe_to_toml
from recsys_cli.errors import RecipeError

BASE = {"name": "t", "models": [{"name": "popularity"}, {"name": "implicit_als"}]}


def with_(**changes):
    return {**BASE, **changes}


def test_defaults_and_frozen():
    recipe = recipe_from_dict(BASE)
    assert recipe.split.kind == "temporal" and recipe.eval.cutoffs == (10, 20)
    assert recipe.models[1].params.factors == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.seed = 1


@pytest.mark.parametrize(
    "raw, path, fragment",
    [
        (
            with_(
                models=[{"name": "popularity"}, {"name": "implicit_als", "params": {"factorz": 3}}]
            ),
            "models[1].params.factorz",
            "did you mean 'factors'",
        ),
        (with_(models=[{"name": "eas"}]), "models[0].name", "did you mean 'ease'"),
        (with_(split={"kind": "temporl"}), "split.kind", "did you mean 'temporal'"),
        (with_(split={"test": "a lot"}), "split.test", "expected a number"),
        (with_(eval={"cutoffs": [10, "x"]}), "eval.cutoffs[1]", "expected an integer"),
        (with_(eval={"metrics": ["ndgc"]}), "eval.metrics[0]", "did you mean 'ndcg'"),
        (with_(eval={"cutoffs": [200]}), "eval", "candidates (100) must be >= the largest cutoff"),
        (with_(filtr={}), "filtr", "did you mean 'filter'"),
        (with_(models=[]), "models", "non-empty"),
        (
            with_(models=[{"name": "ease", "params": {"l2": True}}]),
            "models[0].params.l2",
            "expected a number",
        ),
        (with_(models=[{"name": "ease"}, {"name": "ease"}]), "models[1].label", "duplicate label"),
        (with_(seed=1.5), "seed", "expected an integer"),
        (with_(split={"kind": "random", "test": 1.5}), "split", "test must be in (0, 1)"),
        (with_(seeds=[1, 1]), "", "repeat a value"),
        (with_(seed=-1), "", "seeds must be between 0 and 4294967295"),
        (with_(seeds=[1, 2**32]), "", "seeds must be between 0 and 4294967295"),
        (
            with_(models=[{"name": "ease", "params": {"l2": float("nan")}}]),
            "models[0].params.l2",
            "expected a finite number",
        ),
        (with_(eval={"cutoffs": [5, 5]}), "eval", "repeat a value"),
    ],
)
def test_errors_name_the_key_path(raw, path, fragment):
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(raw)
    assert caught.value.path == path
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_override_sets_nested_values_and_list_elements():
    raw = {**BASE, "models": [dict(m) for m in BASE["models"]]}
    apply_override(raw, "models[1].params.factors=128")
    apply_override(raw, "eval.cutoffs=[5, 50]")
    apply_override(raw, "split.kind=random")
    recipe = recipe_from_dict(raw)
    assert recipe.models[1].params.factors == 128
    assert recipe.eval.cutoffs == (5, 50)
    assert recipe.split.kind == "random"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("models[5].params.x=1", "no such list element"),
        ("novalue", "expected KEY=VALUE"),
        ("a..b=1", "is not a key path"),
    ],
)
def test_bad_overrides(override, fragment):
    with pytest.raises(RecipeError, match=fragment.replace("(", r"\(")):
        apply_override(dict(BASE), override)


def test_resolved_recipe_round_trips(tmp_path):
    recipe = recipe_from_dict(with_(split={"kind": "users", "fold_in": 0.5}))
    path = tmp_path / "resolved.toml"
    path.write_text(recipe_to_toml(recipe))
    assert load_recipe(path) == recipe


def test_file_errors_carry_the_file_name(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(RecipeError, match="bad.toml: invalid TOML"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="missing.toml: recipe file not found"):
        load_recipe(tmp_path / "missing.toml")


def test_models_that_cannot_fold_in_are_refused_for_held_out_users():
    raw = with_(models=[{"name": "recbole_bpr"}], split={"kind": "users"})
    with pytest.raises(RecipeError, match="cannot score users it was not trained on") as caught:
        recipe_from_dict(raw)
    assert caught.value.path == "models[0].name"
    recipe_from_dict(with_(models=[{"name": "sasrec"}, {"name": "ease"}], split={"kind": "users"}))
