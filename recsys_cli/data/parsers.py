"""Parsers from each dataset's upstream layout to the canonical tables (see `data/dataset.py`).

Every parser takes a `SourceFiles` (the extracted archive or imported folder) and returns
`(interactions, items)` as polars frames; file formats follow each dataset's README (cited per
parser). No per-row Python: whole-file byte transforms (latin-1 -> UTF-8, `::` -> one byte) and
polars expressions only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from recsys_cli.data.dataset import canonical_interactions, empty_items
from recsys_cli.errors import DataError

Tables = tuple[pl.DataFrame, pl.DataFrame]

# Bump when a parser's output changes: prepared caches of an older version are rebuilt.
PARSER_VERSION = 1

# u.genre of MovieLens 100K, in flag order (README of ml-100k, GroupLens 1998).
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
YEAR_IN_TITLE = r"\((\d{4})\)\s*$"
SEP = b"\x1f"  # ASCII unit separator: never inside MovieLens fields


class SourceFiles:
    """Upstream files of one dataset, found by base name under one or more folders."""

    def __init__(self, dataset: str, roots: Iterable[Path]):
        self.dataset = dataset
        self.roots = [Path(r) for r in roots if Path(r).is_dir()]

    def find(self, name: str) -> Path:
        """The file called `name` (shallowest match first); a `DataError` when absent."""
        found = self.optional(name)
        if found is None:
            where = ", ".join(str(r) for r in self.roots) or "(no source folder)"
            raise DataError(f"dataset {self.dataset!r}: file {name!r} not found under {where}")
        return found

    def optional(self, name: str) -> Path | None:
        matches = [
            p for root in self.roots for p in root.rglob(name) if p.is_file() and p.name == name
        ]
        if not matches:
            return None
        return min(matches, key=lambda p: (len(p.parts), str(p)))


def _latin1(path: Path) -> bytes:
    """The file re-encoded from latin-1 (ISO-8859-1) to UTF-8, in one C-level pass."""
    return path.read_bytes().decode("latin-1").encode("utf-8")


def _double_colon(data: bytes) -> bytes:
    # polars separators are one byte; MovieLens 1M uses `::`
    return data.replace(b"::", SEP)


def _title_year(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("title").str.strip_chars().str.extract(YEAR_IN_TITLE, 1).cast(pl.Int32).alias("year")
    )


def _split_genres(column: str = "genres") -> pl.Expr:
    return (
        pl.col(column)
        .str.split("|")
        .list.eval(pl.element().filter(pl.element() != "(no genres listed)"))
    )


def parse_ml100k(src: SourceFiles) -> Tables:
    """MovieLens 100K: `u.data` (TSV user, item, rating, ts) and `u.item` (pipe, latin-1).

    Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015.
    """
    inter = pl.read_csv(
        src.find("u.data"),
        separator="\t",
        has_header=False,
        new_columns=["user", "item", "weight", "timestamp"],
        schema_overrides={"user": pl.Int64, "item": pl.Int64, "weight": pl.Float64},
    )
    flags = [f"g{i}" for i in range(len(ML100K_GENRES))]
    items = pl.read_csv(
        _latin1(src.find("u.item")),
        separator="|",
        has_header=False,
        quote_char=None,
        new_columns=["item", "title", "release", "video_release", "imdb_url", *flags],
        schema_overrides={"item": pl.Int64, "release": pl.Utf8, "video_release": pl.Utf8},
    )
    genre_lists = pl.concat_list(
        [pl.when(pl.col(f) == 1).then(pl.lit(g)) for f, g in zip(flags, ML100K_GENRES, strict=True)]
    ).list.drop_nulls()
    items = items.select(
        "item",
        "title",
        genre_lists.alias("genres"),
        pl.col("release").str.slice(-4).cast(pl.Int32, strict=False).alias("year"),
    )
    return canonical_interactions(inter.select("user", "item", "timestamp", "weight")), items


def parse_ml1m(src: SourceFiles) -> Tables:
    """MovieLens 1M: `ratings.dat` and `movies.dat`, `::`-separated, latin-1, title "Name (1995)".

    Harper & Konstan, ACM TiiS 2015 (README of ml-1m).
    """
    inter = pl.read_csv(
        _double_colon(src.find("ratings.dat").read_bytes()),
        separator=SEP.decode(),
        has_header=False,
        new_columns=["user", "item", "weight", "timestamp"],
        schema_overrides={"user": pl.Int64, "item": pl.Int64, "weight": pl.Float64},
    )
    items = pl.read_csv(
        _double_colon(_latin1(src.find("movies.dat"))),
        separator=SEP.decode(),
        has_header=False,
        quote_char=None,
        new_columns=["item", "title", "genres"],
        schema_overrides={"item": pl.Int64, "title": pl.Utf8, "genres": pl.Utf8},
    )
    items = _title_year(items.with_columns(_split_genres())).select(
        "item", "title", "genres", "year"
    )
    return canonical_interactions(inter.select("user", "item", "timestamp", "weight")), items


def parse_movielens_csv(src: SourceFiles) -> Tables:
    """MovieLens 20M/25M/32M/latest: `ratings.csv`, `movies.csv` (headers, UTF-8, quoted titles).

    Harper & Konstan, ACM TiiS 2015 (README of ml-20m / ml-25m / ml-32m / ml-latest-small).
    """
    inter = (
        pl.scan_csv(
            src.find("ratings.csv"),
            schema_overrides={"userId": pl.Int64, "movieId": pl.Int64, "rating": pl.Float64},
        )
        .select(
            pl.col("userId").alias("user"),
            pl.col("movieId").alias("item"),
            pl.col("timestamp").cast(pl.Int64),
            pl.col("rating").alias("weight"),
        )
        .collect()
    )
    items = pl.read_csv(
        src.find("movies.csv"),
        schema_overrides={"movieId": pl.Int64, "title": pl.Utf8, "genres": pl.Utf8},
    ).rename({"movieId": "item"})
    items = _title_year(items.with_columns(_split_genres())).select(
        "item", "title", "genres", "year"
    )
    return canonical_interactions(inter), items


def parse_lastfm_2k(src: SourceFiles) -> Tables:
    """HetRec 2011 Last.fm 2K: `user_artists.dat` (userID, artistID, weight = plays; CRLF).

    Items are artists (`artists.dat`: id, name, url, pictureURL; UTF-8): `title` and `artist` are
    the artist name. No listening timestamps (only tagging has them). When
    `user_taggedartists.dat` and `tags.dat` (latin-1) are present, `genres` holds each artist's
    five most used tags. Cantador, Brusilovsky & Kuflik, HetRec 2011 workshop, RecSys 2011.
    """
    inter = pl.read_csv(
        src.find("user_artists.dat"),
        separator="\t",
        quote_char=None,
        schema_overrides={"userID": pl.Int64, "artistID": pl.Int64, "weight": pl.Float64},
    ).select(
        pl.col("userID").alias("user"),
        pl.col("artistID").alias("item"),
        pl.lit(None, dtype=pl.Int64).alias("timestamp"),
        pl.col("weight"),
    )
    artists = pl.read_csv(
        src.find("artists.dat"),
        separator="\t",
        quote_char=None,
        encoding="utf8-lossy",
        schema_overrides={"id": pl.Int64, "name": pl.Utf8, "url": pl.Utf8},
        truncate_ragged_lines=True,
    )
    items = artists.select(
        pl.col("id").alias("item"),
        pl.col("name").str.strip_chars_end("\r").alias("title"),
        pl.col("name").str.strip_chars_end("\r").alias("artist"),
        pl.col("url").str.strip_chars_end("\r"),
    )
    tagged, tags = src.optional("user_taggedartists.dat"), src.optional("tags.dat")
    if tagged is not None and tags is not None:
        top = _top_tags(tagged, tags)
        items = items.join(top, on="item", how="left").with_columns(
            pl.col("genres").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
        )
    return canonical_interactions(inter), items


def _top_tags(tagged: Path, tags: Path, k: int = 5) -> pl.DataFrame:
    uses = pl.read_csv(
        tagged, separator="\t", quote_char=None, schema_overrides={"artistID": pl.Int64}
    )
    names = pl.read_csv(
        _latin1(tags), separator="\t", quote_char=None, schema_overrides={"tagValue": pl.Utf8}
    )
    return (
        uses.group_by("artistID", "tagID")
        .len()
        .sort(["artistID", "len", "tagID"], descending=[False, True, False])
        .group_by("artistID", maintain_order=True)
        .head(k)
        .join(names, on="tagID", how="left")
        .group_by("artistID", maintain_order=True)
        .agg(pl.col("tagValue").str.strip_chars_end("\r").drop_nulls().alias("genres"))
        .rename({"artistID": "item"})
    )


def _tsv_strings(path: Path, columns: list[str]) -> pl.LazyFrame:
    return pl.scan_csv(
        path,
        separator="\t",
        has_header=False,
        quote_char=None,
        new_columns=columns,
        schema={c: pl.Utf8 for c in columns},
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )


def parse_lastfm_1k(src: SourceFiles) -> Tables:
    """Last.fm 1K (Celma 2010): one row per play, TSV without header, ISO-8601 UTC timestamps.

    Columns: userid, timestamp, artist mbid, artist name, track mbid, track name. Items are tracks:
    the track MBID, or `artist name␟track name` where the MBID is empty; `artist` is the name.
    O. Celma, "Music Recommendation and Discovery in the Long Tail", Springer 2010.
    """
    cols = ["user", "ts", "artist_mbid", "artist", "track_mbid", "title"]
    raw = (
        _tsv_strings(src.find("userid-timestamp-artid-artname-traid-traname.tsv"), cols)
        .with_columns(
            pl.coalesce(
                pl.col("track_mbid"),
                pl.concat_str([pl.col("artist"), pl.col("title")], separator="\u241f"),
            ).alias("item")
        )
        .filter(pl.col("user").is_not_null() & pl.col("item").is_not_null())
    )
    inter = raw.select(
        "user",
        "item",
        pl.col("ts")
        .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC", strict=False)
        .dt.epoch("s")
        .alias("timestamp"),
        pl.lit(1.0).alias("weight"),
    ).collect()
    items = (
        raw.group_by("item")
        .agg(pl.col("title").first(), pl.col("artist").first(), pl.col("artist_mbid").first())
        .sort("item")
        .collect()
    )
    return canonical_interactions(inter), items


def parse_lastfm_360k(src: SourceFiles) -> Tables:
    """Last.fm 360K (Celma 2010): user sha1, artist mbid, artist name, plays (TSV, no header).

    Items are artists: the MBID, or `name:<artist name>` where it is empty. No timestamps.
    """
    cols = ["user", "artist_mbid", "artist", "plays"]
    raw = (
        _tsv_strings(src.find("usersha1-artmbid-artname-plays.tsv"), cols)
        .with_columns(
            pl.coalesce(pl.col("artist_mbid"), pl.lit("name:") + pl.col("artist")).alias("item")
        )
        .filter(pl.col("user").is_not_null() & pl.col("item").is_not_null())
    )
    inter = raw.select(
        "user",
        "item",
        pl.lit(None, dtype=pl.Int64).alias("timestamp"),
        pl.col("plays").cast(pl.Float64, strict=False).alias("weight"),
    ).collect()
    items = (
        raw.group_by("item")
        .agg(pl.col("artist").first())
        .select("item", pl.col("artist").alias("title"), "artist")
        .sort("item")
        .collect()
    )
    return canonical_interactions(inter), items


def _kuairec(src: SourceFiles, matrix: str) -> Tables:
    """KuaiRec 2.0: `<matrix>.csv` (user_id, video_id, play_duration, video_duration, time, date,
    timestamp, watch_ratio); `weight` = watch_ratio (kept as its own column too).

    Items: `item_categories.csv` (feat = "[8, 27]") gives `genres` (category ids as strings) and
    `item_daily_features.csv` gives the uploader (`author_id`) as `artist`, the provider.
    Gao et al., "KuaiRec: A Fully-observed Dataset...", CIKM 2022.
    """
    inter = (
        pl.scan_csv(
            src.find(f"{matrix}.csv"),
            schema_overrides={
                "user_id": pl.Int64,
                "video_id": pl.Int64,
                "play_duration": pl.Float64,
                "video_duration": pl.Float64,
                "timestamp": pl.Float64,
                "watch_ratio": pl.Float64,
            },
        )
        .select(
            pl.col("user_id").alias("user"),
            pl.col("video_id").alias("item"),
            pl.col("timestamp").fill_nan(None).floor().cast(pl.Int64).alias("timestamp"),
            pl.col("watch_ratio").fill_nan(None).alias("weight"),
            pl.col("watch_ratio").fill_nan(None),
            pl.col("play_duration"),
            pl.col("video_duration"),
        )
        .collect()
    )
    items = empty_items(inter["item"])
    categories = src.optional("item_categories.csv")
    if categories is not None:
        genres = pl.read_csv(categories, schema_overrides={"video_id": pl.Int64}).select(
            pl.col("video_id").alias("item"),
            pl.col("feat")
            .str.strip_chars("[] ")
            .str.split(",")
            .list.eval(pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element() != ""))
            .alias("genres"),
        )
        items = items.join(genres, on="item", how="left")
    daily = src.optional("item_daily_features.csv")
    if daily is not None:
        authors = (
            # ~60 columns of mixed types: read all as text, use two
            pl.scan_csv(daily, infer_schema=False)
            .select(
                pl.col("video_id").cast(pl.Int64, strict=False).alias("item"),
                pl.col("author_id").alias("artist"),
            )
            .drop_nulls()
            .group_by("item")
            .agg(pl.col("artist").first())
            .collect()
        )
        items = items.join(authors, on="item", how="left")
    return canonical_interactions(inter), items


def parse_kuairec_big(src: SourceFiles) -> Tables:
    """KuaiRec big matrix (the sparse log; train on it). Gao et al., CIKM 2022."""
    return _kuairec(src, "big_matrix")


def parse_kuairec_small(src: SourceFiles) -> Tables:
    """KuaiRec small matrix (1,411 x 3,327, 99.6% observed: unbiased evaluation). CIKM 2022."""
    return _kuairec(src, "small_matrix")


def parse_yambda(src: SourceFiles) -> Tables:
    """Yambda (Yandex Music 2025), flat layout: `listens.parquet` is the interactions table.

    Columns kept: `is_organic` (Boolean; False = the play came from a recommendation),
    `played_ratio_pct`, `track_length_seconds`, and `liked` / `disliked` (the user has a like /
    dislike event for that track in `likes.parquet` / `dislikes.parquet`). Timestamps are seconds
    in 5 s bins from an undisclosed origin: ordered, not calendar dates. Items carry `artist` and
    `album` ids (as strings) from the mapping files (first id where a track has several).
    Ploshkin et al., "Yambda-5B", arXiv:2505.22238, 2025.
    """
    listens = pl.scan_parquet(src.find("listens.parquet"))

    def flag(name: str, column: str) -> pl.LazyFrame:
        return (
            pl.scan_parquet(src.find(name))
            .select(pl.col("uid").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
            .unique()
            .with_columns(pl.lit(True).alias(column))
        )

    inter = (
        listens.select(
            pl.col("uid").cast(pl.Int64).alias("user"),
            pl.col("item_id").cast(pl.Int64).alias("item"),
            pl.col("timestamp").cast(pl.Int64),
            pl.lit(1.0).alias("weight"),
            (pl.col("is_organic") == 1).alias("is_organic"),
            pl.col("played_ratio_pct").cast(pl.Int32),
            pl.col("track_length_seconds").cast(pl.Int32),
        )
        .join(flag("likes.parquet", "liked"), left_on=["user", "item"],
              right_on=["uid", "item_id"], how="left")
        .join(flag("dislikes.parquet", "disliked"), left_on=["user", "item"],
              right_on=["uid", "item_id"], how="left")
        .with_columns(pl.col("liked", "disliked").fill_null(False))
        .collect()
    )  # fmt: skip

    def mapping(name: str, column: str, alias: str) -> pl.LazyFrame:
        return (
            pl.scan_parquet(src.find(name))
            .select(pl.col("item_id").cast(pl.Int64).alias("item"), pl.col(column))
            .sort("item", column)
            .group_by("item")
            .agg(pl.col(column).first().cast(pl.Utf8).alias(alias))
        )

    items = (
        empty_items(inter["item"])
        .lazy()
        .join(mapping("artist_item_mapping.parquet", "artist_id", "artist"), on="item", how="left")
        .join(mapping("album_item_mapping.parquet", "album_id", "album"), on="item", how="left")
        .sort("item")
        .collect()
    )
    return canonical_interactions(inter), items
