"""Read, filter, index and split on a scan: the same frames as from a table read in full, and as
naive references (row-by-row k-core, quantile cut, per-user tie-breaking written out)."""

import numpy as np
import polars as pl
import pytest

from recsys_cli.config.schema import FilterConfig, SplitConfig
from recsys_cli.data.dataset import Dataset, empty_items
from recsys_cli.data.prepare import index_dataset
from recsys_cli.data.splits import split


def listens(text_ids: bool, seed: int = 0) -> pl.DataFrame:
    """Users with 1-14 plays on 3-second clocks (many exact time ties), replays of the same
    item, a few extra columns a run never reads, and sparse ids (text or integers)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(250):
        clock = int(rng.integers(0, 50))
        for _ in range(int(rng.integers(1, 15))):
            item = int(min(rng.zipf(1.6), 80))
            clock += int(rng.integers(0, 3))
            rows.append((u * 37 + 5, item * 1_000_003, clock * 60, float(rng.integers(1, 6))))
    frame = pl.DataFrame(rows, schema=["user", "item", "timestamp", "weight"], orient="row")
    frame = frame.with_columns(is_organic=pl.col("weight") > 2, played=pl.col("weight") * 20)
    if text_ids:
        frame = frame.with_columns(
            ("u" + pl.col("user").cast(pl.Utf8)).alias("user"),
            ("t" + pl.col("item").cast(pl.Utf8)).alias("item"),
        )
    return frame


def naive_filter(frame: pl.DataFrame, config: FilterConfig) -> pl.DataFrame:
    """Rating threshold, binarisation, then k-core rounds that drop rows until none drops."""
    if config.min_rating is not None:
        frame = frame.filter(pl.col("weight") >= config.min_rating)
    if config.binarize:
        frame = frame.with_columns(pl.lit(1.0).alias("weight"))
    while True:
        users = frame["user"].value_counts()
        items = frame["item"].value_counts()
        few_users = users.filter(pl.col("count") < config.min_user_interactions)["user"]
        few_items = items.filter(pl.col("count") < config.min_item_interactions)["item"]
        kept = frame.filter(
            ~pl.col("user").is_in(few_users.implode()) & ~pl.col("item").is_in(few_items.implode())
        )
        if kept.height == frame.height:
            return frame
        frame = kept


def naive_index(frame: pl.DataFrame) -> pl.DataFrame:
    users = {u: n for n, u in enumerate(sorted(set(frame["user"])))}
    items = {i: n for n, i in enumerate(sorted(set(frame["item"])))}
    return frame.select("timestamp", "weight").with_columns(
        pl.Series("user_idx", [users[u] for u in frame["user"]], dtype=pl.Int32),
        pl.Series("item_idx", [items[i] for i in frame["item"]], dtype=pl.Int32),
    )


FILTERS = [
    FilterConfig(),
    FilterConfig(binarize=False),
    FilterConfig(min_user_interactions=5, min_item_interactions=4),
    FilterConfig(min_rating=2.0, binarize=False, min_user_interactions=3),
]


@pytest.fixture(params=[True, False], ids=["text ids", "integer ids"])
def stored(request, tmp_path):
    frame = listens(request.param)
    path = tmp_path / "listens.parquet"
    frame.write_parquet(path)
    items = empty_items(frame["item"])
    canonical = frame.select("user", "item", "timestamp", "weight")
    return (
        frame,
        Dataset("read", canonical, items, "sha256:x", "t"),
        Dataset("scanned", pl.scan_parquet(path).select(canonical.columns), items, "sha256:x", "t"),
    )


@pytest.mark.parametrize("config", FILTERS)
def test_indexing_a_scan_matches_a_naive_k_core_and_vocabulary(stored, config):
    frame, read, scanned = stored
    reference = naive_filter(frame, config)
    if config.min_rating is not None or config.min_user_interactions > 1:
        assert 0 < reference.height < frame.height  # the filters drop rows here
    lazy, eager = index_dataset(scanned, config), index_dataset(read, config)
    assert isinstance(lazy.interactions, pl.LazyFrame)
    assert isinstance(eager.interactions, pl.DataFrame)
    rows = lazy.interactions.collect()
    assert rows.equals(eager.interactions)
    assert lazy.n_interactions == eager.n_interactions == rows.height == reference.height
    assert lazy.user_ids.to_list() == sorted(set(reference["user"]))
    assert lazy.item_ids.to_list() == sorted(set(reference["item"]))
    assert lazy.items["item"].equals(lazy.item_ids)
    expected = naive_index(reference)
    assert rows.select(expected.columns).equals(expected)
    assert scanned.n_interactions == frame.height


SPLITS = [
    SplitConfig(kind="temporal", test=0.2),
    SplitConfig(kind="temporal", test=0.2, validation=0.1, new_users="fold_in", fold_in=0.5),
    SplitConfig(kind="leave_last", n=2, validation=0.1),
    SplitConfig(kind="random", test=0.25, validation=0.1),
    SplitConfig(kind="users", test=0.2, fold_in=0.6),
]


@pytest.mark.parametrize("config", SPLITS, ids=lambda c: c.kind)
@pytest.mark.parametrize("filters", [FILTERS[0], FILTERS[2]], ids=["all", "k-core"])
def test_splitting_a_scan_gives_the_frames_of_the_table_read_in_full(stored, config, filters):
    _, read, scanned = stored
    lazy = split(index_dataset(scanned, filters).interactions.drop("user", "item"), config, 7)
    eager = split(index_dataset(read, filters).interactions.drop("user", "item"), config, 7)
    for part in ("fit", "extra_input", "truth"):
        assert getattr(lazy, part).equals(getattr(eager, part)), part
    assert lazy.notes == eager.notes and lazy.fingerprint() == eager.fingerprint()


def test_temporal_split_of_a_scan_matches_a_naive_quantile_cut(stored):
    _, _, scanned = stored
    frame = index_dataset(scanned, FilterConfig()).interactions.drop("user", "item")
    result = split(frame, SplitConfig(kind="temporal", test=0.2, validation=0.1), 0)
    rows = frame.collect()
    times = np.sort(rows["timestamp"].to_numpy())
    t_test = times[int(np.ceil(0.8 * (len(times) - 1)))]  # the "higher" quantile
    before = times[times < t_test]
    t_val = before[int(np.ceil((1 - 0.1 / 0.8) * (len(before) - 1)))]
    ts = rows["timestamp"]
    assert 0 < t_val < t_test
    assert result.truth.equals(rows.filter(ts >= t_test))
    validation = rows.filter((ts >= t_val) & (ts < t_test))
    assert result.fit.equals(pl.concat([rows.filter(ts < t_val), validation]))


def test_leave_last_of_a_scan_breaks_ties_as_the_written_out_rule(stored):
    """The rule: rows in (user, item, time) order (file order among equals) take a seeded random
    key each; per user, the latest times are held out, equal times by key."""
    _, _, scanned = stored
    frame = index_dataset(scanned, FilterConfig(binarize=False)).interactions.drop("user", "item")
    result = split(frame, SplitConfig(kind="leave_last", n=2), seed=11)
    rows = frame.collect().with_row_index("file_order")
    canonical = sorted(
        rows.iter_rows(named=True), key=lambda r: (r["user_idx"], r["item_idx"], r["timestamp"])
    )
    keys = np.random.default_rng(11).permutation(len(canonical))
    per_user: dict[int, list] = {}
    for row, key in zip(canonical, keys, strict=True):
        per_user.setdefault(row["user_idx"], []).append((row["timestamp"], key, row))
    held = []
    for history in per_user.values():
        if len(history) > 2:
            held += [row for _, _, row in sorted(history, key=lambda h: h[:2])[-2:]]
    expected = sorted((r["user_idx"], r["item_idx"], r["timestamp"], r["weight"]) for r in held)
    got = sorted(result.truth.select("user_idx", "item_idx", "timestamp", "weight").iter_rows())
    assert got == expected
    tied = sum(
        1
        for history in per_user.values()
        if len(history) > 2
        and sorted(h[0] for h in history)[-3] == sorted(h[0] for h in history)[-2]
    )
    assert result.notes["users_cut_inside_a_time_tie"] == tied > 0


def test_a_scan_reads_only_the_canonical_columns(tmp_path):
    """The extra columns of the file are never read: a scan of it with them removed from the
    file gives the same parts."""
    frame = listens(False)
    full, lean = tmp_path / "full.parquet", tmp_path / "lean.parquet"
    frame.write_parquet(full)
    frame.select("user", "item", "timestamp", "weight").write_parquet(lean)
    from recsys_cli.data.dataset import scan_parquet_interactions

    scan = scan_parquet_interactions(full)
    assert scan.collect_schema().names() == ["user", "item", "timestamp", "weight"]
    assert "PROJECT 4/6 COLUMNS" in scan.explain()
    parts = [
        split(
            index_dataset(
                Dataset("x", scan_parquet_interactions(path), empty_items(frame["item"]), "x", "t"),
                FilterConfig(),
            ).interactions.drop("user", "item"),
            SplitConfig(test=0.3),
            0,
        )
        for path in (full, lean)
    ]
    assert parts[0].fit.equals(parts[1].fit) and parts[0].truth.equals(parts[1].truth)
