"""The analysis of a sweep (`rank sweep`): which rows to compare, their metrics per grid point,
the Pareto front, its hypervolume and the best feasible point; the sweep.json payload."""

from __future__ import annotations

from recsys_cli.errors import UserError


def metric_keys(text: str | None) -> list[str]:
    """'ndcg@10, ild@10' -> ['ndcg@10', 'ild@10'] (empty for None)."""
    return [m.strip() for m in text.split(",") if m.strip()] if text else []


def _number(value) -> float:
    """A stored metric value (None for undefined) as a float (NaN)."""
    return float("nan") if value is None else float(value)


def default_rows(points) -> list[str]:
    """The variant rows the grid changes, else every variant row, else every row."""
    every = list(dict.fromkeys(row for p in points for row in p.rows))
    variants = [row for row in every if "+" in row]
    changed = [row for row in variants if any(p.rows.get(row) for p in points)]
    return changed or variants or every


def analyse(points, axes, pareto, objective, maximize, constraints, rows, reference=None) -> dict:
    """The sweep.json payload: one entry per distinct (row, grid values of the keys that change
    that row), with its metrics, their standard errors and marks."""
    import math

    import numpy as np

    from recsys_cli.evaluation.pareto import best_feasible, hypervolume, pareto_mask
    from recsys_cli.metrics import lower_is_better

    available = list(dict.fromkeys(row for p in points for row in p.metrics["models"]))
    chosen = metric_keys(rows) or default_rows(points)
    for row in chosen:
        if row not in available:
            raise UserError(f"--rows: no row {row!r}; rows are {', '.join(available)}")
    holder = next(p for p in points if chosen[0] in p.metrics["models"])
    evaluated = list(holder.metrics["models"][chosen[0]])
    metrics = metric_keys(pareto)
    if not metrics:
        wanted = [objective] + [c.metric for c in constraints]
        metrics = list(dict.fromkeys(m for m in wanted if m))
    if len(metrics) < 2:
        accuracy = [m for m in evaluated if m.split("@")[0] in ("ndcg", "recall", "precision")]
        others = [m for m in evaluated if m not in accuracy and m not in metrics]
        metrics = list(dict.fromkeys(metrics + accuracy[:1] + others[:1]))[:2]
    needed = metrics + [objective] * bool(objective) + [c.metric for c in constraints]
    for metric in needed:
        if metric not in evaluated:
            raise UserError(
                f"metric {metric!r} was not evaluated; the sweep has {', '.join(evaluated)}"
            )
    entries = []
    for point in points:
        for row in chosen:
            if row not in point.metrics["models"]:
                continue  # an earlier point holds this row's values
            values = point.metrics["models"][row]
            entries.append(
                {
                    "point": point.index,
                    "grid": {key: point.values[key] for key in point.rows[row]},
                    "row": row,
                    "run_dir": point.run_name,
                    "metrics": {m: values[m]["mean"] for m in dict.fromkeys(needed)},
                    "stderr": {m: values[m]["stderr"] for m in dict.fromkeys(needed)},
                }
            )

    def column(metric):
        return np.array([_number(e["metrics"][metric]) for e in entries])

    table = np.column_stack([column(m) for m in metrics])
    higher = [not lower_is_better(m.split("@")[0]) for m in metrics]
    front = pareto_mask(table, higher)
    # Reference point: given per metric (--reference, so that hypervolumes of different sweeps
    # compare), else the worst value of that metric over the sweep's entries.
    reference = reference or {}
    for metric in reference:
        if metric not in metrics:
            raise UserError(f"--reference: {metric!r} is not one of the Pareto metrics {metrics}")
    worst = [
        reference[m]
        if m in reference
        else (np.nanmin(table[:, j]) if up else np.nanmax(table[:, j]))
        for j, (m, up) in enumerate(zip(metrics, higher, strict=True))
    ]
    feasible = np.ones(len(entries), dtype=bool)
    for c in constraints:
        feasible &= c.holds(column(c.metric))
    for entry, on_front, ok in zip(entries, front, feasible, strict=True):
        entry["pareto"] = bool(on_front)
        entry["feasible"] = bool(ok)
    best = None
    if objective:
        index = best_feasible(column(objective), maximize, feasible)
        best = None if index is None else entries[index]
    return {
        "grid": {key: values for key, values in axes},
        "combinations": math.prod(len(values) for _, values in axes),
        "runs": len(points),
        "rows": chosen,
        "pareto_metrics": metrics,
        "higher_is_better": dict(zip(metrics, higher, strict=True)),
        "reference": dict(zip(metrics, [float(w) for w in worst], strict=True)),
        "reference_rule": "given"
        if len(reference) == len(metrics)
        else (
            "per-metric worst value over the sweep's entries"
            + (f", except {', '.join(reference)} as given" if reference else "")
        ),
        "hypervolume": hypervolume(table, higher, np.array(worst)),
        "objective": objective,
        "maximize": maximize if objective else None,
        "constraints": [str(c) for c in constraints],
        "best": best,
        "entries": entries,
    }
