"""The pipeline: runs the stages in order and returns a :class:`Plan`.

city → network (prepared when the city is loaded) → demand → candidates → travel table
→ siting (MILP) → grid (connect sites, AC load flow at the evening peak) → outputs.

Saving a plan belongs to the outputs layer, above this one: :meth:`Plan.save` calls the writer
that :mod:`charge_planner.outputs` registers with :func:`register_plan_writer` when it is
imported, and ``import charge_planner`` (which runs before any of its modules) imports it.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from charge_planner.assumptions import (
    charger_table,
    offpeak_hours,
    preset_of,
    segment_table,
    site_cost_bands_usd,
)
from charge_planner.candidates import build_candidates, depot_only_segments
from charge_planner.city import City, load_city
from charge_planner.config import resolve_data_path
from charge_planner.demand import DemandResult, charging_profile, city_demand
from charge_planner.errors import InfeasibleError
from charge_planner.grid import connect_sites, load_grid, run_peak_flow, synthesise_grid
from charge_planner.grid.assess import assess_grid
from charge_planner.grid.connect import check_grid_near
from charge_planner.grid.energy import (
    base_load_growth,
    combustion_g_per_km,
    grid_emissions,
    grid_mix,
    pv_profile,
)
from charge_planner.grid.flow import lowest_voltage, voltage_levels
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
from charge_planner.siting.unserved import unserved_demand, unserved_summary
from charge_planner.version import __version__

log = logging.getLogger(__name__)

#: Writes a plan's files: ``writer(plan, out_dir, overwrite=, offline=, pdf=) -> folder``;
#: :func:`charge_planner.outputs.save_plan`, registered when :mod:`charge_planner.outputs` is imported.
_plan_writer: Callable[..., Path] | None = None


def register_plan_writer(writer: Callable[..., Path]) -> None:
    """Make ``writer`` the function behind :meth:`Plan.save` (called by :mod:`charge_planner.outputs`)."""
    global _plan_writer
    _plan_writer = writer


PACKAGES = ("charge-planner", "numpy", "pandas", "geopandas", "shapely", "networkx", "scipy", "pulp", "highspy",
            "pandapower", "folium", "osmnx", "pydantic")


@dataclass
class Plan:
    """Result of :func:`plan`: every stage's tables and the run's summary.

    Attributes
    ----------
    city
        The city bundle.
    demand
        ``demand`` rows the siting model consumed (publicly served use cases of the plan
        year), with ``node_id`` and ``access_m``.
    candidates
        ``candidates`` table.
    travel
        Sparse ``travel`` table (pairs within the cut-off).
    siting
        The solved siting model.
    sites
        Chosen sites (``sites`` contract) as a GeoDataFrame.
    grid
        Grid model (or None when ``grid.source = "none"``).
    flow
        Load-flow result at the evening peak (or None).
    summary
        JSON-serialisable summary: config hash, package versions, solver status, KPIs.
    demand_result
        The whole demand stage: fleet projection, cells, the ``demand`` table of every
        year and use case, hourly profiles and per-cell peaks.
    unserved
        Unserved energy of every siting demand row and rollout year with its cause
        (:func:`charge_planner.siting.unserved.unserved_demand`).
    """

    city: City
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    travel: pd.DataFrame
    siting: CapacitatedSiting
    sites: gpd.GeoDataFrame
    charger_types: pd.DataFrame
    segments: pd.DataFrame
    grid: Any = None
    flow: Any = None
    grid_assessment: Any = None
    summary: dict[str, Any] = field(default_factory=dict)
    demand_result: DemandResult | None = None
    unserved: pd.DataFrame | None = None

    def save(
        self,
        out_dir: Path | str | None = None,
        *,
        overwrite: bool = False,
        offline: bool | None = None,
        pdf: bool | None = None,
    ) -> Path:
        """Write the map, the report (HTML, and PDF when Chromium is there), GeoPackage, CSVs,
        ``summary.json`` and ``manifest.json`` (the list of files written).

        ``out_dir`` defaults to ``outputs.folder`` (else ``out/<city folder name>``), relative to the
        current directory. A new or empty folder is used; a folder holding an earlier plan output
        is replaced only with ``overwrite=True``, and then only the files its manifest lists are
        removed; any other non-empty folder, the city folder, the data root and folders containing
        them are refused with :class:`~charge_planner.outputs.OutputError`. Files are written to a
        temporary folder and moved into place only when all of them succeeded, so a failure leaves
        no partial output. ``offline`` and ``pdf`` override ``outputs.offline_map`` and
        ``outputs.pdf`` (see :func:`charge_planner.outputs.write_outputs`). Returns the folder.

        The work is done by :func:`charge_planner.outputs.save_plan`, which the outputs layer
        registers (:func:`register_plan_writer`) when ``charge_planner`` is imported.
        """
        if _plan_writer is None:
            raise RuntimeError("no plan writer registered: import charge_planner.outputs (import charge_planner "
                               "does) before Plan.save")
        return _plan_writer(self, out_dir, overwrite=overwrite, offline=offline, pdf=pdf)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a plan."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["charge-planner"] = __version__
    return out


def plan(city: City | Path | str, *, data_dir: Path | str | None = None, progress: bool | None = None) -> Plan:
    """Run the whole pipeline on a city.

    Parameters
    ----------
    city
        A loaded :class:`~charge_planner.city.City`, or a city folder.
    data_dir
        Data root used when ``city`` is a folder.
    progress
        Show a progress bar (default: when attached to a terminal).
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    bar = tqdm(total=6, desc="planning", unit="stage", disable=(None if progress is None else not progress), leave=False)

    def step(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        bar.set_postfix_str(name)
        bar.update(1)
        return time.perf_counter()

    t = time.perf_counter()
    if not isinstance(city, City):
        city = load_city(city, data_dir=data_dir)
    cfg = city.config
    # a grid given as a file, SimBench code or pandapower network is loaded and checked before any work
    # that depends on it, so that a grid of another place is refused up front; a synthesised one follows demand
    given_grid = load_given_grid(city)
    t = step("city", t)

    segs = segment_table(cfg)
    preset = preset_of(cfg)
    demand_result = city_demand(city)
    cells = demand_result.cells[demand_result.cells["population"] > 0]
    # the siting model plans the publicly served use cases of the rollout years (default: the plan year)
    demand = demand_result.for_siting(cfg.siting.rollout_years or cfg.fleet.year).copy()
    if demand.empty:
        raise InfeasibleError(
            f"no public charging demand to site in {cfg.siting.rollout_years or cfg.fleet.year}: no populated cell "
            f"has energy of a sited use case ({', '.join(cfg.demand.sited_use_cases)}); check fleet.segments, the "
            "use-case shares, demand.sited_use_cases and city.study_area_bbox"
        )
    demand[EQUITY_COLUMN] = equity_groups(demand, cfg.siting.equity_group_size_m)
    # demand points enter the road network at the nearest street; a point whose access to the road
    # alone takes longer than its cut-off cannot reach any site and is dropped (with a warning)
    access_speed = preset.road_speeds_kph.get("residential", 15.0) / 3.6
    # each segment's trips run on the road network of its travel mode (data.segment_modes)
    mode_of_row = demand["segment"].astype(str).map(city.mode_of)
    demand_snaps = {}
    for mode in sorted(set(mode_of_row)):
        rows = demand[mode_of_row == mode]
        demand_snaps[mode] = snap_to_edges(
            city.roads_for(mode), rows, max_access_m=float(rows["cutoff_s"].max()) * access_speed
        )
    snapped = pd.concat(list(demand_snaps.values())).reindex(demand.index)
    demand["node_id"] = snapped["node_id"]
    demand["access_m"] = snapped["access_m"]
    t = step("demand", t)

    chargers = charger_table(cfg)
    # demand only depots can host (buses) gets depot candidates on OSM land when none is tagged
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
    cand["connection_kw"] = np.where(cand["kind"].eq("charging_station"), site_cost_bands_usd(cfg)["max_kw"].iloc[0], 0.0)
    if cfg.siting.exclusion_zones:
        zone_file = resolve_data_path(cfg.siting.exclusion_zones, city_dir=city.city_dir, root=city.data_root,
                                      field="siting.exclusion_zones")
        cand = apply_exclusion_zones(cand, read_exclusion_zones(zone_file, crs=city.crs), label=zone_file.name)
    usable = cand[cand["excluded_reason"] == ""]
    t = step("candidates", t)

    tables = []
    for mode, demand_snap in demand_snaps.items():
        graph = city.roads_for(mode)
        site_snap = snap_to_edges(graph, usable)
        rows = demand.loc[demand_snap.index]
        table = travel_table(
            graph,
            demand_snap["node_id"],
            site_snap["node_id"],
            rows["cutoff_s"],
            demand_access_s=rows["access_m"] / access_speed,
            site_access_s=site_snap["access_m"] / access_speed,
            demand_snap=demand_snap,
            site_snap=site_snap,
        )
        if len(demand_snaps) > 1:  # ids as categoricals over all demand rows, so that the tables concatenate
            table["demand_id"] = pd.Categorical.from_codes(
                id_positions(table["demand_id"], demand.index), dtype=pd.CategoricalDtype(demand.index)
            )
        tables.append(table)
    travel = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
    t = step("travel", t)

    model = CapacitatedSiting.from_tables(demand, usable, chargers, travel, **siting_options(cfg))
    model.solve(cfg.siting.solver, time_limit_s=cfg.siting.time_limit_s, mip_gap=cfg.siting.mip_gap)
    assert model.sites is not None
    sites = gpd.GeoDataFrame(
        model.sites.join(usable[["name", "kind", "source", "node_id", "geometry"]]),
        geometry="geometry",
        crs=city.crs,
    )
    mv_types = [t_ for t_ in chargers.index if chargers.loc[t_, "grid_level"] == "mv"]
    has_mv = sites[[f"chargers_{t_}" for t_ in mv_types]].sum(axis=1) > 0 if mv_types else False
    sites["grid_level"] = np.where(has_mv | (sites["power_kw"] > cfg.grid.lv_max_site_kw), "mv", "lv")
    t = step("siting", t)

    grid_model, flow, assessment = None, None, None
    if cfg.grid.source != "none":
        grid_model, flow, sites, assessment = _grid_stage(city, cells, sites, model, demand, given_grid)
    step("grid", t)
    bar.close()

    result = Plan(
        city=city, demand=demand, candidates=cand, travel=travel, siting=model, sites=sites,
        charger_types=chargers, segments=segs, grid=grid_model, flow=flow, demand_result=demand_result,
        grid_assessment=assessment, unserved=unserved_demand(model, travel),
    )
    result.summary = _summary(result, timings, time.perf_counter() - t_start)
    return result


def load_given_grid(city: City) -> Any:
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


def _grid_stage(
    city: City, cells: pd.DataFrame, sites: gpd.GeoDataFrame, siting: CapacitatedSiting, demand: pd.DataFrame,
    given_grid: Any,
) -> tuple[Any, Any, gpd.GeoDataFrame, Any]:
    """Build the grid (or take the given one), connect the sites by road, run the peak or time-series load flow."""

    cfg = city.config
    preset = preset_of(cfg)
    g = cfg.grid
    if g.source == "synthesise":
        growth, rate = base_load_growth_of(cfg)
        kw_person = preset.base_peak_kw_per_person.value * growth
        loads = gpd.GeoDataFrame(
            {"base_peak_kw": cells["population"].to_numpy() * kw_person},
            geometry=gpd.points_from_xy(cells["x"], cells["y"]),
            crs=city.crs,
        )
        hz = preset.frequency_hz.value if preset.frequency_hz is not None else 50.0
        grid_model = synthesise_grid(
            city.roads, loads, mv_kv=preset.mv_kv.value, lv_kv=preset.lv_kv.value,
            substations=city.substations if len(city.substations) else None, seed=cfg.data.seed,
            max_substation_mva=g.max_substation_mva, frequency_hz=hz,
        )
        grid_model.assumptions.append(
            f"base load {kw_person:.4f} kW per resident in {cfg.fleet.year}: {preset.base_peak_kw_per_person.value:g} "
            f"kW in {preset.base_load_data_year} ({preset.base_peak_kw_per_person.source}) x {growth:.4f} = "
            f"(1 + {rate.value:g})^({cfg.fleet.year} - {preset.base_load_data_year}) ({rate.source})"
        )
    else:
        grid_model = given_grid
    sites = sites.copy()
    if len(sites):
        sites["bus_id"] = connect_sites(grid_model.net, sites, roads=city.roads)
    else:
        sites["bus_id"] = pd.Series(dtype=int)
    if g.time_series == "peak":
        ev_kw = (sites["power_kw"] * g.ev_peak_coincidence).groupby(sites["bus_id"]).sum()
        flow = run_peak_flow(
            grid_model.net, ev_kw, vm_min_pu=g.vm_min_pu, vm_max_pu=g.vm_max_pu,
            max_loading_percent=g.max_loading_percent,
        )
        return grid_model, flow, sites, None
    assessment = _grid_time_series(city, grid_model, sites, siting, demand)
    return grid_model, assessment.flow, sites, assessment


def _site_profiles(
    sites: pd.DataFrame, siting: CapacitatedSiting, demand: pd.DataFrame, strategy: str,
    offpeak_window: tuple[int, int],
) -> np.ndarray:
    """Daily charging profile of each site: its assignments' (segment, use case) profiles weighted by energy.

    ``strategy`` and ``offpeak_window`` are the demand stage's (``demand.charging_strategy`` and
    the preset's or city.toml's off-peak window), so the grid sees the load the demand peaks describe.
    """
    asg = siting.assignments
    out = np.full((len(sites), 24), 1.0 / 24.0)
    if asg is None or not len(asg) or not len(sites):
        return out
    cols = ["segment"] + (["use_case"] if "use_case" in demand.columns else [])
    a = asg.join(demand[cols], on="demand_id")
    if "use_case" not in a.columns:
        a["use_case"] = "public_dc"
    keys = list(dict.fromkeys(zip(a["segment"], a["use_case"], strict=True)))
    prof = {k: charging_profile(k[0], k[1], strategy, offpeak_hours=offpeak_window) for k in keys}
    rows = np.array([prof[k] for k in zip(a["segment"], a["use_case"], strict=True)]) * a["served_kwh_day"].to_numpy()[:, None]
    weighted = pd.DataFrame(rows, index=a["site_id"].to_numpy()).groupby(level=0).sum()
    total = weighted.sum(axis=1)
    weighted = weighted[total > 0].div(total[total > 0], axis=0)
    pos = sites.index.get_indexer(weighted.index)
    ok = pos >= 0
    out[pos[ok]] = weighted.to_numpy()[ok]
    return out


def _grid_time_series(
    city: City, grid_model: Any, sites: gpd.GeoDataFrame, siting: CapacitatedSiting, demand: pd.DataFrame
) -> Any:
    """Design day or year: base load + EV (per-site profiles) + on-site PV, hosting capacity, energy."""
    import pyproj


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
    strategy = cfg.demand.charging_strategy
    window, window_src = offpeak_hours(cfg)
    shares = _site_profiles(sites, siting, demand, strategy, window)
    assessment = assess_grid(
        grid_model, sites, index, ev_shares=shares,
        base_load_factor=base_load_profile(index, residential_share=g.residential_share), mix=mix, pv=pv,
        pv_kwp_per_site=g.pv_kwp_per_site, vm_min_pu=g.vm_min_pu, vm_max_pu=g.vm_max_pu,
        max_loading_percent=g.max_loading_percent, hosting=g.hosting_capacity, hosting_hours=g.hosting_hours,
    )
    assessment.assumptions = [
        *PROFILE_ASSUMPTIONS,
        f"EV load: served energy of each site x the energy-weighted daily profile of its (segment, use case) "
        f"demand, strategy {strategy!r} (city.toml demand.charging_strategy), off-peak window "
        f"{window[0]:02d}:00-{window[1] % 24:02d}:00 ({window_src})",
        f"on-site PV {g.pv_kwp_per_site:g} kWp per site (assumption; city.toml grid.pv_kwp_per_site), PV used first "
        "by the site's chargers",
        *pv.assumptions,
        f"hourly grid mix, one series ({ge.basis}): annual renewable share {ge.renewable_share.value:.0%} "
        f"({ge.renewable_share.source}) and intensity {ge.co2_g_per_kwh.value:g} gCO2e/kWh "
        f"({ge.co2_g_per_kwh.source}) shaped by solar = {g.solar_share_of_renewables:.0%} of renewables "
        "following the PV profile; constant intensity of non-renewable generation (assumption: the facts table "
        "gives annual averages only)",
    ]
    return assessment


def grid_emissions_of(cfg: Any) -> Any:
    """The run's grid series and avoided-emission factor (``[energy]`` of city.toml, the country preset)."""

    e = cfg.energy
    return grid_emissions(preset_of(cfg), series=e.grid_series, renewable_share=e.grid_renewable_share,
                          avoided_factor=e.avoided_emissions_factor)


def base_load_growth_of(cfg: Any) -> tuple[float, Sourced]:
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


def demand_result_summary(p: Plan) -> dict[str, Any]:
    """Fleet and energy KPIs of the plan year from the demand stage (empty when absent)."""
    if p.demand_result is None:
        return {}
    return p.demand_result.summary(p.city.config.fleet.year)


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _summary(p: Plan, timings: dict[str, float], total_s: float) -> dict[str, Any]:
    cfg = p.city.config
    preset = preset_of(cfg)
    siting = p.siting.summary()
    served = p.siting.served_by_segment
    assert served is not None and p.siting.assignments is not None
    # CO2 of the served energy and of the combustion kilometres it replaces

    ge = grid_emissions_of(cfg)
    basis = cfg.energy.combustion_basis
    served_by_seg = served["served_kwh_day"]
    kwh_per_km = p.segments["kwh_per_km"]
    km = (served_by_seg / kwh_per_km.reindex(served_by_seg.index)).fillna(0.0)
    combustion = combustion_g_per_km(preset, [str(s) for s in km.index], basis=basis)
    g_km = pd.Series({s: v.value for s, v in combustion.items()}, dtype=float)
    served_kwh_day = float(served_by_seg.sum())
    co2_ev_t_year = served_kwh_day * ge.co2_g_per_kwh.value * 365 / 1e6
    co2_ice_t_year = float((km * g_km.reindex(km.index).fillna(0.0)).sum()) * 365 / 1e6
    co2_for_avoided_t_year = served_kwh_day * ge.avoided_co2_g_per_kwh.value * 365 / 1e6
    per_km = {
        str(s): {
            "charging_g_per_km": round(float(kwh_per_km[s]) * ge.co2_g_per_kwh.value, 1),
            "combustion_g_per_km": combustion[s].value if s in combustion else None,
        }
        for s in km.index if s in kwh_per_km.index
    }
    summary: dict[str, Any] = {
        "city": cfg.city.name,
        "country": cfg.city.country,
        "synthetic": p.city.synthetic,
        "plan_year": cfg.fleet.year,
        "crs": p.city.crs,
        "config_hash": cfg.config_hash(),
        "package_versions": package_versions(),
        "solver": siting,
        "kpis": {
            "demand_kwh_day": round(siting["demand_kwh_day"], 2),
            "served_kwh_day": round(siting["served_kwh_day"], 2),
            "served_share": round(siting["served_kwh_day"] / max(siting["demand_kwh_day"], 1e-9), 4),
            "sites_open": siting["sites_open"],
            "chargers": {t: int(p.sites[f"chargers_{t}"].sum()) for t in p.charger_types.index},
            "installed_kw": round(float(p.sites["power_kw"].sum()), 1),
            "capex_usd": round(siting["capex_usd"], 0),
            "connection_cost_usd": round(siting["connection_cost_usd"], 0),
            "sites_by_connection_band": siting["sites_by_connection_band"],
            "budget_usd": cfg.siting.budget_usd,
            "grid_series": ge.series,
            "grid_series_basis": ge.basis,
            "grid_co2_g_per_kwh": ge.co2_g_per_kwh.value,
            "grid_renewable_share": ge.renewable_share.value,
            "renewable_kwh_day": round(served_kwh_day * ge.renewable_share.value, 2),
            "charging_co2_g_per_kwh": round(ge.co2_g_per_kwh.value, 1),
            "co2_t_year": round(co2_ev_t_year, 1),
            "co2_combustion_basis": basis,
            "co2_combustion_t_year": round(co2_ice_t_year, 1),
            "co2_avoided_factor": ge.avoided_factor,
            "co2_avoided_g_per_kwh": ge.avoided_co2_g_per_kwh.value,
            "co2_avoided_t_year": round(co2_ice_t_year - co2_for_avoided_t_year, 1),
            "co2_g_per_km_by_segment": per_km,
        },
        "demand": demand_result_summary(p),
        "served_by_segment": {
            s: {
                "demand_kwh_day": round(float(r["demand_kwh_day"]), 2),
                "served_kwh_day": round(float(r["served_kwh_day"]), 2),
                "served_share": _finite(r["served_share"]),
                "reachable_share": _finite(r["reachable_share"]),
            }
            for s, r in served.iterrows()
        },
        "unserved": unserved_summary(p.unserved, p.siting.years[-1]) if p.unserved is not None else {},
        "counts": {
            "road_nodes": p.city.roads.number_of_nodes(),
            "road_edges": p.city.roads.number_of_edges(),
            "road_networks": {m: {"nodes": g.number_of_nodes(), "edges": g.number_of_edges()}
                              for m, g in sorted(p.city.roads_by_mode.items())},
            "demand_rows": len(p.demand),
            "candidates": len(p.candidates),
            "travel_pairs": len(p.travel),
        },
        "timings_s": {**timings, "total": round(total_s, 3)},
        "sources": p.city.sources,
    }
    if p.flow is not None:
        f = p.flow
        levels = voltage_levels(f.buses)
        t3 = getattr(f, "trafos3w", None)
        summary["grid"] = {
            "source": p.grid.source,
            "synthetic": bool(p.grid.synthetic),
            "converged": bool(f.converged),
            "buses": int(len(f.buses)),
            "lines": int(len(f.lines)),
            "trafos": int(len(f.trafos)),
            "trafos3w": int(len(t3)) if t3 is not None else 0,
            # outside the slack buses, whose voltage is a set point
            "vm_min_pu": _finite(round(lowest_voltage(f.buses)[0], 5)),
            "vm_max_pu": _finite(round(float(levels["vm_max_pu"].max()), 5)) if len(levels) else None,
            "voltage_levels": [
                {"vn_kv": float(kv), "buses": int(r["buses"]), "vm_min_pu": round(float(r["vm_min_pu"]), 5),
                 "vm_max_pu": round(float(r["vm_max_pu"]), 5)}
                for kv, r in levels.iterrows()
            ],
            "line_loading_max_percent": round(float(f.lines["loading_percent"].max()), 2) if len(f.lines) else None,
            "trafo_loading_max_percent": round(float(f.trafos["loading_percent"].max()), 2) if len(f.trafos) else None,
            "trafo3w_loading_max_percent": (
                round(float(t3["loading_percent"].max()), 2) if t3 is not None and len(t3) else None
            ),
            "violations": int(f.n_violations),
            "ev_load_mw": round(float(f.ev_load_mw), 4),
            "base_load_mw": round(float(f.base_load_mw), 4),
            "time_series": p.city.config.grid.time_series,
            "frequency_hz": float(getattr(p.grid.net, "f_hz", 50.0) or 50.0),
            "assumptions": list(p.grid.assumptions),
        }
        if p.grid.source == "synthesised":
            growth, rate = base_load_growth_of(cfg)
            summary["grid"]["base_load"] = {
                "kw_per_person_data_year": preset.base_peak_kw_per_person.value,
                "data_year": preset.base_load_data_year,
                "growth_per_year": rate.value,
                "growth_factor": round(growth, 4),
                "kw_per_person_plan_year": round(preset.base_peak_kw_per_person.value * growth, 4),
            }
        a = p.grid_assessment
        if a is not None:
            summary["grid"].update(_grid_time_series_summary(p, a))
            e = summary["grid"]["energy"]
            kpis = summary["kpis"]
            kpis["charging_renewable_share"] = e["renewable_share"]
            kpis["renewable_kwh_day"] = e["renewable_kwh_day"]
            kpis["co2_t_year"] = e["co2_t_year"]
            if e["ev_kwh_day"] > 0:
                kpis["charging_co2_g_per_kwh"] = round(e["co2_t_year"] * 1e6 / (e["ev_kwh_day"] * 365.0), 1)
            if ge.avoided_factor == "grid_average":
                kpis["co2_avoided_t_year"] = round(kpis["co2_combustion_t_year"] - e["co2_t_year"], 1)
            kpis["co2_method"] = "hourly grid mix and on-site PV over the " + (
                "design day x 365" if a.days < 365 else "year"
            )
    if siting["status"] not in ("optimal", "feasible", "time_limit"):
        raise InfeasibleError(f"siting ended with status {siting['status']}")
    return summary


def _grid_time_series_summary(p: Plan, a: Any) -> dict[str, Any]:
    """Grid part of the summary that only a time series gives."""
    f = a.flow
    e = a.energy
    per_day = 1.0 / a.days
    v = f.violations
    out: dict[str, Any] = {
        "steps": int(len(f.index)),
        "step_h": f.step_h,
        "first_step": str(f.index[0]),
        "non_converged_steps": [str(t) for t in f.non_converged],
        "solve_s": round(float(f.batch.solve_s), 3) if f.batch is not None else None,
        "violation_hours": {
            "undervoltage": round(float(v.loc[v["kind"] == "undervoltage", "hours"].sum()), 2),
            "overvoltage": round(float(v.loc[v["kind"] == "overvoltage", "hours"].sum()), 2),
            "line_overload": round(float(v.loc[(v["element"] == "line"), "hours"].sum()), 2),
            "trafo_overload": round(float(v.loc[(v["element"] == "trafo"), "hours"].sum()), 2),
            "trafo3w_overload": round(float(v.loc[(v["element"] == "trafo3w"), "hours"].sum()), 2),
            "not_converged": round(float(v.loc[(v["kind"] == "not_converged"), "hours"].sum()), 2),
        },
        "steps_with_violations": int((f.steps["n_violations"] > 0).sum()),
        "pv_mw_peak": round(float(f.steps["pv_mw"].max()), 4),
        "energy": {
            "ev_kwh_day": round(e.ev_kwh * per_day, 2),
            "pv_used_kwh_day": round(e.pv_used_kwh * per_day, 2),
            "pv_exported_kwh_day": round(e.pv_exported_kwh * per_day, 2),
            "grid_kwh_day": round(e.grid_kwh * per_day, 2),
            "renewable_kwh_day": round(e.renewable_kwh * per_day, 2),
            "renewable_share": _finite(round(e.renewable_share, 4) if math.isfinite(e.renewable_share) else None),
            "co2_t_year": round(e.co2_kg * per_day * 365.0 / 1000.0, 1),
        },
        "time_series_assumptions": list(a.assumptions),
    }
    if a.hosting is not None:
        hc = a.hosting.table
        out["hosting_capacity"] = {
            "buses": int(len(hc)),
            "steps": [str(t) for t in a.hosting_steps],
            "min_kw": round(float(hc["hosting_capacity_kw"].min()), 1) if len(hc) else None,
            "median_kw": round(float(hc["hosting_capacity_kw"].median()), 1) if len(hc) else None,
            "limits": {str(k): int(n) for k, n in hc["limit"].value_counts().items()},
            "already_violated_buses": int(hc["already_violated"].sum()) if "already_violated" in hc else 0,
            "load_flows": int(a.hosting.load_flows),
            "seconds": round(float(a.hosting.seconds), 3),
        }
        if "bus_id" in p.sites.columns and len(p.sites):
            out["hosting_capacity"]["site_buses_min_kw"] = round(
                float(hc["hosting_capacity_kw"].reindex(p.sites["bus_id"]).min()), 1
            )
    return out


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as pretty JSON."""
    return json.dumps(summary, indent=2, sort_keys=False, default=_json_default)


def _json_default(o: object) -> object:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
