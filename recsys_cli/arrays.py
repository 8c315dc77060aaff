"""Input checks of the item-index arrays that reranking kernels and metrics share, below both.

Batch convention: `candidates` (or a metric's `recs`) is an int32 (n_users, N) array of item
indices sorted by descending model score and padded with -1; `scores` is aligned with it (pad
positions -inf). Per-item arrays have one row per item index.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.errors import UserError


def check_candidates(candidates: np.ndarray, n_items: int | None = None) -> np.ndarray:
    """Validate a (n_users, N) candidate matrix and return it as C-contiguous int32."""
    arr = np.asarray(candidates)
    if arr.ndim != 2:
        raise UserError(f"candidates must be a 2-d (users x N) array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise UserError(f"candidates must hold integer item indices, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.int32)
    if arr.size:
        lo = int(arr.min())
        hi = int(arr.max())
        if lo < -1:
            raise UserError(f"candidates hold {lo}; item indices are >= 0 and -1 marks padding")
        if n_items is not None and hi >= n_items:
            raise UserError(f"candidates hold item {hi} but the item side data has {n_items} rows")
    return arr


def check_scores(scores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Validate scores aligned with candidates; they must be finite where a candidate exists."""
    arr = np.asarray(scores)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    arr = np.ascontiguousarray(arr)
    if arr.shape != candidates.shape:
        raise UserError(
            f"scores shape {arr.shape} differs from candidates shape {candidates.shape}"
        )
    if not np.isfinite(np.where(candidates >= 0, arr, 0.0)).all():
        raise UserError("scores must be finite at every non-padding candidate position")
    return arr


def check_k(k: int) -> int:
    """Validate the output list length."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_unit(
    name: str, value: float, *, low_open: bool = False, high_open: bool = False
) -> float:
    """Validate a parameter that must lie in [0, 1] (optionally open at either end)."""
    v = float(value)
    ok_low = v > 0.0 if low_open else v >= 0.0
    ok_high = v < 1.0 if high_open else v <= 1.0
    if not (np.isfinite(v) and ok_low and ok_high):
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        raise UserError(f"{name} must lie in {lb}0, 1{rb}, got {value!r}")
    return v


def check_item_vector(name: str, values: np.ndarray, dtype) -> np.ndarray:
    """Validate a per-item 1-d array (codes, flags, popularity) and return it contiguous."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise UserError(f"{name} must be a 1-d per-item array, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


def check_embeddings(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate item embeddings; return them (float32 or float64, C order) and 1 / L2 norms.

    Kernels compute cos(i, j) = <e_i, e_j> inv_i inv_j in the embeddings' dtype; an all-zero row
    gets inv = 0, i.e. similarity 0 to every other item.
    """
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise UserError(f"embeddings must be a 2-d (items x dim) array, got shape {emb.shape}")
    if emb.dtype not in (np.float32, np.float64):
        emb = emb.astype(np.float64)
    emb = np.ascontiguousarray(emb)
    norms = np.sqrt(np.einsum("ij,ij->i", emb, emb, dtype=np.float64))
    if not np.isfinite(norms).all():
        raise UserError("embeddings must be finite")
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0.0)
    return emb, inv


def check_csr(
    indptr: np.ndarray, indices: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a users x items CSR pattern (indptr, indices) and return them as int64."""
    ptr = np.asarray(indptr, dtype=np.int64)
    idx = np.asarray(indices, dtype=np.int64)
    if ptr.ndim != 1 or idx.ndim != 1 or ptr.size < 1 or ptr[0] != 0 or ptr[-1] != idx.size:
        raise UserError("indptr/indices do not form a CSR matrix (indptr[0] = 0, indptr[-1] = nnz)")
    if (np.diff(ptr) < 0).any():
        raise UserError("CSR indptr must be non-decreasing")
    if idx.size and (idx.min() < 0 or idx.max() >= n_items):
        raise UserError(f"CSR item indices must lie in [0, {n_items})")
    return ptr, idx


def item_genre_distribution(genres: np.ndarray) -> np.ndarray:
    """p(g|i): each item's genre row divided by its sum (an item without genres gets zeros).

    Steck, Calibrated Recommendations, RecSys 2018, §2.
    """
    g = np.asarray(genres, dtype=np.float64)
    if g.ndim != 2:
        raise UserError(f"genres must be a 2-d (items x genres) array, got shape {g.shape}")
    if not np.isfinite(g).all() or (g < 0).any():
        raise UserError("genre weights must be finite and >= 0")
    tot = g.sum(axis=1, keepdims=True)
    return np.ascontiguousarray(g / np.where(tot > 0, tot, 1.0))
