"""Metrics and evaluation sit below the rerank stage: no module of theirs imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import recsys_cli

PACKAGE = Path(recsys_cli.__file__).parent
LOWER = sorted([*(PACKAGE / "metrics").glob("*.py"), *(PACKAGE / "evaluation").glob("*.py")])


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).parts[:-1])


def imported_modules(source: str, package: str) -> list[str]:
    """Every module an `import` or `from ... import` in `source` names, at any depth (function
    bodies included), relative imports resolved against `package`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return found


@pytest.mark.parametrize("path", LOWER, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_metrics_and_evaluation_import_nothing_from_rerank(path):
    names = imported_modules(path.read_text(encoding="utf-8"), package_of(path))
    rerank = [m for m in names if m == "recsys_cli.rerank" or m.startswith("recsys_cli.rerank.")]
    assert not rerank, f"{path.name} imports {rerank}"


def test_imports_are_found_at_any_depth_and_relative():
    source = "import numpy\ndef f():\n    from ..rerank import stage\n    from . import accuracy\n"
    names = imported_modules(source, "recsys_cli.metrics")
    assert {"numpy", "recsys_cli.rerank.stage", "recsys_cli.metrics.accuracy"} <= set(names)
    assert "recsys_cli.arrays" in imported_modules(
        (PACKAGE / "metrics" / "business.py").read_text(encoding="utf-8"), "recsys_cli.metrics"
    )
