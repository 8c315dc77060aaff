"""The results-dir catalog (kinds and status from small files), dates, recipe key-path diffs."""

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from recsys_cli.errors import UserError
from recsys_cli.results.catalog import classify, find, parse_when, scan
from recsys_cli.results.diff import flatten, recipe_changes
from recsys_cli.results.owners import OWNER_FILE


def test_flatten_gives_set_key_paths():
    recipe = {"seed": 1, "models": [{"name": "ease", "params": {"l2": 2.0}}], "groups": {}}
    assert flatten(recipe) == {
        "seed": 1,
        "models[0].name": "ease",
        "models[0].params.l2": 2.0,
        "groups": {},
    }


def test_recipe_changes_are_exactly_the_differing_key_paths():
    a = {"seed": 1, "models": [{"name": "ease", "params": {"l2": 2.0}}], "eval": {"k": [5]}}
    b = {"seed": 1, "models": [{"name": "ease", "params": {"l2": 5.0}}, {"name": "pop"}]}
    b["eval"] = {"k": [5, 10]}
    assert recipe_changes(a, b) == [
        {"key": "models[0].params.l2", "a": 2.0, "b": 5.0},
        {"key": "models[1].name", "b": "pop"},  # keys only in B follow, in B's order
        {"key": "eval.k[1]", "b": 10},
    ]
    assert recipe_changes(a, a) == []
    # 1 and 1.0 are equal in Python but different TOML values: reported
    assert recipe_changes({"x": 1}, {"x": 1.0}) == [{"key": "x", "a": 1, "b": 1.0}]


def test_parse_when_reads_dates_and_ages():
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    assert parse_when("2026-05-01", "--since", now) == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_when("2026-05-01T06:30+02:00", "--since", now) == datetime(
        2026, 5, 1, 4, 30, tzinfo=UTC
    )
    assert parse_when("3d", "--since", now) == now - timedelta(days=3)
    assert parse_when("2w", "--since", now) == now - timedelta(weeks=2)
    assert parse_when("12h", "--since", now) == now - timedelta(hours=12)
    with pytest.raises(UserError, match="--since: cannot read 'yesterday'"):
        parse_when("yesterday", "--since", now)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # reaped: no process has it (pids are not reused this quickly)


def test_unfinished_folders_are_running_or_killed_by_their_writer(tmp_path):
    host = socket.gethostname()
    live = tmp_path / ".tmp-20260101T000000Z-a-000000"
    dead = tmp_path / ".tmp-20260101T000001Z-sweep-b-000000"
    unknown = tmp_path / ".tmp-20260101T000002Z-c-000000"
    elsewhere = tmp_path / ".tmp-20260101T000003Z-d-000000"
    for folder, owner in [
        (live, f"{host} {os.getpid()}"),
        (dead, f"{host} {_dead_pid()}"),
        (elsewhere, f"another-host {os.getpid()}"),
    ]:
        folder.mkdir()
        (folder / OWNER_FILE).write_text(owner)
    unknown.mkdir()
    entries = {e.name: e for e in scan(tmp_path)}
    assert entries[live.name].status == "running"
    assert (entries[dead.name].status, entries[dead.name].kind) == ("killed", "sweep")
    assert "(gone)" in entries[dead.name].problem
    assert entries[unknown.name].status == "running"  # no owner: never called dead
    assert entries[elsewhere.name].status == "running"  # another host's process: unknown
    assert entries[dead.name].created == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert (entries[live.name].recipe, entries[dead.name].recipe) == ("a", "b")


def test_foreign_folders_are_skipped_and_damaged_runs_keep_their_reason(tmp_path):
    (tmp_path / "baselines").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    damaged = tmp_path / "20260101T000000Z-x-000000"
    damaged.mkdir()
    (damaged / "manifest.json").write_text("{not json")
    broken_sweep = tmp_path / "20260102T000000Z-sweep-x-000000"
    broken_sweep.mkdir()
    (broken_sweep / "sweep.json").write_text(json.dumps({"entries": []}))
    entries = scan(tmp_path)
    assert [(e.name, e.kind, e.status) for e in entries] == [
        (damaged.name, "run", "damaged"),
        (broken_sweep.name, "sweep", "damaged"),
    ]
    assert "manifest.json: not readable as JSON" in entries[0].problem
    assert entries[1].problem.startswith("sweep.json lacks grid, rows, pareto_metrics")
    assert classify(tmp_path / "baselines") is None


def test_find_by_folder_or_unique_part_of_a_name(tmp_path):
    for name in ("20260101T000000Z-alpha-000001", "20260101T000000Z-alpha-000002"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("[]")
    assert find(tmp_path, tmp_path / "20260101T000000Z-alpha-000001").name.endswith("01")
    assert find(tmp_path, type(tmp_path)("alpha-000002")).name.endswith("02")
    with pytest.raises(UserError, match="2 entries in .* match"):
        find(tmp_path, type(tmp_path)("alpha"))
    with pytest.raises(UserError, match="beta: no such run directory"):
        find(tmp_path, type(tmp_path)("beta"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="plain: not a run directory"):
        find(tmp_path, tmp_path / "plain")
