"""Atomic writers: files written under a unique temporary name, then moved into place."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from recsys_cli.errors import UserError

TEMP_PREFIX = ".tmp-"


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
