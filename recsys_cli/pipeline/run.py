"""A run end to end: train (and evaluate in memory) into one run directory, or one sub-run per
seed of a multi-seed recipe."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from pathlib import Path

from recsys_cli.config.loader import recipe_to_toml
from recsys_cli.config.schema import Recipe
from recsys_cli.errors import UserError
from recsys_cli.evaluation.evaluator import Evaluation
from recsys_cli.evaluation.stored import SEEDS_DIR, aggregate_seeds, save_evaluation
from recsys_cli.pipeline.fit import (
    IN_PROCESS,
    Executor,
    ModelOutput,
    build_context,
    fit_with_ranker,
)
from recsys_cli.pipeline.lists import rank_and_evaluate
from recsys_cli.pipeline.prepare import Prepared, prepare
from recsys_cli.pipeline.store import DATA_FILES, store_run, write_recommendations
from recsys_cli.progress import Step, silent_step
from recsys_cli.results.atomic import write_json
from recsys_cli.results.store import RUN_LOG, SharedFiles, link_or_copy, run_log


def train(
    recipe: Recipe, run_dir: Path, data_dir: Path | None = None, step: Step = silent_step
) -> dict:
    """Fit every model, rerank, write candidates, recommendations, truth, side data, recipe and
    manifest (no evaluation)."""
    if recipe.seeds:
        raise UserError("seeds: a multi-seed recipe trains and evaluates per seed; use `rank run`")
    return _train(recipe, run_dir, data_dir, step, IN_PROCESS, evaluate=False)[0]


def run_recipe(
    recipe: Recipe,
    run_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
    executor: Executor = IN_PROCESS,
) -> tuple[dict, Evaluation]:
    """Train, evaluate in memory and store into one run directory (what `rank run` and
    `rank bench` do).

    `executor` scores, reranks and evaluates the users (the Dask path passes its sharded
    executor). Multi-seed recipes always run in process."""
    if recipe.seeds:
        return _run_seeds(recipe, run_dir, data_dir, step)
    try:
        return _train(recipe, run_dir, data_dir, step, executor, evaluate=True)
    finally:
        executor.release()


def _train(recipe: Recipe, run_dir: Path, data_dir, step: Step, executor, evaluate: bool):
    started = time.perf_counter()
    data = prepare(recipe, data_dir, step)
    with step("item side data for reranking and metrics"):
        context = build_context(recipe, data)
    outputs = fit_with_ranker(recipe, data, context, step, run_dir / "models", executor=executor)
    return write_run(
        recipe, run_dir, data, outputs, context, step, started, executor=executor, evaluate=evaluate
    )


def _run_seeds(recipe: Recipe, run_dir: Path, data_dir: Path | None, step: Step):
    """One split, models trained and evaluated once per seed in complete sub-runs
    `seeds/seed-<s>/` (the data files written once, linked into the others); the top level
    holds the aggregate (see evaluation/seeds.py)."""
    started = time.perf_counter()
    (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
    data = prepare(recipe, data_dir, step)
    context = build_context(recipe, data)
    split_seed = recipe.seed if recipe.split.seed is None else recipe.split.seed
    manifests, evaluations, rows = {}, {}, []
    shared = None
    for seed in recipe.seeds:
        single = dataclasses.replace(
            recipe, seed=seed, seeds=(), split=dataclasses.replace(recipe.split, seed=split_seed)
        )
        sub = run_dir / SEEDS_DIR / f"seed-{seed}"
        sub.mkdir(parents=True)
        with run_log(sub / RUN_LOG):
            outputs = fit_with_ranker(single, data, context, step, sub / "models")
            lists = rank_and_evaluate(single, data, outputs, context, step, evaluate=True)
            manifests[seed] = store_run(single, sub, data, outputs, context, lists, step, shared)
            evaluations[seed] = lists.evaluation
        # The top level's recommendations: every seed's rows (copies: the candidates go).
        rows += [(row.copy(), seed) for row in lists.rows]
        del outputs, lists
        shared = shared or SharedFiles(sub, DATA_FILES)
    for name in ("test.parquet", "users.parquet", "items.parquet"):
        link_or_copy(shared.folder / name, run_dir / name)
    write_recommendations(run_dir / "recommendations.parquet", data, rows)
    manifest = {
        **manifests[recipe.seeds[0]],
        "seed": recipe.seed,
        "seeds": list(recipe.seeds),
        "timings": {
            "seeds": {str(seed): m["timings"] for seed, m in manifests.items()},
            "train_total_s": round(time.perf_counter() - started, 3),
        },
    }
    write_json(run_dir / "manifest.json", manifest)
    evaluation = aggregate_seeds(evaluations, recipe.eval.cutoffs, recipe.eval.metrics)
    save_evaluation(evaluation, run_dir)
    return manifest, evaluation


def write_run(
    recipe: Recipe,
    run_dir: Path,
    data: Prepared,
    outputs: list[ModelOutput],
    context=None,
    step: Step = silent_step,
    started: float | None = None,
    rows: Collection[str] | None = None,
    executor: Executor = IN_PROCESS,
    evaluate: bool = False,
    shared: SharedFiles | None = None,
) -> tuple[dict, Evaluation | None]:
    """Apply the recipe's variants to the models' candidates, evaluate each row's lists in
    memory (`evaluate`) and write a complete run directory, each file once; returns the
    manifest and the evaluation (None without `evaluate`).

    `rank sweep` calls this once per grid point with the same fitted outputs (no retraining),
    with `rows` (plain model and MODEL+variant labels; None: all) leaving out the rows an earlier
    point already holds. Files that are the same in other runs of the job (`shared`) are
    linked, not written again.
    """
    started = time.perf_counter() if started is None else started
    context = context if context is not None else build_context(recipe, data)
    lists = rank_and_evaluate(recipe, data, outputs, context, step, rows, executor, evaluate)
    manifest = store_run(recipe, run_dir, data, outputs, context, lists, step, shared, started)
    return manifest, lists.evaluation
