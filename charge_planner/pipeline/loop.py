"""Grid-aware siting: site, check every rollout year on the grid, turn violations into headroom and
reinforcement options, site again, until no violation is left or ``grid.max_iterations`` is reached.

Each round:

1. the siting model is solved (the first time grid-blind; later with each group's headroom per year
   and, with ``grid.reinforcement``, the reinforcement options as decisions paid from the budget);
2. every year from the first rollout year to the plan year is checked with the time series on the
   grid as it stands that year (the reinforcements built by then applied), with every EV load of that
   year on it; a year between two rollout years has the earlier one's sites and chargers, serving that
   year's grown demand (:func:`sites_between`), and its limits bind that rollout year's chargers
   (``grid.check_years = "rollout"`` checks the rollout years only);
3. groups (a DT with its LV network, an MV network) with a violation or a site get their headroom
   for public charging from the year's worst hour (:func:`~charge_planner.grid.headroom.group_headroom`),
   of which the siting may use :data:`MARGIN`; a group still violated from an earlier round has its
   headroom cut by :data:`TIGHTEN` per round (the headroom is linearised, the grid is not); a group
   violated without any public charging (base,
   home and depot load alone) gets the cheapest reinforcement that covers it, paid by the utility and
   reported apart from the charging budget.

Every round is recorded: what was violated, what moved (sites opened, closed), what it cost in
coverage and money.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from charge_planner.assumptions import preset_of
from charge_planner.city import City
from charge_planner.config import CityConfig
from charge_planner.demand import DemandResult
from charge_planner.grid.connect import connect_sites
from charge_planner.grid.headroom import bus_groups, group_headroom
from charge_planner.grid.model import GridModel
from charge_planner.grid.reinforce import apply_reinforcements, reinforcement_options
from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.pipeline.stages import (
    DemandStage,
    GridLimits,
    base_loads,
    grid_loads,
    grid_stage,
    siting_stage,
    synthesise,
)
from charge_planner.presets import INR_PER_USD, grid_reinforcement_costs_usd
from charge_planner.siting import CapacitatedSiting

log = logging.getLogger(__name__)

__all__ = ["GridAwareResult", "MARGIN", "TIGHTEN", "check_years", "checked_years", "grid_aware_siting", "rollout_year_of",
           "sites_between", "sites_of_year"]

#: ASSUMPTION: factor on the headroom of a group still violated after a round (the linearised
#: headroom overstates what a non-linear grid takes).
TIGHTEN = 0.85
#: ASSUMPTION: share of a group's linearised headroom the siting may use (a planning margin: the
#: linearisation and the charging that waits for the next hours at a full site make the grid take less).
MARGIN = 0.95


@dataclass
class GridAwareResult:
    """The grid-aware siting's outcome.

    Attributes
    ----------
    model, sites
        The final siting model and its sites (with ``grid_level``).
    years
        The grid check of every year checked (:func:`checked_years`; the last one is the plan year's).
    loads
        The loads of every year checked.
    grid
        The grid as built before any reinforcement.
    reinforcement
        Reinforcements the optimiser chose (``group_id``, ``option``, ``added_kw``, ``cost_usd``, ``year``).
    required
        Reinforcements needed without any public charging (base, home and depot load), paid by the
        utility: ``group_id``, ``option``, ``cost_usd``, ``year``.
    iterations
        One record per round: ``iteration``, ``violations``, ``violations_by_year``, ``violated_groups``,
        ``served_share``, ``capex_usd``, ``reinforcement_usd``, ``sites_open``, ``opened``, ``closed`` (the
        first 50 of each), ``n_opened``, ``n_closed``,
        ``limited_groups``, ``seconds``.
    """

    model: CapacitatedSiting
    sites: gpd.GeoDataFrame
    years: dict[int, GridResults]
    loads: dict[int, GridLoads]
    grid: GridModel
    reinforcement: pd.DataFrame
    required: pd.DataFrame
    iterations: list[dict[str, object]] = field(default_factory=list)


def sites_of_year(model: CapacitatedSiting, sites: gpd.GeoDataFrame, year: int) -> gpd.GeoDataFrame:
    """The sites open in ``year`` with that year's chargers, power and served energy."""
    if model.rollout is None or not len(model.rollout) or len(model.years) == 1:
        return sites
    ro = model.rollout[model.rollout["year"] == year].set_index("site_id")
    out = sites.loc[sites.index.intersection(ro.index)].copy()
    for col in ro.columns:
        if col in out.columns and col not in ("geometry", "year"):
            out[col] = ro.loc[out.index, col].to_numpy()
    if model.assignments_all is not None and "served_kwh_day" in out.columns:
        asg = model.assignments_all[model.assignments_all["year"] == year]
        out["served_kwh_day"] = asg.groupby("site_id")["served_kwh_day"].sum().reindex(out.index).fillna(0.0)
    return out


def _assignments_of_year(model: CapacitatedSiting, year: int) -> pd.DataFrame | None:
    if model.assignments_all is None:
        return model.assignments
    return model.assignments_all[model.assignments_all["year"] == year]


def checked_years(cfg: CityConfig) -> list[int]:
    """The years the grid is checked in: every calendar year from the first rollout year to the plan
    year (``grid.check_years = "every"``, the default), or the rollout years only (``"rollout"``)."""
    rollout = cfg.siting_years
    if cfg.grid.check_years == "every" and len(rollout) > 1:
        return list(range(rollout[0], rollout[-1] + 1))
    return rollout


def rollout_year_of(rollout: list[int], year: int) -> int:
    """The latest rollout year at or before ``year``: the one whose sites and chargers stand in it."""
    return max(r for r in rollout if r <= year)


_ROW_KEY = ["cell_id", "segment", "use_case"]


def sites_between(
    model: CapacitatedSiting, sites: gpd.GeoDataFrame, demand: DemandResult, rollout_year: int, year: int,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame | None]:
    """The plan in ``year``, between ``rollout_year`` and the next rollout year: the sites and chargers
    of ``rollout_year``, each of its assignments' served energy grown with its demand row's energy (same
    cell, segment and use case) to ``year``, and each (site, charger type)'s total held at what its
    chargers deliver in a day (chargers x power x service hours, the siting model's capacity).

    Returns the sites (with ``served_kwh_day`` of ``year``) and the assignments (``year`` set to it)."""
    out = sites_of_year(model, sites, rollout_year)
    asg = _assignments_of_year(model, rollout_year)
    if asg is None or not len(asg) or not len(out):
        return out, asg
    d = demand.demand
    if not (d["year"] == year).any():
        raise ValueError(f"the demand has no year {year} to check the grid in; it covers {sorted(d['year'].unique())}")
    then = d.loc[asg["demand_id"].to_numpy(), [*_ROW_KEY, "energy_kwh_day"]]
    now = d[d["year"] == year].set_index(_ROW_KEY)["energy_kwh_day"]
    grown = now.reindex(pd.MultiIndex.from_frame(then[_ROW_KEY])).fillna(0.0).to_numpy()
    growth = np.divide(grown, then["energy_kwh_day"].to_numpy(), out=np.zeros(len(asg)),
                       where=then["energy_kwh_day"].to_numpy() > 0)
    asg = asg.assign(year=year, served_kwh_day=asg["served_kwh_day"].to_numpy() * growth)
    # what each site's chargers of a type deliver in a day at most
    types = model.charger_types
    per_charger = types["power_kw"].astype(float) * types["service_hours_day"].astype(float)
    chargers = out[[f"chargers_{t}" for t in types.index]].to_numpy(dtype=float)
    cap = pd.DataFrame(chargers * per_charger.to_numpy()[None, :], index=out.index, columns=types.index).stack()
    want = asg.groupby(["site_id", "charger_type"])["served_kwh_day"].sum()
    limit = cap.reindex(want.index).fillna(0.0)
    scale = np.divide(limit, want, out=np.ones(len(want)), where=want.to_numpy() > limit.to_numpy())
    key = pd.MultiIndex.from_frame(asg[["site_id", "charger_type"]])
    asg = asg.assign(served_kwh_day=asg["served_kwh_day"].to_numpy() * np.minimum(scale.reindex(key).to_numpy(), 1.0))
    out = out.assign(served_kwh_day=asg.groupby("site_id")["served_kwh_day"].sum().reindex(out.index).fillna(0.0))
    held = float((want - np.minimum(want, limit)).sum())
    log.info("grid check of %d: the %d sites of %d serve %.0f kWh/day (%.0f kWh/day more held back by their "
             "chargers' capacity)", year, len(out), rollout_year, float(out["served_kwh_day"].sum()), held)
    return out, asg


def check_years(
    city: City, demand: DemandStage, model: CapacitatedSiting, sites: gpd.GeoDataFrame, grid: GridModel | None,
    built: pd.DataFrame | None = None, *, hosting: bool | None = None,
) -> tuple[dict[int, GridResults], dict[int, GridLoads], GridModel]:
    """The grid check of every year checked (:func:`checked_years`; the grid synthesised once when none
    is given; the reinforcements ``built`` by each year applied; the hosting capacity, unless ``hosting``
    is False, of the plan year only). Returns the checks, the loads and the grid."""
    cfg = city.config
    cells = demand.result.cells[demand.result.cells["population"] > 0]
    grid0 = grid if grid is not None else synthesise(city, base_loads(city, cells))
    checks: dict[int, GridResults] = {}
    loads_y: dict[int, GridLoads] = {}
    rollout = cfg.siting_years
    years = checked_years(cfg)
    for y in years:
        done = built[built["year"] <= y] if built is not None and len(built) and "trafo" in built.columns else None
        grid_y = apply_reinforcements(grid0, done) if done is not None and len(done) else grid0
        if y in rollout:
            sites_y, asg_y = sites_of_year(model, sites, y), _assignments_of_year(model, y)
        else:
            sites_y, asg_y = sites_between(model, sites, demand.result, rollout_year_of(rollout, y), y)
        loads = grid_loads(city, cells, sites_y, asg_y, demand.rows, demand.result, year=y)
        loads_y[y] = loads
        checks[y] = grid_stage(city, loads, grid_y, hosting=False if y != years[-1] else hosting)
    return checks, loads_y, grid0


def grid_aware_siting(
    city: City, demand: DemandStage, usable: gpd.GeoDataFrame, chargers: pd.DataFrame, travel: pd.DataFrame,
    given_grid: GridModel | None = None,
) -> GridAwareResult:
    """Site, check every year of the rollout, and site again with the grid's headroom (see the module docstring)."""
    cfg: CityConfig = city.config
    g = cfg.grid
    years = cfg.siting_years
    cells = demand.result.cells[demand.result.cells["population"] > 0]
    grid0 = given_grid if given_grid is not None else synthesise(city, base_loads(city, cells))
    preset = preset_of(cfg)
    fx = INR_PER_USD if preset.country == "india" else preset.fx_local_per_usd.value
    unit_costs = grid_reinforcement_costs_usd(preset)
    # every candidate's bus and group: where its chargers would draw
    cand = usable.assign(grid_level="lv", power_kw=0.0)
    cand_bus = pd.Series(connect_sites(grid0.net, cand, roads=city.roads), index=usable.index)
    groups = bus_groups(grid0)
    site_groups = groups["group_id"].reindex(cand_bus.to_numpy())
    site_groups.index = usable.index
    site_groups = site_groups.dropna()

    limits: GridLimits | None = None
    required = pd.DataFrame(columns=["group_id", "option", "cost_usd", "year"])
    headroom_prev: dict[tuple[str, int], float] = {}
    offered: pd.DataFrame | None = None
    records: list[dict[str, object]] = []
    prev_sites: set[object] = set()
    result: GridAwareResult | None = None
    for it in range(g.max_iterations):
        t0 = time.perf_counter()
        model, sites = siting_stage(cfg, demand.rows, usable, chargers, travel, limits)
        chosen = model.reinforcement if model.reinforcement is not None else pd.DataFrame()
        checks, loads_y, _ = check_years(city, demand, model, sites, grid0, _built_by(chosen, required),
                                         hosting=False)
        by_year = {y: int(len(r.violations)) for y, r in checks.items()}
        heads = {y: group_headroom(r, vm_min_pu=g.vm_min_pu, max_loading_percent=g.max_loading_percent)
                 for y, r in checks.items()}
        violated = sorted({gid for h in heads.values() if len(h) for gid in h.index[h["violated"]]})
        summ = model.summary()
        open_now = set(sites.index)
        records.append({
            "iteration": it,
            "violations": int(sum(by_year.values())),
            "violations_by_year": {str(y): n for y, n in by_year.items()},
            "violated_groups": violated[:50],
            "served_share": round(summ["served_kwh_day"] / max(summ["demand_kwh_day"], 1e-9), 4),
            "capex_usd": round(float(summ["capex_usd"]), 0),
            "reinforcement_usd": round(float(summ.get("reinforcement_usd", 0.0)), 0),
            "utility_reinforcement_usd": round(float(required["cost_usd"].sum()) if len(required) else 0.0, 0),
            "sites_open": int(len(sites)),
            "opened": sorted(str(s) for s in open_now - prev_sites)[:50] if it else [],
            "closed": sorted(str(s) for s in prev_sites - open_now)[:50] if it else [],
            "n_opened": len(open_now - prev_sites) if it else 0,
            "n_closed": len(prev_sites - open_now) if it else 0,
            "limited_groups": int(limits.headroom["group_id"].nunique()) if limits is not None else 0,
            "seconds": 0.0,
        })
        prev_sites = open_now
        result = GridAwareResult(model=model, sites=sites, years=checks, loads=loads_y, grid=grid0,
                                 reinforcement=chosen, required=required.copy(), iterations=records)
        log.info("grid-aware siting, round %d: %d violation(s) %s, served %.1f %%, %d sites", it,
                 records[-1]["violations"], by_year, 100 * float(records[-1]["served_share"]), len(sites))
        if sum(by_year.values()) == 0 or it == g.max_iterations - 1:
            if g.hosting_capacity:  # the plan year's hosting capacity, for the final plan only
                last_y = years[-1]
                built = _built_by(chosen, required)
                done = built[built["year"] <= last_y] if len(built) else built
                grid_y = apply_reinforcements(grid0, done) if len(done) else grid0
                result.years[last_y] = grid_stage(city, loads_y[last_y], grid_y, hosting=True)
            records[-1]["seconds"] = round(time.perf_counter() - t0, 2)
            break
        # the grid's answer: headroom per group and year, reinforcement the utility needs anyway, options
        # a year between two rollout years has the earlier one's chargers: its limits bind them
        now: dict[tuple[str, int], tuple[float, bool]] = {}
        added: set[str] = set()  # a group gets one more reinforcement a round at most (its earliest year's)
        for y, h in heads.items():
            if not len(h):
                continue
            need = h[h["violated_without_public"] & ~h.index.isin(list(added))]
            if len(need):
                # on the grid as that year's check had it (the works built by then): a group reinforced already
                # and still violated gets the next step
                new = _required(checks[y].model, need, unit_costs, fx, g.max_loading_percent, y)
                if len(new):
                    required = new if required.empty else pd.concat([required, new], ignore_index=True)
                    added |= set(new["group_id"])
            y0 = rollout_year_of(years, y)
            for gid, r in h.iterrows():
                key = (str(gid), y0)
                head, violated = float(r["headroom_installed_kw"]) * MARGIN, bool(r["violated"])
                if key in now:
                    head, violated = min(head, now[key][0]), violated or now[key][1]
                now[key] = (head, violated)
        for key, (head, violated) in now.items():
            if key in headroom_prev:  # a limit once found is kept, and cut again while still violated
                head = min(head, headroom_prev[key] * (TIGHTEN if violated else 1.0))
            headroom_prev[key] = max(head, 0.0)
        rows = [{"group_id": gid, "year": y, "headroom_kw": kw} for (gid, y), kw in headroom_prev.items()]
        table = pd.DataFrame(rows)
        if g.reinforcement:
            last = heads[years[-1]] if len(heads[years[-1]]) else pd.concat([h for h in heads.values() if len(h)])
            last = last[~last.index.isin(required["group_id"])]
            options = reinforcement_options(grid0, last, unit_costs, local_per_usd=fx,
                                            max_loading_percent=g.max_loading_percent)
            # an option's kW are kW of load at the worst hour; the headroom rows count installed kW
            coinc = last["coincidence"].reindex(options["group_id"]).to_numpy()
            options = options.assign(added_kw=options["added_kw"].to_numpy() / np.where(coinc > 0, coinc, 1.0))
            options = options[["group_id", "option", "added_kw", "cost_usd", "kind", "trafo", "new_kva", "lv_km",
                               "lines"]]
            # the options of every group met so far (the latest estimate of each)
            offered = pd.concat([offered, options], ignore_index=True).drop_duplicates(
                ["group_id", "option"], keep="last") if offered is not None else options
            offered = offered[~offered["group_id"].isin(required["group_id"])]
        limits = GridLimits(headroom=table, site_groups=site_groups[site_groups.isin(table["group_id"])],
                            reinforcements=offered if offered is not None and len(offered) else None)
        records[-1]["seconds"] = round(time.perf_counter() - t0, 2)
    assert result is not None
    return result


def _built_by(chosen: pd.DataFrame, required: pd.DataFrame) -> pd.DataFrame:
    """Every reinforcement built (the optimiser's and the utility's), with its year."""
    parts = [t for t in (chosen, required) if len(t) and "trafo" in t.columns]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _required(grid: GridModel, need: pd.DataFrame, unit_costs: dict[str, float], fx: float, max_loading: float,
              year: int) -> pd.DataFrame:
    """The cheapest option covering each group's deficit without public charging (the largest when none does)."""
    opts = reinforcement_options(grid, need, unit_costs, local_per_usd=fx, max_loading_percent=max_loading)
    out = []
    for gid, r in need.iterrows():
        o = opts[opts["group_id"] == gid]
        if not len(o):
            continue
        enough = o[o["added_kw"] >= float(r["deficit_kw"])]
        pick = enough.iloc[0] if len(enough) else o.sort_values("added_kw").iloc[-1]
        out.append({**pick.to_dict(), "year": year})
    return pd.DataFrame(out)
