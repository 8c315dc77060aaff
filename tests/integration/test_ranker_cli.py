"""The two-stage ranker end to end: rank run / compare / sweep, leakage, seeds, bad input."""

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.pipeline import fit
from recsys_cli.ranking import stage

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
SHARED_LASTFM = ROOT.parent / "shared" / "datasets" / "hetrec2011-lastfm-2k"

RECIPE = """
name = "ranker-local"
seed = 5
[dataset]
name = "plays"
path = "{path}"
items_path = "{items}"
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
[groups]
tail = {{ popularity_below = 0.5 }}
[ranker]
generators = ["popularity", "ease", "item_knn"]
features = ["score", "rank", "retrieved_by", "popularity", "popularity_trend", "item_age",
            "release_age", "user_activity", "genre_affinity", "artist_affinity", "artist_new",
            "group:tail"]
validation = 0.25
params = {{ iterations = 20, min_data_in_leaf = 5 }}
{extra}
[eval]
cutoffs = [5, 10]
candidates = 20
metrics = ["ndcg", "recall", "exposure_share[tail]", "discovery"]
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def write_recipe(tmp_path, interactions_csv, items_csv):
    def write(extra: str = "", name: str = "ranker.toml") -> Path:
        path = tmp_path / name
        path.write_text(RECIPE.format(path=interactions_csv, items=items_csv, extra=extra))
        return path

    return write


def run_json(recipe: Path, results: Path, *more) -> tuple[dict, Path]:
    result = invoke("run", recipe, "--results-dir", results, "--json", *more)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    return payload, Path(payload["run_dir"])


def test_the_ranker_is_one_more_row_with_its_tables_timeline_and_importances(
    tmp_path, write_recipe
):
    result = invoke("run", write_recipe(), "--results-dir", tmp_path / "r", "--baseline", "LTR")
    assert result.exit_code == 0, result.output
    assert "LTR timeline: generators fitted on" in result.output
    assert "LTR feature importance (gain share):" in result.output
    (run_dir,) = (tmp_path / "r").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["lists"] == ["popularity", "ease", "item_knn", "LTR"]
    assert "LTR" in json.loads((run_dir / "metrics.json").read_text())["models"]
    windows = manifest["ranker"]["timeline"]
    assert windows["generators"]["to"] < windows["labels"]["from"] <= windows["labels"]["to"]
    assert windows["labels"]["to"] < windows["test"]["from"]
    assert windows["refit"]["interactions"] == (
        windows["generators"]["interactions"] + windows["labels"]["interactions"]
    )
    importance = manifest["ranker"]["importance_gain"]
    assert len(importance) == len(manifest["ranker"]["features"]) == 3 * 2 + 10
    assert [e["gain"] for e in importance] == sorted((e["gain"] for e in importance), reverse=True)
    train = pl.read_parquet(run_dir / "ranker" / "train.parquet")
    test = pl.read_parquet(run_dir / "ranker" / "test.parquet")
    assert {"user", "item", "gain", "score:ease", "rank:item_knn", "group:tail"} <= set(
        train.columns
    )
    assert "score" in test.columns and test.height == manifest["ranker"]["test"]["rows"]
    assert (run_dir / "ranker" / "booster.txt").read_text().startswith("tree")
    # the ranker's lists are the top of each user's pool, by the stored scores
    recs = pl.read_parquet(run_dir / "recommendations.parquet").filter(pl.col("model") == "LTR")
    best = test.sort("score", "item", descending=[True, False]).group_by("user").first()
    first = recs.filter(pl.col("rank") == 1).join(best, on="user")
    assert first.height == best.height and (first["item"] == first["item_right"]).all()


def test_the_same_recipe_and_seed_give_identical_lists(tmp_path, write_recipe):
    recipe = write_recipe()
    _, first = run_json(recipe, tmp_path / "a")
    _, second = run_json(recipe, tmp_path / "b")
    for name in ("recommendations.parquet", "candidates.parquet", "ranker/test.parquet"):
        assert pl.read_parquet(first / name).equals(pl.read_parquet(second / name)), name
    assert (first / "ranker/booster.txt").read_text() == (second / "ranker/booster.txt").read_text()
    assert (first / "metrics.json").read_bytes() == (second / "metrics.json").read_bytes()


def test_a_feature_fed_from_its_own_label_window_is_refused(tmp_path, write_recipe, monkeypatch):
    carve = stage.labels_data

    def leaky(recipe, data):
        """Window 1 widened to the whole training part: features would see the labels."""
        window = carve(recipe, data)
        return dataclasses.replace(
            window, split=dataclasses.replace(window.split, fit=data.split.fit)
        )

    monkeypatch.setattr(stage, "labels_data", leaky)
    result = invoke("run", write_recipe(), "--results-dir", tmp_path / "r", "-q")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "the label window starts at" in lines[0]
    assert "refused: features must come from interactions strictly before" in lines[0]


@pytest.mark.parametrize(
    ("extra", "drop_artist", "message"),
    [
        (
            "",
            True,
            "ranker.features[9] (artist_affinity) needs the item column 'artist', which this "
            "dataset does not have",
        ),
        ('label = "ease"', False, "ranker.label: 'ease' is already a model's label"),
        (
            "labels = { weights = { discovry = 1.0 } }",
            False,
            "ranker.labels.weights.discovry: "
            "unknown label term 'discovry'; did you mean 'discovery'?",
        ),
    ],
)
def test_bad_ranker_input_is_one_line_and_exit_2_before_training(
    tmp_path, write_recipe, items_csv, monkeypatch, extra, drop_artist, message
):
    fits = []
    monkeypatch.setattr(fit, "create_model", lambda *a: fits.append(a))
    if drop_artist:
        pl.read_csv(items_csv).drop("artist").write_csv(items_csv)
    recipe = write_recipe(extra)
    metrics = 'eval.metrics=["ndcg"]'  # the discovery metric would need artists first
    result = invoke("run", recipe, "--set", metrics, "--results-dir", tmp_path / "r", "-q")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert fits == []


def test_unknown_generator_is_named_with_the_nearest_label(tmp_path, write_recipe):
    result = invoke(
        "run",
        write_recipe(),
        "--set",
        'ranker.generators=["ease", "itemknn"]',
        "--results-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 2
    assert result.output.strip().endswith(
        "ranker.generators[1]: no model labelled 'itemknn'; did you mean 'item_knn'?"
    )


def test_a_label_weight_sweep_trades_accuracy_for_tail_exposure(tmp_path, write_recipe):
    result = invoke(
        "sweep",
        write_recipe(),
        "--grid",
        "ranker.labels.weights.group:tail=0,2",
        "--rows",
        "LTR",
        "--pareto",
        "ndcg@10,exposure_share[tail]@10",
        "--results-dir",
        tmp_path / "s",
        "--json",
    )
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)["entries"]
    by_weight = {e["grid"]["ranker.labels.weights.group:tail"]: e["metrics"] for e in entries}
    plain, weighted = by_weight[0], by_weight[2]
    assert weighted["exposure_share[tail]@10"] > plain["exposure_share[tail]@10"]
    assert weighted["ndcg@10"] < plain["ndcg@10"]


def test_compare_tests_the_ranker_against_a_generator_and_variants_rerank_it(
    tmp_path, write_recipe
):
    extra = (
        '[[variants]]\nname = "mmr"\nmodels = ["LTR"]\nchain = [{ reranker = "mmr", lambda = 0.5 }]'
    )
    _, run_dir = run_json(write_recipe(), tmp_path / "r")
    compared = invoke(
        "compare", run_dir, "--baseline", "ease", "--metric", "ndcg@10", "--format", "json"
    )
    assert compared.exit_code == 0, compared.output
    rows = {row["model"]: row for row in json.loads(compared.stdout)["rows"]}
    assert 0.0 <= rows["LTR"]["t_pvalue"] <= 1.0
    variants = write_recipe(extra, "variant.toml")
    payload, variant_run = run_json(variants, tmp_path / "v")
    assert list(payload["models"])[-2:] == ["LTR", "LTR+mmr"]

    # `rank rerank` of the stored ranker's candidates: the same lists, and the ranker it came
    # from (its files and manifest section) travels with the new run.
    result = invoke("rerank", run_dir, variants, "--results-dir", tmp_path / "rr", "--json")
    assert result.exit_code == 0, result.output
    reranked = Path(json.loads(result.stdout)["run_dir"])

    def lists(run: Path) -> pl.DataFrame:
        frame = pl.read_parquet(run / "recommendations.parquet")
        return frame.filter(pl.col("model") == "LTR+mmr")

    assert lists(reranked).equals(lists(variant_run))
    source = sorted(p.name for p in (run_dir / stage.RANKER_DIR).iterdir())
    assert sorted(p.name for p in (reranked / stage.RANKER_DIR).iterdir()) == source
    manifest = json.loads((reranked / "manifest.json").read_text())
    assert manifest["ranker"] == json.loads((run_dir / "manifest.json").read_text())["ranker"]


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not SHARED_LASTFM.is_dir(), reason=f"{SHARED_LASTFM} not present")
def test_lastfm_ranker_recipe_beats_popularity_after_import(tmp_path):
    data_dir = tmp_path / "data"
    imported = invoke("datasets", "import", "lastfm-2k", SHARED_LASTFM, "--data-dir", data_dir)
    assert imported.exit_code == 0, imported.output
    payload, run_dir = run_json(
        ROOT / "recipes" / "ranker-lastfm-2k.toml",
        tmp_path / "r",
        "--data-dir",
        data_dir,
        "--set",
        "ranker.params.iterations=30",
    )
    models = payload["models"]
    assert list(models) == ["popularity", "ItemKNN", "EASE", "ALS", "LTR"]
    assert models["LTR"]["ndcg@10"]["mean"] > models["ItemKNN"]["ndcg@10"]["mean"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["ranker"]["training"]["users_trained"] > 1000


def test_tuning_trials_evaluate_the_ranker_row_too(tmp_path, write_recipe):
    from recsys_cli.config.loader import load_recipe
    from recsys_cli.tuning.trials import TrialRunner

    recipe = load_recipe(write_recipe(), ["split.validation=0.1", "split.evaluate_on='validation'"])
    (tmp_path / "trial").mkdir()
    evaluation = TrialRunner.prepare(recipe).evaluate(recipe, tmp_path / "trial")
    assert "LTR" in evaluation.to_json()["models"]
