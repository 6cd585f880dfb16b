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
from charge_planner.network import id_positions
from charge_planner.siting.heuristics import band_table, connection_band
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


def _check_columns(table: pd.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{name} table lacks column(s) {missing}; add them")


def _label(v: object) -> str:
    return str(v).replace("_", "-")


@dataclass
class _Rows:
    """Constraint rows assembled as COO triplets."""

    rows: list[np.ndarray] = field(default_factory=list)
    cols: list[np.ndarray] = field(default_factory=list)
    vals: list[np.ndarray] = field(default_factory=list)
    lo: list[np.ndarray] = field(default_factory=list)
    hi: list[np.ndarray] = field(default_factory=list)
    n: int = 0

    def add(self, r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        self.rows.append(np.asarray(r, dtype=np.int64) + self.n)
        self.cols.append(np.asarray(c, dtype=np.int64))
        self.vals.append(np.asarray(v, dtype=float))

    def close(self, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int]:
        """End a block of ``len(lo)`` rows; returns its (first, end) row numbers."""
        start = self.n
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))
        self.n += len(lo)
        return start, self.n


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

        # assignment pairs within reach (nearest first per demand row)
        p_dem = id_positions(travel["demand_id"], demand.index, "demand_id")
        p_site = id_positions(travel["site_id"], candidates.index, "site_id")
        p_time = travel["travel_time_s"].to_numpy(dtype=float)
        ok = (p_dem >= 0) & (p_site >= 0)
        p_dem, p_site, p_time = p_dem[ok], p_site[ok], p_time[ok]
        order = np.lexsort((p_site, p_time, p_dem))  # by demand row, nearest site first
        p_dem, p_site, p_time = p_dem[order], p_site[order], p_time[order]
        usable_site = ~excluded | has_existing
        seg_of_dem = demand["segment"].astype(str).to_numpy()
        # a charger type serves a row when the row's segment is among its segments and, where both
        # tables name use cases, the row's use case (public AC, public DC, swapping, ...) is among its use cases
        match_use = "use_case" in demand.columns and "use_cases" in charger_types.columns
        use_of_dem = demand["use_case"].astype(str).to_numpy() if match_use else None

        def serves(k: int, t: Any, rows: np.ndarray, sites: np.ndarray) -> np.ndarray:
            ok = np.isin(seg_of_dem[rows], list(charger_types.loc[t, "segments"])) & allowed[sites, k]
            if use_of_dem is not None:
                ok &= np.isin(use_of_dem[rows], list(charger_types.loc[t, "use_cases"]))
            return ok & usable_site[sites]

        # only candidates that can host a type serving the row count among its nearest ones (a bus
        # row's nearest car parks would otherwise crowd out the depot a little further away)
        can_serve = np.zeros(len(p_dem), dtype=bool)
        for k, t in enumerate(types):
            can_serve |= serves(k, t, p_dem, p_site)
        can_serve &= max_ch[p_site] >= 1
        p_dem, p_site, p_time = p_dem[can_serve], p_site[can_serve], p_time[can_serve]
        if max_sites_per_demand is not None:
            first = np.flatnonzero(np.r_[True, p_dem[1:] != p_dem[:-1]])
            rank = np.arange(len(p_dem)) - np.repeat(first, np.diff(np.r_[first, len(p_dem)]))
            near = rank < max_sites_per_demand
            p_dem, p_site, p_time = p_dem[near], p_site[near], p_time[near]
        pairs = pd.DataFrame({
            "demand_id": pd.Categorical.from_codes(p_dem, dtype=pd.CategoricalDtype(demand.index)),
            "site_id": pd.Categorical.from_codes(p_site, dtype=pd.CategoricalDtype(candidates.index)),
            "travel_time_s": p_time,
        })
        trip = []
        for k, t in enumerate(types):
            ok = serves(k, t, p_dem, p_site)
            trip.append((p_dem[ok], p_site[ok], np.full(int(ok.sum()), k), p_time[ok]))
        x_dem = np.concatenate([a for a, _, _, _ in trip]).astype(np.int64)
        x_site = np.concatenate([b for _, b, _, _ in trip]).astype(np.int64)
        x_type = np.concatenate([c for _, _, c, _ in trip]).astype(np.int64)
        x_time = np.concatenate([e for _, _, _, e in trip])
        n_x = len(x_dem)

        d = demand["energy_kwh_day"].to_numpy(dtype=float)
        power = charger_types["power_kw"].to_numpy(dtype=float)
        cap = power * charger_types["service_hours_day"].to_numpy(dtype=float)
        capex = charger_types["capex_usd"].to_numpy(dtype=float)
        fixed = candidates["fixed_cost_usd"].to_numpy(dtype=float)
        band = _site_bands(site_cost_bands, candidates, allowed, existing, power, max_ch, has_existing, fixed)
        fixed_eff = band.level_cost[:, 0]  # opening a site: its fixed cost and the lowest band not yet paid
        up_site, up_band = band.up_site, band.up_band
        n_up = len(up_site)

        # column layout: [u (n_up x K) | y (n_site x K) | n (n_pairs x K) | x (n_x)]; u are the
        # connection-band upgrades of the sites that can install more than the lowest band allows
        u0 = 0
        y0 = n_up * n_years
        n0 = y0 + n_site * n_years
        x0 = n0 + n_pairs * n_years
        n_var = x0 + n_x

        def ucol(i: np.ndarray, k: np.ndarray | int) -> np.ndarray:
            return u0 + np.asarray(i) * n_years + k

        def ycol(j: np.ndarray, k: np.ndarray | int) -> np.ndarray:
            return y0 + np.asarray(j) * n_years + k

        def ncol(c: np.ndarray, k: np.ndarray | int) -> np.ndarray:
            return n0 + np.asarray(c) * n_years + k

        ex_cols = existing[c_site, c_type].astype(float)
        existing_cost = float(ex_cols @ capex[c_type])
        total = float(d.sum())
        if total > 0 and not has_existing.any():
            cause = _nothing_to_build(candidates, types, excluded, n_x, band.open_cost(c_site, power[c_type]) + capex[c_type],
                                      usable_site[c_site], budgets, carry_over)
            if cause:
                raise InfeasibleError(cause)
        eps = 1e-4 * max(total, 1.0) / (float(sum(budgets.values())) * n_years)

        c = np.zeros(n_var)
        c[x0:] = d[x_dem]
        for k in range(n_years):
            c[ycol(np.arange(n_site), k)] = -eps * fixed_eff
            c[ncol(np.arange(n_pairs), k)] = -eps * capex[c_type]
            c[ucol(np.arange(n_up), k)] = -eps * band.up_cost

        R = _Rows()
        labels: dict[str, tuple[int, int, list[str]]] = {}
        xs = x0 + np.arange(n_x)
        # (1) each demand row at most once
        R.add(x_dem, xs, np.ones(n_x))
        R.close(np.full(n_dem, -np.inf), np.ones(n_dem))
        # (2) capacity per (site-type, year)
        k_x = dem_k[x_dem]
        pair_x = col_of[x_site, x_type]
        R.add(pair_x * n_years + k_x, xs, d[x_dem])
        all_nk = np.arange(n_pairs * n_years)
        R.add(all_nk, n0 + all_nk, -np.repeat(cap[c_type], n_years))
        R.close(np.full(n_pairs * n_years, -np.inf), np.zeros(n_pairs * n_years))
        # (2b) a row is served by a (site, type) only where that type is installed: x_ijt <= n_jtk.
        #      Valid because n is integer; like the variable upper bounds of facility location it
        #      makes the LP relaxation much tighter than the aggregated capacity rows alone.
        vub = np.arange(n_x)
        R.add(vub, xs, np.ones(n_x))
        R.add(vub, ncol(pair_x, k_x), -np.ones(n_x))
        R.close(np.full(n_x, -np.inf), np.zeros(n_x))
        # (3) per-site maximum per year
        for k in range(n_years):
            R.add(c_site * n_years + k, ncol(np.arange(n_pairs), k), np.ones(n_pairs))
        all_yk = np.arange(n_site * n_years)
        R.add(all_yk, y0 + all_yk, -np.repeat(max_ch, n_years))
        R.close(np.full(n_site * n_years, -np.inf), np.zeros(n_site * n_years))
        # (4) monotone rollout: sites stay open, chargers only grow
        if n_years > 1:
            jj = np.repeat(np.arange(n_site), n_years - 1)
            kk = np.tile(np.arange(1, n_years), n_site)
            rr = np.arange(len(jj))
            R.add(rr, ycol(jj, kk), np.ones(len(jj)))
            R.add(rr, ycol(jj, kk - 1), -np.ones(len(jj)))
            R.close(np.zeros(len(jj)), np.full(len(jj), np.inf))
            cc = np.repeat(np.arange(n_pairs), n_years - 1)
            kk = np.tile(np.arange(1, n_years), n_pairs)
            rr = np.arange(len(cc))
            R.add(rr, ncol(cc, kk), np.ones(len(cc)))
            R.add(rr, ncol(cc, kk - 1), -np.ones(len(cc)))
            R.close(np.zeros(len(cc)), np.full(len(cc), np.inf))
            if n_up:  # a connection is never downgraded
                ii = np.repeat(np.arange(n_up), n_years - 1)
                kk = np.tile(np.arange(1, n_years), n_up)
                rr = np.arange(len(ii))
                R.add(rr, ucol(ii, kk), np.ones(len(ii)))
                R.add(rr, ucol(ii, kk - 1), -np.ones(len(ii)))
                R.close(np.zeros(len(ii)), np.full(len(ii), np.inf))
        # (4b) connection band of each site and year: exactly one band per open site, written as
        #      "at least band b" binaries u_jbk <= u_j(b-1)k <= ... <= y_jk (band b is u_jb - u_j(b+1));
        #      the installed power fits the band: sum_t p_t n_jtk <= U_0 y_jk + sum_b (U_b - U_b-1) u_jbk
        if n_up:
            prev = band.up_prev  # the u column below each one, -1 for the first upgrade (its y)
            for k in range(n_years):
                rr = np.arange(n_up) + k * n_up
                R.add(rr, ucol(np.arange(n_up), k), np.ones(n_up))
                first = prev < 0
                R.add(rr[first], ycol(up_site[first], k), -np.ones(int(first.sum())))
                R.add(rr[~first], ucol(prev[~first], k), -np.ones(int((~first).sum())))
            R.close(np.full(n_up * n_years, -np.inf), np.zeros(n_up * n_years))
            lim_sites = np.unique(up_site)
            row_of = -np.ones(n_site, dtype=np.int64)
            row_of[lim_sites] = np.arange(len(lim_sites))
            has_row = row_of[c_site] >= 0
            n_lim = len(lim_sites)
            for k in range(n_years):
                R.add(row_of[c_site[has_row]] + k * n_lim, ncol(np.flatnonzero(has_row), k), power[c_type[has_row]])
                R.add(np.arange(n_lim) + k * n_lim, ycol(lim_sites, k), -np.full(n_lim, band.max_kw[0]))
                R.add(row_of[up_site] + k * n_lim, ucol(np.arange(n_up), k), -band.up_kw)
            R.close(np.full(n_lim * n_years, -np.inf), np.zeros(n_lim * n_years))
            # the same limit per charger type in whole chargers (valid as n is integer, and tighter in the
            # relaxation): n_jtk <= m_0t y_jk + sum_b (m_bt - m_(b-1)t) u_jbk, m_bt = floor(U_b / p_t)
            sel = np.flatnonzero(has_row)
            whole = np.minimum(np.floor(np.minimum(band.max_kw[None, :], band.max_site_kw[c_site[sel], None])
                                        / power[c_type[sel], None] + 1e-9), max_ch[c_site[sel], None])  # len(sel) x B
            pos_u = -np.ones((n_site, len(band.max_kw)), dtype=np.int64)
            pos_u[up_site, up_band] = np.arange(n_up)
            for k in range(n_years):
                rr = np.arange(len(sel)) + k * len(sel)
                R.add(rr, ncol(sel, k), np.ones(len(sel)))
                R.add(rr, ycol(c_site[sel], k), -whole[:, 0])
                for b in range(1, len(band.max_kw)):
                    has_u = pos_u[c_site[sel], b] >= 0
                    R.add(rr[has_u], ucol(pos_u[c_site[sel][has_u], b], k), -(whole[has_u, b] - whole[has_u, b - 1]))
            R.close(np.full(len(sel) * n_years, -np.inf), np.zeros(len(sel) * n_years))
        # (5) budget per year: cumulative (carry-over) or incremental spend
        cum_budget = np.cumsum([budgets[y] for y in years])
        for k in range(n_years):
            R.add(np.zeros(n_site), ycol(np.arange(n_site), k), fixed_eff)
            R.add(np.zeros(n_pairs), ncol(np.arange(n_pairs), k), capex[c_type])
            R.add(np.zeros(n_up), ucol(np.arange(n_up), k), band.up_cost)
            if carry_over or k == 0:
                R.close(np.array([-np.inf]), np.array([float(cum_budget[k] if carry_over else budgets[years[0]]) + existing_cost]))
            else:
                R.add(np.zeros(n_site), ycol(np.arange(n_site), k - 1), -fixed_eff)
                R.add(np.zeros(n_pairs), ncol(np.arange(n_pairs), k - 1), -capex[c_type])
                R.add(np.zeros(n_up), ucol(np.arange(n_up), k - 1), -band.up_cost)
                R.close(np.array([-np.inf]), np.array([float(budgets[years[k]])]))
        budget_rows = (R.n - n_years, R.n)
        # (6) equity floor per group and year
        group_names: list[str] = []
        if equity_floor:
            grp = demand[equity_column].astype(str).to_numpy()
            codes, uniq = pd.factorize(pd.Series(grp), sort=True)
            n_g = len(uniq)
            key_row = codes * n_years + dem_k
            dem_gk = np.bincount(key_row, weights=d, minlength=n_g * n_years)
            present = np.flatnonzero(dem_gk > 0)
            row_of_key = -np.ones(n_g * n_years, dtype=np.int64)
            row_of_key[present] = np.arange(len(present))
            R.add(row_of_key[key_row[x_dem]], xs, d[x_dem])
            start, end = R.close(equity_floor * dem_gk[present], np.full(len(present), np.inf))
            group_names = [f"group {uniq[key // n_years]!r} in {_year_label(years[key % n_years])}" for key in present]
            labels["equity"] = (start, end, group_names)
            _check_reachable_groups(demand, equity_column, x_dem, d, dem_k, years, equity_floor)
        # (7) served-share target per year
        if min_served_share:
            dem_year = np.bincount(dem_k, weights=d, minlength=n_years)
            R.add(k_x, xs, d[x_dem])
            start, end = R.close(min_served_share * dem_year, np.full(n_years, np.inf))
            labels["target"] = (start, end, [_year_label(y) for y in years])
            _check_reachable_target(demand, x_dem, d, dem_k, years, min_served_share)
        # (8) grid headroom per group (and year)
        head_info = None
        if headroom is not None:
            head_info = _headroom_rows(R, headroom, site_groups, candidates, years, c_site, c_type, power,
                                       headroom_coincidence, existing, ncol)
            labels["headroom"] = head_info

        col_lower = np.zeros(n_var)
        col_upper = np.ones(n_var)
        for k in range(n_years):
            col_upper[ncol(np.arange(n_pairs), k)] = max_ch[c_site]
            col_lower[ncol(np.arange(n_pairs), k)] = ex_cols
            col_lower[ycol(np.flatnonzero(has_existing), k)] = 1.0
            # excluded sites never open; their existing chargers stay but do not grow
            col_upper[ycol(np.flatnonzero(excluded & ~has_existing), k)] = 0.0
            ex_pairs = np.flatnonzero(excluded[c_site] & has_existing[c_site])
            col_upper[ncol(ex_pairs, k)] = ex_cols[ex_pairs]
            # the bands of existing chargers are paid and kept
            col_lower[ucol(np.flatnonzero(has_existing[up_site] & (up_band <= band.paid[up_site])), k)] = 1.0
        integer = np.zeros(n_var, dtype=bool)
        integer[:x0] = True
        a = sp.coo_matrix(
            (np.concatenate(R.vals), (np.concatenate(R.rows), np.concatenate(R.cols))), shape=(R.n, n_var)
        ).tocsc()
        model = MatrixModel(
            c=c, a=a, row_lower=np.concatenate(R.lo), row_upper=np.concatenate(R.hi),
            col_lower=col_lower, col_upper=col_upper, integer=integer, maximize=True,
        )
        index = {
            "types": types, "n_site_idx": c_site, "n_type_idx": c_type, "x_dem": x_dem, "x_site": x_site,
            "x_type": x_type, "x_time": x_time, "cols": (y0, n0, x0), "u0": u0, "band": band, "eps": eps, "dem_k": dem_k,
            "existing": existing, "labels": labels, "budget_rows": budget_rows, "n_years": n_years,
            "equity_floor": equity_floor, "min_served_share": min_served_share,
            "budgets": [budgets[y] for y in years], "carry_over": carry_over, "fixed_eff": fixed_eff,
            "max_ch": max_ch, "cap": cap, "capex": capex, "pair_x": pair_x,
        }
        build = time.perf_counter() - t0
        log.info("capacitated siting model: %d years, %d rows x %d columns (%d integer) built in %.2f s",
                 n_years, R.n, n_var, x0, build)
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


