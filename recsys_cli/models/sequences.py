"""Each user's interactions in time order, and the fit hook for models that read that order.

The `Recommender` protocol fits on a users x items CSR of summed weights, which has lost time
order. Sequential models set `needs_sequences = True` and are fitted with
`fit_sequences(train, sequences, input_sequences)`; `fit_in_time_order` picks the right call.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.errors import DataError
from recsys_cli.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from pathlib import Path

    from recsys_cli.data.splits import Split
    from recsys_cli.models.base import OnEpoch, Recommender


@dataclass(frozen=True)
class SequenceData:
    """Per-user item sequences, oldest first, in CSR layout: items[indptr[u]:indptr[u + 1]]."""

    indptr: np.ndarray
    items: np.ndarray
    n_items: int

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[-1] != len(self.items):
            raise ValueError("indptr must be 1-D with indptr[-1] == len(items)")
        if len(self.items) and (self.items.min() < 0 or self.items.max() >= self.n_items):
            raise ValueError(f"item indices must lie in [0, {self.n_items})")

    @property
    def n_users(self) -> int:
        return len(self.indptr) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row(self, user: int) -> np.ndarray:
        return self.items[self.indptr[user] : self.indptr[user + 1]]

    def take(self, users: np.ndarray) -> SequenceData:
        """The sequences of `users`, in that order (a user may repeat)."""
        users = np.asarray(users, dtype=np.int64)
        lengths = self.lengths[users]
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        offsets = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths)
        items = self.items[np.repeat(self.indptr[users], lengths) + offsets]
        return SequenceData(indptr, items, self.n_items)

    def recent(self, max_len: int) -> SequenceData:
        """Each sequence cut to its `max_len` most recent items (order kept)."""
        lengths = np.minimum(self.lengths, max_len)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        starts = self.indptr[1:] - lengths
        offsets = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths)
        return SequenceData(indptr, self.items[np.repeat(starts, lengths) + offsets], self.n_items)

    def steps_from_end(self) -> np.ndarray:
        """For each stored item, how many items follow it in its sequence (0 = most recent)."""
        rows = np.repeat(np.arange(self.n_users), self.lengths)
        return self.indptr[rows + 1] - 1 - np.arange(len(self.items))

    def last(self) -> np.ndarray:
        """The most recent item of each sequence, -1 where the sequence is empty."""
        out = np.full(self.n_users, -1, dtype=np.int64)
        filled = self.lengths > 0
        out[filled] = self.items[self.indptr[1:][filled] - 1]
        return out

    def transitions(self) -> tuple[np.ndarray, np.ndarray]:
        """(previous, next) item pairs of consecutive interactions within each sequence."""
        rows = np.repeat(np.arange(self.n_users), self.lengths)
        same_user = rows[:-1] == rows[1:]
        return (
            self.items[:-1][same_user].astype(np.int64),
            self.items[1:][same_user].astype(np.int64),
        )

    def padded(self, max_len: int, fill: int = 0, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Left-aligned (n_users, max_len) array of the most recent items + offset, and lengths."""
        cut = self.recent(max_len)
        out = np.full((cut.n_users, max_len), fill, dtype=np.int64)
        rows = np.repeat(np.arange(cut.n_users), cut.lengths)
        cols = np.arange(len(cut.items)) - np.repeat(cut.indptr[:-1], cut.lengths)
        out[rows, cols] = cut.items.astype(np.int64) + offset
        return out, cut.lengths

    def where(self, mask: np.ndarray, other: SequenceData) -> SequenceData:
        """Row u from `other` where mask[u], else from self (both hold the same users)."""
        if other.n_users != self.n_users:
            raise ValueError("where: both sequence sets must hold the same users")
        lengths = np.where(mask, other.lengths, self.lengths)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        source_starts = np.where(mask, other.indptr[:-1] + len(self.items), self.indptr[:-1])
        offsets = np.arange(indptr[-1]) - np.repeat(indptr[:-1], lengths)
        pool = np.concatenate([self.items, other.items])
        return SequenceData(indptr, pool[np.repeat(source_starts, lengths) + offsets], self.n_items)

    def to_csr(self, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """users x items CSR; duplicates add up (weights default to 1 per occurrence)."""
        data = np.ones(len(self.items), np.float32) if weights is None else weights
        matrix = sp.csr_matrix(
            (data.astype(np.float32), self.items.astype(np.int64), self.indptr.copy()),
            shape=(self.n_users, self.n_items),
        )
        matrix.sum_duplicates()
        return matrix

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> SequenceData:
        """Rows of a CSR in column-index order: a stand-in where no time order is known."""
        matrix = sp.csr_matrix(matrix)
        matrix.sort_indices()
        return cls(matrix.indptr.astype(np.int64), matrix.indices.astype(np.int32), matrix.shape[1])


def sequences_from_frame(frame: pl.DataFrame, n_users: int, n_items: int) -> SequenceData:
    """Sequences from indexed interactions (user_idx, item_idx, timestamp), ties by item index."""
    missing = frame["timestamp"].null_count() if "timestamp" in frame.columns else frame.height
    if missing:
        raise DataError(
            f"sequential models need timestamps; {missing:,} of {frame.height:,} "
            "interactions have none"
        )
    ordered = frame.select("user_idx", "item_idx", "timestamp").sort(
        "user_idx", "timestamp", "item_idx"
    )
    users = ordered["user_idx"].to_numpy().astype(np.int64)
    counts = np.bincount(users, minlength=n_users)
    if len(counts) > n_users:
        raise ValueError(f"user index {len(counts) - 1} out of range for {n_users} users")
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return SequenceData(indptr, ordered["item_idx"].to_numpy().astype(np.int32), n_items)


class SequentialModel:
    """Mixin for `Recommender`s that read time order: fitted through `fit_sequences`.

    `sequences` are the training interactions (what the model learns from); `input_sequences`
    what each user's list is conditioned on at recommendation time (training plus any fold-in
    input); they default to `sequences`.
    """

    needs_sequences: ClassVar[bool] = True

    def fit_sequences(
        self,
        train: sp.csr_matrix,
        sequences: SequenceData,
        input_sequences: SequenceData | None = None,
        progress: Progress = NO_PROGRESS,
        *,
        work_dir: Path | None = None,
        on_epoch: OnEpoch | None = None,
    ):
        """`fit` (same progress, work_dir and on_epoch) with the sequences in time order."""
        inputs = input_sequences if input_sequences is not None else sequences
        for name, seq in (("sequences", sequences), ("input_sequences", inputs)):
            if (seq.n_users, seq.n_items) != train.shape:
                raise ValueError(f"{name} cover {seq.n_users} x {seq.n_items}, train {train.shape}")
        self._given_sequences = (sequences, inputs)
        try:
            return self.fit(train, progress, work_dir=work_dir, on_epoch=on_epoch)
        finally:
            del self._given_sequences

    def _take_sequences(self, train: sp.csr_matrix) -> tuple[SequenceData, SequenceData]:
        """(training, input) sequences given to `fit_sequences`; index order after a plain `fit`."""
        given = getattr(self, "_given_sequences", None)
        if given is not None:
            return given
        warnings.warn(
            f"{type(self).__name__} was fitted without time order (use "
            "fit_sequences); item index order stands in for it",
            stacklevel=5,
        )
        unordered = SequenceData.from_csr(train)
        return unordered, unordered

    def _query_sequences(self, users: np.ndarray, history: sp.csr_matrix) -> SequenceData:
        """Input sequences of `users`; a user without one falls back to `history` (index order)."""
        stored = self.input_sequences_.take(users)
        fallback = (stored.lengths == 0) & (np.diff(history.indptr) > 0)
        if not fallback.any():
            return stored
        return stored.where(fallback, SequenceData.from_csr(history))


def fit_in_time_order(
    model: Recommender,
    train: sp.csr_matrix,
    split: Split,
    progress: Progress = NO_PROGRESS,
    *,
    work_dir: Path | None = None,
    on_epoch: OnEpoch | None = None,
) -> Recommender:
    """`model.fit(train, progress, work_dir=..., on_epoch=...)`, or `fit_sequences` with the
    split's time-ordered parts for models that set `needs_sequences` (training = split.fit;
    input = split.fit + split.extra_input)."""
    options = {"work_dir": work_dir, "on_epoch": on_epoch}
    if not model.needs_sequences:
        return model.fit(train, progress, **options)
    n_users, n_items = train.shape
    sequences = sequences_from_frame(split.fit, n_users, n_items)
    inputs = None
    if split.extra_input.height:
        inputs = sequences_from_frame(pl.concat([split.fit, split.extra_input]), n_users, n_items)
    return model.fit_sequences(train, sequences, inputs, progress, **options)
