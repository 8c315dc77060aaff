"""`rank tune` end to end on synthetic plays: validation-only trials, one test read, resumable and
kill -9 safe studies, reproducible trials, one-line errors."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner()

RECIPE = """
name = "tune-local"
seed = 5
[dataset]
name = "plays"
path = "{path}"
items_path = "{items}"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[split]
kind = "temporal"
test = 0.2
validation = 0.2
[[models]]
name = "popularity"
[[models]]
name = "ease"
params = {{ l2 = 10.0 }}
[groups]
tail = {{ popularity_below = 0.5 }}
[[variants]]
name = "blend"
models = ["ease"]
chain = [{{ reranker = "blend", weights = {{ relevance = 1.0, novelty = 0.1, "group:tail" = 0.1 }} }}]
[eval]
cutoffs = [5]
candidates = 20
metrics = ["ndcg", "recall", "coverage", "exposure_share[tail]", "novelty"]
[tune]
model = "ease"
trials = {trials}
"""
MULTI = """
[tune]
objectives = ["ndcg@5", "exposure_share[tail]@5"]
constraints = ["coverage@5 >= 0.3"]
reference = {{ "ndcg@5" = 0.0, "exposure_share[tail]@5" = 0.0 }}
trials = 8
population = 4
[tune.params]
"variants[0].chain[0].weights.novelty" = {{ low = 0.0, high = 1.0 }}
"variants[0].chain[0].weights.group:tail" = {{ low = 0.0, high = 1.0 }}
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_recipe(path: Path, csv, items, trials=4, tune=None) -> Path:
    text = RECIPE.format(path=csv, items=items, trials=trials)
    if tune is not None:
        text = text[: text.index("[tune]")] + tune.format()
    path.write_text(text)
    return path


@pytest.fixture
def recipe(tmp_path, interactions_csv, items_csv):
    return write_recipe(tmp_path / "tune.toml", interactions_csv, items_csv)


