"""recipe -> data -> split -> fit -> candidates -> store -> evaluate: the one-way pipeline."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.loader import recipe_to_toml
from recsys_cli.config.schema import Recipe
from recsys_cli.data.dataset import Dataset
from recsys_cli.data.prepare import Indexed, index_dataset, to_csr
from recsys_cli.data.sources import load_dataset
from recsys_cli.data.splits import Split, split
from recsys_cli.errors import DataError, UserError
from recsys_cli.evaluation.evaluate import evaluate_lists, summarise
from recsys_cli.models.registry import create_model
from recsys_cli.results.manifest import provenance
from recsys_cli.results.store import read_json, write_json, write_parquet

Step = Callable[[str], contextlib.AbstractContextManager]


@contextlib.contextmanager
def silent_step(description: str) -> Iterator[None]:
    yield


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
    with step(f"load dataset {recipe.dataset.name}"):
        dataset = load_dataset(recipe.dataset, data_dir)
    with step("filter, index and split"):
        indexed = index_dataset(dataset, recipe.filter)
        parts = split(indexed.interactions, recipe.split, recipe.seed)
        shape = (indexed.n_users, indexed.n_items)
        fit = to_csr(parts.fit, *shape)
        model_input = fit + to_csr(parts.extra_input, *shape)
        test, report = _classify_truth(parts.truth, model_input, fit)
    evaluated = test.filter(pl.col("status") == "evaluated")
    truth_all = to_csr(evaluated.with_columns(pl.lit(1.0).alias("weight")), *shape)
    truth_all.data[:] = 1.0
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
        interactions=indexed.interactions.height,
        dataset_interactions=dataset.interactions.height,
        fit_interactions=parts.fit.height,
        evaluated_users=len(eval_users),
    )
    report.update(parts.notes)
    return Prepared(
        dataset, indexed, parts, fit, model_input, eval_users, truth_all[eval_users], test, report
    )


def _classify_truth(truth: pl.DataFrame, model_input: sp.csr_matrix, fit: sp.csr_matrix):
    """Mark held-out interactions: evaluated, cold_user (no input at all) or seen_in_input (the
    user already has the item, which is excluded from every list, so it cannot be hit)."""
    users = truth["user_idx"].to_numpy()
    items = truth["item_idx"].to_numpy()
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


def _lists_frame(
    model: str, users: pl.Series, items: np.ndarray, scores: np.ndarray, item_ids: pl.Series
) -> pl.DataFrame:
    """Long table model, user, rank (1-based), item, score in original ids; padding dropped."""
    n, k = items.shape
    valid = items.ravel() >= 0
    flat_items = items.ravel()[valid]
    return pl.DataFrame(
        {
            "model": pl.Series([model]).new_from_index(0, int(valid.sum())),
            "user": users.gather(np.repeat(np.arange(n), k)[valid]),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n)[valid],
            "item": item_ids.gather(flat_items),
            "score": scores.ravel()[valid],
        }
    )


def train(
    recipe: Recipe, run_dir: Path, data_dir: Path | None = None, step: Step = silent_step
) -> dict:
    """Fit every model, write candidates, recommendations, truth, recipe and manifest."""
    started = time.perf_counter()
    (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
    data = prepare(recipe, data_dir, step)
    user_ids = data.indexed.user_ids.gather(data.eval_users)
    history = data.model_input[data.eval_users]
    depth = max(recipe.eval.cutoffs)
    candidates, recommendations, timings = [], [], {}
    for config in recipe.models:
        model = create_model(config.name, config.params, recipe.seed)
        with step(f"fit {config.label}"):
            t0 = time.perf_counter()
            model.fit(data.fit)
            t1 = time.perf_counter()
        with step(f"recommend {config.label} for {len(data.eval_users):,} users"):
            items, scores = model.recommend(data.eval_users, history, recipe.eval.candidates)
            t2 = time.perf_counter()
        timings[config.label] = {"fit_s": round(t1 - t0, 4), "recommend_s": round(t2 - t1, 4)}
        candidates.append(
            _lists_frame(config.label, user_ids, items, scores, data.indexed.item_ids)
        )
        recommendations.append(
            _lists_frame(
                config.label, user_ids, items[:, :depth], scores[:, :depth], data.indexed.item_ids
            )
        )
    with step("write run"):
        ids = data.indexed
        test = data.test.select(
            ids.user_ids.gather(data.test["user_idx"]).alias("user"),
            ids.item_ids.gather(data.test["item_idx"]).alias("item"),
            "timestamp",
            "weight",
            "status",
        )
        write_parquet(run_dir / "test.parquet", test)
        write_parquet(run_dir / "candidates.parquet", pl.concat(candidates))
        write_parquet(run_dir / "recommendations.parquet", pl.concat(recommendations))
        manifest = {
            "recipe": recipe.name,
            "seed": recipe.seed,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dataset": {
                "name": data.dataset.name,
                "checksum": data.dataset.checksum,
                "source": data.dataset.source,
                "synthetic": data.dataset.synthetic,
            },
            "split": {"fingerprint": data.split.fingerprint(), "kind": recipe.split.kind},
            "counts": data.report,
            "models": [c.label for c in recipe.models],
            "timings": {
                "models": timings,
                "train_total_s": round(time.perf_counter() - started, 3),
            },
            **provenance(),
        }
        write_json(run_dir / "manifest.json", manifest)
    return manifest


@dataclass(frozen=True)
class Evaluation:
    per_user: pl.DataFrame
    summary: pl.DataFrame
    cutoffs: tuple[int, ...]
    metrics: tuple[str, ...]

    def to_json(self) -> dict:
        """metrics.json: {model: {"metric@k": {mean, stderr, users}}}, in recipe order."""
        models: dict[str, dict] = {}
        for row in self.summary.iter_rows(named=True):
            models.setdefault(row["model"], {})[f"{row['metric']}@{row['cutoff']}"] = {
                "mean": row["mean"],
                "stderr": row["stderr"],
                "users": row["users"],
            }
        return {"cutoffs": list(self.cutoffs), "metrics": list(self.metrics), "models": models}


def evaluate_run(run_dir: Path, cutoffs: tuple[int, ...], metrics: tuple[str, ...]) -> Evaluation:
    """Evaluate the stored recommendations of a run against its stored truth (original ids)."""
    recs = pl.read_parquet(run_dir / "recommendations.parquet")
    test = pl.read_parquet(run_dir / "test.parquet").filter(pl.col("status") == "evaluated")
    depth = int(recs["rank"].max() or 0)
    if max(cutoffs) > depth:
        raise UserError(
            f"{run_dir}: recommendations hold {depth} items per user; cutoff "
            f"{max(cutoffs)} needs a new run with a larger eval.cutoffs"
        )
    users = test["user"].unique(maintain_order=True).sort()
    items = pl.concat([recs["item"], test["item"]]).unique().sort()
    user_index = pl.DataFrame({"user": users, "u": np.arange(len(users), dtype=np.int64)})
    item_index = pl.DataFrame({"item": items, "i": np.arange(len(items), dtype=np.int64)})
    truth_pairs = (
        test.unique(["user", "item"]).join(user_index, on="user").join(item_index, on="item")
    )
    truth = sp.csr_matrix(
        (np.ones(truth_pairs.height), (truth_pairs["u"], truth_pairs["i"])),
        shape=(len(users), len(items)),
    )
    per_model = []
    for model in recs["model"].unique(maintain_order=True):
        lists = (
            recs.filter(pl.col("model") == model)
            .join(user_index, on="user")
            .join(item_index, on="item")
        )
        ranked = np.full((len(users), depth), -1, dtype=np.int32)
        ranked[lists["u"].to_numpy(), lists["rank"].to_numpy() - 1] = lists["i"].to_numpy()
        table = evaluate_lists(ranked, truth, cutoffs, metrics, users)
        per_model.append(table.select(pl.lit(model).alias("model"), pl.all()))
    per_user = pl.concat(per_model)
    return Evaluation(per_user, summarise(per_user), tuple(cutoffs), tuple(metrics))


def save_evaluation(evaluation: Evaluation, target: Path) -> None:
    """per_user.parquet first, metrics.json last (its presence marks a finished evaluation)."""
    write_parquet(target / "per_user.parquet", evaluation.per_user)
    write_json(target / "metrics.json", evaluation.to_json())


def load_manifest(run_dir: Path) -> dict:
    return read_json(run_dir / "manifest.json")
