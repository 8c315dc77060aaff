"""Compiled CSR reads against dense references."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.ranking.sparse import csr_values, row_dots


def random_csr(rng, shape, density=0.3) -> sp.csr_matrix:
    dense = np.where(rng.random(shape) < density, rng.integers(1, 5, shape), 0).astype(float)
    return sp.csr_matrix(dense)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_values_at_pairs_equal_dense_lookups(seed):
    rng = np.random.default_rng(seed)
    matrix = random_csr(rng, (7, 9))
    rows, cols = rng.integers(0, 7, 50), rng.integers(0, 9, 50)
    assert np.array_equal(csr_values(matrix, rows, cols), matrix.toarray()[rows, cols])


def test_unsorted_indices_are_read_from_a_sorted_copy():
    matrix = sp.csr_matrix((np.array([5.0, 2.0]), np.array([3, 1]), np.array([0, 2])), (1, 4))
    assert not matrix.has_sorted_indices
    assert csr_values(matrix, np.zeros(4, int), np.arange(4)).tolist() == [0.0, 2.0, 0.0, 5.0]
    assert matrix.indices.tolist() == [3, 1]  # the caller's matrix is left as it was


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_dots_equal_dense_products(seed):
    rng = np.random.default_rng(seed)
    a, b = random_csr(rng, (6, 8)), random_csr(rng, (5, 8), density=0.5)
    rows_a, rows_b = rng.integers(0, 6, 40), rng.integers(0, 5, 40)
    expected = (a.toarray()[rows_a] * b.toarray()[rows_b]).sum(axis=1)
    assert np.array_equal(row_dots(a, b, rows_a, rows_b), expected)
