"""A sweep's grid points as tasks on a Dask cluster, each point's run written exactly once.

Exactly once: a sweep point's task writes into a temporary directory whose name is unique to that
attempt (`.tmp-<final name>.<token>`), never into the final one. Only the client renames a finished
attempt to the point's final name, once per point, in the order results arrive; any other attempt
of the same point (one retried after its worker died, whose temporary directory may be half
written) is removed. A directory without the `.tmp-` prefix is therefore always complete.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from recsys_cli.distributed.cluster import RETRIES, worker_count
from recsys_cli.distributed.executor import warm_context
from recsys_cli.errors import UserError
from recsys_cli.pipeline.sweep import SweepPoint
from recsys_cli.progress import Step, silent_step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SplitFingerprint:
    """Stands in for `Split` on workers: write_run only reads its fingerprint."""

    value: str

    def fingerprint(self) -> str:
        return self.value


@dataclass(frozen=True)
class _Shared:
    """What every point needs, shipped once per worker: one object, so pickle stores arrays that
    the data and the context share (model input, fit matrix) once."""

    data: object
    outputs: list
    context: object


def _slim(data):
    """`Prepared` without the raw interaction tables, which write_run never reads (the heavy part
    at scale); vocabularies, model input, truth and the split fingerprint stay."""
    dataset = replace(data.dataset, interactions=data.dataset.interactions.clear())
    indexed = replace(data.indexed, interactions=data.indexed.interactions.clear())
    split = _SplitFingerprint(data.split.fingerprint())
    return replace(data, dataset=dataset, indexed=indexed, split=split)


def _sweep_point(shared, recipe, rows, temp_stem: str, files) -> tuple[str, dict]:
    """One grid point on a worker: rerank, evaluate and store its rows into a temporary
    directory named for this attempt (linking the sweep's shared `files`); returns (that
    directory, metrics.json). The client makes it final."""
    from recsys_cli.pipeline.run import write_run
    from recsys_cli.results.store import RUN_LOG, run_log

    # A fresh name per attempt: a retry (its worker died) never writes where another attempt did.
    # mkdir without parents: if the client gave up and removed the sweep, fail, do not recreate.
    path = Path(f"{temp_stem}.{secrets.token_hex(4)}")
    path.mkdir()
    try:
        with run_log(path / RUN_LOG):  # the worker's log of this attempt, in its run
            context = shared.context.for_recipe(recipe)
            _, evaluation = write_run(
                recipe,
                path,
                shared.data,
                shared.outputs,
                context,
                rows=rows,
                evaluate=True,
                shared=files,
            )
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return str(path), evaluation.to_json()


def run_sweep_distributed(
    client,
    raw: dict,
    grid: list[tuple[str, list]],
    sweep_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
) -> list[SweepPoint]:
    """`experiment.run_sweep` with the grid points run on the cluster: same directories, same
    run contents, same SweepPoint list in grid order.

    Data are prepared and models fitted once, here; the files every point holds alike are
    written once, here, and linked into each point; the fitted outputs and the item side data
    go to every worker once; each point is one task (retried elsewhere if its worker dies).
    """
    from recsys_cli.pipeline.sweep import prepare_sweep, write_shared
    from recsys_cli.results.store import PendingRun, shared_folder

    ranker_keys = [key for key, _ in grid if key.split(".")[0] == "ranker"]
    if ranker_keys:  # the ranker is retrained per point in the client: see experiment.run_sweep
        raise UserError(
            f"--grid {ranker_keys[0]}: ranker keys are swept in one process; drop --workers "
            "and --scheduler"
        )
    points, data, context, outputs = prepare_sweep(raw, grid, sweep_dir, data_dir, step)
    warm_context(context, [variant for point in points for variant in point.recipe.variants])
    sweep_dir.mkdir(parents=True, exist_ok=True)
    finals = [
        PendingRun(sweep_dir, f"{point.recipe.name}-{i:03d}").final
        for i, point in enumerate(points)
    ]
    with shared_folder(sweep_dir) as folder:
        files, _ = write_shared(folder, points, data, context, outputs)
        metrics = _run_points(
            client, points, finals, _Shared(_slim(data), outputs, context), files, step
        )
    return [
        SweepPoint(index, point.values, finals[index].name, metrics[index], point.rows)
        for index, point in enumerate(points)
    ]


def _run_points(client, points, finals, payload, files, step) -> dict[int, dict]:
    """Each point as one task on the cluster; renames each finished attempt to its point's
    final name (once per point); returns point index -> metrics.json."""
    from distributed import as_completed

    from recsys_cli.results.atomic import TEMP_PREFIX

    sweep_dir = finals[0].parent
    with step(f"ship fitted models and data to {worker_count(client)} workers"):
        [shared] = client.scatter([payload], broadcast=True)
    futures = {}
    for index, (point, final) in enumerate(zip(points, finals, strict=True)):
        future = client.submit(
            _sweep_point,
            shared,
            point.recipe,
            point.rows,
            str(sweep_dir / f"{TEMP_PREFIX}{final.name}"),
            files,
            key=f"rank-sweep-point-{final.name}",
            retries=RETRIES,
            pure=False,
        )
        futures[future] = index
    metrics: dict[int, dict] = {}
    try:
        with step(f"{len(points)} points on {worker_count(client)} workers") as progress:
            progress.total(len(points), "points")
            for future in as_completed(list(futures)):
                index = futures[future]
                temp, result = future.result()
                if index in metrics or finals[index].exists():
                    shutil.rmtree(temp, ignore_errors=True)  # a duplicate: the point is done
                    continue
                Path(temp).rename(finals[index])
                metrics[index] = result
                progress.advance()
                log.info("point %d done: %s", index, finals[index].name)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        # Attempts that died with their worker leave a half-written temporary directory.
        for final in finals:
            for leftover in sweep_dir.glob(f"{TEMP_PREFIX}{final.name}.*"):
                shutil.rmtree(leftover, ignore_errors=True)
        client.cancel([shared])
    return metrics
