"""Trials on a Dask cluster (`rank tune --workers N` or `--scheduler tcp://HOST:PORT`).

The `rank tune` process keeps the Optuna study (asks and tells, one trial per free worker); the
prepared data and item side data go to every worker once. A worker fits the trial's model (each
worker keeps its own cache of fitted candidates, as a single process does), reranks and evaluates
in memory (models that write while training use a scratch folder of its own) and returns the
validation metrics, so workers need no shared file system. A trial whose worker dies is run
again elsewhere (Dask retries); if the `rank tune` process dies, its trials in flight are marked
FAIL by the next one, as without Dask.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.config.schema import Recipe
from recsys_cli.errors import UserError
from recsys_cli.tuning.trials import TrialRunner, row_metrics

# Each worker's runner for the data it was last sent (its fitted-candidate cache included).
_RUNNERS: dict[str, TrialRunner] = {}


@dataclass(frozen=True)
class _Shared:
    """What every trial needs, shipped once per worker; `token` names this shipment."""

    data: object
    context: object
    token: str = field(default_factory=lambda: secrets.token_hex(8))


def _trial(shared: _Shared, recipe: Recipe, row: str) -> dict[str, float]:
    """One trial on a worker: its row's validation metrics."""
    runner = _RUNNERS.get(shared.token)
    if runner is None:
        _RUNNERS.clear()
        runner = _RUNNERS[shared.token] = TrialRunner(
            shared.data, shared.context, share_spectra=True
        )
    with tempfile.TemporaryDirectory(prefix="rank-tune-") as scratch:
        return row_metrics(runner.evaluate(recipe, Path(scratch)), row)


@dataclass(frozen=True)
class _Refused:
    """A trial whose values the recipe refused before it was sent."""

    error: UserError


class DaskTrials:
    """The study's Executor on a Dask client: one trial in flight per connected worker."""

    def __init__(self, client, runner: TrialRunner, make_recipe: Callable[[dict], Recipe], row):
        from recsys_cli.distributed.cluster import worker_count

        self.client = client
        self.slots = max(1, worker_count(client))
        [self.shared] = client.scatter([_Shared(runner.data, runner.context)], broadcast=True)
        self.make_recipe = make_recipe
        self.row = row

    def start(self, values: dict, trial):
        """(No pruning on workers: they do not write to the study.)"""
        from recsys_cli.distributed.cluster import RETRIES

        try:
            recipe = self.make_recipe(values)
        except UserError as error:
            return _Refused(error)
        return self.client.submit(
            _trial, self.shared, recipe, self.row, retries=RETRIES, pure=False
        )

    def wait(self, handles: list) -> list:
        from distributed import wait

        refused = [h for h in handles if isinstance(h, _Refused)]
        if refused:
            return refused
        return [h for h in handles if h in wait(handles, return_when="FIRST_COMPLETED").done]

    def result(self, handle) -> dict[str, float]:
        if isinstance(handle, _Refused):
            raise handle.error
        return handle.result()

    def cancel(self, handles: list) -> None:
        futures = [h for h in handles if not isinstance(h, _Refused)]
        if futures:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.cancel([self.shared])