@dataclass(frozen=True)
class SiteBands:
    """Connection bands of the candidate sites, as the model prices them.

    ``max_kw`` [kW] and ``cost_usd`` [USD] are the bands (the last ``max_kw`` is ``inf``);
    ``paid`` is the band each site has already paid (its ``connection_kw`` or existing
    chargers; -1: none); ``level_cost[j, b]`` [USD] what site ``j`` costs when open in band
    ``b`` (its fixed cost and the bands above ``paid``). The upgrade columns of the model are
    (``up_site``, ``up_band``): "site in band ``up_band`` or higher", only where the site can
    install more than ``max_kw[up_band - 1]``; ``up_cost`` is each one's cost step [USD] and
    ``up_kw`` the power it adds to the site's limit [kW].
    """

    max_kw: np.ndarray
    cost_usd: np.ndarray
    labels: list[str]
    paid: np.ndarray
    existing_kw: np.ndarray
    max_site_kw: np.ndarray
    level_cost: np.ndarray
    up_site: np.ndarray
    up_band: np.ndarray
    up_prev: np.ndarray
    up_kw: np.ndarray
    up_cost: np.ndarray

    def level(self, sites: np.ndarray, power_kw: np.ndarray) -> np.ndarray:
        """Band of open sites with the given installed power [kW] (never below the paid one)."""
        return np.maximum(self.paid[sites], connection_band(power_kw, self.max_kw))

    def open_cost(self, sites: np.ndarray, add_kw: np.ndarray) -> np.ndarray:
        """Cost of opening closed sites with ``add_kw`` [kW] of new chargers [USD]."""
        sites = np.asarray(sites, dtype=np.int64)
        return self.level_cost[sites, self.level(sites, self.existing_kw[sites] + add_kw)]


