"""RecBole 1.2.1 models behind the `Recommender` protocol: the only module that imports recbole/torch.

Training data become RecBole atomic files whose tokens are our own indices, so RecBole's internal
ids map back exactly; RecBole trains through its lower-level API (Config, create_dataset,
data_preparation, get_model, get_trainer), and scoring is our batched full-catalogue top-k over
`full_sort_predict`. Known incompatibilities (docs/models.md) are handled here: numpy-2 aliases,
no checkpoint round trip through `torch.load`, anomaly detection switched back off, pandas < 3
enforced and a NaN check on the loaded data, no `quick_start` (ray), and every file RecBole writes
(log, tensorboard, checkpoints) kept in `work_dir`. Zhao et al., "RecBole", CIKM 2021.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import UserError
from recsys_cli.models.base import Epoch, FitContext, Recommender, TrainingLog
from recsys_cli.models.sequences import SequenceData, SequentialModel

_DATASET = "toolkit"  # never a name RecBole knows (it would download "ml-100k" instead)
Device = Literal["cpu", "cuda"]
_PAIRS_PER_BATCH = 1 << 18  # (user, item) rows per predict call for models without full sort


def _prepare_libraries() -> None:
    """Make recbole 1.2.1 importable and safe on numpy 2 / scipy / pandas: aliases, a shim and
    a version pin."""
    import numpy

    for alias, target in (
        ("float_", "float64"),
        ("complex_", "complex128"),
        ("unicode_", "str_"),
        ("bool8", "bool_"),
    ):
        if not hasattr(numpy, alias):
            setattr(numpy, alias, getattr(numpy, target))
    import scipy.sparse

    if not hasattr(scipy.sparse.dok_matrix, "_update"):
        # scipy >= 1.12 dropped the private bulk update the graph models (LightGCN, NGCF) call.
        scipy.sparse.dok_matrix._update = _dok_update
    import pandas

    if int(pandas.__version__.split(".")[0]) >= 3:
        # pandas 3 turns RecBole's fillna(inplace=True) into a silent no-op (NaN stays NaN).
        raise UserError(
            f"RecBole models need pandas < 3 (found {pandas.__version__}): pip install 'pandas<3'"
        )


def _dok_update(self, entries: dict) -> None:
    """dok_matrix._update of scipy < 1.12: bulk-insert {(row, col): value} entries."""
    self._dict.update(entries)


def _import_recbole():
    _prepare_libraries()
    import torch

    anomaly = torch.is_anomaly_enabled()
    import recbole.model.sequential_recommender  # noqa: F401  (sine.py turns on anomaly mode)
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    # Importing the sequential models calls set_detect_anomaly(True) (2x slower training).
    torch.autograd.set_detect_anomaly(anomaly)
    return Config, create_dataset, data_preparation, get_model, get_trainer, init_seed


@contextlib.contextmanager
def _recbole_side_effects_in(work_dir: Path) -> Iterator[None]:
    """Keep RecBole's command-line parsing and tensorboard folder away from the process state.

    `Config` parses `sys.argv` for --key=value pairs (pytest's or the CLI's own), and the trainer
    opens a SummaryWriter under ./log_tensorboard; both are redirected while a model is built.
    """
    import recbole.trainer.trainer as trainer_module
    from torch.utils.tensorboard import SummaryWriter

    argv, writer_factory = sys.argv, trainer_module.get_tensorboard
    sys.argv = argv[:1]
    trainer_module.get_tensorboard = lambda logger: SummaryWriter(str(work_dir / "log_tensorboard"))
    try:
        with warnings.catch_warnings():
            # pandas 2 announces that RecBole's chained fillna(inplace=True) stops working in 3.
            warnings.filterwarnings("ignore", category=FutureWarning, module="recbole")
            yield
    finally:
        sys.argv = argv
        trainer_module.get_tensorboard = writer_factory


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to n (> 0) for the block, restored after it."""
    import torch

    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_no_missing(dataset) -> None:
    """Raise if any loaded float field still holds NaN (RecBole's fillna did not take effect)."""
    feat = dataset.inter_feat
    if hasattr(feat, "interaction"):  # after build(): torch tensors
        missing = [
            f
            for f, v in feat.interaction.items()
            if v.is_floating_point() and bool(v.isnan().any())
        ]
    else:  # a pandas DataFrame straight after loading
        missing = [f for f in feat.columns if feat[f].dtype.kind == "f" and feat[f].isna().any()]
    for field in missing:
        raise RuntimeError(
            f"RecBole left NaN in field {field!r}: its fillna did not run (pandas >= 3?)"
        )


