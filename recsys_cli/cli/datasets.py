"""`rank datasets`: list, inspect, download, prepare, import, verify and remove catalog datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recsys_cli.cli.app import Typer
from recsys_cli.cli.common import progress_step, user_errors_reported
from recsys_cli.cli.run import VerboseOpt
from recsys_cli.errors import UserError, writing_into

app = Typer(
    name="datasets",
    help="Public recommendation datasets: catalog, safe downloads, prepared Parquet tables.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)  # info lines stay whole when piped
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
Name = Annotated[
    str, typer.Argument(metavar="NAME", help="Dataset name, as shown by `rank datasets list`.")
]


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


def _cached(row: dict) -> str:
    """What the data folder holds of a catalog dataset, in a word."""
    return "prepared" if row["prepared"] else "downloaded" if row["downloaded"] else "not cached"


@app.command("list")
def list_(data_dir: DataDir = None, json_: JsonFlag = False) -> None:
    """List the catalog (name, domain, size, interactions, license, what is cached here) and the
    synthetic datasets made in the data folder."""
    from rich.table import Table

    from recsys_cli.data.catalog import CATALOG
    from recsys_cli.data.inventory import catalog_row, synthetic_rows

    with user_errors_reported():
        store = _store(data_dir)
        rows = [catalog_row(e, store.status(e)) for e in CATALOG.values()]
        rows += synthetic_rows(store.root)
    if json_:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"datasets ({store.root})")
    for column in ("name", "domain", "size", "interactions", "license", "cached"):
        table.add_column(column, justify="right" if column in ("size", "interactions") else "left")
    for row in rows:
        n = row["expected"]["interactions"]
        if row["synthetic"]:
            cached, license_ = "SYNTHETIC", "-"
        else:
            cached = _cached(row).replace("not cached", "-")
            cached = "embedded" if row["embedded"] else cached
            cached = cached if row["available"] else "unavailable"
            license_ = row["license"].split(":")[0].split(" (")[0]
        table.add_row(
            row["name"],
            row["domain"],
            _human(row["size_bytes"]),
            f"{n:,}" if n is not None else "?",
            license_,
            cached,
        )
    # piped output is not squeezed to 80 columns, so rows stay whole for grep
    (out if out.is_terminal else Console(width=160)).print(table)


@app.command()
def info(name: Name, data_dir: DataDir = None, json_: JsonFlag = False) -> None:
    """Show a dataset's description, license, files (URL, size, checksum) and where recipes
    read it from; for a synthetic dataset, its generator settings."""
    from recsys_cli.data.catalog import get_entry
    from recsys_cli.data.inventory import catalog_row, synthetic_rows

    with user_errors_reported():
        store = _store(data_dir)
        synthetic = {row["name"]: row for row in synthetic_rows(store.root)}
        if name in synthetic:
            _synthetic_info(synthetic[name], json_)
            return
        entry = get_entry(name)
        row = catalog_row(entry, store.status(entry))
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
    local = f"{_cached(row)} ({row['folder']})"
    if row["embedded"] or row["embedded_problem"]:
        read = row["embedded_problem"] or (
            f"recipes read the copy embedded in the recbole package ({row['embedded']})"
        )
        local = f"{read}\n            catalog download, not read by recipes: {local}"
    out.print(f"local:      {local}", highlight=False)


def _synthetic_info(row: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(row, indent=2))
        return
    spec = ", ".join(f"{key} {value:,}" for key, value in row["spec"].items())
    out.print(f"[bold]{row['name']}[/] - {row['description']}", highlight=False)
    out.print(f"generator:  {spec}", highlight=False)
    out.print(f"checksum:   {row['checksum']}", highlight=False)
    out.print(
        f"local:      {_human(row['size_bytes'])} ({row['folder']}); recipes naming "
        f"{row['name']!r} read it",
        highlight=False,
    )


@app.command()
def download(
    name: Name,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if present.")] = False,
    no_progress: NoProgress = False,
    verbose: VerboseOpt = False,
) -> None:
    """Download a dataset's upstream files (resumable, checksum-verified, honours the mirror).

    Set RANK_DATASETS_MIRROR=https://mirror/base to fetch https://host/path from
    https://mirror/base/host/path.
    """
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        store = _store(data_dir)
        with progress_step(no_progress, verbose)(f"download {entry.name}") as progress:
            store.download(entry, progress=progress, force=force)
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
    verbose: VerboseOpt = False,
) -> None:
    """Parse a dataset into the canonical Parquet tables (downloading it first if needed)."""
    from recsys_cli.data.catalog import get_entry

    with user_errors_reported():
        entry = get_entry(name)
        store = _store(data_dir)
        with progress_step(no_progress, verbose)(f"prepare {entry.name}") as progress:
            ds = store.prepare(entry, download=not no_download, progress=progress, force=force)
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
            metavar="PATH",
            help="The upstream archive/file fetched elsewhere (checksum-verified), a folder of "
            "them, or an already extracted folder (file checksums recorded instead).",
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
        str | None,
        typer.Argument(metavar="NAME", help="Dataset to check (default: every cached one)."),
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
    """Delete a dataset's files and prepared tables (or a synthetic dataset) from the data
    folder."""
    from recsys_cli.data import synthetic
    from recsys_cli.data.catalog import get_entry
    from recsys_cli.data.inventory import embedded_copy

    with user_errors_reported():
        store = _store(data_dir)
        if name in synthetic.saved(store.root):
            freed = synthetic.remove(store.root, name)
            err.print(f"removed SYNTHETIC dataset {name} ({_human(freed)} freed)", highlight=False)
            return
        entry = get_entry(name)
        names, freed = store.remove(entry)
    embedded, _ = embedded_copy(entry.name)
    kept = f"; recipes still read the copy embedded in the recbole package ({embedded})"
    err.print(
        f"removed {', '.join(names)} ({_human(freed)} freed){kept if embedded else ''}",
        highlight=False,
    )


@app.command()
def synth(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Name a recipe will use for the synthetic data.")
    ],
    users: Annotated[int | None, typer.Option(help="Number of users (default 10,000).")] = None,
    items: Annotated[int | None, typer.Option(help="Number of items (default 5,000).")] = None,
    interactions: Annotated[
        int | None, typer.Option(help="Number of interactions (default 500,000).")
    ] = None,
    artists: Annotated[int, typer.Option(help="Number of artists (0: items / 10).")] = 0,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Shape of a published music dataset: yambda-50m (10,000 users, 934,057 tracks, "
            "46M listens) or lastfm-1k (992 users, ~1M tracks, 19M plays)."
        ),
    ] = None,
    scale: Annotated[
        float, typer.Option(help="With --preset: a fraction (or multiple) of its size.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
    data_dir: DataDir = None,
) -> None:
    """Generate SYNTHETIC interactions (power-law popularity, artists, genres, years) for scale
    work; a recipe names it like any dataset. --preset copies a music dataset's shape."""
    from recsys_cli.data.store import resolve_data_dir
    from recsys_cli.data.synthetic import MusicSpec, SynthSpec, generate, save, synthetic_dir

    with user_errors_reported():
        folder = synthetic_dir(resolve_data_dir(data_dir), name)  # checked before generating
        if preset is not None:
            given = [f"--{k}" for k, v in (("users", users), ("items", items)) if v is not None]
            given += ["--interactions"] * (interactions is not None) + ["--artists"] * bool(artists)
            if given:
                raise UserError(f"--preset {preset} sets the sizes: drop {given[0]} (use --scale)")
            spec = MusicSpec(preset, scale=scale, seed=seed)
        else:
            if scale != 1.0:
                raise UserError(
                    "--scale applies to a --preset; give --users/--items/--interactions"
                )
            spec = SynthSpec(
                users=10_000 if users is None else users,
                items=5_000 if items is None else items,
                interactions=500_000 if interactions is None else interactions,
                seed=seed,
                artists=artists,
            )
        with writing_into(folder.parent):
            dataset = generate(spec, name)
            save(dataset, spec, folder)
    shaped = f" shaped like {spec.shape.label}" if preset is not None else ""
    out.print(
        f"SYNTHETIC dataset {name!r}{shaped}: {spec.interactions:,} interactions, "
        f"{spec.users:,} users, {spec.items:,} items -> {folder}"
    )
