"""Synthetic interactions for scale work only: every output says SYNTHETIC.

Item popularity follows a power law p(i) ∝ rank(i)^-a (Zipf); user activity is log-normal;
items belong to artists with power-law catalogue sizes; each artist has a main genre (items carry
1-3 genres), a release year skewed to recent years; each user has a favourite genre and draws
half of the interactions from it (by popularity within the genre), half from the whole
catalogue, so personalised models have signal to find. Timestamps are uniform over two years.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from recsys_cli.data.dataset import Dataset, scan_parquet_interactions
from recsys_cli.errors import DataError

N_GENRES = 20
START = 1_600_000_000
SPAN = 2 * 365 * 86_400
INDEX_LIMIT = 2**31 - 1  # users, items and artists are int32 indices
# Peak bytes of `generate` per interaction, item, user and artist (measured: 93, 1,090 and 15
# bytes for the first three at 10^6 scale; items carry Python lists of genres and titles).
BYTES_PER = {"interactions": 128, "items": 1_200, "users": 32, "artists": 32}


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable, else physical RAM)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"


@dataclass(frozen=True)
class SynthSpec:
    users: int
    items: int
    interactions: int
    seed: int = 0
    artists: int = 0  # 0: items / 10
    popularity_exponent: float = 1.0
    taste_share: float = 0.5

    def __post_init__(self) -> None:
        if min(self.users, self.items, self.interactions) < 1:
            raise DataError("synthetic data needs users, items and interactions >= 1")
        if self.artists < 0 or self.seed < 0:
            raise DataError(
                f"synthetic data needs artists >= 0 (0: items / 10) and seed >= 0, got "
                f"artists {self.artists:,} and seed {self.seed:,}"
            )
        for key in ("users", "items", "artists"):
            if getattr(self, key) > INDEX_LIMIT:
                raise DataError(
                    f"synthetic data allows at most {INDEX_LIMIT:,} {key} (int32 indices), got "
                    f"{getattr(self, key):,} (about {_gib(self.memory_needed)} of memory)"
                )
        if self.interactions < self.users:
            raise DataError("synthetic data needs at least one interaction per user")

    @property
    def memory_needed(self) -> int:
        """Estimated peak bytes of `generate` (BYTES_PER each interaction, item, user, artist)."""
        artists = self.artists or max(1, self.items // 10)
        counts = {"interactions": self.interactions, "items": self.items, "users": self.users}
        return sum(BYTES_PER[k] * n for k, n in {**counts, "artists": artists}.items())

    def check_fits(self, available: int | None) -> None:
        """Refuse, before any allocation, a size whose estimated peak exceeds `available`."""
        if available is not None and self.memory_needed > available:
            raise DataError(
                f"synthetic data of {self.users:,} users, {self.items:,} items and "
                f"{self.interactions:,} interactions needs about {_gib(self.memory_needed)} of "
                f"memory ({BYTES_PER['interactions']} bytes per interaction, "
                f"{BYTES_PER['items']:,} per item); {_gib(available)} is available"
            )


@dataclass(frozen=True)
class MusicShape:
    """What a music preset copies from a published dataset (counts as stated by its authors)."""

    label: str
    users: int
    items: int
    interactions: int
    start: int  # first timestamp, seconds
    span: int  # seconds covered
    bin_seconds: int  # timestamps are multiples of this
    string_ids: bool  # user and item ids as text (Last.fm: names and MBIDs), else integers
    listen_columns: bool  # Yambda's is_organic and played_ratio_pct, and album ids


PRESETS = {
    # Ploshkin et al., arXiv:2505.22238 (2025): 46,467,212 listens of 10,000 users over
    # 934,057 tracks in the 50M flat version, 10 months of Yandex Music, 5 s timestamp bins.
    "yambda-50m": MusicShape(
        "Yambda-50M", 10_000, 934_057, 46_467_212, 0, 300 * 86_400, 5, False, True
    ),
    # Celma 2010: 19,150,868 plays of 992 users in 2005-2009, on the order of a million tracks.
    "lastfm-1k": MusicShape(
        "Last.fm 1K", 992, 1_000_000, 19_150_868, 1_108_339_200, 4 * 365 * 86_400, 1, True, False
    ),
}
# Peak bytes of `generate_music` per interaction and per item (measured at full Yambda-50M
# size: see docs/datasets.md); text ids add their characters.
MUSIC_BYTES_PER = {"interactions": 64, "items": 160}


@dataclass(frozen=True)
class MusicSpec:
    """A synthetic music dataset shaped like a published one (`PRESETS`), `scale` times its
    users, items and interactions. Listens replay one of the user's earlier tracks with
    probability `repeat_share`; `organic_share` of Yambda-shaped listens are organic."""

    preset: str
    scale: float = 1.0
    seed: int = 0
    repeat_share: float = 0.5
    organic_share: float = 0.6
    popularity_exponent: float = 1.0
    taste_share: float = 0.5
    artists: int = 0  # 0: items / 10

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise DataError(
                f"--preset {self.preset!r}: not a music preset; presets are {', '.join(PRESETS)}"
            )
        if not 0 < self.scale <= 100 or self.seed < 0:
            raise DataError(
                f"a preset needs 0 < scale <= 100 and seed >= 0, got scale {self.scale} and "
                f"seed {self.seed:,}"
            )
        if self.interactions < self.users:
            raise DataError(
                f"--scale {self.scale}: {self.interactions:,} interactions for {self.users:,} "
                "users; a preset needs at least one interaction per user"
            )

    @property
    def shape(self) -> MusicShape:
        return PRESETS[self.preset]

    @property
    def users(self) -> int:
        return max(1, round(self.shape.users * self.scale))

    @property
    def items(self) -> int:
        return max(1, round(self.shape.items * self.scale))

    @property
    def interactions(self) -> int:
        return max(1, round(self.shape.interactions * self.scale))

    @property
    def memory_needed(self) -> int:
        """Estimated peak bytes of `generate_music` (MUSIC_BYTES_PER each interaction, item)."""
        text = 24 if self.shape.string_ids else 0  # a short text id in an Arrow column
        return (MUSIC_BYTES_PER["interactions"] + 2 * text) * self.interactions + (
            MUSIC_BYTES_PER["items"] + text
        ) * self.items

    def check_fits(self, available: int | None) -> None:
        """Refuse, before any allocation, a size whose estimated peak exceeds `available`."""
        if available is not None and self.memory_needed > available:
            raise DataError(
                f"synthetic {self.shape.label}-shaped data at scale {self.scale} "
                f"({self.interactions:,} interactions, {self.items:,} items) needs about "
                f"{_gib(self.memory_needed)} of memory; {_gib(available)} is available"
            )


def spec_items(spec: dict) -> int:
    """The number of items of a saved dataset's generator settings (meta.json's "spec")."""
    return MusicSpec(**spec).items if "preset" in spec else SynthSpec(**spec).items


def _power_law(n: int, exponent: float, rng) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return rng.permutation(weights / weights.sum())


def _draw(spec, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user and item index of each interaction, artist and main genre of each item): the
    popularity and taste model of the module docstring, shared by every generator."""
    n_artists = spec.artists or max(1, spec.items // 10)
    artist_share = _power_law(n_artists, 1.0, rng)
    item_artist = rng.choice(n_artists, size=spec.items, p=artist_share).astype(np.int32)
    artist_genre = rng.integers(0, N_GENRES, size=n_artists)
    main_genre = artist_genre[item_artist]
    popularity = _power_law(spec.items, spec.popularity_exponent, rng)

    activity = rng.lognormal(0.0, 1.0, size=spec.users)
    counts = 1 + np.floor(activity / activity.sum() * (spec.interactions - spec.users)).astype(
        np.int64
    )
    counts[: spec.interactions - counts.sum()] += 1  # exact total
    users = np.repeat(np.arange(spec.users, dtype=np.int32), counts)
    favourite = rng.integers(0, N_GENRES, size=spec.users)[users]

    items = np.empty(len(users), dtype=np.int32)
    from_taste = rng.random(len(users)) < spec.taste_share
    global_cdf = np.cumsum(popularity)
    items[~from_taste] = np.searchsorted(
        global_cdf, rng.random((~from_taste).sum()) * global_cdf[-1]
    )
    del global_cdf
    for genre in range(N_GENRES):
        members = np.flatnonzero(main_genre == genre)
        rows = np.flatnonzero(from_taste & (favourite == genre))
        if len(members) == 0:
            members = np.arange(spec.items)
        cdf = np.cumsum(popularity[members])
        items[rows] = members[np.searchsorted(cdf, rng.random(len(rows)) * cdf[-1])]
    np.minimum(items, spec.items - 1, out=items)
    return users, items, item_artist, main_genre


def generate(spec: SynthSpec | MusicSpec, name: str) -> Dataset:
    """Interactions and items tables: ids `u<k>` / `t<k>` and artist ids `a<k>` (a MusicSpec:
    see `generate_music`)."""
    spec.check_fits(available_memory())
    if isinstance(spec, MusicSpec):
        return generate_music(spec, name)
    rng = np.random.default_rng(spec.seed)
    users, items, item_artist, main_genre = _draw(spec, rng)
    timestamps = START + rng.integers(0, SPAN, size=len(users))
    interactions = pl.DataFrame(
        {
            "user": pl.Series(users).cast(pl.Utf8).str.replace(r"^", "u"),
            "item": pl.Series(items).cast(pl.Utf8).str.replace(r"^", "t"),
            "timestamp": timestamps.astype(np.int64),
            "weight": np.ones(len(users)),
        }
    )
    extra_genre = rng.integers(0, N_GENRES, size=(spec.items, 2))
    n_genres = rng.integers(1, 4, size=spec.items)
    genre_table = np.column_stack([main_genre, extra_genre])
    genres = [
        [f"g{g}" for g in dict.fromkeys(row[:n])]
        for row, n in zip(genre_table, n_genres, strict=True)
    ]
    items_table = pl.DataFrame(
        {
            "item": [f"t{i}" for i in range(spec.items)],
            "title": [f"synthetic track {i}" for i in range(spec.items)],
            "artist": pl.Series(item_artist).cast(pl.Utf8).str.replace(r"^", "a"),
            "genres": genres,
            "year": (2025 - np.minimum(rng.exponential(8.0, size=spec.items), 60)).astype(np.int32),
        }
    )
    checksum = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()
    return Dataset(
        name,
        interactions,
        items_table,
        f"synthetic:{checksum}",
        f"SYNTHETIC generator {json.dumps(asdict(spec))}",
        synthetic=True,
    )


def generate_music(spec: MusicSpec, name: str) -> Dataset:
    """Listens shaped like `spec.shape`, in that dataset's canonical columns.

    The published statistics copied are the counts of users, tracks and listens and the time
    span (see `PRESETS`); the rest is modelled, not published: Zipf popularity (exponent 1)
    over tracks, log-normal user activity, artists with Zipf catalogue sizes, albums of 12
    tracks, each user's taste genre, replays (`repeat_share`), the organic share and played
    ratios (three in four listens 50-110%, the rest skips at 0-49%). Integer ids are sparse like
    Yambda's (drawn from ten times as many); Last.fm-shaped ids are text, like its names and
    MBIDs. Timestamps are uniform over the span in `bin_seconds` steps."""
    shape = spec.shape
    rng = np.random.default_rng(spec.seed)
    users, items, item_artist, _ = _draw(spec, rng)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    replay = rng.random(len(users)) < spec.repeat_share
    replay[starts] = False  # each user's first listen is new
    fresh = np.flatnonzero(~replay)
    first = np.searchsorted(fresh, starts)
    count = np.diff(np.r_[first, len(fresh)])
    rows = np.flatnonzero(replay)
    owner = users[rows]
    source = first[owner] + (rng.random(len(rows)) * count[owner]).astype(np.int64)
    items[rows] = items[fresh[source]]
    del replay, fresh, rows, owner, source
    # Every track of the catalogue was listened to (as in the published datasets): a track the
    # draws missed replaces a random listen of a track heard more often than tracks are missing.
    heard = np.bincount(items, minlength=spec.items)
    missing = np.flatnonzero(heard == 0)
    spare = np.flatnonzero(heard[items] > len(missing))
    items[rng.choice(spare, size=len(missing), replace=False)] = rng.permutation(missing)
    del heard, spare
    steps = rng.integers(0, shape.span // shape.bin_seconds, size=len(users))
    timestamps = shape.start + steps * shape.bin_seconds
    del steps
    album = _albums(item_artist)
    if shape.string_ids:
        user_ids = pl.Series([f"user_{u:06d}" for u in range(1, spec.users + 1)])
        item_ids = pl.Series(np.arange(spec.items)).cast(pl.Utf8).str.replace(r"^", "track-")
    else:
        user_ids = pl.Series(np.arange(1, spec.users + 1, dtype=np.int64) * 10)
        space = rng.choice(10 * spec.items, size=spec.items, replace=False)
        item_ids = pl.Series(space.astype(np.int64))
    columns = {
        "user": user_ids.gather(users),
        "item": item_ids.gather(items),
        "timestamp": timestamps,
        "weight": np.ones(len(users)),
    }
    del users, timestamps
    if shape.listen_columns:
        columns["is_organic"] = rng.random(len(items)) < spec.organic_share
        full = rng.random(len(items)) < 0.75
        columns["played_ratio_pct"] = np.where(
            full, rng.integers(50, 111, size=len(items)), rng.integers(0, 50, size=len(items))
        ).astype(np.int32)
    del items
    interactions = pl.DataFrame(columns)
    del columns
    items_table = pl.DataFrame(
        {
            "item": item_ids,
            "artist": pl.Series(item_artist).cast(pl.Utf8),
            **({"album": pl.Series(album).cast(pl.Utf8)} if shape.listen_columns else {}),
        }
    )
    checksum = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()
    return Dataset(
        name,
        interactions,
        items_table.sort("item"),
        f"synthetic:{checksum}",
        f"SYNTHETIC {shape.label}-shaped generator {json.dumps(asdict(spec))}",
        synthetic=True,
    )


def _albums(item_artist: np.ndarray, tracks_per_album: int = 12) -> np.ndarray:
    """Album id of each item: an artist's items in index order, cut into albums of 12."""
    order = np.argsort(item_artist, kind="stable")
    by_artist = item_artist[order]
    first = np.searchsorted(by_artist, by_artist)
    local = (np.arange(len(order)) - first) // tracks_per_album
    new = np.r_[True, (by_artist[1:] != by_artist[:-1]) | (local[1:] != local[:-1])]
    album = np.empty(len(order), dtype=np.int64)
    album[order] = np.cumsum(new) - 1
    return album


def synthetic_dir(data_dir: Path, name: str) -> Path:
    """`<data dir>/synthetic/<name>`, refused unless `name` is a plain name inside the data dir."""
    from recsys_cli.data.store import dataset_dir

    return dataset_dir(data_dir, name, under="synthetic")


def save(dataset: Dataset, spec: SynthSpec | MusicSpec, target: Path) -> Path:
    """Write the tables to a temporary folder beside `target` (a `synthetic_dir`), then rename it
    into place; on any error the temporary folder is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".tmp-{target.name}-{secrets.token_hex(4)}")
    temp.mkdir()
    try:
        dataset.interactions.write_parquet(temp / "interactions.parquet")
        dataset.items.write_parquet(temp / "items.parquet")
        (temp / "meta.json").write_text(
            json.dumps(
                {
                    "spec": asdict(spec),
                    "checksum": dataset.checksum,
                    "source": dataset.source,
                    "synthetic": True,
                },
                indent=2,
            )
        )
        if target.exists():
            shutil.rmtree(target)
        temp.rename(target)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


def saved(data_dir: Path) -> dict[str, dict]:
    """The synthetic datasets saved in `data_dir`, by name: their meta.json (spec, checksum)."""
    return {
        meta.parent.name: json.loads(meta.read_text())
        for meta in sorted((data_dir / "synthetic").glob("*/meta.json"))
        if not meta.parent.name.startswith(".")  # a folder still being written
    }


def remove(data_dir: Path, name: str) -> int:
    """Delete the saved synthetic dataset `name`; returns the bytes freed."""
    folder = synthetic_dir(data_dir, name)
    freed = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder)
    return freed


def load(data_dir: Path, name: str) -> Dataset | None:
    """A saved synthetic dataset (its interactions as a scan of their canonical columns), or None
    when there is none of that name."""
    folder = synthetic_dir(data_dir, name)
    if not (folder / "meta.json").is_file():
        return None
    meta = json.loads((folder / "meta.json").read_text())
    return Dataset(
        name,
        scan_parquet_interactions(folder / "interactions.parquet"),
        pl.read_parquet(folder / "items.parquet"),
        meta["checksum"],
        meta.get("source", f"SYNTHETIC generator {json.dumps(meta['spec'])}"),
        synthetic=True,
    )
