"""Heuristics and Lagrangian bounds for the location models, vectorised over sparse matrices.

They serve two purposes: a good incumbent fast (greedy, then swap local search) that warm
starts the MILP solver, and a valid bound (Lagrangian relaxation) that proves how far any
solution can be from the optimum. Every function is deterministic for a given ``seed``.

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
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class SafetyStop:
    """A wall-clock safety stop shared by the steps of one solve.

    The heuristics end by their work caps (rounds, swaps, moves, iterations), so that their
    result does not depend on the machine's speed; this clock ends them only when a machine is
    far slower than expected, and records that it did (:attr:`hit`).
    """

    deadline: float
    hit: bool = False

    @classmethod
    def after(cls, seconds: float) -> SafetyStop:
        """A stop ``seconds`` from now [s]."""
        return cls(time.perf_counter() + float(seconds))

    def left(self) -> float:
        """Seconds left [s] (at least 1 ms, so that a solver given it stops at once)."""
        return max(self.deadline - time.perf_counter(), 1e-3)

    def expired(self) -> bool:
        """True (and recorded) once the deadline has passed."""
        if not self.hit and time.perf_counter() >= self.deadline:
            self.hit = True
        return self.hit


def _clock(safety: SafetyStop | None, time_limit_s: float) -> SafetyStop:
    return safety if safety is not None else SafetyStop.after(time_limit_s)


# --------------------------------------------------------------------------------------------
# connection cost by installed power band
# --------------------------------------------------------------------------------------------


def band_table(bands: pd.DataFrame | Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Upper limits [kW] and costs [USD] of a connection-band table (columns ``max_kw``,
    ``cost_usd``, or (max_kw, cost_usd) pairs), checked: limits positive and increasing, the last
    one ``inf``; costs >= 0 and not falling from band to band.

    Raises
    ------
    DataError
        Naming what is wrong with the table.
    """
    table = bands if isinstance(bands, pd.DataFrame) else pd.DataFrame(list(bands), columns=["max_kw", "cost_usd"])
    missing = [c for c in ("max_kw", "cost_usd") if c not in table.columns]
    if missing:
        raise DataError(f"site_cost_bands table lacks column(s) {missing}; add them")
    max_kw = table["max_kw"].to_numpy(dtype=float)
    cost = table["cost_usd"].to_numpy(dtype=float)
    if len(max_kw) == 0 or np.isnan(max_kw).any() or (max_kw <= 0).any() or (np.diff(max_kw) <= 0).any():
        raise DataError(f"site_cost_bands max_kw {list(max_kw)}: give positive, increasing upper limits [kW]")
    if not np.isinf(max_kw[-1]):
        raise DataError(f"site_cost_bands: the last band ends at {max_kw[-1]:g} kW; make it open-ended "
                        "(max_kw = inf) so that every site has a band")
    if not np.isfinite(cost).all() or (cost < 0).any() or (np.diff(cost) < 0).any():
        raise DataError(f"site_cost_bands cost_usd {list(cost)}: give costs >= 0 that do not fall with the band")
    return max_kw, cost


def connection_band(power_kw: np.ndarray | float, max_kw: np.ndarray) -> np.ndarray:
    """Index of the connection band of each installed power: the lowest band whose upper limit
    ``max_kw`` [kW] (increasing; the last one ``inf``) is at least the power [kW]."""
    p = np.asarray(power_kw, dtype=float)
    return np.searchsorted(np.asarray(max_kw, dtype=float), p - 1e-9 * np.maximum(np.abs(p), 1.0), side="left")


def connection_cost(power_kw: np.ndarray | float, max_kw: np.ndarray, cost_usd: np.ndarray) -> np.ndarray:
    """Connection cost [USD] of sites of the given installed power [kW]: the cost of their band
    (:func:`connection_band`). Every model and heuristic prices a site's connection this way."""
    return np.asarray(cost_usd, dtype=float)[connection_band(power_kw, max_kw)]


# --------------------------------------------------------------------------------------------
# maximal covering
# --------------------------------------------------------------------------------------------


