"""Multi-seed runs: one split, models per seed, aggregate = mean of seeds, spread kept."""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.results.baselines import allowed_difference

runner = CliRunner(env={"COLUMNS": "200"})


def run_seeds(tmp_path, recipe):
    result = runner.invoke(
        app,
        [
            "run",
            str(recipe),
            "--results-dir",
            str(tmp_path / "r"),
            "--json",
            "--set",
            "seeds=[1, 2, 3]",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    return payload, tmp_path / "r" / payload["run_dir"].split("/")[-1]


def test_seeds_repeat_training_over_one_split(tmp_path, recipe):
    payload, run_dir = run_seeds(tmp_path, recipe)
    subs = sorted((run_dir / "seeds").iterdir())
    assert [p.name for p in subs] == ["seed-1", "seed-2", "seed-3"]
    fingerprints = {
        json.loads((p / "manifest.json").read_text())["split"]["fingerprint"] for p in subs
    }
    assert len(fingerprints) == 1  # the split does not move with the training seed
    sub_metrics = [json.loads((p / "metrics.json").read_text())["models"] for p in subs]
    for model in ("ease", "implicit_als"):
        entry = payload["models"][model]["ndcg@10"]
        values = [m[model]["ndcg@10"]["mean"] for m in sub_metrics]
        assert entry["per_seed"] == pytest.approx(values)
        assert entry["mean"] == pytest.approx(np.mean(values))
        assert entry["seed_sd"] == pytest.approx(np.std(values, ddof=1))
    assert payload["models"]["ease"]["ndcg@10"]["seed_sd"] == 0.0  # deterministic
    assert payload["models"]["implicit_als"]["ndcg@10"]["seed_sd"] > 0.0
    # per-user values are the mean over seeds
    top = pl.read_parquet(run_dir / "per_user.parquet")
    first = pl.read_parquet(subs[0] / "per_user.parquet")
    assert top.height == first.height
    key = ["model", "user", "metric", "cutoff"]
    stacked = pl.concat([pl.read_parquet(p / "per_user.parquet") for p in subs])
    expected = stacked.group_by(key).agg(pl.col("value").mean()).sort(key)
    assert np.allclose(top.sort(key)["value"].to_numpy(), expected["value"].to_numpy())


def test_eval_and_compare_work_on_a_multi_seed_run(tmp_path, recipe):
    payload, run_dir = run_seeds(tmp_path, recipe)
    again = runner.invoke(app, ["eval", str(run_dir), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["models"] == payload["models"]
    compared = runner.invoke(app, ["compare", str(run_dir), "--metric", "ndcg@10", "--json"])
    assert compared.exit_code == 0, compared.output
    trained = runner.invoke(app, ["train", str(recipe), "--set", "seeds=[1,2]"])
    assert trained.exit_code == 2 and "use `rank run`" in trained.stderr


def test_bench_tolerance_grows_with_the_spread_across_seeds():
    assert allowed_difference({}, "ndcg@10", 0.2) == pytest.approx(1e-3)
    assert allowed_difference({}, "ndcg@10", 0.2, spread=0.01) == pytest.approx(0.03)
    assert allowed_difference({"ndcg@10": {"rel": 0.5}}, "ndcg@10", 0.2, 0.01) == pytest.approx(0.1)
