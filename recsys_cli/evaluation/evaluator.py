"""Evaluate ranked lists held in memory: users x k item indices per row (a model or a
model+variant), the evaluated users' held-out items and the item side data, all in the index
space of the run's prepared data.

`rank run` hands each row to an `Evaluator` as soon as it exists (training never rereads what it
stored); `rank eval` loads the same arrays from a run directory (`evaluation.stored`). Per-user
values of a user depend on that user alone, so users may be evaluated in blocks or shards; the
catalogue-level metrics (coverage, gini, provider_gini) are one number per row over all users.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.evaluation.evaluate import evaluate_lists, in_row_order, summarise, user_blocks
from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.metrics import CATALOGUE_LEVEL, metric_kind, split_metric
from recsys_cli.progress import NO_PROGRESS, Progress

log = logging.getLogger(__name__)

# Metrics that read the users' model input (their profiles).
PROFILE_METRICS = frozenset({"popularity_lift", "miscalibration", "discovery"})


@dataclass(frozen=True)
class Evaluation:
    per_user: pl.DataFrame
    summary: pl.DataFrame
    cutoffs: tuple[int, ...]
    metrics: tuple[str, ...]

    def to_json(self) -> dict:
        """metrics.json: {model: {"metric@k": {mean, stderr, users}}}, in recipe order."""
        models: dict[str, dict] = {}
        extra = [c for c in ("seed_sd", "per_seed") if c in self.summary.columns]
        for row in self.summary.iter_rows(named=True):
            models.setdefault(row["model"], {})[f"{row['metric']}@{row['cutoff']}"] = {
                "mean": row["mean"],
                "stderr": row["stderr"],
                "users": row["users"],
                **{name: row[name] for name in extra},
            }
        return {"cutoffs": list(self.cutoffs), "metrics": list(self.metrics), "models": models}


@dataclass(frozen=True)
class EvalUsers:
    """The evaluated users, in the row order of every list: original ids, held-out items (CSR,
    users x items) and model input (CSR with sorted indices; None when no metric reads
    profiles)."""

    ids: pl.Series
    truth: sp.csr_matrix
    history: sp.csr_matrix | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, rows: slice | np.ndarray) -> EvalUsers:
        """These users restricted to `rows` (a block, a shard, a slice of the truth)."""
        history = None if self.history is None else self.history[rows]
        return EvalUsers(self.ids[rows], self.truth[rows], history)


def needs_profiles(metrics) -> bool:
    """True when a metric reads the users' model input."""
    return any(split_metric(m)[0] in PROFILE_METRICS for m in metrics)


def needs_side_data(metrics) -> bool:
    """True when a metric reads item side data (every metric beyond accuracy)."""
    return any(metric_kind(m) != "accuracy" for m in metrics)


def as_lists(items: np.ndarray, depth: int) -> np.ndarray:
    """users x `depth` int32 item indices: longer lists cut, shorter ones padded with -1 (the
    metrics read each list up to a cutoff, and a missing slot is -1)."""
    out = np.full((items.shape[0], depth), -1, dtype=np.int32)
    width = min(depth, items.shape[1])
    out[:, :width] = items[:, :width]
    return out


def per_user_metrics(metrics) -> tuple[str, ...]:
    """The metrics with per-user values, in their table order: accuracy first, then the others
    (each in the order of `metrics`); catalogue-level ones have no per-user values."""
    accuracy = tuple(m for m in metrics if metric_kind(m) == "accuracy")
    others = tuple(
        m
        for m in metrics
        if metric_kind(m) != "accuracy" and split_metric(m)[0] not in CATALOGUE_LEVEL
    )
    return accuracy + others


def per_user_values(
    items: np.ndarray,
    users: EvalUsers,
    side: ItemSideData | None,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
    progress: Progress = NO_PROGRESS,
) -> pl.DataFrame | None:
    """Long table user, metric, cutoff, value of one row's lists (`as_lists`), rows by metric
    (`per_user_metrics` order), cutoff, then user; None when every metric is catalogue-level.
    Users go in blocks (`user_blocks`), each counted on `progress`."""
    from recsys_cli.evaluation.beyond import beyond_metrics

    ordered = per_user_metrics(metrics)
    accuracy = tuple(m for m in ordered if metric_kind(m) == "accuracy")
    beyond = ordered[len(accuracy) :]
    tables = []
    for rows in user_blocks(len(users), progress):
        block = users.rows(rows)
        if accuracy:
            tables.append(evaluate_lists(items[rows], block.truth, cutoffs, accuracy, block.ids))
        if beyond:
            table, _ = beyond_metrics(
                side, items[rows], block.ids, block.history, block.truth, cutoffs, beyond
            )
            tables += [table] if table is not None else []
    return join_user_blocks(tables, metrics, cutoffs)


def join_user_blocks(tables: list[pl.DataFrame], metrics, cutoffs) -> pl.DataFrame | None:
    """Per-user tables of consecutive blocks (or shards) of users as the one table of all of
    them (`per_user_values` row order); None for no table."""
    return in_row_order(pl.concat(tables), per_user_metrics(metrics), cutoffs) if tables else None


