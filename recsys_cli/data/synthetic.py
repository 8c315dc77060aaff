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

from recsys_cli.data.dataset import Dataset
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


def _power_law(n: int, exponent: float, rng) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    return rng.permutation(weights / weights.sum())


def generate(spec: SynthSpec, name: str) -> Dataset:
    """Interactions and items tables with ids `u<k>` / `t<k>` and artist ids `a<k>`."""
    spec.check_fits(available_memory())
    rng = np.random.default_rng(spec.seed)
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
    for genre in range(N_GENRES):
        members = np.flatnonzero(main_genre == genre)
        rows = np.flatnonzero(from_taste & (favourite == genre))
        if len(members) == 0:
            members = np.arange(spec.items)
        cdf = np.cumsum(popularity[members])
        items[rows] = members[np.searchsorted(cdf, rng.random(len(rows)) * cdf[-1])]
    items = np.minimum(items, spec.items - 1)

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


def synthetic_dir(data_dir: Path, name: str) -> Path:
    """`<data dir>/synthetic/<name>`, refused unless `name` is a plain name inside the data dir."""
    from recsys_cli.data.store import dataset_dir

    return dataset_dir(data_dir, name, under="synthetic")


def save(dataset: Dataset, spec: SynthSpec, target: Path) -> Path:
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
                {"spec": asdict(spec), "checksum": dataset.checksum, "synthetic": True}, indent=2
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
    """A saved synthetic dataset, or None when there is none of that name."""
    folder = synthetic_dir(data_dir, name)
    if not (folder / "meta.json").is_file():
        return None
    meta = json.loads((folder / "meta.json").read_text())
    return Dataset(
        name,
        pl.read_parquet(folder / "interactions.parquet"),
        pl.read_parquet(folder / "items.parquet"),
        meta["checksum"],
        f"SYNTHETIC generator {json.dumps(meta['spec'])}",
        synthetic=True,
    )
