"""Render evaluation summaries for the terminal (rich), Markdown and CSV.

Terminal tables never cut a number: their columns are split into stacked blocks that each fit
the console width (the label column repeated in each), so a pipe (80 columns) or a narrow
terminal still shows every value in full; a column wider than the whole console folds its cells.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
from rich.console import Group
from rich.table import Table
from rich.text import Text

from recsys_cli.errors import UserError

if TYPE_CHECKING:
    from recsys_cli.evaluation.marks import TableMarks

FORMATS = ("table", "markdown", "csv", "json")
LAYOUTS = ("metrics", "models")
BEST_MARK = "*"
HIGHER_MARK = "▲"
LOWER_MARK = "▼"


def fit_tables(
    headers: Sequence[str],
    rows: Sequence[tuple[Sequence[Text], str | None]],
    width: int,
    *,
    fixed: int = 1,
    title: str | None = None,
) -> list[Table]:
    """Tables of `rows` (cells, row style) whose first `fixed` columns repeat in each and whose
    other columns are packed, in order, into blocks no wider than `width`.

    A column takes its widest cell plus 3 (padding and rule), a table 1 more (its left edge).
    """
    need = [
        max([Text(header).cell_len, *(cells[j].cell_len for cells, _ in rows)]) + 3
        for j, header in enumerate(headers)
    ]
    room = width - 1 - sum(need[:fixed])
    blocks: list[list[int]] = [[]]
    used = 0
    for j in range(fixed, len(headers)):
        if blocks[-1] and used + need[j] > room:
            blocks.append([])
            used = 0
        blocks[-1].append(j)
        used += need[j]
    tables = []
    for n, block in enumerate(blocks):
        columns = [*range(fixed), *block]
        table = Table(title=Text(title) if title and n == 0 else None, title_justify="left")
        for j in columns:
            table.add_column(
                Text(headers[j]), justify="left" if j < fixed else "right", overflow="fold"
            )
        for cells, style in rows:
            table.add_row(*(cells[j] for j in columns), style=style)
        tables.append(table)
    return tables


def _number(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4f}"


@dataclass(frozen=True)
class SummaryTable:
    """A summary (models x metric@k: mean, stderr, users[, seed_sd]) with significance marks.

    `marks` is None where no per-user values exist (slices): then nothing is marked or bold.
    """

    summary: pl.DataFrame
    marks: TableMarks | None
    title: str | None = None

    @property
    def models(self) -> list[str]:
        return self.summary["model"].unique(maintain_order=True).to_list()

    @property
    def keys(self) -> list[tuple[str, int]]:
        return self.summary.select("metric", "cutoff").unique(maintain_order=True).rows()

    def _cells(self) -> dict[tuple[str, int, str], dict]:
        return {
            (r["metric"], r["cutoff"], r["model"]): r for r in self.summary.iter_rows(named=True)
        }

    def _is_best(self, label: str, model: str) -> bool:
        return self.marks is not None and self.marks.best.get(label) == model

    def _marks(self, label: str, model: str) -> str:
        if self.marks is None:
            return ""
        side = self.marks.versus.get((label, model), 0)
        return (BEST_MARK if self._is_best(label, model) else "") + {
            1: HIGHER_MARK,
            -1: LOWER_MARK,
            0: "",
        }[side]

    def _spread(self, row: dict) -> str:
        spread = "—" if row["stderr"] is None else f"±{row['stderr']:.4f}"
        if row.get("seed_sd") is not None:
            spread += f" sd {row['seed_sd']:.4f}"
        return spread

    def _value_text(self, label: str, model: str, row: dict | None, spread: bool) -> Text:
        if row is None:
            return Text("")
        text = Text()
        text.append(_number(row["mean"]), style="bold" if self._is_best(label, model) else "")
        text.append(self._marks(label, model))
        if spread:
            text.append(f" {self._spread(row)}", style="dim")
        return text

    def _grid(self, layout: str) -> tuple[list[str], list[tuple[list[Text], str | None]]]:
        """Headers and rows of the terminal table: metric@k rows (with family headings when
        several families are shown) or, ranx-style, model rows with the mean only."""
        from recsys_cli.metrics import KINDS, metric_kind

        cells, models, keys = self._cells(), self.models, self.keys
        labels = [f"{m}@{k}" for m, k in keys]
        if layout == "models":
            rows = [
                (
                    [Text(model, style="cyan")]
                    + [
                        self._value_text(label, model, cells.get((m, k, model)), spread=False)
                        for (m, k), label in zip(keys, labels, strict=True)
                    ],
                    None,
                )
                for model in models
            ]
            return ["model", *labels], rows
        kinds = {key: metric_kind(key[0]) for key in keys}
        grouped = len(set(kinds.values())) > 1
        rows = []
        for kind in KINDS:
            chosen = [
                (key, label) for key, label in zip(keys, labels, strict=True) if kinds[key] == kind
            ]
            if grouped and chosen:
                rows.append(([Text(kind, style="bold"), *[Text("")] * len(models)], "dim"))
            for (m, k), label in chosen:
                name = Text(f"  {label}" if grouped else label, style="cyan")
                values = [
                    self._value_text(label, model, cells.get((m, k, model)), spread=True)
                    for model in models
                ]
                rows.append(([name, *values], None))
        return ["metric", *models], rows

    def legend(self, layout: str = "metrics") -> list[str]:
        """What the numbers, marks and bold mean, one line each."""
        from recsys_cli.metrics import lower_is_better

        users = self.summary["users"].max()
        if layout == "models":
            lines = [f"mean over {users:,} users (standard errors: --rows metrics or --format csv)"]
        elif "seed_sd" in self.summary.columns:
            lines = [
                f"mean over seeds ±mean per-user standard error ({users:,} users), sd = spread "
                "across seeds"
            ]
        else:
            lines = [f"mean ±standard error over {users:,} users"]
        labels = [f"{m}@{k}" for m, k in self.keys]
        marks = self.marks
        if marks is None:
            lines.append("no per-user values here: no significance tests, nothing marked")
        else:
            if marks.n_best_tests:
                lines.append(
                    f"{BEST_MARK} (bold): better than every other model, paired t-test, "
                    f"Holm-adjusted p < {marks.alpha:g} over the {marks.n_best_tests} tests of "
                    f"the best against the others; a row without {BEST_MARK} has no separable best"
                )
            if marks.baseline is not None:
                lines.append(
                    f"{HIGHER_MARK} / {LOWER_MARK}: mean higher / lower than {marks.baseline}, "
                    f"paired t-test, Holm-adjusted p < {marks.alpha:g} over "
                    f"{marks.n_baseline_tests} tests"
                )
            untested = [label for label in labels if label not in marks.tested]
            if untested:
                lines.append(
                    f"{', '.join(untested)}: one value per model (catalogue level), not tested"
                )
        lower = [m for m in dict.fromkeys(m for m, _ in self.keys) if lower_is_better(m)]
        if lower:
            lines.append(f"lower is better: {', '.join(lower)}")
        return lines

    def to_rich(self, width: int, layout: str = "metrics") -> Group:
        """Tables that fit `width` columns (see `fit_tables`), then the legend."""
        headers, rows = self._grid(layout)
        tables = fit_tables(headers, rows, width, title=self.title)
        legend = [Text(line, style="dim") for line in self.legend(layout)]
        return Group(*tables, *legend)

    def to_markdown(self, layout: str = "metrics") -> str:
        """A GitHub-flavoured Markdown table (best values in bold) followed by the legend."""
        headers, rows = self._grid(layout)
        lines = [
            "| " + " | ".join(_markdown(h) for h in headers) + " |",
            "| --- |" + " ---: |" * (len(headers) - 1),
        ]
        for cells, _ in rows:
            lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
        if self.title:
            lines.insert(0, f"**{_markdown_text(self.title)}**\n")
        legend = [_markdown_text(line) for line in self.legend(layout)]
        return "\n".join([*lines, "", "  \n".join(legend)]) + "\n"

    def to_csv(self) -> str:
        """One line per model x metric@k (and slice) at full precision, with `best` (true where
        the model is significantly best, empty where untested) and `vs_baseline` (higher /
        lower)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        lead = [c for c in ("slice",) if c in self.summary.columns]
        extra = [c for c in ("seed_sd",) if c in self.summary.columns]
        writer.writerow(
            [*lead, "model", "metric", "cutoff", "mean", "stderr", "users", *extra, "best"]
            + ["vs_baseline"]
        )
        for row in self.summary.iter_rows(named=True):
            label = f"{row['metric']}@{row['cutoff']}"
            tested = self.marks is not None and label in self.marks.tested
            side = self.marks.versus.get((label, row["model"]), 0) if self.marks else 0
            writer.writerow(
                [
                    *(row[c] for c in lead),
                    row["model"],
                    row["metric"],
                    row["cutoff"],
                    *(_full(row[c]) for c in ("mean", "stderr", "users", *extra)),
                    str(self._is_best(label, row["model"])).lower() if tested else "",
                    {1: "higher", -1: "lower", 0: ""}[side],
                ]
            )
        return buf.getvalue()


