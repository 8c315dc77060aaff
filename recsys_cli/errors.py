"""Errors caused by the user's input: rendered as one line and exit code 2, never a traceback."""

from __future__ import annotations

import errno
import re

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
