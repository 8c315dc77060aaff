"""Evaluation end to end vs ranx: the same ranking of 100,000 users, identical values required.

Both sides start from the same numpy arrays (users x 100 ranked item ids, 1-3 relevant items per
user) and end with per-user NDCG, Recall, Precision, MAP, MRR and HitRate at 10. ranx needs its
Qrels/Run objects built from dicts (that conversion is part of its end-to-end cost, as it is for
a user of ranx); it runs with one thread, as does our kernel.

    python benchmarks/bench_eval_ranx.py [--users 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics

RANX_NAMES = {
    "ndcg": "ndcg@10",
    "recall": "recall@10",
    "precision": "precision@10",
    "map": "map@10",
    "mrr": "mrr@10",
    "hit_rate": "hit_rate@10",
}


def make_case(n_users: int, n_items: int = 50_000, depth: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    # Distinct items per list: draw depth ids from a per-user offset window (no repeats).
    offsets = rng.integers(0, n_items - depth, size=n_users)
    ranked = offsets[:, None] + rng.permuted(np.tile(np.arange(depth), (n_users, 1)), axis=1)
    ranked = ranked.astype(np.int32)
    n_true = rng.integers(1, 4, size=n_users)
    truth = [
        np.unique(
            np.concatenate(
                [
                    ranked[u, rng.integers(0, 30, size=1)],
                    rng.integers(0, n_items, size=n_true[u] - 1),
                ]
            )
        )
        for u in range(n_users)
    ]
    indptr = np.concatenate([[0], np.cumsum([len(t) for t in truth])])
    return ranked, indptr, np.concatenate(truth)


def ours(ranked, indptr, indices):
    return accuracy_metrics(ranked, indptr, indices, (10,))[:, 0, :]


def with_ranx(ranked, indptr, indices):
    from ranx import Qrels, Run, evaluate

    depth = ranked.shape[1]
    scores = np.arange(depth, 0, -1, dtype=float).tolist()
    qrels = Qrels.from_dict(
        {
            str(u): {str(i): 1 for i in indices[indptr[u] : indptr[u + 1]].tolist()}
            for u in range(ranked.shape[0])
        }
    )
    run = Run.from_dict(
        {
            str(u): dict(zip(map(str, row), scores, strict=True))
            for u, row in enumerate(ranked.tolist())
        }
    )
    values = evaluate(
        qrels,
        run,
        list(RANX_NAMES.values()),
        return_mean=False,
        threads=1,
        save_results_in_run=False,
    )
    order = np.argsort(np.array(list(qrels.keys()), dtype=np.int64))
    return np.stack([np.asarray(values[RANX_NAMES[m]])[order] for m in METRICS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    ranked, indptr, indices = make_case(args.users)
    ours(ranked[:10], indptr[:11], indices)  # compile outside the timing
    with_ranx(ranked[:10], indptr[:11], indices)

    started = time.perf_counter()
    mine = ours(ranked, indptr, indices)
    our_time = time.perf_counter() - started
    started = time.perf_counter()
    theirs = with_ranx(ranked, indptr, indices)
    ranx_time = time.perf_counter() - started
    worst = np.abs(mine - theirs).max()
    print(f"users: {args.users:,}; metrics: {', '.join(RANX_NAMES.values())}")
    print(f"rank kernel: {args.users / our_time:,.0f} users/s ({our_time:.3f} s)")
    print(
        f"ranx 0.3 (dicts -> Qrels/Run -> evaluate, 1 thread): {args.users / ranx_time:,.0f} "
        f"users/s ({ranx_time:.3f} s)"
    )
    print(f"ratio: {ranx_time / our_time:.0f}x faster; max |difference| = {worst:.2e}")
    if worst > 1e-9:
        raise SystemExit("values differ from ranx by more than 1e-9")


if __name__ == "__main__":
    main()
