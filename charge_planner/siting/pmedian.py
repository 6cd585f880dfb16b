"""The p-median model (:class:`PMedian`): open ``p`` sites, each demand row goes to its cheapest open one.

It has the shape of the coverage models of :mod:`charge_planner.siting.coverage` (``from_tables`` /
``solve`` / tables keyed by ids / ``summary``) and shares their inputs and result handling
(:mod:`charge_planner.siting.location`). Greedy plus vertex interchange warm-start the MILP; a
Lagrangian lower bound is reported when the MILP does not finish.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import InfeasibleError
from charge_planner.siting import heuristics as heur
from charge_planner.siting.location import (
    MAX_NODES,
    Method,
    _inputs_from_sparse,
    _inputs_from_tables,
    _integral,
    _LocationModel,
    _status,
    unreachable_message,
)
from charge_planner.siting.solve import MatrixModel, SolveResult, SolverName, relative_gap, solve

log = logging.getLogger(__name__)

__all__ = ["PMedian"]


@dataclass
class PMedian(_LocationModel):
    """p-median (Hakimi 1964; ReVelle and Swain 1970): open ``p`` sites and assign every demand
    row to one of them so that the weighted travel cost is minimal.

    Build with :meth:`from_tables` (sparse travel pairs: a row can only go to a site it can
    reach) or :meth:`from_cost_matrix` (dense), then :meth:`solve`.
    """

    p: int = 1
    cost: sp.csr_matrix | None = None
    name: str = "p_median"

    @classmethod
    def from_tables(
        cls,
        demand: pd.DataFrame,
        candidates: pd.DataFrame,
        travel: pd.DataFrame,
        *,
        p: int,
        weight: str = "energy_kwh_day",
        max_travel_time_s: float | None = None,
    ) -> PMedian:
        """Build from tables (as :meth:`MaximalCoverage.from_tables`); the cost of a pair is its
        ``travel_time_s`` [s]."""
        t0 = time.perf_counter()
        inp = _inputs_from_tables(demand, candidates, travel, weight=weight, max_travel_time_s=max_travel_time_s)
        assert inp.time_s is not None
        cost = inp.time_s.copy()
        cost.data = cost.data - 1.0
        return cls(inputs=inp, p=int(p), cost=cost, build_time_s=time.perf_counter() - t0)

    @classmethod
    def from_cost_matrix(
        cls,
        cost: np.ndarray,
        weight: np.ndarray | None = None,
        *,
        p: int,
        demand_ids: pd.Index | None = None,
        site_ids: pd.Index | None = None,
    ) -> PMedian:
        """Build from a dense ``n x m`` cost matrix (``inf`` marks an unreachable pair)."""
        t0 = time.perf_counter()
        c = np.asarray(cost, dtype=float)
        n, m = c.shape
        ok = np.isfinite(c)
        rows, cols = np.nonzero(ok)
        cover = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, m))
        inp = _inputs_from_sparse(cover, np.ones(n) if weight is None else weight, demand_ids=demand_ids,
                                  site_ids=site_ids, fixed=None, forbidden=None)
        # store cost + 1 so that zero costs stay explicit entries of the sparse matrix
        inp.time_s = sp.csr_matrix((c[rows, cols] + 1.0, (rows, cols)), shape=(n, m))
        sparse_cost = sp.csr_matrix((c[rows, cols], (rows, cols)), shape=(n, m))
        return cls(inputs=inp, p=int(p), cost=sparse_cost, build_time_s=time.perf_counter() - t0)

    def _dense_cost(self, big: float) -> np.ndarray:
        inp = self.inputs
        assert inp.time_s is not None
        d = np.full(inp.time_s.shape, big)
        coo = inp.time_s.tocoo()
        d[coo.row, coo.col] = coo.data - 1.0
        return d

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 1e-4,
        method: Method = "auto",
        seed: int = 0,
        max_nodes: int = MAX_NODES,
    ) -> PMedian:
        """Solve: greedy + interchange warm start, Lagrangian lower bound, then the MILP
        ``min sum w_i c_ij x_ij  s.t.  sum_j x_ij = 1, x_ij <= y_j, sum_j y_j = p`` over the
        reachable pairs (skipped when ``method="heuristic"`` or the heuristic is proven optimal).

        Parameters
        ----------
        solver, time_limit_s, mip_gap, method, seed, max_nodes
            As in :meth:`MaximalCoverage.solve` (``seed`` is unused).
        """
        t0 = time.perf_counter()
        safety = heur.SafetyStop.after(time_limit_s)
        wall = False
        inp = self.inputs
        a = inp.cover.tocsr()
        n, m = a.shape
        w = inp.weight
        usable = np.where(inp.forbidden, 0.0, 1.0)
        if not ((a @ usable) > 0).all():
            raise InfeasibleError(unreachable_message(inp, 1.0, what="assignment of all demand"))
        p = min(self.p, int((~inp.forbidden).sum()))
        if self.p < 1 or len(inp.fixed) > self.p:
            raise InfeasibleError(f"p = {self.p} must be at least 1 and at least the {len(inp.fixed)} existing sites")
        cost_sp = self.cost if self.cost is not None else sp.csr_matrix((n, m))
        max_c = float(cost_sp.data.max()) if cost_sp.nnz else 1.0
        big = 10.0 * (max_c + 1.0) * max(n, 1)
        heur_ok = n * m <= 4e7
        integral = _integral(w) and _integral(cost_sp.data)
        notes: list[str] = []
        lower = -math.inf
        closed: np.ndarray | None = None
        forced: np.ndarray | None = None
        open_idx = np.zeros(0, dtype=np.int64)
        heur_obj = math.inf
        if heur_ok:
            dense = self._dense_cost(big)
            g = heur.greedy_pmedian(dense, w, p, forbidden=inp.forbidden)
            open_idx, heur_obj = heur.interchange_pmedian(dense, w, g, forbidden=inp.forbidden, safety=safety)
            if heur_obj >= big:
                heur_obj = math.inf
            else:
                lower, u_best = heur.pmedian_lagrangian_bound(dense, w, p, upper_bound=heur_obj,
                                                              forbidden=inp.forbidden, safety=safety)
                # columns that cannot be part of a better solution (integer data: better = at least 1 less)
                threshold = heur_obj - 1.0 + 1e-6 if integral else heur_obj * (1 - 1e-9)
                closed, forced = heur.pmedian_fixing(dense, w, p, u_best, threshold=threshold, forbidden=inp.forbidden)
                if integral:
                    lower = math.ceil(lower - 1e-6)  # integer data: the optimum is an integer
            notes.append(f"greedy+interchange {heur_obj:.6g}, Lagrangian bound {lower:.6g}")
        best_obj, best_open, bound = heur_obj, open_idx, lower
        if method != "heuristic" and relative_gap(best_obj, bound) > mip_gap:
            restricted = closed is not None and forced is not None and bool(closed.any() or forced.any())
            if restricted:
                assert closed is not None and forced is not None
                notes.append(f"reduced-cost fixing: {int(closed.sum())} closed, {int(forced.sum())} open, "
                             f"{int((~closed).sum())} free")
            reach_free = (a @ (~closed).astype(float)) > 0 if restricted and closed is not None else np.ones(n, bool)
            if not reach_free.all() or (restricted and closed is not None and int((~closed).sum()) < p):
                # no better solution can assign every row: the incumbent is optimal
                bound = best_obj
            else:
                model, pairs_r, pairs_c = self._matrix_model(cost_sp, w, p, closed=closed, forced=forced)
                warm = None
                if len(best_open) and (closed is None or not closed[best_open].any()):
                    warm = self._warm(pairs_r, pairs_c, best_open, m, n)
                res = solve(model, solver, time_limit_s=safety.left(), mip_gap=mip_gap, warm_start=warm,
                            max_nodes=max_nodes)
                wall = res.wall_clock_stop
                notes.append(f"MILP {model.shape[0]}x{model.shape[1]}: {res.status} in {res.time_s:.1f} s")
                if res.x is not None and res.objective < best_obj - 1e-9:
                    best_obj = float(res.objective)
                    best_open = np.flatnonzero(res.x[len(pairs_r):] > 0.5)
                if res.status == "infeasible" and not restricted:
                    raise InfeasibleError("p-median: no assignment of every demand row to p open sites exists; raise p")
                # a bound of the restricted model holds for every solution better than the incumbent
                rb = res.bound if math.isfinite(res.bound) else (math.inf if res.status == "infeasible" else -math.inf)
                if restricted:
                    rb = min(rb, heur_obj)
                if math.isfinite(rb):
                    bound = max(bound, math.ceil(rb - 1e-6) if integral else float(rb))
        if not math.isfinite(best_obj):
            raise InfeasibleError("p-median: no feasible solution found; raise p or time_limit_s")
        # the objective of the chosen sites, recomputed from the data (not the solver's float)
        best_open = np.asarray(best_open, dtype=np.int64)
        nearest = inp.time_s[:, best_open].tocsr() if inp.time_s is not None else None
        if nearest is not None and nearest.nnz:
            row_min = np.full(n, np.inf)
            coo = nearest.tocoo()
            np.minimum.at(row_min, coo.row, coo.data - 1.0)
            if np.isfinite(row_min).all():
                best_obj = float(w @ row_min)
        bound = min(bound, best_obj)
        gap = relative_gap(best_obj, bound)
        wall = wall or safety.hit
        res = SolveResult(status=_status(gap, mip_gap, wall), solver=(solver or "highs") + "+heuristics", x=None,
                          objective=best_obj, bound=bound, gap=gap, time_s=time.perf_counter() - t0, rows=n, cols=m,
                          integer_cols=m, log=notes, wall_clock_stop=wall)
        log.info("p-median: %s objective=%.6g bound=%.6g gap=%.3g%% in %.1f s (%s)", res.status, best_obj, bound,
                 100 * gap, res.time_s, "; ".join(notes))
        self._finish(best_open, res)
        self.meta["weighted_cost"] = best_obj
        return self

    def _matrix_model(self, cost_sp: sp.csr_matrix, w: np.ndarray, p: int, *, closed: np.ndarray | None = None,
                      forced: np.ndarray | None = None) -> tuple[MatrixModel, np.ndarray, np.ndarray]:
        inp = self.inputs
        pat = inp.cover.tocoo()
        r, c = pat.row, pat.col
        shut = inp.forbidden if closed is None else (inp.forbidden | closed)
        keep = ~shut[c]
        r, c = r[keep], c[keep]
        n, m = inp.cover.shape
        k = len(r)
        cval = np.asarray(cost_sp[r, c]).ravel()
        # columns [x_pairs (k) | y (m)]; rows: assignment (n), linking (k), cardinality (1)
        rows = np.concatenate([r, n + np.arange(k), n + np.arange(k), np.full(m, n + k)])
        cols = np.concatenate([np.arange(k), np.arange(k), k + c, k + np.arange(m)])
        vals = np.concatenate([np.ones(k), np.ones(k), -np.ones(k), np.ones(m)])
        a_mat = sp.csc_matrix((vals, (rows, cols)), shape=(n + k + 1, k + m))
        y_up = np.where(shut, 0.0, 1.0)
        y_lo = np.zeros(m)
        y_lo[inp.fixed] = 1.0
        if forced is not None:
            y_lo[forced] = 1.0
        model = MatrixModel(
            c=np.concatenate([w[r] * cval, np.zeros(m)]),
            a=a_mat,
            row_lower=np.concatenate([np.ones(n), np.full(k, -np.inf), [float(p)]]),
            row_upper=np.concatenate([np.ones(n), np.zeros(k), [float(p)]]),
            col_lower=np.concatenate([np.zeros(k), y_lo]),
            col_upper=np.concatenate([np.ones(k), y_up]),
            integer=np.concatenate([np.zeros(k, dtype=bool), np.ones(m, dtype=bool)]),
            maximize=False,
        )
        return model, r, c

    def _warm(self, pr: np.ndarray, pc: np.ndarray, open_idx: np.ndarray, m: int, n: int) -> np.ndarray:
        is_open = np.zeros(m, dtype=bool)
        is_open[open_idx] = True
        cost = self.cost
        assert cost is not None
        cval = np.asarray(cost[pr, pc]).ravel()
        # nearest open site per row
        cand = np.where(is_open[pc], cval, np.inf)
        order = np.lexsort((cand, pr))
        first = np.ones(len(order), dtype=bool)
        first[1:] = pr[order][1:] != pr[order][:-1]
        x = np.zeros(len(pr) + m)
        x[order[first]] = 1.0
        x[len(pr) + np.flatnonzero(is_open)] = 1.0
        return x
