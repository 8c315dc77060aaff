"""Safe downloads: streamed, resumable (HTTP Range, RFC 9110 §14), checksum-verified, locked.

A file is written to `<dest>.part`, hashed while it streams, and renamed to `<dest>` only once its
size and checksum match. A `fcntl.flock` on `<dest>.lock` keeps two processes (or threads) that
fetch the same file from writing the same `.part`: the second one waits, then finds the verified
file in place. Setting `RANK_DATASETS_MIRROR=https://mirror.example/base` fetches
`https://host/path` from `https://mirror.example/base/host/path` (the layout `wget -m` writes).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from recsys_cli.errors import DataError

try:  # POSIX only; elsewhere concurrent fetches of one file are not guarded
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MIRROR_ENV = "RANK_DATASETS_MIRROR"
CHUNK = 1 << 20
USER_AGENT = "recsys-cli (rank datasets)"
# 4xx answers other than these will not change on a retry
RETRYABLE_HTTP = {408, 425, 429}


class DownloadFailed(Exception):
    """One attempt failed; `retry` says whether another attempt may succeed."""

    def __init__(self, reason: str, retry: bool = True):
        super().__init__(reason)
        self.retry = retry


@dataclass(frozen=True)
class Digest:
    """Checksums of a verified file: sha256 always, md5 too (some upstreams publish only md5)."""

    sha256: str
    md5: str
    size: int

    def matches(self, checksum: str) -> bool:
        algo, _, value = checksum.partition(":")
        return getattr(self, algo) == value.lower()


def parse_checksum(checksum: str) -> tuple[str, str]:
    """Split `sha256:<hex>` or `md5:<hex>`; anything else is a programming error in the catalog."""
    algo, sep, value = checksum.partition(":")
    if not sep or algo not in ("sha256", "md5") or not value:
        raise ValueError(f"checksum {checksum!r} is not 'sha256:<hex>' or 'md5:<hex>'")
    return algo, value.lower()


def mirrored_url(url: str, mirror: str | None = None) -> str:
    """The URL to fetch: `url` itself, or `<mirror>/<host>/<path>` when a mirror base is set."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def file_digest(path: Path) -> Digest:
    """sha256 and md5 of a file, read in 1 MiB blocks."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return Digest(sha.hexdigest(), md5.hexdigest(), size)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if needed); blocks until it is free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _progress(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def _hashers_for(part: Path) -> tuple[hashlib._Hash, hashlib._Hash, int]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    have = 0
    if part.exists():
        with part.open("rb") as handle:
            while block := handle.read(CHUNK):
                sha.update(block)
                md5.update(block)
                have += len(block)
    return sha, md5, have


def _attempt(fetch_url: str, part: Path, timeout: float, progress, task) -> Digest:
    """One GET (with a Range header when `part` already holds bytes); returns the digest."""
    sha, md5, have = _hashers_for(part)
    request = urllib.request.Request(fetch_url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # the part may already be complete; the caller verifies it
            return Digest(sha.hexdigest(), md5.hexdigest(), have)
        retry = exc.code >= 500 or exc.code in RETRYABLE_HTTP
        raise DownloadFailed(f"HTTP {exc.code} {exc.reason}", retry=retry) from exc
    except urllib.error.URLError as exc:
        raise DownloadFailed(str(exc.reason)) from exc
    except TimeoutError as exc:
        raise DownloadFailed(f"timed out after {timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadFailed(f"{type(exc).__name__}: {exc}") from exc

    with response:
        status = response.status
        content_range = response.headers.get("Content-Range", "")
        if have and (status != 206 or not content_range.startswith(f"bytes {have}-")):
            # the server ignored the Range header: start over
            sha, md5, have = hashlib.sha256(), hashlib.md5(), 0
            mode = "wb"
        else:
            mode = "ab" if have else "wb"
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        progress.update(task, total=total, completed=have)
        received = have
        try:
            with part.open(mode) as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    sha.update(block)
                    md5.update(block)
                    received += len(block)
                    progress.update(task, completed=received)
                out.flush()
                os.fsync(out.fileno())
        except TimeoutError as exc:
            raise DownloadFailed(f"timed out after {timeout:g} s (stalled transfer)") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadFailed(f"transfer interrupted: {type(exc).__name__}: {exc}") from exc
    if total is not None and received < total:
        raise DownloadFailed(f"transfer ended after {received} of {total} bytes")
    return Digest(sha.hexdigest(), md5.hexdigest(), received)


def download_file(
    url: str,
    dest: Path,
    *,
    checksum: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    hint: str = "",
) -> Digest:
    """Fetch `url` (or its mirror) to `dest`, resuming a partial file; verified before the rename.

    `checksum` is `sha256:<hex>` or `md5:<hex>` (None: accepted, then recorded by the caller).
    Retries wait `backoff * 2**attempt` seconds. Failures raise a one-line `DataError` naming the
    URL; `hint` (e.g. the `rank datasets import` command) is appended to network failures.
    """
    if checksum is not None:
        parse_checksum(checksum)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    fetch_url = mirrored_url(url)
    with file_lock(dest.with_name(dest.name + ".lock")):
        if dest.exists():
            digest = file_digest(dest)
            if _acceptable(digest, checksum, size):
                return digest
            dest.unlink()
        reason = ""
        with _progress(progress) as bar:
            task = bar.add_task(dest.name, total=size)
            for attempt in range(retries + 1):
                try:
                    digest = _attempt(fetch_url, part, timeout, bar, task)
                except DownloadFailed as exc:
                    reason = str(exc)
                    if not exc.retry or attempt == retries:
                        break
                    time.sleep(backoff * 2**attempt)
                    continue
                if size is not None and digest.size != size:
                    if digest.size > size:  # a stale or foreign .part: start again
                        part.unlink(missing_ok=True)
                    reason = f"got {digest.size} bytes, expected {size}"
                    if attempt < retries:
                        time.sleep(backoff * 2**attempt)
                    continue
                if checksum is not None and not digest.matches(checksum):
                    part.unlink(missing_ok=True)
                    algo = checksum.partition(":")[0]
                    raise DataError(
                        f"{fetch_url}: checksum mismatch (expected {checksum}, got "
                        f"{algo}:{getattr(digest, algo)}, {digest.size} bytes); the file was "
                        "discarded"
                    )
                os.replace(part, dest)
                return digest
        where = fetch_url if fetch_url == url else f"{fetch_url} (mirror of {url})"
        tail = f"; {hint}" if hint else ""
        raise DataError(f"could not download {where}: {reason}{tail}")


def _acceptable(digest: Digest, checksum: str | None, size: int | None) -> bool:
    if size is not None and digest.size != size:
        return False
    return checksum is None or digest.matches(checksum)
