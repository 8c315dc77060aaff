"""Run directories: written under a hidden temporary name and renamed only when complete.

A run directory holds recipe.toml (resolved), manifest.json, test.parquet, users.parquet,
items.parquet, candidates.parquet, recommendations.parquet, side/ (the item side data its metrics
read: `results.side_data`) and, once evaluated, per_user.parquet and metrics.json. `metrics.json`
is written last, so a directory with it is a finished evaluation; one without it was only
trained. Every run directory also holds run.log: the package's INFO log records while it was
written. A run is written once: training evaluates its lists in memory, and only `rank eval`,
`rank compare` and the reports read the files back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recsys_cli.errors import UserError, is_disk_full, size_of, write_refused
from recsys_cli.results.atomic import TEMP_PREFIX
from recsys_cli.results.owners import OWNER_FILE, owner_tag, remove_dead_runs

log = logging.getLogger(__name__)

RUN_LOG = "run.log"


def results_root(option: Path | None) -> Path:
    """--results-dir, else $RANK_RESULTS_DIR, else ./results (a folder, made when missing)."""
    root = Path(option or os.environ.get("RANK_RESULTS_DIR", "results"))
    if root.exists() and not root.is_dir():
        raise UserError(
            f"{root}: the results dir is a file, not a folder; give another --results-dir"
        )
    return root


class PendingRun:
    """Context manager for a new run: work in `.path`; on success it becomes `.final`.

    On any error (or Ctrl-C, or SIGTERM via the CLI) the temporary directory is removed, so
    nothing half-written looks like a run; a full or read-only disk becomes one `write_refused`
    line. The folder records its writer (OWNER_FILE), and opening a run first removes the folders
    of dead writers (`remove_dead_runs`). Final names carry a timestamp and random suffix, so
    runs never overwrite each other. While open, the run's log goes to `run.log` inside it
    (`run_log`), closed before the rename.
    """

    def __init__(self, root: Path, name: str):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.final = root / f"{stamp}-{_safe(name)}-{secrets.token_hex(3)}"
        self.path = root / f"{TEMP_PREFIX}{self.final.name}"
        self._log = contextlib.ExitStack()

    def __enter__(self) -> PendingRun:
        remove_dead_runs(self.path.parent)
        try:
            self.path.mkdir(parents=True)
            (self.path / OWNER_FILE).write_text(owner_tag(), encoding="utf-8")
            self._log.enter_context(run_log(self.path / RUN_LOG))
            log.info("run %s (written as %s until complete)", self.final, self.path.name)
        except BaseException as error:
            self.__exit__(type(error), error, None)
            raise
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            self._log.close()  # flushes run.log: fails on a full disk
            if kind is None:
                (self.path / OWNER_FILE).unlink()
                self.path.rename(self.final)  # atomic within one filesystem
                return False
        except OSError as failure:
            error = error or failure
        written = size_of(self.path) if self.path.exists() and is_disk_full(error) else None
        shutil.rmtree(self.path, ignore_errors=True)
        # Inside another pending run (a sweep's points), that one names the folder and the size.
        nested = self.path.parent.name.startswith(TEMP_PREFIX)
        refused = None if nested else write_refused(self.path.parent, error, written)
        if refused is not None:
            raise refused from None
        if kind is None:
            raise error
        return False


class _RunLogHandler(logging.FileHandler):
    """A run.log that cannot be written (a full disk) fails the run like any other file, instead
    of logging printing a traceback and going on: PendingRun removes the folder, says one line."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # called inside emit's `except`: re-raises the write error


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """While the block runs, append the package's log records of INFO and up from this thread
    to `path`, whatever -v shows on stderr. Other threads (concurrent Dask tasks in one worker)
    log to their own runs."""
    package = logging.getLogger("recsys_cli")
    handler = _RunLogHandler(path, encoding="utf-8")
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


def link_or_copy(source: Path, target: Path) -> None:
    """`target` as a hard link to the file `source` (a folder: a new folder of links to its
    files), copied where the filesystem has no hard links."""
    if source.is_dir():
        target.mkdir()
        for child in source.iterdir():
            link_or_copy(child, target / child.name)
        return
    try:
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links
        shutil.copyfile(source, target)


@dataclass(frozen=True)
class SharedFiles:
    """Files of a run directory that are identical in the other runs of one job (a sweep's
    points, a multi-seed run's seeds): written once, into `folder`, and hard-linked into every
    run (`link_or_copy`) instead of being written again."""

    folder: Path
    names: frozenset[str]

    def place(self, name: str, run_dir: Path) -> bool:
        """Link the shared `name` into `run_dir`; False (nothing done) where it is not shared."""
        if name not in self.names:
            return False
        link_or_copy(self.folder / name, run_dir / name)
        return True


@contextlib.contextmanager
def shared_folder(root: Path) -> Iterator[Path]:
    """A hidden folder under `root` for `SharedFiles`, owned by this process (a later run
    removes it if this process dies: `remove_dead_runs`) and removed when the block ends."""
    folder = root / f"{TEMP_PREFIX}shared-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    try:
        (folder / OWNER_FILE).write_text(owner_tag(), encoding="utf-8")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