@dataclass(frozen=True)
class RecBoleParams:
    epochs: int = 20
    embedding_size: int = 64
    learning_rate: float = 0.001
    train_batch_size: int = 2048
    eval_batch_size: int = 4096
    weight_decay: float = 0.0
    device: Device = "cpu"
    num_threads: int = 0  # torch intra-op threads while training and scoring; 0 = torch's default
    # Early stopping: stop after `patience` epochs without a better validation NDCG@10 (our own
    # evaluator, full ranking) and keep the best epoch's weights; 0 = train every epoch.
    patience: int = 0

    SEARCH_SPACE = {  # `rank tune`'s default ranges, shared by every RecBole model
        "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
        "embedding_size": {"choices": [32, 64, 128]},
        "epochs": {"low": 10, "high": 100},
    }

    def __post_init__(self) -> None:
        if min(self.epochs, self.embedding_size, self.train_batch_size, self.eval_batch_size) < 1:
            raise ValueError("epochs, embedding_size and batch sizes must be >= 1")
        if self.patience < 0:
            raise ValueError("patience must be >= 0")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.num_threads < 0:
            raise ValueError("learning_rate must be > 0, weight_decay and num_threads >= 0")

    def recbole_config(self) -> dict:
        """The RecBole config keys these parameters set."""
        return {
            "epochs": self.epochs,
            "embedding_size": self.embedding_size,
            "learning_rate": self.learning_rate,
            "train_batch_size": self.train_batch_size,
            "eval_batch_size": self.eval_batch_size,
            "weight_decay": self.weight_decay,
        }


