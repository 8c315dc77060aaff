"""The end of a study: choose the best feasible trial (one objective) or the feasible Pareto set
(several), write each as a complete recipe, and read the test part once for them."""

from __future__ import annotations

import numpy as np

from recsys_cli.evaluation.pareto import best_feasible, hypervolume, pareto_mask
from recsys_cli.tuning.spec import TuneSpec
from recsys_cli.tuning.study import VALIDATION, feasible


def _complete(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _table(trials, spec: TuneSpec) -> tuple[np.ndarray, np.ndarray]:
    """(trials x objectives values, feasibility mask)."""
    values = np.array([t.values for t in trials], dtype=np.float64).reshape(
        len(trials), len(spec.objectives)
    )
    ok = np.array([feasible(spec, t.user_attrs[VALIDATION]) for t in trials], dtype=bool)
    return values, ok


def chosen_trials(study, spec: TuneSpec) -> list:
    """One objective: the best feasible complete trial (the first on ties), or none. Several:
    the feasible complete trials on the Pareto front, one per distinct vector of values (the
    earliest), in trial order."""
    trials = _complete(study)
    if not trials:
        return []
    values, ok = _table(trials, spec)
    higher = [o.maximize for o in spec.objectives]
    if len(spec.objectives) == 1:
        index = best_feasible(values[:, 0], higher[0], ok)
        return [] if index is None else [trials[index]]
    candidates = np.flatnonzero(ok)
    front = candidates[pareto_mask(values[candidates], higher)]
    seen, chosen = set(), []
    for index in front:
        key = tuple(values[index])
        if key not in seen:
            seen.add(key)
            chosen.append(trials[index])
    return chosen


def front_hypervolume(study, spec: TuneSpec) -> dict | None:
    """Hypervolume of the feasible trials' validation values against `spec.reference` (per
    objective), else the worst feasible value of each objective; None with one objective."""
    if len(spec.objectives) < 2:
        return None
    trials = _complete(study)
    values, ok = _table(trials, spec) if trials else (np.empty((0, len(spec.objectives))), [])
    values = values[np.asarray(ok, dtype=bool)] if len(values) else values
    higher = [o.maximize for o in spec.objectives]
    reference = []
    for j, objective in enumerate(spec.objectives):
        if objective.metric in spec.reference:
            reference.append(float(spec.reference[objective.metric]))
        elif len(values):
            column = values[:, j]
            reference.append(float(np.nanmin(column) if higher[j] else np.nanmax(column)))
        else:
            reference.append(float("nan"))
    given = len(spec.reference) == len(spec.objectives)
    return {
        "hypervolume": hypervolume(values, higher, np.array(reference)) if len(values) else 0.0,
        "reference": {o.metric: r for o, r in zip(spec.objectives, reference, strict=True)},
        "reference_rule": "given"
        if given
        else "worst feasible value per objective, where not given",
        "feasible_trials": int(len(values)),
    }


def front_plot_data(study, spec: TuneSpec, row: str) -> dict | None:
    """Every complete trial's validation values with its front and feasibility marks, in the
    form `results.sweep_text.terminal_plot` draws; None with one objective."""
    if len(spec.objectives) < 2:
        return None
    trials = _complete(study)
    chosen = {t.number for t in chosen_trials(study, spec)}
    entries = [
        {"metrics": dict(t.user_attrs[VALIDATION]), "pareto": t.number in chosen, "row": row}
        for t in trials
    ]
    return {
        "pareto_metrics": [o.metric for o in spec.objectives],
        "higher_is_better": {o.metric: o.maximize for o in spec.objectives},
        "constraints": [str(c) for c in spec.constraints],
        "rows": [row],
        "entries": entries,
        "best": None,
    }
