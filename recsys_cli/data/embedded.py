"""MovieLens 100K read in place from the installed recbole wheel (never copied into the repo).

The files are RecBole atomic files: `ml-100k.inter` (user_id, item_id, rating, timestamp) and
`ml-100k.item` (item_id, movie_title, release_year, class = space-separated genres).
Harper & Konstan, "The MovieLens Datasets", ACM TiiS 2015.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import polars as pl

from recsys_cli.data.dataset import Dataset, canonical_interactions
from recsys_cli.errors import DataError

EMBEDDED_NAME = "ml-100k"  # recipes naming it read this copy, never the catalog's download
ML100K_FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
}


def recbole_ml100k_dir() -> Path:
    """Folder of the ML-100K example inside the installed recbole package (recbole not imported)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"dataset {EMBEDDED_NAME!r} is read from the installed recbole package, which is "
            "missing: pip install 'recsys-cli[recbole]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


def sha256_of(path: Path) -> str:
    from recsys_cli.data.download import file_digest

    return file_digest(path).sha256


def load_recbole_ml100k(folder: Path | None = None) -> Dataset:
    """Read and checksum-verify the embedded ML-100K; ratings become `weight`."""
    folder = folder or recbole_ml100k_dir()
    digests = []
    for name, expected in ML100K_FILES.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing from the installed recbole package")
        actual = sha256_of(path)
        if actual != expected:
            raise DataError(f"{path}: sha256 {actual} does not match the expected {expected}")
        digests.append(actual)
    inter = pl.read_csv(
        folder / "ml-100k.inter",
        separator="\t",
        new_columns=["user", "item", "weight", "timestamp"],
        schema_overrides={"user": pl.Int64, "item": pl.Int64},
    )
    items = pl.read_csv(
        folder / "ml-100k.item",
        separator="\t",
        quote_char=None,
        new_columns=["item", "title", "year", "genres"],
        schema_overrides={"item": pl.Int64, "year": pl.Utf8},
    ).with_columns(
        pl.col("year").cast(pl.Int32, strict=False),
        pl.col("genres").str.split(" "),
    )
    return Dataset(
        name=EMBEDDED_NAME,
        interactions=canonical_interactions(inter.select("user", "item", "timestamp", "weight")),
        items=items,
        checksum="sha256:" + hashlib.sha256("".join(digests).encode()).hexdigest(),
        source=f"recbole package ({folder})",
    )
