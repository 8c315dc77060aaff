"""Local CSV/Parquet datasets: column mapping, time formats, and one-line errors."""

import pytest

from recsys_cli.config.schema import ColumnMap, DatasetConfig
from recsys_cli.data.sources import load_local_file
from recsys_cli.errors import DataError


def load(path, **columns):
    return load_local_file(DatasetConfig(name="x", path=str(path), columns=ColumnMap(**columns)))


def test_iso_dates_and_epoch_seconds_both_become_seconds(tmp_path):
    dates = tmp_path / "dates.csv"
    dates.write_text("u,i,t\na,x,2020-01-01\nb,y,2020-01-02T10:00:00\n")
    seconds = tmp_path / "seconds.csv"
    seconds.write_text("u,i,t\na,x,1577836800\n")
    assert load(dates, user="u", item="i", timestamp="t").interactions["timestamp"].to_list() == [
        1577836800,
        1577959200,
    ]
    assert (
        load(seconds, user="u", item="i", timestamp="t").interactions["timestamp"][0] == 1577836800
    )


@pytest.mark.parametrize(
    "content, columns, fragment",
    [
        ("u,i,t\na,x,yesterday\n", {"timestamp": "t"}, "holds 'yesterday', neither seconds"),
        ("u,i,w\na,x,lots\n", {"weight": "w"}, "expected numbers"),
        (
            "u,i\na,x\n",
            {"timestamp": "when"},
            "column 'when' (dataset.columns.timestamp) not found",
        ),
    ],
)
def test_bad_columns_are_one_line_errors(tmp_path, content, columns, fragment):
    path = tmp_path / "plays.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as caught:
        load(path, user="u", item="i", **columns)
    assert "\n" not in str(caught.value)


def test_corrupt_parquet_and_missing_file(tmp_path):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read as Parquet"):
        load(broken)
    with pytest.raises(DataError, match="file not found"):
        load(tmp_path / "absent.csv")
