"""Off-policy estimators of a policy's value from logged feedback, batched over rounds.

Notation (round i, logged position l, mask m_il = 1 where something was logged): importance
weight w_il = pi_e(a_il | x_i, l) / pi_0(a_il | x_i, l); reward r_il; reward model q(x, l, a) with
q_il = q(x_i, l, a_il) and q^pi_il = sum_a pi_e(a | x_i, l) q(x_i, l, a). The value is the
expected sum of rewards over a round's logged positions (the click rate for one position per
round). Each estimator is a mean over rounds of per-round components followed by a `combine`
step, so that a bootstrap resample is a weighted sum of the same components.

- dm: mean_i sum_l m_il q^pi_il (direct method).
- ips: mean_i sum_l w_il r_il; on full slates this is the independent IPS of Li et al.
  (KDD 2018).
- snips: per position, sum_i w_il r_il / sum_i w_il, times the share of rounds logging l.
- dr: mean_i sum_l m_il q^pi_il + w_il (r_il - q_il) (Dudik, Langford & Li, ICML 2011).
- switch_dr: dr with the correction only where w_il <= tau (Wang, Agarwal & Dudik, ICML 2017).
- clipped_dr: dr with min(w_il, tau) in the correction.
Slate estimators (every round logs positions 1..L; W_il = pi_e(a_i1..a_il | x_i) /
pi_0(a_i1..a_il | x_i), the weight of the logged prefix):
- rips: mean_i sum_l W_il r_il, reward-interaction IPS (McInerney et al., KDD 2020).
- sips: mean_i W_iL sum_l r_il, the standard IPS of the whole slate.
- pi: mean_i (sum_l w_il - L + 1) sum_l r_il, the pseudo-inverse estimator for additive rewards
  (Swaminathan et al., NeurIPS 2017) in its form for logging policies that fill positions
  independently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

_BOOTSTRAP_CELLS = 1 << 23  # resample counts held at once (64 MiB of int64)


@dataclass(frozen=True)
class Inputs:
    """What the estimators read, n rounds x L positions; weights and reward-model terms are 0
    where nothing was logged. `q_logged`/`q_policy` are None without a reward model, or b x n x L
    for b fits of it (the estimators that read them return b x n x k components); `prefix_w`
    is None unless the logs are full slates and the policy gives prefix probabilities."""

    mask: np.ndarray
    reward: np.ndarray
    w: np.ndarray
    tau: float
    q_logged: np.ndarray | None = None
    q_policy: np.ndarray | None = None
    prefix_w: np.ndarray | None = None


@dataclass(frozen=True)
class Estimator:
    """`components(inputs)` -> n x k per-round terms; `combine` maps their mean (... x k) to the
    estimate; `weights(inputs)` are the importance weights it applies (for diagnostics), None
    for the direct method."""

    name: str
    title: str
    components: Callable[[Inputs], np.ndarray]
    combine: Callable[[np.ndarray], np.ndarray]
    weights: Callable[[Inputs], np.ndarray | None]
    reward_model: bool = False
    slate: bool = False


def _first(means: np.ndarray) -> np.ndarray:
    return means[..., 0]


def _per_round(values: np.ndarray) -> np.ndarray:
    """Sum over positions (the last axis), kept as a length-1 axis. Adding position columns is
    several times faster than numpy's reduction along a short last axis."""
    total = values[..., :1].copy()
    for position in range(1, values.shape[-1]):
        total += values[..., position : position + 1]
    return total


def _snips_components(x: Inputs) -> np.ndarray:
    n, n_positions = x.w.shape
    out = np.empty((n, 3 * n_positions), order="F")  # columns written and read contiguously
    np.multiply(x.w, x.reward, out=out[:, :n_positions])
    out[:, n_positions : 2 * n_positions] = x.w
    out[:, 2 * n_positions :] = x.mask
    return out


def _snips_combine(means: np.ndarray) -> np.ndarray:
    num, den, share = np.split(means, 3, axis=-1)
    ratio = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return (share * ratio).sum(axis=-1)


