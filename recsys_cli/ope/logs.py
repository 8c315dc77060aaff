"""Logged feedback: rounds of a logging policy, each showing items at positions 1..L.

One round i has a context x_i (a combination of categorical features) and, for every logged
position l, the item a_il shown there, its logging propensity pi_0(a_il | x_i, l) (the marginal
probability that the logging policy put that item at that position) and the reward r_il (a click).
A round may log only some positions (the Open Bandit Dataset logs one per row, the position
being part of the context); slate estimators need every round to log all of 1..L.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.errors import DataError

CONTEXT_SEPARATOR = "\x1f"  # joins a round's feature values into one context key


@dataclass(frozen=True)
class LoggedFeedback:
    """Arrays over n rounds x L positions; `items[i, l] == -1` where round i logged nothing at l.

    `propensity` is 1 and `reward` 0 where nothing was logged, so masked cells drop out of every
    product. `context[i]` indexes `contexts` (feature values joined by CONTEXT_SEPARATOR);
    `item_ids` are the candidates every round chose from (original ids, sorted). `prefix`, when
    the logs carry it, is pi_0(a_i1..a_il | x_i), the probability of the logged items at
    positions 1..l together; without it slate estimators take the product of the marginals
    (a logging policy that fills positions independently).
    """

    items: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    context: np.ndarray
    contexts: tuple[str, ...]
    item_ids: np.ndarray
    name: str
    source: str
    checksum: str
    prefix: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray:
        return self.items >= 0

    @property
    def n_rounds(self) -> int:
        return self.items.shape[0]

    @property
    def n_positions(self) -> int:
        return self.items.shape[1]

    @property
    def n_candidates(self) -> int:
        return len(self.item_ids)

    @property
    def complete(self) -> bool:
        """Whether every round logs every position 1..L (a full slate)."""
        return bool(self.mask.all())

    def on_policy_value(self) -> float:
        """The logging policy's own value: mean over rounds of the summed logged rewards."""
        return float(self.reward.sum() / self.n_rounds)

    def summary(self) -> dict:
        mask = self.mask
        return {
            "name": self.name,
            "source": self.source,
            "checksum": self.checksum,
            "rounds": self.n_rounds,
            "positions": self.n_positions,
            "logged_per_position": mask.sum(axis=0).tolist(),
            "candidates": self.n_candidates,
            "contexts": len(self.contexts),
            "reward_sum": float(self.reward.sum()),
            "on_policy_value": self.on_policy_value(),
        }


