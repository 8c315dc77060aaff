"""Fixtures: the small local dataset of ranking_data.py written to CSV files, and recipes over it."""

import pytest
from ranking_data import items_table, plays, raw_recipe

from recsys_cli.config.loader import recipe_from_dict


@pytest.fixture
def write_data(tmp_path):
    """write_data(frame=None, items=None) -> (interactions path, items path)."""

    def write(frame=None, items=None, name="plays"):
        path, items_path = tmp_path / f"{name}.csv", tmp_path / f"{name}-items.csv"
        (plays() if frame is None else frame).write_csv(path)
        (items_table() if items is None else items).write_csv(items_path)
        return path, items_path

    return write


@pytest.fixture
def make_recipe(write_data):
    """make_recipe(**ranker keys) -> a validated recipe over the default small dataset."""

    def make(**ranker):
        return recipe_from_dict(raw_recipe(*write_data(), **ranker))

    return make
