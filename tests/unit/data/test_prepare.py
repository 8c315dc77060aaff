"""Prepared model input: binarisation of repeated events (`data.prepare`, `experiment.prepare`)."""

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.experiment import prepare
from recsys_cli.models.ease import EASE


def repeated_plays(tmp_path):
    """Plays where many (user, item) pairs repeat up to 5 times, all before the test cut."""
    rng = np.random.default_rng(3)
    rows = []
    clock = 0
    for u in range(30):
        for item in rng.choice(12, size=6, replace=False):
            for _ in range(int(rng.integers(1, 6))):
                clock += 1
                rows.append((f"u{u}", f"i{item}", clock))
    for u in range(30):  # one held-out play each, after every training play
        clock += 1
        rows.append((f"u{u}", f"i{u % 12}", clock))
    path = tmp_path / "plays.csv"
    pl.DataFrame(rows, schema=["u", "i", "t"], orient="row").write_csv(path)
    return path, clock - 29  # the first held-out play


def recipe(path, cut, binarize):
    return recipe_from_dict(
        {
            "name": "repeats",
            "dataset": {
                "name": "plays",
                "path": str(path),
                "columns": {"user": "u", "item": "i", "timestamp": "t"},
            },
            "filter": {"binarize": binarize},
            "split": {"kind": "temporal", "cutoff": datetime.fromtimestamp(cut, UTC).isoformat()},
            "models": [{"name": "ease"}],
        }
    )


def naive_ease(x: np.ndarray, l2: float) -> np.ndarray:
    """B = I - P diag(1/diag(P)) with P = (X^T X + l2 I)^-1 (Steck 2019), straight from numpy."""
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)
    return b


@pytest.mark.parametrize("binarize", [True, False])
def test_binarize_makes_a_0_1_matrix_of_repeated_events(tmp_path, binarize):
    path, cut = repeated_plays(tmp_path)
    data = prepare(recipe(path, cut, binarize), tmp_path)
    train = pl.read_csv(path).filter(pl.col("t") < cut)
    counts = train.group_by("u", "i").len()
    assert counts["len"].max() > 1  # the data repeats pairs
    users = {u: n for n, u in enumerate(data.indexed.user_ids.to_list())}
    items = {i: n for n, i in enumerate(data.indexed.item_ids.to_list())}
    reference = np.zeros(data.fit.shape)
    for u, i, n in counts.iter_rows():
        reference[users[u], items[i]] = 1.0 if binarize else n
    np.testing.assert_array_equal(data.fit.toarray(), reference)
    np.testing.assert_array_equal(data.model_input.toarray(), reference)
    model = EASE(EASE.Params(l2=50.0)).fit(data.fit)
    np.testing.assert_allclose(model.weights_, naive_ease(reference, 50.0), atol=1e-5)


@pytest.mark.parametrize(
    "ids",
    [
        pl.Series(["b", "a", "c", "a", "b"]),  # text: through an Enum of the vocabulary
        pl.Series([30, 10, 20, 10, -4]),  # a small range: a lookup table
        pl.Series([10**15, 1, 5, 1, 10**15]),  # a huge range: a hash map
        pl.Series([3, 1, 2, 3, 3], dtype=pl.UInt32),
    ],
)
def test_codes_index_rows_by_their_sorted_distinct_ids(ids):
    from recsys_cli.data.prepare import codes

    vocab = ids.unique().sort()
    found = pl.select(codes(pl.lit(ids), vocab)).to_series()
    assert found.dtype == pl.Int32
    assert vocab.gather(found).to_list() == ids.to_list()
    # ids left out of the vocabulary (a k-core dropped them) have no code
    kept = vocab.slice(1, len(vocab) - 2)
    found = pl.select(codes(pl.lit(ids), kept)).to_series().to_list()
    reference = [kept.to_list().index(i) if i in kept.to_list() else None for i in ids.to_list()]
    assert found == reference and None in found
