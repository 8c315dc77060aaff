"""Connecting to a Dask cluster: a local one of worker processes, or an existing scheduler."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from recsys_cli.errors import UserError

INSTALL_HINT = "pip install 'recsys-cli[distributed]'"
# A task whose worker dies is rescheduled by the scheduler anyway; retries also cover a task that
# fails with an exception on a sick worker (e.g. out of disk), at most this many times more.
RETRIES = 2


def _distributed():
    """The `distributed` package, or one clear line saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UserError(
            f"--workers/--scheduler need Dask distributed, which is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


# Each local worker is a process of its own (one thread): beyond a few per core they only
# compete for memory and cores.
LOCAL_WORKERS_PER_CORE = 4


@contextlib.contextmanager
def connect(
    workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0
) -> Iterator:
    """A `distributed.Client`: a local cluster of `workers` processes, or an existing scheduler.

    A local cluster listens on 127.0.0.1 only (one thread per worker process, so BLAS and numba
    do not oversubscribe cores) and is closed on exit; an existing scheduler is left running.
    """
    if (workers is None) == (scheduler is None):
        raise UserError("give either --workers N (a local cluster) or --scheduler tcp://HOST:PORT")
    distributed = _distributed()
    if workers is not None:
        if workers < 1:
            raise UserError(f"--workers {workers}: needs at least one worker")
        most = LOCAL_WORKERS_PER_CORE * (os.cpu_count() or 1)
        if workers > most:
            raise UserError(
                f"--workers {workers}: a local cluster runs at most {most} worker processes "
                f"here ({LOCAL_WORKERS_PER_CORE} per core); a larger cluster: --scheduler"
            )
        with (
            distributed.LocalCluster(
                n_workers=workers,
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise UserError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({error}); start one "
            "with `dask scheduler` and pass the tcp://HOST:PORT address it prints"
        ) from None
    with client:
        yield client


def worker_count(client) -> int:
    """Workers currently connected to the client's scheduler."""
    return len(client.scheduler_info().get("workers", {}))
