"""The model contract as reusable checks: every registered model passes them, and so must a
model of your own before a recipe names it by `module:Class` (LensKit's and implicit's shared
model tests play this part there).

    from recsys_cli.testing import check_recommender

    def test_my_model_keeps_the_contract():
        check_recommender(MyModel)                         # its default Params
        check_recommender(MyModel, MyModel.Params(k=5))   # or chosen ones

Each check raises AssertionError naming the model and what broke. The data is implicit's
known-answer checkerboard: user u likes the items with the parity of u; a personalised model
must recommend items of the user's own parity (`personalised=False` skips that check, for
models that score every user alike or need time order to make sense of a history).
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_cli.class_path import params_problem
from recsys_cli.models.base import NotFittedError, Recommender, TrainingLog

N = 40  # users and items of the checkerboard
_UNSEEN = 24  # items each checkerboard user has not seen: 20 of the other parity, 4 held out


def checkerboard(n: int = N) -> tuple[sp.csr_matrix, list[set[int]]]:
    """(train, held out): user u likes the items j with j % 2 == u % 2; 4 of them per user
    (those with (j // 2 + u) % 5 == 0) are held out of `train`."""
    dense = np.zeros((n, n), dtype=np.float32)
    hidden = []
    for u in range(n):
        own = [j for j in range(n) if j % 2 == u % 2]
        held = {j for j in own if (j // 2 + u) % 5 == 0}
        hidden.append(held)
        dense[u, [j for j in own if j not in held]] = 1.0
    return sp.csr_matrix(dense), hidden


def check_recommender(
    cls: type[Recommender], params=None, *, seed: int = 7, personalised: bool = True
) -> None:
    """Run every check below on `cls` with `params` (default: `cls.Params()`)."""
    check_class(cls)
    params = cls.Params() if params is None else params
    check_not_fitted(cls, params)
    check_fit_options(cls, params, seed=seed)
    check_lists(cls, params, seed=seed)
    check_short_catalogue(cls, params, seed=seed)
    check_reproducible(cls, params, seed=seed)
    if personalised:
        check_known_answer(cls, params, seed=seed)


def check_class(cls: type) -> None:
    """A Recommender subclass whose Params is a frozen dataclass that refuses unknown keys and
    builds from its defaults (what a recipe's [[models]] table without params gives)."""
    _require(isinstance(cls, type) and issubclass(cls, Recommender), f"{cls!r}: not a Recommender")
    problem = params_problem(cls, defaults=True)
    _require(problem is None, str(problem))
    try:
        cls.Params()
    except Exception as error:
        raise AssertionError(f"{cls.__qualname__}.Params() fails: {error}") from error


def check_not_fitted(cls: type[Recommender], params) -> None:
    """`recommend` before `fit` raises NotFittedError."""
    model = cls(params, seed=0)
    try:
        model.recommend(np.arange(2), sp.csr_matrix((2, N), dtype=np.float32), 3)
    except NotFittedError:
        return
    raise AssertionError(f"{cls.__qualname__}.recommend before fit did not raise NotFittedError")


def check_fit_options(cls: type[Recommender], params, seed: int = 7) -> None:
    """`fit(train, progress, work_dir=..., on_epoch=...)` returns the model; it counts no more
    than the total it announced; a model trained by epochs logs each epoch in `training_log_`
    and hands each to `on_epoch` in order; files go under `work_dir` only."""
    train, _ = checkerboard()
    progress = _Recorded()
    heard: list = []
    with tempfile.TemporaryDirectory() as folder:
        work_dir = Path(folder) / "model"
        model = cls(params, seed=seed)
        fitted = fit(model, train, progress, work_dir=work_dir, on_epoch=lambda *a: heard.append(a))
        _require(fitted is model, f"{cls.__qualname__}.fit did not return the model")
        written = [p for p in Path(folder).rglob("*") if p != work_dir]
        _require(
            all(work_dir in p.parents for p in written),
            f"{cls.__qualname__}.fit wrote outside work_dir: {written}",
        )
    if progress.announced is not None:
        _require(
            sum(progress.done) <= progress.announced,
            f"{cls.__qualname__}.fit counted {sum(progress.done)} of {progress.announced}",
        )
    log = model.training_log_
    if log is None:
        _require(not heard, f"{cls.__qualname__} reported epochs but keeps no training_log_")
        return
    _require(isinstance(log, TrainingLog), f"{cls.__qualname__}.training_log_ is no TrainingLog")
    _require(
        heard == list(enumerate(log.epochs)),
        f"{cls.__qualname__}: on_epoch heard {len(heard)} epochs, training_log_ holds "
        f"{len(log.epochs)}",
    )
    _require(
        log.best_epoch is None or 0 <= log.best_epoch < len(log.epochs),
        f"{cls.__qualname__}: best_epoch {log.best_epoch} of {len(log.epochs)} epochs",
    )


def check_lists(cls: type[Recommender], params, seed: int = 7, k: int = 10) -> None:
    """Top-k lists: int32 items and float32 scores (users x k), k distinct items per user, none
    from the user's history, scores non-increasing."""
    train, _ = checkerboard()
    items, scores = fit(cls(params, seed=seed), train).recommend(np.arange(N), train, k)
    name = cls.__qualname__
    _require(items.shape == scores.shape == (N, k), f"{name}: lists of shape {items.shape}")
    _require(items.dtype == np.int32, f"{name}: items are {items.dtype}, not int32")
    _require(scores.dtype == np.float32, f"{name}: scores are {scores.dtype}, not float32")
    for u in range(N):
        _require(len(set(items[u])) == k and (items[u] >= 0).all(), f"{name}: user {u} {items[u]}")
        seen = set(items[u]) & set(train[u].indices)
        _require(not seen, f"{name}: user {u} was recommended items of its history {seen}")
        _require(np.all(np.diff(scores[u]) <= 0), f"{name}: user {u} scores {scores[u]}")


def check_short_catalogue(cls: type[Recommender], params, seed: int = 7) -> None:
    """Asked for more items than a user has not seen, a list ends in -1 items with -inf scores."""
    train, _ = checkerboard()
    items, scores = fit(cls(params, seed=seed), train).recommend(np.arange(N), train, 30)
    name = cls.__qualname__
    _require((items[:, :_UNSEEN] >= 0).all(), f"{name}: fewer than the {_UNSEEN} unseen items")
    _require(
        (items[:, _UNSEEN:] == -1).all() and np.isneginf(scores[:, _UNSEEN:]).all(),
        f"{name}: past the unseen items, lists hold {np.unique(items[:, _UNSEEN:])}, not -1",
    )


def check_reproducible(cls: type[Recommender], params, seed: int = 7) -> None:
    """The same seed gives the same lists. A shardable model (`shardable`: Dask may score its
    users in shards) gives the same lists whatever the block size and after a pickle round
    trip."""
    train, _ = checkerboard()
    users = np.arange(N)
    name = cls.__qualname__
    first, _ = fit(cls(params, seed=seed), train).recommend(users, train, 5, block_size=7)
    model = fit(cls(params, seed=seed), train)
    second, _ = model.recommend(users, train, 5, block_size=7)
    _require(np.array_equal(first, second), f"{name}: the same seed gave other lists")
    if not cls.shardable:
        return
    whole, _ = fit(cls(params, seed=seed), train).recommend(users, train, 5)
    _require(np.array_equal(first, whole), f"{name}: lists depend on the block size")
    shipped, _ = pickle.loads(pickle.dumps(model)).recommend(users, train, 5, block_size=7)
    _require(np.array_equal(first, shipped), f"{name}: lists change after a pickle round trip")


def check_known_answer(cls: type[Recommender], params, seed: int = 7) -> None:
    """On the checkerboard, every user's top 3 are items of the user's own parity."""
    train, _ = checkerboard()
    items, _ = fit(cls(params, seed=seed), train).recommend(np.arange(N), train, 3)
    for u in range(N):
        _require(
            all(j % 2 == u % 2 for j in items[u]),
            f"{cls.__qualname__}: user {u} of parity {u % 2} got {items[u]}",
        )


def fit(model: Recommender, train: sp.csr_matrix, *args, **options) -> Recommender:
    """`model.fit`; a model that needs time order gets each row in item order as its sequence."""
    if model.needs_sequences:
        from recsys_cli.models.sequences import SequenceData

        return model.fit_sequences(train, SequenceData.from_csr(train), None, *args, **options)
    return model.fit(train, *args, **options)


class _Recorded:
    """A `Progress` that keeps the last announced total and what was counted since."""

    def __init__(self) -> None:
        self.announced: int | None = None
        self.done: list[int] = []

    def total(self, n: int | None, unit: str = "") -> None:
        self.announced, self.done = n, []

    def advance(self, n: int = 1) -> None:
        self.done.append(n)

    def update(self, text: str) -> None:
        pass


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
