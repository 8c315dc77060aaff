"""The reranker registry: a reranker defined outside the package is one class and one
`register` call, then runs from a recipe like a built-in one."""

import tomllib
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.config.loader import recipe_from_dict, recipe_to_toml
from recsys_cli.config.schema import StepConfig
from recsys_cli.config.validate import section
from recsys_cli.data.side import ItemSide
from recsys_cli.errors import RecipeError, UserError
from recsys_cli.rerank import registry
from recsys_cli.rerank.base import Reranker
from recsys_cli.rerank.registry import register, reranker_class
from recsys_cli.rerank.stage import RerankContext, apply_step, apply_variant, check_columns


class Reverse(Reranker):
    """A toy: the first `head` candidates, then the others lowest-scored first."""

    name = "reverse"

    @section
    class Params:
        head: int = 0

        def __post_init__(self) -> None:
            if self.head < 0:
                raise ValueError(f"head must be >= 0, got {self.head}")

    def columns(self) -> tuple[str, ...]:
        return ("artist",)

    def apply(self, ctx, candidates, scores, history, k):
        position = np.arange(candidates.shape[1])
        n_valid = (candidates >= 0).sum(axis=1, keepdims=True)
        head = self.params.head
        key = np.where(position < head, position, head + n_valid - 1 - position)
        key = np.where(candidates >= 0, key, candidates.shape[1] + position)
        ranked = np.take_along_axis(candidates, np.argsort(key, axis=1, kind="stable"), axis=1)
        out = np.full((len(candidates), k), -1, dtype=np.int32)
        out[:, : min(k, ranked.shape[1])] = ranked[:, :k]
        return out


@pytest.fixture
def own_registry(monkeypatch):
    """The registry as it is, restored after the test (a registration lasts for one test)."""
    monkeypatch.setattr(registry, "_RERANKERS", dict(registry._RERANKERS))


def recipe(*steps, length=3):
    return recipe_from_dict(
        {
            "name": "toy",
            "models": [{"name": "popularity"}],
            "variants": [{"name": "v", "chain": list(steps), "length": length}],
        }
    )


def context(items=None) -> RerankContext:
    items = (
        pl.DataFrame({"item": list("abcdef"), "artist": list("XYYZZX")}) if items is None else items
    )
    side = ItemSide(np.arange(6.0), 2, items, items["item"])
    return RerankContext.of(side, SimpleNamespace(groups={}, seed=0))


HISTORY = sp.csr_matrix(np.eye(2, 6))


def test_a_reranker_registered_here_runs_from_a_recipe(own_registry):
    register(Reverse)
    loaded = recipe({"reranker": "reverse", "head": 1})
    (variant,) = loaded.variants
    assert variant.chain == (StepConfig("reverse", Reverse.Params(head=1)),)
    assert recipe_from_dict(tomllib.loads(recipe_to_toml(loaded))) == loaded
    ctx = context()
    check_columns(ctx, loaded)
    candidates = np.array([[5, 3, 1, 4, -1], [2, -1, -1, -1, -1]], dtype=np.int32)
    scores = np.array([[0.9, 0.8, 0.7, 0.6, -np.inf], [0.5] + [-np.inf] * 4], dtype=np.float32)
    items, item_scores = apply_variant(ctx, variant, candidates, scores, HISTORY)
    # row 0: 5 stays first, then 4, 1, 3 (lowest score first); row 1 has one candidate
    assert items.tolist() == [[5, 4, 1], [2, -1, -1]]
    np.testing.assert_allclose(item_scores, [[0.9, 0.6, 0.7], [0.5, -np.inf, -np.inf]])
    # after a built-in step: the chain passes the built-in's order on
    chained = recipe({"reranker": "provider_cap", "max_per": 1}, {"reranker": "reverse"})
    items, _ = apply_variant(ctx, chained.variants[0], candidates, scores, HISTORY)
    # provider_cap keeps 5 (X), 3 (Z), 1 (Y) and drops 4 (Z); reverse: 1, 3, 5
    assert items.tolist() == [[1, 3, 5], [2, -1, -1]]


@pytest.mark.parametrize(
    "step, path, message",
    [
        ({"reranker": "reverse", "head": -1}, "variants[0].chain[0]", "head must be >= 0, got -1"),
        ({"reranker": "reverse", "haed": 1}, "variants[0].chain[0].haed", "unknown key"),
        (
            {"reranker": "reverse", "head": 1.5},
            "variants[0].chain[0].head",
            "expected an integer, got a number (1.5)",
        ),
        (
            {"reranker": "revrse"},
            "variants[0].chain[0].reranker",
            "unknown reranker 'revrse'; did you mean",
        ),
    ],
)
def test_a_registered_step_fails_with_its_key_path(own_registry, step, path, message):
    register(Reverse)
    with pytest.raises(RecipeError) as caught:
        recipe(step)
    assert caught.value.path == path
    assert message in str(caught.value)


def test_an_unregistered_name_is_an_unknown_reranker():
    with pytest.raises(RecipeError, match="unknown reranker 'reverse'") as caught:
        recipe({"reranker": "reverse"})
    assert caught.value.path == "variants[0].chain[0].reranker"


def test_a_registered_step_names_its_missing_columns(own_registry):
    register(Reverse)
    loaded = recipe({"reranker": "reverse"})
    with pytest.raises(UserError, match=r"variants\[0\]\.chain\[0\] \(reverse\) needs the item"):
        check_columns(context(pl.DataFrame({"item": list("abcdef")})), loaded)


def test_register_refuses_a_second_class_for_a_name_and_a_non_reranker(own_registry):
    class Other(Reverse):
        name = "mmr"

    assert register(Reverse) is Reverse and register(Reverse) is Reverse
    with pytest.raises(ValueError, match="a reranker named 'mmr' is already registered"):
        register(Other)
    with pytest.raises(TypeError, match="is not a Reranker subclass"):
        register(dict)
    assert reranker_class("reverse") is Reverse


def test_a_list_of_the_wrong_shape_is_refused(own_registry):
    class Short(Reverse):
        name = "short"

        def apply(self, ctx, candidates, scores, history, k):
            return super().apply(ctx, candidates, scores, history, k)[:, :-1]

    register(Short)
    candidates = np.array([[0, 1, 2]], dtype=np.int32)
    scores = np.array([[0.3, 0.2, 0.1]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"'short' returned shape \(1, 1\), expected \(1, 2\)"):
        apply_step(context(), "short", Short.Params(), candidates, scores, HISTORY, 2)
