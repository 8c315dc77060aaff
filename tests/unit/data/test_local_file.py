"""Local CSV/Parquet datasets: column mapping, time formats, and one-line errors."""

import polars as pl
import pytest

from recsys_cli.config.schema import ColumnMap, DatasetConfig
from recsys_cli.data.local_file import scan_local_file
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
        ("u,i,t\na,x,yesterday\n", {"timestamp": "t"}, "'yesterday' in data row 1 (1 such row)"),
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


def write(tmp_path, frame):
    path = tmp_path / "plays.parquet"
    frame.write_parquet(path)
    return path


def test_rows_without_ids_are_dropped_and_counted(tmp_path):
    """Null, NaN and blank ids: the row is dropped and counted (each row once, under the user
    when both ids are missing); whole-number float ids become integers."""
    frame = pl.DataFrame(
        {
            "u": [1.0, None, float("nan"), 4.0, 5.0, None],
            "i": ["a", "b", "c", " ", "e", ""],
        }
    )
    dataset = load(write(tmp_path, frame), user="u", item="i")
    assert dataset.interactions["user"].to_list() == [1, 5]
    assert dataset.interactions["user"].dtype == pl.Int64
    assert dataset.interactions["item"].to_list() == ["a", "e"]
    assert dataset.notes == {"source_rows_without_user_id": 3, "source_rows_without_item_id": 1}


def test_complete_files_have_no_notes(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("u,i\na,x\nb,y\n")
    assert load(path, user="u", item="i").notes == {}


@pytest.mark.parametrize(
    "frame, columns, fragment",
    [
        (pl.DataFrame({"u": [[1], [2]], "i": ["a", "b"]}), {}, "holds List(Int64) values"),
        (pl.DataFrame({"u": [1.5, 2.0], "i": ["a", "b"]}), {}, "1.5 in data row 1 (1 such row)"),
        (pl.DataFrame({"u": [1.0, float("inf")], "i": ["a", "b"]}), {}, "inf in data row 2"),
        (pl.DataFrame({"u": [1e30, 2.0], "i": ["a", "b"]}), {}, "1e+30 in data row 1"),
        (pl.DataFrame({"u": [True, False], "i": ["a", "b"]}), {}, "holds Boolean values"),
        (pl.DataFrame({"u": [None, None], "i": ["a", "b"]}), {}, "no row has both"),
        (
            pl.DataFrame({"u": [1, 2, 3], "i": ["a", "b", "c"], "w": [1.0, -2.0, -1.0]}),
            {"weight": "w"},
            "-2.0 in data row 2 (2 such rows): a weight is a rating or a count >= 0",
        ),
        (
            pl.DataFrame({"u": [1, 2], "i": ["a", "b"], "w": [float("nan"), 1.0]}),
            {"weight": "w"},
            "nan in data row 1",
        ),
        (
            pl.DataFrame({"u": [1, 2], "i": ["a", "b"], "w": [1.0, float("inf")]}),
            {"weight": "w"},
            "inf in data row 2",
        ),
        (
            pl.DataFrame({"u": [1, 2], "i": ["a", "b"], "w": [1.0, None]}),
            {"weight": "w"},
            "None in data row 2",
        ),
        (
            pl.DataFrame({"u": [1, 2], "i": ["a", "b"], "t": [1.0, float("inf")]}),
            {"timestamp": "t"},
            "inf in data row 2 (1 such row): beyond the 64-bit range",
        ),
    ],
)
def test_bad_ids_weights_and_times_are_one_line_errors(tmp_path, frame, columns, fragment):
    with pytest.raises(DataError) as caught:
        load(write(tmp_path, frame), user="u", item="i", **columns)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_values_in_dropped_rows_do_not_matter(tmp_path):
    """A row dropped for its missing id is not checked further (data rows count from 1)."""
    frame = pl.DataFrame({"u": [None, 2, 3], "i": ["a", "b", "c"], "w": [-1.0, 1.0, -3.0]})
    with pytest.raises(DataError, match=r"-3.0 in data row 3 \(1 such row\)"):
        load(write(tmp_path, frame), user="u", item="i", weight="w")


def test_times_beyond_64_bits_and_nan_times(tmp_path):
    path = tmp_path / "plays.csv"
    path.write_text("u,i,t\na,x,1\nb,y,99999999999999999999999\n")
    with pytest.raises(DataError, match="beyond the 64-bit range of seconds"):
        load(path, user="u", item="i", timestamp="t")
    frame = pl.DataFrame({"u": [1, 2], "i": ["a", "b"], "t": [float("nan"), 7.9]})
    times = load(write(tmp_path, frame), user="u", item="i", timestamp="t").interactions
    assert times["timestamp"].to_list() == [None, 7]  # NaN is missing; fractions truncated


@pytest.mark.parametrize("separator", ["", ";;", "é"])
def test_separator_is_one_byte(tmp_path, separator):
    path = tmp_path / "plays.csv"
    path.write_text("u,i\na,x\n")
    config = DatasetConfig(
        name="x", path=str(path), separator=separator, columns=ColumnMap("u", "i")
    )
    with pytest.raises(DataError, match="dataset.separator"):
        load_local_file(config)


def test_a_folder_is_not_a_data_file(tmp_path):
    with pytest.raises(DataError, match="a folder, not a CSV or Parquet file"):
        load(tmp_path)


def items_config(plays, items):
    return DatasetConfig(
        name="x", path=str(plays), items_path=str(items), columns=ColumnMap("u", "i")
    )


def test_items_file_ids_take_the_interactions_type_and_blank_ids_are_counted(tmp_path):
    plays = write(tmp_path, pl.DataFrame({"u": ["a", "b"], "i": [1, 2]}))
    items = tmp_path / "items.csv"
    items.write_text("i,genre\n1,Rock\n2,Pop\n,Jazz\n")
    dataset = load_local_file(items_config(plays, items))
    assert dataset.items["item"].to_list() == [1, 2]
    assert dataset.notes == {"items_rows_without_id": 1}


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("i,genre\n1,Rock\n1,Pop\n", "item 1 has 2 rows"),
        ("i,genre\nx,Rock\n", "item ids are String, the interactions' are Int64"),
    ],
)
def test_items_file_errors(tmp_path, content, fragment):
    plays = write(tmp_path, pl.DataFrame({"u": ["a", "b"], "i": [1, 2]}))
    items = tmp_path / "items.csv"
    items.write_text(content)
    with pytest.raises(DataError, match=fragment):
        load_local_file(items_config(plays, items))


def test_the_first_bad_row_is_found_deep_in_a_large_file(tmp_path):
    """The check runs in streaming chunks; the row it names is still the file's first bad one."""
    n = 300_000
    weights = pl.Series([1.0] * n).scatter([250_000, 270_000, 299_999], [-5.0, -6.0, -7.0])
    frame = pl.DataFrame({"u": pl.int_range(n, eager=True) % 97, "i": pl.Series(range(n)) % 31})
    path = write(tmp_path, frame.with_columns(w=weights))
    with pytest.raises(DataError, match=r"-5.0 in data row 250001 \(3 such rows\)"):
        load(path, user="u", item="i", weight="w")
    scanned = scan_local_file(DatasetConfig(name="x", path=str(path), columns=ColumnMap("u", "i")))
    assert isinstance(scanned.interactions, pl.LazyFrame)  # Parquet: nothing read in full
    assert scanned.n_interactions == n and scanned.items["item"].to_list() == list(range(31))
