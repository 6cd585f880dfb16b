"""The planner's main model: capacitated multi-type charger siting with a multi-year rollout.

:class:`CapacitatedSiting` decides which candidate sites open in which year, how many
chargers of each type they have each year, and which demand each (site, type) serves, so
that the charging energy served within each segment's travel-time cut-off, summed over the
rollout years, is maximal.

Formulation (years ``k``; all sums over the sparse set of pairs within the cut-off; demand
row ``i`` belongs to one year ``k(i)``)::

    max   sum_ijt d_i x_ijt  -  eps * sum_k spend_k
    s.t.  sum_jt x_ijt <= 1                                   each demand row served at most once
          sum_{i in k} d_i x_ijt <= cap_t n_jtk                charger capacity [kWh/day]
          x_ijt <= n_jtk                                       served only where the type is installed
          sum_t n_jtk <= max_j y_jk                            per-site maximum; links n to y
          y_jk >= y_j,k-1 ,  n_jtk >= n_jt,k-1                  sites stay open, chargers only grow
          sum_t p_t n_jtk <= U_0 y_jk + sum_b (U_b - U_b-1) u_jbk     installed power fits the site's band
          u_jbk <= u_j(b-1)k <= ... <= y_jk,  u_jbk >= u_jb(k-1)      one band per open site, never lower
          spend_k = sum_j (f_j + C_0) y_jk + sum_jb (C_b - C_b-1) u_jbk + sum_jt c_t n_jtk - existing
          spend_k <= sum_{k' <= k} B_k'      (carry-over)   or   spend_k - spend_k-1 <= B_k
          n_jtk >= e_jt,  y_jk = 1 where chargers exist      existing chargers kept, free
          sum_{i in g, k} d_i x_ijt >= floor * D_gk           equity floor per group and year
          sum_{i in k} d_i x_ijt >= target * D_k              served-share target per year
          sum_{j in h, t} coinc * p_t n_jtk <= H_h            grid headroom per group [kW]
          x in [0, 1],  n integer >= 0,  y, u binary;  excluded sites: y = 0

where ``d_i`` is the daily energy of demand row ``i`` [kWh/day], ``cap_t`` = power x
service hours [kWh/day per charger], ``f_j`` the fixed cost of opening site ``j`` and
``c_t`` the cost of one charger [USD]; ``U_b`` [kW] and ``C_b`` [USD] are the upper limit and the
connection cost of power band ``b`` (``site_cost_bands``; band ``b`` of site ``j`` is ``u_jb - u_j(b+1)``,
with ``u_j0 = y_j``, so each open site is in exactly one band; bands already paid by existing chargers or
connections cost nothing). A per-type form of the band row in whole chargers (``n_jtk <= floor(U_b / p_t)``
steps) tightens the relaxation. ``eps`` makes the cheaper (and later) of two plans
that serve the same energy win; it is never more than 0.01 % of the objective.

**Headroom table.** The grid stage limits the charging power per transformer or feeder:
pass ``headroom`` (a Series ``group_id -> headroom_kw`` [kW], or a DataFrame with columns
``group_id``, ``headroom_kw`` and optionally ``year`` for limits that change by year) and
``site_groups`` (a Series ``site_id -> group_id``). The power counted against a group is
``headroom_coincidence x power_kw x chargers`` of its sites; sites without a group are
not limited.

**Infeasibility.** Before solving, targets that no plan can meet are found from the data
(an equity floor above the reachable share of a group, existing chargers above a site's
maximum or a group's headroom) and raised as :class:`~charge_planner.errors.InfeasibleError`
with one line naming the cause. When the solver itself proves infeasibility, an elastic LP
(shortfall variables on the floors and targets) names the binding floor or target.

The model is assembled block by block: :meth:`CapacitatedSiting.from_tables` lays out the columns
and calls the ``define_*`` functions of :mod:`charge_planner.siting.rows` (one block of rows each,
its constraint in the docstring) and prices connections with :mod:`charge_planner.siting.bands`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.siting.bands import SiteBands, _site_bands
from charge_planner.siting.heuristics import connection_band
from charge_planner.siting.rows import (
    Columns,
    Rows,
    _check_columns,
    _existing_matrix,
    _nothing_to_build,
    _year_budgets,
    assignment_pairs,
    define_assignment_rows,
    define_band_rows,
    define_budget_rows,
    define_capacity_rows,
    define_column_bounds,
    define_equity_rows,
    define_headroom_rows,
    define_installed_rows,
    define_objective,
    define_rollout_rows,
    define_site_max_rows,
    define_target_rows,
)
from charge_planner.siting.solve import (
    MatrixModel,
    SolveResult,
    SolverName,
    lagrangian_bound,
    relative_gap,
    require_solution,
    solve,
)

log = logging.getLogger(__name__)

__all__ = ["CapacitatedSiting"]

#: Branch-and-bound node limit of each MILP search of :meth:`CapacitatedSiting.solve` (a work
#: cap: the sample cities' searches end at the root node, within their gap).
MAX_NODES = 1000
#: Work of the LP-guided step's relaxation [interior-point iterations x nonzeros]: the demo city's
#: relaxation (87,900 nonzeros) gets 91 iterations, about 5 s of one core (34 were too few for it).
LP_WORK = 8_000_000
#: The relaxation's iterations are at most this many (interior point converges in 30-60 here) ...
LP_MAX_ITERATIONS = 100
#: ... and the step is skipped when the work cap leaves fewer than this many.
LP_MIN_ITERATIONS = 20


@dataclass
class CapacitatedSiting:
    """Capacitated multi-type charger siting with a multi-year rollout.

    Build it with :meth:`from_tables`, then call :meth:`solve`. After solving, the result
    tables describe the final rollout year (:attr:`sites`, :attr:`assignments`,
    :attr:`served_by_segment`) and every year (:attr:`rollout`, :attr:`served_by_year`,
    :attr:`assignments_all`).
    """

    demand: pd.DataFrame
    candidates: pd.DataFrame
    charger_types: pd.DataFrame
    pairs: pd.DataFrame  # the demand-site pairs within reach that can serve the row, nearest first per row
    budget_usd: float
    model: MatrixModel
    index: dict[str, Any]
    build_time_s: float
    years: list[int] = field(default_factory=list)
    budget_by_year_usd: dict[int, float] = field(default_factory=dict)
    result: SolveResult | None = None
    sites: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    assignments_all: pd.DataFrame | None = None
    served_by_segment: pd.DataFrame | None = None
    served_by_year: pd.DataFrame | None = None
    rollout: pd.DataFrame | None = None
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
        budget_by_year_usd: Mapping[int, float] | Sequence[float] | None = None,
        carry_over: bool = True,
        equity_floor: float | None = None,
        equity_column: str = "equity_group",
        min_served_share: float | None = None,
        headroom: pd.Series | pd.DataFrame | None = None,
        site_groups: pd.Series | None = None,
        headroom_coincidence: float = 1.0,
        site_cost_bands: pd.DataFrame | Sequence[tuple[float, float]] | None = None,
    ) -> CapacitatedSiting:
        """Build the model.

        Parameters
        ----------
        demand
            Indexed by ``demand_id``; columns ``segment``, ``energy_kwh_day`` [kWh/day],
            optional ``year`` (several years make a rollout), ``cutoff_s`` [s] (used in
            messages) and the ``equity_column``.
        candidates
            Indexed by ``site_id``; columns ``max_chargers``, ``fixed_cost_usd`` [USD],
            optional ``allowed_types`` (tuple of charger types allowed there; default all),
            ``existing_chargers`` (dict type -> count, kept at zero cost) and
            ``excluded_reason`` (non-empty: the site may not open, e.g. a flood zone).
        charger_types
            Indexed by ``charger_type``; columns ``power_kw`` [kW], ``capex_usd`` [USD],
            ``segments`` (tuple), ``service_hours_day`` [h], optional ``use_cases`` (tuple;
            with a ``use_case`` column in ``demand``, a type serves only rows of its use cases).
        travel
            Pairs within the cut-off: columns ``demand_id``, ``site_id``, ``travel_time_s`` [s].
        budget_usd
            Total budget [USD]; split evenly over the years when ``budget_by_year_usd`` is
            not given.
        max_sites_per_demand
            Keep only this many nearest candidates per demand row (sparsifies the model); only
            candidates that can host a charger type serving the row (its segment and use case,
            allowed there, not excluded, room for a charger) are counted.
        budget_by_year_usd
            Budget of each rollout year [USD] (mapping year -> USD, or one value per year).
        carry_over
            Unspent budget of a year can be spent later (cumulative budget rows).
        equity_floor
            Minimum served share of the demand of every group in ``equity_column``, each
            year [0-1].
        equity_column
            Demand column naming the group (district or cell group) of each row.
        min_served_share
            Minimum served share of all demand, each year [0-1].
        headroom
            Grid headroom per group [kW] (see the module docstring).
        site_groups
            Grid group of each site (``site_id -> group_id``).
        headroom_coincidence
            Share of a site's installed power counted against its group's headroom [0-1].
        site_cost_bands
            Connection cost of a site by its installed power band: a table with columns
            ``max_kw`` [kW] (increasing, the last one ``inf``) and ``cost_usd`` [USD]
            (non-decreasing), or (max_kw, cost_usd) pairs. An open site pays the cost of the
            band of its installed power (chargers x power, existing ones included) on top of
            its ``fixed_cost_usd``; the band may rise in a later year, paying the difference.
            A candidate column ``connection_kw`` [kW] gives the connection a site has already
            (its band and the lower ones are paid); so has a site with existing chargers, up to
            their power. Default: no connection cost (``fixed_cost_usd`` alone).
        """
        t0 = time.perf_counter()
        _check_columns(demand, "demand", ["segment", "energy_kwh_day"])
        _check_columns(candidates, "candidates", ["max_chargers", "fixed_cost_usd"])
        _check_columns(charger_types, "charger_types", ["power_kw", "capex_usd", "segments", "service_hours_day"])
        _check_columns(travel, "travel", ["demand_id", "site_id", "travel_time_s"])
        if not budget_usd > 0:
            raise DataError(f"budget_usd = {budget_usd}: the budget must be positive")
        energy = demand["energy_kwh_day"].to_numpy(dtype=float)
        if not np.isfinite(energy).all() or (energy < 0).any():
            raise DataError("demand energy_kwh_day has negative or missing values; fix those rows")
        for name, share in (("equity_floor", equity_floor), ("min_served_share", min_served_share)):
            if share is not None and not 0 <= share <= 1:
                raise DataError(f"{name} = {share}: give a share between 0 and 1")
        if equity_floor is not None and equity_column not in demand.columns:
            raise DataError(f"equity_floor needs the demand column {equity_column!r} naming each row's group; add it")

        demand = demand[demand["energy_kwh_day"] > 0]
        if "year" in demand.columns and len(demand):
            years = sorted(int(y) for y in demand["year"].unique())
            year_of_row = demand["year"].astype(int).to_numpy()
        else:
            years = [0]
            year_of_row = np.zeros(len(demand), dtype=int)
        k_of_year = {y: k for k, y in enumerate(years)}
        n_years = len(years)
        dem_k = np.array([k_of_year[y] for y in year_of_row], dtype=np.int64) if len(demand) else np.zeros(0, np.int64)
        budgets = _year_budgets(years, budget_usd, budget_by_year_usd)

        n_dem, n_site, n_type = len(demand), len(candidates), len(charger_types)
        types = list(charger_types.index)

        # allowed (site, type) pairs -> charger columns
        allowed = np.ones((n_site, n_type), dtype=bool)
        if "allowed_types" in candidates.columns:
            for k, t in enumerate(types):
                allowed[:, k] = candidates["allowed_types"].map(lambda a, t=t: a is None or t in a).to_numpy()
        existing = _existing_matrix(candidates, types)
        allowed |= existing > 0
        c_site, c_type = np.nonzero(allowed)
        n_pairs = len(c_site)
        col_of = -np.ones((n_site, n_type), dtype=np.int64)
        col_of[c_site, c_type] = np.arange(n_pairs)

        excluded = np.zeros(n_site, dtype=bool)
        if "excluded_reason" in candidates.columns:
            excluded = candidates["excluded_reason"].fillna("").astype(str).ne("").to_numpy()
        has_existing = existing.sum(axis=1) > 0
        max_ch = candidates["max_chargers"].to_numpy(dtype=float)
        over = np.flatnonzero(existing.sum(axis=1) > max_ch)
        if len(over):
            j = over[0]
            raise InfeasibleError(
                f"site {candidates.index[j]}: {int(existing[j].sum())} existing chargers exceed its maximum of "
                f"{max_ch[j]:g}; raise max_chargers there (siting.max_chargers_per_site)"
            )

        usable_site = ~excluded | has_existing
        # assignment pairs within reach (nearest first per demand row) and the x columns
        pairs, x_dem, x_site, x_type, x_time = assignment_pairs(
            demand, candidates, charger_types, travel, allowed, usable_site, max_ch, max_sites_per_demand
        )
        n_x = len(x_dem)

        d = demand["energy_kwh_day"].to_numpy(dtype=float)
        power = charger_types["power_kw"].to_numpy(dtype=float)
        cap = power * charger_types["service_hours_day"].to_numpy(dtype=float)
        capex = charger_types["capex_usd"].to_numpy(dtype=float)
        fixed = candidates["fixed_cost_usd"].to_numpy(dtype=float)
        band = _site_bands(site_cost_bands, candidates, allowed, existing, power, max_ch, has_existing, fixed)
        fixed_eff = band.level_cost[:, 0]  # opening a site: its fixed cost and the lowest band not yet paid
        cols = Columns(
            n_years=n_years, n_site=n_site, n_pairs=n_pairs, n_up=len(band.up_site), c_site=c_site, c_type=c_type,
            x_dem=x_dem, x_site=x_site, x_type=x_type, pair_x=col_of[x_site, x_type], k_x=dem_k[x_dem],
        )

        ex_cols = existing[c_site, c_type].astype(float)
        existing_cost = float(ex_cols @ capex[c_type])
        total = float(d.sum())
        if total > 0 and not has_existing.any():
            cause = _nothing_to_build(candidates, types, excluded, n_x, band.open_cost(c_site, power[c_type]) + capex[c_type],
                                      usable_site[c_site], budgets, carry_over)
            if cause:
                raise InfeasibleError(cause)
        eps = 1e-4 * max(total, 1.0) / (float(sum(budgets.values())) * n_years)

        # the model, block by block
        c = define_objective(cols, d, eps, fixed_eff, capex, band)
        R = Rows()
        labels: dict[str, tuple[int, int, list[str]]] = {}
        define_assignment_rows(R, cols, n_dem)
        define_capacity_rows(R, cols, d, cap)
        define_installed_rows(R, cols)
        define_site_max_rows(R, cols, max_ch)
        define_rollout_rows(R, cols)
        define_band_rows(R, cols, band, power, max_ch)
        budget_rows = define_budget_rows(R, cols, years, budgets, carry_over, fixed_eff, capex, band, existing_cost)
        if equity_floor:
            labels["equity"] = define_equity_rows(R, cols, demand, equity_column, equity_floor, d, dem_k, years)
        if min_served_share:
            labels["target"] = define_target_rows(R, cols, demand, min_served_share, d, dem_k, years)
        if headroom is not None:
            labels["headroom"] = define_headroom_rows(R, cols, headroom, site_groups, candidates, years, power,
                                                      headroom_coincidence, existing)
        col_lower, col_upper, integer = define_column_bounds(cols, max_ch, ex_cols, has_existing, excluded, band)

        a = sp.coo_matrix(
            (np.concatenate(R.vals), (np.concatenate(R.rows), np.concatenate(R.cols))), shape=(R.n, cols.n_var)
        ).tocsc()
        model = MatrixModel(
            c=c, a=a, row_lower=np.concatenate(R.lo), row_upper=np.concatenate(R.hi),
            col_lower=col_lower, col_upper=col_upper, integer=integer, maximize=True,
        )
        index = {
            "types": types, "n_site_idx": c_site, "n_type_idx": c_type, "x_dem": x_dem, "x_site": x_site,
            "x_type": x_type, "x_time": x_time, "cols": (cols.y0, cols.n0, cols.x0), "u0": cols.u0, "band": band,
            "eps": eps, "dem_k": dem_k,
            "existing": existing, "labels": labels, "budget_rows": budget_rows, "n_years": n_years,
            "equity_floor": equity_floor, "min_served_share": min_served_share,
            "budgets": [budgets[y] for y in years], "carry_over": carry_over, "fixed_eff": fixed_eff,
            "max_ch": max_ch, "cap": cap, "capex": capex, "pair_x": cols.pair_x,
        }
        build = time.perf_counter() - t0
        log.info("capacitated siting model: %d years, %d rows x %d columns (%d integer) built in %.2f s",
                 n_years, R.n, cols.n_var, cols.x0, build)
        return cls(
            demand=demand, candidates=candidates, charger_types=charger_types, pairs=pairs,
            budget_usd=float(budget_usd), model=model, index=index, build_time_s=build, years=years,
            budget_by_year_usd=budgets,
        )

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 0.01,
        max_nodes: int = MAX_NODES,
    ) -> CapacitatedSiting:
        """Solve the model and fill the result tables.

        The greedy plan (:meth:`greedy_solution`) is built first; then the LP-guided restricted
        search (:meth:`_lp_guided`), then, unless that proved its plan within ``mip_gap``, the
        search of the full model. The best of the three plans is kept, with the tightest valid
        bound (the solver's, the LP relaxation's Lagrangian bound, the reachable demand).

        The work is capped by deterministic limits (interior-point iterations of the relaxation,
        ``max_nodes`` branch-and-bound nodes), so the same model gives the same plan on any
        machine; ``time_limit_s`` is a safety stop only. When it ends a step, the result says so
        (``result.wall_clock_stop``, status "time_limit" unless the gap is proven anyway).

        Parameters
        ----------
        solver
            "highs" (default) or "cbc".
        time_limit_s
            Wall-clock safety stop of the whole solve [s].
        mip_gap
            Relative gap at which the solver may stop.
        max_nodes
            Branch-and-bound node limit of each MILP search (a work cap; a search it ends is
            reported "feasible" with its proven gap).

        Raises
        ------
        InfeasibleError
            Naming the binding floor, target or limit.
        SolverError
            When the solver found no solution in time.
        """
        # the greedy plan is kept as a fallback and a yardstick, and warm-starts only the LP-guided
        # restricted search (there it cut the search on central Bengaluru with connection bands from
        # 39 s to 9 s); the full search starts cold: on the demo city a warm-started HiGHS search ended
        # worse than a cold one in the same time
        t_start = time.perf_counter()
        deadline = t_start + time_limit_s

        def left() -> float:
            return max(deadline - time.perf_counter(), 1e-3)

        warm = self.greedy_solution()
        # every demand row is served at most once and costs only lower the objective, so the
        # reachable demand bounds every plan; a greedy plan within the gap of it needs no solver
        y0, n0, x0 = self.index["cols"]
        reach = np.zeros(len(self.demand))
        reach[self.index["x_dem"]] = self.model.c[x0:]
        reach_bound = float(reach.sum())
        if warm is not None and relative_gap(float(self.model.c @ warm), reach_bound) <= mip_gap * (1 + 1e-9):
            obj = float(self.model.c @ warm)
            log.info("greedy plan %.6g is within the gap of the reachable demand %.6g: no search needed",
                     obj, reach_bound)
            guided, complete, lp_bound, lp_wall = SolveResult(
                status="optimal", solver="greedy", x=warm, objective=obj, bound=reach_bound,
                gap=relative_gap(obj, reach_bound), time_s=0.0, rows=self.model.a.shape[0],
                cols=self.model.a.shape[1], integer_cols=int(np.asarray(self.model.integer).sum()),
                log=[f"greedy plan proven within the gap by the reachable demand {reach_bound:.6g}"],
            ), False, math.inf, False
        else:
            guided, complete, lp_bound, lp_wall = self._lp_guided(warm, solver, left=left, mip_gap=mip_gap,
                                                                  max_nodes=max_nodes)
        if guided is not None and (guided.status == "optimal" or complete):
            res = guided  # proven within the gap by the LP relaxation, or the search was the full one
        else:
            res = solve(self.model, solver, time_limit_s=left(), mip_gap=mip_gap, max_nodes=max_nodes)
        wall = res.wall_clock_stop or lp_wall or (guided is not None and guided.wall_clock_stop)
        if res.status != "infeasible":
            # the best of the solver's plan, the LP-guided restricted plan and the greedy plan is kept
            others = [("LP-guided restricted plan", guided.x if guided is not None and guided is not res else None),
                      ("greedy plan", warm)]
            for name, x in others:
                if x is None:
                    continue
                obj = float(self.model.c @ x)
                res.log.append(f"{name} {obj:.6g}")
                if res.x is None or obj > res.objective + 1e-9 * max(abs(obj), 1.0):
                    res.x, res.objective = x, obj
            if res.x is not None:
                # every demand row is served at most once and costs only lower the objective, so the
                # reachable demand bounds it: tighter than the solver's own bound when its root LP did
                # not finish (large multi-year models); the relaxation's Lagrangian bound holds too
                for name, bound in (("reachable demand", reach_bound), ("LP relaxation", lp_bound)):
                    if math.isfinite(bound) and (not math.isfinite(res.bound) or bound < res.bound):
                        res.log.append(f"bound {res.bound:.6g} -> {name} {bound:.6g}")
                        res.bound = bound
                res.gap = relative_gap(res.objective, res.bound)
                if res.gap <= mip_gap * (1 + 1e-9):
                    res.status = "optimal"
                else:
                    res.status = "time_limit" if wall else "feasible"
        res.wall_clock_stop = wall
        res.time_s = time.perf_counter() - t_start  # the whole solve: greedy, relaxation and searches
        if wall:
            res.log.append(f"the wall-clock safety stop ({time_limit_s:g} s) ended a step: the plan may depend "
                           "on the machine's speed")
            log.warning("siting: the wall-clock safety stop of %g s ended a solver step; the plan may differ on "
                        "another machine (raise siting.time_limit_s)", time_limit_s)
        self.result = res
        if res.status == "infeasible":
            raise InfeasibleError(self._explain_infeasible())
        x = require_solution(res, what="charger siting")
        x = self._lowest_bands(x)
        res.x, res.objective = x, float(self.model.c @ x)
        self._read_back(x)
        return self

    def _lowest_bands(self, x: np.ndarray) -> np.ndarray:
        """The plan with each open site in the lowest connection band its installed power needs
        (a solver stopped within its gap may leave a site in a higher, dearer band): every row
        stays met, the spend can only fall."""
        ix = self.index
        band: SiteBands = ix["band"]
        if not len(band.up_site):
            return x
        out = x.copy()
        lv = self._levels(x)
        K = ix["n_years"]
        u = (lv[band.up_site] >= band.up_band[:, None]).astype(float)  # n_up x K
        out[ix["u0"]:ix["u0"] + len(band.up_site) * K] = u.ravel()
        return out

    def _levels(self, x: np.ndarray) -> np.ndarray:
        """Connection band of every site and year in plan ``x`` (-1: closed): the lowest its
        installed power needs, never below the band paid already."""
        ix = self.index
        y0, n0, x0 = ix["cols"]
        K = ix["n_years"]
        band: SiteBands = ix["band"]
        n_site = len(self.candidates)
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        y = np.round(x[y0:n0]).reshape(n_site, K)
        nv = np.round(x[n0:x0]).reshape(len(c_site), K)
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        kw = np.zeros((n_site, K))
        np.add.at(kw, c_site, nv * power[c_type][:, None])
        opened = (y > 0.5) | (kw > 0)
        lv = np.maximum(band.paid[:, None], connection_band(kw, band.max_kw))
        return np.where(opened, lv, -1)

    # ---- LP-guided restricted solve

    def _lp_guided(
        self, warm: np.ndarray | None, solver: SolverName | None, *, left: Any, mip_gap: float, max_nodes: int
    ) -> tuple[SolveResult | None, bool, float, bool]:
        """Solve the model restricted to the sites its LP relaxation opens (plus the greedy plan's
        and the existing ones). The relaxation bounds the full model, so a restricted plan within
        ``mip_gap`` of it is proven good enough, often long before the full search would close
        its gap (HiGHS may spend a long time in cut rounds at the root).

        The relaxation is solved by interior point without crossover, capped at
        ``LP_WORK / nonzeros`` iterations (at most ``LP_MAX_ITERATIONS``): a deterministic cap
        that lets it finish on small and medium models (36 iterations on Makati) and gives it up
        on large ones (the demo city needs about 51 and opens every site there). Its bound is not
        its primal objective (without crossover that is not a bound) but the Lagrangian value of
        its row duals (:func:`~charge_planner.siting.solve.lagrangian_bound`), valid for any duals.
        The restricted search starts from the greedy plan ``warm`` (feasible there: its sites are kept).

        Returns
        -------
        tuple
            The result (None when not applicable: CBC, a model too large for the iteration cap,
            no LP solution, an infeasible restriction); whether it was a search of the full
            model (the LP opened every site); the relaxation's valid bound (inf when none); and
            whether the wall-clock safety stop ended the relaxation.
        """
        if solver not in (None, "highs"):
            return None, False, math.inf, False
        m, ix = self.model, self.index
        t0 = time.perf_counter()
        iterations = min(LP_MAX_ITERATIONS, LP_WORK // max(int(m.a.nnz), 1))
        if iterations < LP_MIN_ITERATIONS:
            log.info("LP-guided step skipped: %d nonzeros leave %d interior-point iterations", m.a.nnz, iterations)
            return None, False, math.inf, False
        lp = solve(m, "highs", time_limit_s=left(), relax=True, lp_method="ipm", lp_iteration_limit=iterations)
        lp_bound = lagrangian_bound(m, lp.row_dual) if lp.row_dual is not None else math.inf
        log.info("LP relaxation: %s after at most %d interior-point iterations, Lagrangian bound %.6g",
                 lp.status, iterations, lp_bound)
        if lp.status != "optimal" or lp.x is None:
            return None, False, lp_bound, lp.wall_clock_stop
        if warm is not None and math.isfinite(lp_bound):
            # the relaxation bounds every plan: a greedy plan within the gap of it needs no search
            warm_obj = float(m.c @ warm)
            gap = relative_gap(warm_obj, lp_bound)
            if gap <= mip_gap * (1 + 1e-9):
                log.info("greedy plan %.6g is within the gap of the LP bound %.6g (%.3g): no search needed",
                         warm_obj, lp_bound, gap)
                return SolveResult(
                    status="optimal", solver="highs", x=warm, objective=warm_obj, bound=lp_bound, gap=gap,
                    time_s=time.perf_counter() - t0, rows=m.a.shape[0], cols=m.a.shape[1],
                    integer_cols=int(np.asarray(m.integer).sum()),
                    log=[f"greedy plan proven within the gap by the LP bound {lp_bound:.6g}"],
                ), False, lp_bound, False
        y0, n0, x0 = ix["cols"]
        n_years = ix["n_years"]
        n_site = (n0 - y0) // n_years
        site_of_col = np.concatenate([
            np.repeat(ix["band"].up_site, n_years), np.repeat(np.arange(n_site), n_years),
            np.repeat(ix["n_site_idx"], n_years), ix["x_site"]
        ])
        keep = lp.x[y0:n0].reshape(n_site, n_years).max(axis=1) > 1e-6
        keep |= ix["existing"].sum(axis=1) > 0
        if warm is not None:
            keep |= warm[y0:n0].reshape(n_site, n_years).max(axis=1) > 0.5
        complete = bool(keep.all())
        if complete:
            sub = m
        else:
            upper = np.where(keep[site_of_col], m.col_upper, np.minimum(m.col_upper, 0.0))
            if (upper < m.col_lower).any():
                return None, False, lp_bound, False
            sub = dataclasses.replace(m, col_upper=upper)
        res = solve(sub, "highs", time_limit_s=left(), mip_gap=mip_gap, max_nodes=max_nodes, warm_start=warm)
        if res.x is None:
            return (res if complete else None), complete, lp_bound, False
        bound = lp_bound  # the relaxation bounds every plan
        if complete and math.isfinite(res.bound):
            bound = min(bound, res.bound)
        gap = relative_gap(res.objective, bound)
        proven = gap <= mip_gap * (1 + 1e-9)
        log.info("LP-guided restricted solve: %d of %d sites, objective %.6g, bound %.6g, gap %.3g%s",
                 int(keep.sum()), n_site, res.objective, bound, gap, " (within the gap: done)" if proven else "")
        return SolveResult(
            status="optimal" if proven else ("time_limit" if res.wall_clock_stop else "feasible"), solver="highs",
            x=res.x, objective=res.objective, bound=bound, gap=gap, time_s=time.perf_counter() - t0,
            rows=m.a.shape[0], cols=m.a.shape[1], integer_cols=int(np.asarray(m.integer).sum()),
            log=[f"LP-guided restricted solve on {int(keep.sum())} of {n_site} sites, LP bound {bound:.6g}"],
            wall_clock_stop=res.wall_clock_stop,
        ), complete, lp_bound, False

    # ---- greedy plan

    def greedy_solution(self) -> np.ndarray | None:
        """A feasible plan built greedily, year by year (the fallback when the solver's own
        incumbent is worse or missing at the time limit).

        Each year, the year's demand first fills the chargers already built (nearest demand
        first); then chargers are added one at a time where the unmet energy they can serve
        per dollar is highest (a new site's fixed cost and connection band included, and the
        step to a higher band where the charger lifts the site's power into it: priced as the
        model prices them), within the year's budget and the per-site maximum, each taking the
        nearest unmet demand up to its capacity.
        The plan is checked against every row of the model; None when it violates one (e.g.
        an equity floor the greedy order did not meet).

        Returns
        -------
        numpy.ndarray or None
            Column values of the model.
        """
        ix = self.index
        y0, n0, x0 = ix["cols"]
        n_years = ix["n_years"]
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        n_pairs, n_site = len(c_site), len(self.candidates)
        x_dem, pair_x, dem_k = ix["x_dem"], ix["pair_x"], ix["dem_k"]
        x_time = ix["x_time"]
        d = self.demand["energy_kwh_day"].to_numpy(dtype=float)
        cap, capex, max_ch = ix["cap"], ix["capex"], ix["max_ch"]
        band: SiteBands = ix["band"]
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        col_upper = self.model.col_upper
        existing = ix["existing"][c_site, c_type].astype(float)
        n = existing.copy()
        is_open = (np.bincount(c_site, weights=n, minlength=n_site) > 0) | (self.model.col_lower[y0:n0:n_years] > 0)
        site_kw = np.bincount(c_site, weights=n * power[c_type], minlength=n_site)
        all_sites = np.arange(n_site)
        n_upper = col_upper[n0:x0:n_years]
        y_upper = col_upper[y0:n0:n_years]
        x = np.zeros(self.model.shape[1])
        spent = 0.0
        budget_cum = 0.0
        for k in range(n_years):
            budget_cum = budget_cum + ix["budgets"][k] if ix["carry_over"] else ix["budgets"][k]
            left = budget_cum - spent if ix["carry_over"] else ix["budgets"][k]
            sel = np.flatnonzero(dem_k[x_dem] == k)
            # triples of this year, nearest first within each charger column
            sel = sel[np.lexsort((x_time[sel], pair_x[sel]))]
            t_pair = pair_x[sel]
            rem = d.copy()
            rem[dem_k != k] = 0.0
            used = np.zeros(n_pairs)

            def fill(c: int, cap_c: float, sel: np.ndarray = sel, t_pair: np.ndarray = t_pair,
                     rem: np.ndarray = rem) -> float:
                lo, hi = np.searchsorted(t_pair, c), np.searchsorted(t_pair, c, side="right")
                trip = sel[lo:hi]
                if cap_c <= 0 or len(trip) == 0:
                    return 0.0
                rows = x_dem[trip]
                want = rem[rows]
                # the same row may appear once per column; take in order up to the capacity
                before = np.concatenate([[0.0], np.cumsum(want)[:-1]])
                take = np.clip(cap_c - before, 0.0, want)
                rem[rows] -= take
                x[x0 + trip] += np.divide(take, d[rows], out=np.zeros(len(rows)), where=d[rows] > 0)
                return float(take.sum())

            for col in np.flatnonzero(n > 0):
                used[col] += fill(int(col), cap[c_type[col]] * n[col])
            per_site = np.bincount(c_site, weights=n, minlength=n_site)
            while True:
                unmet = np.bincount(t_pair, weights=rem[x_dem[sel]], minlength=n_pairs)
                spare = cap[c_type] * n - used
                gain = np.minimum(cap[c_type], np.maximum(unmet - np.maximum(spare, 0.0), 0.0))
                # the site's cost at its band after the charger, less what it costs now (0: closed)
                now = np.where(is_open, band.level_cost[all_sites, band.level(all_sites, site_kw)], 0.0)
                after = band.level_cost[c_site, band.level(c_site, site_kw[c_site] + power[c_type])]
                cost = capex[c_type] + after - now[c_site]
                ok = (gain > 1e-9) & (cost <= left + 1e-9) & (per_site[c_site] < max_ch[c_site]) & (n < n_upper)
                ok &= is_open[c_site] | (y_upper[c_site] > 0)
                if not ok.any():
                    break
                ratio = np.where(ok, gain / np.maximum(cost, 1e-9), -np.inf)
                c = int(np.argmax(ratio))
                n[c] += 1
                per_site[c_site[c]] += 1
                site_kw[c_site[c]] += power[c_type[c]]
                is_open[c_site[c]] = True
                left -= cost[c]
                spent += cost[c]
                used[c] += fill(c, cap[c_type[c]] * n[c] - used[c])
            x[y0 + np.arange(n_site) * n_years + k] = is_open.astype(float)
            x[n0 + np.arange(n_pairs) * n_years + k] = n
            lv = np.where(is_open, band.level(all_sites, site_kw), -1)
            x[ix["u0"] + np.arange(len(band.up_site)) * n_years + k] = lv[band.up_site] >= band.up_band
        x[x0:] = np.clip(x[x0:], 0.0, 1.0)
        m = self.model
        ax = m.a @ x
        tol = 1e-6
        bad = (ax < m.row_lower - tol * np.maximum(1.0, np.abs(m.row_lower))) | (ax > m.row_upper + tol * np.maximum(1.0, np.abs(m.row_upper)))
        if bad.any() or (x < m.col_lower - tol).any() or (x > m.col_upper + tol).any():
            log.info("greedy plan violates %d row(s) of the model; no warm start", int(bad.sum()))
            return None
        return x

    # ---- infeasibility

    def _explain_infeasible(self) -> str:
        """One line naming the binding floor or target, from an elastic LP relaxation."""
        ix = self.index
        labels = ix["labels"]
        soft = [(name, labels[name]) for name in ("equity", "target", "headroom") if name in labels]
        base = self.model
        if not soft:
            return "charger siting is infeasible: the existing chargers and limits contradict each other; check them"
        # shortfall columns s_r >= 0 on every soft row, minimise the relative shortfall
        extra_rows, extra_vals, weights = [], [], []
        for name, (start, end, _) in soft:
            r = np.arange(start, end)
            rhs = np.where(np.isfinite(base.row_lower[r]), base.row_lower[r], base.row_upper[r])
            sign = 1.0 if name != "headroom" else -1.0
            extra_rows.append(r)
            extra_vals.append(np.full(len(r), sign))
            weights.append(1.0 / np.maximum(np.abs(rhs), 1e-9))
        rows = np.concatenate(extra_rows)
        n_s = len(rows)
        a = sp.hstack([base.a, sp.csc_matrix((np.concatenate(extra_vals), (rows, np.arange(n_s))), shape=(base.shape[0], n_s))]).tocsc()
        m = MatrixModel(
            c=np.concatenate([np.zeros(base.shape[1]), np.concatenate(weights)]), a=a,
            row_lower=base.row_lower, row_upper=base.row_upper,
            col_lower=np.concatenate([base.col_lower, np.zeros(n_s)]),
            col_upper=np.concatenate([base.col_upper, np.full(n_s, np.inf)]),
            integer=np.concatenate([base.integer, np.zeros(n_s, dtype=bool)]), maximize=False,
        )
        res = solve(m, "highs", time_limit_s=30.0, relax=True)
        if res.x is None:
            return "charger siting is infeasible even without its floors and targets; check existing chargers and limits"
        s = res.x[base.shape[1]:] * np.concatenate(weights)
        plan_kind = "fractional chargers"
        if s.max() <= 1e-7:
            # only whole chargers make it infeasible: the elastic MILP names the floor that binds
            res = solve(m, "highs", time_limit_s=30.0, mip_gap=1e-3, max_nodes=MAX_NODES)
            if res.x is None:
                return ("charger siting is infeasible with whole chargers, though fractional ones would meet every "
                        "floor and target; raise the budget or lower siting.equity_floor / siting.min_served_share")
            s = res.x[base.shape[1]:] * np.concatenate(weights)
            plan_kind = "whole chargers"
        worst = int(np.argmax(s))
        offset = 0
        for name, (start, end, names) in soft:
            if worst < offset + (end - start):
                what = names[worst - offset]
                if name == "equity":
                    return (f"equity floor {ix['equity_floor']:.0%} cannot be met for {what} within the budget and "
                            f"charger limits: the closest plan ({plan_kind}) misses it by "
                            f"{s[worst] * ix['equity_floor']:.0%} of that group's demand; lower siting.equity_floor "
                            "or raise the budget")
                if name == "target":
                    return (f"served-share target {ix['min_served_share']:.0%} cannot be met in {what} within the "
                            f"budget and charger limits: the closest plan ({plan_kind}) misses it by "
                            f"{s[worst] * ix['min_served_share']:.0%} of the demand; lower siting.min_served_share "
                            "or raise the budget")
                return f"grid headroom of {what} is binding; raise it or move chargers elsewhere"
            offset += end - start
        return "charger siting is infeasible"

    # ---- results

    def _read_back(self, x: np.ndarray) -> None:
        ix = self.index
        y0, n0, x0 = ix["cols"]
        types = ix["types"]
        n_years = ix["n_years"]
        cand = self.candidates
        n_site, n_type = len(cand), len(types)
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        y = np.round(x[y0:n0]).astype(int).reshape(n_site, n_years)
        nv = np.round(x[n0:x0]).astype(int).reshape(len(c_site), n_years)
        xv = np.clip(x[x0:], 0.0, 1.0)
        d = self.demand["energy_kwh_day"].to_numpy(dtype=float)
        dem_k = ix["dem_k"]
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        capex = self.charger_types["capex_usd"].to_numpy(dtype=float)
        cap = power * self.charger_types["service_hours_day"].to_numpy(dtype=float)
        band: SiteBands = ix["band"]
        existing = ix["existing"]

        counts = np.zeros((n_years, n_site, n_type), dtype=int)
        for k in range(n_years):
            counts[k, c_site, c_type] = nv[:, k]
        opened = (y > 0) | (counts.sum(axis=2).T > 0)  # n_site x K
        served = d[ix["x_dem"]] * xv
        x_k = dem_k[ix["x_dem"]]

        # spend per site and year: new chargers + the site's fixed cost and connection band in the
        # opening year + the step to a higher band in the year the installed power needs it
        prev = np.concatenate([existing[None], counts[:-1]], axis=0)
        new = np.maximum(counts - prev, 0)
        first_open = np.where(opened.any(axis=1), np.argmax(opened, axis=1), -1)
        charger_spend = new @ capex  # K x n_site
        lv = self._levels(x)  # n_site x K
        site_cost = np.where(lv >= 0, band.level_cost[np.arange(n_site)[:, None], np.maximum(lv, 0)], 0.0).T  # K x n_site
        conn_spend = np.diff(site_cost, axis=0, prepend=0.0)
        spend = charger_spend + conn_spend

        rows = []
        for k, year in enumerate(self.years):
            sk = x_k == k
            served_site = np.bincount(ix["x_site"][sk], weights=served[sk], minlength=n_site)
            on = np.flatnonzero(opened[:, k])
            block = pd.DataFrame({"site_id": cand.index.to_numpy()[on], "year": year})
            for t_i, t in enumerate(types):
                block[f"chargers_{t}"] = counts[k, on, t_i]
            block["new_chargers"] = new[k, on].sum(axis=1)
            block["power_kw"] = counts[k, on] @ power
            block["served_kwh_day"] = served_site[on]
            block["capex_usd"] = spend[k, on]
            block["connection_band"] = np.asarray(band.labels, dtype=object)[lv[on, k]]
            rows.append(block)
        self.rollout = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

        last = n_years - 1
        s_last = x_k == last
        served_site = np.bincount(ix["x_site"][s_last], weights=served[s_last], minlength=n_site)
        cap_site = counts[last] @ cap
        sites = pd.DataFrame(index=cand.index)
        sites["open"] = opened[:, last]
        for t_i, t in enumerate(types):
            sites[f"chargers_{t}"] = counts[last, :, t_i]
        sites["power_kw"] = counts[last] @ power
        sites["served_kwh_day"] = served_site
        sites["capex_usd"] = spend.sum(axis=0)
        sites["charger_capex_usd"] = charger_spend.sum(axis=0)
        sites["connection_cost_usd"] = conn_spend.sum(axis=0)
        sites["connection_band"] = np.asarray(band.labels, dtype=object)[np.maximum(lv[:, last], 0)]
        sites["utilisation"] = np.divide(served_site, cap_site, out=np.zeros(n_site), where=cap_site > 0)
        sites["year_opened"] = [self.years[k] if k >= 0 else -1 for k in first_open]
        sites["existing_chargers"] = existing.sum(axis=1)
        self.sites = sites[sites["open"]].drop(columns="open")

        keep = served > 1e-9
        asg = pd.DataFrame({
            "demand_id": self.demand.index.to_numpy()[ix["x_dem"][keep]],
            "site_id": cand.index.to_numpy()[ix["x_site"][keep]],
            "charger_type": np.asarray(types, dtype=object)[ix["x_type"][keep]],
            "year": np.asarray(self.years)[x_k[keep]],
            "share": xv[keep],
            "served_kwh_day": served[keep],
            "travel_time_s": ix["x_time"][keep],
        })
        self.assignments_all = asg
        self.assignments = asg[asg["year"] == self.years[last]].reset_index(drop=True)

        served_dem = np.bincount(ix["x_dem"], weights=served, minlength=len(d))
        reachable = np.zeros(len(d), dtype=bool)
        reachable[ix["x_dem"]] = True
        last_rows = dem_k == last
        tab = pd.DataFrame({"segment": self.demand["segment"].to_numpy()[last_rows], "demand_kwh_day": d[last_rows],
                            "served_kwh_day": served_dem[last_rows],
                            "reachable_kwh_day": np.where(reachable, d, 0.0)[last_rows]})
        by = tab.groupby("segment").sum()
        by["served_share"] = by["served_kwh_day"] / by["demand_kwh_day"].where(by["demand_kwh_day"] > 0)
        by["reachable_share"] = by["reachable_kwh_day"] / by["demand_kwh_day"].where(by["demand_kwh_day"] > 0)
        self.served_by_segment = by

        dem_year = np.bincount(dem_k, weights=d, minlength=n_years)
        srv_year = np.bincount(x_k, weights=served, minlength=n_years)
        self.served_by_year = pd.DataFrame(
            {
                "demand_kwh_day": dem_year,
                "served_kwh_day": srv_year,
                "served_share": np.divide(srv_year, dem_year, out=np.zeros(n_years), where=dem_year > 0),
                "capex_usd": spend.sum(axis=1),
                "budget_usd": [self.budget_by_year_usd[yr] for yr in self.years],
                "sites_open": opened.sum(axis=0),
                "chargers": counts.sum(axis=(1, 2)),
            },
            index=pd.Index(self.years, name="year"),
        )
        on_last = lv[:, last] >= 0
        self.meta = {
            "served_kwh_day": float(srv_year[last]),
            "demand_kwh_day": float(dem_year[last]),
            "capex_usd": float(spend.sum()),
            "charger_capex_usd": float(charger_spend.sum()),
            "connection_cost_usd": float(conn_spend.sum()),
            "sites_by_connection_band": {lab: int((lv[on_last, last] == b).sum()) for b, lab in enumerate(band.labels)},
            "sites_open": int(len(self.sites)),
            "years": [int(yr) for yr in self.years],
        }

    def summary(self) -> dict[str, Any]:
        """Solver status and key figures, JSON-serialisable."""
        if self.result is None:
            raise InfeasibleError("the model has not been solved; call solve() first")
        res = self.result
        rows, cols = self.model.shape

        out = {
            "model": "capacitated_multi_type_coverage",
            **res.report(),
            "build_time_s": round(self.build_time_s, 3),
            "rows": rows,
            "columns": cols,
            "integer_columns": int(self.model.integer.sum()),
            **self.meta,
        }
        if self.served_by_year is not None and len(self.years) > 1:
            out["by_year"] = {
                str(y): {k: (round(float(v), 4) if isinstance(v, float | np.floating) else int(v)) for k, v in r.items()}
                for y, r in self.served_by_year.iterrows()
            }
        return out
