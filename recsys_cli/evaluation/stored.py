"""Evaluate a stored run (`rank eval`, slices, reports): load its lists, truth and item side data
back into index arrays and hand them to the same `Evaluator` that `rank run` feeds in memory,
so both give the same numbers. Also saves an evaluation into a run directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.errors import UserError
from recsys_cli.evaluation.evaluator import (
    Evaluation,
    Evaluator,
    EvalUsers,
    RowScorer,
    evaluate_row,
    needs_profiles,
    needs_side_data,
)
from recsys_cli.progress import NO_PROGRESS, Progress, Step, silent_step
from recsys_cli.results.atomic import write_json, write_parquet
from recsys_cli.results.readback import DAMAGED, read_manifest, read_run_recipe

SEEDS_DIR = "seeds"


def evaluate_run(
    run_dir: Path,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
    *,
    truth_items: pl.Series | None = None,
    progress: Progress = NO_PROGRESS,
    score_row: RowScorer = evaluate_row,
) -> Evaluation:
    """Evaluate the stored lists of a run against its stored truth, with the item side data
    the run stored (the data are never prepared again).

    `truth_items` restricts the held-out truth to those items (a popularity-band slice: only
    users with held-out items in the band are evaluated, on the full lists). Each row's lists
    are read and evaluated on their own; users are counted on `progress` (lists = rows x users).
    """
    from recsys_cli.evaluation.side_data import ItemSideData
    from recsys_cli.results.side_data import read_side_data, side_context

    # Rows and list depth come from the manifest, so a model that recommended nothing still has
    # its (zero) row.
    manifest = read_manifest(run_dir)
    depth = manifest["list_depth"]
    if max(cutoffs) > depth:
        raise UserError(
            f"{run_dir}: recommendations hold {depth} items per user; cutoff "
            f"{max(cutoffs)} needs a new run with a larger eval.cutoffs"
        )
    user_ids = _column(run_dir, "users.parquet", "user")
    item_ids = _column(run_dir, "items.parquet", "item")
    side, history = None, None
    if needs_side_data(metrics):
        stored = read_side_data(run_dir, len(user_ids))
        if stored.items.height != len(item_ids):
            raise UserError(f"{run_dir}: side/ and items.parquet disagree; {DAMAGED}")
        context = side_context(stored, user_ids, read_run_recipe(run_dir), metrics)
        side = ItemSideData.of(context, metrics)
        history = stored.history if needs_profiles(metrics) else None
    users = stored_truth(run_dir, user_ids, item_ids, history, truth_items)
    evaluator = Evaluator(users, side, cutoffs, metrics, score_row)
    progress.total(len(manifest["lists"]) * len(users), "lists")
    scan = pl.scan_parquet(run_dir / "recommendations.parquet")
    for label in manifest["lists"]:
        evaluator.add(
            label, _stored_lists(run_dir, scan, label, users.ids, item_ids, depth), progress
        )
    return evaluator.result()


def _column(run_dir: Path, name: str, column: str) -> pl.Series:
    path = run_dir / name
    if not path.is_file():
        raise UserError(
            f"{path}: missing; the run was made by an older version of rank: run it again"
        )
    return pl.read_parquet(path, columns=[column])[column]


def index_of(ids: pl.Series, vocabulary: pl.Series) -> np.ndarray:
    """int64 position of each id in `vocabulary` (distinct ids, in any order); -1 where absent."""
    from recsys_cli.data.prepare import positions

    if len(vocabulary) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    if vocabulary.is_sorted():
        return positions(ids, vocabulary).fill_null(-1).to_numpy()
    order = vocabulary.arg_sort()
    found = positions(ids, vocabulary.gather(order)).fill_null(-1).to_numpy()
    return np.where(found >= 0, order.to_numpy().astype(np.int64)[np.maximum(found, 0)], -1)


def stored_truth(
    run_dir: Path,
    user_ids: pl.Series,
    item_ids: pl.Series,
    history: sp.csr_matrix | None,
    truth_items: pl.Series | None,
) -> EvalUsers:
    """The evaluated users (rows of users.parquet) and their held-out items from test.parquet,
    restricted to `truth_items` (and to the users left with truth) when given."""
    test = pl.read_parquet(run_dir / "test.parquet", columns=["user", "item", "status"])
    test = test.filter(pl.col("status") == "evaluated").unique(["user", "item"])
    if truth_items is not None:
        test = test.filter(pl.col("item").is_in(truth_items.implode()))
    rows, columns = index_of(test["user"], user_ids), index_of(test["item"], item_ids)
    known = (rows >= 0) & (columns >= 0)
    truth = sp.csr_matrix(
        (np.ones(int(known.sum())), (rows[known], columns[known])),
        shape=(len(user_ids), len(item_ids)),
    )
    users = EvalUsers(user_ids, truth, history)
    if truth_items is None:
        return users
    return users.rows(np.flatnonzero(np.diff(truth.indptr) > 0))


def _stored_lists(
    run_dir: Path, scan: pl.LazyFrame, label: str, users: pl.Series, items: pl.Series, depth: int
) -> np.ndarray:
    """Row `label` of recommendations.parquet as users x depth item indices (-1 padded)."""
    lists = scan.filter(pl.col("model") == label).select("user", "item", "rank").collect()
    rows, columns = index_of(lists["user"], users), index_of(lists["item"], items)
    known = (rows >= 0) & (columns >= 0)
    ranked = np.full((len(users), depth), -1, dtype=np.int32)
    ranks = lists["rank"].to_numpy()[known] - 1
    ranked[rows[known], ranks] = columns[known]
    # Item indices are >= 0: a (user, rank) given twice fills fewer cells than it has rows.
    if np.count_nonzero(ranked >= 0) != int(known.sum()):
        raise UserError(
            f"{run_dir}: {label} has more than one item at some (user, rank); a multi-seed "
            "run is evaluated per seed (rank eval evaluates seeds/* and aggregates)"
        )
    return ranked


def evaluate_seeds(run_dir: Path, cutoffs, metrics, *, step: Step = silent_step) -> Evaluation:
    """Evaluate every seed sub-run of a multi-seed run (one step each) and aggregate them."""
    evaluations = {}
    for seed in read_manifest(run_dir)["seeds"]:
        with step(f"evaluate seed {seed}") as progress:
            evaluations[seed] = evaluate_run(
                run_dir / SEEDS_DIR / f"seed-{seed}", cutoffs, metrics, progress=progress
            )
    return aggregate_seeds(evaluations, cutoffs, metrics)


def aggregate_seeds(evaluations: dict[int, Evaluation], cutoffs, metrics) -> Evaluation:
    """One evaluation from per-seed ones (see evaluation/seeds.py)."""
    from recsys_cli.evaluation.seeds import aggregate_per_user, aggregate_summary

    per_user = aggregate_per_user({s: e.per_user for s, e in evaluations.items()})
    summary = aggregate_summary({s: e.summary for s, e in evaluations.items()})
    return Evaluation(per_user, summary, tuple(cutoffs), tuple(metrics))


def save_evaluation(evaluation: Evaluation, target: Path) -> None:
    """per_user.parquet first, metrics.json last (its presence marks a finished evaluation)."""
    write_parquet(target / "per_user.parquet", evaluation.per_user)
    try:
        write_json(target / "metrics.json", evaluation.to_json())
    except BaseException:
        (target / "per_user.parquet").unlink()  # ours: write_parquet never replaces a file
        raise
