"""Location models. Each is built from tables, solved with :meth:`solve`, and returns tables keyed by ids.

The planner's main model is :class:`CapacitatedSiting`: which candidate sites open, how
many chargers of each type they get, and which demand each site serves, so that the
charging energy served within each segment's travel-time cut-off is maximised under a
budget, charger capacity and a per-site maximum.

Formulation (all sums over the sparse set of pairs within the cut-off)::

    max   sum_ijt d_i x_ijt  -  eps * cost
    s.t.  sum_jt x_ijt <= 1                                  (each demand served at most once)
          sum_i d_i x_ijt <= cap_t n_jt                        (charger capacity, kWh/day)
          sum_t n_jt <= max_j y_j                               (per-site maximum; links n to y)
          sum_j f_j y_j + sum_jt c_t n_jt <= budget             (budget, USD)
          n_jt >= e_jt y_j ... existing chargers kept           (existing chargers)
          x in [0, 1], n integer >= 0, y binary

where ``d_i`` is the daily energy of demand row ``i`` [kWh/day], ``cap_t`` = power x
service hours [kWh/day per charger] and ``eps`` is a tie-break that prefers the cheaper of
two plans serving the same energy (never more than 0.01 % of the objective).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import InfeasibleError
from charge_planner.siting.solve import MatrixModel, SolveResult, SolverName, require_solution, solve

log = logging.getLogger(__name__)


def _check_columns(table: pd.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks column(s) {missing}")


@dataclass
class CapacitatedSiting:
    """Capacitated multi-type charger siting (maximal energy coverage under a budget).

    Build it with :meth:`from_tables`, then call :meth:`solve`.
    """

    demand: pd.DataFrame
    candidates: pd.DataFrame
    charger_types: pd.DataFrame
    pairs: pd.DataFrame
    budget_usd: float
    model: MatrixModel
    index: dict[str, Any]
    build_time_s: float
    result: SolveResult | None = None
    sites: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    served_by_segment: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_tables(
        cls,
        demand: pd.DataFrame,
        candidates: pd.DataFrame,
        charger_types: pd.DataFrame,
        travel: pd.DataFrame,
        *,
        budget_usd: float,
        max_sites_per_demand: int | None = None,
    ) -> CapacitatedSiting:
        """Build the model.

        Parameters
        ----------
        demand
            Indexed by ``demand_id``; columns ``segment``, ``energy_kwh_day`` [kWh/day].
        candidates
            Indexed by ``site_id``; columns ``max_chargers``, ``fixed_cost_usd`` [USD],
            optional ``allowed_types`` (tuple of charger types allowed there; default all)
            and ``existing_chargers`` (dict type -> count kept at zero cost; default none).
        charger_types
            Indexed by ``charger_type``; columns ``power_kw`` [kW], ``capex_usd`` [USD],
            ``segments`` (tuple), ``service_hours_day`` [h].
        travel
            Pairs within the cut-off: columns ``demand_id``, ``site_id``, ``travel_time_s`` [s].
        budget_usd
            Total budget [USD].
        max_sites_per_demand
            Keep only this many nearest candidates per demand row (sparsifies the model).
        """
        t0 = time.perf_counter()
        _check_columns(demand, "demand", ["segment", "energy_kwh_day"])
        _check_columns(candidates, "candidates", ["max_chargers", "fixed_cost_usd"])
        _check_columns(charger_types, "charger_types", ["power_kw", "capex_usd", "segments", "service_hours_day"])
        _check_columns(travel, "travel", ["demand_id", "site_id", "travel_time_s"])
        if budget_usd <= 0:
            raise ValueError("budget_usd must be positive")
        if (demand["energy_kwh_day"] < 0).any():
            raise ValueError("demand energy_kwh_day must be non-negative")

        demand = demand[demand["energy_kwh_day"] > 0]
        n_dem, n_site, n_type = len(demand), len(candidates), len(charger_types)
        dem_pos = pd.Series(np.arange(n_dem), index=demand.index)
        site_pos = pd.Series(np.arange(n_site), index=candidates.index)
        types = list(charger_types.index)

        # allowed (site, type) pairs -> integer columns n_jt
        allowed = np.ones((n_site, n_type), dtype=bool)
        if "allowed_types" in candidates.columns:
            for k, t in enumerate(types):
                allowed[:, k] = candidates["allowed_types"].map(lambda a, t=t: a is None or t in a).to_numpy()
        n_site_idx, n_type_idx = np.nonzero(allowed)
        n_cols = len(n_site_idx)
        n_col_of = -np.ones((n_site, n_type), dtype=np.int64)
        n_col_of[n_site_idx, n_type_idx] = np.arange(n_cols)

        # assignment pairs within reach (and nearest first per demand)
        pairs = travel[travel["demand_id"].isin(demand.index) & travel["site_id"].isin(candidates.index)]
        pairs = pairs.sort_values(["demand_id", "travel_time_s", "site_id"], kind="stable")
        if max_sites_per_demand is not None:
            pairs = pairs.groupby("demand_id", sort=False).head(max_sites_per_demand)
        p_dem = dem_pos.loc[pairs["demand_id"]].to_numpy()
        p_site = site_pos.loc[pairs["site_id"]].to_numpy()
        p_time = pairs["travel_time_s"].to_numpy(dtype=float)
        seg_of_dem = demand["segment"].to_numpy()
        # expand to (demand, site, type) triples for compatible and allowed types
        trip_d, trip_s, trip_t, trip_time = [], [], [], []
        for k, t in enumerate(types):
            segs = set(charger_types.loc[t, "segments"])
            ok = np.isin(seg_of_dem[p_dem], list(segs)) & allowed[p_site, k]
            trip_d.append(p_dem[ok])
            trip_s.append(p_site[ok])
            trip_t.append(np.full(ok.sum(), k))
            trip_time.append(p_time[ok])
        x_dem = np.concatenate(trip_d) if trip_d else np.zeros(0, dtype=np.int64)
        x_site = np.concatenate(trip_s) if trip_s else np.zeros(0, dtype=np.int64)
        x_type = np.concatenate(trip_t) if trip_t else np.zeros(0, dtype=np.int64)
        x_time = np.concatenate(trip_time) if trip_time else np.zeros(0)
        n_x = len(x_dem)

        # column layout: [y (n_site) | n (n_cols) | x (n_x)]
        y0, n0, x0 = 0, n_site, n_site + n_cols
        n_var = x0 + n_x
        d = demand["energy_kwh_day"].to_numpy(dtype=float)
        power = charger_types["power_kw"].to_numpy(dtype=float)
        hours = charger_types["service_hours_day"].to_numpy(dtype=float)
        cap = power * hours
        capex = charger_types["capex_usd"].to_numpy(dtype=float)
        fixed = candidates["fixed_cost_usd"].to_numpy(dtype=float)
        max_ch = candidates["max_chargers"].to_numpy(dtype=float)

        total = float(d.sum())
        eps = 1e-4 * max(total, 1.0) / budget_usd
        c = np.zeros(n_var)
        c[x0:] = d[x_dem]
        c[y0:n0] = -eps * fixed
        c[n0:x0] = -eps * capex[n_type_idx]

        rows, cols, vals = [], [], []
        lo, hi = [], []
        r = 0
        # (1) each demand at most once
        rows.append(r + x_dem)
        cols.append(x0 + np.arange(n_x))
        vals.append(np.ones(n_x))
        lo.append(np.full(n_dem, -np.inf))
        hi.append(np.ones(n_dem))
        r += n_dem
        # (2) capacity per (site, type): sum_i d_i x_ijt - cap_t n_jt <= 0
        cap_row = n_col_of[x_site, x_type]
        rows.append(r + cap_row)
        cols.append(x0 + np.arange(n_x))
        vals.append(d[x_dem])
        rows.append(r + np.arange(n_cols))
        cols.append(n0 + np.arange(n_cols))
        vals.append(-cap[n_type_idx])
        lo.append(np.full(n_cols, -np.inf))
        hi.append(np.zeros(n_cols))
        r += n_cols
        # (3) per-site maximum: sum_t n_jt - max_j y_j <= 0
        rows.append(r + n_site_idx)
        cols.append(n0 + np.arange(n_cols))
        vals.append(np.ones(n_cols))
        rows.append(r + np.arange(n_site))
        cols.append(y0 + np.arange(n_site))
        vals.append(-max_ch)
        lo.append(np.full(n_site, -np.inf))
        hi.append(np.zeros(n_site))
        r += n_site
        # (4) budget
        rows.append(np.full(n_site, r))
        cols.append(y0 + np.arange(n_site))
        vals.append(fixed)
        rows.append(np.full(n_cols, r))
        cols.append(n0 + np.arange(n_cols))
        vals.append(capex[n_type_idx])
        lo.append(np.array([-np.inf]))
        hi.append(np.array([float(budget_usd)]))
        r += 1

        col_lower = np.zeros(n_var)
        col_upper = np.ones(n_var)
        col_upper[n0:x0] = max_ch[n_site_idx]
        # (5) existing chargers are kept: n_jt >= existing, y_j = 1, at no cost
        if "existing_chargers" in candidates.columns:
            for j, existing in enumerate(candidates["existing_chargers"].to_numpy()):
                if not existing:
                    continue
                for t, count in dict(existing).items():
                    if t in types and n_col_of[j, types.index(t)] >= 0 and count > 0:
                        col = n_col_of[j, types.index(t)]
                        col_lower[n0 + col] = float(count)
                        col_upper[n0 + col] = max(col_upper[n0 + col], float(count))
                        col_lower[y0 + j] = 1.0
        # existing chargers were paid for: their capex is added back to the budget row
        existing_capex = float(np.dot(col_lower[n0:x0], capex[n_type_idx]))
        hi[-1] = np.array([float(budget_usd) + existing_capex])
        integer = np.zeros(n_var, dtype=bool)
        integer[: x0] = True
        a = sp.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, n_var)
        ).tocsc()
        model = MatrixModel(
            c=c,
            a=a,
            row_lower=np.concatenate(lo),
            row_upper=np.concatenate(hi),
            col_lower=col_lower,
            col_upper=col_upper,
            integer=integer,
            maximize=True,
        )
        index = {
            "types": types,
            "n_site_idx": n_site_idx,
            "n_type_idx": n_type_idx,
            "x_dem": x_dem,
            "x_site": x_site,
            "x_type": x_type,
            "x_time": x_time,
            "cols": (y0, n0, x0),
            "eps": eps,
        }
        build = time.perf_counter() - t0
        log.info("capacitated siting model: %d rows x %d columns (%d integer) built in %.2f s", r, n_var, x0, build)
        return cls(
            demand=demand,
            candidates=candidates,
            charger_types=charger_types,
            pairs=pairs,
            budget_usd=float(budget_usd),
            model=model,
            index=index,
            build_time_s=build,
        )

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 0.01,
    ) -> CapacitatedSiting:
        """Solve the model and fill :attr:`sites`, :attr:`assignments` and :attr:`served_by_segment`."""
        res = solve(self.model, solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
        self.result = res
        x = require_solution(res, what="charger siting")
        self._read_back(x)
        return self

    def _read_back(self, x: np.ndarray) -> None:
        ix = self.index
        y0, n0, x0 = ix["cols"]
        types = ix["types"]
        cand = self.candidates
        n_site = len(cand)
        y = np.round(x[y0:n0]).astype(int)
        n = np.round(x[n0:x0]).astype(int)
        xv = np.clip(x[x0:], 0.0, 1.0)
        d = self.demand["energy_kwh_day"].to_numpy(dtype=float)

        counts = np.zeros((n_site, len(types)), dtype=int)
        counts[ix["n_site_idx"], ix["n_type_idx"]] = n
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        capex = self.charger_types["capex_usd"].to_numpy(dtype=float)
        cap = power * self.charger_types["service_hours_day"].to_numpy(dtype=float)
        served = d[ix["x_dem"]] * xv
        served_site = np.bincount(ix["x_site"], weights=served, minlength=n_site)
        cap_site = counts @ cap
        existing = np.zeros((n_site, len(types)), dtype=int)
        if "existing_chargers" in cand.columns:
            for j, e in enumerate(cand["existing_chargers"].to_numpy()):
                for t, k in dict(e or {}).items():
                    if t in types:
                        existing[j, types.index(t)] = int(k)
        new = np.maximum(counts - existing, 0)
        sites = pd.DataFrame(index=cand.index)
        sites["open"] = (y > 0) | (counts.sum(axis=1) > 0)
        for k, t in enumerate(types):
            sites[f"chargers_{t}"] = counts[:, k]
        sites["power_kw"] = counts @ power
        sites["served_kwh_day"] = served_site
        sites["capex_usd"] = new @ capex + np.where(sites["open"] & (existing.sum(axis=1) == 0), cand["fixed_cost_usd"], 0.0)
        sites["utilisation"] = np.divide(served_site, cap_site, out=np.zeros(n_site), where=cap_site > 0)
        self.sites = sites[sites["open"]].drop(columns="open")

        keep = served > 1e-9
        self.assignments = pd.DataFrame(
            {
                "demand_id": self.demand.index.to_numpy()[ix["x_dem"][keep]],
                "site_id": cand.index.to_numpy()[ix["x_site"][keep]],
                "charger_type": np.asarray(types)[ix["x_type"][keep]],
                "share": xv[keep],
                "served_kwh_day": served[keep],
                "travel_time_s": ix["x_time"][keep],
            }
        )
        served_dem = np.bincount(ix["x_dem"], weights=served, minlength=len(d))
        reachable = np.zeros(len(d), dtype=bool)
        reachable[ix["x_dem"]] = True
        seg = self.demand["segment"]
        tab = pd.DataFrame({"segment": seg.to_numpy(), "demand_kwh_day": d, "served_kwh_day": served_dem,
                            "reachable_kwh_day": np.where(reachable, d, 0.0)})
        by = tab.groupby("segment").sum()
        by["served_share"] = by["served_kwh_day"] / by["demand_kwh_day"].where(by["demand_kwh_day"] > 0)
        by["reachable_share"] = by["reachable_kwh_day"] / by["demand_kwh_day"].where(by["demand_kwh_day"] > 0)
        self.served_by_segment = by
        self.meta = {
            "served_kwh_day": float(served.sum()),
            "demand_kwh_day": float(d.sum()),
            "capex_usd": float(self.sites["capex_usd"].sum()),
            "sites_open": int(len(self.sites)),
        }

    def summary(self) -> dict[str, Any]:
        """Solver status and key figures, JSON-serialisable."""
        if self.result is None:
            raise InfeasibleError("the model has not been solved; call solve() first")
        res = self.result
        rows, cols = self.model.shape

        def _num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "model": "capacitated_multi_type_coverage",
            "solver": res.solver,
            "status": res.status,
            "objective": _num(res.objective),
            "best_bound": _num(res.bound),
            "gap": _num(res.gap),
            "solve_time_s": round(res.time_s, 3),
            "build_time_s": round(self.build_time_s, 3),
            "rows": rows,
            "columns": cols,
            "integer_columns": int(self.model.integer.sum()),
            **self.meta,
        }
