"""Parsers on extracted fixtures in each upstream layout: dtypes, counts, encodings, quirks."""

from __future__ import annotations

import polars as pl
import pytest

from recsys_cli.data import catalog, parsers
from recsys_cli.data.parsers import SourceFiles
from recsys_cli.errors import DataError

PARSED = [e.name for e in catalog.ENTRIES if e.parser is not None]


def parse(name: str, upstream, tmp_path):
    up = upstream(name)
    root = up.write_extracted(tmp_path / "src")
    inter, items = catalog.CATALOG[name].parser(SourceFiles(name, [root]))
    return up, inter, items


@pytest.mark.parametrize("name", PARSED)
def test_every_parser_gives_canonical_tables(name, upstream, tmp_path):
    up, inter, items = parse(name, upstream, tmp_path)
    assert inter.columns[:4] == ["user", "item", "timestamp", "weight"]
    assert inter.schema["timestamp"] == pl.Int64
    assert inter.schema["weight"] == pl.Float64
    assert inter.height == up.counts.interactions
    assert inter["user"].n_unique() == up.counts.users
    assert inter["item"].n_unique() == up.counts.items
    if up.counts.items_listed is not None:
        assert items.height == up.counts.items_listed
    # every interacted item has an items row, and item ids are unique there
    assert items["item"].n_unique() == items.height
    assert inter["item"].is_in(items["item"].implode()).all()


def test_ml100k_latin1_genres_and_year(upstream, tmp_path):
    _, inter, items = parse("ml-100k", upstream, tmp_path)
    first = items.filter(pl.col("item") == 1).row(0, named=True)
    assert first["title"] == "Café Noir (1995)"
    # item 1 has flags 1 and 4 set: Action, Children's
    assert first["genres"] == ["Action", "Children's"]
    assert first["year"] == 1991
    assert items.filter(pl.col("item") == 2)["year"].to_list() == [None]
    assert items.schema["year"] == pl.Int32
    assert inter["timestamp"].min() == 880000000
    assert set(inter["weight"].unique().to_list()) <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_ml1m_double_colon_latin1(upstream, tmp_path):
    _, inter, items = parse("ml-1m", upstream, tmp_path)
    by_id = {r["item"]: r for r in items.iter_rows(named=True)}
    assert by_id[1]["title"] == "Toy Story (1995)"
    assert by_id[1]["genres"] == ["Animation", "Children's", "Comedy"]
    assert by_id[1]["year"] == 1995
    assert by_id[2]["title"] == "Amélie (2001)"
    assert inter.schema["user"] == pl.Int64
    assert inter["timestamp"].min() == 970000000


def test_movielens_csv_quoted_titles_and_no_genres(upstream, tmp_path):
    _, inter, items = parse("ml-20m", upstream, tmp_path)
    by_id = {r["item"]: r for r in items.iter_rows(named=True)}
    assert by_id[10]["title"] == "American President, The (1995)"
    assert by_id[10]["year"] == 1995
    assert by_id[20]["genres"] == []
    assert by_id[20]["year"] is None
    assert set(inter["weight"].to_list()) <= {x / 2 for x in range(1, 11)}


def test_lastfm_2k_artists_as_items_crlf_and_tags(upstream, tmp_path):
    _, inter, items = parse("lastfm-2k", upstream, tmp_path)
    assert inter["timestamp"].null_count() == inter.height
    assert inter["weight"].min() >= 1.0
    bjork = items.filter(pl.col("item") == 51).row(0, named=True)
    assert bjork["title"] == bjork["artist"] == 'Björk "Live"'
    assert not bjork["url"].endswith("\r")
    # tag 2 ("électro", latin-1) used twice beats tag 1 used once
    assert bjork["genres"] == ["électro", "metal"]
    assert items.filter(pl.col("item") == 53)["genres"].to_list() == [[]]


def test_lastfm_2k_without_tag_files_has_no_genres(upstream, tmp_path):
    up = upstream("lastfm-2k")
    up.members.pop("user_taggedartists.dat")
    root = up.write_extracted(tmp_path / "src")
    _, items = parsers.parse_lastfm_2k(SourceFiles("lastfm-2k", [root]))
    assert "genres" not in items.columns


def test_lastfm_1k_timestamps_and_track_fallback(upstream, tmp_path):
    up, inter, items = parse("lastfm-1k", upstream, tmp_path)
    assert inter["timestamp"].min() == up.facts["first_ts"]
    assert inter["timestamp"].null_count() == 0
    assert (inter["weight"] == 1.0).all()
    fallback = items.filter(~pl.col("item").str.starts_with("tr-"))
    assert fallback.height > 0
    assert fallback["item"].str.contains("\u241f").all()
    assert items["artist"].str.starts_with('Art "').all()


def test_lastfm_360k_plays_and_name_fallback(upstream, tmp_path):
    _, inter, items = parse("lastfm-360k", upstream, tmp_path)
    named = items.filter(pl.col("item").str.starts_with("name:"))
    assert named["title"].to_list() == ['The "3"']
    assert inter.filter(pl.col("item") == "mb-005")["weight"].unique().to_list() == [36.0]
    assert inter["timestamp"].null_count() == inter.height


@pytest.mark.parametrize("name", ["kuairec-big", "kuairec-small"])
def test_kuairec_watch_ratio_missing_time_and_provider(name, upstream, tmp_path):
    _, inter, items = parse(name, upstream, tmp_path)
    assert inter["timestamp"].null_count() == 1
    assert (inter["weight"] == inter["watch_ratio"]).all()
    assert inter["weight"].min() >= 0.5
    row = items.filter(pl.col("item") == 3).row(0, named=True)
    assert row["genres"] == ["0", "13"]
    assert row["artist"] == "103"


def test_yambda_flags_and_maps(upstream, tmp_path):
    up, inter, items = parse("yambda-50m", upstream, tmp_path)
    assert inter.schema["is_organic"] == pl.Boolean
    assert int(inter["is_organic"].sum()) == up.facts["organic"]
    assert int(inter["liked"].sum()) == up.facts["liked"]
    # the one dislike is on an item nobody listened to: no listen is flagged
    assert int(inter["disliked"].sum()) == 0
    assert {"played_ratio_pct", "track_length_seconds"} <= set(inter.columns)
    row = items.filter(pl.col("item") == 1007).row(0, named=True)
    assert (row["artist"], row["album"]) == ("1", "7")


def test_missing_file_names_the_file(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(DataError, match="u.data"):
        parsers.parse_ml100k(SourceFiles("ml-100k", [tmp_path / "src"]))
