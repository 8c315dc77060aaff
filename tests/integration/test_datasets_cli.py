"""`rank datasets ...` end to end through Typer's CliRunner, against a loopback mirror.

The mirror is a folder in the layout `wget -m` writes (host/path), served by http.server.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import io
import json
import threading
import zipfile

import pytest
import typer
from typer.testing import CliRunner

from recsys_cli.cli import datasets
from recsys_cli.data import catalog

root = typer.Typer()
root.add_typer(datasets.app, name="datasets")
runner = CliRunner()

RATINGS = [(1, 10, 4.0), (1, 20, 3.5), (2, 10, 5.0), (3, 30, 2.0), (3, 20, 1.0)]


def ml_latest_small_zip(ratings=RATINGS) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "ml-latest-small/ratings.csv",
            "userId,movieId,rating,timestamp\n"
            + "".join(f"{u},{i},{r},{1500000000 + k}\n" for k, (u, i, r) in enumerate(ratings)),
        )
        zf.writestr(
            "ml-latest-small/movies.csv",
            'movieId,title,genres\n10,"Heat, The (1995)",Action|Crime\n20,B (2001),Drama\n'
            "30,C (2002),(no genres listed)\n",
        )
    return buf.getvalue()


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A mirror folder served on 127.0.0.1, with ml-latest-small published in it."""
    folder = tmp_path / "mirror"
    entry = catalog.CATALOG["ml-latest-small"]
    data = ml_latest_small_zip()
    url = entry.files[0].url.removeprefix("https://")
    (folder / url).parent.mkdir(parents=True)
    (folder / url).write_bytes(data)
    remote = dataclasses.replace(
        entry.files[0], checksum="sha256:" + hashlib.sha256(data).hexdigest(), size=len(data)
    )
    patched = dataclasses.replace(entry, files=(remote,), expected=catalog.Counts(5, 3, 3, 3))
    monkeypatch.setitem(catalog.CATALOG, entry.name, patched)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("RANK_DATASETS_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield data
    httpd.shutdown()
    httpd.server_close()


def rank(*args):
    return runner.invoke(root, ["datasets", *map(str, args)])


def test_help_for_every_command():
    result = rank("--help")
    assert result.exit_code == 0
    for command in ("list", "info", "download", "prepare", "import", "verify", "remove"):
        assert command in result.output
        sub = rank(command, "--help")
        assert sub.exit_code == 0 and "--data-dir" in sub.output


def test_list_and_info_json(tmp_path):
    result = rank("list", "--json", "--data-dir", tmp_path)
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["lastfm-2k"]["domain"] == "music" and not rows["lastfm-2k"]["downloaded"]
    assert rows["spotify-mpd"]["available"] is False
    assert rows["ml-1m"]["expected"]["interactions"] == 1_000_209
    table = rank("list", "--data-dir", tmp_path)
    assert table.exit_code == 0 and "unavailable" in table.stdout
    info = json.loads(rank("info", "yambda-50m", "--json", "--data-dir", tmp_path).stdout)
    assert info["files"][0]["url"].startswith("https://huggingface.co/datasets/yandex/yambda/")
    text = rank("info", "spotify-mpd", "--data-dir", tmp_path)
    assert text.exit_code == 0 and "access by request only" in text.stdout


def test_unknown_name_is_one_line_exit_2(tmp_path):
    result = rank("info", "lastfm2k", "--data-dir", tmp_path)
    assert result.exit_code == 2
    assert "did you mean 'lastfm-2k'" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


@pytest.mark.network
def test_download_prepare_verify_remove(mirror, tmp_path):
    data_dir = tmp_path / "data"
    result = rank("download", "ml-latest-small", "--data-dir", data_dir, "--no-progress")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(rank("list", "--json", "--data-dir", data_dir).stdout)}
    assert rows["ml-latest-small"]["downloaded"] and not rows["ml-latest-small"]["prepared"]
    result = rank("prepare", "ml-latest-small", "--data-dir", data_dir)
    assert result.exit_code == 0, result.stderr
    assert "5 interactions, 3 users, 3 items" in result.stdout
    verified = rank("verify", "--data-dir", data_dir)
    assert verified.exit_code == 0 and "ok ml-latest-small" in verified.stdout
    archive = data_dir / "ml-latest-small" / "files" / "ml-latest-small.zip"
    archive.write_bytes(b"corrupt")
    failed = rank("verify", "ml-latest-small", "--data-dir", data_dir)
    assert failed.exit_code == 2 and "FAILED" in failed.stdout
    removed = rank("remove", "ml-latest-small", "--data-dir", data_dir)
    assert removed.exit_code == 0 and not (data_dir / "ml-latest-small").exists()
    assert "no datasets cached" in rank("verify", "--data-dir", data_dir).stdout