def _band_labels(max_kw: np.ndarray) -> list[str]:
    if len(max_kw) == 1:
        return ["any power"]
    out = [f"<={max_kw[0]:g} kW"]
    out += [f"{lo:g}-{hi:g} kW" for lo, hi in zip(max_kw[:-2], max_kw[1:-1], strict=True)]
    return [*out, f">{max_kw[-2]:g} kW"]


def _site_bands(
    bands: pd.DataFrame | Sequence[tuple[float, float]] | None,
    candidates: pd.DataFrame,
    allowed: np.ndarray,
    existing: np.ndarray,
    power: np.ndarray,
    max_ch: np.ndarray,
    has_existing: np.ndarray,
    fixed: np.ndarray,
) -> SiteBands:
    if bands is None:
        max_kw, cost = np.array([np.inf]), np.array([0.0])
    else:
        max_kw, cost = band_table(bands)
    n_site, n_b = len(candidates), len(max_kw)
    ex_kw = existing @ power
    top = np.where(allowed, power[None, :], 0.0).max(axis=1) if allowed.size else np.zeros(n_site)
    max_site_kw = np.maximum(max_ch * top, ex_kw)
    conn = np.zeros(n_site)
    if "connection_kw" in candidates.columns:
        conn = candidates["connection_kw"].fillna(0.0).to_numpy(dtype=float)
        if np.isnan(conn).any() or (conn < 0).any():
            raise DataError("candidates connection_kw has negative or missing values; give the existing grid "
                            "connection of each site [kW], 0 where there is none")
    have = np.maximum(conn, ex_kw)
    paid = np.where((have > 0) | has_existing, connection_band(have, max_kw), -1).astype(np.int64)
    step = np.diff(cost, prepend=0.0)  # cost of band b over band b-1
    unpaid = np.arange(n_b)[None, :] > paid[:, None]
    base = np.where(has_existing, 0.0, fixed)
    level_cost = base[:, None] + np.cumsum(np.where(unpaid, step[None, :], 0.0), axis=1)
    # upgrade columns: band b >= 1 where the site can install more than the band below allows
    lower = max_kw[:-1]
    need = max_site_kw[:, None] > lower[None, :] * (1 + 1e-9)
    up_site, up_b = np.nonzero(need)
    up_band = up_b + 1
    pos = -np.ones((n_site, n_b), dtype=np.int64)
    pos[up_site, up_band] = np.arange(len(up_site))
    up_prev = np.where(up_band > 1, pos[up_site, np.maximum(up_band - 1, 0)], -1)
    up_kw = np.minimum(max_kw[up_band], max_site_kw[up_site]) - max_kw[up_band - 1]
    up_cost = np.where(up_band > paid[up_site], step[up_band], 0.0)
    return SiteBands(max_kw=max_kw, cost_usd=cost, labels=_band_labels(max_kw), paid=paid, existing_kw=ex_kw,
                     max_site_kw=max_site_kw, level_cost=level_cost, up_site=up_site.astype(np.int64),
                     up_band=up_band.astype(np.int64), up_prev=up_prev.astype(np.int64), up_kw=up_kw,
                     up_cost=up_cost)


