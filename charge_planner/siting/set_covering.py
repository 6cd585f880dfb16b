"""Location set covering (LSCP, Toregas et al. 1971): the cheapest set of sites that covers the
demand (every reachable row, or a target share of the demand weight), optionally priced with the
connection cost of each site's power band. Greedy (Chvatal) with a redundancy pass warm-starts the
MILP. It has the shape of the other location models (:mod:`charge_planner.siting.location`)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.siting import heuristics as heur
from charge_planner.siting.location import (
    MAX_NODES,
    Method,
    _inputs_from_sparse,
    _inputs_from_tables,
    _LocationModel,
    _status,
    unreachable_message,
)
from charge_planner.siting.solve import MatrixModel, SolveResult, SolverName, relative_gap, solve


@dataclass
class SetCovering(_LocationModel):
    """Location set covering (LSCP, Toregas et al. 1971): the cheapest set of sites that covers
    the demand (every reachable row, or a target share of the demand weight).

    Build with :meth:`from_tables` or :meth:`from_sparse`, then :meth:`solve`.
    """

    coverage_target: float = 1.0
    name: str = "set_covering"

    @classmethod
    def from_tables(
        cls,
        demand: pd.DataFrame,
        candidates: pd.DataFrame,
        travel: pd.DataFrame,
        *,
        coverage_target: float = 1.0,
        weight: str = "energy_kwh_day",
        cost: str | None = None,
        max_travel_time_s: float | None = None,
        site_power_kw: str | None = None,
        site_cost_bands: pd.DataFrame | Sequence[tuple[float, float]] | None = None,
    ) -> SetCovering:
        """Build from tables.

        Parameters
        ----------
        demand, candidates, travel, weight, max_travel_time_s
            As in :meth:`MaximalCoverage.from_tables`.
        coverage_target
            Share of the demand weight that must be within reach of an open site [0-1];
            an unreachable target raises :class:`~charge_planner.errors.InfeasibleError`
            naming the segment that falls short.
        cost
            Candidate column with the cost of opening a site (e.g. ``fixed_cost_usd``);
            default: every site costs 1 (minimise the number of sites), or nothing but its
            connection when ``site_cost_bands`` is given.
        site_power_kw
            Candidate column with the power each site would install [kW] (set covering decides
            no chargers); needed with ``site_cost_bands``.
        site_cost_bands
            Connection cost by installed power band (as in
            :meth:`~charge_planner.siting.capacitated.CapacitatedSiting.from_tables`): each site's
            cost is ``cost`` plus the cost of the band of its ``site_power_kw``, priced by
            :func:`~charge_planner.siting.heuristics.connection_cost` like the capacitated model.
        """
        t0 = time.perf_counter()
        inp = _inputs_from_tables(demand, candidates, travel, weight=weight, max_travel_time_s=max_travel_time_s)
        inp.cost_usd = candidates[cost].to_numpy(dtype=float) if cost is not None else np.ones(len(candidates))
        if site_cost_bands is not None:
            if site_power_kw is None or site_power_kw not in candidates.columns:
                raise DataError("site_cost_bands needs site_power_kw, the candidate column with the power each site "
                                "would install [kW]; add it")
            kw = candidates[site_power_kw].to_numpy(dtype=float)
            if np.isnan(kw).any() or (kw < 0).any():
                raise DataError(f"candidates {site_power_kw} has negative or missing values; give each site's power [kW]")
            max_kw, band_usd = heur.band_table(site_cost_bands)
            base = inp.cost_usd if cost is not None else np.zeros(len(candidates))
            inp.cost_usd = base + heur.connection_cost(kw, max_kw, band_usd)
        if not 0 < coverage_target <= 1:
            raise DataError(f"coverage_target = {coverage_target}: give a share in (0, 1]")
        return cls(inputs=inp, coverage_target=float(coverage_target), build_time_s=time.perf_counter() - t0)

    @classmethod
    def from_sparse(
        cls,
        cover: sp.spmatrix | sp.sparray,
        weight: np.ndarray | None = None,
        *,
        cost: np.ndarray | None = None,
        coverage_target: float = 1.0,
        demand_ids: pd.Index | None = None,
        site_ids: pd.Index | None = None,
        fixed: np.ndarray | None = None,
        forbidden: np.ndarray | None = None,
    ) -> SetCovering:
        """Build from a sparse coverage matrix (see :meth:`MaximalCoverage.from_sparse`);
        ``cost`` per column (default 1) and ``weight`` per row (default 1)."""
        t0 = time.perf_counter()
        n, m = cover.shape
        inp = _inputs_from_sparse(
            cover, np.ones(n) if weight is None else weight, demand_ids=demand_ids, site_ids=site_ids, fixed=fixed,
            forbidden=forbidden, cost=np.ones(m) if cost is None else cost,
        )
        return cls(inputs=inp, coverage_target=float(coverage_target), build_time_s=time.perf_counter() - t0)

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 1e-4,
        method: Method = "auto",
        seed: int = 0,
        max_nodes: int = MAX_NODES,
    ) -> SetCovering:
        """Solve (greedy warm start, then the MILP unless ``method="heuristic"``).

        Parameters
        ----------
        solver, time_limit_s, mip_gap, method, seed, max_nodes
            As in :meth:`MaximalCoverage.solve` (``seed`` is unused: the heuristics here are
            deterministic).
        """
        t0 = time.perf_counter()
        inp = self.inputs
        a = inp.cover.tocsr()
        w = inp.weight
        n, m = a.shape
        cost = np.asarray(inp.cost_usd if inp.cost_usd is not None else np.ones(m), dtype=float)
        if (cost < 0).any():
            raise DataError("site costs must be non-negative")
        usable = np.where(inp.forbidden, 0.0, 1.0)
        reach = (a @ usable) > 0
        total = float(w.sum())
        reach_share = float(w[reach].sum()) / total if total > 0 else 1.0
        partial = self.coverage_target < 1.0
        if reach_share + 1e-12 < self.coverage_target or (not partial and not reach.all()):
            raise InfeasibleError(unreachable_message(inp, self.coverage_target))
        need_w = self.coverage_target * total
        # greedy: full cover of the reachable rows, or cheapest columns per newly covered weight
        if not partial:
            greedy = heur.greedy_set_cover(a, np.maximum(cost, 1e-9), fixed=inp.fixed, forbidden=inp.forbidden)
        else:
            greedy = self._greedy_partial(a, w, cost, need_w)
        # MILP: min c.x  s.t.  sum_j a_ij x_j >= 1 (full) or z_i <= sum_j a_ij x_j, w.z >= target (partial)
        cols = np.flatnonzero(~inp.forbidden)
        sub = a[:, cols].tocsr()
        if not partial:
            rows = np.flatnonzero(reach)
            sub_r = sub[rows]
            a_mat = sub_r.tocsc()
            model = MatrixModel(
                c=cost[cols], a=a_mat, row_lower=np.ones(len(rows)), row_upper=np.full(len(rows), np.inf),
                col_lower=np.zeros(len(cols)), col_upper=np.ones(len(cols)), integer=np.ones(len(cols), dtype=bool),
                maximize=False,
            )
            x_off = 0
        else:
            rows = np.flatnonzero(reach)
            sub_r = sub[rows]
            nr = len(rows)
            a_mat = sp.bmat([[sp.eye(nr), -sub_r], [sp.csr_matrix(w[rows][None, :]), None]]).tocsc()
            model = MatrixModel(
                c=np.concatenate([np.zeros(nr), cost[cols]]), a=a_mat,
                row_lower=np.concatenate([np.full(nr, -np.inf), [need_w * (1 - 1e-12)]]),
                row_upper=np.concatenate([np.zeros(nr), [np.inf]]),
                col_lower=np.zeros(nr + len(cols)), col_upper=np.ones(nr + len(cols)),
                integer=np.concatenate([np.zeros(nr, dtype=bool), np.ones(len(cols), dtype=bool)]),
                maximize=False,
            )
            x_off = nr
        pos = -np.ones(m, dtype=np.int64)
        pos[cols] = np.arange(len(cols))
        model.col_lower[x_off + pos[inp.fixed[pos[inp.fixed] >= 0]]] = 1.0
        warm = np.zeros(model.shape[1])
        warm[x_off + pos[greedy]] = 1.0
        if partial:
            warm[:x_off] = (sub_r @ warm[x_off:]) > 0
        greedy_cost = float(cost[greedy].sum())
        if method == "heuristic":
            res = SolveResult(status="feasible", solver="heuristic", x=None, objective=greedy_cost, bound=math.nan,
                              gap=math.inf, time_s=time.perf_counter() - t0, rows=model.shape[0], cols=model.shape[1])
            self._finish(greedy, res)
            return self
        res = solve(model, solver, time_limit_s=time_limit_s, mip_gap=mip_gap, warm_start=warm, max_nodes=max_nodes)
        if res.x is None:
            if res.status == "infeasible":
                raise InfeasibleError(unreachable_message(inp, self.coverage_target))
            res.x, res.objective = warm, greedy_cost
        open_idx = cols[np.flatnonzero(res.x[x_off:] > 0.5)]
        if float(cost[open_idx].sum()) > greedy_cost + 1e-9:
            open_idx = greedy
        res.objective = float(cost[open_idx].sum())
        res.gap = relative_gap(res.objective, res.bound)
        res.status = _status(res.gap, mip_gap, res.wall_clock_stop)
        res.time_s = time.perf_counter() - t0
        self._finish(open_idx, res)
        self.meta["cost"] = res.objective
        return self

    def _greedy_partial(self, a: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, need_w: float) -> np.ndarray:
        inp = self.inputs
        at = a.T.tocsr()
        m = a.shape[1]
        is_open = np.zeros(m, dtype=bool)
        is_open[inp.fixed] = True
        cnt = np.asarray(a @ is_open.astype(float)).ravel()
        while float(w[cnt > 0].sum()) < need_w * (1 - 1e-12):
            gain = np.asarray(at @ np.where(cnt == 0, w, 0.0)).ravel()
            ratio = np.where((gain > 0) & ~is_open & ~inp.forbidden, gain / np.maximum(cost, 1e-9), -np.inf)
            j = int(np.argmax(ratio))
            if not np.isfinite(ratio[j]):
                break
            is_open[j] = True
            cnt[at.indices[at.indptr[j] : at.indptr[j + 1]]] += 1
        return np.flatnonzero(is_open)
