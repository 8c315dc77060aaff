"""Load, filter, index and split a recipe's dataset, and classify every held-out interaction:
the data side of a run, in index space (`Prepared`)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.schema import Recipe
from recsys_cli.data.dataset import Dataset
from recsys_cli.data.prepare import Indexed, index_dataset, to_csr
from recsys_cli.data.sources import scan_dataset
from recsys_cli.data.splits import Split, split
from recsys_cli.errors import DataError, UserError
from recsys_cli.progress import Step, silent_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """The data side of a run, in index space.

    fit: matrix the models learn from; model_input: fit plus fold-in input (what a model sees of
    each user at evaluation time); eval_users: users with evaluable truth; truth: their held-out
    items (rows aligned with eval_users); test: every held-out interaction with its status.
    """

    dataset: Dataset
    indexed: Indexed
    split: Split
    fit: sp.csr_matrix
    model_input: sp.csr_matrix
    eval_users: np.ndarray
    truth: sp.csr_matrix
    test: pl.DataFrame
    report: dict


def prepare(recipe: Recipe, data_dir: Path | None = None, step: Step = silent_step) -> Prepared:
    """Load, filter, index and split the recipe's dataset; classify every held-out interaction."""
    check_catalogue(recipe, data_dir)
    with step(f"load dataset {recipe.dataset.name}") as progress:
        dataset = scan_dataset(recipe.dataset, data_dir, progress)
    with step("filter, index and split"):
        indexed = index_dataset(dataset, recipe.filter)
        split_seed = recipe.seed if recipe.split.seed is None else recipe.split.seed
        # The parts need indices, not the original ids (vocabularies map them back).
        parts = split(indexed.interactions.drop("user", "item"), recipe.split, split_seed)
        shape = (indexed.n_users, indexed.n_items)
        binary = recipe.filter.binarize
        fit = to_csr(parts.fit, *shape, binary=binary)
        model_input = fit  # the same matrix unless held-out users give input of their own
        if parts.extra_input.height:
            model_input = to_csr(pl.concat([parts.fit, parts.extra_input]), *shape, binary=binary)
        test, report = classify_truth(parts.truth, model_input, fit)
    evaluated = test.filter(pl.col("status") == "evaluated")
    truth_all = to_csr(evaluated, *shape, binary=True)
    eval_users = np.flatnonzero(np.diff(truth_all.indptr) > 0)
    if len(eval_users) == 0:
        raise DataError(
            f"no held-out user can be evaluated: {report['cold_users_excluded']:,} have no "
            f"training history and {report['pairs_seen_in_input']:,} pairs repeat training items; "
            "check the split settings"
        )
    report.update(
        users=indexed.n_users,
        items=indexed.n_items,
        interactions=indexed.n_interactions,
        dataset_interactions=dataset.n_interactions,
        fit_interactions=parts.fit.height,
        evaluated_users=len(eval_users),
    )
    # The whole tables are in the split's parts now: free the raw ones for the rest of the run.
    dataset = dataclasses.replace(dataset, interactions=dataset.interactions.clear())
    indexed = dataclasses.replace(indexed, interactions=indexed.interactions.clear())
    report.update(parts.notes)
    report.update(dataset.notes)
    log.info(
        "%s: %s users x %s items, %s interactions (%s before filtering), %s fit; %s users "
        "evaluated on %s held-out pairs",
        recipe.dataset.name,
        f"{indexed.n_users:,}",
        f"{indexed.n_items:,}",
        f"{report['interactions']:,}",
        f"{report['dataset_interactions']:,}",
        f"{parts.fit.height:,}",
        f"{len(eval_users):,}",
        f"{report['pairs_evaluated']:,}",
    )
    log.debug("data report: %s", report)
    return Prepared(
        dataset, indexed, parts, fit, model_input, eval_users, truth_all[eval_users], test, report
    )


def check_catalogue(recipe: Recipe, data_dir: Path | None = None) -> None:
    """Refuse, before the data are read, a model that cannot hold the dataset's catalogue (a
    dense items x items model beyond its max_items), from the catalogue size known up front."""
    from recsys_cli.data.sources import catalogue_bound
    from recsys_cli.models.registry import model_class

    bound = catalogue_bound(recipe.dataset, data_dir)
    if bound is None:
        return  # the model checks the exact catalogue when it is fitted
    n_items, source = bound
    for i, config in enumerate(recipe.models):
        problem = model_class(config.name).catalogue_problem(config.params, n_items)
        if problem is not None:
            raise UserError(
                f"models[{i}] ({config.label}), {n_items:,} items in {source}: {problem}"
            )


def classify_truth(truth: pl.DataFrame, model_input: sp.csr_matrix, fit: sp.csr_matrix):
    """Mark held-out interactions: evaluated, cold_user (no input at all) or seen_in_input (the
    user already has the item, which is excluded from every list, so it cannot be hit)."""
    users = truth["user_idx"].to_numpy().astype(np.int64)  # an owned copy: scipy indexing
    items = truth["item_idx"].to_numpy().astype(np.int64)  # sets flags on its views
    has_input = np.diff(model_input.indptr) > 0
    seen = np.asarray(model_input[users, items]).ravel() > 0 if len(users) else np.zeros(0, bool)
    status = np.where(~has_input[users], "cold_user", np.where(seen, "seen_in_input", "evaluated"))
    test = truth.with_columns(pl.Series("status", status, dtype=pl.Utf8))
    unique_pairs = test.unique(["user_idx", "item_idx"])
    item_seen_in_fit = np.diff(fit.tocsc().indptr) > 0
    evaluated = unique_pairs.filter(pl.col("status") == "evaluated")
    report = {
        "heldout_interactions": truth.height,
        "heldout_pairs": unique_pairs.height,
        "cold_users_excluded": int(
            test.filter(pl.col("status") == "cold_user")["user_idx"].n_unique()
        ),
        "pairs_cold_user": int((unique_pairs["status"] == "cold_user").sum()),
        "pairs_seen_in_input": int((unique_pairs["status"] == "seen_in_input").sum()),
        "pairs_evaluated": evaluated.height,
        "pairs_on_items_unseen_in_training": int(
            (~item_seen_in_fit[evaluated["item_idx"].to_numpy()]).sum()
        ),
    }
    return test, report
