"""No name given to `rank` touches anything outside its data dir, and no command destroys what it
did not create: every dataset command with a name that is a path, recipe names, a concurrent
evaluation of one run. Each refusal is one line on stderr with exit code 2."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner()

RECIPE = """
name = "tiny"
seed = 1
[dataset]
name = "{name}"
path = "{path}"
columns = {{ user = "uid", item = "track", timestamp = "ts" }}
[split]
kind = "leave_last"
[[models]]
name = "popularity"
label = "{label}"
[eval]
cutoffs = [5]
candidates = 10
"""


def rank(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` (links not followed) with its size and modification time."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            stat = (Path(root) / name).lstat()
            found[str((Path(root) / name).relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


def refused(result) -> str:
    """The one-line error of a refused command (exit code 2, no traceback)."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert message.startswith("error:") and "\n" not in message, message
    assert "Traceback" not in result.output
    return message


@pytest.fixture
def work(tmp_path):
    """A data dir holding a synthetic and a catalog dataset, with folders a bad name could hit
    inside the data dir and beside it, and a folder to import from."""
    data = tmp_path / "data"
    for victim in (
        data / "synthetic" / "kept",
        data / "x",
        data / "ml-100k",
        data / "a" / "b",
        tmp_path / "x",
        tmp_path / "src",
    ):
        victim.mkdir(parents=True)
        (victim / "file.txt").write_text(f"{victim.name} must survive")
    return tmp_path


BAD = ["../x", "../../x", "/abs", "a/b", "", ".", ".."]
COMMANDS = {
    "synth": lambda name, w: ["datasets", "synth", name, "--users", 3, "--items", 3,
                              "--interactions", 6, "--data-dir", w / "data"],
    "import": lambda name, w: ["datasets", "import", name, w / "src", "--data-dir", w / "data"],
    "remove": lambda name, w: ["datasets", "remove", name, "--data-dir", w / "data"],
    "prepare": lambda name, w: ["datasets", "prepare", name, "--no-download", "--data-dir",
                                w / "data"],
    "download": lambda name, w: ["datasets", "download", name, "--no-progress", "--data-dir",
                                 w / "data"],
}  # fmt: skip


@pytest.mark.parametrize("name", BAD)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_dataset_name_cannot_touch_anything_outside_the_data_dir(work, command, name):
    name = str(work / "x") if name == "/abs" else name
    before = snapshot(work)
    message = refused(rank(*COMMANDS[command](name, work)))
    assert "dataset name" in message
    assert snapshot(work) == before  # nothing written, nothing removed, inside or beside it


def test_synth_into_a_data_dir_whose_synthetic_folder_leads_out_is_refused(work):
    outside = work / "elsewhere"
    outside.mkdir()
    (work / "data2").mkdir()
    (work / "data2" / "synthetic").symlink_to(outside)
    before = snapshot(work)
    message = refused(rank("datasets", "synth", "ok", "--users", 3, "--data-dir", work / "data2"))
    assert "outside" in message
    assert snapshot(work) == before


def test_import_does_not_copy_what_links_lead_to_outside_the_folder(work):
    folder = work / "hetrec"
    folder.mkdir()
    (folder / "user_artists.dat").write_text("userID\tartistID\tweight\n1\t2\t3\n")
    (folder / "artists.dat").symlink_to(work / "x" / "file.txt")
    (folder / "loop").symlink_to(folder)
    result = rank("datasets", "import", "lastfm-2k", folder, "--data-dir", work / "data")
    assert result.exit_code == 0, result.output
    assert "links leading outside it: 1 (artists.dat)" in result.stderr
    assert "links back to an enclosing folder: 1 (loop)" in result.stderr
    copied = work / "data" / "lastfm-2k" / "extracted"
    assert sorted(p.name for p in copied.iterdir()) == ["user_artists.dat"]


@pytest.mark.parametrize(
    ("name", "label", "where"),
    [("../x", "pop", "dataset.name"), ("plays", "../../../x", "models[0].label")],
)
def test_recipe_names_that_are_paths_are_refused_before_anything_runs(
    work, interactions_csv, name, label, where
):
    recipe = work / "tiny.toml"
    recipe.write_text(RECIPE.format(name=name, path=interactions_csv, label=label))
    before = snapshot(work)
    message = refused(rank("run", recipe, "--results-dir", work / "results", "-q"))
    assert where in message
    assert snapshot(work) == before


def test_eval_racing_another_eval_of_the_run_keeps_the_first_and_saves_under_evals(
    work, interactions_csv
):
    recipe = work / "tiny.toml"
    recipe.write_text(RECIPE.format(name="plays", path=interactions_csv, label="pop"))
    trained = rank("train", recipe, "--results-dir", work / "results", "-q")
    assert trained.exit_code == 0, trained.output
    (run_dir,) = (work / "results").iterdir()
    # another `rank eval` of this run has placed per_user.parquet, not yet metrics.json
    theirs = pl.DataFrame(
        {"model": ["pop"], "user": ["u0"], "metric": ["ndcg"], "cutoff": [5], "value": [0.5]}
    )
    theirs.write_parquet(run_dir / "per_user.parquet")
    placed = (run_dir / "per_user.parquet").read_bytes()
    result = rank("eval", run_dir, "-q")
    assert result.exit_code == 0, result.output
    assert (run_dir / "per_user.parquet").read_bytes() == placed
    assert not (run_dir / "metrics.json").exists()  # left to the other evaluation
    (saved,) = (run_dir / "evals").iterdir()
    assert (saved / "metrics.json").is_file() and (saved / "per_user.parquet").is_file()
    assert not [p for p in run_dir.rglob("*") if p.name.startswith(".tmp-")]
