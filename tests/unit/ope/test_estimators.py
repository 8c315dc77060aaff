"""Estimators against hand-computed cases and naive per-round references; bootstrap and
weight diagnostics."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.ope.estimators import (
    ESTIMATORS,
    Diagnostics,
    Inputs,
    bootstrap_counts,
    estimate,
    percentile_interval,
)

# Three rounds, two positions, every position logged (hand-computed values below).
W = np.array([[0.5, 1.0], [2.0, 2.0], [0.5, 2.0]])
R = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
Q_LOGGED = np.array([[0.5, 0.0], [0.0, 0.5], [0.5, 0.5]])
Q_POLICY = np.array([[0.2, 0.1], [0.3, 0.2], [0.1, 0.4]])
FULL = Inputs(
    mask=np.ones((3, 2), bool),
    reward=R,
    w=W,
    tau=1.0,
    q_logged=Q_LOGGED,
    q_policy=Q_POLICY,
    prefix_w=np.cumprod(W, axis=1),  # factorised policies: (0.5, 0.5), (2, 4), (0.5, 1)
)
HAND = {
    "dm": 1.3 / 3,  # (0.3 + 0.5 + 0.5) / 3
    "ips": 5 / 3,  # (0.5 + 2 + 2.5) / 3
    "snips": 1 / 3 + 4 / 5,  # position 1: 1 / 3; position 2: 4 / 5
    "dr": (1.3 + 2.5) / 3,  # corrections 0.25, 1, 1.25
    "switch_dr": (1.3 + 0.5) / 3,  # only weights <= 1: 0.25, 0, 0.25
    "clipped_dr": (1.3 + 1.5) / 3,  # weights capped at 1: 0.25, 0.5, 0.75
    "rips": 6 / 3,  # 0.5 + 4 + 1.5
    "sips": 6.5 / 3,  # 0.5 * 1 + 4 * 1 + 1 * 2
    "pi": 6.5 / 3,  # (1.5 - 1) * 1 + (4 - 1) * 1 + (2.5 - 1) * 2
}


def test_every_estimator_has_a_hand_computed_case():
    assert set(HAND) == set(ESTIMATORS)


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_computed_full_slates(name):
    assert estimate(ESTIMATORS[name], FULL) == pytest.approx(HAND[name])


def test_partly_logged_rounds_weight_positions_by_how_often_they_are_logged():
    """One position per round (as in the Open Bandit Dataset): SNIPS normalises each position's
    weights and weighs it by its share of rounds."""
    mask = np.array([[True, False], [False, True], [False, True]])
    inputs = Inputs(
        mask=mask,
        reward=np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]),
        w=np.array([[2.0, 0.0], [0.0, 0.5], [0.0, 1.5]]),
        tau=1.0,
        q_logged=np.array([[0.5, 0.0], [0.0, 0.2], [0.0, 0.2]]),
        q_policy=np.array([[0.3, 0.0], [0.0, 0.1], [0.0, 0.1]]),
    )
    assert estimate(ESTIMATORS["ips"], inputs) == pytest.approx((2 + 0 + 1.5) / 3)
    assert estimate(ESTIMATORS["snips"], inputs) == pytest.approx(1 / 3 * 1.0 + 2 / 3 * 0.75)
    # dm: 0.3 + 0.1 + 0.1; corrections 2 * 0.5, 0.5 * -0.2, 1.5 * 0.8
    assert estimate(ESTIMATORS["dm"], inputs) == pytest.approx(0.5 / 3)
    assert estimate(ESTIMATORS["dr"], inputs) == pytest.approx((0.5 + 1.0 - 0.1 + 1.2) / 3)


def naive(name: str, x: Inputs) -> float:
    """The textbook formula, one round and one position at a time."""
    n, n_positions = x.w.shape
    if name == "snips":
        total = 0.0
        for p in range(n_positions):
            rows = [i for i in range(n) if x.mask[i, p]]
            num = sum(x.w[i, p] * x.reward[i, p] for i in rows)
            den = sum(x.w[i, p] for i in rows)
            total += len(rows) / n * (num / den if den > 0 else 0.0)
        return total
    values = []
    for i in range(n):
        v = 0.0
        logged = [p for p in range(n_positions) if x.mask[i, p]]
        for p in logged:
            w, r = x.w[i, p], x.reward[i, p]
            if name == "ips":
                v += w * r
            elif name == "dm":
                v += x.q_policy[i, p]
            elif name in ("dr", "switch_dr", "clipped_dr"):
                u = {"dr": w, "switch_dr": w if w <= x.tau else 0.0, "clipped_dr": min(w, x.tau)}
                v += x.q_policy[i, p] + u[name] * (r - x.q_logged[i, p])
            elif name == "rips":
                prefix = 1.0
                for k in range(p + 1):
                    prefix *= x.w[i, k]
                v += prefix * r
        if name == "sips":
            v = float(np.prod(x.w[i])) * sum(x.reward[i])
        if name == "pi":
            v = (sum(x.w[i]) - n_positions + 1) * sum(x.reward[i])
        values.append(v)
    return sum(values) / n


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 25),
    n_positions=st.integers(1, 3),
    full=st.booleans(),
)
def test_batched_estimators_match_the_naive_reference(seed, n, n_positions, full):
    rng = np.random.default_rng(seed)
    mask = np.ones((n, n_positions), bool) if full else rng.random((n, n_positions)) < 0.6
    w = np.where(mask, rng.choice([0.0, 0.3, 1.0, 2.5, 7.0], size=mask.shape), 0.0)
    inputs = Inputs(
        mask=mask,
        reward=np.where(mask, rng.integers(0, 2, mask.shape), 0.0),
        w=w,
        tau=rng.choice([0.5, 2.0, 10.0]),
        q_logged=np.where(mask, rng.random(mask.shape), 0.0),
        q_policy=np.where(mask, rng.random(mask.shape), 0.0),
        prefix_w=np.cumprod(w, axis=1) if full else None,
    )
    names = [e for e in ESTIMATORS if full or not ESTIMATORS[e].slate]
    for name in names:
        assert estimate(ESTIMATORS[name], inputs) == pytest.approx(naive(name, inputs), abs=1e-9)


def test_bootstrap_counts_are_resamples_of_the_rounds():
    """counts @ v / n is the mean of v over the rounds each resample drew (same draws)."""
    n, n_boot = 37, 50
    v = np.random.default_rng(1).random(n)
    counts = np.concatenate(list(bootstrap_counts(n, n_boot, np.random.default_rng(7))))
    drawn = np.random.default_rng(7).integers(0, n, size=(n_boot, n))
    assert counts.shape == (n_boot, n) and (counts.sum(axis=1) == n).all()
    np.testing.assert_allclose(counts @ v / n, v[drawn].mean(axis=1))


def test_bootstrap_chunks_cover_every_resample(monkeypatch):
    import recsys_cli.ope.estimators as module

    monkeypatch.setattr(module, "_BOOTSTRAP_CELLS", 100)  # 3 resamples of 37 rounds per chunk
    chunks = list(bootstrap_counts(37, 10, np.random.default_rng(0)))
    assert [len(c) for c in chunks] == [2, 2, 2, 2, 2]


def test_percentile_interval_is_the_central_share():
    values = np.arange(1, 1001, dtype=float)
    assert percentile_interval(values, 0.9) == pytest.approx(np.quantile(values, [0.05, 0.95]))


def test_diagnostics_hand_computed():
    diagnostics = Diagnostics.of(W, np.ones(W.shape, bool))
    # weights 0.5, 1, 2, 2, 0.5, 2: sum 8, squares 13.5
    assert diagnostics.ess == pytest.approx(64 / 13.5)
    assert diagnostics.mean_weight == pytest.approx(8 / 6)
    assert diagnostics.max_weight == 2.0 and diagnostics.zero_share == 0.0
    masked = Diagnostics.of(
        np.array([[0.0, 9.0], [3.0, 0.0]]), np.array([[True, False], [True, True]])
    )
    assert masked.zero_share == pytest.approx(2 / 3) and masked.max_weight == 3.0
    per_round = Diagnostics.of(np.array([1.0, 3.0]), np.ones((2, 2), bool))  # sips, pi
    assert per_round.ess == pytest.approx(16 / 10)
