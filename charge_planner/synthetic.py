"""Deterministic synthetic demo city: road graph, river, population grid and points of interest.

:func:`generate_city` builds a city that is realistic enough to be worth planning for, and is
labelled *synthetic* everywhere a name is shown (graph name and ``synthetic`` graph attribute,
every POI name, the description). The same seed gives identical outputs: all randomness comes
from one ``numpy.random.default_rng(seed)`` drawn in a fixed order.

Model
-----
Everything is laid out in a projected metric CRS (default EPSG:32643, UTM zone 43N) in a box of
``width_m`` x ``height_m`` whose lower-left corner sits at a fixed easting/northing
(:data:`ORIGIN_M`). Distances scale with the city radius ``R = sqrt(width_m * height_m) / 2``
(about 4 km for the default 9 km x 7 km box).

1. **Centre.** Drawn within 5 % of the middle of the box.
2. **River.** A meandering centreline (a slightly rotated straight axis, offset about 0.33 R from
   the centre, plus two sine meanders) crosses the whole box; the river is its 100-140 m wide
   buffer. No node lies within 20 m of the water and no street crosses it, except 3-5 bridges
   on the arterials and the ring road.
3. **Major roads.** Eight radial arterials (alternately ``primary`` and ``secondary``, with a
   gentle angular wobble) run from the centre to the edge of the box; a slightly elliptical
   ``trunk`` ring road runs at 0.6 R. Their nodes are spaced 120-350 m apart, closer in the
   core; junctions are shared nodes.
4. **Sub-centres.** Two, each on an arterial: one about 0.78 R out on the core's side of the
   river, one about 0.28 R beyond the river (a "new town across the bridge").
5. **Local streets** (``residential``). Points are drawn from a jittered 70 m grid thinned to a
   target spacing of ``75 m / sqrt(u)`` (at most 500 m), where the urbanity ``u`` is an
   exponential of the distance from the centre plus Gaussian bumps at the sub-centres, so street
   density falls off from the core to the outskirts. Together with the major-road nodes they are
   triangulated (Delaunay) and the Gabriel subgraph is kept: an organic mesh of irregular blocks
   with mostly three- and four-way junctions. Some streets are deleted at random (more in the
   outskirts), long ones get a slight bend, and none crosses a major road between its nodes or
   the river. Inner-core streets are sometimes one-way.
6. **Collector roads** (``tertiary``) are shortest paths through the local streets between
   neighbouring arterials, at 0.3 R (all pairs) and 0.85 R (every other pair).
7. **Graph.** An osmnx-style ``MultiDiGraph``: two-way streets appear as ``u->v`` and ``v->u``
   (key 0) with reversed geometries; only the largest strongly connected component is kept.
8. **Population.** One point per 100 m pixel: density = exponential core + two Gaussian
   sub-centres + a rural floor, times log-normal noise, with about 4 % of pixels empty (parks,
   industry) and none in the river; scaled to a total drawn from 450,000-650,000 persons (for
   the default area; proportional to the area otherwise). Empty pixels are dropped.
9. **POIs.** Markets, malls, parking, fuel stations, bus depots, bus stations and existing
   charging stations are placed 8-25 m from road nodes, drawn with probabilities that follow the
   population density (markets, malls, parking), the arterials and ring (fuel), the outer
   arterials (bus depots) or the centre and sub-centres (bus stations), with a minimum spacing
   per kind. Counts per kind are drawn within :data:`POI_COUNT_RANGES`.

Synthetic cities have no basemap: their coordinates are placed in a real UTM zone only so that
every tool that expects a projected metric CRS works unchanged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from scipy.spatial import Delaunay, cKDTree
from shapely.geometry import LineString, Point, Polygon

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Box = tuple[float, float, float, float]
_SpacingFn = Callable[[FloatArray, FloatArray], FloatArray]

ORIGIN_M: tuple[float, float] = (760_000.0, 1_420_000.0)
"""Easting and northing of the lower-left corner of every synthetic city [m]."""

CITY_NAME = "Demo City (synthetic)"
"""Value of the ``name`` graph attribute of the synthetic road graph."""

POPULATION_PIXEL_M = 100.0
"""Side of a population pixel [m]; each population point is a pixel centre."""

POI_KINDS: tuple[str, ...] = (
    "market",
    "mall",
    "parking",
    "fuel",
    "bus_depot",
    "bus_station",
    "charging_station",
)
"""Values of the ``kind`` column of :attr:`SyntheticCity.pois`, in the order they are placed."""

POI_COUNT_RANGES: dict[str, tuple[int, int]] = {
    "market": (12, 18),
    "mall": (3, 6),
    "parking": (35, 55),
    "fuel": (12, 18),
    "bus_depot": (1, 2),
    "bus_station": (3, 6),
    "charging_station": (2, 5),
}
"""Inclusive range of the number of POIs of each kind."""

_N_RADIALS = 8
_STREET_SPACING_CORE_M = 75.0
_STREET_SPACING_MAX_M = 500.0
_CANDIDATE_GRID_M = 70.0
_RIVER_MARGIN_M = 20.0
_MAJOR_CLEARANCE_M = 25.0
_LANES = {"trunk": 4, "primary": 4, "secondary": 2, "tertiary": 2, "residential": 2}
_HIGHWAY_RANK = {"trunk": 0, "primary": 1, "secondary": 2, "tertiary": 3, "residential": 4}


@dataclass(frozen=True, eq=False)
class SyntheticCity:
    """A generated demo city; every geometry is in :attr:`crs`.

    Attributes
    ----------
    roads
        Strongly connected osmnx-style road graph. Graph attributes ``crs``, ``name``
        ("Demo City (synthetic)") and ``synthetic`` (True); node attributes ``x``, ``y`` [m];
        edge attributes ``length`` [m], ``highway``, ``name``, ``oneway``, ``lanes``,
        ``geometry`` (LineString from u to v), ``osmid`` (negative synthetic way id) and
        ``bridge`` ("yes", on bridges only).
    river
        River area (the buffered centreline); only bridge edges intersect it.
    population
        One Point per populated 100 m pixel (its centre), column ``population`` [persons].
    pois
        Points of interest: columns ``poi_id`` ("poi-0001", ...), ``kind`` (one of
        :data:`POI_KINDS`), ``name`` (ends with "(synthetic)") and ``geometry`` (Point).
    centre
        City centre, where the radial arterials meet.
    subcentres
        The two sub-centres (secondary population and street-density peaks).
    seed
        Seed the city was generated from.
    crs
        Projected metric CRS of every geometry and of the graph.
    description
        One-paragraph plain-text description that states the city is synthetic.
    """

    roads: nx.MultiDiGraph
    river: Polygon
    population: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    centre: Point
    subcentres: tuple[Point, ...]
    seed: int
    crs: str
    description: str


@dataclass(frozen=True)
class _River:
    """Meandering river: offset ``d(s)`` of the centreline from an axis through the centre."""

    cx: float
    cy: float
    ex: float
    ey: float
    d0_m: float
    amp_m: tuple[float, float]
    wavenumber_per_m: tuple[float, float]
    phase: tuple[float, float]
    half_width_m: float
    centreline: LineString
    area: Polygon

    def offset_m(self, s_m: FloatArray) -> FloatArray:
        """Offset of the centreline from the axis at along-axis position ``s_m`` [m]."""
        return _meander_m(s_m, self.d0_m, self.amp_m, self.wavenumber_per_m, self.phase)

    def side(self, x: FloatArray, y: FloatArray) -> IntArray:
        """Side of the river (+1 or -1) of each point."""
        dx, dy = x - self.cx, y - self.cy
        s = dx * self.ex + dy * self.ey
        d = -dx * self.ey + dy * self.ex
        return np.where(d >= self.offset_m(s), 1, -1).astype(np.int64)

    def distance_m(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Distance of each point from the river centreline [m]."""
        return np.asarray(shapely.distance(shapely.points(x, y), self.centreline), dtype=float)


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


