"""Policies' action distributions against exact enumeration and hand-computed cases."""

import numpy as np
import pytest
from ope_sim import make_logs, plackett_luce_slates

from recsys_cli.ope import policies as pol

# Two full slates of two positions over m = 4 candidates; the second repeats item 2.
SLATES = make_logs([[0, 3], [2, 2]], [[0.25, 0.25], [0.25, 0.25]], [[0, 1], [1, 0]], m=4)


def test_top_positions_breaks_ties_toward_the_lower_index():
    values = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(pol.top_positions(values, 3), [[1, 2, 3], [0, 1, 2]])


def test_repeats_marks_items_already_placed_above():
    np.testing.assert_array_equal(
        pol.repeats(np.array([[0, 3, 0], [2, 2, 2], [1, 2, 3]])),
        [[False, False, True], [False, True, True], [False, False, False]],
    )


def test_uniform_ranking_without_repeats():
    dist = pol.uniform(SLATES)
    assert dist.probs.shape == (1, 2, 4) and np.allclose(dist.probs, 0.25)
    np.testing.assert_allclose(dist.logged(SLATES), 0.25)
    # a slate of distinct items: 1/4 then 1/3; a repeated item is impossible
    np.testing.assert_allclose(dist.prefix, [[1 / 4, 1 / 12], [1 / 4, 0.0]])


def test_epsilon_greedy_hand_computed():
    scores = np.array([[0.1, 0.9, 0.5, 0.9]])  # best: item 1 (tie with 3 goes to 1), then 3
    dist = pol.epsilon_greedy(scores, 0.2, SLATES)
    expected = np.full((2, 4), 0.05)
    expected[0, 1] += 0.8
    expected[1, 3] += 0.8
    np.testing.assert_allclose(dist.probs[0], expected)
    # factorised: the prefix is the product of the positions' probabilities
    np.testing.assert_allclose(dist.prefix, [[0.05, 0.05 * 0.85], [0.05, 0.05 * 0.05]])


def test_softmax_repeats_one_distribution_at_every_position():
    scores = np.array([[0.0, np.log(2.0), np.log(3.0), np.log(4.0)]])
    dist = pol.softmax_policy(scores, 1.0, SLATES)
    np.testing.assert_allclose(dist.probs[0], [[0.1, 0.2, 0.3, 0.4]] * 2)
    np.testing.assert_allclose(dist.prefix, [[0.1, 0.1 * 0.4], [0.3, 0.3 * 0.3]])
    hot = pol.softmax_policy(scores, 0.5, SLATES).probs[0, 0]  # T = 0.5 squares the weights
    np.testing.assert_allclose(hot, np.array([1, 4, 9, 16]) / 30)


def test_plackett_luce_against_exact_enumeration():
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    slates, probability = plackett_luce_slates(weights, 2)
    exact = np.zeros((2, 4))
    for position in range(2):
        np.add.at(exact[position], slates[:, position], probability)
    scores = np.log(weights)[None, :]
    dist = pol.plackett_luce(scores, 1.0, SLATES, 40_000, np.random.default_rng(0))
    np.testing.assert_allclose(dist.probs[0], exact, atol=0.01)  # Monte Carlo
    lookup = {tuple(s): p for s, p in zip(slates.tolist(), probability, strict=True)}
    # logged (0, 3): P(0 first) = 1/10, then 4 of the remaining 9; (2, 2) is impossible
    assert dist.prefix[0, 0] == pytest.approx(0.1)
    assert dist.prefix[0, 1] == pytest.approx(lookup[(0, 3)])
    np.testing.assert_allclose(dist.prefix[1], [0.3, 0.0])


def test_plackett_luce_shares_samples_among_contexts_with_equal_scores():
    logs = make_logs(
        [[0, 1], [1, 0], [2, 3]], np.full((3, 2), 0.25), np.zeros((3, 2)), [0, 1, 2], 4
    )
    scores = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 5.0]])
    dist = pol.plackett_luce(scores, 1.0, logs, 2000, np.random.default_rng(0))
    np.testing.assert_array_equal(dist.probs[0], dist.probs[1])
    assert dist.probs[2, 0, 3] > 0.9 and np.allclose(dist.probs.sum(axis=2), 1.0)


def test_thompson_sampling_against_closed_form():
    """Two items: P(theta_0 > theta_1) for Beta(2, 1) against Beta(1, 1) is 2/3."""
    dist = pol.thompson(
        np.array([2.0, 1.0]), np.array([1.0, 1.0]), 2, 60_000, np.random.default_rng(3)
    )
    np.testing.assert_allclose(dist.probs[0], [[2 / 3, 1 / 3], [1 / 3, 2 / 3]], atol=0.01)
    assert dist.prefix is None


def test_sampled_marginals_chunks_rows_and_samples(monkeypatch):
    monkeypatch.setattr(pol, "_CHUNK_CELLS", 64)  # forces many small chunks
    rng = np.random.default_rng(0)
    z = np.log(np.array([[1.0, 1.0, 2.0, 4.0], [4.0, 2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]))

    def draw(rows, s):
        return z[rows][:, None, :] + rng.gumbel(size=(len(rows), s, 4))

    probs = pol.sampled_marginals(draw, 3, 4, 2, 3000)
    assert probs.shape == (3, 2, 4) and np.allclose(probs.sum(axis=2), 1.0)
    np.testing.assert_allclose(probs[0, 0], [0.125, 0.125, 0.25, 0.5], atol=0.03)
    np.testing.assert_allclose(probs[1, 0], [0.5, 0.25, 0.125, 0.125], atol=0.03)


def test_partial_logs_get_no_prefix():
    logs = make_logs([[0, -1], [-1, 2]], [[0.25, 1], [1, 0.25]], [[1, 0], [0, 1]], m=4)
    assert pol.uniform(logs).prefix is None
    dist = pol.epsilon_greedy(np.zeros((1, 4)), 0.0, logs)
    assert dist.prefix is None
    np.testing.assert_allclose(dist.logged(logs), [[1.0, 0.0], [0.0, 0.0]])
