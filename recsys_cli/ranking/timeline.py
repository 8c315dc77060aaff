"""The ranker's timeline: three windows, and features that read only what lies before theirs.

1. generators: the recipe's generators are fitted on the training part minus the label window;
2. labels: the label window, the last `ranker.validation` share of the training part cut as the
   recipe's split kind cuts (temporal: one global cut in time), labels the pooled candidates of
   the generators fitted on window 1 (features from window 1 alone);
3. test: the generators are the recipe's models, fitted on the whole training part (windows 1
   and 2); features are recomputed from it, up to the test cutoff, and the ranker orders the
   test users' pools.

For a temporal split `check_before` refuses any stage whose feature data reach into the window
it labels or ranks (Leakage: every feature of a window comes from interactions strictly before
it; generators retrieving the label window are not fitted on it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from recsys_cli.config.schema import Recipe, SplitConfig
from recsys_cli.data.prepare import to_csr
from recsys_cli.data.splits import split
from recsys_cli.errors import DataError, UserError

# Mixed into the split seed so the label window is drawn independently of the test split
# (random and users kinds), yet reproducibly.
_LABEL_STREAM = 12


class LeakError(UserError):
    """A ranker stage whose features would read interactions of the window it labels or ranks."""


def label_split_config(recipe: Recipe) -> SplitConfig:
    """The recipe's split kind applied to the training part, holding out `ranker.validation`
    (leave_last: the last `split.n` interactions of each user)."""
    outer = recipe.split
    return SplitConfig(
        kind=outer.kind,
        test=recipe.ranker.validation,
        n=outer.n,
        fold_in=outer.fold_in,
        new_users=outer.new_users,
    )


def labels_data(recipe: Recipe, data):
    """Windows 1 and 2 as an `experiment.Prepared` over the training part of `data`: `fit` is
    what the generators learn from, `truth` the label pairs of `eval_users` (pairs already in a
    user's input are not labels: no generator may retrieve them)."""
    from recsys_cli.pipeline.prepare import Prepared, classify_truth

    base = recipe.seed if recipe.split.seed is None else recipe.split.seed
    seed = int(np.random.SeedSequence([base, _LABEL_STREAM]).generate_state(1)[0])
    parts = split(data.split.fit, label_split_config(recipe), seed)
    shape = (data.indexed.n_users, data.indexed.n_items)
    binary = recipe.filter.binarize
    fit = to_csr(parts.fit, *shape, binary=binary)
    model_input = to_csr(pl.concat([parts.fit, parts.extra_input]), *shape, binary=binary)
    test, report = classify_truth(parts.truth, model_input, fit)
    truth = to_csr(test.filter(pl.col("status") == "evaluated"), *shape, binary=True)
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    if len(users) == 0:
        raise DataError(
            f"ranker.validation: the label window ({recipe.ranker.validation} of the training "
            f"part, {parts.truth.height:,} interactions) holds no pair of a user with earlier "
            "history; raise ranker.validation"
        )
    return Prepared(
        data.dataset, data.indexed, parts, fit, model_input, users, truth[users], test, report
    )


def check_before(data, kind: str, window: str) -> None:
    """Refuse (LeakError) a temporal stage whose feature data (`data.split.fit`, the source of
    its fit matrix, popularity, trend and age) hold an interaction at or after the first one of
    the window it labels or ranks (`data.split.truth`)."""
    if kind != "temporal":
        return
    last = data.split.fit["timestamp"].max()
    first = data.split.truth["timestamp"].min()
    if last is not None and first is not None and last >= first:
        raise LeakError(
            f"ranker: the {window} window starts at {_iso(first)}, but its features would read "
            f"interactions up to {_iso(last)}; refused: features must come from interactions "
            "strictly before the window they label"
        )


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(frame: pl.DataFrame) -> dict:
    """Interactions, users and (with timestamps) the first and last moment of a part."""
    out = {"interactions": frame.height, "users": frame["user_idx"].n_unique()}
    stamps = frame["timestamp"].drop_nulls()
    if stamps.len():
        out.update({"from": _iso(stamps.min()), "to": _iso(stamps.max())})
    return out


def timeline(labels, test) -> dict:
    """The manifest's record of the windows: what the label-stage generators learned from, the
    label window (with the pairs and users labelled), the whole training part the generators
    were refitted on (the features' data for the test stage), and the test window. A window's
    `fold_in_input` counts the interactions of new users given as their input (split
    new_users = "fold_in" or kind "users"), not as targets."""
    return {
        "generators": describe(labels.split.fit),
        "labels": {
            **describe(labels.split.truth),
            "fold_in_input": labels.split.extra_input.height,
            "pairs_labelled": int(labels.truth.nnz),
            "users_labelled": len(labels.eval_users),
        },
        "refit": describe(test.split.fit),
        "test": {
            **describe(test.split.truth),
            "fold_in_input": test.split.extra_input.height,
            "users_ranked": len(test.eval_users),
        },
    }
