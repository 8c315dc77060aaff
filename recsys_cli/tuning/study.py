"""Optuna studies in a durable study directory, driven by ask/tell.

The storage is an Optuna journal file (`optuna.journal`): every change is one appended,
fsync'ed line, so a kill -9 loses at most the trials in flight, and several processes may share
one study (file lock). A trial is COMPLETE only once its validation metrics are stored with its
values; a trial whose process died stays RUNNING in the journal and is marked FAIL by the next
process that opens the study (its owner, "HOST PID", is a dead process on this host).

Each trial draws its parameters from a sampler seeded with (seed, trial number), so the same
seed gives the same trials in one process, and a resumed study continues deterministically.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from recsys_cli.errors import UserError
from recsys_cli.progress import NO_PROGRESS, Progress
from recsys_cli.results.owners import owner_tag, tag_gone
from recsys_cli.tuning.spec import StudySpec, TuneSpec

log = logging.getLogger(__name__)

JOURNAL = "optuna.journal"
TRIALS = "trials.parquet"
# Trial user attributes: validation metrics of the row, the process running it, why it failed,
# and whether it is the recipe's own configuration. Constraint values (<= 0: satisfied) are
# Optuna's own (`Trial.set_constraint`), which every sampler reads.
VALIDATION, OWNER, ERROR, AS_GIVEN = "validation", "owner", "error", "as_given"


def open_storage(study_dir: Path):
    """The study's journal storage (created when missing)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study_dir.mkdir(parents=True, exist_ok=True)
    path = str(study_dir / JOURNAL)
    return JournalStorage(JournalFileBackend(path, lock_obj=OwnedLock(path + ".lock")))


class OwnedLock:
    """The journal's write lock: a file created with O_EXCL that names its holder ("HOST PID").

    Optuna's own locks are anonymous: one left behind by a process killed while appending (a kill
    -9 often lands there, since every trial appends several fsync'ed lines) blocks the next
    process for their 30 s grace period. This one is broken at once when its holder is a dead
    process of this host; a lock of another host, or one not yet named, is broken after
    GRACE_S without change, as Optuna does."""

    GRACE_S = 30.0

    def __init__(self, path: str):
        self.path = path

    def acquire(self) -> bool:
        delay, unchanged_since, seen = 0.001, time.monotonic(), None
        while True:
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    holder, changed = Path(self.path).read_text(), os.stat(self.path).st_mtime
                except OSError:
                    continue  # released meanwhile
                if changed != seen:
                    seen, unchanged_since = changed, time.monotonic()
                stale = time.monotonic() - unchanged_since > self.GRACE_S
                if stale or (holder and tag_gone(holder)):
                    self.release()
                    continue
                time.sleep(delay)
                delay = min(2 * delay, 0.1)
                continue
            with os.fdopen(descriptor, "w") as file:
                file.write(owner_tag())
            return True

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines and experimental-feature warnings off while a study runs
    (rank reports trials itself); its level is restored afterwards."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def fail_abandoned(study) -> list[int]:
    """Mark FAIL the RUNNING trials whose process died (kill -9, power loss); returns their
    numbers. Trials of live processes, or of other hosts, are left alone."""
    from optuna.trial import TrialState

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = trial.user_attrs.get(OWNER)
        stale = tag_gone(tag) if tag else _older_than(trial, 60.0)  # killed before it was tagged
        if stale:
            # skip_if_finished: another process may have marked it at the same moment
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    if failed:
        log.warning(
            "study %s: trials %s were abandoned by a dead process; marked FAIL",
            study.study_name,
            failed,
        )
    return failed


def _older_than(trial, seconds: float) -> bool:
    from datetime import datetime

    started = trial.datetime_start
    return started is not None and (datetime.now() - started).total_seconds() > seconds


def counted(study) -> int:
    """Trials that use up the budget: complete, pruned, failed on their parameters (not those
    abandoned or interrupted, which are run again) and running in other live processes."""
    from optuna.trial import TrialState

    spent = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(
        t.state in spent or (t.state == TrialState.FAIL and ERROR in t.user_attrs)
        for t in study.get_trials(deepcopy=False)
    )