def context_keys(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.Series:
    """One string per row joining its values of `columns` ("" when there are none)."""
    if not columns:
        return pl.Series("context", [""] * frame.height, dtype=pl.Utf8)
    return frame.select(
        pl.concat_str(
            [pl.col(c).cast(pl.Utf8).fill_null("") for c in columns], separator=CONTEXT_SEPARATOR
        )
    ).to_series()


def from_rows(
    frame: pl.DataFrame,
    *,
    item_ids: np.ndarray,
    positions: int | None,
    name: str,
    source: str,
    checksum: str,
    where: str,
) -> LoggedFeedback:
    """Logged feedback from one row per (round, position): columns `round` (int codes), `position`
    (1-based), `item` (index into `item_ids`), `propensity`, `reward`, `context` (key) and
    optionally `prefix`. Positions must lie in 1..`positions` (default: the largest logged one)
    and appear at most once per round; `where` names the source in errors."""
    position = frame["position"]
    if (position < 1).any():
        raise DataError(f"{where}: position {int(position.min())}: positions are 1-based")
    largest = int(position.max())
    n_positions = positions if positions is not None else largest
    if largest > n_positions:
        raise DataError(
            f"{where}: the logs show position {largest}, but ope.positions = {n_positions}; "
            "set ope.positions to the slate length"
        )
    repeated = frame.select("round", "position").is_duplicated()
    if repeated.any():
        row = int(repeated.arg_true()[0])
        raise DataError(
            f"{where}: data row {row + 1}: position {int(position[row])} is logged twice in one "
            "round; each round logs each position at most once"
        )
    rounds, first = np.unique(frame["round"].to_numpy(), return_index=True)
    r = np.searchsorted(rounds, frame["round"].to_numpy())
    p = position.to_numpy().astype(np.int64) - 1
    shape = (len(rounds), n_positions)
    items = np.full(shape, -1, dtype=np.int32)
    propensity = np.ones(shape)
    reward = np.zeros(shape)
    items[r, p] = frame["item"].to_numpy()
    propensity[r, p] = frame["propensity"].to_numpy()
    reward[r, p] = frame["reward"].to_numpy()
    prefix = None
    if "prefix" in frame.columns:
        prefix = np.ones(shape)
        prefix[r, p] = frame["prefix"].to_numpy()
    keys = frame["context"].to_numpy()[first]  # a round's context: that of its first row
    contexts, context = np.unique(keys, return_inverse=True)
    return LoggedFeedback(
        items=items,
        propensity=propensity,
        reward=reward,
        context=context.astype(np.int32),
        contexts=tuple(str(c) for c in contexts),
        item_ids=item_ids,
        name=name,
        source=source,
        checksum=checksum,
        prefix=prefix,
    )


def check_probabilities(column: pl.Series, where: str) -> pl.Series:
    """Propensities as Float64, each in (0, 1]; one clear error naming the first bad row."""
    if not column.dtype.is_numeric():
        raise DataError(f"{where} holds {column.dtype} values; propensities are numbers in (0, 1]")
    values = column.cast(pl.Float64)
    bad = (~values.is_finite() | (values <= 0) | (values > 1)).fill_null(True)
    if bad.any():
        row = int(bad.arg_true()[0])
        raise DataError(
            f"{where}: {values[row]!r} in data row {row + 1} ({int(bad.sum()):,} such rows): a "
            "propensity is the logging policy's probability of the logged item, in (0, 1] "
            "(a zero one cannot be reweighted)"
        )
    return values


def check_rewards(column: pl.Series, where: str) -> pl.Series:
    """Rewards as Float64; missing, NaN and infinite ones are errors."""
    if not column.dtype.is_numeric():
        raise DataError(f"{where} holds {column.dtype} values; rewards are numbers (a click: 0/1)")
    values = column.cast(pl.Float64)
    bad = (~values.is_finite()).fill_null(True)
    if bad.any():
        row = int(bad.arg_true()[0])
        raise DataError(f"{where}: {values[row]!r} in data row {row + 1}: rewards must be finite")
    return values


def load_file(
    path: Path,
    separator: str,
    columns,
    positions: int | None,
    name: str,
    key: str = "ope.data",
) -> LoggedFeedback:
    """A local CSV or Parquet file of logged rounds, one row per (round, position); `columns`
    (an `ope.config.LogColumns` at recipe key `key`) maps its column names. Without a round
    column every row is its own round; without a position column every row is position 1."""
    from recsys_cli.data.embedded import sha256_of
    from recsys_cli.data.sources import read_table

    table = read_table(path, separator)
    wanted = {
        key: getattr(columns, key)
        for key in ("round", "position", "item", "propensity", "reward", "prefix")
        if getattr(columns, key) is not None
    }
    for field, column in [*wanted.items(), *(("context", c) for c in columns.context)]:
        if column not in table.columns:
            shown = ", ".join(table.columns[:12]) + (", ..." if table.width > 12 else "")
            raise DataError(
                f"{path}: no column {column!r} ({key}.columns.{field}); the file has: {shown}"
            )

    def where(field: str) -> str:
        return f"{path}: column {wanted[field]!r} ({key}.columns.{field})"

    if table.height == 0:
        raise DataError(f"{path}: no rows")
    items = table[wanted["item"]]
    if items.null_count():
        raise DataError(f"{where('item')}: {items.null_count():,} rows without an item")
    item_ids = np.unique(items.to_numpy())
    frame = pl.DataFrame(
        {
            "round": (
                table[wanted["round"]].rank("dense").cast(pl.Int64)
                if "round" in wanted
                else pl.int_range(table.height, eager=True)
            ),
            "position": _positions(table, wanted, where),
            "item": np.searchsorted(item_ids, items.to_numpy()).astype(np.int32),
            "propensity": check_probabilities(table[wanted["propensity"]], where("propensity")),
            "reward": check_rewards(table[wanted["reward"]], where("reward")),
            "context": context_keys(table, columns.context),
            **(
                {"prefix": check_probabilities(table[wanted["prefix"]], where("prefix"))}
                if "prefix" in wanted
                else {}
            ),
        }
    )
    return from_rows(
        frame,
        item_ids=item_ids,
        positions=positions,
        name=name,
        source=str(path),
        checksum="sha256:" + sha256_of(path),
        where=str(path),
    )


def _positions(table: pl.DataFrame, wanted: dict, where) -> pl.Series:
    if "position" not in wanted:
        return pl.Series("position", np.ones(table.height, dtype=np.int64))
    column = table[wanted["position"]]
    if not column.dtype.is_integer():
        raise DataError(f"{where('position')} holds {column.dtype} values; positions are 1, 2, ...")
    if column.null_count():
        raise DataError(f"{where('position')}: {column.null_count():,} rows without a position")
    return column.cast(pl.Int64)
