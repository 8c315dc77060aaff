"""Compiled reads of CSR matrices at many (row, column) pairs, one pass over the pairs."""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


def csr_values(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[j], cols[j]] for every j (0 where absent), float64; a binary search in each
    row's sorted column indices."""
    matrix = _sorted(matrix)
    return _values(matrix.indptr, matrix.indices, matrix.data, rows, cols)


def row_dots(
    a: sp.csr_matrix, b: sp.csr_matrix, rows_a: np.ndarray, rows_b: np.ndarray
) -> np.ndarray:
    """<a[rows_a[j]], b[rows_b[j]]> for every j, float64: a merge of the two rows' sorted
    column indices."""
    a, b = _sorted(a), _sorted(b)
    return _dots(a.indptr, a.indices, a.data, b.indptr, b.indices, b.data, rows_a, rows_b)


def _sorted(matrix) -> sp.csr_matrix:
    """A CSR with sorted column indices (a sorted copy where the input's are not)."""
    matrix = sp.csr_matrix(matrix)
    return matrix if matrix.has_sorted_indices else matrix.sorted_indices()


@numba.njit(cache=True, nogil=True)
def _values(indptr, indices, data, rows, cols):
    out = np.zeros(rows.shape[0], dtype=np.float64)
    for j in range(rows.shape[0]):
        start, stop = indptr[rows[j]], indptr[rows[j] + 1]
        at = start + np.searchsorted(indices[start:stop], cols[j])
        if at < stop and indices[at] == cols[j]:
            out[j] = data[at]
    return out


@numba.njit(cache=True, nogil=True)
def _dots(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, rows_a, rows_b):
    out = np.zeros(rows_a.shape[0], dtype=np.float64)
    for j in range(rows_a.shape[0]):
        p, p_end = a_ptr[rows_a[j]], a_ptr[rows_a[j] + 1]
        q, q_end = b_ptr[rows_b[j]], b_ptr[rows_b[j] + 1]
        total = 0.0
        while p < p_end and q < q_end:
            if a_idx[p] == b_idx[q]:
                total += a_val[p] * b_val[q]
                p += 1
                q += 1
            elif a_idx[p] < b_idx[q]:
                p += 1
            else:
                q += 1
        out[j] = total
    return out