def _year_label(year: int) -> str:
    return "the plan year" if year == 0 else str(year)


def _nothing_to_build(
    candidates: pd.DataFrame,
    types: list[str],
    excluded: np.ndarray,
    n_x: int,
    pair_cost: np.ndarray,
    pair_usable: np.ndarray,
    budgets: Mapping[int, float],
    carry_over: bool,
) -> str | None:
    """Why no plan can serve any demand (no site, every site excluded, none in reach, budget below
    the cheapest charger), or None. A model without any of these would be solved to an empty plan."""
    if len(candidates) == 0:
        return ("no candidate sites: the demand cannot be served; add points of interest or raise "
                "siting.generated_candidates")
    if excluded.all():
        reason = str(candidates["excluded_reason"].iloc[0])
        return (f"all {len(candidates)} candidate sites are excluded (e.g. {candidates.index[0]}: {reason}); "
                "the demand cannot be served; check siting.exclusion_zones or add candidates outside them")
    if n_x == 0:
        return ("no usable candidate site lies within the travel cut-off of any demand its charger types serve; "
                "the demand cannot be served; raise the cut-off (fleet.overrides.<segment>.cutoff_min), "
                "add candidates or check the charger types' segments and use cases")
    costs = pair_cost[pair_usable]
    affordable = float(sum(budgets.values())) if carry_over else float(max(budgets.values()))
    if len(costs) and float(costs.min()) > affordable:
        return (f"the budget of {affordable:,.0f} USD buys no charger: the cheapest new site with one charger "
                f"costs {float(costs.min()):,.0f} USD (site fixed cost and charger capex); raise siting.budget_usd "
                "(it is in USD, not thousands)")
    return None


