"""`rank ope`: logs -> reward model -> each policy's action distribution -> estimates with
bootstrap intervals and weight diagnostics -> a stored run directory."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
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
from recsys_cli.ope.evaluate import Result, check_slates, evaluate, no_step
from recsys_cli.ope.logs import LoggedFeedback


def load_logs(config: LogsConfig, positions: int | None, key: str) -> LoggedFeedback:
    """The logs the recipe table at `key` names; `positions` is the slate length asked for
    (None: the largest logged position)."""
    if config.source == "obd":
        from recsys_cli.ope.obd import load_obd

        return load_obd(config.behavior, config.campaign, positions=positions)
    from recsys_cli.ope.logs import load_file

    path = Path(config.path)
    return load_file(path, config.separator, config.columns, positions, path.stem, key)


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
    # items matched by their ids as text (an integer id in one file equals its digits in
    # another); rewarded items outside the candidate set are dropped
    ids = fit_logs.item_ids[fit_logs.items[rewarded]].astype(str)
    candidates = logs.item_ids.astype(str)
    order = np.argsort(candidates)
    cols = order[np.searchsorted(candidates[order], ids).clip(0, logs.n_candidates - 1)]
    known = candidates[cols] == ids
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
    ranks = not (isinstance(policy, ModelPolicy) and policy.ranking == "softmax")
    if ranks and n_positions > m:  # only softmax draws each position on its own
        raise UserError(f"{path}: {n_positions} positions but only {m} candidates to rank")
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


def estimate_policies(
    recipe: OpeRecipe, logs: LoggedFeedback, step: Callable = no_step
) -> list[Result]:
    """Every estimator's estimate of every policy of the recipe on `logs` (`evaluate`), with
    each policy's on-policy value where the recipe names its own logs."""
    config = recipe.ope
    rng = np.random.default_rng(recipe.seed)
    check_slates(logs, config.estimators)  # before fitting models and sampling policies
    scores = {}
    if any(isinstance(p, ModelPolicy) for p in config.policies):
        with step(f"load fit logs ({config.fit.source})"):
            fit_logs = load_logs(config.fit, None, "ope.fit")
        for model in recipe.models:
            with step(f"fit {model.label} on {fit_logs.name}"):
                scores[model.label] = model_scores(model, fit_logs, logs, recipe.seed)
    dists = {}
    for i, policy in enumerate(config.policies):
        with step(f"policy {policy.name}"):
            dists[policy.name] = policy_distribution(
                policy, f"ope.policies[{i}]", logs, scores, config.data.campaign, rng
            )
    results = evaluate(
        logs,
        dists,
        config.estimators,
        config.reward_model,
        config.tau,
        config.bootstrap,
        config.confidence,
        rng,
        step,
    )
    truths = {
        p.name: load_logs(p.on_policy, None, f"ope.policies[{i}].on_policy").on_policy_value()
        for i, p in enumerate(config.policies)
        if p.on_policy is not None
    }
    return [dataclasses.replace(r, on_policy=truths.get(r.policy)) for r in results]


def run_ope(recipe: OpeRecipe, run_dir: Path, step: Callable = no_step) -> dict:
    """Evaluate the recipe's policies and write the run directory: recipe.toml (resolved),
    manifest.json (seed, logs with checksum and source, counts, provenance, timings) and
    estimates.json / estimates.parquet (one row per policy and estimator)."""
    from recsys_cli.results.atomic import write_json, write_parquet
    from recsys_cli.results.manifest import provenance

    started = time.perf_counter()
    (run_dir / "recipe.toml").write_text(ope_recipe_to_toml(recipe), encoding="utf-8")
    with step(f"load logs ({recipe.ope.data.source})"):
        logs = load_logs(recipe.ope.data, recipe.ope.positions, "ope.data")
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
