"""Per-user normalisations and constants shared by the reranking kernels (the input checks they
share with metrics are in `recsys_cli.arrays`).

Batch convention: `candidates` is an int32 (n_users, N) array of item indices sorted by descending
model score and padded with -1; `scores` is aligned with it (pad positions -inf). Every reranker
returns an int32 (n_users, k) array, -1 padded at the end.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorise the dot-product reductions; no `ninf`/`nnan`, because the
# kernels compare against -inf.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True)
def user_relevance(cands, scores, u, items, rel):  # pragma: no cover - compiled
    """Compact user u's valid candidates into items[:n], min-max scores into rel[:n]; return n.

    rel = (s - min_u) / (max_u - min_u) over the valid candidates, 1 when they are all equal.
    """
    n = 0
    lo = np.inf
    hi = -np.inf
    for p in range(cands.shape[1]):
        it = cands[u, p]
        if it >= 0:
            sc = float(scores[u, p])
            items[n] = it
            rel[n] = sc
            lo = min(lo, sc)
            hi = max(hi, sc)
            n += 1
    span = hi - lo
    for i in range(n):
        rel[i] = (rel[i] - lo) / span if span > 0.0 else 1.0
    return n


def empty_output(n_users: int, k: int) -> np.ndarray:
    """A (n_users, k) int32 output filled with the -1 padding value."""
    return np.full((n_users, k), -1, dtype=np.int32)
