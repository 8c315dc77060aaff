"""`rank runs list|show|diff|gc`: find, inspect, compare and clean what a results dir holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from recsys_cli.cli.app import Typer
from recsys_cli.cli.common import console, err_console, user_errors
from recsys_cli.cli.run import JsonOpt, ResultsOpt
from recsys_cli.cli.runs_render import human_size, number, show_entry, utc_time
from recsys_cli.errors import UserError

app = Typer(
    name="runs",
    help="List, show, diff and clean the runs, sweeps, studies and OPE runs of a results dir.",
    no_args_is_help=True,
)

RunArg = Annotated[
    Path,
    typer.Argument(
        metavar="RUN",
        help="A run, sweep, study or OPE directory, or (part of) its name in the results dir.",
    ),
]
WhenHelp = "a date (2026-11-01, UTC) or an age (30d, 12h, 2w)"


def _headline(entry) -> str:
    head = entry.headline
    if "value" not in head:
        return entry.problem or ""
    where = f" {head['row']}" if "row" in head else ""
    part = f" ({head['part']})" if "part" in head else ""
    return f"{head['metric']}{part} {head['value']:.4g}{where}"


def _rows(rows: tuple[str, ...], shown: int = 2) -> str:
    more = f" +{len(rows) - shown}" if len(rows) > shown else ""
    return ", ".join(rows[:shown]) + more


_STATUS_STYLE = {"complete": "green", "trained": "yellow", "running": "cyan"}


@app.command("list")
@user_errors
def list_runs(
    results_dir: ResultsOpt = None,
    recipe: Annotated[str | None, typer.Option(help="Only this recipe (name).")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset (name).")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Only this kind: run, multi-seed, sweep, study or ope.")
    ] = None,
    since: Annotated[str | None, typer.Option(help=f"Only created since WHEN: {WhenHelp}.")] = None,
    until: Annotated[
        str | None, typer.Option(help=f"Only created before WHEN: {WhenHelp}.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A table of what the results dir holds, oldest first: time, kind, status, recipe, dataset,
    rows, headline metric (the best row's first metric@k), size.

    Unfinished `.tmp-` folders are listed as running, or killed when their process is gone
    (`rank runs gc` removes those)."""
    from recsys_cli.results.catalog import KINDS, parse_when, scan
    from recsys_cli.results.store import results_root

    if kind is not None and kind not in KINDS:
        raise UserError(f"--kind: {kind!r} is not one of {', '.join(KINDS)}")
    start = parse_when(since, "--since") if since else None
    end = parse_when(until, "--until") if until else None
    root = results_root(results_dir)
    entries = [
        e
        for e in scan(root)
        if (recipe is None or e.recipe == recipe)
        and (dataset is None or e.dataset == dataset)
        and (kind is None or e.kind == kind)
        and (start is None or e.created >= start)
        and (end is None or e.created < end)
    ]
    if as_json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return
    from recsys_cli.results.report import fit_tables

    headers = ["name", "created (UTC)", "kind", "status", "recipe", "dataset", "rows"]
    headers += ["headline", "size"]
    rows = [
        (
            [
                Text(e.name),
                Text(utc_time(e.created)),
                Text(e.kind),
                Text(e.status, style=_STATUS_STYLE.get(e.status, "red")),
                Text(e.recipe),
                Text(e.dataset),
                Text(_rows(e.rows)),
                Text(_headline(e)),
                Text(human_size(e.size)),
            ],
            None,
        )
        for e in entries
    ]
    for table in fit_tables(headers, rows, console.width, title=f"{root}: {len(entries)} entries"):
        for column in table.columns:  # text left, sizes right
            column.justify = "right" if str(column.header) == "size" else "left"
        console.print(table)
    console.print(
        "rank runs show NAME | rank runs diff A B | rank report NAME", style="dim", highlight=False
    )


# The files `show --json` prints, per kind.
_JSON_FILES = {
    "run": ("manifest.json", "metrics.json"),
    "multi-seed": ("manifest.json", "metrics.json"),
    "sweep": ("sweep.json",),
    "study": ("study.json", "tune.json"),
    "ope": ("manifest.json", "estimates.json"),
}


@app.command("show")
@user_errors
def show(run: RunArg, results_dir: ResultsOpt = None, as_json: JsonOpt = False) -> None:
    """The provenance, counts, timings and metric table of one run (or the points of a sweep,
    the chosen trials of a study, the estimates of an OPE run)."""
    from recsys_cli.results.catalog import find, refuse_unfinished
    from recsys_cli.results.store import results_root

    entry = find(results_root(results_dir), run)
    refuse_unfinished(entry)
    if as_json:
        from recsys_cli.results.readback import read_json

        files = [name for name in _JSON_FILES[entry.kind] if (entry.path / name).is_file()]
        payload = {name.removesuffix(".json"): read_json(entry.path / name) for name in files}
        print(json.dumps({"entry": entry.to_json(), **payload}, indent=2))
        return
    show_entry(entry)


def _value(value) -> str:
    if value is None:
        return "(absent)"
    return json.dumps(value) if not isinstance(value, str) else repr(value)


