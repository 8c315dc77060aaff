"""Integration fixtures: a recipe over a local CSV of synthetic plays."""

import pytest

LOCAL_RECIPE = """
name = "local"
description = "synthetic plays from a CSV file"
seed = 5
[dataset]
name = "plays"
path = "{path}"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[split]
kind = "temporal"
test = 0.2
[[models]]
name = "popularity"
[[models]]
name = "ease"
params = {{ l2 = 10.0 }}
[[models]]
name = "item_knn"
[[models]]
name = "implicit_als"
params = {{ factors = 8 }}
[eval]
cutoffs = [5, 10]
candidates = 20
"""


@pytest.fixture
def recipe(tmp_path, interactions_csv):
    path = tmp_path / "local.toml"
    path.write_text(LOCAL_RECIPE.format(path=interactions_csv))
    return path
