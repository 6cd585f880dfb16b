"""Road network of a synthetic city: major-road stops and bridges, local streets, collectors, graph.

Turns the major-road lines of :mod:`~charge_planner.synthetic.layout` into nodes and edges
(bridges only at 3-5 river crossings), adds the local street mesh (Gabriel subgraph of a
Delaunay triangulation of thinned grid points), promotes collector roads, and builds the
osmnx-style ``MultiDiGraph`` reduced to its largest strongly connected component.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt
import shapely
from scipy.spatial import Delaunay, cKDTree
from shapely.geometry import LineString, Point

from charge_planner.synthetic.layout import (
    _N_RADIALS,
    _RIVER_MARGIN_M,
    _STREET_SPACING_CORE_M,
    _STREET_SPACING_MAX_M,
    Box,
    FloatArray,
    _River,
)

log = logging.getLogger(__name__)

_SpacingFn = Callable[[FloatArray, FloatArray], FloatArray]

CITY_NAME = "Demo City (synthetic)"
"""Value of the ``name`` graph attribute of the synthetic road graph."""

_CANDIDATE_GRID_M = 70.0
_MAJOR_CLEARANCE_M = 25.0
_LANES = {"trunk": 4, "primary": 4, "secondary": 2, "tertiary": 2, "residential": 2}


@dataclass
class _Road:
    """A major road: dense polyline, class, and its ordered stops ``(position_m, node)``."""

    name: str
    highway: str
    line: LineString
    closed: bool
    stops: list[tuple[float, int]]


class _Nodes:
    """Growing table of node coordinates."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list[float] = []

    def add(self, x: float, y: float) -> int:
        self.x.append(float(x))
        self.y.append(float(y))
        return len(self.x) - 1

    def xy(self) -> tuple[FloatArray, FloatArray]:
        return np.asarray(self.x, dtype=float), np.asarray(self.y, dtype=float)


@dataclass
class _Edges:
    """Undirected edges as parallel lists (one row per street segment)."""

    u: list[int]
    v: list[int]
    geometry: list[LineString]
    highway: list[str]
    name: list[str]
    bridge: list[bool]


# --------------------------------------------------------------------------- major roads


def _line_positions(line: LineString, points: shapely.Geometry) -> list[float]:
    return [float(line.project(p)) for p in shapely.get_parts(points)] if not points.is_empty else []


def _major_roads(
    nodes: _Nodes,
    radials: list[LineString],
    ring: LineString,
    river: _River,
    spacing: _SpacingFn,
    cx: float,
    cy: float,
) -> list[_Road]:
    """Major roads with their stops: shared junctions, river-bank nodes and regular nodes."""
    roads = [
        _Road(f"Arterial {k + 1}", "primary" if k % 2 == 0 else "secondary", line, False, [])
        for k, line in enumerate(radials)
    ]
    roads.append(_Road("Ring Road", "trunk", ring, True, []))
    centre = nodes.add(cx, cy)
    fixed: list[list[tuple[float, int]]] = [[(0.0, centre)] for _ in radials] + [[]]
    for k, line in enumerate(radials):
        for p in shapely.get_parts(line.intersection(ring)):
            if not isinstance(p, Point):
                continue
            junction = nodes.add(p.x, p.y)
            fixed[k].append((float(line.project(p)), junction))
            fixed[-1].append((float(ring.project(p)), junction))
    bank = river.centreline.buffer(river.half_width_m + _RIVER_MARGIN_M + 2.0, quad_segs=4).boundary
    for road, stops in zip(roads, fixed, strict=True):
        if not road.closed:
            stops.append((road.line.length, nodes.add(*road.line.coords[-1])))
        for position in _line_positions(road.line, road.line.intersection(bank)):
            if all(abs(position - other) >= 30.0 for other, _ in stops):
                p = road.line.interpolate(position)
                stops.append((position, nodes.add(p.x, p.y)))
        road.stops = _with_regular_stops(nodes, road, stops, spacing)
    return roads


