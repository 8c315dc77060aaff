"""Metric kernels: accuracy, beyond-accuracy and business proxies, all with per-user values.

This module only names the metrics (cheap to import): which family each belongs to, which are
catalogue-level single numbers, which are "lower is better" and which item columns they need.
The kernels live in `accuracy`, `beyond_accuracy` and `business`.
"""

from __future__ import annotations

import re

ACCURACY = ("ndcg", "recall", "precision", "map", "mrr", "hit_rate")
BEYOND_ACCURACY = (
    "ild",
    "coverage",
    "gini",
    "novelty",
    "arp",
    "aplt",
    "popularity_lift",
    "miscalibration",
    "serendipity",
)
BUSINESS = ("discovery", "provider_gini", "fair_marketplace", "exposure_share")
KINDS = {"accuracy": ACCURACY, "beyond-accuracy": BEYOND_ACCURACY, "business": BUSINESS}
# One number per model and cutoff (no per-user values): stored in metrics.json with stderr null.
CATALOGUE_LEVEL = frozenset({"coverage", "gini", "provider_gini"})
# The one place that says which direction is better (report bolding, Pareto fronts, sweeps).
LOWER_IS_BETTER = frozenset({"gini", "provider_gini", "miscalibration", "arp", "popularity_lift"})
# When a per-user metric has no value for a user (NaN, stored as an absent row); the others are
# defined for every evaluated user.
UNDEFINED_WHEN = {
    "ild": "the list holds fewer than 2 items",
    "novelty": "the list is empty",
    "arp": "the list is empty",
    "aplt": "the list is empty",
    "exposure_share": "the list is empty",
    "discovery": "the list is empty",
    "popularity_lift": "the list is empty or the user's training items have no popularity",
    "miscalibration": "the user's training items have no genres",
}
# Item columns a metric reads from the dataset's items table.
REQUIRED_COLUMNS = {
    "ild": "genres",
    "miscalibration": "genres",
    "discovery": "artist",
    "provider_gini": "artist",
    "fair_marketplace": "artist",
}
_ARGUMENT_METRIC = re.compile(r"(exposure_share|ild)\[([^\[\]]+)\]")
# ild[SIMILARITY]: plain `ild` is genre Jaccard; cosine of genre vectors, ALS item factors
# (fitted once on the training matrix) or same artist can be named instead.
ILD_SIMILARITIES = ("genres", "factors", "artist")


def split_metric(name: str) -> tuple[str, str | None]:
    """'exposure_share[emerging]' -> ('exposure_share', 'emerging'); 'ild[factors]' -> ('ild',
    'factors'); 'ndcg' -> ('ndcg', None)."""
    match = _ARGUMENT_METRIC.fullmatch(name)
    return (match.group(1), match.group(2)) if match else (name, None)


def required_column(name: str) -> str | None:
    """The item column a metric reads, if any."""
    base, argument = split_metric(name)
    if base == "ild" and argument is not None:
        return {"genres": "genres", "artist": "artist"}.get(argument)
    return REQUIRED_COLUMNS.get(base)


def metric_kind(name: str) -> str:
    """'accuracy', 'beyond-accuracy' or 'business' (KeyError for an unknown metric)."""
    base, _ = split_metric(name)
    for kind, names in KINDS.items():
        if base in names:
            return kind
    raise KeyError(name)


def lower_is_better(name: str) -> bool:
    """True for metrics where a smaller value is the better one (e.g. gini, miscalibration)."""
    return split_metric(name)[0] in LOWER_IS_BETTER


def metric_problem(name: str, groups) -> str | None:
    """Why `name` is not a valid metric (with the nearest valid name), or None when it is."""
    from recsys_cli.config.validate import nearest

    base, group = split_metric(name)
    if base == "exposure_share" and group is None:
        return "exposure_share needs a group: exposure_share[GROUP] with GROUP from [groups]"
    if base == "ild" and group is not None:
        if group not in ILD_SIMILARITIES:
            return f"ild[{group}]: similarity" + nearest(group, ILD_SIMILARITIES)
        return None
    if group is not None:
        if group not in groups:
            return f"unknown group {group!r}" + nearest(group, groups) + " (define it in [groups])"
        return None
    valid = ACCURACY + BEYOND_ACCURACY + BUSINESS
    if base not in valid:
        return f"unknown metric {name!r}" + nearest(name, valid)
    return None
