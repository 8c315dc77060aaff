"""Render evaluation summaries and run reports for the terminal (rich)."""

from __future__ import annotations

import polars as pl
from rich.table import Table


def metrics_table(summary: pl.DataFrame, title: str | None = None) -> Table:
    """metric@k as rows, models as columns, `mean ±stderr`; the best mean of each row in bold."""
    best = summary.group_by("metric", "cutoff").agg(pl.col("mean").max().alias("best"))
    summary = summary.join(best, on=["metric", "cutoff"], maintain_order="left")
    models = summary["model"].unique(maintain_order=True).to_list()
    table = Table(title=title, title_justify="left")
    table.add_column("metric", style="cyan", no_wrap=True)
    for model in models:
        table.add_column(model, justify="right")
    cells: dict[tuple, dict[str, str]] = {}
    for row in summary.iter_rows(named=True):
        text = f"{row['mean']:.4f} [dim]±{row['stderr']:.4f}[/dim]"
        if row["mean"] == row["best"]:
            text = f"[bold]{row['mean']:.4f}[/bold] [dim]±{row['stderr']:.4f}[/dim]"
        cells.setdefault((row["metric"], row["cutoff"]), {})[row["model"]] = text
    for (metric, cutoff), by_model in cells.items():
        table.add_row(f"{metric}@{cutoff}", *(by_model.get(m, "") for m in models))
    users = summary["users"].max()
    table.caption = f"mean ±standard error over {users:,} users; best per row in bold"
    return table


def counts_lines(counts: dict) -> list[str]:
    """What was evaluated and what was not, with the reason for each exclusion."""
    lines = [
        f"{counts['interactions']:,} interactions ({counts['users']:,} users x "
        f"{counts['items']:,} items) after filtering {counts['dataset_interactions']:,}; "
        f"split {counts['kind']}, evaluated on {counts['evaluated_part']}",
        f"evaluated {counts['evaluated_users']:,} users on {counts['pairs_evaluated']:,} held-out "
        f"(user, item) pairs",
    ]
    if counts["cold_users_excluded"]:
        lines.append(
            f"excluded {counts['cold_users_excluded']:,} held-out users with no training "
            f"history ({counts['pairs_cold_user']:,} pairs): no model can personalise for them"
        )
    if counts["pairs_seen_in_input"]:
        lines.append(
            f"removed {counts['pairs_seen_in_input']:,} held-out pairs the user already had in "
            f"training (repeat consumption; training items are never recommended)"
        )
    if counts["pairs_on_items_unseen_in_training"]:
        lines.append(
            f"kept {counts['pairs_on_items_unseen_in_training']:,} evaluated pairs on items with "
            f"no training interactions (cold items count against every model)"
        )
    return lines
