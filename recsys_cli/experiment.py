"""recipe -> data -> split -> fit -> candidates -> rerank -> evaluate -> store: the one-way pipeline.

The rerank stage runs inside `train` (variants' lists are stored next to the plain lists, labelled
MODEL+variant). `rank run` evaluates each row's lists in memory as soon as they exist (index
arrays, `evaluation.evaluator`); the run directory is a sink written once, with the item side
data its metrics read (`results.side_data`), so `rank eval` evaluates a stored run without
preparing the data again (`evaluation.stored`).

The stages live in `recsys_cli.pipeline`, one module each; this module names the entry points
that the CLI, tuning, the learned ranker and the Dask layer use.
"""

from __future__ import annotations

from pathlib import Path

from recsys_cli.evaluation.evaluator import Evaluation
from recsys_cli.pipeline.fit import (
    IN_PROCESS,
    Executor,
    ModelOutput,
    build_context,
    fit_models,
    fit_with_ranker,
    needs_context,
)
from recsys_cli.pipeline.prepare import Prepared, prepare
from recsys_cli.pipeline.run import run_recipe, train, write_run
from recsys_cli.pipeline.sweep import (
    SweepPoint,
    check_columns_for,
    grid_points,
    prepare_sweep,
    row_dependencies,
    run_sweep,
)
from recsys_cli.results.readback import read_manifest

__all__ = [
    "IN_PROCESS",
    "Evaluation",
    "Executor",
    "ModelOutput",
    "Prepared",
    "SweepPoint",
    "build_context",
    "check_columns_for",
    "fit_models",
    "fit_with_ranker",
    "grid_points",
    "load_manifest",
    "needs_context",
    "prepare",
    "prepare_sweep",
    "row_dependencies",
    "run_recipe",
    "run_sweep",
    "train",
    "write_run",
]


def load_manifest(run_dir: Path) -> dict:
    """manifest.json of a run, checked (`results.readback.read_manifest`)."""
    return read_manifest(run_dir)
