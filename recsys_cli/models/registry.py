"""Recipe model names -> classes; modules are imported on lookup so unused back ends stay unloaded."""

from __future__ import annotations

import importlib

from recsys_cli.models.base import Recommender

_MODELS = {
    "random": "recsys_cli.models.baselines:RandomModel",
    "popularity": "recsys_cli.models.baselines:Popularity",
    "item_knn": "recsys_cli.models.neighbourhood:ItemKNN",
    "rp3beta": "recsys_cli.models.neighbourhood:RP3beta",
    "ease": "recsys_cli.models.ease:EASE",
    "implicit_als": "recsys_cli.models.factor:ImplicitALS",
    "implicit_bpr": "recsys_cli.models.factor:ImplicitBPR",
    "markov": "recsys_cli.models.sequential:Markov",
    "sknn": "recsys_cli.models.sequential:SKNN",
    # RecBole models: torch is imported only when one of these is fitted.
    "recbole_bpr": "recsys_cli.models.recbole_adapter:BPR",
    "recbole_lightgcn": "recsys_cli.models.recbole_adapter:LightGCN",
    "recbole_multvae": "recsys_cli.models.recbole_adapter:MultVAE",
    "recbole_neumf": "recsys_cli.models.recbole_adapter:NeuMF",
    "sasrec": "recsys_cli.models.recbole_adapter:SASRec",
    "gru4rec": "recsys_cli.models.recbole_adapter:GRU4Rec",
    "bert4rec": "recsys_cli.models.recbole_adapter:BERT4Rec",
}


def model_names() -> list[str]:
    return sorted(_MODELS)


def model_class(name: str) -> type[Recommender]:
    module, _, attribute = _MODELS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def model_params_class(name: str) -> type:
    return model_class(name).Params


def create_model(name: str, params, seed: int) -> Recommender:
    return model_class(name)(params, seed=seed)
