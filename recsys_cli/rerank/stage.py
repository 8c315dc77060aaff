"""The rerank stage: item side data for a run (`RerankContext`) and rerank chains over candidates.

Chain semantics: every step receives (users x N) candidates and the ORIGINAL model scores of those
items (gathered by item, so each step sees relevance, not the previous step's order). Steps before
the last reorder the whole list (k = N); the last emits the variant's `length` items.
Similarity "genres" is the cosine of the items' multi-hot genre vectors; "factors" is the cosine
of the item factors of one ALS (implicit, 32 factors, 15 iterations, the recipe seed) fitted once
per context on the training matrix, whatever models the recipe has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp
from numba import njit

from recsys_cli.config.schema import GroupConfig, Recipe, VariantConfig
from recsys_cli.errors import UserError
from recsys_cli.metrics import required_column
from recsys_cli.rerank.base import GENRES
from recsys_cli.rerank.registry import reranker_class

# One-hot similarity vectors are dense: at most this many cells (float32: 1 GiB).
MAX_ONE_HOT_CELLS = 1 << 28


@dataclass
class RerankContext:
    """Per-item side data of one prepared dataset, in item index space, built once per run.

    popularity: training users per item (fit matrix, nonzeros per column); n_train_users: users
    with at least one training interaction (novelty's denominator); items: the items table
    in index order; history: model input (users x items CSR, all users) for profiles and
    calibration. Genre matrix, attribute codes, ALS factors and groups are computed on first use.
    """

    popularity: np.ndarray
    n_train_users: int
    items: pl.DataFrame
    item_ids: pl.Series
    user_ids: pl.Series
    history: sp.csr_matrix
    fit: sp.csr_matrix
    seed: int
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_prepared(cls, data, recipe: Recipe) -> RerankContext:
        """From `experiment.Prepared`: popularity from the training (fit) matrix only."""
        fit = data.fit.tocsr()
        popularity = np.bincount(fit.indices, minlength=fit.shape[1]).astype(np.float64)
        return cls(
            popularity=popularity,
            n_train_users=int((np.diff(fit.indptr) > 0).sum()),
            items=data.indexed.items,
            item_ids=data.indexed.item_ids,
            user_ids=data.indexed.user_ids,
            history=data.model_input.tocsr(),
            fit=fit,
            seed=recipe.seed,
            groups=dict(recipe.groups),
        )

    def for_recipe(self, recipe: Recipe) -> RerankContext:
        """The same data with another recipe's groups (caches of data-only values are shared)."""
        same = dict(recipe.groups) == self.groups
        shared = self._cache if same else {k: v for k, v in self._cache.items() if k[0] != "group"}
        return RerankContext(
            self.popularity,
            self.n_train_users,
            self.items,
            self.item_ids,
            self.user_ids,
            self.history,
            self.fit,
            self.seed,
            dict(recipe.groups),
            shared,
        )

    @property
    def n_items(self) -> int:
        return self.popularity.size

    def _cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def column(self, name: str, needed_by: str) -> pl.Series:
        """An items-table column; one clear error naming who needs it when the data lacks it."""
        if name not in self.items.columns or self.items[name].null_count() == self.items.height:
            have = [c for c in self.items.columns if c != "item"]
            raise UserError(
                f"{needed_by} needs the item column {name!r}, which this dataset does not have "
                f"(item columns: {', '.join(have) or 'none'}; a local dataset can add them with "
                "dataset.items_path)"
            )
        return self.items[name]

    def genres(self, needed_by: str = "genres") -> np.ndarray:
        """Multi-hot (items x genres) float64 matrix; a string column is split on '|'."""

        def make():
            column = self.column(GENRES, needed_by)
            if column.dtype == pl.Utf8:
                column = column.str.split("|")
            exploded = pl.DataFrame({"i": np.arange(self.n_items), "g": column}).explode("g")
            exploded = exploded.filter(pl.col("g").is_not_null() & (pl.col("g") != ""))
            names = exploded["g"].unique().sort()
            codes = exploded.join(pl.DataFrame({"g": names, "c": np.arange(len(names))}), on="g")
            matrix = np.zeros((self.n_items, max(len(names), 1)), dtype=np.float64)
            matrix[codes["i"].to_numpy(), codes["c"].to_numpy()] = 1.0
            return matrix

        return self._cached(("genres",), make)

    def attribute(self, name: str, needed_by: str) -> np.ndarray:
        """int64 codes of an item column (-1 where null); a list column uses its first value."""

        def make():
            column = self.column(name, needed_by)
            if name == GENRES and column.dtype == pl.Utf8:
                column = column.str.split("|")
            if isinstance(column.dtype, pl.List):
                column = column.list.first()
            column = column.cast(pl.Utf8)
            names = column.drop_nulls().unique().sort()
            codes = pl.DataFrame({"v": column}).join(
                pl.DataFrame({"v": names, "c": np.arange(len(names), dtype=np.int64)}),
                on="v",
                how="left",
                maintain_order="left",
            )
            return codes["c"].fill_null(-1).to_numpy().astype(np.int64)

        return self._cached(("attribute", name), make)

    def embeddings(self, similarity: str, needed_by: str) -> np.ndarray:
        """Item vectors whose cosine is the similarity: genre multi-hot, ALS item factors, or
        one-hot artist (similarity 1 for two items of the same artist, else 0)."""
        if similarity == "genres":
            return self.genres(needed_by)
        if similarity == "artist":
            return self._cached(("artist-one-hot",), lambda: self._one_hot("artist", needed_by))

        def make():
            from recsys_cli.models.registry import create_model, model_params_class

            params = model_params_class("implicit_als")(factors=32, iterations=15)
            model = create_model("implicit_als", params, self.seed).fit(self.fit)
            return np.ascontiguousarray(model.item_factors_, dtype=np.float64)

        return self._cached(("factors",), make)

    def _one_hot(self, name: str, needed_by: str) -> np.ndarray:
        codes = self.attribute(name, needed_by)
        width = int(codes.max()) + 1 if len(codes) else 0
        if self.n_items * max(width, 1) > MAX_ONE_HOT_CELLS:
            raise UserError(
                f"{needed_by}: similarity = {name!r} needs a {self.n_items:,} x {width:,} one-hot "
                f"matrix, over the {MAX_ONE_HOT_CELLS:,}-cell limit; use a provider_cap or "
                "spacing step on that column instead"
            )
        matrix = np.zeros((self.n_items, max(width, 1)), dtype=np.float32)
        known = codes >= 0
        matrix[np.flatnonzero(known), codes[known]] = 1.0
        return matrix

    def membership(
        self, name: str, candidates: np.ndarray, history: sp.csr_matrix, needed_by: str
    ) -> np.ndarray:
        """(users x N) mask of candidates in a group; "discovery" = the candidate's artist is
        not among the artists of the user's history (unknown artists never count)."""
        valid = candidates >= 0
        safe = np.where(valid, candidates, 0)
        if name != "discovery":
            return valid & self.group(name)[safe]
        artist = self.attribute("artist", needed_by)
        known = artist >= 0
        one_hot = sp.csr_matrix(
            (np.ones(known.sum()), (np.flatnonzero(known), artist[known])),
            shape=(self.n_items, int(artist.max()) + 1 if known.any() else 1),
        )
        heard = sp.csr_matrix(history @ one_hot)
        rows = np.repeat(np.arange(len(candidates)), candidates.shape[1])
        listened = np.asarray(heard[rows, np.maximum(artist[safe].ravel(), 0)]).reshape(
            candidates.shape
        )
        return valid & (artist[safe] >= 0) & (listened == 0)

    def group(self, name: str) -> np.ndarray:
        """Boolean item mask of a recipe group (see `GroupConfig`)."""
        return self._cached(("group", name), lambda: group_mask(self, name, self.groups[name]))

    def tail(self, head_share: float = 0.8) -> np.ndarray:
        """Long-tail mask: items outside the head covering head_share of training interactions."""
        from recsys_cli.metrics.beyond_accuracy import head_tail_split

        return self._cached(
            ("tail", head_share), lambda: head_tail_split(self.popularity, head_share)
        )

    def novelty_values(self) -> np.ndarray:
        """-log2 p(i), p(i) = training users of i / training users (an unseen item counts as one)."""
        return -np.log2(np.maximum(self.popularity, 1.0) / self.n_train_users)

    def rows(self, users: pl.Series) -> np.ndarray:
        """Index rows of original user ids (must all be known)."""
        frame = pl.DataFrame({"user": users}).join(
            pl.DataFrame({"user": self.user_ids, "u": np.arange(len(self.user_ids))}),
            on="user",
            how="left",
            maintain_order="left",
        )
        if frame["u"].null_count():
            raise UserError("stored users are missing from the re-prepared dataset")
        return frame["u"].to_numpy()

    def item_index(self, items: pl.Series) -> np.ndarray:
        """Index of original item ids; -1 where unknown."""
        frame = pl.DataFrame({"item": items}).join(
            pl.DataFrame({"item": self.item_ids, "i": np.arange(len(self.item_ids))}),
            on="item",
            how="left",
            maintain_order="left",
        )
        return frame["i"].fill_null(-1).to_numpy().astype(np.int64)


def group_mask(ctx: RerankContext, name: str, group: GroupConfig) -> np.ndarray:
    """Items of one group definition; errors name the group (`groups.NAME`)."""
    where = f"groups.{name}"
    if group.popularity_below is not None:
        if group.by is None:
            values = ctx.popularity
            return values < np.quantile(values, group.popularity_below)
        codes = ctx.attribute(group.by, f"{where}.by")
        known = codes >= 0
        per_value = np.bincount(codes[known], weights=ctx.popularity[known])
        threshold = np.quantile(per_value, group.popularity_below)
        return known & (per_value[np.maximum(codes, 0)] < threshold)
    if group.file is not None:
        path = Path(group.file)
        if not path.is_file():
            raise UserError(f"{where}.file: {path}: no such file")
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        listed = np.array([i for i in ids if i], dtype=object)
        return np.isin(ctx.item_ids.cast(pl.Utf8).to_numpy().astype(object), listed)
    column = ctx.column(group.column, where)
    if group.contains is not None:
        if column.dtype == pl.Utf8 and group.column == GENRES:
            column = column.str.split("|")
        if isinstance(column.dtype, pl.List):
            hit = column.cast(pl.List(pl.Utf8)).list.contains(group.contains)
        else:
            hit = column.cast(pl.Utf8).str.contains(group.contains, literal=True)
    elif group.equals is not None:
        hit = column.cast(pl.Utf8) == str(group.equals)
    else:
        try:
            numeric = column.cast(pl.Float64)
        except pl.exceptions.InvalidOperationError:
            raise UserError(f"{where}: column {group.column!r} is not numeric") from None
        below = group.at_least is None
        hit = numeric <= group.at_most if below else numeric >= group.at_least
    return hit.fill_null(False).to_numpy().astype(bool)


def check_columns(ctx: RerankContext, recipe: Recipe) -> None:
    """Fail before any training when a metric, group or step needs an item column the data lacks."""
    for metric in recipe.eval.metrics:
        if required_column(metric):
            ctx.column(required_column(metric), f"metric {metric!r}")
    for name in recipe.groups:
        ctx.group(name)
    for v, variant in enumerate(recipe.variants):
        for s, step in enumerate(variant.chain):
            where = f"variants[{v}].chain[{s}] ({step.reranker})"
            for column in reranker_class(step.reranker)(step.params).columns():
                ctx.column(column, where)


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
