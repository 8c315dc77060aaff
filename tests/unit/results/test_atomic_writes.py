"""Run files are written under unique temporary names; Parquet tables are never replaced."""

from __future__ import annotations

import os
import threading

import polars as pl
import pytest

from recsys_cli.results import store
from recsys_cli.results.store import ExistingFile, ParquetPieces, write_json, write_parquet


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

    monkeypatch.setattr(store.os, "link", no_links)
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


def test_pieces_join_into_a_new_file_only(tmp_path):
    path = tmp_path / "candidates.parquet"
    with ParquetPieces(path) as pieces:
        pieces.add(frame(1))
        pieces.add(frame(2))
    assert pl.read_parquet(path).equals(pl.concat([frame(1), frame(2)]))
    with pytest.raises(ExistingFile), ParquetPieces(path) as pieces:
        pieces.add(frame(3))
    assert pl.read_parquet(path).height == 2000
    assert os.listdir(tmp_path) == ["candidates.parquet"]