def make_sampler(spec: TuneSpec, number: int):
    """The sampler for trial `number`: its seed is drawn from (spec.seed, number), so trials do
    not depend on how many processes ran the ones before (Optuna samplers keep their other state
    in the storage)."""
    import optuna

    seed = int(np.random.SeedSequence([spec.seed, number]).generate_state(1)[0])
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=spec.population, seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def constraint_values(spec: TuneSpec, metrics: dict[str, float]) -> list[float]:
    """Optuna's convention, <= 0 when satisfied: the margin by which each constraint holds
    (negated), or how far it misses (at least 1e-12, so that a strict bound met with equality
    counts as missed)."""
    values = []
    for c in spec.constraints:
        value = metrics[c.metric]
        margin = value - c.value if c.op in (">=", ">") else c.value - value
        holds = bool(c.holds(np.array(value)))
        values.append(-margin if holds else max(-margin, 1e-12))
    return values


def feasible(spec: TuneSpec, metrics: dict[str, float]) -> bool:
    return all(bool(c.holds(np.array(metrics[c.metric]))) for c in spec.constraints)


@dataclass(frozen=True)
class Budget:
    """Stop starting trials once the study has `trials` (None: no limit) or at `deadline`
    (time.monotonic(); None: no limit)."""

    trials: int | None
    deadline: float | None

    def allows(self, study) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        return self.trials is None or counted(study) < self.trials


def load_study(storage, spec: TuneSpec, study: StudySpec):
    import optuna

    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        if spec.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        storage=storage,
        study_name=study.name,
        directions=[o.direction for o in spec.objectives],
        pruner=pruner,
        load_if_exists=True,
    )


def enqueue_as_given(optuna_study, study: StudySpec, given: dict) -> None:
    """On a new study, the recipe's own values (those inside the ranges) are the first trial:
    the table then shows how the configuration as written scores on validation."""
    if optuna_study.get_trials(deepcopy=False):
        return
    values = {p.key: given[p.key] for p in study.space if p.key in given and p.holds(given[p.key])}
    if values:
        optuna_study.enqueue_trial(values, user_attrs={AS_GIVEN: True})


class Executor(Protocol):
    """Runs trials. `start(values, trial)` begins evaluating one (the row's validation metrics,
    metric@k -> mean; the Optuna trial hears intermediate values) and returns a handle;
    `wait(handles)` blocks until at least one is done and returns those; `result(handle)` gives
    its metrics or raises its error; `cancel(handles)` abandons them. `slots`: trials evaluated
    at once."""

    slots: int

    def start(self, values: dict, trial) -> Any: ...

    def wait(self, handles: list) -> list: ...

    def result(self, handle) -> dict[str, float]: ...

    def cancel(self, handles: list) -> None: ...


class InProcess:
    """The Executor of one process: `start` evaluates at once."""

    slots = 1

    def __init__(self, evaluate: Callable[[dict, Any], dict[str, float]]):
        self.evaluate = evaluate

    def start(self, values: dict, trial):
        from optuna import TrialPruned

        try:
            return ("ok", self.evaluate(values, trial))
        except (UserError, TrialPruned) as error:
            return ("error", error)

    def wait(self, handles: list) -> list:
        return handles

    def result(self, handle) -> dict[str, float]:
        kind, value = handle
        if kind == "error":
            raise value
        return value

    def cancel(self, handles: list) -> None:
        """Nothing runs in the background."""


