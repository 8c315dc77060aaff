"""Writer liveness: which process owns a `.tmp-` folder, and whether it is gone."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from recsys_cli.results.atomic import TEMP_PREFIX

# In a `.tmp-` run folder: "HOST PID" of the process writing it, so that a later run can remove
# the folders of processes that died without cleaning up (kill -9, power loss).
OWNER_FILE = ".owner"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and someone else's
        pass
    return True


def owner_tag() -> str:
    """ "HOST PID" of this process: what OWNER_FILE records (`rank tune` tags its trials so)."""
    return f"{socket.gethostname()} {os.getpid()}"


def tag_gone(tag: str) -> bool:
    """True when `tag` ("HOST PID") names a process of this host that no longer exists; False
    for live processes and other hosts' (which cannot be checked from here)."""
    host, _, pid = tag.partition(" ")
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def writer(folder: Path) -> tuple[str, str] | None:
    """(host, pid) that a `.tmp-` folder records as its writer; None without a readable record."""
    try:
        host, pid = (folder / OWNER_FILE).read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return None
    return host, pid


def writer_gone(folder: Path) -> bool:
    """True when a `.tmp-` folder's writer was a process of this host that no longer exists
    (killed with SIGKILL, or the machine went down); False for live processes, other hosts'
    and folders without an owner record."""
    found = writer(folder)
    return found is not None and tag_gone(" ".join(found))


def remove_dead_runs(root: Path) -> list[Path]:
    """Remove the `.tmp-` run folders under `root` whose writer is gone (`writer_gone`);
    returns them."""
    removed = []
    for folder in root.glob(f"{TEMP_PREFIX}*") if root.is_dir() else ():
        if writer_gone(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def leftovers(root: Path, depth: int = 3) -> list[Path]:
    """`.tmp-` folders at most `depth` levels under `root` whose writer is gone (the run
    folders, sweep points, study trials and re-evaluations of killed processes)."""
    found, level = [], [root]
    for _ in range(depth):
        below = []
        for folder in level:
            for child in folder.iterdir() if folder.is_dir() else ():
                if not child.is_dir() or child.is_symlink():
                    continue
                if child.name.startswith(TEMP_PREFIX):
                    found += [child] if writer_gone(child) else []
                else:
                    below.append(child)
        level = below
    return found
