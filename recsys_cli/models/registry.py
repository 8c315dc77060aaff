"""Recipe model names -> classes; modules are imported on lookup so unused back ends stay unloaded.

A built-in model is one class in its module and one line here. A model defined elsewhere needs
no line: a recipe names it by its class path, `name = "mypkg.models:MyModel"`
(`recsys_cli.class_path`), and `recsys_cli.testing.check_recommender` checks it.
"""

from __future__ import annotations

import importlib

from recsys_cli.class_path import ClassPathError, is_class_path, load_class, params_problem
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
    """The built-in names."""
    return sorted(_MODELS)


def is_model_name(name: object) -> bool:
    """True for a built-in name and for any `module:Class` name (resolved by `model_class`)."""
    return name in _MODELS or is_class_path(name)


def model_class(name: str) -> type[Recommender]:
    """The class of a built-in `name` (KeyError: none), or the class a `module:Class` name
    points to (ClassPathError: it does not import, or is no Recommender whose Params is a
    frozen dataclass with defaults: `class_path.params_problem`)."""
    if is_class_path(name):
        cls = load_class(name, Recommender)
        problem = params_problem(cls, defaults=True)
        if problem:
            raise ClassPathError(problem)
        return cls
    module, _, attribute = _MODELS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def default_label(name: str) -> str:
    """A model's label when the recipe gives none: its name; the class name of a class path."""
    return name.rpartition(":")[2] if is_class_path(name) else name


def model_params_class(name: str) -> type:
    return model_class(name).Params


def create_model(name: str, params, seed: int) -> Recommender:
    return model_class(name)(params, seed=seed)
