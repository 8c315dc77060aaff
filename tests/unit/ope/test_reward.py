"""The reward model: shrunken click rates, hand-computed; resample counts as repeated rounds."""

import numpy as np
import pytest
from ope_sim import make_logs

from recsys_cli.errors import UserError
from recsys_cli.ope import reward
from recsys_cli.ope.reward import RewardModel

# Position 1 only: item 0 shown 3 times (2 clicks) in contexts 0, 0, 1; item 1 once (no click).
LOGS = make_logs(
    [[0, -1], [0, -1], [0, -1], [1, -1]],
    np.full((4, 2), 0.5),
    [[1, 0], [1, 0], [0, 0], [0, 0]],
    context=[0, 0, 1, 1],
    m=3,
)


ONCE = np.ones((1, 4))  # one fit, every round counted once


def test_item_position_shrinks_toward_the_position_mean():
    (q,) = RewardModel(LOGS, "item_position", smoothing=2.0).fit(ONCE)
    mu = 2 / 4  # position 1: 2 clicks in 4 impressions
    assert q.shape == (1, 2, 3)
    np.testing.assert_allclose(q[0, 0], [(2 + 2 * mu) / (3 + 2), (0 + 2 * mu) / (1 + 2), mu])
    overall = 2 / 4  # position 2 has no impressions: the overall mean
    np.testing.assert_allclose(q[0, 1], overall)


def test_context_item_shrinks_toward_item_position():
    shared = RewardModel(LOGS, "item_position", smoothing=2.0).fit(ONCE)[0, 0]
    (q,) = RewardModel(LOGS, "context_item", smoothing=2.0).fit(ONCE)
    assert q.shape == (2, 2, 3)
    assert q[0, 0, 0] == pytest.approx((2 + 2 * shared[0, 0]) / (2 + 2))  # context 0: 2 of 2
    assert q[1, 0, 0] == pytest.approx((0 + 2 * shared[0, 0]) / (1 + 2))  # context 1: 0 of 1
    assert q[1, 0, 1] == pytest.approx((0 + 2 * shared[0, 1]) / (1 + 2))
    np.testing.assert_allclose(q[:, 1], np.broadcast_to(shared[1], (2, 3)))  # never shown


@pytest.mark.parametrize("kind", ["item_position", "context_item"])
def test_resample_counts_equal_repeating_rounds(kind):
    """Each row of counts is one fit, equal to a fit on the rounds repeated that often."""
    counts = np.array([[2, 0, 1, 3], [1, 1, 1, 1], [0, 4, 0, 0]])
    fits = RewardModel(LOGS, kind, 1.5).fit(counts)
    for row, fit in zip(counts, fits, strict=True):
        repeated = np.repeat(np.arange(4), row)
        logs = make_logs(
            LOGS.items[repeated],
            LOGS.propensity[repeated],
            LOGS.reward[repeated],
            context=LOGS.context[repeated],
            m=3,
        )
        if len(logs.contexts) < len(LOGS.contexts):  # context 1 not drawn: compare context 0
            fit = fit[:1]
        np.testing.assert_allclose(
            fit, RewardModel(logs, kind, 1.5).fit(np.ones((1, len(repeated))))[0]
        )


def test_lookups_of_logged_items_and_policy_values():
    model = RewardModel(LOGS, "context_item", smoothing=2.0)
    q = model.fit(np.array([[1, 1, 1, 1], [0, 2, 1, 1]]))  # two fits
    logged = model.logged(q)
    assert logged.shape == (2, 4, 2)
    assert logged[1, 0, 0] == q[1, 0, 0, 0] and logged[1, 3, 0] == q[1, 1, 0, 1]
    assert (logged[:, :, 1] == 0).all()  # nothing logged at position 2
    probs = np.array([[[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]])  # one row for every context
    expected = model.expected(q, probs)
    assert expected[1, 2, 0] == pytest.approx(0.5 * q[1, 1, 0, 0] + 0.5 * q[1, 1, 0, 1])
    assert (expected[:, :, 1] == 0).all()
    by_context = np.stack([probs[0], probs[0][:, ::-1]])  # context 1 reverses the items
    assert model.expected(q, by_context)[0, 3, 0] == pytest.approx(
        0.5 * q[0, 1, 0, 2] + 0.5 * q[0, 1, 0, 1]
    )


def test_too_many_cells_for_context_item(monkeypatch):
    monkeypatch.setattr(reward, "MAX_CELLS", 5)
    with pytest.raises(UserError, match="use kind = 'item_position'"):
        RewardModel(LOGS, "context_item", 1.0)
    RewardModel(LOGS, "item_position", 1.0)  # 6 cells shared by every context: not refused
