"""`rank compare` on stored runs: p-values match scipy; different splits are refused."""

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats
from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner()


def run(recipe, results, *sets):
    args = ["run", str(recipe), "--results-dir", str(results), "-q"]
    for value in sets:
        args += ["--set", value]
    assert runner.invoke(app, args).exit_code == 0
    return sorted(results.iterdir())[-1]


def test_pvalues_match_scipy_on_stored_per_user_values(tmp_path, recipe):
    run_dir = run(recipe, tmp_path / "r")
    result = runner.invoke(
        app, ["compare", str(run_dir), "--baseline", "popularity", "--metric", "ndcg@10", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(result.stdout)["rows"]}
    per_user = pl.read_parquet(run_dir / "per_user.parquet").filter(
        (pl.col("metric") == "ndcg") & (pl.col("cutoff") == 10)
    )

    def values(model):
        return per_user.filter(pl.col("model") == model).sort("user")["value"].to_numpy()

    base = values("popularity")
    raw = {}
    for model in ("ease", "item_knn", "implicit_als"):
        expected = stats.ttest_rel(values(model), base).pvalue
        assert rows[model]["t_pvalue"] == pytest.approx(expected, rel=1e-9)
        raw[model] = expected
        expected_w = stats.wilcoxon(values(model) - base).pvalue
        assert rows[model]["wilcoxon_pvalue"] == pytest.approx(expected_w, rel=1e-9)
    # Holm over the three comparisons, by hand.
    order = sorted(raw, key=raw.get)
    running = 0.0
    for i, model in enumerate(order):
        running = max(running, min(1.0, (3 - i) * raw[model]))
        assert rows[model]["t_pvalue_adjusted"] == pytest.approx(running, rel=1e-9)
    assert np.isfinite([rows[m]["ci_low"] for m in rows]).all()


def test_runs_with_different_splits_are_refused(tmp_path, recipe):
    first = run(recipe, tmp_path / "a")
    second = run(recipe, tmp_path / "b", "split.test=0.3")
    result = runner.invoke(app, ["compare", str(first), str(second)])
    assert result.exit_code == 2
    assert "different split fingerprints" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_runs_with_the_same_split_get_short_labels_a_legend_and_an_inferred_baseline(
    tmp_path, recipe
):
    first = run(recipe, tmp_path / "a")
    second = run(recipe, tmp_path / "b", "models[1].params.l2=100.0", 'models[1].label="ease100"')
    args = ["compare", str(first), str(second), "--metric", "ndcg@5"]
    result = runner.invoke(app, [*args, "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert f"A: {first}" in result.stdout and f"B: {second}" in result.stdout
    assert "| A:ease | ndcg@5 |" in result.stdout and "| B:ease100 | ndcg@5 |" in result.stdout
    # A name found in one run only is that run's; one found in both must be qualified.
    inferred = runner.invoke(app, [*args, "--baseline", "ease100", "--json"])
    assert inferred.exit_code == 0, inferred.output
    payload = json.loads(inferred.stdout)
    assert payload["baseline"] == "B:ease100"
    assert payload["runs"] == {"A": str(first), "B": str(second)}
    ambiguous = runner.invoke(app, [*args, "--baseline", "popularity"])
    assert ambiguous.exit_code == 2
    assert ambiguous.stderr.strip() == (
        "error: --baseline: 'popularity' is in several runs; name one of A:popularity, B:popularity"
    )
    qualified = runner.invoke(app, [*args, "--baseline", "B:popularity", "--json"])
    assert json.loads(qualified.stdout)["baseline"] == "B:popularity"


GROUPS = """
[groups]
tail = { popularity_below = 0.5 }
"""


def test_metric_names_with_brackets_survive_the_terminal_table(tmp_path, recipe):
    recipe.write_text(
        recipe.read_text().replace(
            "candidates = 20",
            'candidates = 20\nmetrics = ["ndcg", "novelty", "exposure_share[tail]"]',
        )
        + GROUPS
    )
    run_dir = run(recipe, tmp_path / "r")
    result = runner.invoke(
        app, ["compare", str(run_dir), "--metric", "exposure_share[tail]@5"], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.output
    assert "exposure_share[tail]@5" in result.stdout
    assert "exposure_share@5" not in result.stdout  # rich read [tail] as markup before
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    assert "…" not in result.stdout


def test_users_left_out_are_reported_for_the_compared_metrics_only_with_the_reason(
    tmp_path, recipe
):
    recipe.write_text(
        recipe.read_text().replace(
            "candidates = 20", 'candidates = 20\nmetrics = ["ndcg", "novelty"]'
        )
    )
    run_dir = run(recipe, tmp_path / "r")
    per_user = pl.read_parquet(run_dir / "per_user.parquet")
    users = per_user["user"].unique().sort()[:3].to_list()
    # What an empty list leaves for novelty: no row for those users in one model.
    undefined = (
        (pl.col("model") == "ease")
        & (pl.col("metric") == "novelty")
        & (pl.col("user").is_in(users))
    )
    per_user.filter(~undefined).write_parquet(run_dir / "per_user.parquet")
    accuracy = runner.invoke(app, ["compare", str(run_dir), "--metric", "ndcg@10"])
    assert accuracy.exit_code == 0, accuracy.output
    assert "left out" not in accuracy.stderr
    novelty = runner.invoke(app, ["compare", str(run_dir), "--metric", "novelty@10", "--json"])
    assert novelty.exit_code == 0, novelty.output
    assert (
        "novelty@10: 3 users left out of the paired tests, having no value in ease (3) "
        "(novelty is undefined when the list is empty)" in " ".join(novelty.stderr.split())
    )
    assert {row["n_users"] for row in json.loads(novelty.stdout)["rows"]} == {
        per_user["user"].n_unique() - 3
    }


def test_re_evaluations_are_comparable(tmp_path, recipe):
    run_dir = run(recipe, tmp_path / "r")
    assert runner.invoke(app, ["eval", str(run_dir), "--cutoffs", "3", "-q"]).exit_code == 0
    (evaluation,) = (run_dir / "evals").iterdir()
    direct = runner.invoke(app, ["compare", str(evaluation), "--json"])
    assert direct.exit_code == 0, direct.output
    assert json.loads(direct.stdout)["metrics"][0] == "ndcg@3"
    looked_up = runner.invoke(app, ["compare", str(run_dir), "--metric", "ndcg@3,ndcg@5", "--json"])
    assert looked_up.exit_code == 0, looked_up.output
    assert f"ndcg@3: from {evaluation}" in " ".join(looked_up.stderr.split())
    rows = {(r["model"], r["metric"]): r for r in json.loads(looked_up.stdout)["rows"]}
    for row in json.loads(direct.stdout)["rows"]:
        if row["metric"] == "ndcg@3":
            assert rows[(row["model"], "ndcg@3")]["t_pvalue"] == row["t_pvalue"]
    assert ("ease", "ndcg@5") in rows  # from the run itself
    missing = runner.invoke(app, ["compare", str(run_dir), "--metric", "ndcg@4"])
    assert missing.exit_code == 2
    message = " ".join(missing.stderr.split())
    assert f"evals/{evaluation.name}: ndcg@3" in message
    assert f"rank eval {run_dir} --cutoffs 4 --metrics ndcg" in message
    assert len(missing.stderr.strip().splitlines()) == 1


def test_bca_intervals_keep_the_p_values_and_the_same_seed_gives_the_same_numbers(tmp_path, recipe):
    run_dir = run(recipe, tmp_path / "r")
    args = ["compare", str(run_dir), "--metric", "ndcg@10,recall@5", "--json"]
    plain = json.loads(runner.invoke(app, args).stdout)
    bca = runner.invoke(app, [*args, "--interval", "bca"])
    assert bca.exit_code == 0, bca.output
    payload = json.loads(bca.stdout)
    assert (plain["interval"], payload["interval"]) == ("percentile", "bca")
    for p_row, b_row in zip(plain["rows"], payload["rows"], strict=True):
        for key in ("t_pvalue", "wilcoxon_pvalue", "t_pvalue_adjusted", "effect_size", "diff"):
            assert p_row[key] == b_row[key]
        assert b_row["ci_low"] is None or b_row["ci_low"] <= b_row["ci_high"]
    assert json.loads(runner.invoke(app, [*args, "--interval", "bca"]).stdout) == payload
    other_seed = json.loads(runner.invoke(app, [*args, "--seed", "1"]).stdout)
    assert [r["ci_low"] for r in other_seed["rows"]] != [r["ci_low"] for r in plain["rows"]]
    markdown = runner.invoke(app, [*args[:-1], "--interval", "bca", "--format", "markdown"])
    assert "CI: 95% BCa paired bootstrap of the difference" in " ".join(markdown.stdout.split())
    wrong = runner.invoke(app, [*args, "--interval", "basic"])
    assert wrong.exit_code == 2
    assert wrong.stderr.strip() == "error: --interval: 'basic' is not one of percentile, bca"