def generate_city(
    seed: int = 42,
    *,
    width_m: float = 9000.0,
    height_m: float = 7000.0,
    crs: str = "EPSG:32643",
) -> SyntheticCity:
    """Generate a deterministic synthetic demo city.

    Parameters
    ----------
    seed
        Seed of the random generator; the same seed gives identical outputs.
    width_m
        East-west extent of the city box, 3,000 to 60,000 and at most twice ``height_m`` [m].
        Street spacing is absolute, so the road graph grows with the area (about 6,000 directed
        edges for the default 63 km2 in 0.5 s, about 100,000 for 33 km x 33 km in 10 s); the
        population total scales with the area; the POI counts do not.
    height_m
        North-south extent of the city box, 3,000 to 60,000 and at most twice ``width_m`` [m].
    crs
        Projected CRS with metre units in which the city is laid out; its lower-left corner
        is placed at :data:`ORIGIN_M`.

    Returns
    -------
    SyntheticCity
        Road graph, river, population points and POIs; see the module docstring for the model.

    Raises
    ------
    ValueError
        If the size is out of range or ``crs`` is not a projected CRS in metres.
    """
    _check_arguments(width_m, height_m, crs)
    rng = np.random.default_rng(seed)
    x0, y0 = ORIGIN_M
    box = (x0, y0, x0 + width_m, y0 + height_m)
    radius_m = 0.5 * math.sqrt(width_m * height_m)
    cx = x0 + width_m * rng.uniform(0.45, 0.55)
    cy = y0 + height_m * rng.uniform(0.45, 0.55)

    river = _make_river(rng, cx, cy, radius_m, width_m, height_m)
    radials = _make_radials(rng, cx, cy, box)
    ring = _make_ring(rng, cx, cy, radius_m)
    (sub_a, _), (sub_b, k_b) = _place_subcentres(rng, radials, river, cx, cy, radius_m, box)
    subcentres = (sub_a, sub_b)

    def spacing(x: FloatArray, y: FloatArray) -> FloatArray:
        return _street_spacing_m(x, y, (cx, cy), subcentres, radius_m)

    nodes = _Nodes()
    roads = _major_roads(nodes, radials, ring, river, spacing, cx, cy)
    mx, my = nodes.xy()
    major_kept = river.distance_m(mx, my) >= river.half_width_m + _RIVER_MARGIN_M
    edges = _major_edges(rng, roads, nodes, major_kept, river, cx, cy, k_b)
    n_major = len(nodes.x)
    major_lines = list(edges.geometry)

    lx, ly = _local_points(rng, box, spacing, river, mx[major_kept], my[major_kept], major_lines)
    for x, y in zip(lx, ly, strict=True):
        nodes.add(x, y)
    _local_edges(rng, nodes, major_kept, n_major, spacing, river, edges)
    _collectors(roads[:_N_RADIALS], edges, *nodes.xy(), radius_m)

    graph = _build_graph(rng, nodes, edges, (cx, cy), radius_m, crs)
    population = _population(rng, box, (cx, cy), subcentres, radius_m, river, crs)
    pois = _pois(rng, graph, box, (cx, cy), subcentres, radius_m, crs)

    n_bridges = len({tuple(sorted((u, v))) for u, v, b in graph.edges(data="bridge") if b == "yes"})
    description = (
        f"Synthetic demo city (seed {seed}), not a real place: a {width_m / 1000:.1f} km x "
        f"{height_m / 1000:.1f} km box with a dense organic core, {_N_RADIALS} radial arterials, a "
        f"ring road, two sub-centres and a river crossed by {n_bridges} bridges; "
        f"{graph.number_of_nodes()} road nodes, {graph.number_of_edges()} directed road edges, "
        f"{population['population'].sum():,.0f} persons on {len(population)} pixels of "
        f"{POPULATION_PIXEL_M:.0f} m and {len(pois)} points of interest. All names are synthetic."
    )
    log.info("generated %s", description)
    return SyntheticCity(
        roads=graph,
        river=river.area,
        population=population,
        pois=pois,
        centre=Point(cx, cy),
        subcentres=(Point(*sub_a), Point(*sub_b)),
        seed=seed,
        crs=crs,
        description=description,
    )


