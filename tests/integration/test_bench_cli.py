"""`rank bench`: baselines within tolerance pass, a perturbed baseline fails naming the metric."""

import json

from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner(env={"COLUMNS": "200"})


def bench(tmp_path, recipes_dir, *extra):
    return runner.invoke(
        app,
        [
            "bench",
            "--recipes-dir",
            str(recipes_dir),
            "--baselines",
            str(tmp_path / "baselines"),
            "--results-dir",
            str(tmp_path / "runs"),
            *extra,
        ],
    )


def test_bench_passes_within_tolerance_and_fails_beyond(tmp_path, recipe):
    recipes_dir = tmp_path / "bench"
    recipes_dir.mkdir()
    (recipes_dir / "local.toml").write_text(recipe.read_text())
    missing = bench(tmp_path, recipes_dir)
    assert missing.exit_code == 2 and "rank bench --update" in missing.stderr

    assert bench(tmp_path, recipes_dir, "--update").exit_code == 0
    baseline_path = tmp_path / "baselines" / "local.json"
    baseline = json.loads(baseline_path.read_text())
    assert baseline["tolerance"] == {"default": {"abs": 1e-3}}
    assert bench(tmp_path, recipes_dir).exit_code == 0

    value = baseline["models"]["ease"]["ndcg@10"]
    baseline["models"]["ease"]["ndcg@10"] = value + 0.0009  # within the absolute 1e-3
    baseline_path.write_text(json.dumps(baseline))
    assert bench(tmp_path, recipes_dir).exit_code == 0

    baseline["models"]["ease"]["ndcg@10"] = value + 0.01
    baseline_path.write_text(json.dumps(baseline))
    result = bench(tmp_path, recipes_dir)
    assert result.exit_code == 1
    assert "ndcg@10" in result.stdout and "moved down" in result.stdout

    baseline["tolerance"]["ndcg@10"] = {"rel": 0.5}  # a per-metric relative tolerance
    baseline_path.write_text(json.dumps(baseline))
    assert bench(tmp_path, recipes_dir).exit_code == 0


def test_missing_model_in_current_run_fails(tmp_path, recipe):
    recipes_dir = tmp_path / "bench"
    recipes_dir.mkdir()
    (recipes_dir / "local.toml").write_text(recipe.read_text())
    assert bench(tmp_path, recipes_dir, "--update").exit_code == 0
    baseline_path = tmp_path / "baselines" / "local.json"
    baseline = json.loads(baseline_path.read_text())
    baseline["models"]["vanished"] = {"ndcg@10": 0.5}
    baseline_path.write_text(json.dumps(baseline))
    result = bench(tmp_path, recipes_dir, "--json")
    assert result.exit_code == 1
    statuses = {(c["model"], c["status"]) for c in json.loads(result.stdout)}
    assert ("vanished", "missing") in statuses


def test_multi_seed_baseline_stores_the_spread(tmp_path, recipe):
    recipes_dir = tmp_path / "bench"
    recipes_dir.mkdir()
    (recipes_dir / "local.toml").write_text("seeds = [1, 2]\n" + recipe.read_text())
    assert bench(tmp_path, recipes_dir, "--update").exit_code == 0
    baseline = json.loads((tmp_path / "baselines" / "local.json").read_text())
    assert baseline["spread"]["implicit_als"]["ndcg@10"] > 0
    assert baseline["spread"]["ease"]["ndcg@10"] == 0
    assert bench(tmp_path, recipes_dir).exit_code == 0
