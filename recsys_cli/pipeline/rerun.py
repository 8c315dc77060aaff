"""Rerank a stored run (`rank rerank`, `rank sweep --from-run`): its candidates, truth and item
side data loaded back into index arrays, variants applied and evaluated in memory as `rank run`
does, and a new complete run directory written. No model is fitted, no data prepared."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.config.schema import Recipe
from recsys_cli.errors import RecipeError, UserError
from recsys_cli.evaluation.evaluator import (
    Evaluation,
    Evaluator,
    EvalUsers,
    needs_profiles,
    needs_side_data,
)
from recsys_cli.pipeline.fit import IN_PROCESS, ModelOutput
from recsys_cli.pipeline.lists import RankedRow, ranked_rows
from recsys_cli.pipeline.store import CANDIDATES, DATA_FILES, list_frames
from recsys_cli.progress import Step, peak_memory_mib, silent_step
from recsys_cli.results.side_data import StoredSide
from recsys_cli.results.store import SharedFiles

# Only these recipe sections may change: anything else would need refitting the models.
RERANKABLE = ("variants", "groups")


@dataclass(frozen=True)
class StoredRun:
    """What a stored run holds for reranking: its resolved recipe (raw table and validated),
    manifest, evaluated users (rows of users.parquet) and items, side data, held-out truth and
    each model's candidates (users x N index arrays, as the models returned them)."""

    path: Path
    raw: dict
    recipe: Recipe
    manifest: dict
    side: StoredSide
    users: EvalUsers
    item_ids: pl.Series
    outputs: list[ModelOutput]


def open_stored(path: Path) -> StoredRun:
    """Load a complete single-seed run that stored its candidates; one line otherwise."""
    from recsys_cli.config.loader import read_toml
    from recsys_cli.evaluation.stored import stored_truth
    from recsys_cli.results.readback import (
        check_parquet,
        damaged_run_reported,
        open_run_dir,
        read_manifest,
        read_run_recipe,
    )
    from recsys_cli.results.side_data import read_side_data

    open_run_dir(path)
    manifest = read_manifest(path)
    if manifest.get("seeds"):
        raise UserError(f"{path}: a multi-seed run; rerank one seed's run: {path}/seeds/seed-N")
    if not (path / CANDIDATES).is_file():
        raise UserError(f"{path}: no {CANDIDATES} (the models' stored candidates) to rerank")
    check_parquet(path / CANDIDATES, ("model", "user", "rank", "item", "score"))
    recipe = read_run_recipe(path)
    with damaged_run_reported(path):
        user_ids = pl.read_parquet(path / "users.parquet", columns=["user"])["user"]
        item_ids = pl.read_parquet(path / "items.parquet", columns=["item"])["item"]
        side = read_side_data(path, len(user_ids))
        users = stored_truth(path, user_ids, item_ids, side.history, None)
        outputs = _stored_candidates(path, recipe, manifest["models"], user_ids, item_ids)
    raw = read_toml(path / "recipe.toml")
    return StoredRun(path, raw, recipe, manifest, side, users, item_ids, outputs)


def _stored_candidates(
    path: Path, recipe: Recipe, labels: list[str], user_ids: pl.Series, item_ids: pl.Series
) -> list[ModelOutput]:
    """Each model's rows of candidates.parquet as users x N items (-1 padded) and scores
    (-inf padded); N is what the model was asked for (its list may be shorter)."""
    from recsys_cli.evaluation.stored import index_of

    scan = pl.scan_parquet(path / CANDIDATES)
    outputs = []
    for label in labels:
        found = scan.filter(pl.col("model") == label).select("user", "rank", "item", "score")
        found = found.collect()
        asked = recipe.eval.candidates
        if recipe.ranker is not None and label == recipe.ranker.label:
            asked = recipe.ranker.length
        width = max(min(asked, len(item_ids)), int(found["rank"].max() or 0))
        rows, columns = index_of(found["user"], user_ids), index_of(found["item"], item_ids)
        ranks = found["rank"].to_numpy().astype(np.int64) - 1
        if (rows < 0).any() or (columns < 0).any() or (ranks < 0).any():
            raise UserError(f"{path / CANDIDATES}: {label} names unknown users or items")
        scores = found["score"].to_numpy()
        items = np.full((len(user_ids), width), -1, dtype=np.int32)
        padded = np.full((len(user_ids), width), -np.inf, dtype=scores.dtype)
        items[rows, ranks] = columns
        padded[rows, ranks] = scores
        outputs.append(ModelOutput(label, items, padded, {}))
    return outputs


