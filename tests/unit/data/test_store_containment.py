"""The data store never writes or removes outside its folder: plain dataset names, symlinks that
leave an imported folder, decompression bombs and the temporary folders they leave."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from recsys_cli.config.validate import name_problem
from recsys_cli.data import archives, catalog
from recsys_cli.data.catalog import RemoteFile, get_entry
from recsys_cli.data.store import DatasetStore, dataset_dir
from recsys_cli.data.synthetic import synthetic_dir
from recsys_cli.errors import DataError

BAD_NAMES = ["", ".", "..", "../x", "../../x", "/abs", "a/b", "a\\b", ".hidden", "a..b", "a b"]


def make_store(tmp_path: Path) -> tuple[DatasetStore, list[str]]:
    warnings: list[str] = []
    return DatasetStore(tmp_path / "data", warn=warnings.append), warnings


def tree(folder: Path) -> dict[str, int]:
    """Every path under `folder` (links not followed) with its size; folders count as -1."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = -1 if path.is_dir() else path.lstat().st_size
    return found


@pytest.mark.parametrize("name", BAD_NAMES)
def test_dataset_names_must_be_plain(tmp_path, name):
    with pytest.raises(DataError, match="dataset name .* use letters, digits") as error:
        dataset_dir(tmp_path, name)
    assert "\n" not in str(error.value)
    with pytest.raises(DataError, match="dataset name"):
        synthetic_dir(tmp_path, name)
    with pytest.raises(DataError, match="dataset name"):
        get_entry(name)


def test_every_catalog_name_and_file_name_is_plain():
    for entry in catalog.ENTRIES:
        for name in (entry.name, entry.folder, *(f.name for f in entry.files)):
            assert name_problem(name) is None, name


def test_plain_names_stay_in_the_data_dir(tmp_path):
    assert dataset_dir(tmp_path, "ml-100k") == tmp_path / "ml-100k"
    assert synthetic_dir(tmp_path, "big_1.0") == tmp_path / "synthetic" / "big_1.0"


def test_a_symlinked_folder_leading_out_of_the_data_dir_is_refused(tmp_path):
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    (data / "synthetic").symlink_to(outside)
    (data / "ml-100k").symlink_to(outside)
    with pytest.raises(DataError, match="outside"):
        synthetic_dir(data, "big")
    entry = get_entry("ml-100k")
    with pytest.raises(DataError, match="outside"):
        DatasetStore(data).remove(entry)
    assert outside.is_dir()


