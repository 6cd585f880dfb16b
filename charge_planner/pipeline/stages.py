"""The pipeline's stages, one typed function each, with explicit inputs.

city → :func:`demand_stage` → :func:`candidates_stage` → :func:`travel_stage` →
:func:`siting_stage` → :func:`grid_loads` → :func:`grid_stage`.

Each stage takes what it needs as arguments and returns a typed record or table, so that
one stage can be rerun alone: the siting with other demand rows or candidates, the grid with
other loads (another charging strategy or set of sites) without the siting model.
:func:`charge_planner.pipeline.plan` runs them in order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from charge_planner.assumptions import (
    charger_table,
    offpeak_hours,
    preset_of,
    site_cost_bands_usd,
)
from charge_planner.candidates import build_candidates, depot_only_segments
from charge_planner.city import City
from charge_planner.config import CityConfig, resolve_data_path
from charge_planner.demand import DemandResult, charging_profile, city_demand
from charge_planner.errors import InfeasibleError
from charge_planner.grid import connect_sites, load_grid, run_peak_flow, synthesise_grid
from charge_planner.grid.assess import assess_grid
from charge_planner.grid.connect import check_grid_near, grid_level
from charge_planner.grid.energy import GridEmissions, base_load_growth, grid_emissions, grid_mix, pv_profile
from charge_planner.grid.ev_loads import depot_buses, home_load_shares
from charge_planner.grid.model import GridModel, bus_roles
from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.grid.smart import BATTERY_ROUND_TRIP_EFFICIENCY, smart_rows
from charge_planner.grid.timeseries import PROFILE_ASSUMPTIONS, base_load_profile, time_index
from charge_planner.ids import id_positions
from charge_planner.network.graph import EdgeTable
from charge_planner.network.snap import snap_to_edges
from charge_planner.network.travel import travel_table
from charge_planner.presets import Sourced
from charge_planner.siting import CapacitatedSiting
from charge_planner.siting.inputs import (
    EQUITY_COLUMN,
    apply_exclusion_zones,
    equity_groups,
    read_exclusion_zones,
    siting_options,
)

log = logging.getLogger(__name__)

__all__ = [
    "DemandStage",
    "GridLimits",
    "base_load_growth_of",
    "base_loads",
    "candidates_stage",
    "demand_stage",
    "grid_emissions_of",
    "grid_loads",
    "grid_stage",
    "load_given_grid",
    "site_profiles",
    "siting_inputs",
    "siting_stage",
    "travel_stage",
]


@dataclass
class DemandStage:
    """What the demand stage hands to siting.

    Attributes
    ----------
    result
        The whole demand stage (fleet, cells, every year and use case, profiles, peaks).
    rows
        ``demand`` rows the siting model plans (publicly served use cases of the rollout
        years), with ``node_id`` and ``access_m`` (where the row enters its mode's road
        network) and the equity group.
    snaps
        Per travel mode, the snap of its rows (``node_id``, ``access_m``, edge position).
    access_speed_m_s
        Walking/driving speed from a point to its road [m/s] (the preset's residential speed).
    """

    result: DemandResult
    rows: gpd.GeoDataFrame
    snaps: dict[str, pd.DataFrame]
    access_speed_m_s: float


def demand_stage(city: City) -> DemandStage:
    """Demand of every year and use case, and the rows the siting plans, snapped to the roads.

    Raises
    ------
    InfeasibleError
        When no populated cell has energy of a sited use case.
    """
    cfg = city.config
    preset = preset_of(cfg)
    result = city_demand(city)
    # the siting model plans the publicly served use cases of the rollout years (default: the plan year)
    years = cfg.siting_years
    demand = result.for_siting(years).copy()
    wanted = ", ".join(map(str, years))
    if demand.empty:
        raise InfeasibleError(
            f"no public charging demand to site in {wanted}: no populated cell has energy of a sited use case "
            f"({', '.join(cfg.demand.sited_use_cases)}); check fleet.segments, the use-case shares, "
            "demand.sited_use_cases and city.study_area_bbox"
        )
    demand[EQUITY_COLUMN] = equity_groups(demand, cfg.siting.equity_group_size_m)
    # demand points enter the road network at the nearest street; a point whose access to the road
    # alone takes longer than its cut-off cannot reach any site and is dropped (with a warning)
    access_speed = preset.road_speeds_kph.get("residential", 15.0) / 3.6
    # each segment's trips run on the road network of its travel mode (data.segment_modes)
    mode_of_row = demand["segment"].astype(str).map(city.mode_of)
    snaps = {}
    for mode in sorted(set(mode_of_row)):
        rows = demand[mode_of_row == mode]
        snaps[mode] = snap_to_edges(city.roads_for(mode), rows,
                                    max_access_m=float(rows["cutoff_s"].max()) * access_speed)
    snapped = pd.concat(list(snaps.values())).reindex(demand.index)
    demand["node_id"] = snapped["node_id"]
    demand["access_m"] = snapped["access_m"]
    return DemandStage(result=result, rows=demand, snaps=snaps, access_speed_m_s=access_speed)


def candidates_stage(city: City, demand: pd.DataFrame, chargers: pd.DataFrame) -> gpd.GeoDataFrame:
    """Candidate sites (OSM POIs, generated road points and depots), excluded ones marked.

    ``demand`` decides whether depots are generated on OSM land: only when it has a segment that
    only depots can serve (buses) and ``candidates.generate_depots`` is on. Usable candidates are
    the rows whose ``excluded_reason`` is empty.
    """
    cfg = city.config
    needs_depots = cfg.candidates.generate_depots and bool(
        set(demand["segment"].astype(str)) & depot_only_segments(chargers))
    cand = build_candidates(
        city.pois,
        city.roads,
        chargers,
        max_chargers=cfg.siting.max_chargers_per_site,
        fixed_cost_usd=0.0,  # a site costs its connection, priced by its power band in the siting model
        generated=cfg.siting.generated_candidates,
        depot_land=city.depot_land if needs_depots else None,
        depot_min_area_m2=cfg.candidates.depot_min_area_m2,
        depot_spacing_m=cfg.candidates.depot_spacing_m,
        max_generated_depots=cfg.candidates.max_generated_depots,
    )
    # an existing charging station has a grid connection of the lowest band already (assumption: its
    # power is not known); its upgrade to a higher band is paid like any other
    cand["connection_kw"] = np.where(cand["kind"].eq("charging_station"),
                                     site_cost_bands_usd(cfg)["max_kw"].iloc[0], 0.0)
    if cfg.siting.exclusion_zones:
        zone_file = resolve_data_path(cfg.siting.exclusion_zones, city_dir=city.city_dir, root=city.data_root,
                                      field="siting.exclusion_zones")
        cand = apply_exclusion_zones(cand, read_exclusion_zones(zone_file, crs=city.crs), label=zone_file.name)
    return cand


def travel_stage(city: City, demand: DemandStage, usable: gpd.GeoDataFrame) -> pd.DataFrame:
    """Sparse travel table: every (demand row, usable candidate) pair within the row's cut-off,
    on the road network of the row's travel mode."""
    rows_all = demand.rows
    speed = demand.access_speed_m_s
    tables = []
    for mode, demand_snap in demand.snaps.items():
        graph = city.roads_for(mode)
        edges = EdgeTable.from_graph(graph, geometry=True, keys=True)  # read once for the snap and the table
        site_snap = snap_to_edges(graph, usable, edges=edges)
        rows = rows_all.loc[demand_snap.index]
        table = travel_table(
            graph,
            demand_snap["node_id"],
            site_snap["node_id"],
            rows["cutoff_s"],
            demand_access_s=rows["access_m"] / speed,
            site_access_s=site_snap["access_m"] / speed,
            demand_snap=demand_snap,
            site_snap=site_snap,
            edges=edges,
        )
        if len(demand.snaps) > 1:  # ids as categoricals over all demand rows, so that the tables concatenate
            table["demand_id"] = pd.Categorical.from_codes(
                id_positions(table["demand_id"], rows_all.index), dtype=pd.CategoricalDtype(rows_all.index)
            )
        tables.append(table)
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)


