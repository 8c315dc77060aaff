"""The item side data a run stores for its metrics, so that `rank eval` never prepares the data
again: RUN/side/items.parquet (the dataset's item table in item index order) and
RUN/side/arrays.npz (training popularity per item, the number of training users, the evaluated
users' model input, which profile metrics and `rank rerank`'s rerankers read, and, where the run's
metrics or variants read them, the ALS item factors of similarity = "factors")."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.errors import UserError
from recsys_cli.results.atomic import write_atomic, write_parquet
from recsys_cli.results.readback import DAMAGED

SIDE_DIR = "side"
ITEMS = "items.parquet"
ARRAYS = "arrays.npz"
# ild[factors]'s message where a run did not fit the ALS factors.
FACTORS = "factors"


@dataclass(frozen=True)
class StoredSide:
    """What a run stored for its metrics and rerankers (see the module docstring); history rows
    are the rows of users.parquet, None in a run stored before runs kept every profile."""

    items: pl.DataFrame
    popularity: np.ndarray
    n_train_users: int
    history: sp.csr_matrix | None
    factors: np.ndarray | None


def write_side_data(folder: Path, stored: StoredSide) -> None:
    """Write `stored` into `folder` (made here; it must not exist yet)."""
    folder.mkdir()
    write_parquet(folder / ITEMS, stored.items)
    arrays = {"popularity": stored.popularity, "n_train_users": np.int64(stored.n_train_users)}
    if stored.history is not None:
        arrays.update(history_indptr=stored.history.indptr, history_indices=stored.history.indices)
    if stored.factors is not None:
        arrays["factors"] = stored.factors

    def save(path: Path) -> None:
        with path.open("wb") as file:
            np.savez(file, **arrays)

    write_atomic(folder / ARRAYS, save, replace=False)


def read_side_data(run_dir: Path, n_users: int) -> StoredSide:
    """The side data stored in `run_dir`; `n_users`: rows of its users.parquet. A run written
    before runs stored side data, or a damaged file, is one line."""
    folder = run_dir / SIDE_DIR
    if not (folder / ITEMS).is_file() or not (folder / ARRAYS).is_file():
        raise UserError(
            f"{run_dir}: no stored item side data ({SIDE_DIR}/), which metrics beyond accuracy "
            "read; the run was made by an older version of rank: run it again"
        )
    try:
        items = pl.read_parquet(folder / ITEMS)
        with np.load(folder / ARRAYS) as arrays:
            found = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile, pl.exceptions.PolarsError) as error:
        raise UserError(f"{folder}: not readable ({error}); {DAMAGED}") from None
    popularity = found.get("popularity")
    if popularity is None or popularity.shape != (items.height,) or "n_train_users" not in found:
        raise UserError(f"{folder}: {ARRAYS} does not match {ITEMS}; {DAMAGED}")
    history = None
    if "history_indptr" in found:
        indptr, indices = found["history_indptr"], found["history_indices"]
        if len(indptr) != n_users + 1:
            raise UserError(
                f"{folder}: the stored profiles are not those of users.parquet; {DAMAGED}"
            )
        history = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr),
            shape=(n_users, items.height),
        )
    return StoredSide(items, popularity, int(found["n_train_users"]), history, found.get("factors"))


def side_context(stored: StoredSide, users: pl.Series, recipe, metrics):
    """A `RerankContext` over the stored side data (the ALS factors are the stored ones), for
    `ItemSideData.of` and stored reranking; fails in one line when `metrics` read data the run
    did not store."""
    from recsys_cli.data.side import ItemSide
    from recsys_cli.evaluation.evaluator import needs_profiles
    from recsys_cli.metrics import split_metric
    from recsys_cli.rerank.stage import RerankContext

    if stored.history is None and needs_profiles(metrics):
        profile = next(m for m in metrics if needs_profiles([m]))
        raise UserError(
            f"metric {profile!r} reads the users' training profiles, which this run did not "
            "store (its recipe has no such metric); run the recipe again with that metric"
        )
    if stored.factors is None and any(split_metric(m) == ("ild", FACTORS) for m in metrics):
        raise UserError(
            "metric 'ild[factors]' reads ALS item factors, which this run did not fit (none of "
            'its variants or metrics uses similarity = "factors"); run the recipe again with '
            "that metric"
        )
    side = ItemSide(stored.popularity, stored.n_train_users, stored.items, stored.items["item"])
    return RerankContext.of(side, recipe, stored.factors)
