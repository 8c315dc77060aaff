"""`rank compare` of a rerank run (every row against the baseline, bootstrap on) versus the
previous per-pair algorithm, in one run.

A SYNTHETIC dataset (`rank datasets synth`; 33,000 users by default, of whom ~26.5k are evaluated)
is run through the bundled rerank recipe (popularity, EASE and its six rerank variants, nine
per-user metrics at two cutoffs), then `rank compare RUN --format json` is timed end to end (a
subprocess: start-up and reading included). The peer, timed in this process on the same per-user
values, is the algorithm `rank compare` used before its bootstrap was batched: for every
(row, metric@k) its own paired t-test, Wilcoxon test and a bootstrap of 10,000 resamples drawn
for that pair alone. The script prints both times and their ratio, and asserts that every t and
Wilcoxon p-value of `rank compare` equals the peer's (Wilcoxon bit for bit; t to 1e-12 relative,
as scipy's t statistic rounds differently in the last bit).

    python benchmarks/bench_compare.py [--users 33000] [--items 3000]
        [--interactions 1650000] [--keep DIR] [--run RUN_DIR] [--skip-peer]

--keep DIR builds the dataset and run in DIR (and reuses them when present); --run RUN_DIR
times an existing evaluated run.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

RECIPE = Path(__file__).resolve().parent.parent / "recsys_cli" / "recipes" / "rerank-ml100k.toml"
DATASET = "bench-compare"
N_RESAMPLES = 10_000  # `rank compare`'s default
CHUNK_VALUES = 1 << 22


def rank(*args: object) -> str:
    """Run the `rank` CLI of this interpreter; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "recsys_cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"rank {' '.join(map(str, args))} failed:\n{done.stderr}")
    return done.stdout


def build_run(folder: Path, users: int, items: int, interactions: int) -> Path:
    """The synthetic dataset and the rerank recipe's run on it, in `folder` (reused if there)."""
    results = folder / "results"
    done = sorted(p for p in results.glob("*") if (p / "per_user.parquet").is_file())
    if done:
        return done[-1]
    data = folder / "data"
    rank("datasets", "synth", DATASET, "--users", users, "--items", items,
         "--interactions", interactions, "--seed", 1, "--data-dir", data)  # fmt: skip
    sets = [
        f'dataset.name="{DATASET}"',
        "groups.new.at_least=2023",  # synthetic years run to 2025
        'groups.noir.contains="g3"',  # synthetic genres are g0..g19
    ]
    args = ["run", RECIPE, "--data-dir", data, "--results-dir", results, "-q"]
    for value in sets:
        args += ["--set", value]
    return Path(rank(*args).strip())


def _t_test(d: np.ndarray) -> tuple[float, float]:
    """The previous paired t-test: t = mean(d) / (sd(d) / sqrt(n)), p from Student's t."""
    from scipy import stats

    n = d.size
    if not d.any():
        return 0.0, 1.0
    if n < 2:
        return math.nan, math.nan
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0.0:
        return math.copysign(math.inf, mean), 0.0
    t = mean / (sd / math.sqrt(n))
    return t, min(2.0 * float(stats.t.sf(abs(t), n - 1)), 1.0)


def _wilcoxon(d: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if not d.any():
        return 0.0, 1.0
    res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def _bootstrap(d: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """The previous percentile bootstrap: resample this pair's users, chunk by chunk."""
    n = d.size
    means = np.empty(N_RESAMPLES)
    chunk = max(1, CHUNK_VALUES // n)
    for start in range(0, N_RESAMPLES, chunk):
        stop = min(start + chunk, N_RESAMPLES)
        idx = rng.integers(0, n, size=(stop - start, n))
        np.mean(d[idx], axis=1, out=means[start:stop])
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def peer(per_user, baseline: str, labels: list[str], seed: int = 0) -> dict:
    """(model, metric@k) -> t and Wilcoxon results and bootstrap CI, one pair at a time."""
    import polars as pl

    out = {}
    for label in labels:
        name, _, cutoff = label.rpartition("@")
        rows = per_user.filter((pl.col("metric") == name) & (pl.col("cutoff") == int(cutoff)))
        # Users without a value in some row (an undefined beyond-accuracy value) leave the test.
        wide = rows.pivot(on="model", index="user", values="value").drop_nulls()
        a = wide[baseline].to_numpy().astype(np.float64)
        for model in (m for m in wide.columns if m not in ("user", baseline)):
            d = wide[model].to_numpy().astype(np.float64) - a
            key = zlib.crc32(f"{model}\x00{label}".encode())
            rng = np.random.default_rng(np.random.SeedSequence([seed, key]))
            out[model, label] = (*_t_test(d), *_wilcoxon(d), *_bootstrap(d, rng))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=33_000)
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--interactions", type=int, default=1_650_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the dataset and run here")
    parser.add_argument("--run", type=Path, help="an evaluated run to compare instead")
    parser.add_argument("--skip-peer", action="store_true", help="time `rank compare` only")
    args = parser.parse_args()

    import polars as pl

    scratch = None
    if args.run is None:
        folder = args.keep or Path(scratch := tempfile.mkdtemp(prefix="bench-compare-"))
        started = time.perf_counter()
        run_dir = build_run(folder, args.users, args.items, args.interactions)
        print(f"run {run_dir} ({time.perf_counter() - started:.0f} s to build)")
    else:
        run_dir = args.run
    try:
        started = time.perf_counter()
        report = json.loads(rank("compare", run_dir, "--format", "json", "-q"))
        seconds = time.perf_counter() - started
        rows = report["rows"]
        users = sorted({r["n_users"] for r in rows})
        print(
            f"rank compare {run_dir} --format json: {len(rows)} pairs "
            f"({len(report['metrics'])} metric@k x {len(rows) // len(report['metrics'])} rows "
            f"against {report['baseline']}), {users[-1]:,} users, {report['n_resamples']:,} "
            f"resamples: {seconds:.2f} s"
        )
        if args.skip_peer:
            return
        per_user = pl.read_parquet(run_dir / "per_user.parquet")
        started = time.perf_counter()
        previous = peer(per_user, report["baseline"], report["metrics"])
        peer_seconds = time.perf_counter() - started
        print(f"previous per-pair algorithm (same pairs, in process): {peer_seconds:.2f} s")
        print(
            f"speed-up of rank compare over the previous algorithm: {peer_seconds / seconds:.1f}x"
        )
        worst_t, same_t = 0.0, 0
        for r in rows:
            t, t_p, w, w_p, *_ = previous[r["model"], r["metric"]]
            assert r["wilcoxon_statistic"] == w and r["wilcoxon_pvalue"] == w_p, (r, w, w_p)
            assert r["n_users"] > 1 and math.isfinite(r["t_pvalue"]), r
            gap = abs(r["t_pvalue"] - t_p) / max(t_p, 1e-300)
            assert gap <= 1e-12 and math.isclose(r["t_statistic"], t, rel_tol=1e-13), (r, t, t_p)
            worst_t, same_t = max(worst_t, gap), same_t + (r["t_pvalue"] == t_p)
        print(
            f"p-values: all {len(rows)} Wilcoxon equal bit for bit; t equal in {same_t} of "
            f"{len(rows)}, largest relative difference {worst_t:.1e}"
        )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