def _full(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _markdown(text: str) -> str:
    return text.replace("|", r"\|")


def _markdown_cell(cell: Text) -> str:
    """A cell's text with its bold spans as **…** and Markdown's special characters escaped."""
    plain, out, at = cell.plain, [], 0
    if "bold" in str(cell.style).split():
        return f"**{_markdown_text(plain.strip())}**" if plain.strip() else ""
    for span in sorted(cell.spans, key=lambda s: s.start):
        if "bold" in str(span.style).split() and span.end > span.start:
            out += [
                _markdown_text(plain[at : span.start]),
                f"**{_markdown_text(plain[span.start : span.end])}**",
            ]
            at = span.end
    return "".join([*out, _markdown_text(plain[at:])]).strip()


def _markdown_text(text: str) -> str:
    return _markdown(text).replace("*", r"\*")


def summary_table(
    summary: pl.DataFrame,
    per_user: pl.DataFrame | None = None,
    *,
    baseline: str | None = None,
    title: str | None = None,
    alpha: float = 0.05,
) -> SummaryTable:
    """The summary with significance marks from `per_user` (see evaluation.marks.table_marks)."""
    from recsys_cli.evaluation.comparison import pair_on_shared_users
    from recsys_cli.evaluation.marks import table_marks

    models = summary["model"].unique(maintain_order=True).to_list()
    if baseline is not None and baseline not in models:
        raise UserError(f"--baseline: no model {baseline!r}; the run holds {', '.join(models)}")
    marks = None
    if per_user is not None:
        labels = [
            f"{m}@{k}"
            for m, k in summary.select("metric", "cutoff").unique(maintain_order=True).rows()
        ]
        paired, _ = pair_on_shared_users(per_user)
        marks = table_marks(paired, labels, baseline=baseline, alpha=alpha)
    return SummaryTable(summary, marks, title)


def counts_lines(counts: dict) -> list[str]:
    """What was evaluated and what was not, with the reason for each exclusion."""
    lines = [
        f"{counts['interactions']:,} interactions ({counts['users']:,} users x "
        f"{counts['items']:,} items) after filtering {counts['dataset_interactions']:,}; "
        f"split {counts['kind']}, evaluated on {counts['evaluated_part']}",
        f"evaluated {counts['evaluated_users']:,} users on {counts['pairs_evaluated']:,} held-out "
        f"(user, item) pairs",
    ]
    for key, what in (
        ("source_rows_without_user_id", "rows without a user id from the interactions file"),
        ("source_rows_without_item_id", "rows without an item id from the interactions file"),
        ("items_rows_without_id", "rows without an item id from the items file"),
    ):
        if counts.get(key):
            lines.append(f"dropped {counts[key]:,} {what} (blank, null or NaN ids)")
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
