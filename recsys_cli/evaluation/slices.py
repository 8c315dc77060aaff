"""Break results down by user activity and by item popularity band.

User activity: quantile buckets of each evaluated user's training interactions (the per-user
values are regrouped; nothing is recomputed). Item popularity: bands by cumulative share of
training interactions, most popular first — head = the items covering the first 50%, mid = up to
80%, tail = the rest (the same tail as APLT) — and each band is evaluated with the held-out truth
restricted to its items (accuracy on tail items, etc.). Abdollahpouri et al., FLAIRS 2019.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.errors import UserError

SLICES = ("user_activity", "item_popularity")
BANDS = (("head", 0.0, 0.5), ("mid", 0.5, 0.8), ("tail", 0.8, 1.0))


def _profiles(run_dir: Path, name: str) -> pl.DataFrame:
    path = run_dir / f"{name}.parquet"
    if not path.is_file():
        raise UserError(f"{path}: missing; slices need a run made by this version of rank")
    return pl.read_parquet(path)


def activity_buckets(users: pl.DataFrame, n_buckets: int = 4) -> pl.DataFrame:
    """user -> label like 'q1: 1-14 interactions', equal-count buckets of training activity."""
    counts = users["train_interactions"].to_numpy()
    edges = np.unique(np.quantile(counts, np.linspace(0, 1, n_buckets + 1), method="lower"))
    codes = np.clip(np.searchsorted(edges, counts, side="right") - 1, 0, max(len(edges) - 2, 0))
    frame = users.with_columns(pl.Series("_code", codes))
    ranges = frame.group_by("_code").agg(
        pl.col("train_interactions").min().alias("lo"),
        pl.col("train_interactions").max().alias("hi"),
    )
    labels = ranges.with_columns(
        pl.format("q{}: {}-{} interactions", pl.col("_code") + 1, "lo", "hi").alias("slice")
    )
    return frame.join(labels.select("_code", "slice"), on="_code").select("user", "slice", "_code")


def popularity_bands(items: pl.DataFrame) -> dict[str, pl.Series]:
    """Band name -> item ids, from the stored training popularity."""
    ordered = items.sort("train_users", "item", descending=[True, False])
    popularity = ordered["train_users"].to_numpy().astype(np.float64)
    total = popularity.sum()
    before = (np.cumsum(popularity) - popularity) / total if total else np.zeros_like(popularity)
    return {
        name: ordered["item"].filter(pl.Series((before >= lo) & (before < hi)))
        for name, lo, hi in BANDS
    }


def sliced_summaries(run_dir: Path, kind: str, evaluate) -> dict[str, pl.DataFrame]:
    """Summary table per slice; `evaluate(truth_items=None|Series)` returns an Evaluation."""
    from recsys_cli.evaluation.evaluate import summarise

    if kind not in SLICES:
        raise UserError(f"--slice: {kind!r} is not one of {', '.join(SLICES)}")
    if kind == "item_popularity":
        return {
            f"{name} items": evaluate(truth_items=ids).summary
            for name, ids in popularity_bands(_profiles(run_dir, "items")).items()
            if len(ids)
        }
    per_user = evaluate(truth_items=None).per_user
    buckets = activity_buckets(_profiles(run_dir, "users"))
    joined = per_user.join(buckets, on="user")
    result = {}
    for (label,), part in joined.sort("_code").group_by("slice", maintain_order=True):
        result[label] = summarise(part.drop("slice", "_code"))
    return result
