"""The reranker contract: every registered reranker, through the same checks.

Each case is a recipe step; the lists must be distinct candidates of the user, `k` wide and -1
padded at the end, the same on a second run, and equal to what the rerank stage computed before
rerankers were classes (`reference_apply_step`, the stage's dispatch of that time, kept here to
pin each class's wiring of params and side data to its kernel).
"""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.config.loader import recipe_from_dict
from recsys_cli.config.schema import GroupConfig
from recsys_cli.data.side import ItemSide
from recsys_cli.errors import UserError
from recsys_cli.rerank.registry import reranker_class, reranker_names
from recsys_cli.rerank.stage import RerankContext, apply_step, check_columns

# Recipe steps: every registered reranker, with its defaults and with other params.
CASES = {
    "mmr": [{}, {"lambda": 0.3, "similarity": "artist"}, {"lambda": 0.7, "similarity": "factors"}],
    "dpp": [{}, {"theta": 0.8, "window": 3, "similarity": "artist"}],
    "calibration": [{}, {"lambda": 0.8}],
    "xquad": [{}, {"lambda": 0.6, "variant": "smooth", "head_share": 0.6}],
    "fair_exposure": [{"group": "tail"}, {"group": "tail", "p": 0.7, "alpha": 0.2}],
    "provider_cap": [{}, {"max_per": 1}],
    "spacing": [{}, {"gap": 2}],
    "blend": [
        {},
        {"weights": {"relevance": 1.0, "novelty": 0.5, "group:tail": 0.5}, "norm": "rank"},
        {"weights": {"relevance": 1.0, "popularity": 2.0}, "mode": "chebyshev"},
    ],
    "quota": [{"share": 0.5}, {"share": 0.4, "group": "tail"}],
}
STEPS = [(name, table) for name, tables in CASES.items() for table in tables]
IDS = [f"{name}-{i}" for name, tables in CASES.items() for i in range(len(tables))]
N_ITEMS = 14
# Valid candidates per user (of N = 8): full lists, shorter ones and an empty one.
VALID = [8, 8, 5, 2, 0]
N = 8


def recipe_of(steps):
    chain = [{"reranker": name, **table} for name, table in steps]
    return recipe_from_dict(
        {
            "name": "contract",
            "models": [{"name": "popularity"}],
            "groups": {"tail": {"popularity_below": 0.5}},
            "variants": [{"name": "v", "chain": chain}],
        }
    )


def step_of(name, table):
    return recipe_of([(name, table)]).variants[0].chain[0]


def make_context(items=None) -> RerankContext:
    rng = np.random.default_rng(3)
    artists = ["A", "B", "C", "D", None]
    genres = ["Jazz", "Rock", "Pop", "Folk"]
    if items is None:
        items = pl.DataFrame(
            {
                "item": [f"i{i}" for i in range(N_ITEMS)],
                "artist": [artists[i % 5] for i in range(N_ITEMS)],
                "genres": [
                    sorted({genres[i % 4], genres[(i * 3) % 4]})[: 1 + i % 2]
                    for i in range(N_ITEMS)
                ],
            }
        )
    rng.random((len(VALID), N_ITEMS))  # HISTORY's draw
    side = ItemSide(rng.integers(0, 30, N_ITEMS).astype(np.float64), 40, items, items["item"])
    groups = {"tail": GroupConfig(popularity_below=0.5)}
    return RerankContext.of(side, SimpleNamespace(groups=groups, seed=0))


# The users' history (also the training matrix of the "factors" similarity).
HISTORY = sp.csr_matrix(
    (np.random.default_rng(3).random((len(VALID), N_ITEMS)) < 0.3).astype(np.float32)
)


def inputs():
    """Candidates by descending score, -1 padded; scores -inf at padding (as a chain passes)."""
    rng = np.random.default_rng(11)
    candidates = np.full((len(VALID), N), -1, dtype=np.int32)
    scores = np.full((len(VALID), N), -np.inf, dtype=np.float32)
    for u, n in enumerate(VALID):
        candidates[u, :n] = rng.choice(N_ITEMS, n, replace=False)
        scores[u, :n] = np.sort(rng.random(n))[::-1]
    return candidates, scores


@pytest.fixture(scope="module")
def ctx():
    context = make_context()
    context.similarity.fit(HISTORY)  # the fit stage's part
    return context