def tune(recipe, study, *extra):
    result = invoke("tune", recipe, "--study", study, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def trials_table(study: Path) -> pl.DataFrame:
    return pl.read_parquet(study / "trials.parquet")


def test_best_configuration_is_confirmed_on_test_and_rank_run_reproduces_it(tmp_path, recipe):
    payload = tune(recipe, tmp_path / "s")
    study = Path(payload["study_dir"])
    table = trials_table(study)
    assert table["state"].to_list() == ["COMPLETE"] * 4 and table["number"].to_list() == [
        0,
        1,
        2,
        3,
    ]
    # the recipe's own value is the first trial; the others are drawn in the default range
    assert table["as_given"].to_list() == [True, False, False, False]
    l2 = table["params/models[1].params.l2"]
    assert l2[0] == 10.0 and l2.min() >= 1.0 and l2.max() <= 1e5
    [config] = payload["configurations"]
    [row] = config["rows"]
    best = table.filter(pl.col("number") == row["trial"])
    assert (
        row["validation"]["ndcg@5"]
        == best["validation/ndcg@5"][0]
        == table["validation/ndcg@5"].max()
    )
    # best.toml is a complete recipe on the test part; `rank run` gives the tune's test numbers
    best_toml = tomllib.loads((study / "best.toml").read_text())
    assert best_toml["split"]["evaluate_on"] == "test" and "tune" not in best_toml
    assert best_toml["models"][1]["params"]["l2"] == row["params"]["models[1].params.l2"]
    run = invoke("run", study / "best.toml", "--results-dir", tmp_path / "r", "--json")
    assert run.exit_code == 0, run.output
    reproduced = json.loads(run.stdout)["models"]["ease"]["ndcg@5"]
    assert reproduced["mean"] == row["test"]["ndcg@5"]["mean"]
    stored = json.loads((study / config["test_run"] / "metrics.json").read_text())
    assert stored["models"]["ease"]["ndcg@5"]["mean"] == reproduced["mean"]
    assert (study / "history.png").stat().st_size > 0
    assert not (study / "trials").exists()  # trial runs are scratch space
    # validation and test are different users/targets: the test run's split is the test part
    manifest = json.loads((study / config["test_run"] / "manifest.json").read_text())
    assert manifest["counts"]["evaluated_part"] == "test"


def test_same_seed_same_trials_and_a_resumed_study_continues_them(tmp_path, recipe):
    whole = tune(recipe, tmp_path / "a", "--set", "tune.trials=12")
    first = tune(recipe, tmp_path / "b", "--set", "tune.trials=7")
    rest = tune(recipe, tmp_path / "b", "--set", "tune.trials=12")
    assert (whole["ran"], first["ran"], rest["ran"]) == ({"ease": 12}, {"ease": 7}, {"ease": 5})
    columns = ["number", "state", "params/models[1].params.l2", "validation/ndcg@5"]
    assert (
        trials_table(tmp_path / "a")
        .select(columns)
        .equals(trials_table(tmp_path / "b").select(columns))
    )
    # nothing left to run: the test runs of the unchanged choice are reused, not re-read
    again = tune(recipe, tmp_path / "b", "--set", "tune.trials=12")
    assert again["ran"] == {"ease": 0} and again["test_reused"]
    assert again["configurations"] == rest["configurations"]


def test_a_study_of_another_recipe_is_refused(tmp_path, recipe):
    tune(recipe, tmp_path / "s", "--set", "tune.trials=1")
    result = invoke("tune", recipe, "--study", tmp_path / "s", "--set", "tune.seed=3")
    assert result.exit_code == 2
    assert "with other values of tune.seed;" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = invoke("tune", recipe, "--study", tmp_path / "s", "--set", "eval.candidates=30")
    assert result.exit_code == 2 and "other values of eval;" in result.output
    renamed = invoke("tune", recipe, "--study", tmp_path / "s", "--set", "name='other'", "-q")
    assert renamed.exit_code == 0, renamed.output  # a name changes no trial


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["split.validation=0.0"], "split.validation: rank tune scores trials on the validation"),
        (["tune.objectives=['ndcg@10']"], "tune.objectives[0]: 'ndcg@10' is not computed"),
        (["tune.model='eas'"], "tune.model: no model is labelled or named 'eas'"),
        (["tune.params={'models[1].params.l3' = { low = 1.0, high = 2.0 }}"], "did you mean 'l2'"),
        (["tune.params={'models[1].params.l2' = { low = 2.0, high = 1.0 }}"], "empty range"),
        (
            ["tune.params={'models[1].params.l2' = { low = 0.0, high = 1.0, log = true }}"],
            "log scale needs low > 0",
        ),
        (["tune.trails=3"], "tune.trails: unknown key; did you mean 'trials'?"),
    ],
)
def test_bad_tune_input_is_one_line_naming_the_key(tmp_path, recipe, overrides, fragment):
    args = [a for o in overrides for a in ("--set", o)]
    result = invoke("tune", recipe, "--study", tmp_path / "s", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], lines
    assert "tune.toml" in lines[0]
    assert not (tmp_path / "s").exists()  # refused before anything is written


def test_several_objectives_give_a_feasible_front_each_confirmed_on_test(
    tmp_path, interactions_csv, items_csv
):
    recipe = write_recipe(tmp_path / "multi.toml", interactions_csv, items_csv, tune=MULTI)
    payload = tune(recipe, tmp_path / "s")
    study = tmp_path / "s"
    table = trials_table(study)
    assert table.height == 8 and (table["state"] == "COMPLETE").all()
    front = [c["rows"][0]["trial"] for c in payload["configurations"]]
    assert front and payload["hypervolume"]["reference_rule"] == "given"
    files = sorted(p.name for p in (study / "pareto").iterdir())
    assert files == [f"trial-{n:04d}.toml" for n in front]
    feasible = table.filter(pl.col("feasible"))
    for config in payload["configurations"]:
        [row] = config["rows"]
        assert row["row"] == "ease+blend" and row["trial"] in feasible["number"].to_list()
        assert (study / config["test_run"] / "metrics.json").exists()
        weights = tomllib.loads((study / config["recipe_file"]).read_text())["variants"][0]
        assert (
            weights["chain"][0]["weights"]["novelty"]
            == row["params"]["variants[0].chain[0].weights.novelty"]
        )
    assert (study / "pareto.png").exists()
    entries = payload["front"]["entries"]  # what the terminal plot draws: every trial
    assert len(entries) == 8 and sum(e["pareto"] for e in entries) == len(front)
    shown = invoke("tune", recipe, "--study", study)  # resumes with nothing left: shows the front
    assert shown.exit_code == 0, shown.output
    assert "legend: * Pareto-optimal, o dominated (ease+blend)" in shown.stdout
    assert payload["front"]["pareto_metrics"][1] in shown.stdout  # the y axis title


