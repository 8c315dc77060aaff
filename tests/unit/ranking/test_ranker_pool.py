"""Candidate pooling and ordering against per-user Python references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.ranking.pool import pool_candidates, rank_pool


def random_lists(rng, n_users, n_items, sizes):
    """Top-N lists of several generators: distinct items per row, -1 padded at the end."""
    lists = []
    for size in sizes:
        items = np.full((n_users, size), -1, dtype=np.int32)
        for u in range(n_users):
            k = rng.integers(0, min(size, n_items) + 1)
            items[u, :k] = rng.choice(n_items, size=k, replace=False)
        scores = rng.random((n_users, size)).astype(np.float32)
        lists.append((items, scores))
    return lists


def naive_pool(lists):
    """{(user, item): [(score, rank) or None per generator]}"""
    out = {}
    for g, (items, scores) in enumerate(lists):
        for u in range(items.shape[0]):
            for r in range(items.shape[1]):
                if items[u, r] >= 0:
                    entry = out.setdefault((u, int(items[u, r])), [None] * len(lists))
                    entry[g] = (float(scores[u, r]), r + 1)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 6), n_items=st.integers(1, 12))
def test_pool_matches_a_per_user_union(seed, n_users, n_items):
    rng = np.random.default_rng(seed)
    lists = random_lists(rng, n_users, n_items, sizes=(4, 3, 5))
    pool = pool_candidates(lists)
    expected = naive_pool(lists)
    assert sorted(expected) == list(zip(pool.rows.tolist(), pool.items.tolist(), strict=True))
    for j, key in enumerate(zip(pool.rows.tolist(), pool.items.tolist(), strict=True)):
        for g, entry in enumerate(expected[key]):
            if entry is None:
                assert np.isnan(pool.scores[j, g]) and np.isnan(pool.ranks[j, g])
            else:
                assert (pool.scores[j, g], pool.ranks[j, g]) == (np.float32(entry[0]), entry[1])
    counts = np.bincount([u for u, _ in expected], minlength=n_users)
    assert pool.sizes.tolist() == counts.tolist() and pool.n_users == n_users


def test_a_user_no_generator_retrieved_for_has_an_empty_pool():
    items = np.array([[3, 1], [-1, -1], [2, -1]], dtype=np.int32)
    pool = pool_candidates([(items, np.ones((3, 2), np.float32))])
    assert pool.offsets.tolist() == [0, 2, 2, 3]
    assert pool.items.tolist() == [1, 3, 2]  # item order within a user


def test_generators_must_hold_the_same_users():
    with pytest.raises(ValueError, match="same users"):
        pool_candidates(
            [
                (np.zeros((2, 1), np.int32), np.zeros((2, 1))),
                (np.zeros((3, 1), np.int32), np.zeros((3, 1))),
            ]
        )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), length=st.integers(1, 8))
def test_rank_pool_sorts_each_user_by_score_then_item(seed, length):
    rng = np.random.default_rng(seed)
    lists = random_lists(rng, 5, 10, sizes=(6, 6))
    pool = pool_candidates(lists)
    scores = rng.integers(0, 3, size=len(pool)).astype(np.float32)  # many ties
    items, ranked = rank_pool(pool, scores, length)
    for u in range(pool.n_users):
        rows = range(pool.offsets[u], pool.offsets[u + 1])
        expected = sorted(rows, key=lambda j: (-scores[j], pool.items[j]))[:length]
        got = items[u][items[u] >= 0].tolist()
        assert got == [int(pool.items[j]) for j in expected]
        assert ranked[u, : len(got)].tolist() == [float(scores[j]) for j in expected]
        assert np.all(ranked[u, len(got) :] == -np.inf)