def rerank_recipe(
    stored: StoredRun, variants: Path | None, overrides: list[str] = ()
) -> tuple[dict, Recipe]:
    """The run's recipe with the [[variants]] of the recipe file `variants` (None: its own) and
    its [groups] added to the run's, then `--set` overrides (variants and groups only): the raw
    table (for sweeps) and the validated recipe, errors with the file and key path."""
    import copy

    from recsys_cli.config.loader import (
        absolute_paths,
        apply_override,
        read_toml,
        recipe_from_dict,
        resolve_recipe,
    )

    for override in overrides:
        key = override.partition("=")[0].strip()
        if key.split(".")[0].split("[")[0] not in RERANKABLE:
            raise UserError(
                f"--set {override!r}: reranking a stored run changes only variants[...] and "
                "groups.* (the models are not refitted); use `rank run --set` instead"
            )
    raw = copy.deepcopy(stored.raw)
    source = str(stored.path / "recipe.toml")
    if variants is not None:
        source, path = str(variants), resolve_recipe(variants)
        given = read_toml(path, source)
        if not given.get("variants"):
            raise RecipeError("variants", "no [[variants]] to apply to the stored run", source)
        absolute_paths(given, path.parent)  # group files relative to the variants file
        raw["variants"] = given["variants"]
        raw["groups"] = {**raw.get("groups", {}), **given.get("groups", {})}
    try:
        for override in overrides:
            apply_override(raw, override)
        absolute_paths(raw, Path.cwd())
        return raw, recipe_from_dict(raw)
    except RecipeError as error:
        raise RecipeError(error.path, str(error).removeprefix(f"{error.path}: "), source) from None


def rerank_context(stored: StoredRun, recipe: Recipe):
    """A `RerankContext` over the stored side data for `recipe`'s variants, groups and
    metrics; a column, profile or ALS factors the run did not store is one line."""
    from recsys_cli.rerank.stage import check_columns
    from recsys_cli.results.side_data import side_context

    if recipe.variants and stored.side.history is None:
        raise UserError(
            f"{stored.path}: the run did not store the users' training profiles that rerankers "
            "read (side/); it was made by an older version of rank: run it again"
        )
    for v, variant in enumerate(recipe.variants):
        for s, step in enumerate(variant.chain):
            if (
                getattr(step.params, "similarity", None) == "factors"
                and stored.side.factors is None
            ):
                raise RecipeError(
                    f"variants[{v}].chain[{s}].similarity",
                    "'factors' reads ALS item factors, which this run did not fit (none of its "
                    "variants or metrics used them); run the recipe with `rank run` instead",
                )
    context = side_context(stored.side, stored.users.ids, recipe, recipe.eval.metrics)
    check_columns(context, recipe)
    return context


