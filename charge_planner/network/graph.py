"""Road graph preparation: projection to a metric CRS, speeds, travel times and graph arrays.

The road graph is an osmnx-style ``networkx.MultiDiGraph`` (loaders: :mod:`charge_planner.osm`).
:func:`prepare_graph` projects it to a metric CRS (:func:`check_metric_crs` refuses one in which
lengths would be wrong), sets ``speed_kph`` and ``travel_time_s`` on every edge and keeps the
largest strongly connected component. :func:`lonlat_bounds` locates coordinates in degrees. The
edge table :class:`EdgeTable` (and the private ``_Arcs``) hold a prepared graph as numpy arrays for
snapping, travel tables and isochrones; build it once with :meth:`EdgeTable.from_graph` to reuse it.

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

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from charge_planner.errors import DataError
from charge_planner.osm.tags import as_list

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


TIME_RESOLUTION_S = 2.0**-20
"""Resolution of edge travel times [s] (about 1 microsecond). Times on this grid add up exactly in
floating point (below 2**33 s), so every shortest-path method gives bit-identical path times."""

_ZERO_TIME_S = 1e-9  # csgraph reads explicit zeros as "no edge": zero-time arcs get this weight


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


def _first(value: object) -> object:
    items = as_list(value)
    return items[0] if items else None


def parse_maxspeed(value: object) -> float:
    """Legal speed limit from an OSM ``maxspeed`` value [km/h]; NaN when not numeric.

    Understands ``"50"``, ``"30 mph"``, ``"40;60"`` (mean of the values), lists of such values
    (osmnx-merged edges, mean) and returns NaN for symbolic values (``"walk"``, ``"none"``,
    ``"IN:urban"``).
    """
    speeds = []
    for item in as_list(value):
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
class EdgeTable:
    """Directed edges of a graph as arrays; ``group`` joins the two directions of one street.

    :func:`~charge_planner.network.travel_table` reads the graph into one itself; pass one built with
    ``EdgeTable.from_graph(graph, geometry=..., keys=...)`` as its ``edges`` to reuse it across calls.
    """

    nodes: pd.Index
    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    key: np.ndarray | None
    time_s: np.ndarray
    length_m: np.ndarray
    geometry: np.ndarray | None

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, *, geometry: bool = False, keys: bool = False) -> EdgeTable:
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
    et = EdgeTable.from_graph(graph)
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


def _node_positions(nodes: pd.Index, ids: pd.Series, what: str) -> np.ndarray:
    pos = nodes.get_indexer(ids.to_numpy())
    if (pos < 0).any():
        bad = list(ids.index[pos < 0][:5])
        raise DataError(
            f"{int((pos < 0).sum())} {what} points are snapped to nodes not in the road graph (first {bad}); "
            "snap them again on the prepared graph"
        )
    return pos
