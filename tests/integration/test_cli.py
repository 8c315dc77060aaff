"""The `rank` CLI end to end: run / train / eval / recipes, errors, atomic run directories."""

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli import __version__
from recsys_cli.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir()) if root.exists() else []


def test_run_writes_a_complete_run_directory(tmp_path, recipe):
    results = tmp_path / "results"
    result = invoke("run", recipe, "--results-dir", results, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    run_dir = Path(payload["run_dir"])
    assert run_dirs(results) == [run_dir]
    for name in (
        "recipe.toml",
        "manifest.json",
        "metrics.json",
        "per_user.parquet",
        "recommendations.parquet",
        "candidates.parquet",
        "test.parquet",
    ):
        assert (run_dir / name).is_file(), name
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["dataset"]["checksum"].startswith("sha256:")
    assert manifest["split"]["fingerprint"].startswith("sha256:")
    assert {"numpy", "polars", "implicit"} <= set(manifest["versions"])
    assert set(payload["models"]) == {"popularity", "ease", "item_knn", "implicit_als"}
    per_user = pl.read_parquet(run_dir / "per_user.parquet")
    assert per_user.columns == ["model", "user", "metric", "cutoff", "value"]
    recs = pl.read_parquet(run_dir / "recommendations.parquet")
    assert recs.columns == ["model", "user", "rank", "item", "score"]
    assert recs["item"].str.starts_with("i").all()  # original ids, not indices
    # mean in metrics.json equals the mean of the stored per-user values
    ndcg = per_user.filter(
        (pl.col("model") == "ease") & (pl.col("metric") == "ndcg") & (pl.col("cutoff") == 10)
    )["value"].mean()
    assert payload["models"]["ease"]["ndcg@10"]["mean"] == pytest.approx(ndcg)


def test_same_recipe_and_seed_give_identical_metrics(tmp_path, recipe):
    for _ in range(2):
        assert invoke("run", recipe, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    first, second = run_dirs(tmp_path / "r")
    assert first != second
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()


def test_train_then_eval_matches_run_and_reevaluation_never_overwrites(tmp_path, recipe):
    assert invoke("run", recipe, "--results-dir", tmp_path / "a", "-q").exit_code == 0
    assert invoke("train", recipe, "--results-dir", tmp_path / "b", "-q").exit_code == 0
    (ran,), (trained,) = run_dirs(tmp_path / "a"), run_dirs(tmp_path / "b")
    assert not (trained / "metrics.json").exists()
    assert invoke("eval", trained, "-q").exit_code == 0
    assert (trained / "metrics.json").read_bytes() == (ran / "metrics.json").read_bytes()
    result = invoke("eval", trained, "--cutoffs", "1,3", "--metrics", "recall", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["models"]["ease"]) == {"recall@1", "recall@3"}
    assert len(list((trained / "evals").iterdir())) == 1
    assert (trained / "metrics.json").read_bytes() == (ran / "metrics.json").read_bytes()


def test_set_overrides_a_recipe_value(tmp_path, recipe):
    result = invoke(
        "run",
        recipe,
        "--results-dir",
        tmp_path,
        "--json",
        "--set",
        "eval.cutoffs=[3]",
        "--set",
        "models[1].label=EASE",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cutoffs"] == [3] and "EASE" in payload["models"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["--set", "models[1].params.lambda=3"],
            "models[1].params.lambda: unknown key; expected one of 'l2'",
        ),
        (
            ["--set", "split.kind=temporl"],
            "split.kind: 'temporl' is not valid; did you mean 'temporal'",
        ),
        (["--set", "dataset.columns.user=nope"], "column 'nope' (dataset.columns.user) not found"),
        (["--set", "eval.cutoffs=[50]"], "candidates (20) must be >= the largest cutoff (50)"),
    ],
)
def test_bad_input_gives_one_line_and_exit_code_2(tmp_path, recipe, args, fragment):
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert run_dirs(tmp_path / "r") == []


def test_missing_recipe_and_bad_run_dir(tmp_path):
    result = invoke("run", tmp_path / "nope.toml")
    assert result.exit_code == 2 and "recipe file not found" in result.stderr
    result = invoke("eval", tmp_path)
    assert result.exit_code == 2 and "not a complete run directory" in result.stderr


def test_crash_mid_run_leaves_nothing_that_looks_complete(tmp_path, recipe, monkeypatch):
    from recsys_cli.models.ease import EASE

    def explode(self, train):
        raise RuntimeError("boom")

    monkeypatch.setattr(EASE, "_fit", explode)
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", "-q")
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert run_dirs(tmp_path / "r") == []


def test_recipes_lists_bundled_recipes_and_version():
    result = invoke("recipes", "--json")
    assert result.exit_code == 0
    listed = {entry["recipe"]: entry["description"] for entry in json.loads(result.stdout)}
    assert {"quickstart", "scale/ml20m-synthetic", "bench/ml100k-quick"} <= set(listed)
    assert all(listed.values())