def catalogue_values(
    items: np.ndarray,
    users: EvalUsers,
    side: ItemSideData | None,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
) -> pl.DataFrame | None:
    """Table metric, cutoff, value of the catalogue-level metrics of one row (all users' lists
    at once); None when there are none."""
    from recsys_cli.evaluation.beyond import beyond_metrics

    whole = tuple(m for m in metrics if split_metric(m)[0] in CATALOGUE_LEVEL)
    if not whole:
        return None
    return beyond_metrics(side, items, users.ids, users.history, users.truth, cutoffs, whole)[1]


def evaluate_row(
    items: np.ndarray,
    users: EvalUsers,
    side: ItemSideData | None,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
    progress: Progress = NO_PROGRESS,
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(per_user_values, catalogue_values) of one row's lists, in this process."""
    return (
        per_user_values(items, users, side, cutoffs, metrics, progress),
        catalogue_values(items, users, side, cutoffs, metrics),
    )


RowScorer = Callable[..., tuple[pl.DataFrame | None, pl.DataFrame | None]]


class Evaluator:
    """Evaluate a run's rows one at a time, each as soon as its lists exist (so only one row's
    lists need be in memory), and join them in one `Evaluation`.

    `score_row` has `evaluate_row`'s signature and results (`distributed.DaskExecutor` shards
    the users over Dask workers)."""

    def __init__(
        self,
        users: EvalUsers,
        side: ItemSideData | None,
        cutoffs,
        metrics,
        score_row: RowScorer = evaluate_row,
    ):
        self.users = users
        self.side = side
        self.cutoffs = tuple(cutoffs)
        self.metrics = tuple(metrics)
        self.score_row = score_row
        self.labels: list[str] = []
        self._per_user: list[pl.DataFrame] = []
        self._catalogue: list[pl.DataFrame] = []
        self._seconds = 0.0

    def add(self, label: str, items: np.ndarray, progress: Progress = NO_PROGRESS) -> None:
        """Evaluate the lists of row `label` (users x k item indices, -1 padded; row i belongs
        to user i); the users are counted on `progress`."""
        started = time.perf_counter()
        lists = as_lists(items, max(self.cutoffs))
        per_user, catalogue = self.score_row(
            lists, self.users, self.side, self.cutoffs, self.metrics, progress
        )
        model = pl.lit(label).alias("model")
        if per_user is not None:
            self._per_user.append(per_user.select(model, pl.all()))
        if catalogue is not None:
            self._catalogue.append(catalogue.select(model, pl.all()))
        self.labels.append(label)
        seconds = time.perf_counter() - started
        self._seconds += seconds
        log.debug("evaluated %s: %.2f s", label, seconds)

    def result(self) -> Evaluation:
        """Per-user table (rows in order added) and summary: mean, stderr and users per row x
        metric x cutoff, catalogue-level metrics with stderr null (`order_summary` order)."""
        users = len(self.users)
        log.info(
            "evaluated %d lists x %s users (%s at %s): %.2f s",
            len(self.labels),
            f"{users:,}",
            ", ".join(self.metrics),
            ", ".join(map(str, self.cutoffs)),
            self._seconds,
        )
        per_user = pl.concat(self._per_user) if self._per_user else _empty(self.users.ids)
        summary = summarise(per_user)
        if self._catalogue:
            whole = pl.concat(self._catalogue).select(
                "model",
                "metric",
                "cutoff",
                pl.col("value").alias("mean"),
                pl.lit(None, dtype=pl.Float64).alias("stderr"),
                pl.lit(users, dtype=summary["users"].dtype).alias("users"),
            )
            summary = pl.concat([summary, whole])
        summary = order_summary(summary, self.labels, self.metrics, self.cutoffs)
        return Evaluation(per_user, summary, self.cutoffs, self.metrics)


def evaluate(
    lists: Iterable[tuple[str, np.ndarray]],
    users: EvalUsers,
    side: ItemSideData | None,
    cutoffs,
    metrics,
    progress: Progress = NO_PROGRESS,
    score_row: RowScorer = evaluate_row,
) -> Evaluation:
    """Evaluate rows given as (label, users x k item indices), in that order (see `Evaluator`);
    `side` is needed when a metric goes beyond accuracy."""
    evaluator = Evaluator(users, side, cutoffs, metrics, score_row)
    for label, items in lists:
        evaluator.add(label, items, progress)
    return evaluator.result()


def _empty(users: pl.Series) -> pl.DataFrame:
    """The per-user table when only catalogue-level metrics were asked for."""
    return pl.DataFrame(
        schema={
            "model": pl.Utf8,
            "user": users.dtype,
            "metric": pl.Utf8,
            "cutoff": pl.Int32,
            "value": pl.Float64,
        }
    )


def order_summary(summary: pl.DataFrame, models, metrics, cutoffs) -> pl.DataFrame:
    """Rows by model (the order given), then metric (requested order), then cutoff."""
    keys = [
        pl.DataFrame(
            {"model": pl.Series(list(models), dtype=pl.Utf8), "_m": np.arange(len(models))}
        ),
        pl.DataFrame({"metric": list(metrics), "_k": np.arange(len(metrics))}),
        pl.DataFrame({"cutoff": pl.Series(cutoffs, dtype=summary["cutoff"].dtype)}).with_row_index(
            "_c"
        ),
    ]
    on = ["model", "metric", "cutoff"]
    for key, column in zip(keys, on, strict=True):
        summary = summary.join(key, on=column, how="left", maintain_order="left")
    return summary.sort("_m", "_k", "_c", maintain_order=True).drop("_m", "_k", "_c")
