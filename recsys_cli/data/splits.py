"""Evaluation scenarios: global temporal (default), leave-last-n, random ratio, strong generalization.

Each splitter returns named parts of the indexed interactions; `assemble` turns them into what
the models are fitted on, the extra input given at evaluation time and the held-out truth.
Ji et al., TOIS 2023 (leave-last-one-out leaks the future); Liang et al., WWW 2018 and Steck,
WWW 2019 (strong generalization with fold-in).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

from recsys_cli.config.schema import SplitConfig
from recsys_cli.errors import DataError


@dataclass(frozen=True)
class Split:
    """fit: training interactions; extra_input: fold-in input of held-out users (empty for other
    kinds); truth: held-out targets. `notes` carries counts for the run report."""

    fit: pl.DataFrame
    extra_input: pl.DataFrame
    truth: pl.DataFrame
    notes: dict[str, int | str]

    def fingerprint(self) -> str:
        """sha256 over the sorted (user, item) pairs of every part: equal iff the split is equal."""
        digest = hashlib.sha256()
        for part in (self.fit, self.extra_input, self.truth):
            # One int64 key (user, item) sorts as the pair does, faster than a two-column sort.
            key = pl.col("user_idx").cast(pl.Int64) * 2**32 + pl.col("item_idx").cast(pl.Int64)
            keys = part.select(key.sort()).to_series().to_numpy()
            digest.update((keys >> 32).tobytes())
            digest.update((keys & 0xFFFFFFFF).tobytes())
            digest.update(b"|")
        return "sha256:" + digest.hexdigest()


def split(frame: pl.DataFrame | pl.LazyFrame, config: SplitConfig, seed: int) -> Split:
    """Split indexed interactions as the config says and assemble fit / extra input / truth.

    `frame` may be a scan (`index_dataset` of a scanned dataset): a temporal split reads it in
    streaming passes (its cut points, then each part), never holding more than the parts; the
    per-user splits order all rows, so they collect it once."""
    notes: dict[str, int | str] = {}
    parts = _SPLITTERS[config.kind](frame.lazy(), config, np.random.default_rng(seed), notes)
    return assemble(parts, config, notes)


def _collect(frame: pl.LazyFrame) -> pl.DataFrame:
    return frame.collect(engine="streaming")


def assemble(
    parts: dict[str, pl.DataFrame], config: SplitConfig, notes: dict[str, int | str] | None = None
) -> Split:
    """Fit = train (+ validation when test is evaluated and `train_on_validation`); notes gain
    every part's size."""
    on_validation = config.evaluate_on == "validation"
    target = "validation" if on_validation else "test"
    fit = [parts["train"]]
    if not on_validation and "validation" in parts and config.train_on_validation:
        fit += [parts["validation"], parts.get("validation_input", parts["train"].clear())]
    empty = parts["train"].clear()
    extra = parts.get(f"{target}_input", empty)
    notes = {"kind": config.kind, "evaluated_part": target, **(notes or {})}
    notes.update({f"{name}_interactions": part.height for name, part in parts.items()})
    fit_frame = pl.concat(fit)
    notes["fit_after_first_heldout"] = _future_in_training(fit_frame, parts[target])
    return Split(fit_frame, extra, parts[target], notes)


def _future_in_training(fit: pl.DataFrame, truth: pl.DataFrame) -> int:
    """Training interactions later than the earliest held-out one: the leak that per-user splits
    (leave-last, random) let in and a global temporal cut cannot (Ji et al., TOIS 2023)."""
    first = truth["timestamp"].min()
    if first is None:
        return 0
    return int((fit["timestamp"] > first).sum())


