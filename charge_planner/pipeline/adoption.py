"""How much EV the grid can host: the adoption level at which the first new violation appears.

Every EV load of a plan (the sites' served energy with their installed power, so that each
site's daily profile keeps its shape) is scaled by one adoption factor ``a``: 0 is no EV,
1 is the plan's EV energy of the plan year. The grid check of the grid stage (the same grid
model, the same base load, on-site PV, profiles and limits, the batched AC load flow) is run
at a grid of factors, and the first crossing of every limit is refined by bracketing
(regula falsi with bisection steps) on the batched load flow. Violations already present
at ``a = 0`` (the base load alone) do not count; they are reported apart.

The result, :class:`HostingLevel`, gives the city-wide factor (the smallest ``a`` at which
any element of the grid gets a new violation, or the load flow fails) and, per distribution
transformer (DT), the smallest ``a`` at which its transformer overloads, one of its LV lines
overloads or one of its LV buses leaves the voltage band. The adoption path (EV energy of
the grid's EV use cases by year from the demand stage, 1 in the plan year) turns each factor
into the year it is reached.

The EV load is linear in ``a``, so every trial factor and step is one column of a batched load
flow; the blockwise search over the grid of factors and its refinement within a column budget live in
:mod:`charge_planner.pipeline.hosting_search`. On a metro grid with thousands of limited DTs the later
ones keep the linear crossing within the grid of factors, and the result says how many
(``dts_not_refined``, the table's ``refined`` column, an assumption line).
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from charge_planner.city import City
from charge_planner.config import CityConfig
from charge_planner.errors import DataError
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.model import GridModel
from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.grid.timeseries import base_load_profile
from charge_planner.pipeline import hosting_search
from charge_planner.pipeline.hosting_search import (
    TOLERANCE,
    HostingCheck,
    HostingSeries,
    dt_of_buses,
    grid_dts,
    island_series,
    search_crossings,
    search_steps,
)
from charge_planner.pipeline.result import Plan
from charge_planner.pipeline.stages import grid_stage

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_FACTORS",
    "HostingLevel",
    "LimitKey",
    "adoption_path",
    "ev_hosting_level",
    "grid_hosting_level",
    "hosting_frame",
    "hosting_level_of",
    "hosting_summary",
    "limit_key",
    "plan_hosting_level",
    "scaled_loads",
    "violated_at_plan",
    "year_reached",
]

#: Adoption factors the search starts from [-] (1 = the plan's EV energy of the plan year).
DEFAULT_FACTORS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 2.5,
                                      3.0, 4.0, 5.0)

#: Use cases behind each kind of EV load on the grid (``grid.ev_loads``); "public" is the sited ones.
_EV_LOAD_USE_CASES = {"home": ("home",), "depot": ("depot",)}

_KIND_TEXT = {
    "overload": "overload",
    "undervoltage": "undervoltage",
    "overvoltage": "overvoltage",
    "not_converged": "load flow fails",
}


def scaled_loads(loads: GridLoads, factor: float) -> GridLoads:
    """``loads`` with every EV load scaled by ``factor``: the sites' ``served_kwh_day`` and
    ``power_kw`` (so that each site's daily profile and its cap keep their shape) and the home and
    depot loads' ``kwh_day`` and ``peak_kw``; the base load is kept."""
    if not math.isfinite(factor) or factor < 0:
        raise DataError(f"adoption factor {factor} must be a finite number >= 0")
    sites = loads.sites.copy()
    sites["served_kwh_day"] = sites["served_kwh_day"].astype(float) * factor
    sites["power_kw"] = sites["power_kw"].astype(float) * factor
    out = replace(loads, sites=sites)
    if len(loads.other):  # home and depot charging
        other = loads.other.copy()
        other["kwh_day"] = other["kwh_day"].astype(float) * factor
        other["peak_kw"] = other["peak_kw"].astype(float) * factor
        out = replace(out, other=other)
    return out


# ------------------------------------------------------------------------------------- adoption path


def adoption_path(energy: pd.DataFrame, plan_year: int, *, use_cases: list[str] | tuple[str, ...] | None = None,
                  ) -> pd.Series:
    """EV energy by year relative to the plan year.

    Parameters
    ----------
    energy
        The demand stage's city totals (``DemandResult.energy``): ``energy_kwh_day`` [kWh/day]
        indexed by (``segment``, ``year``, ``use_case``).
    plan_year
        The year whose EV energy is 1 [-].
    use_cases
        Use cases counted (default: all).

    Returns
    -------
    pandas.Series
        Normalised EV energy [-] indexed by year, ascending.
    """
    frame = energy.reset_index()
    if use_cases is not None:
        frame = frame[frame["use_case"].astype(str).isin(list(use_cases))]
    by_year = frame.groupby("year")["energy_kwh_day"].sum().sort_index()
    if plan_year not in by_year.index or not by_year.loc[plan_year] > 0:
        raise DataError(f"the adoption path has no EV energy in the plan year {plan_year} "
                        f"(use cases {list(use_cases) if use_cases is not None else 'all'}); check fleet.year")
    out = by_year / by_year.loc[plan_year]
    out.index = out.index.astype(int)
    out.name = "ev_energy_relative"
    return out


def year_reached(factor: float | None, path: pd.Series) -> float | None:
    """The (fractional) year in which the normalised EV energy of ``path`` first reaches ``factor``.

    Linear within a year step; the first year of the path when it is reached already then;
    None when the path never reaches it (beyond its last year) or ``factor`` is None.
    """
    if factor is None or not math.isfinite(factor):
        return None
    years = path.index.to_numpy(float)
    values = path.to_numpy(float)
    hit = np.flatnonzero(values >= factor - 1e-12)
    if not len(hit):
        return None
    i = int(hit[0])
    if i == 0:
        return float(years[0])
    v0, v1 = values[i - 1], values[i]
    return float(years[i - 1] + (factor - v0) / (v1 - v0) * (years[i] - years[i - 1]))


def _year_label(year: float | None, horizon: int) -> str:
    """The first whole year of the path that reaches the level (the fractional year rounded up)."""
    return f"beyond {horizon}" if year is None else str(math.ceil(round(year, 6)))


@dataclass
class HostingLevel:
    """How much EV the grid can host.

    Attributes
    ----------
    city_factor
        Smallest adoption factor with a new violation anywhere in the grid [-] (1 = the plan's EV
        energy of the plan year); None when none appears up to ``max_factor``.
    city_year
        Year the adoption path reaches ``city_factor`` (fractional), None when beyond the path.
    first_limit
        The element that limits first: ``element``, ``id``, ``kind``, ``dt`` (None without one).
    table
        One row per DT (index ``dt``, the trafo index): ``name``, ``factor`` [-], ``refined`` (the
        crossing refined to :data:`~charge_planner.pipeline.hosting_search.TOLERANCE`, False when the
        column budget ran out first), ``year``,
        ``limit`` (what fails first, in words), ``element``, ``element_id``, ``kind``,
        ``already`` (violations of the DT at a = 0, in words), ``x_m``, ``y_m`` (its LV bus,
        projected CRS).
    already_violated
        Limits violated with no EV at all (``element``, ``id``, ``kind``, ``dt``).
    path
        EV energy by year relative to the plan year.
    plan_year, horizon
        The plan year and the path's last year.
    max_factor
        Highest factor examined [-].
    crs
        CRS of ``x_m``, ``y_m``.
    dts_not_refined
        DTs whose crossing the refinement did not reach within its column budget
        (:data:`~charge_planner.pipeline.hosting_search.MAX_REFINE_COLUMNS`): their ``factor`` is the
        linear crossing within a wider bracket (``refined`` False in ``table``); 0 when every crossing
        is refined to :data:`~charge_planner.pipeline.hosting_search.TOLERANCE`.
    """

    city_factor: float | None
    city_year: float | None
    first_limit: dict[str, Any] | None
    table: pd.DataFrame
    already_violated: pd.DataFrame
    path: pd.Series
    plan_year: int
    horizon: int
    max_factor: float
    crs: Any = None
    assumptions: list[str] = field(default_factory=list)
    dts_not_refined: int = 0

    def year_label(self, year: float | None) -> str:
        """The first whole year of the path that reaches a level of fractional ``year``, or "beyond <horizon>"."""
        return _year_label(year, self.horizon)

    @property
    def city_year_label(self) -> str:
        """The first year of the path whose EV energy reaches ``city_factor``, or "beyond <horizon>"."""
        return _year_label(self.city_year, self.horizon)

    def dts_limited_by_year(self) -> dict[str, int]:
        """Number of DTs whose first violation is reached by the end of each year of the path."""
        years = self.table["year"].to_numpy(float)
        return {str(int(y)): int(np.sum(np.nan_to_num(years, nan=np.inf) <= y + 1e-9)) for y in self.path.index}

    def first_limit_holds_at(self, at_plan: set[LimitKey]) -> bool:
        """The first limit, met below the planned EV load, is not among ``at_plan`` (the limits the plan's own
        grid check reports): it holds again at the planned load (tap changers move in steps, so voltages are not
        monotone in the load)."""
        first = self.first_limit or {}
        key = limit_key(first.get("element"), first.get("id"), first.get("kind"))
        return self.city_factor is not None and self.city_factor < 1.0 and key is not None and key not in at_plan

    def already_holding_at(self, at_plan: set[LimitKey]) -> list[LimitKey]:
        """The limits broken with no EV at all that the plan's own grid check (``at_plan``) does not report."""
        a = self.already_violated
        keys = [limit_key(e, i, k) for e, i, k in zip(a["element"], a["id"], a["kind"], strict=True)]
        return [k for k in keys if k is not None and k not in at_plan]

    def summary(self, at_plan: set[LimitKey] | None = None) -> dict[str, Any]:
        """``grid.ev_hosting`` of summary.json; with ``at_plan`` (the limits the plan's own grid check reports,
        :func:`violated_at_plan`), whether the first limit and the base-load limits hold at the planned load."""
        already = self.already_violated
        out = {
            "city_factor": None if self.city_factor is None else round(self.city_factor, 4),
            "city_year": None if self.city_year is None else round(self.city_year, 2),
            "city_year_label": self.city_year_label,
            "first_limit": self.first_limit,
            "max_factor": self.max_factor,
            "plan_year": self.plan_year,
            "horizon": self.horizon,
            "n_dts": int(len(self.table)),
            "dts_limited_up_to_max_factor": int(self.table["factor"].notna().sum()),
            "dts_limited_by_year": self.dts_limited_by_year(),
            "dts_not_refined": int(self.dts_not_refined),
            "already_violated": {
                "count": int(len(already)),
                "by_kind": {f"{e} {k}": int(n) for (e, k), n in already.groupby(["element", "kind"]).size().items()},
            },
        }
        if at_plan is not None:
            out["first_limit_holds_at_plan"] = self.first_limit_holds_at(at_plan)
            out["already_violated"]["holding_at_plan"] = len(self.already_holding_at(at_plan))
        return out


#: a limit: (element, id, kind), as in the violation tables
LimitKey = tuple[str, int, str]


def limit_key(element: Any, element_id: Any, kind: Any) -> LimitKey | None:
    """A limit's (element, id, kind), None without an id (the whole grid)."""
    try:
        return str(element), int(element_id), str(kind)
    except (TypeError, ValueError):
        return None


def violated_at_plan(plan: Plan) -> set[LimitKey]:
    """The limits the plan's own grid check reports violated (any step of any checked year's final series)."""
    if plan.grid_results is None:
        return set()
    v = plan.grid_results.violations
    return {k for k in (limit_key(e, i, kd) for e, i, kd in zip(v["element"], v["id"], v["kind"], strict=True))
            if k is not None}


def _limit_text(element: str, element_id: Any, kind: str) -> str:
    if kind == "not_converged":
        return "load flow fails"
    return f"{element} {element_id} {_KIND_TEXT.get(kind, kind)}"


def _search_islands(net: pandapowerNet, series: HostingSeries, model: BatchPowerFlow, steps: np.ndarray,
                    factors: np.ndarray, dt_ids: np.ndarray,
                    ) -> tuple[HostingCheck, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The search on a grid of islands joined by no branch (:meth:`BatchPowerFlow.islands`): every EV load
    scaled by one factor changes each island by its own loads only, so each island is searched as a grid of
    its own and the city's level is the lowest of the islands'. The refinement's column budget is shared
    between the islands in proportion to their DTs. Returns a check whose table joins the islands' limits
    (the result's ``limit_pos`` point into it), the result, the limits violated with no EV, and the counts.
    ``dt_ids`` are the grid's DTs: one in no island (out of service) is listed with no level, as the whole grid's
    search lists it."""
    islands = model.islands()
    assert islands is not None
    checks = [HostingCheck(net, island_series(series, isl.model, isl.taps), isl.model) for isl in islands]
    n_dt = max(1, sum(len(c.dt_ids) for c in checks))
    budget = hosting_search.MAX_REFINE_COLUMNS
    rows, tables, already, offset = [], [], [], 0
    city: pd.Series | None = None
    info: dict[str, Any] = {"columns_solved": 0, "unrefined": 0, "refine_columns": 0, "max_columns": budget,
                            "tap_days_solved": 0, "tap_paths_predicted": 0}
    for chk in checks:
        share = max(1, round(budget * len(chk.dt_ids) / n_dt))
        res, pre, counts = search_crossings(chk, steps, factors, max_columns=share)
        res = res.copy()
        res["limit_pos"] = np.where(res["limit_pos"] >= 0, res["limit_pos"] + offset, -1)
        offset += len(chk.table)
        tables.append(chk.table)
        already.append(pre)
        first = res.iloc[0]
        if np.isfinite(first["factor"]) and (city is None or not np.isfinite(city["factor"])
                                             or first["factor"] < city["factor"]):
            city = first
        elif city is None:
            city = first
        rows.append(res.iloc[1:])
        for key in ("columns_solved", "unrefined", "refine_columns", "tap_paths_predicted"):
            info[key] += counts[key]
        info["tap_days_solved"] = max(info["tap_days_solved"], counts["tap_days_solved"])
    assert city is not None
    found = np.concatenate([c.dt_ids for c in checks])
    missing = np.setdiff1d(dt_ids, found)
    if len(missing):
        rows.append(pd.DataFrame({"target": missing, "factor": np.nan, "limit_pos": -1, "fails": False,
                                  "refined": True}))
    result = pd.concat([city.to_frame().T, *rows], ignore_index=True).astype(
        {"target": int, "factor": float, "limit_pos": int, "fails": bool, "refined": bool})
    # the joined check speaks for the grid's tap changers (the report's note): one of an island that has them
    joined = next((c for c in checks if c.model.taps is not None), checks[0])
    joined.table = pd.concat(tables, ignore_index=True)
    joined.dt_ids = np.sort(np.concatenate([found, missing]))
    joined.model = model
    log.info("EV hosting level: %d islands searched on their own (the city's level is the lowest of theirs)",
             len(islands))
    return joined, result, pd.concat(already, ignore_index=True), info


def _dt_table(net: pandapowerNet, check: HostingCheck, result: pd.DataFrame, already: pd.DataFrame,
              path: pd.Series) -> pd.DataFrame:
    table = check.table
    rows = result[result["target"] >= 0].set_index("target")
    dts = check.dt_ids
    lv_bus = net.trafo.loc[dts, "lv_bus"].to_numpy()
    x = net.bus["x_m"].reindex(lv_bus).to_numpy(float) if "x_m" in net.bus.columns else np.full(len(dts), np.nan)
    y = net.bus["y_m"].reindex(lv_bus).to_numpy(float) if "y_m" in net.bus.columns else np.full(len(dts), np.nan)
    out = pd.DataFrame(index=pd.Index(dts, name="dt"))
    out["name"] = net.trafo.loc[dts, "name"].astype(str).to_numpy() if "name" in net.trafo.columns else ""
    out["factor"] = rows["factor"].reindex(dts).to_numpy(float)
    out["refined"] = rows["refined"].reindex(dts).fillna(True).astype(bool).to_numpy()
    out["year"] = [year_reached(f, path) if np.isfinite(f) else None for f in out["factor"]]
    out["year"] = out["year"].astype(float)
    found: list[tuple[str, int, str, str]] = []  # element, id, kind, limit in words
    for d in dts:
        pos = int(rows.loc[d, "limit_pos"])
        if rows.loc[d, "fails"]:
            found.append(("grid", -1, "not_converged", "load flow fails"))
        elif pos >= 0:
            r = table.iloc[pos]
            found.append((str(r["element"]), int(r["id"]), str(r["kind"]),
                          _limit_text(r["element"], int(r["id"]), r["kind"])))
        else:
            found.append(("", -1, "", ""))
    out["limit"] = [f[3] for f in found]
    out["element"] = [f[0] for f in found]
    out["element_id"] = np.array([f[1] for f in found], dtype=int)
    out["kind"] = [f[2] for f in found]
    pre = already[already["dt"] >= 0]
    text = pre.groupby("dt").apply(
        lambda f: "; ".join(_limit_text(e, i, k) for e, i, k in zip(f["element"], f["id"], f["kind"], strict=True)),
        include_groups=False) if len(pre) else pd.Series(dtype=str)
    out["already"] = text.reindex(dts).fillna("").to_numpy() if len(pre) else ""
    out["x_m"] = x
    out["y_m"] = y
    return out


def grid_hosting_level(
    net: pandapowerNet,
    ev_kw: pd.DataFrame,
    *,
    base_load_factor: np.ndarray,
    path: pd.Series,
    plan_year: int,
    pv_kw: pd.DataFrame | None = None,
    vm_min_pu: float = 0.95,
    vm_max_pu: float = 1.05,
    max_loading_percent: float = 100.0,
    ev_power_factor: float = 1.0,
    factors: tuple[float, ...] | np.ndarray = DEFAULT_FACTORS,
    crs: Any = None,
    tap_path: np.ndarray | None = None,
) -> HostingLevel:
    """The hosting level of a grid for an EV load series scaled by one factor.

    Parameters
    ----------
    net
        The pandapower net (not modified).
    ev_kw
        EV load per step and bus at ``a = 1`` (steps x bus ids, DatetimeIndex) [kW].
    base_load_factor
        Factor on every base load per step [-].
    path
        EV energy by year relative to the plan year (:func:`adoption_path`).
    plan_year
        The year of ``a = 1``.
    pv_kw
        On-site PV per step and bus [kW], kept at every factor.
    vm_min_pu, vm_max_pu, max_loading_percent
        Limits [pu], [pu], [%].
    ev_power_factor
        Power factor of the EV load [-].
    factors
        Adoption factors the search starts from [-], with 0.
    crs
        CRS of the bus coordinates ``x_m``, ``y_m``.
    tap_path
        On an axis longer than a day: the tap changers' position at the end of every step of the time
        series at ``a = 1`` (changers x steps, e.g. ``run_time_series(...).batch.tap_pos.T``); every searched
        step starts where the step before it ended there (default: from the net's positions). A day (up to
        96 steps) is solved whole at every factor, its taps carried, and needs none.
    """
    index = pd.DatetimeIndex(ev_kw.index)
    series = HostingSeries(index=index, base_load_factor=np.asarray(base_load_factor, float), ev_kw=ev_kw,
                     pv_kw=pv_kw if pv_kw is not None else pd.DataFrame(index=index), vm_min_pu=vm_min_pu,
                     vm_max_pu=vm_max_pu, max_loading_percent=max_loading_percent, ev_power_factor=ev_power_factor,
                     tap_path=tap_path)
    return _evaluate(net, series, path, plan_year, factors, crs)


def _evaluate(net: pandapowerNet, series: HostingSeries, path: pd.Series, plan_year: int,
              factors: tuple[float, ...] | np.ndarray, crs: Any) -> HostingLevel:
    f = np.unique(np.asarray(factors, float))
    if not len(f) or f[0] != 0.0 or (f < 0).any() or not np.isfinite(f).all():
        raise DataError(f"hosting factors {list(factors)} must be finite, >= 0 and include 0 (no EV)")
    if len(f) < 2:
        raise DataError("hosting factors need at least one factor above 0")
    model = BatchPowerFlow.from_net(net)
    steps = search_steps(series)
    if model.islands() is None:
        check = HostingCheck(net, series, model)
        result, already, info = search_crossings(check, steps, f)
    else:
        check, result, already, info = _search_islands(net, series, model, steps, f,
                                                       grid_dts(dt_of_buses(net), model))
    city = result.iloc[0]
    city_factor = float(city["factor"]) if np.isfinite(city["factor"]) else None
    first_limit: dict[str, Any] | None = None
    if city_factor is not None:
        if city["fails"]:
            first_limit = {"element": "grid", "id": None, "kind": "not_converged", "dt": None,
                           "text": "load flow fails"}
        elif city["limit_pos"] >= 0:
            r = check.table.iloc[int(city["limit_pos"])]
            first_limit = {"element": str(r["element"]), "id": int(r["id"]), "kind": str(r["kind"]),
                           "dt": int(r["dt"]) if r["dt"] >= 0 else None,
                           "text": _limit_text(r["element"], int(r["id"]), r["kind"])}
    table = _dt_table(net, check, result, already, path)
    n_unrefined = int((~table["refined"]).sum())
    notes = [
        "EV hosting level: every EV load (served energy and installed power of every site) scaled by one "
        "factor, base load and on-site PV kept; the adoption path is the EV energy of the grid's EV use cases "
        f"by year relative to {plan_year} (demand stage), linear within a year",
    ]
    if check.taps_mode is not None:
        text = ("EV hosting level: the on-load tap changers are carried from hour to hour as in the plan's time "
                f"series, the whole day solved at every factor of the grid and every trial of the city's factor "
                f"({info['tap_days_solved']} days)")
        if info["tap_paths_predicted"]:
            text += (f"; at {info['tap_paths_predicted']} trial factor(s) of DTs between two solved days whose tap "
                     "positions differ, the positions are predicted from those days' voltages")
        notes.append(text)
    elif check.year_taps is not None:
        notes.append("EV hosting level: every searched hour (the day of highest net load for each hour of the "
                     "day) starts the on-load tap changers where the plan's time series had them the hour before, "
                     "at the plan's EV load; at another EV level that hour may end one tap step apart, so a limit "
                     "within one tap step of its edge may show in the level and not in a time series at that level")
    elif check.model.taps is not None:
        notes.append("EV hosting level: every searched hour (the day of highest net load for each hour of the "
                     "day) starts the on-load tap changers from their stored position, while the plan's time series "
                     "carries them from hour to hour; a limit within one tap step of its edge may show in one and "
                     "not in the other")
    if n_unrefined:
        notes.append(
            f"EV hosting level: the crossing of {n_unrefined} of {int(table['factor'].notna().sum())} limited DTs "
            f"(the latest ones) is the linear crossing within the grid of factors, not refined to {TOLERANCE:.1%} "
            f"(the refinement's budget of {info['max_columns']:,} load-flow columns goes to the city and the "
            "earliest DTs); the table's 'refined' column marks them")
        log.warning(notes[-1])
    log.info("EV hosting level: city %s, %d of %d DTs limited up to %gx (%d load-flow columns)",
             "none" if city_factor is None else f"{city_factor:.3f}", int(table["factor"].notna().sum()),
             len(table), f[-1], info["columns_solved"])
    return HostingLevel(
        city_factor=city_factor, city_year=year_reached(city_factor, path), first_limit=first_limit,
        table=table, already_violated=already, path=path, plan_year=plan_year, horizon=int(path.index.max()),
        max_factor=float(f[-1]), crs=crs, dts_not_refined=n_unrefined,
        assumptions=notes,
    )


# ------------------------------------------------------------------------------------- entry points


def _path_use_cases(cfg: CityConfig) -> list[str]:
    out: list[str] = []
    for kind in cfg.grid.ev_loads:
        out += list(cfg.demand.sited_use_cases) if kind == "public" else list(_EV_LOAD_USE_CASES.get(kind, ()))
    return list(dict.fromkeys(out))


def _plan_year(cfg: CityConfig, loads: GridLoads, results: GridResults) -> int:
    """The year of ``a = 1``: the year the grid stage checked (a rollout year or the plan year)."""
    return int(results.year or loads.year or cfg.fleet.year)


def _series_from_results(city: City, results: GridResults, year: int) -> HostingSeries:
    """The series the grid stage ran: its EV and PV matrices and base-load factor, or the evening peak
    (its EV load per bus, the base load as given) as a one-step series."""
    cfg = city.config
    limits = {"vm_min_pu": cfg.grid.vm_min_pu, "vm_max_pu": cfg.grid.vm_max_pu,
              "max_loading_percent": cfg.grid.max_loading_percent}
    a = results.assessment
    if results.mode == "peak" or a is None:
        index = pd.DatetimeIndex([pd.Timestamp(f"{year}-{cfg.grid.design_day} 20:00")], name="time")
        ev = pd.Series(results.flow.ev_kw_by_bus, dtype=float)
        ev = ev[ev > 0]
        return HostingSeries(index=index, base_load_factor=np.ones(1),
                       ev_kw=pd.DataFrame([ev.to_numpy()], index=index, columns=ev.index),
                       pv_kw=pd.DataFrame(index=index), **limits)
    index = a.flow.index
    base = a.base_load_factor
    if base is None:  # an assessment made without it: the stage's shape of the plan year
        base = base_load_profile(index, residential_share=cfg.grid.residential_share)
    batch = a.flow.batch
    path = batch.tap_pos.T if batch is not None and batch.tap_pos is not None and len(index) > 96 else None
    return HostingSeries(index=index, base_load_factor=np.asarray(base, float), ev_kw=a.ev_kw, pv_kw=a.pv_kw,
                         tap_path=path, **limits)


def ev_hosting_level(
    city: City,
    loads: GridLoads,
    grid_model: GridModel,
    *,
    energy: pd.DataFrame,
    factors: tuple[float, ...] | np.ndarray = DEFAULT_FACTORS,
) -> HostingLevel:
    """The adoption level at which the grid gets its first new violation, city-wide and per DT.

    The grid stage is run once on ``loads`` (``a = 1``) with ``grid_model``, so that the search
    scales exactly the EV and PV series it puts on the grid.

    Parameters
    ----------
    city
        The city (its ``[grid]`` settings: time series, limits, PV, design day).
    loads
        The plan's grid loads (``a = 1``).
    grid_model
        The grid the plan was checked against.
    energy
        The demand stage's EV energy per (segment, year, use case) (``DemandResult.energy``).
    factors
        Adoption factors the search starts from [-], with 0; crossings between them are refined.

    Returns
    -------
    HostingLevel
    """
    cfg = city.config
    results = grid_stage(city, loads, grid_model)
    year = _plan_year(cfg, loads, results)
    series = _series_from_results(city, results, year)
    path = adoption_path(energy, year, use_cases=_path_use_cases(cfg))
    return _evaluate(results.model.net, series, path, year, factors, city.crs)


def hosting_level_of(plan: Plan, *, factors: tuple[float, ...] | np.ndarray = DEFAULT_FACTORS) -> HostingLevel:
    """:func:`ev_hosting_level` of a finished plan: its grid model, the EV and PV series its grid stage ran.

    Raises
    ------
    DataError
        When the plan has no grid check or no demand result.
    """
    if plan.grid_results is None or plan.grid_loads is None:
        raise DataError("the EV hosting level needs a plan with a grid check (grid.source is 'none')")
    if plan.demand_result is None:
        raise DataError("the EV hosting level needs the plan's demand result (the adoption path)")
    cfg = plan.city.config
    year = _plan_year(cfg, plan.grid_loads, plan.grid_results)
    series = _series_from_results(plan.city, plan.grid_results, year)
    path = adoption_path(plan.demand_result.energy, year, use_cases=_path_use_cases(cfg))
    return _evaluate(plan.grid_results.model.net, series, path, year, factors, plan.city.crs)


def hosting_frame(level: HostingLevel) -> gpd.GeoDataFrame:
    """The DT table as points (projected CRS of the plan)."""
    t = level.table
    return gpd.GeoDataFrame(t.drop(columns=["x_m", "y_m"]), geometry=gpd.points_from_xy(t["x_m"], t["y_m"]),
                            crs=level.crs)


#: Hosting levels computed for the outputs of a plan, by its grid result (weak: never keeps a plan alive).
_CACHE: dict[int, tuple[weakref.ref[GridResults], HostingLevel]] = {}


def plan_hosting_level(plan: Plan) -> HostingLevel | None:
    """The hosting level of a plan for its map and report: the plan's own (``plan.ev_hosting``) when it
    has one, else :func:`hosting_level_of`, computed once per grid result; None without a grid check
    or demand result."""
    own = getattr(plan, "ev_hosting", None)
    if isinstance(own, HostingLevel):
        return own
    results = plan.grid_results
    if results is None or plan.grid_loads is None or plan.demand_result is None:
        return None
    hit = _CACHE.get(id(results))
    if hit is not None and hit[0]() is results:
        return hit[1]
    level = hosting_level_of(plan)
    for key in [k for k, (ref, _) in _CACHE.items() if ref() is None]:
        del _CACHE[key]
    _CACHE[id(results)] = (weakref.ref(results), level)
    return level


def hosting_summary(plan: Plan) -> dict[str, Any] | None:
    """``grid.ev_hosting`` of summary.json (:meth:`HostingLevel.summary`); None without a grid check or
    demand result, ``{"error": ...}`` when the level cannot be found (the grid fails with no EV)."""
    try:
        level = plan_hosting_level(plan)
    except DataError as exc:
        log.warning("EV hosting level not found: %s", exc)
        return {"error": str(exc)}
    return level.summary(at_plan=violated_at_plan(plan)) if level is not None else None