def reference_apply_step(ctx, reranker, params, candidates, scores, history, k):
    """The rerank stage's `apply_step` before rerankers were classes (an if-chain on the name)."""
    from recsys_cli.metrics.beyond_accuracy import genre_distribution
    from recsys_cli.rerank.blend import blend, gather
    from recsys_cli.rerank.calibration import calibration
    from recsys_cli.rerank.dpp import dpp
    from recsys_cli.rerank.fairness import fair_exposure
    from recsys_cli.rerank.mmr import mmr
    from recsys_cli.rerank.quota import quota
    from recsys_cli.rerank.sequencing import provider_cap, spacing
    from recsys_cli.rerank.xquad import tail_preference, xquad

    if reranker == "mmr":
        emb = ctx.embeddings(params.similarity, "mmr")
        return mmr(candidates, scores, emb, k, params.lambda_)
    if reranker == "dpp":
        emb = ctx.embeddings(params.similarity, "dpp")
        return dpp(candidates, scores, emb, k, params.theta, window=params.window)
    if reranker == "calibration":
        genres = ctx.side.genres("calibration")
        dist = genre_distribution(history.indptr, history.indices, genres)
        return calibration(candidates, scores, genres, dist, k, params.lambda_)
    if reranker == "xquad":
        tail = ctx.tail(params.head_share)
        p_tail = tail_preference(history.indptr, history.indices, tail)
        return xquad(candidates, scores, tail, p_tail, k, params.lambda_, params.variant)
    if reranker == "fair_exposure":
        return fair_exposure(candidates, ctx.groups.mask(params.group), k, params.p, params.alpha)
    if reranker == "provider_cap":
        codes = ctx.side.attribute(params.column, "provider_cap")
        return provider_cap(candidates, codes, k, params.max_per)
    if reranker == "spacing":
        return spacing(candidates, ctx.side.attribute(params.column, "spacing"), k, params.gap)
    if reranker == "quota":
        member = ctx.groups.membership(params.group, candidates, history, "quota")
        return quota(candidates, member, k, params.share)
    assert reranker == "blend"

    def objective(name):
        if name == "relevance":
            return np.where(candidates >= 0, scores, np.nan)
        if name == "novelty":
            return gather(ctx.side.novelty_values(), candidates)
        if name == "popularity":
            return gather(ctx.side.popularity, candidates)
        return gather(ctx.groups.mask(name.removeprefix("group:")).astype(np.float64), candidates)

    values = [objective(name) for name in params.weights]
    weights = list(params.weights.values())
    return blend(candidates, values, weights, k, params.norm, params.mode)


def reference_columns(reranker, params) -> set[str]:
    """The item columns the stage's `check_columns` asked of a step before (name switches)."""
    similarity = getattr(params, "similarity", None)
    columns = set()
    if similarity == "genres" or reranker == "calibration":
        columns.add("genres")
    if similarity == "artist":
        columns.add("artist")
    if reranker in ("provider_cap", "spacing"):
        columns.add(params.column)
    if reranker == "quota" and params.group == "discovery":
        columns.add("artist")
    return columns


def test_every_registered_reranker_has_contract_cases():
    assert set(CASES) == set(reranker_names())
    for name in reranker_names():
        cls = reranker_class(name)
        assert cls.name == name and cls.Params.__module__ == cls.__module__


@pytest.mark.parametrize("name, table", STEPS, ids=IDS)
@pytest.mark.parametrize("k", [1, 4, N + 2])
def test_lists_are_distinct_candidates_k_wide_and_padded(ctx, name, table, k):
    step = step_of(name, table)
    candidates, scores = inputs()
    frozen = candidates.copy(), scores.copy()
    got = apply_step(ctx, name, step.params, candidates, scores, HISTORY, k)
    assert got.shape == (len(VALID), k) and got.dtype == np.int32
    for row, cands, n in zip(got, candidates, VALID, strict=True):
        chosen = row[row >= 0]
        assert len(chosen) <= min(k, n)
        assert (row[len(chosen) :] == -1).all()  # padding only at the end
        assert len(set(chosen.tolist())) == len(chosen)
        assert set(chosen.tolist()) <= set(cands[:n].tolist())
    np.testing.assert_array_equal(candidates, frozen[0])  # inputs are not written to
    np.testing.assert_array_equal(scores, frozen[1])
    again = apply_step(ctx, name, step.params, candidates, scores, HISTORY, k)
    np.testing.assert_array_equal(got, again)
    before = reference_apply_step(ctx, name, step.params, candidates, scores, HISTORY, k)
    np.testing.assert_array_equal(got, before)


@pytest.mark.parametrize("name, table", STEPS, ids=IDS)
def test_full_lists_keep_every_candidate_unless_a_constraint_cuts_them(ctx, name, table):
    """k = N reorders: a user's list is a permutation of the candidates, except where a hard
    constraint (a cap, a spacing, a protected quota) ends it early (`truncate`)."""
    step = step_of(name, table)
    candidates, scores = inputs()
    got = apply_step(ctx, name, step.params, candidates, scores, HISTORY, N)
    truncates = name in ("provider_cap", "spacing", "fair_exposure")
    for row, cands, n in zip(got, candidates, VALID, strict=True):
        chosen = set(row[row >= 0].tolist())
        assert chosen <= set(cands[:n].tolist())
        assert truncates or chosen == set(cands[:n].tolist())


@pytest.mark.parametrize("name, table", STEPS, ids=IDS)
def test_each_step_asks_for_the_item_columns_it_reads(name, table):
    step = step_of(name, table)
    columns = reranker_class(name)(step.params).columns()
    assert set(columns) == reference_columns(name, step.params)
    recipe = recipe_of([(name, table)])
    check_columns(make_context(), recipe)
    for column in columns:
        items = make_context().items.drop(column)
        with pytest.raises(UserError, match=rf"variants\[0\]\.chain\[0\] \({name}\) needs"):
            check_columns(make_context(items), recipe)