def _dr(correction_weights: Callable[[Inputs], np.ndarray]) -> Callable[[Inputs], np.ndarray]:
    def components(x: Inputs) -> np.ndarray:
        return _per_round(x.q_policy + correction_weights(x) * (x.reward - x.q_logged))

    return components


def _switch_weights(x: Inputs) -> np.ndarray:
    return np.where(x.w <= x.tau, x.w, 0.0)


def _clipped_weights(x: Inputs) -> np.ndarray:
    return np.minimum(x.w, x.tau)


def _pi_weights(x: Inputs) -> np.ndarray:
    return x.w.sum(axis=1) - x.w.shape[1] + 1


ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator(
            "dm",
            "DM",
            lambda x: _per_round(x.q_policy),
            _first,
            lambda x: None,
            reward_model=True,
        ),
        Estimator("ips", "IPS", lambda x: _per_round(x.w * x.reward), _first, lambda x: x.w),
        Estimator("snips", "SNIPS", _snips_components, _snips_combine, lambda x: x.w),
        Estimator("dr", "DR", _dr(lambda x: x.w), _first, lambda x: x.w, reward_model=True),
        Estimator(
            "switch_dr",
            "Switch-DR",
            _dr(_switch_weights),
            _first,
            _switch_weights,
            reward_model=True,
        ),
        Estimator(
            "clipped_dr",
            "Clipped DR",
            _dr(_clipped_weights),
            _first,
            _clipped_weights,
            reward_model=True,
        ),
        Estimator(
            "rips",
            "RIPS",
            lambda x: _per_round(x.prefix_w * x.reward),
            _first,
            lambda x: x.prefix_w,
            slate=True,
        ),
        Estimator(
            "sips",
            "SIPS",
            lambda x: (x.prefix_w[:, -1] * x.reward.sum(axis=1))[:, None],
            _first,
            lambda x: x.prefix_w[:, -1],
            slate=True,
        ),
        Estimator(
            "pi",
            "PI",
            lambda x: (_pi_weights(x) * x.reward.sum(axis=1))[:, None],
            _first,
            _pi_weights,
            slate=True,
        ),
    )
}


def estimate(estimator: Estimator, inputs: Inputs) -> float:
    """The estimator's value on all rounds (with one fit of the reward model)."""
    components = estimator.components(inputs)
    return float(estimator.combine(column_means(components.reshape(-1, components.shape[-1]))))


def column_means(components: np.ndarray) -> np.ndarray:
    """Means of the n x k components' columns (a product with ones: several times faster than
    numpy's mean along the first axis of a row-major array with few columns)."""
    return np.ones(len(components)) @ components / len(components)


def bootstrap_counts(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Bootstrap resamples of n rounds (Efron 1979) as draw counts, in chunks (b x n): row j
    counts how often resample j drew each round, so its mean of per-round terms v is
    counts[j] @ v / n."""
    per_chunk = max(1, _BOOTSTRAP_CELLS // n)
    for start in range(0, n_boot, per_chunk):
        b = min(per_chunk, n_boot - start)
        drawn = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of bootstrap values (percentile method)."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Diagnostics:
    """Importance-weight diagnostics over the logged impressions an estimator weights (rounds
    for the slate-level weights of sips and pi): effective sample size (sum w)^2 / sum w^2
    (Kong 1992), mean weight (near 1 when pi_0 covers pi_e's support), maximum weight, and the
    share of zero weights (impressions pi_e would never show)."""

    ess: float
    mean_weight: float
    max_weight: float
    zero_share: float

    @classmethod
    def of(cls, weights: np.ndarray, mask: np.ndarray) -> Diagnostics:
        values = weights[mask] if weights.ndim == 2 else weights
        squares = float(np.square(values).sum())
        total = float(values.sum())
        return cls(
            ess=total**2 / squares if squares > 0 else 0.0,
            mean_weight=float(values.mean()),
            max_weight=float(values.max()),
            zero_share=float((values == 0).mean()),
        )
