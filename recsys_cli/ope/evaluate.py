"""Estimates of policies' values on logged feedback, with bootstrap intervals and importance-
weight diagnostics: the library entry point below `rank ope` (policies given as action
distributions)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import numpy as np

from recsys_cli.errors import UserError
from recsys_cli.ope.config import RewardModelConfig
from recsys_cli.ope.estimators import (
    ESTIMATORS,
    Diagnostics,
    Inputs,
    bootstrap_counts,
    column_means,
    percentile_interval,
)
from recsys_cli.ope.logs import LoggedFeedback
from recsys_cli.ope.policies import ActionDist
from recsys_cli.ope.reward import RewardModel

_REFIT_CELLS = 1 << 22  # reward-model values held at once per batch of resamples (32 MiB)


def no_step(description: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Result:
    """One estimator's estimate of one policy's value: the point estimate, the bootstrap
    interval and standard error, the weight diagnostics (None for dm) and, where known, the
    policy's on-policy value (its mean reward in logs it collected itself)."""

    policy: str
    estimator: str
    estimate: float
    ci_low: float
    ci_high: float
    stderr: float
    diagnostics: Diagnostics | None
    on_policy: float | None = None

    @property
    def relative_error(self) -> float | None:
        if self.on_policy is None or self.on_policy == 0:
            return None
        return (self.estimate - self.on_policy) / self.on_policy

    @property
    def covers(self) -> bool | None:
        return None if self.on_policy is None else self.ci_low <= self.on_policy <= self.ci_high

    def to_json(self) -> dict:
        diagnostics = (
            asdict(self.diagnostics)
            if self.diagnostics
            else dict.fromkeys(f.name for f in fields(Diagnostics))
        )
        return {
            "policy": self.policy,
            "estimator": self.estimator,
            "estimate": self.estimate,
            "ci": [self.ci_low, self.ci_high],
            "stderr": self.stderr,
            **diagnostics,
            "on_policy": self.on_policy,
            "relative_error": self.relative_error,
            "covers_on_policy": self.covers,
        }


def estimator_inputs(logs: LoggedFeedback, dist: ActionDist, tau: float) -> Inputs:
    """Importance weights and prefix weights of one policy on the logs; the logging prefix is
    the logs' own column, else the product of the logged propensities."""
    w = dist.logged(logs) / logs.propensity  # 0 where nothing was logged
    prefix_w = None
    if dist.prefix is not None:
        logged = logs.prefix if logs.prefix is not None else np.cumprod(logs.propensity, axis=1)
        prefix_w = dist.prefix / logged
    return Inputs(logs.mask, logs.reward, w, tau, prefix_w=prefix_w)


def with_reward_model(
    inputs: Inputs, model: RewardModel, q: np.ndarray, dist: ActionDist
) -> Inputs:
    """`inputs` with q of the logged items and sum_a pi(a | x, l) q(x, l, a) under `dist`, for
    each of the b fits in `q` (b x n x L)."""
    return dataclasses.replace(
        inputs, q_logged=model.logged(q), q_policy=model.expected(q, dist.probs)
    )


def check_slates(logs: LoggedFeedback, estimators) -> None:
    """Slate estimators need every round to log every position."""
    slate = [e for e in estimators if ESTIMATORS[e].slate]
    if slate and not logs.complete:
        partial = int((~logs.mask.all(axis=1)).sum())
        raise UserError(
            f"ope.estimators: {', '.join(slate)} need full slates, but {partial:,} of "
            f"{logs.n_rounds:,} rounds of {logs.name} log fewer than {logs.n_positions} "
            f"positions (1..{logs.n_positions}); use ips, snips, dm or the dr family"
        )


def check_estimable(name: str, inputs: Inputs, estimators) -> None:
    """One clear error when the policy cannot be evaluated on these logs."""
    if not inputs.w[inputs.mask].any():
        raise UserError(
            f"policy {name!r} gives probability 0 to every logged item: the logs hold no "
            "information about it (no overlap with the logging policy)"
        )
    slate = [e for e in estimators if ESTIMATORS[e].slate]
    if slate and inputs.prefix_w is None:
        raise UserError(
            f"policy {name!r} gives per-position probabilities only, not the probability of a "
            f"logged slate; drop {', '.join(slate)} from ope.estimators"
        )


