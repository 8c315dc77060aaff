"""Tables whose type is picked by one key: a model's `name`, a rerank step's `reranker`.

A registry maps each name to the table's type; `tagged_union` makes the discriminated union of
those types, so pydantic validates a table against the one type its name picks (and the JSON
Schema lists one option per name), then turns the validated table into the config object the
rest of the package reads (`ModelConfig`, `StepConfig`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

from pydantic import AfterValidator, Discriminator, Tag
from pydantic.json_schema import SkipJsonSchema

_BUILT = "\0built"  # the option of a config object built in Python (not a table of a recipe)


@dataclasses.dataclass(frozen=True)
class Tagged:
    """Marks a union whose option is picked by the table's `key`; `noun` names the choice in
    errors ("unknown reranker 'mrr'; did you mean 'mmr'?")."""

    key: str
    noun: str


def tagged_union(
    key: str, noun: str, tables: Mapping[str, type], target: type, convert: Callable[[Any], Any]
) -> Any:
    """The type of one table whose `key` picks its type from `tables` (name -> type, each with a
    `key: Literal[name]` field), validated into a `target` by `convert`. A `target` instance is
    taken as it is, so code may build configs directly and `dataclasses.replace` them."""

    def pick(value: Any) -> Any:
        if isinstance(value, target):
            return _BUILT
        return value.get(key) if isinstance(value, dict) else None

    options = [
        Annotated[table, AfterValidator(convert), Tag(name)] for name, table in tables.items()
    ]
    built = Annotated[SkipJsonSchema[target], Tag(_BUILT)]
    union = Union[(built, *options)]  # noqa: UP007 (a runtime tuple of types)
    return Annotated[union, Discriminator(pick), Tagged(key, noun)]
