"""Road network stage: projection, speeds, travel times, snapping and sparse travel-time tables.

The road graph is an osmnx-style ``networkx.MultiDiGraph``. :func:`prepare_graph`
projects it to a metric CRS, sets ``speed_kph`` and ``travel_time_s`` on every edge and
keeps the largest strongly connected component. :func:`travel_table` computes the sparse
demand x site table of travel times within each demand row's cut-off with
``scipy.sparse.csgraph.dijkstra`` run from the sites over the reversed graph, in chunks, so
memory grows with the number of pairs within reach rather than with demand x sites.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from charge_planner.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_SPEED_KPH = 15.0


def utm_crs_for(lon: float, lat: float) -> str:
    """EPSG code of the UTM zone containing a point.

    Parameters
    ----------
    lon, lat
        Longitude and latitude [degrees].
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _first(value: object) -> object:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _parse_maxspeed(value: object) -> float:
    value = _first(value)
    if value is None:
        return math.nan
    text = str(value).strip().lower()
    mph = "mph" in text
    digits = "".join(ch for ch in text.split(";")[0] if ch.isdigit() or ch == ".")
    try:
        speed = float(digits)
    except ValueError:
        return math.nan
    return speed * 1.609344 if mph else speed


def prepare_graph(
    graph: nx.MultiDiGraph,
    *,
    crs: str | None = None,
    speeds_kph: Mapping[str, float] | None = None,
) -> nx.MultiDiGraph:
    """Project a road graph, set speeds and travel times, keep the largest strongly connected part.

    Parameters
    ----------
    graph
        osmnx-style graph with graph attribute ``crs``, node ``x``/``y`` and edge ``length`` [m].
    crs
        Target projected CRS; default: the UTM zone of the graph's centre (a graph already in
        a projected CRS is kept in it).
    speeds_kph
        Congested speed per OSM ``highway`` class [km/h]. Where an edge has ``maxspeed``,
        the lower of the two is used.

    Returns
    -------
    networkx.MultiDiGraph
        A new graph; edges carry ``speed_kph`` [km/h] and ``travel_time_s`` [s].
    """
    import osmnx as ox
    from pyproj import CRS

    if graph.number_of_edges() == 0:
        raise DataError("the road graph has no edges; check that the extract contains drivable roads")
    if "crs" not in graph.graph:
        raise DataError("the road graph has no 'crs' graph attribute; load it with osmnx or set G.graph['crs']")
    src = CRS.from_user_input(graph.graph["crs"])
    if crs is None and src.is_projected:
        g = graph.copy()
    else:
        if crs is None:
            xs = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), float)
            ys = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), float)
            crs = utm_crs_for(float(np.median(xs)), float(np.median(ys)))
        g = ox.project_graph(graph, to_crs=crs) if not src.equals(CRS.from_user_input(crs)) else graph.copy()

    speeds = dict(speeds_kph or {})
    n_missing = 0
    for _, _, data in g.edges(data=True):
        hwy = _first(data.get("highway"))
        base = speeds.get(str(hwy), speeds.get(str(hwy).removesuffix("_link"), math.nan))
        if math.isnan(base):
            base = DEFAULT_SPEED_KPH
            n_missing += 1
        legal = _parse_maxspeed(data.get("maxspeed"))
        speed = min(base, legal) if legal > 0 else base
        length = float(data.get("length", 0.0) or 0.0)
        data["length"] = length
        data["speed_kph"] = speed
        data["travel_time_s"] = length / (speed / 3.6)
    if n_missing:
        log.info("%d edges have a road class without a preset speed; used %.0f km/h", n_missing, DEFAULT_SPEED_KPH)

    largest = max(nx.strongly_connected_components(g), key=len)
    dropped = g.number_of_nodes() - len(largest)
    if dropped:
        log.info("kept the largest strongly connected component: dropped %d of %d nodes", dropped, g.number_of_nodes())
        g = g.subgraph(largest).copy()
    if g.number_of_edges() == 0:
        raise DataError("no strongly connected drivable network remains; check the extract")
    log.info("road network: %d nodes, %d edges in %s", g.number_of_nodes(), g.number_of_edges(), g.graph["crs"])
    return g