def _csr(a: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    out = sp.csr_matrix(a, dtype=np.float64)
    out.sum_duplicates()
    out.data[:] = 1.0
    return out


def covered_weight(cover: sp.spmatrix | sp.sparray, weight: np.ndarray, open_idx: np.ndarray) -> float:
    """Weight of the demand rows covered by the open columns ``open_idx``."""
    a = _csr(cover)
    x = np.zeros(a.shape[1])
    x[np.asarray(open_idx, dtype=np.int64)] = 1.0
    return float(weight[(a @ x) > 0].sum())


def greedy_max_cover(
    cover: sp.spmatrix | sp.sparray,
    weight: np.ndarray,
    p: int,
    *,
    fixed: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy maximal covering: open, one at a time, the column that covers the most new weight.

    Parameters
    ----------
    cover
        Demand x candidate coverage matrix (non-zero = within reach).
    weight
        Weight of each demand row (e.g. [kWh/day]).
    p
        Number of columns to open (fixed ones included).
    fixed
        Columns that are open from the start (existing sites).
    forbidden
        Boolean mask of columns that may not open.

    Returns
    -------
    numpy.ndarray
        Indices of the open columns, in the order they were opened.
    """
    a = _csr(cover)
    at = a.T.tocsr()
    w = np.asarray(weight, dtype=float)
    m = a.shape[1]
    covered = np.zeros(a.shape[0], dtype=bool)
    gain = np.asarray(at @ w).ravel()
    chosen: list[int] = []
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool).copy()

    def take(j: int) -> None:
        rows = at.indices[at.indptr[j] : at.indptr[j + 1]]
        new = rows[~covered[rows]]
        covered[new] = True
        if len(new):
            # every column that also covers a newly covered row loses that row's weight
            sub = a[new]
            gain[:] -= np.bincount(sub.indices, weights=np.repeat(w[new], np.diff(sub.indptr)), minlength=m)
        chosen.append(j)
        blocked[j] = True

    for j in [] if fixed is None else np.asarray(fixed, dtype=np.int64):
        if int(j) not in chosen:
            take(int(j))
    while len(chosen) < min(p, m):
        g = np.where(blocked, -np.inf, gain)
        j = int(np.argmax(g))
        if not np.isfinite(g[j]):
            break
        take(j)
    return np.asarray(chosen, dtype=np.int64)


@dataclass
class LocalSearchStats:
    """What a local search did."""

    swaps: int
    rounds: int
    objective: float
    time_s: float
    wall_clock_stop: bool = False


def local_search_max_cover(
    cover: sp.spmatrix | sp.sparray,
    weight: np.ndarray,
    open_idx: np.ndarray,
    *,
    fixed: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
    time_limit_s: float = 10.0,
    perturb: bool = True,
    seed: int = 0,
    stop: threading.Event | None = None,
    publish: dict[str, tuple[float, np.ndarray]] | None = None,
    max_rounds: int = 50,
    max_swaps: int = 100_000,
    safety: SafetyStop | None = None,
) -> tuple[np.ndarray, LocalSearchStats]:
    """Swap local search for maximal covering, with perturbation kicks for ``max_rounds`` rounds.

    Each step evaluates every (close ``r``, open ``k``) swap at once::

        delta(r, k) = gain_k - loss_r + extra(r, k)

    where ``gain_k`` is the uncovered weight ``k`` would cover, ``loss_r`` the weight only
    ``r`` covers, and ``extra(r, k)`` the part of that weight ``k`` covers too (a sparse
    product), then applies the best one. At a local optimum a few open columns are swapped
    at random (iterated local search) and the search restarts from there; the best
    solution seen is returned.

    Parameters
    ----------
    cover, weight
        As in :func:`greedy_max_cover`.
    open_idx
        Starting open columns (a feasible solution).
    fixed
        Columns that must stay open.
    forbidden
        Boolean mask of columns that may not open.
    time_limit_s
        Wall-clock safety stop [s] (``safety``, when given, replaces it).
    perturb
        Keep searching from perturbed solutions for ``max_rounds`` rounds (else stop at the
        first local optimum).
    seed
        Seed of the perturbations.
    stop
        An event that ends the search early when set.
    publish
        As in :func:`anneal_max_cover`.
    max_rounds
        Descents (each followed by a kick while ``perturb``): the work cap of the search.
    max_swaps
        Swaps over all descents (a second work cap).
    safety
        Shared wall-clock safety stop of the calling solve.

    Returns
    -------
    tuple
        The best open columns found and :class:`LocalSearchStats`.
    """
    t0 = time.perf_counter()
    clock = _clock(safety, time_limit_s)
    a = _csr(cover)
    at = a.T.tocsr()
    w = np.asarray(weight, dtype=float)
    n, m = a.shape
    rng = np.random.default_rng(seed)
    is_fixed = np.zeros(m, dtype=bool)
    if fixed is not None:
        is_fixed[np.asarray(fixed, dtype=np.int64)] = True
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool)

    is_open = np.zeros(m, dtype=bool)
    is_open[np.asarray(open_idx, dtype=np.int64)] = True
    cnt = np.asarray(a @ is_open.astype(float)).ravel()
    best_open = is_open.copy()
    best_obj = cur_obj = float(w[cnt > 0].sum())
    swaps = rounds = 0
    tol = 1e-9 * max(float(w.sum()), 1.0)
    # columns that can never help (cover nothing) are skipped
    useful = (np.diff(at.indptr) > 0) & ~blocked

    def flip(j: int, delta: int) -> None:
        rows = at.indices[at.indptr[j] : at.indptr[j + 1]]
        cnt[rows] += delta

    stall = 0
    while True:
        # ---- best-improvement descent
        while swaps < max_swaps and not clock.expired():
            uncovered_w = np.where(cnt == 0, w, 0.0)
            gain = np.asarray(at @ uncovered_w).ravel()
            sole = cnt == 1
            sole_rows = np.flatnonzero(sole)
            # the open column that solely covers each such row
            sub = a[sole_rows]
            opener = np.repeat(np.arange(len(sole_rows)), np.diff(sub.indptr))
            is_o = is_open[sub.indices]
            owner = np.empty(len(sole_rows), dtype=np.int64)
            owner[opener[is_o]] = sub.indices[is_o]
            loss = np.bincount(owner, weights=w[sole_rows], minlength=m)
            open_cols = np.flatnonzero(is_open & ~is_fixed)
            if len(open_cols) == 0:
                break
            pos = -np.ones(m, dtype=np.int64)
            pos[open_cols] = np.arange(len(open_cols))
            keep = pos[owner] >= 0
            # extra(r, k) = sum of w_i over rows solely covered by r that k also covers
            p_mat = sp.csr_matrix(
                (w[sole_rows[keep]], (pos[owner[keep]], np.flatnonzero(keep))), shape=(len(open_cols), len(sole_rows))
            )
            extra = (p_mat @ sub).toarray()
            cand_ok = useful & ~is_open
            delta = gain[None, :] - loss[open_cols][:, None] + extra
            delta[:, ~cand_ok] = -np.inf
            flat = int(np.argmax(delta))
            r_pos, k = divmod(flat, m)
            if not delta[r_pos, k] > tol:
                break
            r = int(open_cols[r_pos])
            flip(r, -1)
            flip(k, +1)
            is_open[r], is_open[k] = False, True
            cur_obj += float(delta[r_pos, k])
            swaps += 1
        cur_obj = float(w[cnt > 0].sum())
        rounds += 1
        if cur_obj > best_obj + tol:
            best_obj, best_open = cur_obj, is_open.copy()
            stall = 0
            if publish is not None and best_obj > publish["inc"][0]:
                publish["inc"] = (best_obj, np.flatnonzero(best_open))
        else:
            stall += 1
        if (not perturb or rounds >= max_rounds or swaps >= max_swaps or clock.expired()
                or (stop is not None and stop.is_set())):
            break
        # ---- kick: from the best solution, close a few random columns and reopen greedily
        is_open = best_open.copy()
        cnt = np.asarray(a @ is_open.astype(float)).ravel()
        movable = np.flatnonzero(is_open & ~is_fixed)
        if len(movable) == 0:
            break
        k_out = max(1, min(len(movable), 2 + stall % 4))
        out = rng.choice(movable, size=k_out, replace=False)
        for j in out:
            flip(int(j), -1)
            is_open[j] = False
        for _ in range(k_out):
            uncovered_w = np.where(cnt == 0, w, 0.0)
            gain = np.asarray(at @ uncovered_w).ravel()
            gain[~useful | is_open] = -np.inf
            gain[out] = -np.inf
            # a random pick among the few best columns diversifies the restart
            top = np.argpartition(-gain, min(5, m - 1))[:5]
            top = top[np.isfinite(gain[top])]
            if len(top) == 0:
                break
            j = int(rng.choice(top))
            flip(j, +1)
            is_open[j] = True
    stats = LocalSearchStats(swaps=swaps, rounds=rounds, objective=best_obj, time_s=time.perf_counter() - t0,
                             wall_clock_stop=clock.hit)
    log.debug("MCLP local search: %d swaps in %d rounds, objective %.6g, %.2f s", swaps, rounds, best_obj, stats.time_s)
    return np.flatnonzero(best_open), stats


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
# set covering
# --------------------------------------------------------------------------------------------


def greedy_set_cover(
    cover: sp.spmatrix | sp.sparray,
    cost: np.ndarray,
    *,
    rows: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy set cover (Chvatal): open the column with the lowest cost per newly covered row.

    Parameters
    ----------
    cover
        Demand x candidate coverage matrix.
    cost
        Cost of opening each column (> 0).
    rows
        Boolean mask of the rows that must be covered (default: every row with a candidate).
    fixed
        Columns open from the start.
    forbidden
        Boolean mask of columns that may not open.

    Returns
    -------
    numpy.ndarray
        Open columns, followed by a redundancy pass that closes columns no longer needed.
    """
    a = _csr(cover)
    at = a.T.tocsr()
    n, m = a.shape
    need = (np.diff(a.indptr) > 0) if rows is None else np.asarray(rows, dtype=bool) & (np.diff(a.indptr) > 0)
    cost = np.asarray(cost, dtype=float)
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool).copy()
    is_open = np.zeros(m, dtype=bool)
    if fixed is not None:
        is_open[np.asarray(fixed, dtype=np.int64)] = True
    cnt = np.asarray(a @ is_open.astype(float)).ravel()
    todo = need & (cnt == 0)
    count = np.asarray(at @ todo.astype(float)).ravel()
    while todo.any():
        ratio = np.where((count > 0) & ~blocked & ~is_open, cost / np.maximum(count, 1e-12), np.inf)
        j = int(np.argmin(ratio))
        if not np.isfinite(ratio[j]):
            break
        is_open[j] = True
        rows_j = at.indices[at.indptr[j] : at.indptr[j + 1]]
        cnt[rows_j] += 1
        new = rows_j[todo[rows_j]]
        todo[new] = False
        if len(new):
            sub = a[new]
            count -= np.bincount(sub.indices, minlength=m)
    # redundancy: close the costliest columns whose rows stay covered without them
    movable = np.flatnonzero(is_open)
    if fixed is not None:
        movable = np.setdiff1d(movable, np.asarray(fixed, dtype=np.int64))
    for j in movable[np.argsort(-cost[movable], kind="stable")]:
        rows_j = at.indices[at.indptr[j] : at.indptr[j + 1]]
        if np.all(cnt[rows_j][need[rows_j]] >= 2):
            is_open[j] = False
            cnt[rows_j] -= 1
    return np.flatnonzero(is_open)


# --------------------------------------------------------------------------------------------
# p-median
# --------------------------------------------------------------------------------------------


def _pm_state(cost: np.ndarray, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest and second-nearest open column per row: (d1, d2, c1)."""
    cols = np.flatnonzero(is_open)
    sub = cost[:, cols]
    if len(cols) == 1:
        return sub[:, 0].copy(), np.full(cost.shape[0], np.inf), np.full(cost.shape[0], cols[0])
    part = np.argpartition(sub, 1, axis=1)[:, :2]
    r = np.arange(cost.shape[0])
    a0, a1 = sub[r, part[:, 0]], sub[r, part[:, 1]]
    first = np.where(a0 <= a1, part[:, 0], part[:, 1])
    d1 = np.minimum(a0, a1)
    d2 = np.maximum(a0, a1)
    return d1, d2, cols[first]


def greedy_pmedian(cost: np.ndarray, weight: np.ndarray, p: int, *, forbidden: np.ndarray | None = None) -> np.ndarray:
    """Greedy p-median: open, one at a time, the column that lowers the weighted cost most.

    Parameters
    ----------
    cost
        Dense demand x candidate cost matrix (a large finite number for unreachable pairs).
    weight
        Demand weights.
    p
        Number of columns to open.
    forbidden
        Boolean mask of columns that may not open.
    """
    w = np.asarray(weight, dtype=float)
    n, m = cost.shape
    d = np.full(n, np.inf)
    chosen: list[int] = []
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool).copy()
    for _ in range(min(p, m)):
        big = np.where(np.isfinite(d), d, np.max(cost) * 10 + 1)
        total = w @ np.minimum(cost, big[:, None])
        total[blocked] = np.inf
        j = int(np.argmin(total))
        if not np.isfinite(total[j]):
            break
        chosen.append(j)
        blocked[j] = True
        d = np.minimum(d, cost[:, j])
    return np.asarray(chosen, dtype=np.int64)


def interchange_pmedian(
    cost: np.ndarray,
    weight: np.ndarray,
    open_idx: np.ndarray,
    *,
    forbidden: np.ndarray | None = None,
    time_limit_s: float = 10.0,
    max_swaps: int = 10_000,
    safety: SafetyStop | None = None,
) -> tuple[np.ndarray, float]:
    """Best-improvement vertex interchange for p-median (Teitz-Bart, with the gain/loss/extra
    evaluation of Resende and Werneck so that every swap is priced in one pass).

    Parameters
    ----------
    cost, weight, forbidden
        As in :func:`greedy_pmedian`.
    open_idx
        Starting open columns.
    time_limit_s
        Wall-clock safety stop [s] (``safety``, when given, replaces it).
    max_swaps
        Swap limit (the work cap).
    safety
        Shared wall-clock safety stop of the calling solve.

    Returns
    -------
    tuple
        The open columns at the local optimum and their weighted cost.
    """
    clock = _clock(safety, time_limit_s)
    swaps = 0
    w = np.asarray(weight, dtype=float)
    n, m = cost.shape
    is_open = np.zeros(m, dtype=bool)
    is_open[np.asarray(open_idx, dtype=np.int64)] = True
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool)
    tol = 1e-9 * max(float(w @ cost.min(axis=1)), 1.0)
    while swaps < max_swaps and 0 < is_open.sum() < m and not clock.expired():
        d1, d2, c1 = _pm_state(cost, is_open)
        d2f = np.where(np.isfinite(d2), d2, d1)
        gain = w @ np.maximum(d1[:, None] - cost, 0.0)
        open_cols = np.flatnonzero(is_open)
        pos = -np.ones(m, dtype=np.int64)
        pos[open_cols] = np.arange(len(open_cols))
        loss = np.bincount(pos[c1], weights=w * (d2f - d1), minlength=len(open_cols))
        v = w[:, None] * np.maximum(d2f[:, None] - np.maximum(cost, d1[:, None]), 0.0)
        owner = sp.csr_matrix((np.ones(n), (pos[c1], np.arange(n))), shape=(len(open_cols), n))
        extra = np.asarray(owner @ v)
        profit = gain[None, :] - loss[:, None] + extra
        profit[:, is_open | blocked] = -np.inf
        flat = int(np.argmax(profit))
        r_pos, k = divmod(flat, m)
        if not profit[r_pos, k] > tol:
            break
        is_open[open_cols[r_pos]] = False
        is_open[k] = True
        swaps += 1
    d1, _, _ = _pm_state(cost, is_open)
    return np.flatnonzero(is_open), float(w @ d1)


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


def anneal_max_cover(
    cover: sp.spmatrix | sp.sparray,
    weight: np.ndarray,
    open_idx: np.ndarray,
    *,
    fixed: np.ndarray | None = None,
    forbidden: np.ndarray | None = None,
    time_limit_s: float = 10.0,
    moves: int = 200_000,
    stop: threading.Event | None = None,
    temperature: float = 0.08,
    seed: int = 0,
    publish: dict[str, tuple[float, np.ndarray]] | None = None,
    relocate: float = 0.3,
    safety: SafetyStop | None = None,
) -> tuple[np.ndarray, float]:
    """Simulated annealing over swaps for maximal covering, from a feasible solution.

    A move closes a random open column ``r`` and opens a column ``k`` that covers a random
    row of ``r`` (a shift to a neighbour) or, with probability ``relocate``, a random
    uncovered row anywhere (a relocation); its effect is priced exactly from the
    coverage counts of the rows of ``r`` and ``k`` only. Improving moves are always taken,
    worsening ones with probability ``exp(delta / T)``; ``T`` cools geometrically from
    ``temperature`` x the mean weight a column covers to 1 % of that over the budget.
    Each move costs a few microseconds of numpy work on the ~degree rows involved, so
    the loop runs over moves (hundreds of thousands), never over demand rows.

    Parameters
    ----------
    cover, weight, open_idx, fixed, forbidden
        As in :func:`local_search_max_cover`.
    time_limit_s
        Wall-clock safety stop [s] (``safety``, when given, replaces it).
    moves
        Number of moves (the work cap): the cooling schedule follows the move count, so the
        result does not depend on machine speed (unless the safety stop cuts it short).
    stop
        An event that ends the search early when set (checked every 256 moves).
    temperature
        Starting temperature relative to the mean weight a column covers [-].
    seed
        Random seed.
    relocate
        Share of relocation moves [0-1].
    publish
        When given, ``publish["inc"]`` is replaced by ``(objective, open columns)`` at every
        improvement on the value it holds (lets another thread use the incumbent).
    safety
        Shared wall-clock safety stop of the calling solve.

    Returns
    -------
    tuple
        The best open columns found and their covered weight.
    """
    t0 = time.perf_counter()
    clock = _clock(safety, time_limit_s)
    a = _csr(cover)
    at = a.T.tocsr()
    w = np.asarray(weight, dtype=float)
    n, m = a.shape
    rng = np.random.default_rng(seed)
    is_open = np.zeros(m, dtype=bool)
    is_open[np.asarray(open_idx, dtype=np.int64)] = True
    cnt = np.asarray(a @ is_open.astype(float)).ravel().astype(np.int64)
    cur = best = float(w[cnt > 0].sum())
    best_open = is_open.copy()
    locked = np.zeros(m, dtype=bool)
    if fixed is not None:
        locked[np.asarray(fixed, dtype=np.int64)] = True
    blocked = np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool)
    movable = [int(j) for j in np.flatnonzero(is_open & ~locked) if at.indptr[j + 1] > at.indptr[j]]
    if not movable:
        return np.flatnonzero(is_open), cur
    col_w = np.asarray(at @ w).ravel()
    t_start = temperature * float(col_w[col_w > 0].mean()) if (col_w > 0).any() else 1.0
    t_end = t_start * 1e-2
    aip, aix, tip, tix = a.indptr, a.indices, at.indptr, at.indices
    wt = w[tix]  # row weights in column order: w[rows of j] is the slice wt[tip[j]:tip[j + 1]]
    it, temp = 0, t_start
    batch = 256
    rnd = rng.random((batch, 4))
    while True:
        k_b = it % batch
        if k_b == 0:
            frac = it / max(moves, 1)
            if frac >= 1.0 or clock.expired() or (stop is not None and stop.is_set()):
                break
            temp = t_start * (t_end / t_start) ** frac
            rnd = rng.random((batch, 4))
        q = rnd[k_b]
        it += 1
        r_pos = int(q[0] * len(movable))
        r = movable[r_pos]
        rows_r = tix[tip[r] : tip[r + 1]]
        if q[1] < relocate:
            # relocation: a column covering a random uncovered row, anywhere
            probe = rng.integers(0, n, 16)
            probe = probe[cnt[probe] == 0]
            if len(probe) == 0:
                continue
            i = probe[0]
        else:
            i = rows_r[int(q[1] / (1.0 - relocate) * len(rows_r)) % len(rows_r)] if relocate < 1 else rows_r[0]
        cols = aix[aip[i] : aip[i + 1]]
        if len(cols) == 0:
            continue
        k = int(cols[int(q[2] * len(cols))])
        if is_open[k] or blocked[k]:
            continue
        rows_k = tix[tip[k] : tip[k + 1]]
        gain = float(wt[tip[k] : tip[k + 1]][cnt[rows_k] == 0].sum())
        # open k first: the rows of r still covered once are then exactly those only r covers
        cnt[rows_k] += 1
        loss = float(wt[tip[r] : tip[r + 1]][cnt[rows_r] == 1].sum())
        delta = gain - loss
        if not (delta >= 0 or q[3] < math.exp(delta / temp)):
            cnt[rows_k] -= 1
        else:
            cnt[rows_r] -= 1
            is_open[r], is_open[k] = False, True
            movable[r_pos] = k
            cur += delta
            if cur > best + 1e-9:
                best, best_open = cur, is_open.copy()
                if publish is not None and best > publish["inc"][0]:
                    publish["inc"] = (best, np.flatnonzero(best_open))
    log.debug("MCLP annealing: %d moves, best %.6g in %.2f s", it, best, time.perf_counter() - t0)
    best_obj = float(w[(a @ best_open.astype(float)) > 0].sum())
    return np.flatnonzero(best_open), best_obj
