"""Study mechanics: constraint values, abandoned trials, the budget count and the final choice."""

import itertools
import os
import socket
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from recsys_cli.evaluation.pareto import parse_constraint
from recsys_cli.tuning.confirm import chosen_trials, front_hypervolume
from recsys_cli.tuning.spec import Objective, TuneSpec
from recsys_cli.tuning.study import (
    ERROR,
    OWNER,
    VALIDATION,
    constraint_values,
    counted,
    fail_abandoned,
    feasible,
    quiet_optuna,
)


def spec(objectives, constraints=(), reference=None) -> TuneSpec:
    return TuneSpec(
        studies=(),
        objectives=tuple(Objective(m, up) for m, up in objectives),
        constraints=tuple(parse_constraint(c) for c in constraints),
        trials=10,
        seconds=None,
        sampler="tpe",
        population=20,
        seed=0,
        refit=True,
        reference=reference or {},
        pruner="none",
    )


def test_constraint_values_are_feasible_exactly_when_the_constraint_holds():
    s = spec([("ndcg@10", True)], ["cov@10 >= 0.2", "gini@10 < 0.5"])
    assert constraint_values(s, {"cov@10": 0.25, "gini@10": 0.4}) == pytest.approx([-0.05, -0.1])
    assert constraint_values(s, {"cov@10": 0.1, "gini@10": 0.7}) == pytest.approx([0.1, 0.2])
    # a strict bound met with equality is missed, by a positive amount
    assert constraint_values(s, {"cov@10": 0.2, "gini@10": 0.5})[1] > 0
    for cov, gini in itertools.product([0.1, 0.2, 0.3], [0.4, 0.5, 0.6]):
        metrics = {"cov@10": cov, "gini@10": gini}
        assert feasible(s, metrics) == all(v <= 0 for v in constraint_values(s, metrics))


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_trials_of_dead_processes_on_this_host_are_failed():
    with quiet_optuna():
        study = optuna.create_study()
        owners = [
            f"{socket.gethostname()} {_dead_pid()}",  # killed: FAIL
            f"{socket.gethostname()} {os.getpid()}",  # alive: left running
            f"another-host {_dead_pid()}",  # cannot tell: left running
        ]
        for owner in owners:
            study.ask().set_user_attr(OWNER, owner)
        assert fail_abandoned(study) == [0]
        states = [t.state for t in study.get_trials()]
        assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING]
        assert fail_abandoned(study) == []


def test_the_budget_counts_finished_failed_on_values_and_running_trials():
    with quiet_optuna():
        study = optuna.create_study()
        study.tell(study.ask(), 1.0)  # complete
        study.tell(study.ask(), state=TrialState.PRUNED)
        refused = study.ask()
        refused.set_user_attr(ERROR, "weights must not all be 0")
        study.tell(refused, state=TrialState.FAIL)
        study.tell(study.ask(), state=TrialState.FAIL)  # interrupted: not counted, run again
        study.ask()  # running elsewhere
        assert counted(study) == 4


def _study_with(values, metrics, directions):
    study = optuna.create_study(directions=directions)
    for v, m in zip(values, metrics, strict=True):
        trial = study.ask()
        trial.set_user_attr(VALIDATION, m)
        study.tell(trial, list(v))
    return study


def test_one_objective_picks_the_best_feasible_trial_first_on_ties():
    s = spec([("ndcg@10", True)], ["cov@10 >= 0.2"])
    values = [(0.3,), (0.5,), (0.4,), (0.4,), (0.5,)]
    covers = [0.5, 0.1, 0.3, 0.3, 0.25]  # trial 1 is best but infeasible; 4 ties with it
    metrics = [{"ndcg@10": v[0], "cov@10": c} for v, c in zip(values, covers, strict=True)]
    with quiet_optuna():
        study = _study_with(values, metrics, ["maximize"])
        assert [t.number for t in chosen_trials(study, s)] == [4]
        none = _study_with(values, [m | {"cov@10": 0.0} for m in metrics], ["maximize"])
        assert chosen_trials(none, s) == []


def test_several_objectives_give_the_feasible_front_deduplicated_like_a_naive_scan():
    rng = np.random.default_rng(3)
    values = np.round(rng.random((40, 3)), 1)  # coarse: ties and duplicates
    s = spec([("a@1", True), ("b@1", False), ("c@1", True)], ["c@1 >= 0.2"])
    metrics = [{"a@1": a, "b@1": b, "c@1": c} for a, b, c in values]
    with quiet_optuna():
        study = _study_with(
            [tuple(v) for v in values], metrics, ["maximize", "minimize", "maximize"]
        )
        chosen = [t.number for t in chosen_trials(study, s)]
    oriented = values * np.array([1, -1, 1])
    ok = values[:, 2] >= 0.2
    naive, seen = [], set()
    for i in range(len(values)):
        dominated = any(
            ok[j] and (oriented[j] >= oriented[i]).all() and (oriented[j] > oriented[i]).any()
            for j in range(len(values))
        )
        if ok[i] and not dominated and tuple(values[i]) not in seen:
            seen.add(tuple(values[i]))
            naive.append(i)
    assert chosen == naive


def test_front_hypervolume_uses_the_given_reference_point():
    s = spec([("a@1", True), ("b@1", True)], reference={"a@1": 0.0, "b@1": 0.0})
    values = [(1.0, 2.0), (2.0, 1.0), (0.5, 0.5)]
    metrics = [{"a@1": a, "b@1": b} for a, b in values]
    with quiet_optuna():
        study = _study_with(values, metrics, ["maximize", "maximize"])
    result = front_hypervolume(study, s)
    assert result["hypervolume"] == pytest.approx(3.0)  # 1x2 + 2x1 - 1x1 overlap
    assert result["reference"] == {"a@1": 0.0, "b@1": 0.0} and result["reference_rule"] == "given"
    assert front_hypervolume(study, spec([("a@1", True)])) is None


def test_the_journal_lock_of_a_dead_process_is_broken_at_once(tmp_path, monkeypatch):
    from recsys_cli.results.owners import owner_tag
    from recsys_cli.tuning.study import OwnedLock

    path = tmp_path / "journal.lock"
    path.write_text(f"{socket.gethostname()} {_dead_pid()}")
    lock = OwnedLock(str(path))
    started = time.monotonic()
    assert lock.acquire() and path.read_text() == owner_tag()
    assert time.monotonic() - started < 1.0
    lock.release()
    assert not path.exists()
    # a live holder is waited for, and broken only after the grace period without change
    path.write_text(f"{socket.gethostname()} {os.getpid()}")
    monkeypatch.setattr(OwnedLock, "GRACE_S", 0.3)
    started = time.monotonic()
    assert lock.acquire()
    assert time.monotonic() - started >= 0.3


def test_pruning_reports_epochs_and_stops_a_trial_below_the_median():
    from recsys_cli.tuning.tune import pruning

    with quiet_optuna():
        study = optuna.create_study(
            direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1)
        )
        first = study.ask()
        for epoch, value in enumerate([0.2, 0.4]):
            first.report(value, epoch)
        study.tell(first, 0.4)
        trial = study.ask()
        on_epoch = pruning(trial)
        on_epoch("BPR", 0, None)  # no per-epoch validation: nothing reported
        on_epoch("BPR", 0, 0.3)  # above the median at epoch 0
        with pytest.raises(optuna.TrialPruned, match="BPR: epoch 2"):
            on_epoch("BPR", 1, 0.1)
        assert study.trials[1].intermediate_values == {0: 0.3, 1: 0.1}
