"""Recipe validation of [groups], [[variants]] and beyond-accuracy metric names."""

import pytest

from recsys_cli.config.loader import recipe_from_dict, recipe_to_toml
from recsys_cli.errors import RecipeError

BASE = {
    "name": "t",
    "models": [{"name": "popularity"}, {"name": "ease", "label": "EASE"}],
    "groups": {"tail": {"popularity_below": 0.8}},
}


def with_variant(**variant):
    return {**BASE, "variants": [{"name": "v", "chain": [{"reranker": "mmr"}], **variant}]}


def test_variant_defaults_and_round_trip():
    import tomllib

    recipe = recipe_from_dict(
        with_variant(chain=[{"reranker": "mmr", "lambda": 0.3}, {"reranker": "spacing"}])
    )
    (variant,) = recipe.variants
    assert variant.models == ("popularity", "EASE") and variant.length == 20
    assert variant.chain[0].params.lambda_ == 0.3 and variant.chain[1].params.column == "artist"
    again = recipe_from_dict(tomllib.loads(recipe_to_toml(recipe)))
    assert again == recipe


@pytest.mark.parametrize(
    "raw, path, fragment",
    [
        (
            with_variant(chain=[{"reranker": "mmr"}, {"reranker": "mmr", "lamda": 0.1}]),
            "variants[0].chain[1].lamda",
            "unknown key; did you mean 'lambda'?",
        ),
        (
            with_variant(chain=[{"reranker": "mrr"}]),
            "variants[0].chain[0].reranker",
            "unknown reranker 'mrr'; did you mean 'mmr'?",
        ),
        (with_variant(chain=[{"lambda": 0.1}]), "variants[0].chain[0].reranker", "missing"),
        (with_variant(chain=[]), "variants[0].chain", "non-empty"),
        (
            with_variant(chain=[{"reranker": "mmr", "lambda": 1.5}]),
            "variants[0].chain[0]",
            "lambda must be in [0, 1]",
        ),
        (
            with_variant(chain=[{"reranker": "mmr", "lambda": "high"}]),
            "variants[0].chain[0].lambda",
            "expected a number",
        ),
        (
            with_variant(chain=[{"reranker": "dpp", "similarity": "genre"}]),
            "variants[0].chain[0].similarity",
            "did you mean 'genres'?",
        ),
        (
            with_variant(chain=[{"reranker": "fair_exposure", "group": "tial"}]),
            "variants[0].chain[0].group",
            "unknown group 'tial'; did you mean 'tail'?",
        ),
        (
            with_variant(chain=[{"reranker": "fair_exposure"}]),
            "variants[0].chain[0].group",
            "required key is missing",
        ),
        (
            with_variant(chain=[{"reranker": "blend", "weights": {"relevanse": 1.0}}]),
            "variants[0].chain[0].weights.relevanse",
            "did you mean 'relevance'?",
        ),
        (
            with_variant(chain=[{"reranker": "blend", "weights": {"group:tale": 1.0}}]),
            "variants[0].chain[0].weights.group:tale",
            "did you mean 'group:tail'?",
        ),
        (with_variant(models=["ESAE"]), "variants[0].models[0]", "did you mean 'EASE'?"),
        (with_variant(length=101), "variants[0].length", "eval.candidates (100)"),
        (with_variant(lenght=5), "variants[0].lenght", "did you mean 'length'?"),
        (with_variant(name="a+b"), "variants[0].name", "contains '+'"),
        (
            {**with_variant(), "variants": [*with_variant()["variants"]] * 2},
            "variants[1].name",
            "duplicate variant name 'v'",
        ),
        (
            {**BASE, "groups": {"g": {"popularity_below": 0.5, "column": "year"}}},
            "groups.g",
            "exactly one kind",
        ),
        (
            {**BASE, "groups": {"g": {"column": "year"}}},
            "groups.g",
            "column needs exactly one of at_least, at_most, equals, contains",
        ),
        ({**BASE, "groups": {"g": {"colum": "year"}}}, "groups.g.colum", "did you mean 'column'"),
        ({**BASE, "groups": {"g": {"by": "artist", "file": "x"}}}, "groups.g", "by only applies"),
        (
            {**BASE, "eval": {"metrics": ["ndcg", "exposure_share[tial]"]}},
            "eval.metrics[1]",
            "unknown group 'tial'; did you mean 'tail'?",
        ),
        ({**BASE, "eval": {"metrics": ["exposure_share"]}}, "eval.metrics[0]", "needs a group"),
        ({**BASE, "eval": {"metrics": ["covrage"]}}, "eval.metrics[0]", "did you mean 'coverage'"),
    ],
)
def test_bad_input_is_one_line_with_key_path_and_nearest_name(raw, path, fragment):
    with pytest.raises(RecipeError) as caught:
        recipe_from_dict(raw)
    assert caught.value.path == path
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_beyond_metrics_are_accepted():
    recipe = recipe_from_dict(
        {**BASE, "eval": {"metrics": ["ndcg", "ild", "gini", "exposure_share[tail]"]}}
    )
    assert recipe.eval.metrics[-1] == "exposure_share[tail]"
