"""The report section of one run: provenance, metrics, paired comparison, slices, timings."""

from __future__ import annotations

import math
from pathlib import Path

from recsys_cli.errors import UserError
from recsys_cli.progress import Step, silent_step
from recsys_cli.results.catalog import Entry
from recsys_cli.results.html_report.charts import (
    Z95,
    dot_plot,
    forest_plot,
    interval_records,
    slice_plot,
    timing_plot,
)
from recsys_cli.results.html_report.markup import Raw, esc, facts, num, table
from recsys_cli.results.html_report.page import Page

SLICE_METRICS = 2  # accuracy metrics drawn per slice chart (the first ones of the run)
FOLD_ROWS = 40  # a longer comparison table starts folded (its plot above shows every row)


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def provenance(entry: Entry, manifest: dict) -> Raw:
    data = manifest.get("dataset", {})
    split = manifest.get("split", {})
    git = manifest.get("git") or {}
    versions = manifest.get("versions", {})
    seeds = manifest.get("seeds")
    return facts(
        [
            ("directory", entry.path),
            ("kind", f"{entry.kind}, {entry.status}"),
            ("created", entry.created.strftime("%Y-%m-%d %H:%M UTC")),
            ("recipe", manifest.get("recipe")),
            (
                "dataset",
                f"{data.get('name')}{' (SYNTHETIC)' if data.get('synthetic') else ''}, "
                f"{data.get('checksum')}, from {data.get('source')}"
                if data
                else "",
            ),
            ("split", f"{split.get('kind')}, {split.get('fingerprint')}" if split else ""),
            ("seed", f"{manifest.get('seed')}" + (f"; model seeds {seeds}" if seeds else "")),
            ("git", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}" if git else ""),
            ("versions", ", ".join(f"{k} {v}" for k, v in versions.items())),
            ("platform", manifest.get("platform")),
        ]
    )


def _metric_table(summary, marks) -> Raw:
    """metric@k x rows: the mean over its 95% interval (and the spread across seeds); the
    significantly best row in bold with *."""
    from recsys_cli.metrics import lower_is_better

    rows = summary["model"].unique(maintain_order=True).to_list()
    cells = {(r["metric"], r["cutoff"], r["model"]): r for r in summary.iter_rows(named=True)}
    keys = summary.select("metric", "cutoff").unique(maintain_order=True).rows()
    body = []
    for metric, cutoff in keys:
        label = f"{metric}@{cutoff}"
        lower = " <small>(lower is better)</small>" if lower_is_better(metric) else ""
        line = [Raw(esc(label) + lower)]
        for row in rows:
            cell = cells.get((metric, cutoff, row))
            if cell is None:
                line.append("")
                continue
            best = marks is not None and marks.best.get(label) == row
            text = esc(num(cell["mean"]) + (" *" if best else ""))
            text = f"<b>{text}</b>" if best else text
            below = []
            if cell["stderr"] is not None and math.isfinite(cell["stderr"]):
                half = Z95 * cell["stderr"]
                below.append(f"[{num(cell['mean'] - half)}, {num(cell['mean'] + half)}]")
            if cell.get("seed_sd") is not None:
                below.append(f"sd {num(cell['seed_sd'])}")
            line.append(Raw(text + "".join(f"<br><small>{esc(b)}</small>" for b in below)))
        body.append(line)
    return Raw(f'<div class="scroll">{table(["metric", *rows], body)}</div>')


