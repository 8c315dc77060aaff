"""Evaluation throughput: users/s for NDCG@10, Recall@10 and MAP@10 from a users x 100 ranking.

Each user has 1-3 relevant items; the catalogue has 50,000 items. The kernel computes all six
accuracy metrics in one pass; we time it on one thread and print users per second, next to a
vectorised numpy computation of the same three metrics measured in the same run as a peer.

    python benchmarks/bench_eval.py [--users 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics


def make_case(n_users: int, n_items: int = 50_000, depth: int = 100, seed: int = 0):
    rng = np.random.default_rng(seed)
    ranked = rng.integers(0, n_items, size=(n_users, depth), dtype=np.int32)
    n_true = rng.integers(1, 4, size=n_users)
    indptr = np.concatenate([[0], np.cumsum(n_true)])
    # Half of each user's relevant items are planted in the ranking, so there are hits to score.
    indices = rng.integers(0, n_items, size=indptr[-1])
    plant = rng.random(indptr[-1]) < 0.5
    owners = np.repeat(np.arange(n_users), n_true)
    indices[plant] = ranked[owners[plant], rng.integers(0, 20, size=plant.sum())]
    order = np.lexsort((indices, owners))
    return ranked, indptr, indices[order]


def numpy_peer(ranked, indptr, indices, k=10):
    """The same three metrics with numpy: hits by sorted-key search, then row reductions."""
    n_users = ranked.shape[0]
    n_items = int(max(ranked.max(), indices.max())) + 1
    owners = np.repeat(np.arange(n_users), np.diff(indptr))
    truth_keys = np.sort(owners.astype(np.int64) * n_items + indices)
    keys = np.arange(n_users, dtype=np.int64)[:, None] * n_items + ranked[:, :k]
    pos = np.minimum(np.searchsorted(truth_keys, keys), len(truth_keys) - 1)
    hits = (truth_keys[pos] == keys).astype(np.float64)
    n_true = np.diff(indptr)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(n_true, k) - 1]
    ndcg = hits @ discount / ideal
    recall = hits.sum(axis=1) / n_true
    ap = (np.cumsum(hits, axis=1) / np.arange(1, k + 1) * hits).sum(axis=1) / n_true
    return ndcg, recall, ap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ranked, indptr, indices = make_case(args.users)
    accuracy_metrics(ranked[:10], indptr[:11], indices, (10,))  # compile outside the timing

    best = np.inf
    for _ in range(args.repeats):
        started = time.perf_counter()
        values = accuracy_metrics(ranked, indptr, indices, (10,))
        best = min(best, time.perf_counter() - started)
    started = time.perf_counter()
    peer = numpy_peer(ranked, indptr, indices)
    peer_time = time.perf_counter() - started
    for name, reference in zip(("ndcg", "recall", "map"), peer, strict=True):
        assert np.allclose(values[METRICS.index(name), 0], reference, atol=1e-12), name

    print(f"users: {args.users:,}  candidates per user: {ranked.shape[1]}  cutoff: 10")
    print(
        f"kernel (NDCG, Recall, MAP, Precision, MRR, HitRate @10; one thread): "
        f"{args.users / best / 1e6:.2f} M users/s ({best:.3f} s)"
    )
    print(
        f"numpy peer (NDCG, Recall, MAP @10): {args.users / peer_time / 1e6:.2f} M users/s "
        f"({peer_time:.3f} s)"
    )
    print(f"ratio kernel / numpy: {peer_time / best:.1f}x; values agree to 1e-12")


if __name__ == "__main__":
    main()