def city_bounds(city: SyntheticCity) -> tuple[float, float, float, float]:
    """Bounding box of a synthetic city: roads and population pixels (full pixel extent).

    Parameters
    ----------
    city
        City from :func:`generate_city`.

    Returns
    -------
    tuple of float
        ``(minx, miny, maxx, maxy)`` in ``city.crs`` [m].
    """
    xs = np.fromiter((d for _, d in city.roads.nodes(data="x")), dtype=float)
    ys = np.fromiter((d for _, d in city.roads.nodes(data="y")), dtype=float)
    half = 0.5 * POPULATION_PIXEL_M
    px0, py0, px1, py1 = city.population.total_bounds
    return (
        float(min(xs.min(), px0 - half)),
        float(min(ys.min(), py0 - half)),
        float(max(xs.max(), px1 + half)),
        float(max(ys.max(), py1 + half)),
    )


# --------------------------------------------------------------------------- checks


def _check_arguments(width_m: float, height_m: float, crs: str) -> None:
    problems = []
    for name, value in (("width_m", width_m), ("height_m", height_m)):
        if not (math.isfinite(value) and 3000.0 <= value <= 60_000.0):
            problems.append(f"{name}={value} is outside 3,000-60,000 m")
    if not problems and not 0.5 <= width_m / height_m <= 2.0:
        problems.append(
            f"width_m / height_m = {width_m / height_m:.2f} is outside 0.5-2 (the ring road must fit)"
        )
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        problems.append(f"crs={crs!r} is not a CRS pyproj understands ({exc})")
    else:
        units = {axis.unit_name for axis in parsed.axis_info}
        if not parsed.is_projected or not units <= {"metre", "meter"}:
            problems.append(f"crs={crs!r} is not a projected CRS in metres (use e.g. a UTM zone)")
    if problems:
        raise ValueError("cannot generate a synthetic city: " + "; ".join(problems))


