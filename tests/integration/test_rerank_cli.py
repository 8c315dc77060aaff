"""Reranking end to end: variants in `rank run`, beyond-accuracy metrics, `rank eval`, `rank sweep`."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.evaluation.pareto import (
    best_feasible,
    hypervolume,
    pareto_mask,
    parse_constraint,
)
from recsys_cli.pipeline import fit

runner = CliRunner()

RECIPE = """
name = "rerank-local"
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
[groups]
tail = {{ popularity_below = 0.5 }}
emerging = {{ popularity_below = 0.5, by = "artist" }}
new = {{ column = "year", at_least = 2015 }}
[[variants]]
name = "mmr"
models = ["ease"]
chain = [{{ reranker = "mmr", lambda = 0.5, similarity = "genres" }}]
[[variants]]
name = "fair"
chain = [{{ reranker = "fair_exposure", group = "tail", p = 0.9 }}]
[[variants]]
name = "radio"
models = ["ease"]
length = 15
chain = [
  {{ reranker = "blend", weights = {{ relevance = 1.0, "group:emerging" = 0.5 }} }},
  {{ reranker = "provider_cap", column = "artist", max_per = 2 }},
]
[eval]
cutoffs = [5, 10]
candidates = 20
metrics = ["ndcg", "recall", "ild", "coverage", "gini", "novelty", "arp", "aplt",
           "popularity_lift", "miscalibration", "serendipity", "discovery", "provider_gini",
           "fair_marketplace", "exposure_share[tail]", "exposure_share[new]"]
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def recipe(tmp_path, interactions_csv, items_csv):
    path = tmp_path / "rerank.toml"
    path.write_text(RECIPE.format(path=interactions_csv, items=items_csv))
    return path


def test_run_evaluates_variants_side_by_side_and_eval_reproduces(tmp_path, recipe):
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    run_dir = Path(payload["run_dir"])
    rows = list(payload["models"])
    assert rows == ["popularity", "popularity+fair", "ease", "ease+mmr", "ease+fair", "ease+radio"]
    ease, mmr = payload["models"]["ease"], payload["models"]["ease+mmr"]
    assert {"ild@10", "coverage@5", "exposure_share[tail]@10", "fair_marketplace@5"} <= set(ease)
    assert ease["coverage@10"]["stderr"] is None and ease["gini@10"]["stderr"] is None
    # MMR over genres diversifies the head of the list (5 genre profiles in the fixture)
    assert mmr["ild@5"]["mean"] > ease["ild@5"]["mean"]
    fair, plain = payload["models"]["ease+fair"], ease
    assert fair["exposure_share[tail]@10"]["mean"] > plain["exposure_share[tail]@10"]["mean"]
    recs = pl.read_parquet(run_dir / "recommendations.parquet")
    lengths = recs.group_by("model", "user").len().group_by("model").agg(pl.col("len").max())
    # length 15, but 7 artists x max_per 2 = 14 items fit: the cap truncates, never violates
    assert dict(lengths.iter_rows())["ease+radio"] == 14
    assert dict(lengths.iter_rows())["ease+mmr"] == 10
    radio = recs.filter(pl.col("model") == "ease+radio").with_columns(
        artist=pl.col("item").str.slice(1).cast(pl.Int64) % 7
    )
    assert radio.group_by("user", "artist").len()["len"].max() <= 2  # provider cap holds
    per_user = pl.read_parquet(run_dir / "per_user.parquet")
    assert not {"coverage", "gini", "provider_gini"} & set(per_user["metric"].unique())
    novelty = per_user.filter(
        (pl.col("model") == "ease+mmr") & (pl.col("metric") == "novelty") & (pl.col("cutoff") == 5)
    )["value"].mean()
    assert mmr["novelty@5"]["mean"] == pytest.approx(novelty)

    table = invoke("eval", run_dir, "--metrics", "ndcg,ild,coverage,exposure_share[tail]")
    assert table.exit_code == 0, table.output
    for text in ("accuracy", "beyond-accuracy", "business", "exposure_share[tail]@10", "ease+"):
        assert text in table.stdout
    assert table.stdout.index("ndcg@5") < table.stdout.index("ild@5") < table.stdout.index("busi")

    # a fresh process has no context from training: eval re-prepares the data from recipe.toml
    (run_dir / "metrics.json").rename(run_dir / "first.json")
    (run_dir / "per_user.parquet").unlink()  # an existing table is never replaced
    again = invoke("eval", run_dir, "-q")
    assert again.exit_code == 0, again.output
    assert (run_dir / "metrics.json").read_bytes() == (run_dir / "first.json").read_bytes()


