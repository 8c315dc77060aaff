"""The JSON Schema of a recipe file (`rank schema`), so editors complete and check recipes.

A recipe file is a training recipe (what `rank run` reads, with the optional `[tune]` table of
`rank tune`) or an off-policy evaluation recipe (`[ope]`, read by `rank ope`). The schema says
what each table may hold; the checks that span tables (a variant's models are model labels, a
metric's group is defined) are the loader's."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from recsys_cli.config.schema import ModelEntry, Recipe
from recsys_cli.config.validate import SECTION

# Draft 7, with nothing newer than draft 4 but `$ref`s into `$defs` (plain JSON pointers): the
# TOML language server taplo (VS Code's Even Better TOML) reads draft 4.
DIALECT = "http://json-schema.org/draft-07/schema#"


def recipe_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) that every valid recipe file, read as TOML, satisfies."""
    from recsys_cli.ope.config import POLICY_KINDS, OpeConfig, OpeRecipe
    from recsys_cli.tuning.spec import TuneTable

    recipe = _subclass(Recipe, "RecipeFile", {"tune": TuneTable | None}, {"tune": None})
    policy = Annotated[
        Union[tuple(_tagged(cls, "kind", kind) for kind, cls in POLICY_KINDS.items())],  # noqa: UP007
        Field(discriminator="kind"),
    ]
    ope = _subclass(OpeConfig, "Ope", {"policies": tuple[policy, ...]}, {"policies": ()})
    ope_recipe = _subclass(
        OpeRecipe, "OpeRecipeFile", {"ope": ope, "models": tuple[ModelEntry, ...]}, {"models": ()}
    )
    adapter = pydantic.TypeAdapter(Union[recipe, ope_recipe])  # noqa: UP007
    schema = adapter.json_schema(mode="validation", schema_generator=_TomlSchema)
    for name in ("RecipeFile", "OpeRecipeFile"):  # the loader takes the file's name
        schema["$defs"][name]["required"].remove("name")
    return {"$schema": DIALECT, "title": "rank recipe", **schema}


def _subclass(cls: type, name: str, types: dict[str, Any], defaults: dict[str, Any]) -> type:
    """`cls` as a pydantic dataclass named `name`, with the fields of `types` added or retyped
    (an added field with its default in `defaults`)."""
    namespace = {"__annotations__": types, "__doc__": cls.__doc__, **defaults}
    return pydantic.dataclasses.dataclass(
        type(name, (cls,), namespace), frozen=True, config=SECTION
    )


def _tagged(cls: type, key: str, tag: str) -> type:
    """`cls` with the field `key = tag` that picks it, as a table of a discriminated union."""
    namespace = {"__annotations__": {key: Literal[tag]}, "__doc__": cls.__doc__}
    table = type(cls.__name__, (cls,), namespace)
    return pydantic.dataclasses.dataclass(table, frozen=True, kw_only=True, config=SECTION)


class _TomlSchema(GenerateJsonSchema):
    """TOML has no null: an optional key is one left out, so neither `null` nor a default of
    null appears in the schema. One allowed value is an `enum` of one (draft 4 has no
    `const`), so a table's `name` or `reranker` picks its option in any validator."""

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        json_schema = super().literal_schema(schema)
        if "const" in json_schema:
            json_schema["enum"] = [json_schema.pop("const")]
        return json_schema

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if self.get_default_value(schema) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)
