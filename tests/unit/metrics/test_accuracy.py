"""Accuracy kernel against a naive per-user reference, plus hand-computed and edge cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics


def naive(ranked: list[int], truth: set[int], k: int) -> dict[str, float]:
    """Textbook definitions, written for clarity not speed."""
    hits = [1 if i in truth else 0 for i in ranked[:k]] + [0] * (k - len(ranked[:k]))
    dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
    idcg = sum(1 / math.log2(r + 2) for r in range(min(len(truth), k)))
    precisions = [sum(hits[: r + 1]) / (r + 1) for r in range(k)]
    first = next((r + 1 for r, h in enumerate(hits) if h), None)
    return {
        "ndcg": dcg / idcg,
        "recall": sum(hits) / len(truth),
        "precision": sum(hits) / k,
        "map": sum(p * h for p, h in zip(precisions, hits, strict=True)) / len(truth),
        "mrr": 1 / first if first else 0.0,
        "hit_rate": float(any(hits)),
    }


def run_kernel(lists: list[list[int]], truths: list[set[int]], cutoffs):
    width = max(1, max(len(row) for row in lists))
    ranked = np.full((len(lists), width), -1, dtype=np.int32)
    for u, row in enumerate(lists):
        ranked[u, : len(row)] = row
    indptr = np.cumsum([0] + [len(t) for t in truths])
    indices = np.concatenate([sorted(t) for t in truths] + [[]]).astype(np.int64)
    return accuracy_metrics(ranked, indptr, indices, cutoffs)


@st.composite
def ranking_case(draw):
    n_items = draw(st.integers(1, 30))
    n_users = draw(st.integers(1, 8))
    lists, truths = [], []
    for _ in range(n_users):
        length = draw(st.integers(0, n_items))
        lists.append(draw(st.permutations(range(n_items)))[:length])
        truths.append(set(draw(st.lists(st.integers(0, n_items - 1), min_size=1, max_size=6))))
    cutoffs = draw(st.lists(st.integers(1, 35), min_size=1, max_size=4, unique=True))
    return lists, truths, cutoffs


@settings(max_examples=300, deadline=None)
@given(ranking_case())
def test_kernel_matches_naive_reference(case):
    lists, truths, cutoffs = case
    values = run_kernel(lists, truths, cutoffs)
    for u, (row, truth) in enumerate(zip(lists, truths, strict=True)):
        for c, k in enumerate(cutoffs):
            expected = naive(row, truth, k)
            for m, metric in enumerate(METRICS):
                assert values[m, c, u] == pytest.approx(expected[metric], abs=1e-12), (metric, k)


def test_hand_computed_case():
    # truth {2, 9}; list [1, 2, 3]: one hit at rank 2.
    values = run_kernel([[1, 2, 3]], [{2, 9}], [1, 2, 3])
    ndcg2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert values[METRICS.index("ndcg"), :, 0] == pytest.approx([0.0, ndcg2, ndcg2])
    assert values[METRICS.index("recall"), :, 0] == pytest.approx([0.0, 0.5, 0.5])
    assert values[METRICS.index("precision"), :, 0] == pytest.approx([0.0, 0.5, 1 / 3])
    assert values[METRICS.index("map"), :, 0] == pytest.approx([0.0, 0.25, 0.25])
    assert values[METRICS.index("mrr"), :, 0] == pytest.approx([0.0, 0.5, 0.5])
    assert values[METRICS.index("hit_rate"), :, 0] == pytest.approx([0.0, 1.0, 1.0])


def test_list_shorter_than_k_is_not_rewarded():
    # Perfect list of length 1 for a single relevant item: NDCG 1 at any k, precision 1/k.
    values = run_kernel([[4]], [{4}], [1, 5])
    assert values[METRICS.index("ndcg"), :, 0] == pytest.approx([1.0, 1.0])
    assert values[METRICS.index("precision"), :, 0] == pytest.approx([1.0, 0.2])


def test_user_without_truth_is_nan_and_does_not_disturb_others():
    values = run_kernel([[1, 2], [3, 4]], [set(), {3}], [2])
    assert np.isnan(values[:, :, 0]).all()
    assert values[METRICS.index("ndcg"), 0, 1] == pytest.approx(1.0)


def test_no_relevant_item_retrieved_gives_zero():
    values = run_kernel([[1, 2, 3]], [{7}], [3])
    assert (values[:, 0, 0] == 0).all()


def test_cutoff_order_is_preserved():
    forward = run_kernel([[1, 2, 3]], [{3}], [1, 3])
    backward = run_kernel([[1, 2, 3]], [{3}], [3, 1])
    assert np.array_equal(forward[:, ::-1], backward)
