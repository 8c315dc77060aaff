"""Run files are written under unique temporary names; Parquet tables are never replaced."""

from __future__ import annotations

import os
import threading

import polars as pl
import pytest

from recsys_cli.results import atomic, store
from recsys_cli.results.atomic import ExistingFile, write_frames, write_json, write_parquet
from recsys_cli.results.store import SharedFiles, link_or_copy


def frame(value: int) -> pl.DataFrame:
    return pl.DataFrame({"writer": [value] * 1000, "row": range(1000)})


def test_concurrent_writers_of_one_table_leave_exactly_one_whole_file(tmp_path):
    path = tmp_path / "per_user.parquet"
    barrier = threading.Barrier(8)
    won, lost = [], []

    def write(value: int) -> None:
        barrier.wait()
        try:
            write_parquet(path, frame(value))
            won.append(value)
        except ExistingFile:
            lost.append(value)

    threads = [threading.Thread(target=write, args=(v,)) for v in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1 and len(lost) == 7
    assert pl.read_parquet(path).equals(frame(won[0]))  # whole, from one writer
    assert os.listdir(tmp_path) == ["per_user.parquet"]  # no temporary file left


def test_existing_table_is_kept_and_the_error_names_it(tmp_path):
    path = tmp_path / "per_user.parquet"
    path.write_bytes(b"an earlier evaluation")
    with pytest.raises(ExistingFile, match="per_user.parquet: already written"):
        write_parquet(path, frame(1))
    assert path.read_bytes() == b"an earlier evaluation"
    assert os.listdir(tmp_path) == ["per_user.parquet"]


def test_without_hard_links_an_existing_table_is_still_kept(tmp_path, monkeypatch):
    def no_links(source, target):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(atomic.os, "link", no_links)
    write_parquet(tmp_path / "a.parquet", frame(1))
    assert pl.read_parquet(tmp_path / "a.parquet").equals(frame(1))
    with pytest.raises(ExistingFile):
        write_parquet(tmp_path / "a.parquet", frame(2))
    assert pl.read_parquet(tmp_path / "a.parquet").equals(frame(1))
    assert os.listdir(tmp_path) == ["a.parquet"]


def test_json_is_replaced_atomically(tmp_path):
    path = tmp_path / "manifest.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert path.read_text() == '{\n  "a": 2\n}\n'
    assert os.listdir(tmp_path) == ["manifest.json"]


def test_frames_stream_into_a_new_file_only(tmp_path):
    path = tmp_path / "candidates.parquet"
    made = []

    def frames():
        for value in (1, 2):
            made.append(value)
            yield frame(value)

    write_frames(path, frames)
    assert pl.read_parquet(path).equals(pl.concat([frame(1), frame(2)]))
    assert made == [1, 2]  # each frame made once: the first one serves the schema too
    with pytest.raises(ExistingFile):
        write_frames(path, lambda: iter([frame(3)]))
    assert pl.read_parquet(path).height == 2000
    assert os.listdir(tmp_path) == ["candidates.parquet"]


def test_a_failing_frame_leaves_nothing(tmp_path):
    def frames():
        yield frame(1)
        raise RuntimeError("boom")

    with pytest.raises(Exception, match="boom"):
        write_frames(tmp_path / "t.parquet", frames)
    assert os.listdir(tmp_path) == []


def test_shared_files_are_links_and_folders_are_folders_of_links(tmp_path):
    shared = tmp_path / "shared"
    (shared / "side").mkdir(parents=True)
    (shared / "test.parquet").write_bytes(b"t")
    (shared / "side" / "a.npz").write_bytes(b"a")
    run = tmp_path / "run"
    run.mkdir()
    files = SharedFiles(shared, frozenset({"test.parquet", "side"}))
    assert files.place("test.parquet", run) and files.place("side", run)
    assert not files.place("candidates.parquet", run)  # not shared: the run writes its own
    assert (run / "test.parquet").stat().st_ino == (shared / "test.parquet").stat().st_ino
    assert (run / "side" / "a.npz").read_bytes() == b"a"
    with pytest.raises(FileExistsError):  # never replaces a file
        link_or_copy(shared / "test.parquet", run / "test.parquet")


def test_without_hard_links_the_file_is_copied(tmp_path, monkeypatch):
    def refuse(source, target):
        raise PermissionError("no hard links here")

    monkeypatch.setattr(store.os, "link", refuse)
    (tmp_path / "a").write_bytes(b"x")
    link_or_copy(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"x"
    assert (tmp_path / "b").stat().st_ino != (tmp_path / "a").stat().st_ino
