"""Build frozen dataclasses from parsed TOML, failing with the key path and the nearest valid name."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from typing import Any, Literal, Union

from recsys_cli.errors import RecipeError

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_NAME_CHAR = re.compile(r"[A-Za-z0-9._-]")
PLAIN_NAME_MAX = 100
PLAIN_NAME_RULE = (
    "use letters, digits, '.', '_' and '-', starting with a letter or digit "
    f"(at most {PLAIN_NAME_MAX} characters)"
)


def name_problem(name: str) -> str | None:
    """What keeps `name` from being a plain file name, or None when it is one. Dataset names,
    model labels and variant names become folder names, so none may leave its parent folder."""
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return "is a path, not a plain name"
    if ".." in name:
        return "contains '..'"
    if len(name) > PLAIN_NAME_MAX:
        return f"is longer than {PLAIN_NAME_MAX} characters"
    odd = next((c for c in name if not _NAME_CHAR.fullmatch(c)), None)
    if odd is not None:
        return f"contains {odd!r}"
    if not name[0].isalnum():
        return f"starts with {name[0]!r}"
    return None


def plain_name(value: str, path: str) -> str:
    """`value` when it is a plain name (`name_problem`); a RecipeError at `path` otherwise."""
    problem = name_problem(value)
    if problem:
        raise RecipeError(path, f"{value!r} {problem}; {PLAIN_NAME_RULE}")
    return value


def nearest(name: str, valid: typing.Iterable[str]) -> str:
    """' (did you mean X?)' for the closest valid name, or the list of valid names."""
    valid = sorted(valid)
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    if match:
        return f"; did you mean {match[0]!r}?"
    return f"; expected one of {', '.join(repr(v) for v in valid)}" if valid else ""


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def build(cls: type, data: Any, path: str = "") -> Any:
    """Validate `data` (a TOML table) against dataclass `cls`; return a frozen instance."""
    if not isinstance(data, dict):
        raise RecipeError(path, f"expected a table, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise RecipeError(join(path, key), "unknown key" + nearest(key, fields))
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = coerce(hints[name], data[name], join(path, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise RecipeError(join(path, name), "required key is missing")
    try:
        return cls(**values)
    except ValueError as error:  # cross-field checks in __post_init__
        raise RecipeError(path, str(error)) from None


def coerce(hint: Any, value: Any, path: str) -> Any:
    """Check one value against a type hint (dataclass, Literal, Optional, tuple, dict, scalar)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            shown = repr(value) if isinstance(value, str) else _describe(value)
            raise RecipeError(
                path, f"{shown} is not valid" + nearest(str(value), map(str, allowed))
            )
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(option, value, path)
            except RecipeError as error:
                errors.append(error)
        raise errors[0]
    if origin is tuple:
        if not isinstance(value, list):
            raise RecipeError(path, f"expected a list, got {_describe(value)}")
        (item_hint, _) = typing.get_args(hint)
        return tuple(coerce(item_hint, item, join(path, i)) for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(path, f"expected a table, got {_describe(value)}")
        _, value_hint = typing.get_args(hint)
        return {k: coerce(value_hint, v, join(path, k)) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(path, f"expected a finite number, got {value}")
    if hint in _TYPE_NAMES:
        if isinstance(value, bool) != (hint is bool) or not isinstance(value, hint):
            raise RecipeError(path, f"expected {_TYPE_NAMES[hint]}, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported type hint {hint!r} at {path}")  # a schema bug, not user input


def _describe(value: Any) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return f"{kinds.get(type(value), type(value).__name__)} ({value!r})"


def to_plain(value: Any) -> Any:
    """A dataclass tree as TOML-ready dicts and lists, dropping None (TOML has no null)."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items() if v is not None}
    return value
