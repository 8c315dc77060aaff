"""Rich rendering for `rank runs`: the cells of its tables and the `show` view of each kind."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text

from recsys_cli.cli.common import console
from recsys_cli.errors import UserError


def human_size(n: int) -> str:
    from rich.filesize import decimal

    return decimal(n)


def utc_time(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def number(value) -> str:
    return "—" if value is None else f"{value:.4f}"


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
        ("created", f"{utc_time(entry.created)} UTC"),
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
    from recsys_cli.results.readback import damaged_run_reported, open_run_dir, read_manifest
    from recsys_cli.results.report import counts_lines, summary_table

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
    from recsys_cli.results.readback import read_json
    from recsys_cli.results.sweep_labels import point_label, short_keys

    sweep = read_json(entry.path / "sweep.json")
    short = short_keys(sweep["grid"])
    _lines(
        [
            ("path", str(entry.path)),
            ("kind", f"sweep, {entry.status}"),
            ("created", f"{utc_time(entry.created)} UTC"),
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
            *(number(e["metrics"][m]) for m in metrics),
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
    from recsys_cli.results.readback import read_json

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
            ("created", f"{utc_time(entry.created)} UTC"),
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
                cells += [number(row["validation"][m]), number(row["test"][m]["mean"])]
            table.add_row(Text(row["row"]), str(row["trial"]), *cells)
    console.print(table)


def _show_ope(entry) -> None:
    from recsys_cli.results.readback import read_json

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
            number(row["estimate"]),
            f"[{number(low)}, {number(high)}]",
            "—" if row.get("ess") is None else f"{row['ess']:,.0f}",
        )
    console.print(table)


def show_entry(entry) -> None:
    """Print the `rank runs show` view of a catalog entry, by its kind."""
    {
        "run": _show_run,
        "multi-seed": _show_run,
        "sweep": _show_sweep,
        "study": _show_study,
        "ope": _show_ope,
    }[entry.kind](entry)
