"""Throughput of the off-policy estimators IPS, SNIPS and DR over synthetic logged rounds, one
core: rank's estimators, a straightforward numpy implementation, and obp's estimators (Open
Bandit Pipeline 0.4.1) when obp imports (measured in a separate process).

Usage: python benchmarks/bench_ope.py [--rounds 10000000] [--repeats 3]

Each estimator gets the same per-round arrays: the evaluation policy's probability of the logged
action, the logging propensity, the reward, and for DR the reward model's value of the logged
action and its expectation under the policy. Times include computing the importance weights.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

N_ACTIONS = 2  # obp takes a rounds x actions x positions array: keep it small


def synthetic(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, N_ACTIONS, n)
    logging = rng.uniform(0.2, 0.8, n)  # pi_0 of action 0; action 1 gets the rest
    target = rng.uniform(0.1, 0.9, n)
    q = rng.uniform(0.0, 0.2, (n, N_ACTIONS))
    p0 = np.where(action == 0, logging, 1 - logging)
    pe = np.where(action == 0, target, 1 - target)
    reward = (rng.random(n) < q[np.arange(n), action]).astype(np.float64)
    return {
        "action": action,
        "p0": p0,
        "pe": pe,
        "target": target,
        "reward": reward,
        "q": q,
        "q_logged": q[np.arange(n), action],
        "q_policy": target * q[:, 0] + (1 - target) * q[:, 1],
    }


def best_time(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def rank_estimators(d: dict) -> dict:
    from recsys_cli.ope.estimators import ESTIMATORS, Inputs, estimate

    column = {k: d[k][:, None] for k in ("pe", "p0", "reward", "q_logged", "q_policy")}
    mask = np.ones_like(column["pe"], dtype=bool)

    def run(name: str) -> float:
        w = column["pe"] / column["p0"]
        inputs = Inputs(mask, column["reward"], w, 100.0, column["q_logged"], column["q_policy"])
        return estimate(ESTIMATORS[name], inputs)

    return {name: (lambda name=name: run(name)) for name in ("ips", "snips", "dr")}


def numpy_estimators(d: dict) -> dict:
    pe, p0, r, q_logged, q_policy = (d[k] for k in ("pe", "p0", "reward", "q_logged", "q_policy"))

    def ips():
        return np.mean(pe / p0 * r)

    def snips():
        w = pe / p0
        return np.sum(w * r) / np.sum(w)

    def dr():
        return np.mean(q_policy + pe / p0 * (r - q_logged))

    return {"ips": ips, "snips": snips, "dr": dr}


def obp_worker(n: int, repeats: int) -> None:
    """Run in a separate process: obp's import pulls torch and scikit-learn."""
    from obp.ope import (
        DoublyRobust,
        InverseProbabilityWeighting,
        SelfNormalizedInverseProbabilityWeighting,
    )

    d = synthetic(n)
    action_dist = np.stack([d["target"], 1 - d["target"]], axis=1)[:, :, None]
    q = d["q"][:, :, None]
    position = np.zeros(n, dtype=int)
    common = dict(reward=d["reward"], action=d["action"], pscore=d["p0"], position=position)
    runs = {
        "ips": lambda: InverseProbabilityWeighting().estimate_policy_value(
            action_dist=action_dist, **common
        ),
        "snips": lambda: SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(
            action_dist=action_dist, **common
        ),
        "dr": lambda: DoublyRobust().estimate_policy_value(
            action_dist=action_dist, estimated_rewards_by_reg_model=q, **common
        ),
    }
    out = {
        name: {"value": float(run()), "seconds": best_time(run, repeats)}
        for name, run in runs.items()
    }
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--obp-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.obp_worker:
        obp_worker(args.rounds, args.repeats)
        return
    n = args.rounds
    d = synthetic(n)
    sides = {"rank": rank_estimators(d), "numpy": numpy_estimators(d)}
    results = {side: {} for side in sides}
    for side, runs in sides.items():
        for name, run in runs.items():
            results[side][name] = {"value": float(run()), "seconds": best_time(run, args.repeats)}
    command = [
        sys.executable,
        __file__,
        "--obp-worker",
        "--rounds",
        str(n),
        "--repeats",
        str(args.repeats),
    ]
    worker = subprocess.run(command, capture_output=True, text=True)
    if worker.returncode == 0:
        results["obp 0.4.1"] = json.loads(worker.stdout.strip().splitlines()[-1])
    else:
        reason = (worker.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"obp: not measured ({reason})")
    print(f"{n:,} rounds, one core, best of {args.repeats}; rows per second (estimate)")
    print(f"{'estimator':<10}" + "".join(f"{side:>26}" for side in results))
    for name in ("ips", "snips", "dr"):
        cells = []
        for side in results:
            r = results[side][name]
            cells.append(f"{n / r['seconds'] / 1e6:8.1f}M/s ({r['value']:.6f})")
        print(f"{name:<10}" + "".join(f"{c:>26}" for c in cells))
    for name in ("ips", "snips", "dr"):
        values = [results[side][name]["value"] for side in results]
        assert np.allclose(values, values[0], rtol=1e-9), (name, values)


if __name__ == "__main__":
    main()