def _year_budgets(
    years: list[int], total: float, by_year: Mapping[int, float] | Sequence[float] | None
) -> dict[int, float]:
    if by_year is None:
        if len(years) > 1:
            log.info("no per-year budgets: %.0f USD split evenly over %d years (assumption)", total, len(years))
        return {y: float(total) / len(years) for y in years}
    if isinstance(by_year, Mapping):
        missing = [y for y in years if y not in by_year]
        if missing:
            raise DataError(f"budget_by_year_usd lacks year(s) {missing}; give a budget for every rollout year")
        out = {y: float(by_year[y]) for y in years}
    else:
        vals = list(by_year)
        if len(vals) != len(years):
            raise DataError(f"budget_by_year_usd has {len(vals)} values for {len(years)} rollout years {years}")
        out = {y: float(v) for y, v in zip(years, vals, strict=True)}
    bad = [y for y, v in out.items() if not (math.isfinite(v) and v >= 0)]
    if bad:
        raise DataError(f"budget_by_year_usd of year(s) {bad} is negative or missing")
    return out


def _existing_matrix(candidates: pd.DataFrame, types: list[str]) -> np.ndarray:
    out = np.zeros((len(candidates), len(types)), dtype=int)
    if "existing_chargers" not in candidates.columns:
        return out
    pos = {t: k for k, t in enumerate(types)}
    col = candidates["existing_chargers"].to_numpy()
    for j in np.flatnonzero([bool(e) for e in col]):
        for t, k in dict(col[j]).items():
            if t not in pos:
                raise DataError(f"site {candidates.index[j]}: existing charger type {t!r} is not among {types}")
            out[j, pos[t]] = int(k)
    return out