# --------------------------------------------------------------------------- layout


def _make_river(
    rng: np.random.Generator, cx: float, cy: float, radius_m: float, width_m: float, height_m: float
) -> _River:
    alpha = math.radians(rng.uniform(-8.0, 8.0))
    side = 1.0 if rng.random() < 0.5 else -1.0
    d0 = side * rng.uniform(0.30, 0.36) * radius_m
    amp = (rng.uniform(0.06, 0.10) * radius_m, rng.uniform(0.015, 0.03) * radius_m)
    k = (2 * math.pi / rng.uniform(3000.0, 5000.0), 2 * math.pi / rng.uniform(1200.0, 2000.0))
    phase = (rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))
    half_width = rng.uniform(50.0, 70.0)
    ex, ey = math.cos(alpha), math.sin(alpha)
    reach = 0.6 * math.hypot(width_m, height_m) + 300.0
    s = np.arange(-reach, reach + 25.0, 25.0)
    d = _meander_m(s, d0, amp, k, phase)
    x, y = cx + s * ex - d * ey, cy + s * ey + d * ex
    # keep the stretch that crosses the box (plus 150 m beyond each edge)
    x0, y0 = ORIGIN_M
    inside = np.flatnonzero(
        (x > x0 - 150) & (x < x0 + width_m + 150) & (y > y0 - 150) & (y < y0 + height_m + 150)
    )
    centreline = LineString(np.column_stack([x, y])[inside[0] : inside[-1] + 1])
    area = centreline.buffer(half_width, quad_segs=4)
    shapely.prepare(area)
    return _River(cx, cy, ex, ey, d0, amp, k, phase, half_width, centreline, area)


def _meander_m(
    s_m: FloatArray,
    d0_m: float,
    amp_m: tuple[float, float],
    wavenumber_per_m: tuple[float, float],
    phase: tuple[float, float],
) -> FloatArray:
    """River centreline offset from its axis: a constant plus two sine meanders [m]."""
    return (
        d0_m
        + amp_m[0] * np.sin(wavenumber_per_m[0] * s_m + phase[0])
        + amp_m[1] * np.sin(wavenumber_per_m[1] * s_m + phase[1])
    )


