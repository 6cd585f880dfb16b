"""Row blocks of the capacitated siting model: one ``define_*`` function per block of constraints.

:meth:`CapacitatedSiting.from_tables <charge_planner.siting.capacitated.CapacitatedSiting.from_tables>`
lays out the columns (:class:`Columns`: ``[u | y | n | x]``) and then calls the functions here in
order; each appends one block of rows to the sparse row builder :class:`Rows`, and its docstring
gives the block in maths (years ``k``, sites ``j``, charger types ``t``, demand rows ``i``, bands
``b``). The module also holds the checks run on the data before any row is built (per-year
budgets, existing chargers, reachable floors and targets, a plan with nothing to build) and the
demand-site pairs within reach (:func:`assignment_pairs`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.ids import id_positions
from charge_planner.siting.bands import SiteBands

log = logging.getLogger(__name__)


def _check_columns(table: pd.DataFrame, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{name} table lacks column(s) {missing}; add them")


def _label(v: object) -> str:
    return str(v).replace("_", "-")


@dataclass
class Rows:
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


@dataclass(frozen=True)
class Columns:
    """Column layout of the model: ``[u (n_up x K) | y (n_site x K) | n (n_pairs x K) | x (n_x) | r (n_r x K)]``.

    ``r`` are the grid reinforcement options ("option o built by year k"), present only with
    reinforcement options.

    ``u`` are the connection-band upgrades ("site in band b or higher") of the sites that can
    install more than the lowest band allows, ``y`` the open sites, ``n`` the chargers of each
    allowed (site, type) pair, all per year ``k``; ``x`` the served share of each demand row by
    each (site, type) within reach. ``c_site``/``c_type`` give the pair of each charger column,
    ``x_dem``/``x_site``/``x_type`` the demand row, site and type of each ``x``, ``pair_x`` its
    charger column and ``k_x`` its year.
    """

    n_years: int
    n_site: int
    n_pairs: int
    n_up: int
    c_site: np.ndarray
    c_type: np.ndarray
    x_dem: np.ndarray
    x_site: np.ndarray
    x_type: np.ndarray
    pair_x: np.ndarray
    k_x: np.ndarray
    n_r: int = 0
    u0: int = field(init=False)
    y0: int = field(init=False)
    n0: int = field(init=False)
    x0: int = field(init=False)
    r0: int = field(init=False)
    n_var: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "u0", 0)
        object.__setattr__(self, "y0", self.n_up * self.n_years)
        object.__setattr__(self, "n0", self.y0 + self.n_site * self.n_years)
        object.__setattr__(self, "x0", self.n0 + self.n_pairs * self.n_years)
        object.__setattr__(self, "r0", self.x0 + self.n_x)
        object.__setattr__(self, "n_var", self.r0 + self.n_r * self.n_years)

    @property
    def n_x(self) -> int:
        return len(self.x_dem)

    @property
    def xs(self) -> np.ndarray:
        """Column numbers of all ``x``."""
        return self.x0 + np.arange(self.n_x)

    def ucol(self, i: np.ndarray, k: np.ndarray | int) -> np.ndarray:
        return self.u0 + np.asarray(i) * self.n_years + k

    def ycol(self, j: np.ndarray, k: np.ndarray | int) -> np.ndarray:
        return self.y0 + np.asarray(j) * self.n_years + k

    def ncol(self, c: np.ndarray, k: np.ndarray | int) -> np.ndarray:
        return self.n0 + np.asarray(c) * self.n_years + k

    def rcol(self, o: np.ndarray, k: np.ndarray | int) -> np.ndarray:
        return self.r0 + np.asarray(o) * self.n_years + k


def assignment_pairs(
    demand: pd.DataFrame,
    candidates: pd.DataFrame,
    charger_types: pd.DataFrame,
    travel: pd.DataFrame,
    allowed: np.ndarray,
    usable_site: np.ndarray,
    max_ch: np.ndarray,
    max_sites_per_demand: int | None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The demand-site pairs within reach that can serve the row (nearest first per row), and the
    ``x`` columns: (pairs table, demand row, site, type and travel time [s] of each ``x``)."""
    types = list(charger_types.index)
    p_dem = id_positions(travel["demand_id"], demand.index, "demand_id")
    p_site = id_positions(travel["site_id"], candidates.index, "site_id")
    p_time = travel["travel_time_s"].to_numpy(dtype=float)
    ok = (p_dem >= 0) & (p_site >= 0)
    p_dem, p_site, p_time = p_dem[ok], p_site[ok], p_time[ok]
    order = np.lexsort((p_site, p_time, p_dem))  # by demand row, nearest site first
    p_dem, p_site, p_time = p_dem[order], p_site[order], p_time[order]
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
    return pairs, x_dem, x_site, x_type, x_time


