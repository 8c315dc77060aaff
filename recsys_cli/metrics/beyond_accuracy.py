"""Beyond-accuracy metrics of ranked lists: diversity, coverage, popularity bias, calibration.

Inputs: `recs`, an int32 (n_users, k) array of item indices, -1 padded at the end. Per-user
functions return float64 (n_users,) arrays; catalogue-level ones return a float. A list shorter
than k is measured over its k' valid items unless a docstring says otherwise; a value that is
undefined for a user (for example ILD of fewer than 2 items) is NaN, so summaries should use
`np.nanmean` and report how many users were defined. Formulas: docs/metrics.md.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from recsys_cli.arrays import (
    check_candidates,
    check_csr,
    check_embeddings,
    check_item_vector,
    check_unit,
    item_genre_distribution,
)
from recsys_cli.errors import UserError


def _valid_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Mean of `values` over the valid positions of each row; NaN for a row without any."""
    cnt = valid.sum(axis=1)
    tot = np.where(valid, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def _gather(recs: np.ndarray, item_values: np.ndarray) -> np.ndarray:
    return item_values[np.maximum(recs, 0)]


def ild_cosine(recs: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Intra-list diversity with cosine similarity of item embeddings, per user.

    ILD = 2 / (k'(k'-1)) sum_{i<j} (1 - cos(e_i, e_j)) over the k' valid items (docs/metrics.md;
    Ziegler et al., WWW 2005). An all-zero embedding has similarity 0. NaN when k' < 2.
    """
    emb, inv = check_embeddings(embeddings)
    recs = check_candidates(recs, emb.shape[0])
    return _ild_kernel(recs, emb, inv, False)


def ild_jaccard(recs: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """Intra-list diversity with genre Jaccard similarity, per user.

    ILD = 2 / (k'(k'-1)) sum_{i<j} (1 - |G_i ∩ G_j| / |G_i ∪ G_j|) (docs/metrics.md); genre sets
    are the non-zero entries of each item's row; two items without genres have similarity 0.
    NaN when k' < 2.
    """
    g = np.asarray(genres)
    if g.ndim != 2:
        raise UserError(f"genres must be a 2-d (items x genres) array, got shape {g.shape}")
    g = np.ascontiguousarray(g != 0, dtype=np.float64)
    recs = check_candidates(recs, g.shape[0])
    if g.shape[1] <= 64:  # genre sets as bit masks: |A∩B| is a popcount, the same integer
        bits = (g.astype(np.uint64) << np.arange(g.shape[1], dtype=np.uint64)).sum(axis=1)
        return _ild_bits_kernel(recs, bits.astype(np.uint64), g.sum(axis=1))
    return _ild_kernel(recs, g, g.sum(axis=1), True)


def coverage(recs: np.ndarray, n_items: int) -> float:
    """Catalogue coverage: |union of recommended items| / |catalogue| (docs/metrics.md)."""
    if n_items < 1:
        raise UserError(f"n_items must be >= 1, got {n_items}")
    recs = check_candidates(recs, n_items)
    return float(np.count_nonzero(np.bincount(recs[recs >= 0], minlength=n_items)) / n_items)


def gini_index(exposure: np.ndarray) -> float:
    """Gini coefficient G of non-negative exposure values (0 = equal, 1 = all on one item).

    Shares p_j sorted ascending, G = (1 / (n - 1)) sum_{j=1..n} (2j - n - 1) p_j (docs/metrics.md).
    This is G, not Elliot's 1 - G. NaN when the total exposure is 0; 0 when n = 1.
    """
    x = np.asarray(exposure, dtype=np.float64)
    if x.ndim != 1 or (x < 0).any() or not np.isfinite(x).all():
        raise UserError("exposure must be a 1-d array of finite values >= 0")
    n = x.size
    total = x.sum()
    if total <= 0.0:
        return math.nan
    if n == 1:
        return 0.0
    p = np.sort(x) / total
    j = np.arange(1, n + 1, dtype=np.float64)
    return float(((2.0 * j - n - 1.0) * p).sum() / (n - 1.0))


def item_exposure(recs: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists recommend each item: a (n_items,) float64 count vector."""
    recs = check_candidates(recs, n_items)
    return np.bincount(recs[recs >= 0], minlength=n_items).astype(np.float64)


