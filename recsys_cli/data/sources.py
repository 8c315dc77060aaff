"""Resolve a recipe's dataset section to a canonical `Dataset`."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from recsys_cli.config.schema import DatasetConfig
from recsys_cli.data.dataset import Dataset
from recsys_cli.data.embedded import EMBEDDED_NAME, load_recbole_ml100k
from recsys_cli.data.local_file import load_local_file, read_table, scan_local_file
from recsys_cli.progress import NO_PROGRESS, Progress

__all__ = ["catalogue_bound", "load_dataset", "load_local_file", "read_table", "scan_dataset"]


def load_dataset(
    config: DatasetConfig, data_dir: Path | None = None, progress: Progress = NO_PROGRESS
) -> Dataset:
    """`scan_dataset` with the interactions read in full (their canonical columns only)."""
    return scan_dataset(config, data_dir, progress).collect()


def scan_dataset(
    config: DatasetConfig, data_dir: Path | None = None, progress: Progress = NO_PROGRESS
) -> Dataset:
    """A local file when `path` is set; ML-100K from the recbole wheel; a synthetic dataset made by
    `rank datasets synth`; else the dataset catalog (a download shown on `progress`).

    The interactions are a scan of their canonical columns, read when a stage collects them
    (ML-100K, 100,000 rows, is read in full); a local file is checked in full first."""
    if config.path is not None:
        return scan_local_file(config)
    if config.name == EMBEDDED_NAME:
        return load_recbole_ml100k()
    from recsys_cli.data import synthetic
    from recsys_cli.data.store import resolve_data_dir, scan_catalog_dataset

    generated = synthetic.load(resolve_data_dir(data_dir), config.name)
    if generated is not None:
        return generated
    return scan_catalog_dataset(config.name, data_dir, progress=progress)


def catalogue_bound(config: DatasetConfig, data_dir: Path | None = None) -> tuple[int, str] | None:
    """(at most how many items the dataset has, where that number comes from), known without
    reading its interactions in full: a synthetic dataset's generator settings, a catalog
    entry's published count, or the distinct ids of a local Parquet file's item column (that
    column alone); None for a local CSV file or a catalog entry without a published count."""
    if config.path is not None:
        path = Path(config.path)
        if path.suffix != ".parquet" or not path.is_file():
            return None
        try:
            column = pl.scan_parquet(path).select(pl.col(config.columns.item).n_unique())
            return int(column.collect().item()), f"{path} (distinct {config.columns.item!r})"
        except (pl.exceptions.PolarsError, OSError):
            return None  # read properly, with its one-line error, by load_local_file
    from recsys_cli.data import synthetic
    from recsys_cli.data.catalog import CATALOG
    from recsys_cli.data.store import resolve_data_dir

    if config.name != EMBEDDED_NAME:
        meta = synthetic.saved(resolve_data_dir(data_dir)).get(config.name)
        if meta is not None:
            return synthetic.spec_items(meta["spec"]), f"synthetic dataset {config.name!r}"
    entry = CATALOG.get(config.name)
    if entry is None or entry.expected.items is None:
        return None
    return entry.expected.items, f"{config.name} (published count)"
