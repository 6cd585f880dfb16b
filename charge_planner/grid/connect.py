"""Connect charging sites to grid buses.

A site is connected to the nearest bus of its voltage level by straight-line distance
(scipy ``cKDTree`` on the projected bus coordinates ``x_m``/``y_m``). Road distance (the
cable would follow the streets) is a later refinement.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from pandapower.auxiliary import pandapowerNet
from scipy.spatial import cKDTree

from charge_planner.errors import DataError, GridError
from charge_planner.grid.build import bus_roles, bus_xy_m

log = logging.getLogger(__name__)

__all__ = ["connect_sites"]

#: A median site-to-bus distance above this suggests the sites and the grid are in
#: different CRSs or places [m].
_SUSPICIOUS_DISTANCE_M = 20_000.0


def _bus_coordinates(net: pandapowerNet, sites: gpd.GeoDataFrame) -> pd.DataFrame:
    if {"x_m", "y_m"} <= set(net.bus.columns):
        xy = net.bus[["x_m", "y_m"]].astype(float)
        if np.isfinite(xy.to_numpy()).all(axis=1).any():
            return xy
    if sites.crs is None:
        raise GridError(
            "grid buses have no projected coordinates x_m/y_m and the sites have no CRS to project "
            "net.bus.geo to: set sites.crs to the city's projected CRS"
        )
    if not pyproj.CRS.from_user_input(sites.crs).is_projected:
        raise DataError(
            f"sites are in geographic CRS {sites.crs.to_string()}: reproject them to the city's projected metric CRS"
        )
    xy = bus_xy_m(net, sites.crs.to_string())
    if not np.isfinite(xy.to_numpy()).all(axis=1).any():
        raise GridError(
            "grid has no bus coordinates (neither x_m/y_m nor net.bus.geo), so sites cannot be connected "
            "to it by location: use a grid with geodata or synthesise one from the roads"
        )
    return xy


def _validate_sites(sites: gpd.GeoDataFrame) -> None:
    problems: list[str] = []
    for col in ("power_kw", "grid_level"):
        if col not in sites.columns:
            problems.append(f"column {col!r} is missing")
    if "grid_level" in sites.columns:
        bad = sites.index[~sites["grid_level"].isin(["lv", "mv"])]
        if len(bad):
            problems.append(f"grid_level of site(s) {list(bad[:5])} is not 'lv' or 'mv'")
    if "power_kw" in sites.columns:
        kw = pd.to_numeric(sites["power_kw"], errors="coerce").to_numpy(dtype=float)
        bad = sites.index[~np.isfinite(kw) | (kw < 0)]
        if len(bad):
            problems.append(f"power_kw of site(s) {list(bad[:5])} is missing or negative")
    empty = sites.index[sites.geometry.isna() | sites.geometry.is_empty]
    if len(empty):
        problems.append(f"site(s) {list(empty[:5])} have no geometry")
    if not sites.index.is_unique:
        problems.append("site ids (the index) are not unique")
    if problems:
        raise DataError("sites table: " + "; ".join(problems))


def connect_sites(net: pandapowerNet, sites: gpd.GeoDataFrame) -> pd.Series:
    """Connect each charging site to the nearest in-service bus of its voltage level.

    ``lv`` sites go to the nearest bus of role ``"lv"``; ``mv`` sites to the nearest bus of
    role ``"mv"`` or ``"mv_substation"``. Roles come from ``net.bus["role"]`` or, where it is
    missing, from the nominal voltage (lv < 1 kV <= mv <= 36 kV). When the grid has no LV
    buses at all (an MV grid whose MV/LV stations are aggregated loads), ``lv`` sites go to
    the nearest MV bus and a warning is logged.

    Distance is the straight line between the site and the bus; road distance (cables follow
    the streets) is a later refinement.

    Parameters
    ----------
    net
        The pandapower net; not modified. Bus coordinates come from ``net.bus["x_m"]``,
        ``net.bus["y_m"]`` [m] or, when those are missing, from ``net.bus.geo`` projected to
        ``sites.crs``.
    sites
        Points in a projected metric CRS (the CRS of ``x_m``/``y_m``), indexed by
        ``site_id``, with columns ``power_kw`` [kW] and ``grid_level`` (``"lv"``/``"mv"``).

    Returns
    -------
    pandas.Series
        ``bus_id`` (pandapower bus index) per ``site_id``.

    Raises
    ------
    DataError
        When the sites table is malformed (all problems in one message).
    GridError
        When the grid has no bus coordinates, or no bus of the level a site needs.
    """
    _validate_sites(sites)
    out = pd.Series(np.zeros(len(sites), dtype=np.int64), index=sites.index, name="bus_id")
    if len(sites) == 0:
        return out
    xy = _bus_coordinates(net, sites)
    roles = bus_roles(net)
    usable = net.bus["in_service"].astype(bool) & np.isfinite(xy.to_numpy()).all(axis=1)
    pools = {
        "lv": net.bus.index[usable & (roles == "lv")],
        "mv": net.bus.index[usable & roles.isin(["mv", "mv_substation"])],
    }
    level = sites["grid_level"].to_numpy()
    if (level == "lv").any() and len(pools["lv"]) == 0:
        if len(pools["mv"]) == 0:
            raise GridError(
                "grid has no in-service LV or MV bus with coordinates: lv sites cannot be connected"
            )
        log.warning(
            "grid has no LV buses: %d lv site(s) are connected to the nearest MV bus (the MV/LV station)",
            int((level == "lv").sum()),
        )
        pools["lv"] = pools["mv"]
    if (level == "mv").any() and len(pools["mv"]) == 0:
        raise GridError(
            "grid has no in-service MV bus (1-36 kV) with coordinates: connect these sites at 'lv' "
            "or use a grid with an MV level"
        )
    geom = sites.geometry
    geom = geom.where(geom.geom_type == "Point", geom.centroid)
    site_xy = np.column_stack([geom.x.to_numpy(dtype=float), geom.y.to_numpy(dtype=float)])
    distance_m = np.zeros(len(sites))
    for lvl, pool in pools.items():
        mask = level == lvl
        if not mask.any():
            continue
        tree = cKDTree(xy.loc[pool].to_numpy())
        dist, pos = tree.query(site_xy[mask])
        out.iloc[np.flatnonzero(mask)] = pool.to_numpy()[pos].astype(np.int64)
        distance_m[mask] = dist
    median = float(np.median(distance_m))
    if median > _SUSPICIOUS_DISTANCE_M:
        log.warning(
            "sites lie %.0f km (median) from their buses: check that sites and grid share the same CRS",
            median / 1000.0,
        )
    log.info(
        "connected %d sites; median distance to bus %.0f m, max %.0f m", len(sites), median, distance_m.max()
    )
    return out
