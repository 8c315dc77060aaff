"""`rank run --workers`: top-k scoring, reranking and evaluation sharded over 2 Dask worker
processes give the single-process run byte for byte (metrics.json, every table)."""

import json

import pytest

from recsys_cli import experiment
from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.data import synthetic

pytest.importorskip("distributed")

from test_distributed import assert_same_run  # noqa: E402

from recsys_cli.distributed.cluster import connect  # noqa: E402
from recsys_cli.distributed.executor import run_recipe_distributed  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    spec = synthetic.SynthSpec(users=400, items=300, interactions=30_000, seed=2)
    synthetic.save(synthetic.generate(spec, "dist"), spec, synthetic.synthetic_dir(root, "dist"))
    return root


RECIPE = {
    "name": "dist-run",
    "seed": 3,
    "dataset": {"name": "dist"},
    "split": {"kind": "temporal", "test": 0.2},
    "models": [
        {"name": "popularity"},
        {"name": "random"},  # not shardable: scored in the client
        {"name": "implicit_als", "label": "ALS", "params": {"factors": 8, "iterations": 3}},
        {"name": "item_knn", "label": "ItemKNN", "params": {"neighbors": 20}},
        {"name": "ease", "params": {"l2": 50.0}},
    ],
    "groups": {"tail": {"popularity_below": 0.5}},
    "variants": [
        {
            "name": "mmr",
            "models": ["ALS", "ItemKNN"],
            "chain": [{"reranker": "mmr", "lambda": 0.6, "similarity": "factors"}],
        },
        {
            "name": "fair",
            "models": ["ease"],
            "chain": [{"reranker": "fair_exposure", "group": "tail", "p": 0.8}],
        },
    ],  # fmt: skip
    # 9 users a block: shards of whole blocks, and more shards than workers
    "eval": {
        "cutoffs": [5, 20],
        "candidates": 30,
        "block_size": 9,
        "metrics": ["ndcg", "recall", "map", "ild", "coverage", "discovery", "aplt"],
    },
}


@pytest.mark.slow
def test_sharded_scoring_reranking_and_evaluation_equal_one_process(tmp_path, data_dir, client):
    from distributed import get_task_stream

    recipe = recipe_from_dict(RECIPE)
    one, spread = tmp_path / "one", tmp_path / "spread"
    one.mkdir()
    spread.mkdir()
    experiment.run_recipe(recipe, one, data_dir)
    with get_task_stream(client) as stream:
        run_recipe_distributed(client, recipe, spread, data_dir)
    assert_same_run(spread, one)
    ran = [task["key"] for task in stream.data]
    assert sum("_one_thread" in str(key) for key in ran) >= 4 * 8  # every model but random
    metrics = json.loads((spread / "metrics.json").read_text())["models"]
    assert set(metrics) == {"popularity", "random", "ALS", "ItemKNN", "ease", "ALS+mmr",
                            "ItemKNN+mmr", "ease+fair"}  # fmt: skip
