"""Summary tables: blocks that fit the console and never cut a value; Markdown and CSV."""

import csv
import io

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from rich.text import Text

from recsys_cli.evaluation.evaluate import summarise
from recsys_cli.results.report import fit_tables, summary_table


def render(renderable, width: int) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [40, 80, 100])
def test_blocks_fit_the_width_and_keep_every_cell_whole(width):
    headers = ["metric", *(f"model-{i}" for i in range(9))]
    rows = [
        ([Text(f"metric-{r}"), *(Text(f"{r}.{i}123 ±0.0{i}45") for i in range(9))], None)
        for r in range(3)
    ]
    tables = fit_tables(headers, rows, width)
    text = "".join(render(t, width) for t in tables)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    for cells, _ in rows:
        for cell in cells:
            assert cell.plain in text  # on one line, never folded at these widths
    assert [t.columns[0].header.plain for t in tables] == ["metric"] * len(tables)
    shown = [c.header.plain for t in tables for c in t.columns[1:]]
    assert shown == headers[1:]  # every model once, in order
    assert len(tables) == {40: 9, 80: 3, 100: 2}[width]


def test_a_column_wider_than_the_console_folds_instead_of_cutting():
    tables = fit_tables(["m", "wide"], [([Text("x"), Text("0.123456789" * 3)], None)], 20)
    text = render(tables[0], 20)
    cell_lines = [line.split("│")[2].strip() for line in text.splitlines() if line[0] == "│"]
    assert len(cell_lines) > 1 and "".join(cell_lines) == "0.123456789" * 3


@pytest.fixture
def per_user():
    rng = np.random.default_rng(0)
    base = rng.random(300)
    parts = []
    for model, shift, noise in (("pop", 0.0, 0.0), ("EASE|x", 0.2, 0.05), ("knn", 0.01, 0.2)):
        for metric in ("ndcg", "exposure_share[tail]"):
            values = base + shift + rng.normal(0, noise, base.size) if noise else base
            parts.append(
                pl.DataFrame(
                    {
                        "model": model,
                        "user": np.arange(base.size),
                        "metric": metric,
                        "cutoff": np.full(base.size, 10, dtype=np.int32),
                        "value": values,
                    }
                )
            )
    return pl.concat(parts)


@pytest.fixture
def table(per_user):
    summary = summarise(per_user)
    catalogue = pl.DataFrame(
        {
            "model": ["pop", "EASE|x", "knn"],
            "metric": "coverage",
            "cutoff": pl.Series([10] * 3, dtype=summary["cutoff"].dtype),
            "mean": [0.1, 0.5, 0.3],
            "stderr": pl.Series([None] * 3, dtype=pl.Float64),
            "users": pl.Series([300] * 3, dtype=summary["users"].dtype),
        }
    )
    return summary_table(pl.concat([summary, catalogue]), per_user, baseline="pop", title="t[x]")


def test_bold_and_star_only_where_the_best_is_separable(table):
    headers, rows = table._grid("metrics")
    bold = {
        (cells[0].plain.strip(), headers[j])
        for cells, _ in rows
        for j, cell in enumerate(cells[1:], start=1)
        if any("bold" in str(span.style) for span in cell.spans)
    }
    # EASE is 0.2 ahead everywhere; coverage's 0.5 is the max but has no per-user values
    assert bold == {("ndcg@10", "EASE|x"), ("exposure_share[tail]@10", "EASE|x")}
    text = render(table.to_rich(100), 100)
    assert "exposure_share[tail]@10" in text and "t[x]" in text  # no markup swallowed
    assert "0.5000 —" in text and "0.5000*" not in text


def test_markdown_escapes_and_marks(table):
    markdown = table.to_markdown("models")
    lines = markdown.splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    assert header == "| model | ndcg@10 | exposure_share[tail]@10 | coverage@10 |"
    ease = next(line for line in lines if line.startswith("| EASE\\|x"))
    assert ease.count("**") == 4 and ease.count("\\*▲") == 2  # bold, best mark, above pop
    assert "\\* (bold): better than every other model" in markdown


def test_csv_keeps_full_precision_and_the_marks(table, per_user):
    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert len(rows) == 9
    ease = [r for r in rows if r["model"] == "EASE|x" and r["metric"] == "ndcg"][0]
    expected = per_user.filter((pl.col("model") == "EASE|x") & (pl.col("metric") == "ndcg"))
    assert float(ease["mean"]) == expected["value"].mean()
    assert ease["best"] == "true" and ease["vs_baseline"] == "higher"
    coverage = [r for r in rows if r["metric"] == "coverage"]
    assert {r["best"] for r in coverage} == {""} and {r["stderr"] for r in coverage} == {""}


def test_without_per_user_values_nothing_is_marked(per_user):
    table = summary_table(summarise(per_user))
    assert table.marks is None
    assert "**0." not in table.to_markdown() and "*" not in render(table.to_rich(120), 120)
