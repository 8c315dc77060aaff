"""Sweeps and sharded evaluation on a local Dask cluster of 2 worker processes (127.0.0.1) give
the single-process results, and a worker killed mid-sweep still yields every point exactly once."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import polars as pl
import pytest
import tomli_w
from polars.testing import assert_frame_equal

from recsys_cli import experiment
from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.errors import UserError
from recsys_cli.evaluation.stored import evaluate_run, save_evaluation

pytest.importorskip("distributed")

from recsys_cli.distributed.cluster import connect  # noqa: E402
from recsys_cli.distributed.executor import (  # noqa: E402
    evaluate_run_sharded,
    run_recipe_distributed,
)
from recsys_cli.distributed.sweep import run_sweep_distributed  # noqa: E402

RECIPE = """
name = "dist-local"
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
[[variants]]
name = "mmr"
models = ["ease"]
chain = [{{ reranker = "mmr", lambda = 0.5, similarity = "genres" }}]
[[variants]]
name = "mmrf"
models = ["ease"]
chain = [{{ reranker = "mmr", lambda = 0.7, similarity = "factors" }}]
[[variants]]
name = "fair"
chain = [{{ reranker = "fair_exposure", group = "tail", p = 0.9 }}]
[eval]
cutoffs = [5, 10]
candidates = 20
metrics = ["ndcg", "recall", "map", "ild", "coverage", "gini", "novelty", "serendipity",
           "miscalibration", "discovery", "provider_gini", "exposure_share[tail]"]
