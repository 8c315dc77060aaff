"""The rerank stage: what rerankers read (`RerankContext`) and rerank chains over candidates.

Chain semantics: every step receives (users x N) candidates and the ORIGINAL model scores of those
items (gathered by item, so each step sees relevance, not the previous step's order). Steps before
the last reorder the whole list (k = N); the last emits the variant's `length` items.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from numba import njit

from recsys_cli.config.schema import Recipe, VariantConfig
from recsys_cli.data.groups import GroupResolver
from recsys_cli.data.side import ItemSide
from recsys_cli.data.similarity import ItemSimilarity
from recsys_cli.metrics import required_column
from recsys_cli.rerank.registry import reranker_class


@dataclass(frozen=True)
class RerankContext:
    """What a run's rerankers (and metrics beyond accuracy) read about the items: the item side
    data of the prepared dataset (`side`), the recipe's groups over it (`groups`) and the item
    similarity source (`similarity`, its learned factors fitted by the fit stage). `for_recipe`
    swaps the groups; side data and similarity are shared."""

    side: ItemSide
    groups: GroupResolver
    similarity: ItemSimilarity

    @classmethod
    def from_prepared(cls, data, recipe: Recipe) -> RerankContext:
        """From `pipeline.prepare.Prepared` (popularity from the training matrix only), with
        `recipe`'s groups; the learned factors are not fitted here (`pipeline.fit`)."""
        return cls.of(ItemSide.from_prepared(data), recipe)

    @classmethod
    def of(cls, side: ItemSide, recipe: Recipe, factors: np.ndarray | None = None):
        """Over `side` with `recipe`'s groups and, where given, learned factors (a stored run's)."""
        similarity = ItemSimilarity(side, recipe.seed, factors)
        return cls(side, GroupResolver(side, recipe.groups), similarity)

    def for_recipe(self, recipe: Recipe) -> RerankContext:
        """The same data with another recipe's groups (masks kept when the groups match)."""
        return dataclasses.replace(self, groups=self.groups.for_groups(dict(recipe.groups)))

    @property
    def popularity(self) -> np.ndarray:
        return self.side.popularity

    @property
    def n_train_users(self) -> int:
        return self.side.n_train_users

    @property
    def items(self) -> pl.DataFrame:
        return self.side.items

    @property
    def n_items(self) -> int:
        return self.side.n_items

    def embeddings(self, similarity: str, needed_by: str) -> np.ndarray:
        """Item vectors whose cosine is `similarity` (see `data.similarity`)."""
        return self.similarity.vectors(similarity, needed_by)

    def tail(self, head_share: float = 0.8) -> np.ndarray:
        """Long-tail mask: items outside the head covering head_share of training interactions."""
        from recsys_cli.metrics.beyond_accuracy import head_tail_split

        return self.side.cached(
            ("tail", head_share), lambda: head_tail_split(self.side.popularity, head_share)
        )


def check_columns(ctx: RerankContext, recipe: Recipe) -> None:
    """Fail before any training when a metric, group or step needs an item column the data lacks."""
    for metric in recipe.eval.metrics:
        if required_column(metric):
            ctx.side.column(required_column(metric), f"metric {metric!r}")
    ctx.groups.check()
    for v, variant in enumerate(recipe.variants):
        for s, step in enumerate(variant.chain):
            where = f"variants[{v}].chain[{s}] ({step.reranker})"
            for column in reranker_class(step.reranker)(step.params).columns():
                ctx.side.column(column, where)


def gather_scores(candidates: np.ndarray, scores: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The model score of each chosen item, looked up by item in the user's candidate row.

    chosen: (n_users, m) items from the candidates of the same row, -1 padded; padding gets -inf.
    One compiled pass: each chosen item is found in its own row (the first position holding it).
    """
    out = np.empty(chosen.shape, dtype=scores.dtype)
    _gather_rows(
        np.ascontiguousarray(candidates),
        np.ascontiguousarray(scores),
        np.ascontiguousarray(chosen),
        out,
    )
    return out


@njit(cache=True)
def _gather_rows(candidates, scores, chosen, out):  # pragma: no cover - compiled
    for u in range(chosen.shape[0]):
        for t in range(chosen.shape[1]):
            item = chosen[u, t]
            value = -np.inf
            if item >= 0:
                for p in range(candidates.shape[1]):
                    if candidates[u, p] == item:
                        value = scores[u, p]
                        break
            out[u, t] = value


def apply_step(
    ctx: RerankContext,
    reranker: str,
    params,
    candidates: np.ndarray,
    scores: np.ndarray,
    history: sp.csr_matrix,
    k: int,
) -> np.ndarray:
    """Run one registered reranker on (users x N) candidates; returns int32 (users x k)."""
    items = reranker_class(reranker)(params).apply(ctx, candidates, scores, history, k)
    if items.shape != (len(candidates), k):
        raise ValueError(
            f"reranker {reranker!r} returned shape {items.shape}, expected {(len(candidates), k)}"
        )
    return np.ascontiguousarray(items, dtype=np.int32)


def apply_variant(
    ctx: RerankContext,
    variant: VariantConfig,
    candidates: np.ndarray,
    scores: np.ndarray,
    history: sp.csr_matrix,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a variant's chain; returns (items int32 (users x length), their model scores).

    Rows of `candidates`, `scores` and `history` are the same users. Intermediate steps reorder the
    full list (k = N); the last step emits `variant.length` items.
    """
    items = np.ascontiguousarray(candidates, dtype=np.int32)
    current = np.where(items >= 0, scores, -np.inf).astype(scores.dtype, copy=False)
    n = items.shape[1]
    for s, step in enumerate(variant.chain):
        last = s == len(variant.chain) - 1
        k = variant.length if last else n
        items = apply_step(ctx, step.reranker, step.params, items, current, history, k)
        current = gather_scores(candidates, scores, items)
    return items, current