def _check_reachable_groups(demand: pd.DataFrame, column: str, x_dem: np.ndarray, d: np.ndarray, dem_k: np.ndarray,
                            years: list[int], floor: float) -> None:
    reach = np.zeros(len(d), dtype=bool)
    reach[x_dem] = True
    tab = pd.DataFrame({"g": demand[column].astype(str).to_numpy(), "k": dem_k, "d": d, "r": np.where(reach, d, 0.0)})
    by = tab.groupby(["g", "k"])[["d", "r"]].sum()
    share = by["r"] / by["d"]
    short = share[share < floor - 1e-9]
    if len(short):
        (g, k), s = short.idxmin(), float(short.min())
        seg = ""
        if "segment" in demand.columns:
            lost = tab.assign(seg=demand["segment"].to_numpy(), lost=tab["d"] - tab["r"])
            lost = lost[(lost["g"] == g) & (lost["k"] == k)].groupby("seg")["lost"].sum()
            if lost.max() > 0:
                seg = f" (mostly {_label(lost.idxmax())} demand)"
        raise InfeasibleError(
            f"equity floor {floor:.0%} unreachable for group {g!r} in {_year_label(years[k])}: only {s:.0%} of its "
            f"demand has a candidate site within its cut-off{seg}; lower siting.equity_floor or add candidates there"
        )


