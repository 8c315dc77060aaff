"""Throughput of batched MMR and DPP reranking versus a per-user Python loop, in one run.

Usage: python benchmarks/bench_rerank.py [--users 20000] [--n 100] [--k 10] [--dim 64]

The batched kernels run on one thread (no prange; NUMBA_NUM_THREADS=1 is set before numba is
imported, and BLAS is limited to one thread for the loop baseline). Both sides implement the same
algorithm (docs/rerankers.md); the loop baseline is vectorised with numpy inside each user.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from recsys_cli.rerank.dpp import dpp  # noqa: E402
from recsys_cli.rerank.mmr import mmr  # noqa: E402


def mmr_loop(candidates, scores, embeddings, k, lam):
    """Per-user Python loop of MMR (numpy inside each user)."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    emb = embeddings / np.where(norms > 0, norms, 1.0)
    out = np.full((candidates.shape[0], k), -1, dtype=np.int32)
    for u in range(candidates.shape[0]):
        valid = candidates[u] >= 0
        items = candidates[u][valid]
        s = scores[u][valid]
        span = s.max() - s.min()
        rel = (s - s.min()) / span if span > 0 else np.ones_like(s)
        e = emb[items]
        maxsim = np.zeros(items.size)
        avail = np.ones(items.size, dtype=bool)
        for t in range(min(k, items.size)):
            obj = np.where(avail, lam * rel - (1 - lam) * maxsim, -np.inf)
            j = int(np.argmax(obj))
            avail[j] = False
            out[u, t] = items[j]
            sim = e @ e[j]
            maxsim = sim if t == 0 else np.maximum(maxsim, sim)
    return out


def dpp_loop(candidates, scores, embeddings, k, theta, eps=1e-10):
    """Per-user Python loop of fast greedy DPP MAP (Chen et al. 2018, Alg. 1; numpy per user)."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    emb = embeddings / np.where(norms > 0, norms, 1.0)
    alpha = theta / (2 * (1 - theta))
    out = np.full((candidates.shape[0], k), -1, dtype=np.int32)
    for u in range(candidates.shape[0]):
        valid = candidates[u] >= 0
        items = candidates[u][valid]
        s = scores[u][valid]
        span = s.max() - s.min()
        rel = (s - s.min()) / span if span > 0 else np.ones_like(s)
        r = np.exp(alpha * (rel - 1))
        e = emb[items]
        m = min(k, items.size)
        chol = np.zeros((m, items.size))
        d2 = r * r
        avail = np.ones(items.size, dtype=bool)
        t = 0
        while t < m:
            j = int(np.argmax(np.where(avail, d2, -np.inf)))
            if d2[j] < eps:
                break
            avail[j] = False
            out[u, t] = items[j]
            lj = r[j] * r * (e @ e[j])
            ei = (lj - chol[:t, j] @ chol[:t]) / np.sqrt(d2[j])
            chol[t] = ei
            d2 = d2 - ei * ei
            t += 1
        rest = items[avail][: m - t]
        out[u, t : t + rest.size] = rest
    return out


def _distinct_items(rng, n_users, n, n_items):
    """n distinct random items per user: draw 2n with replacement, keep first occurrences."""
    draw = rng.integers(0, n_items, size=(n_users, 2 * n))
    order = np.argsort(draw, axis=1, kind="stable")
    srt = np.take_along_axis(draw, order, axis=1)
    dup = np.zeros(draw.shape, dtype=bool)
    np.put_along_axis(dup, order[:, 1:], srt[:, 1:] == srt[:, :-1], axis=1)
    if (2 * n - dup.sum(axis=1) < n).any():
        raise RuntimeError("catalogue too small for distinct candidates; raise --items")
    keep = np.sort(np.argsort(dup, axis=1, kind="stable")[:, :n], axis=1)
    return np.take_along_axis(draw, keep, axis=1).astype(np.int32)


def _rate(fn, *args, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--loop-users", type=int, default=5_000, help="users for the Python loops")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    emb = rng.standard_normal((args.items, args.dim)).astype(np.float32)
    cands = _distinct_items(rng, args.users, args.n, args.items)
    scores = -np.sort(-rng.random((args.users, args.n)), axis=1)
    lu = min(args.loop_users, args.users)

    # compile (or load the cache) outside the timing
    mmr(cands[:2], scores[:2], emb, args.k, 0.5)
    dpp(cands[:2], scores[:2], emb, args.k, 0.7)

    print(f"k={args.k} of N={args.n}, d={args.dim}, {args.items} items, one thread")
    print(f"{'algorithm':<10}{'batched users/s':>18}{'loop users/s':>15}{'ratio':>8}")
    for name, fast, slow, param in (("mmr", mmr, mmr_loop, 0.5), ("dpp", dpp, dpp_loop, 0.7)):
        t_fast, res_fast = _rate(fast, cands, scores, emb, args.k, param)
        t_slow, res_slow = _rate(slow, cands[:lu], scores[:lu], emb, args.k, param, repeat=1)
        agree = float((res_fast[:lu] == res_slow).all(axis=1).mean())
        fast_rate = args.users / t_fast
        slow_rate = lu / t_slow
        print(
            f"{name:<10}{fast_rate:>18,.0f}{slow_rate:>15,.0f}{fast_rate / slow_rate:>7.1f}x"
            f"   (lists identical for {agree:.1%} of users)"
        )


if __name__ == "__main__":
    main()
