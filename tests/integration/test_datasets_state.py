"""`rank datasets list/info/remove` say what recipes read: synthetic data, the embedded ML-100K."""

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app

runner = CliRunner()


def rank(*args, **env):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **env})


def listed(data_dir) -> dict[str, dict]:
    result = rank("datasets", "list", "--json", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


@pytest.fixture
def no_recbole(monkeypatch):
    """recbole looks uninstalled (find_spec answers None for it alone)."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "recbole" else find_spec(name, *a),
    )


def test_synthetic_data_is_listed_shown_and_removed(tmp_path):
    made = rank(
        "datasets", "synth", "tiny", "--users", 50, "--items", 30, "--interactions", 900,
        "--seed", 3, "--data-dir", tmp_path,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    row = listed(tmp_path)["tiny"]
    assert row["synthetic"] and row["expected"] == {"interactions": 900, "users": 50, "items": 30}
    assert row["size_bytes"] > 0 and row["spec"]["seed"] == 3
    table = rank("datasets", "list", "--data-dir", tmp_path).stdout
    assert any(line.split()[1:2] == ["tiny"] and "SYNTHETIC" in line for line in table.splitlines())
    info = rank("datasets", "info", "tiny", "--data-dir", tmp_path)
    assert info.exit_code == 0 and "seed 3" in info.stdout
    assert "recipes naming 'tiny' read it" in info.stdout
    assert json.loads(rank("datasets", "info", "tiny", "--json", "--data-dir", tmp_path).stdout)[
        "checksum"
    ].startswith("synthetic:")
    removed = rank("datasets", "remove", "tiny", "--data-dir", tmp_path)
    assert removed.exit_code == 0 and "removed SYNTHETIC dataset tiny" in removed.stderr
    assert "tiny" not in listed(tmp_path) and not (tmp_path / "synthetic" / "tiny").exists()
    gone = rank("datasets", "info", "tiny", "--data-dir", tmp_path)
    assert gone.exit_code == 2 and "unknown dataset 'tiny'" in gone.stderr


@pytest.mark.recbole
def test_ml100k_is_shown_as_read_from_the_recbole_package(tmp_path):
    row = listed(tmp_path)["ml-100k"]
    assert row["embedded"].endswith("ml-100k") and not row["downloaded"]
    table = rank("datasets", "list", "--data-dir", tmp_path).stdout
    assert "embedded" in next(line for line in table.splitlines() if " ml-100k " in line)
    info = rank("datasets", "info", "ml-100k", "--data-dir", tmp_path).stdout
    assert f"recipes read the copy embedded in the recbole package ({row['embedded']})" in info
    assert "catalog download, not read by recipes: not cached" in info


def test_without_recbole_ml100k_messages_name_the_install_not_a_download(tmp_path, no_recbole):
    row = listed(tmp_path)["ml-100k"]
    assert (
        row["embedded"] is None and "pip install 'recsys-cli[recbole]'" in row["embedded_problem"]
    )
    info = rank("datasets", "info", "ml-100k", "--data-dir", tmp_path).stdout
    assert "is read from the installed recbole package, which is missing" in info
    recipe = tmp_path / "r.toml"
    recipe.write_text('[dataset]\nname = "ml-100k"\n[[models]]\nname = "popularity"\n')
    result = rank("run", recipe, "--results-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "pip install 'recsys-cli[recbole]'" in result.stderr
    assert "download" not in result.stderr