def run_trials(
    optuna_study,
    spec: TuneSpec,
    study: StudySpec,
    executor: Executor,
    budget: Budget,
    progress: Progress = NO_PROGRESS,
    after_trial: Callable[[], None] = lambda: None,
) -> int:
    """Ask, evaluate on validation and tell until the budget is spent, with up to
    `executor.slots` trials in flight (the budget counts them); returns the trials run.

    A UserError (a combination of values the recipe refuses) fails that trial and the study goes
    on; any other exception, Ctrl-C included, marks the trials in flight FAIL and stops."""
    from optuna.trial import TrialState

    ran, in_flight = 0, {}
    try:
        while True:
            while len(in_flight) < executor.slots and budget.allows(optuna_study):
                number = len(optuna_study.get_trials(deepcopy=False))
                optuna_study.sampler = make_sampler(spec, number)
                trial = optuna_study.ask()
                try:
                    trial.set_user_attr(OWNER, owner_tag())
                    values = {p.key: p.suggest(trial) for p in study.space}
                    handle = executor.start(values, trial)  # in one process: the whole trial
                except BaseException:
                    optuna_study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                    raise
                in_flight[id(handle)] = (handle, trial, values)
            if not in_flight:
                return ran
            for handle in executor.wait([h for h, _, _ in in_flight.values()]):
                _, trial, values = in_flight.pop(id(handle))
                _tell(optuna_study, spec, study, trial, values, executor, handle)
                ran += 1
                progress.advance()
                after_trial()
    except BaseException:
        executor.cancel([h for h, _, _ in in_flight.values()])
        for _, trial, _ in in_flight.values():  # interrupted: run again on resume
            optuna_study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        raise


def _tell(optuna_study, spec, study, trial, values, executor, handle) -> None:
    """Store a finished trial: its metrics, constraint values and objectives, or its error."""
    from optuna import TrialPruned
    from optuna.trial import TrialState

    try:
        metrics = executor.result(handle)
    except TrialPruned as pruned:
        optuna_study.tell(trial, state=TrialState.PRUNED)
        log.info("trial %d of %s pruned: %s", trial.number, study.name, pruned)
        return
    except UserError as error:
        trial.set_user_attr(ERROR, str(error))
        optuna_study.tell(trial, state=TrialState.FAIL)
        log.warning("trial %d failed: %s", trial.number, error)
        return
    trial.set_user_attr(VALIDATION, metrics)
    for c, value in zip(spec.constraints, constraint_values(spec, metrics), strict=True):
        trial.set_constraint(str(c), value)
    objectives = [metrics[o.metric] for o in spec.objectives]
    optuna_study.tell(trial, objectives)
    log.info(
        "trial %d of %s: %s -> %s",
        trial.number,
        study.name,
        values,
        ", ".join(f"{o.metric} {v:.6g}" for o, v in zip(spec.objectives, objectives, strict=True)),
    )


def trials_frame(studies: dict[str, object], spec: TuneSpec) -> pl.DataFrame:
    """One row per trial that started (every study): study, number, state, as_given, feasible,
    started, duration_s, error, then `params/KEY` and `validation/METRIC@K` columns. Only
    COMPLETE trials have validation metrics."""
    from optuna.trial import TrialState

    rows = []
    for name, study in studies.items():
        for t in study.get_trials(deepcopy=False):
            if t.state == TrialState.WAITING:
                continue
            metrics = t.user_attrs.get(VALIDATION, {}) if t.state == TrialState.COMPLETE else {}
            error = t.user_attrs.get(ERROR)
            if t.state == TrialState.FAIL and error is None:
                error = "abandoned or interrupted: run again"
            row = {
                "study": name,
                "number": t.number,
                "state": t.state.name,
                "as_given": bool(t.user_attrs.get(AS_GIVEN, False)),
                "feasible": feasible(spec, metrics) if metrics else None,
                "started": t.datetime_start,
                "duration_s": t.duration.total_seconds() if t.duration is not None else None,
                "error": error,
            }
            row.update({f"params/{k}": v for k, v in t.params.items()})
            row.update({f"validation/{k}": v for k, v in metrics.items()})
            rows.append(row)
    schema = {
        "study": pl.Utf8,
        "number": pl.Int64,
        "state": pl.Utf8,
        "as_given": pl.Boolean,
        "feasible": pl.Boolean,
        "started": pl.Datetime("us"),
        "duration_s": pl.Float64,
        "error": pl.Utf8,
    }
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.from_dicts(rows, schema_overrides=schema, infer_schema_length=None).sort(
        "study", "number"
    )
