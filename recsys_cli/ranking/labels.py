"""Multi-objective labels: relevance plus weighted business terms, as LambdaMART gains.

gain(u, i) = rel + sum_k w_k t_k (apply_to = "all") or rel * (1 + sum_k w_k t_k) ("relevant"),
rel = 1 when (u, i) is in the label window, t_k in {0, 1}: discovery (the item's artist is new to
the user), group:NAME (the item is in that group). LightGBM's lambdarank takes integer labels and
a `label_gain` table (Burges, MSR-TR-2010-82: DCG with gain label_gain[l]); the distinct gains,
sorted, are that table and each pair's label is its gain's position in it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.config.schema import RankerLabels
from recsys_cli.ranking.pool import Pool
from recsys_cli.ranking.sparse import csr_values


def relevance(pool: Pool, truth: sp.csr_matrix) -> np.ndarray:
    """1.0 where the pooled (row, item) is a pair of `truth` (rows aligned with the pool's)."""
    return (csr_values(truth, pool.rows, pool.items) > 0).astype(np.float64)


def gains(rel: np.ndarray, terms: dict[str, np.ndarray], config: RankerLabels) -> np.ndarray:
    """Per pooled row, the gain of the module docstring; `terms` holds t_k per weighted term
    (NaN, an unknown artist, counts as 0)."""
    bonus = np.zeros_like(rel)
    for name, weight in config.weights.items():
        bonus += weight * np.nan_to_num(terms[name], nan=0.0)
    return rel * (1.0 + bonus) if config.apply_to == "relevant" else rel + bonus


def integer_labels(values: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """(int32 label per row, label_gain): label = position of the row's gain among the sorted
    distinct gains, label_gain = those gains, so label_gain[label] is the row's gain."""
    levels, labels = np.unique(values, return_inverse=True)
    return labels.astype(np.int32), [float(v) for v in levels]


def informative(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per user row: True when its pooled gains are not all equal. A list of equal gains has no
    pair to order and carries no lambdarank gradient; such users are left out of training."""
    sizes = np.diff(offsets)
    starts = offsets[:-1][sizes > 0]
    out = np.zeros(len(sizes), dtype=bool)
    out[sizes > 0] = np.maximum.reduceat(values, starts) > np.minimum.reduceat(values, starts)
    return out
