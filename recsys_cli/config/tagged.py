"""Tables whose type is picked by one key: a model's `name`, a rerank step's `reranker`.

A registry maps each name to the table's type; `tagged_union` makes the discriminated union of
those types, so pydantic validates a table against the one type its name picks (and the JSON
Schema lists one option per name), then turns the validated table into the config object the
rest of the package reads (`ModelConfig`, `StepConfig`). Names the registry gains later, and
the `module:Class` names of classes defined outside the package, are validated the same way."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

import pydantic
from pydantic import AfterValidator, Discriminator, PlainValidator, Tag
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from recsys_cli.config.validate import build
from recsys_cli.errors import RecipeError

_BUILT = "\0built"  # the option of a config object built in Python (not a table of a recipe)
_LATER = "\0later"  # the option of a name the registry gained after the union was made


@dataclasses.dataclass(frozen=True)
class Tagged:
    """Marks a union whose option is picked by the table's `key`; `noun` names the choice in
    errors ("unknown reranker 'mrr'; did you mean 'mmr'?"), chosen from the `names` known now."""

    key: str
    noun: str
    names: Callable[[], list[str]] = dataclasses.field(compare=False)


def tagged_union(
    key: str, noun: str, tables: Mapping[str, type], target: type, convert: Callable[[Any], Any]
) -> Any:
    """The type of one table whose `key` picks its type from `tables` (name -> type, each with a
    `key: Literal[name]` field), validated into a `target` by `convert`. A `target` instance is
    taken as it is, so code may build configs directly and `dataclasses.replace` them.

    The union's options are the names `tables` iterates now. A name it holds later (a reranker
    registered by a plugin or a test), or one it resolves on lookup (`module:Class`: `tables`
    says it holds the name, and a ValueError from `tables[name]` says why it names no usable
    type), is validated against its table as a recipe is (`config.validate.build`), with the
    same key paths and words in errors; the JSON Schema does not list it."""
    known = dict(tables)

    def pick(value: Any) -> Any:
        if isinstance(value, target):
            return _BUILT
        name = value.get(key) if isinstance(value, dict) else None
        return _LATER if isinstance(name, str) and name not in known and name in tables else name

    def later(value: dict) -> Any:
        try:
            table = tables[value[key]]
        except ValueError as error:
            raise _error((key,), str(error), value) from None
        try:
            return build(_converted(table, convert), value)
        except RecipeError as error:  # one line already: keep its path and words
            where = (error.path,) if error.path else ()
            raise _error(where, str(error).removeprefix(f"{error.path}: "), value) from None

    options = [
        Annotated[table, AfterValidator(convert), Tag(name)] for name, table in known.items()
    ]
    built = Annotated[SkipJsonSchema[target], Tag(_BUILT)]
    added = Annotated[SkipJsonSchema[Annotated[Any, PlainValidator(later)]], Tag(_LATER)]
    union = Union[(built, added, *options)]  # noqa: UP007 (a runtime tuple of types)
    return Annotated[union, Discriminator(pick), Tagged(key, noun, lambda: list(tables))]


@functools.cache
def _converted(table: type, convert: Callable[[Any], Any]) -> Any:
    """`table` validated into its config object (one type per table, so `build` caches it)."""
    return Annotated[table, AfterValidator(convert)]


def _error(where: tuple[str, ...], message: str, value: Any) -> pydantic.ValidationError:
    """A validation error at `where` (below the table) whose words are `message` as they are."""
    error = PydanticCustomError("recipe", "{message}", {"message": message})
    return pydantic.ValidationError.from_exception_data(
        "Recipe", [InitErrorDetails(type=error, loc=where, input=value)]
    )
