"""RecBole adapter: library fixes, params from TOML, training on ML-100K, cross-check of metrics.

The cross-check trains BPR once with our test truth written as RecBole's test file, so RecBole's
own full-sort evaluator and ours score the same model on the same split. Both use binary gain,
IDCG over min(|T_u|, K) and Recall = hits / |T_u|, and both exclude the training items, so the
only expected differences are the order among tied float32 scores (torch.topk vs our kernel)
and RecBole rounding its means to `metric_decimal_place` = 6: tolerance 1e-4 absolute (measured:
NDCG@10 0.039337 both, Recall@10 0.083775 both).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("recbole")

from recsys_cli.config.schema import FilterConfig, SplitConfig  # noqa: E402
from recsys_cli.config.validate import build  # noqa: E402
from recsys_cli.data.embedded import load_recbole_ml100k  # noqa: E402
from recsys_cli.data.prepare import index_dataset, to_csr  # noqa: E402
from recsys_cli.data.splits import split  # noqa: E402
from recsys_cli.errors import RecipeError  # noqa: E402
from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics  # noqa: E402
from recsys_cli.models import recbole_adapter as adapter  # noqa: E402
from recsys_cli.models.baselines import Popularity  # noqa: E402
from recsys_cli.models.sequences import SequenceData, fit_in_time_order  # noqa: E402

pytestmark = pytest.mark.recbole
TOLERANCE = 1e-4


def test_importing_the_adapter_does_not_import_torch():
    import subprocess

    code = "import recsys_cli.models.recbole_adapter, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_library_fixes_applied_on_import():
    import torch

    torch.autograd.set_detect_anomaly(False)
    adapter._import_recbole()
    assert np.float_ is np.float64 and np.unicode_ is np.str_
    assert "recbole.model.sequential_recommender.sine" in sys.modules
    assert not torch.is_anomaly_enabled()
    dok = sp.dok_matrix((2, 3), dtype=np.float32)
    dok._update({(0, 2): 1.0, (1, 0): 2.0})  # what LightGCN builds its graph with
    assert dok.toarray().tolist() == [[0, 0, 1], [2, 0, 0]]


def test_params_validate_from_toml_tables():
    params = build(
        adapter.SASRec.Params,
        {"max_len": 10, "embedding_size": 32, "n_layers": 1, "device": "cuda"},
        "models[0].params",
    )
    assert params.max_len == 10 and params.device == "cuda"
    vae = build(adapter.MultVAE.Params, {"hidden_sizes": [200, 100]}, "p")
    assert vae.hidden_sizes == (200, 100)
    with pytest.raises(RecipeError, match="multiple of n_heads"):
        build(adapter.SASRec.Params, {"embedding_size": 33}, "p")
    with pytest.raises(RecipeError, match="'cpu'"):
        build(adapter.BPR.Params, {"device": "gpu"}, "p")


def test_missing_values_are_filled_and_a_left_nan_is_caught(tmp_path, monkeypatch):
    """RecBole fills a missing float with the field mean (pandas < 3); the guard catches NaN."""
    Config, create_dataset, *_ = adapter._import_recbole()
    folder = tmp_path / "data" / "nan"
    folder.mkdir(parents=True)
    (folder / "nan.inter").write_text(
        textwrap.dedent("""\
        user_id:token\titem_id:token\tweight:float
        1\t1\t2.0
        1\t2\t
        2\t1\t4.0
        """)
    )
    monkeypatch.chdir(tmp_path)
    with adapter._recbole_side_effects_in(tmp_path):
        config = Config(
            model="BPR",
            dataset="nan",
            config_dict={
                "data_path": str(tmp_path / "data"),
                "checkpoint_dir": str(tmp_path / "saved"),
                "load_col": {"inter": ["user_id", "item_id", "weight"]},
                "normalize_all": False,
                "state": "WARNING",
            },
        )
        dataset = create_dataset(config)
    adapter.check_no_missing(dataset)
    weights = dataset.inter_feat["weight"].to_numpy()
    assert not np.isnan(weights).any()
    assert sorted(weights.tolist()) == [2.0, 3.0, 4.0]
    dataset.inter_feat.loc[0, "weight"] = np.nan
    with pytest.raises(RuntimeError, match="NaN in field 'weight'"):
        adapter.check_no_missing(dataset)


@pytest.fixture(scope="module")
def ml100k():
    """ML-100K, leave-last-one-out (time order), as training CSR, truth and sequences."""
    indexed = index_dataset(load_recbole_ml100k(), FilterConfig())
    parts = split(indexed.interactions, SplitConfig(kind="leave_last", n=1), seed=0)
    shape = (indexed.n_users, indexed.n_items)
    train = to_csr(parts.fit, *shape)
    truth = to_csr(parts.truth, *shape)
    truth.data[:] = 1.0
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    return parts, train, truth, users


def accuracy_at_10(model, train, truth, users) -> dict[str, float]:
    items, _ = model.recommend(users, train[users], 10)
    rows = sp.csr_matrix(truth[users])
    rows.sort_indices()
    values = accuracy_metrics(items, rows.indptr, rows.indices, (10,))
    return {name: float(values[METRICS.index(name), 0].mean()) for name in ("ndcg", "recall")}


@pytest.fixture(scope="module")
def popularity(ml100k):
    _, train, truth, users = ml100k
    return accuracy_at_10(Popularity().fit(train), train, truth, users)


@pytest.mark.slow
def test_bpr_beats_popularity_and_agrees_with_recboles_evaluator(ml100k, popularity, tmp_path):
    parts, train, truth, users = ml100k
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    params = adapter.BPR.Params(epochs=10, embedding_size=64, learning_rate=0.01)
    model = adapter.BPR(params, seed=0, recbole_truth=truth)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        fit_in_time_order(model, train, parts, work_dir=tmp_path / "run")
        ours = accuracy_at_10(model, train, truth, users)
    print(
        f"BPR ours {ours}, RecBole {model.recbole_test_result_}, popularity {popularity}, "
        f"epoch s {epoch_seconds(model)}"
    )
    assert list(cwd.iterdir()) == []  # no log/, log_tensorboard/ or saved/ in the cwd
    assert (tmp_path / "run" / "log_tensorboard").is_dir()
    losses = model.training_log_.losses
    assert len(losses) == 10 and losses[-1] < losses[0]
    assert model.training_log_.best_epoch is None  # no early stopping: the last epoch is kept
    assert ours["ndcg"] > popularity["ndcg"] + 0.005
    recbole = model.recbole_test_result_
    assert abs(ours["ndcg"] - recbole["ndcg@10"]) < TOLERANCE
    assert abs(ours["recall"] - recbole["recall@10"]) < TOLERANCE


@pytest.mark.slow
def test_tiny_sasrec_beats_popularity(ml100k, popularity, tmp_path, monkeypatch):
    parts, train, truth, users = ml100k
    monkeypatch.chdir(tmp_path)
    params = adapter.SASRec.Params(
        epochs=3, max_len=10, embedding_size=32, n_layers=1, n_heads=2, inner_size=64, num_threads=1
    )
    model = fit_in_time_order(adapter.SASRec(params, seed=0), train, parts)
    ours = accuracy_at_10(model, train, truth, users)
    print(f"SASRec ours {ours}, popularity {popularity}, epoch s {epoch_seconds(model)}")
    assert list(Path(tmp_path).iterdir()) == []
    assert ours["ndcg"] > popularity["ndcg"] + 0.005
    # The input is the user's history in time order: reversing it must change the lists.
    reversed_model = adapter.SASRec(params, seed=0)
    reversed_model.__dict__.update(model.__dict__)
    seq = model.input_sequences_
    flipped = np.concatenate([seq.row(u)[::-1] for u in range(seq.n_users)]).astype(np.int32)
    reversed_model.input_sequences_ = type(seq)(seq.indptr, flipped, seq.n_items)
    a, _ = model.recommend(users[:100], train[users[:100]], 10)
    b, _ = reversed_model.recommend(users[:100], train[users[:100]], 10)
    assert (a != b).any()


TINY = {"epochs": 1, "embedding_size": 16, "num_threads": 1}
SEQUENTIAL_TINY = {**TINY, "max_len": 5}


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, params",
    [
        ("BPR", TINY),
        ("LightGCN", {**TINY, "n_layers": 1}),
        ("MultVAE", {**TINY, "hidden_sizes": (32,)}),
        ("NeuMF", {**TINY, "mlp_hidden_sizes": (16,)}),
        ("SASRec", {**SEQUENTIAL_TINY, "n_layers": 1, "inner_size": 16}),
        ("BERT4Rec", {**SEQUENTIAL_TINY, "n_layers": 1, "inner_size": 16}),
        ("GRU4Rec", {**SEQUENTIAL_TINY, "hidden_size": 16}),
    ],
)
def test_every_model_trains_and_ranks_unseen_catalogue_items(
    ml100k, name, params, tmp_path, monkeypatch
):
    """One epoch on 150 users: finite loss, full lists of known items, history excluded."""
    monkeypatch.chdir(tmp_path)
    parts, train, _, _ = ml100k
    users = np.arange(150)
    subset = parts.fit.filter(parts.fit["user_idx"] < 150)
    small = type(parts)(subset, parts.extra_input.clear(), parts.truth.clear(), {})
    sub_train = _rows(train, users)
    cls = getattr(adapter, name)
    model = fit_in_time_order(cls(cls.Params(**params), seed=1), sub_train, small)
    assert len(model.training_log_.losses) == 1 and np.isfinite(model.training_log_.losses[0])
    items, scores = model.recommend(users, sub_train[users], 20)
    assert (items >= 0).all() and np.isfinite(scores).all()
    trained_items = np.flatnonzero(np.diff(sub_train.tocsc().indptr) > 0)
    assert np.isin(items, trained_items).all()  # items RecBole never saw are not recommended
    for u in range(0, 150, 7):
        assert not set(items[u].tolist()) & set(sub_train[u].indices.tolist())
    assert list(Path(tmp_path).iterdir()) == []


def epoch_seconds(model) -> list[float]:
    return [round(e.seconds, 2) for e in model.training_log_.epochs]


def _rows(matrix: sp.csr_matrix, users: np.ndarray) -> sp.csr_matrix:
    """`matrix` with every row outside `users` emptied (shape kept)."""
    keep = np.zeros(matrix.shape[0])
    keep[users] = 1.0
    return sp.csr_matrix(sp.diags(keep) @ matrix, dtype=np.float32)


@pytest.mark.slow
def test_early_stopping_keeps_the_best_validation_epoch(ml100k, tmp_path, monkeypatch):
    """Validation = one held-out training item per user, scored by our evaluator each epoch;
    training stops after `patience` epochs without improvement and the best weights are kept."""
    parts, train, truth, users = ml100k
    monkeypatch.chdir(tmp_path)
    reports = []
    params = adapter.BPR.Params(epochs=40, embedding_size=32, learning_rate=0.05, patience=2)
    model = adapter.BPR(params, seed=0)
    fit_in_time_order(model, train, parts, on_epoch=lambda *args: reports.append(args))
    log = model.training_log_
    epochs = len(log.epochs)
    assert len(log.validation) == len(reports) == epochs
    assert reports == list(enumerate(log.epochs))
    best = int(np.argmax(log.validation))
    assert log.best_epoch == best
    if epochs < 40:  # stopped early: exactly `patience` epochs after the best one
        assert epochs - 1 - best == 2
    # The kept weights are the best epoch's: re-scoring the validation gives its NDCG again.
    holdout = model._hold_out(train)
    assert model._validation_ndcg(holdout) == pytest.approx(log.validation[best], abs=1e-6)
    # Validation items come from the training split: the test truth is never looked at.
    assert (np.asarray(train[holdout.users, holdout.truth.indices]).ravel() > 0).all()


@pytest.mark.slow
def test_sequential_early_stopping_restores_the_full_input_sequences(ml100k, tmp_path, monkeypatch):
    parts, train, _, users = ml100k
    monkeypatch.chdir(tmp_path)
    params = adapter.GRU4Rec.Params(**{**SEQUENTIAL_TINY, "epochs": 2, "patience": 1})
    model = fit_in_time_order(adapter.GRU4Rec(params, seed=0), train, parts)
    assert len(model.training_log_.validation) == len(model.training_log_.epochs) >= 1
    assert (model.input_sequences_.lengths == model.sequences_.lengths).all()
    assert model.sequences_.lengths.sum() == parts.fit.height  # the held-out last items are back


def test_augmented_training_rows_match_a_naive_loop():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 9, size=30)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    seq = SequenceData(indptr, rng.integers(0, 50, size=indptr[-1]).astype(np.int32), 50)
    position = np.arange(len(seq.items)) - np.repeat(seq.indptr[:-1], seq.lengths)
    targets = np.flatnonzero(position > 0)
    users = np.repeat(np.arange(seq.n_users), seq.lengths)
    rows = adapter._augmented_rows(seq, users, position, targets, max_len=3)
    expected = [
        (users[t], seq.items[t], " ".join(map(str, seq.items[max(t - position[t], t - 3) : t])))
        for t in targets
    ]
    assert rows.rows() == expected