def _check_reachable_target(demand: pd.DataFrame, x_dem: np.ndarray, d: np.ndarray, dem_k: np.ndarray,
                            years: list[int], target: float) -> None:
    reach = np.zeros(len(d), dtype=bool)
    reach[x_dem] = True
    for k, year in enumerate(years):
        rows = dem_k == k
        tot = float(d[rows].sum())
        got = float(d[rows & reach].sum())
        if tot > 0 and got / tot < target - 1e-9:
            seg_txt = f"{1 - got / tot:.0%} of the demand has no candidate within its cut-off"
            if "segment" in demand.columns:
                t = pd.DataFrame({"seg": demand["segment"].to_numpy()[rows], "d": d[rows],
                                  "lost": np.where(reach[rows], 0.0, d[rows])})
                if "cutoff_s" in demand.columns:
                    t["cut"] = demand["cutoff_s"].to_numpy()[rows]
                by = t.groupby("seg")[["d", "lost"]].sum()
                worst = (by["lost"] / by["d"]).idxmax()
                within = ""
                if "cut" in t.columns:
                    within = f" within {float(t.loc[t['seg'] == worst, 'cut'].median()) / 60:.0f} min"
                seg_txt = (f"{float(by.loc[worst, 'lost'] / by.loc[worst, 'd']):.0%} of {_label(worst)} demand "
                           f"has no candidate{within}")
            raise InfeasibleError(
                f"coverage target {target:.0%} unreachable in {_year_label(year)}: {seg_txt} (at most "
                f"{got / tot:.1%} can be served); lower siting.min_served_share, add candidates or lengthen cut-offs"
            )


