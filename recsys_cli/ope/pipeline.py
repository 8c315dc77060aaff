"""`rank ope`: logs -> reward model -> each policy's action distribution -> estimates with
bootstrap intervals and weight diagnostics -> a stored run directory."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.schema import ModelConfig
from recsys_cli.errors import UserError
from recsys_cli.ope import policies as pol
from recsys_cli.ope.config import (
    BTSPolicy,
    LogsConfig,
    ModelPolicy,
    OpeRecipe,
    PolicyConfig,
    UniformPolicy,
    ope_recipe_to_toml,
)
from recsys_cli.ope.estimators import (
    ESTIMATORS,
    Diagnostics,
    Inputs,
    bootstrap_counts,
    estimate,
    percentile_interval,
)
from recsys_cli.ope.logs import LoggedFeedback
from recsys_cli.ope.reward import RewardModel


def _no_step(description: str):
    return contextlib.nullcontext()


@dataclass(frozen=True)
class Result:
    """One estimator's estimate of one policy's value: the point estimate, the bootstrap
    interval and standard error, the weight diagnostics (None for dm) and, where the recipe
    names the policy's own logs, its on-policy value and the relative error."""

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
        return {
            "policy": self.policy,
            "estimator": self.estimator,
            "estimate": self.estimate,
            "ci": [self.ci_low, self.ci_high],
            "stderr": self.stderr,
            **(
                asdict(self.diagnostics)
                if self.diagnostics
                else dict.fromkeys(f.name for f in fields(Diagnostics))
            ),
            "on_policy": self.on_policy,
            "relative_error": self.relative_error,
            "covers_on_policy": self.covers,
        }


def load_logs(config: LogsConfig, positions: int | None) -> LoggedFeedback:
    if config.source == "obd":
        from recsys_cli.ope.obd import load_obd

        return load_obd(config.behavior, config.campaign, positions=positions)
    from recsys_cli.ope.logs import load_file

    path = Path(config.path)
    return load_file(path, config.separator, config.columns, positions, name=path.stem)


def model_scores(
    config: ModelConfig, fit_logs: LoggedFeedback, logs: LoggedFeedback, seed: int
) -> np.ndarray:
    """Scores s(x, a) of `logs`' contexts x candidates by a recipe model fitted on `fit_logs`:
    users are contexts (matched by their feature values), interactions the rewarded impressions
    (weight = reward) of candidates of `logs`."""
    from recsys_cli.models.registry import create_model

    users = np.union1d(np.array(fit_logs.contexts), np.array(logs.contexts))
    rewarded = fit_logs.mask & (fit_logs.reward > 0)
    rounds = np.broadcast_to(fit_logs.context[:, None], rewarded.shape)[rewarded]
    rows = np.searchsorted(users, np.array(fit_logs.contexts)[rounds])
    ids = fit_logs.item_ids[fit_logs.items[rewarded]]
    cols = np.searchsorted(logs.item_ids, ids).clip(0, logs.n_candidates - 1)
    known = logs.item_ids[cols] == ids  # rewarded items outside the candidate set are dropped
    train = sp.csr_matrix(
        (fit_logs.reward[rewarded][known], (rows[known], cols[known])),
        shape=(len(users), logs.n_candidates),
    )
    model = create_model(config.name, config.params, seed).fit(train)
    evaluated = np.searchsorted(users, np.array(logs.contexts))
    scores = model._scores(evaluated, train[evaluated])
    return np.asarray(scores.toarray() if sp.issparse(scores) else scores, dtype=np.float64)


def policy_distribution(
    policy: PolicyConfig,
    path: str,
    logs: LoggedFeedback,
    scores: dict[str, np.ndarray],
    campaign: str,
    rng: np.random.Generator,
) -> pol.ActionDist:
    """The policy's action distribution over `logs` (`path` is its recipe key, for errors)."""
    n_positions, m = logs.n_positions, logs.n_candidates
    ranks_without_repeats = isinstance(policy, (UniformPolicy, BTSPolicy)) or (
        isinstance(policy, ModelPolicy) and policy.ranking == "plackett_luce"
    )
    if ranks_without_repeats and n_positions > m:
        raise UserError(
            f"{path}: {n_positions} positions but only {m} candidates to rank without repeats"
        )
    if isinstance(policy, UniformPolicy):
        return pol.uniform(logs)
    if isinstance(policy, BTSPolicy):
        if policy.prior == "zozotown":
            from recsys_cli.ope.obd import zozotown_prior

            alpha, beta = zozotown_prior(policy.campaign or campaign)
        else:
            alpha, beta = np.array(policy.alpha), np.array(policy.beta)
        if len(alpha) != m:
            raise UserError(
                f"{path}: the prior has {len(alpha)} (alpha, beta) pairs but the logs have {m} "
                "candidates; give one pair per candidate, in item id order"
            )
        return pol.thompson(alpha, beta, n_positions, policy.samples, rng)
    s = scores[policy.model]
    if policy.ranking == "softmax":
        return pol.softmax_policy(s, policy.temperature, logs)
    if policy.ranking == "epsilon_greedy":
        return pol.epsilon_greedy(s, policy.epsilon, logs)
    return pol.plackett_luce(s, policy.temperature, logs, policy.samples, rng)


