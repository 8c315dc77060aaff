"""What datasets there are and what the data folder holds of each: one JSON-ready row per catalog
dataset or synthetic dataset, as `rank datasets list` and `info` print them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from recsys_cli.data import synthetic
from recsys_cli.data.embedded import EMBEDDED_NAME, recbole_ml100k_dir
from recsys_cli.errors import DataError

if TYPE_CHECKING:
    from recsys_cli.data.catalog import CatalogEntry
    from recsys_cli.data.store import Status


def embedded_copy(name: str) -> tuple[str | None, str | None]:
    """For the dataset recipes read from the recbole package (ML-100K): (its folder, None), or
    (None, why it cannot be read); (None, None) for every other dataset."""
    if name != EMBEDDED_NAME:
        return None, None
    try:
        return str(recbole_ml100k_dir()), None
    except DataError as error:
        return None, str(error)


def synthetic_rows(root: Path) -> list[dict]:
    """The datasets `rank datasets synth` saved under `root`; recipes read them before the
    catalog's."""
    rows = []
    for name, meta in synthetic.saved(root).items():
        folder = synthetic.synthetic_dir(root, name)
        spec = meta["spec"]
        rows.append(
            {
                "name": name,
                "domain": "synthetic",
                "description": "SYNTHETIC data made by `rank datasets synth`",
                "synthetic": True,
                "spec": spec,
                "checksum": meta["checksum"],
                "size_bytes": sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
                "expected": {k: spec[k] for k in ("interactions", "users", "items")},
                "folder": str(folder),
            }
        )
    return rows


def catalog_row(entry: CatalogEntry, status: Status) -> dict:
    """A catalog dataset's description, files and what the data folder holds of it."""
    embedded, embedded_problem = embedded_copy(entry.name)
    return {
        "name": entry.name,
        "synthetic": False,
        "domain": entry.domain,
        "description": entry.description,
        "homepage": entry.homepage,
        "license": entry.license,
        "citation": entry.citation,
        "available": entry.available,
        "unavailable_reason": entry.unavailable_reason or None,
        "timestamps": entry.timestamps,
        "size_bytes": entry.approx_size,
        "expected": {
            "interactions": entry.expected.interactions,
            "users": entry.expected.users,
            "items": entry.expected.items,
            "items_listed": entry.expected.items_listed,
        },
        "files": [
            {"name": f.name, "url": f.url, "size": f.size, "checksum": f.checksum}
            for f in entry.files
        ],
        "downloaded": status.downloaded,
        "prepared": status.prepared,
        "origin": status.origin,
        "folder": str(status.folder),
        "embedded": embedded,
        "embedded_problem": embedded_problem,
    }
