"""add_ranker across sweep points: what is reused, what is retrained, when it is skipped."""

import dataclasses

import numpy as np

from recsys_cli.config.schema import GroupConfig, RankerLabels
from recsys_cli.experiment import build_context, fit_models, prepare
from recsys_cli.ranking.stage import RankerOutput, add_ranker


def with_labels(recipe, **weights):
    ranker = dataclasses.replace(recipe.ranker, labels=RankerLabels(weights))
    return dataclasses.replace(recipe, ranker=ranker)


def test_points_reuse_pools_and_features_and_retrain_only_what_changed(make_recipe):
    base = with_labels(make_recipe(features=["score", "rank", "popularity"]), **{"group:tail": 0.5})
    data = prepare(base)
    context = build_context(base, data)
    fitted = fit_models(base, data)
    first = add_ranker(base, data, fitted, context)
    ltr = first[-1]
    assert isinstance(ltr, RankerOutput) and [o.label for o in first[:-1]] == [
        "popularity",
        "ease",
        "item_knn",
    ]

    # the same settings: the same output; another weight: the same stages, a new booster
    assert add_ranker(base, data, first, context)[-1] is ltr
    weighted = add_ranker(with_labels(base, **{"group:tail": 2.0}), data, first, context)[-1]
    assert weighted.stages is ltr.stages and not np.array_equal(weighted.gains, ltr.gains)

    # the tail group redefined: labels use the new definition (features do not name it)
    groups = {"tail": GroupConfig(popularity_below=0.9)}
    regrouped = add_ranker(dataclasses.replace(base, groups=groups), data, first, context)[-1]
    assert regrouped.stages is ltr.stages
    assert (regrouped.gains > 1.0).sum() > (ltr.gains > 1.0).sum()  # more relevant tail items

    # a point whose new rows do not hold the ranker's: no ranker output at all
    assert add_ranker(base, data, first, context, rows={"ease": ()}) == first[:-1]