@app.command("diff")
@user_errors
def diff(
    run_a: RunArg,
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="The run to compare with.")],
    results_dir: ResultsOpt = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Also list the metrics that did not change.")
    ] = False,
    alpha: Annotated[float, typer.Option(help="Significance level of the marks.")] = 0.05,
    as_json: JsonOpt = False,
) -> None:
    """Recipe keys that differ (as --set key paths), whether the dataset and split are the same,
    and every metric's change B - A with a paired t-test over users when the splits match
    (Holm-corrected over the diff's tests)."""
    from recsys_cli.results.catalog import find, refuse_unfinished
    from recsys_cli.results.diff import diff_runs
    from recsys_cli.results.readback import open_run_dir
    from recsys_cli.results.store import results_root

    if not 0.0 < alpha < 1.0:
        raise UserError(f"--alpha: a significance level is between 0 and 1, got {alpha}")
    root = results_root(results_dir)
    entries = [find(root, run_a), find(root, run_b)]
    for entry in entries:
        refuse_unfinished(entry)
        if entry.kind not in ("run", "multi-seed"):
            raise UserError(
                f"{entry.path}: a {entry.kind}; diff compares two runs (a sweep's points are runs: "
                "`rank runs show` lists them)"
            )
        open_run_dir(entry.path)
    a, b = (e.path for e in entries)
    result = diff_runs(a, b)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    console.print(Text.assemble(("A: ", "bold"), str(a)), highlight=False)
    console.print(Text.assemble(("B: ", "bold"), str(b)), highlight=False)
    changes = result["recipe"]
    console.print(
        Text(
            f"recipe: {len(changes)} key(s) differ" if changes else "recipe: identical",
            style="bold",
        )
    )
    for change in changes:
        console.print(
            f"  {change['key']}: {_value(change.get('a'))} -> {_value(change.get('b'))}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    data = result["dataset"]
    console.print(
        f"dataset: the same ({data['name']} {data['checksum'][:19]}…)",
        highlight=False,
        markup=False,
    )
    split = result["split"]
    if split["same"]:
        console.print(
            f"split: the same ({split['a'][:19]}…): paired t-tests over the users both evaluated, "
            "Holm-corrected over the table",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"split: different ({split['a'][:19]}… vs {split['b'][:19]}…): changes of means "
            "only, no paired test (different held-out users)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    for side, rows in result["rows_only_in"].items():
        if rows:
            console.print(
                f"rows only in {side.upper()}: {', '.join(rows)}", highlight=False, markup=False
            )
    if not result["evaluated"]:
        console.print("metrics: not evaluated in both runs", markup=False)
        return
    deltas = result["deltas"]
    changed = [d for d in deltas if everything or d["delta"] != 0]
    table = Table("row", "metric", "A", "B", "B - A", "rel", "p (Holm)", title="metrics")
    for d in changed:
        rel = "" if not d["a"] or d["delta"] is None else f"{d['delta'] / abs(d['a']):+.1%}"
        p = d["p_adjusted"]
        sig = p is not None and p < alpha
        table.add_row(
            Text(d["row"]),
            Text(d["metric"]),
            number(d["a"]),
            number(d["b"]),
            Text("—" if d["delta"] is None else f"{d['delta']:+.4f}", style="bold" if sig else ""),
            rel,
            "" if p is None else f"{p:.3g}{' *' if sig else ''}",
        )
    if changed:
        console.print(table)
    unchanged = len(deltas) - len(changed)
    notes = []
    if unchanged:
        notes.append(f"{unchanged} of {len(deltas)} values unchanged (--all lists them)")
    if split["same"]:
        notes.append(f"* Holm-adjusted p < {alpha:g}")
    for note in notes:
        console.print(note, style="dim", highlight=False, markup=False)


@app.command("gc")
@user_errors
def gc(
    results_dir: ResultsOpt = None,
    older_than: Annotated[
        str | None,
        typer.Option(help=f"Also remove entries created before WHEN: {WhenHelp} (asks first)."),
    ] = None,
    recipe: Annotated[str | None, typer.Option(help="With --older-than: only this recipe.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking.")] = False,
) -> None:
    """Remove the leftovers of killed runs (`.tmp-` folders whose process is gone) and, with
    --older-than, entries created before a date once confirmed (or with --yes).

    A complete run is never removed without --older-than and a confirmation; folders still
    being written are never removed."""
    import shutil

    from recsys_cli.errors import size_of
    from recsys_cli.results.catalog import parse_when, scan
    from recsys_cli.results.owners import leftovers
    from recsys_cli.results.store import results_root

    root = results_root(results_dir)
    if not root.is_dir():
        raise UserError(f"{root}: no such results dir; give --results-dir")
    if recipe is not None and older_than is None:
        raise UserError("--recipe: only with --older-than (which entries to remove)")
    before = parse_when(older_than, "--older-than") if older_than else None
    dead = leftovers(root)
    freed = sum(size_of(p) for p in dead)
    for folder in dead:
        shutil.rmtree(folder, ignore_errors=True)
        console.print(f"removed {folder} (killed run)", highlight=False, markup=False)
    console.print(
        f"{len(dead)} leftover(s) of killed runs removed ({human_size(freed)})",
        highlight=False,
        markup=False,
    )
    if before is None:
        return
    old = [
        e
        for e in scan(root)
        if e.created < before
        and e.status != "running"
        and (recipe is None or e.recipe == recipe)
        and e.path.exists()
    ]
    if not old:
        console.print(f"no entry created before {utc_time(before)} UTC", highlight=False)
        return
    for e in old:
        console.print(
            f"{utc_time(e.created)}  {e.kind:<10} {e.status:<9} {human_size(e.size):>9}  {e.path}",
            highlight=False,
            markup=False,
        )
    total = human_size(sum(e.size for e in old))
    question = f"remove these {len(old)} entries ({total})?"
    if not yes:
        if not sys.stdin.isatty():
            err_console.print(
                f"nothing removed: {question.removesuffix('?')} needs --yes (no terminal to ask)",
                highlight=False,
                markup=False,
            )
            return
        if not typer.confirm(question, default=False):
            console.print("nothing removed", highlight=False)
            return
    for e in old:
        shutil.rmtree(e.path)
    console.print(f"removed {len(old)} entries ({total})", highlight=False, markup=False)