def _slices(run_dir: Path, summary, per_user, step: Step) -> list[tuple[str, list[dict], list]]:
    """(kind, records, slice names) for user activity and item popularity, over the run's first
    accuracy metrics at its first cutoff (re-evaluated from the stored lists; no data needed)."""
    from recsys_cli.evaluation.slices import sliced_summaries
    from recsys_cli.evaluation.stored import evaluate_run
    from recsys_cli.metrics import metric_kind

    accuracy = [
        m for m in summary["metric"].unique(maintain_order=True) if metric_kind(m) == "accuracy"
    ]
    if not accuracy or per_user is None:
        return []
    metrics = tuple(accuracy[:SLICE_METRICS])
    cutoff = int(summary["cutoff"][0])
    out = []
    for kind in ("user_activity", "item_popularity"):

        def evaluate(truth_items, kind=kind):
            with step(f"report: {kind.replace('_', ' ')} slice") as progress:
                return evaluate_run(
                    run_dir, (cutoff,), metrics, truth_items=truth_items, progress=progress
                )

        slices = sliced_summaries(run_dir, kind, evaluate)
        records = [
            {"slice": name, **r} for name, part in slices.items() for r in interval_records(part)
        ]
        out.append((kind, records, list(slices)))
    return out


def run_section(
    page: Page,
    entry: Entry,
    baseline: str | None,
    correction: str,
    step: Step = silent_step,
) -> None:
    """Provenance, counts, metric table with intervals, dot plots, the paired comparison
    against the baseline (table and forest plot), slices and timings of one run."""
    import polars as pl

    from recsys_cli.evaluation.comparison import compare, pair_on_shared_users
    from recsys_cli.evaluation.marks import table_marks
    from recsys_cli.results.catalog import read_summary
    from recsys_cli.results.readback import damaged_run_reported, open_run_dir, read_manifest
    from recsys_cli.results.report import counts_lines
    from recsys_cli.results.significance import legend

    open_run_dir(entry.path, evaluated=True)
    manifest = read_manifest(entry.path)
    parts: list[str] = [provenance(entry, manifest), "<h3>What was evaluated</h3>"]
    parts += [f'<p class="note">{esc(line)}</p>' for line in counts_lines(manifest["counts"])]
    with damaged_run_reported(entry.path):
        summary = read_summary(entry.path)
        per_user = pl.read_parquet(entry.path / "per_user.parquet")
    rows = summary["model"].unique(maintain_order=True).to_list()
    labels = [
        f"{m}@{k}" for m, k in summary.select("metric", "cutoff").unique(maintain_order=True).rows()
    ]
    paired, left_out = pair_on_shared_users(per_user)
    tested = [
        f"{m}@{k}" for m, k in paired.select("metric", "cutoff").unique(maintain_order=True).rows()
    ]
    tested = [label for label in labels if label in tested]
    marks = table_marks(paired, labels) if tested else None
    users = summary["users"].max()
    parts += [
        "<h3>Metrics</h3>",
        _metric_table(summary, marks),
        f'<p class="note">mean over {users:,} users, below it the 95% interval (mean ± 1.96 '
        "standard errors)"
        + ("; sd: spread across seeds" if "seed_sd" in summary.columns else "")
        + "; bold with *: better than every other row (paired t-tests, Holm, α = 0.05). "
        "Catalogue-level metrics (coverage, gini, provider_gini) are one number per row.</p>",
        page.chart(
            dot_plot(interval_records(summary), rows, labels),
            "Each row's mean with its 95% interval, one panel per metric@k (own x range).",
        ),
    ]
    if len(rows) > 1 and tested:
        chosen = baseline or rows[0]
        if chosen not in rows:
            raise UserError(
                f"--baseline: no row {chosen!r} in {entry.path}; it has {', '.join(rows)}"
            )
        with step(f"report: paired tests against {chosen}") as progress:
            report = compare(paired, chosen, tested, correction, progress=progress)
        parts.append(f"<h3>Paired comparison against {esc(chosen)}</h3>")
        forest = [
            {
                "row": r.model,
                "metric": r.metric,
                "diff": r.diff,
                "low": r.ci_low,
                "high": r.ci_high,
                "p": r.t_pvalue_adjusted,
                "significant": "yes" if r.significant else "no",
            }
            for r in report.rows
        ]
        parts.append(
            page.chart(
                forest_plot(forest, [r for r in rows if r != chosen], tested, chosen),
                f"Paired difference to {chosen} per user with its 95% bootstrap interval; red: "
                f"significant after {report.correction} correction over the whole table.",
            )
        )
        fold = "" if len(report.rows) <= FOLD_ROWS else " (click to open)"
        parts += [
            f"<details{' open' if not fold else ''}><summary>{len(report.rows)} paired "
            f"comparisons with corrected p-values{fold}</summary>",
            _comparison_table(report),
            f'<p class="note">{esc(legend(report))}</p></details>',
        ]
        for label, (lost, where) in left_out.items():
            parts.append(
                f'<p class="note">{esc(label)}: {lost:,} users without a value in '
                f"{esc(', '.join(where))} are left out of its tests.</p>"
            )
    if not manifest.get("seeds"):
        slices = _slices(entry.path, summary, per_user, step)
        for kind, records, names in slices:
            caption = {
                "user_activity": "Mean over the users of each quartile of training activity "
                "(equal-count)",
                "item_popularity": "Mean with the held-out items restricted to each popularity "
                "band (head: the items of the first 50% of training interactions, mid: to 80%, "
                "tail: the rest)",
            }[kind]
            metrics = list(dict.fromkeys(r["metric"] for r in records))
            parts += [
                f"<h3>Slice: {esc(kind.replace('_', ' '))}</h3>",
                page.chart(
                    slice_plot(records, rows, names, metrics),
                    f"{caption}, with its 95% interval (thin line).",
                ),
            ]
    else:
        parts.append(
            '<p class="note">Slices: a multi-seed run is sliced per seed (rank report '
            f"{esc(entry.path)}/seeds/seed-N).</p>"
        )
    parts += _timings(page, manifest)
    page.section(f"{entry.kind}: {entry.name}", parts)


