"""`rank runs list|show|diff|gc`: find, inspect, compare and clean what a results dir holds."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from recsys_cli.cli.app import Typer
from recsys_cli.cli.common import console, err_console, user_errors
from recsys_cli.cli.run import JsonOpt, ResultsOpt
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


def _size(n: int) -> str:
    from rich.filesize import decimal

    return decimal(n)


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def _number(value) -> str:
    return "—" if value is None else f"{value:.4f}"


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
                Text(_time(e.created)),
                Text(e.kind),
                Text(e.status, style=_STATUS_STYLE.get(e.status, "red")),
                Text(e.recipe),
                Text(e.dataset),
                Text(_rows(e.rows)),
                Text(_headline(e)),
                Text(_size(e.size)),
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


def _lines(pairs: list[tuple[str, str]]) -> None:
    for key, value in pairs:
        console.print(Text.assemble((f"{key}: ", "bold"), value), highlight=False, soft_wrap=True)


def _provenance(entry, manifest: dict) -> list[tuple[str, str]]:
    data = manifest.get("dataset", {})
    git = manifest.get("git") or {}
    versions = manifest.get("versions", {})
    pairs = [
        ("path", str(entry.path)),
        ("kind", f"{entry.kind}, {entry.status}"),
        ("created", f"{_time(entry.created)} UTC"),
        ("recipe", manifest.get("recipe", "")),
    ]
    if data:
        synthetic = " (SYNTHETIC)" if data.get("synthetic") else ""
        pairs.append(
            (
                "dataset",
                f"{data.get('name')}{synthetic} {data.get('checksum')} from {data.get('source')}",
            )
        )
    if "split" in manifest:
        pairs.append(
            ("split", f"{manifest['split'].get('kind')} {manifest['split']['fingerprint']}")
        )
    seeds = manifest.get("seeds")
    pairs.append(("seed", f"{manifest.get('seed')}" + (f"; model seeds {seeds}" if seeds else "")))
    if git:
        pairs.append(("git", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"))
    if versions:
        pairs.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return pairs


def _timings(manifest: dict) -> Table | None:
    timings = manifest.get("timings", {})
    models = timings.get("models")
    if not models:
        return None
    table = Table("model", "fit (s)", "recommend (s)", title="timings", title_justify="left")
    for model, cell in models.items():
        table.add_row(
            Text(model), f"{cell.get('fit_s', 0):.2f}", f"{cell.get('recommend_s', 0):.2f}"
        )
    extra = [
        f"{key.removesuffix('_s').replace('_', ' ')} {value:.2f} s"
        for key, value in timings.items()
        if key.endswith("_s")
    ] + [f"peak memory {timings['peak_memory_mib']:.0f} MiB"] * ("peak_memory_mib" in timings)
    table.caption = ", ".join(extra)
    table.caption_justify = "left"
    return table


def _show_run(entry) -> None:
    from recsys_cli.evaluation.run_comparison import EVALS_DIR
    from recsys_cli.results.catalog import read_summary
    from recsys_cli.results.report import counts_lines, summary_table
    from recsys_cli.results.store import damaged_run_reported, open_run_dir, read_manifest

    open_run_dir(entry.path)
    manifest = read_manifest(entry.path)
    _lines(_provenance(entry, manifest))
    for line in counts_lines(manifest["counts"]):
        console.print(line, style="dim", highlight=False, markup=False)
    timings = _timings(manifest)
    if timings is not None:
        console.print(timings)
    if entry.status != "complete":
        console.print(f"not evaluated: rank eval {entry.path}", markup=False, highlight=False)
        return
    import polars as pl

    with damaged_run_reported(entry.path):
        per_user = pl.read_parquet(entry.path / "per_user.parquet")
        table = summary_table(read_summary(entry.path), per_user, title="metrics")
    console.print(table.to_rich(console.width))
    evals = sorted(p.name for p in (entry.path / EVALS_DIR).glob("*") if p.is_dir())
    if evals:
        console.print(f"re-evaluations: {', '.join(evals)}", highlight=False, markup=False)


def _show_sweep(entry) -> None:
    from recsys_cli.results.store import read_json
    from recsys_cli.results.sweep_plot import point_label, short_keys

    sweep = read_json(entry.path / "sweep.json")
    short = short_keys(sweep["grid"])
    _lines(
        [
            ("path", str(entry.path)),
            ("kind", f"sweep, {entry.status}"),
            ("created", f"{_time(entry.created)} UTC"),
            ("recipe", sweep.get("recipe", "")),
            ("dataset", entry.dataset),
            ("grid", "; ".join(f"{k} = {v}" for k, v in sweep["grid"].items())),
            ("rows", ", ".join(sweep["rows"])),
            (
                "hypervolume",
                f"{sweep['hypervolume']:.6g} in ({', '.join(sweep['pareto_metrics'])}), reference "
                + ", ".join(f"{m}={v:.4f}" for m, v in sweep["reference"].items()),
            ),
        ]
    )
    metrics = list(sweep["entries"][0]["metrics"]) if sweep["entries"] else []
    table = Table(
        "#", "row", "grid", "front", *metrics, "run", title="points", title_justify="left"
    )
    table.columns[-1].overflow = "fold"
    for e in sweep["entries"]:
        table.add_row(
            str(e["point"]),
            Text(e["row"]),
            Text(point_label(e, short)),
            "*" if e["pareto"] else "",
            *(_number(e["metrics"][m]) for m in metrics),
            Text(e["run_dir"]),
        )
    console.print(table)
    if sweep.get("best"):
        best = sweep["best"]
        console.print(
            f"best: {best['row']} {point_label(best, short)} (run {best['run_dir']})",
            highlight=False,
            markup=False,
        )


def _show_study(entry) -> None:
    from recsys_cli.results.store import read_json

    if entry.status != "complete":
        raise UserError(
            f"{entry.path}: a study without tune.json (interrupted, or still running): "
            f"run `rank tune` again to resume it"
        )
    result = read_json(entry.path / "tune.json")
    metrics = result["metrics"]
    goals = ", ".join(f"{o['direction']} {o['metric']}" for o in result["objectives"])
    _lines(
        [
            ("path", str(entry.path)),
            ("kind", f"study, {entry.status}"),
            ("created", f"{_time(entry.created)} UTC"),
            ("recipe", result.get("recipe", "")),
            ("dataset", entry.dataset),
            ("objectives", goals + "".join(f" subject to {c}" for c in result["constraints"])),
            (
                "trials",
                "; ".join(
                    f"{s['name']}: " + ", ".join(f"{n} {k.lower()}" for k, n in s["trials"].items())
                    for s in result["studies"]
                ),
            ),
        ]
    )
    table = Table("row", "trial", *(f"{m} {part}" for m in metrics for part in ("val", "test")))
    for config in result["configurations"]:
        for row in config["rows"]:
            cells = []
            for m in metrics:
                cells += [_number(row["validation"][m]), _number(row["test"][m]["mean"])]
            table.add_row(Text(row["row"]), str(row["trial"]), *cells)
    console.print(table)


def _show_ope(entry) -> None:
    from recsys_cli.results.store import read_json

    manifest = read_json(entry.path / "manifest.json")
    logs = manifest.get("logs", {})
    _lines(
        _provenance(entry, manifest)
        + [("logs", f"{logs.get('name')}: {logs.get('rounds', 0):,} rounds, {logs.get('source')}")]
    )
    rows = read_json(entry.path / "estimates.json")
    table = Table("policy", "estimator", "estimate", "CI", "ess", title="estimates")
    for row in rows:
        low, high = row["ci"]
        table.add_row(
            Text(row["policy"]),
            row["estimator"],
            _number(row["estimate"]),
            f"[{_number(low)}, {_number(high)}]",
            "—" if row.get("ess") is None else f"{row['ess']:,.0f}",
        )
    console.print(table)


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
    show_kind = {
        "run": _show_run,
        "multi-seed": _show_run,
        "sweep": _show_sweep,
        "study": _show_study,
        "ope": _show_ope,
    }[entry.kind]
    if as_json:
        from recsys_cli.results.store import read_json

        files = [name for name in _JSON_FILES[entry.kind] if (entry.path / name).is_file()]
        payload = {name.removesuffix(".json"): read_json(entry.path / name) for name in files}
        print(json.dumps({"entry": entry.to_json(), **payload}, indent=2))
        return
    show_kind(entry)


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
    from recsys_cli.results.store import open_run_dir, results_root

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
            _number(d["a"]),
            _number(d["b"]),
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


def _leftovers(root: Path, depth: int = 3) -> list[Path]:
    """`.tmp-` folders at most `depth` levels under `root` whose writer is gone (the run
    folders, sweep points, study trials and re-evaluations of killed processes)."""
    from recsys_cli.results.store import TEMP_PREFIX, writer_gone

    found, level = [], [root]
    for _ in range(depth):
        below = []
        for folder in level:
            for child in folder.iterdir() if folder.is_dir() else ():
                if not child.is_dir() or child.is_symlink():
                    continue
                if child.name.startswith(TEMP_PREFIX):
                    found += [child] if writer_gone(child) else []
                else:
                    below.append(child)
        level = below
    return found


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
    from recsys_cli.results.store import results_root

    root = results_root(results_dir)
    if not root.is_dir():
        raise UserError(f"{root}: no such results dir; give --results-dir")
    if recipe is not None and older_than is None:
        raise UserError("--recipe: only with --older-than (which entries to remove)")
    before = parse_when(older_than, "--older-than") if older_than else None
    dead = _leftovers(root)
    freed = sum(size_of(p) for p in dead)
    for folder in dead:
        shutil.rmtree(folder, ignore_errors=True)
        console.print(f"removed {folder} (killed run)", highlight=False, markup=False)
    console.print(
        f"{len(dead)} leftover(s) of killed runs removed ({_size(freed)})",
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
        console.print(f"no entry created before {_time(before)} UTC", highlight=False)
        return
    for e in old:
        console.print(
            f"{_time(e.created)}  {e.kind:<10} {e.status:<9} {_size(e.size):>9}  {e.path}",
            highlight=False,
            markup=False,
        )
    total = _size(sum(e.size for e in old))
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
