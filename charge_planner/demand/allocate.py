"""Allocation and the demand table: the city's charging energy spread over the cells.

:func:`allocate_demand` spreads the city totals over the cells by the spatial weights into
the DESIGN ``demand`` table. :func:`city_demand` runs the whole stage (fleet, cells and
weights, profiles, allocation) for a loaded city and returns a :class:`DemandResult`;
:func:`population_by_cell` and :func:`build_demand` are a compact one-year entry point
from population points, and :func:`default_study_area` the study area a city plans for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from charge_planner.assumptions import adoption_settings, offpeak_hours, segment_table
from charge_planner.city import check_density
from charge_planner.config import resolve_data_path
from charge_planner.demand.fleet import energy_by_use_case, fleet_projection
from charge_planner.demand.profiles import cell_peaks, profile_table
from charge_planner.demand.spatial import (
    SpatialWeights,
    WeightLayer,
    make_cells,
    residential_layer,
    spatial_weights,
)
from charge_planner.errors import ConfigError, DataError
from charge_planner.presets import PUBLIC_USE_CASES, SEGMENTS, USE_CASES

if TYPE_CHECKING:
    from charge_planner.city import City

log = logging.getLogger(__name__)


# =============================================================================================
# 5. Allocation and the demand table
# =============================================================================================
def allocate_demand(
    energy: pd.DataFrame,
    weights: SpatialWeights,
    segments: pd.DataFrame,
    *,
    profiles: pd.DataFrame,
    sited_use_cases: Sequence[str] = PUBLIC_USE_CASES,
) -> gpd.GeoDataFrame:
    """Spread city totals over the cells: the ``demand`` table.

    Every (segment, year, use case) total is multiplied by the use case's cell shares
    (which sum to 1), so the sum over cells equals the total.

    Parameters
    ----------
    energy
        Output of :func:`energy_by_use_case`.
    weights
        Output of :func:`spatial_weights`.
    segments
        Segment parameters (``kwh_per_session``, ``cutoff_min``).
    profiles
        Output of :func:`profile_table` (gives ``peak_kw``).
    sited_use_cases
        Use cases served by public chargers that the siting model plans.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``demand_id`` (``<cell>:<segment>:<use case>:<year>``): ``geometry``
        (Point: weighted centre of the use case's weight in the cell), ``cell_id``,
        ``segment``, ``use_case``, ``year``, ``energy_kwh_day`` [kWh/day],
        ``sessions_day`` [1/day], ``peak_kw`` [kW, the row's own hourly maximum],
        ``cutoff_s`` [s], ``sited`` (bool). Rows with no energy are left out.
    """
    bad = [u for u in sited_use_cases if u not in USE_CASES]
    if bad:
        raise ConfigError(f"unknown sited use case(s) {bad}; use any of {list(USE_CASES)}")
    cell_ids = weights.shares.index.to_numpy()
    e = energy[energy["energy_kwh_day"] > 0]
    frames = []
    for u in USE_CASES:
        w = weights.shares[u].to_numpy()
        k = np.flatnonzero(w > 0)
        combos = e[e.index.get_level_values("use_case") == u]
        if combos.empty or len(k) == 0:
            if not combos.empty:
                raise DataError(f"use case {u} has energy but no cell has a weight for it")
            continue
        n_k, n_c = len(k), len(combos)
        seg = np.repeat(combos.index.get_level_values("segment").to_numpy(), n_k)
        year = np.repeat(combos.index.get_level_values("year").to_numpy(), n_k)
        kk = np.tile(k, n_c)
        frames.append(pd.DataFrame({
            "cell_id": cell_ids[kk],
            "segment": seg,
            "use_case": u,
            "year": year.astype(int),
            "energy_kwh_day": np.repeat(combos["energy_kwh_day"].to_numpy(), n_k) * w[kk],
            "x": weights.cx[u].to_numpy()[kk],
            "y": weights.cy[u].to_numpy()[kk],
            "order": kk,
        }))
    if not frames:
        raise DataError("no charging demand: every segment has zero EV energy; check the fleet parameters")
    t = pd.concat(frames, ignore_index=True)
    t = t[t["energy_kwh_day"] > 0]
    seg_rank = {s: i for i, s in enumerate(SEGMENTS)}
    use_rank = {u: i for i, u in enumerate(USE_CASES)}
    t = t.assign(_s=t["segment"].map(seg_rank), _u=t["use_case"].map(use_rank))
    t = t.sort_values(["year", "_s", "_u", "order"], kind="stable").drop(columns=["_s", "_u", "order"])
    seg_params = segments.loc[t["segment"]]
    t["sessions_day"] = t["energy_kwh_day"].to_numpy() / seg_params["kwh_per_session"].to_numpy(dtype=float)
    peak_share = profiles.max(axis=1)
    t["peak_kw"] = t["energy_kwh_day"].to_numpy() * peak_share.reindex(
        pd.MultiIndex.from_arrays([t["segment"], t["use_case"]])).to_numpy()
    t["cutoff_s"] = seg_params["cutoff_min"].to_numpy(dtype=float) * 60.0
    t["sited"] = t["use_case"].isin(list(sited_use_cases)).to_numpy()
    t.index = pd.Index(t["cell_id"].astype(str) + ":" + t["segment"] + ":" + t["use_case"] + ":" + t["year"].astype(str),
                       name="demand_id")
    gdf = gpd.GeoDataFrame(t.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(t["x"], t["y"]),
                           crs=weights.cells.crs)
    return gdf[["geometry", "cell_id", "segment", "use_case", "year", "energy_kwh_day", "sessions_day", "peak_kw",
                "cutoff_s", "sited"]]


@dataclass
class DemandResult:
    """Everything the demand stage produced for a city.

    Attributes
    ----------
    cells
        Cells (``cell_id`` index, clipped ``geometry``, ``area_m2`` [m2], ``population``
        [persons], ``x``, ``y`` residents' centre [m], ``attraction``, ``depots``).
    fleet
        :func:`fleet_projection` table, base year to horizon.
    energy
        City totals per (segment, year, use case) (:func:`energy_by_use_case`).
    demand
        The ``demand`` table of every year and use case (:func:`allocate_demand`).
    profiles
        Hourly profiles of the charging strategy (:func:`profile_table`).
    cell_peaks
        :func:`cell_peaks` of the demand table.
    population_total
        Residents of the study area [persons].
    population_source
        Where the residents come from.
    strategy
        The charging strategy of the profiles.
    years
        Years of the demand table.
    """

    cells: gpd.GeoDataFrame
    fleet: pd.DataFrame
    energy: pd.DataFrame
    demand: gpd.GeoDataFrame
    profiles: pd.DataFrame
    cell_peaks: pd.DataFrame
    population_total: float
    population_source: str
    strategy: str
    years: tuple[int, ...]
    study_area: BaseGeometry | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def for_siting(self, years: int | Sequence[int] | None = None) -> gpd.GeoDataFrame:
        """Rows the siting model consumes: publicly served use cases (``sited``) of the given years.

        Parameters
        ----------
        years
            A year, several years, or None for every year of the table.

        Raises
        ------
        ConfigError
            When a requested year is not in the table.
        """
        d = self.demand
        if years is None:
            return d[d["sited"]]
        wanted = [years] if isinstance(years, int | np.integer) else list(years)
        lacking = sorted(set(wanted) - set(self.years))
        if lacking:
            raise ConfigError(f"demand has no year(s) {lacking}; it covers {list(self.years)} (fleet.years)")
        return d[d["sited"] & d["year"].isin(wanted)]

    def summary(self, year: int) -> dict[str, object]:
        """KPIs of one year: EV stock per segment and energy per use case [kWh/day]."""
        f = self.fleet.xs(year, level="year")
        e = self.energy.xs(year, level="year")
        return {
            "year": year,
            "population": round(self.population_total, 1),
            "population_source": self.population_source,
            "ev_stock": {s: round(float(v), 1) for s, v in f["ev_stock"].items()},
            "ev_sales_share": {s: round(float(v), 4) for s, v in f["ev_sales_share"].items()},
            "energy_kwh_day_by_use_case": {
                u: round(float(v), 2) for u, v in e.groupby(level="use_case", sort=False)["energy_kwh_day"].sum().items()
            },
            "charging_strategy": self.strategy,
        }

def default_study_area(city: City) -> BaseGeometry:
    """The study area of a city: ``city.study_area_bbox`` of ``city.toml`` (WGS84, projected
    with densified edges), else the city's own ``study_area`` polygon when it has one, else the
    bounding box of the road network."""
    bbox = city.config.city.study_area_bbox
    if bbox is not None:
        from pyproj import Transformer

        ring = shapely.segmentize(box(*bbox), max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 64.0)
        x, y = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True).transform(*np.asarray(ring.exterior.coords).T)
        return shapely.Polygon(np.column_stack([x, y]))
    own = getattr(city, "study_area", None)
    if isinstance(own, BaseGeometry) and not own.is_empty:
        return own
    return box(*city.bounds())


def city_demand(city: City, *, years: Sequence[int] | None = None, study_area: BaseGeometry | None = None) -> DemandResult:
    """Run the demand stage for a loaded city.

    Parameters
    ----------
    city
        A :class:`~charge_planner.city.City`.
    years
        Years of the demand table (default: ``fleet.years``, else base year to max(target
        year, plan year)).
    study_area
        Polygon in the city's CRS (default: :func:`default_study_area`).

    Returns
    -------
    DemandResult
    """
    cfg = city.config
    settings = adoption_settings(cfg)
    years = tuple(sorted(set(years))) if years is not None else settings.years
    if min(years) < settings.base_year:
        raise ConfigError(f"demand years {list(years)} start before the base year {settings.base_year}")
    horizon = max(settings.horizon_year, max(years))
    segs = segment_table(cfg)
    area = study_area if study_area is not None else default_study_area(city)
    cells = make_cells(area, crs=city.crs, cell_type=cfg.demand.cell_type, cell_size_m=cfg.demand.cell_size_m,
                       h3_resolution=cfg.demand.h3_resolution)
    raster = None
    if cfg.data.population_raster:
        raster = resolve_data_path(cfg.data.population_raster, city_dir=city.city_dir, root=city.data_root,
                                   field="data.population_raster")
    layer, pop_total = residential_layer(
        cells, study_area=area, raster=raster, buildings=getattr(city, "buildings", None), population=city.population,
        population_total=cfg.data.population_total, mode=cfg.demand.residential_weights,
    )
    source = (f"data.population_raster ({raster.name})" if raster is not None and cfg.data.population_total is None
              else "data.population_total" if cfg.data.population_total is not None else "population")
    check_density(pop_total, area.area / 1e6, what=source)
    weights = spatial_weights(cells, layer, population_total=pop_total, pois=city.pois,
                              poi_share=cfg.demand.poi_share, poi_weights=cfg.demand.poi_weights)
    fleet = fleet_projection(
        segs, population=pop_total, base_year=settings.base_year, target_year=settings.target_year,
        horizon_year=horizon, ceiling=settings.ceiling, after_target=settings.after_target,
        survival=settings.survival, survival_shape=settings.survival_shape,
    )
    energy = energy_by_use_case(fleet, segs, years=years)
    window, _ = offpeak_hours(cfg)
    strategy = cfg.demand.charging_strategy
    profiles = profile_table(strategy, segments=list(segs.index), offpeak_hours=window)
    demand = allocate_demand(energy, weights, segs, profiles=profiles, sited_use_cases=cfg.demand.sited_use_cases)
    peaks = cell_peaks(demand, profiles)
    for y in years:
        e = energy.xs(y, level="year")["energy_kwh_day"]
        log.info("demand %d: %.0f kWh/day (%s); sited %.0f kWh/day", y, e.sum(),
                 ", ".join(f"{u} {v:.0f}" for u, v in e.groupby(level="use_case", sort=False).sum().items()),
                 demand.loc[demand["sited"] & (demand["year"] == y), "energy_kwh_day"].sum())
    return DemandResult(cells=weights.cells, fleet=fleet, energy=energy, demand=demand, profiles=profiles,
                        cell_peaks=peaks, population_total=pop_total, population_source=weights.population_source,
                        strategy=strategy, years=years, study_area=area)


# =============================================================================================
# One-year helpers over a population-per-cell frame
# =============================================================================================
def population_by_cell(
    population: gpd.GeoDataFrame, *, bounds: tuple[float, float, float, float], cell_size_m: float
) -> pd.DataFrame:
    """Sum population points into square cells and find each cell's population-weighted centre.

    Parameters
    ----------
    population
        Points with column ``population`` [persons], in the projected CRS.
    bounds
        (minx, miny, maxx, maxy) of the study area [m]; points outside are dropped (logged).
    cell_size_m
        Cell edge [m].

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cell_id``: ``population`` [persons], ``x``, ``y`` [m] of the weighted centre;
        cells without residents are left out.
    """
    if "population" not in population.columns:
        raise DataError("population layer has no 'population' column")
    pop = population["population"].to_numpy(dtype=float)
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise DataError("population layer has negative or missing values; fix or drop those features")
    pts = population.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    minx, miny, maxx, maxy = bounds
    inside = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
    if (~inside).any():
        log.info("dropped %d population points (%.0f persons) outside the study area", (~inside).sum(), pop[~inside].sum())
    x, y, pop = x[inside], y[inside], pop[inside]
    ix = np.floor((x - minx) / cell_size_m).astype(int)
    iy = np.floor((y - miny) / cell_size_m).astype(int)
    frame = pd.DataFrame({"ix": ix, "iy": iy, "pop": pop, "px": pop * x, "py": pop * y})
    g = frame.groupby(["ix", "iy"], sort=True).sum()
    g = g[g["pop"] > 0]
    return pd.DataFrame(
        {"population": g["pop"].to_numpy(), "x": (g["px"] / g["pop"]).to_numpy(), "y": (g["py"] / g["pop"]).to_numpy()},
        index=pd.Index([f"c{i:04d}_{j:04d}" for i, j in g.index], name="cell_id"),
    )


def build_demand(
    cells: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    year: int,
    base_year: int,
    target_year: int,
    crs: str,
    strategy: str = "unmanaged",
    sited_use_cases: Sequence[str] = PUBLIC_USE_CASES,
) -> gpd.GeoDataFrame:
    """The sited rows of the ``demand`` table of one year, from residents per cell only (no POIs).

    A compact entry point for notebooks and tests; :func:`city_demand` is the full stage.

    Parameters
    ----------
    cells
        Output of :func:`population_by_cell` (``population``, ``x``, ``y`` by ``cell_id``).
    segments
        Segment parameters (:func:`charge_planner.assumptions.segment_table`).
    year, base_year, target_year
        Plan year and the years of the adoption curve.
    crs
        Projected CRS of the cell coordinates.
    strategy
        Charging strategy of ``peak_kw``.
    sited_use_cases
        Use cases kept.

    Returns
    -------
    geopandas.GeoDataFrame
        The :func:`allocate_demand` columns of the sited rows, plus ``population``
        [persons] of the cell and ``ev_stock`` [vehicles]: the cell's EVs of the segment
        times the use case's share of their energy.
    """
    if year < base_year:
        raise ConfigError(f"plan year {year} is before base year {base_year}")
    pop = cells["population"].to_numpy(dtype=float)
    n = len(cells)
    geo = gpd.GeoDataFrame(cells[[]], geometry=gpd.points_from_xy(cells["x"], cells["y"]), crs=crs)
    layer = WeightLayer(pop, pop * cells["x"].to_numpy(), pop * cells["y"].to_numpy(), float(pop.sum()), "population")
    weights = spatial_weights(geo, layer)
    fleet = fleet_projection(segments, population=float(pop.sum()), base_year=base_year, target_year=target_year,
                             horizon_year=max(year, target_year))
    energy = energy_by_use_case(fleet, segments, years=[year])
    profiles = profile_table(strategy, segments=list(segments.index))
    d = allocate_demand(energy, weights, segments, profiles=profiles, sited_use_cases=sited_use_cases)
    d = d[d["sited"]].copy()
    d["population"] = cells["population"].reindex(d["cell_id"]).to_numpy()
    ev = fleet.xs(year, level="year")["ev_stock"]
    share = np.zeros(len(d))
    for u in USE_CASES:
        m = (d["use_case"] == u).to_numpy()
        share[m] = segments.loc[d["segment"].to_numpy()[m], f"share_{u}"].to_numpy(dtype=float)
    d["ev_stock"] = ev.reindex(d["segment"]).to_numpy() * d["population"].to_numpy() / max(pop.sum(), 1e-300) * share
    log.debug("build_demand: %d cells, %d rows", n, len(d))
    return d