def estimator_inputs(logs: LoggedFeedback, dist: pol.ActionDist, tau: float) -> Inputs:
    """Importance weights and prefix weights of one policy on the logs."""
    w = dist.logged(logs) / logs.propensity  # 0 where nothing was logged
    prefix_w = None
    if dist.prefix is not None:
        logged = logs.prefix if logs.prefix is not None else np.cumprod(logs.propensity, axis=1)
        prefix_w = dist.prefix / logged
    return Inputs(logs.mask, logs.reward, w, tau, prefix_w=prefix_w)


def with_reward_model(
    inputs: Inputs, model: RewardModel, q: np.ndarray, dist: pol.ActionDist
) -> Inputs:
    """`inputs` with q of the logged items and sum_a pi(a | x, l) q(x, l, a) under `dist`."""
    return dataclasses.replace(
        inputs, q_logged=model.logged(q), q_policy=model.expected(q, dist.probs)
    )


def check_estimable(name: str, kind: str, path: str, inputs: Inputs, estimators) -> None:
    """One clear error when the policy cannot be evaluated on these logs."""
    if not inputs.w[inputs.mask].any():
        raise UserError(
            f"{path}: policy {name!r} gives probability 0 to every logged item: the logs hold "
            "no information about it (no overlap with the logging policy)"
        )
    slate = [e for e in estimators if ESTIMATORS[e].slate]
    if slate and inputs.prefix_w is None:
        raise UserError(
            f"{path}: policy {name!r} ({kind}) gives per-position probabilities only, not the "
            f"probability of a logged slate; drop {', '.join(slate)} from ope.estimators"
        )


def check_slates(logs: LoggedFeedback, estimators) -> None:
    slate = [e for e in estimators if ESTIMATORS[e].slate]
    if slate and not logs.complete:
        partial = int((~logs.mask.all(axis=1)).sum())
        raise UserError(
            f"ope.estimators: {', '.join(slate)} need full slates, but {partial:,} of "
            f"{logs.n_rounds:,} rounds of {logs.name} log fewer than {logs.n_positions} "
            f"positions (1..{logs.n_positions}); use ips, snips, dm or the dr family"
        )


def estimate_policies(
    recipe: OpeRecipe, logs: LoggedFeedback, step: Callable = _no_step
) -> list[Result]:
    """Every estimator's estimate of every policy of the recipe on `logs`, with bootstrap
    intervals over the same resamples of rounds (so policies and estimators compare paired);
    each resample refits the reward model."""
    config = recipe.ope
    rng = np.random.default_rng(recipe.seed)
    check_slates(logs, config.estimators)
    scores = {}
    if any(isinstance(p, ModelPolicy) for p in config.policies):
        with step(f"load fit logs ({config.fit.source})"):
            fit_logs = load_logs(config.fit, None)
        for model in recipe.models:
            with step(f"fit {model.label} on {fit_logs.name}"):
                scores[model.label] = model_scores(model, fit_logs, logs, recipe.seed)
    linear = [ESTIMATORS[e] for e in config.estimators if not ESTIMATORS[e].reward_model]
    modelled = [ESTIMATORS[e] for e in config.estimators if ESTIMATORS[e].reward_model]
    reward_model = q = None
    if modelled:
        with step(f"reward model ({config.reward_model.kind})"):
            reward_model = RewardModel(
                logs, config.reward_model.kind, config.reward_model.smoothing
            )
            q = reward_model.fit()
    prepared = []
    for i, policy in enumerate(config.policies):
        path = f"ope.policies[{i}]"
        with step(f"policy {policy.name}"):
            dist = policy_distribution(policy, path, logs, scores, config.data.campaign, rng)
            inputs = estimator_inputs(logs, dist, config.tau)
            check_estimable(policy.name, policy.KIND, path, inputs, config.estimators)
            prepared.append((policy, dist, inputs))
    with step(f"estimates and {config.bootstrap:,} bootstrap resamples"):
        point, boot = _estimates(
            prepared, linear, modelled, logs, q, reward_model, config.bootstrap, rng
        )
    results = []
    truths = {}
    for policy, _, inputs in prepared:
        if policy.on_policy is not None:
            truths[policy.name] = load_logs(policy.on_policy, None).on_policy_value()
        for name in config.estimators:
            estimator = ESTIMATORS[name]
            values = boot[policy.name, name]
            low, high = percentile_interval(values, config.confidence)
            weights = estimator.weights(inputs)
            results.append(
                Result(
                    policy=policy.name,
                    estimator=name,
                    estimate=point[policy.name, name],
                    ci_low=low,
                    ci_high=high,
                    stderr=float(values.std(ddof=1)),
                    diagnostics=None if weights is None else Diagnostics.of(weights, logs.mask),
                    on_policy=truths.get(policy.name),
                )
            )
    return results


