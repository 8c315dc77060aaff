"""Shared CLI plumbing: consoles, one-line user errors, progress steps, list options."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.status import Status
from rich.text import Text
from typer.core import TyperGroup

from recsys_cli.errors import UserError, environment_problem

console = Console()
# Messages quote user input (paths, ids, `a:b:c`, `[tail]`): no emoji codes, no markup.
err_console = Console(stderr=True, emoji=False)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it cleans up exactly like Ctrl-C."""


def report_error(message: str) -> None:
    """One `error: ...` line on stderr; the message is shown verbatim (never read as markup)."""
    err_console.print(
        Text.assemble(("error:", "red"), " ", message), highlight=False, soft_wrap=True
    )


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While a command runs, SIGTERM raises `Terminated` in the main thread (cleanup runs) instead
    of killing the process on the spot; a forked child that inherited it dies as by default."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def user_errors_reported() -> Iterator[None]:
    """Render `UserError` as one red line on stderr with exit code 2 (no traceback); so too a
    full or read-only disk or a missing permission (the machine refusing, not a bug). Ctrl-C and
    SIGTERM exit with 130 and 143 after the same cleanup."""
    try:
        with _sigterm_raises():
            yield
    except UserError as error:
        report_error(str(error))
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt as error:
        signal_name, code = ("SIGTERM", 143) if isinstance(error, Terminated) else ("Ctrl-C", 130)
        err_console.print(
            Text.assemble(
                ("interrupted", "red"), f" ({signal_name}): nothing was left looking complete"
            )
        )
        raise typer.Exit(code) from None
    except Exception as error:
        problem = environment_problem(error)
        if problem is None:
            raise
        where = getattr(error, "filename", None)
        report_error(f"{where}: {problem}" if where else f"{problem} ({error})")
        raise typer.Exit(UserError.exit_code) from None


def user_errors(command: Callable) -> Callable:
    """Decorate a command so that its `UserError`s are reported as by `user_errors_reported`."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with user_errors_reported():
            return command(*args, **kwargs)

    return wrapper


def progress_step(quiet: bool):
    """A `step(description)` context manager: a spinner while it runs, a timed tick after.

    It yields the rich `Status`, whose text a long step may update (None when quiet)."""
    if quiet:
        from recsys_cli.experiment import silent_step

        return silent_step

    @contextlib.contextmanager
    def step(description: str) -> Iterator[Status]:
        started = time.perf_counter()
        with err_console.status(description) as status:
            yield status  # long steps (epochs) update its text
        err_console.print(
            f"[green]✓[/green] {description} [dim]{time.perf_counter() - started:.2f} s"
        )

    return step


def parse_list(text: str | None, option: str, cast: Callable = str) -> tuple | None:
    """'10,20' -> (10, 20); a clear error naming the option otherwise."""
    if text is None:
        return None
    try:
        values = tuple(cast(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(f"{option}: cannot read {text!r} as a comma-separated list") from None
    if not values:
        raise UserError(f"{option}: empty list")
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        # a repeated cutoff would count every user twice (and halve the standard errors)
        raise UserError(f"{option}: {repeated!r} is given twice in {text!r}; list each once")
    return values


@contextlib.contextmanager
def _usage_errors_one_line() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        # Typer's usage errors are click exceptions (vendored by Typer >= 0.26, click's own
        # before), told apart by what they offer; `rank` alone asks for the help text.
        if not hasattr(error, "format_message") or type(error).__name__ == "NoArgsIsHelpError":
            raise
        ctx = getattr(error, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        report_error(where + " ".join(error.format_message().split()) + hint)
        raise typer.Exit(error.exit_code) from None


class OneLineUsageErrors(TyperGroup):
    """The root group: usage errors (a missing argument, `--alpha abc`, an unknown option) are
    one `error:` line naming the command and option, exit code 2, like every other error."""

    def make_context(self, *args, **kwargs):
        with _usage_errors_one_line():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with _usage_errors_one_line():
            return super().invoke(ctx)
