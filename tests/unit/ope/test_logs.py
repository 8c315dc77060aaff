"""Local logs files: rounds, positions, contexts, item ids; one clear error per bad input."""

import numpy as np
import polars as pl
import pytest

from recsys_cli.errors import DataError
from recsys_cli.ope.config import LogColumns
from recsys_cli.ope.logs import load_file

COLUMNS = LogColumns(
    round="session",
    position="slot",
    item="track",
    propensity="p",
    reward="click",
    context=("country", "device"),
)


def rows(**changes) -> dict:
    table = {
        "session": ["s2", "s1", "s1", "s2", "s3"],
        "slot": [1, 2, 1, 2, 1],
        "track": ["b", "c", "a", "a", "c"],
        "p": [0.5, 0.25, 0.5, 0.25, 1.0],
        "click": [1, 0, 0, 1, 0],
        "country": ["de", "fr", "fr", "de", "de"],
        "device": ["app", "web", "web", "app", "app"],
    }
    return {**table, **changes}


def write(tmp_path, table: dict, name="logs.csv"):
    path = tmp_path / name
    frame = pl.DataFrame(table)
    frame.write_parquet(path) if name.endswith(".parquet") else frame.write_csv(path)
    return path


@pytest.mark.parametrize("name", ["logs.csv", "logs.parquet"])
def test_rounds_positions_and_contexts(tmp_path, name):
    logs = load_file(write(tmp_path, rows(), name), ",", COLUMNS, None, "logs")
    assert logs.n_rounds == 3 and logs.n_positions == 2
    np.testing.assert_array_equal(logs.item_ids, ["a", "b", "c"])
    # rounds in id order s1, s2, s3; s3 logs only position 1
    np.testing.assert_array_equal(logs.items, [[0, 2], [1, 0], [2, -1]])
    np.testing.assert_allclose(logs.propensity, [[0.5, 0.25], [0.5, 0.25], [1.0, 1.0]])
    np.testing.assert_allclose(logs.reward, [[0, 0], [1, 1], [0, 0]])
    assert [logs.contexts[c] for c in logs.context] == ["fr\x1fweb", "de\x1fapp", "de\x1fapp"]
    assert not logs.complete and logs.on_policy_value() == pytest.approx(2 / 3)
    assert logs.checksum.startswith("sha256:") and logs.prefix is None


def test_without_round_and_position_columns_every_row_is_a_round(tmp_path):
    columns = LogColumns(item="track", propensity="p", reward="click")
    logs = load_file(write(tmp_path, rows()), ",", columns, None, "logs")
    assert logs.items.shape == (5, 1) and logs.complete and logs.contexts == ("",)


def test_a_prefix_column_is_read(tmp_path):
    table = rows(prefix=[0.5, 0.1, 0.5, 0.125, 1.0])
    columns = LogColumns(**{**COLUMNS.__dict__, "prefix": "prefix"})
    logs = load_file(write(tmp_path, table), ",", columns, None, "logs")
    np.testing.assert_allclose(logs.prefix, [[0.5, 0.1], [0.5, 0.125], [1.0, 1.0]])


def test_slate_length_longer_than_logged_is_allowed(tmp_path):
    logs = load_file(write(tmp_path, rows()), ",", COLUMNS, 3, "logs")
    assert logs.n_positions == 3 and (logs.items[:, 2] == -1).all()


@pytest.mark.parametrize(
    ("change", "columns", "positions", "message"),
    [
        ({"p": [0.5, 0.25, 0.0, 0.25, 1.0]}, COLUMNS, None, "0.0 in data row 3 .*in \\(0, 1\\]"),
        ({"p": [0.5, 1.5, 0.5, 0.25, 1.0]}, COLUMNS, None, "1.5 in data row 2"),
        ({"p": [0.5, None, 0.5, 0.25, 1.0]}, COLUMNS, None, "None in data row 2"),
        ({"p": ["x", "y", "z", "u", "v"]}, COLUMNS, None, "'p' .*holds String values"),
        ({"click": [1, None, 0, 1, 0]}, COLUMNS, None, "'click' .*rewards must be finite"),
        (
            {},
            LogColumns(**{**COLUMNS.__dict__, "reward": "clicked"}),
            None,
            "no column 'clicked' \\(ope.data.columns.reward\\)",
        ),
        ({"slot": [1, 2, 1, 1, 1]}, COLUMNS, None, "position 1 is logged twice in one round"),
        ({"slot": [1, 2, 0, 2, 1]}, COLUMNS, None, "position 0: positions are 1-based"),
        ({"slot": [1, 2, 1, 2, 3]}, COLUMNS, 2, "the logs show position 3, but ope.positions = 2"),
        ({"slot": [1.0, 2.0, 1.5, 2.0, 1.0]}, COLUMNS, None, "positions are 1, 2"),
        ({"track": ["b", None, "a", "a", "c"]}, COLUMNS, None, "1 rows without an item"),
    ],
)
def test_bad_logs_fail_with_one_clear_line(tmp_path, change, columns, positions, message):
    path = write(tmp_path, rows(**change))
    with pytest.raises(DataError, match=message) as error:
        load_file(path, ",", columns, positions, "logs")
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_file(tmp_path / "none.csv", ",", COLUMNS, None, "logs")
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(rows()) + "\n")
    with pytest.raises(DataError, match="no rows"):
        load_file(empty, ",", COLUMNS, None, "logs")