def siting_inputs(city: City) -> tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
    """The tables of the city's siting model as :func:`~charge_planner.pipeline.plan` builds them: demand
    rows, usable candidates, charger types and travel table, in the order of
    :meth:`CapacitatedSiting.from_tables` (with ``**siting_options(city.config)``), for notebooks and
    benchmarks that study the siting alone."""
    demand = demand_stage(city)
    chargers = charger_table(city.config)
    cand = candidates_stage(city, demand.rows, chargers)
    usable = cand[cand["excluded_reason"] == ""]
    return demand.rows, usable, chargers, travel_stage(city, demand, usable)


@dataclass
class GridLimits:
    """What the grid tells the siting: headroom per group of buses and the reinforcements on offer.

    Attributes
    ----------
    headroom
        ``group_id``, ``year``, ``headroom_kw`` [kW of installed public charging power].
    site_groups
        Group of every candidate site (``site_id -> group_id``); a site without a group is not limited.
    reinforcements
        Options the optimiser may build: ``group_id``, ``option``, ``added_kw`` [kW installed],
        ``cost_usd`` [USD] (None: none on offer).
    """

    headroom: pd.DataFrame
    site_groups: pd.Series
    reinforcements: pd.DataFrame | None = None


def siting_stage(
    cfg: CityConfig, demand: pd.DataFrame, usable: gpd.GeoDataFrame, chargers: pd.DataFrame, travel: pd.DataFrame,
    limits: GridLimits | None = None,
) -> tuple[CapacitatedSiting, gpd.GeoDataFrame]:
    """Solve the siting model (``[siting]`` of ``cfg``, and the grid's ``limits`` when given) and return it
    with the chosen sites.

    The sites carry the candidate's ``name``, ``kind``, ``source``, ``node_id`` and geometry, and
    ``grid_level`` by the one MV/LV rule (:func:`~charge_planner.grid.connect.grid_level`): MV for
    a charger type connected at MV or installed power above ``grid.lv_max_site_kw``.
    """
    grid_kw = {}
    if limits is not None and len(limits.headroom):
        grid_kw = {"headroom": limits.headroom, "site_groups": limits.site_groups, "headroom_coincidence": 1.0,
                   "reinforcements": limits.reinforcements}
    model = CapacitatedSiting.from_tables(demand, usable, chargers, travel, **siting_options(cfg), **grid_kw)
    model.solve(cfg.siting.solver, time_limit_s=cfg.siting.time_limit_s, mip_gap=cfg.siting.mip_gap)
    if model.sites is None:
        raise InfeasibleError("the siting model returned no sites table")
    sites = gpd.GeoDataFrame(
        model.sites.join(usable[["name", "kind", "source", "node_id", "geometry"]]),
        geometry="geometry",
        crs=usable.crs,
    )
    mv_types = [t for t in chargers.index if chargers.loc[t, "grid_level"] == "mv"]
    has_mv = (sites[[f"chargers_{t}" for t in mv_types]].sum(axis=1) > 0) if mv_types else None
    sites["grid_level"] = grid_level(sites["power_kw"], has_mv, lv_max_kw=cfg.grid.lv_max_site_kw).to_numpy()
    return model, sites


