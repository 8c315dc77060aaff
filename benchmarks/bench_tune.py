"""Tuning throughput: `rank tune` versus RecBole's HyperTuning, same model, data and split.

Usage: python benchmarks/bench_tune.py [--trials 20] [--models ease,item_knn,implicit_als]
                                       [--recipe recipes/tune-ml100k.toml] [--out DIR]

Both tools tune the same hyperparameters over the same ranges with a TPE sampler (Optuna's; for
RecBole, hyperopt's `tpe.suggest`, its `algo="bayes"`) for the same number of trials, on the
recipe's split (MovieLens 100K, global temporal cut): the models learn from the training part and
every trial is scored by NDCG@10 on the validation part. RecBole gets our split as its
`benchmark_filename` atomic files (train / valid = the validation targets / test), so it neither
re-splits nor filters; users who arrive after the cut are excluded on both sides
(`split.new_users = "exclude"`), since RecBole cannot fold them in.

Each side is timed end to end, in this process: `rank tune` (data prepared once, trials, the
test run of the best configuration) and `HyperTuning.run()` with RecBole's default objective
(`recbole.quick_start.objective_function`, reproduced without its ray reporting: ray does not
import here): per trial Config, create_dataset, data_preparation, model, fit on train, evaluate on
valid and test. Trials per minute = trials / wall-clock seconds x 60.

Both sides hold the one model tuned: `rank tune` runs on the recipe with its other models
removed (so its final test run fits that model only, as RecBole's trials do).

RecBole 1.2.1 has EASE and ItemKNN but no ALS. Against implicit ALS it runs ENMF (Chen et al.,
TOIS 2020), its closest counterpart: matrix factorisation on the whole user x item matrix, every
unobserved cell a weighted negative (ALS's objective), trained by gradient steps instead of
alternating least squares. Ranges mapped: embedding_size = factors, reg_weight =
regularization, negative_weight = 1 / (1 + alpha) (ALS weighs a positive 1 + alpha, a negative
1), epochs = iterations, with one validation pass at the last epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

# (recipe model name, rank label in the recipe, RecBole model, RecBole hyperopt space builder)
RANGES = {
    "ease": "l2: log-uniform [1, 1e5] (RecBole reg_weight)",
    "item_knn": "neighbors: log-uniform int [5, 1000] (k), shrink: uniform [0, 1000]",
    "implicit_als": "factors log-int [16, 256], regularization log [1e-3, 100], alpha log "
    "[0.1, 100], iterations int [5, 50] (RecBole ENMF: the same ranges mapped)",
}


def recbole_space(model: str):
    """The default rank ranges in hyperopt terms, under RecBole's parameter names."""
    from hyperopt import hp
    from hyperopt.pyll import scope

    if model == "ease":
        return {"reg_weight": hp.loguniform("reg_weight", math.log(1.0), math.log(1e5))}
    if model == "item_knn":
        return {
            "k": scope.int(hp.qloguniform("k", math.log(5), math.log(1000), 1)),
            "shrink": hp.uniform("shrink", 0.0, 1000.0),
        }
    if model == "implicit_als":
        return {
            "embedding_size": scope.int(
                hp.qloguniform("embedding_size", math.log(16), math.log(256), 1)
            ),
            "reg_weight": hp.loguniform("reg_weight", math.log(1e-3), math.log(100.0)),
            # 1 / (1 + alpha) for alpha log-uniform in [0.1, 100]
            "negative_weight": hp.loguniform(
                "negative_weight", math.log(1 / 101), math.log(1 / 1.1)
            ),
            "epochs": scope.int(hp.quniform("epochs", 5, 50, 1)),
        }
    raise ValueError(model)


RECBOLE_NAMES = {"ease": "EASE", "item_knn": "ItemKNN", "implicit_als": "ENMF"}


def export_split(recipe, folder: Path) -> None:
    """Our tuning split as RecBole atomic files: train = the training part, valid = the
    validation targets, test = the test targets (evaluated users only), original ids."""
    import dataclasses

    from recsys_cli.experiment import prepare

    header = "user_id:token\titem_id:token\n"
    folder.mkdir(parents=True)
    parts = {}
    for part, evaluate_on in (("valid", "validation"), ("test", "test")):
        split = dataclasses.replace(recipe.split, evaluate_on=evaluate_on)
        data = prepare(dataclasses.replace(recipe, split=split))
        ids = data.indexed
        if part == "valid":
            fit = data.fit.tocoo()
            parts["train"] = np.column_stack(
                [ids.user_ids.gather(fit.row).to_numpy(), ids.item_ids.gather(fit.col).to_numpy()]
            )
        truth = data.test.filter(data.test["status"] == "evaluated")
        parts[part] = np.column_stack(
            [
                ids.user_ids.gather(truth["user_idx"]).to_numpy(),
                ids.item_ids.gather(truth["item_idx"]).to_numpy(),
            ]
        )
    for part, rows in parts.items():
        with (folder / f"bench.{part}.inter").open("w", encoding="utf-8") as handle:
            handle.write(header)
            np.savetxt(handle, rows, fmt="%s", delimiter="\t")


