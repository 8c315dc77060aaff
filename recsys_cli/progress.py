"""Progress of long steps, without a display library: the interface library code reports to.

A pipeline stage receives a `Step`, a context manager factory `step(description)` that yields a
`Progress`. Library code says how much work there is (`total`), reports it done in batches
(`advance`, once per block of users, iteration or file chunk; never per user) and may replace
the description (`update`, e.g. an epoch's loss). The CLI draws it as rich progress bars
(`recsys_cli.cli.common`); `silent_step` draws nothing. Every step, drawn or not, logs its
duration and the process's peak memory so far at INFO (so run.log has the timings) and its start
at DEBUG.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Protocol

log = logging.getLogger(__name__)


class Progress(Protocol):
    """What a long step reports: how much work there is, how much is done, what it is doing."""

    def total(self, n: int | None, unit: str = "") -> None:
        """Start counting toward `n` `unit`s (None: unknown); the count restarts at 0."""

    def advance(self, n: int = 1) -> None:
        """`n` more units are done."""

    def update(self, text: str) -> None:
        """Replace the step's description (what it is doing now)."""


class NoProgress:
    """The `Progress` that shows nothing (quiet runs, library calls, workers)."""

    def total(self, n: int | None, unit: str = "") -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, text: str) -> None:
        pass


NO_PROGRESS = NoProgress()

Step = Callable[[str], contextlib.AbstractContextManager[Progress]]


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@contextlib.contextmanager
def timed(description: str, progress: Progress = NO_PROGRESS) -> Iterator[Progress]:
    """Yield `progress`; log the step's start (DEBUG) and, when it succeeds, its duration (INFO)."""
    log.debug("%s ...", description)
    started = time.perf_counter()
    yield progress
    seconds = time.perf_counter() - started
    log.info("%s: %.2f s, peak memory %.0f MiB", description, seconds, peak_memory_mib())


def silent_step(description: str) -> contextlib.AbstractContextManager[Progress]:
    """A `Step` that draws nothing (its duration is still logged)."""
    return timed(description)
