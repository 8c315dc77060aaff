"""Logged feedback built in memory, and simulated logging of known policies (true values known)."""

from __future__ import annotations

import itertools

import numpy as np

from recsys_cli.ope.logs import LoggedFeedback


def make_logs(items, propensity, reward, context=None, m=None, prefix=None) -> LoggedFeedback:
    """Logs from n x L arrays (item -1 = nothing logged; propensity 1 and reward 0 there)."""
    items = np.asarray(items, dtype=np.int32)
    mask = items >= 0
    context = np.zeros(len(items), np.int32) if context is None else np.asarray(context, np.int32)
    n_contexts = int(context.max()) + 1
    return LoggedFeedback(
        items=items,
        propensity=np.where(mask, np.asarray(propensity, dtype=float), 1.0),
        reward=np.where(mask, np.asarray(reward, dtype=float), 0.0),
        context=context,
        contexts=tuple(str(c) for c in range(n_contexts)),
        item_ids=np.arange(m if m is not None else int(items.max()) + 1),
        name="test",
        source="memory",
        checksum="-",
        prefix=None if prefix is None else np.asarray(prefix, dtype=float),
    )


def sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a row-stochastic matrix."""
    u = rng.random((probs.shape[0], 1))
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


class PositionBandit:
    """OBD-like logs: a round draws a context x (uniform over C) and a position l (uniform over
    L), the logging policy draws an item from pi_0(. | x, l), the click is Bernoulli(q(x, l, a)).
    The value of a policy pi is E_x E_l sum_a pi(a | x, l) q(x, l, a)."""

    def __init__(self, n_contexts=4, n_positions=2, m=5, seed=0):
        rng = np.random.default_rng(seed)
        self.shape = (n_contexts, n_positions, m)
        # clicks depend strongly on the context, so a reward model without it is biased
        base = rng.uniform(0.05, 0.3, size=(1, n_positions, m))
        lift = (
            rng.uniform(0.0, 0.5, size=(n_contexts, 1, m))
            * (1 - 0.3 * np.arange(n_positions))[None, :, None]
        )
        self.q = np.clip(base + lift, 0.0, 0.95)
        logits = rng.normal(size=self.shape)
        self.logging = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)

    def value(self, probs: np.ndarray) -> float:
        return float((np.broadcast_to(probs, self.shape) * self.q).sum(axis=2).mean())

    def log(self, n: int, rng: np.random.Generator) -> LoggedFeedback:
        n_contexts, n_positions, m = self.shape
        x = rng.integers(0, n_contexts, n)
        position = rng.integers(0, n_positions, n)
        a = sample_rows(self.logging[x, position], rng)
        click = rng.random(n) < self.q[x, position, a]
        items = np.full((n, n_positions), -1)
        items[np.arange(n), position] = a
        propensity = np.ones((n, n_positions))
        propensity[np.arange(n), position] = self.logging[x, position, a]
        reward = np.zeros((n, n_positions))
        reward[np.arange(n), position] = click
        return make_logs(items, propensity, reward, context=x, m=m)


def plackett_luce_slates(weights: np.ndarray, n_positions: int):
    """Every ordered slate of `n_positions` distinct items with its Plackett-Luce probability
    under item weights `weights` (exact enumeration, for small m)."""
    slates = np.array(list(itertools.permutations(range(len(weights)), n_positions)))
    chosen = weights[slates]
    remaining = weights.sum() - np.cumsum(chosen, axis=1) + chosen
    return slates, np.prod(chosen / remaining, axis=1)
