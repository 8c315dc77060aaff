"""Pydantic's validation errors as one RecipeError: the key path (`models[2].params.l2`), and in
plain words what was expected, with the nearest valid name for an unknown key or choice.

Pydantic's error locations also hold the tags of unions (`variants[0].chain[1]` validated as an
`mmr` step has the location `variants, 0, chain, 1, mmr`); walking the validated type along the
location tells which parts are keys of the recipe and which are tags."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Annotated, Any, Union

import pydantic
from pydantic.fields import FieldInfo

from recsys_cli.config.tagged import Tagged
from recsys_cli.config.validate import join, nearest
from recsys_cli.errors import RecipeError

_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a table",
    "dataclass_type": "a table",
    "model_type": "a table",
}
_UNKNOWN_KEY = ("unexpected_keyword_argument", "extra_forbidden")


def recipe_error(error: pydantic.ValidationError, hint: Any, path: str = "") -> RecipeError:
    """The first of pydantic's errors validating a value as `hint` (found under `path`) as one
    line. A union's error is that of the option the value came closest to (an array given for
    `str | tuple[str, ...]` is reported inside the array), or what each option expected."""
    errors = [{**e, "loc": e["loc"][1:]} for e in error.errors(include_url=False)]  # no root
    where, message = _report(errors, hint)
    steps = [step for step in where if not isinstance(step, _Tag)]
    return RecipeError(functools.reduce(join, steps, path), message)


@dataclasses.dataclass(frozen=True)
class _Tag:
    """A location part naming a union's option, not a key of the recipe."""

    value: str | int | None


_OPTION = _Tag(None)  # an option of a plain union (pydantic names it after its type)


def _report(errors: list[dict], hint: Any, start: int = 0) -> tuple[list, str]:
    """(location parts, message) of the first error, choosing among a union's options."""
    first = errors[0]
    parts, _ = _walk(hint, first["loc"])
    at = next((i for i in range(start, len(parts)) if parts[i] is _OPTION), None)
    if at is None:
        return parts, _message(first, hint, parts)
    prefix = first["loc"][:at]
    inside = [e for e in errors if e["loc"][:at] == prefix and len(e["loc"]) > at]
    options: dict[Any, list[dict]] = {}
    for e in inside:
        options.setdefault(e["loc"][at], []).append(e)
    depth = {option: max(len(e["loc"]) for e in found) for option, found in options.items()}
    deepest = max(depth.values())
    if deepest > at + 1:  # the value got inside an option (an array, a table): report there
        chosen = next(option for option, d in depth.items() if d == deepest)
        return _report(options[chosen], hint, at + 1)
    expected = [_expected(found[0]) for found in options.values()]
    wanted = ", ".join(expected[:-1]) + f" or {expected[-1]}" if len(expected) > 1 else expected[0]
    return parts[:at], f"expected {wanted}, got {describe(first['input'])}"


def _message(error: dict, root: Any, parts: list) -> str:
    """The words for one error validating `root`; `parts` (its location) gains the key of a
    tagged union whose tag is missing or wrong."""
    kind, value, loc = error["type"], error.get("input"), error["loc"]
    if kind == "missing":
        return "required key is missing"
    if kind in _UNKNOWN_KEY:
        return "unknown key" + nearest(str(loc[-1]), _keys(_walk(root, loc[:-1])[1]))
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "finite_number":
        return f"expected a finite number, got {value}"
    if kind == "literal_error":
        allowed = typing.get_args(_bare(_walk(root, loc)[1])[0])
        shown = repr(value) if isinstance(value, str) else describe(value)
        return f"{shown} is not valid" + nearest(str(value), map(str, allowed))
    if kind == "too_short":
        return "expected a non-empty list"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        _, tagged = _bare(_walk(root, loc)[1])
        if not isinstance(value, dict) or tagged is None:
            return f"expected a table, got {describe(value)}"
        parts.append(tagged.key)  # the key that picks the option
        if tagged.key not in value:
            return f"required {tagged.noun} name (a string) is missing"
        tag = value[tagged.key]
        if not isinstance(tag, str):
            return f"expected a {tagged.noun} name (a string), got {describe(tag)}"
        return f"unknown {tagged.noun} {tag!r}" + nearest(tag, tagged.names())
    if kind in ("value_error", "assertion_error"):
        return str(error["ctx"]["error"])
    return error["msg"]


def _expected(error: dict) -> str:
    """What one option of a union wanted, in the words of `_message`."""
    kind = error["type"]
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "literal_error":
        return f"one of {error['ctx']['expected']}"
    return error["msg"].removeprefix("Input should be ")


def describe(value: Any) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return f"{kinds.get(type(value), type(value).__name__)} ({value!r})"


def _walk(hint: Any, loc: tuple) -> tuple[list, Any]:
    """The parts of `loc` (keys and indices of the recipe as they are, a tagged union's tag as
    _Tag, a plain union's option as _OPTION) and the type validated where `loc` ends (None
    where the walk leaves the known types)."""
    parts = []
    for part in loc:
        hint, tagged = _bare(hint)
        if typing.get_origin(hint) in (Union, types.UnionType):
            options = typing.get_args(hint)
            if tagged is not None:
                hint = next((o for o in options if part in _tags(o, tagged.key)), None)
                parts.append(_Tag(part))
            else:
                hint = next((o for o in options if _label(o) == part), None)
                parts.append(_OPTION)
            continue
        parts.append(part)
        hint = _child(hint, part)
    return parts, hint


def _bare(hint: Any) -> tuple[Any, Tagged | None]:
    """`hint` without Annotated and None options, and the Tagged mark of a tagged union."""
    tagged = None
    while True:
        if typing.get_origin(hint) is Annotated:
            tagged = next((m for m in hint.__metadata__ if isinstance(m, Tagged)), tagged)
            hint = typing.get_args(hint)[0]
        elif typing.get_origin(hint) in (Union, types.UnionType) and type(None) in (
            options := typing.get_args(hint)
        ):
            rest = tuple(o for o in options if o is not type(None))
            hint = rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007
        else:
            return hint, tagged


def _child(hint: Any, part: str | int) -> Any:
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return typing.get_args(hint)[0]
    if origin is dict:
        return typing.get_args(hint)[1]
    if dataclasses.is_dataclass(hint):
        return _fields(hint).get(part)
    return None


def _keys(hint: Any) -> list[str]:
    hint, _ = _bare(hint)
    return list(_fields(hint)) if dataclasses.is_dataclass(hint) else []


def _tags(option: Any, key: str) -> list[str]:
    """The tags a union option (or every option of a union) answers to."""
    option, _ = _bare(option)
    if typing.get_origin(option) in (Union, types.UnionType):
        return [tag for o in typing.get_args(option) for tag in _tags(o, key)]
    field = _fields(option).get(key) if dataclasses.is_dataclass(option) else None
    return list(typing.get_args(_bare(field)[0])) if field is not None else []


@functools.cache
def _fields(cls: type) -> dict[str, Any]:
    """A dataclass's keys as written in TOML (aliases) -> their types."""
    pydantic_fields: dict[str, FieldInfo] | None = getattr(cls, "__pydantic_fields__", None)
    if pydantic_fields is not None:
        return {
            info.alias or name: (
                Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            )
            for name, info in pydantic_fields.items()
            if info.init is not False
        }
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _label(option: Any) -> str:
    """How pydantic names a plain union's option in an error location."""
    if isinstance(option, type):
        return option.__name__
    return repr(option).replace("typing.", "")
