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
from recsys_cli.progress import NO_PROGRESS, Progress

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


def mirror_base(mirror: str | None = None) -> str:
    """The mirror base URL (`mirror`, else $RANK_DATASETS_MIRROR; "" for none), checked."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    base = urllib.parse.urlsplit(mirror)
    if mirror and (base.scheme not in ("http", "https") or not base.netloc):
        raise DataError(f"{MIRROR_ENV}={mirror!r} is not a URL; expected https://HOST/BASE")
    return mirror


def mirrored_url(url: str, mirror: str | None = None) -> str:
    """The URL to fetch: `url` itself, or `<mirror>/<host>/<path>` when a mirror base is set."""
    mirror = mirror_base(mirror)
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


def _looks_like_html(head: bytes) -> bool:
    """A web page (login, error or captive portal) where a data file was expected."""
    return head.lstrip()[:14].lower().startswith((b"<!doctype html", b"<html"))


class NotTheFile(DownloadFailed):
    """What the server sent (or the `.part` holds) cannot be the file: drop it, do not retry."""

    def __init__(self, reason: str):
        super().__init__(reason, retry=False)


def _range_of(content_range: str) -> tuple[int | None, int | None]:
    """(first byte, total) of `bytes FIRST-LAST/TOTAL` or `bytes */TOTAL` (RFC 9110 §14.4)."""
    unit, _, spec = content_range.partition(" ")
    span, _, total = spec.partition("/")
    first = span.partition("-")[0]
    if unit != "bytes":
        return None, None
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def _off_size(n: int, size: int | None, limit: int | None) -> str | None:
    """Why `n` bytes cannot be the file of exactly `size` (or at most `limit`) bytes, or None."""
    if size is not None and n != size:
        return f"{n:,} bytes, the file has {size:,}"
    if size is None and limit is not None and n > limit:
        return f"{n:,} bytes, more than the {limit:,} expected"
    return None


def _attempt(fetch_url: str, part: Path, timeout: float, progress, size, limit) -> Digest:
    """One GET (with a Range header when `part` already holds bytes); returns the digest. The
    bytes are counted on `progress`, block by block.

    `size` (exact; else `limit`, an upper bound) stops the transfer: a `.part` already longer, a
    server announcing another size or sending more, or a web page is refused (NotTheFile)
    before the rest is read."""
    bound = size if size is not None else limit
    sha, md5, have = _hashers_for(part)
    if bound is not None and have > bound:  # a foreign .part: start over
        part.unlink()
        sha, md5, have = hashlib.sha256(), hashlib.md5(), 0
    request = urllib.request.Request(fetch_url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # the part may already be complete (the caller verifies it), unless it is longer
            total = _range_of(exc.headers.get("Content-Range", ""))[1]
            if total is not None and total < have:
                part.unlink()
                raise DownloadFailed(
                    f"the partial file ({have:,} bytes) is longer than the server's ({total:,})"
                ) from None
            problem = None if total is None else _off_size(total, size, limit)
            if problem:  # the whole of the server's file is here, and it is not the file
                raise NotTheFile(f"the server's file has {problem}") from None
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
        if response.headers.get_content_type() == "text/html":
            raise NotTheFile("the server answered with a web page (text/html), not the file")
        first, total = _range_of(response.headers.get("Content-Range", ""))
        if response.status != 206:  # no Range asked, or the server ignored it: start over
            sha, md5, have, total = hashlib.sha256(), hashlib.md5(), 0, None
        elif first != have:
            part.unlink()
            raise DownloadFailed(f"the server sent a range from byte {first}, asked from {have}")
        length = response.headers.get("Content-Length", "")
        if total is None and length.isdigit():
            total = have + int(length)
        problem = None if total is None else _off_size(total, size, limit)
        if problem:
            raise NotTheFile(f"the server announces {problem}")
        stop = bound if total is None else total
        progress.total(stop, "B")
        progress.advance(have)
        received = have
        try:
            with part.open("ab" if have else "wb") as out:
                while True:
                    # one byte past `stop` at most: a longer body is refused, not read to its end
                    ask = CHUNK if stop is None else min(CHUNK, stop + 1 - received)
                    if not (block := response.read(ask)):
                        break
                    if received == 0 and _looks_like_html(block):
                        raise NotTheFile("the server sent a web page (HTML), not the file")
                    if stop is not None and received + len(block) > stop:
                        raise NotTheFile(f"the server sent more than the {stop:,} bytes expected")
                    out.write(block)
                    sha.update(block)
                    md5.update(block)
                    received += len(block)
                    progress.advance(len(block))
                out.flush()
                os.fsync(out.fileno())
        except TimeoutError as exc:
            raise DownloadFailed(f"timed out after {timeout:g} s (stalled transfer)") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadFailed(f"transfer interrupted: {type(exc).__name__}: {exc}") from exc
    if total is not None and received < total:
        raise DownloadFailed(f"transfer ended after {received:,} of {total:,} bytes")
    return Digest(sha.hexdigest(), md5.hexdigest(), received)


def download_file(
    url: str,
    dest: Path,
    *,
    checksum: str | None = None,
    size: int | None = None,
    max_size: int | None = None,
    progress: Progress = NO_PROGRESS,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    hint: str = "",
) -> Digest:
    """Fetch `url` (or its mirror) to `dest`, resuming a partial file; verified before the rename.

    `checksum` is `sha256:<hex>` or `md5:<hex>` (None: accepted, then recorded by the caller).
    `size` is the exact length, else `max_size` an upper bound: no more is ever read, and what
    cannot be the file (another length, a web page) is dropped without retrying. Retries wait
    `backoff * 2**attempt` seconds. Failures raise a one-line `DataError` naming the URL; `hint`
    (e.g. the `rank datasets import` command) is appended to network failures. The transfer is
    shown on `progress` (bytes).
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
        inherited = part.exists()  # a .part left by an earlier run: resumed, maybe foreign
        progress.update(f"download {dest.name}")
        progress.total(size, "B")
        for attempt in range(retries + 1):
            try:
                digest = _attempt(fetch_url, part, timeout, progress, size, max_size)
            except NotTheFile as exc:
                part.unlink(missing_ok=True)
                reason = f"{exc}; nothing was kept"
                break
            except DownloadFailed as exc:
                reason = str(exc)
                if not exc.retry or attempt == retries:
                    break
                time.sleep(backoff * 2**attempt)
                continue
            if size is not None and digest.size != size:  # a body of no announced length
                reason = f"got {digest.size:,} bytes, expected {size:,}"
                if attempt < retries:
                    time.sleep(backoff * 2**attempt)
                continue
            if checksum is not None and not digest.matches(checksum):
                part.unlink(missing_ok=True)
                if inherited and attempt < retries:  # the old .part was another file's
                    inherited = False
                    reason = "checksum mismatch after resuming an earlier partial file"
                    continue
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
