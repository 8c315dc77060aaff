"""recipe -> data -> split -> fit -> candidates -> rerank -> evaluate -> store: the one-way pipeline.

The rerank stage runs inside `train` (variants' lists are stored next to the plain lists, labelled
MODEL+variant). `rank run` evaluates each row's lists in memory as soon as they exist (index
arrays, `evaluation.evaluator`); the run directory is a sink written once, with the item side
data its metrics read (`results.side_data`), so `rank eval` evaluates a stored run without
preparing the data again (`evaluation.stored`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

from recsys_cli.config.loader import recipe_from_dict, recipe_to_toml
from recsys_cli.config.schema import Recipe
from recsys_cli.data.dataset import Dataset
from recsys_cli.data.prepare import Indexed, index_dataset, to_csr
from recsys_cli.data.sources import load_dataset
from recsys_cli.data.splits import Split, split
from recsys_cli.errors import DataError, UserError
from recsys_cli.evaluation.evaluator import (
    Evaluation,
    Evaluator,
    EvalUsers,
    evaluate_row,
    needs_profiles,
    needs_side_data,
)
from recsys_cli.evaluation.side_data import ItemSideData
from recsys_cli.evaluation.stored import SEEDS_DIR, aggregate_seeds, save_evaluation
from recsys_cli.metrics import metric_kind, split_metric
from recsys_cli.models.registry import create_model
from recsys_cli.progress import Progress, Step, peak_memory_mib, silent_step
from recsys_cli.results.manifest import provenance
from recsys_cli.results.side_data import SIDE_DIR, StoredSide, write_side_data
from recsys_cli.results.store import (
    RUN_LOG,
    SharedFiles,
    link_or_copy,
    read_manifest,
    run_log,
    shared_folder,
    write_frames,
    write_json,
    write_parquet,
)

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
        dataset = load_dataset(recipe.dataset, data_dir, progress)
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
        test, report = _classify_truth(parts.truth, model_input, fit)
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
        interactions=indexed.interactions.height,
        dataset_interactions=dataset.interactions.height,
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


def _classify_truth(truth: pl.DataFrame, model_input: sp.csr_matrix, fit: sp.csr_matrix):
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


def needs_context(recipe: Recipe) -> bool:
    """True when the recipe reranks, has a ranker or asks for a metric beyond accuracy."""
    if recipe.variants or recipe.ranker is not None:
        return True
    return any(metric_kind(m) != "accuracy" for m in recipe.eval.metrics)


def build_context(recipe: Recipe, data: Prepared):
    """The item side data of a prepared dataset (reranking, metrics, the run's stored side/);
    when the recipe reranks, ranks or goes beyond accuracy, fails early on the item columns it
    needs and the data lack."""
    from recsys_cli.rerank.stage import RerankContext, check_columns

    context = RerankContext.from_prepared(data, recipe)
    if not needs_context(recipe):
        return context
    check_columns(context, recipe)
    if recipe.ranker is not None:
        from recsys_cli.ranking.features import check_data

        check_data(recipe, context, data)
    return context


def uses_factors(recipe: Recipe) -> bool:
    """True when a variant or a metric reads the ALS item factors (similarity = "factors")."""
    if any(split_metric(m) == ("ild", "factors") for m in recipe.eval.metrics):
        return True
    return any(
        getattr(step.params, "similarity", None) == "factors"
        for variant in recipe.variants
        for step in variant.chain
    )


@dataclass(frozen=True)
class ModelOutput:
    """One fitted model's top-N candidates for the evaluated users (index space) and timings."""

    label: str
    items: np.ndarray
    scores: np.ndarray
    timings: dict


class Executor:
    """Where a run's per-user work happens: the models' top-k scoring, the rerank variants and
    the evaluation of each row's lists. This one works in this process;
    `distributed.DaskExecutor` shards the same calls over Dask workers, with identical results."""

    def recommend(self, model, users, history, k: int, block_size: int | None, progress):
        return model.recommend(users, history, k, block_size, progress=progress)

    def rerank(self, context, variant, items, scores, history):
        from recsys_cli.rerank.stage import apply_variant

        return apply_variant(context, variant, items, scores, history)

    def evaluate_row(self, items, users: EvalUsers, side, cutoffs, metrics, progress):
        return evaluate_row(items, users, side, cutoffs, metrics, progress)

    def release(self) -> None:
        """Drop what was shipped for the run (nothing here)."""


IN_PROCESS = Executor()


def fit_models(
    recipe: Recipe,
    data: Prepared,
    step: Step = silent_step,
    work_dir: Path | None = None,
    on_epoch: Callable[[str, int, float | None], None] | None = None,
    executor: Executor = IN_PROCESS,
) -> list[ModelOutput]:
    """Fit every model on the training matrix and take its top-N candidates for eval users.

    Sequential models get the training interactions in time order; models that write files of
    their own (RecBole) write them under `work_dir/<label>`. Models trained by epochs also call
    `on_epoch(label, epoch, validation NDCG@10 or None)` after each epoch (`rank tune`'s pruner;
    an exception it raises stops the fit). `executor` takes the top-k of the evaluated users.
    """
    from recsys_cli.models.sequences import fit_in_time_order

    history = data.model_input[data.eval_users]
    outputs = []
    for config in recipe.models:
        model = create_model(config.name, config.params, recipe.seed)
        if work_dir is not None and hasattr(model, "work_dir"):
            model.work_dir = work_dir / config.label
        with step(f"fit {config.label}") as progress:
            if hasattr(model, "progress"):  # RecBole: trained by epochs
                model.progress = _epoch_progress(
                    progress, config.label, model.params.epochs, on_epoch
                )
            t0 = time.perf_counter()
            fit_in_time_order(model, data.fit, data.split, progress)
            t1 = time.perf_counter()
        with step(f"recommend {config.label} for {len(data.eval_users):,} users") as progress:
            items, scores = executor.recommend(
                model,
                data.eval_users,
                history,
                min(recipe.eval.candidates, data.indexed.n_items),  # no list outgrows the catalogue
                recipe.eval.block_size or None,
                progress,
            )
            t2 = time.perf_counter()
        timings = {"fit_s": round(t1 - t0, 4), "recommend_s": round(t2 - t1, 4)}
        if getattr(model, "losses_", None):  # trained by epochs: how many, and which was kept
            timings["epochs_run"] = len(model.losses_)
            if getattr(model, "best_epoch_", None) is not None:
                timings["best_epoch"] = model.best_epoch_ + 1
        outputs.append(ModelOutput(config.label, items, scores, timings))
    return outputs


def fit_with_ranker(
    recipe: Recipe,
    data: Prepared,
    context,
    step: Step,
    work_dir: Path,
    on_epoch=None,
    executor: Executor = IN_PROCESS,
) -> list[ModelOutput]:
    """The recipe's models and, with a [ranker] table, its learned second stage over their
    candidates (one more output, labelled like a model)."""
    outputs = fit_models(recipe, data, step, work_dir, on_epoch, executor)
    if recipe.ranker is None:
        return outputs
    from recsys_cli.ranking.stage import add_ranker  # it imports this module

    return add_ranker(recipe, data, outputs, context, step, work_dir)


def _epoch_progress(progress: Progress, label: str, epochs: int, on_epoch=None):
    """Count epochs (early stopping may end before the last) and show each epoch's loss and
    validation NDCG@10 in the step's description; then pass the epoch on to `on_epoch`."""
    progress.total(epochs, "epochs")

    def report(epoch: int, loss: float, seconds: float, validation: float | None) -> None:
        text = f"fit {label}: loss {loss:.4f}, {seconds:.1f} s/epoch"
        if validation is not None:
            text += f", validation ndcg@10 {validation:.4f}"
        log.debug("%s: epoch %d/%d, %s", label, epoch + 1, epochs, text)
        progress.update(text)
        progress.advance()
        if on_epoch is not None:
            on_epoch(label, epoch, validation)

    return report


def train(
    recipe: Recipe, run_dir: Path, data_dir: Path | None = None, step: Step = silent_step
) -> dict:
    """Fit every model, rerank, write candidates, recommendations, truth, side data, recipe and
    manifest (no evaluation)."""
    if recipe.seeds:
        raise UserError("seeds: a multi-seed recipe trains and evaluates per seed; use `rank run`")
    return _train(recipe, run_dir, data_dir, step, IN_PROCESS, evaluate=False)[0]


def run_recipe(
    recipe: Recipe,
    run_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
    executor: Executor = IN_PROCESS,
) -> tuple[dict, Evaluation]:
    """Train, evaluate in memory and store into one run directory (what `rank run` and
    `rank bench` do).

    `executor` scores, reranks and evaluates the users (the Dask path passes its sharded
    executor). Multi-seed recipes always run in process."""
    if recipe.seeds:
        return _run_seeds(recipe, run_dir, data_dir, step)
    try:
        return _train(recipe, run_dir, data_dir, step, executor, evaluate=True)
    finally:
        executor.release()


def _train(recipe: Recipe, run_dir: Path, data_dir, step: Step, executor, evaluate: bool):
    started = time.perf_counter()
    data = prepare(recipe, data_dir, step)
    with step("item side data for reranking and metrics"):
        context = build_context(recipe, data)
    outputs = fit_with_ranker(recipe, data, context, step, run_dir / "models", executor=executor)
    return write_run(
        recipe, run_dir, data, outputs, context, step, started, executor=executor, evaluate=evaluate
    )


def _run_seeds(recipe: Recipe, run_dir: Path, data_dir: Path | None, step: Step):
    """One split, models trained and evaluated once per seed in complete sub-runs
    `seeds/seed-<s>/` (the data files written once, linked into the others); the top level
    holds the aggregate (see evaluation/seeds.py)."""
    started = time.perf_counter()
    (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
    data = prepare(recipe, data_dir, step)
    context = build_context(recipe, data)
    split_seed = recipe.seed if recipe.split.seed is None else recipe.split.seed
    manifests, evaluations, rows = {}, {}, []
    shared = None
    for seed in recipe.seeds:
        single = dataclasses.replace(
            recipe, seed=seed, seeds=(), split=dataclasses.replace(recipe.split, seed=split_seed)
        )
        sub = run_dir / SEEDS_DIR / f"seed-{seed}"
        sub.mkdir(parents=True)
        with run_log(sub / RUN_LOG):
            outputs = fit_with_ranker(single, data, context, step, sub / "models")
            lists = rank_and_evaluate(single, data, outputs, context, step, evaluate=True)
            manifests[seed] = store_run(single, sub, data, outputs, context, lists, step, shared)
            evaluations[seed] = lists.evaluation
        # The top level's recommendations: every seed's rows (copies: the candidates go).
        rows += [(row.copy(), seed) for row in lists.rows]
        del outputs, lists
        shared = shared or SharedFiles(sub, DATA_FILES)
    for name in ("test.parquet", "users.parquet", "items.parquet"):
        link_or_copy(shared.folder / name, run_dir / name)
    write_recommendations(run_dir / "recommendations.parquet", data, rows)
    manifest = {
        **manifests[recipe.seeds[0]],
        "seed": recipe.seed,
        "seeds": list(recipe.seeds),
        "timings": {
            "seeds": {str(seed): m["timings"] for seed, m in manifests.items()},
            "train_total_s": round(time.perf_counter() - started, 3),
        },
    }
    write_json(run_dir / "manifest.json", manifest)
    evaluation = aggregate_seeds(evaluations, recipe.eval.cutoffs, recipe.eval.metrics)
    save_evaluation(evaluation, run_dir)
    return manifest, evaluation


@dataclass(frozen=True)
class RankedRow:
    """One row of a run's recommendations: a model's list or a model+variant's, users x length
    item indices (-1 padded) and their scores, rows in evaluated-user order."""

    label: str
    items: np.ndarray
    scores: np.ndarray

    def copy(self) -> RankedRow:
        return RankedRow(self.label, self.items.copy(), self.scores.copy())


@dataclass(frozen=True)
class RunLists:
    """What the lists stage of a run produced: its rows in stored order, each variant's rerank
    time, and (when asked) the evaluation of every row."""

    rows: list[RankedRow]
    rerank_timings: dict
    evaluation: Evaluation | None
    train_peak_memory_mib: float


def rank_and_evaluate(
    recipe: Recipe,
    data: Prepared,
    outputs: list[ModelOutput],
    context,
    step: Step = silent_step,
    rows: Collection[str] | None = None,
    executor: Executor = IN_PROCESS,
    evaluate: bool = False,
) -> RunLists:
    """Each model's list (its candidates cut to the largest cutoff) and its variants' reranked
    lists, in stored order, for the `rows` asked for (None: all). With `evaluate`, each row's
    lists are evaluated in memory as soon as they exist."""
    metrics, cutoffs = recipe.eval.metrics, recipe.eval.cutoffs
    profiles = evaluate and needs_profiles(metrics)
    history = data.model_input[data.eval_users] if recipe.variants or profiles else None
    evaluator = None
    if evaluate:
        if profiles:
            history.sort_indices()
        users = EvalUsers(
            data.indexed.user_ids.gather(data.eval_users),
            data.truth,
            history if profiles else None,
        )
        side = ItemSideData.of(context, metrics) if needs_side_data(metrics) else None
        evaluator = Evaluator(users, side, cutoffs, metrics, executor.evaluate_row)
    depth = max(cutoffs)
    made, timings = [], {}

    def keep(row: RankedRow) -> None:
        if evaluator is not None:
            with step(f"evaluate {row.label}") as progress:
                progress.total(len(data.eval_users), "users")
                evaluator.add(row.label, row.items, progress)
        made.append(row)

    for output in outputs:
        items, scores = output.items, output.scores
        if rows is None or output.label in rows:
            keep(RankedRow(output.label, items[:, :depth], scores[:, :depth]))
        for variant in recipe.variants:
            row = f"{output.label}+{variant.name}"
            if output.label not in variant.models or (rows is not None and row not in rows):
                continue
            with step(f"rerank {row}"):
                t0 = time.perf_counter()
                ranked, ranked_scores = executor.rerank(context, variant, items, scores, history)
                timings[row] = {"rerank_s": round(time.perf_counter() - t0, 4)}
            keep(RankedRow(row, ranked, ranked_scores))
    peak = peak_memory_mib()
    evaluation = None
    if evaluator is not None:
        with step("evaluate"):
            evaluation = evaluator.result()
    return RunLists(made, timings, evaluation, peak)


def write_run(
    recipe: Recipe,
    run_dir: Path,
    data: Prepared,
    outputs: list[ModelOutput],
    context=None,
    step: Step = silent_step,
    started: float | None = None,
    rows: Collection[str] | None = None,
    executor: Executor = IN_PROCESS,
    evaluate: bool = False,
    shared: SharedFiles | None = None,
) -> tuple[dict, Evaluation | None]:
    """Apply the recipe's variants to the models' candidates, evaluate each row's lists in
    memory (`evaluate`) and write a complete run directory, each file once; returns the
    manifest and the evaluation (None without `evaluate`).

    `rank sweep` calls this once per grid point with the same fitted outputs (no retraining),
    with `rows` (plain model and MODEL+variant labels; None: all) leaving out the rows an earlier
    point already holds. Files that are the same in other runs of the job (`shared`) are
    linked, not written again.
    """
    started = time.perf_counter() if started is None else started
    context = context if context is not None else build_context(recipe, data)
    lists = rank_and_evaluate(recipe, data, outputs, context, step, rows, executor, evaluate)
    manifest = store_run(recipe, run_dir, data, outputs, context, lists, step, shared, started)
    return manifest, lists.evaluation


# Files of a run that depend on the prepared data alone (the same in every seed of a multi-seed
# run and every point of a sweep).
DATA_FILES = frozenset({"test.parquet", "users.parquet", "items.parquet", SIDE_DIR})
CANDIDATES = "candidates.parquet"


def store_run(
    recipe: Recipe,
    run_dir: Path,
    data: Prepared,
    outputs: list[ModelOutput],
    context,
    lists: RunLists,
    step: Step = silent_step,
    shared: SharedFiles | None = None,
    started: float | None = None,
) -> dict:
    """Write the run directory of `lists` (the sink: nothing here is read back): recipe,
    candidates, recommendations, truth, profiles, side data, ranker files, manifest, and the
    evaluation when there is one (metrics.json last). Returns the manifest."""
    started = time.perf_counter() if started is None else started
    with step("write run"):
        (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
        if shared is None or not shared.place(CANDIDATES, run_dir):
            write_candidates(run_dir / CANDIDATES, data, outputs)
        write_recommendations(
            run_dir / "recommendations.parquet", data, [(row, None) for row in lists.rows]
        )
        for name in sorted(DATA_FILES):
            if shared is None or not shared.place(name, run_dir):
                write_data_file(name, run_dir, recipe, data, context, uses_factors(recipe))
        from recsys_cli.ranking.stage import save_ranker

        ranker = save_ranker(outputs, run_dir)  # {"ranker": its timeline, counts, importances}
    timings = {"models": {o.label: o.timings for o in outputs}}
    if lists.rerank_timings:
        timings["rerank"] = lists.rerank_timings
    timings["train_total_s"] = round(time.perf_counter() - started, 3)
    timings["peak_memory_mib"] = peak_memory_mib()
    if lists.evaluation is not None:
        timings["train_peak_memory_mib"] = lists.train_peak_memory_mib
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
        "models": [o.label for o in outputs],
        "lists": [row.label for row in lists.rows],  # row labels of recommendations.parquet
        "list_depth": max([*recipe.eval.cutoffs] + [v.length for v in recipe.variants]),
        **({"variants": list(lists.rerank_timings)} if lists.rerank_timings else {}),
        **ranker,
        "timings": timings,
        **provenance(),
    }
    write_json(run_dir / "manifest.json", manifest)
    if lists.evaluation is not None:
        save_evaluation(lists.evaluation, run_dir)
    return manifest


def write_candidates(path: Path, data: Prepared, outputs: list[ModelOutput]) -> None:
    """candidates.parquet: each model's top N, one model's table in memory at a time."""
    user_ids = data.indexed.user_ids.gather(data.eval_users)
    write_frames(
        path,
        lambda: (
            _lists_frame(o.label, user_ids, o.items, o.scores, data.indexed.item_ids)
            for o in outputs
        ),
    )


def write_recommendations(
    path: Path, data: Prepared, rows: list[tuple[RankedRow, int | None]]
) -> None:
    """recommendations.parquet: the rows' lists in order, one row's table in memory at a time
    (with a `seed` column where rows carry their seed: a multi-seed run's top level)."""
    user_ids = data.indexed.user_ids.gather(data.eval_users)

    def frames():
        for row, seed in rows:
            frame = _lists_frame(row.label, user_ids, row.items, row.scores, data.indexed.item_ids)
            yield frame if seed is None else frame.with_columns(pl.lit(seed).alias("seed"))

    write_frames(path, frames)


def write_data_file(
    name: str, run_dir: Path, recipe: Recipe, data: Prepared, context, factors: bool
) -> None:
    """One of DATA_FILES: the held-out interactions with their status (test.parquet), the
    evaluated users' and the items' training counts (for slices), or the item side data
    (`side_to_store`; with the ALS item factors where `factors`)."""
    if name == "test.parquet":
        ids = data.indexed
        test = data.test.select(
            ids.user_ids.gather(data.test["user_idx"]).alias("user"),
            ids.item_ids.gather(data.test["item_idx"]).alias("item"),
            "timestamp",
            "weight",
            "status",
        )
        write_parquet(run_dir / name, test)
    elif name == "users.parquet":
        write_parquet(run_dir / name, _user_profiles(data))
    elif name == "items.parquet":
        write_parquet(run_dir / name, _item_profiles(data))
    else:
        write_side_data(run_dir / name, side_to_store(recipe, data, context, factors))


def side_to_store(recipe: Recipe, data: Prepared, context, factors: bool) -> StoredSide:
    """The item side data a run stores for `rank eval`: the item table, training popularity and
    user count, the evaluated users' model input where the recipe's metrics read profiles, and
    the ALS item factors (`factors`: a variant or metric uses them)."""
    history = None
    if needs_profiles(recipe.eval.metrics):
        history = data.model_input[data.eval_users]
        history.sort_indices()
    vectors = context.embeddings("factors", "stored side data") if factors else None
    return StoredSide(context.items, context.popularity, context.n_train_users, history, vectors)


def _user_profiles(data: Prepared) -> pl.DataFrame:
    """user, train_interactions: what each evaluated user gave the models (for slices)."""
    activity = np.diff(data.model_input.indptr)[data.eval_users]
    return pl.DataFrame(
        {
            "user": data.indexed.user_ids.gather(data.eval_users),
            "train_interactions": activity.astype(np.int64),
        }
    )


def _item_profiles(data: Prepared) -> pl.DataFrame:
    """item, train_users: training popularity of every item (for popularity-band slices)."""
    return pl.DataFrame(
        {
            "item": data.indexed.item_ids,
            "train_users": np.diff(data.fit.tocsc().indptr).astype(np.int64),
        }
    )


def load_manifest(run_dir: Path) -> dict:
    return read_manifest(run_dir)


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep: its grid values, the run directory name, metrics.json of that run and
    its rows, each with the grid keys that change it."""

    index: int
    values: dict
    run_name: str
    metrics: dict
    rows: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class GridPoint:
    """A grid point to run: its values, its recipe and the rows no earlier point holds, each
    with the grid keys that change it (row -> keys)."""

    values: dict
    recipe: Recipe
    rows: dict[str, tuple[str, ...]]


SWEEPABLE = ("variants", "groups", "ranker")


def grid_points(raw: dict, grid: list[tuple[str, list]]) -> list[GridPoint]:
    """Every combination of the grid values applied to a copy of the raw recipe, validated, and
    kept only for the rows it changes: a row whose dependencies (`row_dependencies`) an earlier
    combination already had is not run again, and a combination with no such row is dropped
    (a 3x2 grid over two independent variants runs 3 + 2 rows, not 6 + 6).

    Only keys under variants, groups or ranker may vary: anything else would need retraining
    the models (the ranker is retrained per point, over the models' fixed candidates)."""
    import copy
    import itertools
    import json

    from recsys_cli.config.loader import apply_override

    for key, _ in grid:
        if key.split(".")[0].split("[")[0] not in SWEEPABLE:
            raise UserError(
                f"--grid {key}: only variants[...], groups.* and ranker.* keys can vary in a "
                "sweep (models are trained once per sweep); changing it would need retraining: "
                "use `rank run --set` per value instead"
            )
    combinations = list(itertools.product(*(values for _, values in grid)))
    recipes, depends = [], []
    for combination in combinations:
        point_raw = copy.deepcopy(raw)
        for (key, _), value in zip(grid, combination, strict=True):
            apply_override(point_raw, f"{key}={json.dumps(value)}")
        recipes.append(recipe_from_dict(point_raw))
        depends.append(row_dependencies(recipes[-1]))
    changing = _changing_keys([key for key, _ in grid], combinations, depends)
    seen: set[tuple[str, str]] = set()
    points = []
    for combination, recipe, rows in zip(combinations, recipes, depends, strict=True):
        new = {row: changing[row] for row, needs in rows.items() if (row, needs) not in seen}
        seen.update(rows.items())
        if new:
            values = {key: value for (key, _), value in zip(grid, combination, strict=True)}
            points.append(GridPoint(values, recipe, new))
    return points


def row_dependencies(recipe: Recipe) -> dict[str, str]:
    """Row label -> what a sweep may change of that row, as canonical JSON: the resolved
    configuration of its variant (none for a model's plain row) and the definitions of the groups
    that this variant or a metric (`exposure_share[GROUP]`) names. Equal JSON, equal lists and
    equal metric values (models, data and evaluation are fixed within a sweep)."""
    import json

    def strings(value) -> set[str]:
        if isinstance(value, dict):
            return {str(k) for k in value} | {s for v in value.values() for s in strings(v)}
        if isinstance(value, list | tuple):
            return {s for v in value for s in strings(v)}
        return {value} if isinstance(value, str) else set()

    def canonical(variant, names: set[str]) -> str:
        groups = {
            name: dataclasses.asdict(group)
            for name, group in sorted(recipe.groups.items())
            if name in names or f"group:{name}" in names
        }
        return json.dumps({"variant": variant, "groups": groups}, sort_keys=True, default=str)

    by_metrics = {m[m.index("[") + 1 : -1] for m in recipe.eval.metrics if "[" in m}
    rows = {model.label: canonical(None, by_metrics) for model in recipe.models}
    ranker = {}  # the ranker's row (and variants of it) also depend on its settings
    if recipe.ranker is not None:
        ranker = {"ranker": dataclasses.asdict(recipe.ranker)}
        rows[recipe.ranker.label] = canonical(ranker, by_metrics | strings(ranker))
    for variant in recipe.variants:
        config = dataclasses.asdict(variant)
        for label in variant.models:
            on = {**config, **ranker} if ranker and label == recipe.ranker.label else config
            rows[f"{label}+{variant.name}"] = canonical(on, by_metrics | strings(on))
    return rows


def _changing_keys(keys: list[str], combinations, depends) -> dict[str, tuple[str, ...]]:
    """Row -> the grid keys that change it: those with two combinations equal in every other
    key whose row dependencies differ."""
    import json

    changing: dict[str, tuple[str, ...]] = {}
    for row in dict.fromkeys(row for rows in depends for row in rows):
        found = []
        for i, key in enumerate(keys):
            seen: dict[str, set] = {}
            for combination, rows in zip(combinations, depends, strict=True):
                others = json.dumps(combination[:i] + combination[i + 1 :], sort_keys=True)
                seen.setdefault(others, set()).add(rows.get(row))
            if any(len(needs) > 1 for needs in seen.values()):
                found.append(key)
        changing[row] = tuple(found)
    return changing


def prepare_sweep(
    raw: dict, grid: list[tuple[str, list]], sweep_dir: Path, data_dir, step: Step
) -> tuple[list[GridPoint], Prepared, object, list[ModelOutput]]:
    """(grid points, prepared data, item side data, fitted candidates): what every point of a
    sweep shares, built once."""
    points = grid_points(raw, grid)
    base = points[0].recipe
    if base.seeds:
        raise UserError("seeds: sweeps train each model once; drop `seeds` (use `seed`) to sweep")
    data = prepare(base, data_dir, step)
    with step("item side data for reranking and metrics"):
        context = build_context(base, data)
        if any(needs_context(point.recipe) for point in points):
            for point in points:
                check_columns_for(context, point.recipe)
    # The first point's ranker; run_sweep retrains it where a point's settings differ.
    outputs = fit_with_ranker(base, data, context, step, sweep_dir / "models")
    return points, data, context, outputs


def write_shared(
    folder: Path, points: list[GridPoint], data: Prepared, context, outputs: list[ModelOutput]
) -> tuple[SharedFiles, SharedFiles]:
    """Write what every point of a sweep holds alike into `folder`, once: the data files and
    the models' candidates. Returns the files points link (with the candidates; without them,
    for points whose ranker is retrained)."""
    write_candidates(folder / CANDIDATES, data, outputs)
    recipe = points[0].recipe
    factors = any(uses_factors(point.recipe) for point in points)
    for name in DATA_FILES:
        write_data_file(name, folder, recipe, data, context, factors)
    return SharedFiles(folder, DATA_FILES | {CANDIDATES}), SharedFiles(folder, DATA_FILES)


def run_sweep(
    raw: dict,
    grid: list[tuple[str, list]],
    sweep_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
) -> list[SweepPoint]:
    """Prepare and fit each model once, then per grid point rerank, evaluate (in memory) and
    store a run of the rows that point changes (`grid_points`).

    Every point is a run directory under `sweep_dir`, written atomically; the files every point
    holds alike are written once and linked into each (`write_shared`).
    """
    from recsys_cli.results.store import PendingRun

    points, data, context, outputs = prepare_sweep(raw, grid, sweep_dir, data_dir, step)
    results = []
    with (
        shared_folder(sweep_dir) as folder,
        step(f"sweep {len(points)} points") as sweep_progress,
    ):
        shared, retrained = write_shared(folder, points, data, context, outputs)
        sweep_progress.total(len(points), "points")
        for index, point in enumerate(points):
            recipe = point.recipe
            shown = ", ".join(f"{k}={v}" for k, v in point.values.items())
            point_context = context.for_recipe(recipe)
            point_outputs = outputs
            if recipe.ranker is not None:  # retrained where the point's ranker settings differ
                from recsys_cli.ranking.stage import add_ranker

                point_outputs = add_ranker(
                    recipe, data, outputs, point_context, step, rows=point.rows
                )
            with (
                PendingRun(sweep_dir, f"{recipe.name}-{index:03d}") as pending,
                step(f"point {index}: {shown}"),
            ):
                _, evaluation = write_run(
                    recipe,
                    pending.path,
                    data,
                    point_outputs,
                    point_context,
                    rows=point.rows,
                    evaluate=True,
                    shared=shared if point_outputs is outputs else retrained,
                )
            sweep_progress.advance()
            results.append(
                SweepPoint(
                    index, point.values, pending.final.name, evaluation.to_json(), point.rows
                )
            )
    return results


def check_columns_for(context, recipe: Recipe) -> None:
    from recsys_cli.rerank.stage import check_columns

    check_columns(context.for_recipe(recipe), recipe)
