"""Search-space parameters: parsing `[tune.params]` ranges, sampling, and the models' defaults."""

import math

import numpy as np
import optuna
import pytest

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.errors import RecipeError
from recsys_cli.models.registry import model_names, model_params_class
from recsys_cli.tuning.space import (
    Param,
    check_param,
    default_space,
    given_values,
    parse_param,
    set_values,
)
from recsys_cli.tuning.study import quiet_optuna

RAW = {
    "name": "t",
    "models": [{"name": "ease", "label": "EASE", "params": {"l2": 100.0}}, {"name": "rp3beta"}],
    "groups": {"tail": {"popularity_below": 0.8}},
    "variants": [
        {
            "name": "blend",
            "models": ["EASE"],
            "chain": [{"reranker": "blend", "weights": {"relevance": 1.0, "group:tail": 0.2}}],
        }
    ],
}


def test_bounds_decide_the_kind():
    assert parse_param("k", {"low": 1.0, "high": 10.0}, "w") == Param("k", "float", 1.0, 10.0)
    assert parse_param("k", {"low": 1, "high": 10}, "w").kind == "int"
    assert parse_param("k", {"low": 1, "high": 10.0}, "w").kind == "float"
    log = parse_param("k", {"low": 1e-3, "high": 1.0, "log": True}, "w")
    assert log.log and log.kind == "float"
    assert parse_param("k", {"low": 0, "high": 10, "step": 5}, "w").step == 5
    assert parse_param("k", {"choices": ["a", "b"]}, "w").choices == ("a", "b")


@pytest.mark.parametrize(
    "spec, path, fragment",
    [
        ({"low": 5.0, "high": 5.0}, "w", "empty range"),
        ({"low": 6, "high": 5}, "w", "empty range"),
        ({"choices": []}, "w.choices", "empty range"),
        ({"low": 0.0, "high": 1.0, "log": True}, "w.low", "log scale needs low > 0"),
        ({"low": -1.0, "high": 1.0, "log": True}, "w.low", "log scale needs low > 0"),
        ({"low": 1.0, "high": 9.0, "log": True, "step": 1.0}, "w.step", "log scale takes no step"),
        ({"low": 1, "high": 9, "step": 0.5}, "w.step", "positive integer"),
        ({"low": 1.0, "hi": 2.0}, "w.hi", "did you mean 'high'?"),
        ({"low": 1.0}, "w.high", "required"),
        ({"low": "1", "high": 2.0}, "w.low", "expected a number"),
        ({"low": True, "high": 2.0}, "w.low", "expected a number"),
        ({"choices": ["a", 1]}, "w.choices", "all strings, all numbers or all booleans"),
        ({"choices": ["a", "a"]}, "w.choices", "repeat"),
        ({"choices": ["a"], "low": 1}, "w.low", "either choices or low/high"),
        (3.0, "w", "expected a range"),
    ],
)
def test_bad_ranges_name_their_key(spec, path, fragment):
    with pytest.raises(RecipeError) as error:
        parse_param("k", spec, "w")
    assert error.value.path == path and fragment in str(error.value)


def _draws(param: Param, n: int = 300) -> np.ndarray:
    with quiet_optuna():
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        values = []
        for _ in range(n):
            trial = study.ask()
            values.append(param.suggest(trial))
            study.tell(trial, 0.0)
    return np.array(values)


def test_samples_stay_in_range_with_the_right_type_and_scale():
    ints = _draws(parse_param("k", {"low": 5, "high": 1000, "log": True}, "w"))
    assert ints.dtype.kind == "i" and ints.min() >= 5 and ints.max() <= 1000
    # log-uniform: the median is near the geometric mean sqrt(5 * 1000) = 71, not 500
    assert 40 < np.median(ints) < 130
    stepped = _draws(parse_param("k", {"low": 0.0, "high": 1.0, "step": 0.25}, "w"))
    assert set(np.round(stepped, 10)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    choices = _draws(parse_param("k", {"choices": ["rows", "columns"]}, "w"), 50)
    assert set(choices) == {"rows", "columns"}


def test_holds_matches_the_range():
    p = parse_param("k", {"low": 1, "high": 10, "step": 3}, "w")
    assert [v for v in range(0, 12) if p.holds(v)] == [1, 4, 7, 10]
    assert not p.holds(4.5) and not p.holds(True) and not p.holds("4")
    f = parse_param("k", {"low": 1.0, "high": 2.0}, "w")
    assert f.holds(1.0) and f.holds(2) and not f.holds(2.5)
    c = parse_param("k", {"choices": [1, 2]}, "w")
    assert c.holds(1) and not c.holds(1.0) and not c.holds(3)


def test_set_values_and_given_values_round_trip():
    values = {
        "models[0].params.l2": 500.0,
        "variants[0].chain[0].weights.group:tail": 0.7,
        "groups.tail.popularity_below": 0.5,
    }
    changed = set_values(RAW, values)
    assert RAW["models"][0]["params"]["l2"] == 100.0  # a copy
    assert given_values(changed, values) == values
    assert given_values(changed, ["models[5].params.l2", "models[0].params.x"]) == {}
    recipe = recipe_from_dict(changed)
    assert recipe.variants[0].chain[0].params.weights["group:tail"] == 0.7


@pytest.mark.parametrize(
    "key, spec, fragment",
    [
        ("models[0].params.l3", {"low": 1.0, "high": 2.0}, "unknown key; did you mean 'l2'?"),
        ("models[7].params.l2", {"low": 1.0, "high": 2.0}, "no such list element"),
        ("models[1].params.alpha", {"low": 0.0, "high": 2.0}, "alpha > 0"),
        ("models[1].params.pruning", {"choices": ["rows", "cols"]}, "'cols' is not valid"),
        ("split.test", {"low": 0.1, "high": 0.2}, "only models[i].params.*"),
        ("models[0].label", {"choices": ["a", "b"]}, "only models[i].params.*"),
        ("variants[0].name", {"choices": ["a", "b"]}, "only models[i].params.*"),
        ("variants[0].chain[0].weights.group:nope", {"low": 0.0, "high": 1.0}, "unknown objective"),
    ],
)
def test_check_param_names_the_tune_key(key, spec, fragment):
    where = f'tune.params."{key}"'
    with pytest.raises(RecipeError) as error:
        check_param(RAW, parse_param(key, spec, where), where)
    assert error.value.path == where and fragment in str(error.value)


@pytest.mark.parametrize(
    "name", [n for n in model_names() if getattr(model_params_class(n), "SEARCH_SPACE", None)]
)
def test_every_default_space_is_valid_for_its_model(name):
    """Contract: each registered default range parses and both ends (every choice) build the
    model's params, so `[tune] model = NAME` works without ranges."""
    raw = {"name": "t", "models": [{"name": name}]}
    space = default_space(name, 0)
    assert space
    for param in space:
        check_param(raw, param, param.key)
        assert math.isfinite(param.low) and math.isfinite(param.high)


def test_models_without_parameters_have_no_default_space():
    assert default_space("popularity", 0) == []
