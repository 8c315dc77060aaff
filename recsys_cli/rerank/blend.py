"""Multi-objective blending: per-user normalised objectives scalarised into one ranking."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsys_cli.arrays import check_candidates, check_k
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import empty_output

NORMALISATIONS = ("minmax", "rank", "zscore")
MODES = ("weighted", "chebyshev")


def gather(item_values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Per-candidate values from a per-item array (NaN at padding), for use as a blend objective."""
    vals = np.asarray(item_values, dtype=np.float64)
    if vals.ndim != 1:
        raise UserError(f"item values must be a 1-d per-item array, got shape {vals.shape}")
    cands = check_candidates(candidates, vals.shape[0])
    return np.where(cands >= 0, vals[np.maximum(cands, 0)], np.nan)


def normalise(values: np.ndarray, candidates: np.ndarray, method: str = "minmax") -> np.ndarray:
    """Normalise one objective per user over the valid candidates (padding gets NaN).

    minmax: (x - min_u) / (max_u - min_u), 1 when all values are equal;
    rank: (average ascending rank - 1) / (n_u - 1): the best is 1, the worst 0, 1 when n_u = 1;
    zscore: (x - mean_u) / std_u (population std), 0 when std_u = 0.
    (Per-user normalisation before a linear blend: docs/rerankers.md.)
    """
    if method not in NORMALISATIONS:
        choices = ", ".join(NORMALISATIONS)
        raise UserError(f"unknown normalisation {method!r}; choose one of {choices}")
    cands = check_candidates(candidates)
    x = np.asarray(values, dtype=np.float64)
    if x.shape != cands.shape:
        raise UserError(f"objective shape {x.shape} differs from candidates shape {cands.shape}")
    valid = cands >= 0
    if not np.isfinite(x[valid]).all():
        raise UserError("objective values must be finite at every non-padding candidate position")
    n_valid = valid.sum(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        if method == "minmax":
            lo = np.where(valid, x, np.inf).min(axis=1, keepdims=True)
            hi = np.where(valid, x, -np.inf).max(axis=1, keepdims=True)
            span = hi - lo
            ok = np.isfinite(span) & (span > 0.0)
            z = np.where(ok, (x - lo) / np.where(ok, span, 1.0), 1.0)
        elif method == "rank":
            from scipy.stats import rankdata  # slow import, only when used

            # padding ranks below every valid value; ranks of valid values start after them
            ranks = rankdata(np.where(valid, x, -np.inf), method="average", axis=1)
            n_pad = cands.shape[1] - n_valid
            denom = n_valid - 1
            z = np.where(denom > 0, (ranks - n_pad - 1) / np.where(denom > 0, denom, 1), 1.0)
        else:
            cnt = np.maximum(n_valid, 1)
            mean = np.where(valid, x, 0.0).sum(axis=1, keepdims=True) / cnt
            var = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / cnt
            std = np.sqrt(var)
            z = np.where(std > 0.0, (x - mean) / np.where(std > 0.0, std, 1.0), 0.0)
    return np.where(valid, z, np.nan)


def blend(
    candidates: np.ndarray,
    objectives: Sequence[np.ndarray] | np.ndarray,
    weights: Sequence[float],
    k: int,
    norm: str = "minmax",
    mode: str = "weighted",
) -> np.ndarray:
    """Rerank by a scalarisation of per-user normalised objectives (higher is better for each).

    weighted: utility = sum_m w_m * norm(objective_m); rank by descending utility.
    chebyshev: distance = max_m w_m * (z*_m - norm(objective_m)), z*_m = the user's best normalised
    value (the utopia point); rank by ascending distance, ties by descending weighted sum. Weighted
    sums reach only the convex hull of the Pareto front, Chebyshev reaches every Pareto point
    (docs/rerankers.md; Miettinen 1999, Nonlinear Multiobjective Optimization, §3.4).
    `objectives` holds (n_users, N) arrays aligned with `candidates` (see `gather` for per-item
    values); weights are >= 0, not all 0. Remaining ties keep the input order. Padding is ignored;
    users with fewer than k valid candidates get them all, then -1.
    """
    if mode not in MODES:
        raise UserError(f"unknown blend mode {mode!r}; choose one of {', '.join(MODES)}")
    cands = check_candidates(candidates)
    k = check_k(k)
    objs = [np.asarray(o, dtype=np.float64) for o in objectives]
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(objs) != w.shape[0] or not objs:
        raise UserError(
            f"blend needs one weight per objective, got {len(objs)} objectives and {w.size} weights"
        )
    if not (np.isfinite(w).all() and (w >= 0.0).all() and w.sum() > 0.0):
        raise UserError(f"blend weights must be finite, >= 0 and not all 0, got {list(w)}")
    z = np.stack([normalise(o, cands, norm) for o in objs])  # (m, users, N)
    valid = cands >= 0
    utility = np.einsum("m,mun->un", w, np.nan_to_num(z))
    if mode == "weighted":
        order = np.argsort(np.where(valid, -utility, np.inf), axis=1, kind="stable")
    else:
        best = np.nanmax(np.where(valid[None], z, -np.inf), axis=2, keepdims=True)
        dist = (w[:, None, None] * np.nan_to_num(best - z)).max(axis=0)
        # np.lexsort sorts by the last key first, and is stable
        order = np.lexsort((np.where(valid, -utility, np.inf), np.where(valid, dist, np.inf)))
    ranked = np.take_along_axis(cands, order, axis=1)[:, :k]
    out = empty_output(cands.shape[0], k)
    out[:, : ranked.shape[1]] = ranked
    return out
