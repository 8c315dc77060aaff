"""The report section of an off-policy evaluation: the logs and every policy's estimates."""

from __future__ import annotations

from recsys_cli.results.catalog import Entry
from recsys_cli.results.html_report.charts import dot_plot, interval
from recsys_cli.results.html_report.markup import Raw, facts, num, table
from recsys_cli.results.html_report.page import Page
from recsys_cli.results.html_report.run import provenance


def ope_section(page: Page, entry: Entry) -> None:
    """An off-policy evaluation: the logs, and every policy's estimate per estimator with its
    bootstrap interval (the logging policy's on-policy value as a reference line)."""
    from recsys_cli.results.readback import read_json

    manifest = read_json(entry.path / "manifest.json")
    rows = read_json(entry.path / "estimates.json")
    logs = manifest.get("logs", {})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    estimators = list(dict.fromkeys(r["estimator"] for r in rows))
    records = [
        {
            "row": r["estimator"],
            "metric": r["policy"],
            "mean": r["estimate"],
            **interval(r["estimate"], *r["ci"]),
        }
        for r in rows
    ]
    confidence = manifest.get("confidence", 0.95)
    parts: list[str] = [
        provenance(entry, manifest),
        facts(
            [
                (
                    "logs",
                    f"{logs.get('name')}: {logs.get('rounds', 0):,} rounds, {logs.get('source')}",
                ),
                ("logged reward", logs.get("on_policy_value")),
                ("bootstrap", f"{manifest.get('bootstrap')} resamples, {confidence:.0%} intervals"),
            ]
        ),
        page.chart(
            dot_plot(records, estimators, policies, x_title="estimated value"),
            f"Each estimator's value of each policy (one panel per policy) with its "
            f"{confidence:.0%} bootstrap interval.",
        ),
        Raw(
            '<div class="scroll">'
            + table(
                ["policy", "estimator", "estimate", "interval", "stderr", "ess", "max weight"],
                [
                    [
                        r["policy"],
                        r["estimator"],
                        num(r["estimate"]),
                        f"[{num(r['ci'][0])}, {num(r['ci'][1])}]",
                        num(r.get("stderr")),
                        "—" if r.get("ess") is None else f"{r['ess']:,.0f}",
                        num(r.get("max_weight"), 2),
                    ]
                    for r in rows
                ],
                numeric_from=2,
            )
            + "</div>"
        ),
    ]
    page.section(f"ope: {entry.name}", parts)