def _temporal(
    frame: pl.LazyFrame, config: SplitConfig, rng, notes: dict
) -> dict[str, pl.DataFrame]:
    """Global cut: test = t >= t_test, validation = t_val <= t < t_test, train = t < t_val."""
    ts = pl.col("timestamp")
    stats = _collect(
        frame.select(
            ts.null_count().alias("missing"),
            pl.len().alias("rows"),
            ts.quantile(1.0 - config.test, "higher").alias("t_test"),
        )
    ).row(0, named=True)
    _require_timestamps(stats["missing"], stats["rows"], "temporal")
    t_test = _epoch_seconds(config.cutoff) if config.cutoff is not None else int(stats["t_test"])
    share = 1.0 - config.validation / (1.0 - config.test)
    t_val = ts.quantile(share, "higher") if config.validation > 0 else pl.lit(t_test)
    before = _collect(
        frame.filter(ts < t_test).select(pl.len().alias("rows"), t_val.alias("timestamp"))
    ).row(0, named=True)
    if before["rows"] == 0:
        raise DataError(f"temporal cut at {t_test}: no interaction lies before it")
    t_val = int(before["timestamp"])
    cuts = {"train": ts < t_val, "test": ts >= t_test}
    if config.validation > 0:
        cuts["validation"] = (ts >= t_val) & (ts < t_test)
    parts = {name: _collect(frame.filter(cut)) for name, cut in cuts.items()}
    if parts["test"].height == 0 or parts["train"].height == 0:
        raise DataError(f"temporal cut at {t_test} leaves an empty train or test part")
    if config.new_users == "fold_in":
        for name, cut in (("validation", t_val), ("test", t_test)):
            if name in parts:
                known = _collect(frame.filter(ts < cut).select(pl.col("user_idx").unique()))
                parts[f"{name}_input"], parts[name] = _fold_in_new_users(
                    parts[name], known["user_idx"], config.fold_in, rng, notes, name
                )
    return parts


