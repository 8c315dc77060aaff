"""Rerankers: batched kernels that turn (users x N) candidates into (users x k) lists.

Every kernel takes `candidates`, an int32 (n_users, N) array of item indices sorted by
descending model score and -1 padded, and returns an int32 (n_users, k) array, -1 padded at the
end. A recipe step names a `Reranker` class (`rerank.base`) registered in `rerank.registry`; the
classes live in `rerank.steps` and call the kernels of this package's modules (mmr, dpp,
calibration, xquad, fairness, sequencing, quota, blend). Formulas and citations:
docs/rerankers.md.

This package imports no kernel itself, so reading a recipe (which imports the registry) loads
none.
"""
