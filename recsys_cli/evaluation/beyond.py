"""Beyond-accuracy and business metrics of ranked lists, per user (and catalogue-level numbers).

Lists are in the item index space of the run's prepared data, and `ItemSideData` holds that
data's training popularity, genres, artists and groups. Formulas: `recsys_cli.metrics.beyond_accuracy`
and `recsys_cli.metrics.business` (docs/metrics.md). Choices made here: ILD uses genre Jaccard
similarity; the tail (APLT) is the items outside the head covering 80% of training interactions;
serendipity's primitive recommender is the global top-k by training popularity (one list shared by
all users); profiles (popularity lift, miscalibration, discovery) are the users' model input.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.metrics import CATALOGUE_LEVEL, split_metric


def beyond_metrics(
    side: ItemSideData,
    ranked: np.ndarray,
    users: pl.Series,
    history: sp.csr_matrix | None,
    truth: sp.csr_matrix,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """(per-user table user, metric, cutoff, value or None; catalogue table metric, cutoff,
    value).

    ranked: (n_users, L) item indices, -1 padded; rows belong to `users` (original ids);
    history: their model input (CSR, sorted indices; read by the profile metrics popularity_lift,
    miscalibration and discovery); truth: their held-out items (CSR). Per-user NaN values (a
    metric undefined for that user, e.g. ILD of a one-item list) are left out of the table.
    """
    from recsys_cli.metrics import beyond_accuracy as ba
    from recsys_cli.metrics import business as bz

    pop = side.popularity
    lazy: dict = {}

    def once(key, make):
        if key not in lazy:
            lazy[key] = make()
        return lazy[key]

    def value(metric: str, recs: np.ndarray, k: int):
        base, group = split_metric(metric)
        if base == "ild" and group is None:
            return ba.ild_jaccard(recs, side.genres)
        if base == "ild":
            return ba.ild_cosine(recs, side.vectors[group])
        if base == "coverage":
            return ba.coverage(recs, side.n_items)
        if base == "gini":
            return ba.gini_exposure(recs, side.n_items)
        if base == "novelty":
            return ba.novelty(recs, pop, side.n_train_users)
        if base == "arp":
            return ba.arp(recs, pop)
        if base == "aplt":
            return ba.aplt(recs, side.tail)
        if base == "popularity_lift":
            profile = once("profile", lambda: ba.profile_popularity(*_csr(history), pop))
            return ba.popularity_lift(recs, pop, profile)
        if base == "miscalibration":
            genres = side.genres
            dist = once("dist", lambda: ba.genre_distribution(*_csr(history), genres))
            return ba.miscalibration(recs, genres, dist)
        if base == "serendipity":
            popular = np.argsort(-pop, kind="stable")[:k].astype(np.int32)
            return ba.serendipity(recs, truth.indptr, truth.indices, popular)
        if base == "discovery":
            return bz.discovery_rate(recs, side.artist, *_csr(history))
        if base == "provider_gini":
            codes = side.artist
            return bz.provider_gini(recs, codes, int(codes.max(initial=-1)) + 1)
        if base == "fair_marketplace":
            codes = side.artist
            bins = once("bins", lambda: _artist_bins(codes, pop))
            return bz.fair_marketplace(recs, codes, bins)
        if base == "exposure_share":
            return bz.exposure_share(recs, side.groups[group])
        raise KeyError(metric)  # the loader only admits known metrics

    per_user, catalogue = [], []
    for metric in metrics:
        for cutoff in cutoffs:
            recs = np.ascontiguousarray(ranked[:, :cutoff])
            result = value(metric, recs, cutoff)
            if split_metric(metric)[0] in CATALOGUE_LEVEL:
                catalogue.append({"metric": metric, "cutoff": cutoff, "value": float(result)})
                continue
            values = np.asarray(result, dtype=np.float64)
            keep = ~np.isnan(values)
            per_user.append(
                pl.DataFrame(
                    {
                        "user": users.filter(pl.Series(keep)),
                        "metric": pl.Series([metric], dtype=pl.Utf8).new_from_index(
                            0, int(keep.sum())
                        ),
                        "cutoff": np.full(int(keep.sum()), cutoff, dtype=np.int32),
                        "value": values[keep],
                    }
                )
            )
    schema = {"metric": pl.Utf8, "cutoff": pl.Int32, "value": pl.Float64}
    per_user_frame = pl.concat(per_user) if per_user else None
    return per_user_frame, pl.DataFrame(catalogue, schema=schema)


def _csr(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    return matrix.indptr, matrix.indices


def _artist_bins(codes: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """Artist code -> one of 10 equal-count bins of artist training popularity."""
    from recsys_cli.metrics.business import artist_popularity_bins

    known = codes >= 0
    per_artist = np.bincount(
        codes[known], weights=popularity[known], minlength=int(codes.max(initial=-1)) + 1
    )
    return artist_popularity_bins(per_artist)
