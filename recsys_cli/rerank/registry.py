"""Recipe reranker names -> `Reranker` classes: the one registry the recipe's step union
(`config.rerankers`) and the rerank stage (`rerank.stage.apply_step`) both read.

Built-in entries are "module:Class" strings, imported on first lookup. A step may also name a
reranker defined elsewhere by its class path, `reranker = "mypkg.rerank:MyReranker"`, with no
registration (`recsys_cli.class_path`). This module imports neither the recipe schema (which is
built from it) nor any kernel.
"""

from __future__ import annotations

import importlib

from recsys_cli.class_path import ClassPathError, is_class_path, load_class, params_problem
from recsys_cli.rerank.base import Reranker

_RERANKERS: dict[str, str | type[Reranker]] = {
    "mmr": "recsys_cli.rerank.steps.mmr:MMR",
    "dpp": "recsys_cli.rerank.steps.dpp:DPP",
    "calibration": "recsys_cli.rerank.steps.calibration:Calibration",
    "xquad": "recsys_cli.rerank.steps.xquad:XQuAD",
    "fair_exposure": "recsys_cli.rerank.steps.fair_exposure:FairExposure",
    "provider_cap": "recsys_cli.rerank.steps.provider_cap:ProviderCap",
    "spacing": "recsys_cli.rerank.steps.spacing:Spacing",
    "blend": "recsys_cli.rerank.steps.blend:Blend",
    "quota": "recsys_cli.rerank.steps.quota:Quota",
}


def register(cls: type[Reranker]) -> type[Reranker]:
    """Make `cls` the reranker of steps named `cls.name` (usable as a class decorator).

    A name registered after the recipe schema was built is validated all the same, but is not
    in the JSON Schema of `rank schema`."""
    _check(cls)
    current = _RERANKERS.get(cls.name)
    if current is not None and current is not cls:
        raise ValueError(f"a reranker named {cls.name!r} is already registered: {current}")
    _RERANKERS[cls.name] = cls
    return cls


def reranker_names() -> list[str]:
    """Registered names, built-ins first, in registration order."""
    return list(_RERANKERS)


def is_reranker_name(name: object) -> bool:
    """True for a registered name and for any `module:Class` name (resolved by
    `reranker_class`)."""
    return name in _RERANKERS or is_class_path(name)


def reranker_class(name: str) -> type[Reranker]:
    """The class registered as `name` (KeyError when none is), or the class a `module:Class`
    name points to (ClassPathError: it does not import, or is no Reranker with a Params
    dataclass)."""
    if is_class_path(name) and name not in _RERANKERS:
        cls = load_class(name, Reranker)
        problem = params_problem(cls, defaults=False)
        if problem:
            raise ClassPathError(problem)
        return cls
    entry = _RERANKERS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
        _check(entry)
        if entry.name != name:
            raise TypeError(
                f"{entry.__qualname__} is registered as {name!r} but named {entry.name!r}"
            )
        _RERANKERS[name] = entry
    return entry


def _check(cls: type) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Reranker)):
        raise TypeError(f"{cls!r} is not a Reranker subclass")
    if not isinstance(getattr(cls, "name", None), str):
        raise TypeError(f"{cls.__qualname__}.name must be the recipe name (a string)")
    problem = params_problem(cls, defaults=False)
    if problem:
        raise TypeError(problem)
