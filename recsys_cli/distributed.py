"""Sweeps, and a run's scoring, reranking and evaluation, on a Dask distributed cluster, with
results identical to one process.

The only module that imports dask/distributed, always inside functions: `import recsys_cli` never
needs the `distributed` extra. Workers read and write run directories by path, so the results
directory must be on storage every worker sees at the same path (one machine, or a shared
filesystem such as NFS on a cluster).

Exactly once: a sweep point's task writes into a temporary directory whose name is unique to that
attempt (`.tmp-<final name>.<token>`), never into the final one. Only the client renames a finished
attempt to the point's final name, once per point, in the order results arrive; any other attempt
of the same point (one retried after its worker died, whose temporary directory may be half
written) is removed. A directory without the `.tmp-` prefix is therefore always complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from recsys_cli.errors import UserError
from recsys_cli.pipeline.fit import Executor
from recsys_cli.pipeline.sweep import SweepPoint
from recsys_cli.progress import NO_PROGRESS, Progress, Step, silent_step

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'recsys-cli[distributed]'"
# A task whose worker dies is rescheduled by the scheduler anyway; retries also cover a task that
# fails with an exception on a sick worker (e.g. out of disk), at most this many times more.
RETRIES = 2


def _distributed():
    """The `distributed` package, or one clear line saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UserError(
            f"--workers/--scheduler need Dask distributed, which is not installed: {INSTALL_HINT}"
        ) from None
    return distributed


# Each local worker is a process of its own (one thread): beyond a few per core they only
# compete for memory and cores.
LOCAL_WORKERS_PER_CORE = 4


