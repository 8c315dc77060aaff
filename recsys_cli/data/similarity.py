"""Item vectors whose cosine is an item-item similarity (`similarity = ...` of mmr and dpp,
`ild[SIMILARITY]`): "genres", the multi-hot genre vectors, and "artist", one-hot artists
(similarity 1 for two items of the same artist, else 0), come from the item side data;
"factors" are learned: the item factors of one ALS (implicit, 32 factors, 15 iterations, the
recipe seed) fitted on the training matrix by the fit stage (`pipeline.fit.build_context`),
whatever models the recipe has, or loaded from a run that stored them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.data.side import GENRES, ItemSide
from recsys_cli.errors import UserError

FACTORS = "factors"
# The ALS behind similarity = "factors" (fixed: the similarity is part of the experiment).
ALS_PARAMS = {"factors": 32, "iterations": 15}


class ItemSimilarity:
    """The similarity source of one dataset: data-derived vectors on demand, learned factors
    once `fit` has run (shared by every recipe over the same data)."""

    def __init__(self, side: ItemSide, seed: int, factors: np.ndarray | None = None) -> None:
        self.side = side
        self.seed = seed
        self.factors = factors

    @property
    def fitted(self) -> bool:
        return self.factors is not None

    def fit(self, train: sp.csr_matrix) -> ItemSimilarity:
        """Learn the item factors from the training matrix with `seed` (once: a fitted source is
        kept)."""
        if self.factors is None:
            from recsys_cli.models.registry import create_model, model_params_class

            params = model_params_class("implicit_als")(**ALS_PARAMS)
            model = create_model("implicit_als", params, self.seed).fit(train)
            self.factors = np.ascontiguousarray(model.item_factors_, dtype=np.float64)
        return self

    def vectors(self, similarity: str, needed_by: str) -> np.ndarray:
        """The item vectors of `similarity` ("genres", "factors" or "artist")."""
        if similarity == GENRES:
            return self.side.genres(needed_by)
        if similarity == "artist":
            return self.side.one_hot("artist", needed_by)
        if self.factors is None:
            raise UserError(
                f'{needed_by}: similarity = "factors" reads ALS item factors, which were not '
                "fitted for this run (no variant or metric of its recipe uses them)"
            )
        return self.factors
