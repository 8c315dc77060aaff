"""Pareto front, hypervolume and the 2-D staircase against naive references."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.evaluation.pareto import hypervolume, pareto_mask, staircase


def naive_front(values: np.ndarray, higher) -> list[bool]:
    """Point i is optimal when no point j is at least as good everywhere and better somewhere."""
    v = values * np.where(higher, 1.0, -1.0)
    out = []
    for i in range(len(v)):
        if np.isnan(v[i]).any():
            out.append(False)
            continue
        dominated = any(
            not np.isnan(v[j]).any() and (v[j] >= v[i]).all() and (v[j] > v[i]).any()
            for j in range(len(v))
        )
        out.append(not dominated)
    return out


def naive_volume(points: np.ndarray) -> int:
    """Unit cells of the integer grid covered by some box [0, p] (maximisation, reference 0)."""
    if len(points) == 0:
        return 0
    top = points.max(axis=0).astype(int)
    cells = itertools.product(*(range(t) for t in top))
    return sum(any((np.array(c) + 1 <= p).all() for p in points) for c in cells)


def shoelace(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([0.0, 1.0, 2.0, np.nan]), min_size=3, max_size=3), max_size=9
    ),
    st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_pareto_mask_equals_the_pairwise_definition(rows, higher):
    values = np.array(rows, dtype=float).reshape(-1, 3)
    assert pareto_mask(values, higher).tolist() == naive_front(values, np.array(higher))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 3).flatmap(
        lambda d: st.lists(
            st.lists(st.integers(0, 4), min_size=d, max_size=d), min_size=1, max_size=7
        )
    )
)
def test_hypervolume_counts_the_covered_unit_cells(rows):
    points = np.array(rows, dtype=float)
    d = points.shape[1]
    assert hypervolume(points, [True] * d, np.zeros(d)) == pytest.approx(naive_volume(points))
    # lower-is-better in the last metric: negate it and move the reference accordingly
    flipped = points.copy()
    flipped[:, -1] = -flipped[:, -1]
    assert hypervolume(flipped, [True] * (d - 1) + [False], np.zeros(d)) == pytest.approx(
        naive_volume(points)
    )


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=10),
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.tuples(st.floats(-3, 3), st.floats(-3, 3))),
)
def test_staircase_encloses_the_hypervolume_and_passes_through_the_front(
    pairs, up_x, up_y, given_reference
):
    values = np.array(pairs)
    higher = [up_x, up_y]
    sign = np.where(higher, 1.0, -1.0)
    worst = (values * sign).min(axis=0) * sign  # the sweep's default reference
    reference = worst if given_reference is None else np.array(given_reference)
    polygon = staircase(values, higher, reference)
    volume = hypervolume(values, higher, reference)
    # front points at least as good as the reference in both metrics are the polygon's corners
    level = ((values * sign) >= (reference * sign)).all(axis=1) & pareto_mask(values, higher)
    if not level.any():
        assert len(polygon) == 0 and volume == 0.0
        return
    assert shoelace(polygon) == pytest.approx(volume, rel=1e-9, abs=1e-12)
    assert tuple(polygon[-1]) == tuple(reference)
    corners = {tuple(c) for c in polygon}
    assert all(tuple(p) in corners for p in values[level])


def test_staircase_by_hand():
    # maximise x, minimise y; reference (0, 5): front (1, 1) and (3, 2); (2, 3) is dominated
    values = np.array([[1.0, 1.0], [3.0, 2.0], [2.0, 3.0]])
    polygon = staircase(values, [True, False], np.array([0.0, 5.0]))
    expected = [(0, 1), (1, 1), (1, 2), (3, 2), (3, 5), (0, 5)]
    assert [tuple(c) for c in polygon] == expected
    assert shoelace(polygon) == pytest.approx(1 * 4 + 2 * 3)  # = hypervolume
    assert hypervolume(values, [True, False], np.array([0.0, 5.0])) == pytest.approx(10.0)
    assert len(staircase(values, [True, False], np.array([5.0, 0.0]))) == 0  # nothing beats it
