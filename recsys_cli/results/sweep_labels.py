"""Labels and values of sweep.json entries, shared by the sweep's figure, text plot and report."""

from __future__ import annotations


def short_keys(keys) -> dict[str, str]:
    """Grid key -> its shortest dotted suffix unique among `keys`
    ('variants[0].chain[0].lambda' -> 'lambda', unless another key also ends in 'lambda')."""
    parts = {key: key.split(".") for key in keys}
    short = {}
    for key, path in parts.items():
        for n in range(1, len(path) + 1):
            suffix = ".".join(path[-n:])
            if sum(".".join(p[-n:]) == suffix for p in parts.values()) == 1:
                break
        short[key] = suffix
    return short


def point_label(entry: dict, short: dict[str, str]) -> str:
    """'lambda=0.3, theta=0.7': the values of the grid keys that change the entry's row."""
    return ", ".join(f"{short[key]}={_value(value)}" for key, value in entry["grid"].items())


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def direction(analysis: dict, metric: str) -> str:
    better = analysis["higher_is_better"].get(metric, True)
    return "higher is better" if better else "lower is better"


def number(value) -> float:
    """A metric value of sweep.json (null for undefined) as a float (NaN)."""
    return float("nan") if value is None else float(value)
