"""Grid headroom kept by the greedy plan of the capacitated siting model.

The greedy plan (:meth:`~charge_planner.siting.capacitated.CapacitatedSiting.greedy_solution`) adds one
charger at a time where it serves the most per dollar. Without this guard it ignored the grid headroom
rows (``sum_{j in h, t} coinc * p_t n_jtk - sum_o A_o r_ok <= H_h``): on a grid-aware model its plan broke
them and was thrown away, so the solver's search started from nothing and, its cost term being only a
tie-break, could end on any plan within the gap however much it spent. :class:`HeadroomGuard` tracks each
headroom row's activity as chargers are added (builds no reinforcement: ``r = 0``) and lets a charger in
only where every row it enters, in its year and every later one (chargers stay), keeps within its limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from charge_planner.siting.solve import MatrixModel

__all__ = ["HeadroomGuard"]

#: Activity above a row's limit by at most this share of the limit (or 1e-9 kW) still fits [-].
_TOL = 1e-9


@dataclass
class HeadroomGuard:
    """Activity of the headroom rows of a siting model while a greedy plan adds chargers.

    Attributes
    ----------
    a_n
        The headroom rows restricted to the charger columns ``n_jtk`` (CSC, column ``c * K + k``).
    a_rows
        The headroom rows over every column (to start a year from the plan so far).
    limit
        Each row's upper limit [kW].
    n_pairs, n_years
        Charger columns (site, type) and rollout years.
    n0
        First charger column of the model.
    """

    a_n: sp.csc_matrix
    a_rows: sp.csr_matrix
    limit: np.ndarray
    n_pairs: int
    n_years: int
    n0: int
    act: np.ndarray | None = None

    @classmethod
    def from_model(cls, model: MatrixModel, index: dict[str, Any]) -> HeadroomGuard | None:
        """The guard of ``model``'s headroom rows (None when it has none)."""
        block = index.get("labels", {}).get("headroom")
        if block is None or block[1] <= block[0]:
            return None
        start, end = int(block[0]), int(block[1])
        _, n0, x0 = index["cols"]
        rows = sp.csr_matrix(model.a)[start:end]
        return cls(a_n=sp.csc_matrix(rows[:, n0:x0]), a_rows=rows, limit=np.asarray(model.row_upper[start:end], float),
                   n_pairs=(x0 - n0) // int(index["n_years"]), n_years=int(index["n_years"]), n0=int(n0))

    def start_year(self, x: np.ndarray, n: np.ndarray, k: int) -> None:
        """Start year ``k`` from plan ``x`` (earlier years written) with the chargers ``n`` standing in every
        year from ``k`` on."""
        work = x.copy()
        for kk in range(k, self.n_years):
            work[self.n0 + np.arange(self.n_pairs) * self.n_years + kk] = n
        self.act = self.a_rows @ work

    def allowed(self, k: int) -> np.ndarray:
        """Whether one more charger of each (site, type) fits every headroom row it enters from year ``k`` on."""
        assert self.act is not None
        slack = self.limit - self.act
        tol = _TOL * np.maximum(np.abs(self.limit), 1.0)
        a = self.a_n
        over = a.data > slack[a.indices] + tol[a.indices]
        col_over = np.zeros(a.shape[1], dtype=bool)
        has = np.diff(a.indptr) > 0
        if over.any():
            starts = a.indptr[:-1][has]
            col_over[has] = np.add.reduceat(over.astype(np.int64), starts) > 0
        return ~col_over.reshape(self.n_pairs, self.n_years)[:, k:].any(axis=1)

    def add(self, c: int, k: int) -> None:
        """Count one more charger of (site, type) ``c`` from year ``k`` on."""
        assert self.act is not None
        a = self.a_n
        for kk in range(k, self.n_years):
            j = c * self.n_years + kk
            lo, hi = a.indptr[j], a.indptr[j + 1]
            self.act[a.indices[lo:hi]] += a.data[lo:hi]
