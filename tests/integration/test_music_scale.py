"""Music-scale shapes: the Yambda-50M and Last.fm-1K presets, and dense models refused up front."""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.data.synthetic import PRESETS, MusicSpec, generate, spec_items
from recsys_cli.errors import DataError

runner = CliRunner()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_has_its_shape_at_any_scale(preset):
    spec = MusicSpec(preset, scale=0.002, seed=3)
    shape = PRESETS[preset]
    data = generate(spec, "m")
    listens = data.interactions
    assert listens.height == round(shape.interactions * 0.002)
    assert listens["user"].n_unique() == round(shape.users * 0.002) or shape.users * 0.002 < 1
    # every track of the catalogue is listened to at least once, as in the published data
    assert listens["item"].n_unique() == data.items.height == round(shape.items * 0.002)
    assert listens.select("user", "item").n_unique() < 0.7 * listens.height  # replays
    times = listens["timestamp"]
    assert times.min() >= shape.start and times.max() < shape.start + shape.span
    assert (times % shape.bin_seconds == 0).all()
    assert listens["user"].dtype == (pl.Utf8 if shape.string_ids else pl.Int64)
    assert data.synthetic and "SYNTHETIC" in data.source and shape.label in data.source
    assert generate(spec, "m").interactions.equals(listens)


def test_yambda_shaped_listens_carry_its_columns_and_sparse_integer_ids():
    data = generate(MusicSpec("yambda-50m", scale=0.002, seed=1), "y")
    listens = data.interactions
    assert {"is_organic", "played_ratio_pct"} <= set(listens.columns)
    assert 0.5 < listens["is_organic"].mean() < 0.7
    assert listens["item"].max() > data.items.height  # ids are not 0..n-1
    assert {"artist", "album"} <= set(data.items.columns)
    heard = listens["item"].value_counts()["count"].sort(descending=True).to_numpy()
    assert heard[: len(heard) // 100].sum() > 0.2 * heard.sum()  # a Zipf head


def test_preset_sizes_and_bad_settings():
    assert MusicSpec("yambda-50m").items == 934_057
    assert MusicSpec("lastfm-1k", scale=0.5).interactions == 9_575_434
    assert spec_items({"preset": "yambda-50m", "scale": 1.0, "seed": 0}) == 934_057
    with pytest.raises(DataError, match="presets are lastfm-1k, yambda-50m|presets are yambda"):
        MusicSpec("spotify")
    with pytest.raises(DataError, match="needs about .* GiB of memory; 0.0 GiB is available"):
        MusicSpec("yambda-50m").check_fits(10)


def synth(*args):
    return runner.invoke(app, ["datasets", "synth", *map(str, args)])


def test_cli_synth_preset_then_run_the_bundled_recipe_on_it(tmp_path):
    made = synth("yambda50m-synth", "--preset", "yambda-50m", "--scale", "0.001", "--seed", "1",
                 "--data-dir", tmp_path / "d")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "shaped like Yambda-50M: 46,467 interactions, 10 users, 934 items" in made.stdout
    result = runner.invoke(
        app,
        ["run", "scale/yambda50m-synthetic", "--data-dir", str(tmp_path / "d"),
         "--results-dir", str(tmp_path / "r"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["models"]
    assert set(metrics) == {"popularity", "ALS", "ItemKNN", "ALS+mmr"}
    assert 0 < metrics["ItemKNN"]["ndcg@100"]["mean"] <= 1


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (
            ["--preset", "yambda-50m", "--users", 5],
            "--preset yambda-50m sets the sizes: drop --users",
        ),
        (["--preset", "nope"], "--preset 'nope': not a music preset"),
        (["--scale", 0.5], "--scale applies to a --preset"),
        (["--preset", "lastfm-1k", "--scale", 0], "0 < scale <= 100"),
    ],
)
def test_cli_synth_preset_misuse_is_one_line(tmp_path, options, fragment):
    result = synth("m", *options, "--data-dir", tmp_path)
    assert result.exit_code == 2 and fragment in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert list(tmp_path.iterdir()) == []


def test_ease_on_the_yambda_catalogue_is_refused_before_the_data_are_read(tmp_path):
    """The size comes from the generator settings: the listens file is never opened (here it
    is not even Parquet)."""
    folder = tmp_path / "d" / "synthetic" / "yambda50m-synth"
    folder.mkdir(parents=True)
    spec = {"preset": "yambda-50m", "scale": 1.0, "seed": 1}
    (folder / "meta.json").write_text(
        json.dumps({"spec": spec, "checksum": "x", "synthetic": True})
    )
    (folder / "interactions.parquet").write_text("not read")
    result = runner.invoke(
        app,
        ["run", "scale/yambda50m-synthetic", "--set", 'models[2]={name="ease", label="EASE"}',
         "--data-dir", str(tmp_path / "d"), "--results-dir", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in result.output
    assert "models[2] (EASE), 934,057 items in synthetic dataset 'yambda50m-synth'" in line
    assert "about 22,751.2 GiB of memory" in line and "max_items = 25,000" in line
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_max_items_lets_ease_run_where_the_recipe_allows_it(tmp_path):
    made = synth("tiny", "--preset", "lastfm-1k", "--scale", "0.0001", "--data-dir", tmp_path)
    assert made.exit_code == 0, made.output
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        'name = "t"\n[dataset]\nname = "tiny"\n[split]\ntest = 0.2\n'
        '[[models]]\nname = "ease"\nparams = { max_items = 50 }\n'
    )
    common = ["--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r")]
    refused = runner.invoke(app, ["run", str(recipe), *common])
    assert refused.exit_code == 2 and "100 items in synthetic dataset 'tiny'" in refused.stderr
    allowed = runner.invoke(app, ["run", str(recipe), "--set", "models[0].params.max_items=100",
                                  "--json", *common])  # fmt: skip
    assert allowed.exit_code == 0, allowed.output
    assert np.isfinite(json.loads(allowed.stdout)["models"]["ease"]["ndcg@10"]["mean"])


def test_a_saved_set_is_scanned_and_splits_as_when_read_in_full(tmp_path):
    """The run's loader reads the four canonical columns of the saved listens, lazily."""
    from recsys_cli.config.schema import DatasetConfig, FilterConfig, SplitConfig
    from recsys_cli.data.prepare import index_dataset
    from recsys_cli.data.sources import load_dataset, scan_dataset
    from recsys_cli.data.splits import split

    made = synth("y", "--preset", "yambda-50m", "--scale", "0.002", "--data-dir", tmp_path)
    assert made.exit_code == 0, made.output
    config = DatasetConfig(name="y")
    scanned, read = scan_dataset(config, tmp_path), load_dataset(config, tmp_path)
    assert isinstance(scanned.interactions, pl.LazyFrame)
    assert read.interactions.columns == ["user", "item", "timestamp", "weight"]
    saved = pl.read_parquet(tmp_path / "synthetic" / "y" / "interactions.parquet")
    assert "is_organic" in saved.columns and read.interactions.equals(
        saved.select(read.interactions.columns)
    )
    parts = [
        split(
            index_dataset(data, FilterConfig()).interactions.drop("user", "item"),
            SplitConfig(kind="temporal", test=0.05),
            1,
        )
        for data in (scanned, read)
    ]
    assert parts[0].fit.equals(parts[1].fit) and parts[0].truth.equals(parts[1].truth)
    assert parts[0].fit.height + parts[0].truth.height == saved.height
