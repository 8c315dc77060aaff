"""The lists stage of a run: each model's list and its variants' reranked lists, each row
evaluated in memory as soon as it exists."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

from recsys_cli.config.schema import Recipe
from recsys_cli.evaluation.evaluator import (
    Evaluation,
    Evaluator,
    EvalUsers,
    needs_profiles,
    needs_side_data,
)
from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.pipeline.fit import IN_PROCESS, Executor, ModelOutput
from recsys_cli.pipeline.prepare import Prepared
from recsys_cli.progress import Step, peak_memory_mib, silent_step


@dataclass(frozen=True)
class RankedRow:
    """One row of a run's recommendations: a model's list or a model+variant's, users x length
    item indices (-1 padded) and their scores, rows in evaluated-user order."""

    label: str
    items: np.ndarray
    scores: np.ndarray

    def copy(self) -> RankedRow:
        return RankedRow(self.label, self.items.copy(), self.scores.copy())


@dataclass(frozen=True)
class RunLists:
    """What the lists stage of a run produced: its rows in stored order, each variant's rerank
    time, and (when asked) the evaluation of every row."""

    rows: list[RankedRow]
    rerank_timings: dict
    evaluation: Evaluation | None
    train_peak_memory_mib: float


def rank_and_evaluate(
    recipe: Recipe,
    data: Prepared,
    outputs: list[ModelOutput],
    context,
    step: Step = silent_step,
    rows: Collection[str] | None = None,
    executor: Executor = IN_PROCESS,
    evaluate: bool = False,
) -> RunLists:
    """Each model's list (its candidates cut to the largest cutoff) and its variants' reranked
    lists, in stored order, for the `rows` asked for (None: all). With `evaluate`, each row's
    lists are evaluated in memory as soon as they exist."""
    metrics, cutoffs = recipe.eval.metrics, recipe.eval.cutoffs
    profiles = evaluate and needs_profiles(metrics)
    history = data.model_input[data.eval_users] if recipe.variants or profiles else None
    evaluator = None
    if evaluate:
        if profiles:
            history.sort_indices()
        users = EvalUsers(
            data.indexed.user_ids.gather(data.eval_users),
            data.truth,
            history if profiles else None,
        )
        side = ItemSideData.of(context, metrics) if needs_side_data(metrics) else None
        evaluator = Evaluator(users, side, cutoffs, metrics, executor.evaluate_row)
    made = []

    def keep(row: RankedRow) -> None:
        if evaluator is not None:
            with step(f"evaluate {row.label}") as progress:
                progress.total(len(data.eval_users), "users")
                evaluator.add(row.label, row.items, progress)
        made.append(row)

    timings = ranked_rows(recipe, outputs, context, history, keep, step, rows, executor)
    peak = peak_memory_mib()
    evaluation = None
    if evaluator is not None:
        with step("evaluate"):
            evaluation = evaluator.result()
    return RunLists(made, timings, evaluation, peak)


def ranked_rows(
    recipe: Recipe,
    outputs,
    context,
    history,
    keep: Callable[[RankedRow], None],
    step: Step = silent_step,
    rows: Collection[str] | None = None,
    executor: Executor = IN_PROCESS,
) -> dict:
    """Hand `keep` each model's list (its candidates cut to the largest cutoff) and its
    variants' reranked lists, in stored order, for the `rows` asked for (None: all); `outputs`
    carry label, items and scores (fitted or loaded from a run). Returns each variant row's
    rerank time."""
    depth, timings = max(recipe.eval.cutoffs), {}
    for output in outputs:
        items, scores = output.items, output.scores
        if rows is None or output.label in rows:
            keep(RankedRow(output.label, items[:, :depth], scores[:, :depth]))
        for variant in recipe.variants:
            row = f"{output.label}+{variant.name}"
            if output.label not in variant.models or (rows is not None and row not in rows):
                continue
            with step(f"rerank {row}"):
                t0 = time.perf_counter()
                ranked, ranked_scores = executor.rerank(context, variant, items, scores, history)
                timings[row] = {"rerank_s": round(time.perf_counter() - t0, 4)}
            keep(RankedRow(row, ranked, ranked_scores))
    return timings