"""
GRID = [("variants[0].chain[0].lambda", [0.0, 0.25, 0.75, 1.0])]
# Parts of manifest.json that record when and how long, not what.
CLOCK_KEYS = ("created", "timings")


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as client:
        yield client


@pytest.fixture
def raw(interactions_csv, items_csv):
    return tomllib.loads(RECIPE.format(path=interactions_csv, items=items_csv))


def run_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name != "models")


def manifest_without_clock(run_dir: Path) -> dict:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {k: v for k, v in manifest.items() if k not in CLOCK_KEYS}


def assert_same_run(got: Path, expected: Path) -> None:
    assert (got / "metrics.json").read_bytes() == (expected / "metrics.json").read_bytes()
    tables = sorted(p.name for p in expected.glob("*.parquet"))
    assert {"per_user.parquet", "recommendations.parquet", "candidates.parquet"} <= set(tables)
    assert sorted(p.name for p in got.glob("*.parquet")) == tables
    for name in tables:
        assert_frame_equal(
            pl.read_parquet(got / name), pl.read_parquet(expected / name), check_exact=True
        )
    assert (got / "recipe.toml").read_text() == (expected / "recipe.toml").read_text()
    assert manifest_without_clock(got) == manifest_without_clock(expected)


@pytest.mark.slow
def test_sweep_on_workers_equals_the_single_process_sweep(tmp_path, raw, client):
    expected = experiment.run_sweep(raw, GRID, tmp_path / "one")
    got = run_sweep_distributed(client, raw, GRID, tmp_path / "two")
    assert [(p.index, p.values, p.metrics) for p in got] == [
        (p.index, p.values, p.metrics) for p in expected
    ]
    dirs = run_dirs(tmp_path / "two")
    assert [d.name for d in dirs] == [p.run_name for p in got]  # grid order = name order
    assert not [p for p in (tmp_path / "two").iterdir() if p.name.startswith(".tmp-")]
    for mine, theirs in zip(dirs, run_dirs(tmp_path / "one"), strict=True):
        assert_same_run(mine, theirs)
    # the grid really varies the variant: lambda 0 (diversity only) differs from lambda 1
    ild = [p.metrics["models"]["ease+mmr"]["ild@10"]["mean"] for p in got]
    assert ild[0] != ild[-1]


@pytest.mark.slow
def test_sharded_evaluation_equals_evaluate_run(tmp_path, raw, client):
    recipe = recipe_from_dict(raw)
    run_dir, reference_run = tmp_path / "run", tmp_path / "reference"
    run_dir.mkdir()
    reference_run.mkdir()
    # rank run --workers: train here, evaluate in shards (with the training's context)
    run_recipe_distributed(client, recipe, run_dir, shards=2)
    experiment.run_recipe(recipe, reference_run)
    assert_same_run(run_dir, reference_run)
    cutoffs, metrics = recipe.eval.cutoffs, recipe.eval.metrics
    single = evaluate_run(run_dir, cutoffs, metrics)
    # 3 shards over 2 workers: uneven blocks, one worker evaluates two of them
    sharded = evaluate_run_sharded(client, run_dir, cutoffs, metrics, shards=3)
    assert_frame_equal(sharded.per_user, single.per_user, check_exact=True)
    assert_frame_equal(sharded.summary, single.summary, check_exact=True)
    for name, evaluation in (("single", single), ("sharded", sharded)):
        (tmp_path / name).mkdir()
        save_evaluation(evaluation, tmp_path / name)
    metrics_json = (tmp_path / "sharded" / "metrics.json").read_bytes()
    assert metrics_json == (tmp_path / "single" / "metrics.json").read_bytes()
    assert json.loads(metrics_json)["models"]["ease+mmr"]["coverage@10"]["stderr"] is None
    # accuracy only, default shard count (one per worker)
    accuracy = evaluate_run_sharded(client, run_dir, (1, 10), ("ndcg", "mrr"))
    reference = evaluate_run(run_dir, (1, 10), ("ndcg", "mrr"))
    assert_frame_equal(accuracy.per_user, reference.per_user, check_exact=True)
    assert_frame_equal(accuracy.summary, reference.summary, check_exact=True)


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_still_gives_every_point_once(tmp_path, raw, client):
    from recsys_cli.cli.sweep import analyse

    markers = tmp_path / "markers"
    markers.mkdir()

    def slow_storing():
        # Runs inside each worker process: every point pauses after its directory is made and
        # its lists evaluated, before its files are stored, leaving a half-finished directory
        # to kill the worker on.
        import os
        import time

        from recsys_cli.pipeline import run as worker_run

        real = worker_run.store_run

        def paused(recipe, run_dir, *args, **kwargs):
            (markers / f"{os.getpid()}-{Path(run_dir).name}").touch()
            time.sleep(1.0)
            return real(recipe, run_dir, *args, **kwargs)

        worker_run.store_run = paused

    pids = client.run(os.getpid)
    client.run(slow_storing)
    outcome: dict = {}

    def sweep():
        try:
            outcome["points"] = run_sweep_distributed(client, raw, GRID, tmp_path / "s")
        except BaseException as error:  # re-raised in the test thread below
            outcome["error"] = error

    thread = threading.Thread(target=sweep)
    thread.start()
    deadline = time.monotonic() + 60
    while not list(markers.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid, killed_attempt = next(markers.iterdir()).name.split("-", 1)
    victim = int(pid)
    assert killed_attempt.startswith(".tmp-")  # its directory exists, metrics.json does not
    assert victim in pids.values()
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=90)
    assert not thread.is_alive()
    if "error" in outcome:
        raise outcome["error"]

    points = outcome["points"]
    assert [p.index for p in points] == [0, 1, 2, 3]
    sweep_dir = tmp_path / "s"
    dirs = run_dirs(sweep_dir)
    assert [d.name for d in dirs] == [p.run_name for p in points]  # 4 points, 4 directories
    assert all((d / "metrics.json").is_file() for d in dirs)
    assert not [p for p in sweep_dir.iterdir() if p.name.startswith(".")]
    assert not (sweep_dir / killed_attempt).exists()  # the half-written attempt was removed
    assert victim not in client.run(os.getpid).values()  # the nanny started a fresh process
    expected = experiment.run_sweep(raw, GRID, tmp_path / "one")
    assert [p.metrics for p in points] == [p.metrics for p in expected]
    analysis = analyse(points, GRID, None, "ndcg@10", True, [], "ease+mmr")
    assert sorted(e["point"] for e in analysis["entries"]) == [0, 1, 2, 3]
    assert {e["run_dir"] for e in analysis["entries"]} == {d.name for d in dirs}


def test_unreachable_scheduler_and_missing_dask_are_one_line_errors(monkeypatch, raw, tmp_path):
    with pytest.raises(UserError, match="seeds"):  # refused before any work, as run_sweep does
        run_sweep_distributed(None, {**raw, "seeds": [1, 2]}, GRID, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(UserError, match=address), connect(scheduler=address, timeout=1):
        pass
    with pytest.raises(UserError, match="either --workers"), connect(2, address):
        pass
    # without dask the package still imports; only connecting says what to install
    blocked = "import sys; sys.modules['dask'] = sys.modules['distributed'] = None; "
    imports = "import recsys_cli.distributed.sweep, recsys_cli.experiment, recsys_cli.cli.main"
    subprocess.run([sys.executable, "-c", blocked + imports], check=True)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if not installed
    hint = r"pip install 'recsys-cli\[distributed\]'"
    with pytest.raises(UserError, match=hint), connect(workers=2):
        pass


@pytest.mark.slow
def test_cli_workers_give_the_same_metrics(tmp_path, raw, client):
    """`--scheduler` on rank run and rank eval reaches the same numbers as the plain commands."""
    from typer.testing import CliRunner

    from recsys_cli.cli.main import app

    runner = CliRunner()
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(tomli_w.dumps(raw))
    address = client.scheduler.address
    plain = runner.invoke(app, ["run", str(recipe), "--results-dir", str(tmp_path / "a"), "--json"])
    spread = runner.invoke(
        app,
        [
            "run",
            str(recipe),
            "--results-dir",
            str(tmp_path / "b"),
            "--json",
            "--scheduler",
            address,
        ],
    )
    assert plain.exit_code == 0 and spread.exit_code == 0, spread.output
    assert json.loads(plain.stdout)["models"] == json.loads(spread.stdout)["models"]
    run_dir = json.loads(plain.stdout)["run_dir"]
    sharded = runner.invoke(app, ["eval", run_dir, "--scheduler", address, "--json"])
    assert sharded.exit_code == 0, sharded.output
    assert json.loads(sharded.stdout)["models"] == json.loads(plain.stdout)["models"]
