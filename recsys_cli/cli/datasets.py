"""`rank datasets`: list, inspect, download, prepare, import, verify and remove catalog datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recsys_cli.cli.common import user_errors_reported

app = typer.Typer(
    name="datasets",
    help="Public recommendation datasets: catalog, safe downloads, prepared Parquet tables.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data folder (default: $RANK_DATA_DIR, else ./datasets).",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
NoProgress = Annotated[
    bool, typer.Option("--no-progress", help="Do not draw the download progress bar.")
]
Name = Annotated[str, typer.Argument(help="Dataset name, as shown by `rank datasets list`.")]


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover


def _store(data_dir: Path | None):
    from recsys_cli.data.store import DatasetStore

    return DatasetStore(data_dir)


def _entry_dict(entry, status) -> dict:
    return {
        "name": entry.name,
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
    }


@app.command("list")
def list_(data_dir: DataDir = None, json_: JsonFlag = False) -> None:
    """List the catalog: name, domain, size, interactions, license and what is cached here."""
    from rich.table import Table

    from recsys_cli.data.catalog import CATALOG

    with user_errors_reported():
        store = _store(data_dir)
        rows = [_entry_dict(e, store.status(e)) for e in CATALOG.values()]
    if json_:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"datasets ({store.root})")
    for column in ("name", "domain", "size", "interactions", "license", "cached"):
        table.add_column(column, justify="right" if column in ("size", "interactions") else "left")
    for row in rows:
        n = row["expected"]["interactions"]
        cached = "prepared" if row["prepared"] else "downloaded" if row["downloaded"] else "-"
        if not row["available"]:
            cached = "unavailable"
        table.add_row(
            row["name"],
            row["domain"],
            _human(row["size_bytes"]),
            f"{n:,}" if n is not None else "?",
            row["license"].split(":")[0].split(" (")[0],
            cached,
        )
    # piped output is not squeezed to 80 columns, so rows stay whole for grep
    (out if out.is_terminal else Console(width=160)).print(table)


@app.command()
def info(name: Name, data_dir: DataDir = None, json_: JsonFlag = False) -> None:
    """Show a dataset's description, license, files (URL, size, checksum) and local state."""
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        row = _entry_dict(entry, _store(data_dir).status(entry))
    if json_:
        typer.echo(json.dumps(row, indent=2))
        return
    out.print(f"[bold]{entry.name}[/] ({entry.domain}) - {entry.description}", highlight=False)
    if not entry.available:
        out.print(f"[red]unavailable:[/] {entry.unavailable_reason}", highlight=False)
    out.print(f"homepage:   {entry.homepage}", highlight=False)
    out.print(f"license:    {entry.license}", highlight=False)
    out.print(f"cite:       {entry.citation}", highlight=False)
    out.print(f"timestamps: {entry.timestamps}", highlight=False)
    exp = row["expected"]
    counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in exp.items() if v is not None)
    out.print(f"published:  {counts or '-'}", highlight=False)
    for f in entry.files:
        out.print(
            f"file:       {f.name}  {_human(f.display_size)}  {f.checksum or 'no checksum'}"
            f"\n            {f.url}",
            highlight=False,
        )
    state = "prepared" if row["prepared"] else "downloaded" if row["downloaded"] else "not cached"
    out.print(f"local:      {state} ({row['folder']})", highlight=False)


@app.command()
def download(
    name: Name,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if present.")] = False,
    no_progress: NoProgress = False,
) -> None:
    """Download a dataset's upstream files (resumable, checksum-verified, honours the mirror).

    Set RANK_DATASETS_MIRROR=https://mirror/base to fetch https://host/path from
    https://mirror/base/host/path.
    """
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        store = _store(data_dir)
        store.download(entry, progress=not no_progress, force=force)
    err.print(f"downloaded {entry.name} into {store.folder(entry)}", highlight=False)


@app.command()
def prepare(
    name: Name,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="Parse again even if cached.")] = False,
    no_download: Annotated[
        bool, typer.Option("--no-download", help="Fail instead of downloading a missing source.")
    ] = False,
    no_progress: NoProgress = False,
) -> None:
    """Parse a dataset into the canonical Parquet tables (downloading it first if needed)."""
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        store = _store(data_dir)
        ds = store.prepare(entry, download=not no_download, progress=not no_progress, force=force)
    inter = ds.interactions
    out.print(
        f"{entry.name}: {inter.height:,} interactions, {inter['user'].n_unique():,} users, "
        f"{inter['item'].n_unique():,} items -> {store.prepared_dir(entry)}",
        highlight=False,
    )


@app.command("import")
def import_(
    name: Name,
    path: Annotated[
        Path,
        typer.Argument(
            help="The upstream archive/file fetched elsewhere (checksum-verified), a folder of "
            "them, or an already extracted folder (file checksums recorded instead)."
        ),
    ],
    data_dir: DataDir = None,
) -> None:
    """Import a dataset fetched elsewhere (for machines without network access)."""
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        store = _store(data_dir)
        origin = store.import_path(entry, path)
    err.print(f"imported {path} as {entry.name} ({origin})", highlight=False)


@app.command()
def verify(
    name: Annotated[
        str | None, typer.Argument(help="Dataset to check (default: every cached one).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Re-hash cached source files against the recorded and published checksums."""
    from recsys_cli.data.catalog import CATALOG, get_entry

    with user_errors_reported():
        store = _store(data_dir)
        entries = [get_entry(name)] if name else store.cached_entries(list(CATALOG.values()))
        seen: set[str] = set()
        failed = 0
        for entry in entries:
            if entry.folder in seen:
                continue
            seen.add(entry.folder)
            report = store.verify(entry)
            mark = "[green]ok[/]" if report.ok else "[red]FAILED[/]"
            out.print(f"{mark} {entry.folder}: {report.checked} files checked")
            for note in report.notes:
                out.print(f"   note: {note}", highlight=False)
            for problem in report.problems:
                out.print(f"   {problem}", highlight=False)
            failed += not report.ok
        if not entries:
            out.print(f"no datasets cached in {store.root}", highlight=False)
    if failed:
        err.print(f"[red]error:[/] {failed} dataset(s) failed verification")
        raise typer.Exit(2)


@app.command()
def remove(name: Name, data_dir: DataDir = None) -> None:
    """Delete a dataset's files and prepared tables from the data folder."""
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        names, freed = _store(data_dir).remove(entry)
    err.print(f"removed {', '.join(names)} ({_human(freed)} freed)", highlight=False)


@app.command()
def synth(
    name: Annotated[str, typer.Argument(help="Name a recipe will use for the synthetic data.")],
    users: Annotated[int, typer.Option(help="Number of users.")] = 10_000,
    items: Annotated[int, typer.Option(help="Number of items.")] = 5_000,
    interactions: Annotated[int, typer.Option(help="Number of interactions.")] = 500_000,
    artists: Annotated[int, typer.Option(help="Number of artists (0: items / 10).")] = 0,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    data_dir: DataDir = None,
) -> None:
    """Generate SYNTHETIC interactions (power-law popularity, artists, genres, years) for scale
    work; a recipe names it like any dataset."""
    from recsys_cli.data.store import resolve_data_dir
    from recsys_cli.data.synthetic import SynthSpec, generate, save

    with user_errors_reported():
        spec = SynthSpec(
            users=users, items=items, interactions=interactions, seed=seed, artists=artists
        )
        folder = save(generate(spec, name), spec, resolve_data_dir(data_dir))
    out.print(
        f"SYNTHETIC dataset {name!r}: {interactions:,} interactions, {users:,} users, "
        f"{items:,} items -> {folder}"
    )