class RecBoleModel(Recommender):
    """A RecBole model trained on our split; subclasses name the model and map their params.

    `fit`'s `work_dir` receives the atomic files, RecBole's tensorboard folder and checkpoint
    dir; by default a temporary directory removed after training. Each epoch is counted on the
    fit's progress, kept in `training_log_` and passed to its `on_epoch`. `recbole_truth`
    (users x items, general models only) is written as RecBole's test file and scored by
    RecBole's own evaluator after training, into `recbole_test_result_` (a cross-check).
    """

    folds_in: ClassVar[bool] = False  # user embeddings exist only for training users
    shardable: ClassVar[bool] = False  # torch state and the epoch callback stay in this process
    recbole_name: ClassVar[str]
    sequential: ClassVar[bool] = False
    Params = RecBoleParams

    def __init__(self, params=None, seed: int = 0, recbole_truth: sp.csr_matrix | None = None):
        super().__init__(params, seed)
        self.recbole_truth = recbole_truth

    # ---- training -------------------------------------------------------------------------
    def _fit_with(self, train: sp.csr_matrix, context: FitContext) -> None:
        if self.params.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise UserError(f"{type(self).__name__}: device = 'cuda' but no GPU is visible")
        validation = self._hold_out(train) if self.params.patience else None
        learn_from = validation.train if validation is not None else train
        with _torch_threads(self.params.num_threads):
            if context.work_dir is not None:
                Path(context.work_dir).mkdir(parents=True, exist_ok=True)
                self._train_in(Path(context.work_dir), learn_from, validation, context)
            else:
                folder = Path(tempfile.mkdtemp(prefix="recbole-"))
                try:
                    self._train_in(folder, learn_from, validation, context)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
        self._after_training()

    def _hold_out(self, train: sp.csr_matrix) -> Holdout:
        """One random training item of each user with two or more: the early-stopping target."""
        rng = np.random.default_rng(self.seed)
        lengths = np.diff(train.indptr)
        users = np.flatnonzero(lengths >= 2)
        picks = train.indptr[users] + (rng.random(len(users)) * lengths[users]).astype(np.int64)
        return _holdout(train, users, train.indices[picks])

    def _after_training(self) -> None:
        """Hook: sequential models restore their full input sequences here."""

    def _validation_ndcg(self, validation: Holdout) -> float:
        from recsys_cli.metrics.accuracy import METRICS, accuracy_metrics

        self.model_.eval()
        items, _ = self.recommend(validation.users, validation.train[validation.users], 10)
        truth = validation.truth
        values = accuracy_metrics(items, truth.indptr, truth.indices, (10,))
        return float(np.mean(values[METRICS.index("ndcg"), 0]))

    def _train_in(
        self,
        folder: Path,
        train: sp.csr_matrix,
        validation: Holdout | None,
        context: FitContext,
    ) -> None:
        Config, create_dataset, data_preparation, get_model, get_trainer, init_seed = (
            _import_recbole()
        )
        import torch

        self._write_atomic_files(folder / "data" / _DATASET, train)
        with _recbole_side_effects_in(folder):
            config = Config(
                model=self.recbole_name, dataset=_DATASET, config_dict=self._config_dict(folder)
            )
            init_seed(self.seed, reproducibility=True)
            dataset = create_dataset(config)
            check_no_missing(dataset)
            train_data, _, test_data = data_preparation(config, dataset)
            init_seed(self.seed, reproducibility=True)
            model = get_model(config["model"])(config, train_data.dataset).to(config["device"])
            with warnings.catch_warnings():
                # recbole 1.2.1 builds a deprecated torch.cuda.amp.GradScaler: not the user's news.
                warnings.simplefilter("ignore", FutureWarning)
                trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
        self.model_ = model
        self.trained_user_ = np.diff(train.indptr) > 0
        self.device_ = torch.device(config["device"])
        self._set_id_maps(dataset, config)
        log = self.training_log_ = TrainingLog()
        context.progress.total(self.params.epochs, "epochs")
        best, best_state = -np.inf, None
        try:
            for epoch in range(self.params.epochs):
                started = time.perf_counter()
                loss = trainer._train_epoch(train_data, epoch, show_progress=False)
                seconds = time.perf_counter() - started
                loss = float(sum(loss) if isinstance(loss, tuple) else loss)
                if not np.isfinite(loss):
                    raise RuntimeError(f"{self.recbole_name}: loss became {loss} at epoch {epoch}")
                score = None
                if validation is not None:
                    score = self._validation_ndcg(validation)
                    if score > best:
                        best, log.best_epoch = score, epoch
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                context.epoch_done(log, Epoch(loss, seconds, score))
                if validation is not None and epoch - log.best_epoch >= self.params.patience:
                    break
            if best_state is not None:
                model.load_state_dict(best_state)
            if self.recbole_truth is not None:
                trainer.eval_collector.data_collect(train_data)
                result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
                self.recbole_test_result_ = {k: float(v) for k, v in result.items()}
        finally:
            trainer.tensorboard.close()
        model.eval()

    def _set_id_maps(self, dataset, config) -> None:
        """ours -> RecBole internal ids (0 = absent) for users and items, and back for items."""
        for kind, field, count in (
            ("user", config["USER_ID_FIELD"], self.n_users_),
            ("item", config["ITEM_ID_FIELD"], self.n_items_),
        ):
            tokens = dataset.field2id_token[field]  # internal id -> token; tokens[0] = [PAD]
            ours = np.asarray(tokens[1:], dtype=np.int64)
            to_recbole = np.zeros(count, dtype=np.int64)
            to_recbole[ours] = np.arange(1, len(tokens))
            setattr(self, f"{kind}_to_recbole_", to_recbole)
            if kind == "item":
                self.recbole_to_item_ = np.concatenate([[-1], ours])

    def _config_dict(self, folder: Path) -> dict:
        config = {
            "data_path": str(folder / "data"),
            "checkpoint_dir": str(folder / "saved"),
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": self._columns()},
            # With benchmark files RecBole neither splits nor reorders; "TO" passes its check.
            "eval_args": {"order": "TO", "group_by": "user", "mode": "full"},
            "metrics": ["Recall", "NDCG"],
            "topk": [10],
            "valid_metric": "NDCG@10",
            "use_gpu": self.params.device == "cuda",
            "seed": self.seed,
            "reproducibility": True,
            "show_progress": False,
            "state": "WARNING",
            "log_wandb": False,
            "save_dataset": False,
            "save_dataloaders": False,
            "metric_decimal_place": 6,
            "filter_inter_by_user_or_item": False,
            "user_inter_num_interval": None,
            "item_inter_num_interval": None,
        }
        config.update(self.params.recbole_config())
        config.update(self._model_config())
        return config

    def _columns(self) -> list[str]:
        return ["user_id", "item_id", "weight"]

    def _model_config(self) -> dict:
        return {}

    def _write_atomic_files(self, folder: Path, train: sp.csr_matrix) -> None:
        """train/valid/test .inter files; tokens are our indices. valid holds one training pair
        (the loaders need the file), test `recbole_truth` or likewise one training pair."""
        folder.mkdir(parents=True, exist_ok=True)
        coo = train.tocoo()
        if coo.nnz == 0:
            raise UserError(f"{type(self).__name__}: the training split is empty")
        header = "user_id:token\titem_id:token\tweight:float\n"
        rows = np.column_stack([coo.row, coo.col]).astype(np.int64)
        _write_rows(folder / f"{_DATASET}.train.inter", header, rows, coo.data)
        # A training pair again: already history, so it changes no ranking RecBole evaluates.
        _write_rows(folder / f"{_DATASET}.valid.inter", header, rows[:1], coo.data[:1])
        if self.recbole_truth is None:
            _write_rows(folder / f"{_DATASET}.test.inter", header, rows[:1], coo.data[:1])
            return
        truth = sp.coo_matrix(self.recbole_truth)
        if truth.shape != train.shape:
            raise ValueError(f"recbole_truth shape {truth.shape} != train shape {train.shape}")
        _write_rows(
            folder / f"{_DATASET}.test.inter",
            header,
            np.column_stack([truth.row, truth.col]).astype(np.int64),
            np.ones(truth.nnz, np.float32),
        )

    # ---- scoring --------------------------------------------------------------------------
    def _scores(self, users: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
        import torch

        out = np.full((len(users), self.n_items_), -np.inf, dtype=np.float32)
        known = self.recbole_to_item_ >= 0
        step = self.params.eval_batch_size
        with torch.no_grad(), _torch_threads(self.params.num_threads):
            for start in range(0, len(users), step):
                rows = slice(start, start + step)
                scores, valid = self._recbole_scores(users[rows], history[rows])
                block = np.full((len(scores), self.n_items_), -np.inf, dtype=np.float32)
                block[:, self.recbole_to_item_[known]] = scores[:, known]
                block[~valid] = 0.0
                out[rows] = block
        return out

    def _recbole_scores(self, users: np.ndarray, history: sp.csr_matrix):
        """(scores over RecBole's item ids, rows that could be scored)."""
        import torch
        from recbole.data.interaction import Interaction

        internal = self.user_to_recbole_[users]
        valid = (internal > 0) & self.trained_user_[users]
        unscorable = ~valid & (np.diff(history.indptr) > 0)
        if unscorable.any():
            raise UserError(
                f"{type(self).__name__} cannot fold in users without training interactions "
                f"({int(unscorable.sum())} here); use a split other than kind = 'users'"
            )
        ids = torch.as_tensor(internal, device=self.device_)
        field = self.model_.USER_ID
        try:
            scores = self.model_.full_sort_predict(Interaction({field: ids}).to(self.device_))
        except NotImplementedError:  # pointwise models (NeuMF): predict every (user, item) pair
            n_items = len(self.recbole_to_item_)
            every = torch.arange(n_items, device=self.device_)
            step = max(1, _PAIRS_PER_BATCH // n_items)
            parts = []
            for start in range(0, len(ids), step):
                chunk = ids[start : start + step]
                pairs = Interaction(
                    {
                        field: chunk.repeat_interleave(n_items),
                        self.model_.ITEM_ID: every.repeat(len(chunk)),
                    }
                )
                parts.append(self.model_.predict(pairs.to(self.device_)))
            scores = torch.cat(parts)
        scores = scores.reshape(len(users), -1).float().cpu().numpy()
        return scores, valid


@dataclass(frozen=True)
class Holdout:
    """Early-stopping split of the training matrix: `train` without the held-out pairs; `truth`
    (rows aligned with `users`) holds one held-out item per user."""

    train: sp.csr_matrix
    users: np.ndarray
    truth: sp.csr_matrix


def _holdout(train: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> Holdout:
    held = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=train.shape)
    remaining = train - train.multiply(held)
    remaining.eliminate_zeros()
    truth = sp.csr_matrix(
        (np.ones(len(users), np.float32), (np.arange(len(users)), items)),
        shape=(len(users), train.shape[1]),
    )
    return Holdout(sp.csr_matrix(remaining), users, truth)


def _write_rows(path: Path, header: str, ids: np.ndarray, weights: np.ndarray) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(header)
        np.savetxt(
            handle, np.column_stack([ids, weights]), fmt=["%d", "%d", "%.6g"], delimiter="\t"
        )


_ROWS_PER_CHUNK = 100_000


def _augmented_rows(seq, users, position, targets, max_len: int):
    """user, target item and the space-joined previous (up to max_len) items of each target,
    vectorised: a targets x max_len matrix of positions, masked before the user's start."""
    import polars as pl

    offsets = np.arange(-max_len, 0)
    positions = targets[:, None] + offsets[None, :]
    inside = offsets[None, :] >= -position[targets][:, None]
    values = np.where(inside, seq.items[np.maximum(positions, 0)], -1).astype(np.int64)
    prefix = (
        pl.Series("p", values)
        .arr.to_list()
        .list.eval(pl.element().filter(pl.element() >= 0).cast(pl.Utf8))
        .list.join(" ")
    )
    return pl.DataFrame({"user": users[targets], "item": seq.items[targets], "prefix": prefix})


class RecBoleSequentialModel(SequentialModel, RecBoleModel):
    """A sequential RecBole model: trained on every prefix of each user's time-ordered training
    sequence (the last `max_len` items predict the next one) and asked for the next items after
    the user's most recent input."""

    folds_in = True  # a sequence model reads the input history itself
    sequential = True

    def _fit_with(self, train: sp.csr_matrix, context: FitContext) -> None:
        if self.recbole_truth is not None:
            raise ValueError("recbole_truth (RecBole's own evaluation) is for general models")
        self.sequences_, self.input_sequences_ = self._take_sequences(train)
        super()._fit_with(train, context)

    def _hold_out(self, train: sp.csr_matrix) -> Holdout:
        """The last training item of each sequence of two or more: predict it from the rest."""
        seq = self.sequences_
        users = np.flatnonzero(seq.lengths >= 2)
        last = seq.items[seq.indptr[users + 1] - 1].astype(np.int64)
        keep = np.ones(len(seq.items), dtype=bool)
        keep[seq.indptr[users + 1] - 1] = False
        lengths = seq.lengths - np.isin(np.arange(seq.n_users), users)
        indptr = np.zeros(seq.n_users + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        self._full_sequences = (self.sequences_, self.input_sequences_)
        self.sequences_ = self.input_sequences_ = SequenceData(indptr, seq.items[keep], seq.n_items)
        return _holdout(train, users, last)

    def _after_training(self) -> None:
        if hasattr(self, "_full_sequences"):
            self.sequences_, self.input_sequences_ = self._full_sequences
            del self._full_sequences

    def _columns(self) -> list[str]:
        return ["user_id", "item_id", "item_id_list"]

    def _model_config(self) -> dict:
        return {
            "MAX_ITEM_LIST_LENGTH": self.params.max_len,
            "train_neg_sample_args": None,
            "loss_type": "CE",
            "alias_of_item_id": ["item_id_list"],
        }

    def _write_atomic_files(self, folder: Path, train: sp.csr_matrix) -> None:
        """Augmented rows (user, target, previous max_len items), the way RecBole's own
        data_augmentation builds them, but with our time order and tie-breaking."""
        folder.mkdir(parents=True, exist_ok=True)
        seq = self.sequences_
        position = np.arange(len(seq.items)) - np.repeat(seq.indptr[:-1], seq.lengths)
        targets = np.flatnonzero(position > 0)
        if len(targets) == 0:
            raise UserError(f"{type(self).__name__}: no user has two training interactions")
        users = np.repeat(np.arange(seq.n_users), seq.lengths)
        header = "user_id:token\titem_id:token\titem_id_list:token_seq\n"
        first = ""
        with (folder / f"{_DATASET}.train.inter").open("w", encoding="utf-8") as handle:
            handle.write(header)
            for start in range(0, len(targets), _ROWS_PER_CHUNK):
                rows = _augmented_rows(
                    seq,
                    users,
                    position,
                    targets[start : start + _ROWS_PER_CHUNK],
                    self.params.max_len,
                )
                text = rows.write_csv(separator="\t", include_header=False)
                first = first or text.splitlines(keepends=True)[0]
                handle.write(text)
        for part in ("valid", "test"):
            (folder / f"{_DATASET}.{part}.inter").write_text(header + first, encoding="utf-8")

    def _recbole_scores(self, users: np.ndarray, history: sp.csr_matrix):
        import torch
        from recbole.data.interaction import Interaction

        query = self._query_sequences(users, history)
        # Items unseen in training have no RecBole id: drop them from the input sequence.
        mapped = self.item_to_recbole_[query.items]
        kept = mapped > 0
        lengths = (
            np.add.reduceat(kept, query.indptr[:-1])
            if len(kept)
            else np.zeros(len(users), np.int64)
        )
        lengths[query.lengths == 0] = 0
        indptr = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        known = SequenceData(indptr, mapped[kept] - 1, len(self.recbole_to_item_) - 1)
        padded, length = known.padded(self.params.max_len, fill=0, offset=1)
        valid = length > 0
        interaction = Interaction(
            {
                self.model_.ITEM_SEQ: torch.as_tensor(padded),
                self.model_.ITEM_SEQ_LEN: torch.as_tensor(np.maximum(length, 1)),
            }
        ).to(self.device_)
        scores = self.model_.full_sort_predict(interaction)
        return scores.reshape(len(users), -1).float().cpu().numpy(), valid


# ---- general models ---------------------------------------------------------------------------


class BPR(RecBoleModel):
    """Matrix factorisation trained on ln sigma(x_ui - x_uj) over sampled negatives.

    Rendle et al., UAI 2009 (RecBole's BPR).
    """

    recbole_name = "BPR"


@dataclass(frozen=True)
class LightGCNParams(RecBoleParams):
    n_layers: int = 2
    reg_weight: float = 1e-5

    def _model(self) -> dict:
        return {"n_layers": self.n_layers, "reg_weight": self.reg_weight}


class LightGCN(RecBoleModel):
    """Graph convolution without transforms: e^(k+1) = D^-1/2 A D^-1/2 e^(k), e = mean_k e^(k).

    He et al., SIGIR 2020.
    """

    recbole_name = "LightGCN"
    Params = LightGCNParams

    def _model_config(self) -> dict:
        return self.params._model()


@dataclass(frozen=True)
class MultVAEParams(RecBoleParams):
    hidden_sizes: tuple[int, ...] = (600,)
    dropout_prob: float = 0.5
    anneal_cap: float = 0.2
    total_anneal_steps: int = 200000


class MultVAE(RecBoleModel):
    """Variational autoencoder with a multinomial likelihood over the user's items; the latent
    dimension is `embedding_size`. ELBO with KL weight beta annealed up to `anneal_cap`.

    Liang et al., WWW 2018 (RecBole's MultiVAE).
    """

    recbole_name = "MultiVAE"
    Params = MultVAEParams

    def _model_config(self) -> dict:
        p = self.params
        return {
            "mlp_hidden_size": list(p.hidden_sizes),
            "latent_dimension": p.embedding_size,
            "dropout_prob": p.dropout_prob,
            "anneal_cap": p.anneal_cap,
            "total_anneal_steps": p.total_anneal_steps,
        }


@dataclass(frozen=True)
class NeuMFParams(RecBoleParams):
    mlp_hidden_sizes: tuple[int, ...] = (128, 64)
    dropout_prob: float = 0.1


class NeuMF(RecBoleModel):
    """Neural matrix factorisation: sigma(h^T [p_u * q_i ; MLP([p'_u ; q'_i])]), pointwise loss.

    He et al., WWW 2017. Both embedding tables have `embedding_size` columns.
    """

    recbole_name = "NeuMF"
    Params = NeuMFParams

    def _model_config(self) -> dict:
        p = self.params
        return {
            "mf_embedding_size": p.embedding_size,
            "mlp_embedding_size": p.embedding_size,
            "mlp_hidden_size": list(p.mlp_hidden_sizes),
            "dropout_prob": p.dropout_prob,
        }


# ---- sequential models ------------------------------------------------------------------------


@dataclass(frozen=True)
class TransformerParams(RecBoleParams):
    max_len: int = 50
    n_layers: int = 2
    n_heads: int = 2
    inner_size: int = 256
    dropout_prob: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_len < 1 or self.n_layers < 1 or self.n_heads < 1:
            raise ValueError("max_len, n_layers and n_heads must be >= 1")
        if self.embedding_size % self.n_heads:
            raise ValueError("embedding_size must be a multiple of n_heads")

    def _transformer(self) -> dict:
        return {
            "hidden_size": self.embedding_size,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "inner_size": self.inner_size,
            "hidden_dropout_prob": self.dropout_prob,
            "attn_dropout_prob": self.dropout_prob,
        }


class SASRec(RecBoleSequentialModel):
    """Causal self-attention over the last `max_len` items; next item by softmax over the
    catalogue (cross-entropy). Kang & McAuley, ICDM 2018."""

    recbole_name = "SASRec"
    Params = TransformerParams

    def _model_config(self) -> dict:
        return {**super()._model_config(), **self.params._transformer()}


@dataclass(frozen=True)
class BERT4RecParams(TransformerParams):
    mask_ratio: float = 0.2


class BERT4Rec(RecBoleSequentialModel):
    """Bidirectional self-attention trained by masked-item prediction (Cloze); the next item is
    predicted at a mask appended after the input. Sun et al., CIKM 2019."""

    recbole_name = "BERT4Rec"
    Params = BERT4RecParams

    def _model_config(self) -> dict:
        return {
            **super()._model_config(),
            **self.params._transformer(),
            "mask_ratio": self.params.mask_ratio,
        }


@dataclass(frozen=True)
class GRU4RecParams(RecBoleParams):
    max_len: int = 50
    hidden_size: int = 128
    num_layers: int = 1
    dropout_prob: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_len < 1 or self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError("max_len, hidden_size and num_layers must be >= 1")


class GRU4Rec(RecBoleSequentialModel):
    """GRU over the item sequence, next item by softmax over the catalogue (cross-entropy).

    Hidasi et al., ICLR 2016; Tan et al., DLRS 2016 (RecBole's GRU4Rec).
    """

    recbole_name = "GRU4Rec"
    Params = GRU4RecParams

    def _model_config(self) -> dict:
        p = self.params
        return {
            **super()._model_config(),
            "hidden_size": p.hidden_size,
            "num_layers": p.num_layers,
            "dropout_prob": p.dropout_prob,
        }
