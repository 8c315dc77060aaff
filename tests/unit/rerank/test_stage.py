"""The rerank stage: item groups from data, score gathering, chains and list lengths."""

from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.config.schema import GroupConfig, StepConfig, VariantConfig
from recsys_cli.data.groups import group_mask
from recsys_cli.data.side import ItemSide
from recsys_cli.errors import UserError
from recsys_cli.rerank.stage import RerankContext, apply_variant, gather_scores
from recsys_cli.rerank.steps.blend import BlendParams
from recsys_cli.rerank.steps.mmr import MMRParams
from recsys_cli.rerank.steps.provider_cap import ProviderCapParams

# 6 items: training users per item (popularity), artists, years, genres.
POPULARITY = np.array([10.0, 1.0, 2.0, 6.0, 0.0, 3.0])
ITEMS = pl.DataFrame(
    {
        "item": ["a", "b", "c", "d", "e", "f"],
        "artist": ["X", "Y", "Y", "Z", "Z", None],
        "year": [1990, 1997, 1999, None, 2001, 1996],
        "genres": [["Jazz"], ["Rock", "Jazz"], ["Pop"], [], ["Rock"], ["Jazz", "Pop"]],
    }
)


# 2 users: user 0 heard item a, user 1 item b.
HISTORY = sp.csr_matrix(np.eye(2, len(POPULARITY)))


def context(groups=None, items=ITEMS, popularity=POPULARITY) -> RerankContext:
    side = ItemSide(popularity, 20, items, items["item"])
    return RerankContext.of(side, SimpleNamespace(groups=groups or {}, seed=0))


@pytest.mark.parametrize(
    "group, expected",
    [
        # item quantile 0.5 of [10, 1, 2, 6, 0, 3] = 2.5: items below it
        (GroupConfig(popularity_below=0.5), [False, True, True, False, True, False]),
        # artists X=10, Y=1+2=3, Z=6+0=6 (f has none); 0.5-quantile = 6: only Y is below
        (GroupConfig(popularity_below=0.5, by="artist"), [False, True, True, False, False, False]),
        # 0.9-quantile of (10, 3, 6) = 9.2: Y and Z
        (GroupConfig(popularity_below=0.9, by="artist"), [False, True, True, True, True, False]),
        (GroupConfig(column="year", at_least=1997), [False, True, True, False, True, False]),
        (GroupConfig(column="year", at_most=1996), [True, False, False, False, False, True]),
        (GroupConfig(column="genres", contains="Jazz"), [True, True, False, False, False, True]),
        (GroupConfig(column="artist", equals="Z"), [False, False, False, True, True, False]),
    ],
)
def test_group_definitions(group, expected):
    assert group_mask(context().side, "g", group).tolist() == expected


def test_group_from_file_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "boosted.txt").write_text("c\n\nf\nzzz\n")
    assert group_mask(context().side, "b", GroupConfig(file="boosted.txt")).tolist() == [
        False,
        False,
        True,
        False,
        False,
        True,
    ]
    with pytest.raises(UserError) as caught:
        group_mask(context().side, "b", GroupConfig(file="nope.txt"))
    assert str(caught.value) == "groups.b.file: nope.txt: no such file"


def test_genre_strings_are_split_and_missing_columns_are_named():
    items = ITEMS.with_columns(pl.Series("genres", ["Jazz", "Rock|Jazz", "Pop", "", "Rock", None]))
    genres = context(items=items).side.genres()
    assert genres.sum(axis=1).tolist() == [1, 2, 1, 0, 1, 0]
    with pytest.raises(UserError, match="metric 'ild' needs the item column 'genres'"):
        context(items=ITEMS.select("item")).side.genres("metric 'ild'")


