"""recipe -> data -> split -> fit -> candidates -> rerank -> store -> evaluate: the one-way pipeline.

The rerank stage runs inside `train` (variants' lists are stored next to the plain lists, labelled
MODEL+variant). Beyond-accuracy metrics need the item side data (`RerankContext`): `rank run`
reuses the one built for training; `rank eval` rebuilds it by re-preparing the data from the
run's resolved recipe.toml and checks that the dataset checksum equals the manifest's.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
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
from recsys_cli.evaluation.evaluate import evaluate_lists, in_row_order, summarise, user_blocks
from recsys_cli.metrics import CATALOGUE_LEVEL, metric_kind, split_metric
from recsys_cli.models.registry import create_model
from recsys_cli.progress import NO_PROGRESS, Progress, Step, peak_memory_mib, silent_step
from recsys_cli.results.manifest import provenance
from recsys_cli.results.store import (
    RUN_LOG,
    ParquetPieces,
    read_manifest,
    read_run_recipe,
    run_log,
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
    """The rerank/metric side data of a prepared dataset; fails early on missing item columns."""
    from recsys_cli.rerank.stage import RerankContext, check_columns

    context = RerankContext.from_prepared(data, recipe)
    check_columns(context, recipe)
    if recipe.ranker is not None:
        from recsys_cli.ranking.features import check_data

        check_data(recipe, context, data)
    return context


@dataclass(frozen=True)
class ModelOutput:
    """One fitted model's top-N candidates for the evaluated users (index space) and timings."""

    label: str
    items: np.ndarray
    scores: np.ndarray
    timings: dict


class Executor:
    """Where a run's per-user work happens: the models' top-k scoring, the rerank variants and
    the evaluation of the evaluated users. This one works in this process;
    `distributed.DaskExecutor` shards the same calls over Dask workers, with identical results."""

    def recommend(self, model, users, history, k: int, block_size: int | None, progress):
        return model.recommend(users, history, k, block_size, progress=progress)

    def rerank(self, context, variant, items, scores, history):
        from recsys_cli.rerank.stage import apply_variant

        return apply_variant(context, variant, items, scores, history)

    def evaluate(self, run_dir: Path, cutoffs, metrics, *, context, data_dir, progress):
        return evaluate_run(
            run_dir, cutoffs, metrics, context=context, data_dir=data_dir, progress=progress
        )


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
    """Fit every model, rerank, write candidates, recommendations, truth, recipe and manifest."""
    if recipe.seeds:
        raise UserError("seeds: a multi-seed recipe trains and evaluates per seed; use `rank run`")
    return train_with_context(recipe, run_dir, data_dir, step)[0]


def train_with_context(
    recipe: Recipe,
    run_dir: Path,
    data_dir: Path | None,
    step: Step,
    executor: Executor = IN_PROCESS,
):
    """`train`, also returning the rerank context (None when the recipe needs none)."""
    started = time.perf_counter()
    data = prepare(recipe, data_dir, step)
    context = None
    if needs_context(recipe):
        with step("item side data for reranking and metrics"):
            context = build_context(recipe, data)
    outputs = fit_with_ranker(recipe, data, context, step, run_dir / "models", executor=executor)
    manifest = write_run(recipe, run_dir, data, outputs, context, step, started, executor=executor)
    return manifest, context


def run_recipe(
    recipe: Recipe,
    run_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
    executor: Executor = IN_PROCESS,
) -> tuple[dict, Evaluation]:
    """Train, evaluate and save into one run directory (what `rank run` and `rank bench` do).

    `executor` scores, reranks and evaluates the users (the Dask path passes its sharded
    executor). Multi-seed recipes always run in process."""
    if recipe.seeds:
        return _run_seeds(recipe, run_dir, data_dir, step)
    manifest, context = train_with_context(recipe, run_dir, data_dir, step, executor)
    with step("evaluate") as progress:
        evaluation = executor.evaluate(
            run_dir,
            recipe.eval.cutoffs,
            recipe.eval.metrics,
            context=context,
            data_dir=data_dir,
            progress=progress,
        )
        save_evaluation(evaluation, run_dir)
    timings = manifest["timings"]
    timings["train_peak_memory_mib"] = timings["peak_memory_mib"]
    timings["peak_memory_mib"] = peak_memory_mib()
    write_json(run_dir / "manifest.json", manifest)
    return manifest, evaluation


SEEDS_DIR = "seeds"


