"""Reading a recipe file: folders, encodings, and file paths relative to the recipe's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys_cli.config.loader import load_raw, load_recipe, read_toml
from recsys_cli.errors import RecipeError

RECIPE = """
name = "r"
[dataset]
path = "data/plays.csv"
items_path = "/abs/items.csv"
[groups.picked]
file = "lists/picked.txt"
[[models]]
name = "popularity"
"""


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('name = "caf\xe9"\n'.encode("latin-1"), "not UTF-8 (byte 0xe9 on line 1)"),
        ('a = 1\nname = "\xe9"\n'.encode("latin-1"), "byte 0xe9 on line 2"),
        ('name = "x"\n'.encode("utf-16"), "not UTF-8 (is UTF-16 text)"),
        ('name = "x"\n'.encode("utf-32"), "not UTF-8 (is UTF-32 text)"),
        (b"name = \n", "invalid TOML: Invalid value (at line 1, column 8)"),
    ],
)
def test_unreadable_recipes_are_one_line_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "r.toml"
    path.write_bytes(content)
    with pytest.raises(RecipeError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as e:
        read_toml(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "r.toml"
    path.write_bytes(b"\xef\xbb\xbfname = 'x'\n")
    assert read_toml(path) == {"name": "x"}


def test_a_folder_is_not_a_recipe(tmp_path):
    with pytest.raises(RecipeError, match="this is a folder, not a TOML file"):
        load_recipe(tmp_path)


def test_relative_paths_are_read_from_the_recipe_folder(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "r.toml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path)
    raw, recipe = load_raw(Path("recipes/r.toml"))
    assert recipe.dataset.path == str(folder / "data" / "plays.csv")
    assert recipe.dataset.items_path == "/abs/items.csv"
    assert recipe.groups["picked"].file == str(folder / "lists" / "picked.txt")
    assert raw["dataset"]["path"] == recipe.dataset.path  # sweeps vary the resolved table


def test_a_path_given_with_set_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "r.toml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(folder / "r.toml", ["dataset.path=here.csv"])
    assert recipe.dataset.path == str(tmp_path / "here.csv")
