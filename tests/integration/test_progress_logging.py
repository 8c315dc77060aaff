"""Quiet runs print their directory, every run writes run.log, -v logs details, steps draw counts."""

import json
import logging
from pathlib import Path

from typer.testing import CliRunner

from recsys_cli.cli import common
from recsys_cli.cli.main import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def only_dir(root: Path) -> Path:
    [run_dir] = [p for p in root.iterdir() if not p.name.startswith(".")]
    return run_dir


def test_quiet_prints_exactly_the_run_directory(tmp_path, recipe):
    results = tmp_path / "r"
    ran = invoke("run", recipe, "--results-dir", results, "-q")
    assert ran.exit_code == 0, ran.output
    run_dir = only_dir(results)
    assert ran.stdout == f"{run_dir}\n" and ran.stderr == ""

    trained = invoke("train", recipe, "--results-dir", tmp_path / "t", "-q")
    assert trained.exit_code == 0, trained.output
    assert trained.stdout == f"{only_dir(tmp_path / 't')}\n"

    # a first evaluation goes into the run, a second one into its own folder: both printed
    first = invoke("eval", only_dir(tmp_path / "t"), "-q")
    assert first.exit_code == 0 and first.stdout == f"{only_dir(tmp_path / 't')}\n"
    again = invoke("eval", run_dir, "--cutoffs", "5", "-q")
    assert again.exit_code == 0, again.output
    assert again.stdout == f"{only_dir(run_dir / 'evals')}\n" and again.stderr == ""


def test_every_run_directory_has_its_log(tmp_path, recipe):
    results = tmp_path / "r"
    ran = invoke("run", recipe, "--results-dir", results, "-q")
    assert ran.exit_code == 0, ran.output
    run_dir = only_dir(results)
    lines = (run_dir / "run.log").read_text().splitlines()
    text = "\n".join(lines)
    assert f"run {run_dir}" in text and "recsys-cli" in lines[0]
    for step in ("load dataset plays", "fit ease", "recommend ease for 55 users", "evaluate"):
        assert f"INFO recsys_cli.progress: {step}: " in text, step
    assert "55 users evaluated" in text and "ImplicitALS: 15 iterations" in text
    assert " DEBUG " not in text  # INFO and up only

    again = invoke("eval", run_dir, "--cutoffs", "5", "-q")
    assert again.exit_code == 0, again.output
    # the run's log gets the re-evaluation; its folder logs its own saving
    assert "evaluated 4 lists x 55 users (ndcg" in (run_dir / "run.log").read_text()
    assert "run " in (only_dir(run_dir / "evals") / "run.log").read_text()


SWEEP = """
name = "sweep-local"
[dataset]
name = "plays"
path = "{path}"
items_path = "{items}"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[[models]]
name = "ease"
[[variants]]
name = "mmr"
chain = [{{ reranker = "mmr", lambda = 0.5, similarity = "genres" }}]
[eval]
cutoffs = [5]
candidates = 20
metrics = ["ndcg", "ild"]
"""


def test_sweep_prints_its_directory_and_logs_every_point(tmp_path, interactions_csv, items_csv):
    recipe = tmp_path / "sweep.toml"
    recipe.write_text(SWEEP.format(path=interactions_csv, items=items_csv))
    grid = "variants[0].chain[0].lambda=0,1"
    swept = invoke("sweep", recipe, "--grid", grid, "--results-dir", tmp_path / "s", "-q")
    assert swept.exit_code == 0, swept.output
    sweep_dir = only_dir(tmp_path / "s")
    assert swept.stdout == f"{sweep_dir}\n"
    points = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name != "models")
    assert len(points) == 2
    sweep_log = (sweep_dir / "run.log").read_text()
    for point in points:  # named while the sweep itself was still pending (.tmp-)
        assert f"{point.name} (written as .tmp-{point.name}" in (point / "run.log").read_text()
        assert f"{point.name} (written as" in sweep_log  # the sweep's log holds its points' too
    assert "INFO recsys_cli.progress: sweep 2 points: " in sweep_log


def test_verbose_logs_debug_lines_on_stderr_only(tmp_path, recipe):
    quiet = invoke("run", recipe, "--results-dir", tmp_path / "a", "-q", "-v")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == f"{only_dir(tmp_path / 'a')}\n"  # logs never reach stdout
    assert "DEBUG" in quiet.stderr and "iteration 15/15" in quiet.stderr
    assert "fit ease: " in quiet.stderr  # no ticks when quiet: step timings come as logs

    plain = invoke("run", recipe, "--results-dir", tmp_path / "b", "--json")
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["run_dir"]
    assert "DEBUG" not in plain.stderr and "INFO" not in plain.stderr
    assert "✓ fit ease " in plain.stderr
    assert " DEBUG " not in (only_dir(tmp_path / "a") / "run.log").read_text()


def test_steps_share_one_live_display_and_count(capsys):
    # `-v` is per command: a command without it puts logging back to warnings on stderr
    step = common.progress_step(quiet=False)
    assert logging.getLogger("recsys_cli").getEffectiveLevel() == logging.INFO
    with step("outer") as outer:
        bar = common._LIVE._bar
        outer.total(10, "users")
        outer.advance(4)
        outer.advance(2)
        with step("download") as inner:  # nested: one more line of the same display
            assert common._LIVE._bar is bar
            inner.total(None, "B")
            inner.update("download x.zip")
            [first, second] = bar.tasks
            assert second.description == "download x.zip" and not second.fields["known"]
        [task] = bar.tasks
        assert (task.total, task.completed, task.fields["unit"]) == (10, 6, "users")
        outer.total(3, "points")  # a new total starts a new count
        assert (bar.tasks[0].total, bar.tasks[0].completed) == (3, 0)
    assert common._LIVE._bar is None
    ticks = capsys.readouterr().err.splitlines()
    assert [line.split(" ")[1] for line in ticks] == ["download", "outer"]


BLOCKS = """
name = "blocks"
seed = 3
[dataset]
name = "plays"
path = "{path}"
items_path = "{items}"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[split]
kind = "random"
test = 0.3
[[models]]
name = "popularity"
[[models]]
name = "ease"
[[variants]]
name = "mmr"
models = ["ease"]
chain = [{{ reranker = "mmr", lambda = 0.5, similarity = "genres" }}]
[eval]
cutoffs = [3, 10]
candidates = 20
metrics = ["ndcg", "recall", "ild", "coverage", "novelty", "serendipity"]
"""


def test_evaluation_in_user_blocks_equals_one_block(
    tmp_path, interactions_csv, items_csv, monkeypatch
):
    from recsys_cli.config.loader import load_recipe
    from recsys_cli.evaluation import evaluate
    from recsys_cli.evaluation.stored import evaluate_run
    from recsys_cli.experiment import run_recipe

    path = tmp_path / "blocks.toml"
    path.write_text(BLOCKS.format(path=interactions_csv, items=items_csv))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _, whole = run_recipe(load_recipe(path), run_dir)
    n_users = whole.per_user["user"].n_unique()
    monkeypatch.setattr(evaluate, "BLOCK_USERS", 7)  # blocks of 7 users, the last one shorter
    assert n_users % 7 and n_users > 14
    blocked = evaluate_run(run_dir, (3, 10), whole.metrics)
    assert blocked.per_user.equals(whole.per_user)  # same rows in the same order
    assert blocked.summary.equals(whole.summary)