def gini_exposure(recs: np.ndarray, n_items: int) -> float:
    """Gini G of item exposure over the whole catalogue, unexposed items included.

    G = (1/(n-1)) sum_j (2j - n - 1) p_j, p_j the ascending exposure shares of all n catalogue
    items, exposure = number of lists holding the item (docs/metrics.md). Reported as G (higher =
    more concentrated), not Elliot's 1 - G. NaN when no list holds any item.
    """
    return gini_index(item_exposure(recs, n_items))


def novelty(recs: np.ndarray, item_users: np.ndarray, n_train_users: int) -> np.ndarray:
    """Mean self-information of the list items, per user.

    Novelty = mean over list of -log2 p(i), p(i) = |training users of i| / |training users|,
    counting only users with at least one training interaction (docs/metrics.md; Zhou et al.,
    PNAS 2010). An item no training user interacted with counts as one user so the value stays
    finite. NaN for an empty list.
    """
    cnt = check_item_vector("item_users", item_users, np.float64)
    if n_train_users < 1 or (cnt < 0).any() or (cnt > n_train_users).any():
        raise UserError("item_users must lie in [0, n_train_users] and n_train_users >= 1")
    recs = check_candidates(recs, cnt.size)
    info = -np.log2(np.maximum(cnt, 1.0) / n_train_users)
    return _valid_mean(_gather(recs, info), recs >= 0)


