"""Multi-objective gains, LambdaMART integer labels and the users that carry gradient."""

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.config.schema import RankerLabels
from recsys_cli.ranking.labels import gains, informative, integer_labels, relevance
from recsys_cli.ranking.pool import pool_candidates

REL = np.array([1.0, 0.0, 1.0, 0.0])
TAIL = np.array([1.0, 1.0, 0.0, 0.0])
DISCOVERY = np.array([1.0, np.nan, 1.0, 0.0])  # NaN: the item has no artist


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (RankerLabels(), [1.0, 0.0, 1.0, 0.0]),
        # rel + 0.5 tail + 0.25 discovery (NaN counts 0)
        (RankerLabels({"group:tail": 0.5, "discovery": 0.25}), [1.75, 0.5, 1.25, 0.0]),
        # rel * (1 + 0.5 tail + 0.25 discovery): business terms only on relevant items
        (
            RankerLabels({"group:tail": 0.5, "discovery": 0.25}, "relevant"),
            [1.75, 0.0, 1.25, 0.0],
        ),
    ],
)
def test_gains_by_hand(config, expected):
    terms = {"group:tail": TAIL, "discovery": DISCOVERY}
    assert gains(REL, terms, config).tolist() == expected


def test_integer_labels_index_the_sorted_distinct_gains():
    values = np.array([1.75, 0.0, 0.5, 1.75, 0.0])
    labels, table = integer_labels(values)
    assert table == [0.0, 0.5, 1.75]
    assert labels.tolist() == [2, 0, 1, 2, 0]
    assert np.array_equal(np.asarray(table)[labels], values)


def test_users_whose_gains_are_all_equal_carry_no_gradient():
    offsets = np.array([0, 3, 3, 5, 7])  # user 1 has an empty pool
    values = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 2.0, 2.0])
    assert informative(values, offsets).tolist() == [True, False, False, False]


def test_relevance_reads_the_label_pairs_of_each_pooled_row():
    items = np.array([[0, 2], [1, 3]], dtype=np.int32)
    pool = pool_candidates([(items, np.ones((2, 2), np.float32))])
    truth = sp.csr_matrix(np.array([[0, 0, 1, 0], [1, 0, 0, 1]]))
    assert relevance(pool, truth).tolist() == [0.0, 1.0, 0.0, 1.0]
