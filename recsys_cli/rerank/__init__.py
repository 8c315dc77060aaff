"""Rerankers: batched kernels that turn (users x N) candidates into (users x k) lists.

Every function takes `candidates`, an int32 (n_users, N) array of item indices sorted by
descending model score and -1 padded, and returns an int32 (n_users, k) array, -1 padded at the
end. Formulas and citations: docs/rerankers.md.
"""

from recsys_cli.rerank.blend import blend, gather, normalise
from recsys_cli.rerank.calibration import calibration, item_genre_distribution
from recsys_cli.rerank.dpp import dpp
from recsys_cli.rerank.fairness import fair_exposure, minimum_protected, prefix_quota_satisfied
from recsys_cli.rerank.mmr import mmr
from recsys_cli.rerank.quota import quota, quota_satisfied
from recsys_cli.rerank.sequencing import (
    provider_cap,
    provider_cap_satisfied,
    spacing,
    spacing_satisfied,
)
from recsys_cli.rerank.xquad import tail_preference, xquad

__all__ = [
    "blend",
    "calibration",
    "dpp",
    "fair_exposure",
    "gather",
    "item_genre_distribution",
    "minimum_protected",
    "mmr",
    "normalise",
    "prefix_quota_satisfied",
    "provider_cap",
    "quota",
    "quota_satisfied",
    "provider_cap_satisfied",
    "spacing",
    "spacing_satisfied",
    "tail_preference",
    "xquad",
]