def _fold_in_new_users(
    part: pl.DataFrame, known: pl.Series, fold_in: float, rng, notes: dict, name: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(input, targets) of a held-out part: users with no interaction before the cut (not in
    `known`) give their earliest `fold_in` share (at least one; time ties in seeded random
    order) as input, as a production system folds in a new user; everyone else keeps all their
    held-out targets."""
    new = pl.Series(~np.isin(part["user_idx"].to_numpy(), known.to_numpy()))
    arrivals = part.filter(new)
    ordered = _collect(
        _position_from_end(arrivals.lazy(), arrivals.height, rng).with_columns(
            pl.len().over("user_idx").alias("_len")
        )
    )
    from_start = pl.col("_len") - 1 - pl.col("_pos")
    is_input = from_start < (pl.col("_len") * fold_in).round().clip(lower_bound=1)
    given = ordered.filter(is_input).drop("_pos", "_len")
    targets = ordered.filter(~is_input).drop("_pos", "_len")
    folded = targets["user_idx"].n_unique()
    notes[f"{name}_new_users_folded_in"] = folded
    notes[f"{name}_new_users_input_only"] = given["user_idx"].n_unique() - folded
    return given, pl.concat([part.filter(~new), targets])


def _require_timestamps(missing: int, rows: int, kind: str) -> None:
    if missing:
        raise DataError(
            f"split.kind = {kind!r} orders interactions in time, but {missing:,} of "
            f"{rows:,} have no timestamp; use split.kind = 'random' or 'users'"
        )


def _epoch_seconds(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"split.cutoff: {text!r} is not an ISO date like 1998-03-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _count(frame: pl.LazyFrame) -> tuple[int, int]:
    """(rows without a timestamp, rows)."""
    ts = pl.col("timestamp")
    return _collect(frame.select(ts.null_count(), pl.len())).row(0)


def _position_from_end(frame: pl.LazyFrame, n_rows: int, rng) -> pl.LazyFrame:
    """Each interaction's position counted from the user's latest (0 = last). Interactions with
    equal timestamps are ordered at random (seeded), not by item index, which would hold out the
    larger (on most datasets, less popular) item ids systematically."""
    canonical = frame.sort("user_idx", "item_idx", "timestamp", maintain_order=True)
    return (
        canonical.with_columns(pl.Series("_key", rng.permutation(n_rows)))
        .sort("user_idx", "timestamp", "_key", nulls_last=False)
        .with_columns(
            (pl.len().over("user_idx") - 1 - pl.int_range(pl.len()).over("user_idx")).alias("_pos")
        )
        .drop("_key")
    )


def _tied_at(ranked: pl.DataFrame, eligible: pl.Expr, position: int) -> int:
    """Users whose interactions at positions `position - 1` and `position` (from the end) share a
    timestamp: for them the cut fell inside a tie and the random order decided."""
    edge = ranked.filter(eligible & pl.col("_pos").is_in([position - 1, position]))
    per_user = edge.group_by("user_idx").agg(
        pl.len().alias("rows"), pl.col("timestamp").n_unique().alias("times")
    )
    return per_user.filter((pl.col("rows") == 2) & (pl.col("times") == 1)).height


def _leave_last(
    frame: pl.LazyFrame, config: SplitConfig, rng, notes: dict
) -> dict[str, pl.DataFrame]:
    """Per user: the last n interactions are test, the n before validation; users with no more
    than n (or 2n) interactions stay whole in train. Ties in time are cut in a seeded random
    order; notes count the users whose cut fell inside a tie."""
    missing, n_rows = _count(frame)
    _require_timestamps(missing, n_rows, "leave_last")
    held = config.n * (2 if config.validation > 0 else 1)
    ranked = _collect(
        _position_from_end(frame, n_rows, rng).with_columns(pl.len().over("user_idx").alias("_len"))
    )
    eligible = pl.col("_len") > held
    pos = pl.col("_pos")
    notes["users_cut_inside_a_time_tie"] = _tied_at(ranked, eligible, config.n)
    if config.validation > 0:
        notes["users_validation_cut_inside_a_time_tie"] = _tied_at(ranked, eligible, held)
    parts = {
        "test": ranked.filter(eligible & (pos < config.n)),
        "train": ranked.filter(~eligible | (pos >= held)),
    }
    if config.validation > 0:
        parts["validation"] = ranked.filter(eligible & (pos >= config.n) & (pos < held))
    return {name: part.drop("_pos", "_len") for name, part in parts.items()}


def _random_order(frame: pl.LazyFrame, n_rows: int, rng, by: str) -> pl.DataFrame:
    """Shuffle rows reproducibly and number them within `by` (0-based) with the group size."""
    keys = rng.permutation(n_rows)
    return _collect(
        frame.sort("user_idx", "item_idx", "timestamp", maintain_order=True)
        .with_columns(pl.Series("_key", keys))
        .sort(by, "_key")
        .with_columns(
            pl.int_range(pl.len()).over(by).alias("_pos"), pl.len().over(by).alias("_len")
        )
    )


def _random(frame: pl.LazyFrame, config: SplitConfig, rng, notes: dict) -> dict[str, pl.DataFrame]:
    """Per user, a random `test` share (rounded) is test and a `validation` share validation."""
    shuffled = _random_order(frame, _count(frame)[1], rng, "user_idx")
    n_test = (pl.col("_len") * config.test).round()
    n_val = (pl.col("_len") * config.validation).round()
    pos = pl.col("_pos")
    parts = {
        "test": shuffled.filter(pos < n_test),
        "train": shuffled.filter(pos >= n_test + n_val),
    }
    if config.validation > 0:
        parts["validation"] = shuffled.filter((pos >= n_test) & (pos < n_test + n_val))
    return {name: part.drop("_key", "_pos", "_len") for name, part in parts.items()}


def _held_out_users(
    frame: pl.LazyFrame, config: SplitConfig, rng, notes: dict
) -> dict[str, pl.DataFrame]:
    """Strong generalization: held-out users; `fold_in` of each one's items is input, rest targets."""
    users = _collect(frame.select(pl.col("user_idx").unique().sort()))["user_idx"].to_numpy()
    order = rng.permutation(users)
    n_test = int(round(config.test * len(users)))
    n_val = int(round(config.validation * len(users)))
    group = np.zeros(users[-1] + 1, dtype=np.int8)
    group[order[:n_test]] = 2
    group[order[n_test : n_test + n_val]] = 1
    grouped = frame.with_columns(
        pl.lit(pl.Series(group)).gather(pl.col("user_idx")).alias("_group")
    )
    shuffled = _random_order(grouped, _count(frame)[1], rng, "user_idx")
    is_input = pl.col("_pos") < (pl.col("_len") * config.fold_in).round().clip(lower_bound=1)
    parts = {"train": shuffled.filter(pl.col("_group") == 0)}
    for code, name in ((2, "test"), (1, "validation")):
        if name == "validation" and n_val == 0:
            continue
        members = shuffled.filter(pl.col("_group") == code)
        parts[f"{name}_input"] = members.filter(is_input)
        parts[name] = members.filter(~is_input)
    return {n: p.drop("_key", "_pos", "_len", "_group") for n, p in parts.items()}


_SPLITTERS = {
    "temporal": _temporal,
    "leave_last": _leave_last,
    "random": _random,
    "users": _held_out_users,
}
