"""Simulated logs of known policies: intervals cover the true value, IPS and DR are unbiased,
DM carries its reward model's bias; slate estimators on simulated slates."""

import numpy as np
import pytest
from ope_sim import PositionBandit, make_logs, plackett_luce_slates, sample_rows

from recsys_cli.ope.config import RewardModelConfig
from recsys_cli.ope.estimators import ESTIMATORS, estimate
from recsys_cli.ope.evaluate import estimator_inputs, evaluate
from recsys_cli.ope.policies import ActionDist

REPETITIONS = 200


@pytest.fixture(scope="module")
def bandit_runs():
    """200 logs of 1,000 rounds from one logging policy; every estimate of a target policy
    that puts 70% on each context's best item (which a reward model without the context
    cannot see)."""
    bandit = PositionBandit(n_contexts=4, n_positions=2, m=5, seed=11)
    n_contexts, n_positions, m = bandit.shape
    target = np.full(bandit.shape, 0.3 / m)
    best = bandit.q.argmax(axis=2)
    target[np.arange(n_contexts)[:, None], np.arange(n_positions), best] += 0.7
    dist = ActionDist(target, None)
    truth = bandit.value(target)
    rng = np.random.default_rng(2024)
    estimators = ("dm", "ips", "snips", "dr")
    model = RewardModelConfig(kind="item_position", smoothing=5.0)
    runs = []
    for _ in range(REPETITIONS):
        logs = bandit.log(1000, rng)
        results = evaluate(logs, {"target": dist}, estimators, model, 100.0, 200, 0.95, rng)
        runs.append({r.estimator: r for r in results})
    return truth, runs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ips", "snips", "dr"])
def test_95_percent_intervals_cover_the_true_value(bandit_runs, name):
    truth, runs = bandit_runs
    covered = np.mean([r[name].ci_low <= truth <= r[name].ci_high for r in runs])
    assert 0.90 <= covered <= 0.98, covered


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ips", "dr"])
def test_ips_and_dr_are_unbiased_within_noise(bandit_runs, name):
    truth, runs = bandit_runs
    estimates = np.array([r[name].estimate for r in runs])
    noise = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert abs(estimates.mean() - truth) < 3 * noise


@pytest.mark.slow
def test_dm_carries_the_reward_models_bias(bandit_runs):
    truth, runs = bandit_runs
    estimates = np.array([r["dm"].estimate for r in runs])
    noise = estimates.std(ddof=1) / np.sqrt(len(estimates))
    assert truth - estimates.mean() > 10 * noise  # blind to contexts: it misses their best items
    covered = np.mean([r["dm"].ci_low <= truth <= r["dm"].ci_high for r in runs])
    dr = np.mean([r["dr"].ci_low <= truth <= r["dr"].ci_high for r in runs])
    assert covered < dr


def simulate_slates(n, logging, q, rng, cascade):
    """Full slates: position l draws from logging[x] independently (with repeats); the click at
    l is Bernoulli(q[x, a_l]), or with `cascade` only when nothing above was clicked."""
    x = rng.integers(0, len(logging), n)
    n_positions = 3
    items = np.stack([sample_rows(logging[x], rng) for _ in range(n_positions)], axis=1)
    clicks = rng.random(items.shape) < q[x[:, None], items]
    if cascade:
        clicks &= np.cumsum(clicks, axis=1) - clicks == 0
    return make_logs(items, logging[x[:, None], items], clicks, context=x, m=logging.shape[1])


def slate_value(weights, q, n_positions, cascade):
    """True value of a Plackett-Luce target per context, by enumerating its slates."""
    values = []
    for x in range(len(weights)):
        slates, probability = plackett_luce_slates(weights[x], n_positions)
        p = q[x][slates]
        if cascade:
            p = p * np.cumprod(
                np.concatenate([np.ones((len(p), 1)), 1 - p[:, :-1]], axis=1), axis=1
            )
        values.append((probability * p.sum(axis=1)).sum())
    return float(np.mean(values))


def plackett_luce_dist(weights, logs, n_positions):
    """Exact marginals and logged-prefix probabilities of Plackett-Luce targets."""
    probs = np.zeros((len(weights), n_positions, weights.shape[1]))
    for x in range(len(weights)):
        slates, probability = plackett_luce_slates(weights[x], n_positions)
        for position in range(n_positions):
            np.add.at(probs[x, position], slates[:, position], probability)
    e = weights[logs.context][np.arange(logs.n_rounds)[:, None], logs.items]
    remaining = weights.sum(axis=1)[logs.context][:, None] - np.cumsum(e, axis=1) + e
    repeated = (logs.items[:, :, None] == logs.items[:, None, :]) & np.tril(
        np.ones((3, 3), bool), -1
    )
    prefix = np.cumprod(np.where(repeated.any(axis=2), 0.0, e / remaining), axis=1)
    return ActionDist(probs, prefix)


@pytest.mark.parametrize("cascade", [False, True])
def test_slate_estimators_on_simulated_slates(cascade):
    """Independent clicks: ips (independent IPS), rips, sips and pi are unbiased. Cascade clicks
    (a click stops the user): rips and sips stay unbiased, independent IPS does not."""
    rng = np.random.default_rng(5)
    n_contexts, m, n_positions = 3, 5, 3
    logging = rng.dirichlet(np.full(m, 3.0), size=n_contexts)
    q = rng.uniform(0.05, 0.5, size=(n_contexts, m))
    weights = np.exp(2.0 * q)  # the target favours good items
    truth = slate_value(weights, q, n_positions, cascade)
    names = ("ips", "rips", "sips", "pi")
    estimates = {name: [] for name in names}
    for _ in range(300):
        logs = simulate_slates(2000, logging, q, rng, cascade)
        inputs = estimator_inputs(logs, plackett_luce_dist(weights, logs, n_positions), 100.0)
        for name in names:
            estimates[name].append(estimate(ESTIMATORS[name], inputs))
    bias = {}
    for name, values in estimates.items():
        values = np.array(values)
        bias[name] = (values.mean() - truth) / (values.std(ddof=1) / np.sqrt(len(values)))
    unbiased = names if not cascade else ("rips", "sips")
    for name in unbiased:
        assert abs(bias[name]) < 3, (name, bias)
    if cascade:
        assert abs(bias["ips"]) > 10, bias
