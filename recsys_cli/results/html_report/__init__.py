"""`rank report`: one self-contained HTML page for team reviews, with plots.

Charts are Vega-Lite specifications built with Altair and drawn in the page by vega-embed; the
Vega, Vega-Lite and vega-embed JavaScript comes from the vl-convert-python wheel
(`vl_convert.javascript_bundle()`, about 0.9 MB) and is inlined with every chart's data, so the
page opens with no network access. Tables are plain HTML. Error bars are 95% normal intervals of
the mean over users, mean ± 1.96 · standard error; paired comparisons are those of `rank
compare` (statistics.compare: paired t-test and Wilcoxon with Holm or Benjamini-Hochberg
correction over the table, paired bootstrap CI of the difference).

Each chart is a `<div class="chart" data-chart>`; once drawn it gets `data-rendered`, and a
chart that fails shows its error in place and gets `data-error` (the browser test reads both).
"""

from __future__ import annotations

from collections.abc import Sequence

from recsys_cli.progress import Step, silent_step
from recsys_cli.results.catalog import Entry
from recsys_cli.results.html_report.ope import ope_section
from recsys_cli.results.html_report.page import Page
from recsys_cli.results.html_report.run import run_section
from recsys_cli.results.html_report.study import study_section
from recsys_cli.results.html_report.sweep import sweep_section


def build_report(
    entries: Sequence[Entry],
    *,
    title: str | None = None,
    baseline: str | None = None,
    correction: str = "holm",
    step: Step = silent_step,
) -> str:
    """The HTML page of `entries` (runs, sweeps, studies, OPE runs), one section each."""
    page = Page(title or "rank report: " + ", ".join(e.name for e in entries))
    for entry in entries:
        if entry.kind in ("run", "multi-seed"):
            run_section(page, entry, baseline, correction, step)
        elif entry.kind == "sweep":
            sweep_section(page, entry)
        elif entry.kind == "study":
            study_section(page, entry)
        else:
            ope_section(page, entry)
    with step("report: page"):
        return page.render()
