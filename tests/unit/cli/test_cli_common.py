"""The shared CLI plumbing: list options and the reporting of errors and signals."""

from __future__ import annotations

import errno
import os
import signal
import time

import pytest
import typer

from recsys_cli.cli import common
from recsys_cli.errors import UserError


@pytest.mark.parametrize(
    "text, cast, fragment",
    [
        ("10,10", int, "10 is given twice in '10,10'"),
        ("ndcg, recall,ndcg", str, "'ndcg' is given twice"),
        (",", str, "empty list"),
        ("ten", int, "cannot read 'ten'"),
    ],
)
def test_list_options_refuse_repeats_and_garbage(text, cast, fragment):
    with pytest.raises(UserError, match=fragment):
        common.parse_list(text, "--cutoffs", cast)


def test_list_options_keep_order():
    assert common.parse_list("20, 5,10", "--cutoffs", int) == (20, 5, 10)


def exit_code_of(raise_inside) -> int:
    with pytest.raises(typer.Exit) as caught, common.user_errors_reported():
        raise_inside()
    return caught.value.exit_code


def test_user_errors_are_one_verbatim_line(capsys):
    def fail():
        raise UserError("a:b:c :smile: [tail] [bold]x[/bold]")

    assert exit_code_of(fail) == 2
    assert capsys.readouterr().err == "error: a:b:c :smile: [tail] [bold]x[/bold]\n"


def test_a_refusing_machine_is_one_line_but_a_bug_is_not(capsys):
    def full():
        raise OSError(errno.ENOSPC, "No space left on device", "results/x.parquet")

    assert exit_code_of(full) == 2
    assert capsys.readouterr().err == "error: results/x.parquet: no space left on the device\n"
    with pytest.raises(ZeroDivisionError), common.user_errors_reported():
        raise ZeroDivisionError


def test_sigterm_unwinds_like_ctrl_c_and_the_handler_is_restored(capsys):
    before = signal.getsignal(signal.SIGTERM)
    cleaned = []

    def terminated():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises first
            raise AssertionError("SIGTERM did not interrupt the command")
        finally:
            cleaned.append(True)

    assert exit_code_of(terminated) == 143
    assert cleaned == [True]
    assert capsys.readouterr().err.startswith("interrupted (SIGTERM)")
    assert signal.getsignal(signal.SIGTERM) == before
