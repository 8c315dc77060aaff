"""Sequence structure, Markov and SKNN against hand-computed values and naive references."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.config.schema import SplitConfig
from recsys_cli.data.splits import split
from recsys_cli.models.sequences import SequenceData, fit_in_time_order, sequences_from_frame
from recsys_cli.models.sequential import SKNN, Markov, MarkovParams, SKNNParams


def frame(rows):
    """(user_idx, item_idx, timestamp) rows as an indexed interactions frame."""
    users, items, times = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "user_idx": np.array(users, np.int32),
            "item_idx": np.array(items, np.int32),
            "timestamp": np.array(times, np.int64),
            "weight": np.ones(len(rows), np.float32),
        }
    )


def seqs(rows: list[list[int]], n_items: int) -> SequenceData:
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    items = np.array([i for r in rows for i in r], dtype=np.int32)
    return SequenceData(indptr, items, n_items)


def random_sequences(rng, n_users=30, n_items=25, max_len=12) -> SequenceData:
    return seqs(
        [list(rng.integers(0, n_items, rng.integers(0, max_len))) for _ in range(n_users)], n_items
    )


# ---- SequenceData --------------------------------------------------------------------------------


def test_sequences_from_frame_orders_by_time_then_item():
    data = frame([(1, 5, 30), (0, 2, 20), (1, 3, 10), (0, 4, 20), (0, 1, 5), (1, 0, 30)])
    s = sequences_from_frame(data, n_users=3, n_items=6)
    assert s.row(0).tolist() == [1, 2, 4]  # 2 and 4 tie at t=20: item index breaks the tie
    assert s.row(1).tolist() == [3, 0, 5]
    assert s.row(2).tolist() == []


def test_sequences_from_frame_rejects_missing_timestamps():
    data = frame([(0, 1, 1), (0, 2, 2)]).with_columns(
        pl.Series("timestamp", [1, None], dtype=pl.Int64)
    )
    with pytest.raises(Exception, match="timestamps"):
        sequences_from_frame(data, 1, 3)


def test_take_recent_last_padded_where():
    s = seqs([[3, 1, 2], [], [4], [0, 1, 2, 3, 4]], 5)
    taken = s.take(np.array([3, 0, 1, 0]))
    assert [taken.row(u).tolist() for u in range(4)] == [[0, 1, 2, 3, 4], [3, 1, 2], [], [3, 1, 2]]
    recent = s.recent(2)
    assert [recent.row(u).tolist() for u in range(4)] == [[1, 2], [], [4], [3, 4]]
    assert s.last().tolist() == [2, -1, 4, 4]
    assert s.steps_from_end().tolist() == [2, 1, 0, 0, 4, 3, 2, 1, 0]
    padded, lengths = s.padded(3, fill=0, offset=1)
    assert padded.tolist() == [[4, 2, 3], [0, 0, 0], [5, 0, 0], [3, 4, 5]]
    assert lengths.tolist() == [3, 0, 1, 3]
    other = seqs([[0], [1, 1], [], [2]], 5)
    mixed = s.where(np.array([False, True, True, False]), other)
    assert [mixed.row(u).tolist() for u in range(4)] == [[3, 1, 2], [1, 1], [], [0, 1, 2, 3, 4]]


def test_transitions_stay_within_users():
    s = seqs([[0, 1], [], [2], [3, 4, 3]], 5)
    src, dst = s.transitions()
    assert list(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 1), (3, 4), (4, 3)]


def test_to_csr_counts_repeats():
    m = seqs([[1, 1, 2], [0]], 3).to_csr()
    assert m.toarray().tolist() == [[0, 2, 1], [1, 0, 0]]


# ---- Markov --------------------------------------------------------------------------------------

TOY = [[0, 1, 2], [0, 1, 3], [1, 2], []]  # transitions 0->1 x2, 1->2 x2, 1->3 x1


def fitted(model, rows, n_items, inputs=None):
    s = seqs(rows, n_items)
    train = s.to_csr()
    return model.fit_sequences(train, s, seqs(inputs, n_items) if inputs else None)


def test_markov_hand_computed_probabilities():
    model = fitted(Markov(MarkovParams(backoff=0.0)), TOY, 5)
    scores = model._scores(np.array([0, 1, 2]), sp.csr_matrix((3, 5)))
    # users 0 and 2 end on item 2 (no outgoing transition), user 1 on item 3 (none either)
    assert np.allclose(scores, 0.0)
    model = fitted(Markov(MarkovParams(backoff=0.0)), TOY, 5, inputs=[[2, 0], [0, 1], [], [4]])
    scores = model._scores(np.array([0, 1]), sp.csr_matrix((2, 5)))
    np.testing.assert_allclose(scores[0], [0, 1, 0, 0, 0])
    np.testing.assert_allclose(scores[1], [0, 0, 2 / 3, 1 / 3, 0], rtol=1e-6)


def test_markov_backoff_mixes_popularity():
    b = 0.1
    model = fitted(Markov(MarkovParams(backoff=b)), TOY, 5, inputs=[[0, 1], [], [], []])
    popularity = np.array([2, 3, 2, 1, 0]) / 8
    expected = (1 - b) * np.array([0, 0, 2 / 3, 1 / 3, 0]) + b * popularity
    np.testing.assert_allclose(
        model._scores(np.array([0]), sp.csr_matrix((1, 5)))[0], expected, rtol=1e-6
    )
    # A user without input gets popularity alone.
    np.testing.assert_allclose(
        model._scores(np.array([1]), sp.csr_matrix((1, 5)))[0], b * popularity, rtol=1e-6
    )


def naive_markov(sequences: SequenceData, inputs: SequenceData, users, backoff, self_transitions):
    n = sequences.n_items
    counts = np.zeros((n, n))
    for u in range(sequences.n_users):
        row = sequences.row(u).tolist()
        for a, c in zip(row, row[1:], strict=False):
            if self_transitions or a != c:
                counts[a, c] += 1
    pop = np.bincount(sequences.items, minlength=n) / max(len(sequences.items), 1)
    out = []
    for u in users:
        row = inputs.row(u)
        p = np.zeros(n)
        if len(row) and counts[row[-1]].sum() > 0:
            p = counts[row[-1]] / counts[row[-1]].sum()
        out.append((1 - backoff) * p + backoff * pop)
    return np.array(out)


@pytest.mark.parametrize("self_transitions", [False, True])
def test_markov_matches_naive_reference(self_transitions):
    rng = np.random.default_rng(3)
    train, inputs = random_sequences(rng), random_sequences(rng)
    model = Markov(MarkovParams(backoff=0.05, self_transitions=self_transitions))
    model.fit_sequences(train.to_csr(), train, inputs)
    users = rng.permutation(train.n_users)
    got = model._scores(users, inputs.take(users).to_csr())
    np.testing.assert_allclose(
        got, naive_markov(train, inputs, users, 0.05, self_transitions), rtol=1e-5, atol=1e-7
    )


def test_markov_recommend_excludes_history_and_follows_last_item():
    model = fitted(Markov(MarkovParams(backoff=0.01)), TOY, 5, inputs=[[3, 0, 1], [], [], []])
    items, _ = model.recommend(np.array([0]), seqs([[3, 0, 1]], 5).to_csr(), k=2)
    assert items[0].tolist() == [2, 4]  # 2 follows 1; 3 is history; then the only one left


def test_plain_fit_warns_that_time_order_is_missing():
    train = seqs(TOY, 5).to_csr()
    with pytest.warns(UserWarning, match="without time order"):
        Markov().fit(train)


def test_fit_in_time_order_uses_the_split_order():
    # user 0 watched 4 then 2 then 3 (in time); item-index order would say 2, 3, 4.
    data = frame([(0, 4, 1), (0, 2, 2), (0, 3, 3), (0, 1, 4), (1, 4, 1), (1, 2, 2), (1, 0, 3)])
    parts = split(data, SplitConfig(kind="leave_last", n=1), seed=0)
    train = sp.csr_matrix(
        (np.ones(parts.fit.height), (parts.fit["user_idx"], parts.fit["item_idx"])), shape=(2, 5)
    )
    model = fit_in_time_order(Markov(MarkovParams(backoff=0.0)), train, parts)
    assert model.input_sequences_.row(0).tolist() == [4, 2, 3]
    scores = model._scores(np.array([1]), sp.csr_matrix((1, 5)))[0]
    assert scores[3] == pytest.approx(1.0)  # user 1's last training item is 2, and 2 -> 3 only


# ---- SKNN ----------------------------------------------------------------------------------------


def naive_sknn(train: SequenceData, inputs: SequenceData, users, params: SKNNParams):
    n_users, n_items = train.n_users, train.n_items
    binary = [set(train.row(v).tolist()) for v in range(n_users)]
    out = []
    for u in users:
        recent = inputs.row(u)[-params.window :].tolist()
        weights: dict[int, float] = {}
        for steps, item in enumerate(reversed(recent)):
            w = (params.window - steps) / params.window if params.decay == "linear" else 1.0
            weights[item] = weights.get(item, 0.0) + w
        norm = np.sqrt(sum(w * w for w in weights.values()))
        sims = np.zeros(n_users)
        for v in range(n_users):
            if v == u or not binary[v] or norm == 0:
                continue
            sims[v] = sum(w for i, w in weights.items() if i in binary[v]) / (
                norm * np.sqrt(len(binary[v]))
            )
        chosen = np.argsort(-sims, kind="stable")[: params.neighbors]
        scores = np.zeros(n_items)
        for v in chosen:
            for i in binary[v]:
                scores[i] += sims[v]
        out.append(scores)
    return np.array(out)


@pytest.mark.parametrize("decay", ["linear", "none"])
def test_sknn_matches_naive_reference_with_all_neighbours(decay):
    rng = np.random.default_rng(7)
    train, inputs = random_sequences(rng), random_sequences(rng)
    params = SKNNParams(neighbors=train.n_users, window=5, decay=decay)
    model = SKNN(params).fit_sequences(train.to_csr(), train, inputs)
    users = rng.permutation(train.n_users)
    got = model._scores(users, inputs.take(users).to_csr())
    np.testing.assert_allclose(got, naive_sknn(train, inputs, users, params), rtol=1e-5, atol=1e-6)


def test_sknn_top_k_neighbours_hand_computed():
    # Query user 0 recently had [5, 1, 2] (window 2 keeps [1, 2], linear weights 0.5 and 1).
    train = [[5, 1, 2], [1, 2, 3], [2, 4], [0, 1]]
    model = SKNN(SKNNParams(neighbors=1, window=2, decay="linear")).fit_sequences(
        seqs(train, 6).to_csr(), seqs(train, 6)
    )
    scores = model._scores(np.array([0]), sp.csr_matrix((1, 6)))[0]
    norm = np.sqrt(0.5**2 + 1.0**2)
    sim_1 = (0.5 + 1.0) / (norm * np.sqrt(3))  # beats user 2: 1.0 / (norm sqrt 2), user 3: 0.5/...
    expected = np.zeros(6)
    expected[[1, 2, 3]] = sim_1
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_sknn_recommend_shapes_and_exclusion():
    rng = np.random.default_rng(11)
    train = random_sequences(rng, n_users=50, n_items=40)
    model = SKNN(SKNNParams(neighbors=5)).fit_sequences(train.to_csr(), train)
    users = np.arange(50)
    history = train.to_csr()
    items, scores = model.recommend(users, history, k=7)
    assert items.shape == (50, 7)
    for u in range(50):
        assert not set(items[u][items[u] >= 0].tolist()) & set(train.row(u).tolist())
        valid = scores[u][items[u] >= 0]
        assert np.all(np.diff(valid) <= 1e-6)
