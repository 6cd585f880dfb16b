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
   the default area; proportional to the area otherwise), or to ``population`` when given.
   Empty pixels are dropped.
9. **POIs.** Markets, malls, parking, fuel stations, bus depots, bus stations and existing
   charging stations are placed 8-25 m from road nodes, drawn with probabilities that follow the
   population density (markets, malls, parking), the arterials and ring (fuel), the outer
   arterials (bus depots) or the centre and sub-centres (bus stations), with a minimum spacing
   per kind. Counts per kind are drawn within :data:`POI_COUNT_RANGES` (``poi_counts="legacy"``,
   the demo's fixed ranges) or are the population times :data:`POI_DENSITY_PER_100K`
   (``poi_counts="densities"``, measured on OSM extracts of real cities).

Synthetic cities have no basemap: their coordinates are placed in a real UTM zone only so that
every tool that expects a projected metric CRS works unchanged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
from shapely.geometry import Point, Polygon

from charge_planner.synthetic.layout import (
    _N_RADIALS,
    _RIVER_MARGIN_M,
    ORIGIN_M,
    FloatArray,
    _make_radials,
    _make_ring,
    _make_river,
    _place_subcentres,
    _street_spacing_m,
)
from charge_planner.synthetic.pois import POI_COUNT_MODES, _pois
from charge_planner.synthetic.population import POPULATION_PIXEL_M, _population
from charge_planner.synthetic.roads import (
    _build_graph,
    _collectors,
    _local_edges,
    _local_points,
    _major_edges,
    _major_roads,
    _Nodes,
)

log = logging.getLogger(__name__)


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


def generate_city(
    seed: int = 42,
    *,
    width_m: float = 9000.0,
    height_m: float = 7000.0,
    population: float | None = None,
    poi_counts: str = "legacy",
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
        population total scales with the area; the POI counts do with ``poi_counts="densities"``.
    height_m
        North-south extent of the city box, 3,000 to 60,000 and at most twice ``width_m`` [m].
    population
        Total persons of the city; default: drawn from 450,000-650,000 per 63 km2 [persons].
    poi_counts
        ``"legacy"``: counts per kind drawn within :data:`POI_COUNT_RANGES` (the demo city's);
        ``"densities"``: the population times :data:`POI_DENSITY_PER_100K`, rounded.
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
        If the size or population is out of range, ``poi_counts`` is unknown or ``crs`` is not
        a projected CRS in metres.
    """
    _check_arguments(width_m, height_m, crs, population, poi_counts)
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
    pixels = _population(rng, box, (cx, cy), subcentres, radius_m, river, crs, population)
    pois = _pois(rng, graph, box, (cx, cy), subcentres, radius_m, crs,
                 persons=float(pixels["population"].sum()), poi_counts=poi_counts)

    n_bridges = len({tuple(sorted((u, v))) for u, v, b in graph.edges(data="bridge") if b == "yes"})
    description = (
        f"Synthetic demo city (seed {seed}), not a real place: a {width_m / 1000:.1f} km x "
        f"{height_m / 1000:.1f} km box with a dense organic core, {_N_RADIALS} radial arterials, a "
        f"ring road, two sub-centres and a river crossed by {n_bridges} bridges; "
        f"{graph.number_of_nodes()} road nodes, {graph.number_of_edges()} directed road edges, "
        f"{pixels['population'].sum():,.0f} persons on {len(pixels)} pixels of "
        f"{POPULATION_PIXEL_M:.0f} m and {len(pois)} points of interest. All names are synthetic."
    )
    log.info("generated %s", description)
    return SyntheticCity(
        roads=graph,
        river=river.area,
        population=pixels,
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


def _check_arguments(width_m: float, height_m: float, crs: str, population: float | None, poi_counts: str) -> None:
    problems = []
    if population is not None and not (math.isfinite(population) and population >= 1000.0):
        problems.append(f"population={population} is not a number of persons of at least 1,000")
    if poi_counts not in POI_COUNT_MODES:
        problems.append(f"poi_counts={poi_counts!r} is not one of {', '.join(POI_COUNT_MODES)}")
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