def _estimates(prepared, linear, modelled, logs, q, reward_model, n_boot, rng):
    """Point estimates and `n_boot` bootstrap values per (policy, estimator). Estimators without
    a reward model are linear in the per-round components (one product with the resample
    counts); dm and the dr family refit the reward model on every resample."""
    n = logs.n_rounds
    point, boot, blocks, keys = {}, {}, [], []
    for policy, dist, inputs in prepared:
        for estimator in linear:
            components = estimator.components(inputs)
            point[policy.name, estimator.name] = float(estimator.combine(components.mean(axis=0)))
            blocks.append(components)
            keys.append((policy.name, estimator, components.shape[1]))
        if modelled:
            full = with_reward_model(inputs, reward_model, q, dist)
            for estimator in modelled:
                point[policy.name, estimator.name] = estimate(estimator, full)
        for estimator in [*linear, *modelled]:
            boot[policy.name, estimator.name] = np.empty(n_boot)
    stacked = np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))
    done = 0
    for counts in bootstrap_counts(n, n_boot, rng):
        rows = slice(done, done + len(counts))
        means, start = counts @ stacked / n, 0
        for name, estimator, k in keys:
            boot[name, estimator.name][rows] = estimator.combine(means[:, start : start + k])
            start += k
        for j, drawn in enumerate(counts if modelled else ()):
            q_resampled = reward_model.fit(drawn)
            for policy, dist, inputs in prepared:
                resampled = with_reward_model(inputs, reward_model, q_resampled, dist)
                for estimator in modelled:
                    mean = drawn @ estimator.components(resampled) / n
                    boot[policy.name, estimator.name][done + j] = estimator.combine(mean)
        done += len(counts)
    return point, boot


def run_ope(recipe: OpeRecipe, run_dir: Path, step: Callable = _no_step) -> dict:
    """Evaluate the recipe's policies and write the run directory: recipe.toml (resolved),
    manifest.json (seed, logs with checksum and source, counts, provenance, timings) and
    estimates.json / estimates.parquet (one row per policy and estimator)."""
    from recsys_cli.results.manifest import provenance
    from recsys_cli.results.store import write_json, write_parquet

    started = time.perf_counter()
    (run_dir / "recipe.toml").write_text(ope_recipe_to_toml(recipe), encoding="utf-8")
    with step(f"load logs ({recipe.ope.data.source})"):
        logs = load_logs(recipe.ope.data, recipe.ope.positions)
    results = estimate_policies(recipe, logs, step)
    rows = [r.to_json() for r in results]
    write_parquet(
        run_dir / "estimates.parquet",
        pl.DataFrame(
            [{**row, "ci_low": row["ci"][0], "ci_high": row["ci"][1]} for row in rows]
        ).drop("ci"),
    )
    write_json(run_dir / "estimates.json", rows)
    manifest = {
        "recipe": recipe.name,
        "kind": "ope",
        "seed": recipe.seed,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "logs": logs.summary(),
        "policies": [p.name for p in recipe.ope.policies],
        "estimators": list(recipe.ope.estimators),
        "bootstrap": recipe.ope.bootstrap,
        "confidence": recipe.ope.confidence,
        "timings": {"total_s": round(time.perf_counter() - started, 3)},
        **provenance(),
    }
    write_json(run_dir / "manifest.json", manifest)
    return {"manifest": manifest, "results": rows}
