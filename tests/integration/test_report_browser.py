"""`rank report`: one self-contained HTML page, checked as a file and opened in headless
Chromium (the browser tests are marked `browser` and skip where no chromium is installed)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from stored_runs import rank

from recsys_cli.results.html_report.charts import Z95

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None
)
MAX_BYTES = 5 * 2**20


@pytest.fixture(scope="module")
def pages(stored, tmp_path_factory):
    """The report of a run with a rerank variant, a sweep and a multi-seed run; returns
    (results dir, {key: path}) with the page as "page"."""
    results, _, made = stored
    page = tmp_path_factory.mktemp("report") / "out" / "report.html"
    result = rank(
        "report",
        made["a"],
        made["sweep"].name,
        made["seeds"],
        "--results-dir",
        results,
        "-o",
        page,
        "-q",
    )
    assert result.exit_code == 0, result.output
    return results, {**made, "run": made["a"], "page": page}


def specs(page: str) -> dict:
    """The chart specifications the page embeds, by placeholder id."""
    text = re.search(r'<script id="chart-specs" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(text.group(1).replace("<\\/", "</"))


def test_the_page_is_one_self_contained_file_under_5_mb(pages):
    _, made = pages
    page = made["page"].read_text(encoding="utf-8")
    assert made["page"].stat().st_size < MAX_BYTES
    assert list(made["page"].parent.iterdir()) == [made["page"]]  # nothing beside it
    # nothing is fetched: no external scripts, styles, images or frames in the markup
    markup = re.sub(r"(<script[^>]*>).*?</script>", r"\1</script>", page, flags=re.S)
    assert not re.search(r"<(script|img|iframe|embed|object)[^>]*\s(src|data)=", markup)
    assert "<link" not in markup and "@import" not in markup and "url(" not in markup
    assert "window.vegaEmbed=" in page  # the library is inlined
    charts = specs(page)
    placeholders = re.findall(r'<div class="chart" id="(chart-\d+)" data-chart>', page)
    assert placeholders == list(charts)
    # run: metric dots, paired comparison, two slices, timings; multi-seed: the same but
    # slices; sweep: the trade-off
    assert len(charts) == 5 + 3 + 1

    def data_urls(value):
        if isinstance(value, dict):
            return ("url" in value and "values" not in value) + sum(map(data_urls, value.values()))
        return sum(map(data_urls, value)) if isinstance(value, list) else 0

    assert data_urls(charts) == 0  # every chart's data is inline
    for name in ("run", "seeds", "sweep"):
        assert f"{made[name].name}</a>" in page  # one section each, in the contents
    assert "sha256:" in page and "Paired comparison against popularity" in page


def test_the_numbers_on_the_page_are_the_runs(pages):
    _, made = pages
    page = made["page"].read_text(encoding="utf-8")
    metrics = json.loads((made["run"] / "metrics.json").read_text())["models"]
    cell = metrics["EASE"]["ndcg@10"]
    half = Z95 * cell["stderr"]
    text = f"{cell['mean']:.4f}<br><small>[{cell['mean'] - half:.4f}, {cell['mean'] + half:.4f}]"
    assert text in page
    charts = specs(page)
    dots = charts["chart-1"]["data"]["values"]
    ease = next(d for d in dots if d["row"] == "EASE" and d["metric"] == "ndcg@10")
    assert (ease["mean"], ease["low"], ease["high"]) == pytest.approx(
        (cell["mean"], cell["mean"] - half, cell["mean"] + half)
    )
    coverage = next(d for d in dots if d["metric"] == "coverage@10")
    assert coverage["low"] == coverage["high"] == coverage["mean"]  # no interval, no NaN
    # user-activity slices partition the evaluated users: their user-weighted means are the
    # run's means (law of total expectation)
    activity = next(
        c["data"]["values"]
        for c in charts.values()
        if any(str(v.get("slice", "")).startswith("q1:") for v in c["data"]["values"])
    )
    for row in ("popularity", "EASE"):
        part = [v for v in activity if v["row"] == row and v["metric"] == "ndcg@5"]
        users = sum(v["users"] for v in part)
        assert users == metrics[row]["ndcg@5"]["users"]
        weighted = sum(v["mean"] * v["users"] for v in part) / users
        assert weighted == pytest.approx(metrics[row]["ndcg@5"]["mean"])
    # the sweep's trade-off: one point per entry with the sweep's values, front marked
    sweep = json.loads((made["sweep"] / "sweep.json").read_text())
    tradeoff = next(c for c in charts.values() if "layer" in c and c.get("width") == 620)
    points = next(
        layer["data"]["values"]
        for layer in tradeoff["layer"]
        if "data" in layer and any("front" in v for v in layer["data"]["values"])
    )
    assert [(p["x"], p["y"]) for p in points] == [
        (e["metrics"]["ndcg@10"], e["metrics"]["ild@10"]) for e in sweep["entries"]
    ]
    assert [p["front"] == "Pareto-optimal" for p in points] == [
        e["pareto"] for e in sweep["entries"]
    ]
    per_user = pl.read_parquet(made["run"] / "per_user.parquet")
    assert per_user["model"].n_unique() == 4  # every row entered the paired comparison


def test_bad_input_is_one_line_with_exit_code_2(pages, tmp_path):
    results, made = pages
    killed = results / ".tmp-20260101T000000Z-stored-000000"
    killed.mkdir(exist_ok=True)
    cases = [
        (("report", made["trained"]), "a trained run"),
        (("report", killed), "an unfinished run"),
        (("report", tmp_path), "not a run directory"),
        (("report", made["run"], "-o", tmp_path), "--output: "),
        (("report", made["run"], "--baseline", "nope", "-o", tmp_path / "x.html"), "--baseline"),
        (("report", made["run"], "--correction", "bonferroni"), "--correction"),
    ]
    try:
        for args, message in cases:
            result = rank(*args, "--results-dir", results)
            assert result.exit_code == 2, (args, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and message in lines[0], (args, result.stderr)
    finally:
        killed.rmdir()
    assert not (tmp_path / "x.html").exists()


def chromium(*options: str, page: Path) -> subprocess.CompletedProcess:
    """Headless Chromium on `page` with no network, profile or first-run work; scripts run for
    up to 10 s of virtual time first; console messages go to stderr."""
    profile = page.parent / "chromium-profile"
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            *options,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")
def test_every_plot_renders_in_headless_chromium(pages):
    _, made = pages
    page = made["page"]
    opened = chromium("--dump-dom", page=page)
    dom = opened.stdout
    console = [line for line in opened.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no errors, warnings or logs from the page's scripts
    assert 'data-charts="done"' in dom
    assert re.search(r'<div id="report-errors"></div>', dom)
    charts = re.findall(r'<div class="chart[^"]*" id="(chart-\d+)"[^>]*>', dom)
    assert len(charts) == len(specs(page.read_text(encoding="utf-8")))
    for chart in charts:
        opening = re.search(rf'<div class="chart[^"]*" id="{chart}"[^>]*>', dom).group(0)
        assert 'data-rendered="true"' in opening and "data-error" not in opening, opening
        drawn = dom[dom.index(opening) :].split('<div class="chart', 2)[1]
        assert "<svg" in drawn and 'class="marks"' in drawn, chart
    shot = page.parent / "report.png"
    chromium("--window-size=1400,2400", f"--screenshot={shot}", page=page)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one (kept as an artifact)
