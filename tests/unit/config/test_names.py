"""Names that become folder names (model labels, variant names, dataset.name) must be plain."""

from __future__ import annotations

import pytest

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.config.validate import name_problem
from recsys_cli.errors import RecipeError

BASE = {"name": "t", "models": [{"name": "popularity"}]}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        (".", "starts with '.'"),
        ("..", "contains '..'"),
        ("../../../x", "is a path"),
        ("/abs", "is a path"),
        ("a/b", "is a path"),
        ("a\\b", "is a path"),
        ("a..b", "contains '..'"),
        (".hidden", "starts with '.'"),
        ("-x", "starts with '-'"),
        ("EASE (l2=500)", "contains ' '"),
        ("ALS+mmr", "contains '+'"),
        ("größe", "contains 'ö'"),
        ("x" * 101, "longer than 100"),
    ],
)
def test_name_problems(name, problem):
    assert problem in name_problem(name)


@pytest.mark.parametrize(
    "name", ["EASE", "ml-100k", "ml-latest-small", "als_64", "v1.2", "x" * 100]
)
def test_plain_names(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"models": [{"name": "recbole_bpr", "label": "../../../x"}]}, "models[0].label"),
        ({"models": [{"name": "popularity"}, {"name": "ease", "label": ""}]}, "models[1].label"),
        ({"dataset": {"name": "../x"}}, "dataset.name"),
        ({"dataset": {"name": "/abs", "path": "plays.csv"}}, "dataset.name"),
        ({"variants": [{"name": "a/b", "chain": [{"reranker": "mmr"}]}]}, "variants[0].name"),
    ],
)
def test_recipe_names_that_would_be_paths_are_refused_with_the_key_path(raw, path):
    with pytest.raises(RecipeError) as error:
        recipe_from_dict({**BASE, **raw})
    assert error.value.path == path
    assert "use letters, digits" in str(error.value) and "\n" not in str(error.value)


def test_plain_labels_and_names_load():
    recipe = recipe_from_dict(
        {
            **BASE,
            "models": [{"name": "popularity", "label": "Pop_1.0"}],
            "dataset": {"name": "my-plays"},
            "variants": [{"name": "mmr-0.3", "chain": [{"reranker": "mmr"}]}],
        }
    )
    assert recipe.models[0].label == "Pop_1.0" and recipe.variants[0].name == "mmr-0.3"