def arp(recs: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Average recommendation popularity: mean training popularity of the list items, per user.

    ARP = (1/k') sum_{i in L} phi(i), phi(i) = training users of i (docs/metrics.md;
    Abdollahpouri et al., FLAIRS 2019). NaN for an empty list.
    """
    pop = check_item_vector("popularity", popularity, np.float64)
    recs = check_candidates(recs, pop.size)
    return _valid_mean(_gather(recs, pop), recs >= 0)


def head_tail_split(popularity: np.ndarray, head_share: float = 0.8) -> np.ndarray:
    """Long-tail mask: True for items outside the head covering `head_share` of interactions.

    The head is the smallest set of most popular items whose interactions reach head_share of the
    total (ties broken by item index); every other item, including never-seen ones, is tail
    (docs/metrics.md; Abdollahpouri et al., FLAIRS 2019). All items are tail when there are no
    interactions.
    """
    pop = check_item_vector("popularity", popularity, np.float64)
    share = check_unit("head_share", head_share)
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise UserError("popularity must be finite and >= 0")
    tail = np.ones(pop.size, dtype=bool)
    total = pop.sum()
    if total <= 0.0 or share == 0.0:
        return tail
    order = np.argsort(-pop, kind="stable")
    cum = np.cumsum(pop[order])
    n_head = int(np.searchsorted(cum, share * total * (1 - 1e-12), side="left")) + 1
    head = order[: min(n_head, pop.size)]
    tail[head[pop[head] > 0]] = False
    return tail


def aplt(recs: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Average percentage of long tail items: share of the list's items in the tail, per user.

    APLT = |L ∩ tail| / k' (docs/metrics.md; Abdollahpouri et al., RecSys 2017); see
    `head_tail_split`. NaN for an empty list.
    """
    tail = check_item_vector("tail", tail, np.bool_)
    recs = check_candidates(recs, tail.size)
    return _valid_mean(_gather(recs, tail).astype(np.float64), recs >= 0)


def profile_popularity(
    indptr: np.ndarray, indices: np.ndarray, popularity: np.ndarray
) -> np.ndarray:
    """Mean training popularity of each user's profile items (CSR rows); NaN when empty."""
    pop = check_item_vector("popularity", popularity, np.float64)
    ptr, idx = check_csr(indptr, indices, pop.size)
    counts = np.diff(ptr)
    users = np.repeat(np.arange(counts.size), counts)
    tot = np.bincount(users, weights=pop[idx], minlength=counts.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, tot / np.maximum(counts, 1), np.nan)


def popularity_lift(
    recs: np.ndarray, popularity: np.ndarray, profile_mean: np.ndarray
) -> np.ndarray:
    """Popularity lift of each list over the user's profile.

    lift = (GAP_rec - GAP_profile) / GAP_profile, GAP = mean training popularity of the items
    (docs/metrics.md; Abdollahpouri et al., UMAP 2020), computed per user; `profile_mean` comes
    from `profile_popularity`. NaN for an empty list, an empty profile or GAP_profile = 0.
    """
    prof = np.asarray(profile_mean, dtype=np.float64)
    rec_gap = arp(recs, popularity)
    if prof.shape != rec_gap.shape:
        raise UserError(f"profile_mean must have shape {rec_gap.shape}, got {prof.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(prof > 0, (rec_gap - prof) / np.where(prof > 0, prof, 1.0), np.nan)


def genre_distribution(indptr: np.ndarray, indices: np.ndarray, genres: np.ndarray) -> np.ndarray:
    """p(g|u) from each user's history (CSR rows): the mean of the items' p(g|i).

    p(g|u) = sum_{i in H_u} p(g|i) / |H_u|, p(g|i) = the item's genre row normalised to sum 1
    (Steck, RecSys 2018, eq. 1, uniform weights). Items without genres dilute p; an empty history
    gives p = 0. Returns float64 (n_users, n_genres).
    """
    import scipy.sparse as sp  # slow import, only when used

    pgi = item_genre_distribution(genres)
    ptr, idx = check_csr(indptr, indices, pgi.shape[0])
    n_users = ptr.size - 1
    hist = sp.csr_matrix((np.ones(idx.size), idx, ptr), shape=(n_users, pgi.shape[0]))
    counts = np.diff(ptr).astype(np.float64)
    return np.asarray(hist @ pgi) / np.maximum(counts, 1.0)[:, None]


def miscalibration(
    recs: np.ndarray, genres: np.ndarray, history_dist: np.ndarray, alpha: float = 0.01
) -> np.ndarray:
    """Miscalibration C_KL of each list's genre distribution against the history's.

    C_KL = sum_g p(g|u) log(p(g|u) / q~(g|u)), q~ = (1 - alpha) q + alpha p, alpha = 0.01, q(g|u)
    = sum_{i in L} p(g|i) / k' (Steck, Calibrated Recommendations, RecSys 2018, eq. 4-5;
    docs/metrics.md); terms with p(g|u) = 0 are 0. `history_dist` comes from
    `genre_distribution`. NaN for a user with an empty history (p = 0); an empty list has q = 0,
    so C_KL = sum_g p log(1 / alpha).
    """
    pgi = item_genre_distribution(genres)
    recs = check_candidates(recs, pgi.shape[0])
    alpha = check_unit("alpha", alpha, low_open=True)
    p = np.asarray(history_dist, dtype=np.float64)
    if p.shape != (recs.shape[0], pgi.shape[1]):
        raise UserError(
            f"history_dist must have shape {(recs.shape[0], pgi.shape[1])}, got {p.shape}"
        )
    valid = recs >= 0
    kk = valid.sum(axis=1)
    q = np.where(valid[:, :, None], pgi[np.maximum(recs, 0)], 0.0).sum(axis=1)
    q = q / np.maximum(kk, 1)[:, None]
    qt = (1.0 - alpha) * q + alpha * p
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(p > 0, p * np.log(p / np.where(p > 0, qt, 1.0)), 0.0)
    return np.where(p.sum(axis=1) > 0, terms.sum(axis=1), np.nan)


def serendipity(
    recs: np.ndarray,
    truth_indptr: np.ndarray,
    truth_indices: np.ndarray,
    popular: np.ndarray,
) -> np.ndarray:
    """Share of the k slots holding a relevant item that the popularity model did not recommend.

    Serendipity = |{i in L : i relevant, i not in PM_u}| / k (Ge et al., RecSys 2010; docs/metrics.md);
    k = recs.shape[1], so a short list is not rewarded for its empty slots. `popular` is the
    popularity model's list, (k_pop,) shared by all users or (n_users, k_pop), -1 padded. A user
    without relevant items scores 0.
    """
    recs = check_candidates(recs)
    pop = np.asarray(popular)
    if pop.ndim == 1:
        pop = np.broadcast_to(pop, (recs.shape[0], pop.size))
    pop = check_candidates(pop)
    if pop.shape[0] != recs.shape[0]:
        raise UserError(f"popular has {pop.shape[0]} rows for {recs.shape[0]} users")
    n_items = 1 + max(
        int(recs.max(initial=-1)),
        int(pop.max(initial=-1)),
        int(np.asarray(truth_indices).max(initial=-1)),
    )
    ptr, idx = check_csr(truth_indptr, truth_indices, n_items)
    if ptr.size - 1 != recs.shape[0]:
        raise UserError(f"truth has {ptr.size - 1} users, recs has {recs.shape[0]}")
    if recs.shape[1] == 0:
        return np.zeros(recs.shape[0])
    return _serendipity_kernel(recs, ptr, idx, pop, n_items)


@njit(cache=True, parallel=True)
def _ild_kernel(recs, vectors, norm, jaccard):  # pragma: no cover - compiled
    """Mean pairwise dissimilarity over each list's valid items, from dot products: cosine
    (norm = inverse norms) or Jaccard of binary rows (norm = set sizes, |A∩B| / |A∪B| with
    |A∪B| = |A| + |B| - |A∩B|). Users in parallel threads."""
    n_users, k = recs.shape
    dim = vectors.shape[1]
    out = np.full(n_users, np.nan)
    for u in prange(n_users):
        tot = 0.0
        n = 0
        for a in range(k):
            i = recs[u, a]
            if i < 0:
                continue
            n += 1
            for b in range(a + 1, k):
                j = recs[u, b]
                if j < 0:
                    continue
                dot = 0.0
                for q in range(dim):
                    dot += float(vectors[i, q]) * float(vectors[j, q])
                if jaccard:
                    union = norm[i] + norm[j] - dot
                    sim = dot / union if union > 0 else 0.0
                else:
                    sim = dot * norm[i] * norm[j]
                tot += 1.0 - sim
        if n >= 2:
            out[u] = tot * 2.0 / (n * (n - 1))
    return out


@njit(cache=True, parallel=True)
def _ild_bits_kernel(recs, bits, sizes):  # pragma: no cover - compiled
    """`_ild_kernel`'s Jaccard with each item's set as a 64-bit mask: |A∩B| = popcount(a & b)."""
    n_users, k = recs.shape
    out = np.full(n_users, np.nan)
    for u in prange(n_users):
        tot = 0.0
        n = 0
        for a in range(k):
            i = recs[u, a]
            if i < 0:
                continue
            n += 1
            for b in range(a + 1, k):
                j = recs[u, b]
                if j < 0:
                    continue
                dot = float(_popcount(bits[i] & bits[j]))
                union = sizes[i] + sizes[j] - dot
                sim = dot / union if union > 0 else 0.0
                tot += 1.0 - sim
        if n >= 2:
            out[u] = tot * 2.0 / (n * (n - 1))
    return out


@njit(cache=True, inline="always")
def _popcount(x):  # pragma: no cover - compiled
    """Set bits of a uint64 (SWAR; LLVM emits popcnt where the CPU has it)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def _serendipity_kernel(recs, ptr, idx, pop, n_items):  # pragma: no cover - compiled
    n_users, k = recs.shape
    rel_mark = np.full(n_items, -1, dtype=np.int64)
    pop_mark = np.full(n_items, -1, dtype=np.int64)
    out = np.zeros(n_users)
    for u in range(n_users):
        for p in range(ptr[u], ptr[u + 1]):
            rel_mark[idx[p]] = u
        for p in range(pop.shape[1]):
            if pop[u, p] >= 0:
                pop_mark[pop[u, p]] = u
        hits = 0
        for a in range(k):
            i = recs[u, a]
            if i >= 0 and rel_mark[i] == u and pop_mark[i] != u:
                hits += 1
        out[u] = hits / k
    return out
