"""Downloads bounded by the known size: what cannot be the file is refused and its `.part` dropped.

Against the loopback server of conftest.py, which can lie about Content-Length, leave it out,
answer with a web page or shift Content-Range.
"""

from __future__ import annotations

import hashlib
import http.client
import os

import pytest

from recsys_cli.data.download import download_file
from recsys_cli.errors import DataError

pytestmark = pytest.mark.network

UPSTREAM = "https://files.example.org/datasets/thing.zip"
PAYLOAD = os.urandom(200_000)
SHA = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
FAST = {"retries": 3, "backoff": 0.0, "timeout": 5.0}
HTML = b"<!DOCTYPE html>\n<html><body>Please log in</body></html>\n"


def fetch(folder, **options):
    return download_file(UPSTREAM, folder / "thing.zip", **FAST, **options)


def kept(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


@pytest.fixture
def bytes_read(monkeypatch):
    """Counts the body bytes the client reads from every HTTP response."""
    counted = []
    original = http.client.HTTPResponse.read

    def read(self, amt=None):
        data = original(self, amt)
        counted.append(len(data))
        return data

    monkeypatch.setattr(http.client.HTTPResponse, "read", read)
    return counted


def test_announced_size_larger_than_the_known_size_is_refused_unread(mirror, tmp_path, bytes_read):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    mirror.headers[path] = {"Content-Length": str(2 * 10**9)}
    with pytest.raises(DataError, match="announces 2,000,000,000 bytes, the file has 200,000"):
        fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert mirror.count(path) == 1  # not retried
    assert sum(bytes_read) == 0 and kept(tmp_path) == []


def test_body_longer_than_the_known_size_stops_one_byte_past_it(mirror, tmp_path, bytes_read):
    path = mirror.publish(UPSTREAM, PAYLOAD + os.urandom(3_000_000))
    mirror.no_length.add(path)
    with pytest.raises(DataError, match="sent more than the 200,000 bytes expected"):
        fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert sum(bytes_read) == len(PAYLOAD) + 1
    assert mirror.count(path) == 1 and kept(tmp_path) == []


def test_upper_bound_applies_when_only_an_approximate_size_is_known(mirror, tmp_path, bytes_read):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    mirror.no_length.add(path)
    with pytest.raises(DataError, match="sent more than the 100,000 bytes expected"):
        fetch(tmp_path, max_size=100_000)
    assert sum(bytes_read) == 100_001 and kept(tmp_path) == []
    # within the bound, a file of unknown size is fetched whole
    assert fetch(tmp_path, max_size=len(PAYLOAD)).size == len(PAYLOAD)


@pytest.mark.parametrize(
    ("headers", "body"),
    [({"Content-Type": "text/html; charset=utf-8"}, None), ({}, HTML)],
    ids=["content-type", "sniffed"],
)
def test_a_web_page_is_not_the_file(mirror, tmp_path, headers, body):
    path = mirror.publish(UPSTREAM, body or PAYLOAD)
    mirror.headers[path] = headers
    with pytest.raises(DataError, match="web page") as error:
        fetch(tmp_path, checksum=SHA)
    assert "could not download" in str(error.value) and "\n" not in str(error.value)
    assert mirror.count(path) == 1 and kept(tmp_path) == []


def test_short_body_with_its_length_is_refused_without_retrying(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD[:1000])
    with pytest.raises(DataError, match="announces 1,000 bytes, the file has 200,000"):
        fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert mirror.count(path) == 1 and kept(tmp_path) == []


def test_short_body_without_a_length_is_dropped_once_the_server_says_it_is_whole(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD[:1000])
    mirror.no_length.add(path)
    with pytest.raises(DataError, match="the server's file has 1,000 bytes, the file has 200,000"):
        fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    # the first answer might have been cut short: resumed once, then the 416 names the length
    assert [r for p, r in mirror.requests if p == path] == [None, "bytes=1000-"]
    assert kept(tmp_path) == []


def test_partial_file_longer_than_the_file_is_dropped(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD + b"tail of another file")
    fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert [r for p, r in mirror.requests if p == path] == [None]  # no Range from the stale part


def test_partial_file_longer_than_the_servers_unknown_size_is_dropped(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD + b"tail of another file")
    fetch(tmp_path, checksum=SHA)  # size unknown: the 416's Content-Range tells
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert [r for p, r in mirror.requests if p == path] == [f"bytes={len(PAYLOAD) + 20}-", None]


def test_foreign_partial_file_is_dropped_and_fetched_again(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    (tmp_path / "thing.zip.part").write_bytes(os.urandom(5000))  # same length, other bytes
    fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert [r for p, r in mirror.requests if p == path] == ["bytes=5000-", None]
    assert kept(tmp_path) == ["thing.zip"]


def test_wrong_content_range_start_drops_the_part(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD)
    mirror.range_shift = 100
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD[:5000])
    fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert (tmp_path / "thing.zip").read_bytes() == PAYLOAD
    assert [r for p, r in mirror.requests if p == path] == ["bytes=5000-", None]


def test_content_range_of_another_total_is_refused(mirror, tmp_path):
    path = mirror.publish(UPSTREAM, PAYLOAD + b"x" * 10)  # the server holds another version
    (tmp_path / "thing.zip.part").write_bytes(PAYLOAD[:5000])
    with pytest.raises(DataError, match="announces 200,010 bytes, the file has 200,000"):
        fetch(tmp_path, checksum=SHA, size=len(PAYLOAD))
    assert mirror.count(path) == 1 and kept(tmp_path) == []
