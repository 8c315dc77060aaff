"""Fit the models of a recipe and take their top-N candidates for the evaluated users (and the
learned second stage over them), and the item side data reranking and metrics read; `Executor`
says where the per-user work (scoring, reranking, evaluating) happens."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_cli.config.schema import Recipe
from recsys_cli.evaluation.evaluator import EvalUsers, evaluate_row
from recsys_cli.metrics import metric_kind, split_metric
from recsys_cli.models.base import Epoch, OnEpoch
from recsys_cli.models.registry import create_model
from recsys_cli.pipeline.prepare import Prepared
from recsys_cli.progress import Progress, Step, silent_step

log = logging.getLogger(__name__)


def needs_context(recipe: Recipe) -> bool:
    """True when the recipe reranks, has a ranker or asks for a metric beyond accuracy."""
    if recipe.variants or recipe.ranker is not None:
        return True
    return any(metric_kind(m) != "accuracy" for m in recipe.eval.metrics)


def build_context(recipe: Recipe, data: Prepared, also: Collection[Recipe] = ()):
    """What reranking, the ranker's features and metrics read about the items (a
    `RerankContext`: item side data, `recipe`'s groups, the similarity source); when the recipe
    reranks, ranks or goes beyond accuracy, fails early on the item columns it needs and the
    data lack. The similarity's learned factors are fitted here when `recipe` or a recipe of
    `also` (a sweep's points) reads them."""
    from recsys_cli.rerank.stage import RerankContext, check_columns

    context = RerankContext.from_prepared(data, recipe)
    if any(uses_factors(r) for r in (recipe, *also)):
        fit_similarity(context, data)
    if not needs_context(recipe):
        return context
    check_columns(context, recipe)
    if recipe.ranker is not None:
        from recsys_cli.ranking.features import check_data

        check_data(recipe, context, data)
    return context


def context_for(context, recipe: Recipe, data: Prepared):
    """`context` with another recipe's groups (a trial, a sweep point), its similarity fitted
    when that recipe reads the learned factors and no recipe before did."""
    context = context.for_recipe(recipe)
    if uses_factors(recipe):
        fit_similarity(context, data)
    return context


def fit_similarity(context, data: Prepared) -> None:
    """Fit the learned item factors of similarity = "factors" on the training matrix, with the
    seed of the recipe the context was built for (once: every recipe over the same data shares
    them)."""
    context.similarity.fit(data.fit)


def uses_factors(recipe: Recipe) -> bool:
    """True when a variant or a metric reads the ALS item factors (similarity = "factors")."""
    if any(split_metric(m) == ("ild", "factors") for m in recipe.eval.metrics):
        return True
    return any(
        getattr(step.params, "similarity", None) == "factors"
        for variant in recipe.variants
        for step in variant.chain
    )


@dataclass(frozen=True)
class ModelOutput:
    """One fitted model's top-N candidates for the evaluated users (index space) and timings."""

    label: str
    items: np.ndarray
    scores: np.ndarray
    timings: dict


class Executor:
    """Where a run's per-user work happens: the models' top-k scoring, the rerank variants and
    the evaluation of each row's lists. This one works in this process;
    `distributed.DaskExecutor` shards the same calls over Dask workers, with identical results."""

    def recommend(self, model, users, history, k: int, block_size: int | None, progress):
        return model.recommend(users, history, k, block_size, progress=progress)

    def rerank(self, context, variant, items, scores, history):
        from recsys_cli.rerank.stage import apply_variant

        return apply_variant(context, variant, items, scores, history)

    def evaluate_row(self, items, users: EvalUsers, side, cutoffs, metrics, progress):
        return evaluate_row(items, users, side, cutoffs, metrics, progress)

    def release(self) -> None:
        """Drop what was shipped for the run (nothing here)."""


IN_PROCESS = Executor()


def fit_models(
    recipe: Recipe,
    data: Prepared,
    step: Step = silent_step,
    work_dir: Path | None = None,
    on_epoch: Callable[[str, int, float | None], None] | None = None,
    executor: Executor = IN_PROCESS,
) -> list[ModelOutput]:
    """Fit every model on the training matrix and take its top-N candidates for eval users.

    Sequential models get the training interactions in time order; models that write files of
    their own (RecBole) write them under `work_dir/<label>`. Models trained by epochs also call
    `on_epoch(label, epoch, validation NDCG@10 or None)` after each epoch (`rank tune`'s pruner;
    an exception it raises stops the fit). `executor` takes the top-k of the evaluated users.
    """
    from recsys_cli.models.sequences import fit_in_time_order

    history = data.model_input[data.eval_users]
    outputs = []
    for config in recipe.models:
        model = create_model(config.name, config.params, recipe.seed)
        with step(f"fit {config.label}") as progress:
            t0 = time.perf_counter()
            fit_in_time_order(
                model,
                data.fit,
                data.split,
                progress,
                work_dir=None if work_dir is None else work_dir / config.label,
                on_epoch=_epoch_reporter(progress, config.label, on_epoch),
            )
            t1 = time.perf_counter()
        with step(f"recommend {config.label} for {len(data.eval_users):,} users") as progress:
            items, scores = executor.recommend(
                model,
                data.eval_users,
                history,
                min(recipe.eval.candidates, data.indexed.n_items),  # no list outgrows the catalogue
                recipe.eval.block_size or None,
                progress,
            )
            t2 = time.perf_counter()
        timings = {"fit_s": round(t1 - t0, 4), "recommend_s": round(t2 - t1, 4)}
        trained = model.training_log_
        if trained is not None and trained.epochs:  # by epochs: how many, and which was kept
            timings["epochs_run"] = len(trained.epochs)
            if trained.best_epoch is not None:
                timings["best_epoch"] = trained.best_epoch + 1
        outputs.append(ModelOutput(config.label, items, scores, timings))
    return outputs


def fit_with_ranker(
    recipe: Recipe,
    data: Prepared,
    context,
    step: Step,
    work_dir: Path,
    on_epoch=None,
    executor: Executor = IN_PROCESS,
) -> list[ModelOutput]:
    """The recipe's models and, with a [ranker] table, its learned second stage over their
    candidates (one more output, labelled like a model)."""
    outputs = fit_models(recipe, data, step, work_dir, on_epoch, executor)
    if recipe.ranker is None:
        return outputs
    from recsys_cli.ranking.stage import add_ranker  # it imports this module

    return add_ranker(recipe, data, outputs, context, step, work_dir)


def _epoch_reporter(progress: Progress, label: str, on_epoch=None) -> OnEpoch:
    """A model's `on_epoch`: show the epoch's loss and validation NDCG@10 in the step's
    description (the model counts epochs on `progress`), then pass it on to `on_epoch`."""

    def report(index: int, epoch: Epoch) -> None:
        text = f"fit {label}: loss {epoch.loss:.4f}, {epoch.seconds:.1f} s/epoch"
        if epoch.validation is not None:
            text += f", validation ndcg@10 {epoch.validation:.4f}"
        log.debug("%s: epoch %d, %s", label, index + 1, text)
        progress.update(text)
        if on_epoch is not None:
            on_epoch(label, index, epoch.validation)

    return report
