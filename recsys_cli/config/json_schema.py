"""The JSON Schema of a recipe file (`rank schema`), so editors complete and check recipes.

A recipe file is a training recipe (what `rank run` reads, with the optional `[tune]` table of
`rank tune`) or an off-policy evaluation recipe (`[ope]`, read by `rank ope`). The schema says
what each table may hold; the checks that span tables (a variant's models are model labels, a
metric's group is defined) are the loader's. A model or reranker named by the import path of its
class (`name = "mypkg.models:MyModel"`) is checked for that path's syntax only: its params are
its own class's, known once it is imported."""

from __future__ import annotations

import copy
import dataclasses
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import Field, WithJsonSchema
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from recsys_cli.config.schema import ModelEntry, Recipe
from recsys_cli.config.validate import PLAIN_NAME_MAX, PLAIN_NAME_PATTERN, SECTION
from recsys_cli.models.registry import model_names
from recsys_cli.rerank.registry import reranker_names

# Draft 7, with nothing newer than draft 4 but `$ref`s into `$defs` (plain JSON pointers): the
# TOML language server taplo (VS Code's Even Better TOML) reads draft 4.
DIALECT = "http://json-schema.org/draft-07/schema#"

# `class_path.load_class`'s rule for a `module:Class` name (no lookahead, as in
# PLAIN_NAME_PATTERN). Registered names hold no ':', so a table matches one option at most.
CLASS_PATH_PATTERN = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"
_CLASS_PATH = {"type": "string", "pattern": CLASS_PATH_PATTERN}

CLASS_PATH_MODEL = {
    "title": "ClassPathModel",
    "description": "A model defined outside the package, named by the import path of its "
    "class; its params are that class's Params (checked when `rank run` imports it).",
    "type": "object",
    "properties": {
        "name": {**_CLASS_PATH, "description": "module:Class, e.g. mypkg.models:MyModel"},
        "label": {"type": "string", "pattern": PLAIN_NAME_PATTERN, "maxLength": PLAIN_NAME_MAX},
        "params": {"type": "object"},
    },
    "required": ["name"],
    "additionalProperties": False,
}
CLASS_PATH_STEP = {
    "title": "ClassPathStep",
    "description": "A reranker defined outside the package, named by the import path of its "
    "class; the other keys are its Params (checked when `rank run` imports it).",
    "type": "object",
    "properties": {
        "reranker": {**_CLASS_PATH, "description": "module:Class, e.g. mypkg.rerank:MyReranker"}
    },
    "required": ["reranker"],
}

# A `[tune.params]` value, as `tuning.space.parse_param` reads it: a numeric range (integer
# bounds make an int range; a log scale needs low > 0 and takes no step) or a list of choices,
# all strings, all numbers or all booleans. What JSON Schema cannot say is the parser's alone:
# low < high, an int range's integer step, a step of 0 (draft 4 and draft 7 write an exclusive
# minimum differently), numbers that repeat (1 and 1.0 are one in JSON, two in TOML).
TUNE_RANGE = {
    "title": "TuneRange",
    "description": "{ low, high } (float; integer bounds: int), log = true, step = s; "
    "or { choices = [...] }",
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "low": {"type": "number"},
                "high": {"type": "number"},
                "log": {"type": "boolean"},
                "step": {"type": "number", "minimum": 0},
            },
            "required": ["low", "high"],
            "additionalProperties": False,
            "anyOf": [
                {"not": {"properties": {"log": {"enum": [True]}}, "required": ["log"]}},
                {"properties": {"low": {"not": {"maximum": 0}}}, "not": {"required": ["step"]}},
            ],
        },
        {
            "type": "object",
            "properties": {
                "choices": {
                    "type": "array",
                    "minItems": 1,
                    "oneOf": [
                        {"items": {"type": "string"}, "uniqueItems": True},
                        {"items": {"type": "number"}},
                        {"items": {"type": "boolean"}, "uniqueItems": True},
                    ],
                }
            },
            "required": ["choices"],
            "additionalProperties": False,
        },
    ],
}


def recipe_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) that every valid recipe file, read as TOML, satisfies."""
    from recsys_cli.ope.config import POLICY_KINDS, OpeConfig, OpeRecipe
    from recsys_cli.tuning.spec import TuneTable

    ranges = dict[str, Annotated[dict[str, Any], WithJsonSchema(copy.deepcopy(TUNE_RANGE))]]
    no_ranges = {"params": dataclasses.field(default_factory=dict)}
    tune = _subclass(TuneTable, "TuneTable", {"params": ranges}, no_ranges)
    recipe = _subclass(Recipe, "RecipeFile", {"tune": tune | None}, {"tune": None})
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
    `const`), so a table's `name` or `reranker` picks its option in any validator; the union
    of the registered model (reranker) names also takes a `module:Class` name."""

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        json_schema = super().tagged_union_schema(schema)
        tags = set(schema["choices"])  # a [[models]] table's or a rerank step's options
        for names, option in ((model_names, CLASS_PATH_MODEL), (reranker_names, CLASS_PATH_STEP)):
            if tags & set(names()):
                json_schema["oneOf"].append(copy.deepcopy(option))
        return json_schema

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