# ------------------------------------------------------------------------------------------ grid


def load_given_grid(city: City) -> GridModel | None:
    """Load the grid a bundle names (``grid.source`` a file, SimBench code or pandapower network).

    The grid is checked to lie at the city (:func:`~charge_planner.grid.connect.check_grid_near`).
    Returns None for ``grid.source = "none"`` or ``"synthesise"`` (a synthesised grid needs the demand).

    Raises
    ------
    GridError, DataError
        When the grid cannot be read or lies far from the city.
    """
    g = city.config.grid
    if g.source in ("none", "synthesise"):
        return None
    path = None
    if g.path:
        path = resolve_data_path(g.path, city_dir=city.city_dir, root=city.data_root, field="grid.path")
    grid_model = load_grid(g.source, path=path, code=g.code, name=g.name, crs=city.crs)
    check_grid_near(grid_model.net, city.bounds(), crs=city.crs)  # a grid of another place is refused
    return grid_model


def grid_emissions_of(cfg: CityConfig) -> GridEmissions:
    """The run's grid series and avoided-emission factor (``[energy]`` of city.toml, the country preset)."""
    e = cfg.energy
    return grid_emissions(preset_of(cfg), series=e.grid_series, renewable_share=e.grid_renewable_share,
                          avoided_factor=e.avoided_emissions_factor)


