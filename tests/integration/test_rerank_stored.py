"""`rank rerank` applies variants to a stored run's candidates (no model fitted, no data read):
the same variants give the training run's lists and metrics, other variants what `rank run`
gives with them; `rank sweep --from-run` reruns only rerank keys; bad input is one line."""

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.data import synthetic

runner = CliRunner()

HEAD = """
name = "stored"
seed = 7
[dataset]
name = "rr"
[split]
kind = "temporal"
test = 0.2
[[models]]
name = "item_knn"
label = "knn"
params = { neighbors = 20 }
[[models]]
name = "implicit_als"
label = "als"
params = { factors = 8, iterations = 3 }
[eval]
cutoffs = [5, 10]
candidates = 30
metrics = ["ndcg", "recall", "ild", "coverage", "novelty", "aplt", "miscalibration",
           "provider_gini", "exposure_share[tail]"]
"""
GROUPS = """
[groups]
tail = { popularity_below = 0.5 }
emerging = { popularity_below = 0.5, by = "artist" }
"""
VARIANTS = """
[[variants]]
name = "mmr"
chain = [{ reranker = "mmr", lambda = 0.6, similarity = "genres" }]
[[variants]]
name = "radio"
models = ["als"]
length = 15
chain = [
  { reranker = "blend", weights = { relevance = 1.0, "group:emerging" = 0.5 } },
  { reranker = "provider_cap", column = "artist", max_per = 2 },
]
[[variants]]
name = "calibrated"
models = ["knn"]
chain = [{ reranker = "calibration", lambda = 0.4 }]
[[variants]]
name = "fair"
chain = [{ reranker = "fair_exposure", group = "tail", p = 0.8 }]
"""
OTHER = """
[groups]
old = { column = "year", at_most = 2005 }
[[variants]]
name = "xquad"
chain = [{ reranker = "xquad", lambda = 0.3 }]
[[variants]]
name = "old-first"
models = ["als"]
chain = [
  { reranker = "blend", weights = { relevance = 1.0, "group:old" = 0.7 } },
  { reranker = "spacing", column = "artist", gap = 2 },
]
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    spec = synthetic.SynthSpec(users=250, items=150, interactions=9_000, seed=11)
    synthetic.save(synthetic.generate(spec, "rr"), spec, synthetic.synthetic_dir(root, "rr"))
    return root


def rank(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def run(recipe: Path, data_dir: Path, results: Path) -> Path:
    ran = rank("run", recipe, "--data-dir", data_dir, "--results-dir", results, "-q")
    assert ran.exit_code == 0, ran.output
    return Path(ran.stdout.strip())


def rerank(*args) -> Path:
    done = rank("rerank", *args, "-q")
    assert done.exit_code == 0, done.output
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("trained")
    return run(write(folder, "stored.toml", HEAD + GROUPS + VARIANTS), data_dir, folder / "r")


def same_lists_and_metrics(one: Path, other: Path) -> None:
    assert_frame_equal(
        pl.read_parquet(one / "recommendations.parquet"),
        pl.read_parquet(other / "recommendations.parquet"),
        check_exact=True,
    )
    assert json.loads((one / "metrics.json").read_text()) == json.loads(
        (other / "metrics.json").read_text()
    )


def test_the_runs_own_variants_give_its_lists_and_metrics(tmp_path, trained):
    again = rerank(trained, "--results-dir", tmp_path)
    same_lists_and_metrics(trained, again)
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["reranked_from"]["run"] == str(trained.resolve())
    assert manifest["lists"] == json.loads((trained / "manifest.json").read_text())["lists"]
    # The new run is complete: rank eval reproduces its metrics from its own files.
    assert rank("eval", again, "-q").exit_code == 0
    [stored] = (again / "evals").iterdir()
    assert (stored / "metrics.json").read_bytes() == (again / "metrics.json").read_bytes()
    for args in (["compare", trained, again, "--json"], ["runs", "show", again],
                 ["report", again, "-o", tmp_path / "report.html"]):  # fmt: skip
        done = rank(*args)
        assert done.exit_code == 0, done.output


def test_other_variants_equal_a_run_of_the_recipe_with_them(tmp_path, trained, data_dir):
    variants = write(tmp_path, "other.toml", OTHER)
    reranked = rerank(trained, variants, "--results-dir", tmp_path / "a")
    fresh = run(write(tmp_path, "fresh.toml", HEAD + GROUPS + OTHER.replace("[groups]", "")),
                data_dir, tmp_path / "b")  # fmt: skip
    same_lists_and_metrics(reranked, fresh)
    # --set changes a variant of the file as it would a recipe's.
    lam = rerank(trained, variants, "--set", "variants[0].chain[0].lambda=0.9",
                 "--results-dir", tmp_path / "c")  # fmt: skip
    fresh = run(write(tmp_path, "fresh.toml", HEAD + GROUPS + OTHER.replace("[groups]", "")
                      .replace("lambda = 0.3", "lambda = 0.9")), data_dir, tmp_path / "d")  # fmt: skip
    same_lists_and_metrics(lam, fresh)


def test_sweep_from_a_stored_run_equals_the_sweep_of_the_recipe(tmp_path, trained, data_dir):
    grid = ["--grid", "variants[0].chain[0].lambda=0.2,0.8"]
    recipe = write(tmp_path, "stored.toml", HEAD + GROUPS + VARIANTS)
    swept = rank("sweep", recipe, *grid, "--from-run", trained,
                 "--results-dir", tmp_path / "a", "--json")  # fmt: skip
    assert swept.exit_code == 0, swept.output
    fitted = rank("sweep", recipe, *grid, "--data-dir", data_dir,
                  "--results-dir", tmp_path / "b", "--json")  # fmt: skip
    assert fitted.exit_code == 0, fitted.output
    one, other = json.loads(swept.stdout), json.loads(fitted.stdout)
    assert [e["metrics"] for e in one["entries"]] == [e["metrics"] for e in other["entries"]]
    assert [e["row"] for e in one["entries"]] == [e["row"] for e in other["entries"]]
    refused = rank("sweep", recipe, "--grid", "models[0].params.neighbors=5,10",
                   "--from-run", trained, "--results-dir", tmp_path / "c")  # fmt: skip
    assert refused.exit_code == 2 and "refitting" in refused.output


@pytest.mark.parametrize(
    ("variants", "args", "message"),
    [
        (None, ["--set", "models[0].params.neighbors=5"], "only variants[...] and groups.*"),
        ('[[variants]]\nname = "x"\nmodels = ["ease"]\nchain = [{ reranker = "mmr" }]\n', [],
         "variants[0].models[0]: no model labelled 'ease'"),
        ('[[variants]]\nname = "x"\nchain = [{ reranker = "provider_cap", column = "label" }]\n',
         [], "needs the item column 'label'"),
        ('[[variants]]\nname = "x"\nchain = [{ reranker = "mmr", similarity = "factors" }]\n',
         [], "variants[0].chain[0].similarity: 'factors' reads ALS item factors"),
        ('[[variants]]\nname = "x"\nchain = [{ reranker = "mmr", lamda = 0.5 }]\n', [], "lamda"),
        ("[groups]\n", [], "no [[variants]]"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(tmp_path, trained, variants, args, message):
    given = [] if variants is None else [write(tmp_path, "v.toml", variants)]
    done = rank("rerank", trained, *given, *args, "--results-dir", tmp_path / "r")
    assert done.exit_code == 2, done.output
    assert message in done.output and len(done.output.strip().splitlines()) == 1, done.output
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").iterdir())


def test_not_a_run_or_a_run_without_candidates_is_one_line(tmp_path, trained):
    done = rank("rerank", tmp_path, "--results-dir", tmp_path / "r")
    assert done.exit_code == 2 and "not a complete run directory" in done.output
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in trained.iterdir():
        if path.is_file() and path.name != "candidates.parquet":
            (copy / path.name).write_bytes(path.read_bytes())
    done = rank("rerank", copy, "--results-dir", tmp_path / "r")
    assert done.exit_code == 2 and "no candidates.parquet" in done.output, done.output