def evaluate(
    logs: LoggedFeedback,
    policies: dict[str, ActionDist],
    estimators: tuple[str, ...],
    reward_model: RewardModelConfig,
    tau: float,
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    step: Callable = no_step,
) -> list[Result]:
    """Every estimator's estimate of every policy, with percentile bootstrap intervals over the
    same resamples of rounds (so policies and estimators compare paired); every resample
    refits the reward model, so that dm's and the dr family's intervals include its error."""
    check_slates(logs, estimators)
    prepared = {}
    for name, dist in policies.items():
        inputs = estimator_inputs(logs, dist, tau)
        check_estimable(name, inputs, estimators)
        prepared[name] = (dist, inputs)
    model = None
    if any(ESTIMATORS[e].reward_model for e in estimators):
        with step(f"reward model ({reward_model.kind})"):
            model = RewardModel(logs, reward_model.kind, reward_model.smoothing)
    with step(f"estimates and {n_boot:,} bootstrap resamples"):
        point, boot = _estimates(prepared, estimators, logs, model, n_boot, rng)
    results = []
    for name, (_, inputs) in prepared.items():
        for estimator_name in estimators:
            values = boot[name, estimator_name]
            low, high = percentile_interval(values, confidence)
            weights = ESTIMATORS[estimator_name].weights(inputs)
            results.append(
                Result(
                    policy=name,
                    estimator=estimator_name,
                    estimate=point[name, estimator_name],
                    ci_low=low,
                    ci_high=high,
                    stderr=float(values.std(ddof=1)),
                    diagnostics=None if weights is None else Diagnostics.of(weights, logs.mask),
                )
            )
    return results


def _estimates(prepared, estimators, logs, model, n_boot, rng):
    """Point estimates and `n_boot` bootstrap values per (policy, estimator). Estimators without
    a reward model are linear in the per-round components (one product with the resample
    counts); dm and the dr family refit the reward model on every resample, a batch of
    resamples at a time."""
    linear = [ESTIMATORS[e] for e in estimators if not ESTIMATORS[e].reward_model]
    modelled = [ESTIMATORS[e] for e in estimators if ESTIMATORS[e].reward_model]
    n = logs.n_rounds
    point, blocks, keys = {}, [], []
    for name, (_, inputs) in prepared.items():
        for estimator in linear:
            components = estimator.components(inputs)
            point[name, estimator.name] = float(estimator.combine(column_means(components)))
            blocks.append(components)
            keys.append((name, estimator, components.shape[1]))
    if modelled:
        once = _refitted(prepared, modelled, model, np.ones((1, n)))
        point.update({key: float(values[0]) for key, values in once.items()})
    boot = {key: np.empty(n_boot) for key in point}
    stacked = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
    per_fit = max(1, _REFIT_CELLS // max(n * logs.n_positions, model.cells if model else 1))
    done = 0
    for counts in bootstrap_counts(n, n_boot, rng):
        means, start = counts @ stacked / n, 0
        for name, estimator, k in keys:
            boot[name, estimator.name][done : done + len(counts)] = estimator.combine(
                means[:, start : start + k]
            )
            start += k
        for first in range(0, len(counts) if modelled else 0, per_fit):
            batch = counts[first : first + per_fit]
            rows = slice(done + first, done + first + len(batch))
            for key, values in _refitted(prepared, modelled, model, batch).items():
                boot[key][rows] = values
        done += len(counts)
    return point, boot


def _refitted(prepared, modelled, model: RewardModel, counts: np.ndarray) -> dict:
    """The reward-model estimators' values with the model fitted on each row of `counts`
    (resample counts of the rounds), per (policy, estimator)."""
    n = counts.shape[1]
    q = model.fit(counts)
    values = {}
    for name, (dist, inputs) in prepared.items():
        batched = with_reward_model(inputs, model, q, dist)
        for estimator in modelled:
            means = np.einsum("bn,bnk->bk", counts, estimator.components(batched)) / n
            values[name, estimator.name] = estimator.combine(means)
    return values
