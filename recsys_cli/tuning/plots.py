"""Figures of a study: the optimisation history (every complete trial's validation objective and
the best so far) and, for several objectives, the trials in the first two objectives with the
feasible Pareto front."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_cli.evaluation.pareto import staircase
from recsys_cli.tuning.spec import TuneSpec
from recsys_cli.tuning.study import VALIDATION, feasible


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def save_figures(study_dir: Path, studies: dict, spec: TuneSpec, result: dict) -> list[str]:
    """Write history.png (and pareto.png with several objectives); returns the file names."""
    from optuna.trial import TrialState

    plt = _plt()
    panels = [(name, o) for name in studies for o in spec.objectives]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), squeeze=False)
    for ax, (name, objective) in zip(axes[:, 0], panels, strict=True):
        j = spec.objectives.index(objective)
        trials = studies[name].get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        numbers = np.array([t.number for t in trials])
        values = np.array([t.values[j] for t in trials], dtype=np.float64)
        ok = np.array([feasible(spec, t.user_attrs[VALIDATION]) for t in trials], dtype=bool)
        if len(values):
            ax.scatter(numbers[ok], values[ok], s=12, label="trial (validation)")
            if (~ok).any():
                ax.scatter(numbers[~ok], values[~ok], s=12, marker="x", label="infeasible")
            if len(spec.objectives) == 1:
                masked = np.where(ok, values, np.nan)
                best = (np.fmax if objective.maximize else np.fmin).accumulate(masked)
                ax.step(numbers, best, where="post", color="black", label="best so far")
        ax.set_title(f"{name}: {objective.metric} ({objective.direction})", fontsize=9)
        ax.set_xlabel("trial")
        ax.set_ylabel(objective.metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(study_dir / "history.png", dpi=150)
    plt.close(fig)
    names = ["history.png"]
    if len(spec.objectives) >= 2:
        _pareto_figure(plt, study_dir, studies, spec, result)
        names.append("pareto.png")
    return names


def _pareto_figure(plt, study_dir: Path, studies: dict, spec: TuneSpec, result: dict) -> None:
    from optuna.trial import TrialState

    [study] = studies.values()
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    values = np.array([t.values[:2] for t in trials], dtype=np.float64).reshape(len(trials), 2)
    ok = np.array([feasible(spec, t.user_attrs[VALIDATION]) for t in trials], dtype=bool)
    chosen = {row["trial"] for c in result.get("configurations", []) for row in c["rows"]}
    on_front = np.array([t.number in chosen for t in trials], dtype=bool)
    x, y = (o.metric for o in spec.objectives[:2])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(values[ok & ~on_front, 0], values[ok & ~on_front, 1], s=12, c="0.6", label="trial")
    if (~ok).any():
        ax.scatter(values[~ok, 0], values[~ok, 1], s=12, marker="x", c="0.8", label="infeasible")
    reference = (result.get("hypervolume") or {}).get("reference", {})
    label = "Pareto-optimal (feasible)"
    if len(spec.objectives) == 2:
        ax.scatter(values[on_front, 0], values[on_front, 1], c="C3", label=label)
        corners = staircase(
            values[on_front], [o.maximize for o in spec.objectives], [reference[x], reference[y]]
        )
        if len(corners):
            ax.plot(corners[:, 0], corners[:, 1], c="C3", lw=1)
        title = f"{study.study_name}: validation"
    else:  # a projection: the front in more dimensions is no line here; colour = 3rd objective
        z = spec.objectives[2].metric
        trials_on_front = [t for t, on in zip(trials, on_front, strict=True) if on]
        colour = [t.values[2] for t in trials_on_front]
        points = ax.scatter(
            values[on_front, 0], values[on_front, 1], c=colour, cmap="viridis", label=label
        )
        fig.colorbar(points, ax=ax, label=z)
        title = f"{study.study_name}: validation, first 2 of {len(spec.objectives)} objectives"
    if x in reference and y in reference:
        ax.scatter([reference[x]], [reference[y]], marker="+", s=80, c="black", label="reference")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(study_dir / "pareto.png", dpi=150)
    plt.close(fig)
