"""The two-stage ranker over a prepared run: timeline, pools, features, LambdaMART, lists.

`add_ranker` appends the ranker's lists to the fitted models' outputs, so they are stored,
reranked, evaluated, compared and swept as one more row (`ranker.label`). The label stage's
generators are fitted here on window 1 (see `timeline`); the test stage's generators are the
recipe's own models, fitted by `experiment.fit_models` on the whole training part.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.config.schema import Recipe
from recsys_cli.errors import DataError
from recsys_cli.experiment import ModelOutput, fit_models
from recsys_cli.progress import Step, silent_step
from recsys_cli.ranking import learner
from recsys_cli.ranking.features import (
    Stage,
    artist_new,
    build_features,
    check_data,
    group_member,
)
from recsys_cli.ranking.labels import gains, informative, integer_labels, relevance
from recsys_cli.ranking.pool import pool_candidates, rank_pool
from recsys_cli.ranking.timeline import labels_data, timeline
from recsys_cli.results.atomic import write_parquet

log = logging.getLogger(__name__)

RANKER_DIR = "ranker"


@dataclass(frozen=True)
class Stages:
    """Both stages pooled and featurised: what a sweep over label weights or LightGBM settings
    reuses. `key` holds the settings they depend on; `relevant` is 1 per label-stage row in the
    label window."""

    key: str
    labels: Stage
    test: Stage
    names: list[str]
    train_features: np.ndarray
    test_features: np.ndarray
    relevant: np.ndarray
    timings: dict


@dataclass(frozen=True)
class RankerOutput(ModelOutput):
    """The ranker's lists (a `ModelOutput`) with what the run stores of it: the pooled tables
    with features, the booster, and the manifest section (`save`)."""

    key: str
    stages: Stages
    gains: np.ndarray
    test_scores: np.ndarray
    booster: str
    manifest: dict

    def save(self, run_dir: Path) -> dict:
        """RUN/ranker/{train,test}.parquet (pooled rows, original ids, features; gains or ranker
        scores) and booster.txt (LightGBM's model file); returns the manifest section."""
        folder = run_dir / RANKER_DIR
        folder.mkdir(exist_ok=True)
        stages = self.stages
        train = _table(stages.labels, stages.names, stages.train_features)
        write_parquet(folder / "train.parquet", train.with_columns(gain=self.gains))
        test = _table(stages.test, stages.names, stages.test_features)
        write_parquet(folder / "test.parquet", test.with_columns(score=self.test_scores))
        (folder / "booster.txt").write_text(self.booster, encoding="utf-8")
        return self.manifest


def _table(stage: Stage, names: list[str], features: np.ndarray) -> pl.DataFrame:
    ids = stage.data.indexed
    users = stage.data.eval_users[stage.pool.rows]
    return pl.DataFrame(
        {
            "user": ids.user_ids.gather(users),
            "item": ids.item_ids.gather(stage.pool.items),
            **{name: features[:, j] for j, name in enumerate(names)},
        }
    )


def settings(recipe: Recipe) -> tuple[str, str]:
    """(everything the ranker's lists depend on, what its pooled features depend on) as
    canonical JSON, given fixed data and models (a sweep): the ranker table and the [groups]
    definitions it names."""
    ranker = dataclasses.asdict(recipe.ranker)
    named = set(recipe.ranker.features) | set(recipe.ranker.labels.weights)
    groups = {
        name: dataclasses.asdict(group)
        for name, group in sorted(recipe.groups.items())
        if f"group:{name}" in named
    }
    in_features = {g: d for g, d in groups.items() if f"group:{g}" in recipe.ranker.features}
    pool = {k: ranker[k] for k in ("generators", "features", "validation")}
    return (
        json.dumps({"ranker": ranker, "groups": groups, "seed": recipe.seed}, sort_keys=True),
        json.dumps({**pool, "groups": in_features, "seed": recipe.seed}, sort_keys=True),
    )


def add_ranker(
    recipe: Recipe,
    data,
    outputs: list[ModelOutput],
    context,
    step: Step = silent_step,
    work_dir: Path | None = None,
    rows=None,
) -> list[ModelOutput]:
    """`outputs` plus the ranker's output (`outputs` alone without a [ranker], or when `rows`,
    a sweep point's new rows, holds neither the ranker's row nor a variant of it). A ranker
    output already among `outputs` (a sweep's first point) is replaced; its stages are reused
    when their settings are the same, the whole output when everything is."""
    earlier = next((o for o in outputs if isinstance(o, RankerOutput)), None)
    outputs = [o for o in outputs if not isinstance(o, RankerOutput)]
    ranker = recipe.ranker
    if ranker is None:
        return outputs
    if rows is not None and not any(r.split("+")[0] == ranker.label for r in rows):
        return outputs
    key, pool_key = settings(recipe)
    if earlier is not None and earlier.key == key:
        return [*outputs, earlier]
    if earlier is not None and earlier.stages.key == pool_key:
        stages = earlier.stages
    else:
        stages = prepare_stages(recipe, data, outputs, context, step, work_dir, pool_key)
    return [*outputs, fit_ranker(recipe, stages, key, step)]


def prepare_stages(
    recipe: Recipe, data, outputs, context, step: Step, work_dir: Path | None, key: str
) -> Stages:
    """Carve the label window, fit the generators on window 1, pool both stages' candidates
    and build their features (each stage from its own past)."""
    from recsys_cli.rerank.stage import RerankContext

    ranker = recipe.ranker
    kind = recipe.split.kind
    check_data(recipe, context, data)  # a sweep point may name other features than the first
    started = time.perf_counter()
    with step("ranker: carve the label window"):
        window = labels_data(recipe, data)
    by_label = {m.label: m for m in recipe.models}
    generators = dataclasses.replace(
        recipe, models=tuple(by_label[g] for g in ranker.generators), variants=(), ranker=None
    )
    fitted = fit_models(
        generators,
        window,
        lambda description: step(f"ranker label window: {description}"),
        work_dir=None if work_dir is None else work_dir / f"{ranker.label}-label-window",
    )
    fitted_s = time.perf_counter()
    with step("ranker: pool candidates and build features"):
        produced = {o.label: o for o in outputs}
        labels = Stage(
            "label",
            window,
            RerankContext.from_prepared(window, recipe),
            pool_candidates([(o.items, o.scores) for o in fitted]),
            ranker.generators,
        )
        test = Stage(
            "test",
            data,
            context,
            pool_candidates([(produced[g].items, produced[g].scores) for g in ranker.generators]),
            ranker.generators,
        )
        names, train_features = build_features(labels, ranker.features, kind)
        _, test_features = build_features(test, ranker.features, kind)
        relevant = relevance(labels.pool, window.truth)
    timings = {
        "label_window_generators_fit_s": round(fitted_s - started, 4),
        "features_s": round(time.perf_counter() - fitted_s, 4),
    }
    return Stages(key, labels, test, names, train_features, test_features, relevant, timings)


def label_term(stage: Stage, name: str) -> np.ndarray:
    """t_k per label-stage row: discovery (no input item of the user by the item's artist; NaN
    without an artist) or group:NAME membership."""
    if name == "discovery":
        return artist_new(stage)
    return group_member(stage, name.removeprefix("group:"))


def fit_ranker(recipe: Recipe, stages: Stages, key: str, step: Step) -> RankerOutput:
    """Train LambdaMART on the label stage's informative users, order the test pools."""
    ranker = recipe.ranker
    # groups named by the labels as this recipe defines them (a sweep may vary them while the
    # pooled features stay the same), from the label stage's own past
    labels = dataclasses.replace(stages.labels, context=stages.labels.context.for_recipe(recipe))
    test = stages.test
    started = time.perf_counter()
    with step(f"ranker: train {ranker.label} (LightGBM {ranker.params.objective})"):
        terms = {name: label_term(labels, name) for name in ranker.labels.weights}
        values = gains(stages.relevant, terms, ranker.labels)
        kept_users = informative(values, labels.pool.offsets)
        if not kept_users.any():
            raise DataError(
                "ranker: no labelled user has pooled candidates of different gains (no label "
                "pair was retrieved by the generators); raise ranker.validation or "
                "eval.candidates"
            )
        kept = kept_users[labels.pool.rows]
        label_ids, label_gain = integer_labels(values[kept])
        params = learner.booster_params(ranker.params, label_gain, recipe.seed, ranker.threads)
        booster = learner.train(
            stages.train_features[kept],
            label_ids,
            labels.pool.sizes[kept_users],
            stages.names,
            params,
            ranker.params.iterations,
        )
    trained = time.perf_counter()
    with step(f"ranker: order {test.pool.n_users:,} test pools"):
        score = learner.scorer(booster, len(stages.names), ranker.threads)
        scores = score(stages.test_features)
        items, ranked = rank_pool(test.pool, scores, ranker.length)
    ranked_s = time.perf_counter()
    truth = labels.data.truth
    manifest = {
        "label": ranker.label,
        "generators": list(ranker.generators),
        "features": stages.names,
        "timeline": timeline(labels.data, test.data),
        "training": {
            "users_labelled": labels.pool.n_users,
            "users_trained": int(kept_users.sum()),
            "users_without_gradient": int((~kept_users).sum()),
            "rows": int(kept.sum()),
            "relevant_rows": int(stages.relevant[kept].sum()),
            "label_pairs_in_pool": round(float(stages.relevant.sum()) / max(truth.nnz, 1), 4),
            "label_gain": label_gain,
        },
        "test": {
            "users": test.pool.n_users,
            "rows": len(test.pool),
            "mean_pool": round(float(test.pool.sizes.mean()), 2),
            "test_pairs_in_pool": round(
                float(relevance(test.pool, test.data.truth).sum()) / max(test.data.truth.nnz, 1),
                4,
            ),
        },
        "importance_gain": [
            {"feature": name, "gain": gain}
            for name, gain in learner.gain_importance(booster, stages.names).items()
        ],
        "lightgbm": {
            "version": learner.version(),
            "iterations": ranker.params.iterations,
            "params": params,
        },
        "timings": {
            **stages.timings,
            "train_s": round(trained - started, 4),
            "rank_s": round(ranked_s - trained, 4),
        },
    }
    log.info(
        "%s: trained on %s users (%s rows), %s left out without gradient; test pools of %.1f "
        "items hold %.1f%% of the test pairs",
        ranker.label,
        f"{kept_users.sum():,}",
        f"{kept.sum():,}",
        f"{(~kept_users).sum():,}",
        manifest["test"]["mean_pool"],
        100 * manifest["test"]["test_pairs_in_pool"],
    )
    timings = {
        "fit_s": round(sum(stages.timings.values()) + trained - started, 4),
        "recommend_s": round(ranked_s - trained, 4),
    }
    return RankerOutput(
        ranker.label,
        items,
        ranked,
        timings,
        key,
        stages,
        values,
        scores,
        booster.model_to_string(),
        manifest,
    )


def save_ranker(outputs: list[ModelOutput], run_dir: Path) -> dict:
    """{"ranker": manifest section} after writing RUN/ranker/ when `outputs` hold the ranker's;
    {} otherwise."""
    found = [o for o in outputs if isinstance(o, RankerOutput)]
    return {"ranker": found[0].save(run_dir)} if found else {}
