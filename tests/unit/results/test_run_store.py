"""Run folders: the owner record and the removal of dead writers' folders, refused writes,
and the checks that turn a damaged run directory into one line naming the file."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess

import polars as pl
import pytest

from recsys_cli.errors import UserError
from recsys_cli.results.atomic import TEMP_PREFIX
from recsys_cli.results.owners import OWNER_FILE, remove_dead_runs
from recsys_cli.results.readback import (
    MANIFEST_KEYS,
    check_parquet,
    damaged_run_reported,
    read_manifest,
)
from recsys_cli.results.store import PendingRun


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def pending_folder(root, name, owner: str | None):
    folder = root / f"{TEMP_PREFIX}{name}"
    folder.mkdir(parents=True)
    (folder / "recommendations.parquet").write_text("partial")
    if owner is not None:
        (folder / OWNER_FILE).write_text(owner)
    return folder


def test_only_folders_of_dead_writers_on_this_host_are_removed(tmp_path):
    host = socket.gethostname()
    dead = pending_folder(tmp_path, "dead", f"{host} {dead_pid()}")
    alive = pending_folder(tmp_path, "alive", f"{host} {os.getpid()}")
    elsewhere = pending_folder(tmp_path, "elsewhere", f"other-{host} {dead_pid()}")
    unowned = pending_folder(tmp_path, "unowned", None)
    garbled = pending_folder(tmp_path, "garbled", "not a record")
    finished = tmp_path / "20250101T000000Z-run-abcdef"
    finished.mkdir()
    assert remove_dead_runs(tmp_path) == [dead]
    assert not dead.exists()
    assert all(p.exists() for p in (alive, elsewhere, unowned, garbled, finished))
    assert remove_dead_runs(tmp_path / "missing") == []


def test_a_pending_run_records_its_owner_and_drops_the_record_when_final(tmp_path):
    with PendingRun(tmp_path, "r") as pending:
        host, pid = (pending.path / OWNER_FILE).read_text().split()
        assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert not (pending.final / OWNER_FILE).exists()
    assert [p.name for p in tmp_path.iterdir()] == [pending.final.name]


def test_opening_a_run_removes_the_folder_of_a_killed_one(tmp_path):
    killed = pending_folder(tmp_path, "killed", f"{socket.gethostname()} {dead_pid()}")
    with PendingRun(tmp_path, "r"):
        assert not killed.exists()


@pytest.mark.parametrize(
    "error, fragment",
    [
        (OSError(errno.ENOSPC, "No space left on device"), "needs more than the 2.0 MiB written"),
        (pl.exceptions.ComputeError("parquet: No space (os error 28)"), "no space left"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "no space left"),
        (OSError(errno.EROFS, "Read-only file system"), "cannot write there: the file system"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
    ],
)
def test_a_refused_write_is_one_line_naming_the_results_dir(tmp_path, error, fragment):
    with pytest.raises(UserError, match=fragment) as caught, PendingRun(tmp_path, "r") as pending:
        (pending.path / "part.parquet").write_bytes(b"x" * 2**21)  # and run.log's few bytes
        raise error
    assert str(caught.value).startswith(f"{tmp_path}: ")
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_and_still_clean_up(tmp_path):
    with pytest.raises(KeyError), PendingRun(tmp_path, "r"):
        raise KeyError("a bug keeps its traceback")
    assert list(tmp_path.iterdir()) == []


def test_a_nested_pending_run_leaves_the_line_to_the_outer_one(tmp_path):
    outer = pytest.raises(UserError, match=f"^{tmp_path}: no space left")
    with outer, PendingRun(tmp_path, "sweep") as sweep, PendingRun(sweep.path, "point"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def manifest(**changes) -> dict:
    base = {
        "recipe": "r",
        "dataset": {"checksum": "sha256:x"},
        "split": {"fingerprint": "sha256:y"},
        "lists": ["EASE"],
        "list_depth": 10,
        "counts": {k.split(".")[1]: 1 for k in MANIFEST_KEYS if k.startswith("counts.")},
    }
    base["counts"].update(kind="temporal", evaluated_part="test")
    for key, value in changes.items():
        parent, _, last = key.rpartition("__")
        target = base[parent] if parent else base
        if value is None:
            target.pop(last)
        else:
            target[last] = value
    return base


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{", "not readable as JSON"),
        ("[]", "expected a JSON object, got list"),
        (manifest(lists=None), "lists is missing"),
        (manifest(list_depth="10"), "list_depth is str, not int"),
        (manifest(list_depth=True), "list_depth is bool, not int"),
        (manifest(split__fingerprint=None), "split.fingerprint is missing"),
        (manifest(split=[]), "split is list, not dict"),
        (manifest(counts__users=None), "counts.users is missing"),
        (manifest(lists=[1]), "lists is not a list of row labels"),
        (manifest(seeds=[1, -2]), "seeds is not a list of seeds"),
    ],
)
def test_a_damaged_manifest_is_one_line_naming_the_key(tmp_path, content, fragment):
    path = tmp_path / "manifest.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(UserError, match=fragment) as caught:
        read_manifest(tmp_path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_a_complete_manifest_reads(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest(seeds=[1, 2])))
    assert read_manifest(tmp_path)["seeds"] == [1, 2]


def test_parquet_footer_and_columns_are_checked(tmp_path):
    path = tmp_path / "test.parquet"
    pl.DataFrame({"user": [1], "item": [2]}).write_parquet(path)
    with pytest.raises(UserError, match="lacks the column\\(s\\) status"):
        check_parquet(path, ("user", "item", "status"))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="not a readable Parquet file"):
        check_parquet(path, ("user",))


def test_damage_inside_a_table_is_one_line_but_other_errors_are_not(tmp_path):
    with (
        pytest.raises(UserError, match="a stored Parquet file is damaged"),
        damaged_run_reported(tmp_path),
    ):
        raise pl.exceptions.ComputeError("parquet: File out of specification: zstd error")
    with pytest.raises(pl.exceptions.ColumnNotFoundError), damaged_run_reported(tmp_path):
        raise pl.exceptions.ColumnNotFoundError("a bug keeps its traceback")
