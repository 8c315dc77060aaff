"""Aggregate evaluations of the same split repeated over training seeds.

Per user: the mean over seeds (so paired tests compare seed-averaged values). Per model x metric:
mean over seeds of the seed means, the mean per-user standard error, and the spread across seeds
(sd with ddof = 1) with every seed's value kept.
"""

from __future__ import annotations

import polars as pl


def aggregate_per_user(per_seed: dict[int, pl.DataFrame]) -> pl.DataFrame:
    """Mean per (model, user, metric, cutoff) over seeds, rows in the first seed's order."""
    stacked = pl.concat(
        [frame.with_columns(pl.lit(seed).alias("seed")) for seed, frame in per_seed.items()]
    )
    return stacked.group_by("model", "user", "metric", "cutoff", maintain_order=True).agg(
        pl.col("value").mean()
    )


def aggregate_summary(per_seed: dict[int, pl.DataFrame]) -> pl.DataFrame:
    """mean, stderr (mean over seeds), users, seed_sd and per_seed (list, in seed order)."""
    stacked = pl.concat(
        [frame.with_columns(pl.lit(seed).alias("seed")) for seed, frame in per_seed.items()],
        how="diagonal_relaxed",
    )
    return stacked.group_by("model", "metric", "cutoff", maintain_order=True).agg(
        pl.col("mean").mean(),
        pl.col("stderr").mean(),
        pl.col("users").first(),
        pl.col("mean").std(ddof=1).alias("seed_sd"),
        pl.col("mean").alias("per_seed"),
    )