def graph_arrays(graph: nx.MultiDiGraph) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    """Node ids and CSR matrices of the fastest edge's time [s] and its length [m] between node pairs."""
    nodes = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    pos = {n: i for i, n in enumerate(nodes)}
    m = graph.number_of_edges()
    u = np.empty(m, dtype=np.int64)
    v = np.empty(m, dtype=np.int64)
    t = np.empty(m)
    length = np.empty(m)
    for k, (a, b, d) in enumerate(graph.edges(data=True)):
        u[k], v[k], t[k], length[k] = pos[a], pos[b], d["travel_time_s"], d["length"]
    # keep the fastest of parallel edges: sort by time, then first occurrence per (u, v)
    order = np.lexsort((t, v, u))
    u, v, t, length = u[order], v[order], t[order], length[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    u, v, t, length = u[first], v[first], t[first], length[first]
    n = len(nodes)
    # csgraph treats explicit zeros as missing edges: give zero-time edges a tiny weight
    t = np.maximum(t, 1e-9)
    times = sp.csr_matrix((t, (u, v)), shape=(n, n))
    lengths = sp.csr_matrix((np.maximum(length, 1e-9), (u, v)), shape=(n, n))
    return nodes, times, lengths


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
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    nodes = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    xy = np.column_stack(
        [
            np.fromiter((graph.nodes[n]["x"] for n in nodes), float, count=len(nodes)),
            np.fromiter((graph.nodes[n]["y"] for n in nodes), float, count=len(nodes)),
        ]
    )
    tree = cKDTree(xy)
    dist, idx = tree.query(np.column_stack([geoms.x.to_numpy(), geoms.y.to_numpy()]))
    return nodes[idx], dist


def travel_table(
    graph: nx.MultiDiGraph,
    demand_nodes: pd.Series,
    site_nodes: pd.Series,
    cutoff_s: pd.Series | float,
    *,
    demand_access_s: pd.Series | None = None,
    site_access_s: pd.Series | None = None,
    chunk: int = 128,
) -> pd.DataFrame:
    """Sparse table of travel times from demand points to sites within a cut-off.

    Parameters
    ----------
    graph
        Prepared road graph (edges with ``travel_time_s`` and ``length``).
    demand_nodes
        Node id per ``demand_id``.
    site_nodes
        Node id per ``site_id``.
    cutoff_s
        Cut-off per ``demand_id`` (or one value) [s].
    demand_access_s, site_access_s
        Time from the point to its node [s], added to the network time.
    chunk
        Sites handled per Dijkstra batch (bounds memory).

    Returns
    -------
    pandas.DataFrame
        Columns ``demand_id``, ``site_id``, ``travel_time_s`` [s], ``distance_m`` [m] for the
        pairs within the cut-off only.
    """
    nodes, times, lengths = graph_arrays(graph)
    pos = pd.Series(np.arange(len(nodes)), index=nodes)
    missing = ~demand_nodes.isin(pos.index) | False
    if missing.any():
        raise DataError(f"{int(missing.sum())} demand points are snapped to nodes not in the graph")
    d_pos = pos.loc[demand_nodes.to_numpy()].to_numpy()
    s_pos = pos.loc[site_nodes.to_numpy()].to_numpy()
    cut = (
        np.full(len(demand_nodes), float(cutoff_s))
        if not isinstance(cutoff_s, pd.Series)
        else cutoff_s.reindex(demand_nodes.index).to_numpy(dtype=float)
    )
    d_acc = np.zeros(len(d_pos)) if demand_access_s is None else demand_access_s.reindex(demand_nodes.index).to_numpy()
    s_acc = np.zeros(len(s_pos)) if site_access_s is None else site_access_s.reindex(site_nodes.index).to_numpy()
    limit = float(cut.max()) if len(cut) else 0.0
    rev_t = times.T.tocsr()
    rev_l = lengths.T.tocsr()
    out_d, out_s, out_t, out_m = [], [], [], []
    for start in range(0, len(s_pos), chunk):
        src = s_pos[start : start + chunk]
        dist, pred = dijkstra(rev_t, directed=True, indices=src, limit=limit, return_predecessors=True)
        length = _path_lengths(pred, rev_l)
        sub_t = dist[:, d_pos] + s_acc[start : start + chunk, None] + d_acc[None, :]
        ok = sub_t <= cut[None, :]
        si, di = np.nonzero(ok)
        out_s.append(start + si)
        out_d.append(di)
        out_t.append(sub_t[si, di])
        out_m.append(length[si, d_pos[di]])
    if out_d:
        di = np.concatenate(out_d)
        si = np.concatenate(out_s)
        table = pd.DataFrame(
            {
                "demand_id": demand_nodes.index.to_numpy()[di],
                "site_id": site_nodes.index.to_numpy()[si],
                "travel_time_s": np.concatenate(out_t),
                "distance_m": np.concatenate(out_m),
            }
        )
    else:
        table = pd.DataFrame(columns=["demand_id", "site_id", "travel_time_s", "distance_m"])
    log.info("travel table: %d pairs within the cut-off (of %d x %d)", len(table), len(d_pos), len(s_pos))
    return table


def _path_lengths(pred: np.ndarray, rev_lengths: sp.csr_matrix) -> np.ndarray:
    """Length of each shortest-time path [m] from Dijkstra predecessors, by pointer jumping."""
    k, n = pred.shape
    rows = np.repeat(np.arange(k), n).reshape(k, n)
    cols = np.broadcast_to(np.arange(n), (k, n))
    has = pred >= 0
    length = np.zeros((k, n))
    if has.any():
        length[has] = np.asarray(rev_lengths[pred[has], cols[has]]).ravel()
    ptr = np.where(has, pred, -1)
    while (ptr >= 0).any():
        live = ptr >= 0
        length[live] += length[rows[live], ptr[live]]
        nxt = np.full_like(ptr, -1)
        nxt[live] = ptr[rows[live], ptr[live]]
        ptr = nxt
    return length
