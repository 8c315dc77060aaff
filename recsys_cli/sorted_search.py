"""Membership in a sorted CSR row, for compiled kernels (history exclusion, hit tests)."""

from numba import njit


@njit(cache=True, inline="always")
def row_contains(indices, start, stop, item):
    """True when `item` is in the sorted slice indices[start:stop] (binary search)."""
    lo, hi = start, stop
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < item:
            lo = mid + 1
        else:
            hi = mid
    return lo < stop and indices[lo] == item
