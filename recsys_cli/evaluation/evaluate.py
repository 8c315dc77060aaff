"""Per-user metric tables from ranked lists and held-out truth, and their summaries."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics
from recsys_cli.progress import NO_PROGRESS, Progress

# Users evaluated at once: small enough for progress every fraction of a second at scale, large
# enough that the per-block overhead (a few small frames per metric) stays negligible.
BLOCK_USERS = 4096


def user_blocks(n_users: int, progress: Progress = NO_PROGRESS) -> Iterator[slice]:
    """Consecutive row slices of at most `BLOCK_USERS` users; each is counted on `progress` once
    done. Per-user metrics of a user do not depend on which other users share the block."""
    block = BLOCK_USERS
    for start in range(0, n_users, block):
        rows = slice(start, min(start + block, n_users))
        yield rows
        progress.advance(rows.stop - rows.start)


def in_row_order(per_user: pl.DataFrame, metrics, cutoffs) -> pl.DataFrame:
    """Blocks' per-user tables in the row order of one table over all users: metric (in the
    order of `metrics`), cutoff (order of `cutoffs`), then user (a stable sort keeps the blocks'
    user order)."""
    keys = (
        pl.DataFrame({"metric": list(metrics), "_m": np.arange(len(metrics))}),
        pl.DataFrame(
            {"cutoff": np.asarray(cutoffs, dtype=np.int32), "_c": np.arange(len(cutoffs))}
        ),
    )
    for key in keys:
        per_user = per_user.join(key, on=key.columns[0], how="left", maintain_order="left")
    return per_user.sort("_m", "_c", maintain_order=True).drop("_m", "_c")


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