def _make_radials(rng: np.random.Generator, cx: float, cy: float, box: Box) -> list[LineString]:
    theta0 = rng.uniform(0.0, 2 * math.pi)
    reach = 2.0 * max(box[2] - box[0], box[3] - box[1])
    r = np.arange(0.0, reach, 20.0)
    inset = 30.0
    radials = []
    for k in range(_N_RADIALS):
        theta = theta0 + 2 * math.pi * k / _N_RADIALS + rng.uniform(-0.12, 0.12)
        amp, wavelength, phase = rng.uniform(0.02, 0.06), rng.uniform(2000, 4000), rng.uniform(0, 6.3)
        angle = theta + amp * np.sin(2 * math.pi * r / wavelength + phase) * np.minimum(1.0, r / 800)
        x, y = cx + r * np.cos(angle), cy + r * np.sin(angle)
        inside = (x > box[0] + inset) & (x < box[2] - inset) & (y > box[1] + inset) & (y < box[3] - inset)
        n_in = int(np.argmin(inside)) if not inside.all() else len(r)
        radials.append(LineString(np.column_stack([x[:n_in], y[:n_in]])))
    return radials


def _make_ring(rng: np.random.Generator, cx: float, cy: float, radius_m: float) -> LineString:
    ring_m = 0.6 * radius_m
    ellipticity, axis, wobble_phase = rng.uniform(0.03, 0.08), rng.uniform(0, math.pi), rng.uniform(0, 6.3)
    phi = np.linspace(0.0, 2 * math.pi, int(2 * math.pi * ring_m / 15.0), endpoint=False)
    rr = ring_m * (1 + ellipticity * np.cos(2 * (phi - axis)) + 0.025 * np.sin(3 * phi + wobble_phase))
    coords = np.column_stack([cx + rr * np.cos(phi), cy + rr * np.sin(phi)])
    return LineString(np.vstack([coords, coords[:1]]))


def _inside(x: float, y: float, box: Box, margin_m: float) -> bool:
    return box[0] + margin_m < x < box[2] - margin_m and box[1] + margin_m < y < box[3] - margin_m


