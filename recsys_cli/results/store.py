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
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recsys_cli.errors import UserError, is_disk_full, size_of, write_refused

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
# In a `.tmp-` run folder: "HOST PID" of the process writing it, so that a later run can remove
# the folders of processes that died without cleaning up (kill -9, power loss).
OWNER_FILE = ".owner"
RUN_LOG = "run.log"
REQUIRED_FILES = ("recipe.toml", "manifest.json", "test.parquet", "recommendations.parquet")


def results_root(option: Path | None) -> Path:
    """--results-dir, else $RANK_RESULTS_DIR, else ./results (a folder, made when missing)."""
    root = Path(option or os.environ.get("RANK_RESULTS_DIR", "results"))
    if root.exists() and not root.is_dir():
        raise UserError(
            f"{root}: the results dir is a file, not a folder; give another --results-dir"
        )
    return root


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        pass
    return True


def owner_tag() -> str:
    """ "HOST PID" of this process: what OWNER_FILE records (`rank tune` tags its trials so)."""
    return _owner()


def tag_gone(tag: str) -> bool:
    """True when `tag` ("HOST PID") names a process of this host that no longer exists; False
    for live processes and other hosts' (which cannot be checked from here)."""
    host, _, pid = tag.partition(" ")
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def writer(folder: Path) -> tuple[str, str] | None:
    """(host, pid) that a `.tmp-` folder records as its writer; None without a readable record."""
    try:
        host, pid = (folder / OWNER_FILE).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return None
    return host, pid


def writer_gone(folder: Path) -> bool:
    """True when a `.tmp-` folder's writer was a process of this host that no longer exists
    (killed with SIGKILL, or the machine went down); False for live processes, other hosts'
    and folders without an owner record."""
    found = writer(folder)
    return found is not None and tag_gone(" ".join(found))


