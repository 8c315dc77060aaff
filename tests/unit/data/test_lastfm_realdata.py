"""The real HetRec 2011 Last.fm 2K files (../shared/datasets), imported as an extracted folder."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from recsys_cli.data.catalog import get_entry
from recsys_cli.data.store import DatasetStore


def hetrec_folder() -> Path:
    shared = os.environ.get("RANK_SHARED_DIR")
    base = Path(shared) if shared else Path(__file__).resolve().parents[3] / ".." / "shared"
    return (base / "datasets" / "hetrec2011-lastfm-2k").resolve()


@pytest.mark.realdata
def test_import_and_prepare_real_lastfm_2k(tmp_path):
    folder = hetrec_folder()
    if not (folder / "user_artists.dat").is_file():
        pytest.skip(f"{folder} not present")
    warnings: list[str] = []
    store = DatasetStore(tmp_path, warn=warnings.append)
    entry = get_entry("lastfm-2k")
    assert store.import_path(entry, folder) == "import-folder"
    ds = store.prepare(entry, download=False)
    inter, items = ds.interactions, ds.items
    assert inter.height == 92_834
    assert inter["user"].n_unique() == 1_892
    assert inter["item"].n_unique() == 17_632
    assert items.height == 17_632
    # only the import note: the published counts in the catalog match the real files
    assert len(warnings) == 1 and "archive checksum could not be checked" in warnings[0]
    assert inter["timestamp"].null_count() == inter.height
    first = inter.filter((pl.col("user") == 2) & (pl.col("item") == 51))
    assert first["weight"].to_list() == [13883.0]
    named = dict(zip(items["item"].to_list(), items["title"].to_list(), strict=True))
    assert named[51] == "Duran Duran"
    assert (items["artist"] == items["title"]).all()
    top = inter.group_by("item").agg(pl.col("weight").sum()).sort("weight", descending=True)
    assert named[top["item"][0]] == "Britney Spears"
    assert not items["title"].str.contains("\r").any()
    assert store.verify(entry).ok
