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
from charge_planner.grid.model import GridModel
from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.grid.timeseries import PROFILE_ASSUMPTIONS, base_load_profile, time_index
from charge_planner.ids import id_positions
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
    "base_load_growth_of",
    "base_loads",
    "candidates_stage",
    "demand_stage",
    "grid_emissions_of",
    "grid_loads",
    "grid_stage",
    "load_given_grid",
    "site_profiles",
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
    years = cfg.siting.rollout_years or cfg.fleet.year
    demand = result.for_siting(years).copy()
    if demand.empty:
        raise InfeasibleError(
            f"no public charging demand to site in {years}: no populated cell has energy of a sited use case "
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
        site_snap = snap_to_edges(graph, usable)
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
        )
        if len(demand.snaps) > 1:  # ids as categoricals over all demand rows, so that the tables concatenate
            table["demand_id"] = pd.Categorical.from_codes(
                id_positions(table["demand_id"], rows_all.index), dtype=pd.CategoricalDtype(rows_all.index)
            )
        tables.append(table)
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)


def siting_stage(
    cfg: CityConfig, demand: pd.DataFrame, usable: gpd.GeoDataFrame, chargers: pd.DataFrame, travel: pd.DataFrame,
) -> tuple[CapacitatedSiting, gpd.GeoDataFrame]:
    """Solve the siting model (``[siting]`` of ``cfg``) and return it with the chosen sites.

    The sites carry the candidate's ``name``, ``kind``, ``source``, ``node_id`` and geometry, and
    ``grid_level`` by the one MV/LV rule (:func:`~charge_planner.grid.connect.grid_level`): MV for
    a charger type connected at MV or installed power above ``grid.lv_max_site_kw``.
    """
    model = CapacitatedSiting.from_tables(demand, usable, chargers, travel, **siting_options(cfg))
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


def base_load_growth_of(cfg: CityConfig) -> tuple[float, Sourced]:
    """Factor that grows the preset's base load from its data year to the plan year, with the rate used."""
    preset = preset_of(cfg)
    if cfg.energy.base_load_growth_per_year is not None:
        rate = Sourced(cfg.energy.base_load_growth_per_year, "city.toml energy.base_load_growth_per_year", "user")
    elif preset.electricity_demand_growth_per_year is not None:
        rate = preset.electricity_demand_growth_per_year
    else:
        rate = Sourced(0.0, f"assumption: no electricity demand growth for {preset.country}; base load not grown",
                       "assumption")
    return base_load_growth(preset.base_load_data_year, cfg.fleet.year, rate.value), rate


def base_loads(city: City, cells: pd.DataFrame) -> gpd.GeoDataFrame:
    """Base (non-EV) peak load of every populated cell in the plan year [kW], as points."""
    kw_person = preset_of(city.config).base_peak_kw_per_person.value * base_load_growth_of(city.config)[0]
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


def grid_loads(
    city: City, cells: pd.DataFrame, sites: gpd.GeoDataFrame, assignments: pd.DataFrame | None,
    demand: pd.DataFrame,
) -> GridLoads:
    """The grid stage's input: base load of the populated ``cells``, the ``sites`` with their
    served energy and the daily profile of each site's charging (``demand.charging_strategy``)."""
    cfg = city.config
    window, _ = offpeak_hours(cfg)
    strategy = cfg.demand.charging_strategy
    return GridLoads(
        base=base_loads(city, cells),
        sites=sites,
        site_profiles=site_profiles(sites, assignments, demand, strategy, window),
        strategy=strategy,
        offpeak_window=window,
    )


def grid_stage(city: City, loads: GridLoads, given_grid: GridModel | None = None) -> GridResults:
    """Build the grid (or take ``given_grid``), connect the sites by road, run the load flow.

    ``grid.time_series = "peak"`` runs one AC load flow at the evening peak (installed power x
    ``grid.ev_peak_coincidence``); ``"day"`` and ``"year"`` run the batched time series with base
    load, EV profiles and on-site PV, the energy balance and the hosting capacity.
    """
    cfg = city.config
    g = cfg.grid
    grid_model = given_grid if g.source != "synthesise" else synthesise(city, loads.base)
    if grid_model is None:
        raise ValueError("grid_stage needs a given grid unless grid.source is 'synthesise'")
    sites = loads.sites
    if len(sites):
        buses = pd.Series(connect_sites(grid_model.net, sites, roads=city.roads), index=sites.index, name="bus_id")
    else:
        buses = pd.Series(dtype=int, name="bus_id", index=sites.index)
    if g.time_series == "peak":
        ev_kw = (sites["power_kw"] * g.ev_peak_coincidence).groupby(buses).sum()
        flow = run_peak_flow(
            grid_model.net, ev_kw, vm_min_pu=g.vm_min_pu, vm_max_pu=g.vm_max_pu,
            max_loading_percent=g.max_loading_percent,
        )
        return GridResults(model=grid_model, flow=flow, mode="peak", site_buses=buses)
    return _time_series(city, grid_model, loads, buses)


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


def _time_series(city: City, grid_model: GridModel, loads: GridLoads, buses: pd.Series) -> GridResults:
    """Design day or year: base load + EV (per-site profiles) + on-site PV, hosting capacity, energy."""
    cfg = city.config
    g = cfg.grid
    preset = preset_of(cfg)
    index = time_index(g.time_series, year=cfg.fleet.year, resolution_min=g.resolution_min, day=g.design_day)
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
    sites = loads.sites.assign(bus_id=buses)
    assessment = assess_grid(
        grid_model, sites, index, ev_shares=loads.site_profiles,
        base_load_factor=base_load_profile(index, residential_share=g.residential_share), mix=mix, pv=pv,
        pv_kwp_per_site=g.pv_kwp_per_site, vm_min_pu=g.vm_min_pu, vm_max_pu=g.vm_max_pu,
        max_loading_percent=g.max_loading_percent, hosting=g.hosting_capacity, hosting_hours=g.hosting_hours,
    )
    _, window_src = offpeak_hours(cfg)
    assessment.assumptions = [
        *PROFILE_ASSUMPTIONS,
        f"EV load: served energy of each site x the energy-weighted daily profile of its (segment, use case) "
        f"demand, strategy {loads.strategy!r} (city.toml demand.charging_strategy), off-peak window "
        f"{loads.offpeak_window[0]:02d}:00-{loads.offpeak_window[1] % 24:02d}:00 ({window_src})",
        f"on-site PV {g.pv_kwp_per_site:g} kWp per site (assumption; city.toml grid.pv_kwp_per_site), PV used first "
        "by the site's chargers",
        *pv.assumptions,
        f"hourly grid mix, one series ({ge.basis}): annual renewable share {ge.renewable_share.value:.0%} "
        f"({ge.renewable_share.source}) and intensity {ge.co2_g_per_kwh.value:g} gCO2e/kWh "
        f"({ge.co2_g_per_kwh.source}) shaped by solar = {g.solar_share_of_renewables:.0%} of renewables "
        "following the PV profile; constant intensity of non-renewable generation (assumption: the facts table "
        "gives annual averages only)",
    ]
    mode = "year" if g.time_series == "year" else "day"
    return GridResults(model=grid_model, flow=assessment.flow, mode=mode, site_buses=buses, assessment=assessment,
                       assumptions=list(assessment.assumptions))