def test_without_refit_the_test_models_learn_from_training_only(tmp_path, recipe):
    payload = tune(recipe, tmp_path / "s", "--set", "tune.refit=false", "--set", "tune.trials=2")
    best = tomllib.loads((tmp_path / "s" / "best.toml").read_text())
    assert best["split"]["train_on_validation"] is False
    run = invoke("run", tmp_path / "s" / "best.toml", "--results-dir", tmp_path / "r", "--json")
    [config] = payload["configurations"]
    test = config["rows"][0]["test"]["ndcg@5"]["mean"]
    assert json.loads(run.stdout)["models"]["ease"]["ndcg@5"]["mean"] == test
    refit = tune(recipe, tmp_path / "t", "--set", "tune.trials=2")
    assert refit["configurations"][0]["rows"][0]["test"]["ndcg@5"]["mean"] != test


def _command(recipe, study, trials):
    return [
        sys.executable, "-m", "recsys_cli", "tune", str(recipe), "--study", str(study),
        "--set", f"tune.trials={trials}", "-q",
    ]  # fmt: skip


def _states(study: Path) -> list[str]:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from recsys_cli.tuning.study import quiet_optuna

    if not (study / "optuna.journal").exists():
        return []
    with quiet_optuna():
        import optuna

        storage = JournalStorage(JournalFileBackend(str(study / "optuna.journal")))
        try:
            loaded = optuna.load_study(study_name="ease", storage=storage)
        except KeyError:
            return []
        return [t.state.name for t in loaded.get_trials(deepcopy=False)]


