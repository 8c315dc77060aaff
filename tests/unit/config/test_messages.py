"""Pydantic's errors as one line: unions report the option the value came closest to, tagged
tables the key that picks them, and a registry of params classes makes the union of steps."""

import dataclasses
import datetime

import pytest

from recsys_cli.config.loader import model_config, recipe_from_dict
from recsys_cli.config.rerankers import step_type
from recsys_cli.config.schema import StepConfig
from recsys_cli.config.validate import build, section
from recsys_cli.errors import RecipeError

BASE = {"name": "t", "models": [{"name": "popularity"}]}


@dataclasses.dataclass(frozen=True)
class Table:
    """Plain unions as the [tune] table has them (a name, or a list of names)."""

    model: str | tuple[str, ...] = ()
    equals: str | int | float | None = None


def error(hint, data, path="t") -> RecipeError:
    with pytest.raises(RecipeError) as caught:
        build(hint, data, path)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    "data, path, message",
    [
        # a list for `str | tuple[str, ...]`: the error is inside the list, not "expected a string"
        ({"model": ["EASE", 3]}, "t.model[1]", "expected a string, got an integer (3)"),
        ({"model": 3}, "t.model", "expected a string or a list, got an integer (3)"),
        (
            {"equals": True},
            "t.equals",
            "expected a string, an integer or a number, got a boolean (True)",
        ),
        ({"equals": [1]}, "t.equals", "expected a string, an integer or a number, got a list"),
    ],
)
def test_a_union_reports_the_option_the_value_came_closest_to(data, path, message):
    caught = error(Table, data)
    assert caught.path == path
    assert message in str(caught)


def test_union_values_that_fit_load():
    assert build(Table, {"model": ["a", "b"], "equals": 3}) == Table(("a", "b"), 3)
    assert build(Table, {"model": "a", "equals": 2.5}) == Table("a", 2.5)


def test_a_group_condition_of_the_wrong_type_names_every_accepted_type():
    raw = {**BASE, "groups": {"g": {"column": "year", "equals": True}}}
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(raw)
    assert caught.value.path == "groups.g.equals"
    assert "expected a string, an integer or a number, got a boolean (True)" in str(caught.value)


@pytest.mark.parametrize(
    "entry, path, message",
    [
        ({"name": "eas"}, "models[0].name", "unknown model 'eas'; did you mean 'ease'?"),
        ({"label": "x"}, "models[0].name", "required model name (a string) is missing"),
        ({"name": 3}, "models[0].name", "expected a model name (a string), got an integer (3)"),
        ("ease", "models[0]", "expected a table, got a string ('ease')"),
        (
            {"name": "recbole_multvae", "params": {"hidden_sizes": [600, "x"]}},
            "models[0].params.hidden_sizes[1]",
            "expected an integer, got a string ('x')",
        ),
        (
            {"name": "ease", "params": {"l2": 1}, "lable": "x"},
            "models[0].lable",
            "unknown key; did you mean 'label'?",
        ),
    ],
)
def test_a_model_table_is_picked_by_its_name(entry, path, message):
    with pytest.raises(RecipeError) as caught:
        model_config(entry, "models[0]")
    assert caught.value.path == path
    assert message in str(caught.value)


def test_a_model_table_becomes_a_model_config_with_its_typed_params():
    config = model_config({"name": "ease", "params": {"l2": 1}}, "models[0]")
    assert (config.name, config.label, config.params.l2) == ("ease", "ease", 1.0)
    assert type(config.params).__name__ == "EASEParams"


@pytest.mark.parametrize(
    "value, path",
    [
        ({"cutoff": datetime.date(2020, 1, 1)}, "split.cutoff"),
        ({"cutoff": datetime.time(12, 0)}, "split.cutoff"),
    ],
)
def test_a_toml_date_is_refused_at_its_key(value, path):
    with pytest.raises(RecipeError, match="is a TOML date/time; write it as a quoted string") as e:
        recipe_from_dict({**BASE, "split": value})
    assert e.value.path == path


def test_a_toml_alias_is_the_only_spelling_a_recipe_may_use():
    """Python code builds `MMRParams(lambda_=0.3)`; a recipe writes `lambda`."""
    raw = {**BASE, "variants": [{"name": "v", "chain": [{"reranker": "mmr", "lambda_": 0.3}]}]}
    with pytest.raises(RecipeError, match="unknown key; did you mean 'lambda'") as caught:
        recipe_from_dict(raw)
    assert caught.value.path == "variants[0].chain[0].lambda_"


@section
class ShuffleParams:
    """A reranker registered outside config.rerankers (as a reranker class will register)."""

    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


@section
class KeepParams:
    pass


STEP = step_type({"shuffle": ShuffleParams, "keep": KeepParams})


def test_a_registry_of_params_classes_makes_the_step_union():
    steps = build(
        tuple[STEP, ...], [{"reranker": "shuffle", "temperature": 2}, {"reranker": "keep"}]
    )
    assert steps == (StepConfig("shuffle", ShuffleParams(2.0)), StepConfig("keep", KeepParams()))
    assert type(steps[0].params) is ShuffleParams  # the registered class, not the step table
    built = StepConfig("keep", KeepParams())
    assert build(tuple[STEP, ...], [{"reranker": "keep"}])[0] == built


@pytest.mark.parametrize(
    "step, path, message",
    [
        ({"reranker": "shufle"}, "c[0].reranker", "unknown reranker 'shufle'; did you mean"),
        ({"reranker": "keep", "x": 1}, "c[0].x", "unknown key"),
        ({"reranker": "shuffle", "temperature": 0}, "c[0]", "temperature must be > 0, got 0.0"),
        (
            {"reranker": "shuffle", "temperature": "hot"},
            "c[0].temperature",
            "expected a number, got a string ('hot')",
        ),
    ],
)
def test_registered_steps_fail_with_the_key_path(step, path, message):
    caught = error(tuple[STEP, ...], [step], "c")
    assert caught.path == path
    assert message in str(caught)
