"""Synthetic generator: exact sizes, reproducible, skewed popularity, usable by a recipe."""

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.data.synthetic import SynthSpec, generate
from recsys_cli.errors import DataError


def test_sizes_are_exact_and_generation_is_reproducible():
    spec = SynthSpec(users=300, items=200, interactions=9_000, seed=3)
    first, second = generate(spec, "s"), generate(spec, "s")
    assert first.interactions.height == 9_000
    assert first.interactions["user"].n_unique() == 300
    assert first.items.height == 200 and first.synthetic
    assert first.interactions.equals(second.interactions) and first.checksum == second.checksum
    assert generate(SynthSpec(300, 200, 9_000, seed=4), "s").checksum != first.checksum


def test_popularity_is_skewed_and_items_have_metadata():
    data = generate(SynthSpec(users=2_000, items=1_000, interactions=100_000, seed=1), "s")
    counts = data.interactions["item"].value_counts()["count"].sort(descending=True).to_numpy()
    assert counts[:10].sum() > 0.15 * counts.sum()  # a Zipf head
    assert set(data.items.columns) >= {"artist", "genres", "year"}
    assert data.items["genres"].list.len().min() >= 1


def test_invalid_sizes_are_user_errors():
    with pytest.raises(DataError):
        SynthSpec(users=10, items=5, interactions=3)


def test_cli_synth_then_run_a_recipe_on_it(tmp_path):
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "datasets",
            "synth",
            "tiny",
            "--users",
            "200",
            "--items",
            "100",
            "--interactions",
            "6000",
            "--data-dir",
            str(tmp_path / "d"),
        ],
    )
    assert made.exit_code == 0, made.output
    plain = tmp_path / "synth.toml"
    plain.write_text('name = "s"\n[dataset]\nname = "tiny"\n[[models]]\nname = "ease"\n')
    result = runner.invoke(
        app,
        [
            "run",
            str(plain),
            "--data-dir",
            str(tmp_path / "d"),
            "--results-dir",
            str(tmp_path / "r"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    run_dir = json.loads(result.stdout)["run_dir"]
    manifest = json.loads((tmp_path / "r" / run_dir.split("/")[-1] / "manifest.json").read_text())
    assert manifest["dataset"]["synthetic"] is True
    assert "SYNTHETIC" in manifest["dataset"]["source"]
    assert pl.read_parquet(f"{run_dir}/recommendations.parquet")["item"].str.starts_with("t").all()
