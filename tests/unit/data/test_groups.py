"""The group resolver: [groups] definitions as item masks over the item side data, by hand."""

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from recsys_cli.config.schema import GroupConfig
from recsys_cli.data.groups import GroupResolver
from recsys_cli.data.side import ItemSide
from recsys_cli.errors import UserError

ITEMS = pl.DataFrame(
    {
        "item": ["a", "b", "c", "d", "e", "f"],
        "artist": ["X", "Y", "Y", "Z", "Z", None],
        "label": ["p", "q", "p", None, "q", "p"],
    }
)


def side(popularity) -> ItemSide:
    return ItemSide(np.asarray(popularity, dtype=np.float64), 10, ITEMS, ITEMS["item"])


def test_popularity_below_is_strict_so_items_tied_at_the_quantile_are_out():
    # quantile 0.5 of [1, 2, 2, 2, 5, 9] = 2 (linear: between the 3rd and 4th values, both 2):
    # only the item strictly below 2 is in; the three tied at 2 are not
    resolver = GroupResolver(side([2, 1, 2, 9, 2, 5]), {"g": GroupConfig(popularity_below=0.5)})
    assert resolver.mask("g").tolist() == [False, True, False, False, False, False]


def test_popularity_below_by_artist_sums_per_artist_and_ties_stay_out():
    # artists X = 4, Y = 1 + 3 = 4, Z = 2 + 6 = 8 (f has none); 0.5-quantile of (4, 4, 8) = 4:
    # X and Y tie at the threshold, so neither is below it; f never belongs (unknown artist)
    groups = {"g": GroupConfig(popularity_below=0.5, by="artist")}
    assert GroupResolver(side([4, 1, 3, 2, 6, 0]), groups).mask("g").tolist() == [False] * 6
    # 0.9-quantile of (4, 4, 8) = 7.2: X and Y below
    groups = {"g": GroupConfig(popularity_below=0.9, by="artist")}
    mask = GroupResolver(side([4, 1, 3, 2, 6, 0]), groups).mask("g")
    assert mask.tolist() == [True, True, True, False, False, False]


def test_equals_and_numeric_bounds():
    resolver = GroupResolver(
        side(np.ones(6)),
        {
            "p": GroupConfig(column="label", equals="p"),
            "y": GroupConfig(column="artist", equals="Y"),
        },
    )
    assert resolver.mask("p").tolist() == [True, False, True, False, False, True]  # null: out
    assert resolver.mask("y").tolist() == [False, True, True, False, False, False]


def test_an_unknown_column_is_one_line_naming_the_group():
    resolver = GroupResolver(side(np.ones(6)), {"new": GroupConfig(column="year", at_least=2000)})
    with pytest.raises(UserError) as caught:
        resolver.check()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("groups.new needs the item column 'year'")
    assert "item columns: artist, label" in message


def test_a_non_numeric_column_with_bounds_is_one_line():
    resolver = GroupResolver(side(np.ones(6)), {"n": GroupConfig(column="label", at_most=1)})
    with pytest.raises(UserError, match=r"^groups\.n: column 'label' is not numeric$"):
        resolver.mask("n")


def test_masks_are_kept_and_shared_only_by_the_same_definitions():
    base = GroupResolver(side([2, 1, 2, 9, 2, 5]), {"g": GroupConfig(popularity_below=0.5)})
    first = base.mask("g")
    assert base.mask("g") is first
    assert base.for_groups({"g": GroupConfig(popularity_below=0.5)}).mask("g") is first
    wider = base.for_groups({"g": GroupConfig(popularity_below=1.0)})
    assert wider.mask("g").tolist() == [True, True, True, False, True, True]
    assert base.mask("g") is first


def test_membership_of_a_group_and_of_discovery():
    resolver = GroupResolver(side([2, 1, 2, 9, 2, 5]), {"g": GroupConfig(popularity_below=0.5)})
    candidates = np.array([[1, 0, -1], [3, 5, 2]], dtype=np.int32)
    history = sp.csr_matrix(np.eye(2, 6))  # user 0 heard a (X), user 1 heard b (Y)
    assert resolver.membership("g", candidates, history, "quota").tolist() == [
        [True, False, False],
        [False, False, False],
    ]
    assert resolver.membership("discovery", candidates, history, "quota").tolist() == [
        [True, False, False],  # Y new, X heard, padding never
        [True, False, False],  # Z new, f has no artist, Y heard
    ]
