"""Popularity-aware xQuAD reranking over the head and tail item categories."""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys_cli.arrays import (
    check_candidates,
    check_csr,
    check_item_vector,
    check_k,
    check_scores,
    check_unit,
)
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import empty_output, user_relevance

VARIANTS = ("binary", "smooth")


def tail_preference(indptr: np.ndarray, indices: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """P(tail|u): the share of the user's training items that are in the tail; 0.5 when empty.

    Abdollahpouri, Burke & Mobasher, FLAIRS 2019, §3 (P(c|u) from the user's profile).
    """
    tail = check_item_vector("tail", tail, np.bool_)
    indptr, indices = check_csr(indptr, indices, tail.size)
    counts = np.diff(indptr)
    users = np.repeat(np.arange(counts.size), counts)
    in_tail = np.bincount(users, weights=tail[indices].astype(np.float64), minlength=counts.size)
    return np.where(counts > 0, in_tail / np.maximum(counts, 1), 0.5)


def xquad(
    candidates: np.ndarray,
    scores: np.ndarray,
    tail: np.ndarray,
    p_tail: np.ndarray,
    k: int,
    lam: float,
    variant: str = "binary",
) -> np.ndarray:
    """Rerank with popularity-aware xQuAD over c in {head, tail}.

    Greedy argmax (1 - lam) P(i|u) + lam sum_c P(c|u) P(i|c) cover(c, S), with P(i|c) = [i in c],
    P(tail|u) = `p_tail`, P(head|u) = 1 - p_tail (Abdollahpouri, Burke & Mobasher, FLAIRS 2019;
    Santos et al., WWW 2010; docs/rerankers.md). binary: cover = prod_{j in S} (1 - [j in c]), i.e.
    1 until the list holds an item of c, then 0; smooth: cover = 1 - |S ∩ c| / |S| (1 for S empty).
    P(i|u) is the per-user min-max normalised score in [0, 1]. Ties go to the earlier candidate.
    """
    tail = check_item_vector("tail", tail, np.bool_)
    cands = check_candidates(candidates, tail.size)
    s = check_scores(scores, cands)
    k = check_k(k)
    lam = check_unit("lam", lam)
    if variant not in VARIANTS:
        raise UserError(f"unknown xquad variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    pt = np.ascontiguousarray(p_tail, dtype=np.float64)
    if (
        pt.shape != (cands.shape[0],)
        or not np.isfinite(pt).all()
        or (pt < 0).any()
        or (pt > 1).any()
    ):
        raise UserError(
            f"p_tail must be a (n_users,) array of values in [0, 1]; got shape {pt.shape}"
        )
    out = empty_output(cands.shape[0], k)
    if cands.size:
        _xquad_kernel(cands, s, tail, pt, k, lam, variant == "smooth", out)
    return out


@njit(cache=True)
def _xquad_kernel(cands, scores, tail, pt, k, lam, smooth, out):  # pragma: no cover
    n_users, n_cand = cands.shape
    rel = np.zeros(n_cand)
    items = np.zeros(n_cand, dtype=np.int64)
    avail = np.zeros(n_cand, dtype=np.bool_)
    for u in range(n_users):
        n = user_relevance(cands, scores, u, items, rel)
        for i in range(n):
            avail[i] = True
        m = min(k, n)
        n_tail = 0
        for t in range(m):
            n_head = t - n_tail
            if smooth:
                cov_tail = 1.0 - n_tail / t if t > 0 else 1.0
                cov_head = 1.0 - n_head / t if t > 0 else 1.0
            else:
                cov_tail = 1.0 if n_tail == 0 else 0.0
                cov_head = 1.0 if n_head == 0 else 0.0
            gain_tail = lam * pt[u] * cov_tail
            gain_head = lam * (1.0 - pt[u]) * cov_head
            best = -1
            best_v = -np.inf
            for i in range(n):
                if avail[i]:
                    gain = gain_tail if tail[items[i]] else gain_head
                    v = (1.0 - lam) * rel[i] + gain
                    if v > best_v or best < 0:
                        best = i
                        best_v = v
            avail[best] = False
            out[u, t] = items[best]
            if tail[items[best]]:
                n_tail += 1
    return out
