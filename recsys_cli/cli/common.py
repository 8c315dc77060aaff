"""Shared CLI plumbing: consoles, one-line user errors, progress steps, logging, list options."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import typer
from rich.console import Console, RenderableType
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text
from typer.core import TyperGroup

from recsys_cli.errors import UserError, environment_problem
from recsys_cli.progress import Progress, Step, peak_memory_mib, silent_step, timed
from recsys_cli.progress import log as step_log

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


def progress_step(quiet: bool, verbose: bool = False) -> Step:
    """Set up this command's logging (`configure_logging`) and return its `step(description)`:
    a spinner, or a bar with count and ETA once the step states its total, then a timed tick;
    nothing drawn when quiet. Every step of a command shares one rich Live on stderr."""
    configure_logging(verbose, drawn=not quiet)
    return silent_step if quiet else _LIVE.step


# The description takes the width the counts leave and is cut with an ellipsis, never wrapped:
# a live line stays one line on a narrow terminal.
_DESCRIPTION = Column(ratio=1, no_wrap=True, overflow="ellipsis")


class _Known(ProgressColumn):
    """Show `column` only once the task has a total (a step without one is a spinner)."""

    def __init__(self, column: ProgressColumn):
        super().__init__()
        self.column = column

    def render(self, task: Task) -> RenderableType:
        return self.column.render(task) if task.fields.get("known") else Text("")


class _Count(ProgressColumn):
    """`done/total unit`; bytes as kB/MB/GB with the transfer speed."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if unit == "B":
            speed = f" {decimal(int(task.speed))}/s" if task.speed else ""
            return Text(f"{decimal(int(task.completed))}/{decimal(int(task.total or 0))}{speed}")
        return Text(f"{task.completed:,.0f}/{task.total or 0:,.0f} {unit}".rstrip())


class _Task:
    """The `Progress` of one step: a task of the shared rich progress display."""

    def __init__(self, bar: RichProgress, task: TaskID):
        self._bar, self._task = bar, task

    def total(self, n: int | None, unit: str = "") -> None:
        if n is None:
            self._bar.update(self._task, completed=0, known=False, unit=unit)
        else:
            self._bar.update(self._task, total=n, completed=0, known=True, unit=unit)

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def update(self, text: str) -> None:
        self._bar.update(self._task, description=text)


class _LiveSteps:
    """Steps drawn as tasks of one rich `Progress` (one Live on `err_console`): nested steps (a
    download inside "load dataset") add a line instead of fighting over one."""

    def __init__(self) -> None:
        self._bar: RichProgress | None = None

    @contextlib.contextmanager
    def step(self, description: str) -> Iterator[Progress]:
        outermost = self._bar is None
        if outermost:
            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False, table_column=_DESCRIPTION),
                _Known(BarColumn(bar_width=16)),
                _Known(_Count(table_column=Column(no_wrap=True))),
                TimeElapsedColumn(),
                _Known(TimeRemainingColumn()),
                console=err_console,
                transient=True,
                expand=True,
            )
            self._bar.start()
        bar = self._bar
        task = bar.add_task(description, total=None, known=False)
        started = time.perf_counter()
        try:
            with timed(description, _Task(bar, task)) as progress:
                yield progress
        finally:
            bar.remove_task(task)
            if outermost:
                bar.live.stop()  # not bar.stop(), which adds a blank line on a non-terminal
                self._bar = None
        err_console.print(
            Text.assemble(
                ("✓", "green"),
                f" {description} ",
                (
                    f"{time.perf_counter() - started:.2f} s, "
                    f"peak {peak_memory_mib() / 1024:.1f} GiB",
                    "dim",
                ),
            ),
            soft_wrap=True,
        )


_LIVE = _LiveSteps()
# The stderr handler `configure_logging` installed last (CliRunner runs many commands in one
# process: each replaces the previous one).
_stderr_handler: logging.Handler | None = None


def configure_logging(verbose: bool, drawn: bool = True) -> None:
    """The package's log: DEBUG and up on stderr with -v (rich), else warnings only; INFO and up
    always reach run logs (`results.store.run_log`). When steps are drawn, their timing records
    are left off stderr (the ticks already show them)."""
    global _stderr_handler
    from rich.logging import RichHandler

    package = logging.getLogger("recsys_cli")
    if _stderr_handler is not None:
        package.removeHandler(_stderr_handler)
    _stderr_handler = RichHandler(
        console=err_console, show_path=False, markup=False, rich_tracebacks=False
    )
    _stderr_handler.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if drawn:
        _stderr_handler.addFilter(
            lambda record: record.name != step_log.name or record.levelno != logging.INFO
        )
    package.addHandler(_stderr_handler)
    package.setLevel(logging.DEBUG if verbose else logging.INFO)


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
