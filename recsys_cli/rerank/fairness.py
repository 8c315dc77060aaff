"""FA*IR top-k reranking: every prefix holds a minimum number of protected-group items."""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys_cli.arrays import check_candidates, check_item_vector, check_k, check_unit
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import empty_output

INFEASIBLE = ("truncate", "relax")


def _minimum_table(k: int, p: float, alpha_c: float) -> np.ndarray:
    """m(i) = F^-1(alpha_c; i, p) for i = 1..k (binomial inverse CDF)."""
    from scipy.stats import binom  # scipy.stats costs ~0.5 s to import: only when used

    m = binom.ppf(alpha_c, np.arange(1, k + 1), p)
    return np.maximum(np.nan_to_num(m, nan=0.0), 0).astype(np.int64)


def fail_probability(table: np.ndarray, p: float) -> float:
    """P(a ranking with iid Bernoulli(p) protected items fails some prefix test of `table`).

    Exact dynamic programme over the protected count of each prefix (Zehlike et al., CIKM 2017,
    §4.2, multiple-test correction).
    """
    k = table.size
    mass = np.zeros(k + 1)
    mass[0] = 1.0
    for i in range(k):
        nxt = mass * (1.0 - p)
        nxt[1:] += mass[:-1] * p
        nxt[: table[i]] = 0.0  # prefixes below their minimum have failed
        mass = nxt
    return float(max(0.0, 1.0 - mass.sum()))


def minimum_protected(k: int, p: float, alpha: float, adjust: bool = True) -> np.ndarray:
    """Minimum protected count m(i) for each prefix i = 1..k; int64 array of length k.

    m(i) = F^-1(alpha_c; i, p), F the binomial CDF (scipy.stats.binom.ppf). adjust=True picks the
    largest alpha_c <= alpha whose overall failure probability for a fair ranking is <= alpha
    (bisection over alpha_c with the exact failure probability), as FA*IR's alpha adjustment for k
    dependent tests; adjust=False uses alpha_c = alpha (Zehlike et al., FA*IR, CIKM 2017, Alg. 1-2).
    """
    k = check_k(k)
    p = check_unit("p", p, low_open=True, high_open=True)
    alpha = check_unit("alpha", alpha, low_open=True, high_open=True)
    if not adjust:
        return _minimum_table(k, p, alpha)
    if fail_probability(_minimum_table(k, p, alpha), p) <= alpha:
        return _minimum_table(k, p, alpha)
    lo, hi = 0.0, alpha  # invariant: fail(lo) <= alpha < fail(hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if fail_probability(_minimum_table(k, p, mid), p) <= alpha:
            lo = mid
        else:
            hi = mid
    return _minimum_table(k, p, lo)


def fair_exposure(
    candidates: np.ndarray,
    protected: np.ndarray,
    k: int,
    p: float,
    alpha: float = 0.1,
    adjust: bool = True,
    infeasible: str = "truncate",
) -> np.ndarray:
    """FA*IR rerank: each prefix i holds >= m(i) protected items, otherwise the input order.

    At position i, if the prefix would hold fewer than m(i) protected items the best remaining
    protected candidate is taken, else the best remaining candidate of either group (Zehlike et
    al., FA*IR: A Fair Top-k Ranking Algorithm, CIKM 2017, Alg. 2; docs/rerankers.md). The input
    order of `candidates` is the preference order within each group. When a quota needs a protected
    item and none is left: infeasible="truncate" ends the list there (-1 after), so no output list
    ever violates a quota; "relax" takes the best remaining candidate anyway (check the lists with
    `prefix_quota_satisfied`). Lists shorter than k only need the quotas of their own prefixes.
    """
    protected = check_item_vector("protected", protected, np.bool_)
    cands = check_candidates(candidates, protected.size)
    k = check_k(k)
    if infeasible not in INFEASIBLE:
        raise UserError(
            f"unknown infeasible mode {infeasible!r}; choose one of {', '.join(INFEASIBLE)}"
        )
    table = minimum_protected(k, p, alpha, adjust)
    out = empty_output(cands.shape[0], k)
    if cands.size:
        _fair_kernel(cands, protected, table, k, infeasible == "relax", out)
    return out


def prefix_quota_satisfied(
    recs: np.ndarray, protected: np.ndarray, table: np.ndarray
) -> np.ndarray:
    """Per user: True when every prefix i of the (valid part of the) list holds >= table[i-1]."""
    protected = check_item_vector("protected", protected, np.bool_)
    recs = check_candidates(recs, protected.size)
    table = np.asarray(table, dtype=np.int64)
    valid = recs >= 0
    cum = np.cumsum(valid & protected[np.maximum(recs, 0)], axis=1)
    kk = min(recs.shape[1], table.size)
    ok = (cum[:, :kk] >= table[None, :kk]) | ~valid[:, :kk]
    return ok.all(axis=1)


@njit(cache=True)
def _fair_kernel(cands, protected, table, k, relax, out):  # pragma: no cover
    n_users, n_cand = cands.shape
    for u in range(n_users):
        n = 0
        for pos in range(n_cand):
            if cands[u, pos] >= 0:
                n += 1
        m = min(k, n)
        ip = 0  # next protected candidate position
        iq = 0  # next unprotected candidate position
        n_prot = 0
        for t in range(m):
            while ip < n_cand and (cands[u, ip] < 0 or not protected[cands[u, ip]]):
                ip += 1
            while iq < n_cand and (cands[u, iq] < 0 or protected[cands[u, iq]]):
                iq += 1
            if n_prot < table[t]:
                if ip < n_cand:
                    take = ip
                elif relax:
                    take = iq
                else:
                    break
            elif ip < n_cand and (iq >= n_cand or ip < iq):
                take = ip
            else:
                take = iq
            out[u, t] = cands[u, take]
            if take == ip:
                n_prot += 1
                ip += 1
            else:
                iq += 1
    return out
