"""Tables whose type is picked by one key: a model's `name`, a rerank step's `reranker`.

A registry maps each name to the table's type; `tagged_union` makes the discriminated union of
those types, so pydantic validates a table against the one type its name picks (and the JSON
Schema lists one option per name), then turns the validated table into the config object the
rest of the package reads (`ModelConfig`, `StepConfig`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

import pydantic
from pydantic import AfterValidator, Discriminator, PlainValidator, Tag
from pydantic.json_schema import SkipJsonSchema

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

    The union's options are the names `tables` holds now. A name it gains later (a reranker
    registered by a plugin or a test) is validated against its table as a recipe is (its JSON,
    strictly: `config.validate.build`), with the same key paths in errors; the JSON Schema does
    not list it."""
    known = dict(tables)
    adapters: dict[type, pydantic.TypeAdapter] = {}

    def pick(value: Any) -> Any:
        if isinstance(value, target):
            return _BUILT
        name = value.get(key) if isinstance(value, dict) else None
        return _LATER if isinstance(name, str) and name not in known and name in tables else name

    def later(value: dict) -> Any:
        table = tables[value[key]]
        if table not in adapters:
            adapters[table] = pydantic.TypeAdapter(Annotated[table, AfterValidator(convert)])
        text = json.dumps(value, allow_nan=True)
        return adapters[table].validate_json(text, strict=True, by_alias=True, by_name=False)

    options = [
        Annotated[table, AfterValidator(convert), Tag(name)] for name, table in known.items()
    ]
    built = Annotated[SkipJsonSchema[target], Tag(_BUILT)]
    added = Annotated[SkipJsonSchema[Annotated[Any, PlainValidator(later)]], Tag(_LATER)]
    union = Union[(built, added, *options)]  # noqa: UP007 (a runtime tuple of types)
    return Annotated[union, Discriminator(pick), Tagged(key, noun, lambda: list(tables))]
