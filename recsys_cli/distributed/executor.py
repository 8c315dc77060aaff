"""`DaskExecutor`: a run's scoring, reranking and evaluation in shards of users on a Dask cluster."""

from __future__ import annotations

import logging
from pathlib import Path

from recsys_cli.distributed.cluster import RETRIES, worker_count
from recsys_cli.errors import UserError
from recsys_cli.pipeline.fit import Executor
from recsys_cli.progress import NO_PROGRESS, Progress, Step, silent_step

log = logging.getLogger(__name__)


def warm_context(context, variants) -> None:
    """Fill the context's caches of data-only values (genre and artist vectors) in the client,
    so workers receive them instead of each recomputing them (the ALS item factors behind
    similarity = "factors" were fitted by the fit stage)."""
    for variant in variants:
        for step in variant.chain:
            similarity = getattr(step.params, "similarity", None)
            if similarity is not None:
                context.similarity.vectors(similarity, step.reranker)


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
    from recsys_cli.results.readback import read_manifest

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
            warm_context(context, [*self.variants, variant])
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
