"""MMR kernel against a naive pure-Python reference, plus hand-computed and edge cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.rerank.mmr import mmr


def random_batch(seed, n_users, n_cand, n_items, dim=6):
    """Random candidates (distinct per user, -1 padded), descending scores, float64 embeddings."""
    rng = np.random.default_rng(seed)
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    scores = np.full((n_users, n_cand), -np.inf)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
        scores[u, :n] = -np.sort(-rng.normal(size=n))
    emb = rng.normal(size=(n_items, dim))
    return cands, scores, emb


def cosine(a, b):
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(x * x for x in b))
    if na == 0 or nb == 0:
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


def minmax(s):
    """Per-user min-max normalisation; all equal -> 1."""
    if s and max(s) > min(s):
        return [(x - min(s)) / (max(s) - min(s)) for x in s]
    return [1.0] * len(s)


def mmr_reference(cands, scores, emb, k, lam):
    out = []
    for row, srow in zip(cands.tolist(), scores.tolist(), strict=True):
        items = [i for i in row if i >= 0]
        s = [x for i, x in zip(row, srow, strict=True) if i >= 0]
        rel = minmax(s)
        chosen = []
        left = list(range(len(items)))
        while left and len(chosen) < k:

            def obj(i, chosen=chosen, items=items, rel=rel):
                pen = max((cosine(emb[items[i]], emb[items[j]]) for j in chosen), default=0.0)
                return lam * rel[i] - (1 - lam) * pen

            best = max(left, key=lambda i: (obj(i), -i))
            chosen.append(best)
            left.remove(best)
        out.append([items[i] for i in chosen] + [-1] * (k - len(chosen)))
    return np.array(out, dtype=np.int32).reshape(len(out), k)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 9),
    k=st.integers(1, 11),
    lam=st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]),
)
def test_mmr_matches_reference(seed, n_users, n_cand, k, lam):
    cands, scores, emb = random_batch(seed, n_users, n_cand, 12)
    got = mmr(cands, scores, emb, k, lam)
    assert got.dtype == np.int32 and got.shape == (n_users, k)
    np.testing.assert_array_equal(got, mmr_reference(cands, scores, emb, k, lam))


def test_hand_computed_case():
    # items 0 and 1 point the same way, item 2 is orthogonal; rel = [1, 0.5, 0]
    emb = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    cands = np.array([[0, 1, 2]], dtype=np.int32)
    scores = np.array([[3.0, 2.0, 1.0]])
    # step 2: item 1 -> 0.5*0.5 - 0.5*1 = -0.25, item 2 -> 0 - 0 = 0
    np.testing.assert_array_equal(mmr(cands, scores, emb, 3, 0.5), [[0, 2, 1]])
    # lam = 0.9: item 1 -> 0.45 - 0.1 = 0.35 beats item 2 -> 0
    np.testing.assert_array_equal(mmr(cands, scores, emb, 3, 0.9), [[0, 1, 2]])


def test_lambda_one_returns_relevance_order():
    cands, scores, emb = random_batch(3, 20, 15, 40)
    got = mmr(cands, scores, emb, 10, 1.0)
    expect = np.full((20, 10), -1, dtype=np.int32)
    for u in range(20):
        valid = cands[u][cands[u] >= 0][:10]
        expect[u, : valid.size] = valid
    np.testing.assert_array_equal(got, expect)


def test_k_larger_than_n_and_padding():
    emb = np.eye(4)
    cands = np.array([[2, 0, -1], [-1, -1, -1]], dtype=np.int32)
    scores = np.array([[1.0, 0.5, -np.inf], [-np.inf] * 3])
    got = mmr(cands, scores, emb, 5, 0.5)
    np.testing.assert_array_equal(got, [[2, 0, -1, -1, -1], [-1] * 5])


def test_ties_keep_input_order_and_zero_embedding_is_dissimilar():
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    cands = np.array([[1, 0, 2]], dtype=np.int32)
    scores = np.array([[1.0, 1.0, 1.0]])  # all rel = 1
    # item 0 (zero vector) has similarity 0 to item 1, as does item 2: tie -> input order
    np.testing.assert_array_equal(mmr(cands, scores, emb, 3, 0.5), [[1, 0, 2]])


def test_float32_embeddings_give_same_lists():
    cands, scores, emb = random_batch(11, 30, 20, 50, dim=16)
    np.testing.assert_array_equal(
        mmr(cands, scores, emb.astype(np.float32), 8, 0.6), mmr(cands, scores, emb, 8, 0.6)
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lam": 1.5},
        {"lam": -0.1},
        {"k": 0},
        {"cands": np.array([[0, 9]], dtype=np.int32)},
        {"cands": np.array([[0, -2]], dtype=np.int32)},
        {"scores": np.array([[1.0, np.nan]])},
        {"scores": np.array([1.0, 0.5])},
    ],
)
def test_invalid_input_raises_user_error(kwargs):
    args = {
        "cands": np.array([[0, 1]], dtype=np.int32),
        "scores": np.array([[1.0, 0.5]]),
        "k": 2,
        "lam": 0.5,
    }
    args.update(kwargs)
    with pytest.raises(UserError):
        mmr(args["cands"], args["scores"], np.eye(3), args["k"], args["lam"])
