"""Calibrated reranking (Steck 2018): match the list's genre mix to the user's history."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from recsys_cli.arrays import (
    check_candidates,
    check_k,
    check_scores,
    check_unit,
    item_genre_distribution,
)
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import empty_output, user_relevance


def calibration(
    candidates: np.ndarray,
    scores: np.ndarray,
    genres: np.ndarray,
    history_dist: np.ndarray,
    k: int,
    lam: float,
    alpha: float = 0.01,
) -> np.ndarray:
    """Rerank so that each list's genre distribution q stays close to the history's p.

    Greedy argmax_{i not in S} (1 - lam) sum_{j in S+i} rel(j) - lam C_KL(p, q(S+i)),
    C_KL = sum_g p(g|u) log(p(g|u) / q~(g|u)), q~ = (1 - alpha) q + alpha p, alpha = 0.01
    (Steck, Calibrated Recommendations, RecSys 2018, eq. 5 and 6; docs/rerankers.md).
    rel is the per-user min-max normalised score in [0, 1] (so lam is comparable across models);
    q(g|S) = sum_{i in S} p(g|i) / |S| with p(g|i) the item's normalised genre row (an item without
    genres dilutes q). `history_dist` is p(g|u), (n_users, n_genres); see
    `recsys_cli.metrics.beyond_accuracy.genre_distribution`. A user with an empty history
    (p = 0) has C_KL = 0 for every list and keeps the relevance order. Ties go to the earlier
    candidate.
    """
    pgi = item_genre_distribution(genres)
    cands = check_candidates(candidates, pgi.shape[0])
    s = check_scores(scores, cands)
    k = check_k(k)
    lam = check_unit("lam", lam)
    alpha = check_unit("alpha", alpha, low_open=True)
    p = np.ascontiguousarray(history_dist, dtype=np.float64)
    if p.shape != (cands.shape[0], pgi.shape[1]):
        raise UserError(
            f"history_dist must have shape (n_users, n_genres) = "
            f"{(cands.shape[0], pgi.shape[1])}, got {p.shape}"
        )
    if not np.isfinite(p).all() or (p < 0).any():
        raise UserError("history_dist must be finite and >= 0")
    out = empty_output(cands.shape[0], k)
    if cands.size:
        _calibration_kernel(cands, s, pgi, p, k, lam, alpha, out)
    return out


@njit(cache=True)
def _calibration_kernel(cands, scores, pgi, p, k, lam, alpha, out):  # pragma: no cover
    n_users, n_cand = cands.shape
    n_genres = pgi.shape[1]
    qsum = np.zeros(n_genres)
    rel = np.zeros(n_cand)
    items = np.zeros(n_cand, dtype=np.int64)
    avail = np.zeros(n_cand, dtype=np.bool_)
    for u in range(n_users):
        n = user_relevance(cands, scores, u, items, rel)
        for i in range(n):
            avail[i] = True
        m = min(k, n)
        qsum[:] = 0.0
        for t in range(m):
            best = -1
            best_v = -np.inf
            for i in range(n):
                if not avail[i]:
                    continue
                it = items[i]
                kl = 0.0
                for g in range(n_genres):
                    pg = p[u, g]
                    if pg > 0.0:
                        q = (qsum[g] + pgi[it, g]) / (t + 1)
                        kl += pg * math.log(pg / ((1.0 - alpha) * q + alpha * pg))
                v = (1.0 - lam) * rel[i] - lam * kl
                if v > best_v or best < 0:
                    best = i
                    best_v = v
            avail[best] = False
            it = items[best]
            out[u, t] = it
            for g in range(n_genres):
                qsum[g] += pgi[it, g]
    return out
