"""Sequencing constraints over an item attribute (artist, album, genre): caps and spacing."""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys_cli.arrays import check_candidates, check_item_vector, check_k
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import empty_output

INFEASIBLE = ("truncate", "relax")


def _check_common(candidates, attribute, k, infeasible):
    attr = check_item_vector("attribute", attribute, np.int64)
    if attr.size and attr.min() < -1:
        raise UserError("attribute codes must be >= 0, or -1 for unknown")
    cands = check_candidates(candidates, attr.size)
    k = check_k(k)
    if infeasible not in INFEASIBLE:
        raise UserError(
            f"unknown infeasible mode {infeasible!r}; choose one of {', '.join(INFEASIBLE)}"
        )
    return cands, attr, k


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def provider_cap(
    candidates: np.ndarray,
    attribute: np.ndarray,
    k: int,
    c: int,
    infeasible: str = "truncate",
) -> np.ndarray:
    """Keep the input order but allow at most c items per attribute value in each list.

    Greedy: walk the candidates in order and take one whenever its value has < c items in the list
    (docs/rerankers.md, sequencing constraints; Mehrotra et al., Mostra, WWW 2022). For a cap this
    greedy is exact: a candidate rejected once stays infeasible. Items whose value is -1 (unknown)
    are never capped. When no candidate is left that fits: infeasible="truncate" leaves the rest
    of the list -1 (no list ever exceeds a cap); "relax" fills it with the skipped candidates in
    input order (check with `provider_cap_satisfied`).
    """
    cands, attr, k = _check_common(candidates, attribute, k, infeasible)
    c = _check_count("c", c, 1)
    out = empty_output(cands.shape[0], k)
    if cands.size:
        _cap_kernel(cands, attr, int(attr.max(initial=-1)) + 1, k, c, infeasible == "relax", out)
    return out


def spacing(
    candidates: np.ndarray,
    attribute: np.ndarray,
    k: int,
    g: int,
    infeasible: str = "truncate",
) -> np.ndarray:
    """Reorder so that two items sharing an attribute value have at least g items between them.

    Positions p < q holding the same value need q - p > g (g = 0: no constraint; g = 1: never
    adjacent). Greedy: each position takes the first remaining candidate in input order whose value
    last appeared more than g positions earlier (docs/rerankers.md; Mehrotra et al., Mostra, WWW
    2022). Items whose value is -1 (unknown) are exempt. When no remaining candidate fits a
    position: infeasible="truncate" ends the list there (-1 after), so no output list is ever
    violated; "relax" takes the first remaining candidate anyway and goes on (check with
    `spacing_satisfied`). The greedy does not look ahead, so it may truncate a list that a
    different order could have completed.
    """
    cands, attr, k = _check_common(candidates, attribute, k, infeasible)
    g = _check_count("g", g, 0)
    out = empty_output(cands.shape[0], k)
    if cands.size:
        _spacing_kernel(
            cands, attr, int(attr.max(initial=-1)) + 1, k, g, infeasible == "relax", out
        )
    return out


def provider_cap_satisfied(recs: np.ndarray, attribute: np.ndarray, c: int) -> np.ndarray:
    """Per user: True when no known attribute value occurs more than c times in the list."""
    recs, attr, _ = _check_common(recs, attribute, 1, "truncate")
    vals = np.where(recs >= 0, attr[np.maximum(recs, 0)], -1)
    srt = np.sort(vals, axis=1)
    kk = srt.shape[1]
    if kk <= c:
        return np.ones(recs.shape[0], dtype=bool)
    # a run of more than c equal known values shows up as srt[:, j] == srt[:, j + c]
    same = (srt[:, c:] == srt[:, : kk - c]) & (srt[:, c:] >= 0)
    return ~same.any(axis=1)


def spacing_satisfied(recs: np.ndarray, attribute: np.ndarray, g: int) -> np.ndarray:
    """Per user: True when any two items sharing a known value are more than g positions apart."""
    recs, attr, _ = _check_common(recs, attribute, 1, "truncate")
    vals = np.where(recs >= 0, attr[np.maximum(recs, 0)], -1)
    ok = np.ones(recs.shape[0], dtype=bool)
    for lag in range(1, min(g, recs.shape[1] - 1) + 1):  # loop over lags, not users
        ok &= ~((vals[:, lag:] == vals[:, :-lag]) & (vals[:, lag:] >= 0)).any(axis=1)
    return ok


@njit(cache=True)
def _cap_kernel(cands, attr, n_values, k, c, relax, out):  # pragma: no cover
    n_users, n_cand = cands.shape
    count = np.zeros(max(n_values, 1), dtype=np.int64)
    skipped = np.zeros(n_cand, dtype=np.int64)
    for u in range(n_users):
        t = 0
        n_skip = 0
        for pos in range(n_cand):
            if t >= k:
                break
            it = cands[u, pos]
            if it < 0:
                continue
            a = attr[it]
            if a < 0 or count[a] < c:
                out[u, t] = it
                t += 1
                if a >= 0:
                    count[a] += 1
            else:
                skipped[n_skip] = it
                n_skip += 1
        if relax:
            for s in range(n_skip):
                if t >= k:
                    break
                out[u, t] = skipped[s]
                t += 1
        for s in range(t):  # reset only the counters this user touched
            a = attr[out[u, s]]
            if a >= 0:
                count[a] = 0
    return out


@njit(cache=True)
def _spacing_kernel(cands, attr, n_values, k, g, relax, out):  # pragma: no cover
    n_users, n_cand = cands.shape
    last = np.full(max(n_values, 1), -(1 << 40), dtype=np.int64)
    avail = np.zeros(n_cand, dtype=np.bool_)
    for u in range(n_users):
        n = 0
        for pos in range(n_cand):
            avail[pos] = cands[u, pos] >= 0
            if avail[pos]:
                n += 1
        m = min(k, n)
        t = 0
        while t < m:
            take = -1
            first = -1
            for pos in range(n_cand):
                if not avail[pos]:
                    continue
                if first < 0:
                    first = pos
                a = attr[cands[u, pos]]
                if a < 0 or t - last[a] > g:
                    take = pos
                    break
            if take < 0:
                if not relax:
                    break
                take = first
            avail[take] = False
            it = cands[u, take]
            out[u, t] = it
            a = attr[it]
            if a >= 0:
                last[a] = t
            t += 1
        for s in range(t):
            a = attr[out[u, s]]
            if a >= 0:
                last[a] = -(1 << 40)
    return out
