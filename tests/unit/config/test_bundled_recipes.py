"""Bundled recipes: resolved by name from any directory, shipped as package data, self-contained."""

import tomllib
from pathlib import Path

import pytest

from recsys_cli.config.loader import bundled_recipes, load_recipe, resolve_recipe
from recsys_cli.errors import RecipeError

ROOT = Path(__file__).resolve().parents[3]


def test_names_are_paths_under_the_package_folder_without_suffix():
    names = bundled_recipes()
    assert {"quickstart", "rerank-ml100k", "bench/ml100k-quick", "scale/ml20m-synthetic"} <= set(
        names
    )
    for name, path in names.items():
        assert path.is_file() and path.as_posix().endswith(f"recsys_cli/recipes/{name}.toml")


def test_a_name_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bundled = bundled_recipes()
    assert resolve_recipe("quickstart") == bundled["quickstart"]
    assert resolve_recipe("scale/ml20m-synthetic.toml") == bundled["scale/ml20m-synthetic"]
    assert load_recipe("scale/ml20m-synthetic").name == "scale-ml20m-synthetic"


def test_a_file_wins_over_a_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("quickstart").write_text((ROOT / "recipes" / "quickstart.toml").read_text())
    assert resolve_recipe("quickstart") == Path("quickstart")


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("recipes/quickstart.toml", "did you mean 'quickstart'?"),  # a checkout path, elsewhere
        ("quikstart", "did you mean 'quickstart'?"),
        (".", "recipe file not found"),  # a directory is not a recipe
    ],
)
def test_unknown_names_fail_with_the_nearest_bundled_name(tmp_path, monkeypatch, given, fragment):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError, match=fragment) as error:
        load_recipe(given)
    assert str(error.value).startswith(f"{given}: recipe file not found")


OPE_RECIPES = {
    name for name, path in bundled_recipes().items() if "ope" in tomllib.loads(path.read_text())
}  # run by `rank ope`, validated in tests/unit/ope


@pytest.mark.parametrize("name", sorted(set(bundled_recipes()) - OPE_RECIPES))
def test_every_bundled_recipe_is_valid_and_reads_no_local_file(name):
    """They run from any directory, so no key may name a file relative to the checkout."""
    recipe = load_recipe(name)
    assert recipe.dataset.path is None and recipe.dataset.items_path is None
    assert all(group.file is None for group in recipe.groups.values())


def test_package_data_ships_every_bundled_recipe():
    """Every recipe file matches a package-data glob of pyproject.toml, so wheels carry it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["recsys_cli"]
    shipped = {path for pattern in globs for path in (ROOT / "recsys_cli").glob(pattern)}
    assert set(bundled_recipes().values()) <= shipped


def test_top_level_recipes_folder_is_the_bundled_one():
    """README commands (`rank run recipes/quickstart.toml`) and `rank bench` read ./recipes."""
    assert (ROOT / "recipes").resolve() == (ROOT / "recsys_cli" / "recipes").resolve()