def _with_regular_stops(
    nodes: _Nodes, road: _Road, fixed: list[tuple[float, int]], spacing: _SpacingFn
) -> list[tuple[float, int]]:
    """Add nodes every 1.4 x the local street spacing (120-350 m), away from fixed stops."""
    length = road.line.length
    t = np.linspace(0.0, length, max(int(length / 10.0), 2) + 1)
    pts = shapely.line_interpolate_point(road.line, t)
    sp = np.clip(1.4 * spacing(shapely.get_x(pts), shapely.get_y(pts)), 120.0, 350.0)
    u = np.concatenate([[0.0], np.cumsum(np.diff(t) / (0.5 * (sp[1:] + sp[:-1])))])
    positions = np.interp(np.arange(1.0, math.floor(u[-1]) + 1.0), u, t)
    if road.closed:
        positions = np.concatenate([[0.0], positions])
    fixed_pos = np.array(sorted(p for p, _ in fixed), dtype=float)
    local_sp = np.interp(positions, t, sp)
    stops = list(fixed)
    for position, gap in zip(positions, local_sp, strict=True):
        dist = np.abs(fixed_pos - position) if len(fixed_pos) else np.array([math.inf])
        if road.closed:
            dist = np.minimum(dist, length - dist)
            dist = np.append(dist, length - position)
        if dist.min() < 0.45 * gap or (not road.closed and length - position < 0.45 * gap):
            continue
        p = road.line.interpolate(float(position))
        stops.append((float(position), nodes.add(p.x, p.y)))
    stops.sort()
    return stops


def _major_edges(
    rng: np.random.Generator,
    roads: list[_Road],
    nodes: _Nodes,
    kept: npt.NDArray[np.bool_],
    river: _River,
    cx: float,
    cy: float,
    bridge_radial: int,
) -> _Edges:
    """Edges between consecutive kept stops; only 3-5 river crossings become bridges."""
    x, y = nodes.xy()
    edges = _Edges([], [], [], [], [], [])
    crossings: list[tuple[int, float, int, int, int]] = []  # (priority, distance, road, u, v)
    for r, road in enumerate(roads):
        seq = [n for _, n in road.stops if kept[n]]
        if road.closed and seq:
            seq.append(seq[0])
        for a, b in zip(seq[:-1], seq[1:], strict=True):
            if a == b:
                continue
            line = LineString([(x[a], y[a]), (x[b], y[b])])
            if not line.intersects(river.area):
                _append(edges, a, b, line, road.highway, road.name)
                continue
            if river.side(x[[a]], y[[a]])[0] == river.side(x[[b]], y[[b]])[0]:
                continue  # grazes a bend: the road is cut
            priority = 0 if r == bridge_radial else (1 if road.closed else 2)
            distance = math.hypot(0.5 * (x[a] + x[b]) - cx, 0.5 * (y[a] + y[b]) - cy)
            crossings.append((priority, distance, r, a, b))
    crossings.sort()
    # at most one bridge per radial (the crossing nearest the centre), bridges >= 500 m apart
    n_bridges = int(rng.integers(3, 6))
    chosen: list[tuple[int, float, int, int, int]] = []
    for crossing in crossings:
        _, _, r, a, b = crossing
        mid = (0.5 * (x[a] + x[b]), 0.5 * (y[a] + y[b]))
        if len(chosen) == n_bridges or any(c[2] == r and not roads[r].closed for c in chosen):
            continue
        if all(
            math.hypot(mid[0] - 0.5 * (x[c[3]] + x[c[4]]), mid[1] - 0.5 * (y[c[3]] + y[c[4]])) >= 500.0
            for c in chosen
        ):
            chosen.append(crossing)
    for _, _, r, a, b in chosen:
        line = LineString([(x[a], y[a]), (x[b], y[b])])
        _append(edges, a, b, line, roads[r].highway, roads[r].name, bridge=True)
    if len(chosen) < 3:
        log.warning("synthetic river has only %d bridges (too few arterial crossings)", len(chosen))
    return edges


def _append(
    edges: _Edges, u: int, v: int, line: LineString, highway: str, name: str, *, bridge: bool = False
) -> None:
    edges.u.append(u)
    edges.v.append(v)
    edges.geometry.append(line)
    edges.highway.append(highway)
    edges.name.append(name)
    edges.bridge.append(bridge)


# --------------------------------------------------------------------------- local streets


