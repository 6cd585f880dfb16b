"""Local-search heuristics of the location models, vectorised over sparse matrices, and the
one import place of every siting heuristic and bound.

The heuristics serve two purposes: a good incumbent fast (greedy, then swap local search) that warm
starts the MILP solver, and a valid bound (Lagrangian relaxation) that proves how far any
solution can be from the optimum. Every function is deterministic for a given ``seed``.
This module holds the improvement steps: swap local search and simulated annealing for maximal
covering, vertex interchange for p-median. The greedy construction is in
:mod:`charge_planner.siting.greedy`, the Lagrangian bounds and fixing in
:mod:`charge_planner.siting.bounds`, the connection-cost bands in
:mod:`charge_planner.siting.connection` and the safety stop in
:mod:`charge_planner.siting.search_tools`; all are re-exported here.

Notation: ``cover`` is an ``n x m`` sparse 0/1 matrix (demand rows x candidate columns,
1 where the candidate is within reach); ``weight`` the demand weights; ``p`` the number
of open facilities.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from charge_planner.siting.bounds import (
    max_cover_lagrangian_bound,
    max_cover_lagrangian_value,
    pmedian_fixing,
    pmedian_lagrangian_bound,
)
from charge_planner.siting.connection import band_table, connection_band, connection_cost
from charge_planner.siting.greedy import greedy_max_cover, greedy_pmedian, greedy_set_cover
from charge_planner.siting.search_tools import SafetyStop, _clock, _csr, covered_weight

log = logging.getLogger(__name__)

__all__ = [
    "LocalSearchStats",
    "SafetyStop",
    "anneal_max_cover",
    "band_table",
    "connection_band",
    "connection_cost",
    "covered_weight",
    "greedy_max_cover",
    "greedy_pmedian",
    "greedy_set_cover",
    "interchange_pmedian",
    "local_search_max_cover",
    "max_cover_lagrangian_bound",
    "max_cover_lagrangian_value",
    "pmedian_fixing",
    "pmedian_lagrangian_bound",
]


# --------------------------------------------------------------------------------------------
# maximal covering
# --------------------------------------------------------------------------------------------


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
