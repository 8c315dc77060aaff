"""Batched top-k selection over dense score blocks, excluding each user's history items.

One compiled pass per row with a size-k min-heap: O(n_items log k); rows in parallel threads, or
one thread that releases the GIL (callers running blocks in their own threads).
Ties are broken by the lower item index, so results never depend on sort stability; NaN and -inf
scores are never selected, so a list is shorter than k (padded with -1) when fewer items are
eligible.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from recsys_cli.sorted_search import row_contains


@njit(cache=True, inline="always")
def ranks_below(s1, i1, s2, i2):
    # (s1, i1) ranks below (s2, i2): lower score, or equal score and higher item index.
    return s1 < s2 or (s1 == s2 and i1 > i2)


@njit(cache=True)
def sift_down(heap_s, heap_i, size, pos):
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and ranks_below(heap_s[right], heap_i[right], heap_s[left], heap_i[left]):
            child = right
        if ranks_below(heap_s[child], heap_i[child], heap_s[pos], heap_i[pos]):
            heap_s[pos], heap_s[child] = heap_s[child], heap_s[pos]
            heap_i[pos], heap_i[child] = heap_i[child], heap_i[pos]
            pos = child
        else:
            return


@njit(cache=True)
def sift_up(heap_s, heap_i, pos):
    while pos > 0:
        parent = (pos - 1) // 2
        if ranks_below(heap_s[pos], heap_i[pos], heap_s[parent], heap_i[parent]):
            heap_s[pos], heap_s[parent] = heap_s[parent], heap_s[pos]
            heap_i[pos], heap_i[parent] = heap_i[parent], heap_i[pos]
            pos = parent
        else:
            return


_CHUNK = 16


@njit(cache=True, inline="always")
def _chunk_reaches(values, begin, threshold):
    # A fixed-length OR of comparisons vectorises without fast-math; NaN compares false.
    found = np.uint8(0)
    for j in range(_CHUNK):
        found |= np.uint8(values[begin + j] >= threshold)
    return found


@njit(cache=True, parallel=True)
def _topk_rows(scores, indptr, indices, k, threads, out_items, out_scores):
    for t in prange(threads):
        _topk_strided(scores, indptr, indices, k, t, threads, out_items, out_scores)


@njit(cache=True, nogil=True)
def _topk_strided(scores, indptr, indices, k, first, step, out_items, out_scores):
    """Rows first, first + step, ...: one thread's share, with its own heap."""
    n_rows, n_items = scores.shape
    heap_s = np.empty(k, dtype=scores.dtype)  # same dtype: the chunk test compares like with like
    heap_i = np.empty(k, dtype=np.int64)
    for row in range(first, n_rows, step):
        size = 0
        start = indptr[row]
        stop = indptr[row + 1]
        values = scores[row]
        for begin in range(0, n_items, _CHUNK):
            end = min(begin + _CHUNK, n_items)
            # Once the heap is full, whole chunks below the k-th best are skipped at SIMD speed.
            full_chunk = end - begin == _CHUNK
            if size == k and full_chunk and not _chunk_reaches(values, begin, heap_s[0]):
                continue
            for item in range(begin, end):
                s = values[item]
                if not s > -np.inf:  # also rejects NaN
                    continue
                # Most items lose to the current k-th best: one comparison, before any lookup.
                if size == k and not ranks_below(heap_s[0], heap_i[0], s, item):
                    continue
                if row_contains(indices, start, stop, item):
                    continue  # a history item: never recommended
                if size < k:
                    heap_s[size] = s
                    heap_i[size] = item
                    sift_up(heap_s, heap_i, size)
                    size += 1
                else:
                    heap_s[0] = s
                    heap_i[0] = item
                    sift_down(heap_s, heap_i, size, 0)
        for pos in range(k):
            out_items[row, pos] = -1
            out_scores[row, pos] = -np.inf
        # Pop the worst first and fill from the back: the result is best-first.
        while size > 0:
            size -= 1
            out_items[row, size] = heap_i[0]
            out_scores[row, size] = heap_s[0]
            heap_s[0] = heap_s[size]
            heap_i[0] = heap_i[size]
            sift_down(heap_s, heap_i, size, 0)


def topk_excluding(
    scores: np.ndarray, history, k: int, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items per row of `scores` (rows x items), skipping the row's items in `history` (CSR),
    on `threads` threads (None: numba's count; 1 runs in the calling thread without the GIL).

    Returns (items int32, scores float32), both rows x k, best first, padded with -1 / -inf.
    """
    history = history.tocsr()
    if not history.has_sorted_indices:
        history = history.sorted_indices()
    items = np.empty((scores.shape[0], k), dtype=np.int32)
    values = np.empty((scores.shape[0], k), dtype=np.float32)
    threads = threads or numba.get_num_threads()
    if threads == 1:
        _topk_strided(scores, history.indptr, history.indices, k, 0, 1, items, values)
    else:
        _topk_rows(scores, history.indptr, history.indices, k, threads, items, values)
    return items, values