def test_gather_scores_finds_each_item_in_its_own_row():
    candidates = np.array([[3, 1, 4, -1], [0, 2, 5, 1]], dtype=np.int32)
    scores = np.array([[0.9, 0.5, 0.2, -np.inf], [0.8, 0.7, 0.1, 0.05]], dtype=np.float32)
    chosen = np.array([[4, 3, -1], [1, 5, 0]], dtype=np.int32)
    got = gather_scores(candidates, scores, chosen)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [[0.2, 0.9, -np.inf], [0.05, 0.1, 0.8]])


def test_later_steps_see_the_original_model_scores():
    """Step 1 orders by popularity; step 2 (MMR with lambda = 1, pure relevance) must restore the
    model-score order: it reranks by the gathered original scores, not by step 1's order."""
    ctx = context()
    candidates = np.array([[1, 4, 0, 3, 2, 5], [5, 2, 3, 4, 0, 1]], dtype=np.int32)
    scores = np.array([[6, 5, 4, 3, 2, 1], [6, 5, 4, 3, 2, 1]], dtype=np.float32)
    by_popularity = VariantConfig(
        "pop", (StepConfig("blend", BlendParams(weights={"popularity": 1.0})),), length=4
    )
    first, first_scores = apply_variant(ctx, by_popularity, candidates, scores, HISTORY)
    assert first.tolist() == [[0, 3, 5, 2], [0, 3, 5, 2]]
    np.testing.assert_allclose(first_scores, [[4, 3, 1, 2], [2, 4, 6, 5]])
    chain = VariantConfig(
        "both",
        (
            StepConfig("blend", BlendParams(weights={"popularity": 1.0})),
            StepConfig("mmr", MMRParams(lambda_=1.0)),
        ),
        length=3,
    )
    items, item_scores = apply_variant(ctx, chain, candidates, scores, HISTORY)
    assert items.shape == (2, 3)
    assert items.tolist() == candidates[:, :3].tolist()
    np.testing.assert_allclose(item_scores, scores[:, :3])


@pytest.mark.parametrize("length", [1, 3, 6])
def test_variant_lists_have_the_variant_length(length):
    ctx = context()
    candidates = np.array([[1, 4, 0, 3, 2, 5]], dtype=np.int32)
    scores = np.arange(6, 0, -1, dtype=np.float32)[None, :]
    variant = VariantConfig("cap", (StepConfig("provider_cap", ProviderCapParams(max_per=1)),))
    variant = VariantConfig(variant.name, variant.chain, length=length)
    items, _ = apply_variant(ctx, variant, candidates, scores, HISTORY)
    assert items.shape == (1, length)
    # one item per artist: b (Y), e (Z), a (X), then f (no artist: never capped)
    assert items[0].tolist() == [1, 4, 0, 5, -1, -1][:length]


def every_step():
    from recsys_cli.config.schema import RERANKER_PARAMS

    special = {
        "fair_exposure": {"group": "tail"},
        "blend": {"weights": {"relevance": 1.0, "novelty": 0.5, "group:tail": 0.5}},
        "mmr": {"similarity": "factors"},
        "quota": {"share": 0.5, "group": "tail"},
    }
    return [StepConfig(name, cls(**special.get(name, {}))) for name, cls in RERANKER_PARAMS.items()]


@pytest.mark.parametrize("step", every_step(), ids=lambda s: s.reranker)
def test_every_registered_reranker_runs_in_a_chain(step):
    """Contract: each step, alone and after another, returns distinct candidate items, -1 padded
    at the end, `length` wide."""
    ctx = context(groups={"tail": GroupConfig(popularity_below=0.5)})
    ctx.similarity.fit(HISTORY)  # the fit stage's part (mmr reads the factors)
    rng = np.random.default_rng(0)
    candidates = np.stack([rng.permutation(6) for _ in range(2)]).astype(np.int32)
    candidates[1, 5] = -1
    scores = np.sort(rng.random((2, 6)), axis=1)[:, ::-1].astype(np.float32).copy()
    first = StepConfig("mmr", MMRParams(lambda_=0.5))
    for chain in ((step,), (first, step)):
        items, item_scores = apply_variant(
            ctx, VariantConfig("v", chain, length=4), candidates, scores, HISTORY
        )
        assert items.shape == (2, 4) and items.dtype == np.int32
        for row, cands, got in zip(items, candidates, item_scores, strict=True):
            valid = row[row >= 0]
            assert len(set(valid.tolist())) == len(valid) and set(valid) <= set(cands.tolist())
            assert (row[len(valid) :] == -1).all()
            assert np.isfinite(got[: len(valid)]).all()


