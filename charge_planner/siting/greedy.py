"""Greedy construction heuristics of the location models, vectorised over sparse matrices:
maximal covering (:func:`greedy_max_cover`), set covering with a redundancy pass
(:func:`greedy_set_cover`) and p-median (:func:`greedy_pmedian`). They give the first
incumbent that the local searches improve and that warm-starts the MILP solver.

Notation as in :mod:`charge_planner.siting.heuristics`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from charge_planner.siting.search_tools import _csr

# --------------------------------------------------------------------------------------------
# maximal covering
# --------------------------------------------------------------------------------------------


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