def base_load_growth_of(cfg: CityConfig, year: int | None = None) -> tuple[float, Sourced]:
    """Factor that grows the preset's base load from its data year to ``year`` (default: the plan
    year), with the rate used."""
    preset = preset_of(cfg)
    if cfg.energy.base_load_growth_per_year is not None:
        rate = Sourced(cfg.energy.base_load_growth_per_year, "city.toml energy.base_load_growth_per_year", "user")
    elif preset.electricity_demand_growth_per_year is not None:
        rate = preset.electricity_demand_growth_per_year
    else:
        rate = Sourced(0.0, f"assumption: no electricity demand growth for {preset.country}; base load not grown",
                       "assumption")
    return base_load_growth(preset.base_load_data_year, year or cfg.fleet.year, rate.value), rate


def base_loads(city: City, cells: pd.DataFrame, year: int | None = None) -> gpd.GeoDataFrame:
    """Base (non-EV) peak load of every populated cell in ``year`` (default: the plan year) [kW], as points."""
    kw_person = preset_of(city.config).base_peak_kw_per_person.value * base_load_growth_of(city.config, year)[0]
    return gpd.GeoDataFrame(
        {"base_peak_kw": cells["population"].to_numpy() * kw_person},
        geometry=gpd.points_from_xy(cells["x"], cells["y"]),
        crs=city.crs,
    )


def site_profiles(
    sites: pd.DataFrame, assignments: pd.DataFrame | None, demand: pd.DataFrame, strategy: str,
    offpeak_window: tuple[int, int],
) -> np.ndarray:
    """Daily charging profile of each site: its assignments' (segment, use case) profiles weighted by energy.

    ``assignments`` has ``demand_id``, ``site_id`` and ``served_kwh_day``; ``strategy`` and
    ``offpeak_window`` are the demand stage's (``demand.charging_strategy`` and the preset's or
    city.toml's off-peak window), so the grid sees the load the demand peaks describe. A site
    without assignments draws evenly over the day.
    """
    out = np.full((len(sites), 24), 1.0 / 24.0)
    if assignments is None or not len(assignments) or not len(sites):
        return out
    cols = ["segment"] + (["use_case"] if "use_case" in demand.columns else [])
    a = assignments.join(demand[cols], on="demand_id")
    if "use_case" not in a.columns:
        a["use_case"] = "public_dc"
    keys = list(dict.fromkeys(zip(a["segment"], a["use_case"], strict=True)))
    prof = {k: charging_profile(k[0], k[1], strategy, offpeak_hours=offpeak_window) for k in keys}
    rows = np.array([prof[k] for k in zip(a["segment"], a["use_case"], strict=True)])
    rows = rows * a["served_kwh_day"].to_numpy()[:, None]
    weighted = pd.DataFrame(rows, index=a["site_id"].to_numpy()).groupby(level=0).sum()
    total = weighted.sum(axis=1)
    weighted = weighted[total > 0].div(total[total > 0], axis=0)
    pos = sites.index.get_indexer(weighted.index)
    ok = pos >= 0
    out[pos[ok]] = weighted.to_numpy()[ok]
    return out


