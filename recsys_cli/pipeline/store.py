"""A run directory written once, as a sink: recipe, candidates, recommendations, truth,
profiles, item side data, ranker files, manifest and evaluation. Nothing here is read back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.config.loader import recipe_to_toml
from recsys_cli.config.schema import Recipe
from recsys_cli.evaluation.stored import save_evaluation
from recsys_cli.pipeline.fit import ModelOutput, uses_factors
from recsys_cli.pipeline.lists import RankedRow, RunLists
from recsys_cli.pipeline.prepare import Prepared
from recsys_cli.progress import Step, peak_memory_mib, silent_step
from recsys_cli.results.atomic import write_frames, write_json, write_parquet
from recsys_cli.results.manifest import provenance
from recsys_cli.results.side_data import SIDE_DIR, StoredSide, write_side_data
from recsys_cli.results.store import SharedFiles

# Files of a run that depend on the prepared data alone (the same in every seed of a multi-seed
# run and every point of a sweep).
DATA_FILES = frozenset({"test.parquet", "users.parquet", "items.parquet", SIDE_DIR})
CANDIDATES = "candidates.parquet"


def store_run(
    recipe: Recipe,
    run_dir: Path,
    data: Prepared,
    outputs: list[ModelOutput],
    context,
    lists: RunLists,
    step: Step = silent_step,
    shared: SharedFiles | None = None,
    started: float | None = None,
) -> dict:
    """Write the run directory of `lists` (the sink: nothing here is read back): recipe,
    candidates, recommendations, truth, profiles, side data, ranker files, manifest, and the
    evaluation when there is one (metrics.json last). Returns the manifest."""
    started = time.perf_counter() if started is None else started
    with step("write run"):
        (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
        if shared is None or not shared.place(CANDIDATES, run_dir):
            write_candidates(run_dir / CANDIDATES, data, outputs)
        write_recommendations(
            run_dir / "recommendations.parquet", data, [(row, None) for row in lists.rows]
        )
        for name in sorted(DATA_FILES):
            if shared is None or not shared.place(name, run_dir):
                write_data_file(name, run_dir, recipe, data, context, uses_factors(recipe))
        from recsys_cli.ranking.stage import save_ranker

        ranker = save_ranker(outputs, run_dir)  # {"ranker": its timeline, counts, importances}
    timings = {"models": {o.label: o.timings for o in outputs}}
    if lists.rerank_timings:
        timings["rerank"] = lists.rerank_timings
    timings["train_total_s"] = round(time.perf_counter() - started, 3)
    timings["peak_memory_mib"] = peak_memory_mib()
    if lists.evaluation is not None:
        timings["train_peak_memory_mib"] = lists.train_peak_memory_mib
    manifest = {
        "recipe": recipe.name,
        "seed": recipe.seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset": {
            "name": data.dataset.name,
            "checksum": data.dataset.checksum,
            "source": data.dataset.source,
            "synthetic": data.dataset.synthetic,
        },
        "split": {"fingerprint": data.split.fingerprint(), "kind": recipe.split.kind},
        "counts": data.report,
        "models": [o.label for o in outputs],
        "lists": [row.label for row in lists.rows],  # row labels of recommendations.parquet
        "list_depth": max([*recipe.eval.cutoffs] + [v.length for v in recipe.variants]),
        **({"variants": list(lists.rerank_timings)} if lists.rerank_timings else {}),
        **ranker,
        "timings": timings,
        **provenance(),
    }
    write_json(run_dir / "manifest.json", manifest)
    if lists.evaluation is not None:
        save_evaluation(lists.evaluation, run_dir)
    return manifest


def write_candidates(path: Path, data: Prepared, outputs: list[ModelOutput]) -> None:
    """candidates.parquet: each model's top N, a block of users' table in memory at a time."""
    user_ids = data.indexed.user_ids.gather(data.eval_users)

    def frames():
        for o in outputs:
            yield from list_frames(o.label, user_ids, o.items, o.scores, data.indexed.item_ids)

    write_frames(path, frames)


def write_recommendations(
    path: Path, data: Prepared, rows: list[tuple[RankedRow, int | None]]
) -> None:
    """recommendations.parquet: the rows' lists in order, a block of users' table in memory at
    a time (with a `seed` column where rows carry their seed: a multi-seed run's top level)."""
    user_ids = data.indexed.user_ids.gather(data.eval_users)

    def frames():
        for row, seed in rows:
            item_ids = data.indexed.item_ids
            for frame in list_frames(row.label, user_ids, row.items, row.scores, item_ids):
                yield frame if seed is None else frame.with_columns(pl.lit(seed).alias("seed"))

    write_frames(path, frames)


def write_data_file(
    name: str, run_dir: Path, recipe: Recipe, data: Prepared, context, factors: bool
) -> None:
    """One of DATA_FILES: the held-out interactions with their status (test.parquet), the
    evaluated users' and the items' training counts (for slices), or the item side data
    (`side_to_store`; with the ALS item factors where `factors`)."""
    if name == "test.parquet":
        ids = data.indexed
        test = data.test.select(
            ids.user_ids.gather(data.test["user_idx"]).alias("user"),
            ids.item_ids.gather(data.test["item_idx"]).alias("item"),
            "timestamp",
            "weight",
            "status",
        )
        write_parquet(run_dir / name, test)
    elif name == "users.parquet":
        write_parquet(run_dir / name, _user_profiles(data))
    elif name == "items.parquet":
        write_parquet(run_dir / name, _item_profiles(data))
    else:
        write_side_data(run_dir / name, side_to_store(data, context, factors))


def side_to_store(data: Prepared, context, factors: bool) -> StoredSide:
    """The item side data a run stores for `rank eval` and `rank rerank`: the item table,
    training popularity and user count, the evaluated users' model input (profile metrics and
    rerankers read it), and the ALS item factors (`factors`: a variant or metric uses them)."""
    history = data.model_input[data.eval_users]
    history.sort_indices()
    vectors = context.embeddings("factors", "stored side data") if factors else None
    return StoredSide(context.items, context.popularity, context.n_train_users, history, vectors)


def _user_profiles(data: Prepared) -> pl.DataFrame:
    """user, train_interactions: what each evaluated user gave the models (for slices)."""
    activity = np.diff(data.model_input.indptr)[data.eval_users]
    return pl.DataFrame(
        {
            "user": data.indexed.user_ids.gather(data.eval_users),
            "train_interactions": activity.astype(np.int64),
        }
    )


def _item_profiles(data: Prepared) -> pl.DataFrame:
    """item, train_users: training popularity of every item (for popularity-band slices)."""
    return pl.DataFrame(
        {
            "item": data.indexed.item_ids,
            "train_users": np.diff(data.fit.tocsc().indptr).astype(np.int64),
        }
    )


# List cells (users x k) per written frame: the writer holds a few frames at a time, so its
# memory stays bounded at any scale (1M-interaction run: 705 MiB peak vs 944 MiB at 1 << 21).
FRAME_CELLS = 1 << 17


def list_frames(
    model: str, users: pl.Series, items: np.ndarray, scores: np.ndarray, item_ids: pl.Series
) -> Iterator[pl.DataFrame]:
    """`_lists_frame` of consecutive blocks of users, at most FRAME_CELLS list cells each."""
    step = max(1, FRAME_CELLS // max(items.shape[1], 1))
    for start in range(0, max(len(users), 1), step):
        rows = slice(start, start + step)
        yield _lists_frame(model, users[rows], items[rows], scores[rows], item_ids)


def _lists_frame(
    model: str, users: pl.Series, items: np.ndarray, scores: np.ndarray, item_ids: pl.Series
) -> pl.DataFrame:
    """Long table model, user, rank (1-based), item, score in original ids; padding dropped."""
    n, k = items.shape
    valid = items.ravel() >= 0
    flat_items = items.ravel()[valid]
    return pl.DataFrame(
        {
            "model": pl.Series([model]).new_from_index(0, int(valid.sum())),
            "user": users.gather(np.repeat(np.arange(n), k)[valid]),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n)[valid],
            "item": item_ids.gather(flat_items),
            "score": scores.ravel()[valid],
        }
    )