def _local_points(
    rng: np.random.Generator,
    box: Box,
    spacing: _SpacingFn,
    river: _River,
    major_x: FloatArray,
    major_y: FloatArray,
    major_lines: list[LineString],
) -> tuple[FloatArray, FloatArray]:
    """Local street nodes: a jittered grid thinned to the target spacing, kept clear of the
    river, of major-road nodes and of major-road lines."""
    h = _CANDIDATE_GRID_M
    gx, gy = np.meshgrid(np.arange(box[0] + h / 2, box[2], h), np.arange(box[1] + h / 2, box[3], h))
    x = gx.ravel() + rng.uniform(-0.3 * h, 0.3 * h, gx.size)
    y = gy.ravel() + rng.uniform(-0.3 * h, 0.3 * h, gx.size)
    s = spacing(x, y)
    keep = rng.random(x.size) < (h / s) ** 2
    x, y, s = x[keep], y[keep], s[keep]

    # thin pairs closer than half the local spacing (the later point of each pair goes)
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(0.5 * _STREET_SPACING_MAX_M, output_type="ndarray")
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    gap = np.hypot(x[pairs[:, 0]] - x[pairs[:, 1]], y[pairs[:, 0]] - y[pairs[:, 1]])
    close = pairs[gap < 0.5 * np.minimum(s[pairs[:, 0]], s[pairs[:, 1]])]
    alive = np.ones(x.size, dtype=bool)
    for i, j in close:
        if alive[i] and alive[j]:
            alive[j] = False

    alive &= river.distance_m(x, y) >= river.half_width_m + _RIVER_MARGIN_M + 10.0
    near_major, _ = cKDTree(np.column_stack([major_x, major_y])).query(np.column_stack([x, y]))
    alive &= near_major >= 0.5 * s
    tree = shapely.STRtree(major_lines)
    hits = tree.query(shapely.points(x, y), predicate="dwithin", distance=_MAJOR_CLEARANCE_M)
    alive[np.unique(hits[0])] = False
    return x[alive], y[alive]