def other_ev_loads(
    demand: DemandResult, year: int, kinds: tuple[str, ...] | list[str], strategy: str, window: tuple[int, int],
) -> tuple[pd.DataFrame, np.ndarray]:
    """EV loads that are not charging sites: home charging and depots of ``year``, one row per cell and
    use case (see :attr:`~charge_planner.grid.results.GridLoads.other`), with their daily profiles
    (energy-weighted over the cell's segments, under ``strategy``)."""
    want = [k for k in ("home", "depot") if k in kinds]
    d = demand.demand
    rows = d[(d["year"] == year) & d["use_case"].isin(want) & (d["energy_kwh_day"] > 0)]
    if rows.empty:
        return pd.DataFrame(columns=["kind", "x", "y", "kwh_day", "peak_kw"]), np.zeros((0, 24))
    keys = list(dict.fromkeys(zip(rows["segment"].astype(str), rows["use_case"].astype(str), strict=True)))
    prof = {k: charging_profile(k[0], k[1], strategy, offpeak_hours=window) for k in keys}
    weighted = np.array([prof[k] for k in zip(rows["segment"].astype(str), rows["use_case"].astype(str),
                                               strict=True)]) * rows["energy_kwh_day"].to_numpy()[:, None]
    key = pd.MultiIndex.from_arrays([rows["cell_id"].to_numpy(), rows["use_case"].astype(str).to_numpy()])
    kwh_h = pd.DataFrame(weighted, index=key).groupby(level=[0, 1]).sum()
    kwh = kwh_h.sum(axis=1)
    cells = demand.cells.reindex(kwh_h.index.get_level_values(0))
    other = pd.DataFrame({
        "kind": kwh_h.index.get_level_values(1).to_numpy(),
        "x": cells["x"].to_numpy(float), "y": cells["y"].to_numpy(float),
        "kwh_day": kwh.to_numpy(), "peak_kw": kwh_h.max(axis=1).to_numpy(),
        "cell_id": kwh_h.index.get_level_values(0).to_numpy(),
    })
    return other, (kwh_h.to_numpy() / kwh.to_numpy()[:, None])


def grid_loads(
    city: City, cells: pd.DataFrame, sites: gpd.GeoDataFrame, assignments: pd.DataFrame | None,
    demand: pd.DataFrame, demand_result: DemandResult | None = None, year: int | None = None,
) -> GridLoads:
    """The grid stage's input for ``year`` (default: the plan year): base load of the populated ``cells``,
    the ``sites`` with their served energy and the daily profile of each site's charging
    (``demand.charging_strategy``), and, from ``demand_result``, the home charging and depots of
    ``grid.ev_loads``."""
    cfg = city.config
    year = year or cfg.fleet.year
    window, _ = offpeak_hours(cfg)
    strategy = cfg.demand.charging_strategy
    kinds = cfg.grid.ev_loads
    if "public" not in kinds:
        sites = sites.assign(served_kwh_day=0.0)
    if demand_result is not None:
        other, other_profiles = other_ev_loads(demand_result, year, kinds, strategy, window)
    else:
        other, other_profiles = pd.DataFrame(columns=["kind", "x", "y", "kwh_day", "peak_kw"]), np.zeros((0, 24))
    return GridLoads(
        base=base_loads(city, cells, year),
        sites=sites,
        site_profiles=site_profiles(sites, assignments, demand, strategy, window),
        strategy=strategy,
        offpeak_window=window,
        other=other,
        other_profiles=other_profiles,
        year=year,
    )


