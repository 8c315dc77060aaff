"""The report section of a sweep: its settings, the trade-off with its Pareto front, entries."""

from __future__ import annotations

from recsys_cli.results.catalog import Entry
from recsys_cli.results.html_report.charts import tradeoff_plot
from recsys_cli.results.html_report.markup import Raw, esc, facts, num, table
from recsys_cli.results.html_report.page import Page


def sweep_section(page: Page, entry: Entry) -> None:
    """The sweep's settings, the trade-off scatter with the Pareto front (first two front
    metrics) and every entry's values."""
    import numpy as np

    from recsys_cli.evaluation.pareto import parse_constraint, staircase
    from recsys_cli.results.readback import read_json
    from recsys_cli.results.sweep_labels import number, point_label, short_keys

    sweep = read_json(entry.path / "sweep.json")
    short = short_keys(sweep["grid"])
    metrics = sweep["pareto_metrics"]
    higher = sweep["higher_is_better"]
    entries = sweep["entries"]
    parts: list[str] = [
        facts(
            [
                ("directory", entry.path),
                ("created", entry.created.strftime("%Y-%m-%d %H:%M UTC")),
                ("recipe", sweep.get("recipe")),
                ("dataset", entry.dataset),
                ("grid", "; ".join(f"{k} = {v}" for k, v in sweep["grid"].items())),
                ("rows", ", ".join(sweep["rows"])),
                ("runs", f"{sweep['runs']} run directories, {len(entries)} distinct entries"),
                (
                    "front metrics",
                    ", ".join(
                        f"{m} ({'higher' if higher[m] else 'lower'} is better)" for m in metrics
                    ),
                ),
                (
                    "hypervolume",
                    f"{sweep['hypervolume']:.6g}, reference "
                    + ", ".join(f"{m}={v:.4f}" for m, v in sweep["reference"].items())
                    + f" ({sweep['reference_rule']})",
                ),
                ("constraints", " and ".join(sweep.get("constraints", ()))),
            ]
        )
    ]
    if sweep.get("best"):
        best = sweep["best"]
        goal = "max" if sweep["maximize"] else "min"
        parts.append(
            f'<p class="note">best ({esc(goal)} {esc(sweep["objective"])}): '
            f"{esc(best['row'])} {esc(point_label(best, short))} = "
            f"{num(best['metrics'][sweep['objective']])} (run {esc(best['run_dir'])})</p>"
        )
    x_metric, y_metric = metrics[:2]
    points = []
    for e in entries:
        x, y = number(e["metrics"][x_metric]), number(e["metrics"][y_metric])
        # no standard error (catalogue-level metrics): a bar of no length
        se_x, se_y = (
            float(np.nan_to_num(number(e["stderr"].get(m)))) for m in (x_metric, y_metric)
        )
        points.append(
            {
                "label": f"{e['row']} {point_label(e, short)}".strip(),
                "front": "Pareto-optimal" if e["pareto"] else "dominated",
                "feasible": "feasible" if e["feasible"] else "infeasible",
                "x": x,
                "y": y,
                "x_low": x - se_x,
                "x_high": x + se_x,
                "y_low": y - se_y,
                "y_high": y + se_y,
            }
        )
    corners = staircase(
        np.array([[p["x"], p["y"]] for p in points]).reshape(len(points), 2),
        [higher[x_metric], higher[y_metric]],
        np.array([sweep["reference"][x_metric], sweep["reference"][y_metric]]),
    )
    front = [
        {"x": float(cx), "y": float(cy), "order": i} for i, (cx, cy) in enumerate(corners[:-1])
    ]
    reference = {
        "x": sweep["reference"][x_metric],
        "y": sweep["reference"][y_metric],
        "what": "hypervolume reference point",
    }
    more = f" (front over {', '.join(metrics)}: the first two drawn)" if len(metrics) > 2 else ""
    axes = {x_metric: "x", y_metric: "y"}
    limits = [
        {axes[c.metric]: c.value, "label": str(c)}
        for c in map(parse_constraint, sweep.get("constraints", ()))
        if c.metric in axes
    ]
    best = sweep.get("best")
    chosen = None
    if best is not None:
        label = f"{best['row']} {point_label(best, short)}"
        chosen = {"x": best["metrics"][x_metric], "y": best["metrics"][y_metric], "label": label}
    parts += [
        "<h3>Trade-off</h3>",
        page.chart(
            tradeoff_plot(
                points,
                front,
                f"{x_metric} ({'higher' if higher[x_metric] else 'lower'} is better)",
                f"{y_metric} ({'higher' if higher[y_metric] else 'lower'} is better)",
                reference,
                limits,
                chosen,
            ),
            "Each entry with ±1 standard error in both metrics (crosses: infeasible under the "
            "constraints); red: Pareto-optimal, joined by "
            "the staircase bounding the region they dominate up to the reference point (+), "
            f"whose area is the hypervolume{more}"
            + ("; dashed: the constraints" if limits else "")
            + ("; ringed: the chosen point" if chosen else "")
            + ".",
        ),
    ]
    shown = list(dict.fromkeys(metrics + list(entries[0]["metrics"]))) if entries else metrics
    body = [
        [
            e["point"],
            e["row"],
            point_label(e, short),
            "*" if e["pareto"] else "",
            "yes" if e["feasible"] else "no",
            *(f"{num(number(e['metrics'][m]))} ± {num(number(e['stderr'].get(m)))}" for m in shown),
            e["run_dir"],
        ]
        for e in entries
    ]
    parts += [
        "<h3>Entries</h3>",
        Raw(
            '<div class="scroll">'
            + table(["#", "row", "grid", "front", "feasible", *shown, "run"], body, numeric_from=5)
            + "</div>"
        ),
    ]
    page.section(f"sweep: {entry.name}", parts)
