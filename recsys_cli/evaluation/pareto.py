"""Trade-off analysis of sweep points: Pareto front, hypervolume, constrained choice.

All functions take a (n_points, n_metrics) array and per-metric directions (True = higher is
better; `recsys_cli.metrics.lower_is_better` says which metrics are the other way round).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np

from recsys_cli.errors import UserError

_CONSTRAINT = re.compile(
    r"\s*(\S+?@\d+)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*"
)
_OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def oriented(values: np.ndarray, higher_is_better) -> np.ndarray:
    """Values turned so that higher is better in every column (lower-is-better ones negated)."""
    sign = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    return np.asarray(values, dtype=np.float64) * sign


def pareto_mask(values: np.ndarray, higher_is_better) -> np.ndarray:
    """True for non-dominated points: no other point is at least as good in every metric and
    strictly better in one. Points with a NaN metric are never on the front."""
    v = oriented(values, higher_is_better)
    ok = ~np.isnan(v).any(axis=1)
    at_least = (v[None, :, :] >= v[:, None, :]).all(axis=2)  # [i, j]: j >= i everywhere
    better = (v[None, :, :] > v[:, None, :]).any(axis=2)
    dominated = (at_least & better & ok[None, :]).any(axis=1)
    return ok & ~dominated


def hypervolume(values: np.ndarray, higher_is_better, reference: np.ndarray) -> float:
    """Volume of the union of boxes between the reference point and each point (maximisation
    after orienting; Zitzler & Thiele 1998), by slicing along the last metric: exact, O(n^d)."""
    v = oriented(values, higher_is_better)
    ref = oriented(np.asarray(reference, dtype=np.float64)[None, :], higher_is_better)[0]
    v = v[~np.isnan(v).any(axis=1)]
    return _slices(v[(v > ref).all(axis=1)], ref)


def _slices(points: np.ndarray, ref: np.ndarray) -> float:
    if len(points) == 0:
        return 0.0
    if points.shape[1] == 1:
        return float(points[:, 0].max() - ref[0])
    ordered = points[np.argsort(-points[:, -1], kind="stable")]
    total = 0.0
    for i in range(len(ordered)):
        floor = ordered[i + 1, -1] if i + 1 < len(ordered) else ref[-1]
        thickness = ordered[i, -1] - floor
        if thickness > 0:
            total += thickness * _slices(ordered[: i + 1, :-1], ref[:-1])
    return total


def staircase(values: np.ndarray, higher_is_better, reference: np.ndarray) -> np.ndarray:
    """Corners of the region that two-metric points dominate up to the reference point, in the
    metrics' own orientation: a closed polygon (last corner = reference) whose area is the
    hypervolume; its corners before the last trace the front, including front points level with
    the reference in one metric (they add no area). Empty when no point is at least as good as
    the reference in both metrics."""
    sign = np.where(np.asarray(higher_is_better, dtype=bool), 1.0, -1.0)
    v = oriented(values, higher_is_better)
    ref = np.asarray(reference, dtype=np.float64) * sign
    v = v[~np.isnan(v).any(axis=1)]
    v = v[(v >= ref).all(axis=1)]
    front = v[pareto_mask(v, [True, True])]
    if len(front) == 0:
        return np.empty((0, 2))
    front = np.unique(front, axis=0)  # x ascending; along a front y then descends
    floors = np.append(front[1:, 1], ref[1])
    corners = [(ref[0], front[0, 1])]
    for (x, y), floor in zip(front, floors, strict=True):
        corners += [(x, y), (x, floor)]
    return np.array([*corners, tuple(ref)]) * sign


@dataclass(frozen=True)
class Constraint:
    """`metric@k OP value`, e.g. exposure_share[emerging]@10>=0.2."""

    metric: str
    op: str
    value: float

    def holds(self, values: np.ndarray) -> np.ndarray:
        return _OPERATORS[self.op](values, self.value)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


def parse_constraint(text: str) -> Constraint:
    """Read 'ndcg@10>=0.2' (operators >=, <=, >, <); one clear error otherwise."""
    match = _CONSTRAINT.fullmatch(text)
    if not match:
        raise UserError(
            f"--constraint {text!r}: expected METRIC@K OP VALUE, e.g. 'exposure_share[tail]@10>=0.2'"
        )
    return Constraint(match.group(1), match.group(2), float(match.group(3)))


def best_feasible(objective: np.ndarray, maximize: bool, feasible: np.ndarray) -> int | None:
    """Index of the best objective among feasible points (first on ties), or None when none is."""
    candidates = np.flatnonzero(feasible & ~np.isnan(objective))
    if candidates.size == 0:
        return None
    scores = objective[candidates] if maximize else -objective[candidates]
    return int(candidates[np.argmax(scores)])
