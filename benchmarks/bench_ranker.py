"""Ranker throughput: (user, candidate) rows per second for pooling, features and ranking.

SYNTHETIC data (`rank datasets synth`'s generator): users with training histories, 100 pooled
candidates each from four generators (the first retrieves all 100, each other one a random
half), every feature a temporal dataset with genres, artists and years allows (18 columns), and
a booster of the ranker's default size (100 trees of 7 leaves) trained beforehand. Timed, on
one thread: pooling, `build_features`, scoring (QuickScorer over the trees, `ranking.forest`)
and ordering each user's pool (`rank_pool`): what the ranker does to the test users of a run.

Peers measured in the same run, on the same rows and the same booster:
- the same batched path, scored by LightGBM's own `Booster.predict` (one thread);
- a naive per-user loop: each user's pool and feature rows built with Python dicts and numpy
  lookups, scored with `Booster.predict`, ordered with argsort (on a subset of the users).
Rows/s are given in process CPU time (the machine may be shared with other work) and in wall
time; ratios use CPU time.

    python benchmarks/bench_ranker.py [--users 20000] [--items 20000] [--interactions 2000000]
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from recsys_cli.config.loader import recipe_from_dict  # noqa: E402
from recsys_cli.config.schema import RankerParams  # noqa: E402
from recsys_cli.data import synthetic  # noqa: E402
from recsys_cli.experiment import build_context, prepare  # noqa: E402
from recsys_cli.ranking import learner  # noqa: E402
from recsys_cli.ranking.features import Stage, build_features  # noqa: E402
from recsys_cli.ranking.pool import pool_candidates, rank_pool  # noqa: E402

GENERATORS = ("g0", "g1", "g2", "g3")
FEATURES = (
    "score",
    "rank",
    "retrieved_by",
    "popularity",
    "popularity_trend",
    "item_age",
    "release_age",
    "user_activity",
    "genre_affinity",
    "artist_affinity",
    "artist_new",
    "group:tail",
)
CANDIDATES = 100


def setup(args, folder: Path):
    """Prepared synthetic data (every user with a history is ranked), its side data, and the
    four generators' lists (rows aligned with the ranked users)."""
    spec = synthetic.SynthSpec(args.users, args.items, args.interactions, seed=1)
    synthetic.save(
        synthetic.generate(spec, "bench-ranker"), spec, folder / "synthetic" / "bench-ranker"
    )
    recipe = recipe_from_dict(
        {
            "name": "bench-ranker",
            "dataset": {"name": "bench-ranker"},
            "split": {"kind": "temporal", "test": 0.1},
            "models": [{"name": "popularity", "label": g} for g in GENERATORS[:1]],
            "groups": {"tail": {"popularity_below": 0.8}},
            "ranker": {"generators": ["g0"], "features": ["score"]},
            "eval": {"cutoffs": [10], "candidates": CANDIDATES},
        }
    )
    data = prepare(recipe, folder)
    users = np.flatnonzero(np.diff(data.model_input.indptr) > 0)
    data = dataclasses.replace(data, eval_users=users)
    context = build_context(recipe, data)
    rng = np.random.default_rng(2)
    n, n_items = len(users), data.indexed.n_items
    start = rng.integers(0, n_items, n)[:, None]
    stride = rng.integers(1, n_items // CANDIDATES, n)[:, None]  # 100 distinct items per user
    pooled = ((start + stride * np.arange(CANDIDATES)) % n_items).astype(np.int32)
    lists = []
    for g in range(len(GENERATORS)):
        items = pooled.copy()
        if g:
            items[rng.random(items.shape) < 0.5] = -1
            items = -np.sort(-items, axis=1)  # retrieved items first, padding last
        scores = np.sort(rng.random(items.shape).astype(np.float32), axis=1)[:, ::-1]
        lists.append((items, np.ascontiguousarray(scores)))
    return data, context, lists


def batched(data, context, lists, score):
    """The ranker's test-stage path; returns (ranked items, seconds per step)."""
    steps = {}
    t = time.process_time()
    pool = pool_candidates(lists)
    steps["pool"] = time.process_time() - t
    t = time.process_time()
    stage = Stage("test", data, context, pool, GENERATORS)
    _, features = build_features(stage, FEATURES, "temporal")
    steps["features"] = time.process_time() - t
    t = time.process_time()
    scores = score(features)
    steps["score"] = time.process_time() - t
    t = time.process_time()
    items, _ = rank_pool(pool, scores, CANDIDATES)
    steps["order"] = time.process_time() - t
    return items, steps, len(pool), features


def train_booster(features: np.ndarray, rows: int):
    """A booster of the ranker's default size on the first rows, labels planted in the first
    generator's head with noise (timing does not depend on what it learned)."""
    rng = np.random.default_rng(3)
    head = np.nan_to_num(features[:rows, 4], nan=1e9) <= 10  # rank:g0
    labels = (head & (rng.random(rows) < 0.3)) | (rng.random(rows) < 0.02)
    params = learner.booster_params(RankerParams(), [0.0, 1.0], seed=0, threads=1)
    sizes = np.full(rows // CANDIDATES, CANDIDATES)
    names = [f"f{j}" for j in range(features.shape[1])]
    return learner.train(features[:rows], labels.astype(np.int32), sizes, names, params, 100)


def naive(data, context, lists, booster, users: int) -> tuple[float, int]:
    """Per-user loop: dict pooling, per-row feature lists, Booster.predict and argsort per user."""
    fit = data.fit.tocsc()
    past = data.split.fit
    popularity = np.diff(fit.indptr) / max((np.diff(data.fit.indptr) > 0).sum(), 1)
    items_past, times = past["item_idx"].to_numpy(), past["timestamp"].to_numpy()
    recent = times >= np.quantile(times, 0.75, method="higher")
    n_items = data.indexed.n_items
    total, latest = (
        np.bincount(items_past, minlength=n_items),
        np.bincount(items_past[recent], minlength=n_items),
    )
    trend = ((latest + 1) / (latest.sum() + n_items)) / ((total + 1) / (total.sum() + n_items))
    first = np.full(n_items, np.inf)
    np.minimum.at(first, items_past, times)
    age = (times.max() - first) / 86_400.0
    year = context.column("year", "bench").cast(float).to_numpy()
    now = 1970 + times.max() / (365.2425 * 86_400.0)
    genres = context.genres("bench")
    artist = context.attribute("artist", "bench")
    tail = context.group("tail")
    history = data.model_input
    t = time.process_time()
    rows = 0
    for r in range(users):
        user = data.eval_users[r]
        pooled: dict[int, list] = {}
        for g, (items, scores) in enumerate(lists):
            for k in range(items.shape[1]):
                if items[r, k] >= 0:
                    pooled.setdefault(int(items[r, k]), [np.nan] * 8)[g * 2 : g * 2 + 2] = [
                        scores[r, k],
                        k + 1,
                    ]
        mine = history.indices[history.indptr[user] : history.indptr[user + 1]]
        profile = genres[mine].sum(axis=0)
        heard: dict[int, int] = {}
        for i in mine:
            heard[artist[i]] = heard.get(artist[i], 0) + 1
        matrix = []
        for item, generator_values in pooled.items():
            dot = profile @ genres[item]
            norms = np.linalg.norm(profile) * np.linalg.norm(genres[item])
            same = heard.get(artist[item], 0)
            matrix.append(
                generator_values[0::2]
                + generator_values[1::2]
                + [
                    sum(not np.isnan(v) for v in generator_values[1::2]),
                    popularity[item],
                    trend[item],
                    age[item],
                    now - year[item],
                    len(mine),
                    dot / norms if norms else 0.0,
                    same / max(len(mine), 1),
                    float(same == 0),
                    float(tail[item]),
                ]
            )
        scores = booster.predict(np.asarray(matrix, dtype=np.float32), num_threads=1)
        np.argsort(-scores, kind="stable")
        rows += len(matrix)
    return time.process_time() - t, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=2_000_000)
    parser.add_argument("--naive-users", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data, context, lists = setup(args, Path(folder))
        _, _, _, features = batched(data, context, lists, lambda x: x[:, 0])  # warm caches
        booster = train_booster(features, min(len(features), 200_000))
        quick = learner.scorer(booster, features.shape[1], threads=1)
        quick(features[:10])  # compile
        lgbm = lambda x: booster.predict(x, num_threads=1).astype(np.float32)  # noqa: E731
        results = {}
        for name, score in (("QuickScorer", quick), ("LightGBM predict", lgbm)):
            best = None
            for _ in range(args.repeats):
                wall = time.perf_counter()
                items, steps, rows, _ = batched(data, context, lists, score)
                wall = time.perf_counter() - wall
                if best is None or sum(steps.values()) < sum(best[0].values()):
                    best = (steps, wall, items)
            results[name] = best
        assert np.array_equal(results["QuickScorer"][2], results["LightGBM predict"][2])
        naive_cpu, naive_rows = naive(data, context, lists, booster, args.naive_users)
    n_users = len(data.eval_users)
    print(
        f"{n_users:,} users x {CANDIDATES} candidates from {len(GENERATORS)} generators = "
        f"{rows:,} pooled rows, {features.shape[1]} features, {booster.num_trees()} trees of "
        f"<= 7 leaves, one thread (SYNTHETIC data)"
    )
    quick_cpu = sum(results["QuickScorer"][0].values())
    print(f"{'path':<34}{'rows/s (CPU)':>14}{'rows/s (wall)':>15}{'ratio':>8}")
    for name, (steps, wall, _) in results.items():
        cpu = sum(steps.values())
        print(
            f"{'batched + ' + name:<34}{rows / cpu:>14,.0f}{rows / wall:>15,.0f}"
            f"{cpu / quick_cpu if name != 'QuickScorer' else 1.0:>8.1f}"
        )
    print(
        f"{f'naive per-user loop ({args.naive_users} users)':<34}"
        f"{naive_rows / naive_cpu:>14,.0f}{'':>15}{(naive_cpu / naive_rows) / (quick_cpu / rows):>8.1f}"
    )
    steps = results["QuickScorer"][0]
    print(
        "batched + QuickScorer, CPU seconds: "
        + ", ".join(f"{k} {v:.3f}" for k, v in steps.items())
        + " (ratio: peer time / batched time per row)"
    )


if __name__ == "__main__":
    main()