@pytest.mark.recbole
def test_a_bundled_recipe_runs_by_name_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    only_popularity = 'models=[{ name = "popularity" }]'
    results = tmp_path / "r"
    result = invoke(
        "run", "quickstart", "--set", only_popularity, "--results-dir", results, "--json"
    )
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    assert run_dirs(results) == [run_dir] and "-quickstart-" in run_dir.name
    assert invoke("--version").stdout.strip() == f"rank (recsys-cli) {__version__}"


@pytest.mark.recbole
def test_quickstart_personalised_models_beat_popularity(tmp_path):
    result = invoke(
        "run", ROOT / "recipes" / "quickstart.toml", "--results-dir", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert list(models) == ["popularity", "ItemKNN", "EASE", "RP3beta", "ALS", "BPR"]
    popularity = models["popularity"]["ndcg@10"]["mean"]
    for name in ["ItemKNN", "EASE", "RP3beta", "ALS", "BPR"]:
        assert models[name]["ndcg@10"]["mean"] > popularity, name
    assert models["EASE"]["ndcg@10"]["users"] >= 300  # a table that is not noise


SHARED_LASTFM = ROOT.parent / "shared" / "datasets" / "hetrec2011-lastfm-2k"


@pytest.mark.realdata
@pytest.mark.skipif(not SHARED_LASTFM.is_dir(), reason=f"{SHARED_LASTFM} not present")
def test_lastfm_recipe_runs_offline_after_import(tmp_path):
    data_dir = tmp_path / "data"
    imported = invoke("datasets", "import", "lastfm-2k", SHARED_LASTFM, "--data-dir", data_dir)
    assert imported.exit_code == 0, imported.output
    result = invoke(
        "run",
        ROOT / "recipes" / "lastfm-2k.toml",
        "--data-dir",
        data_dir,
        "--results-dir",
        tmp_path / "r",
        "--json",
    )
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert list(models) == ["popularity", "ItemKNN", "EASE", "RP3beta", "ALS", "BPR"]
    for name in ["ItemKNN", "EASE", "RP3beta", "ALS", "BPR"]:
        assert models[name]["ndcg@10"]["mean"] > models["popularity"]["ndcg@10"]["mean"]


def test_eval_slices_regroup_per_user_values_and_restrict_truth(tmp_path, recipe):
    assert invoke("run", recipe, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    (run_dir,) = run_dirs(tmp_path / "r")
    result = invoke("eval", run_dir, "--slice", "user_activity", "--json")
    assert result.exit_code == 0, result.output
    slices = json.loads(result.stdout)
    per_user = pl.read_parquet(run_dir / "per_user.parquet")
    users = pl.read_parquet(run_dir / "users.parquet")
    total = sum(
        row["users"]
        for rows in slices.values()
        for row in rows
        if row["model"] == "ease" and row["metric"] == "ndcg" and row["cutoff"] == 10
    )
    assert total == users.height == per_user["user"].n_unique()
    bands = json.loads(invoke("eval", run_dir, "--slice", "item_popularity", "--json").stdout)
    assert set(bands) <= {"head items", "mid items", "tail items"} and bands
    assert not (run_dir / "evals").exists()  # slicing writes nothing
    bad = invoke("eval", run_dir, "--slice", "country")
    assert bad.exit_code == 2 and "not one of user_activity, item_popularity" in bad.stderr


def test_block_size_changes_memory_not_results(tmp_path, recipe):
    assert invoke("run", recipe, "--results-dir", tmp_path / "a", "-q").exit_code == 0
    result = invoke(
        "run", recipe, "--results-dir", tmp_path / "b", "-q", "--set", "eval.block_size=7"
    )
    assert result.exit_code == 0, result.output
    (a,), (b,) = run_dirs(tmp_path / "a"), run_dirs(tmp_path / "b")
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()


def test_catalogue_level_metrics_alone_and_a_model_without_lists(tmp_path, recipe, monkeypatch):
    import numpy as np

    from recsys_cli.models.ease import EASE

    monkeypatch.setattr(
        EASE,
        "_scores",
        lambda self, users, history: np.full((len(users), self.n_items_), np.nan, dtype=np.float32),
    )  # recommends nothing
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert models["ease"]["ndcg@10"]["mean"] == 0.0  # kept, and scored as the empty lists it gave
    (run_dir,) = run_dirs(tmp_path / "r")
    only = invoke("eval", run_dir, "--metrics", "coverage,gini", "--json")
    assert only.exit_code == 0, only.output
    values = json.loads(only.stdout)["models"]
    assert set(values["popularity"]) == {"coverage@5", "coverage@10", "gini@5", "gini@10"}
    assert values["ease"]["coverage@10"]["mean"] == 0.0