def test_eval_reads_the_stored_side_data_not_the_changed_data_and_run_refuses_missing_columns(
    tmp_path, recipe, interactions_csv, items_csv, monkeypatch
):
    result = invoke("train", recipe, "--results-dir", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    first = invoke("eval", run_dir, "-q")
    assert first.exit_code == 0, first.output
    # The run evaluates from what it stored (side/): editing or removing the data changes nothing.
    interactions_csv.write_text(interactions_csv.read_text() + "u0,i39,1,1.0\n")
    kept = items_csv.read_text()
    items_csv.unlink()
    again = invoke("eval", run_dir, "-q")
    assert again.exit_code == 0, again.output
    [evaluation] = (run_dir / "evals").iterdir()
    assert (evaluation / "metrics.json").read_bytes() == (run_dir / "metrics.json").read_bytes()
    items_csv.write_text(kept)

    fits = []
    monkeypatch.setattr(fit, "create_model", lambda *a: fits.append(a))
    pl.read_csv(items_csv).drop("artist").write_csv(items_csv)
    missing = invoke("run", recipe, "--results-dir", tmp_path / "r2")
    assert missing.exit_code == 2
    assert "needs the item column 'artist'" in missing.output
    assert fits == []  # failed before any training


def count_fits(monkeypatch) -> list:
    fitted = []
    real = fit.create_model

    def counting(name, params, seed):
        fitted.append(name)
        return real(name, params, seed)

    monkeypatch.setattr(fit, "create_model", counting)
    return fitted


def test_sweep_trains_once_and_marks_the_front(tmp_path, recipe, monkeypatch):
    fitted = count_fits(monkeypatch)
    result = invoke(
        "sweep",
        recipe,
        "--grid",
        "variants[0].chain[0].lambda=0:1:3",
        "--pareto",
        "ndcg@10,ild@10",
        "--maximize",
        "ndcg@10",
        "--constraint",
        "ild@10>=0.0",
        "--results-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.output
    assert sorted(fitted) == ["ease", "popularity"]  # once per sweep, not per point
    (sweep_dir,) = (tmp_path / "r").iterdir()
    runs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(runs) == 3 and all((r / "metrics.json").is_file() for r in runs)
    assert (sweep_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    analysis = json.loads((sweep_dir / "sweep.json").read_text())
    assert analysis["grid"] == {"variants[0].chain[0].lambda": [0.0, 0.5, 1.0]}
    assert analysis["rows"] == ["ease+mmr"]
    entries = analysis["entries"]
    values = np.array([[e["metrics"]["ndcg@10"], e["metrics"]["ild@10"]] for e in entries])
    assert [e["pareto"] for e in entries] == pareto_mask(values, [True, True]).tolist()
    assert any(e["pareto"] for e in entries)
    # lambda = 1 is the plain EASE list, which only the first run holds (the grid leaves it be)
    first, last = (json.loads((r / "metrics.json").read_text())["models"] for r in runs[::2])
    assert last["ease+mmr"]["ndcg@10"] == first["ease"]["ndcg@10"]
    assert list(last) == ["ease+mmr"]
    best = max(entries, key=lambda e: e["metrics"]["ndcg@10"])
    assert analysis["best"]["point"] == best["point"]
    assert "hypervolume" in result.stdout and "best (max ndcg@10" in result.stdout


def test_a_product_grid_runs_each_distinct_point_once_and_draws_a_figure(tmp_path, recipe):
    from collections import Counter

    from matplotlib.image import imread

    lam, p = "variants[0].chain[0].lambda", "variants[1].chain[0].p"
    result = invoke(
        "sweep",
        recipe,
        "--grid",
        f"{lam}=0:1:3",
        "--grid",
        f"{p}=0.5,0.9",
        "--pareto",
        "ndcg@10,ild@10",
        "--maximize",
        "ndcg@10",
        "--constraint",
        "ild@10>=0",
        "--results-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.output
    (sweep_dir,) = (tmp_path / "r").iterdir()
    runs = sorted(d for d in sweep_dir.iterdir() if d.is_dir() and d.name != "models")
    # 3 x 2 combinations of 6 rows; only mmr (3 lambdas) and fair (2 p's, 2 models) change
    assert len(runs) == 4
    stored = Counter(
        row for run in runs for row in json.loads((run / "manifest.json").read_text())["lists"]
    )
    assert stored == {
        "popularity": 1,
        "ease": 1,
        "ease+mmr": 3,
        "popularity+fair": 2,
        "ease+fair": 2,
        "ease+radio": 1,
    }
    analysis = json.loads((sweep_dir / "sweep.json").read_text())
    assert (analysis["combinations"], analysis["runs"]) == (6, 4)
    entries = analysis["entries"]
    assert sorted((e["row"], tuple(e["grid"].items())) for e in entries) == sorted(
        [("ease+mmr", ((lam, v),)) for v in (0.0, 0.5, 1.0)]
        + [(row, ((p, v),)) for row in ("ease+fair", "popularity+fair") for v in (0.5, 0.9)]
    )
    # a deduplicated entry has the values of the full run of its combination
    alone = invoke("run", recipe, "--set", f"{p}=0.9", "--results-dir", tmp_path / "one", "--json")
    expected = json.loads(alone.stdout)["models"]["ease+fair"]
    (fair,) = [e for e in entries if e["row"] == "ease+fair" and e["grid"] == {p: 0.9}]
    for metric in ("ndcg@10", "ild@10"):
        assert fair["metrics"][metric] == expected[metric]["mean"]
        assert fair["stderr"][metric] == expected[metric]["stderr"]
    # the figure, at print resolution and as vector files with text kept as text
    assert analysis["figures"] == ["sweep.png", "sweep.svg", "sweep.pdf"]
    assert imread(sweep_dir / "sweep.png").shape[:2] == (1680, 2550)  # 8.5 x 5.6 in at 300 dpi
    assert (sweep_dir / "sweep.pdf").read_bytes()[:5] == b"%PDF-"
    svg = (sweep_dir / "sweep.svg").read_text()
    for text in ("lambda=0.5", "p=0.9", "reference point: ndcg@10=", "hypervolume", "chosen"):
        assert text in svg, text
    assert svg.count('id="axes_') == 1
    out = result.stdout
    assert "…" not in out  # no value cut at 80 columns: the table splits into blocks
    assert "reference point ndcg@10=" in out  # under the table
    assert "ild@10 (higher is better)" in out and "ndcg@10 (higher is better)" in out
    assert "legend: A/a ease+mmr; B/b popularity+fair; C/c ease+fair" in out
    assert "6 grid combinations, 7 distinct entries in 4 runs" in result.stderr


def test_three_front_metrics_draw_a_scatter_matrix(tmp_path, recipe):
    result = invoke(
        "sweep",
        recipe,
        "--grid",
        "variants[0].chain[0].lambda=0:1:3",
        "--pareto",
        "ndcg@10,ild@10,novelty@10",
        "--results-dir",
        tmp_path / "r",
        "--json",
    )
    assert result.exit_code == 0, result.output
    svg = (Path(json.loads(result.stdout)["sweep_dir"]) / "sweep.svg").read_text()
    assert svg.count('id="axes_') == 4  # three pairs of metrics and the legend's corner
    assert svg.count("novelty@10 (higher is better)") == 2  # the y axis of the bottom row
    assert svg.count("ild@10 (higher is better)") == 2  # y of one panel, x of another


def test_sweep_says_when_no_point_is_feasible_and_refuses_model_keys(tmp_path, recipe):
    result = invoke(
        "sweep",
        recipe,
        "--grid",
        "groups.tail.popularity_below=0.3,0.6",
        "--maximize",
        "ndcg@5",
        "--constraint",
        "exposure_share[tail]@5>=2",
        "--results-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.output
    assert "no feasible point" in result.stdout
    (sweep_dir,) = (tmp_path / "r").iterdir()
    assert json.loads((sweep_dir / "sweep.json").read_text())["best"] is None
    refused = invoke(
        "sweep", recipe, "--grid", "models[1].params.l2=1,2", "--results-dir", tmp_path
    )
    assert refused.exit_code == 2 and "retraining" in refused.output


def test_pareto_and_hypervolume_on_a_hand_computed_case():
    # maximise both: (1,3), (2,2), (3,1) are the front; (1,1) and (2,1.5) are dominated
    points = np.array([[1, 3], [2, 2], [3, 1], [1, 1], [2, 1.5]], dtype=float)
    assert pareto_mask(points, [True, True]).tolist() == [True, True, True, False, False]
    # staircase area against (0, 0): 1*3 + 1*2 + 1*1 = 6
    assert hypervolume(points, [True, True], np.array([0.0, 0.0])) == pytest.approx(6.0)
    # second metric lower-is-better: negate it; front = (3,1) alone dominates (1,1)? no: (3,1)
    # beats every point that has y >= 1, so only (3,1) is optimal; area vs ref (0, 4) = 3 * 3
    assert pareto_mask(points, [True, False]).tolist() == [False, False, True, False, False]
    assert hypervolume(points, [True, False], np.array([0.0, 4.0])) == pytest.approx(9.0)
    # 3-D: two boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] overlap in a unit cube: 2 + 2 - 1
    cube = np.array([[2, 1, 1], [1, 2, 1]], dtype=float)
    assert hypervolume(cube, [True] * 3, np.zeros(3)) == pytest.approx(3.0)
    constraint = parse_constraint("exposure_share[emerging]@10>=0.2")
    assert (constraint.metric, constraint.op, constraint.value) == (
        "exposure_share[emerging]@10",
        ">=",
        0.2,
    )
    feasible = constraint.holds(np.array([0.1, 0.3, 0.25]))
    assert best_feasible(np.array([0.9, 0.5, 0.6]), True, feasible) == 2
    assert best_feasible(np.array([0.9, 0.5, 0.6]), True, np.zeros(3, bool)) is None


def test_sweep_typos_fail_before_any_training(tmp_path, recipe, monkeypatch):
    fitted = count_fits(monkeypatch)
    for option, value in (("--pareto", "ndcg@10,ildd@10"), ("--rows", "ease+nope")):
        result = invoke(
            "sweep",
            recipe,
            "--grid",
            "variants[0].chain[0].lambda=0:1:3",
            option,
            value,
            "--results-dir",
            tmp_path / "r",
        )
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert fitted == [] and not (tmp_path / "r").exists()


def test_sweep_hypervolume_against_a_given_reference_point(tmp_path, recipe):
    result = invoke(
        "sweep",
        recipe,
        "--grid",
        "variants[0].chain[0].lambda=0:1:3",
        "--pareto",
        "ndcg@10,ild@10",
        "--reference",
        "ndcg@10=0,ild@10=0",
        "--results-dir",
        tmp_path / "r",
        "--json",
    )
    assert result.exit_code == 0, result.output
    analysis = json.loads(result.stdout)
    assert analysis["reference"] == {"ndcg@10": 0.0, "ild@10": 0.0}
    assert analysis["reference_rule"] == "given"
    table = np.array(
        [[e["metrics"]["ndcg@10"], e["metrics"]["ild@10"]] for e in analysis["entries"]]
    )
    assert analysis["hypervolume"] == pytest.approx(
        hypervolume(table, [True, True], np.array([0.0, 0.0]))
    )
    bad = invoke(
        "sweep",
        recipe,
        "--grid",
        "variants[0].chain[0].lambda=0:1:3",
        "--reference",
        "ndcg@10",
        "--results-dir",
        tmp_path / "r2",
    )
    assert bad.exit_code == 2 and "--reference" in bad.stderr


def test_ild_with_a_named_similarity(tmp_path, recipe, items_csv):
    plain = invoke("run", recipe, "--results-dir", tmp_path / "plain", "-q")
    assert plain.exit_code == 0, plain.output
    # ALS item factors are fitted (and stored) only where a variant or metric reads them
    refused = invoke("eval", plain.stdout.strip(), "--metrics", "ild[factors]")
    assert refused.exit_code == 2 and "did not fit" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    metrics = '--set=eval.metrics=["ndcg", "ild[factors]"]'
    assert invoke("run", recipe, metrics, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    (run_dir,) = sorted((tmp_path / "r").iterdir())
    result = invoke(
        "eval", run_dir, "--metrics", "ild[artist],ild[factors],ild", "--cutoffs", "5", "--json"
    )
    assert result.exit_code == 0, result.output
    stored = json.loads((run_dir / "metrics.json").read_text())["models"]["ease+radio"]
    assert (
        result.stdout
        and json.loads(result.stdout)["models"]["ease+radio"]["ild[factors]@5"]
        == stored["ild[factors]@5"]
    )
    values = json.loads(result.stdout)["models"]["ease+radio"]
    # ild[artist] by hand: share of pairs in each top-5 list whose artists differ.
    artist = dict(pl.read_csv(items_csv).select("track", "artist").iter_rows())
    recs = pl.read_parquet(run_dir / "recommendations.parquet").filter(
        (pl.col("model") == "ease+radio") & (pl.col("rank") <= 5)
    )
    evaluated = set(pl.read_parquet(run_dir / "users.parquet")["user"].to_list())
    per_user = []
    for (user,), lists in recs.group_by("user"):
        if user not in evaluated:
            continue
        names = [artist[i] for i in lists.sort("rank")["item"].to_list()]
        pairs = [(a, b) for n, a in enumerate(names) for b in names[n + 1 :]]
        if pairs:
            per_user.append(np.mean([a != b for a, b in pairs]))
    assert values["ild[artist]@5"]["mean"] == pytest.approx(np.mean(per_user))
    assert 0.0 <= values["ild[factors]@5"]["mean"] <= 2.0 and values["ild@5"]["mean"] <= 1.0
    bad = invoke("eval", run_dir, "--metrics", "ild[artsit]")
    assert bad.exit_code == 2 and "did you mean 'artist'" in bad.stderr


def test_discovery_quota_raises_the_discovery_rate(tmp_path, interactions_csv, items_csv):
    variant = (
        '[[variants]]\nname = "discover"\nmodels = ["ease"]\n'
        'chain = [{{ reranker = "quota", share = 0.8 }}]\n[eval]'
    )
    path = tmp_path / "discover.toml"
    path.write_text(
        RECIPE.replace("[eval]", variant).format(path=interactions_csv, items=items_csv)
    )
    result = invoke("run", path, "--results-dir", tmp_path / "r", "--json")
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    plain, quota = (
        models["ease"]["discovery@5"]["mean"],
        models["ease+discover"]["discovery@5"]["mean"],
    )
    assert quota > plain
    bad = invoke(
        "run",
        path,
        "--set",
        "variants[3].chain[0].group=discovey",
        "--results-dir",
        tmp_path / "r2",
    )
    assert bad.exit_code == 2 and "did you mean 'discovery'" in bad.stderr
