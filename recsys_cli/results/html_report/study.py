"""The report section of a tuning study: history, trade-off and chosen configurations."""

from __future__ import annotations

from recsys_cli.errors import UserError
from recsys_cli.results.catalog import Entry
from recsys_cli.results.html_report.charts import history_plot, tradeoff_plot
from recsys_cli.results.html_report.markup import Raw, facts, num, table
from recsys_cli.results.html_report.page import Page


def study_section(page: Page, entry: Entry) -> None:
    """A tuning study: its objectives, each study's optimisation history on validation, the
    trade-off scatter with the feasible Pareto front for several objectives, and the chosen
    configurations on validation and test."""
    import numpy as np
    import polars as pl

    from recsys_cli.evaluation.pareto import pareto_mask
    from recsys_cli.results.readback import read_json

    if entry.status != "complete":
        raise UserError(
            f"{entry.path}: a study without tune.json: run `rank tune` again to finish it"
        )
    result = read_json(entry.path / "tune.json")
    objectives = result["objectives"]
    metric = objectives[0]["metric"]
    maximize = objectives[0]["direction"] == "maximize"
    trials = pl.read_parquet(entry.path / "trials.parquet").filter(pl.col("state") == "COMPLETE")
    studies = trials["study"].unique(maintain_order=True).to_list()
    records = []
    for name in studies:
        best = None
        part = trials.filter(pl.col("study") == name).sort("number")
        for row in part.iter_rows(named=True):
            value = row.get(f"validation/{metric}")
            feasible = row.get("feasible") is not False
            if value is not None and feasible:
                best = value if best is None else (max if maximize else min)(best, value)
            records.append(
                {
                    "study": name,
                    "trial": row["number"],
                    "value": value,
                    "best": best,
                    "feasible": "yes" if feasible else "no",
                }
            )
    goals = ", ".join(f"{o['direction']} {o['metric']}" for o in objectives)
    parts: list[str] = [
        facts(
            [
                ("directory", entry.path),
                ("created", entry.created.strftime("%Y-%m-%d %H:%M UTC")),
                ("recipe", result.get("recipe")),
                ("dataset", entry.dataset),
                ("objectives", goals),
                ("constraints", " and ".join(result.get("constraints", ()))),
                ("sampler", f"{result.get('sampler')}, seed {result.get('seed')}"),
                (
                    "trials",
                    "; ".join(
                        f"{s['name']}: "
                        + ", ".join(f"{n} {k.lower()}" for k, n in s["trials"].items())
                        for s in result["studies"]
                    ),
                ),
                (
                    "test",
                    "refit on training + validation"
                    if result.get("refit")
                    else "fitted on training",
                ),
            ]
        ),
        "<h3>Optimisation history (validation)</h3>",
        page.chart(
            history_plot(records, studies, metric),
            f"Each complete trial's validation {metric} and the best feasible value so far, one "
            "panel per study.",
        ),
    ]
    if len(objectives) >= 2:
        x_metric, y_metric = (o["metric"] for o in objectives[:2])
        values = trials.select(f"validation/{x_metric}", f"validation/{y_metric}").to_numpy()
        feasible = trials["feasible"].fill_null(True).to_numpy().astype(bool)
        higher = [o["direction"] == "maximize" for o in objectives[:2]]
        on_front = np.zeros(len(values), dtype=bool)
        on_front[feasible] = pareto_mask(values[feasible], higher)
        points = [
            {
                "label": f"{s} #{n}",
                "front": "Pareto-optimal" if front else "dominated",
                "feasible": "feasible" if ok else "infeasible",
                "x": float(v[0]),
                "y": float(v[1]),
                "x_low": float(v[0]),
                "x_high": float(v[0]),
                "y_low": float(v[1]),
                "y_high": float(v[1]),
            }
            for s, n, v, ok, front in zip(
                trials["study"], trials["number"], values, feasible, on_front, strict=True
            )
        ]
        order = np.argsort(values[on_front][:, 0])
        front_line = [
            {"x": float(x), "y": float(y), "order": i}
            for i, (x, y) in enumerate(values[on_front][order])
        ]
        parts += [
            "<h3>Trade-off (validation)</h3>",
            page.chart(
                tradeoff_plot(points, front_line, x_metric, y_metric),
                "Every complete trial in the first two objectives; red: the feasible Pareto front.",
            ),
        ]
    metrics = result["metrics"]
    body = []
    for config in result["configurations"]:
        for row in config["rows"]:
            cells = [row["row"], row["trial"]]
            for m in metrics:
                test = row["test"][m]
                cells += [
                    num(row["validation"][m]),
                    f"{num(test['mean'])} ± {num(test.get('stderr'))}",
                ]
            params = ", ".join(
                f"{k.rsplit('.', 1)[-1]}={v:.4g}"
                if isinstance(v, float)
                else f"{k.rsplit('.', 1)[-1]}={v}"
                for k, v in row["params"].items()
            )
            body.append([*cells, params, config.get("test_run", "")])
    headers = ["row", "trial"] + [f"{m} {part}" for m in metrics for part in ("validation", "test")]
    parts += [
        "<h3>Chosen configurations</h3>",
        Raw(
            '<div class="scroll">'
            + table([*headers, "parameters", "test run"], body, numeric_from=1)
            + "</div>"
        ),
        '<p class="note">validation: the trial\'s score; test: read once for the chosen '
        "configuration (± standard error).</p>",
    ]
    page.section(f"study: {entry.name}", parts)