def _local_edges(
    rng: np.random.Generator,
    nodes: _Nodes,
    major_kept: npt.NDArray[np.bool_],
    n_major: int,
    spacing: _SpacingFn,
    river: _River,
    edges: _Edges,
) -> None:
    """Gabriel subgraph of the Delaunay triangulation of all kept nodes, filtered."""
    x, y = nodes.xy()
    ids = np.concatenate([np.flatnonzero(major_kept), np.arange(n_major, len(x))])
    pts = np.column_stack([x[ids], y[ids]])
    tri = Delaunay(pts).simplices
    n = len(ids)
    all_keys, bad_keys = [], []
    for k in range(3):  # edge (b, c) opposite vertex a
        a, b, c = tri[:, k], tri[:, (k + 1) % 3], tri[:, (k + 2) % 3]
        key = np.minimum(b, c).astype(np.int64) * n + np.maximum(b, c)
        obtuse = np.einsum("ij,ij->i", pts[b] - pts[a], pts[c] - pts[a]) <= 0.0
        all_keys.append(key)
        bad_keys.append(key[obtuse])
    keys = np.setdiff1d(np.unique(np.concatenate(all_keys)), np.unique(np.concatenate(bad_keys)))
    u, v = ids[keys // n], ids[keys % n]
    local = (u >= n_major) | (v >= n_major)
    u, v = u[local], v[local]

    mid_x, mid_y = 0.5 * (x[u] + x[v]), 0.5 * (y[u] + y[v])
    length = np.hypot(x[v] - x[u], y[v] - y[u])
    s = spacing(mid_x, mid_y)
    outskirts = (s - _STREET_SPACING_CORE_M) / (_STREET_SPACING_MAX_M - _STREET_SPACING_CORE_M)
    keep = (length <= 2.2 * s) & (rng.random(len(u)) >= 0.08 + 0.12 * outskirts)

    # a slight bend on streets longer than 120 m
    bend = np.clip(rng.normal(0.0, 0.03, len(u)), -0.06, 0.06) * length
    bend[length <= 120.0] = 0.0
    nx_, ny_ = -(y[v] - y[u]) / length, (x[v] - x[u]) / length
    coords = np.stack(
        [
            np.column_stack([x[u], y[u]]),
            np.column_stack([mid_x + bend * nx_, mid_y + bend * ny_]),
            np.column_stack([x[v], y[v]]),
        ],
        axis=1,
    )
    lines = np.where(
        bend != 0.0,
        shapely.linestrings(coords),
        shapely.linestrings(coords[:, [0, 2], :]),
    )
    keep &= ~shapely.intersects(lines, river.area)
    major = shapely.STRtree(edges.geometry)
    hit_local, hit_major = major.query(lines, predicate="intersects")
    mu, mv = np.asarray(edges.u)[hit_major], np.asarray(edges.v)[hit_major]
    shares = (u[hit_local] == mu) | (u[hit_local] == mv) | (v[hit_local] == mu) | (v[hit_local] == mv)
    keep[np.unique(hit_local[~shares])] = False
    for i in np.flatnonzero(keep):
        _append(edges, int(u[i]), int(v[i]), lines[i], "residential", "")


def _collectors(radials: list[_Road], edges: _Edges, x: FloatArray, y: FloatArray, radius_m: float) -> None:
    """Promote shortest local-street paths between neighbouring arterials to tertiary roads."""
    local = nx.Graph()
    for i, highway in enumerate(edges.highway):
        if highway == "residential":
            local.add_edge(edges.u[i], edges.v[i], index=i, length=edges.geometry[i].length)
    number = 0
    for target, step in ((0.3 * radius_m, 1), (0.85 * radius_m, 2)):
        ends: list[int | None] = []
        for road in radials:
            stops = [(abs(p - target), n) for p, n in road.stops if n in local]
            ends.append(min(stops)[1] if stops and min(stops)[0] < 0.15 * radius_m else None)
        for k in range(0, _N_RADIALS, step):
            a, b = ends[k], ends[(k + 1) % _N_RADIALS]
            if a is None or b is None or not nx.has_path(local, a, b):
                continue
            path = nx.shortest_path(local, a, b, weight="length")
            pairs = list(zip(path[:-1], path[1:], strict=False))
            detour = sum(local.edges[p]["length"] for p in pairs) / math.hypot(x[a] - x[b], y[a] - y[b])
            if detour > 2.0:
                continue
            number += 1
            for p in pairs:
                i = local.edges[p]["index"]
                edges.highway[i] = "tertiary"
                edges.name[i] = f"Collector Road {number}"


# --------------------------------------------------------------------------- graph


def _build_graph(
    rng: np.random.Generator,
    nodes: _Nodes,
    edges: _Edges,
    centre: tuple[float, float],
    radius_m: float,
    crs: str,
) -> nx.MultiDiGraph:
    """osmnx-style MultiDiGraph of the edges, reduced to its largest strongly connected component."""
    x, y = nodes.xy()
    graph = nx.MultiDiGraph(crs=crs, name=CITY_NAME, synthetic=True)
    used = np.unique(np.concatenate([np.asarray(edges.u), np.asarray(edges.v)]))
    for n in used:
        graph.add_node(int(n), x=float(x[n]), y=float(y[n]))

    ward_m = 1500.0
    x_min, y_min = float(x.min()), float(y.min())
    n_cols = int((x.max() - x_min) // ward_m) + 1
    ward_count: dict[int, int] = {}
    oneway_draw = rng.random(len(edges.u))
    flip_draw = rng.random(len(edges.u))
    for i, (u, v, line) in enumerate(zip(edges.u, edges.v, edges.geometry, strict=True)):
        highway, name = edges.highway[i], edges.name[i]
        mid = line.interpolate(0.5, normalized=True)
        if highway == "residential":
            ward = 1 + int((mid.y - y_min) // ward_m) * n_cols + int((mid.x - x_min) // ward_m)
            ward_count[ward] = ward_count.get(ward, 0) + 1
            name = f"Street {ward}-{ward_count[ward]}"
        in_core = math.hypot(mid.x - centre[0], mid.y - centre[1]) < 0.3 * radius_m
        oneway = bool(highway == "residential" and in_core and oneway_draw[i] < 0.2)
        lanes = 1 if oneway else _LANES[highway]
        attrs: dict[str, Any] = {
            "osmid": -(i + 1),
            "highway": highway,
            "name": name,
            "oneway": oneway,
            "lanes": lanes,
        }
        if edges.bridge[i]:
            attrs["bridge"] = "yes"
        forward, backward = (u, v), (v, u)
        geom_f, geom_b = line, shapely.reverse(line)
        if oneway and flip_draw[i] < 0.5:
            forward, geom_f = backward, geom_b
        graph.add_edge(*forward, key=0, length=float(geom_f.length), geometry=geom_f, **attrs)
        if not oneway:
            graph.add_edge(*backward, key=0, length=float(geom_b.length), geometry=geom_b, **attrs)

    components = list(nx.strongly_connected_components(graph))
    largest = max(components, key=len)
    graph.remove_nodes_from([n for n in list(graph.nodes) if n not in largest])
    graph = nx.convert_node_labels_to_integers(graph, ordering="default")
    log.debug(
        "road graph: %d nodes, %d edges (largest of %d strongly connected components)",
        graph.number_of_nodes(),
        graph.number_of_edges(),
        len(components),
    )
    return graph
