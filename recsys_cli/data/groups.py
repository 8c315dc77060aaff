"""Item groups of a recipe's [groups] table as boolean item masks over `ItemSide`, and a
group's membership per list position (the `discovery` pseudo-group depends on each user's
history)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.schema import GroupConfig
from recsys_cli.data.side import GENRES, ItemSide
from recsys_cli.errors import UserError

DISCOVERY = "discovery"


class GroupResolver:
    """The item masks of one set of group definitions (name -> `GroupConfig`), each computed on
    first use and kept."""

    def __init__(self, side: ItemSide, groups: dict[str, GroupConfig] | None = None) -> None:
        self.side = side
        self.groups = dict(groups or {})
        self._masks: dict[str, np.ndarray] = {}

    def for_groups(self, groups: dict[str, GroupConfig]) -> GroupResolver:
        """A resolver of other definitions over the same items (masks kept when they match)."""
        other = GroupResolver(self.side, groups)
        if other.groups == self.groups:
            other._masks = self._masks
        return other

    def mask(self, name: str) -> np.ndarray:
        """Boolean item mask of group `name` (see `GroupConfig`)."""
        if name not in self._masks:
            self._masks[name] = group_mask(self.side, name, self.groups[name])
        return self._masks[name]

    def check(self) -> None:
        """Resolve every group now: a missing or unsuitable column fails before any training."""
        for name in self.groups:
            self.mask(name)

    def membership(
        self, name: str, candidates: np.ndarray, history: sp.csr_matrix, needed_by: str
    ) -> np.ndarray:
        """(users x N) mask of candidates in a group; "discovery" = the candidate's artist is
        not among the artists of the user's history (unknown artists never count)."""
        valid = candidates >= 0
        safe = np.where(valid, candidates, 0)
        if name != DISCOVERY:
            return valid & self.mask(name)[safe]
        artist = self.side.attribute("artist", needed_by)
        known = artist >= 0
        one_hot = sp.csr_matrix(
            (np.ones(known.sum()), (np.flatnonzero(known), artist[known])),
            shape=(self.side.n_items, int(artist.max()) + 1 if known.any() else 1),
        )
        heard = sp.csr_matrix(history @ one_hot)
        rows = np.repeat(np.arange(len(candidates)), candidates.shape[1])
        listened = np.asarray(heard[rows, np.maximum(artist[safe].ravel(), 0)]).reshape(
            candidates.shape
        )
        return valid & (artist[safe] >= 0) & (listened == 0)


def group_mask(side: ItemSide, name: str, group: GroupConfig) -> np.ndarray:
    """Items of one group definition; errors name the group (`groups.NAME`)."""
    where = f"groups.{name}"
    if group.popularity_below is not None:
        if group.by is None:
            values = side.popularity
            return values < np.quantile(values, group.popularity_below)
        codes = side.attribute(group.by, f"{where}.by")
        known = codes >= 0
        per_value = np.bincount(codes[known], weights=side.popularity[known])
        threshold = np.quantile(per_value, group.popularity_below)
        return known & (per_value[np.maximum(codes, 0)] < threshold)
    if group.file is not None:
        path = Path(group.file)
        if not path.is_file():
            raise UserError(f"{where}.file: {path}: no such file")
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        listed = np.array([i for i in ids if i], dtype=object)
        return np.isin(side.item_ids.cast(pl.Utf8).to_numpy().astype(object), listed)
    column = side.column(group.column, where)
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
