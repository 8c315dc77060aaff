"""Validate parsed TOML against the config types with pydantic, failing with the key path and
the nearest valid name (`config.messages` turns pydantic's errors into one RecipeError)."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
import typing
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, ConfigDict, WithJsonSchema

from recsys_cli.errors import RecipeError

# Every recipe section: unknown keys are errors, numbers are finite, and Python code may build
# a section by field name (`MMRParams(lambda_=0.3)`) while TOML gives the alias (`lambda`).
SECTION = ConfigDict(
    extra="forbid",
    allow_inf_nan=False,
    validate_by_name=True,
    validate_by_alias=True,
    defer_build=True,
)
_NAME_CHAR = re.compile(r"[A-Za-z0-9._-]")
PLAIN_NAME_MAX = 100
PLAIN_NAME_RULE = (
    "use letters, digits, '.', '_' and '-', starting with a letter or digit "
    f"(at most {PLAIN_NAME_MAX} characters)"
)
# The same rule for editors (JSON Schema, with maxLength): no lookahead, which not every
# validator's regular expressions have; `name_problem` is None exactly when both hold.
PLAIN_NAME_PATTERN = r"^[A-Za-z0-9](\.?[A-Za-z0-9_-])*\.?$"


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


def _plain(value: str) -> str:
    problem = name_problem(value)
    if problem:
        raise ValueError(f"{value!r} {problem}; {PLAIN_NAME_RULE}")
    return value


# A string that becomes a folder name (a model label, a variant name, dataset.name).
PlainName = Annotated[
    str,
    AfterValidator(_plain),
    WithJsonSchema({"type": "string", "pattern": PLAIN_NAME_PATTERN, "maxLength": PLAIN_NAME_MAX}),
]


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


def build(hint: Any, data: Any, path: str = "") -> Any:
    """Validate `data` (parsed TOML) against `hint` (a config dataclass, or any type built of
    them); a RecipeError naming the key path under `path` when it does not fit.

    Values are checked as JSON is in pydantic's strict mode: 1.0 is not an integer, true is not
    1, "2" is not a number; a table becomes a dataclass and an array a tuple."""
    from recsys_cli.config.messages import recipe_error

    try:
        text = json.dumps({"value": data}, allow_nan=True)
    except TypeError:  # a TOML date or time: no field takes one
        where, value = _first_odd(data, path)
        raise RecipeError(
            where, f"{value} is a TOML date/time; write it as a quoted string"
        ) from None
    try:
        return _root(hint).validate_json(text, strict=True, by_alias=True, by_name=False).value
    except pydantic.ValidationError as error:
        raise recipe_error(error, hint, path) from None


@functools.cache
def _root(hint: Any) -> pydantic.TypeAdapter:
    """A TypeAdapter of a one-field dataclass holding `hint`: plain dataclasses inside it (model
    params, the OPE and tune tables) take SECTION's settings from it."""
    root = pydantic.dataclasses.dataclass(
        type("Root", (), {"__annotations__": {"value": hint}}), config=SECTION
    )
    return pydantic.TypeAdapter(root)


def _first_odd(data: Any, path: str) -> tuple[str | None, Any]:
    """The first value of a TOML tree that JSON cannot hold (a date or time), with its path."""
    if isinstance(data, dict | list | tuple):
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            found = _first_odd(value, join(path, key))
            if found[0] is not None:
                return found
        return None, None
    return (None, None) if isinstance(data, str | int | float | None) else (path, data)


def to_plain(value: Any) -> Any:
    """A dataclass tree as TOML-ready dicts and lists, dropping None (TOML has no null)."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items() if v is not None}
    return value


def section(cls: type) -> type:
    """A recipe section: a frozen dataclass that pydantic validates (settings: SECTION)."""
    return pydantic.dataclasses.dataclass(cls, frozen=True, config=SECTION)
