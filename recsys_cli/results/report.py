"""Render evaluation summaries and run reports for the terminal (rich)."""

from __future__ import annotations

import polars as pl
from rich.table import Table


def metrics_table(summary: pl.DataFrame, title: str | None = None) -> Table:
    """metric@k as rows, models as columns, `mean ±stderr`; the best mean of each row in bold.

    Best = highest, or lowest for "lower is better" metrics (recsys_cli.metrics.LOWER_IS_BETTER).
    When the table holds more than the accuracy family, rows are grouped under accuracy /
    beyond-accuracy / business headings. Catalogue-level metrics have no stderr (shown as —).
    """
    from rich.markup import escape

    from recsys_cli.metrics import KINDS, lower_is_better, metric_kind

    models = summary["model"].unique(maintain_order=True).to_list()
    table = Table(title=title, title_justify="left")
    table.add_column("metric", style="cyan", no_wrap=True)
    for model in models:
        table.add_column(escape(model), justify="right")
    rows: dict[tuple, dict[str, tuple]] = {}
    for row in summary.iter_rows(named=True):
        rows.setdefault((row["metric"], row["cutoff"]), {})[row["model"]] = (
            row["mean"],
            row["stderr"],
            row.get("seed_sd"),
        )
    kinds = {key: metric_kind(key[0]) for key in rows}
    grouped = len(set(kinds.values())) > 1
    for kind in KINDS:
        keys = [key for key in rows if kinds[key] == kind]
        if grouped and keys:
            table.add_row(f"[bold]{kind}[/bold]", *([""] * len(models)), style="dim")
        for metric, cutoff in keys:
            by_model = rows[(metric, cutoff)]
            means = [m for m, _, _ in by_model.values() if m is not None and m == m]
            pick = min if lower_is_better(metric) else max
            best = pick(means) if means else None
            cells = []
            for model in models:
                if model not in by_model:
                    cells.append("")
                    continue
                mean, stderr, seed_sd = by_model[model]
                text = f"{mean:.4f}"
                if mean == best:
                    text = f"[bold]{text}[/bold]"
                spread = "—" if stderr is None else f"±{stderr:.4f}"
                if seed_sd is not None:
                    spread += f" sd {seed_sd:.4f}"
                cells.append(f"{text} [dim]{spread}[/dim]")
            label = escape(f"{metric}@{cutoff}")
            table.add_row(f"  {label}" if grouped else label, *cells)
    users = summary["users"].max()
    caption = f"mean ±standard error over {users:,} users; best per row in bold"
    if "seed_sd" in summary.columns:
        caption = (
            f"mean over seeds ±mean per-user standard error ({users:,} users), sd = spread "
            "across seeds; best per row in bold"
        )
    if any(lower_is_better(m) for m, _ in rows):
        caption += " (lowest for gini, provider_gini, miscalibration, arp, popularity_lift)"
    table.caption = caption
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
    leaked = counts.get("fit_after_first_heldout", 0)
    if leaked:
        lines.append(
            f"warning: {leaked:,} training interactions ({leaked / counts['fit_interactions']:.0%})"
            " are later than the earliest held-out one: this split lets the future into training"
            " (Ji et al., TOIS 2023); split.kind = 'temporal' is leak-free"
        )
    tied = counts.get("users_cut_inside_a_time_tie", 0)
    if tied:
        lines.append(
            f"{tied:,} users have several interactions at the time of their cut: which of them "
            "are held out is a seeded random choice (split.seed, else seed)"
        )
    part = counts["evaluated_part"]
    folded = counts.get(f"{part}_new_users_folded_in", 0)
    if folded:
        lines.append(
            f"folded in {folded:,} users who arrived after the cut, from their earliest held-out "
            f"interactions (split.fold_in); {counts[f'{part}_new_users_input_only']:,} more had "
            "too few interactions to keep a target"
        )
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