def define_objective(cols: Columns, d: np.ndarray, eps: float, fixed_eff: np.ndarray, capex: np.ndarray,
                     band: SiteBands, r_cost: np.ndarray | None = None) -> np.ndarray:
    """Objective coefficients: ``max sum_ijt d_i x_ijt - eps * sum_k spend_k``.

    ``spend_k = sum_j f'_j y_jk + sum_jt c_t n_jtk + sum_jb (C_b - C_b-1) u_jbk`` with ``f'_j`` the
    site's fixed cost and lowest unpaid band; ``eps`` makes the cheaper (and later) of two plans that
    serve the same energy win.
    """
    c = np.zeros(cols.n_var)
    c[cols.x0:cols.r0] = d[cols.x_dem]
    for k in range(cols.n_years):
        c[cols.ycol(np.arange(cols.n_site), k)] = -eps * fixed_eff
        c[cols.ncol(np.arange(cols.n_pairs), k)] = -eps * capex[cols.c_type]
        c[cols.ucol(np.arange(cols.n_up), k)] = -eps * band.up_cost
        if cols.n_r:
            c[cols.rcol(np.arange(cols.n_r), k)] = -eps * np.asarray(r_cost, dtype=float)
    return c


def define_assignment_rows(R: Rows, cols: Columns, n_dem: int) -> None:
    """Each demand row is served at most once: ``sum_jt x_ijt <= 1`` for every row ``i``."""
    R.add(cols.x_dem, cols.xs, np.ones(cols.n_x))
    R.close(np.full(n_dem, -np.inf), np.ones(n_dem))


def define_capacity_rows(R: Rows, cols: Columns, d: np.ndarray, cap: np.ndarray) -> None:
    """Charger capacity per (site, type) and year: ``sum_{i in k} d_i x_ijt - cap_t n_jtk <= 0`` [kWh/day].

    ``cap_t`` = power x service hours of one charger of type ``t`` [kWh/day].
    """
    n_years, n_pairs = cols.n_years, cols.n_pairs
    R.add(cols.pair_x * n_years + cols.k_x, cols.xs, d[cols.x_dem])
    all_nk = np.arange(n_pairs * n_years)
    R.add(all_nk, cols.n0 + all_nk, -np.repeat(cap[cols.c_type], n_years))
    R.close(np.full(n_pairs * n_years, -np.inf), np.zeros(n_pairs * n_years))


def define_installed_rows(R: Rows, cols: Columns) -> None:
    """A row is served by a (site, type) only where that type is installed: ``x_ijt - n_jtk(i) <= 0``.

    Valid because ``n`` is integer; like the variable upper bounds of facility location it makes
    the LP relaxation much tighter than the aggregated capacity rows alone.
    """
    n_x = cols.n_x
    vub = np.arange(n_x)
    R.add(vub, cols.xs, np.ones(n_x))
    R.add(vub, cols.ncol(cols.pair_x, cols.k_x), -np.ones(n_x))
    R.close(np.full(n_x, -np.inf), np.zeros(n_x))


def define_site_max_rows(R: Rows, cols: Columns, max_ch: np.ndarray) -> None:
    """Per-site maximum per year, linking chargers to the open site: ``sum_t n_jtk - max_j y_jk <= 0``."""
    n_years, n_site, n_pairs = cols.n_years, cols.n_site, cols.n_pairs
    for k in range(n_years):
        R.add(cols.c_site * n_years + k, cols.ncol(np.arange(n_pairs), k), np.ones(n_pairs))
    all_yk = np.arange(n_site * n_years)
    R.add(all_yk, cols.y0 + all_yk, -np.repeat(max_ch, n_years))
    R.close(np.full(n_site * n_years, -np.inf), np.zeros(n_site * n_years))


