"""Determinantal point process reranking by fast greedy MAP inference, batched over users."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from recsys_cli.arrays import check_candidates, check_embeddings, check_k, check_scores, check_unit
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import FASTMATH, empty_output, user_relevance


def dpp(
    candidates: np.ndarray,
    scores: np.ndarray,
    embeddings: np.ndarray,
    k: int,
    theta: float,
    window: int | None = None,
    eps: float = 1e-10,
    fill: bool = True,
) -> np.ndarray:
    """Rerank each user's candidates by greedy MAP inference of a quality-diversity DPP.

    Kernel L = Diag(r) S Diag(r), S_ij = cos(i, j) (S_ii = 1), r_i = exp(alpha (rel_i - 1)),
    alpha = theta / (2 (1 - theta)); greedy j = argmax log det(L_{S+j}) with the incremental
    Cholesky update d_i^2 -= e_i^2, e_i = (L_ji - <c_j, c_i>) / d_j (Chen, Zhang & Zhou, NeurIPS
    2018, Alg. 1; docs/rerankers.md).

    Relevance: rel is the per-user min-max normalised score in [0, 1]. The paper's
    r_i = exp(alpha rel_i) is divided by the per-user constant exp(alpha); that scales det(L_S) by
    exp(-2 alpha |S|), which leaves every greedy choice unchanged, keeps L_ii <= 1 (so `eps` is
    relative to the top candidate) and avoids overflow as theta -> 1. theta = 1 is the limit: the
    input (relevance) order; theta = 0 ignores relevance.

    `window` = w > 0 makes each pick maximise det over itself and the previous w - 1 picks only
    (the sliding-window variant, Alg. 2 of the paper; the factorisation is rebuilt over the window
    when it slides, O(w N (d + w)) per pick). The greedy stops when the best d_j^2 < eps (the
    remaining candidates are then nearly linear combinations of the chosen ones); with fill=True
    the remaining slots take the unpicked candidates in input order, with fill=False they stay -1.
    Ties go to the earlier (higher-scored) candidate. Users with fewer than k valid candidates get
    at most that many items, then -1.
    """
    emb, inv = check_embeddings(embeddings)
    cands = check_candidates(candidates, emb.shape[0])
    s = check_scores(scores, cands)
    k = check_k(k)
    theta = check_unit("theta", theta)
    if window is not None and (isinstance(window, bool) or int(window) != window or window < 1):
        raise UserError(f"window must be a positive integer or None, got {window!r}")
    if not (eps >= 0.0 and math.isfinite(eps)):
        raise UserError(f"eps must be a finite number >= 0, got {eps!r}")
    out = empty_output(cands.shape[0], k)
    if not cands.size:
        return out
    if theta == 1.0:
        return _input_order(cands, k)
    alpha = theta / (2.0 * (1.0 - theta))
    win = 0 if window is None else int(window)
    _dpp_kernel(cands, s, emb, inv, k, alpha, win, float(eps), bool(fill), out)
    return out


def _input_order(cands: np.ndarray, k: int) -> np.ndarray:
    """First k valid candidates of each user in input order (valid ones compacted to the front)."""
    order = np.argsort(cands < 0, axis=1, kind="stable")
    taken = np.take_along_axis(cands, order, axis=1)[:, :k]
    out = empty_output(cands.shape[0], k)
    out[:, : taken.shape[1]] = taken
    return out


@njit(cache=True, fastmath=FASTMATH)
def _add_row(row, j, n, items, r, avail_only, avail, emb, inv, chol, d2):  # pragma: no cover
    """Append item j as Cholesky row `row`: e_i = (L_ji - <c_j, c_i>) / d_j, d_i^2 -= e_i^2."""
    dim = emb.shape[1]
    zero = emb.dtype.type(0.0)
    dj = math.sqrt(d2[j])
    jt = items[j]
    rj = r[j] * inv[jt]
    for i in range(n):
        if avail_only and not avail[i]:
            continue
        if i == j:
            lji = r[j] * r[j]  # S_jj = 1, also for an all-zero embedding
        else:
            it = items[i]
            acc = zero
            for q in range(dim):
                acc += emb[jt, q] * emb[it, q]
            lji = rj * r[i] * inv[it] * acc
        for p in range(row):
            lji -= chol[p, j] * chol[p, i]
        e = lji / dj
        chol[row, i] = e
        d2[i] -= e * e


@njit(cache=True, fastmath=FASTMATH)
def _dpp_kernel(cands, scores, emb, inv, k, alpha, window, eps, fill, out):  # pragma: no cover
    n_users, n_cand = cands.shape
    kk = min(k, n_cand)
    chol = np.zeros((max(kk, 1), n_cand))
    d2 = np.zeros(n_cand)
    r = np.zeros(n_cand)
    rel = np.zeros(n_cand)
    items = np.zeros(n_cand, dtype=np.int64)
    avail = np.zeros(n_cand, dtype=np.bool_)
    sel = np.zeros(max(kk, 1), dtype=np.int64)
    for u in range(n_users):
        n = user_relevance(cands, scores, u, items, rel)
        for i in range(n):
            r[i] = math.exp(alpha * (rel[i] - 1.0))
            d2[i] = r[i] * r[i]
            avail[i] = True
        m = min(k, n)
        t = 0
        rows = 0
        while t < m:
            best = -1
            best_v = -np.inf
            for i in range(n):
                if avail[i] and (d2[i] > best_v or best < 0):
                    best = i
                    best_v = d2[i]
            if best_v < eps:
                break
            avail[best] = False
            sel[t] = best
            out[u, t] = items[best]
            t += 1
            if t == m:
                break
            if window > 0 and t > window - 1:
                # The window slid: factorise again over the last window - 1 picks, in order.
                for i in range(n):
                    d2[i] = r[i] * r[i]
                rows = 0
                for w in range(t - (window - 1), t):
                    _add_row(rows, sel[w], n, items, r, False, avail, emb, inv, chol, d2)
                    rows += 1
            else:
                _add_row(rows, best, n, items, r, True, avail, emb, inv, chol, d2)
                rows += 1
        if fill:
            for i in range(n):
                if t >= m:
                    break
                if avail[i]:
                    out[u, t] = items[i]
                    t += 1
    return out
