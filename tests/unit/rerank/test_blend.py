"""Blend reranker and per-user normalisations against naive references and hand cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import UserError
from recsys_cli.rerank.blend import blend, gather, normalise


def random_batch(seed, n_users, n_cand, n_obj, n_items=15, ties=False):
    rng = np.random.default_rng(seed)
    cands = np.full((n_users, n_cand), -1, dtype=np.int32)
    for u in range(n_users):
        n = int(rng.integers(0, min(n_cand, n_items) + 1))
        cands[u, :n] = rng.choice(n_items, size=n, replace=False)
    objs = []
    for _ in range(n_obj):
        vals = rng.integers(0, 3, size=cands.shape) * 1.0 if ties else rng.normal(size=cands.shape)
        objs.append(np.where(cands >= 0, vals, np.nan))
    return cands, objs


def normalise_reference(row_vals, method):
    n = len(row_vals)
    if method == "minmax":
        lo, hi = min(row_vals), max(row_vals)
        return [(x - lo) / (hi - lo) if hi > lo else 1.0 for x in row_vals]
    if method == "rank":
        out = []
        for x in row_vals:
            below = sum(1 for y in row_vals if y < x)
            equal = sum(1 for y in row_vals if y == x)
            avg_rank = below + (equal + 1) / 2  # 1-based average rank
            out.append((avg_rank - 1) / (n - 1) if n > 1 else 1.0)
        return out
    mean = sum(row_vals) / n
    std = (sum((x - mean) ** 2 for x in row_vals) / n) ** 0.5
    return [(x - mean) / std if std > 0 else 0.0 for x in row_vals]


def blend_reference(cands, objs, weights, k, norm, mode):
    out = np.full((cands.shape[0], k), -1, dtype=np.int32)
    for u in range(cands.shape[0]):
        pos = [p for p in range(cands.shape[1]) if cands[u, p] >= 0]
        if not pos:
            continue
        z = [normalise_reference([o[u, p] for p in pos], norm) for o in objs]
        util = [sum(w * zm[i] for w, zm in zip(weights, z, strict=True)) for i in range(len(pos))]
        if mode == "weighted":
            key = [(-util[i], i) for i in range(len(pos))]
        else:
            best = [max(zm) for zm in z]
            dist = [
                max(w * (b - zm[i]) for w, b, zm in zip(weights, best, z, strict=True))
                for i in range(len(pos))
            ]
            key = [(dist[i], -util[i], i) for i in range(len(pos))]
        order = [i for _, i in sorted((key[i], i) for i in range(len(pos)))]
        chosen = [int(cands[u, pos[i]]) for i in order[:k]]
        out[u, : len(chosen)] = chosen
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_users=st.integers(1, 4),
    n_cand=st.integers(1, 8),
    n_obj=st.integers(1, 3),
    k=st.integers(1, 10),
    norm=st.sampled_from(["minmax", "rank", "zscore"]),
    mode=st.sampled_from(["weighted", "chebyshev"]),
    ties=st.booleans(),
)
def test_blend_matches_reference(seed, n_users, n_cand, n_obj, k, norm, mode, ties):
    cands, objs = random_batch(seed, n_users, n_cand, n_obj, ties=ties)
    weights = list(np.random.default_rng(seed + 1).integers(1, 4, size=n_obj) / 4.0)
    got = blend(cands, objs, weights, k, norm, mode)
    assert got.dtype == np.int32 and got.shape == (n_users, k)
    np.testing.assert_array_equal(got, blend_reference(cands, objs, weights, k, norm, mode))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    norm=st.sampled_from(["minmax", "rank", "zscore"]),
    mode=st.sampled_from(["weighted", "chebyshev"]),
    which=st.integers(0, 2),
)
def test_single_weight_equals_ordering_by_that_objective(seed, norm, mode, which):
    cands, objs = random_batch(seed, 5, 9, 3)
    weights = [0.0, 0.0, 0.0]
    weights[which] = 1.0
    got = blend(cands, objs, weights, 6, norm, mode)
    for u in range(5):
        valid = cands[u] >= 0
        vals = objs[which][u][valid]
        expect = cands[u][valid][np.argsort(-vals, kind="stable")][:6]
        np.testing.assert_array_equal(got[u, : expect.size], expect)
        assert (got[u, expect.size :] == -1).all()


def test_normalise_hand_cases():
    cands = np.array([[4, 5, 6, 7]], dtype=np.int32)
    x = np.array([[3.0, 1.0, 3.0, 2.0]])
    np.testing.assert_allclose(normalise(x, cands, "minmax"), [[1.0, 0.0, 1.0, 0.5]])
    # ascending average ranks 3.5, 1, 3.5, 2 -> (r - 1) / 3
    np.testing.assert_allclose(normalise(x, cands, "rank"), [[2.5 / 3, 0.0, 2.5 / 3, 1 / 3]])
    # mean 2.25, population std sqrt(0.6875)
    sd = np.sqrt(0.6875)
    np.testing.assert_allclose(
        normalise(x, cands, "zscore"), [[0.75 / sd, -1.25 / sd, 0.75 / sd, -0.25 / sd]]
    )
    padded = np.array([[4, 5, -1]], dtype=np.int32)
    got = normalise(np.array([[2.0, 2.0, np.nan]]), padded, "minmax")
    np.testing.assert_array_equal(got[:, :2], [[1.0, 1.0]])
    assert np.isnan(got[0, 2])


def test_chebyshev_reaches_a_non_convex_pareto_point():
    # A = (1, 0), B = (0, 1), C = (0.4, 0.4): C is Pareto-optimal but inside the convex hull
    cands = np.array([[0, 1, 2]], dtype=np.int32)
    objs = [np.array([[1.0, 0.0, 0.4]]), np.array([[0.0, 1.0, 0.4]])]
    # weighted: 0.5, 0.5, 0.4 -> C last; Chebyshev: 0.5, 0.5, 0.3 -> C first
    np.testing.assert_array_equal(blend(cands, objs, [0.5, 0.5], 3), [[0, 1, 2]])
    np.testing.assert_array_equal(blend(cands, objs, [0.5, 0.5], 3, mode="chebyshev"), [[2, 0, 1]])


def test_gather_and_k_larger_than_n():
    cands = np.array([[2, 0, -1]], dtype=np.int32)
    pop = np.array([10.0, 20.0, 5.0])
    g = gather(pop, cands)
    np.testing.assert_array_equal(g[:, :2], [[5.0, 10.0]])
    assert np.isnan(g[0, 2])
    np.testing.assert_array_equal(blend(cands, [g], [1.0], 5), [[0, 2, -1, -1, -1]])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights": [1.0, 1.0]},
        {"weights": [0.0]},
        {"weights": [-1.0]},
        {"norm": "softmax"},
        {"mode": "lexicographic"},
        {"objectives": [np.array([[1.0, np.nan]])]},
        {"objectives": [np.array([1.0, 2.0])]},
    ],
)
def test_invalid_input_raises_user_error(kwargs):
    args = {
        "objectives": [np.array([[1.0, 2.0]])],
        "weights": [1.0],
        "norm": "minmax",
        "mode": "weighted",
        **kwargs,
    }
    with pytest.raises(UserError):
        blend(
            np.array([[0, 1]], dtype=np.int32),
            args["objectives"],
            args["weights"],
            2,
            args["norm"],
            args["mode"],
        )
