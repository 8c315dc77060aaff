"""Run every benchmark script on one thread and write their output as one Markdown summary.

python benchmarks/summary.py [--out results/perf.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = (
    "bench_eval.py",
    "bench_eval_ranx.py",
    "bench_topk.py",
    "bench_rerank.py",
    "bench_ope.py",
    "bench_ranker.py",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/perf.md"))
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    lines = [
        f"# rank performance summary ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; one thread per benchmark.",
        "",
    ]
    failed = False
    for script in SCRIPTS:
        result = subprocess.run(
            [sys.executable, str(here / script)], capture_output=True, text=True, env=env
        )
        failed |= result.returncode != 0
        output = result.stdout.strip() or result.stderr.strip()[-2000:]
        lines += [
            f"## {script}" + ("" if result.returncode == 0 else " (FAILED)"),
            "",
            "```",
            output,
            "```",
            "",
        ]
        print(f"{script}: {'ok' if result.returncode == 0 else 'FAILED'}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
