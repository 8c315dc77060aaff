"""Evaluation policies as action distributions over the logged candidate set.

A policy gives pi(a | x, l), the probability of candidate a at position l in context x, for
every context of the logs (or one row shared by all), and, for slate estimators, the probability
pi(a_i1..a_il | x_i) of each round's logged items at positions 1..l together.

- uniform: a uniformly random ranking without repeats; pi(a | x, l) = 1/m.
- Bernoulli Thompson sampling: theta_a ~ Beta(alpha_a, beta_a), items ranked by theta;
  pi(a | l) estimated by Monte Carlo, one distribution per position (Saito et al., NeurIPS 2021).
- a model's scores s(x, a) as a ranking: `softmax` (each position drawn from softmax(s/T),
  independently), `plackett_luce` (positions filled in turn from softmax(s/T) over the items
  not yet placed; Plackett 1975, Luce 1959) or `epsilon_greedy` (position l shows the l-th best
  item with probability 1 - eps, else a uniform candidate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsys_cli.ope.logs import LoggedFeedback

_CHUNK_CELLS = 1 << 22  # sampled values held at once (32 MiB of float64)


@dataclass(frozen=True)
class ActionDist:
    """`probs[k, l, a]` = pi(a | x, l) for context k (one shared row when probs.shape[0] == 1);
    `prefix[i, l]` = pi(a_i1..a_il | x_i) of round i's logged items, or None when the policy
    cannot give it (then slate estimators refuse it)."""

    probs: np.ndarray
    prefix: np.ndarray | None

    def rows(self, logs: LoggedFeedback) -> np.ndarray:
        """Each round's row of `probs`."""
        return logs.context if self.probs.shape[0] > 1 else np.zeros(logs.n_rounds, np.int64)

    def logged(self, logs: LoggedFeedback) -> np.ndarray:
        """pi(a_il | x_i, l) of every logged item (n x L; 0 where nothing was logged)."""
        rows = self.rows(logs)[:, None]
        positions = np.arange(logs.n_positions)[None, :]
        values = self.probs[rows, positions, np.maximum(logs.items, 0)]
        return np.where(logs.mask, values, 0.0)


def repeats(items: np.ndarray) -> np.ndarray:
    """True where a round's item at position l already appeared at a position above l."""
    equal = items[:, :, None] == items[:, None, :]  # [i, l, k]: item at l equals item at k
    above = np.tril(np.ones((items.shape[1],) * 2, dtype=bool), k=-1)  # k < l
    return (equal & above).any(axis=2)


def factorised(probs: np.ndarray, logs: LoggedFeedback) -> ActionDist:
    """A policy filling positions independently: a prefix's probability is the product of its
    positions' probabilities."""
    dist = ActionDist(probs, None)
    prefix = np.cumprod(dist.logged(logs), axis=1) if logs.complete else None
    return ActionDist(probs, prefix)


def uniform(logs: LoggedFeedback) -> ActionDist:
    """A uniformly random ranking of the m candidates without repeats: 1/m at every position;
    the logged prefix has probability prod_{k<=l} 1/(m - k + 1) (0 once an item repeats)."""
    m, n_positions = logs.n_candidates, logs.n_positions
    probs = np.full((1, n_positions, m), 1.0 / m)
    prefix = None
    if logs.complete:
        step = 1.0 / (m - np.arange(n_positions))
        prefix = np.cumprod(np.where(repeats(logs.items), 0.0, step[None, :]), axis=1)
    return ActionDist(probs, prefix)


def top_positions(values: np.ndarray, n_positions: int) -> np.ndarray:
    """Indices of the `n_positions` largest values along the last axis, largest first; ties go
    to the lower index (one argmax pass per position: cheaper than sorting m values)."""
    values = np.array(values, dtype=np.float64)
    top = np.empty(values.shape[:-1] + (n_positions,), dtype=np.int64)
    for position in range(n_positions):
        best = values.argmax(axis=-1)
        top[..., position] = best
        np.put_along_axis(values, best[..., None], -np.inf, axis=-1)
    return top


