"""Run directories: written under a hidden temporary name and renamed only when complete.

A run directory holds recipe.toml (resolved), manifest.json, test.parquet, candidates.parquet,
recommendations.parquet and, once evaluated, per_user.parquet and metrics.json. `metrics.json` is
written last, so a directory with it is a finished evaluation; one without it was only trained.
Every run directory also holds run.log: the package's INFO log records while it was written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recsys_cli.errors import UserError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
RUN_LOG = "run.log"
REQUIRED_FILES = ("recipe.toml", "manifest.json", "test.parquet", "recommendations.parquet")


def results_root(option: Path | None) -> Path:
    """--results-dir, else $RANK_RESULTS_DIR, else ./results."""
    return Path(option or os.environ.get("RANK_RESULTS_DIR", "results"))


class PendingRun:
    """Context manager for a new run: work in `.path`; on success it becomes `.final`.

    On any error (or Ctrl-C) the temporary directory is removed, so nothing half-written looks
    like a run. Final names carry a timestamp and random suffix, so runs never overwrite each other.
    While open, the run's log goes to `run.log` inside it (`run_log`), closed before the rename.
    """

    def __init__(self, root: Path, name: str):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.final = root / f"{stamp}-{_safe(name)}-{secrets.token_hex(3)}"
        self.path = root / f"{TEMP_PREFIX}{self.final.name}"
        self._log = contextlib.ExitStack()

    def __enter__(self) -> PendingRun:
        self.path.mkdir(parents=True)
        self._log.enter_context(run_log(self.path / RUN_LOG))
        log.info("run %s (written as %s until complete)", self.final, self.path.name)
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        self._log.close()
        if kind is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        self.path.rename(self.final)  # atomic within one filesystem
        return False


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """While the block runs, append the package's log records of INFO and up from this thread
    to `path`, whatever -v shows on stderr. Other threads (concurrent Dask tasks in one worker)
    log to their own runs."""
    package = logging.getLogger("recsys_cli")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    level = package.level
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    package.addHandler(handler)
    try:
        from recsys_cli import __version__

        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        log.info("recsys-cli %s, process: %s", __version__, command)
        yield
    finally:
        package.removeHandler(handler)
        handler.close()
        package.setLevel(level)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:60] or "run"


class ExistingFile(UserError):
    """A complete file is already in place (another process wrote it first): never replaced."""


def _write_atomic(path: Path, write: Callable[[Path], object], *, replace: bool) -> None:
    """`write` a temporary file of a unique name beside `path`, then move it to `path`: replacing
    it, or (replace=False) only where no `path` exists yet, else ExistingFile. Concurrent
    writers never share a temporary name, and no temporary file outlives the call."""
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}")
    try:
        write(temp)
        if replace:
            temp.replace(path)
            return
        try:
            os.link(temp, path)  # atomic, and fails where `path` exists
        except FileExistsError:
            raise ExistingFile(f"{path}: already written by another process; kept") from None
        except OSError:  # a file system without hard links: check, then rename
            if path.exists():
                raise ExistingFile(f"{path}: already written by another process; kept") from None
            temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def write_json(path: Path, payload: Any) -> None:
    """Write JSON through a uniquely named temporary file and an atomic rename."""
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    _write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"), replace=True)


def write_parquet(path: Path, frame: pl.DataFrame) -> None:
    """Write a new Parquet file; an existing `path` is never replaced (ExistingFile): two
    `rank eval`s of one run race for per_user.parquet and the second saves under evals/."""
    _write_atomic(path, frame.write_parquet, replace=False)


class ParquetPieces:
    """Write one Parquet table piece by piece: each piece goes to a hidden part file as soon as
    it exists (and can be dropped from memory); leaving the `with` block joins the parts in one
    streaming pass and renames the result into place. On an error nothing is left behind."""

    def __init__(self, path: Path):
        self.path = path
        self.parts: list[Path] = []
        self.token = secrets.token_hex(4)  # part names of concurrent writers never meet

    def __enter__(self) -> ParquetPieces:
        return self

    def add(self, frame: pl.DataFrame) -> None:
        part = self.path.with_name(
            f"{TEMP_PREFIX}{self.path.stem}-{self.token}-{len(self.parts)}.parquet"
        )
        frame.write_parquet(part)
        self.parts.append(part)

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            if kind is None:
                joined = pl.scan_parquet(self.parts)
                _write_atomic(self.path, joined.sink_parquet, replace=False)
        finally:
            for leftover in self.parts:
                leftover.unlink(missing_ok=True)
        return False


def open_run_dir(path: Path) -> Path:
    """Check that `path` is a complete trained run; one clear error otherwise."""
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    if path.name.startswith(TEMP_PREFIX):
        raise UserError(f"{path}: an unfinished run (interrupted or crashed); run it again")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise UserError(f"{path}: not a complete run directory (missing {', '.join(missing)})")
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
