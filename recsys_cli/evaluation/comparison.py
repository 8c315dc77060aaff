"""Paired comparison of every model against a baseline over a per-user table (`rank compare`).

The per-user table has one row per user, model, metric and cutoff. For each metric@k the users
are paired across models; all comparisons over the same users are computed together: t-tests in
one scipy call, bootstrap intervals from one shared resampling (`evaluation.bootstrap`), and the
p-values are corrected over the whole table. Sakai (2014).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from recsys_cli.errors import UserError
from recsys_cli.evaluation.bootstrap import INTERVALS, Interval, bootstrap_intervals
from recsys_cli.evaluation.statistics import (
    CORRECTIONS,
    WILCOXON_ZERO_METHOD,
    Correction,
    adjust_pvalues,
    effect_sizes,
    paired_t_tests,
    relative_improvements,
    wilcoxon_tests,
)
from recsys_cli.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    import polars as pl

PrimaryTest = Literal["t", "wilcoxon"]

TESTS: tuple[str, ...] = ("t", "wilcoxon")
_REQUIRED_COLUMNS = ("user", "model", "metric", "cutoff", "value")
_METRIC_NAME = re.compile(r"^(?P<metric>.+)@(?P<cutoff>\d+)$")


@dataclass(frozen=True)
class ComparisonRow:
    """One model-versus-baseline comparison on one metric; `diff` is model mean - baseline mean."""

    model: str
    metric: str
    n_users: int
    baseline_mean: float
    model_mean: float
    diff: float
    relative_diff: float
    ci_low: float
    ci_high: float
    t_statistic: float
    t_pvalue: float
    t_pvalue_adjusted: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    wilcoxon_pvalue_adjusted: float
    effect_size: float
    t_significant: bool
    wilcoxon_significant: bool
    significant: bool


@dataclass(frozen=True)
class ComparisonReport:
    """Paired comparisons of every model against one baseline, with corrected p-values (rendered
    by `recsys_cli.results.significance`)."""

    baseline: str
    metrics: tuple[str, ...]
    rows: tuple[ComparisonRow, ...]
    correction: Correction
    alpha: float
    test: PrimaryTest
    confidence: float
    n_resamples: int
    seed: int
    zero_method: str = WILCOXON_ZERO_METHOD
    interval: Interval = "percentile"


def parse_metric(name: str) -> tuple[str, int]:
    """'ndcg@10' -> ('ndcg', 10)."""
    match = _METRIC_NAME.match(name)
    if match is None:
        raise UserError(f"metric {name!r} must look like NAME@CUTOFF, e.g. ndcg@10")
    return match["metric"], int(match["cutoff"])


def paired_table(
    per_user: pl.DataFrame, baseline: str, metric: str, cutoff: int, label: str
) -> pl.DataFrame:
    """Users x models table of one metric, sorted by user, refusing models whose users differ
    from the baseline."""
    import polars as pl

    rows = per_user.filter((pl.col("metric") == metric) & (pl.col("cutoff") == cutoff))
    if rows.is_empty():
        available = (
            per_user.select(pl.format("{}@{}", pl.col("metric"), pl.col("cutoff")).alias("name"))
            .unique()
            .sort("name")["name"]
            .to_list()
        )
        raise UserError(f"no per-user values for {label}; available: {', '.join(available)}")
    dup = rows.group_by("user", "model").len().filter(pl.col("len") > 1)
    if not dup.is_empty():
        model = dup["model"][0]
        raise UserError(
            f"model {model!r} has {dup.filter(pl.col('model') == model).height} users with "
            f"more than one {label} value; expected one row per user/model/metric/cutoff"
        )
    bad = rows.filter(~pl.col("value").is_finite() | pl.col("value").is_null())
    if not bad.is_empty():
        model = bad["model"][0]
        raise UserError(
            f"model {model!r} has {bad.filter(pl.col('model') == model).height} missing or "
            f"non-finite {label} values"
        )
    wide = rows.pivot(on="model", index="user", values="value", aggregate_function=None)
    if baseline not in wide.columns:
        raise UserError(f"baseline {baseline!r} has no {label} values")
    n_base = wide[baseline].is_not_null().sum()
    for model in wide.columns:
        if model in ("user", baseline):
            continue
        missing = wide.filter(pl.col(baseline).is_not_null() & pl.col(model).is_null()).height
        extra = wide.filter(pl.col(baseline).is_null() & pl.col(model).is_not_null()).height
        if missing or extra:
            raise UserError(
                f"model {model!r} cannot be paired with baseline {baseline!r} on {label}: "
                f"{missing} of the baseline's {n_base} users missing, {extra} extra users"
            )
    # A fixed user order: the shared resampling gives user i the same counts in every metric.
    return wide.sort("user")


def _check_settings(
    per_user: pl.DataFrame,
    baseline: str,
    metrics: list[str],
    correction: str,
    alpha: float,
    test: str,
    interval: str,
) -> list[str]:
    """The models other than the baseline, after checking every setting."""
    if correction not in CORRECTIONS:
        raise UserError(
            f"unknown correction {correction!r}; expected one of {', '.join(CORRECTIONS)}"
        )
    if test not in TESTS:
        raise UserError(f"unknown test {test!r}; expected one of {', '.join(TESTS)}")
    if interval not in INTERVALS:
        raise UserError(f"unknown interval {interval!r}; expected one of {', '.join(INTERVALS)}")
    if not 0.0 < alpha < 1.0:
        raise UserError(f"alpha must lie in (0, 1), got {alpha}")
    if not metrics:
        raise UserError("no metrics to compare; name at least one, e.g. ndcg@10")
    missing_cols = [c for c in _REQUIRED_COLUMNS if c not in per_user.columns]
    if missing_cols:
        raise UserError(f"per-user table lacks columns: {', '.join(missing_cols)}")
    models = per_user["model"].unique(maintain_order=True).to_list()
    if baseline not in models:
        raise UserError(f"baseline {baseline!r} not found; models: {', '.join(map(str, models))}")
    others = [m for m in models if m != baseline]
    if not others:
        raise UserError(f"nothing to compare: only the baseline {baseline!r} is present")
    return others


@dataclass
class _Group:
    """The comparisons of every metric@k over one set of users: baseline and model rows."""

    users: pl.Series
    keys: list[tuple[str, str]]
    a: list[np.ndarray]
    b: list[np.ndarray]


def _groups(per_user, baseline: str, labels: list[str], others: list[str]) -> list[_Group]:
    groups: list[_Group] = []
    for label in labels:
        name, cutoff = parse_metric(label)
        wide = paired_table(per_user, baseline, name, cutoff, label)
        a = wide[baseline].to_numpy().astype(np.float64, copy=False)
        for model in others:
            if model not in wide.columns:
                raise UserError(
                    f"model {model!r} cannot be paired with baseline {baseline!r} on {label}: "
                    f"all {a.size} of the baseline's users missing"
                )
        users = wide["user"]
        group = next((g for g in groups if g.users.equals(users)), None)
        if group is None:
            group = _Group(users, [], [], [])
            groups.append(group)
        for model in others:
            group.keys.append((model, label))
            group.a.append(a)
            group.b.append(wide[model].to_numpy().astype(np.float64, copy=False))
    return groups


def compare(
    per_user: pl.DataFrame,
    baseline: str,
    metrics: list[str],
    correction: Correction = "holm",
    alpha: float = 0.05,
    seed: int = 0,
    *,
    test: PrimaryTest = "t",
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    interval: Interval = "percentile",
    progress: Progress = NO_PROGRESS,
) -> ComparisonReport:
    """Paired tests of every model against `baseline` on each metric, corrected across the table.

    Per model and metric: paired t-test, Wilcoxon signed-rank, bootstrap CI ('percentile' or
    'bca') of mean(model - baseline), Cohen's d_z and the relative improvement of means; p-values
    of each test are adjusted together over all models x metrics (Holm 1979 / Benjamini &
    Hochberg 1995). `significant` uses the adjusted p-value of `test`. Every comparison over the
    same users shares one bootstrap resampling drawn from `seed`, so a model's interval does not
    depend on which other models are compared. Sakai (2014). Each (model, metric) pair done is
    counted on `progress`.
    """
    import polars as pl

    others = _check_settings(per_user, baseline, metrics, correction, alpha, test, interval)
    labels = list(dict.fromkeys(metrics))
    per_user = per_user.with_columns(pl.col("value").cast(pl.Float64))
    progress.total(len(labels) * len(others), "comparisons")
    raw: dict[tuple[str, str], dict[str, Any]] = {}
    for group in _groups(per_user, baseline, labels, others):
        a, b = np.stack(group.a), np.stack(group.b)
        t, t_p = paired_t_tests(a, b)
        low, high = bootstrap_intervals(
            a,
            b,
            rng=np.random.default_rng(seed),
            n_resamples=n_resamples,
            confidence=confidence,
            method=interval,
        )
        base_mean, model_mean, diff = a.mean(axis=1), b.mean(axis=1), (b - a).mean(axis=1)
        columns = {
            "baseline_mean": base_mean,
            "model_mean": model_mean,
            "diff": diff,
            "relative_diff": relative_improvements(a, b),
            "ci_low": low,
            "ci_high": high,
            "t_statistic": t,
            "t_pvalue": t_p,
            "effect_size": effect_sizes(a, b),
        }
        for i, (model, label) in enumerate(group.keys):
            w, w_p = wilcoxon_tests(a[i : i + 1], b[i : i + 1])
            raw[model, label] = {
                "model": model,
                "metric": label,
                "n_users": a.shape[1],
                **{key: float(values[i]) for key, values in columns.items()},
                "wilcoxon_statistic": float(w[0]),
                "wilcoxon_pvalue": float(w_p[0]),
            }
            progress.advance()
    ordered = [raw[model, label] for label in labels for model in others]
    t_adj = adjust_pvalues([r["t_pvalue"] for r in ordered], correction)
    w_adj = adjust_pvalues([r["wilcoxon_pvalue"] for r in ordered], correction)
    rows = []
    for r, tp, wp in zip(ordered, t_adj, w_adj, strict=True):
        # NaN < alpha is False, so an undefined test is never significant.
        t_sig = bool(tp < alpha)
        w_sig = bool(wp < alpha)
        rows.append(
            ComparisonRow(
                **r,
                t_pvalue_adjusted=float(tp),
                wilcoxon_pvalue_adjusted=float(wp),
                t_significant=t_sig,
                wilcoxon_significant=w_sig,
                significant=t_sig if test == "t" else w_sig,
            )
        )
    return ComparisonReport(
        baseline=baseline,
        metrics=tuple(labels),
        rows=tuple(rows),
        correction=correction,
        alpha=alpha,
        test=test,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
        interval=interval,
    )


def pair_on_shared_users(
    per_user: pl.DataFrame,
) -> tuple[pl.DataFrame, dict[str, tuple[int, dict[str, int]]]]:
    """Keep, for each beyond-accuracy metric@k, only the users every model has a value for.

    A beyond-accuracy value can be undefined for a user in one model and not in another (stored
    as an absent row, e.g. ILD of a list shorter than 2), and a paired test needs the same users
    in every model. Accuracy metrics stay strict: a mismatch there means different test sets,
    which `compare` refuses. Returns the kept rows and, per metric@k that lost users, their
    number and how many of them each model lacks ({"ild@10": (3, {"EASE+mmr": 3})}).
    """
    import polars as pl

    from recsys_cli.metrics import metric_kind

    n_models = per_user["model"].n_unique()
    names = per_user["metric"].unique().to_list()
    beyond = [name for name in names if metric_kind(name) != "accuracy"]
    keys = ["metric", "cutoff", "user"]
    # Only a metric@k with fewer rows than models x users can have a user some model lacks.
    rows = per_user.filter(pl.col("metric").is_in(beyond))
    short = (
        rows.group_by("metric", "cutoff")
        .agg((pl.len() < n_models * pl.col("user").n_unique()).alias("_short"))
        .filter("_short")
        .drop("_short")
    )
    counts = (
        rows.join(short, on=["metric", "cutoff"], how="semi")
        .group_by(keys)
        .agg(pl.len().alias("_n"))
    )
    partial = counts.filter(pl.col("_n") < n_models).select(keys)
    if partial.is_empty():
        return per_user, {}
    lost = partial.group_by("metric", "cutoff").agg(pl.len().alias("_lost"))
    present = (
        per_user.join(partial, on=keys, how="semi")
        .group_by("metric", "cutoff", "model")
        .agg(pl.len().alias("_present"))
    )
    models = per_user.select("model").unique(maintain_order=True)
    lacking = (
        lost.join(models, how="cross")
        .join(present, on=["metric", "cutoff", "model"], how="left")
        .with_columns((pl.col("_lost") - pl.col("_present").fill_null(0)).alias("_lacking"))
        .filter(pl.col("_lacking") > 0)
        .sort("metric", "cutoff", maintain_order=True)
    )
    left_out: dict[str, tuple[int, dict[str, int]]] = {}
    for metric, cutoff, model, lost_users, n in lacking.select(
        "metric", "cutoff", "model", "_lost", "_lacking"
    ).iter_rows():
        left_out.setdefault(f"{metric}@{cutoff}", (lost_users, {}))[1][model] = n
    return per_user.join(partial, on=keys, how="anti"), left_out