def recbole_objective(config_dict=None, config_file_list=None, saved=False):
    """recbole.quick_start.objective_function without `tune.report` (ray): one trial."""
    import logging

    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    config = Config(config_dict=config_dict, config_file_list=config_file_list)
    init_seed(config["seed"], config["reproducibility"])
    logger = logging.getLogger()
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    init_logger(config)
    logging.basicConfig(level=logging.ERROR)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, verbose=False, saved=saved
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved)
    return {
        "model": config["model"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }


def time_recbole(model: str, folder: Path, trials: int, seed: int) -> dict:
    from recsys_cli.models.recbole_adapter import _import_recbole, _recbole_side_effects_in

    _import_recbole()  # numpy 2 / torch aliases RecBole 1.2.1 needs
    from recbole.trainer.hyper_tuning import HyperTuning

    fixed = {
        "model": RECBOLE_NAMES[model],
        "dataset": "bench",
        "data_path": str(folder.parent),
        "checkpoint_dir": str(folder.parent / "saved"),
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]},
        "eval_args": {"order": "TO", "group_by": "user", "mode": "full"},
        "metrics": ["NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "epochs": 1,
        "seed": seed,
        "reproducibility": True,
        "use_gpu": False,
        "show_progress": False,
        "state": "ERROR",
        "log_wandb": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "filter_inter_by_user_or_item": False,
        "user_inter_num_interval": None,
        "item_inter_num_interval": None,
    }

    durations = []

    def objective(config_dict, config_file_list):
        started = time.perf_counter()
        # Trained models: no negative sampling (ENMF is non-sampling), validation once at the end.
        trained = {"train_neg_sample_args": None, "eval_step": config_dict.get("epochs", 1)}
        result = recbole_objective({**fixed, **trained, **config_dict}, config_file_list)
        durations.append(time.perf_counter() - started)
        return result

    tuner = HyperTuning(
        objective,
        space=recbole_space(model),
        algo="bayes",
        max_evals=trials,
        early_stop=trials + 1,  # no early stop: time exactly `trials` trials
    )
    started = time.perf_counter()
    with (
        _recbole_side_effects_in(folder.parent),
        contextlib.chdir(folder.parent),  # RecBole's init_logger writes ./log/ wherever it runs
        contextlib.redirect_stdout(io.StringIO()),
    ):
        tuner.run()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "trials": len(tuner.score_list),
        "trial_median_s": float(np.median(durations)),
        "best": float(tuner.best_score),
    }


def time_rank(recipe_path: Path, label: str, trials: int, seed: int, study: Path) -> dict:
    from recsys_cli.config.loader import load_raw, recipe_from_dict
    from recsys_cli.tuning.spec import parse_tune
    from recsys_cli.tuning.tune import tune

    overrides = [
        "split.new_users='exclude'",
        f"tune.model='{label}'",
        f"tune.trials={trials}",
        f"tune.seed={seed}",
        "tune.sampler='tpe'",
    ]
    started = time.perf_counter()
    raw, _ = load_raw(recipe_path, overrides)
    raw["models"] = [m for m in raw["models"] if m.get("label", m["name"]) == label]
    recipe = recipe_from_dict(raw)
    result = tune(raw, recipe, parse_tune(raw, recipe), study)
    seconds = time.perf_counter() - started
    [config] = result["configurations"]
    [row] = config["rows"]
    durations = pl.read_parquet(study / "trials.parquet")["duration_s"]
    return {
        "seconds": seconds,
        "trials": trials,
        "trial_median_s": float(durations.median()),
        "best": row["validation"]["ndcg@10"],
    }


def _shown(side: dict, rate: float) -> str:
    return (
        f"{rate:6.1f}/min ({side['seconds']:.0f} s; median trial {side['trial_median_s']:.2f} s; "
        f"best valid NDCG@10 {side['best']:.4f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--models", default="ease,item_knn,implicit_als")
    parser.add_argument("--recipe", type=Path, default=Path("recipes/tune-ml100k.toml"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="Also write the results as JSON here.")
    args = parser.parse_args()

    from recsys_cli.config.loader import load_raw

    _, recipe = load_raw(
        args.recipe, ["split.new_users='exclude'", "split.evaluate_on='validation'"]
    )
    labels = {m.name: m.label for m in recipe.models}
    work = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    rows = []
    try:
        folder = work / "bench"
        export_split(recipe, folder)
        for model in args.models.split(","):
            rank = time_rank(args.recipe, labels[model], args.trials, args.seed, work / model)
            recbole = time_recbole(model, folder, args.trials, args.seed)
            rows.append({"model": model, "ranges": RANGES[model], "rank": rank, "recbole": recbole})
            per_minute = [60 * side["trials"] / side["seconds"] for side in (rank, recbole)]
            theirs = _shown(recbole, per_minute[1]) + (
                f"  ratio {per_minute[0] / per_minute[1]:.1f}x per minute, "
                f"{recbole['trial_median_s'] / rank['trial_median_s']:.1f}x per trial"
            )
            print(
                f"{model:13s} rank {_shown(rank, per_minute[0])}  "
                f"RecBole {RECBOLE_NAMES[model]} {theirs}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.write_text(json.dumps({"trials": args.trials, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
