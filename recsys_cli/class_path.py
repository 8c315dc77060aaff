"""`module:Class` names: a recipe names a model or reranker defined outside the package by the
import path of its class (`name = "mypkg.models:MyModel"`), as entry points and ASGI servers do.

The module is imported as Python imports any other: it must be installed or on PYTHONPATH.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re

_CLASS_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class ClassPathError(ValueError):
    """A `module:Class` name that names no usable class; the message says why, in one line."""


def is_class_path(name: object) -> bool:
    """True when `name` is meant as `module:Class` (registered names hold no ':')."""
    return isinstance(name, str) and ":" in name


def load_class(path: str, base: type) -> type:
    """The class `path` ("package.module:Class", or "module:Outer.Inner") names, which must
    subclass `base`; a ClassPathError saying why otherwise."""
    if not _CLASS_PATH.fullmatch(path):
        raise ClassPathError(
            f"{path!r} is not a 'module:Class' path (such as 'mypkg.models:MyModel')"
        )
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ClassPathError(
            f"cannot import {module_name!r} ({error}); is it installed or on PYTHONPATH?"
        ) from None
    found = module
    for part in attribute.split("."):
        found = getattr(found, part, _MISSING)
        if found is _MISSING:
            raise ClassPathError(
                f"module {module_name!r} has no {attribute!r}" + _nearest(attribute, module, base)
            )
    if not (isinstance(found, type) and issubclass(found, base)):
        what = found.__qualname__ if isinstance(found, type) else type(found).__name__
        raise ClassPathError(
            f"{path!r} is not a {base.__name__} subclass (it is {what}); "
            f"subclass {base.__module__}.{base.__qualname__}"
        )
    return found


_MISSING = object()


def params_problem(cls: type, defaults: bool) -> str | None:
    """Why `cls.Params` cannot hold the params a recipe gives it, or None: it must be a frozen
    dataclass (plain or pydantic; a pydantic one refuses unknown keys, as the recipe's own
    sections do) and, with `defaults`, build from its defaults alone (a table without params)."""
    params = getattr(cls, "Params", None)
    where = f"{cls.__qualname__}.Params"
    if not (isinstance(params, type) and dataclasses.is_dataclass(params)):
        return f"{where} must be a dataclass (plain or pydantic) of the hyperparameters"
    if not params.__dataclass_params__.frozen:
        return f"{where} must be a frozen dataclass: @dataclass(frozen=True)"
    config = getattr(params, "__pydantic_config__", None)
    if config is not None and config.get("extra") != "forbid":
        return f"{where} ignores unknown keys: give it config=ConfigDict(extra='forbid')"
    required = [
        f.name
        for f in dataclasses.fields(params)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if defaults and required:
        return f"{where} needs a default for {', '.join(required)}"
    return None


def _nearest(attribute: str, module, base: type) -> str:
    """'; did you mean X?' among the module's `base` subclasses, or the list of them."""
    classes = sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, base) and value is not base
    )
    match = difflib.get_close_matches(attribute, classes, n=1, cutoff=0.5)
    if match:
        return f"; did you mean {match[0]!r}?"
    if classes:
        return f"; its {base.__name__} classes: {', '.join(classes)}"
    return f"; it defines no {base.__name__} subclass"
