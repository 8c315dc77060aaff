"""`rank run` / `rank eval` output: whole numbers on pipes and narrow terminals, Markdown, CSV,
JSON, models as rows with marks against a baseline, and marks that follow the paired tests."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from scipy import stats
from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner()

RECIPE = """
name = "wide"
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
[[variants]]
name = "mmr"
models = ["ease"]
chain = [{{ reranker = "mmr", lambda = 0.5, similarity = "genres" }}]
[[variants]]
name = "fair"
models = ["ease", "item_knn"]
chain = [{{ reranker = "fair_exposure", group = "tail", p = 0.9 }}]
[eval]
cutoffs = [5, 10]
candidates = 20
metrics = ["ndcg", "recall", "ild", "coverage", "novelty", "exposure_share[tail]"]
"""


@pytest.fixture
def recipe(tmp_path, interactions_csv, items_csv):
    path = tmp_path / "wide.toml"
    path.write_text(RECIPE.format(path=interactions_csv, items=items_csv))
    return path


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def numbers(run_dir, spread: bool) -> list[str]:
    """Every mean (and standard error) of the run, as the table prints them."""
    models = json.loads((run_dir / "metrics.json").read_text())["models"]
    out = []
    for metrics in models.values():
        for value in metrics.values():
            out.append(f"{value['mean']:.4f}")
            if spread and value["stderr"] is not None:
                out.append(f"±{value['stderr']:.4f}")
    return out


def assert_whole(text: str, width: int, run_dir, spread: bool = True) -> None:
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    for number in numbers(run_dir, spread):
        assert number in text
    for model in json.loads((run_dir / "metrics.json").read_text())["models"]:
        assert model in text


def test_table_on_a_100_column_terminal_shows_every_number(tmp_path, recipe):
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "r").iterdir()
    assert_whole(result.stdout, 100, run_dir)
    assert "exposure_share[tail]@10" in result.stdout


def test_piped_output_without_a_terminal_shows_every_number(tmp_path, recipe):
    assert invoke("run", recipe, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-m", "recsys_cli", "eval", str(run_dir), "--metrics", "ndcg,recall"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (evaluation,) = (run_dir / "evals").iterdir()
    assert_whole(done.stdout, 80, evaluation)  # rich's width without a terminal


def test_markdown_csv_and_json(tmp_path, recipe):
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", "--format", "csv", "-q")
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "r").iterdir()
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    stored = json.loads((run_dir / "metrics.json").read_text())["models"]
    assert len(rows) == sum(len(metrics) for metrics in stored.values())
    for row in rows:
        value = stored[row["model"]][f"{row['metric']}@{row['cutoff']}"]
        assert float(row["mean"]) == value["mean"]  # full precision
    markdown = invoke("eval", run_dir, "--format", "markdown", "--metrics", "ndcg", "-q")
    assert markdown.exit_code == 0, markdown.output
    lines = markdown.stdout.splitlines()
    assert (
        "| metric | popularity | ease | ease+mmr | ease+fair | item_knn | item_knn+fair |" in lines
    )
    assert any(line.startswith("| ndcg@10 | ") for line in lines)
    as_json = invoke("eval", run_dir, "--json")
    by_format = invoke("eval", run_dir, "--format", "json")
    assert as_json.exit_code == by_format.exit_code == 0
    first, second = json.loads(as_json.stdout), json.loads(by_format.stdout)
    assert first.pop("run_dir") != second.pop("run_dir")  # two re-evaluations, same numbers
    assert first == second


def test_models_as_rows_with_marks_against_a_baseline(tmp_path, recipe):
    assert invoke("run", recipe, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    args = ["eval", run_dir, "--rows", "models", "--baseline", "popularity"]
    table = invoke(*args, env={"COLUMNS": "100"})
    assert table.exit_code == 0, table.output
    assert_whole(table.stdout, 100, run_dir, spread=False)  # models as rows: means only
    assert "mean higher / lower than popularity" in " ".join(table.stdout.split())
    rows = list(csv.DictReader(io.StringIO(invoke(*args, "--format", "csv").stdout)))
    markdown = invoke(*args, "--format", "markdown").stdout.splitlines()
    header = next(line for line in markdown if line.startswith("| model |"))
    labels = [cell.strip() for cell in header.strip("|").split("|")][1:]
    cells = {
        line.split("|")[1].strip(): dict(zip(labels, line.strip("|").split("|")[1:], strict=True))
        for line in markdown
        if line.startswith("| ") and not line.startswith(("| model", "| ---"))
    }
    marked = 0
    for row in rows:
        cell = cells[row["model"]][f"{row['metric']}@{row['cutoff']}"]
        assert ("▲" in cell) == (row["vs_baseline"] == "higher")
        assert ("▼" in cell) == (row["vs_baseline"] == "lower")
        assert ("**" in cell) == (row["best"] == "true")
        marked += row["vs_baseline"] != ""
    assert marked > 0


def test_the_best_is_marked_only_where_paired_tests_say_so(tmp_path, recipe):
    """The table's `best` against scipy's paired t-test and a hand-written Holm correction."""
    assert invoke("run", recipe, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    result = invoke("eval", run_dir, "--metrics", "ndcg,recall,ild", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    per_user = pl.read_parquet(run_dir / "per_user.parquet").filter(
        pl.col("metric").is_in(["ndcg", "recall", "ild"])
    )
    tests = []  # (metric@k, best model, p) for the best mean against every other model
    for (metric, cutoff), part in per_user.group_by("metric", "cutoff", maintain_order=True):
        wide = part.pivot(on="model", index="user", values="value")
        models = [c for c in wide.columns if c != "user"]
        best = max(models, key=lambda m: wide[m].mean())
        for other in models:
            if other != best:
                p = stats.ttest_rel(wide[best], wide[other]).pvalue
                tests.append((f"{metric}@{cutoff}", best, 1.0 if np.isnan(p) else p))
    order = np.argsort([p for *_, p in tests], kind="stable")
    adjusted, running = [0.0] * len(tests), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(tests) - rank) * tests[i][2]))
        adjusted[i] = running
    rejected: dict[str, list] = {}
    for (label, best, _), p in zip(tests, adjusted, strict=True):
        rejected.setdefault(label, [best, True])[1] &= p < 0.05
    expected = {(label, best) for label, (best, ok) in rejected.items() if ok}
    shown = {(f"{r['metric']}@{r['cutoff']}", r["model"]) for r in rows if r["best"] == "true"}
    assert shown == expected
    assert 0 < len(shown) < len(rejected)  # some maxima are separable, some are not


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--format", "xml", "--format: 'xml' is not one of table, markdown, csv, json"),
        ("--rows", "users", "--rows: 'users' is not one of metrics, models"),
        ("--baseline", "EASE", "--baseline: no model 'EASE'; the run holds popularity, ease,"),
    ],
)
def test_bad_display_options_fail_before_any_training(tmp_path, recipe, option, value, message):
    result = invoke("run", recipe, "--results-dir", tmp_path / "r", option, value)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_slices_as_csv_carry_the_slice(tmp_path, recipe):
    assert invoke("run", recipe, "--results-dir", tmp_path / "r", "-q").exit_code == 0
    (run_dir,) = (tmp_path / "r").iterdir()
    result = invoke(
        "eval", run_dir, "--slice", "item_popularity", "--metrics", "ndcg", "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["slice"] for r in rows} <= {"head items", "mid items", "tail items"}
    assert len({r["slice"] for r in rows}) > 1 and {r["best"] for r in rows} == {""}
