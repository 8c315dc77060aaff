"""Scoring, reranking and evaluation of a run's users on 1 vs 2 Dask workers (`rank run --workers`).

A SYNTHETIC set of 5M interactions (100,000 users x 20,000 items by default) is split in time;
ALS (64 factors) and ItemKNN are fitted once here, then the evaluated users' top-100 are scored,
an MMR variant reranks ALS's lists and the lists are evaluated in memory, through the in-process executor
and through `DaskExecutor` on local clusters of 1 and 2 worker processes (one thread each). Each
configuration's lists must equal the in-process ones; the table gives seconds and the speed-up
of 2 workers over 1.

    python benchmarks/bench_dask_scoring.py [--users 100000] [--items 20000]
        [--interactions 5000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    args = parser.parse_args()

    from recsys_cli import experiment
    from recsys_cli.config.loader import recipe_from_dict
    from recsys_cli.data import synthetic
    from recsys_cli.distributed.cluster import connect
    from recsys_cli.distributed.executor import DaskExecutor
    from recsys_cli.evaluation.evaluator import EvalUsers, evaluate
    from recsys_cli.evaluation.side_data import ItemSideData
    from recsys_cli.models.registry import create_model
    from recsys_cli.progress import NO_PROGRESS

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as scratch:
        data_dir = Path(scratch)
        spec = synthetic.SynthSpec(args.users, args.items, args.interactions, seed=1)
        folder = synthetic.synthetic_dir(data_dir, "bench-dask")
        synthetic.save(synthetic.generate(spec, "bench-dask"), spec, folder)
        recipe = recipe_from_dict(
            {
                "name": "bench-dask",
                "seed": 1,
                "dataset": {"name": "bench-dask"},
                "split": {"kind": "temporal", "test": 0.1},
                "models": [
                    {"name": "implicit_als", "label": "ALS", "params": {"iterations": 5}},
                    {"name": "item_knn", "label": "ItemKNN"},
                ],
                "variants": [
                    {
                        "name": "mmr",
                        "models": ["ALS"],
                        "chain": [{"reranker": "mmr", "lambda": 0.8, "similarity": "genres"}],
                    }
                ],
                "eval": {"cutoffs": [10, 100], "metrics": ["ndcg", "recall", "ild", "coverage"]},
            }
        )
        data = experiment.prepare(recipe, data_dir)
        context = experiment.build_context(recipe, data)
        models = []
        for config in recipe.models:
            model = create_model(config.name, config.params, recipe.seed)
            models.append(model.fit(data.fit))
        users, history = data.eval_users, data.model_input[data.eval_users]
        truth = EvalUsers(data.indexed.user_ids.gather(users), data.truth)
        side = ItemSideData.of(context, recipe.eval.metrics)
        variant = recipe.variants[0]
        print(
            f"{data.fit.nnz:,} training pairs, {len(users):,} evaluated users x "
            f"{data.indexed.n_items:,} items; {os.cpu_count()} cores"
        )

        def timed(executor) -> tuple[dict, list, object]:
            seconds, lists = {}, []
            t0 = time.perf_counter()
            for model in models:
                lists.append(executor.recommend(model, users, history, 100, None, NO_PROGRESS))
            seconds["score"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            ranked = executor.rerank(context, variant, *lists[0], history)
            seconds["rerank"] = time.perf_counter() - t0
            rows = [(c.label, found[0]) for c, found in zip(recipe.models, lists, strict=True)]
            t0 = time.perf_counter()
            evaluation = evaluate(
                [*rows, (f"ALS+{variant.name}", ranked[0])],
                truth,
                side,
                recipe.eval.cutoffs,
                recipe.eval.metrics,
                score_row=executor.evaluate_row,
            )
            seconds["evaluate"] = time.perf_counter() - t0
            executor.release()
            return seconds, [*lists, ranked], evaluation

        rows = {}
        rows["in process"], reference, evaluated = timed(experiment.IN_PROCESS)
        for workers in (1, 2):
            with connect(workers=workers) as client:
                executor = DaskExecutor(client, variants=recipe.variants)
                rows[f"{workers} worker(s)"], found, evaluation = timed(executor)
            for (items, scores), (want_items, want_scores) in zip(found, reference, strict=True):
                assert np.array_equal(items, want_items) and np.array_equal(scores, want_scores)
            assert evaluation.summary.equals(evaluated.summary)

    print(f"{'':>12} {'score':>8} {'rerank':>8} {'evaluate':>9} {'total':>8}")
    for name, seconds in rows.items():
        total = sum(seconds.values())
        print(
            f"{name:>12} {seconds['score']:8.2f} {seconds['rerank']:8.2f} "
            f"{seconds['evaluate']:9.2f} {total:8.2f}"
        )
    one, two = rows["1 worker(s)"], rows["2 worker(s)"]
    for part in ("score", "rerank", "evaluate"):
        print(f"speed-up of 2 workers over 1, {part}: {one[part] / two[part]:.2f}x")
    print(f"speed-up of 2 workers over 1, total: {sum(one.values()) / sum(two.values()):.2f}x")


if __name__ == "__main__":
    main()
