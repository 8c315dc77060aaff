"""The data folder: downloaded or imported sources, and prepared Parquet tables keyed by checksum.

Layout of `<data dir>/<entry.folder>/` (the data dir: `--data-dir`, else `RANK_DATA_DIR`, else
`datasets/` under the working directory):

    source.json            origin, sha256/md5/size of every source file, the source checksum
    files/                 upstream files as published (archives, Parquet), each verified
    extracted/             archive contents, or the copy of an imported extracted folder
    prepared/<name>/       interactions.parquet, items.parquet, meta.json (source checksum)

Prepared tables are reused only while `meta.json` names the current source checksum and parser
version, so a changed source is prepared again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from recsys_cli.data.archives import extract_archive, files_to_import
from recsys_cli.data.catalog import (
    CatalogEntry,
    RemoteFile,
    check_dataset_name,
    get_entry,
    sharing_storage,
)
from recsys_cli.data.dataset import Dataset, scan_parquet_interactions
from recsys_cli.data.download import (
    Digest,
    download_file,
    file_digest,
    file_lock,
    mirror_base,
)
from recsys_cli.data.parsers import PARSER_VERSION, SourceFiles
from recsys_cli.errors import DataError
from recsys_cli.progress import NO_PROGRESS, Progress

DATA_DIR_ENV = "RANK_DATA_DIR"
DEFAULT_DATA_DIR = Path("datasets")


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """`data_dir`, else `$RANK_DATA_DIR`, else `./datasets` (a folder, made when missing)."""
    env = os.environ.get(DATA_DIR_ENV)
    root = Path(data_dir) if data_dir is not None else Path(env) if env else DEFAULT_DATA_DIR
    if root.exists() and not root.is_dir():
        raise DataError(f"{root}: the data dir is a file, not a folder; give another --data-dir")
    return root


def dataset_dir(data_dir: Path, name: str, *, under: str | None = None) -> Path:
    """`data_dir/[under/]name`, the folder of dataset `name`, checked before anything in it is
    written or removed: `name` must be a plain name (`check_dataset_name`) and the folder must
    resolve inside `data_dir` (a symlinked folder leading out of it is refused)."""
    check_dataset_name(name)
    folder = data_dir / under / name if under else data_dir / name
    root, real = data_dir.resolve(), folder.resolve()
    if real == root or not real.is_relative_to(root):
        raise DataError(f"{folder} leads to {real}, outside {root}; nothing was changed")
    return folder


def _stderr_warning(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(
        f"[yellow]warning:[/] {escape(message)}", highlight=False
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: unreadable ({exc}); run `rank datasets remove` and fetch again"
        ) from None


def _combined(lines: list[str]) -> str:
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _digest_record(digest: Digest, verified: bool) -> dict[str, Any]:
    return {"sha256": digest.sha256, "md5": digest.md5, "size": digest.size, "verified": verified}


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@dataclass
class Status:
    """What the data folder holds for one dataset."""

    name: str
    folder: Path
    downloaded: bool
    prepared: bool
    origin: str | None
    bytes_on_disk: int


@dataclass
class VerifyReport:
    """Result of re-hashing one dataset's source files against what was recorded."""

    name: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class DatasetStore:
    """Downloads, imports, prepares, verifies and removes catalog datasets in one data folder."""

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        warn: Callable[[str], None] = _stderr_warning,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
    ):
        self.root = resolve_data_dir(data_dir)
        self.warn = warn
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    # paths -------------------------------------------------------------------------------
    def folder(self, entry: CatalogEntry) -> Path:
        return dataset_dir(self.root, entry.folder)

    def prepared_dir(self, entry: CatalogEntry) -> Path:
        return dataset_dir(self.folder(entry), entry.name, under="prepared")

    @contextlib.contextmanager
    def _locked(self, entry: CatalogEntry) -> Iterator[None]:
        with file_lock(self.folder(entry) / ".lock"):
            yield

    def _record(self, entry: CatalogEntry) -> dict[str, Any]:
        return _read_json(self.folder(entry) / "source.json") or {"origin": None, "files": {}}

    def _save_record(self, entry: CatalogEntry, record: dict[str, Any]) -> None:
        record["checksum"] = self._source_checksum(entry, record)
        _write_json(self.folder(entry) / "source.json", record)

    def _source_checksum(self, entry: CatalogEntry, record: dict[str, Any]) -> str | None:
        if record.get("origin") == "import-folder":
            folder = record.get("folder", {})
            return _combined([f"{k}\t{folder[k]['sha256']}" for k in sorted(folder)])
        files = record.get("files", {})
        if not entry.files or any(f.name not in files for f in entry.files):
            return None
        return _combined([f"{f.name}\t{files[f.name]['sha256']}" for f in entry.files])

    @staticmethod
    def _complete(record: dict[str, Any]) -> bool:
        return record.get("checksum") is not None

    # status ------------------------------------------------------------------------------
    def status(self, entry: CatalogEntry) -> Status:
        folder = self.folder(entry)
        record = self._record(entry)
        return Status(
            name=entry.name,
            folder=folder,
            downloaded=self._complete(record),
            prepared=self._prepared_meta(entry, record) is not None,
            origin=record.get("origin"),
            bytes_on_disk=_folder_size(folder) if folder.is_dir() else 0,
        )

    def _prepared_meta(self, entry: CatalogEntry, record: dict[str, Any]) -> dict | None:
        meta = _read_json(self.prepared_dir(entry) / "meta.json")
        if (
            meta is None
            or record.get("checksum") is None
            or meta.get("source_checksum") != record["checksum"]
            or meta.get("parser_version") != PARSER_VERSION
        ):
            return None
        return meta

    # download ----------------------------------------------------------------------------
    def download(
        self, entry: CatalogEntry, *, progress: Progress = NO_PROGRESS, force: bool = False
    ) -> None:
        """Fetch every upstream file of `entry` that is not already here and verified (each
        transfer shown on `progress`)."""
        entry.require_available()
        mirror_base()  # a bad mirror is refused before the dataset's folder and lock exist
        with self._locked(entry):
            self._download(entry, progress=progress, force=force)

    def _download(self, entry: CatalogEntry, *, progress: Progress, force: bool) -> None:
        record = self._record(entry)
        if record.get("origin") == "import-folder":
            record = self._reset(entry)
        files_dir = self.folder(entry) / "files"
        fetched = False
        for remote in entry.files:
            target = files_dir / remote.name
            if not force and remote.name in record["files"] and target.is_file():
                continue
            fetched = True
            if force:
                target.unlink(missing_ok=True)
            digest = download_file(
                remote.url,
                target,
                checksum=remote.checksum,
                size=remote.size,
                max_size=remote.max_bytes,
                progress=progress,
                timeout=self.timeout,
                retries=self.retries,
                backoff=self.backoff,
                hint=(
                    f"fetch it elsewhere and run `rank datasets import {entry.name} PATH` "
                    f"(or set RANK_DATASETS_MIRROR)"
                ),
            )
            self._accept(entry, remote, digest, record)
        if fetched or record.get("origin") is None:
            record["origin"] = "download"
        self._save_record(entry, record)

    def _accept(
        self, entry: CatalogEntry, remote: RemoteFile, digest: Digest, record: dict[str, Any]
    ) -> None:
        if remote.checksum is None:
            self.warn(
                f"{entry.name}: upstream publishes no checksum for {remote.name}; recorded "
                f"sha256:{digest.sha256} ({digest.size} bytes) for later verification"
            )
        record["files"][remote.name] = _digest_record(digest, remote.checksum is not None)
        record.pop("extracted_from", None)
        self._save_record(entry, record)

    def _reset(self, entry: CatalogEntry) -> dict[str, Any]:
        folder = self.folder(entry)
        for sub in ("files", "extracted"):
            shutil.rmtree(folder / sub, ignore_errors=True)
        return {"origin": None, "files": {}}

    # import ------------------------------------------------------------------------------
    def import_path(self, entry: CatalogEntry, path: Path | str) -> str:
        """Import an upstream file, a folder of them, or an extracted folder; returns the origin.

        Files are checked against the catalog checksum (a mismatch keeps nothing). An extracted
        folder is copied and its files' sha256 recorded; its archive checksum cannot be checked.
        """
        entry.require_available()
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        if not (path.is_file() or path.is_dir()):
            raise DataError(f"{path}: not a regular file or a folder")
        folder, source = self.folder(entry).resolve(), path.resolve()
        if folder.is_relative_to(source) or source.is_relative_to(folder):
            raise DataError(f"{path} overlaps the dataset's folder {folder}; import from elsewhere")
        with self._locked(entry):
            if path.is_file():
                self._import_file(entry, path, self._match_file(entry, path))
            else:
                files = files_to_import(path, self.warn)
                upstream = [f for f in entry.files if f.name in files]
                if not upstream:
                    self._import_folder(entry, path, files)
                    return "import-folder"
                for remote in upstream:
                    self._import_file(entry, files[remote.name], remote)
            record = self._record(entry)
            missing = [f.name for f in entry.files if f.name not in record["files"]]
            if missing:
                self.warn(f"{entry.name}: still missing {', '.join(missing)}; import them as well")
            return "import-archive"

    def _match_file(self, entry: CatalogEntry, path: Path) -> RemoteFile:
        for remote in entry.files:
            if remote.name == path.name:
                return remote
        if len(entry.files) == 1:
            return entry.files[0]
        names = ", ".join(f.name for f in entry.files)
        raise DataError(f"{path}: not a file of dataset {entry.name!r} (expected one of {names})")

    def _import_file(self, entry: CatalogEntry, path: Path, remote: RemoteFile) -> None:
        digest = file_digest(path)
        if remote.size is not None and digest.size != remote.size:
            raise DataError(
                f"{path}: size mismatch ({digest.size} bytes, {remote.name} has {remote.size}); "
                "nothing was imported"
            )
        if remote.checksum is not None and not digest.matches(remote.checksum):
            algo = remote.checksum.partition(":")[0]
            raise DataError(
                f"{path}: checksum mismatch for {remote.name} (expected {remote.checksum}, got "
                f"{algo}:{getattr(digest, algo)}); nothing was imported"
            )
        record = self._record(entry)
        if record.get("origin") == "import-folder":
            record = self._reset(entry)
        target = self.folder(entry) / "files" / remote.name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".import")
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        record["origin"] = "import-archive"
        self._accept(entry, remote, digest, record)

    def _import_folder(self, entry: CatalogEntry, path: Path, files: dict[str, Path]) -> None:
        if not files:
            raise DataError(f"{path}: the folder holds no files")
        folder = self.folder(entry)
        _remove_leftovers(folder, "extracted.import")
        tmp = folder / f"extracted.import{os.getpid()}"
        recorded = {}
        try:
            for name, source in files.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / name)
                digest = file_digest(tmp / name)
                recorded[name] = {"sha256": digest.sha256, "size": digest.size}
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._reset(entry)
        os.replace(tmp, folder / "extracted")
        record = {
            "origin": "import-folder",
            "files": {},
            "folder": recorded,
            "imported_from": str(path),
        }
        self._save_record(entry, record)
        self.warn(
            f"{entry.name}: imported an extracted folder ({len(files)} files, sha256 of each "
            "recorded); the upstream archive checksum could not be checked"
        )

    # prepare -----------------------------------------------------------------------------
    def prepare(
        self,
        entry: CatalogEntry,
        *,
        download: bool = True,
        progress: Progress = NO_PROGRESS,
        force: bool = False,
    ) -> Dataset:
        """The prepared dataset: downloaded (if allowed) and parsed on first use, then cached."""
        with self._locked(entry):
            record, parsed = self._ensure_prepared(entry, download, progress, force)
            if parsed is not None:
                return self._dataset(entry, record, *parsed)
            return self._load(entry, record)

    def scan(
        self, entry: CatalogEntry, *, download: bool = True, progress: Progress = NO_PROGRESS
    ) -> Dataset:
        """The prepared dataset (prepared as by `prepare` when it is not yet) with its
        interactions as a scan of their canonical columns: nothing of them is read here."""
        with self._locked(entry):
            record, parsed = self._ensure_prepared(entry, download, progress, force=False)
            del parsed  # the parse's frames: the scan reads what it needs of the written table
            folder = self.prepared_dir(entry)
            try:
                items = pl.read_parquet(folder / "items.parquet")
                interactions = scan_parquet_interactions(folder / "interactions.parquet")
                interactions.collect_schema()
            except (OSError, pl.exceptions.PolarsError) as exc:
                raise _unreadable(folder, entry, exc) from exc
        return self._dataset(entry, record, interactions, items)

    def _ensure_prepared(
        self, entry: CatalogEntry, download: bool, progress: Progress, force: bool
    ) -> tuple[dict[str, Any], tuple[pl.DataFrame, pl.DataFrame] | None]:
        """(the source record, the parsed (interactions, items) when they were parsed now, else
        None): the source downloaded (if allowed) and the prepared tables written where they
        are missing, stale or `force`d. The caller holds the dataset's lock."""
        entry.require_available()
        if entry.parser is None:
            raise DataError(f"dataset {entry.name!r} has no parser")
        record = self._record(entry)
        if not self._complete(record):
            if not download:
                raise DataError(
                    f"dataset {entry.name!r} is not in {self.root}: run `rank datasets "
                    f"download {entry.name}` or `rank datasets import {entry.name} PATH`"
                )
            self._download(entry, progress=progress, force=False)
            progress.update(f"prepare {entry.name}")
            progress.total(None)
            record = self._record(entry)
        if not force and self._prepared_meta(entry, record) is not None:
            return record, None
        self._extract(entry, record)
        roots = [self.folder(entry) / "extracted", self.folder(entry) / "files"]
        try:
            interactions, items = entry.parser(SourceFiles(entry.name, roots))
        except (pl.exceptions.PolarsError, ValueError) as error:  # ValueError: bad text too
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise DataError(
                f"{self.folder(entry)}: the files of {entry.name!r} do not parse ({first}); "
                f"they are not its upstream files: import those (rank datasets import "
                f"{entry.name} PATH) or remove these (rank datasets remove {entry.name})"
            ) from None
        self._check_counts(entry, interactions, items)
        self._write_prepared(entry, record, interactions, items)
        return record, (interactions, items)

    def _extract(self, entry: CatalogEntry, record: dict[str, Any]) -> None:
        if record.get("origin") == "import-folder" or record.get("extracted_from") == record.get(
            "checksum"
        ):
            return
        folder = self.folder(entry)
        _remove_leftovers(folder, "extracted.tmp")
        tmp = folder / f"extracted.tmp{os.getpid()}"
        tmp.mkdir(parents=True)
        try:
            for remote in entry.files:
                if remote.is_archive:
                    extract_archive(folder / "files" / remote.name, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(folder / "extracted", ignore_errors=True)
        os.replace(tmp, folder / "extracted")
        record["extracted_from"] = record.get("checksum")
        self._save_record(entry, record)

    def _check_counts(self, entry: CatalogEntry, inter: pl.DataFrame, items: pl.DataFrame) -> None:
        exp = entry.expected
        actual = {
            "interactions": (inter.height, exp.interactions),
            "users": (inter["user"].n_unique(), exp.users),
            "items": (inter["item"].n_unique(), exp.items),
            "listed items": (items.height, exp.items_listed),
        }
        off = [f"{k} {a:,} (published {e:,})" for k, (a, e) in actual.items() if e not in (None, a)]
        if off:
            self.warn(f"{entry.name}: {', '.join(off)}; the source differs from the published one")

    def _write_prepared(
        self,
        entry: CatalogEntry,
        record: dict[str, Any],
        interactions: pl.DataFrame,
        items: pl.DataFrame,
    ) -> None:
        final = self.prepared_dir(entry)
        _remove_leftovers(final.parent, f"{final.name}.tmp")
        tmp = final.with_name(final.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True)
        try:
            interactions.write_parquet(tmp / "interactions.parquet")
            items.write_parquet(tmp / "items.parquet")
            _write_json(
                tmp / "meta.json",
                {
                    "name": entry.name,
                    "source_checksum": record["checksum"],
                    "parser_version": PARSER_VERSION,
                    "origin": record.get("origin"),
                    "interactions": interactions.height,
                    "users": interactions["user"].n_unique(),
                    "items": interactions["item"].n_unique(),
                },
            )
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)

    def _load(self, entry: CatalogEntry, record: dict[str, Any]) -> Dataset:
        folder = self.prepared_dir(entry)
        try:
            interactions = pl.read_parquet(folder / "interactions.parquet")
            items = pl.read_parquet(folder / "items.parquet")
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise _unreadable(folder, entry, exc) from exc
        return self._dataset(entry, record, interactions, items)

    def _dataset(
        self,
        entry: CatalogEntry,
        record: dict,
        interactions: pl.DataFrame | pl.LazyFrame,
        items: pl.DataFrame,
    ) -> Dataset:
        return Dataset(
            name=entry.name,
            interactions=interactions,
            items=items,
            checksum=record["checksum"],
            source=f"{self.folder(entry)} ({record.get('origin')})",
        )

    # verify / remove ---------------------------------------------------------------------
    def verify(self, entry: CatalogEntry) -> VerifyReport:
        """Re-hash the source files against source.json (and the catalog checksums)."""
        report = VerifyReport(entry.name)
        folder = self.folder(entry)
        record = self._record(entry)
        if record.get("origin") is None:
            report.problems.append(f"not downloaded or imported (no {folder / 'source.json'})")
            return report
        if record.get("origin") == "import-folder":
            report.notes.append("imported extracted folder: archive checksum never checked")
            for rel, want in record.get("folder", {}).items():
                self._verify_one(report, folder / "extracted" / rel, want["sha256"], None)
        else:
            for remote in entry.files:
                want = record["files"].get(remote.name)
                if want is None:
                    report.problems.append(f"{remote.name}: missing")
                    continue
                self._verify_one(report, folder / "files" / remote.name, want["sha256"], remote)
        if self._prepared_meta(entry, record) is None and self.prepared_dir(entry).exists():
            report.notes.append("prepared tables are stale; `prepare` rebuilds them")
        return report

    def _verify_one(
        self, report: VerifyReport, path: Path, sha256: str, remote: RemoteFile | None
    ) -> None:
        report.checked += 1
        if not path.is_file():
            report.problems.append(f"{path}: missing")
            return
        digest = file_digest(path)
        if digest.sha256 != sha256:
            report.problems.append(f"{path}: sha256 {digest.sha256} differs from recorded {sha256}")
        elif remote is not None and remote.checksum and not digest.matches(remote.checksum):
            report.problems.append(f"{path}: does not match the catalog's {remote.checksum}")

    def remove(self, entry: CatalogEntry) -> tuple[list[str], int]:
        """Delete the dataset's folder; returns the dataset names it held and the bytes freed."""
        folder = self.folder(entry)
        if not folder.exists():
            raise DataError(f"dataset {entry.name!r} is not in {self.root}")
        freed = _folder_size(folder)
        shutil.rmtree(folder)
        return [e.name for e in sharing_storage(entry)], freed

    def cached_entries(self, entries: list[CatalogEntry]) -> list[CatalogEntry]:
        return [e for e in entries if (self.folder(e) / "source.json").exists()]


def _unreadable(folder: Path, entry: CatalogEntry, exc: BaseException) -> DataError:
    return DataError(
        f"{folder}: prepared tables unreadable ({exc}); run `rank datasets prepare "
        f"{entry.name} --force`"
    )


def _remove_leftovers(folder: Path, prefix: str) -> None:
    """Delete `prefix*` temporary folders that a killed run left in `folder` (the caller holds
    the dataset's lock, so no live process is writing them)."""
    if folder.is_dir():
        for leftover in folder.glob(f"{prefix}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def load_catalog_dataset(
    name: str,
    data_dir: Path | None = None,
    *,
    download: bool = True,
    progress: Progress = NO_PROGRESS,
) -> Dataset:
    """The prepared catalog dataset `name`, downloaded and prepared on first use."""
    return DatasetStore(data_dir).prepare(get_entry(name), download=download, progress=progress)


def scan_catalog_dataset(
    name: str, data_dir: Path | None = None, *, progress: Progress = NO_PROGRESS
) -> Dataset:
    """`load_catalog_dataset` with the interactions as a scan of their canonical columns."""
    return DatasetStore(data_dir).scan(get_entry(name), progress=progress)