def define_rollout_rows(R: Rows, cols: Columns) -> None:
    """Monotone rollout over the years (only with more than one year).

    Sites stay open ``y_jk - y_j,k-1 >= 0``, chargers only grow ``n_jtk - n_jt,k-1 >= 0`` and a
    connection is never downgraded ``u_jbk - u_jb,k-1 >= 0``.
    """
    n_years, n_site, n_pairs, n_up = cols.n_years, cols.n_site, cols.n_pairs, cols.n_up
    if n_years <= 1:
        return
    jj = np.repeat(np.arange(n_site), n_years - 1)
    kk = np.tile(np.arange(1, n_years), n_site)
    rr = np.arange(len(jj))
    R.add(rr, cols.ycol(jj, kk), np.ones(len(jj)))
    R.add(rr, cols.ycol(jj, kk - 1), -np.ones(len(jj)))
    R.close(np.zeros(len(jj)), np.full(len(jj), np.inf))
    cc = np.repeat(np.arange(n_pairs), n_years - 1)
    kk = np.tile(np.arange(1, n_years), n_pairs)
    rr = np.arange(len(cc))
    R.add(rr, cols.ncol(cc, kk), np.ones(len(cc)))
    R.add(rr, cols.ncol(cc, kk - 1), -np.ones(len(cc)))
    R.close(np.zeros(len(cc)), np.full(len(cc), np.inf))
    if n_up:  # a connection is never downgraded
        ii = np.repeat(np.arange(n_up), n_years - 1)
        kk = np.tile(np.arange(1, n_years), n_up)
        rr = np.arange(len(ii))
        R.add(rr, cols.ucol(ii, kk), np.ones(len(ii)))
        R.add(rr, cols.ucol(ii, kk - 1), -np.ones(len(ii)))
        R.close(np.zeros(len(ii)), np.full(len(ii), np.inf))


def define_band_rows(R: Rows, cols: Columns, band: SiteBands, power: np.ndarray, max_ch: np.ndarray) -> None:
    """Connection band of each site and year (only where a site has upgrade columns ``u``).

    Exactly one band per open site, written as "at least band b" binaries
    ``u_jbk <= u_j(b-1)k <= ... <= y_jk`` (band ``b`` is ``u_jb - u_j(b+1)``); the installed power
    fits the band ``sum_t p_t n_jtk <= U_0 y_jk + sum_b (U_b - U_b-1) u_jbk`` [kW]; and the same
    limit per charger type in whole chargers (valid as ``n`` is integer, and tighter in the
    relaxation): ``n_jtk <= m_0t y_jk + sum_b (m_bt - m_(b-1)t) u_jbk``, ``m_bt = floor(U_b / p_t)``.
    """
    n_years, n_site, n_up = cols.n_years, cols.n_site, cols.n_up
    c_site, c_type = cols.c_site, cols.c_type
    ucol, ycol, ncol = cols.ucol, cols.ycol, cols.ncol
    up_site, up_band = band.up_site, band.up_band
    if not n_up:
        return
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
    # the same limit per charger type in whole chargers
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


def define_budget_rows(R: Rows, cols: Columns, years: list[int], budgets: Mapping[int, float], carry_over: bool,
                       fixed_eff: np.ndarray, capex: np.ndarray, band: SiteBands,
                       existing_cost: float, r_cost: np.ndarray | None = None) -> tuple[int, int]:
    """Budget per year [USD], one row per year; returns the rows' (first, end) numbers.

    ``spend_k = sum_j f'_j y_jk + sum_jt c_t n_jtk + sum_jb (C_b - C_b-1) u_jbk`` (existing chargers
    included at their capex, added to the right-hand side). With carry-over
    ``spend_k <= sum_{k' <= k} B_k' + existing``; without, ``spend_0 <= B_0 + existing`` and
    ``spend_k - spend_k-1 <= B_k``. Grid reinforcement (``r``) is paid from the same budget.
    """
    n_r = cols.n_r
    rc = np.asarray(r_cost if r_cost is not None else np.zeros(0), dtype=float)
    n_years, n_site, n_pairs, n_up = cols.n_years, cols.n_site, cols.n_pairs, cols.n_up
    ycol, ncol, ucol, c_type = cols.ycol, cols.ncol, cols.ucol, cols.c_type
    cum_budget = np.cumsum([budgets[y] for y in years])
    for k in range(n_years):
        R.add(np.zeros(n_site), ycol(np.arange(n_site), k), fixed_eff)
        R.add(np.zeros(n_pairs), ncol(np.arange(n_pairs), k), capex[c_type])
        R.add(np.zeros(n_up), ucol(np.arange(n_up), k), band.up_cost)
        if n_r:
            R.add(np.zeros(n_r), cols.rcol(np.arange(n_r), k), rc)
        if carry_over or k == 0:
            R.close(np.array([-np.inf]), np.array([float(cum_budget[k] if carry_over else budgets[years[0]]) + existing_cost]))
        else:
            R.add(np.zeros(n_site), ycol(np.arange(n_site), k - 1), -fixed_eff)
            R.add(np.zeros(n_pairs), ncol(np.arange(n_pairs), k - 1), -capex[c_type])
            R.add(np.zeros(n_up), ucol(np.arange(n_up), k - 1), -band.up_cost)
            if n_r:
                R.add(np.zeros(n_r), cols.rcol(np.arange(n_r), k - 1), -rc)
            R.close(np.array([-np.inf]), np.array([float(budgets[years[k]])]))
    return (R.n - n_years, R.n)


