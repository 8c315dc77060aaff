"""Regression baselines: committed metric values per recipe, with tolerances, and the comparison.

A baseline file `results/baselines/<recipe>.json` holds {"tolerance": {"default": {"abs": a},
"ndcg@10": {"rel": r}}, "models": {model: {"metric@k": mean}}} and, for recipes with several
seeds, "spread": {model: {"metric@k": sd across seeds}}. A current value v is within tolerance of
the baseline b when |v - b| <= max(abs, rel * |b|, 3 * spread).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recsys_cli.errors import UserError
from recsys_cli.results.atomic import write_json
from recsys_cli.results.readback import read_json

DEFAULT_TOLERANCE = {"abs": 1e-3}


@dataclass(frozen=True)
class Check:
    """One metric of one model of one recipe, compared with its baseline."""

    recipe: str
    model: str
    metric: str
    baseline: float | None
    current: float | None
    allowed: float

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def status(self) -> str:
        if self.baseline is None:
            return "new"
        if self.current is None:
            return "missing"
        if abs(self.delta) <= self.allowed:
            return "ok"
        return "moved up" if self.delta > 0 else "moved down"

    @property
    def failed(self) -> bool:
        """Any move beyond tolerance fails, up included: a silent jump is as suspect as a drop."""
        return self.status not in ("ok",)


def allowed_difference(tolerance: dict, metric: str, baseline: float, spread: float = 0.0) -> float:
    rule = {**DEFAULT_TOLERANCE, **tolerance.get("default", {}), **tolerance.get(metric, {})}
    return max(rule.get("abs", 0.0), rule.get("rel", 0.0) * abs(baseline), 3.0 * spread)


def compare_to_baseline(
    recipe: str, baseline: dict, current: dict[str, dict[str, float]]
) -> list[Check]:
    """Checks for every (model, metric) in the baseline or the current run."""
    tolerance = baseline.get("tolerance", {})
    stored = baseline.get("models", {})
    spread = baseline.get("spread", {})
    checks = []
    for model in dict.fromkeys([*stored, *current]):
        metrics = dict.fromkeys([*stored.get(model, {}), *current.get(model, {})])
        for metric in metrics:
            old = stored.get(model, {}).get(metric)
            new = current.get(model, {}).get(metric)
            sd = spread.get(model, {}).get(metric) or 0.0
            allowed = allowed_difference(tolerance, metric, old, sd) if old is not None else 0.0
            checks.append(Check(recipe, model, metric, old, new, allowed))
    return checks


def means(metrics_json: dict, field: str = "mean") -> dict[str, dict[str, float]]:
    """{model: {metric@k: value}} of one field ("mean", or "seed_sd" in multi-seed runs)."""
    return {
        model: {
            name: entry[field] for name, entry in values.items() if entry.get(field) is not None
        }
        for model, values in metrics_json["models"].items()
    }


def load_baseline(path: Path) -> dict:
    if not path.is_file():
        raise UserError(
            f"{path}: no baseline for this recipe; create it with `rank bench --update`"
        )
    return read_json(path)


def save_baseline(path: Path, metrics_json: dict, previous: dict | None) -> None:
    """Write new values (and seed spreads), keeping the tolerance rules of the previous baseline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tolerance = (previous or {}).get("tolerance", {"default": dict(DEFAULT_TOLERANCE)})
    payload = {"tolerance": tolerance, "models": means(metrics_json)}
    spread = {model: values for model, values in means(metrics_json, "seed_sd").items() if values}
    if spread:
        payload["spread"] = spread
    write_json(path, payload)
