"""Reading upstream files safely: unpacking zip/tar archives and listing a folder to import,
with nothing written or read outside the folder in question and decompression bombs refused."""

from __future__ import annotations

import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from recsys_cli.errors import DataError

# An archive may unpack to at most this many times its own size: the catalog's archives (CSV and
# TSV text) unpack to 3-6 times theirs, a decompression bomb to hundreds or thousands of times.
UNPACK_RATIO = 20


def extract_archive(archive: Path, into: Path) -> None:
    """Unpack a zip or tar archive, refusing members that would land outside `into` and archives
    that unpack to more than UNPACK_RATIO times their own size (decompression bombs).

    Zip: the declared sizes are summed before anything is written (zipfile never yields more
    than a member's declared size; it stops there and fails the CRC). Tar: member sizes are
    exact, and are counted while unpacking, so a bomb stops at the limit."""
    limit = UNPACK_RATIO * archive.stat().st_size
    refused = (
        f"{archive}: unpacks to more than {limit:,} bytes ({UNPACK_RATIO} times its size); "
        "refused as a decompression bomb, nothing was kept"
    )
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                root = into.resolve()
                for member in members:
                    if not (into / member.filename).resolve().is_relative_to(root):
                        raise DataError(
                            f"{archive}: member {member.filename!r} escapes the archive folder"
                        )
                if sum(m.file_size for m in members) > limit:
                    raise DataError(refused)
                zf.extractall(into)
        else:
            with tarfile.open(archive) as tf:
                written = 0
                for member in tf:  # one streaming pass
                    written += member.size if member.isreg() else 0
                    if written > limit:
                        raise DataError(refused)
                    tf.extract(member, into, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(f"{archive}: damaged archive ({exc}); remove it and fetch again") from exc


def files_to_import(folder: Path, warn: Callable[[str], None]) -> dict[str, Path]:
    """The regular files under `folder` by relative POSIX name, following links that stay inside
    it. Links leading out of it, broken or looping links and special files (FIFOs, devices,
    sockets) are skipped, counted by kind in one warning."""
    root = folder.resolve()
    files: dict[str, Path] = {}
    skipped: dict[str, list[str]] = {}

    def visit(directory: Path, prefix: str, stack: tuple[Path, ...]) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise DataError(f"{directory}: cannot list the folder ({exc.strerror})") from None
        for item in entries:
            name, path = prefix + item.name, Path(item.path)
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                skipped.setdefault("broken or looping links", []).append(name)
                continue
            if not real.is_relative_to(root):
                skipped.setdefault("links leading outside it", []).append(name)
            elif real.is_dir():
                if real in stack:
                    skipped.setdefault("links back to an enclosing folder", []).append(name)
                else:
                    visit(path, f"{name}/", (*stack, real))
            elif real.is_file():
                files[name] = path
            else:
                skipped.setdefault("special files", []).append(name)

    visit(folder, "", (root,))
    if skipped:
        kinds = [
            f"{kind}: {len(names)} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
            for kind, names in skipped.items()
        ]
        warn(f"{folder}: not imported: {'; '.join(kinds)}")
    return files
