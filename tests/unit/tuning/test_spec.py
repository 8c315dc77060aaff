"""The [tune] table: studies, rows, objectives and constraints, and one-line errors."""

import copy
import tomllib

import pytest

from recsys_cli.config.loader import bundled_recipes, load_raw, recipe_from_dict
from recsys_cli.errors import RecipeError
from recsys_cli.tuning.spec import parse_tune

BASE = {
    "name": "t",
    "split": {"kind": "temporal", "test": 0.2, "validation": 0.1},
    "models": [
        {"name": "popularity"},
        {"name": "ease", "label": "EASE", "params": {"l2": 100.0}},
        {"name": "item_knn", "label": "KNN"},
    ],
    "groups": {"tail": {"popularity_below": 0.8}},
    "variants": [
        {
            "name": "blend",
            "models": ["EASE"],
            "chain": [{"reranker": "blend", "weights": {"relevance": 1.0, "novelty": 0.2}}],
        },
        {"name": "mmr", "chain": [{"reranker": "mmr", "lambda": 0.5}]},
    ],
    "eval": {"cutoffs": [10], "metrics": ["ndcg", "recall", "ild", "coverage", "gini"]},
}
NOVELTY = "variants[0].chain[0].weights.novelty"


def spec_of(tune, **changes):
    raw = copy.deepcopy(BASE) | changes
    raw["tune"] = tune
    return parse_tune(raw, recipe_from_dict(raw))


def test_model_alone_uses_its_default_space_and_objective():
    spec = spec_of({"model": "EASE"})
    (study,) = spec.studies
    assert (study.name, study.row, study.model, study.variant) == ("EASE", "EASE", 1, None)
    assert [p.key for p in study.space] == ["models[1].params.l2"]
    assert study.space[0].log
    assert [(o.metric, o.maximize) for o in spec.objectives] == [("ndcg@10", True)]
    assert (spec.trials, spec.sampler, spec.seed, spec.refit) == (50, "tpe", 42, True)


def test_model_by_registry_name_and_a_range_replacing_the_default():
    spec = spec_of(
        {
            "model": ["item_knn", "EASE"],
            "params": {"models[1].params.l2": {"low": 10.0, "high": 20.0}},
        }
    )
    assert [s.name for s in spec.studies] == ["KNN", "EASE"]
    (l2,) = spec.studies[1].space
    assert (l2.low, l2.high, l2.log) == (10.0, 20.0, False)


def test_rerank_parameters_find_their_row_and_several_objectives_default_to_motpe():
    spec = spec_of(
        {
            "params": {NOVELTY: {"low": 0.0, "high": 1.0}},
            "objectives": ["ndcg@10", "gini@10", "ild@10"],
            "constraints": ["coverage@10 >= 0.2"],
            "reference": {"ndcg@10": 0.0},
            "trials": 7,
        }
    )
    (study,) = spec.studies
    assert (study.row, study.model, study.variant) == ("EASE+blend", 1, 0)
    assert [o.maximize for o in spec.objectives] == [True, False, True]  # gini: lower is better
    assert spec.sampler == "tpe" and spec.trials == 7
    assert str(spec.constraints[0]) == "coverage@10>=0.2"


def test_seconds_alone_leaves_trials_unbounded():
    spec = spec_of({"model": "EASE", "seconds": 30})
    assert spec.trials is None and spec.seconds == 30.0


@pytest.mark.parametrize(
    "tune, changes, path, fragment",
    [
        ({"model": "EASE"}, {"split": {"test": 0.2}}, "split.validation", "has none"),
        ({"model": "EASE"}, {"seeds": [1, 2]}, "seeds", "use `seed`"),
        ({"modle": "EASE"}, {}, "tune.modle", "did you mean 'model'?"),
        ({"model": "EAS"}, {}, "tune.model", "did you mean 'EASE'?"),
        ({"model": "popularity"}, {}, "tune.model", "no default search space"),
        ({"model": "EASE", "objectives": ["ndcg@20"]}, {}, "tune.objectives[0]", "not computed"),
        ({"model": "EASE", "objectives": ["ndgc@10"]}, {}, "tune.objectives[0]", "'ndcg@10'"),
        ({"model": "EASE", "constraints": ["ild@10 => 0.2"]}, {}, "tune.constraints[0]", "OP"),
        (
            {"model": "EASE", "constraints": ["aplt@10 >= 0.2"]},
            {},
            "tune.constraints[0]",
            "not computed",
        ),
        ({"model": "EASE", "trials": 0}, {}, "tune.trials", "at least 1"),
        ({"model": "EASE", "seconds": -1}, {}, "tune.seconds", "positive"),
        ({"model": "EASE", "sampler": "cmaes"}, {}, "tune.sampler", "not valid"),
        ({"model": "EASE", "directions": ["max", "max"]}, {}, "tune.directions", "one direction"),
        (
            {"model": "EASE", "reference": {"ild@10": 0.1}},
            {},
            "tune.reference.ild@10",
            "not an objective",
        ),
        (
            {"model": ["EASE", "KNN"], "objectives": ["ndcg@10", "ild@10"]},
            {},
            "tune.objectives",
            "one study",
        ),
        (
            {"model": "EASE", "params": {NOVELTY: {"low": 0.0, "high": 1.0}}},
            {},
            f'tune.params."{NOVELTY}"',
            "must belong to a tuned model",
        ),
        ({}, {}, "tune", "nothing to tune"),
        (
            {"params": {"groups.tail.popularity_below": {"low": 0.5, "high": 0.9}}},
            {},
            "tune.row",
            "name the row",
        ),
        (
            {"params": {NOVELTY: {"low": 0.0, "high": 1.0}}, "row": "EASE+mmr"},
            {},
            f'tune.params."{NOVELTY}"',
            "does not change row 'EASE+mmr'",
        ),
        (
            {"params": {NOVELTY: {"low": 0.0, "high": 1.0}}, "row": "EASE+bland"},
            {},
            "tune.row",
            "'EASE+blend'",
        ),
        (
            {"params": {NOVELTY: {"low": 1.0, "high": 0.0}}},
            {},
            f'tune.params."{NOVELTY}"',
            "empty range",
        ),
    ],
)
def test_bad_tune_tables_name_the_key(tune, changes, path, fragment):
    with pytest.raises(RecipeError) as error:
        spec_of(tune, **changes)
    assert error.value.path == path, str(error.value)
    assert fragment in str(error.value)


def test_a_recipe_without_tune_is_refused():
    raw = copy.deepcopy(BASE)
    with pytest.raises(RecipeError, match=r"^tune: the recipe has no \[tune\] table"):
        parse_tune(raw, recipe_from_dict(raw))


def test_tune_table_does_not_disturb_a_plain_run():
    raw = copy.deepcopy(BASE) | {"tune": {"model": "EASE", "anything": 1}}
    assert recipe_from_dict(raw) == recipe_from_dict(copy.deepcopy(BASE))


@pytest.mark.parametrize(
    "name", [n for n, p in bundled_recipes().items() if "tune" in tomllib.loads(p.read_text())]
)
def test_every_bundled_tune_table_is_valid(name):
    raw, recipe = load_raw(name)
    spec = parse_tune(raw, recipe)
    assert spec.studies and spec.trials
