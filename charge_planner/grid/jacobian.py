"""Sparse Jacobian of the polar power-flow equations and its level-scheduled LU.

:func:`_jacobian` builds the Newton-Raphson Jacobian of the batched load flow
(:mod:`~charge_planner.grid.fastflow`) at one voltage vector; :class:`_LevelLU` factorises it
once (SuperLU) and solves it for many right-hand sides at a time, with the forward and backward
substitutions ordered by elimination level so that each level is one sparse x dense product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu


def _jacobian(
    ybus: sp.csr_matrix,
    v: np.ndarray,
    pvpq: np.ndarray,
    pq: np.ndarray,
    dsload_dvm: np.ndarray | None,
) -> sp.csc_matrix:
    """Jacobian of the polar power-flow equations at ``v`` (rows P(pvpq), Q(pq); columns Va(pvpq), Vm(pq))."""
    vm = np.abs(v)
    ibus = ybus @ v
    diag_v = sp.diags(v)
    ds_dvm = diag_v @ np.conj(ybus @ sp.diags(v / vm)) + sp.diags(np.conj(ibus) * v / vm)
    ds_dva = 1j * diag_v @ np.conj(sp.diags(ibus) - ybus @ diag_v)
    if dsload_dvm is not None:
        # the mismatch is S(V) - Sbus(Vm) with Sbus = Sgen - Sload(Vm): d/dVm adds + dSload/dVm
        ds_dvm = ds_dvm + sp.diags(dsload_dvm)
    ds_dva = sp.csr_matrix(ds_dva)
    ds_dvm = sp.csr_matrix(ds_dvm)
    j11 = ds_dva[pvpq][:, pvpq].real
    j12 = ds_dvm[pvpq][:, pq].real
    j21 = ds_dva[pq][:, pvpq].imag
    j22 = ds_dvm[pq][:, pq].imag
    return sp.bmat([[j11, j12], [j21, j22]], format="csc")


def _levels(strict: sp.csr_matrix) -> np.ndarray:
    """Elimination level of each row of a strictly triangular CSR matrix.

    A row's level is one more than the highest level among the rows it depends on (its
    columns), so rows of one level can be eliminated together. The levels are the longest
    dependency paths, found by relaxing every row at once until none changes (as many rounds as
    levels, each one pass over the entries), for a lower or an upper triangle alike.
    """
    n = strict.shape[0]
    level = np.zeros(n, dtype=np.int64)
    indptr, indices = strict.indptr, strict.indices
    has = np.diff(indptr) > 0
    starts = indptr[:-1][has]
    for _ in range(n + 1):
        new = np.zeros(n, dtype=np.int64)
        if len(starts):
            new[has] = np.maximum.reduceat(level[indices[: indptr[-1]]], starts) + 1
        if np.array_equal(new, level):
            break
        level = new
    return level


def _by_level(strict: sp.csr_matrix, level: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, sp.csr_matrix]]]:
    """Reorder a triangular matrix by level; return the order and (start, stop, rows) per level.

    In the new order every row depends only on earlier rows, so each level is a contiguous
    block of rows and the substitution works on slices.
    """
    n = strict.shape[0]
    order = np.argsort(level, kind="stable")
    permuted = strict[order][:, order].tocsr()
    permuted.sort_indices()
    bounds = np.searchsorted(level[order], np.arange(level.max() + 2))
    blocks = []
    for k in range(len(bounds) - 1):
        a, b = int(bounds[k]), int(bounds[k + 1])
        lo, hi = int(permuted.indptr[a]), int(permuted.indptr[b])
        if hi > lo:
            block = sp.csr_matrix(
                (permuted.data[lo:hi], permuted.indices[lo:hi], permuted.indptr[a : b + 1] - lo), shape=(b - a, n)
            )
            blocks.append((a, b, block))
    return order, blocks


class _LevelLU:
    """Sparse LU of a Jacobian with level-scheduled triangular solves for many right-hand sides.

    SuperLU factorises ``Pr J Pc = L U``. The forward and the backward substitution each
    run in an order where the rows of one elimination level are contiguous, so a level is
    one sparse x dense product on slices; three permutations (one gather each) connect
    the orders.
    """

    def __init__(self, jac: sp.csc_matrix) -> None:
        lu = splu(jac, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        n = jac.shape[0]
        diag = lu.U.diagonal()
        if not np.all(np.isfinite(diag)) or np.any(diag == 0.0):
            raise np.linalg.LinAlgError("singular Jacobian")
        lower = sp.tril(lu.L, -1, format="csr")
        upper = sp.triu(lu.U, 1, format="csr")
        order_l, self.lower = _by_level(lower, _levels(lower))
        order_u, self.upper = _by_level(upper, _levels(upper))
        inv_r = np.empty(n, dtype=np.int64)
        inv_r[lu.perm_r] = np.arange(n)
        inv_l = np.empty(n, dtype=np.int64)
        inv_l[order_l] = np.arange(n)
        inv_u = np.empty(n, dtype=np.int64)
        inv_u[order_u] = np.arange(n)
        self.first = inv_r[order_l]  # b -> L order
        self.middle = inv_l[order_u]  # L order -> U order
        self.last = inv_u[lu.perm_c]  # U order -> x
        self.diag_u = diag[order_u][:, None]
        self.n_free = self.upper[0][0] if self.upper else n

    def solve(self, b: np.ndarray) -> np.ndarray:
        """Solve J x = b for a matrix b of right-hand sides (unknowns x steps)."""
        y = np.ascontiguousarray(b[self.first])
        for a, c, block in self.lower:
            y[a:c] -= block @ y
        z = y[self.middle]
        # rows of level 0 (no off-diagonal entries) come first in U order and need no substitution
        z[: self.n_free] /= self.diag_u[: self.n_free]
        for a, c, block in self.upper:
            z[a:c] -= block @ z
            z[a:c] /= self.diag_u[a:c]
        return z[self.last]
