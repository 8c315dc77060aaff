"""Share quotas per user: at least ceil(share * r) of every top-r prefix from a per-user group.

Greedy, in the spirit of the per-objective quotas of Mostra (Mehrotra et al., WWW 2022): at
position r, when the prefix holds fewer than ceil(share * r) group items, take the best remaining
group candidate, else the best remaining candidate. When a user's group candidates run out the
quota is relaxed (the list continues in candidate order): a list is never cut short, and
`quota_satisfied` reports which lists met every prefix.
The group is per user (e.g. "discovery": items whose artist the user has not heard), given as a
boolean (n_users, N) mask aligned with the candidates.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from recsys_cli.arrays import check_candidates, check_k
from recsys_cli.errors import UserError
from recsys_cli.rerank._common import empty_output


@njit(cache=True)
def _quota_kernel(candidates, member, k, share, out):
    n_users, n = candidates.shape
    taken = np.zeros(n, dtype=np.bool_)
    for u in range(n_users):
        taken[:] = False
        count = 0
        for r in range(1, k + 1):
            need = math.ceil(share * r - 1e-12)
            pick = -1
            if count < need:
                for j in range(n):
                    if candidates[u, j] >= 0 and not taken[j] and member[u, j]:
                        pick = j
                        break
            if pick < 0:
                for j in range(n):
                    if candidates[u, j] >= 0 and not taken[j]:
                        pick = j
                        break
            if pick < 0:
                break
            taken[pick] = True
            out[u, r - 1] = candidates[u, pick]
            if member[u, pick]:
                count += 1


def quota(candidates: np.ndarray, member: np.ndarray, k: int, share: float) -> np.ndarray:
    """Lists of k in which every prefix of length r holds at least ceil(share * r) members
    (while the user has member candidates left); `member[u, j]` marks candidates[u, j]."""
    candidates = check_candidates(candidates)
    k = check_k(k)
    if not 0.0 <= share <= 1.0:
        raise UserError(f"quota share must be in [0, 1], got {share}")
    member = np.asarray(member, dtype=np.bool_)
    if member.shape != candidates.shape:
        raise UserError(f"quota mask shape {member.shape} != candidates {candidates.shape}")
    out = empty_output(candidates.shape[0], k)
    _quota_kernel(candidates, member, k, float(share), out)
    return out


def quota_satisfied(recs: np.ndarray, member_of: np.ndarray, share: float) -> np.ndarray:
    """Per list: does every prefix r hold at least ceil(share * r) members? `member_of` is
    aligned with `recs` (padding ignored)."""
    valid = recs >= 0
    counts = np.cumsum(member_of & valid, axis=1)
    need = np.ceil(share * np.arange(1, recs.shape[1] + 1) - 1e-12)
    return np.all((counts >= need) | ~valid, axis=1)