def _headroom_rows(R: _Rows, headroom: pd.Series | pd.DataFrame, site_groups: pd.Series | None,
                   candidates: pd.DataFrame, years: list[int], c_site: np.ndarray, c_type: np.ndarray,
                   power: np.ndarray, coincidence: float, existing: np.ndarray, ncol: Any) -> tuple[int, int, list[str]]:
    if site_groups is None:
        raise DataError("headroom needs site_groups (site_id -> group_id) to know which sites share a limit")
    if isinstance(headroom, pd.Series):
        table = headroom.rename("headroom_kw").rename_axis("group_id").reset_index()
    else:
        table = headroom.reset_index() if "group_id" not in headroom.columns else headroom.copy()
        _check_columns(table, "headroom", ["group_id", "headroom_kw"])
    hk = table["headroom_kw"].to_numpy(dtype=float)
    if not np.isfinite(hk).all() or (hk < 0).any():
        raise DataError("headroom_kw has negative or missing values; give each grid group a limit >= 0 kW")
    if not 0 < coincidence <= 1:
        raise DataError(f"headroom_coincidence = {coincidence}: give a share in (0, 1]")
    grp_of_site = site_groups.reindex(candidates.index)
    n_years = len(years)
    names: list[str] = []
    start = R.n
    r = 0
    lo, hi = [], []
    kw_site_ex = (existing * power[None, :]).sum(axis=1) * coincidence
    for _, row in table.iterrows():
        g = row["group_id"]
        ks = range(n_years) if "year" not in table.columns or pd.isna(row.get("year")) else (
            [years.index(int(row["year"]))] if int(row["year"]) in years else [])
        members = np.flatnonzero((grp_of_site == g).to_numpy())
        ex_kw = float(kw_site_ex[members].sum())
        if ex_kw > float(row["headroom_kw"]) + 1e-9:
            raise InfeasibleError(
                f"grid headroom of group {g!r} ({float(row['headroom_kw']):.0f} kW) is below the {ex_kw:.0f} kW of "
                "existing chargers there; raise its headroom_kw"
            )
        sel = np.flatnonzero(np.isin(c_site, members))
        for k in ks:
            R.add(np.full(len(sel), r), ncol(sel, k), coincidence * power[c_type[sel]])
            lo.append(-np.inf)
            hi.append(float(row["headroom_kw"]))
            names.append(f"grid group {g!r} in {_year_label(years[k])}")
            r += 1
    R.close(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    return start, R.n, names