def test_factor_embeddings_are_fitted_once_by_the_fit_stage():
    ctx = context()
    with pytest.raises(UserError, match='mmr: similarity = "factors" reads ALS item factors'):
        ctx.embeddings("factors", "mmr")
    ctx.similarity.fit(HISTORY)
    first = ctx.embeddings("factors", "mmr")
    assert first.shape == (6, 32)
    assert ctx.similarity.fit(HISTORY).vectors("factors", "dpp") is first
    assert ctx.for_recipe(SimpleNamespace(groups={})).embeddings("factors", "dpp") is first


def test_for_recipe_recomputes_groups_and_keeps_data_caches():
    from recsys_cli.config.loader import recipe_from_dict

    def recipe(q):
        raw = {"name": "t", "models": [{"name": "popularity"}]}
        return recipe_from_dict({**raw, "groups": {"g": {"popularity_below": q}}})

    ctx = context().for_recipe(recipe(0.5))
    genres = ctx.side.genres()
    assert ctx.groups.mask("g").sum() == 3
    wider = ctx.for_recipe(recipe(1.0))
    assert wider.groups.mask("g").sum() == 5  # below the maximum: all but the most popular item
    assert wider.side.genres() is genres
    assert ctx.groups.mask("g").sum() == 3


def test_artist_similarity_is_same_artist_one_hot_and_mmr_separates_artists():
    ctx = context()
    vectors = ctx.embeddings("artist", "mmr")
    similarity = vectors @ vectors.T
    # a:X, b:Y, c:Y, d:Z, e:Z, f:unknown (no vector: similar to nothing)
    assert similarity[1, 2] == 1.0 and similarity[3, 4] == 1.0 and similarity[0, 1] == 0.0
    assert similarity[5].sum() == 0.0
    # Relevance order b, c, d, e, a: with a strong diversity weight MMR avoids a second Y or Z
    # item while another artist is left.
    candidates = np.array([[1, 2, 3, 4, 0]], dtype=np.int32)
    scores = np.array([[1.0, 0.95, 0.9, 0.85, 0.5]], dtype=np.float32)
    step = StepConfig("mmr", MMRParams(lambda_=0.3, similarity="artist"))
    variant = VariantConfig("v", (step,), length=3)
    items, _ = apply_variant(ctx, variant, candidates, scores, HISTORY[[0]])
    assert items[0].tolist() == [1, 3, 0]


def test_discovery_membership_is_per_user_and_drives_the_quota():
    from recsys_cli.rerank.steps.quota import QuotaParams

    ctx = context()  # user 0 heard item a (artist X), user 1 heard item b (artist Y)
    candidates = np.array([[1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0]], dtype=np.int32)
    mask = ctx.groups.membership("discovery", candidates, HISTORY, "quota")
    assert mask.tolist() == [
        [True, True, True, True, False, False],  # Y, Y, Z, Z new; f has no artist; X heard
        [False, False, True, True, False, True],  # Y heard; Z, Z and X new
    ]
    step = StepConfig("quota", QuotaParams(share=1.0))
    variant = VariantConfig("discover", (step,), length=3)
    scores = np.tile(np.linspace(1, 0.5, 6, dtype=np.float32), (2, 1))
    items, _ = apply_variant(ctx, variant, candidates, scores, HISTORY)
    assert items.tolist() == [[1, 2, 3], [3, 4, 0]]
