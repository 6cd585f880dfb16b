"""Connect charging sites to grid buses.

Level rule (:func:`grid_level`): a site goes to the MV level when it has a charger type
whose ``grid_level`` is ``"mv"`` (bus depots, large plazas) or when its installed power
exceeds ``lv_max_kw`` (default 500 kW, an assumption: above that a dedicated 11 kV
connection with its own transformer is usual); every other site goes to LV.

Distance: with a road graph, a site is connected to the bus of its level that is nearest
along the roads (the service cable follows the streets): buses are snapped to their
nearest road node, one multi-source Dijkstra per level over the undirected road graph
gives every road node its nearest bus, and the site's own road node (``node_id``) picks
it. The distance is road length + bus snap distance + site access distance. Without a
road graph, or for a site whose node is not connected to any bus node, the straight-line
nearest bus is used (and logged).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
from pandapower.auxiliary import pandapowerNet
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from charge_planner.errors import DataError, GridError
from charge_planner.grid.model import _road_tree, bus_roles, bus_xy_m

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_LV_MAX_KW", "MAX_MEDIAN_DISTANCE_M", "check_grid_near", "connect_sites", "connect_sites_detail",
           "grid_level"]

#: ASSUMPTION: largest installed power of a site connected at LV [kW].
DEFAULT_LV_MAX_KW = 500.0

#: Largest median straight-line distance from the sites to the nearest bus of their level [m].
#: Urban LV feeders run a few hundred metres and MV feeders a few kilometres; the longest rural
#: 11 kV feeders reach 20-30 km. Half the sites farther than this from any bus means the grid
#: is another place's (or in another CRS), so connecting them to it would plan nonsense.
MAX_MEDIAN_DISTANCE_M = 20_000.0


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


def grid_level(power_kw: pd.Series, has_mv_charger: pd.Series | None = None, *,
               lv_max_kw: float = DEFAULT_LV_MAX_KW) -> pd.Series:
    """Voltage level of each site: ``"mv"`` for MV charger types or power above ``lv_max_kw``.

    Parameters
    ----------
    power_kw
        Installed charging power per site [kW].
    has_mv_charger
        Whether a site has a charger type whose ``grid_level`` is ``"mv"`` (default: none).
    lv_max_kw
        Largest installed power connected at LV [kW].

    Returns
    -------
    pandas.Series
        ``"lv"`` or ``"mv"`` per site.
    """
    if not lv_max_kw > 0:
        raise DataError(f"lv_max_kw {lv_max_kw} must be positive")
    mv = pd.to_numeric(power_kw, errors="coerce").fillna(0.0) > lv_max_kw
    if has_mv_charger is not None:
        mv = mv | has_mv_charger.reindex(power_kw.index).fillna(False).astype(bool)
    return pd.Series(np.where(mv, "mv", "lv"), index=power_kw.index, name="grid_level")


def connect_sites(net: pandapowerNet, sites: gpd.GeoDataFrame, *, roads: nx.MultiDiGraph | None = None) -> pd.Series:
    """Bus of each site; see :func:`connect_sites_detail` (this returns its ``bus_id`` column)."""
    return connect_sites_detail(net, sites, roads=roads)["bus_id"]


def connect_sites_detail(
    net: pandapowerNet, sites: gpd.GeoDataFrame, *, roads: nx.MultiDiGraph | None = None
) -> pd.DataFrame:
    """Connect each charging site to the nearest in-service bus of its voltage level.

    ``lv`` sites go to the nearest bus of role ``"lv"``; ``mv`` sites to the nearest bus of
    role ``"mv"`` or ``"mv_substation"``. Roles come from ``net.bus["role"]`` or, where it is
    missing, from the nominal voltage (lv < 1 kV <= mv <= 36 kV). When the grid has no LV
    buses at all (an MV grid whose MV/LV stations are aggregated loads), ``lv`` sites go to
    the nearest MV bus and a warning is logged.

    With ``roads`` and a ``node_id`` column on the sites, the nearest bus is the one nearest
    along the roads (module docstring); otherwise the straight-line nearest.

    Parameters
    ----------
    net
        The pandapower net; not modified. Bus coordinates come from ``net.bus["x_m"]``,
        ``net.bus["y_m"]`` [m] or, when those are missing, from ``net.bus.geo`` projected to
        ``sites.crs``.
    sites
        Points in a projected metric CRS (the CRS of ``x_m``/``y_m``), indexed by
        ``site_id``, with columns ``power_kw`` [kW] and ``grid_level`` (``"lv"``/``"mv"``,
        see :func:`grid_level`), and ``node_id`` (road node) for road distances.
    roads
        Road graph (osmnx-style, same projected CRS; edge attribute ``length`` [m]).

    Returns
    -------
    pandas.DataFrame
        Per ``site_id``: ``bus_id`` (pandapower bus index), ``distance_m`` [m] and
        ``method`` (``"road"`` or ``"straight_line"``).

    Raises
    ------
    DataError
        When the sites table is malformed (all problems in one message).
    GridError
        When the grid has no bus coordinates, or no bus of the level a site needs, or when its
        buses lie more than :data:`MAX_MEDIAN_DISTANCE_M` (median, straight line) from the sites.
    """
    _validate_sites(sites)
    out = pd.DataFrame(
        {"bus_id": np.zeros(len(sites), dtype=np.int64), "distance_m": np.zeros(len(sites)), "method": "straight_line"},
        index=sites.index,
    )
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
    bus_id = np.zeros(len(sites), dtype=np.int64)
    method = np.full(len(sites), "straight_line", dtype=object)
    for lvl, pool in pools.items():
        mask = level == lvl
        if not mask.any():
            continue
        pool_xy = xy.loc[pool].to_numpy()
        tree = cKDTree(pool_xy)
        dist, pos = tree.query(site_xy[mask])
        bus_id[mask] = pool.to_numpy()[pos].astype(np.int64)
        distance_m[mask] = dist
    _check_near(distance_m, site_xy, xy.loc[usable].to_numpy(), sites.crs)
    road = _RoadIndex(roads) if roads is not None and "node_id" in sites.columns else None
    for lvl, pool in pools.items():
        mask = level == lvl
        if not mask.any():
            continue
        pool_xy = xy.loc[pool].to_numpy()
        if road is not None:
            rows = np.flatnonzero(mask)
            r_bus, r_dist = road.nearest(pool.to_numpy(), pool_xy, sites["node_id"].to_numpy()[rows], site_xy[rows])
            ok = r_bus >= 0
            bus_id[rows[ok]] = r_bus[ok]
            distance_m[rows[ok]] = r_dist[ok]
            method[rows[ok]] = "road"
            if (~ok).any():
                log.info("%d %s site(s) reach no %s bus by road: straight-line nearest used", int((~ok).sum()), lvl, lvl)
    out["bus_id"] = bus_id
    out["distance_m"] = distance_m
    out["method"] = method
    median = float(np.median(distance_m))
    log.info(
        "connected %d sites (%d by road); median distance to bus %.0f m, max %.0f m",
        len(sites), int((method == "road").sum()), median, distance_m.max(),
    )
    return out


def check_grid_near(net: pandapowerNet, bounds: tuple[float, float, float, float], *, crs: str) -> None:
    """Refuse a grid whose buses all lie far from the study area.

    Parameters
    ----------
    net
        The pandapower net (bus coordinates ``x_m``/``y_m`` [m] in ``crs``, else ``net.bus.geo``).
    bounds
        (minx, miny, maxx, maxy) of the study area in ``crs`` [m].
    crs
        Projected metric CRS of the city.

    Raises
    ------
    GridError
        When no in-service bus lies within :data:`MAX_MEDIAN_DISTANCE_M` of ``bounds`` (a grid
        with no coordinates at all is left to :func:`connect_sites_detail`).
    """
    if {"x_m", "y_m"} <= set(net.bus.columns) and np.isfinite(net.bus[["x_m", "y_m"]].to_numpy(dtype=float)).any():
        xy = net.bus[["x_m", "y_m"]].to_numpy(dtype=float)
    else:
        try:
            xy = bus_xy_m(net, crs).to_numpy(dtype=float)
        except (GridError, DataError):
            return
    xy = xy[net.bus["in_service"].astype(bool).to_numpy() & np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return
    minx, miny, maxx, maxy = bounds
    dx = np.maximum(0.0, np.maximum(minx - xy[:, 0], xy[:, 0] - maxx))
    dy = np.maximum(0.0, np.maximum(miny - xy[:, 1], xy[:, 1] - maxy))
    gap = float(np.hypot(dx, dy).min())
    if gap <= MAX_MEDIAN_DISTANCE_M:
        return
    centre = np.array([[(minx + maxx) / 2.0, (miny + maxy) / 2.0]])
    _check_near(np.array([gap]), centre, xy, crs, what="the study area", how="nearest bus, straight line")


def _check_near(distance_m: np.ndarray, site_xy: np.ndarray, bus_xy: np.ndarray, crs: object, *,
                what: str = "the charging sites", how: str = "median, straight line") -> None:
    """Refuse a grid whose buses are far from the sites (:data:`MAX_MEDIAN_DISTANCE_M`)."""
    median = float(np.median(distance_m))
    if median <= MAX_MEDIAN_DISTANCE_M:
        return
    where = ""
    if crs is not None:
        try:
            to_ll = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
            slon, slat = to_ll.transform(*np.median(site_xy, axis=0))
            blon, blat = to_ll.transform(*np.median(bus_xy, axis=0))
            if np.isfinite([slon, slat, blon, blat]).all():
                where = (f" ({what.removeprefix('the ')} around {slat:.2f} deg N {slon:.2f} deg E, grid around "
                         f"{blat:.2f} deg N {blon:.2f} deg E)")
        except pyproj.exceptions.ProjError:
            where = ""
    raise GridError(
        f"the grid's buses lie {median / 1000.0:,.0f} km ({how}) from {what}{where}, "
        f"more than {MAX_MEDIAN_DISTANCE_M / 1000.0:.0f} km: use a grid of the study area (grid.source = "
        "\"synthesise\" builds one from the roads) or check that the grid's coordinates and city.crs agree"
    )


class _RoadIndex:
    """Road graph prepared for nearest-bus-by-road queries."""

    def __init__(self, roads: nx.MultiDiGraph) -> None:
        tree = _road_tree(roads)
        self.node_ids = tree.node_ids
        self.pos = {n: i for i, n in enumerate(tree.node_ids)}
        self.xy = tree.xy
        self.graph = tree.graph
        self.kd = cKDTree(tree.xy)

    def nearest(
        self, bus_ids: np.ndarray, bus_xy: np.ndarray, site_nodes: np.ndarray, site_xy: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest bus by road (-1 where none is reachable) and the distance [m] per site."""
        snap_d, bus_node = self.kd.query(bus_xy)
        # per road node the bus with the shortest snap (then the lowest id)
        order = np.lexsort((bus_ids, snap_d, bus_node))
        node_u, first = np.unique(bus_node[order], return_index=True)
        best_bus = bus_ids[order][first]
        best_snap = snap_d[order][first]
        dist, _, sources = dijkstra(self.graph, directed=False, indices=node_u, return_predecessors=True,
                                    min_only=True)
        src_pos = {int(n): i for i, n in enumerate(node_u)}
        out_bus = np.full(len(site_nodes), -1, dtype=np.int64)
        out_d = np.full(len(site_nodes), np.nan)
        for i, node in enumerate(site_nodes):
            p = self.pos.get(node)
            if p is None or not np.isfinite(dist[p]) or sources[p] < 0:
                continue
            j = src_pos[int(sources[p])]
            access = float(np.hypot(*(site_xy[i] - self.xy[p])))
            out_bus[i] = int(best_bus[j])
            out_d[i] = float(dist[p]) + float(best_snap[j]) + access
        return out_bus, out_d