def define_equity_rows(R: Rows, cols: Columns, demand: pd.DataFrame, equity_column: str, equity_floor: float,
                       d: np.ndarray, dem_k: np.ndarray, years: list[int]) -> tuple[int, int, list[str]]:
    """Equity floor per group and year: ``sum_{i in g, k} d_i x_ijt >= floor * D_gk``.

    ``D_gk`` is the demand of group ``g`` (``equity_column``) in year ``k`` [kWh/day]; one row per
    group and year with demand. Returns the rows' (first, end) numbers and names; raises
    InfeasibleError when a group's demand within reach of any candidate is below the floor.
    """
    n_years = cols.n_years
    x_dem = cols.x_dem
    grp = demand[equity_column].astype(str).to_numpy()
    codes, uniq = pd.factorize(pd.Series(grp), sort=True)
    n_g = len(uniq)
    key_row = codes * n_years + dem_k
    dem_gk = np.bincount(key_row, weights=d, minlength=n_g * n_years)
    present = np.flatnonzero(dem_gk > 0)
    row_of_key = -np.ones(n_g * n_years, dtype=np.int64)
    row_of_key[present] = np.arange(len(present))
    R.add(row_of_key[key_row[x_dem]], cols.xs, d[x_dem])
    start, end = R.close(equity_floor * dem_gk[present], np.full(len(present), np.inf))
    group_names = [f"group {uniq[key // n_years]!r} in {_year_label(years[key % n_years])}" for key in present]
    _check_reachable_groups(demand, equity_column, x_dem, d, dem_k, years, equity_floor)
    return (start, end, group_names)


def define_target_rows(R: Rows, cols: Columns, demand: pd.DataFrame, min_served_share: float, d: np.ndarray,
                       dem_k: np.ndarray, years: list[int]) -> tuple[int, int, list[str]]:
    """Served-share target per year: ``sum_{i in k} d_i x_ijt >= target * D_k``.

    Returns the rows' (first, end) numbers and names; raises InfeasibleError when the demand within
    reach of any candidate is below the target.
    """
    n_years, x_dem = cols.n_years, cols.x_dem
    dem_year = np.bincount(dem_k, weights=d, minlength=n_years)
    R.add(cols.k_x, cols.xs, d[x_dem])
    start, end = R.close(min_served_share * dem_year, np.full(n_years, np.inf))
    _check_reachable_target(demand, x_dem, d, dem_k, years, min_served_share)
    return (start, end, [_year_label(y) for y in years])


def define_reinforcement_rows(R: Rows, cols: Columns, reinforcements: pd.DataFrame) -> None:
    """Reinforcement options: at most one option per group in any year, ``sum_{o in h} r_ok <= 1``, and
    what is built stays built, ``r_ok - r_o,k-1 >= 0``."""
    n_r, n_years = cols.n_r, cols.n_years
    if not n_r:
        return
    codes = pd.factorize(reinforcements["group_id"])[0]
    n_g = int(codes.max()) + 1
    for k in range(n_years):
        R.add(codes, cols.rcol(np.arange(n_r), k), np.ones(n_r))
        R.close(np.full(n_g, -np.inf), np.ones(n_g))
    if n_years > 1:
        oo = np.repeat(np.arange(n_r), n_years - 1)
        kk = np.tile(np.arange(1, n_years), n_r)
        rr = np.arange(len(oo))
        R.add(rr, cols.rcol(oo, kk), np.ones(len(oo)))
        R.add(rr, cols.rcol(oo, kk - 1), -np.ones(len(oo)))
        R.close(np.zeros(len(oo)), np.full(len(oo), np.inf))