def grid_stage(city: City, loads: GridLoads, given_grid: GridModel | None = None, *,
               hosting: bool | None = None) -> GridResults:
    """Build the grid (or take ``given_grid``), connect every EV load, run the load flow.

    ``given_grid`` is a grid loaded from the bundle or prepared by an earlier run (so that a loop
    checks one synthesised grid); without it a grid is synthesised for the base load
    (``grid.source = "synthesise"``). Charging sites connect by road (:func:`connect_sites`),
    home charging goes onto the LV networks of its cell's homes, depots onto the nearest LV or (above
    ``grid.lv_max_site_kw``) MV bus. ``grid.time_series = "peak"`` runs one AC load flow at the evening
    peak (sites: installed power x ``grid.ev_peak_coincidence``; other loads: their highest hourly
    draw); ``"day"`` and ``"year"`` run the batched time series with base load, EV profiles and
    on-site PV, the energy balance (of the charging sites) and, unless ``hosting`` is False (default:
    ``grid.hosting_capacity``), the hosting capacity.
    """
    cfg = city.config
    g = cfg.grid
    if given_grid is not None:
        grid_model = given_grid
    elif g.source == "synthesise":
        grid_model = synthesise(city, loads.base)
    else:
        raise ValueError(f"grid_stage needs the grid of grid.source = {g.source!r}; load it with load_given_grid")
    sites = loads.sites
    if len(sites):
        buses = pd.Series(connect_sites(grid_model.net, sites, roads=city.roads), index=sites.index, name="bus_id")
    else:
        buses = pd.Series(dtype=int, name="bus_id", index=sites.index)
    rows, profiles = ev_rows(grid_model, loads, buses, pv_kwp_per_site=g.pv_kwp_per_site,
                             lv_max_kw=g.lv_max_site_kw)
    capped = loads.strategy == "capped"
    rows, profiles = smart_rows(rows, profiles, cap_share=g.charging_cap_share if capped else None,
                                battery_kwh=g.battery_kwh_per_site, battery_kw=g.battery_kw_per_site)
    if g.time_series == "peak":
        public = rows["kind"].eq("public").to_numpy()
        coincidence = min(g.ev_peak_coincidence, g.charging_cap_share) if capped else g.ev_peak_coincidence
        kw = np.where(public, rows["power_kw"].to_numpy() * coincidence,
                      rows["served_kwh_day"].to_numpy() * profiles.max(axis=1, initial=0.0))
        ev_kw = pd.Series(kw, index=rows["bus_id"].to_numpy()).groupby(level=0).sum()
        flow = run_peak_flow(
            grid_model.net, ev_kw, vm_min_pu=g.vm_min_pu, vm_max_pu=g.vm_max_pu,
            max_loading_percent=g.max_loading_percent,
        )
        return GridResults(model=grid_model, flow=flow, mode="peak", site_buses=buses, ev_rows=rows,
                           ev_profiles=profiles, year=loads.year)
    return _time_series(city, grid_model, loads, buses, rows, profiles,
                        g.hosting_capacity if hosting is None else hosting)


