"""Shared CLI plumbing: consoles, one-line user errors, progress steps, list options."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.status import Status

from recsys_cli.errors import UserError

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors_reported() -> Iterator[None]:
    """Render `UserError` as one red line on stderr with exit code 2 (no traceback)."""
    try:
        yield
    except UserError as error:
        err_console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[red]interrupted[/red]: nothing was left looking complete")
        raise typer.Exit(130) from None


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
    return values