@pytest.mark.slow
def test_kill_9_mid_study_then_the_same_command_resumes_without_duplicates(tmp_path, recipe):
    study = tmp_path / "s"
    process = subprocess.Popen(_command(recipe, study, 12), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _states(study).count("COMPLETE") < 3 and time.monotonic() < deadline:
        assert process.poll() is None, "the study ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed = _states(study)
    assert 3 <= killed.count("COMPLETE") < 12
    done = subprocess.run(_command(recipe, study, 12), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    table = trials_table(study)
    assert table.select("study", "number").is_unique().all()
    complete = table.filter(pl.col("state") == "COMPLETE")
    assert complete.height == 12 and complete["validation/ndcg@5"].null_count() == 0
    # a trial in flight at the kill is FAIL (never COMPLETE), and was run again
    in_flight = [n for n, s in enumerate(killed) if s == "RUNNING"]
    failed = table.filter(pl.col("state") == "FAIL")["number"].to_list()
    assert failed == in_flight and table.height == 12 + len(in_flight)
    assert (study / "best.toml").exists() and not list(study.glob("**/.tmp-*"))


@pytest.mark.slow
def test_two_processes_share_one_study(tmp_path, recipe):
    study = tmp_path / "s"
    processes = [
        subprocess.Popen(_command(recipe, study, 16), stdout=subprocess.DEVNULL) for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    table = trials_table(study)
    assert table.select("study", "number").is_unique().all()
    # each process stops once the study holds the budget: at most one trial over
    assert 16 <= (table["state"] == "COMPLETE").sum() <= 17
    assert (table["state"] != "RUNNING").all()


def test_trials_on_dask_workers(tmp_path, recipe):
    pytest.importorskip("distributed")
    payload = tune(recipe, tmp_path / "s", "--workers", "2", "--set", "tune.trials=6")
    table = trials_table(tmp_path / "s")
    assert table.select("study", "number").is_unique().all()
    assert (table["state"] == "COMPLETE").sum() == 6 and payload["ran"] == {"ease": 6}
    # the workers' validation metrics equal a single-process evaluation of the same values
    best = payload["configurations"][0]["rows"][0]
    again = tune(
        recipe,
        tmp_path / "one",
        "--set",
        "tune.trials=1",
        "--set",
        f"models[1].params.l2={best['params']['models[1].params.l2']}",
    )
    assert again["configurations"][0]["rows"][0]["validation"] == best["validation"]


@pytest.mark.slow
@pytest.mark.recbole
def test_recbole_epochs_reach_the_pruner(tmp_path, interactions_csv, items_csv):
    """RecBole's per-epoch validation NDCG@10 is reported to the study (the median pruner's
    input); the trial still completes with its validation metrics."""
    recipe = write_recipe(tmp_path / "rb.toml", interactions_csv, items_csv, trials=2)
    text = recipe.read_text().replace('model = "ease"', 'model = "recbole_bpr"') + (
        '[tune.params]\n"models[2].params.learning_rate" = { low = 0.001, high = 0.01 }\n'
        '"models[2].params.epochs" = { low = 2, high = 3 }\n'
    )
    text = text.replace(
        "[groups]",
        '[[models]]\nname = "recbole_bpr"\n'
        "params = { epochs = 3, patience = 3, embedding_size = 8 }\n[groups]",
    )
    recipe.write_text(text)
    tune(recipe, tmp_path / "s")
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / "s" / "optuna.journal")))
    trials = optuna.load_study(study_name="recbole_bpr", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    epochs = [list(range(t.params["models[2].params.epochs"])) for t in trials]
    assert [sorted(t.intermediate_values) for t in trials] == epochs


def test_no_feasible_trial_reads_no_test_and_says_so(tmp_path, recipe):
    args = ["--study", tmp_path / "s", "--set", "tune.trials=2"]
    result = invoke("tune", recipe, *args, "--set", "tune.constraints=['coverage@5 >= 1.5']")
    assert result.exit_code == 0, result.output
    assert "no feasible trial: nothing was evaluated on test" in result.output
    assert not (tmp_path / "s" / "best.toml").exists() and not (tmp_path / "s" / "test").exists()
    assert not trials_table(tmp_path / "s")["feasible"].any()


def test_a_trial_is_evaluated_in_memory_with_the_metrics_of_a_stored_run(tmp_path, recipe):
    from recsys_cli.config.loader import load_recipe
    from recsys_cli.tuning.trials import TrialRunner

    validation = load_recipe(recipe, ["split.evaluate_on='validation'"])
    runner = TrialRunner.prepare(validation)
    work = tmp_path / "work"
    work.mkdir()
    trial = runner.evaluate(validation, work).to_json()
    assert list(work.rglob("*")) == []  # nothing written for a trial
    (tmp_path / "run").mkdir()
    stored = runner.run(validation, tmp_path / "run").to_json()
    assert (tmp_path / "run" / "metrics.json").is_file()
    assert trial == stored
    # Without variants a trial's lists are only as deep as the largest cutoff: the same metrics.
    plain = load_recipe(recipe, ["split.evaluate_on='validation'", "variants=[]"])
    (tmp_path / "plain").mkdir()
    assert runner.evaluate(plain, work).to_json() == runner.run(plain, tmp_path / "plain").to_json()


@pytest.mark.slow
@pytest.mark.recbole
@pytest.mark.parametrize("l2", [3.0, 200.0, 20_000.0])
def test_ease_trials_sharing_one_spectrum_score_as_direct_fits_on_ml100k(tmp_path, l2):
    """The eigendecomposition shortcut of EASE trials changes no metric beyond near-tie noise."""
    from recsys_cli.config.loader import load_recipe
    from recsys_cli.tuning.trials import TrialRunner

    recipe = load_recipe(
        Path("recipes/tune-ml100k.toml"),
        ["split.evaluate_on='validation'", f"models[1].params.l2={l2}"],
    )
    recipe = dataclasses.replace(recipe, models=(recipe.models[1],))
    direct = TrialRunner.prepare(recipe).evaluate(recipe, tmp_path).to_json()["models"]["EASE"]
    shared = TrialRunner.prepare(recipe, share_spectra=True)
    shared.evaluate(dataclasses.replace(recipe, seed=recipe.seed + 1), tmp_path)  # decomposes
    spectral = shared.evaluate(recipe, tmp_path).to_json()["models"]["EASE"]
    for metric, value in direct.items():
        assert spectral[metric]["mean"] == pytest.approx(value["mean"], abs=2e-4), metric


def test_a_study_is_listed_shown_and_reported_by_the_run_commands(tmp_path, recipe):
    study = tmp_path / "results" / "tune-tune-local"
    tune(recipe, study)
    listed = invoke("runs", "list", "--results-dir", tmp_path / "results", "--json")
    assert listed.exit_code == 0, listed.output
    [entry] = [e for e in json.loads(listed.stdout) if e["kind"] == "study"]
    assert entry["status"] == "complete"
    assert entry["recipe"] == "tune-local"
    assert entry["rows"] == ["ease"]
    assert entry["headline"]["part"] == "test"
    report = invoke("report", study, "--output", tmp_path / "study.html")
    assert report.exit_code == 0, report.output
    assert "ease" in (tmp_path / "study.html").read_text(encoding="utf-8")
