"""Significance marks of a summary table: the significantly best model of each metric@k and the
models that differ from a baseline (paired t-tests, Holm-corrected)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recsys_cli.evaluation.comparison import paired_table, parse_metric
from recsys_cli.evaluation.statistics import holm_adjust, paired_t_tests

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class TableMarks:
    """Significance marks of a summary table (see `table_marks`).

    `best`: metric@k -> the model better than every other one; `versus`: (metric@k, model) ->
    +1 / -1 for a mean significantly higher / lower than the baseline's; `tested`: the metric@k
    labels that had per-user values (catalogue-level metrics have none); `n_best_tests` and
    `n_baseline_tests`: the sizes of the two Holm families.
    """

    best: dict[str, str]
    versus: dict[tuple[str, str], int]
    tested: tuple[str, ...]
    n_best_tests: int
    n_baseline_tests: int
    baseline: str | None
    alpha: float


def table_marks(
    per_user: pl.DataFrame,
    metrics: Sequence[str],
    *,
    baseline: str | None = None,
    alpha: float = 0.05,
) -> TableMarks:
    """Which model is significantly best on each metric@k, and which differ from a baseline.

    Best: the model with the best mean (highest, or lowest for a lower-is-better metric) is
    compared with every other model by a paired t-test; it is marked only when all its tests
    reject at `alpha` after Holm's correction over every best-versus-other test of the table.
    Baseline: every model against `baseline` by a paired t-test, Holm-corrected over all model x
    metric tests (the same family as `compare`). Users must already be paired
    (`pair_on_shared_users`). Holm (1979); Sakai (2014).
    """
    from recsys_cli.metrics import lower_is_better

    best_tests: list[tuple[str, str, float]] = []
    baseline_tests: list[tuple[str, str, float, float]] = []
    tested = []
    parts = per_user.partition_by("metric", "cutoff", as_dict=True, maintain_order=True)
    for label in dict.fromkeys(metrics):
        name, cutoff = parse_metric(label)
        part = parts.get((name, cutoff))
        if part is None:
            continue
        models = part["model"].unique(maintain_order=True).to_list()
        tested.append(label)
        reference = baseline if baseline in models else models[0]
        wide = paired_table(part, reference, name, cutoff, label)
        values = {m: wide[m].to_numpy().astype(np.float64, copy=False) for m in models}
        sign = -1.0 if lower_is_better(name) else 1.0
        best = max(models, key=lambda m: sign * float(values[m].mean()))
        losers = [m for m in models if m != best]
        if losers:
            _, p = paired_t_tests(
                np.stack([values[m] for m in losers]), np.tile(values[best], (len(losers), 1))
            )
            best_tests += [(label, best, float(x)) for x in p]
        if baseline in models:
            rest = [m for m in models if m != baseline]
            if rest:
                t, p = paired_t_tests(
                    np.tile(values[baseline], (len(rest), 1)), np.stack([values[m] for m in rest])
                )
                baseline_tests += [
                    (label, m, float(x), float(y)) for m, x, y in zip(rest, t, p, strict=True)
                ]
    best_adjusted = holm_adjust([p for _, _, p in best_tests])
    rejected: dict[str, bool] = {}
    for (label, _, _), p in zip(best_tests, best_adjusted, strict=True):
        # NaN < alpha is False: an undefined test never makes a model the best.
        rejected[label] = rejected.get(label, True) and bool(p < alpha)
    winners = {label: model for label, model, _ in best_tests}
    baseline_adjusted = holm_adjust([p for *_, p in baseline_tests])
    versus = {
        (label, model): int(math.copysign(1, t))
        for (label, model, t, _), p in zip(baseline_tests, baseline_adjusted, strict=True)
        if p < alpha and t != 0
    }
    return TableMarks(
        best={label: winners[label] for label, ok in rejected.items() if ok},
        versus=versus,
        tested=tuple(tested),
        n_best_tests=len(best_tests),
        n_baseline_tests=len(baseline_tests),
        baseline=baseline,
        alpha=alpha,
    )
