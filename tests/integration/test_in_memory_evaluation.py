"""`rank run` evaluates its lists in memory and writes its run directory once, reading nothing of
it back; `rank eval` of the stored run (lists, truth and side data loaded from the directory)
gives the same bytes; sweep points and seeds link the files they share instead of rewriting
them."""

import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.data import synthetic

runner = CliRunner()

RECIPE = """
name = "memory"
seed = 4
{seeds}
[dataset]
name = "mem"
[split]
kind = "temporal"
test = 0.2
[[models]]
name = "popularity"
[[models]]
name = "item_knn"
label = "ItemKNN"
params = {{ neighbors = 20 }}
[[models]]
name = "implicit_als"
label = "ALS"
params = {{ factors = 8, iterations = 3 }}
[groups]
tail = {{ popularity_below = 0.5 }}
emerging = {{ popularity_below = 0.5, by = "artist" }}
recent = {{ column = "year", at_least = 2015 }}
[[variants]]
name = "mmr"
models = ["ALS", "ItemKNN"]
chain = [{{ reranker = "mmr", lambda = 0.6, similarity = "genres" }}]
[[variants]]
name = "radio"
models = ["ALS"]
length = 15
chain = [
  {{ reranker = "blend", weights = {{ relevance = 1.0, "group:emerging" = 0.5 }} }},
  {{ reranker = "provider_cap", column = "artist", max_per = 2 }},
]
[[variants]]
name = "fair"
models = ["ItemKNN"]
chain = [{{ reranker = "fair_exposure", group = "tail", p = 0.9 }}]
[eval]
cutoffs = [5, 10]
candidates = 30
metrics = ["ndcg", "recall", "map", "mrr", "ild", "ild[artist]", "coverage", "gini",
           "novelty", "arp", "aplt", "popularity_lift", "miscalibration", "serendipity",
           "discovery", "provider_gini", "fair_marketplace", "exposure_share[tail]",
           "exposure_share[recent]"]
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    spec = synthetic.SynthSpec(users=300, items=200, interactions=12_000, seed=3)
    synthetic.save(synthetic.generate(spec, "mem"), spec, synthetic.synthetic_dir(root, "mem"))
    return root


def recipe_file(folder: Path, seeds: str = "") -> Path:
    path = folder / "memory.toml"
    path.write_text(RECIPE.format(seeds=seeds))
    return path


def rank(*args):
    return runner.invoke(app, [str(a) for a in args])


@contextlib.contextmanager
def reads_under(root: Path, monkeypatch):
    """Every read of a file under `root` while the block runs: polars' Parquet readers,
    numpy's loader and Python-level opens for reading (each a resolved path)."""
    seen: list[str] = []
    active = [True]
    root = root.resolve()

    def note(path) -> None:
        for one in path if isinstance(path, list | tuple) else [path]:
            if not isinstance(one, str | Path) or not active[0]:
                continue
            found = Path(one).resolve()
            if found.is_relative_to(root) and not found.is_dir():  # rmtree opens folders
                seen.append(str(found.relative_to(root)))

    def watching(real):
        def read(source, *args, **kwargs):
            note(source)
            return real(source, *args, **kwargs)

        return read

    for name in ("read_parquet", "scan_parquet", "read_parquet_schema", "read_parquet_metadata"):
        monkeypatch.setattr(pl, name, watching(getattr(pl, name)))
    monkeypatch.setattr(np, "load", watching(np.load))

    def hook(event, args):
        if event == "open" and active[0]:
            path, mode, flags = args
            reading = "r" in mode if isinstance(mode, str) else (flags & 3) != 1
            if reading and ("+" not in str(mode)) and not str(path).endswith(".owner"):
                note(path)

    sys.addaudithook(hook)  # cannot be removed: switched off by `active` instead
    try:
        yield seen
    finally:
        active[0] = False


