"""LambdaMART through LightGBM (the only module that imports lightgbm).

LightGBM's `lambdarank` objective is LambdaMART: gradient-boosted trees on LambdaRank gradients,
|delta NDCG|-weighted pairwise logistic gradients within each query (Burges, "From RankNet to
LambdaRank to LambdaMART", MSR-TR-2010-82). Queries are users: contiguous rows of the pool.
Deterministic: a fixed seed, `deterministic = true`, `force_row_wise = true` and the recipe's
thread count give the same booster on every run.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from recsys_cli.config.schema import RankerParams
from recsys_cli.ranking.forest import Forest

_JSON_SPECIAL = re.compile(r'[":,\[\]{}]')


def booster_params(params: RankerParams, label_gain: list[float], seed: int, threads: int) -> dict:
    """The LightGBM parameter table of a recipe's ranker."""
    return {
        "objective": params.objective,
        "num_leaves": params.num_leaves,
        "learning_rate": params.learning_rate,
        "min_data_in_leaf": params.min_data_in_leaf,
        "feature_fraction": params.feature_fraction,
        "lambda_l2": params.lambda_l2,
        "lambdarank_truncation_level": params.truncation_level,
        "label_gain": label_gain,
        "metric": "none",
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads,
        "verbosity": -1,
    }


def train(
    features: np.ndarray,
    labels: np.ndarray,
    group_sizes: np.ndarray,
    names: list[str],
    params: dict,
    iterations: int,
):
    """A LightGBM Booster trained on rows grouped by user (`group_sizes`, in row order)."""
    import lightgbm

    dataset = lightgbm.Dataset(
        features,
        label=labels,
        group=group_sizes,
        feature_name=[_lightgbm_name(n) for n in names],
        params={"verbosity": -1, "seed": params["seed"]},
        free_raw_data=True,
    )
    return lightgbm.train(params, dataset, num_boost_round=iterations)


def _lightgbm_name(name: str) -> str:
    """LightGBM refuses JSON's special characters in feature names (`score:EASE`)."""
    return _JSON_SPECIAL.sub("_", name)


def scorer(booster, n_features: int, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """float32 scores of feature rows: LightGBM's own raw scores, computed by QuickScorer
    (`forest`, one thread) or, for trees beyond its leaf limit, by `Booster.predict`."""
    forest = Forest.from_dump(booster.dump_model(), n_features)
    if forest is None:
        return lambda rows: booster.predict(rows, num_threads=threads).astype(np.float32)
    return lambda rows: forest.predict(rows).astype(np.float32)


def gain_importance(booster, names: list[str]) -> dict[str, float]:
    """Total split gain per feature, largest first (ties: recipe order)."""
    gains = booster.feature_importance(importance_type="gain")
    order = sorted(range(len(names)), key=lambda j: -gains[j])
    return {names[j]: round(float(gains[j]), 4) for j in order}


def version() -> str:
    import lightgbm

    return lightgbm.__version__
