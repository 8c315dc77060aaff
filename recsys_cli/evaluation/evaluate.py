"""Per-user metric tables from ranked lists and held-out truth, and their summaries."""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics


def evaluate_lists(
    ranked: np.ndarray,
    truth: sp.csr_matrix,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
    users: pl.Series,
) -> pl.DataFrame:
    """Long per-user table: user (original id), metric, cutoff, value — one row per user x metric x
    cutoff. Row i of `ranked` and `truth` belongs to `users[i]`."""
    truth = truth.tocsr()
    truth.sort_indices()
    values = accuracy_metrics(ranked, truth.indptr, truth.indices, cutoffs)
    frames = []
    for metric in metrics:
        m = METRICS.index(metric)
        for c, cutoff in enumerate(cutoffs):
            frames.append(
                pl.DataFrame(
                    {
                        "user": users,
                        "metric": pl.Series([metric], dtype=pl.Utf8).new_from_index(0, len(users)),
                        "cutoff": np.full(len(users), cutoff, dtype=np.int32),
                        "value": values[m, c],
                    }
                )
            )
    return pl.concat(frames)


def summarise(per_user: pl.DataFrame) -> pl.DataFrame:
    """Mean, standard error (sd / sqrt(n), ddof = 1) and user count per model x metric x cutoff."""
    keys = [k for k in ("model", "metric", "cutoff") if k in per_user.columns]
    return per_user.group_by(keys, maintain_order=True).agg(
        pl.col("value").mean().alias("mean"),
        (pl.col("value").std(ddof=1) / pl.col("value").count().sqrt()).alias("stderr"),
        pl.col("value").count().alias("users"),
    )
