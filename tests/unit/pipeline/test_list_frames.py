"""Lists written in blocks of users (`pipeline.store`): the same table as written whole."""

import numpy as np
import polars as pl

from recsys_cli.pipeline import store


def test_blocks_of_users_join_into_the_whole_table(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    items = rng.integers(0, 9, (11, 4)).astype(np.int32)
    items[3, 2:] = -1  # a short list: padding is dropped
    items[7] = -1  # a user without a list
    scores = rng.random((11, 4)).astype(np.float32)
    users = pl.Series("user", [f"u{u}" for u in range(11)])
    item_ids = pl.Series("item", [f"i{i}" for i in range(9)])
    whole = store._lists_frame("m", users, items, scores, item_ids)
    assert whole.height == 44 - 2 - 4
    monkeypatch.setattr(store, "FRAME_CELLS", 9)  # 2 users a frame, the last one alone
    frames = list(store.list_frames("m", users, items, scores, item_ids))
    assert len(frames) == 6
    assert pl.concat(frames).equals(whole)
    path = tmp_path / "recommendations.parquet"
    store.write_frames(path, lambda: store.list_frames("m", users, items, scores, item_ids))
    assert pl.read_parquet(path).equals(whole)
    none = list(store.list_frames("m", users[:0], items[:0], scores[:0], item_ids))
    assert len(none) == 1 and none[0].height == 0 and none[0].schema == whole.schema
