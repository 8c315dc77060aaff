"""QuickScorer over LightGBM trees: the same scores as LightGBM's own predict."""

import lightgbm
import numpy as np
import pytest

from recsys_cli.ranking.forest import Forest


def booster(features, labels, groups, **params):
    table = {"objective": "lambdarank", "verbosity": -1, "num_threads": 1, "seed": 0}
    table.update(deterministic=True, force_row_wise=True, **params)
    dataset = lightgbm.Dataset(features, label=labels, group=groups)
    return lightgbm.train(table, dataset, num_boost_round=params.pop("rounds", 30))


def data(seed, n=3000, f=6, nan_share=0.2):
    rng = np.random.default_rng(seed)
    x = rng.random((n, f), dtype=np.float32) - 0.3  # negative values too
    x[rng.random((n, f)) < 0.1] = 0.0
    if nan_share:
        x[rng.random((n, f)) < nan_share] = np.nan
    labels = (np.nan_to_num(x[:, 0]) + rng.random(n) > 0.9).astype(int)
    return x, labels, [100] * (n // 100)


@pytest.mark.parametrize("nan_share", [0.0, 0.2])  # missing type None, NaN
@pytest.mark.parametrize("leaves", [2, 7, 31])
def test_scores_equal_lightgbm_bit_for_bit(nan_share, leaves):
    x, labels, groups = data(1, nan_share=nan_share)
    model = booster(x, labels, groups, num_leaves=leaves, min_data_in_leaf=5)
    test, _, _ = data(2, n=2000, nan_share=0.3)  # NaNs where training had none
    forest = Forest.from_dump(model.dump_model(), x.shape[1])
    assert np.array_equal(forest.predict(test), model.predict(test))


def test_trees_that_are_one_leaf_add_their_value():
    x, labels, groups = data(3)
    model = booster(x, labels, groups, min_data_in_leaf=10_000)  # nothing can split
    forest = Forest.from_dump(model.dump_model(), x.shape[1])
    assert forest.threshold.size == 0 and forest.leaf_value.size == model.num_trees() >= 1
    assert np.array_equal(forest.predict(x), model.predict(x))


def test_trees_beyond_64_leaves_are_left_to_lightgbm():
    x, labels, groups = data(4, n=6000)
    model = booster(x, labels, groups, num_leaves=100, min_data_in_leaf=2, rounds=3)
    assert max(t["num_leaves"] for t in model.dump_model()["tree_info"]) > 64
    assert Forest.from_dump(model.dump_model(), x.shape[1]) is None


def test_zero_as_missing_is_refused():
    x, labels, groups = data(5)
    model = booster(x, labels, groups, zero_as_missing=True, min_data_in_leaf=5)
    with pytest.raises(ValueError, match="zero_as_missing"):
        Forest.from_dump(model.dump_model(), x.shape[1])
