"""Errors caused by the user's input: rendered as one line and exit code 2, never a traceback."""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

# What the machine refuses, not what the program got wrong: a full or read-only disk, a
# folder that is a file, missing permissions. These are reported in one line like bad input.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_ENVIRONMENT = {
    **{code: "no space left on the device" for code in _DISK_FULL},
    errno.EFBIG: "a file outgrew the file-size limit (ulimit -f)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
}
# polars and other Rust code report the errno only inside the message: "... (os error 28)"
_RUST_ERRNO = re.compile(r"\(os error (\d+)\)")


class UserError(Exception):
    """Bad input from the user (recipe, file, option); the message names the problem."""

    exit_code = 2


class RecipeError(UserError):
    """A recipe value that fails validation; `path` is the key path such as `models[1].params.k`."""

    def __init__(self, path: str, message: str, source: str | None = None):
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}" if path else f"{where}{message}")


class DataError(UserError):
    """A dataset that is missing, corrupt or does not match its expected checksum."""


def os_errno(error: BaseException) -> int | None:
    """The errno of an OSError, or of a polars error that wraps one ("(os error 28)")."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.errno
    match = _RUST_ERRNO.search(str(error))
    return int(match.group(1)) if match else None


def environment_problem(error: BaseException) -> str | None:
    """A short description when `error` is the machine refusing a file operation (full or
    read-only disk, permissions, a file where a folder should be); None for anything else."""
    return _ENVIRONMENT.get(os_errno(error))


def is_disk_full(error: BaseException) -> bool:
    return os_errno(error) in _DISK_FULL | {errno.EFBIG}


def size_of(path: Path) -> int:
    """Bytes in a file, or in the files under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def write_refused(
    directory: Path, error: BaseException, written: int | None = None
) -> UserError | None:
    """One line for a write the machine refused under `directory` (full or read-only disk,
    permissions); None when `error` is something else. `written`: bytes that had been written
    (and are now removed) when the disk filled, a lower bound of the space needed."""
    problem = environment_problem(error)
    if problem is None or isinstance(error, UserError):
        return None
    if not is_disk_full(error):
        return UserError(f"{directory}: cannot write there: {problem}")
    existing = next(p for p in [directory, *directory.absolute().parents] if p.exists())
    free = f"{_size(shutil.disk_usage(existing).free)} free"
    needed = "" if written is None else f"; it needs more than the {_size(written)} written"
    return UserError(
        f"{directory}: {problem} ({free}{needed}); the partial files are removed: make room or "
        "write elsewhere"
    )


@contextlib.contextmanager
def writing_into(directory: Path) -> Iterator[None]:
    """Turn a write the machine refuses inside the block into one `write_refused` line."""
    try:
        yield
    except Exception as error:
        refused = write_refused(directory, error)
        if refused is None:
            raise
        raise refused from None