def remove_dead_runs(root: Path) -> list[Path]:
    """Remove the `.tmp-` run folders under `root` whose writer is gone (`writer_gone`);
    returns them."""
    removed = []
    for folder in root.glob(f"{TEMP_PREFIX}*") if root.is_dir() else ():
        if writer_gone(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def leftovers(root: Path, depth: int = 3) -> list[Path]:
    """`.tmp-` folders at most `depth` levels under `root` whose writer is gone (the run
    folders, sweep points, study trials and re-evaluations of killed processes)."""
    found, level = [], [root]
    for _ in range(depth):
        below = []
        for folder in level:
            for child in folder.iterdir() if folder.is_dir() else ():
                if not child.is_dir() or child.is_symlink():
                    continue
                if child.name.startswith(TEMP_PREFIX):
                    found += [child] if writer_gone(child) else []
                else:
                    below.append(child)
        level = below
    return found


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
            (self.path / OWNER_FILE).write_text(_owner(), encoding="utf-8")
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


class ExistingFile(UserError):
    """A complete file is already in place (another process wrote it first): never replaced."""


def write_atomic(path: Path, write: Callable[[Path], object], *, replace: bool) -> None:
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
    write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"), replace=True)


def write_parquet(path: Path, frame: pl.DataFrame, *, replace: bool = False) -> None:
    """Write a new Parquet file; an existing `path` is never replaced (ExistingFile): two
    `rank eval`s of one run race for per_user.parquet and the second saves under evals/.
    `replace=True`: a table that is rewritten whole (`rank tune`'s trials.parquet)."""
    write_atomic(path, frame.write_parquet, replace=replace)


def write_frames(path: Path, frames: Callable[[], Iterator[pl.DataFrame]]) -> None:
    """Write the frames that `frames()` yields (one schema) as one new Parquet table, streaming:
    each frame is made when the writer needs it and dropped once written, and nothing is read
    back. An existing `path` is never replaced (ExistingFile); on an error nothing is left.

    `frames` may be called again (a polars source can be scanned more than once)."""
    from itertools import chain

    from polars.io.plugins import register_io_source

    stream = frames()
    first = next(stream, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    schema = first.schema
    pending = [chain([first], stream)]  # the first pull starts with the frame made here
    del first

    def source(with_columns, predicate, n_rows, batch_size):
        for frame in pending.pop() if pending else frames():
            if with_columns is not None:
                frame = frame.select(with_columns)
            yield frame if predicate is None else frame.filter(predicate)

    lazy = register_io_source(source, schema=schema)
    write_atomic(path, lazy.sink_parquet, replace=False)


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
        (folder / OWNER_FILE).write_text(_owner(), encoding="utf-8")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Columns each stored table must have for `rank eval`, `rank compare` and slices to read it.
RUN_TABLES = {
    "test.parquet": ("user", "item", "status"),
    "recommendations.parquet": ("model", "user", "rank", "item"),
    "per_user.parquet": ("model", "user", "metric", "cutoff", "value"),
    "users.parquet": ("user", "train_interactions"),
    "items.parquet": ("item", "train_users"),
}
# manifest.json keys that are read back, with their JSON types (a.b: key b of table a).
MANIFEST_KEYS = {
    "recipe": str,
    "dataset": dict,
    "dataset.checksum": str,
    "split": dict,
    "split.fingerprint": str,
    "lists": list,
    "list_depth": int,
    "counts": dict,
    **{
        f"counts.{key}": int
        for key in (
            "interactions",
            "users",
            "items",
            "dataset_interactions",
            "evaluated_users",
            "pairs_evaluated",
            "cold_users_excluded",
            "pairs_cold_user",
            "fit_interactions",
            "pairs_seen_in_input",
            "pairs_on_items_unseen_in_training",
        )
    },
    "counts.kind": str,
    "counts.evaluated_part": str,
}
DAMAGED = "the run directory is damaged (half-copied or edited?): run it again"


def open_run_dir(path: Path, evaluated: bool = False) -> Path:
    """Check that `path` is a complete trained run (and `evaluated`, when asked) whose files can
    be read back: manifest.json with its keys, a valid recipe.toml, and Parquet tables with their
    columns (each seed's sub-run too); one line naming the file and the problem otherwise."""
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    if path.name.startswith(TEMP_PREFIX):
        raise UserError(f"{path}: an unfinished run (interrupted or crashed); run it again")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise UserError(f"{path}: not a complete run directory (missing {', '.join(missing)})")
    if evaluated and not (path / "per_user.parquet").is_file():
        raise UserError(f"{path}: not evaluated yet; run `rank eval {path}` first")
    manifest = read_manifest(path)
    read_run_recipe(path)
    for name, columns in RUN_TABLES.items():
        if (path / name).is_file():
            check_parquet(path / name, columns)
    for seed in manifest.get("seeds", ()):
        open_run_dir(path / "seeds" / f"seed-{seed}", evaluated)
    return path


def read_json(path: Path) -> Any:
    """A JSON file; unreadable or invalid JSON is one line naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path}: not readable as JSON ({error}); {DAMAGED}") from None


def read_manifest(run_dir: Path) -> dict:
    """manifest.json of a run, checked for the keys and types that are read back (MANIFEST_KEYS;
    `seeds`, when present, a list of seeds)."""
    path = run_dir / "manifest.json"
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(manifest).__name__}; {DAMAGED}")
    for key, kind in MANIFEST_KEYS.items():
        parent, _, last = key.rpartition(".")
        value = manifest.get(parent, {}).get(last) if parent else manifest.get(last)
        if not isinstance(value, kind) or isinstance(value, bool):
            problem = "missing" if value is None else f"{type(value).__name__}, not {kind.__name__}"
            raise UserError(f"{path}: {key} is {problem}; {DAMAGED}")
    seeds = manifest.get("seeds", [])
    if not isinstance(seeds, list) or not all(type(s) is int and s >= 0 for s in seeds):
        raise UserError(f"{path}: seeds is not a list of seeds; {DAMAGED}")
    if not all(isinstance(label, str) for label in manifest["lists"]):
        raise UserError(f"{path}: lists is not a list of row labels; {DAMAGED}")
    return manifest


def read_run_recipe(run_dir: Path):
    """The resolved recipe.toml of a run, validated into a `Recipe` (errors name the file)."""
    from recsys_cli.config.loader import read_toml, recipe_from_dict
    from recsys_cli.errors import RecipeError

    path = run_dir / "recipe.toml"
    try:
        return recipe_from_dict(read_toml(path))
    except RecipeError as error:
        if error.source is not None:
            raise
        raise RecipeError(
            error.path, str(error).removeprefix(f"{error.path}: "), str(path)
        ) from None


def check_parquet(path: Path, columns: tuple[str, ...]) -> None:
    """A stored table whose footer and schema can be read, holding `columns` (a truncated,
    empty or foreign file fails here, before any work)."""
    try:
        schema = pl.read_parquet_schema(path)
    except (OSError, pl.exceptions.PolarsError) as error:
        raise UserError(
            f"{path}: not a readable Parquet file ({_first_line(error)}); {DAMAGED}"
        ) from None
    missing = [c for c in columns if c not in schema]
    if missing:
        raise UserError(f"{path}: lacks the column(s) {', '.join(missing)}; {DAMAGED}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def damaged_run_reported(run_dir: Path | str) -> Iterator[None]:
    """Reading a run's tables: a Parquet file damaged inside (its footer intact, so
    `check_parquet` passed) is one line naming the run(s), not a polars traceback."""
    try:
        yield
    except pl.exceptions.PolarsError as error:
        if "out of specification" not in str(error) and not str(error).startswith("parquet"):
            raise
        raise UserError(
            f"{run_dir}: a stored Parquet file is damaged ({_first_line(error)}); {DAMAGED}"
        ) from None
