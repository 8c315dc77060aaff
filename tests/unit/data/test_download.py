"""download_file against a loopback HTTP server: verify, resume, faults, timeouts, locking."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from recsys_cli.data.download import download_file, file_digest, mirrored_url
from recsys_cli.errors import DataError

pytestmark = pytest.mark.network

UPSTREAM = "https://files.example.org/datasets/thing.zip"
PAYLOAD = os.urandom(300_000)
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()
FAST = {"retries": 2, "backoff": 0.0, "timeout": 5.0}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_mirror_url_keeps_host_and_path(monkeypatch):
    assert mirrored_url(UPSTREAM, "") == UPSTREAM
    assert mirrored_url(UPSTREAM, "http://m.local/base/") == (
        "http://m.local/base/files.example.org/datasets/thing.zip"
    )
    monkeypatch.setenv("RANK_DATASETS_MIRROR", "http://m2")
    assert mirrored_url(UPSTREAM) == "http://m2/files.example.org/datasets/thing.zip"


@pytest.mark.parametrize("checksum", [SHA, MD5])
def test_download_verifies_and_renames(mirror, tmp_path, checksum):
    mirror.publish(UPSTREAM, PAYLOAD)
    digest = download_file(UPSTREAM, tmp_path / "thing.zip", checksum=checksum, **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert digest.size == len(PAYLOAD) and f"sha256:{digest.sha256}" == SHA
    assert leftovers(tmp_path) == ["thing.zip"]


class Counted:
    """A `Progress` that records what it is told."""

    def __init__(self):
        self.totals, self.done, self.texts = [], 0, []

    def total(self, n, unit=""):
        self.totals.append((n, unit))
        self.done = 0

    def advance(self, n=1):
        self.done += n

    def update(self, text):
        self.texts.append(text)


def test_progress_counts_the_bytes(mirror, tmp_path):
    mirror.publish(UPSTREAM, PAYLOAD)
    progress = Counted()
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, progress=progress, **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert progress.totals[-1] == (len(PAYLOAD), "B") and progress.done == len(PAYLOAD)
    assert progress.texts == ["download thing.zip"]


def test_progress_of_a_resumed_download_counts_the_kept_bytes(mirror, tmp_path):
    mirror.publish(UPSTREAM, PAYLOAD)
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD[:100_000])
    progress = Counted()
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, progress=progress, **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert progress.totals[-1] == (len(PAYLOAD), "B") and progress.done == len(PAYLOAD)


def test_verified_file_is_not_fetched_again(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, size=len(PAYLOAD), **FAST)
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, size=len(PAYLOAD), **FAST)
    assert mirror.count(path) == 1


def test_checksum_mismatch_leaves_nothing(mirror, tmp_path):
    mirror.publish(UPSTREAM, PAYLOAD)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DataError, match="checksum mismatch") as err:
        download_file(UPSTREAM, tmp_path / "thing.zip", checksum=wrong, **FAST)
    assert "files.example.org/datasets/thing.zip" in str(err.value)
    assert "\n" not in str(err.value)
    assert leftovers(tmp_path) == []


def test_truncated_transfer_resumes_with_range(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    mirror.truncate_once[path] = 100_000
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, size=len(PAYLOAD), **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    ranges = [r for p, r in mirror.requests if p == path]
    assert ranges == [None, "bytes=100000-"]


def test_partial_file_from_an_earlier_run_is_resumed(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD[:123_456])
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert [r for p, r in mirror.requests if p == path] == ["bytes=123456-"]


def test_complete_partial_file_answered_416_is_verified(mirror, tmp_path):
    mirror.publish(UPSTREAM, PAYLOAD)
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD)
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_from_zero(mirror, tmp_path):
    mirror.publish(UPSTREAM, PAYLOAD)
    mirror.ignore_range = True
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD[:5000])
    download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, **FAST)
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD


def test_404_names_the_url_and_is_not_retried(mirror, tmp_path):
    hint = "fetch it elsewhere and run `rank datasets import x PATH`"
    with pytest.raises(DataError) as err:
        download_file(UPSTREAM, tmp_path / "thing.zip", checksum=SHA, hint=hint, **FAST)
    message = str(err.value)
    assert "HTTP 404" in message and mirror.base in message and UPSTREAM in message
    assert "rank datasets import" in message
    assert len(mirror.requests) == 1
    assert leftovers(tmp_path) == []


def test_connection_refused_names_the_url(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/nothing/here.zip"
    monkeypatch.delenv("RANK_DATASETS_MIRROR", raising=False)
    with pytest.raises(DataError, match="could not download") as err:
        download_file(url, tmp_path / "here.zip", checksum=SHA, hint="use import", **FAST)
    assert url in str(err.value) and "refused" in str(err.value).lower()
    assert "use import" in str(err.value)


def test_stalled_server_times_out(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    mirror.stall.add(path)
    start = time.monotonic()
    with pytest.raises(DataError, match="timed out"):
        download_file(
            UPSTREAM,
            tmp_path / "thing.zip",
            checksum=SHA,
            timeout=0.5,
            retries=1,
            backoff=0.0,
        )
    assert time.monotonic() - start < 5
    assert mirror.count(path) == 2  # the first try and one retry
    assert not (tmp_path / "thing.zip").exists()


def test_two_threads_fetch_one_file_once(mirror, tmp_path):
    big = os.urandom(1_500_000)
    path = mirror.publish(UPSTREAM, big)
    mirror.chunk_delay = 0.01
    checksum = "sha256:" + hashlib.sha256(big).hexdigest()
    results, errors = [], []

    def fetch():
        try:
            results.append(
                download_file(UPSTREAM, tmp_path / "thing.zip", checksum=checksum, **FAST)
            )
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == 2 and results[0] == results[1]
    assert (tmp_path / "thing.zip").read_bytes() == big
    assert mirror.count(path) == 1  # the second waited on the lock, then found the file
    assert leftovers(tmp_path) == ["thing.zip"]


def test_two_processes_fetch_one_file(mirror, tmp_path):
    big = os.urandom(1_000_000)
    path = mirror.publish(UPSTREAM, big)
    mirror.chunk_delay = 0.01
    checksum = "sha256:" + hashlib.sha256(big).hexdigest()
    code = (
        "import sys; from pathlib import Path; from recsys_cli.data.download import download_file;"
        f"download_file({UPSTREAM!r}, Path(sys.argv[1]), checksum={checksum!r},"
        " retries=1, backoff=0)"
    )
    env = {**os.environ, "RANK_DATASETS_MIRROR": mirror.base}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "thing.zip")], env=env)
        for _ in range(2)
    ]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert file_digest(tmp_path / "thing.zip").sha256 == checksum.removeprefix("sha256:")
    assert mirror.count(path) == 1  # whoever comes second finds the verified file
    assert leftovers(tmp_path) == ["thing.zip"]
