"""Sweeps: grid points over variants, groups and ranker settings, each a run of the rows it
changes, over one prepared dataset and one fit of the models."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.config.schema import Recipe
from recsys_cli.errors import UserError
from recsys_cli.pipeline.fit import (
    ModelOutput,
    build_context,
    fit_with_ranker,
    needs_context,
    uses_factors,
)
from recsys_cli.pipeline.prepare import Prepared, prepare
from recsys_cli.pipeline.run import write_run
from recsys_cli.pipeline.store import CANDIDATES, DATA_FILES, write_candidates, write_data_file
from recsys_cli.progress import Step, silent_step
from recsys_cli.results.store import SharedFiles, shared_folder


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
        context = build_context(base, data, also=[point.recipe for point in points])
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
