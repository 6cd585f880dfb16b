"""Road network stage: projection, speeds, snapping, sparse travel-time tables and isochrones.

The road graph is an osmnx-style ``networkx.MultiDiGraph`` (loaders: :mod:`charge_planner.osm`).

* :func:`prepare_graph` projects it to a metric CRS, sets ``speed_kph`` and ``travel_time_s`` on
  every edge and keeps the largest strongly connected component.
* :func:`snap_to_edges` snaps points to the nearest *edge* (their position along the street and
  the perpendicular access distance); :func:`snap_points` snaps to the nearest node.
* :func:`travel_table` computes the sparse demand x site table of travel times within each demand
  row's cut-off with ``scipy.sparse.csgraph.dijkstra``, one bounded run per distinct site position
  over the reversed graph. Results per batch stay at the level of distinct site and demand
  positions until the output columns are allocated at their final size; a batch whose pairs are
  mostly within reach expands by one mask gather over its sites x demand rows, a sparse one pair
  by pair. Ids are categorical columns (a code per pair), so the table costs about 24 bytes per
  pair. A site snapped to an edge becomes a virtual node that splits the edge
  at its position; a demand point snapped to an edge leaves its street through the next node in
  each allowed direction (a graph node or a site on the same street). Time and length travel
  packed in one float64: edge times are on a 2**-20 s grid (:data:`TIME_RESOLUTION_S`), so the
  time in the high bits and the length in cm-scale units in the low bits add up exactly, and one
  Dijkstra returns the exact fastest time and the length of that route (times off the grid fall
  back to float Dijkstra with predecessors). Sites are processed in spatially compact batches,
  each on the sub-network within the straight-line reach of its sites (the cut-off times the
  fastest straight-line progress of any arc: an exact bound), so working memory grows with the
  number of node pairs within the cut-off, not with demand x sites or with the size of the city.
* :func:`isochrones` draws the area from which a site is reachable within given minutes.

Speeds
------
Each edge gets the congested speed of its OSM ``highway`` class from the country preset (or the
``speeds_kph`` argument), capped by the legal ``maxspeed`` where tagged. For classes the preset
does not list, :data:`FALLBACK_SPEEDS_KPH` applies. For scale: the average ride speed of
Indian metros in 2019 was 19-25 km/h (Bengaluru 21.2 km/h, Kolkata 19.4 km/h, Hyderabad
24.8 km/h; Ola "HyperDrive 2019", reported by Business Today, 2019-12-27); with the India
preset's class speeds, fastest routes longer than 1 km on central Bengaluru average 21.5 km/h
(checked by the tests).
"""

from __future__ import annotations

import ast
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from charge_planner.errors import DataError

log = logging.getLogger(__name__)

DEFAULT_SPEED_KPH = 15.0
"""Speed of a road class found neither in the preset nor in :data:`FALLBACK_SPEEDS_KPH` [km/h].
Assumption: the congested speed of a residential street."""

FALLBACK_SPEEDS_KPH: dict[str, float] = {
    "road": 15.0,
    "busway": 20.0,
    "track": 10.0,
    "path": 10.0,
    "footway": 8.0,
    "cycleway": 10.0,
    "pedestrian": 8.0,
    "bridleway": 8.0,
}
"""Congested speeds of road classes that country presets usually omit [km/h]. Assumption: no
published figure; these classes carry little traffic and appear mostly in two-wheeler networks
(where tags allow motorcycles) and in user-supplied road files."""

TRAVEL_COLUMNS = ["demand_id", "site_id", "travel_time_s", "distance_m"]

TIME_RESOLUTION_S = 2.0**-20
"""Resolution of edge travel times [s] (about 1 microsecond). Times on this grid add up exactly in
floating point (below 2**33 s), so every shortest-path method gives bit-identical path times."""

_ZERO_TIME_S = 1e-9  # csgraph reads explicit zeros as "no edge": zero-time arcs get this weight
_DEFAULT_MAX_CELLS = 4_000_000  # sources x sub-network nodes per Dijkstra batch (about 64 MB)


# --------------------------------------------------------------------------- helpers


def utm_crs_for(lon: float, lat: float) -> str:
    """EPSG code of the UTM zone containing a point.

    Parameters
    ----------
    lon, lat
        Longitude and latitude [degrees].
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def _as_list(value: object) -> list[object]:
    """A tag value as a list: osmnx merges tags of simplified edges into lists, and files
    written by osmnx store such lists as text like ``"['primary', 'secondary']"``."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, float) and math.isnan(value):
        return []
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return [value]
        return list(parsed) if isinstance(parsed, list | tuple) else [parsed]
    return [value]


def _first(value: object) -> object:
    items = _as_list(value)
    return items[0] if items else None


def parse_maxspeed(value: object) -> float:
    """Legal speed limit from an OSM ``maxspeed`` value [km/h]; NaN when not numeric.

    Understands ``"50"``, ``"30 mph"``, ``"40;60"`` (mean of the values), lists of such values
    (osmnx-merged edges, mean) and returns NaN for symbolic values (``"walk"``, ``"none"``,
    ``"IN:urban"``).
    """
    speeds = []
    for item in _as_list(value):
        for part in str(item).replace("|", ";").split(";"):
            text = part.strip().lower()
            mph = "mph" in text
            digits = "".join(ch for ch in text if ch.isdigit() or ch == ".")
            try:
                speed = float(digits)
            except ValueError:
                continue
            if speed > 0:
                speeds.append(speed * 1.609344 if mph else speed)
    return float(np.mean(speeds)) if speeds else math.nan


def _node_xy(graph: nx.MultiDiGraph) -> tuple[pd.Index, np.ndarray]:
    node_data = graph._node if hasattr(graph, "_node") else dict(graph.nodes(data=True))
    nodes = pd.Index(list(node_data))
    xy = np.empty((len(nodes), 2))
    try:
        for i, d in enumerate(node_data.values()):
            xy[i, 0] = d["x"]
            xy[i, 1] = d["y"]
    except KeyError:
        raise DataError("a road node has no 'x'/'y' coordinate; load the graph with osmnx or charge_planner.osm") from None
    return nodes, xy


def _graph_crs(graph: nx.MultiDiGraph) -> object:
    from pyproj import CRS

    if "crs" not in graph.graph:
        raise DataError("the road graph has no 'crs' graph attribute; load it with osmnx or set G.graph['crs']")
    return CRS.from_user_input(graph.graph["crs"])


#: Largest linear scale error of a projected CRS at the data's corners: beyond it, lengths and
#: areas measured in the CRS are wrong by more than 1 % (Web Mercator at 28 degrees N: 13 %; a
#: UTM zone 4 degrees of longitude outside its own: about 0.5 %).
MAX_CRS_SCALE_ERROR = 0.01

#: Margin around a CRS's area of use within which data is still accepted [degrees]: a city
#: near the boundary of two UTM zones may use either (2 degrees outside a zone, UTM lengths are
#: still within 0.4 % at the equator; the scale check below has the last word).
CRS_AREA_MARGIN_DEG = 2.0


