"""Maximal Marginal Relevance reranking, batched over users in one compiled loop."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from recsys_cli.arrays import check_candidates, check_embeddings, check_k, check_scores, check_unit
from recsys_cli.rerank._common import FASTMATH, empty_output, user_relevance


def mmr(
    candidates: np.ndarray,
    scores: np.ndarray,
    embeddings: np.ndarray,
    k: int,
    lam: float,
) -> np.ndarray:
    """Rerank each user's candidates by Maximal Marginal Relevance.

    Greedy argmax_{i not in S} lam * rel(i) - (1 - lam) * max_{j in S} cos(i, j)
    (Carbonell & Goldstein, SIGIR 1998; docs/rerankers.md). rel is the per-user min-max normalised
    score in [0, 1]; cos is the cosine of L2-normalised embeddings (an all-zero embedding has
    similarity 0 to everything). The first pick has no penalty, so it is the top-scored candidate.
    Ties go to the earlier (higher-scored) candidate. Each candidate's running max similarity is
    cached, so the work is O(k N d) per user. Users with fewer than k valid candidates get them all,
    then -1 padding; lam = 1 returns the input order.
    """
    emb, inv = check_embeddings(embeddings)
    cands = check_candidates(candidates, emb.shape[0])
    s = check_scores(scores, cands)
    k = check_k(k)
    lam = check_unit("lam", lam)
    out = empty_output(cands.shape[0], k)
    if cands.size:
        threads = min(numba.get_num_threads(), cands.shape[0])
        _mmr_kernel(cands, s, emb, inv, k, lam, threads, out)
    return out


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _mmr_kernel(cands, scores, emb, inv, k, lam, threads, out):  # pragma: no cover - compiled
    """Users in parallel threads, each thread with its own scratch arrays."""
    for t in prange(threads):
        _mmr_users(cands, scores, emb, inv, k, lam, out, t, threads)


@njit(cache=True, fastmath=FASTMATH)
def _mmr_users(cands, scores, emb, inv, k, lam, out, first, step):  # pragma: no cover - compiled
    n_users, n_cand = cands.shape
    dim = emb.shape[1]
    zero = emb.dtype.type(0.0)
    maxsim = np.zeros(n_cand)
    rel = np.zeros(n_cand)
    avail = np.zeros(n_cand, dtype=np.bool_)
    items = np.zeros(n_cand, dtype=np.int64)
    for u in range(first, n_users, step):
        n = user_relevance(cands, scores, u, items, rel)
        m = min(k, n)
        for i in range(n):
            avail[i] = True
            maxsim[i] = 0.0
        for t in range(m):
            best = -1
            best_v = -np.inf
            for i in range(n):
                if avail[i]:
                    v = lam * rel[i] - (1.0 - lam) * maxsim[i]
                    if v > best_v or best < 0:
                        best = i
                        best_v = v
            avail[best] = False
            j = items[best]
            out[u, t] = j
            if t + 1 < m:
                for i in range(n):
                    if avail[i]:
                        it = items[i]
                        acc = zero
                        for q in range(dim):
                            acc += emb[j, q] * emb[it, q]
                        sim = acc * inv[j] * inv[it]
                        # max over the empty set is not 0 for cosine: the first similarity replaces
                        if t == 0 or sim > maxsim[i]:
                            maxsim[i] = sim
    return out