def define_column_bounds(cols: Columns, max_ch: np.ndarray, ex_cols: np.ndarray, has_existing: np.ndarray,
                         excluded: np.ndarray, band: SiteBands) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column bounds and integrality: ``x in [0, 1]``, ``e_jt <= n_jtk <= max_j`` integer, ``y``, ``u`` binary.

    ``y_jk = 1`` where chargers exist; excluded sites never open (``y = 0``) and their existing
    chargers stay but do not grow; the bands of existing chargers are paid and kept (``u = 1``).
    Returns (lower, upper, integer).
    """
    c_site, up_site, up_band = cols.c_site, band.up_site, band.up_band
    col_lower = np.zeros(cols.n_var)
    col_upper = np.ones(cols.n_var)
    for k in range(cols.n_years):
        col_upper[cols.ncol(np.arange(cols.n_pairs), k)] = max_ch[c_site]
        col_lower[cols.ncol(np.arange(cols.n_pairs), k)] = ex_cols
        col_lower[cols.ycol(np.flatnonzero(has_existing), k)] = 1.0
        # excluded sites never open; their existing chargers stay but do not grow
        col_upper[cols.ycol(np.flatnonzero(excluded & ~has_existing), k)] = 0.0
        ex_pairs = np.flatnonzero(excluded[c_site] & has_existing[c_site])
        col_upper[cols.ncol(ex_pairs, k)] = ex_cols[ex_pairs]
        # the bands of existing chargers are paid and kept
        col_lower[cols.ucol(np.flatnonzero(has_existing[up_site] & (up_band <= band.paid[up_site])), k)] = 1.0
    integer = np.zeros(cols.n_var, dtype=bool)
    integer[:cols.x0] = True
    integer[cols.r0:] = True  # reinforcement options are built or not
    return col_lower, col_upper, integer


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


def define_headroom_rows(R: Rows, cols: Columns, headroom: pd.Series | pd.DataFrame, site_groups: pd.Series | None,
                         candidates: pd.DataFrame, years: list[int], power: np.ndarray, coincidence: float,
                         existing: np.ndarray, reinforcements: pd.DataFrame | None = None,
                         ) -> tuple[int, int, list[str]]:
    """Grid headroom per group (and year) [kW]: ``sum_{j in h, t} coinc * p_t n_jtk - sum_o A_o r_ok <= H_h``.

    ``reinforcements`` (one row per option, position = its ``r`` column): ``group_id`` and ``added_kw``
    [kW]; an option built by year k adds its kW to its group's headroom from then on.

    ``headroom`` is a Series ``group_id -> headroom_kw`` or a table with columns ``group_id``,
    ``headroom_kw`` and optionally ``year`` (a row without a year limits every year);
    ``site_groups`` maps ``site_id -> group_id``. Returns the rows' (first, end) numbers and names;
    raises InfeasibleError when the existing chargers of a group already exceed its headroom.
    """
    c_site, c_type, ncol = cols.c_site, cols.c_type, cols.ncol
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
    r_group = reinforcements["group_id"].to_numpy() if reinforcements is not None else np.zeros(0, dtype=object)
    r_kw = reinforcements["added_kw"].to_numpy(float) if reinforcements is not None else np.zeros(0)
    for _, row in table.iterrows():
        g = row["group_id"]
        ks = range(n_years) if "year" not in table.columns or pd.isna(row.get("year")) else (
            [years.index(int(row["year"]))] if int(row["year"]) in years else [])
        members = np.flatnonzero((grp_of_site == g).to_numpy())
        ex_kw = float(kw_site_ex[members].sum())
        opts = np.flatnonzero(r_group == g)
        if ex_kw > float(row["headroom_kw"]) + float(r_kw[opts].max(initial=0.0)) + 1e-9:
            raise InfeasibleError(
                f"grid headroom of group {g!r} ({float(row['headroom_kw']):.0f} kW) is below the {ex_kw:.0f} kW of "
                "existing chargers there; raise its headroom_kw"
            )
        sel = np.flatnonzero(np.isin(c_site, members))
        for k in ks:
            R.add(np.full(len(sel), r), ncol(sel, k), coincidence * power[c_type[sel]])
            if len(opts):
                R.add(np.full(len(opts), r), cols.rcol(opts, k), -r_kw[opts])
            lo.append(-np.inf)
            hi.append(float(row["headroom_kw"]))
            names.append(f"grid group {g!r} in {_year_label(years[k])}")
            r += 1
    R.close(np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    return start, R.n, names
