"""Lagrangian bounds of the location models: a valid bound that proves how far any solution can
be from the optimum, and the reduced-cost fixing it allows. Every function is deterministic.

Notation: ``cover`` is an ``n x m`` sparse 0/1 matrix (demand rows x candidate columns,
1 where the candidate is within reach); ``weight`` the demand weights; ``p`` the number
of open facilities.

Maximal covering (MCLP)::

    max  sum_i w_i z_i   s.t.  z_i <= sum_j a_ij x_j,  sum_j x_j = p,  x binary, z in [0, 1]

Dualising the coverage rows with multipliers ``0 <= lam_i <= w_i`` gives the bound::

    L(lam) = sum_i (w_i - lam_i) + (sum of the p largest entries of A^T lam)

which is valid for any such ``lam`` and equals the LP bound at its minimum.

p-median::

    min  sum_ij w_i c_ij x_ij   s.t.  sum_j x_ij = 1,  x_ij <= y_j,  sum_j y_j = p

Dualising the assignment rows with free multipliers ``u_i`` gives the lower bound::

    L(u) = sum_i u_i + (sum of the p smallest rho_j),  rho_j = sum_i min(0, w_i c_ij - u_i)
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import scipy.sparse as sp

from charge_planner.siting.search_tools import SafetyStop, _clock, _csr

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# maximal covering
# --------------------------------------------------------------------------------------------


def max_cover_lagrangian_value(
    cover: sp.spmatrix | sp.sparray,
    weight: np.ndarray,
    p: int,
    lam: np.ndarray,
    *,
    fixed: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
) -> float:
    """The Lagrangian bound ``L(lam)`` of maximal covering: an upper bound for any ``0 <= lam <= w``."""
    a = _csr(cover)
    w = np.asarray(weight, dtype=float)
    lam = np.clip(lam, 0.0, w)
    c = np.asarray(a.T @ lam).ravel()
    return float((w - lam).sum()) + _top_p_sum(c, p, fixed=fixed, forbidden=forbidden)[0]


def _top_p_sum(
    c: np.ndarray, p: int, *, fixed: np.ndarray | None, forbidden: np.ndarray | None
) -> tuple[float, np.ndarray]:
    """Sum and indices of the p largest non-negative entries (fixed ones always in, forbidden never)."""
    c = c.copy()
    chosen = np.zeros(len(c), dtype=bool)
    total = 0.0
    if fixed is not None and len(fixed):
        f = np.asarray(fixed, dtype=np.int64)
        chosen[f] = True
        total += float(c[f].sum())
    if forbidden is not None:
        c[np.asarray(forbidden, dtype=bool)] = -np.inf
    c[chosen] = -np.inf
    k = min(max(p - int(chosen.sum()), 0), len(c))
    if k > 0:
        top = np.argpartition(-c, k - 1)[:k]
        top = top[c[top] > 0]
        chosen[top] = True
        total += float(c[top].sum())
    return total, np.flatnonzero(chosen)


def max_cover_lagrangian_bound(
    cover: sp.spmatrix | sp.sparray,
    weight: np.ndarray,
    p: int,
    *,
    lower_bound: float = 0.0,
    lam0: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
    time_limit_s: float = 5.0,
    max_iter: int = 5000,
    safety: SafetyStop | None = None,
) -> tuple[float, np.ndarray]:
    """Best Lagrangian upper bound of maximal covering found by subgradient optimisation.

    Polyak steps towards ``lower_bound`` (the incumbent), halving the step factor when the
    bound stalls. Every evaluated ``L(lam)`` is a valid bound, so the minimum is returned.

    Parameters
    ----------
    cover, weight, p, fixed, forbidden
        As in :func:`greedy_max_cover`.
    lower_bound
        Objective of the best known solution.
    lam0
        Starting multipliers (default: ``w_i`` over the number of candidates covering row i).
    time_limit_s
        Wall-clock safety stop [s] (``safety``, when given, replaces it).
    max_iter
        Iteration limit (the work cap).
    safety
        Shared wall-clock safety stop of the calling solve.

    Returns
    -------
    tuple
        The bound and the multipliers that give it.
    """
    t0 = time.perf_counter()
    clock = _clock(safety, time_limit_s)
    a = _csr(cover)
    at = a.T.tocsr()
    w = np.asarray(weight, dtype=float)
    deg = np.maximum(np.diff(a.indptr), 1)
    lam = np.clip(w / deg if lam0 is None else np.asarray(lam0, dtype=float), 0.0, w)
    best, best_lam = math.inf, lam.copy()
    theta, since = 2.0, 0
    for _ in range(max_iter):
        c = np.asarray(at @ lam).ravel()
        top_sum, chosen = _top_p_sum(c, p, fixed=fixed, forbidden=forbidden)
        value = float((w - lam).sum()) + top_sum
        if not math.isfinite(best) or value < best - 1e-12 * max(abs(best), 1.0):
            best, best_lam, since = value, lam.copy(), 0
        else:
            since += 1
            if since >= 30:
                theta, since = theta / 2.0, 0
        if theta < 1e-4 or best <= lower_bound * (1 + 1e-9) or clock.expired():
            break
        xs = np.zeros(a.shape[1])
        xs[chosen] = 1.0
        cnt = np.asarray(a @ xs).ravel()
        z = np.where(lam < w, 1.0, np.minimum(cnt, 1.0))
        g = cnt - z  # subgradient of L at lam (L decreases along -g)
        # components pinned at a bound that the step would push outside do not move
        g[(lam <= 0) & (g > 0)] = 0.0
        g[(lam >= w) & (g < 0)] = 0.0
        norm = float(g @ g)
        if norm <= 0:
            break
        step = theta * max(value - lower_bound, 1e-9 * max(abs(value), 1.0)) / norm
        lam = np.clip(lam - step * g, 0.0, w)
    log.debug("MCLP Lagrangian bound %.6g in %.2f s", best, time.perf_counter() - t0)
    return best, best_lam


# --------------------------------------------------------------------------------------------
# p-median
# --------------------------------------------------------------------------------------------


def pmedian_lagrangian_bound(
    cost: np.ndarray,
    weight: np.ndarray,
    p: int,
    *,
    upper_bound: float,
    forbidden: np.ndarray | None = None,
    time_limit_s: float = 5.0,
    max_iter: int = 3000,
    safety: SafetyStop | None = None,
) -> tuple[float, np.ndarray]:
    """Best Lagrangian lower bound of p-median found by subgradient optimisation (and its multipliers).

    Parameters
    ----------
    cost, weight, forbidden
        As in :func:`greedy_pmedian`.
    p
        Number of columns to open.
    upper_bound
        Objective of the best known solution (target of the Polyak steps).
    time_limit_s
        Wall-clock safety stop [s] (``safety``, when given, replaces it).
    max_iter
        Iteration limit (the work cap).
    safety
        Shared wall-clock safety stop of the calling solve.
    """
    t0 = time.perf_counter()
    clock = _clock(safety, time_limit_s)
    w = np.asarray(weight, dtype=float)
    wc = w[:, None] * cost
    n, m = cost.shape
    # start from the second-smallest weighted cost per row: a standard, good first guess
    u = np.sort(wc, axis=1)[:, min(1, m - 1)]
    best, best_u = -math.inf, u.copy()
    theta, since = 2.0, 0
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool)
    for _ in range(max_iter):
        red = np.minimum(wc - u[:, None], 0.0)
        rho = red.sum(axis=0)
        rho[blocked] = np.inf
        k = min(p, int((~blocked).sum()))
        top = np.argpartition(rho, k - 1)[:k]
        value = float(u.sum() + rho[top].sum())
        if not math.isfinite(best) or value > best + 1e-12 * max(abs(best), 1.0):
            best, best_u, since = value, u.copy(), 0
        else:
            since += 1
            if since >= 30:
                theta, since = theta / 2.0, 0
        if theta < 1e-4 or best >= upper_bound * (1 - 1e-9) or clock.expired():
            break
        assigned = (red[:, top] < 0).sum(axis=1)
        g = 1.0 - assigned
        norm = float(g @ g)
        if norm <= 0:
            break
        u = u + theta * (upper_bound - value) / norm * g
    log.debug("p-median Lagrangian bound %.6g in %.2f s", best, time.perf_counter() - t0)
    return best, best_u


def pmedian_fixing(
    cost: np.ndarray, weight: np.ndarray, p: int, u: np.ndarray, *, threshold: float, forbidden: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Lagrangian reduced-cost fixing for p-median.

    With ``rho_j`` the reduced cost of column ``j`` and ``S`` the p smallest, forcing ``j``
    open bounds the objective from below by ``L - rho_(p) + rho_j`` (``j`` outside ``S``) and
    forcing it closed by ``L - rho_j + rho_(p+1)`` (``j`` inside). A column whose bound
    exceeds ``threshold`` (the largest objective still worth finding) is fixed.

    Returns
    -------
    tuple
        Boolean masks of the columns fixed closed and fixed open.
    """
    w = np.asarray(weight, dtype=float)
    m = cost.shape[1]
    rho = np.minimum(w[:, None] * cost - u[:, None], 0.0).sum(axis=0)
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool)
    rho_eff = np.where(blocked, np.inf, rho)
    k = min(p, int((~blocked).sum()))
    order = np.argsort(rho_eff, kind="stable")
    top = order[:k]
    value = float(u.sum() + rho_eff[top].sum())
    in_top = np.zeros(m, dtype=bool)
    in_top[top] = True
    rho_p = float(rho_eff[order[k - 1]]) if k > 0 else 0.0
    rho_next = float(rho_eff[order[k]]) if k < m and np.isfinite(rho_eff[order[k]]) else math.inf
    lb_open = np.where(in_top, value, value - rho_p + rho)
    lb_closed = np.where(in_top, value - rho + rho_next, value)
    closed = (lb_open > threshold) & ~in_top | blocked
    opened = (lb_closed > threshold) & in_top
    return closed, opened