@pytest.mark.network
def test_prepare_downloads_on_first_use(mirror, tmp_path):
    result = rank("prepare", "ml-latest-small", "--data-dir", tmp_path, "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert (
        tmp_path / "ml-latest-small" / "prepared" / "ml-latest-small" / "items.parquet"
    ).exists()


@pytest.mark.network
def test_offline_download_names_url_and_import(mirror, tmp_path):
    result = rank("download", "ml-1m", "--data-dir", tmp_path, "--no-progress")
    assert result.exit_code == 2
    assert "files.grouplens.org/datasets/movielens/ml-1m.zip" in result.stderr
    assert "rank datasets import ml-1m PATH" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_with_right_and_wrong_checksum(mirror, tmp_path):
    data_dir = tmp_path / "data"
    bad = tmp_path / "ml-latest-small.zip"
    bad.write_bytes(mirror[:-1] + bytes([mirror[-1] ^ 1]))  # same size, one bit flipped
    result = rank("import", "ml-latest-small", bad, "--data-dir", data_dir)
    assert result.exit_code == 2 and "checksum mismatch" in result.stderr
    assert not (data_dir / "ml-latest-small" / "files" / "ml-latest-small.zip").exists()
    bad.write_bytes(ml_latest_small_zip(RATINGS[:2]))
    result = rank("import", "ml-latest-small", bad, "--data-dir", data_dir)
    assert result.exit_code == 2 and "size mismatch" in result.stderr
    good = tmp_path / "good" / "ml-latest-small.zip"
    good.parent.mkdir()
    good.write_bytes(mirror)
    result = rank("import", "ml-latest-small", good, "--data-dir", data_dir)
    assert result.exit_code == 0, result.stderr
    result = rank("prepare", "ml-latest-small", "--no-download", "--data-dir", data_dir)
    assert result.exit_code == 0 and "5 interactions" in result.stdout


def test_import_extracted_folder_warns(tmp_path):
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(io.BytesIO(ml_latest_small_zip())) as zf:
        zf.extractall(folder)
    result = rank("import", "ml-latest-small", folder, "--data-dir", tmp_path / "data")
    assert result.exit_code == 0
    assert "archive checksum could not be checked" in result.stderr
    result = rank("prepare", "ml-latest-small", "--no-download", "--data-dir", tmp_path / "data")
    assert result.exit_code == 0 and "3 users" in result.stdout


def test_prepare_without_source_or_network_fails_cleanly(tmp_path):
    result = rank("prepare", "lastfm-2k", "--no-download", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "rank datasets import lastfm-2k PATH" in result.stderr
    result = rank("download", "spotify-mpd", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "not available" in result.stderr


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--items", 10**12], "at most 2,147,483,647 items (int32 indices), got 1,000,000,000,000"),
        (["--users", 10, "--interactions", 10**12], "1,000,000,000,000 interactions needs about"),
        (["--artists", -1], "artists >= 0 (0: items / 10) and seed >= 0, got artists -1"),
        (["--seed", -5], "seed >= 0, got artists 0 and seed -5"),
        (["--users", 0], "users, items and interactions >= 1"),
    ],
)
def test_synth_sizes_that_cannot_be_honoured_are_refused_up_front(tmp_path, options, fragment):
    result = rank("synth", "big", *options, "--data-dir", tmp_path)
    assert result.exit_code == 2 and fragment in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output
    if "--items" in options or "--interactions" in options:
        assert "GiB" in result.stderr  # the memory it would need
    assert list(tmp_path.iterdir()) == []


def test_synth_memory_estimate_is_checked_against_what_is_available():
    from recsys_cli.data.synthetic import SynthSpec
    from recsys_cli.errors import DataError

    spec = SynthSpec(users=1_000, items=100_000, interactions=1_000_000)
    spec.check_fits(spec.memory_needed)
    spec.check_fits(None)  # unknown: not refused
    with pytest.raises(DataError, match=r"needs about 0\.2 GiB of memory .* 0\.1 GiB is available"):
        spec.check_fits(2**30 // 10)
