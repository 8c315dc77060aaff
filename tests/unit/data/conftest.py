"""Fixtures for the dataset catalog: small archives in each upstream layout, a loopback server.

The layouts follow each dataset's README (file names, separators, encodings, headers, CRLF); the
content is random but the counts are computed here from the generated arrays, independently of
the parsers under test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import tarfile
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsys_cli.data import catalog
from recsys_cli.data.catalog import CatalogEntry, Counts


@dataclass
class Upstream:
    """A dataset fixture: archive members (or plain files) and the counts they hold."""

    members: dict[str, bytes]
    counts: Counts
    archive: str | None = None  # upstream archive name; None: members are the published files
    facts: dict = field(default_factory=dict)

    def published(self) -> dict[str, bytes]:
        """Upstream file name -> bytes, packed the way upstream publishes them."""
        if self.archive is None:
            return dict(self.members)
        buf = io.BytesIO()
        if self.archive.endswith(".zip"):
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in self.members.items():
                    zf.writestr(name, data)
        else:
            with tarfile.open(fileobj=buf, mode="w:gz") as tf:
                for name, data in self.members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
        return {self.archive: buf.getvalue()}

    def write_extracted(self, folder: Path) -> Path:
        for name, data in self.members.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        return folder


def _pairs(rng: np.random.Generator, n_users: int, n_items: int, n: int) -> np.ndarray:
    """`n` distinct (user, item) index pairs, each user and item used at least once."""
    cells = rng.choice(n_users * n_items, size=n, replace=False)
    pairs = np.stack([cells // n_items, cells % n_items], axis=1)
    pairs[:n_users, 0] = np.arange(n_users)
    pairs[:n_items, 1] = np.arange(n_items)
    return np.unique(pairs, axis=0)


def _counts(users, items, n_listed: int | None = None) -> Counts:
    return Counts(len(users), len(set(users)), len(set(items)), n_listed)


def _tsv(rows, sep="\t", eol="\n") -> str:
    return "".join(sep.join(str(v) for v in row) + eol for row in rows)


def ml100k(rng: np.random.Generator) -> Upstream:
    pairs = _pairs(rng, 12, 9, 60)
    users, items = pairs[:, 0] + 1, pairs[:, 1] + 1
    data = _tsv(
        zip(
            users,
            items,
            rng.integers(1, 6, len(users)),
            880000000 + np.arange(len(users)),
            strict=True,
        )
    )
    lines = []
    for i in range(1, 11):  # one listed movie (10) is never rated
        flags = ["0"] * 19
        flags[i % 19] = flags[(i + 3) % 19] = "1"
        title = "Café Noir (1995)" if i == 1 else f"Movie {i} (199{i % 10})"
        release = "" if i == 2 else f"01-Jan-199{i % 10}"
        lines.append("|".join([str(i), title, release, "", "http://imdb/x", *flags]))
    members = {
        "ml-100k/u.data": data.encode(),
        "ml-100k/u.item": ("\n".join(lines) + "\n").encode("latin-1"),
        "ml-100k/u.genre": b"unknown|0\nAction|1\n",
        "ml-100k/README": b"MovieLens 100K fixture\n",
    }
    return Upstream(members, _counts(users, items, 10), "ml-100k.zip")


def ml1m(rng: np.random.Generator) -> Upstream:
    pairs = _pairs(rng, 15, 11, 80)
    users, items = pairs[:, 0] + 1, pairs[:, 1] + 1
    ratings = _tsv(
        zip(
            users,
            items,
            rng.integers(1, 6, len(users)),
            970000000 + np.arange(len(users)),
            strict=True,
        ),
        sep="::",
    )
    movies = [f"{i}::Film {i} (19{80 + i})::Drama|Comedy" for i in range(1, 12)]
    movies[0] = "1::Toy Story (1995)::Animation|Children's|Comedy"
    movies[1] = "2::Amélie (2001)::Comedy|Romance"
    movies.append("12::Never Rated (1999)::Horror")
    members = {
        "ml-1m/ratings.dat": ratings.encode(),
        "ml-1m/movies.dat": ("\n".join(movies) + "\n").encode("latin-1"),
        "ml-1m/users.dat": b"1::F::1::10::48067\n",
    }
    return Upstream(members, _counts(users, items, 12), "ml-1m.zip")


def movielens_csv(folder: str) -> Callable[[np.random.Generator], Upstream]:
    def build(rng: np.random.Generator) -> Upstream:
        pairs = _pairs(rng, 14, 10, 70)
        users, items = pairs[:, 0] + 1, (pairs[:, 1] + 1) * 10
        ratings = "userId,movieId,rating,timestamp\n" + _tsv(
            zip(
                users,
                items,
                rng.integers(1, 11, len(users)) / 2,
                1100000000 + np.arange(len(users)),
                strict=True,
            ),
            sep=",",
        )
        movies = ["movieId,title,genres"]
        for i in range(1, 12):
            movies.append(f"{i * 10},Movie {i} ({2000 + i}),Action|Thriller")
        movies[1] = '10,"American President, The (1995)",Comedy|Drama|Romance'
        movies[2] = "20,Untitled Short,(no genres listed)"
        members = {
            f"{folder}/ratings.csv": ratings.encode(),
            f"{folder}/movies.csv": ("\n".join(movies) + "\n").encode(),
            f"{folder}/links.csv": b"movieId,imdbId,tmdbId\n10,1,1\n",
            f"{folder}/tags.csv": b"userId,movieId,tag,timestamp\n1,10,funny,1100000000\n",
        }
        return Upstream(members, _counts(users, items, 11), f"{folder}.zip")

    return build


def lastfm_2k(rng: np.random.Generator) -> Upstream:
    pairs = _pairs(rng, 10, 8, 40)
    users, items = pairs[:, 0] + 2, pairs[:, 1] + 51
    plays = rng.integers(1, 5000, len(users))
    ua = "userID\tartistID\tweight\r\n" + _tsv(zip(users, items, plays, strict=True), eol="\r\n")
    artists = ["id\tname\turl\tpictureURL"]
    for a in range(51, 59):
        name = 'Björk "Live"' if a == 51 else f"Artist {a}"
        artists.append(f"{a}\t{name}\thttp://www.last.fm/music/{a}\thttp://img/{a}.jpg")
    tags = "tagID\ttagValue\r\n1\tmetal\r\n2\télectro\r\n3\tpop\r\n"
    tagged = "userID\tartistID\ttagID\tday\tmonth\tyear\r\n" + _tsv(
        [
            (2, 51, 2, 1, 4, 2009),
            (3, 51, 2, 1, 4, 2009),
            (2, 51, 1, 1, 4, 2009),
            (2, 52, 3, 1, 1, 2008),
        ],
        eol="\r\n",
    )
    members = {
        "user_artists.dat": ua.encode(),
        "artists.dat": ("\n".join(artists) + "\n").encode(),
        "tags.dat": tags.encode("latin-1"),
        "user_taggedartists.dat": tagged.encode(),
        "user_friends.dat": b"userID\tfriendID\r\n2\t3\r\n",
        "readme.txt": b"HetRec 2011 fixture\r\n",
    }
    return Upstream(members, _counts(users, items, 8), "hetrec2011-lastfm-2k.zip")


def lastfm_1k(rng: np.random.Generator) -> Upstream:
    n = 90
    users = [f"user_{u:06d}" for u in rng.integers(1, 7, n)]
    track = rng.integers(0, 20, n)
    rows, keys = [], []
    for i in range(n):
        t = int(track[i])
        mbid = "" if t % 5 == 0 else f"tr-{t:04d}"
        artist = f'Art "{t % 4}"'
        title = f"Song {t}"
        keys.append(mbid or f"{artist}\u241f{title}")
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1230000000 + 3600 * i))
        rows.append((users[i], ts, f"ar-{t % 4}", artist, mbid, title))
    members = {
        "lastfm-dataset-1K/userid-timestamp-artid-artname-traid-traname.tsv": _tsv(rows).encode(),
        "lastfm-dataset-1K/userid-profile.tsv": b"#id\tgender\tage\tcountry\tregistered\n",
        "lastfm-dataset-1K/README.txt": b"fixture\n",
    }
    return Upstream(
        members, _counts(users, keys), "lastfm-dataset-1K.tar.gz", {"first_ts": 1230000000}
    )


def lastfm_360k(rng: np.random.Generator) -> Upstream:
    pairs = _pairs(rng, 9, 12, 50)
    users = [hashlib.sha1(str(u).encode()).hexdigest() for u in pairs[:, 0]]
    rows, keys = [], []
    for u, a in zip(users, pairs[:, 1], strict=True):
        mbid = "" if a == 3 else f"mb-{a:03d}"
        name = f'The "{a}"'
        keys.append(mbid or f"name:{name}")
        rows.append((u, mbid, name, int(a) * 7 + 1))
    members = {
        "lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv": _tsv(rows).encode(),
        "lastfm-dataset-360K/usersha1-profile.tsv": b"",
    }
    return Upstream(members, _counts(users, keys), "lastfm-dataset-360K.tar.gz")


def kuairec(matrix: str) -> Callable[[np.random.Generator], Upstream]:
    def build(rng: np.random.Generator) -> Upstream:
        header = "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio\n"
        out, counts = {}, {}
        for m, (nu, ni, n) in {"big_matrix": (10, 12, 60), "small_matrix": (5, 6, 28)}.items():
            pairs = _pairs(rng, nu, ni, n)
            lines = []
            for k, (u, i) in enumerate(pairs):
                ts = "" if k == 0 else f"{1593878903 + k}.438"
                lines.append(
                    f"{u},{i},{5000 + k},10000,2020-07-05 00:08:23.438,20200705,{ts},"
                    f"{(5000 + k) / 10000}"
                )
            out[f"KuaiRec 2.0/data/{m}.csv"] = (header + "\n".join(lines) + "\n").encode()
            counts[m] = _counts(pairs[:, 0], pairs[:, 1])
        cats = "video_id,feat\n" + "".join(f'{i},"[{i % 3}, {i % 5 + 10}]"\n' for i in range(12))
        daily = "video_id,date,author_id,video_type\n" + "".join(
            f"{i},20200705,{100 + i % 4},NORMAL\n{i},20200706,{100 + i % 4},NORMAL\n"
            for i in range(12)
        )
        out["KuaiRec 2.0/data/item_categories.csv"] = cats.encode()
        out["KuaiRec 2.0/data/item_daily_features.csv"] = daily.encode()
        out["KuaiRec 2.0/data/user_features.csv"] = b"user_id\n0\n"
        return Upstream(out, counts[matrix], "KuaiRec.zip")

    return build


def yambda(rng: np.random.Generator) -> Upstream:
    pairs = _pairs(rng, 8, 15, 70)
    n = len(pairs)
    listens = pl.DataFrame(
        {
            "uid": pairs[:, 0] + 100,
            "timestamp": (np.arange(n) * 5),
            "item_id": pairs[:, 1] + 1000,
            "is_organic": rng.integers(0, 2, n),
            "played_ratio_pct": rng.integers(1, 101, n),
            "track_length_seconds": rng.integers(60, 400, n),
        },
        schema={
            "uid": pl.UInt32, "timestamp": pl.UInt32, "item_id": pl.UInt32, "is_organic": pl.UInt8,
            "played_ratio_pct": pl.UInt16, "track_length_seconds": pl.UInt32,
        },
    )  # fmt: skip
    events = pl.Schema(
        {"uid": pl.UInt32, "timestamp": pl.UInt32, "item_id": pl.UInt32, "is_organic": pl.UInt8}
    )
    likes = listens.head(6).select(events.names()).cast(dict(events))
    dislikes = pl.DataFrame(
        {"uid": [100], "timestamp": [7], "item_id": [99999], "is_organic": [1]}, schema=events
    )
    artist = pl.DataFrame(
        {"item_id": np.arange(1000, 1020), "artist_id": np.arange(20) % 6},
        schema={"item_id": pl.UInt32, "artist_id": pl.UInt32},
    )
    album = pl.DataFrame(
        {"item_id": np.arange(1000, 1020), "album_id": np.arange(20) % 9},
        schema={"item_id": pl.UInt32, "album_id": pl.UInt32},
    )

    def parquet(frame: pl.DataFrame) -> bytes:
        buf = io.BytesIO()
        frame.write_parquet(buf)
        return buf.getvalue()

    members = {
        "listens.parquet": parquet(listens),
        "likes.parquet": parquet(likes),
        "dislikes.parquet": parquet(dislikes),
        "artist_item_mapping.parquet": parquet(artist),
        "album_item_mapping.parquet": parquet(album),
    }
    facts = {"organic": int(listens["is_organic"].sum()), "liked": likes.height}
    return Upstream(members, _counts(pairs[:, 0], pairs[:, 1]), None, facts)


BUILDERS: dict[str, Callable[[np.random.Generator], Upstream]] = {
    "ml-100k": ml100k,
    "ml-1m": ml1m,
    "ml-20m": movielens_csv("ml-20m"),
    "ml-25m": movielens_csv("ml-25m"),
    "ml-32m": movielens_csv("ml-32m"),
    "ml-latest-small": movielens_csv("ml-latest-small"),
    "lastfm-2k": lastfm_2k,
    "lastfm-1k": lastfm_1k,
    "lastfm-360k": lastfm_360k,
    "yambda-50m": yambda,
    "kuairec-big": kuairec("big_matrix"),
    "kuairec-small": kuairec("small_matrix"),
}


def build_upstream(name: str, seed: int = 7) -> Upstream:
    return BUILDERS[name](np.random.default_rng(seed))


class LoopbackServer:
    """An HTTP/1.0 server on 127.0.0.1 serving bytes by path, with Range support and faults."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.truncate_once: dict[str, int] = {}  # path -> bytes sent before dropping
        self.stall: set[str] = set()
        self.chunk_delay = 0.0
        self.ignore_range = False
        self.headers: dict[str, dict[str, str]] = {}  # path -> headers sent instead of ours
        self.no_length: set[str] = set()  # paths answered without Content-Length
        self.range_shift = 0  # added to the first byte named in Content-Range (a server bug)
        self.released = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def publish(self, upstream_url: str, data: bytes) -> str:
        """Serve `data` where the mirror layout puts `upstream_url`; returns the path."""
        parts = urllib.parse.urlsplit(upstream_url)
        path = f"/{parts.netloc}{parts.path}"
        self.files[path] = data
        return path

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        path = urllib.parse.unquote(h.path)
        rng = h.headers.get("Range")
        self.requests.append((path, rng))
        data = self.files.get(path)
        if data is None:
            h.send_error(404, "Not Found")
            return
        start = 0
        if rng and not self.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.end_headers()
                return
            h.send_response(206)
            first = start + self.range_shift
            h.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        headers = {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
        if path in self.no_length:
            del headers["Content-Length"]
        for key, value in {**headers, **self.headers.get(path, {})}.items():
            h.send_header(key, value)
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        if path in self.stall:
            h.wfile.write(body[:10])
            h.wfile.flush()
            self.released.wait(10)
            return
        cut = self.truncate_once.pop(path, None)
        if cut is not None:
            h.wfile.write(body[:cut])
            h.wfile.flush()
            h.close_connection = True
            return
        step = 64 * 1024
        try:
            for i in range(0, len(body), step):
                h.wfile.write(body[i : i + step])
                if self.chunk_delay:
                    time.sleep(self.chunk_delay)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (a refused body)

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = LoopbackServer()
    yield srv
    srv.close()


@pytest.fixture
def mirror(server, monkeypatch):
    """The loopback server set as RANK_DATASETS_MIRROR."""
    monkeypatch.setenv("RANK_DATASETS_MIRROR", server.base)
    return server


@pytest.fixture
def upstream():
    return build_upstream


@pytest.fixture
def serve_dataset(mirror, monkeypatch):
    """Publish a fixture for catalog entry `name` and point the catalog at its checksums."""

    def serve(name: str, seed: int = 7, *, algo: str = "sha256") -> tuple[CatalogEntry, Upstream]:
        entry = catalog.CATALOG[name]
        up = build_upstream(name, seed)
        published = up.published()
        files = []
        for remote in entry.files:
            data = published[remote.name]
            mirror.publish(remote.url, data)
            digest = getattr(hashlib, algo)(data).hexdigest()
            files.append(dataclasses.replace(remote, checksum=f"{algo}:{digest}", size=len(data)))
        for other in catalog.sharing_storage(entry):
            patched = dataclasses.replace(other, files=tuple(files))
            if other.name == name:
                patched = dataclasses.replace(patched, expected=up.counts)
            else:
                patched = dataclasses.replace(patched, expected=Counts())
            monkeypatch.setitem(catalog.CATALOG, other.name, patched)
        return catalog.CATALOG[name], up

    return serve