def ev_rows(grid_model: GridModel, loads: GridLoads, site_buses: pd.Series, *, pv_kwp_per_site: float,
            lv_max_kw: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Every EV load of ``loads`` on its bus: the charging sites (at ``site_buses``, with on-site PV),
    home charging shared over the buses of its cell's homes, depots at the nearest LV or MV bus."""
    sites = loads.sites
    parts = [pd.DataFrame({
        "kind": "public", "bus_id": site_buses.to_numpy(), "served_kwh_day": sites["served_kwh_day"].to_numpy(float),
        "power_kw": sites["power_kw"].to_numpy(float), "pv_kwp": float(pv_kwp_per_site),
        "site_id": sites.index.to_numpy(), "cell_id": None,
    })]
    profs = [np.asarray(loads.site_profiles, dtype=float).reshape(-1, 24)]
    other, oprof = loads.other, np.asarray(loads.other_profiles, dtype=float).reshape(-1, 24)
    home = np.flatnonzero(other["kind"].eq("home").to_numpy())
    if len(home):
        h = other.iloc[home]
        shares = home_load_shares(grid_model.net, h[["x", "y"]].to_numpy(float))
        kwh = h["kwh_day"].to_numpy(float)[shares["cell"].to_numpy()] * shares["share"].to_numpy()
        parts.append(pd.DataFrame({
            "kind": "home", "bus_id": shares["bus_id"].to_numpy(), "served_kwh_day": kwh,
            "power_kw": np.inf, "pv_kwp": 0.0, "site_id": None, "cell_id": h["cell_id"].to_numpy()[shares["cell"]],
        }))
        profs.append(oprof[home][shares["cell"].to_numpy()])
    depot = np.flatnonzero(other["kind"].eq("depot").to_numpy())
    if len(depot):
        dp = other.iloc[depot]
        at = depot_buses(grid_model.net, dp[["x", "y"]].to_numpy(float), dp["peak_kw"].to_numpy(float),
                         lv_max_kw=lv_max_kw)
        parts.append(pd.DataFrame({
            "kind": "depot", "bus_id": at["bus_id"].to_numpy(), "served_kwh_day": dp["kwh_day"].to_numpy(float),
            "power_kw": np.inf, "pv_kwp": 0.0, "site_id": None, "cell_id": dp["cell_id"].to_numpy(),
        }))
        profs.append(oprof[depot])
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    return rows, np.vstack(profs) if len(rows) else np.zeros((0, 24))


def synthesise(city: City, base: gpd.GeoDataFrame) -> GridModel:
    """A grid synthesised along the roads for the base load points (``grid.source = "synthesise"``)."""
    cfg = city.config
    preset = preset_of(cfg)
    growth, rate = base_load_growth_of(cfg)
    kw_person = preset.base_peak_kw_per_person.value * growth
    hz = preset.frequency_hz.value if preset.frequency_hz is not None else 50.0
    grid_model = synthesise_grid(
        city.roads, base, mv_kv=preset.mv_kv.value, lv_kv=preset.lv_kv.value,
        substations=city.substations if len(city.substations) else None, seed=cfg.data.seed,
        max_substation_mva=cfg.grid.max_substation_mva, frequency_hz=hz,
    )
    grid_model.assumptions.append(
        f"base load {kw_person:.4f} kW per resident in {cfg.fleet.year}: {preset.base_peak_kw_per_person.value:g} "
        f"kW in {preset.base_load_data_year} ({preset.base_peak_kw_per_person.source}) x {growth:.4f} = "
        f"(1 + {rate.value:g})^({cfg.fleet.year} - {preset.base_load_data_year}) ({rate.source})"
    )
    return grid_model


def hosting_buses(grid_model: GridModel, site_buses: pd.Series) -> np.ndarray:
    """Buses whose hosting capacity is computed: the buses of the charging sites and the MV busbars of the
    substations (every bus of a synthesised grid with its LV feeders would take minutes; how much EV each
    transformer can host is measured by scaling the EV loads instead)."""
    net = grid_model.net
    roles = bus_roles(net)
    bars = roles.index[(roles == "mv_substation").to_numpy()].to_numpy()
    out = np.union1d(bars, site_buses.to_numpy())
    return out[net.bus.loc[out, "in_service"].astype(bool).to_numpy()]


def _time_series(city: City, grid_model: GridModel, loads: GridLoads, buses: pd.Series, rows: pd.DataFrame,
                 profiles: np.ndarray, hosting: bool) -> GridResults:
    """Design day or year: base load + every EV load (per-row profiles) + on-site PV, hosting capacity, energy."""
    cfg = city.config
    g = cfg.grid
    preset = preset_of(cfg)
    year = loads.year or cfg.fleet.year
    index = time_index(g.time_series, year=year, resolution_min=g.resolution_min, day=g.design_day)
    x0, y0, x1, y1 = city.bounds()
    lon, lat = pyproj.Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True).transform(
        (x0 + x1) / 2.0, (y0 + y1) / 2.0
    )
    pv = pv_profile(
        index, latitude=float(lat), longitude=float(lon), country=preset.country,
        annual_yield_kwh_per_kwp=preset.pv_kwh_per_kwp_day.value * 365.0, seed=cfg.data.seed,
    )
    ge = grid_emissions_of(cfg)
    mix = grid_mix(
        pv, annual_renewable_share=ge.renewable_share.value,
        annual_co2_g_per_kwh=ge.co2_g_per_kwh.value, solar_share_of_renewables=g.solar_share_of_renewables,
    )
    # a synthesised grid carries the plan year's base load; an earlier year's is smaller by the growth between
    scale = 1.0
    if grid_model.synthetic and year != cfg.fleet.year:
        scale = base_load_growth_of(cfg, year)[0] / base_load_growth_of(cfg)[0]
    assessment = assess_grid(
        grid_model, rows, index, ev_shares=profiles,
        base_load_factor=base_load_profile(index, residential_share=g.residential_share) * scale, mix=mix, pv=pv,
        vm_min_pu=g.vm_min_pu, vm_max_pu=g.vm_max_pu,
        max_loading_percent=g.max_loading_percent, hosting=hosting, hosting_hours=g.hosting_hours,
        hosting_buses=hosting_buses(grid_model, buses), energy_rows=rows["kind"].eq("public").to_numpy(),
    )
    _, window_src = offpeak_hours(cfg)
    on_grid = loads.ev_kwh_day()
    assessment.assumptions = [
        *PROFILE_ASSUMPTIONS,
        f"EV load: served energy of each site x the energy-weighted daily profile of its (segment, use case) "
        f"demand, strategy {loads.strategy!r} (city.toml demand.charging_strategy), off-peak window "
        f"{loads.offpeak_window[0]:02d}:00-{loads.offpeak_window[1] % 24:02d}:00 ({window_src}); where a site's "
        "profile asks for more than its installed power, it charges at its power and the rest waits for the next "
        "hours (queued vehicles)",
        f"on-site PV {g.pv_kwp_per_site:g} kWp per site (assumption; city.toml grid.pv_kwp_per_site), PV used first "
        "by the site's chargers",
        *pv.assumptions,
        f"hourly grid mix, one series ({ge.basis}): annual renewable share {ge.renewable_share.value:.0%} "
        f"({ge.renewable_share.source}) and intensity {ge.co2_g_per_kwh.value:g} gCO2e/kWh "
        f"({ge.co2_g_per_kwh.source}) shaped by solar = {g.solar_share_of_renewables:.0%} of renewables "
        "following the PV profile; constant intensity of non-renewable generation (assumption: the facts table "
        "gives annual averages only)",
        f"EV loads on the grid in {year} (city.toml grid.ev_loads): "
        + ", ".join(f"{k} {v:,.0f} kWh/day" for k, v in on_grid.items())
        + "; home charging shared over the buses of each cell's homes by base load, depots at the nearest LV bus "
        f"or, above {g.lv_max_site_kw:g} kW of peak, MV bus; the energy balance counts the charging sites",
    ]
    if scale != 1.0:
        assessment.assumptions.append(f"base load of {year}: the plan year's x {scale:.4f} (growth between the years)")
    if loads.strategy == "capped":
        assessment.assumptions.append(
            f"capped charging: each site's draw held at {g.charging_cap_share:.0%} of its installed power "
            "(city.toml grid.charging_cap_share, assumption), the energy above it moved to the nearest hours with room")
    if g.battery_kwh_per_site > 0:
        assessment.assumptions.append(
            f"on-site battery {g.battery_kwh_per_site:g} kWh / {g.battery_kw_per_site:g} kW per site (city.toml "
            f"grid.battery_kwh_per_site, grid.battery_kw_per_site): charged from PV surplus, then from the grid in the "
            f"site's lowest-draw hours, discharged at its peak; round-trip efficiency "
            f"{BATTERY_ROUND_TRIP_EFFICIENCY:.0%} (assumption: lithium-ion systems are quoted at 85-95 %), each day "
            "balanced")
    mode = "year" if g.time_series == "year" else "day"
    return GridResults(model=grid_model, flow=assessment.flow, mode=mode, site_buses=buses, assessment=assessment,
                       assumptions=list(assessment.assumptions), ev_rows=rows, ev_profiles=profiles, year=year)