def lonlat_bounds(xy: np.ndarray, crs: object) -> tuple[float, float, float, float]:
    """(west, south, east, north) [degrees] of points given in ``crs`` (rows of x, y)."""
    from pyproj import CRS, Transformer

    if len(xy) == 0:
        raise DataError("no coordinates to locate: the layer is empty")
    src = CRS.from_user_input(crs)
    if src.is_geographic and src.equals(CRS.from_epsg(4326)):
        lon, lat = xy[:, 0], xy[:, 1]
    else:
        lon, lat = Transformer.from_crs(src, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise DataError(f"coordinates cannot be converted from {src.to_string()} to longitude/latitude; check the CRS")
    return float(lon[ok].min()), float(lat[ok].min()), float(lon[ok].max()), float(lat[ok].max())


def check_metric_crs(
    crs: object, bounds_lonlat: tuple[float, float, float, float], *, what: str = "CRS", units_only: bool = False
) -> None:
    """Refuse a CRS in which the data's lengths would be wrong.

    A planning CRS must be projected, with axes in metres, its area of use (pyproj) must hold the
    data (within :data:`CRS_AREA_MARGIN_DEG`) and its scale error at the data's corners must stay
    within :data:`MAX_CRS_SCALE_ERROR`.

    Parameters
    ----------
    crs
        The CRS (anything pyproj understands).
    bounds_lonlat
        (west, south, east, north) of the data [degrees].
    what
        Name of the setting the CRS comes from, for the message (e.g. ``"city.crs"``).
    units_only
        Check only that the CRS is projected in metres (the bounds serve the message).

    Raises
    ------
    DataError
        One line naming the CRS, the problem and the fix (the UTM zone of the data).
    """
    import pyproj

    c = pyproj.CRS.from_user_input(crs)
    west, south, east, north = bounds_lonlat
    utm = utm_crs_for((west + east) / 2.0, (south + north) / 2.0)
    fix = (f"use {utm}, the UTM zone of the data, or leave city.crs unset" if what == "city.crs"
           else f"set city.crs = \"{utm}\", the UTM zone of the data")
    label = f"{what} {c.to_string()} ({c.name})"
    if not c.is_projected:
        raise DataError(f"{label} is not a projected CRS, so distances would not be in metres: {fix}")
    units = {str(a.unit_name).lower() for a in c.axis_info}
    if not units <= {"metre", "meter"}:
        raise DataError(f"{label} has axes in {', '.join(sorted(units))}, not metres: {fix}")
    if units_only:
        return
    where = f"the data lie at {west:.2f} to {east:.2f} deg E, {south:.2f} to {north:.2f} deg N"
    area = c.area_of_use
    m = CRS_AREA_MARGIN_DEG
    if area is not None and area.west <= area.east:  # areas across the antimeridian are not checked here
        inside = (west >= area.west - m and east <= area.east + m and south >= area.south - m
                  and north <= area.north + m)
        if not inside:
            raise DataError(
                f"{label} is meant for {area.west:g} to {area.east:g} deg E, {area.south:g} to {area.north:g} deg N, "
                f"but {where}: {fix}"
            )
    lons = np.array([west, east, west, east])
    lats = np.array([south, south, north, north])
    try:
        factors = pyproj.Proj(c).get_factors(lons, lats)
        scale = np.concatenate([np.asarray(factors.meridional_scale), np.asarray(factors.parallel_scale)])
    except Exception:  # a projection without scale factors: the area-of-use check stands alone
        return
    scale = scale[np.isfinite(scale)]
    if len(scale) and float(np.abs(scale - 1.0).max()) > MAX_CRS_SCALE_ERROR:
        raise DataError(
            f"{label} stretches lengths by up to {float(np.abs(scale - 1.0).max()):.1%} where {where}: {fix}"
        )


# --------------------------------------------------------------------------- preparation


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
        Congested speed per OSM ``highway`` class [km/h] (``*_link`` classes fall back to their
        main class). Classes not listed use :data:`FALLBACK_SPEEDS_KPH`, then
        :data:`DEFAULT_SPEED_KPH`. Where an edge has ``maxspeed``, the lower of the two is used.

    Returns
    -------
    networkx.MultiDiGraph
        A new graph; edges carry ``length`` [m], ``speed_kph`` [km/h] and ``travel_time_s`` [s],
        the latter rounded to :data:`TIME_RESOLUTION_S` so that sums of edge times along a path
        are exact and do not depend on the order of summation.

    Raises
    ------
    DataError
        When the graph has no edges, no CRS, or no strongly connected part with an edge, or
        when the target CRS does not measure the data in true metres (:func:`check_metric_crs`).
    """
    from pyproj import CRS

    if graph.number_of_edges() == 0:
        raise DataError("the road graph has no edges; check that the extract contains drivable roads")
    src = _graph_crs(graph)
    nodes_src, xy = _node_xy(graph)
    if crs is None and src.is_projected:
        what, target = "the road graph's CRS", src
        g = graph.copy()
    else:
        if crs is None:
            crs = utm_crs_for(float(np.median(xy[:, 0])), float(np.median(xy[:, 1])))
        what, target = "city.crs", CRS.from_user_input(crs)
        # the units first (cheap, and independent of where the data lie)
        everywhere = lonlat_bounds(xy, src)
        check_metric_crs(target, everywhere, what=what, units_only=True)
        try:
            g = graph.copy() if src.equals(target) else _projected(graph, src, target, crs)
        except DataError:
            check_metric_crs(target, everywhere, what=what)  # names the zone when that is the cause
            raise

    speeds = {**FALLBACK_SPEEDS_KPH, **dict(speeds_kph or {})}
    bad = sorted(k for k, v in speeds.items() if not (v > 0 and math.isfinite(v)))
    if bad:
        raise DataError(f"road speeds must be positive km/h; fix the speed of road class(es) {bad}")
    n_default = n_capped = n_fixed = 0
    legal_cache: dict[str, float] = {}
    for u, v, data in g.edges(data=True):
        hwy = str(_first(data.get("highway")))
        base = speeds.get(hwy, speeds.get(hwy.removesuffix("_link")))
        if base is None:
            base = DEFAULT_SPEED_KPH
            n_default += 1
        raw = data.get("maxspeed")
        if raw is None:
            legal = math.nan
        else:
            key = str(raw)
            legal = legal_cache.get(key)
            if legal is None:
                legal = legal_cache[key] = parse_maxspeed(raw)
        if legal < base:
            base = legal
            n_capped += 1
        length = data.get("length")
        length = float(length) if length is not None else math.nan
        if not (length >= 0.0):  # missing or NaN: the straight line between the nodes
            length = math.hypot(g.nodes[u]["x"] - g.nodes[v]["x"], g.nodes[u]["y"] - g.nodes[v]["y"])
            n_fixed += 1
        data["length"] = length
        data["speed_kph"] = float(base)
        data["travel_time_s"] = round(length / (base / 3.6) / TIME_RESOLUTION_S) * TIME_RESOLUTION_S
    if n_default:
        log.info("%d edges have a road class without a preset speed; used %.0f km/h", n_default, DEFAULT_SPEED_KPH)
    if n_capped:
        log.debug("%d edges capped by their OSM maxspeed", n_capped)
    if n_fixed:
        log.warning("%d edges had no usable 'length'; used the straight line between their nodes", n_fixed)

    nodes = pd.Index(list(g.nodes))
    u_pos, v_pos = _edge_positions(g, nodes)
    adj = sp.csr_matrix((np.ones(len(u_pos)), (u_pos, v_pos)), shape=(len(nodes), len(nodes)))
    n_comp, labels = connected_components(adj, directed=True, connection="strong")
    if n_comp > 1:
        sizes = np.bincount(labels)
        keep = nodes[labels == int(np.argmax(sizes))]
        log.info(
            "kept the largest strongly connected component: %d of %d nodes (%d components dropped)",
            len(keep), len(nodes), n_comp - 1,
        )
        g.remove_nodes_from(nodes[labels != int(np.argmax(sizes))])  # g is our own copy: no second copy
    if g.number_of_edges() == 0:
        raise DataError("no strongly connected drivable network remains; check the extract")
    # where the kept network lies (stray nodes of dropped components, e.g. at 0 deg N 0 deg E, do not count)
    kept = nodes_src.get_indexer(pd.Index(list(g.nodes)))
    check_metric_crs(target, lonlat_bounds(xy[kept], src), what=what)
    log.info("road network: %d nodes, %d edges in %s", g.number_of_nodes(), g.number_of_edges(), g.graph["crs"])
    return g


def _projected(graph: nx.MultiDiGraph, src: object, target: object, label: str) -> nx.MultiDiGraph:
    """A copy of a graph with node coordinates and edge geometries transformed to another CRS.

    Vectorised (one pyproj call for the nodes, one for all edge geometries): several times faster
    than ``osmnx.project_graph``, which rebuilds the graph through GeoDataFrames. Nodes keep their
    original coordinates as ``lon``/``lat`` when the source CRS is geographic, as osmnx does.
    """
    from pyproj import Transformer

    tr = Transformer.from_crs(src, target, always_xy=True)
    g = graph.copy()
    nodes, xy = _node_xy(g)
    x, y = tr.transform(xy[:, 0], xy[:, 1])
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataError(f"road node coordinates cannot be projected to {label}; check the graph's 'crs' attribute")
    geographic = bool(getattr(src, "is_geographic", False))
    for (_, d), xi, yi, (lon, lat) in zip(g.nodes(data=True), x.tolist(), y.tolist(), xy.tolist(), strict=True):
        if geographic:
            d.setdefault("lon", lon)
            d.setdefault("lat", lat)
        d["x"], d["y"] = xi, yi
    edges = [d for _, _, d in g.edges(data=True) if d.get("geometry") is not None]
    if edges:
        geoms = np.empty(len(edges), dtype=object)
        geoms[:] = [d["geometry"] for d in edges]
        moved = shapely.transform(geoms, lambda c: np.column_stack(tr.transform(c[:, 0], c[:, 1])))
        for d, geom in zip(edges, moved, strict=True):
            d["geometry"] = geom
    g.graph["crs"] = label
    return g


def _edge_positions(graph: nx.MultiDiGraph, nodes: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    m = graph.number_of_edges()
    us = np.empty(m, dtype=object)
    vs = np.empty(m, dtype=object)
    for k, (a, b) in enumerate(graph.edges()):
        us[k] = a
        vs[k] = b
    return nodes.get_indexer(us), nodes.get_indexer(vs)


# --------------------------------------------------------------------------- arrays


@dataclass
class _EdgeTable:
    """Directed edges of a graph as arrays; ``group`` joins the two directions of one street."""

    nodes: pd.Index
    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    key: np.ndarray | None
    time_s: np.ndarray
    length_m: np.ndarray
    geometry: np.ndarray | None

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, *, geometry: bool = False, keys: bool = False) -> _EdgeTable:
        nodes, xy = _node_xy(graph)
        pos = {n: i for i, n in enumerate(nodes)}
        us: list[int] = []
        vs: list[int] = []
        kl: list[object] = []
        tl: list[float] = []
        ll: list[float] = []
        gl: list[object] = []
        # the adjacency dicts directly: several times faster than the edge views on 100,000 edges
        adj = graph._adj if hasattr(graph, "_adj") else graph.adj
        u = v = k = None
        add_u, add_v, add_t, add_l, add_k, add_g = us.append, vs.append, tl.append, ll.append, kl.append, gl.append
        try:
            for u, nbrs in adj.items():
                iu = pos[u]
                for v, keyed in nbrs.items():
                    iv = pos[v]
                    for k, d in keyed.items():
                        add_u(iu)
                        add_v(iv)
                        add_t(d["travel_time_s"])
                        add_l(d["length"])
                        if keys:
                            add_k(k)
                        if geometry:
                            add_g(d.get("geometry"))
        except KeyError as exc:
            raise DataError(
                f"road edge ({u}, {v}, {k}) has no {exc.args[0]!r}; prepare the graph with prepare_graph() first"
            ) from None
        m = len(us)
        u_pos = np.asarray(us, dtype=np.int64)
        v_pos = np.asarray(vs, dtype=np.int64)
        t = np.asarray(tl, dtype=float)
        length = np.asarray(ll, dtype=float)
        key_arr = None
        if keys:
            key_arr = np.empty(m, dtype=object)
            key_arr[:] = kl
        geoms = None
        if geometry:
            geoms = np.empty(m, dtype=object)
            geoms[:] = gl
        if not np.isfinite(t).all() or (t < 0).any():
            bad = int((~np.isfinite(t) | (t < 0)).sum())
            raise DataError(f"{bad} road edges have a missing or negative travel_time_s; prepare the graph first")
        if geoms is not None:
            missing = np.array([g is None for g in geoms], dtype=bool)
            if missing.any():
                geoms[missing] = shapely.linestrings(np.stack([xy[u_pos[missing]], xy[v_pos[missing]]], axis=1))
        return cls(nodes, xy, u_pos, v_pos, key_arr, t, length, geoms)

    @cached_property
    def _groups(self) -> tuple[np.ndarray, np.ndarray]:
        # the two directions of a two-way street share end nodes and length
        m = len(self.u)
        lo, hi = np.minimum(self.u, self.v), np.maximum(self.u, self.v)
        lkey = np.round(self.length_m, 1)
        order = np.lexsort((lkey, hi, lo))
        new = np.ones(m, dtype=bool)
        if m > 1:
            new[1:] = (lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1]) | (
                lkey[order][1:] != lkey[order][:-1]
            )
        group = np.empty(m, dtype=np.int64)
        group[order] = np.cumsum(new) - 1
        return group, order[new]

    @property
    def group(self) -> np.ndarray:
        """Street of each directed edge."""
        return self._groups[0]

    @property
    def rep(self) -> np.ndarray:
        """Representative directed edge of each street."""
        return self._groups[1]


def graph_arrays(graph: nx.MultiDiGraph) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    """Node ids and CSR matrices of the fastest edge's time [s] and its length [m] between node pairs.

    Parameters
    ----------
    graph
        Prepared road graph.

    Returns
    -------
    tuple
        Node ids (position ``i`` is row/column ``i``), travel times [s] and lengths [m]; parallel
        edges are reduced to the fastest, self-loops dropped, zero times replaced by 1e-9 s
        (csgraph reads explicit zeros as missing edges).
    """
    et = _EdgeTable.from_graph(graph)
    arcs = _Arcs.build(et.u, et.v, et.time_s, et.length_m, len(et.nodes))
    return et.nodes.to_numpy(), arcs.matrix(np.maximum(arcs.t, _ZERO_TIME_S)), arcs.matrix(arcs.length)


@dataclass
class _Arcs:
    """Arcs in CSR layout (row = from, column = to), the fastest of parallel arcs only."""

    n: int
    indptr: np.ndarray
    indices: np.ndarray
    t: np.ndarray
    length: np.ndarray

    @classmethod
    def build(cls, u: np.ndarray, v: np.ndarray, t: np.ndarray, length: np.ndarray, n: int) -> _Arcs:
        keep = u != v
        u, v, t, length = u[keep], v[keep], t[keep], length[keep]
        pair = u.astype(np.int64) * n + v
        order = np.argsort(pair, kind="stable")
        if len(pair) > 1 and (pair[order][1:] == pair[order][:-1]).any():  # parallel arcs: fastest first
            order = np.lexsort((length, t, pair))
        u, v, t, length, pair = u[order], v[order], t[order], length[order], pair[order]
        first = np.ones(len(u), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        u, v, t, length = u[first], v[first], t[first], length[first]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=n), out=indptr[1:])
        return cls(n, indptr, v.astype(np.int32), t, length)

    def matrix(self, data: np.ndarray) -> sp.csr_matrix:
        """CSR matrix of per-arc values."""
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(self.n, self.n))

    def rows(self) -> np.ndarray:
        """Row (from-node) of every arc."""
        return np.repeat(np.arange(self.n), np.diff(self.indptr))


# --------------------------------------------------------------------------- snapping


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
    et = _EdgeTable.from_graph(graph, geometry=True, keys=True)
    assert et.geometry is not None
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


# --------------------------------------------------------------------------- travel table


@dataclass
class _Routing:
    """A routing network: graph nodes plus virtual nodes at snapped site positions on edges.

    ``chain_*`` list the virtual nodes along each directed edge, sorted by edge and position
    (``chain_key`` = edge index + position / 2, increasing).
    """

    n: int
    xy: np.ndarray
    rev: _Arcs  # reversed arcs: from the end of a road edge to its start
    speed_bound: float  # max straight-line distance per second over all arcs [m/s]
    chain_key: np.ndarray
    chain_edge: np.ndarray
    chain_phi: np.ndarray
    chain_node: np.ndarray


def _quantise(t: np.ndarray) -> np.ndarray:
    return np.round(t / TIME_RESOLUTION_S) * TIME_RESOLUTION_S


def _street_positions(et: _EdgeTable, edge: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, ...]:
    """Street, position along the street's representative edge, and end node (or -1) of points."""
    rep_of = et.rep[et.group[edge]]
    same = (et.u[edge] == et.u[rep_of]) & (et.v[edge] == et.v[rep_of])
    frac_rep = np.where(same, frac, 1.0 - frac)
    along_m = frac_rep * et.length_m[rep_of]
    at_start = along_m <= 1e-6
    at_end = (et.length_m[rep_of] - along_m) <= 1e-6
    node = np.where(at_start, et.u[rep_of], np.where(at_end, et.v[rep_of], -1)).astype(np.int64)
    return et.group[edge], frac_rep, node


def _edges_of_streets(et: _EdgeTable, group: np.ndarray, frac_rep: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every directed edge of each point's street and the point's position along it: (point, edge, phi)."""
    g_order = np.argsort(et.group, kind="stable")
    g_sorted = et.group[g_order]
    g_start = np.searchsorted(g_sorted, group, side="left")
    counts = np.searchsorted(g_sorted, group, side="right") - g_start
    point = np.repeat(np.arange(len(group)), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    e = g_order[np.repeat(g_start, counts) + offs]
    rep_e = et.rep[group[point]]
    same = (et.u[e] == et.u[rep_e]) & (et.v[e] == et.v[rep_e])
    return point, e, np.where(same, frac_rep[point], 1.0 - frac_rep[point])


def _routing_network(et: _EdgeTable, snaps: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[_Routing, list[np.ndarray]]:
    """Add virtual nodes at snapped positions to the edge table's network.

    Parameters
    ----------
    et
        Edge table of the graph.
    snaps
        Per point set: (edge index, fraction along that edge) of every point.

    Returns
    -------
    tuple
        The routing network and, per point set, the routing-node position of every point.
    """
    n0 = len(et.nodes)
    all_edge = np.concatenate([s[0] for s in snaps]) if snaps else np.zeros(0, dtype=np.int64)
    all_frac = np.concatenate([s[1] for s in snaps]) if snaps else np.zeros(0)
    if len(all_edge):
        group, frac_rep, pos = _street_positions(et, all_edge, all_frac)
    else:  # nothing to place: the streets need not be grouped
        group = pos = np.zeros(0, dtype=np.int64)
        frac_rep = np.zeros(0)
    inner = pos < 0

    xy = et.xy
    u_arc, v_arc, t_arc, l_arc = [et.u], [et.v], [et.time_s], [et.length_m]
    e = np.zeros(0, dtype=np.int64)
    phi = np.zeros(0)
    virt = np.zeros(0, dtype=np.int64)
    if inner.any():
        keys = np.column_stack([group[inner], frac_rep[inner]])
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        p_group = uniq[:, 0].astype(np.int64)
        p_frac = uniq[:, 1]
        pos[np.flatnonzero(inner)] = n0 + inv.ravel()
        point, e, phi = _edges_of_streets(et, p_group, p_frac)
        virt = n0 + point
        # chain the points along each directed edge: u -> p1 -> p2 -> ... -> v
        order = np.lexsort((phi, e))
        e, phi, virt = e[order], phi[order], virt[order]
        first = np.ones(len(e), dtype=bool)
        first[1:] = e[1:] != e[:-1]
        last = np.ones(len(e), dtype=bool)
        last[:-1] = e[1:] != e[:-1]
        prev_node = np.where(first, et.u[e], np.roll(virt, 1))
        prev_phi = np.where(first, 0.0, np.roll(phi, 1))
        u_arc += [prev_node, virt[last]]
        v_arc += [virt, et.v[e[last]]]
        t_arc += [_quantise((phi - prev_phi) * et.time_s[e]), _quantise((1.0 - phi[last]) * et.time_s[e[last]])]
        l_arc += [(phi - prev_phi) * et.length_m[e], (1.0 - phi[last]) * et.length_m[e[last]]]
        if et.geometry is not None:
            pts = shapely.line_interpolate_point(et.geometry[et.rep[p_group]], p_frac, normalized=True)
            vxy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
        else:
            a, b = xy[et.u[et.rep[p_group]]], xy[et.v[et.rep[p_group]]]
            vxy = a + (b - a) * p_frac[:, None]
        xy = np.vstack([xy, vxy])
    n = len(xy)
    u = np.concatenate(u_arc)
    v = np.concatenate(v_arc)
    rev = _Arcs.build(v, u, np.concatenate(t_arc), np.concatenate(l_arc), n)  # reversed arcs
    rows = rev.rows()
    straight = np.hypot(*(xy[rows] - xy[rev.indices]).T)
    moving = rev.t > 0
    if (~moving & (straight > 0)).any():
        speed_bound = math.inf  # a zero-time arc between distinct points: no spatial pruning
    else:
        speed_bound = float(np.max(straight[moving] / rev.t[moving])) if moving.any() else 0.0
    routing = _Routing(n=n, xy=xy, rev=rev, speed_bound=speed_bound, chain_key=e + phi / 2.0, chain_edge=e,
                       chain_phi=phi, chain_node=virt)
    split = np.cumsum([len(s[0]) for s in snaps])[:-1] if snaps else []
    return routing, list(np.split(pos, split)) if snaps else []


@dataclass
class _Targets:
    """Demand positions as Dijkstra targets: each leaves the network through one or more exits.

    A point on a street reaches a site by driving along the street to the next node in an allowed
    direction (a graph node, or a site's virtual node on the same street), so its time to a site is
    the smallest exit offset + the exit's time to the site. ``owner`` is sorted; rows of the
    demand table of target ``i`` are ``order[ptr[i]:ptr[i + 1]]``.
    """

    exit_node: np.ndarray
    off_t: np.ndarray
    off_m: np.ndarray
    owner: np.ndarray
    n: int
    order: np.ndarray
    ptr: np.ndarray
    single: bool  # one exit per target, at offset zero

    @classmethod
    def at_nodes(cls, node_pos: np.ndarray) -> _Targets:
        nodes, order, ptr = _groups(node_pos)
        z = np.zeros(len(nodes))
        return cls(nodes, z, z, np.arange(len(nodes)), len(nodes), order, ptr, True)

    @classmethod
    def on_edges(cls, et: _EdgeTable, routing: _Routing, edge: np.ndarray, frac: np.ndarray) -> _Targets:
        group, frac_rep, node = _street_positions(et, edge, frac)
        # distinct positions: a node, or (street, position)
        key = np.column_stack([np.where(node >= 0, -1 - node, group).astype(float), np.where(node >= 0, 0.0, frac_rep)])
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        order = np.argsort(inv, kind="stable").astype(np.int32)
        ptr = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
        at_node = uniq[:, 0] < 0
        # exits of positions at a node: the node itself
        n_idx = np.flatnonzero(at_node)
        owners = [n_idx]
        exits = [(-1 - uniq[n_idx, 0]).astype(np.int64)]
        offs_t = [np.zeros(len(n_idx))]
        offs_m = [np.zeros(len(n_idx))]
        s_idx = np.flatnonzero(~at_node)
        if len(s_idx):
            point, e, phi = _edges_of_streets(et, uniq[s_idx, 0].astype(np.int64), uniq[s_idx, 1])
            # the next chain node along edge e at or after phi, else the edge's end node
            q = np.searchsorted(routing.chain_key, e + phi / 2.0, side="left")
            hit = q < len(routing.chain_key)
            hit[hit] = routing.chain_edge[q[hit]] == e[hit]
            q_ok = np.where(hit, q, 0)
            nxt_phi = np.where(hit, routing.chain_phi[q_ok] if len(routing.chain_phi) else 1.0, 1.0)
            nxt_node = np.where(hit, routing.chain_node[q_ok] if len(routing.chain_node) else 0, et.v[e])
            owners.append(s_idx[point])
            exits.append(nxt_node.astype(np.int64))
            offs_t.append(_quantise((nxt_phi - phi) * et.time_s[e]))
            offs_m.append((nxt_phi - phi) * et.length_m[e])
        owner = np.concatenate(owners)
        srt = np.argsort(owner, kind="stable")
        return cls(
            exit_node=np.concatenate(exits)[srt], off_t=np.concatenate(offs_t)[srt], off_m=np.concatenate(offs_m)[srt],
            owner=owner[srt], n=len(uniq), order=order, ptr=ptr, single=False,
        )


@dataclass
class _Packing:
    """Exact packed weights: time on the :data:`TIME_RESOLUTION_S` grid in the high bits, length
    in units of ``unit_m`` in the low bits of an integer-valued float64 (sums below 2**53 are
    exact, so Dijkstra returns the exact fastest time, ties broken by the shorter length)."""

    bits: int
    unit_m: float
    weights: np.ndarray

    def limit(self, limit_s: float) -> float:
        return float((math.floor(limit_s / TIME_RESOLUTION_S) + 1) * 2**self.bits - 1)

    def unpack(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tq = np.floor(w * 2.0**-self.bits)
        return tq * TIME_RESOLUTION_S, (w - tq * 2.0**self.bits) * self.unit_m


def _packing(rev: _Arcs, limit_s: float) -> _Packing | None:
    """Packed weights for a limit, or None when times are off the grid or lengths too coarse."""
    tq = rev.t / TIME_RESOLUTION_S
    if len(tq) == 0 or not np.array_equal(tq, np.round(tq)) or (tq < 0).any():
        return None
    moving = rev.t > 0
    if (~moving & (rev.length > 0)).any():
        return None
    v_len = float(np.max(rev.length[moving] / rev.t[moving])) if moving.any() else 0.0
    # reached weights stay below (floor(limit / resolution) + 1) * 2**bits <= 2**53: exact integers
    t_bits = int(math.floor(limit_s / TIME_RESOLUTION_S) + 1).bit_length()
    bits = 53 - t_bits
    if bits < 8:
        return None
    # a path within the limit is at most v_len * limit long (1 % headroom), plus one unit per
    # zero-length arc (they weigh one unit so that csgraph sees an edge)
    n_zero = int((~moving).sum())
    unit_m = (1.01 * v_len * (limit_s + TIME_RESOLUTION_S) + 1.0) / max(2**bits - n_zero - 1, 1)
    if unit_m > 0.01:
        return None
    w = tq * 2.0**bits + np.round(rev.length / unit_m)
    w[w == 0] = 1.0
    return _Packing(bits=bits, unit_m=unit_m, weights=w)


def _edge_index(et: _EdgeTable, snap: pd.DataFrame, what: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("u", "v", "key", "edge_frac") if c not in snap.columns]
    if missing:
        raise DataError(f"{what}: snap table lacks columns {missing}; build it with snap_to_edges()")
    assert et.key is not None
    lookup = pd.MultiIndex.from_arrays([et.nodes.to_numpy()[et.u], et.nodes.to_numpy()[et.v], et.key])
    idx = lookup.get_indexer(pd.MultiIndex.from_arrays([snap["u"].to_numpy(), snap["v"].to_numpy(),
                                                        snap["key"].to_numpy().astype(object)]))
    if (idx < 0).any():
        ids = list(snap.index[idx < 0][:5])
        raise DataError(f"{what}: {int((idx < 0).sum())} points are snapped to edges not in the graph (first {ids}); "
                        "snap them again on this graph")
    return idx, snap["edge_frac"].to_numpy(dtype=float)


def _z_order(xy: np.ndarray) -> np.ndarray:
    """Indices of points in Morton (Z-curve) order: neighbours in the order are close in space."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    lo = xy.min(axis=0)
    span = max(float((xy.max(axis=0) - lo).max()), 1e-9)
    q = ((xy - lo) / span * 65535).astype(np.uint64)
    code = np.zeros(len(xy), dtype=np.uint64)
    for bit in range(16):
        code |= ((q[:, 0] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit)
        code |= ((q[:, 1] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return np.argsort(code, kind="stable")


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique keys, the members of each (positions into ``keys``, grouped) and group pointers."""
    order = np.argsort(keys, kind="stable").astype(np.int32)
    uniq, starts = np.unique(keys[order], return_index=True)
    return uniq, order, np.append(starts, len(keys))


def _expand(
    group_of_pair: np.ndarray, order: np.ndarray, ptr: np.ndarray, values: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Expand pairs keyed by group into pairs keyed by member.

    Returns the member of every expanded pair and ``values`` repeated to match.
    """
    if len(order) == len(ptr) - 1:  # one member per group
        return order[group_of_pair], values
    start = ptr[group_of_pair]
    counts = ptr[group_of_pair + 1] - start
    n = int(counts.sum())
    index = np.int32 if n < 2**31 else np.int64
    shift = np.repeat((start - (np.cumsum(counts) - counts)).astype(index), counts)
    shift += np.arange(n, dtype=index)
    return order[shift], tuple(np.repeat(v, counts) for v in values)


def _tree_lengths(dist: np.ndarray, pred: np.ndarray, sub: np.ndarray, rev_l: sp.csr_matrix) -> np.ndarray:
    """Length [m] of every shortest-time path of a Dijkstra result, by pointer jumping.

    Returns a flat array aligned with ``dist.ravel()`` (zero at the sources and where unreached).
    """
    k, n = dist.shape
    flat = np.flatnonzero(pred.ravel() >= 0)  # reached nodes other than the sources
    out = np.zeros(k * n)
    if len(flat) == 0:
        return out
    rows = flat // n
    p = pred.ravel()[flat]
    length = np.asarray(rev_l[sub[p], sub[flat - rows * n]]).ravel()  # reversed arc p -> c
    where = np.full(k * n, -1, dtype=np.int64)
    where[flat] = np.arange(len(flat))
    ptr = where[rows * n + p]  # -1 where the parent is the source
    live = np.flatnonzero(ptr >= 0)
    while len(live):
        up = ptr[live]
        length[live] += length[up]
        nxt = ptr[up]
        ptr[live] = nxt
        live = live[nxt >= 0]
    out[flat] = length
    return out


def travel_table(
    graph: nx.MultiDiGraph,
    demand_nodes: pd.Series,
    site_nodes: pd.Series,
    cutoff_s: pd.Series | float,
    *,
    demand_access_s: pd.Series | None = None,
    site_access_s: pd.Series | None = None,
    demand_snap: pd.DataFrame | None = None,
    site_snap: pd.DataFrame | None = None,
    chunk: int = 64,
    max_cells: int = _DEFAULT_MAX_CELLS,
) -> pd.DataFrame:
    """Sparse table of travel times from demand points to sites within a cut-off.

    One bounded Dijkstra per distinct site position runs over the reversed network; sites are
    handled in spatially compact batches, each on the sub-network within its straight-line reach.

    Parameters
    ----------
    graph
        Prepared road graph (edges with ``travel_time_s`` [s] and ``length`` [m]).
    demand_nodes
        Node id per ``demand_id``; -1 marks a point dropped while snapping (it gets no pairs).
    site_nodes
        Node id per ``site_id``.
    cutoff_s
        Cut-off per ``demand_id`` (or one value) [s]; pairs with a larger total time are left out.
    demand_access_s, site_access_s
        Time from the point to the road [s], added to the network time (and counted against
        the cut-off).
    demand_snap, site_snap
        Results of :func:`snap_to_edges` (same index as the nodes): the points then enter the
        network at their position along the street instead of at ``demand_nodes``/``site_nodes``.
    chunk
        Sites per Dijkstra batch.
    max_cells
        Upper bound of sites x sub-network nodes per batch (bounds the working memory).

    Returns
    -------
    pandas.DataFrame
        ``demand_id``, ``site_id``, ``travel_time_s`` [s] (access + network time) and
        ``distance_m`` [m] (road length of the fastest route, the shortest one among equally fast
        routes; access legs excluded), one row per pair within the cut-off, in a deterministic
        order (by batches of nearby sites). On a graph from :func:`prepare_graph` network times
        are exact sums of the edge times; lengths are exact to about 1 cm per edge.
        The id columns are categoricals whose categories are the whole ``demand_nodes`` and
        ``site_nodes`` index (each pair stores a 4-byte code, not a copy of its label); they
        compare, merge and group like the labels (pass ``observed=True`` to ``groupby``), and
        :func:`id_positions` turns them into row positions. Ids that are not unique are
        returned as plain labels.

    Raises
    ------
    DataError
        When a node is not in the graph, or a cut-off or access time is negative or missing.
    """
    snapped = demand_snap is not None or site_snap is not None
    et = _EdgeTable.from_graph(graph, geometry=snapped, keys=snapped)
    n_d, n_s = len(demand_nodes), len(site_nodes)
    cut = (
        np.full(n_d, float(cutoff_s))
        if not isinstance(cutoff_s, pd.Series)
        else cutoff_s.reindex(demand_nodes.index).to_numpy(dtype=float)
    )
    if n_d and not (np.isfinite(cut) & (cut >= 0)).all():
        bad = list(demand_nodes.index[~(np.isfinite(cut) & (cut >= 0))][:5])
        raise DataError(f"cut-off missing or negative for demand rows {bad}; give a cut-off [s] for every row")
    d_acc = _access(demand_access_s, demand_nodes.index, "demand_access_s")
    s_acc = _access(site_access_s, site_nodes.index, "site_access_s")

    d_dropped = demand_nodes.astype(object).eq(-1).to_numpy() if n_d else np.zeros(0, dtype=bool)
    if demand_snap is not None:
        demand_snap = demand_snap.reindex(demand_nodes.index)
        d_dropped |= demand_snap["node_id"].astype(object).eq(-1).to_numpy()
    live_d = np.flatnonzero(~d_dropped)
    if d_dropped.any():
        log.info("travel table: %d demand rows dropped while snapping get no pairs", int(d_dropped.sum()))
    # sites become virtual nodes on their streets (they are the Dijkstra sources); demand points
    # leave their street through the next node in each allowed direction
    if site_snap is not None:
        site_snap = site_snap.reindex(site_nodes.index)
        if site_snap["node_id"].astype(object).eq(-1).any():
            raise DataError("site_snap: some sites were dropped while snapping; remove them from the sites first")
        routing, (s_pos,) = _routing_network(et, [_edge_index(et, site_snap, "site_snap")])
    else:
        routing, _ = _routing_network(et, [])
        s_pos = _node_positions(et.nodes, site_nodes, "site")
    if demand_snap is not None:
        edge, frac = _edge_index(et, demand_snap.iloc[live_d], "demand_snap")
        targets = _Targets.on_edges(et, routing, edge, frac)
    else:
        targets = _Targets.at_nodes(_node_positions(et.nodes, demand_nodes.iloc[live_d], "demand"))

    di, si, tt, mm = _pairs(routing, targets, d_acc[live_d], cut[live_d], s_pos, s_acc,
                            chunk=chunk, max_cells=max_cells)
    table = pd.DataFrame(
        {"demand_id": _labels(demand_nodes.index, di if len(live_d) == n_d else live_d.take(di)), "site_id": _labels(site_nodes.index, si),
         "travel_time_s": tt, "distance_m": mm},
        copy=False,
    )
    log.info("travel table: %d pairs within the cut-off (of %d x %d)", len(table), n_d, n_s)
    return table


def id_positions(ids: pd.Series, index: pd.Index, what: str = "id") -> np.ndarray:
    """Position in ``index`` of every id of a travel-table column, -1 where the id is not in it.

    Fast for the categorical id columns of :func:`travel_table` (one lookup per category, then
    the codes); plain columns are looked up value by value.

    Raises
    ------
    DataError
        When ``index`` has duplicated labels.
    """
    if not index.is_unique:
        dup = list(index[index.duplicated()][:5])
        raise DataError(f"{what}s must be unique; {dup} appear more than once: drop the duplicated rows")
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = ids.cat.codes.to_numpy()
        lookup = np.append(index.get_indexer(ids.cat.categories), -1)  # code -1 (missing) -> -1
        return lookup[codes]
    return index.get_indexer(ids.to_numpy())


def _labels(index: pd.Index, pos: np.ndarray) -> pd.Categorical | np.ndarray:
    """Labels of ``index`` at positions ``pos``: a categorical over the whole index (codes only, no
    copy of the labels per pair) when the labels are unique, else the labels themselves."""
    if index.is_unique and not index.hasnans:
        codes = pos.astype(np.int32 if len(index) < 2**31 else np.int64, copy=False)
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(index), validate=False)
    return index.to_numpy().take(pos)


def _access(values: pd.Series | None, index: pd.Index, name: str) -> np.ndarray:
    if values is None:
        return np.zeros(len(index))
    out = values.reindex(index).to_numpy(dtype=float)
    if len(out) and not (np.isfinite(out) & (out >= 0)).all():
        bad = list(index[~(np.isfinite(out) & (out >= 0))][:5])
        raise DataError(f"{name} is missing or negative for {bad}; give a time [s] >= 0 for every point")
    return out


def _node_positions(nodes: pd.Index, ids: pd.Series, what: str) -> np.ndarray:
    pos = nodes.get_indexer(ids.to_numpy())
    if (pos < 0).any():
        bad = list(ids.index[pos < 0][:5])
        raise DataError(
            f"{int((pos < 0).sum())} {what} points are snapped to nodes not in the road graph (first {bad}); "
            "snap them again on the prepared graph"
        )
    return pos


def _pairs(
    routing: _Routing,
    targets: _Targets,
    d_acc: np.ndarray,
    cut: np.ndarray,
    s_pos: np.ndarray,
    s_acc: np.ndarray,
    *,
    chunk: int,
    max_cells: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (demand row, site row, time, distance) within the cut-off; rows are positions."""
    empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0))
    if targets.n == 0 or len(s_pos) == 0:
        return empty
    # distinct routing nodes of the sites (sources); targets are distinct demand positions
    src, src_order, src_ptr = _groups(s_pos)
    tgt_order, tgt_ptr = targets.order, targets.ptr
    s_lo = np.minimum.reduceat(s_acc[src_order], src_ptr[:-1])
    s_hi = np.maximum.reduceat(s_acc[src_order], src_ptr[:-1])
    d_lo = np.minimum.reduceat(d_acc[tgt_order], tgt_ptr[:-1])
    d_hi = np.maximum.reduceat(d_acc[tgt_order], tgt_ptr[:-1])
    c_lo = np.minimum.reduceat(cut[tgt_order], tgt_ptr[:-1])
    c_hi = np.maximum.reduceat(cut[tgt_order], tgt_ptr[:-1])
    uniform = bool((s_lo == s_hi).all() and (d_lo == d_hi).all() and (c_lo == c_hi).all())
    budget = c_hi - d_lo  # largest network + site access time any member of a target allows
    limit_all = float(budget.max() - s_lo.min())
    prefilter = bool(budget.min() != budget.max() or s_lo.min() != s_lo.max() or not targets.single)
    if limit_all < 0:
        return empty
    packing = _packing(routing.rev, limit_all)
    weights = routing.rev.matrix(packing.weights if packing else np.maximum(routing.rev.t, _ZERO_TIME_S))
    rev_l = None if packing else routing.rev.matrix(routing.rev.length)
    if packing is not None:
        off_w = targets.off_t / TIME_RESOLUTION_S * 2.0**packing.bits + np.round(targets.off_m / packing.unit_m)
    xy = routing.xy
    reach_m = routing.speed_bound * limit_all * (1.0 + 1e-9) + 1e-6
    blocks: list[_SparseBlock | _DenseBlock] = []
    local = np.full(routing.n, -1, dtype=np.int64)  # routing node -> position in the batch's sub-network
    for b in _batches(src, xy, reach_m, chunk=max(1, int(chunk)), max_cells=max_cells):
        lim = limit_all - float(s_lo[b].min())
        if lim < 0:
            continue
        lo = xy[src[b]].min(axis=0) - reach_m
        hi = xy[src[b]].max(axis=0) + reach_m
        inside = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
        local[inside] = np.arange(len(inside))
        ex_local = local[targets.exit_node]
        ex_in = np.flatnonzero(ex_local >= 0)
        src_local = local[src[b]]
        local[inside] = -1  # reset for the next batch (one array for all batches)
        if len(ex_in) == 0:
            continue
        cols = ex_local[ex_in]
        sub = weights if len(inside) == routing.n else weights[inside][:, inside]
        if packing is not None:
            dist = dijkstra(sub, directed=True, indices=src_local, limit=packing.limit(lim))
            vals = dist[:, cols]
            if not targets.single:
                vals += off_w[ex_in]
            owners, vals = _min_per_owner(vals, targets.owner[ex_in])
            lengths = None
        else:
            assert rev_l is not None
            dist, pred = dijkstra(sub, directed=True, indices=src_local, limit=lim, return_predecessors=True)
            lengths = _tree_lengths(dist, pred, inside, rev_l).reshape(dist.shape)[:, cols] + targets.off_m[ex_in]
            vals = dist[:, cols] + targets.off_t[ex_in]
            owners, best = _min_per_owner(vals, targets.owner[ex_in])
            if len(owners) < len(ex_in):  # shortest among the fastest exits
                first = np.searchsorted(targets.owner[ex_in], owners)
                ties = vals == np.repeat(best, np.diff(np.append(first, len(ex_in))), axis=1)
                _, lengths = _min_per_owner(np.where(ties, lengths, np.inf), targets.owner[ex_in])
            vals = best
        reached = vals < np.inf
        if _dense_is_cheaper(reached, src_ptr, b, tgt_ptr, owners, max_cells):
            # most group pairs are reached: expand the reached mask densely to sites x demand rows
            # (one boolean gather) instead of repeating every reached pair per member
            if packing is not None:  # unpack per group pair: fewer than the expanded pairs
                vals, lengths = packing.unpack(np.where(reached, vals, 0.0))
            assert lengths is not None
            if prefilter:
                reached &= vals + s_lo[b][:, None] <= budget[owners][None, :]
            site, (g_pos,) = _expand(b, src_order, src_ptr, (np.arange(len(b)),))
            row, (o_pos,) = _expand(owners, tgt_order, tgt_ptr, (np.arange(len(owners)),))
            keep = reached[g_pos][:, o_pos]
            access = (s_acc, d_acc) if s_hi.any() or d_hi.any() else None
            if not uniform:  # each row's own cut-off, with each site's and row's access time
                keep &= vals[g_pos][:, o_pos] + s_acc[site][:, None] + d_acc[row][None, :] <= cut[row][None, :]
            blocks.append(_DenseBlock(keep, vals, lengths, g_pos, o_pos, site, row, access))
            continue
        flat = np.flatnonzero(reached)
        bi = flat // vals.shape[1]
        sg, tg = b[bi], owners[flat - bi * vals.shape[1]]
        if packing is not None:
            net_t, net_m = packing.unpack(vals.ravel()[flat])
        else:
            assert lengths is not None
            net_t, net_m = vals.ravel()[flat], lengths.ravel()[flat]
        if prefilter:
            ok = net_t + s_lo[sg] <= budget[tg]
            sg, tg, net_t, net_m = sg[ok], tg[ok], net_t[ok], net_m[ok]
        if uniform and (s_hi.any() or d_hi.any()):
            net_t += s_lo[sg] + d_lo[tg]
        # expand distinct site nodes to sites and distinct demand positions to demand rows
        site, (tg, net_t, net_m) = _expand(sg, src_order, src_ptr, (tg, net_t, net_m))
        row, (site, total, dist_m) = _expand(tg, tgt_order, tgt_ptr, (site, net_t, net_m))
        if not uniform:
            total += s_acc[site] + d_acc[row]
            ok = total <= cut[row]
            row, site, total, dist_m = row[ok], site[ok], total[ok], dist_m[ok]
        blocks.append(_SparseBlock(row, site, total, dist_m))
    # the output columns are allocated once, at their final size, and each block writes its part
    n = sum(blk.count for blk in blocks)
    out = (np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32), np.empty(n), np.empty(n))
    start = 0
    while blocks:
        blk = blocks.pop(0)
        blk.write(*(col[start : start + blk.count] for col in out))
        start += blk.count
    return out


class _SparseBlock:
    """A batch's pairs as arrays (demand row, site row, time, distance)."""

    def __init__(self, *cols: np.ndarray) -> None:
        self.cols = cols
        self.count = len(cols[0])

    def write(self, *out: np.ndarray) -> None:
        for dst, src in zip(out, self.cols, strict=True):
            dst[:] = src


class _DenseBlock:
    """A batch's pairs as group-level times and lengths (distinct site nodes x distinct demand
    positions) and the mask of kept pairs over its sites x demand rows; expanded only when written."""

    def __init__(self, keep: np.ndarray, t: np.ndarray, m: np.ndarray, g_pos: np.ndarray, o_pos: np.ndarray,
                 site: np.ndarray, row: np.ndarray, access: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.keep, self.t, self.m, self.g_pos, self.o_pos = keep, t, m, g_pos, o_pos
        self.site, self.row, self.access = site, row, access
        self.count = int(np.count_nonzero(keep))

    def write(self, row: np.ndarray, site: np.ndarray, t: np.ndarray, m: np.ndarray) -> None:
        flat = np.flatnonzero(self.keep)
        # mode="clip" writes straight into ``out`` (the indices are in range by construction)
        np.take(self.t[self.g_pos][:, self.o_pos], flat, out=t, mode="clip")
        np.take(self.m[self.g_pos][:, self.o_pos], flat, out=m, mode="clip")
        np.take(np.tile(self.row, len(self.g_pos)), flat, out=row, mode="clip")
        site[:] = np.repeat(self.site, np.count_nonzero(self.keep, axis=1))
        if self.access is not None:
            t += self.access[0][site] + self.access[1][row]


def _dense_is_cheaper(
    reached: np.ndarray, src_ptr: np.ndarray, batch: np.ndarray, tgt_ptr: np.ndarray, owners: np.ndarray, max_cells: int
) -> bool:
    """Whether expanding a batch's reached mask densely (sites x demand rows) beats expanding its
    reached pairs one by one: when at least a quarter of the dense cells become pairs and the
    dense mask fits ``max_cells``."""
    per_src = np.diff(src_ptr)[batch].astype(float)
    per_tgt = np.diff(tgt_ptr)[owners].astype(float)
    cells = per_src.sum() * per_tgt.sum()
    if cells > max_cells or cells == 0:
        return False
    return bool(4.0 * float(per_src @ (reached @ per_tgt)) >= cells)


def _min_per_owner(vals: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise minimum over the exits of each owner (``owner`` sorted): (owners, minima)."""
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    if len(starts) == len(owner):
        return owner, vals
    # owners have few exits (one per direction of their street): fold the r-th exit of every
    # owner that has one, which is much faster than ``reduceat`` across the columns
    count = np.diff(np.r_[starts, len(owner)])
    out = vals[:, starts]
    for r in range(1, int(count.max())):
        more = np.flatnonzero(count > r)
        out[:, more] = np.minimum(out[:, more], vals[:, starts[more] + r])
    return owner[starts], out


def _batches(src: np.ndarray, xy: np.ndarray, reach_m: float, *, chunk: int, max_cells: int) -> list[np.ndarray]:
    """Spatially compact batches of source indices whose sub-networks fit ``max_cells``."""
    order = _z_order(xy[src])
    todo = [order[i : i + chunk] for i in range(0, len(order), chunk)][::-1]
    out: list[np.ndarray] = []
    while todo:
        b = todo.pop()
        if len(b) > 1:
            lo = xy[src[b]].min(axis=0) - reach_m
            hi = xy[src[b]].max(axis=0) + reach_m
            inside = int(((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1])).sum())
            if len(b) * inside > max_cells:
                half = len(b) // 2
                todo += [b[half:], b[:half]]
                continue
        out.append(b)
    return out


# --------------------------------------------------------------------------- isochrones


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
    et = _EdgeTable.from_graph(graph, geometry=True)
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
