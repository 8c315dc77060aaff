"""Sequential models through `rank run`: time order reaches them; RecBole files stay in the run."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner()

SEQUENTIAL = """
name = "sequential-local"
seed = 3
[dataset]
name = "plays"
path = "{path}"
columns = {{ user = "uid", item = "track", timestamp = "ts", weight = "plays" }}
[split]
kind = "leave_last"
[[models]]
name = "popularity"
[[models]]
name = "markov"
[[models]]
name = "sknn"
{extra}
[eval]
cutoffs = [5]
candidates = 10
"""


def run(tmp_path, csv, extra=""):
    recipe = tmp_path / "seq.toml"
    recipe.write_text(SEQUENTIAL.format(path=csv, extra=extra))
    return runner.invoke(app, ["run", str(recipe), "--results-dir", str(tmp_path / "r"), "--json"])


def test_sequential_models_run_without_torch(tmp_path, interactions_csv):
    result = run(tmp_path, interactions_csv)
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["models"]) == {"popularity", "markov", "sknn"}


@pytest.mark.recbole
@pytest.mark.slow
def test_recbole_model_writes_only_inside_the_run_directory(tmp_path, interactions_csv):
    before = set(os.listdir(Path.cwd()))
    extra = (
        '[[models]]\nname = "sasrec"\nparams = { epochs = 1, max_len = 5, '
        "embedding_size = 8, n_layers = 1, n_heads = 2, inner_size = 16, num_threads = 1 }"
    )
    result = run(tmp_path, interactions_csv, extra)
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    assert "sasrec" in json.loads(result.stdout)["models"]
    assert (run_dir / "models" / "sasrec").is_dir()
    assert set(os.listdir(Path.cwd())) == before  # no ./log, ./saved, ./log_tensorboard
