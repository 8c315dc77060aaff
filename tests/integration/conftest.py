"""Integration fixtures: a recipe over a local CSV of synthetic plays."""

import numpy as np
import polars as pl
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


@pytest.fixture
def items_csv(tmp_path):
    """Item metadata for the synthetic plays: genres (pipe-separated), artist, year."""
    ids = np.arange(40)
    genres = ["Jazz|Rock", "Pop", "Rock", "Jazz|Pop|Folk", "Folk"]
    path = tmp_path / "tracks.csv"
    pl.DataFrame(
        {
            "track": [f"i{i}" for i in ids],
            "genres": [genres[i % 5] for i in ids],
            "artist": [f"artist{i % 7}" for i in ids],
            "year": [2000 + int(i) % 20 for i in ids],
        }
    ).write_csv(path)
    return path


@pytest.fixture(scope="session")
def stored(tmp_path_factory):
    """A results dir made once for the `rank runs` and `rank report` tests (stored_runs.py): two
    runs that differ in one --set (a, b), a multi-seed run, a trained-only run and a 4-point
    sweep; returns (results dir, recipe, {key: directory})."""
    from stored_runs import make, write_dataset

    folder = tmp_path_factory.mktemp("stored")
    recipe = write_dataset(folder)
    results = folder / "results"
    grid = ("--grid", "variants[0].chain[0].lambda=0:1:4", "--pareto", "ndcg@10,ild@10")
    made = {
        "a": make("run", recipe, results),
        "b": make("run", recipe, results, "--set", "models[1].params.l2=50.0"),
        "seeds": make("run", recipe, results, "--set", "seeds=[1,2]"),
        "trained": make("train", recipe, results),
        "sweep": make("sweep", recipe, results, *grid),
    }
    return results, recipe, made