def _comparison_table(report) -> Raw:
    body = [
        [
            r.model,
            r.metric,
            num(r.baseline_mean),
            Raw(f"<b>{esc(num(r.model_mean))}</b>") if r.significant else num(r.model_mean),
            f"{r.diff:+.4f}",
            "—" if not math.isfinite(r.relative_diff) else f"{r.relative_diff:+.1%}",
            f"[{r.ci_low:+.4f}, {r.ci_high:+.4f}]",
            _p(r.t_pvalue),
            _p(r.t_pvalue_adjusted),
            _p(r.wilcoxon_pvalue_adjusted),
            num(r.effect_size, 3),
        ]
        for r in report.rows
    ]
    headers = ["row", "metric", report.baseline, "value", "diff", "rel.", "95% CI"]
    headers += ["p (t)", "p adj. (t)", "p adj. (Wilcoxon)", "d_z"]
    return Raw(f'<div class="scroll">{table(headers, body, numeric_from=2)}</div>')


def _timings(page: Page, manifest: dict) -> list[str]:
    timings = manifest.get("timings", {})
    per_seed = timings.get("seeds")
    models = timings.get("models") or (next(iter(per_seed.values()), {}) if per_seed else {}).get(
        "models", {}
    )
    if not models:
        return []
    rows = list(models)
    records = [
        {"row": row, "stage": stage, "seconds": models[row].get(f"{stage}_s", 0.0)}
        for row in rows
        for stage in ("fit", "recommend")
    ]
    totals = [
        (key.removesuffix("_s").replace("_", " "), f"{value:.2f} s")
        for key, value in timings.items()
        if key.endswith("_s") and isinstance(value, int | float)
    ]
    if "peak_memory_mib" in timings:
        totals.append(("peak memory", f"{timings['peak_memory_mib']:.0f} MiB"))
    seed_note = f" (seed {next(iter(per_seed))} of {len(per_seed)})" if per_seed else ""
    return [
        "<h3>Timings</h3>",
        facts(totals),
        page.chart(
            timing_plot(records, rows), f"Seconds to fit and to recommend per model{seed_note}."
        ),
        table(
            ["model", "fit (s)", "recommend (s)"],
            [
                [row, num(models[row].get("fit_s"), 3), num(models[row].get("recommend_s"), 3)]
                for row in rows
            ],
        ),
    ]