@contextlib.contextmanager
def connect(
    workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0
) -> Iterator:
    """A `distributed.Client`: a local cluster of `workers` processes, or an existing scheduler.

    A local cluster listens on 127.0.0.1 only (one thread per worker process, so BLAS and numba
    do not oversubscribe cores) and is closed on exit; an existing scheduler is left running.
    """
    if (workers is None) == (scheduler is None):
        raise UserError("give either --workers N (a local cluster) or --scheduler tcp://HOST:PORT")
    distributed = _distributed()
    if workers is not None:
        if workers < 1:
            raise UserError(f"--workers {workers}: needs at least one worker")
        most = LOCAL_WORKERS_PER_CORE * (os.cpu_count() or 1)
        if workers > most:
            raise UserError(
                f"--workers {workers}: a local cluster runs at most {most} worker processes "
                f"here ({LOCAL_WORKERS_PER_CORE} per core); a larger cluster: --scheduler"
            )
        with (
            distributed.LocalCluster(
                n_workers=workers,
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise UserError(
            f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({error}); start one "
            "with `dask scheduler` and pass the tcp://HOST:PORT address it prints"
        ) from None
    with client:
        yield client


def worker_count(client) -> int:
    """Workers currently connected to the client's scheduler."""
    return len(client.scheduler_info().get("workers", {}))


# --- sweeps ------------------------------------------------------------------------------------


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


def _warm(context, variants) -> None:
    """Fill the context's caches of data-only values (genre and artist vectors) in the client,
    so workers receive them instead of each recomputing them (the ALS item factors behind
    similarity = "factors" were fitted by the fit stage)."""
    for variant in variants:
        for step in variant.chain:
            similarity = getattr(step.params, "similarity", None)
            if similarity is not None:
                context.similarity.vectors(similarity, step.reranker)


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
    _warm(context, [variant for point in points for variant in point.recipe.variants])
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

    from recsys_cli.results.store import TEMP_PREFIX

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


# --- sharded evaluation ------------------------------------------------------------------------


def evaluate_run_sharded(
    client,
    run_dir: Path,
    cutoffs: tuple[int, ...],
    metrics: tuple[str, ...],
    shards: int | None = None,
    *,
    progress: Progress = NO_PROGRESS,
):
    """`evaluation.stored.evaluate_run` with each row's per-user values computed in contiguous
    shards of the users on the workers (`DaskExecutor.evaluate_row`); per-user table and
    summary are identical to it."""
    from recsys_cli.evaluation.stored import evaluate_run
    from recsys_cli.results.store import read_manifest

    run_dir = Path(run_dir)
    if read_manifest(run_dir).get("seeds"):
        raise UserError(
            f"{run_dir}: a multi-seed run is evaluated per seed in one process; drop --workers"
        )
    if shards is not None and shards < 1:
        raise UserError(f"--shards {shards}: needs at least one shard")
    executor = DaskExecutor(client, shards)
    log.info("evaluating %s in shards on %d workers", run_dir, worker_count(client))
    try:
        return evaluate_run(
            run_dir, cutoffs, metrics, progress=progress, score_row=executor.evaluate_row
        )
    finally:
        executor.release()


# --- a run's per-user work ---------------------------------------------------------------------

# Shards per worker for scoring and reranking: several, so a slow worker or an uneven share of
# heavy users does not leave the others idle at the end.
SHARDS_PER_WORKER = 4


def _one_thread(work, shared, piece: tuple):
    """`work(shared, *piece)` with numba on one thread: a worker process is one core's worth."""
    import numba

    numba.set_num_threads(1)
    return work(shared, *piece)


def _score_shard(model, users, history, k: int, block: int):
    return model.recommend(users, history, k, block)


def _evaluate_shard(side, users, items, cutoffs, metrics):
    """Per-user values of one shard of a row's lists, on a worker (one thread)."""
    import numba

    from recsys_cli.evaluation.evaluator import per_user_values

    numba.set_num_threads(1)
    return per_user_values(items, users, side, cutoffs, metrics)


def _rerank_shard(context, variant, items, scores, history):
    from recsys_cli.rerank.stage import apply_variant

    return apply_variant(context, variant, items, scores, history)


class DaskExecutor(Executor):
    """`experiment.Executor` on a Dask cluster: each fitted model and the item side data go to
    every worker once, then contiguous shards of the evaluated users are scored, reranked and
    evaluated as tasks, and the shards' results are put back in user order.

    Identical to one process: a model scores a shard in the blocks it would use in one process
    (shards start at block boundaries, so every block holds the same users), rerankers and
    per-user metrics work user by user (each shard gets its users' truth and profiles once, as
    arrays), and the catalogue-level metrics of a row are computed here over all its lists.
    Models that are not `shardable` (the random floor, RecBole) score in this process."""

    def __init__(self, client, shards: int | None = None, variants=()):
        self.client = client
        self.shards = shards
        self.variants = variants  # their similarities are computed here, once, before shipping
        self._context = None  # (context, its future on the workers)
        self._evaluation = None  # (users, side, user spans, their futures, side's future)

    def _shard_count(self, most: int) -> int:
        wanted = self.shards or SHARDS_PER_WORKER * max(worker_count(self.client), 1)
        return max(1, min(wanted, most))

    def _run(self, work, shared, pieces, progress: Progress, sizes) -> list:
        """`work(shared, *piece)` for each piece as tasks, counted on `progress` by `sizes`;
        the results in piece order. Pieces are scattered first (not pickled into the graph)."""
        from distributed import as_completed

        futures = [
            self.client.submit(_one_thread, work, shared, piece, retries=RETRIES, pure=False)
            for piece in self.client.scatter(list(pieces))
        ]
        size = dict(zip(futures, sizes, strict=True))
        try:
            for future in as_completed(futures):
                progress.advance(size[future])
            return self.client.gather(futures)
        except BaseException:
            self.client.cancel(futures)
            raise

    def recommend(self, model, users, history, k, block_size, progress):
        import numpy as np

        if not model.shardable:
            return super().recommend(model, users, history, k, block_size, progress)
        block = model.block_rows(block_size)
        blocks = -(-len(users) // block)
        bounds = np.linspace(0, blocks, self._shard_count(blocks) + 1).round().astype(int)
        starts = np.minimum(bounds * block, len(users))
        spans = [(a, b) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]
        progress.total(len(users), "users")
        [shared] = self.client.scatter([model], broadcast=True)
        try:
            parts = self._run(
                _score_shard,
                shared,
                [(users[a:b], history[a:b], k, block) for a, b in spans],
                progress,
                [b - a for a, b in spans],
            )
        finally:
            self.client.cancel([shared])
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def rerank(self, context, variant, items, scores, history):
        import numpy as np

        if self._context is None or self._context[0] is not context:
            self._release()
            _warm(context, [*self.variants, variant])
            [shared] = self.client.scatter([context], broadcast=True)
            self._context = (context, shared)
        bounds = np.linspace(0, len(items), self._shard_count(len(items)) + 1).round()
        spans = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        parts = self._run(
            _rerank_shard,
            self._context[1],
            [(variant, items[a:b], scores[a:b], history[a:b]) for a, b in spans],
            NO_PROGRESS,
            [b - a for a, b in spans],
        )
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _evaluation_data(self, users, side):
        """(user spans, each span's users on the workers, the side data on every worker):
        shipped once per (users, side) pair."""
        import numpy as np

        held = self._evaluation
        if held is None or held[0] is not users or held[1] is not side:
            self._release_evaluation()
            bounds = np.linspace(0, len(users), self._shard_count(len(users)) + 1).round()
            spans = [
                (int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a
            ]
            parts = self.client.scatter([users.rows(slice(a, b)) for a, b in spans])
            [shipped] = self.client.scatter([side], broadcast=True) if side is not None else [None]
            self._evaluation = (users, side, spans, parts, shipped)
        return self._evaluation[2:]

    def evaluate_row(self, items, users, side, cutoffs, metrics, progress):
        from distributed import as_completed

        from recsys_cli.evaluation.evaluator import catalogue_values, join_user_blocks

        spans, parts, shipped = self._evaluation_data(users, side)
        futures = [
            self.client.submit(
                _evaluate_shard, shipped, part, piece, cutoffs, metrics, retries=RETRIES, pure=False
            )
            for part, piece in zip(
                parts, self.client.scatter([items[a:b] for a, b in spans]), strict=True
            )
        ]
        size = {future: b - a for future, (a, b) in zip(futures, spans, strict=True)}
        try:
            for future in as_completed(futures):
                progress.advance(size[future])
            tables = [t for t in self.client.gather(futures) if t is not None]
        except BaseException:
            self.client.cancel(futures)
            raise
        per_user = join_user_blocks(tables, metrics, cutoffs)
        return per_user, catalogue_values(items, users, side, cutoffs, metrics)

    def _release_evaluation(self) -> None:
        if self._evaluation is not None:
            shipped = [*self._evaluation[3], self._evaluation[4]]
            self.client.cancel([f for f in shipped if f is not None])
            self._evaluation = None

    def _release(self) -> None:
        if self._context is not None:
            self.client.cancel([self._context[1]])
            self._context = None

    def release(self) -> None:
        self._release()
        self._release_evaluation()


def run_recipe_distributed(
    client,
    recipe,
    run_dir: Path,
    data_dir: Path | None = None,
    step: Step = silent_step,
    shards: int | None = None,
):
    """`experiment.run_recipe` with the top-k scoring, reranking and evaluation of the evaluated
    users sharded over the cluster's workers (`DaskExecutor`); training stays in this process
    (models fit once, on the whole matrix).

    A multi-seed recipe runs as `experiment.run_recipe` does, in this process: its per-seed
    sub-runs and their aggregation have one implementation."""
    from recsys_cli.pipeline.run import run_recipe

    executor = DaskExecutor(client, shards, recipe.variants)
    return run_recipe(recipe, run_dir, data_dir, step, executor)