def test_rank_run_reads_no_file_it_wrote(tmp_path, data_dir, monkeypatch):
    recipe = recipe_file(tmp_path)
    results = tmp_path / "r"
    with reads_under(results, monkeypatch) as seen:
        ran = rank("run", recipe, "--data-dir", data_dir, "--results-dir", results, "-q")
        assert ran.exit_code == 0, ran.output
        seeded = rank(
            "run", recipe, "--set", "seeds=[1, 2]", "--data-dir", data_dir,
            "--results-dir", results, "-q",
        )  # fmt: skip
        assert seeded.exit_code == 0, seeded.output
        swept = rank(
            "sweep", recipe, "--grid", "variants[0].chain[0].lambda=0.2,0.8",
            "--data-dir", data_dir, "--results-dir", results, "-q",
        )  # fmt: skip
        assert swept.exit_code == 0, swept.output
    assert seen == []
    # The check itself sees reads: rank eval reads the stored run back.
    with reads_under(results, monkeypatch) as seen:
        assert rank("eval", ran.stdout.strip(), "-q").exit_code == 0
    for name in ("recommendations.parquet", "test.parquet", "side/arrays.npz"):
        assert any(path.endswith(name) for path in seen), name


def test_eval_of_the_stored_run_equals_the_in_memory_evaluation(tmp_path, data_dir):
    ran = rank("run", recipe_file(tmp_path), "--data-dir", data_dir, "--results-dir", tmp_path)
    assert ran.exit_code == 0, ran.output
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    again = rank("eval", run_dir, "-q")
    assert again.exit_code == 0, again.output
    [stored] = (run_dir / "evals").iterdir()
    assert (stored / "metrics.json").read_bytes() == (run_dir / "metrics.json").read_bytes()
    assert_frame_equal(
        pl.read_parquet(stored / "per_user.parquet"),
        pl.read_parquet(run_dir / "per_user.parquet"),
        check_exact=True,
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())["models"]
    assert set(metrics) == {"popularity", "ItemKNN", "ALS", "ALS+mmr", "ItemKNN+mmr",
                            "ALS+radio", "ItemKNN+fair"}  # fmt: skip
    assert metrics["ALS+radio"]["provider_gini@10"]["stderr"] is None  # one value per row
    # Other cutoffs and metrics than the recipe's come from the stored side data as well.
    other = rank("eval", run_dir, "--metrics", "exposure_share[emerging],arp", "--cutoffs", "3")
    assert other.exit_code == 0, other.output


def test_sweep_points_and_seeds_link_their_shared_files(tmp_path, data_dir):
    swept = rank(
        "sweep", recipe_file(tmp_path), "--grid", "variants[0].chain[0].lambda=0.2,0.8",
        "--data-dir", data_dir, "--results-dir", tmp_path / "s", "-q",
    )  # fmt: skip
    assert swept.exit_code == 0, swept.output
    [sweep_dir] = (tmp_path / "s").iterdir()
    points = sorted(p for p in sweep_dir.iterdir() if (p / "manifest.json").is_file())
    assert len(points) == 2 and not [p for p in sweep_dir.iterdir() if p.name.startswith(".")]
    for name in ("candidates.parquet", "test.parquet", "side/items.parquet", "side/arrays.npz"):
        inodes = {(point / name).stat().st_ino for point in points}
        assert len(inodes) == 1, name  # one file, linked into every point
    for point in points:  # each point is a complete run that rank eval reproduces
        assert rank("eval", point, "-q").exit_code == 0
        [stored] = (point / "evals").iterdir()
        assert (stored / "metrics.json").read_bytes() == (point / "metrics.json").read_bytes()

    seeded = rank(
        "run", recipe_file(tmp_path), "--set", "seeds=[1, 2]", "--data-dir", data_dir,
        "--results-dir", tmp_path / "m", "-q",
    )  # fmt: skip
    assert seeded.exit_code == 0, seeded.output
    run_dir = Path(seeded.stdout.strip())
    seeds = [run_dir / "seeds" / f"seed-{s}" for s in (1, 2)]
    assert len({(d / "side" / "arrays.npz").stat().st_ino for d in seeds}) == 1
    top = pl.read_parquet(run_dir / "recommendations.parquet")
    for seed, sub in zip((1, 2), seeds, strict=True):
        mine = top.filter(pl.col("seed") == seed).drop("seed")
        assert_frame_equal(mine, pl.read_parquet(sub / "recommendations.parquet"))
