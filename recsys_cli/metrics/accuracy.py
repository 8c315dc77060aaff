"""Accuracy metrics over full-catalogue rankings, one compiled pass per user, all cutoffs at once.

Binary relevance; T_u = the user's held-out items, hit_r = 1 if the item at rank r is in T_u.
- NDCG@K = DCG / IDCG, DCG = sum_{r<=K} hit_r / log2(r + 1), IDCG over min(|T_u|, K) positions.
- Recall@K = hits@K / |T_u| (the plain definition; the VAE/EASE papers divide by min(K, |T_u|)).
- Precision@K = hits@K / K (K, not the list length: a short list is not rewarded).
- MAP@K = (1 / |T_u|) sum_{r<=K} hit_r * Precision@r (TREC AP truncated at K, as in ranx).
- MRR@K = 1 / rank of the first hit within K, else 0.
- HitRate@K = 1 if any hit within K, else 0.
Järvelin & Kekäläinen, TOIS 2002 (NDCG); Krichene & Rendle, KDD 2020 (why full ranking).
Users with no held-out items get NaN: they are not evaluable and are excluded upstream.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys_cli.metrics import ACCURACY
from recsys_cli.sorted_search import row_contains

METRICS = ACCURACY  # the order of the kernel's output rows


@njit(cache=True)
def _accuracy_kernel(ranked, truth_indptr, truth_indices, cutoffs, out):
    n_users, width = ranked.shape
    max_k = cutoffs[-1]
    discount = 1.0 / np.log2(np.arange(2, max_k + 2).astype(np.float64))
    ideal = np.cumsum(discount)
    for u in range(n_users):
        start = truth_indptr[u]
        stop = truth_indptr[u + 1]
        n_true = stop - start
        if n_true == 0:
            out[:, :, u] = np.nan
            continue
        hits = 0
        dcg = 0.0
        precision_sum = 0.0
        first = 0
        c = 0
        for r in range(max_k):
            listed = r < width and ranked[u, r] >= 0
            if listed and row_contains(truth_indices, start, stop, ranked[u, r]):
                hits += 1
                dcg += discount[r]
                precision_sum += hits / (r + 1.0)
                if first == 0:
                    first = r + 1
            while c < cutoffs.shape[0] and cutoffs[c] == r + 1:
                k = cutoffs[c]
                out[0, c, u] = dcg / ideal[min(n_true, k) - 1]
                out[1, c, u] = hits / n_true
                out[2, c, u] = hits / k
                out[3, c, u] = precision_sum / n_true
                out[4, c, u] = 1.0 / first if first > 0 else 0.0
                out[5, c, u] = 1.0 if hits > 0 else 0.0
                c += 1


def accuracy_metrics(
    ranked: np.ndarray, truth_indptr: np.ndarray, truth_indices: np.ndarray, cutoffs
) -> np.ndarray:
    """Per-user values, shape (len(METRICS), len(cutoffs), n_users), for `METRICS` x `cutoffs`.

    `ranked` is users x L item indices (best first, -1 padding); the truth of user u is
    truth_indices[truth_indptr[u]:truth_indptr[u+1]], sorted ascending (CSR layout).
    """
    order = np.argsort(cutoffs)
    sorted_cutoffs = np.asarray(cutoffs, dtype=np.int64)[order]
    out = np.empty((len(METRICS), len(sorted_cutoffs), ranked.shape[0]), dtype=np.float64)
    _accuracy_kernel(
        np.ascontiguousarray(ranked),
        np.asarray(truth_indptr, np.int64),
        np.asarray(truth_indices, np.int64),
        sorted_cutoffs,
        out,
    )
    result = np.empty_like(out)
    result[:, order] = out
    return result