def _run_seeds(recipe: Recipe, run_dir: Path, data_dir: Path | None, step: Step):
    """One split, models trained and evaluated once per seed in complete sub-runs
    `seeds/seed-<s>/`; the top level holds the aggregate (see evaluation/seeds.py)."""
    started = time.perf_counter()
    (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
    data = prepare(recipe, data_dir, step)
    context = build_context(recipe, data) if needs_context(recipe) else None
    split_seed = recipe.seed if recipe.split.seed is None else recipe.split.seed
    manifests, evaluations = {}, {}
    for seed in recipe.seeds:
        single = dataclasses.replace(
            recipe, seed=seed, seeds=(), split=dataclasses.replace(recipe.split, seed=split_seed)
        )
        sub = run_dir / SEEDS_DIR / f"seed-{seed}"
        sub.mkdir(parents=True)
        with run_log(sub / RUN_LOG):
            outputs = fit_with_ranker(single, data, context, step, sub / "models")
            manifests[seed] = write_run(single, sub, data, outputs, context, step)
            with step(f"evaluate seed {seed}") as progress:
                evaluations[seed] = evaluate_run(
                    sub,
                    recipe.eval.cutoffs,
                    recipe.eval.metrics,
                    context=context,
                    data_dir=data_dir,
                    progress=progress,
                )
                save_evaluation(evaluations[seed], sub)
    first = run_dir / SEEDS_DIR / f"seed-{recipe.seeds[0]}"
    for name in ("test.parquet", "users.parquet", "items.parquet"):
        shutil.copyfile(first / name, run_dir / name)
    write_parquet(
        run_dir / "recommendations.parquet",
        pl.concat(
            [
                pl.read_parquet(
                    run_dir / SEEDS_DIR / f"seed-{seed}" / "recommendations.parquet"
                ).with_columns(pl.lit(seed).alias("seed"))
                for seed in recipe.seeds
            ]
        ),
    )
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


def evaluate_seeds(
    run_dir: Path, cutoffs, metrics, *, context=None, data_dir=None, step: Step = silent_step
) -> Evaluation:
    """Evaluate every seed sub-run of a multi-seed run (one step each) and aggregate them."""
    if context is None and any(metric_kind(m) != "accuracy" for m in metrics):
        context = context_for_run(run_dir, data_dir, step)  # once, not once per seed
    evaluations = {}
    for seed in load_manifest(run_dir)["seeds"]:
        with step(f"evaluate seed {seed}") as progress:
            evaluations[seed] = evaluate_run(
                run_dir / SEEDS_DIR / f"seed-{seed}",
                cutoffs,
                metrics,
                context=context,
                progress=progress,
            )
    return aggregate_seeds(evaluations, cutoffs, metrics)


def aggregate_seeds(evaluations: dict[int, Evaluation], cutoffs, metrics) -> Evaluation:
    """One evaluation from per-seed ones (see evaluation/seeds.py)."""
    from recsys_cli.evaluation.seeds import aggregate_per_user, aggregate_summary

    per_user = aggregate_per_user({s: e.per_user for s, e in evaluations.items()})
    summary = aggregate_summary({s: e.summary for s, e in evaluations.items()})
    return Evaluation(per_user, summary, tuple(cutoffs), tuple(metrics))


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
) -> dict:
    """Apply the recipe's variants to the models' candidates and write a complete run directory.

    `rank sweep` calls this once per grid point with the same fitted outputs (no retraining),
    with `rows` (plain model and MODEL+variant labels; None: all) leaving out the rows an earlier
    point already holds.
    """
    started = time.perf_counter() if started is None else started
    (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
    lists, rerank_timings = _write_lists(
        recipe, run_dir, data, outputs, context, step, rows, executor
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
        write_parquet(run_dir / "users.parquet", _user_profiles(data))
        write_parquet(run_dir / "items.parquet", _item_profiles(data))
        timings = {"models": {o.label: o.timings for o in outputs}}
        if rerank_timings:
            timings["rerank"] = rerank_timings
        from recsys_cli.ranking.stage import save_ranker

        ranker = save_ranker(outputs, run_dir)  # {"ranker": its timeline, counts, importances}
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
            "lists": lists,  # row labels of recommendations.parquet, in order
            "list_depth": max([*recipe.eval.cutoffs] + [v.length for v in recipe.variants]),
            **({"variants": list(rerank_timings)} if rerank_timings else {}),
            **ranker,
            "timings": {
                **timings,
                "train_total_s": round(time.perf_counter() - started, 3),
                "peak_memory_mib": peak_memory_mib(),
            },
            **provenance(),
        }
        write_json(run_dir / "manifest.json", manifest)
    return manifest


def context_for_run(run_dir: Path, data_dir: Path | None = None, step: Step = silent_step):
    """The `RerankContext` of a stored run, rebuilt by re-preparing the data of its recipe.toml
    (the dataset checksum must match the manifest)."""
    recipe = read_run_recipe(run_dir)
    data = prepare(recipe, data_dir, step)
    expected = load_manifest(run_dir)["dataset"]["checksum"]
    if data.dataset.checksum != expected:
        raise DataError(
            f"{run_dir}: the dataset now has checksum {data.dataset.checksum}, the run was "
            f"trained on {expected}; beyond-accuracy metrics need the same data"
        )
    with step("item side data for metrics"):
        return build_context(recipe, data)


def _write_lists(
    recipe: Recipe, run_dir: Path, data: Prepared, outputs, context, step, rows, executor
):
    """candidates.parquet (each model's top N) and recommendations.parquet (each model's and
    variant's list, max cutoff deep, of the `rows` asked for, None: all); returns the row labels
    in order and the rerank timings.

    Each model's lists are written as soon as they exist, so only one model's tables are in
    memory at a time, whatever the number of models and variants."""
    user_ids = data.indexed.user_ids.gather(data.eval_users)
    item_ids = data.indexed.item_ids
    depth = max(recipe.eval.cutoffs)
    history = data.model_input[data.eval_users] if recipe.variants else None
    rerank_timings, lists = {}, []
    with (
        ParquetPieces(run_dir / "candidates.parquet") as candidates,
        ParquetPieces(run_dir / "recommendations.parquet") as recommendations,
    ):
        for output in outputs:
            items, scores = output.items, output.scores
            frame = _lists_frame(output.label, user_ids, items, scores, item_ids)
            candidates.add(frame)
            if rows is None or output.label in rows:
                lists.append(output.label)
                if depth < items.shape[1]:
                    frame = _lists_frame(
                        output.label, user_ids, items[:, :depth], scores[:, :depth], item_ids
                    )
                recommendations.add(frame)
            del frame
            for variant in recipe.variants:
                row = f"{output.label}+{variant.name}"
                if output.label not in variant.models or (rows is not None and row not in rows):
                    continue
                with step(f"rerank {row}"):
                    t0 = time.perf_counter()
                    ranked, ranked_scores = executor.rerank(
                        context, variant, items, scores, history
                    )
                    rerank_timings[row] = {"rerank_s": round(time.perf_counter() - t0, 4)}
                recommendations.add(_lists_frame(row, user_ids, ranked, ranked_scores, item_ids))
                lists.append(row)
    return lists, rerank_timings


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


@dataclass(frozen=True)
class Evaluation:
    per_user: pl.DataFrame
    summary: pl.DataFrame
    cutoffs: tuple[int, ...]
    metrics: tuple[str, ...]

    def to_json(self) -> dict:
        """metrics.json: {model: {"metric@k": {mean, stderr, users}}}, in recipe order."""
        models: dict[str, dict] = {}
        extra = [c for c in ("seed_sd", "per_seed") if c in self.summary.columns]
        for row in self.summary.iter_rows(named=True):
            models.setdefault(row["model"], {})[f"{row['metric']}@{row['cutoff']}"] = {
                "mean": row["mean"],
                "stderr": row["stderr"],
                "users": row["users"],
                **{name: row[name] for name in extra},
            }
        return {"cutoffs": list(self.cutoffs), "metrics": list(self.metrics), "models": models}


def evaluate_run(
    run_dir: Path,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
    *,
    context=None,
    data_dir: Path | None = None,
    truth_items: pl.Series | None = None,
    progress: Progress = NO_PROGRESS,
) -> Evaluation:
    """Evaluate the stored recommendations of a run against its stored truth (original ids).

    `truth_items` restricts the held-out truth to those items (a popularity-band slice: only
    users with held-out items in the band are evaluated, on the full lists). Users are evaluated
    in blocks (`user_blocks`), each block counted on `progress` (lists = models x users).

    Accuracy comes from the stored files alone; beyond-accuracy and business metrics also need the
    item side data (`context`, else `context_for_run`). Catalogue-level metrics (coverage, gini,
    provider_gini) are one number per model and cutoff: in the summary (stderr null), not per user.
    """
    # Rows and list depth come from the manifest, so a model that recommended nothing still has
    # its (zero) row; each model's lists are read on their own further down.
    manifest = load_manifest(run_dir)
    models = pl.Series("model", manifest["lists"])
    depth = manifest["list_depth"]
    scan = pl.scan_parquet(run_dir / "recommendations.parquet")
    test = pl.read_parquet(run_dir / "test.parquet").filter(pl.col("status") == "evaluated")
    if truth_items is not None:
        test = test.filter(pl.col("item").is_in(truth_items.implode()))
    if max(cutoffs) > depth:
        raise UserError(
            f"{run_dir}: recommendations hold {depth} items per user; cutoff "
            f"{max(cutoffs)} needs a new run with a larger eval.cutoffs"
        )
    accuracy = tuple(m for m in metrics if metric_kind(m) == "accuracy")
    beyond = tuple(m for m in metrics if metric_kind(m) != "accuracy")
    users = test["user"].unique(maintain_order=True).sort()
    listed = scan.select(pl.col("item").unique()).collect()["item"]
    items = pl.concat([listed, test["item"]]).unique().sort()
    truth_pairs = _indexed_pairs(test.unique(["user", "item"]), users, items)
    truth = sp.csr_matrix(
        (np.ones(truth_pairs.height), (truth_pairs["u"], truth_pairs["i"])),
        shape=(len(users), len(items)),
    )
    to_context = None
    if beyond:
        context = context or context_for_run(run_dir, data_dir)
        to_context = context.item_index(items)
        truth_context = sp.csr_matrix(
            (truth.data, to_context[truth.indices], truth.indptr),
            shape=(len(users), context.n_items),
        )
        truth_context.sort_indices()
    from recsys_cli.evaluation.beyond import beyond_metrics

    whole_list = tuple(m for m in beyond if split_metric(m)[0] in CATALOGUE_LEVEL)
    beyond = tuple(m for m in beyond if m not in whole_list)
    progress.total(len(models) * len(users), "lists")
    started = time.perf_counter()
    per_model, catalogue = [], []
    for model in models:
        model_started = time.perf_counter()
        lists = _indexed_pairs(
            scan.filter(pl.col("model") == model).select("user", "item", "rank").collect(),
            users,
            items,
        )
        ranked = np.full((len(users), depth), -1, dtype=np.int32)
        ranked[lists["u"].to_numpy(), lists["rank"].to_numpy() - 1] = lists["i"].to_numpy()
        # Item indices are >= 0: a (user, rank) given twice fills fewer cells than it has rows.
        if np.count_nonzero(ranked >= 0) != lists.height:
            raise UserError(
                f"{run_dir}: {model} has more than one item at some (user, rank); a multi-seed "
                "run is evaluated per seed (rank eval evaluates seeds/* and aggregates)"
            )
        if beyond or whole_list:
            in_context = np.where(ranked >= 0, to_context[np.maximum(ranked, 0)], -1)
            in_context = in_context.astype(np.int32)
        tables = []
        for rows in user_blocks(len(users), progress):
            if accuracy:
                tables.append(
                    evaluate_lists(ranked[rows], truth[rows], cutoffs, accuracy, users[rows])
                )
            if beyond:
                table, _ = beyond_metrics(
                    context, in_context[rows], users[rows], truth_context[rows], cutoffs, beyond
                )
                tables += [table] if table is not None else []
        if tables:
            table = in_row_order(pl.concat(tables), accuracy + beyond, cutoffs)
            per_model.append(table.select(pl.lit(model).alias("model"), pl.all()))
        if whole_list:
            _, whole = beyond_metrics(
                context, in_context, users, truth_context, cutoffs, whole_list
            )
            catalogue.append(whole.select(pl.lit(model).alias("model"), pl.all()))
        log.debug("evaluated %s: %.2f s", model, time.perf_counter() - model_started)
    log.info(
        "evaluated %d lists x %s users (%s at %s): %.2f s",
        len(models),
        f"{len(users):,}",
        ", ".join(metrics),
        ", ".join(map(str, cutoffs)),
        time.perf_counter() - started,
    )
    per_user = pl.concat(per_model) if per_model else _empty_per_user(users)
    summary = summarise(per_user)
    if catalogue:
        whole = pl.concat(catalogue).select(
            "model",
            "metric",
            "cutoff",
            pl.col("value").alias("mean"),
            pl.lit(None, dtype=pl.Float64).alias("stderr"),
            pl.lit(len(users), dtype=summary["users"].dtype).alias("users"),
        )
        summary = pl.concat([summary, whole])
    summary = order_summary(summary, models, metrics, cutoffs)
    return Evaluation(per_user, summary, tuple(cutoffs), tuple(metrics))


def _indexed_pairs(frame: pl.DataFrame, users: pl.Series, items: pl.Series) -> pl.DataFrame:
    """`frame` with `u` and `i`, the positions of its user and item in the sorted `users` and
    `items`; rows whose user or item is not there are dropped (an inner join's rows)."""
    from recsys_cli.data.prepare import positions

    return frame.with_columns(
        positions(frame["user"], users).alias("u"), positions(frame["item"], items).alias("i")
    ).drop_nulls(["u", "i"])


def _empty_per_user(users: pl.Series) -> pl.DataFrame:
    """The per-user table when only catalogue-level metrics were asked for."""
    return pl.DataFrame(
        schema={
            "model": pl.Utf8,
            "user": users.dtype,
            "metric": pl.Utf8,
            "cutoff": pl.Int32,
            "value": pl.Float64,
        }
    )


def order_summary(summary: pl.DataFrame, models: pl.Series, metrics, cutoffs) -> pl.DataFrame:
    """Rows by model (stored order), then metric (requested order), then cutoff."""
    keys = [
        pl.DataFrame({"model": models, "_m": np.arange(len(models))}),
        pl.DataFrame({"metric": list(metrics), "_k": np.arange(len(metrics))}),
        pl.DataFrame({"cutoff": pl.Series(cutoffs, dtype=summary["cutoff"].dtype)}).with_row_index(
            "_c"
        ),
    ]
    on = ["model", "metric", "cutoff"]
    for key, column in zip(keys, on, strict=True):
        summary = summary.join(key, on=column, how="left", maintain_order="left")
    return summary.sort("_m", "_k", "_c", maintain_order=True).drop("_m", "_k", "_c")


def save_evaluation(evaluation: Evaluation, target: Path) -> None:
    """per_user.parquet first, metrics.json last (its presence marks a finished evaluation)."""
    write_parquet(target / "per_user.parquet", evaluation.per_user)
    try:
        write_json(target / "metrics.json", evaluation.to_json())
    except BaseException:
        (target / "per_user.parquet").unlink()  # ours: write_parquet never replaces a file
        raise


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
    context = None
    if any(needs_context(point.recipe) for point in points):
        with step("item side data for reranking and metrics"):
            context = build_context(base, data)
            for point in points:
                check_columns_for(context, point.recipe)
    # The first point's ranker; run_sweep retrains it where a point's settings differ.
    outputs = fit_with_ranker(base, data, context, step, sweep_dir / "models")
    return points, data, context, outputs


def run_sweep(
    raw: dict,
    grid: list[tuple[str, list]],
    sweep_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
) -> list[SweepPoint]:
    """Prepare and fit each model once, then per grid point rerank, store and evaluate a run of
    the rows that point changes (`grid_points`).

    Every point is a run directory under `sweep_dir`, written atomically.
    """
    from recsys_cli.results.store import PendingRun

    points, data, context, outputs = prepare_sweep(raw, grid, sweep_dir, data_dir, step)
    results = []
    with step(f"sweep {len(points)} points") as sweep_progress:
        sweep_progress.total(len(points), "points")
        for index, point in enumerate(points):
            recipe = point.recipe
            shown = ", ".join(f"{k}={v}" for k, v in point.values.items())
            point_context = context.for_recipe(recipe) if context is not None else None
            point_outputs = outputs
            if recipe.ranker is not None:  # retrained where the point's ranker settings differ
                from recsys_cli.ranking.stage import add_ranker

                point_outputs = add_ranker(
                    recipe, data, outputs, point_context, step, rows=point.rows
                )
            with (
                PendingRun(sweep_dir, f"{recipe.name}-{index:03d}") as pending,
                step(f"point {index}: {shown}") as progress,
            ):
                write_run(
                    recipe, pending.path, data, point_outputs, point_context, rows=point.rows
                )
                evaluation = evaluate_run(
                    pending.path,
                    recipe.eval.cutoffs,
                    recipe.eval.metrics,
                    context=point_context,
                    progress=progress,
                )
                save_evaluation(evaluation, pending.path)
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
