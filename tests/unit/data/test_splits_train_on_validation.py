"""split.train_on_validation = false: test is evaluated with models fitted on the training part
alone (what `rank tune` with refit = false reports), the validation part unused."""

import pytest

from recsys_cli.config.schema import FilterConfig, SplitConfig
from recsys_cli.data.dataset import Dataset, empty_items
from recsys_cli.data.prepare import index_dataset
from recsys_cli.data.splits import split


def pairs(frame):
    return set(zip(frame["user_idx"].to_list(), frame["item_idx"].to_list(), strict=True))


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "temporal", "test": 0.2, "validation": 0.1},
        {"kind": "leave_last", "n": 1, "validation": 0.1},
        {"kind": "random", "test": 0.2, "validation": 0.1},
        {"kind": "users", "test": 0.2, "validation": 0.2},
    ],
)
def test_without_refit_test_sees_the_tuning_fit_and_the_same_truth(interactions, config):
    dataset = Dataset("s", interactions, empty_items(interactions["item"]), "sha256:x", "test")
    frame = index_dataset(dataset, FilterConfig(binarize=False)).interactions
    tuning = split(frame, SplitConfig(**config, evaluate_on="validation"), 0)
    refit = split(frame, SplitConfig(**config), 0)
    no_refit = split(frame, SplitConfig(**config, train_on_validation=False), 0)
    assert pairs(no_refit.fit) == pairs(tuning.fit)  # training part alone
    assert pairs(no_refit.truth) == pairs(refit.truth)  # the same test targets
    assert pairs(no_refit.extra_input) == pairs(refit.extra_input)
    # the validation targets train the refit models only
    assert pairs(refit.fit) == pairs(tuning.fit) | pairs(tuning.truth) | pairs(tuning.extra_input)
