"""Drive-time areas (isochrones): the area from which each site is reachable within given minutes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from charge_planner.errors import DataError
from charge_planner.network.graph import _ZERO_TIME_S, EdgeTable, _node_positions
from charge_planner.network.travel import _DEFAULT_MAX_CELLS, _batches, _groups, _routing_network


def isochrones(
    graph: nx.MultiDiGraph,
    site_nodes: pd.Series,
    minutes: Sequence[float] | Iterable[float],
    *,
    buffer_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """Areas from which each site is reachable within the given minutes.

    A street counts as far as a driver on it reaches the site within the time (partly reached
    streets are cut at the reachable point); the reached streets are buffered by ``buffer_m``
    and merged into one polygon per site and time.

    Parameters
    ----------
    graph
        Prepared, projected road graph.
    site_nodes
        Node id per ``site_id``.
    minutes
        Travel times to draw [min].
    buffer_m
        Half-width of the drawn band around the reached streets [m]; a display setting
        (assumption: about half a city block), not a model number.

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id``, ``minutes`` [min], ``area_km2`` [km2] and ``geometry`` (Polygon or
        MultiPolygon) in the graph's CRS, ordered by site and minutes.

    Raises
    ------
    DataError
        When a minute value is not positive or a site node is not in the graph.
    """
    wanted = [float(m) for m in minutes]
    mins = sorted(set(wanted))
    if not mins or mins[0] <= 0 or not all(math.isfinite(m) for m in mins):
        raise DataError(f"isochrone minutes must be positive numbers, got {wanted}")
    crs = graph.graph.get("crs")
    if len(site_nodes) == 0:
        return gpd.GeoDataFrame(
            {"site_id": pd.Series(dtype=object), "minutes": pd.Series(dtype=float), "area_km2": pd.Series(dtype=float)},
            geometry=[], crs=crs,
        )
    et = EdgeTable.from_graph(graph, geometry=True)
    assert et.geometry is not None
    s_pos = _node_positions(et.nodes, site_nodes, "site")
    routing, _ = _routing_network(et, [])
    times = routing.rev.matrix(np.maximum(routing.rev.t, _ZERO_TIME_S))
    src, src_order, src_ptr = _groups(s_pos)
    limit = mins[-1] * 60.0
    reach_m = routing.speed_bound * limit * (1 + 1e-9) + 1e-6
    steps = np.linspace(0.0, 1.0, 5)
    polys: dict[tuple[int, float], object] = {}
    for b in _batches(src, routing.xy, reach_m, chunk=32, max_cells=_DEFAULT_MAX_CELLS):
        dist = dijkstra(times, directed=True, indices=src[b], limit=limit)
        for row, s_idx in enumerate(b):
            dv = dist[row][et.v]  # time from the end of each edge to the site
            for m in mins:
                budget = m * 60.0
                # a driver at fraction phi of edge u -> v needs (1 - phi) t + D(v): the edge is
                # reached from phi0 = 1 - (budget - D(v)) / t on
                ok = dv <= budget
                with np.errstate(divide="ignore", invalid="ignore"):
                    phi0 = np.where(et.time_s > 0, 1.0 - (budget - dv) / et.time_s, 0.0)
                phi0 = np.clip(np.nan_to_num(phi0, nan=1.0), 0.0, 1.0)
                full = np.flatnonzero(ok & (phi0 <= 0.0))
                _, first = np.unique(et.group[full], return_index=True)  # a two-way street once
                part = np.flatnonzero(ok & (phi0 > 0.0) & (phi0 < 1.0))
                pieces = [et.geometry[full[first]]]
                if len(part):
                    fr = phi0[part, None] + (1.0 - phi0[part, None]) * steps[None, :]
                    pts = shapely.line_interpolate_point(np.repeat(et.geometry[part], len(steps)), fr.ravel(),
                                                         normalized=True)
                    pieces.append(shapely.linestrings(shapely.get_coordinates(pts).reshape(len(part), len(steps), 2)))
                site = shapely.points(routing.xy[src[s_idx]])
                parts = np.concatenate([*pieces, [site]])
                poly = shapely.union_all(shapely.buffer(parts, buffer_m, quad_segs=2))
                polys[(int(s_idx), m)] = shapely.simplify(poly, buffer_m / 10.0)
    # one row per requested site (sites on one node share the polygon)
    rows = []
    for s_idx in range(len(src)):
        for member in src_order[src_ptr[s_idx] : src_ptr[s_idx + 1]]:
            for m in mins:
                rows.append((site_nodes.index[member], m, polys[(s_idx, m)]))
    out = gpd.GeoDataFrame(
        {"site_id": [r[0] for r in rows], "minutes": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=crs,
    )
    out["area_km2"] = out.geometry.area / 1e6
    out = out[["site_id", "minutes", "area_km2", "geometry"]]
    return out.sort_values(["site_id", "minutes"], kind="stable").reset_index(drop=True)
