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


def test_runs_with_the_same_split_are_compared_across_runs(tmp_path, recipe):
    first = run(recipe, tmp_path / "a")
    second = run(recipe, tmp_path / "b", "models[1].params.l2=100.0")
    result = runner.invoke(
        app,
        [
            "compare",
            str(first),
            str(second),
            "--metric",
            "ndcg@5",
            "--baseline",
            f"{first.name}/ease",
            "--format",
            "markdown",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{second.name}/ease" in result.stdout


def test_undefined_beyond_accuracy_values_pair_on_shared_users_only():
    from recsys_cli.cli.compare import _defined_for_all

    rows = [("a", u, "ild", 10, 0.5) for u in ("u1", "u2", "u3")]
    rows += [("b", u, "ild", 10, 0.7) for u in ("u1", "u3")]  # u2's list was too short
    rows += [(m, u, "ndcg", 10, 0.1) for m in "ab" for u in ("u1", "u2", "u3")]
    per_user = pl.DataFrame(
        rows, schema=["model", "user", "metric", "cutoff", "value"], orient="row"
    )
    kept, dropped = _defined_for_all(per_user)
    assert dropped == {"ild@10": 1}
    assert kept.filter(pl.col("metric") == "ild")["user"].unique().sort().to_list() == ["u1", "u3"]
    assert kept.filter(pl.col("metric") == "ndcg").height == 6  # accuracy untouched