def sampled_marginals(
    draw: Callable[[np.ndarray, int], np.ndarray],
    n_rows: int,
    m: int,
    n_positions: int,
    samples: int,
) -> np.ndarray:
    """Monte Carlo pi(a | row, l) of a policy that ranks candidates by sampled values:
    `draw(rows, s)` returns s sampled value vectors for each row in `rows` (len(rows) x s x m);
    position l takes the l-th largest. Frequencies over `samples` draws per row."""
    counts = np.zeros((n_rows, n_positions, m))
    per_chunk = max(1, _CHUNK_CELLS // m)
    rows_per_chunk = max(1, per_chunk // samples)
    for start in range(0, n_rows, rows_per_chunk):
        rows = np.arange(start, min(start + rows_per_chunk, n_rows))
        done = 0
        while done < samples:
            s = min(samples - done, max(1, per_chunk // len(rows)))
            top = top_positions(draw(rows, s), n_positions)  # rows x s x L
            flat = (np.arange(len(rows))[:, None, None] * n_positions + np.arange(n_positions)) * m
            counts[rows] += np.bincount(
                (flat + top).ravel(), minlength=len(rows) * n_positions * m
            ).reshape(len(rows), n_positions, m)
            done += s
    return counts / samples


def thompson(
    alpha: np.ndarray, beta: np.ndarray, n_positions: int, samples: int, rng: np.random.Generator
) -> ActionDist:
    """Bernoulli Thompson sampling ranking by theta_a ~ Beta(alpha_a, beta_a): Monte Carlo over
    `samples` draws, one distribution per position, the same for every round (obp's
    `BernoulliTS.compute_batch_action_dist`). No prefix probabilities."""

    def draw(rows: np.ndarray, s: int) -> np.ndarray:
        return rng.beta(alpha, beta, size=(len(rows), s, len(alpha)))

    return ActionDist(sampled_marginals(draw, 1, len(alpha), n_positions, samples), None)


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(s / T) along the last axis (max-shifted; -inf scores get probability 0)."""
    z = scores / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_policy(scores: np.ndarray, temperature: float, logs: LoggedFeedback) -> ActionDist:
    """Every position drawn independently from softmax(s(x, .) / T)."""
    p = softmax(scores.astype(np.float64), temperature)
    return factorised(np.repeat(p[:, None, :], logs.n_positions, axis=1), logs)


def epsilon_greedy(scores: np.ndarray, epsilon: float, logs: LoggedFeedback) -> ActionDist:
    """Position l shows the l-th best item by score with probability 1 - eps, else a uniform
    candidate: pi(a | x, l) = (1 - eps) [a = top_l(x)] + eps / m."""
    n_contexts, m = scores.shape
    top = top_positions(scores, logs.n_positions)  # C x L
    probs = np.full((n_contexts, logs.n_positions, m), epsilon / m)
    rows, positions = np.indices(top.shape)
    probs[rows, positions, top] += 1.0 - epsilon
    return factorised(probs, logs)


def plackett_luce(
    scores: np.ndarray,
    temperature: float,
    logs: LoggedFeedback,
    samples: int,
    rng: np.random.Generator,
) -> ActionDist:
    """Plackett-Luce over softmax(s / T): position l draws from the items not yet placed.

    Marginals by Monte Carlo (Gumbel-top-k: ranking s/T + Gumbel noise is a Plackett-Luce draw;
    Yellott 1977); the logged prefix exactly: prod_{k<=l} e_{a_k} / (sum_j e_j - sum_{k'<k} e_{a_k'})
    with e = exp(s / T)."""
    z = scores.astype(np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    distinct, row_of = np.unique(z, axis=0, return_inverse=True)  # contexts sharing scores

    def draw(rows: np.ndarray, s: int) -> np.ndarray:
        return distinct[rows][:, None, :] + rng.gumbel(size=(len(rows), s, z.shape[1]))

    probs = sampled_marginals(draw, len(distinct), z.shape[1], logs.n_positions, samples)
    probs = probs[row_of.ravel()]
    prefix = None
    if logs.complete:
        e = np.exp(z)
        weights = e[logs.context[:, None], logs.items]  # n x L
        remaining = e.sum(axis=1)[logs.context][:, None] - np.cumsum(weights, axis=1) + weights
        step = np.where(repeats(logs.items), 0.0, weights / remaining)
        prefix = np.cumprod(step, axis=1)
    return ActionDist(probs, prefix)
