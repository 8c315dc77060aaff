"""The machine refusing a write: errno from Python and from polars' messages, one-line text."""

from __future__ import annotations

import errno

import polars as pl
import pytest

from recsys_cli.errors import UserError, environment_problem, os_errno, write_refused


@pytest.mark.parametrize(
    "error, code",
    [
        (OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
        (pl.exceptions.ComputeError("parquet: underlying IO error: (os error 27)"), errno.EFBIG),
        (OSError("File too large (os error 27)"), errno.EFBIG),  # polars' write_csv
        (ValueError("no errno here"), None),
        (OSError("200000 requested and 12484 written"), None),
    ],
)
def test_errno_from_python_and_polars_errors(error, code):
    assert os_errno(error) == code


def test_only_the_machine_refusing_is_an_environment_problem():
    assert environment_problem(OSError(errno.EROFS, "x")) == "the file system is read-only"
    assert environment_problem(FileNotFoundError(errno.ENOENT, "x")) is None  # may be a bug
    assert environment_problem(KeyError("x")) is None


def test_a_full_disk_names_the_folder_the_free_space_and_what_was_written(tmp_path):
    refused = write_refused(tmp_path / "new", OSError(errno.ENOSPC, "x"), written=3 * 2**20)
    message = str(refused)
    assert message.startswith(f"{tmp_path / 'new'}: no space left on the device (")
    assert "MiB free; it needs more than the 3.0 MiB written)" in message
    assert "written" not in str(write_refused(tmp_path, OSError(errno.ENOSPC, "x")))


def test_other_refusals_and_other_errors(tmp_path):
    denied = write_refused(tmp_path, PermissionError(errno.EACCES, "x"))
    assert str(denied) == f"{tmp_path}: cannot write there: permission denied"
    assert write_refused(tmp_path, KeyError("a bug keeps its traceback")) is None
    assert write_refused(tmp_path, UserError("already one line (os error 28)")) is None
