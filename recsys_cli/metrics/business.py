"""Business-proxy metrics of ranked lists: group exposure, discovery, provider fairness.

Inputs: `recs`, an int32 (n_users, k) array of item indices, -1 padded at the end; `artist` is an
int (n_items,) code per item with -1 for unknown. Per-user functions return float64 (n_users,)
arrays, catalogue-level ones a float. Formulas: docs/metrics.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys_cli.arrays import check_candidates, check_csr, check_item_vector
from recsys_cli.errors import UserError
from recsys_cli.metrics.beyond_accuracy import gini_index


def _check_artist(artist: np.ndarray) -> np.ndarray:
    codes = check_item_vector("artist", artist, np.int64)
    if codes.size and codes.min() < -1:
        raise UserError("artist codes must be >= 0, or -1 for unknown")
    return codes


def exposure_share(recs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Position-discounted exposure share of an item group in each list.

    share = sum_{r: L_r in group} 1/log2(r+1) / sum_{r} 1/log2(r+1), r = 1..k' over the valid
    positions (docs/metrics.md; position-based exposure as in Singh & Joachims, KDD 2018).
    Groups: emerging artists, new releases, boosted items. NaN for an empty list.
    """
    grp = check_item_vector("group", group, np.bool_)
    recs = check_candidates(recs, grp.size)
    valid = recs >= 0
    w = 1.0 / np.log2(np.arange(2, recs.shape[1] + 2, dtype=np.float64))
    den = (valid * w).sum(axis=1)
    num = ((valid & grp[np.maximum(recs, 0)]) * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def discovery_rate(
    recs: np.ndarray, artist: np.ndarray, indptr: np.ndarray, indices: np.ndarray
) -> np.ndarray:
    """Share of each list's items whose artist is new to the user (absent from training history).

    discovery = |{i in L : artist(i) not in artists(H_u)}| / k' (Mehrotra et al., Mostra, WWW 2022:
    discovery = the user never heard the track's artist; docs/metrics.md). An item with unknown
    artist (-1) is never a discovery but counts in k'. With an empty history every item of known
    artist is a discovery. NaN for an empty list.
    """
    art = _check_artist(artist)
    recs = check_candidates(recs, art.size)
    ptr, idx = check_csr(indptr, indices, art.size)
    if ptr.size - 1 != recs.shape[0]:
        raise UserError(f"history has {ptr.size - 1} users, recs has {recs.shape[0]}")
    return _discovery_kernel(recs, art, ptr, idx, int(art.max(initial=-1)) + 1)


def provider_gini(recs: np.ndarray, artist: np.ndarray, n_artists: int | None = None) -> float:
    """Gini G of exposure aggregated per artist (provider), unexposed artists included.

    G = (1/(n-1)) sum_j (2j - n - 1) p_j over the ascending exposure shares of all n artists,
    exposure = list slots holding the artist's items (docs/metrics.md). Reported as G (0 = equal,
    1 = one artist gets everything), not 1 - G. Unknown artists (-1) are left out; n defaults to
    max code + 1. NaN when no list holds an item of known artist.
    """
    art = _check_artist(artist)
    recs = check_candidates(recs, art.size)
    n = int(art.max(initial=-1)) + 1 if n_artists is None else int(n_artists)
    if n < 1 or (art.size and art.max() >= n):
        raise UserError(f"n_artists must exceed every artist code, got {n_artists}")
    codes = art[recs[recs >= 0]]
    return gini_index(np.bincount(codes[codes >= 0], minlength=n).astype(np.float64))


def artist_popularity_bins(artist_popularity: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Bin artists into n_bins equal-count popularity bins (0 = least popular); int64 (n_artists,).

    bin = floor((rank - 1) n_bins / n_artists), rank = ascending popularity rank with ties sharing
    the lowest rank, so equally popular artists share a bin (Mehrotra et al., CIKM 2018, §5: 10
    artist-popularity bins).
    """
    pop = check_item_vector("artist_popularity", artist_popularity, np.float64)
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise UserError(f"n_bins must be a positive integer, got {n_bins!r}")
    if not np.isfinite(pop).all():
        raise UserError("artist_popularity must be finite")
    if pop.size == 0:
        return np.zeros(0, dtype=np.int64)
    from scipy.stats import rankdata  # slow import, only when used

    rank = rankdata(pop, method="min")
    return ((rank - 1) * int(n_bins) // pop.size).astype(np.int64)


def fair_marketplace(
    recs: np.ndarray, artist: np.ndarray, artist_bin: np.ndarray, n_bins: int = 10
) -> np.ndarray:
    """Fair-marketplace score psi of each list over artist-popularity bins.

    psi(L) = sum_b sqrt(|L ∩ bin b|) over the n_bins bins (Mehrotra et al., Towards a Fair
    Marketplace, CIKM 2018; docs/metrics.md); `artist_bin` maps artist code -> bin (see
    `artist_popularity_bins`). Items of unknown artist count in no bin. An empty list scores 0.
    """
    art = _check_artist(artist)
    bins = check_item_vector("artist_bin", artist_bin, np.int64)
    if art.size and art.max() >= bins.size:
        raise UserError(f"artist codes reach {art.max()} but artist_bin has {bins.size} entries")
    if bins.size and (bins.min() < 0 or bins.max() >= n_bins):
        raise UserError(f"artist_bin values must lie in [0, {n_bins})")
    recs = check_candidates(recs, art.size)
    a = art[np.maximum(recs, 0)]
    known = (recs >= 0) & (a >= 0)
    item_bin = np.where(known, bins[np.maximum(a, 0)] if bins.size else 0, -1)
    psi = np.zeros(recs.shape[0])
    for b in range(n_bins):  # loop over the bins, not the users
        psi += np.sqrt((item_bin == b).sum(axis=1))
    return psi


@njit(cache=True)
def _discovery_kernel(recs, art, ptr, idx, n_artists):  # pragma: no cover - compiled
    n_users, k = recs.shape
    seen = np.full(max(n_artists, 1), -1, dtype=np.int64)
    out = np.full(n_users, np.nan)
    for u in range(n_users):
        for p in range(ptr[u], ptr[u + 1]):
            a = art[idx[p]]
            if a >= 0:
                seen[a] = u
        n = 0
        new = 0
        for r in range(k):
            i = recs[u, r]
            if i < 0:
                continue
            n += 1
            a = art[i]
            if a >= 0 and seen[a] != u:
                new += 1
        if n > 0:
            out[u] = new / n
    return out
