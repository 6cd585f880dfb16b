"""Snapping points to a prepared road graph: to the nearest edge (position along the street and
perpendicular access distance, :func:`snap_to_edges`) or to the nearest node (:func:`snap_points`).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from charge_planner.errors import DataError
from charge_planner.network.graph import EdgeTable, _node_xy

log = logging.getLogger(__name__)


def _point_array(graph: nx.MultiDiGraph, points: gpd.GeoSeries | gpd.GeoDataFrame) -> tuple[np.ndarray, pd.Index]:
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if geoms.crs is not None and "crs" in graph.graph:
        from pyproj import CRS

        if not CRS.from_user_input(geoms.crs).equals(CRS.from_user_input(graph.graph["crs"])):
            raise DataError(
                f"the points are in {geoms.crs.to_string()} but the road graph in {graph.graph['crs']}; "
                "reproject them with .to_crs(graph.graph['crs'])"
            )
    arr = geoms.to_numpy()
    bad = shapely.is_missing(arr) | shapely.is_empty(arr)
    if bad.any():
        ids = list(geoms.index[bad][:5])
        raise DataError(f"{int(bad.sum())} points have no geometry (first ids {ids}); drop or fix them")
    return arr, geoms.index


def snap_points(graph: nx.MultiDiGraph, points: gpd.GeoSeries | gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Snap points to their nearest graph node.

    Parameters
    ----------
    graph
        Projected road graph.
    points
        Point geometries in the graph's CRS.

    Returns
    -------
    tuple of numpy.ndarray
        Node id per point and the straight-line access distance [m].
    """
    arr, _ = _point_array(graph, points)
    nodes, xy = _node_xy(graph)
    tree = cKDTree(xy)
    dist, idx = tree.query(np.column_stack([shapely.get_x(arr), shapely.get_y(arr)]))
    return nodes.to_numpy()[idx], dist


def snap_to_edges(
    graph: nx.MultiDiGraph,
    points: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    max_access_m: float | None = None,
    edges: EdgeTable | None = None,
) -> pd.DataFrame:
    """Snap points to the nearest edge of a projected road graph.

    Each point is projected onto its nearest street (both directions of a two-way street are one
    street); :func:`travel_table` routes it from that position.

    Parameters
    ----------
    graph
        Prepared, projected road graph.
    points
        Point geometries in the graph's CRS.
    max_access_m
        Points farther than this from every road are dropped: their ``node_id`` is -1 and a
        warning says how many and why [m]. Default: keep every point.
    edges
        ``EdgeTable.from_graph(graph, geometry=True, keys=True)`` built once, to reuse across
        calls (and with :func:`travel_table`); read from ``graph`` when None.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``points``: ``node_id`` (the end of the street nearer along it, -1 when
        dropped), ``access_m`` (straight-line distance from the point to the street) [m], ``u``,
        ``v``, ``key`` (the snapped edge) and ``edge_frac`` (position along ``u -> v``, 0-1).

    Raises
    ------
    DataError
        When the points are in another CRS than the graph, have no geometry, or every point is
        farther than ``max_access_m`` from the network.
    """
    arr, index = _point_array(graph, points)
    et = edges if edges is not None else EdgeTable.from_graph(graph, geometry=True, keys=True)
    if et.geometry is None or et.key is None:
        raise DataError("snap_to_edges: the edge table must be built with geometry=True, keys=True")
    rep_geom = et.geometry[et.rep]
    usable = et.u[et.rep] != et.v[et.rep]  # self-loops are poor snap targets
    cand = np.flatnonzero(usable) if usable.any() else np.arange(len(et.rep))
    tree = shapely.STRtree(rep_geom[cand])
    if len(arr):
        (pi, gi), dist = tree.query_nearest(arr, return_distance=True, all_matches=False)
        order = np.argsort(pi, kind="stable")
        gi, dist = gi[order], dist[order]
    else:
        gi, dist = np.zeros(0, dtype=np.int64), np.zeros(0)
    edge = et.rep[cand[gi]]
    frac = shapely.line_locate_point(et.geometry[edge], arr, normalized=True) if len(arr) else np.zeros(0)
    frac = np.clip(np.nan_to_num(frac, nan=0.0), 0.0, 1.0)
    node_pos = np.where(frac <= 0.5, et.u[edge], et.v[edge])
    node_id = et.nodes.to_numpy()[node_pos]
    out = pd.DataFrame(
        {
            "node_id": node_id,
            "access_m": dist,
            "u": et.nodes.to_numpy()[et.u[edge]],
            "v": et.nodes.to_numpy()[et.v[edge]],
            "key": et.key[edge] if et.key is not None else 0,
            "edge_frac": frac,
        },
        index=index,
    )
    if max_access_m is not None and len(out):
        far = out["access_m"].to_numpy() > max_access_m
        if far.all():
            raise DataError(
                f"all {len(out)} points are more than {max_access_m:.0f} m from the road network "
                f"(nearest {out['access_m'].min():.0f} m); check that points and roads cover the same area and CRS"
            )
        if far.any():
            out["node_id"] = out["node_id"].astype(object)
            out.loc[far, "node_id"] = -1
            ids = list(index[far][:5])
            log.warning(
                "dropped %d of %d points more than %.0f m from the nearest road (up to %.0f m; first ids %s): "
                "they cannot reach the network within the allowed access distance",
                int(far.sum()), len(out), max_access_m, float(out["access_m"].max()), ids,
            )
    return out
