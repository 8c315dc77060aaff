"""`rank runs list|show|diff|gc` end to end on a results dir of real runs."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from stored_runs import rank

from recsys_cli.evaluation.statistics import holm_adjust
from recsys_cli.results.owners import OWNER_FILE


def copy_run(run: Path, target: Path, created: str) -> Path:
    """A copy of `run` whose manifest says it was made at `created`."""
    shutil.copytree(run, target)
    manifest = json.loads((target / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps({**manifest, "created": created}))
    return target


def listing(results: Path, *options) -> list[dict]:
    result = rank("runs", "list", "--results-dir", results, "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_shows_twenty_entries_each_with_its_kind_and_status_in_under_a_second(
    stored, tmp_path
):
    results, _, made = stored
    many = tmp_path / "results"
    many.mkdir()
    expected = {}
    # 14 complete copies of one run made on 2026-01-01, then one of each other kind
    for i in range(14):
        name = f"20260101T0000{i:02d}Z-stored-{i:06d}"
        copy_run(made["a"], many / name, f"2026-01-01T00:00:{i:02d}Z")
        expected[name] = ("run", "complete")
    for key, kind, status in [
        ("seeds", "multi-seed", "complete"),
        ("trained", "run", "trained"),
        ("sweep", "sweep", "complete"),
    ]:
        shutil.copytree(made[key], many / made[key].name)
        expected[made[key].name] = (kind, status)
    damaged = many / "20260102T000000Z-stored-damaged"
    copy_run(made["a"], damaged, "2026-01-02T00:00:00Z")
    (damaged / "recommendations.parquet").unlink()  # a half-copied run
    expected[damaged.name] = ("run", "damaged")
    killed = many / ".tmp-20260103T000000Z-stored-killed"
    killed.mkdir()
    (killed / OWNER_FILE).write_text(f"{socket.gethostname()} {2**22 + 7}")  # no such pid
    expected[killed.name] = ("run", "killed")
    running = many / ".tmp-20260103T000001Z-sweep-stored-live"
    running.mkdir()
    (running / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")
    expected[running.name] = ("sweep", "running")
    (many / "baselines").mkdir()  # not a run: not listed
    assert len(expected) == 20

    started = time.perf_counter()
    result = rank("runs", "list", "--results-dir", many)
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert seconds < 1.0
    entries = listing(many)
    assert {e["name"]: (e["kind"], e["status"]) for e in entries} == expected
    assert [e["created"] for e in entries] == sorted(e["created"] for e in entries)
    by_name = {e["name"]: e for e in entries}
    run = by_name["20260101T000000Z-stored-000000"]
    assert run["recipe"] == "stored" and run["dataset"] == "plays"
    assert run["rows"] == ["popularity", "EASE", "EASE+mmr", "ItemKNN"]
    assert run["headline"]["metric"] == "ndcg@5"
    metrics = json.loads((made["a"] / "metrics.json").read_text())["models"]
    best = max(metrics, key=lambda row: metrics[row]["ndcg@5"]["mean"])
    assert run["headline"] == {
        "metric": "ndcg@5",
        "row": best,
        "value": metrics[best]["ndcg@5"]["mean"],
    }
    assert "recommendations.parquet" in by_name[damaged.name]["problem"]
    assert by_name[made["sweep"].name]["headline"]["metric"] == "hypervolume"
    copied = many / run["name"]
    assert run["size"] == sum(p.stat().st_size for p in copied.rglob("*") if p.is_file())
    for name in expected:
        assert name in result.stdout.replace("\n", "")  # the table names every entry
    # filters
    assert {e["kind"] for e in listing(many, "--kind", "sweep")} == {"sweep"}
    assert len(listing(many, "--until", "2026-01-02")) == 14
    assert len(listing(many, "--since", "2026-01-02T00:00", "--until", "2026-01-03")) == 1
    assert listing(many, "--recipe", "nothing") == []


def test_show_each_kind(stored):
    results, _, made = stored
    run = rank("runs", "show", made["a"].name, "--results-dir", results)
    assert run.exit_code == 0, run.output
    for text in ("split: temporal sha256:", "timings", "EASE+mmr", "ndcg@10", "peak memory"):
        assert text in run.stdout
    seeds = rank("runs", "show", made["seeds"], "--results-dir", results)
    assert seeds.exit_code == 0 and "model seeds [1, 2]" in seeds.stdout
    trained = rank("runs", "show", made["trained"], "--results-dir", results)
    assert trained.exit_code == 0 and "not evaluated: rank eval" in trained.stdout
    sweep = rank("runs", "show", made["sweep"], "--results-dir", results)
    assert sweep.exit_code == 0 and "lambda=1" in sweep.stdout and "hypervolume" in sweep.stdout
    payload = json.loads(rank("runs", "show", made["a"], "--json").stdout)
    assert payload["entry"]["kind"] == "run"
    assert payload["manifest"] == json.loads((made["a"] / "manifest.json").read_text())
    assert payload["metrics"] == json.loads((made["a"] / "metrics.json").read_text())


def test_diff_of_two_runs_shows_the_changed_key_and_paired_deltas(stored):
    results, _, made = stored
    result = rank("runs", "diff", made["a"], made["b"], "--json")
    assert result.exit_code == 0, result.output
    diff = json.loads(result.stdout)
    assert diff["recipe"] == [{"key": "models[1].params.l2", "a": 10.0, "b": 50.0}]
    assert diff["dataset"]["same"] and diff["split"]["same"]
    changed = {d["row"] for d in diff["deltas"] if d["delta"] != 0}
    assert changed <= {"EASE", "EASE+mmr"} and "EASE" in changed
    assert {d["row"] for d in diff["deltas"]} == {"popularity", "EASE", "ItemKNN", "EASE+mmr"}
    # the paired t-test against scipy on the stored per-user values, Holm over the diff
    keys = ["model", "metric", "cutoff", "user"]
    a = pl.read_parquet(made["a"] / "per_user.parquet")
    b = pl.read_parquet(made["b"] / "per_user.parquet")
    joined = a.join(b, on=keys, suffix="_b")
    tested = [d for d in diff["deltas"] if d["users"] is not None]
    raw = []
    for d in tested:
        metric, _, cutoff = d["metric"].rpartition("@")
        part = joined.filter(
            (pl.col("model") == d["row"])
            & (pl.col("metric") == metric)
            & (pl.col("cutoff") == int(cutoff))
        )
        assert d["users"] == part.height
        x, y = part["value"].to_numpy(), part["value_b"].to_numpy()
        assert d["delta"] == pytest.approx(y.mean() - x.mean(), abs=1e-12)
        raw.append(1.0 if np.all(x == y) else stats.ttest_rel(x, y).pvalue)
    assert [d["p_value"] if d["p_value"] is not None else 1.0 for d in tested] == pytest.approx(
        raw, nan_ok=True
    )
    adjusted = holm_adjust([d["p_value"] if d["p_value"] is not None else 1.0 for d in tested])
    assert [d["p_adjusted"] for d in tested if d["p_adjusted"] is not None] == pytest.approx(
        [p for d, p in zip(tested, adjusted, strict=True) if d["p_adjusted"] is not None]
    )
    coverage = [d for d in diff["deltas"] if d["metric"].startswith("coverage")]
    assert coverage and all(d["users"] is None for d in coverage)  # one value per row
    table = rank("runs", "diff", made["a"].name, made["b"].name, "--results-dir", results)
    assert table.exit_code == 0, table.output
    assert "models[1].params.l2: 10.0 -> 50.0" in table.stdout
    assert "values unchanged (--all lists them)" in table.stdout
    assert "popularity" not in table.stdout.split("metrics", 1)[1]  # unchanged rows folded


def test_bad_input_is_one_line_with_exit_code_2(stored, tmp_path):
    results, _, made = stored
    other = tmp_path / "other"
    shutil.copytree(made["b"], other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["dataset"]["checksum"] = "sha256:" + "0" * 64
    (other / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "plain").mkdir()
    cases = [
        (("runs", "show", tmp_path / "plain"), "not a run directory"),
        (("runs", "show", "nothing-like-it", "--results-dir", results), "no such run directory"),
        (("runs", "diff", made["a"], other), "are runs of different datasets"),
        (("runs", "diff", made["a"], made["sweep"]), "diff compares two runs"),
        (("runs", "list", "--results-dir", results, "--since", "soon"), "--since: cannot read"),
        (("runs", "list", "--results-dir", results, "--kind", "bench"), "--kind: 'bench'"),
        (("runs", "list", "--results-dir", tmp_path / "none"), "no such results dir"),
        (("runs", "gc", "--results-dir", results, "--recipe", "x"), "only with --older-than"),
        (("runs", "diff", made["a"], made["b"], "--alpha", "2"), "--alpha"),
    ]
    for args, message in cases:
        result = rank(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, result.stderr)
        assert message in lines[0], (args, lines)


def _killed_run(recipe: Path, results: Path) -> Path:
    """Start `rank run` in a child process and kill -9 it once its `.tmp-` folder exists."""
    command = [sys.executable, "-c", "from recsys_cli.cli.main import main; main()"]
    child = subprocess.Popen(
        [*command, "run", str(recipe), "--results-dir", str(results), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        owned = [p for p in results.glob(".tmp-*") if (p / OWNER_FILE).is_file()]
        if owned:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return owned[0]
        time.sleep(0.005)
    child.kill()
    raise AssertionError("the run never started")


def test_gc_removes_killed_runs_and_never_a_complete_run_without_yes(stored, tmp_path):
    _, recipe, made = stored
    results = tmp_path / "results"
    results.mkdir()
    complete = [shutil.copytree(made[k], results / made[k].name) for k in ("a", "seeds", "sweep")]
    leftover = _killed_run(recipe, results)
    assert leftover.is_dir()  # kill -9 left it behind
    assert [e["status"] for e in listing(results) if e["name"] == leftover.name] == ["killed"]
    live = results / ".tmp-20990101T000000Z-stored-live"
    live.mkdir()
    (live / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")

    result = rank("runs", "gc", "--results-dir", results)
    assert result.exit_code == 0, result.output
    assert not leftover.exists() and live.is_dir()
    assert all(p.is_dir() for p in complete)
    assert "1 leftover(s) of killed runs removed" in result.stdout

    # older than tomorrow: every entry qualifies, but nothing goes without --yes (no terminal)
    result = rank("runs", "gc", "--results-dir", results, "--older-than", "2099-01-01")
    assert result.exit_code == 0, result.output
    assert "nothing removed" in result.stderr and "needs --yes" in result.stderr
    assert all(p.is_dir() for p in complete) and live.is_dir()
    result = rank("runs", "gc", "--results-dir", results, "--older-than", "2000-01-01", "--yes")
    assert result.exit_code == 0 and all(p.is_dir() for p in complete)  # none that old
    result = rank(
        "runs",
        "gc",
        "--results-dir",
        results,
        "--older-than",
        "0d",
        "--recipe",
        "stored",
        "--yes",
    )
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in complete)
    assert live.is_dir()  # still being written: never removed