def rerank_run(
    stored: StoredRun,
    recipe: Recipe,
    run_dir: Path,
    step: Step = silent_step,
    rows: Collection[str] | None = None,
    context=None,
    variants_file: Path | None = None,
) -> tuple[dict, Evaluation]:
    """Apply `recipe`'s variants to the stored candidates, evaluate each row in memory and write
    a complete run directory (the data files and candidates linked from the stored run);
    `rows` as in `pipeline.run.write_run`. Returns the manifest and the evaluation."""
    from recsys_cli.config.loader import recipe_to_toml
    from recsys_cli.evaluation.side_data import ItemSideData
    from recsys_cli.evaluation.stored import save_evaluation
    from recsys_cli.ranking.stage import RANKER_DIR
    from recsys_cli.results.atomic import write_frames, write_json
    from recsys_cli.results.manifest import provenance

    started = time.perf_counter()
    context = rerank_context(stored, recipe) if context is None else context
    metrics, cutoffs = recipe.eval.metrics, recipe.eval.cutoffs
    users = stored.users
    if not needs_profiles(metrics):
        users = EvalUsers(users.ids, users.truth)
    side = ItemSideData.of(context, metrics) if needs_side_data(metrics) else None
    evaluator = Evaluator(users, side, cutoffs, metrics, IN_PROCESS.evaluate_row)
    made = []

    def keep(row: RankedRow) -> None:
        with step(f"evaluate {row.label}") as progress:
            progress.total(len(users), "users")
            evaluator.add(row.label, row.items, progress)
        made.append(row)

    timings = ranked_rows(recipe, stored.outputs, context, stored.side.history, keep, step, rows)
    with step("evaluate"):
        evaluation = evaluator.result()
    with step("write run"):
        (run_dir / "recipe.toml").write_text(recipe_to_toml(recipe), encoding="utf-8")
        carried = DATA_FILES | {CANDIDATES}
        if "ranker" in stored.manifest:  # the learned ranker behind the stored candidates
            carried |= {RANKER_DIR}
        shared = SharedFiles(stored.path, carried)
        for name in sorted(shared.names):
            shared.place(name, run_dir)

        def frames():
            for row in made:
                yield from list_frames(row.label, users.ids, row.items, row.scores, stored.item_ids)

        write_frames(run_dir / "recommendations.parquet", frames)
    source = stored.manifest
    manifest = {
        **{key: source[key] for key in ("recipe", "seed", "dataset", "split", "counts")},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "models": source["models"],
        "lists": [row.label for row in made],
        "list_depth": max([*cutoffs] + [v.length for v in recipe.variants]),
        **({"variants": list(timings)} if timings else {}),
        **({"ranker": source["ranker"]} if "ranker" in source else {}),
        "reranked_from": {
            "run": str(stored.path.resolve()),
            "variants": str(variants_file) if variants_file else "the run's recipe",
        },
        "timings": {
            "rerank": timings,
            "total_s": round(time.perf_counter() - started, 3),
            "peak_memory_mib": peak_memory_mib(),
        },
        **provenance(),
    }
    write_json(run_dir / "manifest.json", manifest)
    save_evaluation(evaluation, run_dir)
    return manifest, evaluation


def sweep_stored(
    stored: StoredRun, raw: dict, grid: list[tuple[str, list]], sweep_dir: Path, step: Step
):
    """`pipeline.sweep.run_sweep` over a stored run's candidates: per grid point, a run of the
    rows it changes (`grid_points`), reranked from the stored candidates. Only variants and
    groups can vary (the models and a ranker are not refitted)."""
    from recsys_cli.pipeline.sweep import SweepPoint, grid_points
    from recsys_cli.results.store import PendingRun

    for key, _ in grid:
        if key.split(".")[0].split("[")[0] not in RERANKABLE:
            raise UserError(
                f"--grid {key}: a sweep from a stored run reranks its candidates; only "
                "variants[...] and groups.* keys can vary (anything else needs refitting: "
                "sweep the recipe without --from-run)"
            )
    points = grid_points(raw, grid)
    base = rerank_context(stored, points[0].recipe)
    for point in points[1:]:
        rerank_context(stored, point.recipe)  # every point's columns, before any work
    results = []
    with step(f"sweep {len(points)} points") as progress:
        progress.total(len(points), "points")
        for index, point in enumerate(points):
            recipe = point.recipe
            shown = ", ".join(f"{k}={v}" for k, v in point.values.items())
            with (
                PendingRun(sweep_dir, f"{recipe.name}-{index:03d}") as pending,
                step(f"point {index}: {shown}"),
            ):
                _, evaluation = rerank_run(
                    stored, recipe, pending.path, step, point.rows, base.for_recipe(recipe)
                )
            progress.advance()
            results.append(
                SweepPoint(
                    index, point.values, pending.final.name, evaluation.to_json(), point.rows
                )
            )
    return results
