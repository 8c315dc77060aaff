"""`rank ope` end to end: the real-data validation on the Open Bandit Dataset (the OBP paper's
protocol), local slate logs, stored runs, and bad input refused in one line."""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.errors import DataError
from recsys_cli.ope.obd import obp_folder

runner = CliRunner()


def rank(*args):
    return runner.invoke(app, [str(a) for a in args])


def refused(result) -> str:
    """Exit code 2 and, after the ticks of the steps done, one `error:` line; no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("✓ ")]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def has_obp() -> bool:
    try:
        obp_folder()
    except DataError:
        return False
    return True


needs_obp = pytest.mark.skipif(not has_obp(), reason="obp==0.4.1 (Open Bandit Dataset) is missing")


@needs_obp
@pytest.mark.slow
def test_bts_click_rate_estimated_from_the_random_logs(tmp_path):
    """Saito et al. 2021: evaluate Bernoulli TS (ZOZOTOWN prior, Monte Carlo action
    probabilities) on the uniform-random logs; its own logs give the true click rate 0.0042.
    SNIPS's and DR's 95% intervals contain it, and they are within 35% of it."""
    result = rank("ope", "ope-obd", "--json", "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rows = {(r["policy"], r["estimator"]): r for r in out["results"]}
    for name in ("snips", "dr"):
        row = rows["bts", name]
        assert row["on_policy"] == pytest.approx(42 / 10_000)
        assert row["ci"][0] <= row["on_policy"] <= row["ci"][1], row
        assert row["covers_on_policy"] and abs(row["relative_error"]) <= 0.35, row
    # the random logging policy evaluated on its own logs: every weight is 1
    own = rows["random", "ips"]
    assert own["estimate"] == pytest.approx(38 / 10_000) and own["relative_error"] == pytest.approx(
        0
    )
    assert own["ess"] == pytest.approx(10_000) and own["max_weight"] == pytest.approx(1.0)
    bts = rows["bts", "ips"]
    assert (
        0.9 < bts["mean_weight"] < 1.05 and bts["ess"] < 10_000 and rows["bts", "dm"]["ess"] is None
    )
    # the stored run: resolved recipe, manifest with provenance, estimates
    run = tmp_path / out["run_dir"].split("/")[-1]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["kind"] == "ope" and manifest["seed"] == 12345
    assert (
        manifest["logs"]["checksum"].startswith("sha256:") and manifest["logs"]["rounds"] == 10_000
    )
    assert {"versions", "git", "platform"} <= set(manifest)
    table = pl.read_parquet(run / "estimates.parquet")
    assert table.height == len(out["results"]) == 4 * 6
    assert (run / "recipe.toml").read_text().count("[[ope.policies]]") == 4


@needs_obp
def test_the_table_shows_the_on_policy_value_and_relative_error(tmp_path):
    result = rank("ope", "ope-obd", "--set", "ope.bootstrap=50", "--results-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "rel. error" in result.stdout and "on-policy" in result.stdout
    assert "obd-random-all: 10,000 rounds, 3 positions, 80 candidates" in result.stderr


SLATE_RECIPE = """
name = "slates"
seed = 3
[ope]
estimators = ["ips", "snips", "dm", "dr", "rips", "sips", "pi"]
bootstrap = 200
[ope.data]
source = "file"
path = "{logs}"
[ope.data.columns]
round = "session"
position = "slot"
item = "track"
propensity = "p"
reward = "click"
context = ["device"]
[ope.fit]
source = "file"
path = "{logs}"
columns = {{ round = "session", position = "slot", item = "track", propensity = "p", reward = "click" }}
[[ope.policies]]
name = "uniform"
kind = "uniform"
[[ope.policies]]
name = "pop-pl"
kind = "model"
model = "pop"
ranking = "plackett_luce"
temperature = 2.0
samples = 2000
[[ope.policies]]
name = "knn-greedy"
kind = "model"
model = "knn"
ranking = "epsilon_greedy"
epsilon = 0.5
[[models]]
name = "popularity"
label = "pop"
[[models]]
name = "item_knn"
label = "knn"
"""


def slate_logs(path, n=600, m=6, seed=0):
    """Full slates of 3 positions; each position drawn uniformly (with repeats), p = 1/m."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, m, (n, 3))
    device = rng.integers(0, 2, n)
    click = rng.random((n, 3)) < 0.1 + 0.1 * (items % 3) + 0.1 * device[:, None]
    pl.DataFrame(
        {
            "session": np.repeat(np.arange(n), 3),
            "slot": np.tile([1, 2, 3], n),
            "track": [f"t{i}" for i in items.ravel()],
            "p": np.full(3 * n, 1 / m),
            "click": click.ravel().astype(int),
            "device": np.repeat(np.where(device == 1, "app", "web"), 3),
        }
    ).write_csv(path)
    return path


