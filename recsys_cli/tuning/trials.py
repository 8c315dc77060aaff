"""Run recipes that differ only in model parameters, variants and groups against one prepared
dataset: the data are prepared once, and each distinct model configuration is fitted once (a
trial that changes only reranking reuses the fitted candidates)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections import OrderedDict
from pathlib import Path

from recsys_cli.config.schema import Recipe
from recsys_cli.experiment import (
    Evaluation,
    ModelOutput,
    Prepared,
    build_context,
    check_columns_for,
    fit_models,
    needs_context,
    prepare,
    write_run,
)
from recsys_cli.pipeline.fit import context_for
from recsys_cli.pipeline.lists import rank_and_evaluate
from recsys_cli.progress import Step, silent_step
from recsys_cli.ranking.stage import add_ranker

# Fitted candidates kept (users x eval.candidates items and scores each): enough for rerank-only
# studies and for the Pareto configurations of one study, small next to the data.
CACHED_FITS = 8


class TrialRunner:
    """Evaluate recipes that share one prepared dataset (`data`) and its item side data
    (`context`, None when no recipe needs it): the recipe's dataset, filter, split, seed and
    evaluation settings. With `share_spectra`, EASE fits share one eigendecomposition of the
    training Gram matrix (`models.ease.shared_gram_spectrum`: weights within about 1e-6 of
    the largest of a direct fit's, so lists differ only between near-tied items): the
    search's trials. The final, tested configurations are fitted as `rank run` fits them."""

    def __init__(self, data: Prepared, context=None, share_spectra: bool = False):
        self.data = data
        self.context = context
        self._fitted: OrderedDict[str, ModelOutput] = OrderedDict()
        self._spectra = {} if share_spectra else None

    @classmethod
    def prepare(
        cls,
        recipe: Recipe,
        data_dir: Path | None = None,
        step: Step = silent_step,
        probes: list[Recipe] = (),
        share_spectra: bool = False,
    ) -> TrialRunner:
        """Prepare `recipe`'s data once. `probes`: recipes whose item-column needs (a reranker's
        similarity, a group's column) are checked now, so a bad choice fails in one line before
        the first trial, not mid-study."""
        data = prepare(recipe, data_dir, step)
        context = None
        if any(needs_context(r) for r in (recipe, *probes)):
            with step("item side data for reranking and metrics"):
                context = build_context(recipe, data)
                for probe in probes:
                    check_columns_for(context, probe)
        return cls(data, context, share_spectra)

    def _outputs(self, recipe: Recipe, work_dir: Path, step: Step, on_epoch) -> list[ModelOutput]:
        outputs = []
        for config in recipe.models:
            key = json.dumps(
                [
                    config.name,
                    config.label,
                    dataclasses.asdict(config.params),
                    recipe.seed,
                    recipe.eval.candidates,
                ],
                sort_keys=True,
                default=str,
            )
            if key in self._fitted:
                self._fitted.move_to_end(key)
            else:
                single = dataclasses.replace(recipe, models=(config,), variants=())
                with self._fit_scope():
                    [self._fitted[key]] = fit_models(single, self.data, step, work_dir, on_epoch)
                if len(self._fitted) > CACHED_FITS:
                    self._fitted.popitem(last=False)
            outputs.append(self._fitted[key])
        return outputs

    def _fit_scope(self):
        if self._spectra is None:
            return contextlib.nullcontext()
        from recsys_cli.models.ease import shared_gram_spectrum

        return shared_gram_spectrum(self._spectra)

    def evaluate(
        self, recipe: Recipe, work_dir: Path, step: Step = silent_step, on_epoch=None
    ) -> Evaluation:
        """A trial: fit (or reuse), rerank and evaluate `recipe` in memory, writing no run
        directory (`work_dir` holds what models write while they train); the metrics are those
        `rank run` of that recipe gives. `step` shows the fits and `on_epoch` hears the epochs
        of models trained by epochs (`experiment.fit_models`). Without variants or a ranker,
        the models' lists are only as deep as the largest cutoff (the same lists, less top-k)."""
        if not recipe.variants and recipe.ranker is None:
            shallow = dataclasses.replace(recipe.eval, candidates=max(recipe.eval.cutoffs))
            recipe = dataclasses.replace(recipe, eval=shallow)
        outputs, context = self._ranked(recipe, work_dir, step, on_epoch)
        return rank_and_evaluate(
            recipe, self.data, outputs, context, step, evaluate=True
        ).evaluation

    def run(self, recipe: Recipe, run_dir: Path, step: Step = silent_step) -> Evaluation:
        """Fit (or reuse), rerank, evaluate and store `recipe` as a complete run in `run_dir`:
        the same files and metrics as `rank run` of that recipe."""
        outputs, context = self._ranked(recipe, run_dir / "models", step, None)
        return write_run(recipe, run_dir, self.data, outputs, context, evaluate=True)[1]

    def _ranked(self, recipe: Recipe, work_dir: Path, step: Step, on_epoch):
        outputs = self._outputs(recipe, work_dir, step, on_epoch)
        context = None if self.context is None else context_for(self.context, recipe, self.data)
        return add_ranker(recipe, self.data, outputs, context, step, work_dir), context


def row_metrics(evaluation: Evaluation, row: str) -> dict[str, float]:
    """metric@k -> mean of one row of an evaluation (NaN where undefined)."""
    values = evaluation.to_json()["models"][row]
    return {m: (math.nan if v["mean"] is None else float(v["mean"])) for m, v in values.items()}