def bomb_zip(size: int = 5_000_000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", b"0" * size)
    return buf.getvalue()


def bomb_tar(size: int = 5_000_000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in ("a.tsv", "b.tsv"):
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(b"0" * size))
    return buf.getvalue()


def test_zip_bomb_is_refused_before_anything_is_written(tmp_path):
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(bomb_zip())
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(DataError, match="decompression bomb"):
        archives.extract_archive(archive, into)
    assert tree(into) == {}


def test_tar_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(bomb_tar())
    monkeypatch.setattr(archives, "UNPACK_RATIO", 5_000_000 * 1.5 / archive.stat().st_size)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(DataError, match="decompression bomb"):
        archives.extract_archive(archive, into)
    assert tree(into) == {"a.tsv": 5_000_000}  # the second member was never written


def test_an_archive_within_the_ratio_unpacks(tmp_path):
    archive = tmp_path / "fine.zip"
    text = "".join(f"{u}\t{i}\t5\t88125{u}\n" for u in range(300) for i in range(5)).encode()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", text)
    archives.extract_archive(archive, tmp_path)
    assert (tmp_path / "ml-100k" / "u.data").read_bytes() == text


def test_refused_archive_leaves_no_extraction_folders(tmp_path):
    data = bomb_zip()
    remote = RemoteFile(
        "ml-100k.zip", "https://x/ml-100k.zip", "sha256:" + hashlib.sha256(data).hexdigest()
    )
    entry = dataclasses.replace(get_entry("ml-100k"), files=(remote,))
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(data)
    st, _ = make_store(tmp_path)
    st.import_path(entry, archive)
    stale = st.folder(entry) / "extracted.tmp1"  # left by a run killed mid-extraction
    stale.mkdir()
    (stale / "u.data").write_text("half")
    with pytest.raises(DataError, match="decompression bomb"):
        st.prepare(entry, download=False)
    assert sorted(tree(st.folder(entry))) == [".lock", "files", "files/ml-100k.zip", "source.json"]


PLAYS = b"userID\tartistID\tweight\r\n1\t2\t3\r\n"
ARTISTS = b"id\tname\r\n2\tx\r\n"


@pytest.fixture
def linked_folder(tmp_path):
    """An extracted folder whose links lead inside, outside, nowhere and round in circles."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the data dir")
    folder = tmp_path / "hetrec"
    (folder / "sub").mkdir(parents=True)
    (folder / "user_artists.dat").write_bytes(PLAYS)
    (folder / "sub" / "artists.dat").write_bytes(ARTISTS)
    (folder / "inside_link.dat").symlink_to(folder / "sub" / "artists.dat")
    (folder / "outside_file.dat").symlink_to(outside / "secret.txt")
    (folder / "outside_dir").symlink_to(outside)
    (folder / "relative_escape.dat").symlink_to("../outside/secret.txt")
    (folder / "broken.dat").symlink_to(folder / "missing")
    (folder / "loop_a").symlink_to(folder / "loop_b")
    (folder / "loop_b").symlink_to(folder / "loop_a")
    (folder / "sub" / "up").symlink_to(folder)  # a folder link back to an ancestor
    os.mkfifo(folder / "pipe")
    return folder


def test_import_skips_links_that_leave_the_folder_and_loops(tmp_path, linked_folder):
    st, warnings = make_store(tmp_path)
    entry = get_entry("lastfm-2k")
    assert st.import_path(entry, linked_folder) == "import-folder"
    copied = st.folder(entry) / "extracted"
    assert tree(copied) == {
        "user_artists.dat": len(PLAYS),
        "sub": -1,
        "sub/artists.dat": len(ARTISTS),
        "inside_link.dat": len(ARTISTS),  # a link inside the folder is copied as a file
    }
    assert not any(p.is_symlink() for p in copied.rglob("*"))
    skipped = next(w for w in warnings if "not imported" in w)
    for counted in (
        "links leading outside it: 3 (outside_dir, outside_file.dat, relative_escape.dat)",
        "broken or looping links: 3 (broken.dat, loop_a, loop_b)",
        "links back to an enclosing folder: 1 (sub/up)",
        "special files: 1 (pipe)",
    ):
        assert counted in skipped
    assert "not for the data dir" not in "".join(p.read_text() for p in copied.rglob("*.dat"))


def test_import_of_a_folder_holding_only_outside_links_keeps_nothing(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ratings.csv").write_text("a,b\n")
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "ratings.csv").symlink_to(outside / "ratings.csv")
    st, warnings = make_store(tmp_path)
    entry = get_entry("ml-latest-small")
    with pytest.raises(DataError, match="holds no files"):
        st.import_path(entry, folder)
    assert "links leading outside it: 1 (ratings.csv)" in warnings[0]
    assert not (st.folder(entry) / "extracted").exists()


def test_upstream_file_linked_from_outside_is_not_imported(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ml-100k.zip").write_bytes(b"anything")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "ml-100k.zip").symlink_to(outside / "ml-100k.zip")
    st, warnings = make_store(tmp_path)
    with pytest.raises(DataError, match="holds no files"):
        st.import_path(get_entry("ml-100k"), folder)
    assert "leading outside it: 1 (ml-100k.zip)" in warnings[0]


@pytest.mark.parametrize("where", ["data dir inside", "inside the data dir"])
def test_import_folder_overlapping_the_dataset_folder_is_refused(tmp_path, where):
    st, _ = make_store(tmp_path)
    entry = get_entry("lastfm-2k")
    source = tmp_path if where == "data dir inside" else st.folder(entry) / "extracted"
    source.mkdir(parents=True, exist_ok=True)
    (source / "user_artists.dat").write_text("x")
    before = tree(tmp_path)
    with pytest.raises(DataError, match="overlaps the dataset's folder"):
        st.import_path(entry, source)
    assert tree(tmp_path) == before


def test_import_of_a_special_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "pipe.zip")
    st, _ = make_store(tmp_path)
    with pytest.raises(DataError, match="not a regular file or a folder"):
        st.import_path(get_entry("ml-100k"), tmp_path / "pipe.zip")
