"""Stored runs for the `rank runs` and `rank report` tests: a small local dataset (plays and
track metadata), a recipe with a rerank variant and beyond-accuracy metrics, and helpers that
make runs and sweeps through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from recsys_cli.cli.main import app

RECIPE = """
name = "stored"
seed = 3
[dataset]
name = "plays"
path = "plays.csv"
items_path = "tracks.csv"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[split]
kind = "temporal"
test = 0.2
[[models]]
name = "popularity"
[[models]]
name = "ease"
label = "EASE"
params = {{ l2 = 10.0 }}
[[models]]
name = "item_knn"
label = "ItemKNN"
[[variants]]
name = "mmr"
models = ["EASE"]
chain = [{{ reranker = "mmr", lambda = 0.5, similarity = "genres" }}]
[eval]
cutoffs = [5, 10]
candidates = 20
metrics = ["ndcg", "recall", "ild", "coverage", "novelty"]
{extra}
"""

runner = CliRunner()


def rank(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_dataset(folder: Path, seed: int = 0, extra: str = "") -> Path:
    """plays.csv (80 users, 12 plays each of 40 tracks in three taste clusters, distinct
    times), tracks.csv (genres, artist) and the recipe beside them; returns the recipe."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    users = np.repeat(np.arange(80), 12)
    tracks = users % 3 + 3 * rng.integers(0, 13, users.size)
    pl.DataFrame(
        {
            "uid": [f"u{u}" for u in users],
            "track": [f"i{t}" for t in tracks],
            "ts": 1_000_000 + 60 * rng.permutation(users.size),
            "plays": rng.integers(1, 6, users.size).astype(float),
        }
    ).write_csv(folder / "plays.csv")
    genres = ["Jazz|Rock", "Pop", "Rock", "Jazz|Pop|Folk", "Folk"]
    pl.DataFrame(
        {
            "track": [f"i{i}" for i in range(40)],
            "genres": [genres[i % 5] for i in range(40)],
            "artist": [f"a{i % 7}" for i in range(40)],
        }
    ).write_csv(folder / "tracks.csv")
    recipe = folder / "stored.toml"
    recipe.write_text(RECIPE.format(extra=extra))
    return recipe


def make(command: str, recipe: Path, results: Path, *options) -> Path:
    """Run `rank COMMAND RECIPE --results-dir RESULTS -q OPTIONS...`; the directory it made."""
    result = rank(command, recipe, "--results-dir", results, "-q", *options)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])
