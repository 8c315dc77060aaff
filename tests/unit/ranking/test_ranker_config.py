"""The [ranker] table: validated with key paths, nearest names, defaults filled, round trip."""

import pytest
from ranking_data import raw_recipe

from recsys_cli.config.loader import recipe_from_dict, recipe_to_toml
from recsys_cli.config.validate import to_plain
from recsys_cli.errors import RecipeError


def recipe(**ranker):
    return raw_recipe("plays.csv", "items.csv", **ranker)


@pytest.mark.parametrize(
    ("ranker", "message"),
    [
        (
            {"generators": ["ease", "itemknn"]},
            r"ranker.generators\[1\]: no model labelled 'itemknn'; did "
            "you mean 'item_knn'",
        ),
        ({"generators": ["ease", "ease"]}, r"ranker.generators\[1\]: 'ease' is named twice"),
        ({"generators": []}, "ranker: generators must name at least one"),
        (
            {"features": ["score", "popularty"]},
            r"ranker.features\[1\]: unknown feature "
            "'popularty'; did you mean 'popularity'",
        ),
        ({"features": ["group:head"]}, r"ranker.features\[0\]: unknown feature 'group:head'"),
        (
            {"labels": {"weights": {"discovry": 1.0}}},
            "ranker.labels.weights.discovry: unknown "
            "label term 'discovry'; did you mean 'discovery'",
        ),
        ({"labels": {"weights": {"group:tail": -1.0}}}, "ranker.labels: label weights must be"),
        ({"labels": {"apply_to": "some"}}, "ranker.labels.apply_to: 'some' is not valid"),
        (
            {"params": {"num_leavs": 7}},
            "ranker.params.num_leavs: unknown key; did you mean 'num_leaves'",
        ),
        ({"params": {"learning_rate": 0}}, "ranker.params: learning_rate must be in"),
        ({"validation": 1.0}, r"ranker: validation must be in \(0, 1\)"),
        ({"threads": 0}, "ranker: threads must be >= 1"),
        ({"label": "ease"}, "ranker.label: 'ease' is already a model's label"),
        ({"label": "L/R"}, "ranker.label: 'L/R' is a path"),
        ({"length": 4}, r"ranker.length: must be between the largest cutoff \(5\) and the pool"),
        ({"length": 31}, r"\(eval.candidates x generators = 30\), got 31"),
        ({"seed": 1}, "ranker.seed: unknown key"),
    ],
)
def test_bad_ranker_tables_name_the_key_path(ranker, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(recipe(**ranker))


def test_a_missing_generators_key_is_named():
    raw = recipe()
    del raw["ranker"]["generators"]
    with pytest.raises(RecipeError, match="ranker.generators: required key is missing"):
        recipe_from_dict(raw)


def test_defaults_are_filled_and_the_resolved_recipe_loads_again():
    import tomllib

    loaded = recipe_from_dict(recipe(features=["score", "group:tail"]))
    assert loaded.ranker.length == 10  # eval.candidates
    assert loaded.ranker.label == "LTR" and loaded.ranker.threads == 1
    again = recipe_from_dict(tomllib.loads(recipe_to_toml(loaded)))
    assert to_plain(again) == to_plain(loaded)


def test_variants_may_rerank_the_rankers_lists():
    raw = recipe()
    raw["variants"] = [{"name": "mmr", "chain": [{"reranker": "mmr", "lambda": 0.5}]}]
    loaded = recipe_from_dict(raw)
    assert loaded.variants[0].models == ("popularity", "ease", "item_knn", "LTR")
    raw["variants"][0]["models"] = ["LTX"]
    with pytest.raises(RecipeError, match=r"no model labelled 'LTX'; did you mean 'LTR'"):
        recipe_from_dict(raw)
