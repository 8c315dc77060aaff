"""Catalog + data store: download and prepare every entry from a loopback mirror, import, cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from pathlib import Path

import polars as pl
import pytest

from recsys_cli.data import catalog, store
from recsys_cli.data.catalog import get_entry
from recsys_cli.data.store import DatasetStore, load_catalog_dataset, resolve_data_dir
from recsys_cli.errors import DataError

PARSED = [e.name for e in catalog.ENTRIES if e.parser is not None]


def make_store(tmp_path: Path) -> tuple[DatasetStore, list[str]]:
    warnings: list[str] = []
    return DatasetStore(tmp_path / "data", warn=warnings.append, retries=1, backoff=0.0), warnings


def files_in(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_catalog_lists_every_required_dataset():
    required = {
        "ml-100k", "ml-1m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "lastfm-2k",
        "lastfm-1k", "lastfm-360k", "yambda-50m", "kuairec-big", "kuairec-small",
    }  # fmt: skip
    assert required <= set(catalog.CATALOG)
    for name in required:
        entry = catalog.CATALOG[name]
        assert entry.available and entry.parser is not None and entry.files
        assert entry.homepage.startswith("http") and entry.license and entry.citation
        for f in entry.files:
            assert f.url.startswith("https://")
    yambda = {f.name for f in catalog.CATALOG["yambda-50m"].files}
    assert {"listens.parquet", "likes.parquet", "dislikes.parquet"} <= yambda
    assert {"artist_item_mapping.parquet", "album_item_mapping.parquet"} <= yambda
    unavailable = [e for e in catalog.ENTRIES if not e.available]
    assert {e.name for e in unavailable} == {"spotify-mpd", "spotify-streaming-sessions"}
    assert all("request" in e.unavailable_reason for e in unavailable)


@pytest.mark.network
@pytest.mark.parametrize("name", PARSED)
def test_download_and_prepare_every_entry(name, serve_dataset, tmp_path):
    entry, up = serve_dataset(name)
    st, warnings = make_store(tmp_path)
    ds = st.prepare(entry)
    inter = ds.interactions
    assert (inter.height, inter["user"].n_unique(), inter["item"].n_unique()) == (
        up.counts.interactions,
        up.counts.users,
        up.counts.items,
    )
    assert ds.name == name and ds.checksum.startswith("sha256:")
    assert warnings == []  # counts match the fixture's, every file had a checksum
    assert not list(st.folder(entry).rglob("*.part"))
    again = st.prepare(entry)
    assert again.interactions.equals(inter) and again.items.equals(ds.items)
    assert again.checksum == ds.checksum


@pytest.mark.network
def test_prepared_cache_is_reused_without_network(serve_dataset, mirror, tmp_path, monkeypatch):
    entry, _ = serve_dataset("ml-latest-small")
    st, _ = make_store(tmp_path)
    st.prepare(entry)
    served = len(mirror.requests)

    def boom(src):
        raise AssertionError("parsed again")

    monkeypatch.setitem(catalog.CATALOG, entry.name, dataclasses.replace(entry, parser=boom))
    ds = load_catalog_dataset("ml-latest-small", tmp_path / "data")
    assert ds.interactions.height > 0 and len(mirror.requests) == served


@pytest.mark.network
def test_two_threads_prepare_one_dataset(serve_dataset, mirror, tmp_path):
    entry, up = serve_dataset("lastfm-1k")
    mirror.chunk_delay = 0.01
    st, _ = make_store(tmp_path)
    results, errors = [], []

    def run():
        try:
            results.append(st.prepare(entry))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 2
    assert results[0].interactions.equals(results[1].interactions)
    assert results[0].interactions.height == up.counts.interactions
    assert len(mirror.requests) == 1


@pytest.mark.network
def test_md5_checksums_are_verified(serve_dataset, tmp_path):
    entry, up = serve_dataset("ml-1m", algo="md5")
    st, _ = make_store(tmp_path)
    assert st.prepare(entry).interactions.height == up.counts.interactions
    record = json.loads((st.folder(entry) / "source.json").read_text())
    assert record["files"]["ml-1m.zip"]["verified"] is True


@pytest.mark.network
def test_checksum_mismatch_leaves_nothing_in_the_cache(serve_dataset, tmp_path, monkeypatch):
    entry, _ = serve_dataset("lastfm-2k")
    bad = dataclasses.replace(entry.files[0], checksum="sha256:" + "1" * 64)
    monkeypatch.setitem(catalog.CATALOG, entry.name, dataclasses.replace(entry, files=(bad,)))
    st, _ = make_store(tmp_path)
    with pytest.raises(DataError, match="checksum mismatch.*discarded"):
        st.prepare(get_entry("lastfm-2k"))
    folder = st.folder(entry)
    assert [f for f in files_in(folder) if not f.endswith(".lock")] == []
    assert not st.status(entry).downloaded


@pytest.mark.network
def test_unreachable_source_suggests_import(mirror, tmp_path):
    st, _ = make_store(tmp_path)
    with pytest.raises(DataError) as err:
        st.download(get_entry("ml-100k"))
    message = str(err.value)
    assert "files.grouplens.org/datasets/movielens/ml-100k.zip" in message
    assert "rank datasets import ml-100k PATH" in message and "HTTP 404" in message


def test_missing_source_without_download_names_the_commands(tmp_path):
    st, _ = make_store(tmp_path)
    with pytest.raises(DataError, match="rank datasets import lastfm-2k PATH"):
        st.prepare(get_entry("lastfm-2k"), download=False)


def test_unknown_and_unavailable_names(tmp_path):
    with pytest.raises(DataError, match="did you mean 'lastfm-360k'"):
        get_entry("lastfm-360")
    with pytest.raises(DataError, match="did you mean 'ml-1m'"):
        get_entry("ml1m")
    with pytest.raises(DataError, match="not available: access by request only"):
        DatasetStore(tmp_path / "unused").prepare(get_entry("spotify-mpd"))


def test_import_archive_with_right_checksum_prepares_offline(serve_dataset, tmp_path):
    entry, up = serve_dataset("ml-100k")
    archive = tmp_path / "elsewhere" / "ml-100k.zip"
    archive.parent.mkdir()
    archive.write_bytes(up.published()["ml-100k.zip"])
    st, warnings = make_store(tmp_path)
    assert st.import_path(entry, archive) == "import-archive"
    ds = st.prepare(entry, download=False)
    assert ds.interactions.height == up.counts.interactions
    assert warnings == []
    assert st.verify(entry).ok


def test_import_archive_with_wrong_checksum_keeps_nothing(serve_dataset, tmp_path):
    entry, up = serve_dataset("ml-100k")
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(up.published()["ml-100k.zip"] + b"tampered")
    st, _ = make_store(tmp_path)
    with pytest.raises(DataError, match="nothing was imported"):
        st.import_path(entry, archive)
    assert [f for f in files_in(st.folder(entry)) if not f.endswith(".lock")] == []


def test_import_renamed_archive_and_foreign_file(serve_dataset, tmp_path):
    entry, up = serve_dataset("lastfm-360k")
    renamed = tmp_path / "download(1).tar.gz"
    renamed.write_bytes(up.published()["lastfm-dataset-360K.tar.gz"])
    st, _ = make_store(tmp_path)
    st.import_path(entry, renamed)  # one-file dataset: any name; the checksum decides
    assert st.status(entry).downloaded
    yambda = get_entry("yambda-50m")
    with pytest.raises(DataError, match="expected one of listens.parquet"):
        st.import_path(yambda, renamed)


def test_import_folder_of_upstream_parquet_files(serve_dataset, tmp_path):
    entry, up = serve_dataset("yambda-50m")
    folder = up.write_extracted(tmp_path / "yambda")
    st, warnings = make_store(tmp_path)
    assert st.import_path(entry, folder) == "import-archive"
    ds = st.prepare(entry, download=False)
    assert ds.interactions.height == up.counts.interactions
    assert warnings == []  # every file matched the (fixture) catalog checksums


def test_import_extracted_folder_records_checksums_and_reprepares_on_change(tmp_path, upstream):
    entry = get_entry("lastfm-2k")
    up = upstream("lastfm-2k")
    folder = up.write_extracted(tmp_path / "hetrec")
    st, warnings = make_store(tmp_path)
    monkey_counts = dataclasses.replace(entry, expected=up.counts)
    assert st.import_path(monkey_counts, folder) == "import-folder"
    assert any("archive checksum could not be checked" in w for w in warnings)
    record = json.loads((st.folder(entry) / "source.json").read_text())
    assert (
        record["folder"]["user_artists.dat"]["sha256"]
        == hashlib.sha256(up.members["user_artists.dat"]).hexdigest()
    )
    first = st.prepare(monkey_counts, download=False)
    assert first.interactions.height == up.counts.interactions

    # a changed source (fewer rows) gets a new checksum and is prepared again
    lines = up.members["user_artists.dat"].split(b"\r\n")
    (folder / "user_artists.dat").write_bytes(b"\r\n".join(lines[:11]) + b"\r\n")
    st.import_path(entry, folder)
    second = st.prepare(entry, download=False)
    assert second.interactions.height == 10
    assert second.checksum != first.checksum


def test_parser_version_change_reprepares(tmp_path, upstream, monkeypatch):
    entry = get_entry("lastfm-2k")
    st, _ = make_store(tmp_path)
    st.import_path(entry, upstream("lastfm-2k").write_extracted(tmp_path / "src"))
    st.prepare(entry, download=False)
    assert st.status(entry).prepared
    monkeypatch.setattr(store, "PARSER_VERSION", store.PARSER_VERSION + 1)
    assert not st.status(entry).prepared
    st.prepare(entry, download=False)
    assert st.status(entry).prepared


@pytest.mark.network
def test_verify_detects_corruption_and_remove_frees_shared_storage(serve_dataset, tmp_path):
    entry, _ = serve_dataset("kuairec-small")
    st, _ = make_store(tmp_path)
    st.prepare(entry)
    big = get_entry("kuairec-big")
    assert st.status(big).downloaded  # same archive, same folder
    report = st.verify(entry)
    assert report.ok and report.checked == 1
    archive = st.folder(entry) / "files" / "KuaiRec.zip"
    archive.write_bytes(b"X" + archive.read_bytes()[1:])
    report = st.verify(entry)
    assert not report.ok and "differs from recorded" in report.problems[0]
    names, freed = st.remove(entry)
    assert set(names) == {"kuairec-big", "kuairec-small"} and freed > 0
    assert not st.folder(entry).exists()
    with pytest.raises(DataError, match="not in"):
        st.remove(entry)


def test_prepared_tables_are_parquet_with_meta(tmp_path, upstream):
    entry = get_entry("lastfm-2k")
    st, _ = make_store(tmp_path)
    st.import_path(entry, upstream("lastfm-2k").write_extracted(tmp_path / "src"))
    ds = st.prepare(entry, download=False)
    prepared = st.prepared_dir(entry)
    assert pl.read_parquet(prepared / "interactions.parquet").equals(ds.interactions)
    meta = json.loads((prepared / "meta.json").read_text())
    assert meta["source_checksum"] == ds.checksum and meta["interactions"] == ds.interactions.height


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("RANK_DATA_DIR", raising=False)
    assert resolve_data_dir() == Path("datasets")
    monkeypatch.setenv("RANK_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"


def test_bad_mirror_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK_DATASETS_MIRROR", "mirror.example/base")
    store, _ = make_store(tmp_path)
    with pytest.raises(DataError, match="is not a URL"):
        store.download(get_entry("ml-1m"))
    assert files_in(tmp_path) == [] and not (tmp_path / "data" / "ml-1m").exists()


def test_scan_prepares_on_first_use_and_reads_the_canonical_columns_lazily(serve_dataset, tmp_path):
    """Yambda's listens carry more columns (is_organic, played_ratio_pct) than a run reads."""
    entry, up = serve_dataset("yambda-50m")
    st, _ = make_store(tmp_path)
    st.import_path(entry, up.write_extracted(tmp_path / "src"))
    scanned = st.scan(entry, download=False)
    assert st.status(entry).prepared and isinstance(scanned.interactions, pl.LazyFrame)
    full = st.prepare(entry, download=False)
    assert len(full.interactions.columns) > 4
    canonical = full.interactions.select("user", "item", "timestamp", "weight")
    assert scanned.interactions.collect().equals(canonical)
    assert scanned.n_interactions == full.n_interactions == canonical.height
    assert scanned.items.equals(full.items) and scanned.checksum == full.checksum
    assert scanned.collect().interactions.equals(canonical)
