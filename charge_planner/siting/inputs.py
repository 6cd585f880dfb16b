"""Inputs of the siting stage prepared from a city's configuration: exclusion zones, equity
groups and the keyword arguments of :meth:`CapacitatedSiting.from_tables`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from charge_planner.assumptions import site_cost_bands_usd
from charge_planner.errors import DataError

if TYPE_CHECKING:
    from charge_planner.config import CityConfig

log = logging.getLogger(__name__)

EQUITY_COLUMN = "equity_group"


def read_exclusion_zones(path: Path | str, *, crs: str) -> gpd.GeoSeries:
    """Read the polygons of an exclusion-zone file (GeoJSON, GeoPackage, shapefile, ...).

    Parameters
    ----------
    path
        The file.
    crs
        Projected CRS of the city; the zones are reprojected to it after their edges are split
        into pieces of at most :data:`DENSIFY_SEGMENT_M` (:func:`densified`).

    Raises
    ------
    DataError
        When the file cannot be read, has no CRS, holds no polygons or has coordinates outside the
        range of its geographic CRS (metres in a GeoJSON, which is always in degrees).
    """
    path = Path(path)
    try:
        zones = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise DataError(f"{path}: cannot read the exclusion zones ({exc}); give a GeoJSON, GeoPackage or shapefile") from None
    if zones.crs is None:
        raise DataError(f"{path}: the exclusion zones have no CRS; save the file with one (e.g. EPSG:4326)")
    polys = zones[zones.geometry.notna() & zones.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        raise DataError(f"{path}: no polygons in the exclusion-zone file; draw the areas as polygons")
    if pyproj.CRS.from_user_input(zones.crs).is_geographic:
        minx, miny, maxx, maxy = polys.total_bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise DataError(f"{path}: the exclusion zones' coordinates ({minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g}) "
                            f"are not longitude/latitude degrees although the file's CRS is {zones.crs.to_string()}; "
                            "save the file with the CRS its coordinates are in (GeoJSON: reproject to EPSG:4326)")
    return densified(polys.geometry).to_crs(crs)


#: Longest polygon edge kept when reprojecting exclusion zones [m]: a straight edge in the file's
#: CRS is a curve in the city's CRS, so edges are split first (a 5 km edge in EPSG:4326 at 28 deg N
#: bows by several metres in UTM).
DENSIFY_SEGMENT_M = 50.0

#: Most vertices densification adds per polygon edge, so that a continent-sized polygon stays cheap.
_MAX_VERTICES_PER_EDGE = 1000


def densified(geoms: gpd.GeoSeries, *, max_segment_m: float = DENSIFY_SEGMENT_M) -> gpd.GeoSeries:
    """Split polygon edges longer than ``max_segment_m`` [m] in the series' own CRS, before reprojection.

    The length is converted to the CRS's units (degrees: 111,320 m per degree of latitude, the
    shorter one, so the segments are at most ``max_segment_m`` long on the ground in any direction).
    """
    if geoms.crs is None or len(geoms) == 0:
        return geoms
    c = pyproj.CRS.from_user_input(geoms.crs)
    if c.is_geographic:
        step = max_segment_m / 111_320.0
    else:
        factor = c.axis_info[0].unit_conversion_factor if c.axis_info else 1.0
        step = max_segment_m / (factor or 1.0)
    minx, miny, maxx, maxy = geoms.total_bounds
    step = max(step, max(maxx - minx, maxy - miny) / _MAX_VERTICES_PER_EDGE)
    return gpd.GeoSeries(shapely.segmentize(geoms.to_numpy(), step), index=geoms.index, crs=geoms.crs)


def apply_exclusion_zones(candidates: gpd.GeoDataFrame, zones: gpd.GeoSeries, *, label: str) -> gpd.GeoDataFrame:
    """Mark the candidates inside any zone as excluded (``excluded_reason``), keeping earlier reasons.

    Parameters
    ----------
    candidates
        The ``candidates`` table.
    zones
        Polygons in the candidates' CRS.
    label
        Name of the zone file, quoted in ``excluded_reason``.

    Raises
    ------
    DataError
        When the zones cover every candidate that was usable before (no site could open).
    """
    out = candidates.copy()
    if len(out) == 0 or len(zones) == 0:
        return out
    hit = gpd.sjoin(out[["geometry"]], gpd.GeoDataFrame(geometry=zones.reset_index(drop=True)), predicate="intersects")
    inside = out.index.isin(hit.index)
    if not inside.any():
        minx, miny, maxx, maxy = out.total_bounds
        gap = float(zones.distance(shapely.box(minx, miny, maxx, maxy)).min())
        if gap > 0:
            log.warning("exclusion zones %s: no zone reaches the candidates' area (nearest %.1f km away); check the "
                        "file and its CRS", label, gap / 1000.0)
    reason = out["excluded_reason"].fillna("").astype(str) if "excluded_reason" in out.columns else pd.Series("", index=out.index)
    open_before = (reason == "").to_numpy()
    if open_before.any() and inside[open_before].all():
        raise DataError(f"exclusion zones {label} cover all {int(open_before.sum())} usable candidate sites, so no "
                        "charger could be placed; check the file (areas where sites may NOT open) and its CRS")
    new = np.where(inside & (reason == ""), f"in an exclusion zone ({label})", reason)
    out["excluded_reason"] = new
    log.info("exclusion zones %s: %d of %d candidates excluded", label, int(inside.sum()), len(out))
    return out


def equity_groups(demand: gpd.GeoDataFrame, size_m: float) -> pd.Series:
    """Group demand rows into squares of ``size_m`` (by their point), labelled ``g<ix>_<iy>``.

    Parameters
    ----------
    demand
        The ``demand`` table (Point geometry in a projected metric CRS).
    size_m
        Edge of a group square [m].
    """
    pts = demand.geometry.representative_point()
    ix = np.floor(pts.x.to_numpy() / size_m).astype(np.int64)
    iy = np.floor(pts.y.to_numpy() / size_m).astype(np.int64)
    ix -= ix.min() if len(ix) else 0
    iy -= iy.min() if len(iy) else 0
    return pd.Series([f"g{a}_{b}" for a, b in zip(ix, iy, strict=True)], index=demand.index, name=EQUITY_COLUMN)


def siting_options(config: CityConfig) -> dict[str, Any]:
    """Keyword arguments of :meth:`CapacitatedSiting.from_tables` from ``[siting]`` (and the site
    connection cost by power band, :func:`~charge_planner.assumptions.site_cost_bands_usd`)."""
    s = config.siting
    years = config.siting_years
    return {
        "budget_usd": s.budget_usd,
        "max_sites_per_demand": s.max_sites_per_demand,
        "budget_by_year_usd": dict(zip(years, s.year_budgets_usd, strict=True)) if s.year_budgets_usd else None,
        "carry_over": s.carry_over_budget,
        "equity_floor": s.equity_floor,
        "equity_column": EQUITY_COLUMN,
        "min_served_share": s.min_served_share,
        "site_cost_bands": site_cost_bands_usd(config)[["max_kw", "cost_usd"]],
    }
