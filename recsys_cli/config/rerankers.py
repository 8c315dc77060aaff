"""A recipe's rerank step (`{ reranker = "mmr", lambda = 0.3 }`): a table validated against the
params of the reranker it names. The names and their params come from `rerank.registry`; each
reranker's params class lives next to it (`rerank.steps`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import pydantic

from recsys_cli.config.tagged import tagged_union
from recsys_cli.config.validate import SECTION, section
from recsys_cli.rerank.registry import is_reranker_name, reranker_class, reranker_names


class _RegisteredParams(Mapping[str, type]):
    """Recipe name -> params class of every reranker registered now (a view of the registry),
    and of any `module:Class` name (a ClassPathError says why one names no reranker)."""

    def __getitem__(self, name: str) -> type:
        if not is_reranker_name(name):
            raise KeyError(name)
        return reranker_class(name).Params

    def __contains__(self, name: object) -> bool:
        return is_reranker_name(name)

    def __iter__(self) -> Iterator[str]:
        return iter(reranker_names())

    def __len__(self) -> int:
        return len(reranker_names())


RERANKER_PARAMS: Mapping[str, type] = _RegisteredParams()


@section
class StepConfig:
    """One step of a rerank chain: a registered reranker and its validated params."""

    reranker: str
    params: Any


@functools.cache
def step_table(name: str, params: type) -> type:
    """The TOML table of a `name` step: the params' keys (flat) and `reranker = name`."""
    namespace = {"__annotations__": {"reranker": Literal[name]}, "__doc__": params.__doc__}
    table = type(params.__name__.removesuffix("Params") + "Step", (params,), namespace)
    return pydantic.dataclasses.dataclass(table, frozen=True, kw_only=True, config=SECTION)


class _StepTables(Mapping[str, type]):
    """Recipe name -> step table, for the names `registry` (name -> params class) holds now."""

    def __init__(self, registry: Mapping[str, type]) -> None:
        self.registry = registry

    def __getitem__(self, name: str) -> type:
        return step_table(name, self.registry[name])

    def __contains__(self, name: object) -> bool:
        return name in self.registry

    def __iter__(self) -> Iterator[str]:
        return iter(self.registry)

    def __len__(self) -> int:
        return len(self.registry)


def step_type(registry: Mapping[str, type]) -> Any:
    """A rerank step: a table validated against the params its `reranker` names in `registry`
    (name -> params class; a name added to it later is validated too), as a StepConfig."""

    def to_config(table: Any) -> StepConfig:
        params = registry[table.reranker]
        values = {f.name: getattr(table, f.name) for f in dataclasses.fields(params)}
        return StepConfig(table.reranker, params(**values))

    return tagged_union("reranker", "reranker", _StepTables(registry), StepConfig, to_config)


RerankStep = step_type(RERANKER_PARAMS)