def _place_subcentres(
    rng: np.random.Generator,
    radials: list[LineString],
    river: _River,
    cx: float,
    cy: float,
    radius_m: float,
    box: Box,
) -> tuple[tuple[tuple[float, float], int], tuple[tuple[float, float], int]]:
    """Sub-centre A on the core's side of the river, B beyond it; each on a radial."""
    margin = 0.15 * radius_m
    near: list[tuple[tuple[float, float], int]] = []
    far: list[tuple[tuple[float, float], int]] = []
    core_side = river.side(np.array([cx]), np.array([cy]))[0]
    for k, line in enumerate(radials):
        crossing = line.intersection(river.centreline)
        r_cross = (
            min(line.project(p) for p in shapely.get_parts(crossing)) if not crossing.is_empty else math.inf
        )
        r_a = 0.78 * radius_m
        if r_a < min(r_cross - 0.25 * radius_m, line.length - margin):
            p = line.interpolate(r_a)
            if _inside(p.x, p.y, box, margin) and p.distance(river.centreline) > 0.2 * radius_m:
                near.append(((p.x, p.y), k))
        if math.isfinite(r_cross):
            r_b = r_cross + 0.28 * radius_m
            if r_b < line.length - margin:
                p = line.interpolate(r_b)
                far_side = river.side(np.array([p.x]), np.array([p.y]))[0] != core_side
                if (
                    far_side
                    and _inside(p.x, p.y, box, margin)
                    and p.distance(river.centreline) > 0.18 * radius_m
                ):
                    far.append(((p.x, p.y), k))
    if not near:  # tiny or odd box: fall back to the radial farthest from the river at 0.6 R
        points = [line.interpolate(min(0.6 * radius_m, 0.8 * line.length)) for line in radials]
        k = int(np.argmax([p.distance(river.centreline) for p in points]))
        near = [((points[k].x, points[k].y), k)]
    first = near[int(rng.integers(len(near)))]
    far = [f for f in far if f[1] != first[1]]
    if not far:  # no room beyond the river: a second sub-centre on the core's side
        far = [n for n in near if (n[1] - first[1]) % _N_RADIALS not in (0, 1, _N_RADIALS - 1)]
    if not far:
        k = (first[1] + _N_RADIALS // 2) % _N_RADIALS
        p = radials[k].interpolate(min(0.5 * radius_m, 0.8 * radials[k].length))
        far = [((p.x, p.y), k)]
    second = far[int(rng.integers(len(far)))]
    return first, second


def _street_spacing_m(
    x: FloatArray,
    y: FloatArray,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
) -> FloatArray:
    """Target spacing of local street nodes [m]: 75 m at the centre, up to 500 m outside."""
    urbanity = np.exp(-np.hypot(x - centre[0], y - centre[1]) / (0.33 * radius_m))
    for sx, sy in subcentres:
        urbanity += 0.6 * np.exp(-((np.hypot(x - sx, y - sy) / (0.17 * radius_m)) ** 2))
    spacing = _STREET_SPACING_CORE_M / np.sqrt(np.maximum(urbanity, 1e-9))
    return np.clip(spacing, _STREET_SPACING_CORE_M, _STREET_SPACING_MAX_M)


def _density_shape(
    x: FloatArray,
    y: FloatArray,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
) -> FloatArray:
    """Relative population density (1 at the centre, before noise)."""
    density = np.exp(-np.hypot(x - centre[0], y - centre[1]) / (0.3 * radius_m)) + 0.04
    for sx, sy in subcentres:
        density += 0.3 * np.exp(-((np.hypot(x - sx, y - sy) / (0.18 * radius_m)) ** 2))
    return density


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


# --------------------------------------------------------------------------- population


def _population(
    rng: np.random.Generator,
    box: Box,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
    river: _River,
    crs: str,
) -> gpd.GeoDataFrame:
    """Population per 100 m pixel [persons]; empty pixels and river pixels dropped."""
    half = 0.5 * POPULATION_PIXEL_M
    gx, gy = np.meshgrid(
        np.arange(box[0] + half, box[2], POPULATION_PIXEL_M),
        np.arange(box[1] + half, box[3], POPULATION_PIXEL_M),
    )
    x, y = gx.ravel(), gy.ravel()
    density = _density_shape(x, y, centre, subcentres, radius_m)
    density *= rng.lognormal(-0.5 * 0.35**2, 0.35, x.size)
    density[rng.random(x.size) < 0.04] = 0.0
    density[shapely.contains_xy(river.area, x, y)] = 0.0
    area_km2 = (box[2] - box[0]) * (box[3] - box[1]) / 1e6
    total = rng.uniform(450_000.0, 650_000.0) * area_km2 / 63.0
    population = np.round(density * total / density.sum())
    populated = population > 0
    return gpd.GeoDataFrame(
        {"population": population[populated].astype(float)},
        geometry=gpd.points_from_xy(x[populated], y[populated]),
        crs=crs,
    )


# --------------------------------------------------------------------------- POIs


def _pick(
    rng: np.random.Generator,
    candidates: IntArray,
    weights: FloatArray,
    count: int,
    min_gap_m: float,
    x: FloatArray,
    y: FloatArray,
    taken: list[int] | None = None,
) -> list[int]:
    """Draw ``count`` distinct node indices by weight, at least ``min_gap_m`` apart (relaxed
    by halves when the candidates run out)."""
    if len(candidates) == 0 or count <= 0:
        return []
    p = np.asarray(weights, dtype=float) + 1e-12
    order = candidates[rng.choice(len(candidates), size=len(candidates), replace=False, p=p / p.sum())]
    chosen: list[int] = []
    others = list(taken or [])
    gap = min_gap_m
    while len(chosen) < count and gap > 1.0:
        for n in order:
            if len(chosen) == count:
                break
            if n in chosen:
                continue
            near = others + chosen
            if not near or np.min(np.hypot(x[near] - x[n], y[near] - y[n])) >= gap:
                chosen.append(int(n))
        gap *= 0.5
    return chosen


def _pois(
    rng: np.random.Generator,
    graph: nx.MultiDiGraph,
    box: Box,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
    crs: str,
) -> gpd.GeoDataFrame:
    """Points of interest placed 8-25 m from road nodes (see the module docstring)."""
    node_ids = np.array(list(graph.nodes), dtype=np.int64)
    x = np.array([graph.nodes[n]["x"] for n in node_ids], dtype=float)
    y = np.array([graph.nodes[n]["y"] for n in node_ids], dtype=float)
    rank = np.full(len(node_ids), 9, dtype=np.int64)
    street: list[str] = [""] * len(node_ids)
    position = {int(n): i for i, n in enumerate(node_ids)}
    for u, v, data in graph.edges(data=True):
        r = _HIGHWAY_RANK[data["highway"]]
        for n in (u, v):
            i = position[n]
            if r < rank[i]:
                rank[i], street[i] = r, data["name"]
    density = _density_shape(x, y, centre, subcentres, radius_m)
    dist_centre = np.hypot(x - centre[0], y - centre[1])
    everywhere = np.arange(len(node_ids))
    arterial = np.flatnonzero(rank <= 2)
    collector = np.flatnonzero(rank <= 3)

    def count(kind: str) -> int:
        low, high = POI_COUNT_RANGES[kind]
        return int(rng.integers(low, high + 1))

    picks: dict[str, list[int]] = {}
    picks["market"] = _pick(rng, everywhere, density[everywhere] ** 1.5, count("market"), 350.0, x, y)
    picks["mall"] = _pick(rng, collector, density[collector] ** 2, count("mall"), 800.0, x, y)
    picks["parking"] = _pick(rng, everywhere, density[everywhere] ** 1.2, count("parking"), 200.0, x, y)
    picks["fuel"] = _pick(rng, arterial, density[arterial] ** 0.3, count("fuel"), 500.0, x, y)
    edge_gap = np.minimum.reduce([x - box[0], box[2] - x, y - box[1], box[3] - y])
    outer = arterial[(dist_centre[arterial] > 0.7 * radius_m) & (edge_gap[arterial] > 400.0)]
    picks["bus_depot"] = _pick(rng, outer, np.ones(len(outer)), count("bus_depot"), 2000.0, x, y)
    hubs = [
        int(arterial[np.argmin(np.hypot(x[arterial] - px, y[arterial] - py))])
        for px, py in (centre, *subcentres)
    ]
    hubs = list(dict.fromkeys(hubs))
    extra = max(0, count("bus_station") - len(hubs))
    picks["bus_station"] = hubs + _pick(rng, arterial, density[arterial], extra, 1000.0, x, y, taken=hubs)
    picks["charging_station"] = _pick(
        rng, collector, density[collector], count("charging_station"), 1000.0, x, y
    )

    labels = {
        "market": "Market",
        "mall": "Mall",
        "parking": "Parking",
        "fuel": "Fuel Station",
        "bus_depot": "Bus Depot",
        "bus_station": "Bus Station",
        "charging_station": "EV Charging Station",
    }
    rows: list[dict[str, Any]] = []
    for kind in POI_KINDS:
        chosen = picks[kind]
        if kind in ("market", "bus_station") and chosen:  # the most central one is "Central ..."
            central = min(chosen, key=lambda n: dist_centre[n])
            chosen = [central] + [n for n in chosen if n != central]
        for j, n in enumerate(chosen):
            if j == 0 and kind in ("market", "bus_station"):
                name = f"Central {labels[kind]} (synthetic)"
            else:
                name = f"{labels[kind]} {j + 1}, {street[n]} (synthetic)"
            angle, offset = rng.uniform(0.0, 2 * math.pi), rng.uniform(8.0, 25.0)
            rows.append(
                {
                    "poi_id": f"poi-{len(rows) + 1:04d}",
                    "kind": kind,
                    "name": name,
                    "geometry": Point(x[n] + offset * math.cos(angle), y[n] + offset * math.sin(angle)),
                }
            )
    return gpd.GeoDataFrame(
        rows, columns=["poi_id", "kind", "name", "geometry"], geometry="geometry", crs=crs
    )
