"""Provenance for a run manifest: package versions, git commit, platform."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGES = (
    "recsys-cli",
    "numpy",
    "scipy",
    "polars",
    "numba",
    "implicit",
    "typer",
    "rich",
    "recbole",
    "torch",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(where: Path) -> dict[str, str | bool] | None:
    """HEAD commit of the repository holding `where` and whether its work tree is dirty."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(status.strip())}


def provenance() -> dict:
    package_dir = Path(__file__).resolve().parents[2]
    return {
        "versions": package_versions(),
        "git": git_commit(package_dir),
        "platform": platform.platform(),
    }