@pytest.fixture
def slate_recipe(tmp_path):
    logs = slate_logs(tmp_path / "logs.csv")
    path = tmp_path / "slates.toml"
    path.write_text(SLATE_RECIPE.format(logs=logs))
    return path


def test_local_slate_logs_with_model_policies(tmp_path, slate_recipe):
    result = rank("ope", slate_recipe, "--json", "--quiet", "--results-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["results"]) == 3 * 7
    rows = {(r["policy"], r["estimator"]): r for r in out["results"]}
    for policy in ("uniform", "pop-pl", "knn-greedy"):
        for name in ("ips", "rips", "sips", "pi", "dr"):
            row = rows[policy, name]
            assert np.isfinite(row["estimate"]) and row["ci"][0] <= row["ci"][1]
    # uniform ranking without repeats: logged slates with a repeated item weigh 0
    assert 0 < rows["uniform", "sips"]["zero_share"] < 1
    assert out["manifest"]["logs"]["positions"] == 3 and out["manifest"]["logs"]["contexts"] == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.with_columns(p=pl.lit(1.5)),
            "1.5 in data row 1 (1,800 such rows): a propensity",
        ),
        (lambda t: t.drop("click"), "no column 'click' (ope.data.columns.reward)"),
    ],
)
def test_bad_logs_are_refused(tmp_path, slate_recipe, change, message):
    logs = tmp_path / "logs.csv"
    change(pl.read_csv(logs)).write_csv(logs)
    assert message in refused(rank("ope", slate_recipe, "--results-dir", tmp_path / "runs"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_positions_that_do_not_match_are_refused(tmp_path, slate_recipe):
    line = refused(rank("ope", slate_recipe, "--set", "ope.positions=2", "--results-dir", tmp_path))
    assert "the logs show position 3, but ope.positions = 2" in line


def test_a_policy_with_zero_probability_everywhere_is_refused(tmp_path):
    """Greedy popularity (t2 clicked by two users, t0 and t1 by one) puts t2 first, which the
    logs never show first, and t0 second, which they never show second."""
    logs = tmp_path / "logs.csv"
    pl.DataFrame(
        {
            "session": [1, 1, 2, 2, 3, 3],
            "slot": [1, 2, 1, 2, 1, 2],
            "track": ["t0", "t2", "t1", "t2", "t0", "t1"],
            "p": [0.5] * 6,
            "click": [1, 1, 0, 1, 0, 1],
            "user": ["a", "a", "b", "b", "c", "c"],
        }
    ).write_csv(logs)
    recipe = tmp_path / "zero.toml"
    columns = (
        '{ round = "session", position = "slot", item = "track", propensity = "p", '
        'reward = "click", context = ["user"] }'
    )
    recipe.write_text(
        f'[ope]\nestimators = ["ips"]\n'
        f'data = {{ source = "file", path = "{logs}", columns = {columns} }}\n'
        f'fit = {{ source = "file", path = "{logs}", columns = {columns} }}\n'
        '[[ope.policies]]\nname = "greedy"\nkind = "model"\nmodel = "popularity"\n'
        'ranking = "epsilon_greedy"\nepsilon = 0.0\n[[models]]\nname = "popularity"\n'
    )
    line = refused(rank("ope", recipe, "--results-dir", tmp_path / "runs"))
    assert "policy 'greedy' gives probability 0 to every logged item" in line


@needs_obp
def test_slate_estimators_on_one_position_per_round_are_refused(tmp_path):
    line = refused(
        rank("ope", "ope-obd", "--set", 'ope.estimators=["ips","rips"]', "--results-dir", tmp_path)
    )
    assert "rips need full slates, but 10,000 of 10,000 rounds of obd-random-all" in line


def test_rank_run_refuses_an_ope_recipe(tmp_path):
    assert "run it with `rank ope`" in refused(rank("run", "ope-obd", "--results-dir", tmp_path))
