"""Road networks and map layers from OpenStreetMap extracts and road files.

Readers
-------
* :func:`read_osm` reads an OSM extract — XML (``.osm``, ``.osm.gz``, ``.osm.bz2``, also with
  ``.osm.xml``) or PBF (``.osm.pbf``, ``.pbf``) — in one streaming pass with pyosmium and returns
  every layer: the drivable road graph for a travel mode, building footprints with their area,
  points of interest, power infrastructure and land where a depot could stand (land-use and
  parking polygons with their area, ends of bus routes). Clipped extracts load: a way that references
  nodes cut off at the edge of the extract keeps its parts that have coordinates.
* :func:`read_road_network` reads a road graph from any supported file: the OSM formats above,
  OSMnx GraphML, a GeoPackage (layers ``edges`` and optionally ``nodes``, as written by
  ``osmnx.save_graph_geopackage``, or a single line layer) or GeoParquet (an edges file and an
  optional nodes file).
* :func:`fetch_osm` downloads a place name or bounding box through osmnx (with its cache) and
  returns the same layers; everything after the download is shared with the local readers.

Travel modes
------------
``car`` follows the osmnx ``drive`` network: public roads of the classes in
:data:`CAR_CLASSES`, no ``area=yes``, access by the most specific of ``motorcar``,
``motor_vehicle``, ``vehicle`` and ``access``. ``two_wheeler`` also uses service roads (alleys,
driveways and parking aisles are how two-wheelers reach most destinations in South and Southeast
Asian cities) and tracks, avoids motorways (India, Vietnam and the Philippines bar small
two-wheelers from expressways; a ``motorcycle=yes`` tag overrides this) and any way whose
``motorcycle`` access is ``no``; footways, paths and cycleways count only when tagged
``motorcycle=yes|designated|permissive``; ``oneway:motorcycle`` overrides ``oneway``.
``oneway=yes`` is implied on motorways, motorway links and roundabouts, as OSM defines.

The road graph is osmnx-style (``networkx.MultiDiGraph`` in EPSG:4326, node ``x``/``y``,
edge ``osmid``, ``highway``, ``oneway``, ``reversed``, ``length`` [m, great-circle],
``geometry`` from ``u`` to ``v`` and the way's routing tags). It is split at every node shared
by two ways and at way ends, so each edge belongs to one way.

Map data © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import ast
import logging
import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from charge_planner.errors import DataError

log = logging.getLogger(__name__)

Mode = Literal["car", "two_wheeler"]
MODES: tuple[str, ...] = ("car", "two_wheeler")

OSM_ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"

OSM_SUFFIXES: dict[str, str] = {
    ".osm": "osm",
    ".osm.xml": "osm",
    ".xml": "osm",
    ".osm.gz": "osm.gz",
    ".osm.xml.gz": "osm.gz",
    ".osm.bz2": "osm.bz2",
    ".osm.xml.bz2": "osm.bz2",
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
}
"""File name endings of OSM extracts and the pyosmium format each is read as."""

ROAD_FILE_TYPES = "GraphML (.graphml), OSM XML (.osm, .osm.gz, .osm.bz2), OSM PBF (.osm.pbf), GeoPackage (.gpkg) or GeoParquet (.parquet)"

CAR_CLASSES: frozenset[str] = frozenset(
    {
        "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
        "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential", "living_street", "road",
    }
)
"""OSM ``highway`` classes of the car network (the osmnx ``drive`` classes)."""

TWO_WHEELER_CLASSES: frozenset[str] = (CAR_CLASSES - {"motorway", "motorway_link"}) | {"service", "track"}
"""OSM ``highway`` classes of the two-wheeler network without explicit motorcycle tags."""

_TAGGED_ONLY_2W = frozenset({"motorway", "motorway_link", "path", "footway", "cycleway", "pedestrian", "bridleway", "busway"})
_SERVICE_EXCLUDED = {
    "car": frozenset({"alley", "driveway", "emergency_access", "parking", "parking_aisle", "private"}),
    "two_wheeler": frozenset({"emergency_access", "private"}),
}
_ACCESS_KEYS = {
    "car": ("motorcar", "motor_vehicle", "vehicle", "access"),
    "two_wheeler": ("motorcycle", "motor_vehicle", "vehicle", "access"),
}
_NO_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "emergency", "military", "use_sidepath"})
_EXPLICIT_YES = frozenset({"yes", "designated", "permissive"})
_ONEWAY_FORWARD = frozenset({"yes", "true", "1"})
_ONEWAY_BACKWARD = frozenset({"-1", "reverse"})
_ONEWAY_NO = frozenset({"no", "false", "0", "reversible", "alternating"})

EDGE_TAGS: tuple[str, ...] = (
    "highway", "name", "ref", "maxspeed", "lanes", "junction", "bridge", "tunnel", "access", "service",
    "width", "surface", "motorcycle", "motor_vehicle", "motorcar",
)
"""Way tags copied to road edges when present."""

FEATURE_KEYS: tuple[str, ...] = ("building", "amenity", "shop", "power", "industrial", "public_transport", "landuse")
"""Keys of the OSM features read for the map layers."""

FEATURE_COLUMNS: tuple[str, ...] = (
    "name", "building", "building:levels", "amenity", "shop", "power", "industrial", "depot", "public_transport",
    "bus", "transformer", "voltage", "generator:source", "plant:source", "capacity", "operator", "landuse",
    "parking", "access",
)
"""Tags kept on features (columns of the features table)."""

POI_COLUMNS = ["poi_id", "kind", "name"]
BUILDING_COLUMNS = ["building_id", "building", "levels", "name", "area_m2"]
POWER_COLUMNS = ["power_id", "kind", "name", "voltage_kv", "source"]

POI_KINDS: tuple[str, ...] = ("parking", "fuel", "charging_station", "mall", "market", "bus_station", "bus_depot")
"""Values of the ``kind`` column of the POI layer."""

POWER_KINDS: tuple[str, ...] = ("substation", "transformer", "line", "minor_line", "cable", "generator", "plant")
"""Values of the ``kind`` column of the power layer."""

DEPOT_LAND_COLUMNS = ["land_id", "kind", "name", "area_m2"]
DEPOT_LAND_KINDS: tuple[str, ...] = (
    "landuse_depot", "landuse_industrial", "parking", "route_terminal", "landuse_commercial", "landuse_retail",
)
"""Values of the ``kind`` column of the depot-land layer: land where a bus or truck depot could stand
when the extract tags none (``landuse=depot|industrial|commercial|retail`` polygons, off-street
parking polygons that are not underground, on rooftops or private, and the first and last stop of
``route=bus`` relations that lie inside the extract)."""
#: ``parking=*`` values that cannot take a 12 m bus (street lanes, underground or rooftop decks).
_NO_BUS_PARKING = frozenset({"underground", "rooftop", "lane", "street_side", "on_kerb", "half_on_kerb", "layby"})


@dataclass
class OsmLayers:
    """Layers read from one OSM extract, all in EPSG:4326.

    Attributes
    ----------
    roads
        Road graph of the travel mode (see the module docstring).
    buildings
        Building footprints: ``building_id`` (``way/123``), ``building`` (its tag value),
        ``levels``, ``name``, ``area_m2`` [m2, in the local UTM zone].
    pois
        Points of interest: ``poi_id``, ``kind`` (one of :data:`POI_KINDS`), ``name``.
    power
        Power infrastructure: ``power_id``, ``kind`` (one of :data:`POWER_KINDS`), ``name``,
        ``voltage_kv`` [kV, highest of the tagged voltages], ``source`` (generator source);
        points, lines and polygons.
    source
        The file (or the place/bounding box) the layers come from.
    depot_land
        Land where a depot could stand (:func:`depot_land_from_features`): ``land_id``, ``kind``
        (one of :data:`DEPOT_LAND_KINDS`), ``name``, ``area_m2`` [m2, 0 for route terminals];
        polygons and points.
    """

    roads: nx.MultiDiGraph
    buildings: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    power: gpd.GeoDataFrame
    source: str
    stats: dict[str, int] = field(default_factory=dict)
    depot_land: gpd.GeoDataFrame = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.depot_land is None:
            self.depot_land = empty_depot_land()

    @property
    def substations(self) -> gpd.GeoDataFrame:
        """Substations as points (``name``, ``voltage_kv``)."""
        return substations_from_power(self.power)


# --------------------------------------------------------------------------- file types


def osm_format(path: Path | str) -> str | None:
    """The pyosmium format of an OSM extract from its file name, or None if it is not one."""
    name = Path(path).name.lower()
    for suffix in sorted(OSM_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return OSM_SUFFIXES[suffix]
    return None


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; download or export it again")


# --------------------------------------------------------------------------- mode rules


def _access_allowed(tags: dict[str, str], mode: str) -> bool | None:
    """Most specific access tag of the mode: True, False, or None when untagged."""
    for key in _ACCESS_KEYS[mode]:
        value = tags.get(key)
        if value is not None:
            value = value.split(";")[0].strip()
            return value not in _NO_ACCESS
    return None


def way_allowed(tags: dict[str, str], mode: str) -> bool:
    """Whether a way with these OSM tags belongs to the network of ``mode``.

    Parameters
    ----------
    tags
        The way's tags.
    mode
        ``"car"`` or ``"two_wheeler"``.
    """
    hwy = tags.get("highway")
    if hwy is None or tags.get("area") == "yes":
        return False
    access = _access_allowed(tags, mode)
    if mode == "two_wheeler":
        explicit = tags.get("motorcycle") in _EXPLICIT_YES
        if hwy in _TAGGED_ONLY_2W:
            return explicit
        if hwy not in TWO_WHEELER_CLASSES:
            return False
    elif hwy not in CAR_CLASSES:
        return False
    if tags.get("service") in _SERVICE_EXCLUDED[mode]:
        return False
    return access is not False


def oneway_of(tags: dict[str, str], mode: str) -> int:
    """Direction of travel allowed on a way: 1 forward, -1 backward, 0 both."""
    value = tags.get("oneway:motorcycle") if mode == "two_wheeler" else None
    if value is None:
        value = tags.get("oneway")
    if value is not None:
        value = value.strip().lower()
        if value in _ONEWAY_FORWARD:
            return 1
        if value in _ONEWAY_BACKWARD:
            return -1
        if value in _ONEWAY_NO:
            return 0
    if tags.get("junction") in ("roundabout", "circular") or tags.get("highway") in ("motorway", "motorway_link"):
        return 1
    return 0


# --------------------------------------------------------------------------- OSM extract


@dataclass
class _Ways:
    """Ways kept for the road graph, as flat arrays of their node references."""

    way_id: list[int] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    oneway: list[int] = field(default_factory=list)
    n_refs: list[int] = field(default_factory=list)
    refs: list[int] = field(default_factory=list)
    x: list[int] = field(default_factory=list)
    y: list[int] = field(default_factory=list)


_INVALID = 2147483647  # osmium's undefined fixed-point coordinate


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


def _tags(obj: Any) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def read_osm(
    path: Path | str,
    *,
    mode: str = "car",
    roads: bool = True,
    layers: bool = True,
) -> OsmLayers:
    """Read the road graph and map layers of an OSM extract in one streaming pass.

    Parameters
    ----------
    path
        OSM XML (``.osm``, ``.osm.gz``, ``.osm.bz2``) or PBF (``.osm.pbf``, ``.pbf``) file.
    mode
        Travel mode of the road graph: ``"car"`` or ``"two_wheeler"``.
    roads
        Build the road graph (else it is empty and an extract without roads is fine).
    layers
        Also read buildings, POIs and power infrastructure (else those layers are empty).

    Returns
    -------
    OsmLayers
        Road graph and layers in EPSG:4326.

    Raises
    ------
    DataError
        When the file is missing, empty, unreadable, or has no way usable by ``mode``.
    """
    import osmium

    path = Path(path)
    _check_file(path)
    if mode not in MODES:
        raise DataError(f"unknown travel mode {mode!r}; use one of {list(MODES)}")
    fmt = osm_format(path)
    if fmt is None:
        raise DataError(f"{path}: not an OSM extract by its name; use .osm, .osm.gz, .osm.bz2 or .osm.pbf")

    ways = _Ways()
    feature_rows: list[dict[str, Any]] = []
    hwy_seen: dict[str, int] = {}
    if not (roads or layers):
        raise DataError("read_osm: nothing to read; ask for roads, layers or both")
    keys = (("highway",) if roads else ()) + ((*FEATURE_KEYS, "route") if layers else ())
    fp = osmium.FileProcessor(osmium.io.File(str(path), fmt))
    if layers:
        fp = fp.with_areas(osmium.filter.KeyFilter(*FEATURE_KEYS))
    else:
        fp = fp.with_locations()
    fp = fp.with_filter(osmium.filter.KeyFilter(*keys))
    n_missing_ways = n_polygons = n_assembled = 0
    terminals: list[tuple[int, str]] = []  # (node id, route name) of the first and last stop of bus routes
    try:
        for obj in fp:
            if obj.is_way():
                tags = _tags(obj)
                refs = [(n.ref, n.location.x, n.location.y) for n in obj.nodes]
                hwy = tags.get("highway") if roads else None
                if hwy is not None:
                    hwy_seen[hwy] = hwy_seen.get(hwy, 0) + 1
                    if way_allowed(tags, mode) and len(refs) >= 2:
                        ways.way_id.append(obj.id)
                        ways.tags.append({k: tags[k] for k in EDGE_TAGS if k in tags})
                        ways.oneway.append(oneway_of(tags, mode))
                        ways.n_refs.append(len(refs))
                        r, x, y = zip(*refs, strict=True)
                        ways.refs.extend(r)
                        ways.x.extend(x)
                        ways.y.extend(y)
                        n_missing_ways += any(v == _INVALID for v in x)
                if layers and any(k in tags for k in FEATURE_KEYS):
                    feature_rows.append(_way_feature(obj.id, tags, refs))
            elif layers and obj.is_node():
                tags = _tags(obj)
                if any(k in tags for k in FEATURE_KEYS) and obj.location.valid():
                    feature_rows.append(
                        {"element": "node", "id": obj.id, **tags, "geometry": shapely.Point(obj.location.lon, obj.location.lat)}
                    )
            elif layers and obj.is_relation():
                if obj.tags.get("type") in ("multipolygon", "boundary"):
                    n_polygons += 1
                elif obj.tags.get("type") == "route" and "bus" in str(obj.tags.get("route", "")).split(";"):
                    stops = [m.ref for m in obj.members if m.type == "n" and m.role.startswith(("stop", "platform"))]
                    name = str(obj.tags.get("ref") or obj.tags.get("name") or f"relation/{obj.id}")
                    terminals += [(stops[0], name), (stops[-1], name)] if stops else []
            elif layers and obj.is_area() and not obj.from_way():
                tags = _tags(obj)
                geom = _area_geometry(obj)
                if geom is not None:
                    feature_rows.append({"element": "relation", "id": obj.orig_id(), **tags, "geometry": geom})
                    n_assembled += 1
    except RuntimeError as exc:  # libosmium parse errors
        raise DataError(f"{path}: cannot read the OSM extract ({exc}); check that the file is complete") from None

    if n_missing_ways:
        log.info("%s: %d road ways reference nodes outside the extract; kept their parts inside", path.name, n_missing_ways)
    if n_polygons > n_assembled:
        log.info("%s: dropped %d of %d multipolygon relations (buildings, POIs, power) that do not close into "
                 "rings: member ways missing from the extract or broken", path.name, n_polygons - n_assembled, n_polygons)
    graph = (
        _graph_from_ways(ways, path=path, mode=mode, hwy_seen=hwy_seen)
        if roads
        else nx.MultiDiGraph(crs="EPSG:4326", mode=mode, source=path.name)
    )
    features = _features_frame(feature_rows)
    buildings, pois, power = layers_from_features(features) if layers else (empty_buildings(), empty_pois(), empty_power())
    depot_land = depot_land_from_features(features, terminals=terminals) if layers else empty_depot_land()
    log.info(
        "%s: %d road nodes, %d edges (%s); %d buildings, %d POIs, %d power features",
        path.name, graph.number_of_nodes(), graph.number_of_edges(), mode, len(buildings), len(pois), len(power),
    )
    return OsmLayers(
        roads=graph, buildings=buildings, pois=pois, power=power, source=str(path),
        stats={"ways_with_missing_nodes": n_missing_ways, "multipolygons_dropped": n_polygons - n_assembled},
        depot_land=depot_land,
    )


def _way_feature(way_id: int, tags: dict[str, str], refs: list[tuple[int, int, int]]) -> dict[str, Any]:
    coords = np.array([(x, y) for _, x, y in refs if x != _INVALID], dtype=float) / 1e7
    closed = len(refs) >= 4 and refs[0][0] == refs[-1][0]
    complete = len(coords) == len(refs)
    geom: Any = None
    if closed and complete and _is_area(tags):
        poly = shapely.Polygon(coords)
        geom = poly if poly.is_valid else shapely.make_valid(poly)
    elif len(coords) >= 2:
        geom = shapely.LineString(coords)
    elif len(coords) == 1:
        geom = shapely.Point(coords[0])
    return {"element": "way", "id": way_id, **tags, "geometry": geom, "_complete": complete}


def _is_area(tags: dict[str, str]) -> bool:
    if tags.get("area") == "no":
        return False
    if tags.get("power") in ("line", "minor_line", "cable"):
        return False
    return any(k in tags for k in ("building", "amenity", "shop", "power", "industrial", "landuse"))


def _area_geometry(area: Any) -> Any:
    import osmium

    try:
        wkb = osmium.geom.WKBFactory().create_multipolygon(area)
    except RuntimeError:
        return None
    geom = shapely.from_wkb(wkb)
    return geom if geom.is_valid else shapely.make_valid(geom)


def _great_circle_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Great-circle distance [m] on a sphere of radius 6,371,009 m (as osmnx computes lengths)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(lon2 - lon1)
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * 6_371_009.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _graph_from_ways(ways: _Ways, *, path: Path, mode: str, hwy_seen: dict[str, int]) -> nx.MultiDiGraph:
    """Build the road graph: split ways at shared nodes and ends, one edge per piece."""
    if not ways.way_id:
        seen = ", ".join(f"{k} {v}" for k, v in sorted(hwy_seen.items(), key=lambda kv: -kv[1])[:8]) or "none"
        raise DataError(
            f"{path}: no road usable by mode {mode!r} (highway ways found: {seen}); "
            "check that the extract covers streets"
            + (", or try mode 'two_wheeler'" if mode != "two_wheeler" else "")
        )
    n_refs = np.asarray(ways.n_refs)
    refs = np.asarray(ways.refs, dtype=np.int64)
    xi = np.asarray(ways.x, dtype=np.int64)
    yi = np.asarray(ways.y, dtype=np.int64)
    way = np.repeat(np.arange(len(n_refs)), n_refs)
    valid = (xi != _INVALID) & (yi != _INVALID)
    # drop nodes without coordinates and repeated consecutive nodes; a "piece" is a run of
    # consecutive valid nodes of one way
    same_prev = np.zeros(len(refs), dtype=bool)
    same_prev[1:] = (refs[1:] == refs[:-1]) & (way[1:] == way[:-1]) & valid[:-1]
    keep = valid & ~same_prev
    new_piece = valid.copy()  # a piece starts at a valid node after a way start or a gap
    new_piece[1:] &= (way[1:] != way[:-1]) | ~valid[:-1]
    piece_all = np.cumsum(new_piece) - 1
    refs, xi, yi, way, piece = refs[keep], xi[keep], yi[keep], way[keep], piece_all[keep]
    # pieces with a single node carry no edge
    sizes = np.bincount(piece)
    ok = sizes[piece] >= 2
    refs, xi, yi, way, piece = refs[ok], xi[ok], yi[ok], way[ok], piece[ok]
    lon, lat = xi / 1e7, yi / 1e7
    m = len(refs)
    if m == 0:
        raise DataError(f"{path}: the road ways of mode {mode!r} have no nodes inside the extract; check the file")
    start = np.ones(m, dtype=bool)
    start[1:] = piece[1:] != piece[:-1]
    end = np.ones(m, dtype=bool)
    end[:-1] = piece[1:] != piece[:-1]
    _, inv, counts = np.unique(refs, return_inverse=True, return_counts=True)
    split = start | end | (counts[inv.ravel()] >= 2)
    sp_idx = np.flatnonzero(split)
    # consecutive split points of the same piece bound an edge
    same = piece[sp_idx[1:]] == piece[sp_idx[:-1]]
    a = sp_idx[:-1][same]
    b = sp_idx[1:][same]
    n_pts = b - a + 1
    edge_of_pt = np.repeat(np.arange(len(a)), n_pts)
    pt = np.repeat(a, n_pts) + (np.arange(n_pts.sum()) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts))
    coords = np.column_stack([lon[pt], lat[pt]])
    geoms = shapely.linestrings(coords, indices=edge_of_pt)
    seg = _great_circle_m(lon[pt[:-1]], lat[pt[:-1]], lon[pt[1:]], lat[pt[1:]])
    seg_edge = edge_of_pt[:-1]
    seg_ok = edge_of_pt[1:] == edge_of_pt[:-1]
    length = np.bincount(seg_edge[seg_ok], weights=seg[seg_ok], minlength=len(a))
    e_way = way[a]
    u_ref, v_ref = refs[a], refs[b]

    graph = nx.MultiDiGraph(crs="EPSG:4326", mode=mode, source=path.name)
    node_refs = np.unique(np.concatenate([u_ref, v_ref]))
    first = {}
    for r, x, y in zip(refs[sp_idx], lon[sp_idx], lat[sp_idx], strict=True):
        first.setdefault(int(r), (float(x), float(y)))
    graph.add_nodes_from((int(r), {"x": first[int(r)][0], "y": first[int(r)][1]}) for r in node_refs)
    rev_geoms = shapely.reverse(geoms)
    edges = []
    for i in range(len(a)):
        w = int(e_way[i])
        tags = ways.tags[w]
        direction = ways.oneway[w]
        base = {**tags, "osmid": ways.way_id[w], "oneway": direction != 0, "length": float(length[i])}
        if direction >= 0:
            edges.append((int(u_ref[i]), int(v_ref[i]), {**base, "reversed": False, "geometry": geoms[i]}))
        if direction <= 0:
            edges.append((int(v_ref[i]), int(u_ref[i]), {**base, "reversed": True, "geometry": rev_geoms[i]}))
    graph.add_edges_from(edges)
    return graph


def _features_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    cols = ["element", "id", *FEATURE_COLUMNS, "_complete"]
    if not rows:
        return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols}, geometry=[], crs="EPSG:4326")
    frame = pd.DataFrame.from_records(rows)
    for c in cols:
        if c not in frame.columns:
            frame[c] = None
    frame = frame[[*cols, "geometry"]]
    frame = frame[frame["geometry"].notna()]
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


# --------------------------------------------------------------------------- layers


def empty_pois(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """An empty POI layer."""
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in POI_COLUMNS}, geometry=[], crs=crs)


def empty_buildings(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """An empty building layer."""
    cols = {c: pd.Series(dtype=object) for c in BUILDING_COLUMNS}
    cols["levels"] = pd.Series(dtype=float)
    cols["area_m2"] = pd.Series(dtype=float)
    return gpd.GeoDataFrame(cols, geometry=[], crs=crs)


def empty_depot_land(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """An empty depot-land layer."""
    cols = {c: pd.Series(dtype=object) for c in DEPOT_LAND_COLUMNS}
    cols["area_m2"] = pd.Series(dtype=float)
    return gpd.GeoDataFrame(cols, geometry=[], crs=crs)


def empty_power(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """An empty power layer."""
    cols = {c: pd.Series(dtype=object) for c in POWER_COLUMNS}
    cols["voltage_kv"] = pd.Series(dtype=float)
    return gpd.GeoDataFrame(cols, geometry=[], crs=crs)


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype(object).where(frame[name].notna(), None)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _osm_ids(frame: pd.DataFrame) -> pd.Series:
    return frame["element"].astype(str) + "/" + frame["id"].astype(str)


def poi_kind(frame: pd.DataFrame) -> pd.Series:
    """Kind of each OSM feature as a charging-site POI (one of :data:`POI_KINDS`), or None."""
    amenity, shop = _col(frame, "amenity"), _col(frame, "shop")
    industrial, depot = _col(frame, "industrial"), _col(frame, "depot").fillna("").astype(str)
    pt, bus = _col(frame, "public_transport"), _col(frame, "bus")
    conditions = [
        amenity.isin(["parking", "motorcycle_parking"]),
        amenity.eq("fuel"),
        amenity.eq("charging_station"),
        shop.isin(["mall", "department_store"]),
        amenity.eq("marketplace"),
        amenity.eq("bus_station") | (pt.eq("station") & bus.eq("yes")),
        amenity.eq("bus_depot") | (industrial.eq("depot") & depot.str.contains("bus")),
    ]
    kinds = np.select(conditions, list(POI_KINDS), default="")
    return pd.Series(np.where(kinds == "", None, kinds), index=frame.index, dtype=object)


def _voltage_kv(values: pd.Series) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None:
            continue
        volts = []
        for part in str(v).replace(",", ";").split(";"):
            try:
                volts.append(float(part.strip()))
            except ValueError:
                continue
        if volts:
            out[i] = max(volts) / 1000.0
    return out


def layers_from_features(features: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings, POIs and power layers from a table of OSM features.

    Parameters
    ----------
    features
        One row per OSM element with columns ``element`` (``node``/``way``/``relation``),
        ``id``, tag columns (:data:`FEATURE_COLUMNS`, missing ones count as untagged) and
        ``geometry`` in EPSG:4326 — as :func:`read_osm` collects them or
        ``osmnx.features_from_*`` returns them (after ``reset_index()``).

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        Buildings, POIs and power infrastructure (see :class:`OsmLayers`).
    """
    if len(features) == 0:
        return empty_buildings(), empty_pois(), empty_power()
    feats = features.to_crs("EPSG:4326") if features.crs is not None else features.set_crs("EPSG:4326")
    feats = feats[feats.geometry.notna() & ~feats.geometry.is_empty]
    ids = _osm_ids(feats)
    names = _col(feats, "name").fillna("").astype(str)

    # buildings: polygons with a building tag other than "no"
    bld_tag = _col(feats, "building")
    is_poly = feats.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    bmask = bld_tag.notna().to_numpy() & ~bld_tag.eq("no").to_numpy() & is_poly
    if bmask.any():
        b = feats[bmask]
        utm = b.estimate_utm_crs()
        levels = pd.to_numeric(_col(b, "building:levels"), errors="coerce").to_numpy(dtype=float)
        buildings = gpd.GeoDataFrame(
            {
                "building_id": ids[bmask].to_numpy(),
                "building": bld_tag[bmask].astype(str).to_numpy(),
                "levels": levels,
                "name": names[bmask].to_numpy(),
                "area_m2": b.geometry.to_crs(utm).area.to_numpy(),
            },
            geometry=b.geometry.to_numpy(),
            crs="EPSG:4326",
        )
    else:
        buildings = empty_buildings()
    n_open = int((bld_tag.notna().to_numpy() & ~is_poly).sum())
    if n_open:
        log.info("%d building outlines are not closed inside the extract (clipped) and were dropped", n_open)

    # POIs: a representative point of each feature
    kinds = poi_kind(feats)
    pmask = kinds.notna().to_numpy()
    pts = feats.geometry[pmask].representative_point()
    pois = gpd.GeoDataFrame(
        {"poi_id": ids[pmask].to_numpy(), "kind": kinds[pmask].to_numpy(), "name": names[pmask].to_numpy()},
        geometry=pts.to_numpy(),
        crs="EPSG:4326",
    )

    # power infrastructure
    power_tag = _col(feats, "power")
    transformer = _col(feats, "transformer")
    kind = power_tag.where(power_tag.isin(POWER_KINDS), None)
    kind = kind.where(~(power_tag.eq("pole") & transformer.notna()), "transformer")
    wmask = kind.notna().to_numpy()
    lines = kind.isin(["line", "minor_line", "cable"]).to_numpy()
    geom_ok = ~lines | feats.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
    wmask &= geom_ok
    gen_source = _col(feats, "generator:source").fillna(_col(feats, "plant:source"))
    if wmask.any():
        power = gpd.GeoDataFrame(
            {
                "power_id": ids[wmask].to_numpy(),
                "kind": kind[wmask].to_numpy(),
                "name": names[wmask].to_numpy(),
                "voltage_kv": _voltage_kv(_col(feats, "voltage")[wmask]),
                "source": gen_source[wmask].to_numpy(),
            },
            geometry=feats.geometry[wmask].to_numpy(),
            crs="EPSG:4326",
        )
    else:
        power = empty_power()
    return buildings, pois, power


def depot_land_from_features(
    features: gpd.GeoDataFrame, *, terminals: Iterable[tuple[int, str]] = ()
) -> gpd.GeoDataFrame:
    """Land where a bus or truck depot could stand, for extracts that tag no depot.

    Parameters
    ----------
    features
        OSM features as for :func:`layers_from_features` (``landuse``, ``amenity``, ``parking``,
        ``access`` columns are used when present).
    terminals
        ``(node id, route name)`` of the first and last stop of ``route=bus`` relations; stops
        that are feature nodes of the extract (``public_transport`` tagged) become points of
        kind ``route_terminal``; the others lie outside the extract and are skipped.

    Returns
    -------
    geopandas.GeoDataFrame
        ``land_id`` (``way/123``), ``kind`` (one of :data:`DEPOT_LAND_KINDS`), ``name``,
        ``area_m2`` [m2, in the local UTM zone; 0 for route terminals], in EPSG:4326. Polygons
        only for land use and parking (a parking node has no area to judge).
    """
    if len(features) == 0:
        return empty_depot_land()
    feats = features.to_crs("EPSG:4326") if features.crs is not None else features.set_crs("EPSG:4326")
    feats = feats[feats.geometry.notna() & ~feats.geometry.is_empty]
    landuse, amenity = _col(feats, "landuse"), _col(feats, "amenity")
    parking = _col(feats, "parking").fillna("").astype(str)
    access = _col(feats, "access").fillna("").astype(str)
    is_poly = feats.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    park = amenity.eq("parking") & ~parking.isin(_NO_BUS_PARKING) & ~access.isin(["private", "no"])
    kinds = np.select(
        [landuse.isin(["depot", "industrial", "commercial", "retail"]).to_numpy(), park.to_numpy()],
        ["landuse_" + landuse.fillna("").astype(str), pd.Series("parking", index=feats.index)],
        default="",
    )
    mask = (kinds != "") & is_poly
    frames = []
    if mask.any():
        part = feats[mask]
        utm = part.estimate_utm_crs()
        frames.append(gpd.GeoDataFrame(
            {"land_id": _osm_ids(part).to_numpy(), "kind": kinds[mask],
             "name": _col(part, "name").fillna("").astype(str).to_numpy(),
             "area_m2": part.geometry.to_crs(utm).area.to_numpy()},
            geometry=part.geometry.to_numpy(), crs="EPSG:4326",
        ))
    terms = list(terminals)
    if terms:
        nodes = feats[(feats["element"].astype(str) == "node") & _col(feats, "public_transport").notna().to_numpy()]
        where = dict(zip(pd.to_numeric(nodes["id"]).astype("int64"), nodes.geometry, strict=True))
        seen: dict[int, list[str]] = {}
        for ref, route in terms:
            if int(ref) in where:
                seen.setdefault(int(ref), []).append(route)
        if seen:
            ids = sorted(seen)
            names = _col(nodes.set_index(pd.to_numeric(nodes["id"]).astype("int64")), "name")
            frames.append(gpd.GeoDataFrame(
                {"land_id": [f"node/{i}" for i in ids], "kind": "route_terminal",
                 "name": [str(names.get(i) or "") or "end of bus route " + ", ".join(sorted(set(seen[i]))) for i in ids],
                 "area_m2": 0.0},
                geometry=[where[i] for i in ids], crs="EPSG:4326",
            ))
    if not frames:
        return empty_depot_land()
    out = pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(out[[*DEPOT_LAND_COLUMNS, "geometry"]], geometry="geometry", crs="EPSG:4326")


def substations_from_power(power: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Substations of a power layer as points: ``name``, ``voltage_kv`` [kV]."""
    subs = power[power["kind"] == "substation"]
    return gpd.GeoDataFrame(
        {
            "name": subs["name"].replace("", "substation").fillna("substation").astype(str).to_numpy(),
            "voltage_kv": subs["voltage_kv"].to_numpy(dtype=float),
        },
        geometry=subs.geometry.representative_point().to_numpy() if len(subs) else [],
        crs=power.crs,
    )


# --------------------------------------------------------------------------- road files


def read_road_network(
    path: Path | str,
    *,
    mode: str = "car",
    nodes_path: Path | str | None = None,
) -> nx.MultiDiGraph:
    """Read a road graph from an OSM extract, GraphML, GeoPackage or GeoParquet file.

    Parameters
    ----------
    path
        The road file (see the module docstring for the forms).
    mode
        Travel mode: roads the mode may not use are dropped (``"car"`` or ``"two_wheeler"``).
    nodes_path
        GeoParquet only: the nodes file (default: the edges file's name with ``edges``
        replaced by ``nodes``, when such a file exists; otherwise node coordinates come from
        the edge geometries).

    Returns
    -------
    networkx.MultiDiGraph
        osmnx-style graph in the file's CRS; prepare it with
        :func:`charge_planner.network.prepare_graph`.

    Raises
    ------
    DataError
        When the file is missing, empty, of an unknown type, unreadable, or has no usable road.
    """
    path = Path(path)
    _check_file(path)
    if mode not in MODES:
        raise DataError(f"unknown travel mode {mode!r}; use one of {list(MODES)}")
    name = path.name.lower()
    if osm_format(path) is not None:
        return read_osm(path, mode=mode, layers=False).roads
    try:
        if name.endswith(".graphml"):
            import osmnx as ox

            if not _looks_like_xml(path):
                raise DataError(f"{path}: not a GraphML file (it does not start with an XML element); export the "
                                "road graph again, e.g. with osmnx.save_graphml")
            if not _graphml_has_edges(path):
                raise DataError(f"{path}: the GraphML file has no edges (no <edge> element): export a road graph "
                                "with its streets, e.g. osmnx.save_graphml of a graph with edges")
            try:
                graph = ox.load_graphml(path)
            except AttributeError:  # typed attributes (networkx.write_graphml): osmnx expects text
                graph = _read_typed_graphml(path)
            if not graph.is_directed():
                graph = _as_directed(graph, source=path.name)
            _check_graphml_nodes(graph, path)
        elif name.endswith(".gpkg"):
            graph = _read_gpkg(path)
        elif name.endswith((".parquet", ".geoparquet")):
            graph = _read_parquet(path, Path(nodes_path) if nodes_path else None)
        else:
            raise DataError(f"{path}: unknown road file type; use {ROAD_FILE_TYPES}")
    except DataError:
        raise
    except Exception as exc:  # parse errors of osmnx, lxml, pyogrio, pyarrow
        raise DataError(f"{path}: cannot read the road network ({type(exc).__name__}: {exc})") from None
    graph = filter_graph_mode(graph, mode, source=path.name)
    if graph.number_of_edges() == 0:
        raise DataError(f"{path}: no road usable by mode {mode!r} in the file")
    return graph


def _read_typed_graphml(path: Path) -> nx.MultiDiGraph | nx.MultiGraph:
    """A GraphML file whose attributes carry types (as ``networkx.write_graphml`` writes them)."""
    graph = nx.read_graphml(path, force_multigraph=True)
    for _, d in graph.nodes(data=True):
        for key in ("x", "y"):
            if key in d:
                d[key] = float(d[key])
    for *_, d in graph.edges(data=True):
        if "length" in d:
            d["length"] = float(d["length"])
        if isinstance(d.get("geometry"), str):
            d["geometry"] = shapely.from_wkt(d["geometry"])
    log.info("%s: read as a plain GraphML file (typed attributes, not written by osmnx)", path.name)
    return graph


def _looks_like_xml(path: Path) -> bool:
    """Whether a file's first non-blank character (after a byte-order mark) opens an XML element."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _check_graphml_nodes(graph: nx.MultiDiGraph | nx.MultiGraph, path: Path) -> None:
    """Refuse a GraphML road graph without a CRS or with nodes that lack numeric x/y coordinates."""
    if "crs" not in graph.graph:
        raise DataError(f"{path}: the GraphML graph has no 'crs' attribute; save it with osmnx.save_graphml (which "
                        "writes it) or add <data key=\"crs\">EPSG:4326</data> to its <graph> element")
    for node, d in graph.nodes(data=True):
        try:
            ok = math.isfinite(float(d["x"])) and math.isfinite(float(d["y"]))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise DataError(f"{path}: node {node} has no numeric 'x'/'y' coordinate; every node of the road graph "
                            "needs its position (osmnx.save_graphml writes them)")


def _graphml_has_edges(path: Path) -> bool:
    """Whether a GraphML file holds an ``<edge`` element (read in 1 MB blocks, stops at the first)."""
    pattern = re.compile(rb"<(?:\w+:)?edge[\s/>]")
    tail = b""
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            if pattern.search(tail + block):
                return True
            tail = block[-32:]
    return False


def filter_graph_mode(
    graph: nx.MultiDiGraph, mode: str, *, source: str = "road graph", keep_untagged: bool | None = None
) -> nx.MultiDiGraph:
    """Drop the edges a travel mode may not use, judged by the tags the edges carry.

    A file that was filtered for cars (an osmnx ``drive`` graph) cannot gain the service roads a
    two-wheeler network adds; read the OSM extract for that.

    Parameters
    ----------
    graph
        osmnx-style graph.
    mode
        ``"car"`` or ``"two_wheeler"``.
    source
        Name used in log messages.
    keep_untagged
        Keep edges without a ``highway`` tag (an empty text counts as none). Default: only when
        no edge of the graph has one, as in a user's road file without OSM tags; in a graph built
        from OSM they are other ways (landuse or building outlines from an unfiltered
        ``osmnx.graph_from_xml``), not roads.
    """
    def untagged(value: object) -> bool:
        return _is_na(value) or (isinstance(value, str) and not value.strip())

    if keep_untagged is None:
        keep_untagged = all(untagged(d.get("highway")) for _, _, d in graph.edges(data=True))
    drop = []
    dropped: dict[str, int] = {}
    for u, v, k, d in graph.edges(keys=True, data=True):
        hwy = d.get("highway")
        if untagged(hwy):
            if not keep_untagged:
                drop.append((u, v, k))
                dropped["(no highway tag)"] = dropped.get("(no highway tag)", 0) + 1
            continue
        classes = [str(h) for h in _as_list(hwy)]
        tags = {t: str(d[t]) for t in EDGE_TAGS if t in d and isinstance(d[t], str) and t != "highway"}
        if not any(way_allowed({**tags, "highway": h}, mode) for h in classes):
            drop.append((u, v, k))
            dropped[classes[0]] = dropped.get(classes[0], 0) + 1
    if drop:
        graph = graph.copy()
        graph.remove_edges_from(drop)
        graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
        log.info("%s: dropped %d edges not usable by mode %r (%s)", source, len(drop), mode,
                 ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    return graph


def _as_directed(graph: nx.MultiGraph, *, source: str) -> nx.MultiDiGraph:
    """Directed graph of an undirected road graph (``osmnx.convert.to_undirected`` output).

    Each street runs from its ``from`` to its ``to`` node where osmnx recorded them, else from
    ``u`` to ``v``; streets not marked ``oneway`` get the opposite direction too. Geometries are
    oriented along each direction.
    """
    out = nx.MultiDiGraph(**graph.graph)
    out.add_nodes_from(graph.nodes(data=True))
    n_two = 0
    for u, v, d in graph.edges(data=True):
        a, b = u, v
        ends = {str(u): u, str(v): v}
        if str(d.get("from")) in ends and str(d.get("to")) in ends and str(d.get("from")) != str(d.get("to")):
            a, b = ends[str(d["from"])], ends[str(d["to"])]
        attrs = {k: val for k, val in d.items() if k not in ("from", "to")}
        geom = attrs.get("geometry")
        if geom is not None:
            start = shapely.Point(graph.nodes[a]["x"], graph.nodes[a]["y"])
            if start.distance(shapely.get_point(geom, -1)) < start.distance(shapely.get_point(geom, 0)):
                geom = shapely.reverse(geom)
            attrs["geometry"] = geom
        out.add_edge(a, b, **{**attrs, "reversed": False})
        if str(attrs.get("oneway", False)).lower() not in ("true", "yes", "1"):
            back = {**attrs, "reversed": True}
            if geom is not None:
                back["geometry"] = shapely.reverse(geom)
            out.add_edge(b, a, **back)
            n_two += 1
    log.warning("%s: undirected road graph; %d streets not marked oneway were given both directions", source, n_two)
    return out


def _read_gpkg(path: Path) -> nx.MultiDiGraph:
    import pyogrio

    with warnings.catch_warnings():  # GDAL's notes on a damaged file ("bad application_id") precede the error
        warnings.simplefilter("ignore", RuntimeWarning)
        info = pyogrio.list_layers(path)
    names = [str(r[0]) for r in info]
    gtypes = {str(r[0]): str(r[1] or "") for r in info}
    if "edges" in names:
        edge_layer = "edges"
    else:
        lines = [n for n in names if "LineString" in gtypes[n]]
        if len(lines) != 1:
            raise DataError(
                f"{path}: no 'edges' layer and {len(lines)} line layers ({names}); "
                "name the road layer 'edges' (as osmnx.save_graph_geopackage does)"
            )
        edge_layer = lines[0]
    edges = gpd.read_file(path, layer=edge_layer)
    nodes = gpd.read_file(path, layer="nodes") if "nodes" in names else None
    return graph_from_tables(edges, nodes, source=f"{path.name}:{edge_layer}")


def _read_parquet(path: Path, nodes_path: Path | None) -> nx.MultiDiGraph:
    edges = gpd.read_parquet(path)
    if nodes_path is None:
        guess = path.with_name(path.name.replace("edges", "nodes"))
        nodes_path = guess if guess != path and guess.is_file() else None
    elif not nodes_path.is_file():
        raise DataError(f"{nodes_path}: no such nodes file; check the path")
    nodes = gpd.read_parquet(nodes_path) if nodes_path is not None else None
    return graph_from_tables(edges, nodes, source=path.name)


def _is_na(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are values
        return False


def _metres_per_unit(crs: Any) -> float:
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return float(factor or 1.0)


def graph_from_tables(
    edges: gpd.GeoDataFrame,
    nodes: gpd.GeoDataFrame | None = None,
    *,
    source: str = "road table",
) -> nx.MultiDiGraph:
    """Build an osmnx-style road graph from an edge table and an optional node table.

    Parameters
    ----------
    edges
        Lines; with ``u``/``v`` (columns or index levels, as osmnx writes them) each row is one
        directed edge. Without them, lines that share an end point are connected and each line
        is a two-way street unless its ``oneway`` column is true. Other columns become edge
        attributes; a ``length`` column [m] is checked against the geometry.
    nodes
        Points with the node ids as index or an ``osmid`` column; default: node coordinates
        from the ends of the edge geometries.
    source
        Name used in messages.

    Returns
    -------
    networkx.MultiDiGraph
        Graph in the tables' CRS, edge geometries oriented from ``u`` to ``v``.

    Raises
    ------
    DataError
        When the table has no CRS, no line geometry, or ``u``/``v`` that the nodes do not cover.
    """
    if edges.crs is None:
        raise DataError(f"{source}: the road layer has no CRS; set it (e.g. ogr2ogr -a_srs EPSG:4326) and try again")
    crs = edges.crs
    edges = edges.reset_index() if any(n in ("u", "v", "key") for n in edges.index.names if n) else edges.copy()
    edges = edges[edges.geometry.notna() & ~edges.geometry.is_empty]
    if len(edges) == 0:
        raise DataError(f"{source}: the road layer has no line geometries")
    if edges.geometry.geom_type.isin(["MultiLineString"]).any():
        edges.geometry = shapely.line_merge(edges.geometry.to_numpy())
    bad = ~edges.geometry.geom_type.isin(["LineString"])
    bad_types = edges.geometry.geom_type[bad]
    if bad.any():
        log.warning("%s: dropped %d road features that are not single lines (%s)", source, int(bad.sum()),
                    ", ".join(sorted(set(edges.geometry.geom_type[bad]))))
        edges = edges[~bad]
    if len(edges) == 0:
        raise DataError(f"{source}: the road layer has no line geometries (only {', '.join(sorted(set(bad_types)))}); "
                        "give the streets as lines")
    geoms = edges.geometry.to_numpy()
    start = shapely.get_coordinates(shapely.get_point(geoms, 0))
    end = shapely.get_coordinates(shapely.get_point(geoms, -1))

    oneway = (
        edges["oneway"].astype(str).str.lower().isin(["true", "yes", "1"]).to_numpy()
        if "oneway" in edges.columns
        else np.zeros(len(edges), dtype=bool)
    )
    if {"u", "v"} <= set(edges.columns):
        u = edges["u"].to_numpy()
        v = edges["v"].to_numpy()
        keys = edges["key"].to_numpy() if "key" in edges.columns else None
        both_ways = np.zeros(len(edges), dtype=bool)
        if {"from", "to"} <= set(edges.columns):
            # osmnx.save_graph_geopackage(directed=False) keeps one row per street, with its
            # original direction in from/to: a two-way street stands for both directions
            has = edges["from"].notna().to_numpy() & edges["to"].notna().to_numpy()
            u = np.where(has, edges["from"].to_numpy(), u)
            v = np.where(has, edges["to"].to_numpy(), v)
            both_ways = ~oneway
            keys = None
            log.info("%s: one row per street (undirected osmnx export); two-way streets get both directions", source)
    else:  # topology from shared end points (rounded to 1e-7 of a degree or 1 cm)
        scale = 1e7 if crs.is_geographic else 100.0 * _metres_per_unit(crs)
        ends = np.round(np.vstack([start, end]) * scale).astype(np.int64)
        _, ids = np.unique(ends, axis=0, return_inverse=True)
        ids = ids.ravel()
        u, v = ids[: len(edges)], ids[len(edges) :]
        keys = None
        both_ways = ~oneway

    # node coordinates
    xy: dict[Any, tuple[float, float]] = {}
    if nodes is not None and len(nodes):
        if nodes.crs is not None and not nodes.crs.equals(crs):
            nodes = nodes.to_crs(crs)
        nid = nodes["osmid"].to_numpy() if "osmid" in nodes.columns else nodes.index.to_numpy()
        xy = dict(zip(nid.tolist(), zip(nodes.geometry.x.tolist(), nodes.geometry.y.tolist(), strict=True), strict=True))
    for ids_, pts in ((u, start), (v, end)):
        for n, (x, y) in zip(ids_.tolist(), pts.tolist(), strict=True):
            xy.setdefault(n, (x, y))

    # orient each geometry from u to v
    ux = np.array([xy[n] for n in u.tolist()])
    d_start = np.hypot(*(start - ux).T)
    d_end = np.hypot(*(end - ux).T)
    flip = d_end < d_start
    if flip.any():
        geoms = geoms.copy()
        geoms[flip] = shapely.reverse(geoms[flip])

    # lengths in metres
    if crs.is_geographic:
        coords, idx = shapely.get_coordinates(geoms, return_index=True)
        seg = _great_circle_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
        same = idx[1:] == idx[:-1]
        measured = np.bincount(idx[:-1][same], weights=seg[same], minlength=len(geoms))
        what = "great-circle lengths"
    else:
        measured = shapely.length(geoms) * _metres_per_unit(crs)
        what = "lengths in the layer's CRS"
    if "length" in edges.columns:
        given = pd.to_numeric(edges["length"], errors="coerce").to_numpy(dtype=float)
        ratio = given / np.where(measured > 0, measured, np.nan)
        med = float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else np.nan
        if not (0.5 <= med <= 2.0):
            log.warning(
                "%s: the 'length' column does not look like metres (median %.3g x the %s%s); replaced it by the %s",
                source, med, what, ", the CRS is geographic" if crs.is_geographic else "", what,
            )
            length = measured
        else:
            length = np.where(np.isfinite(given) & (given >= 0), given, measured)
    else:
        if crs.is_geographic:
            log.warning("%s: no 'length' column and a geographic CRS; computed %s [m]", source, what)
        length = measured

    graph = nx.MultiDiGraph(crs=crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}", source=source)
    for n, (x, y) in xy.items():
        graph.add_node(n, x=float(x), y=float(y))
    skip = {"u", "v", "key", "geometry", "length", "fid", "index", "from", "to", "oneway", "reversed"}
    attr_cols = [c for c in edges.columns if c not in skip]
    records = edges[attr_cols].to_dict("records") if attr_cols else [{} for _ in range(len(edges))]
    rev = shapely.reverse(geoms)
    out = []
    for i, rec in enumerate(records):
        attrs = {k: val for k, val in rec.items() if not _is_na(val)}
        attrs["length"] = float(length[i])
        attrs["oneway"] = bool(oneway[i])
        forward = {**attrs, "geometry": geoms[i], "reversed": False}
        if keys is not None:
            out.append((u[i], v[i], keys[i], forward))
        else:
            out.append((u[i], v[i], forward))
        if both_ways[i]:
            out.append((v[i], u[i], {**attrs, "geometry": rev[i], "reversed": True}))
    graph.add_edges_from(out)
    return graph


# --------------------------------------------------------------------------- online


def overpass_filter(mode: str) -> str:
    """Overpass way filter of a travel mode, for ``osmnx.graph_from_*(custom_filter=...)``."""
    if mode == "car":
        excluded = "|".join(sorted(_SERVICE_EXCLUDED["car"]))
        classes = "|".join(sorted(CAR_CLASSES))
        return (f'["highway"~"^({classes})$"]["area"!~"yes"]["access"!~"private|no"]'
                f'["motor_vehicle"!~"no"]["motorcar"!~"no"]["service"!~"{excluded}"]')
    if mode == "two_wheeler":
        classes = "|".join(sorted(TWO_WHEELER_CLASSES | _TAGGED_ONLY_2W))
        excluded = "|".join(sorted(_SERVICE_EXCLUDED["two_wheeler"]))
        return (f'["highway"~"^({classes})$"]["area"!~"yes"]'
                f'["motorcycle"!~"no"]["service"!~"{excluded}"]')
    raise DataError(f"unknown travel mode {mode!r}; use one of {list(MODES)}")


def fetch_osm(
    *,
    place: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    mode: str = "car",
    cache_folder: Path | str | None = None,
    layers: bool = True,
) -> OsmLayers:
    """Download the road graph and map layers of a place or bounding box through osmnx.

    osmnx caches every Overpass response (in ``cache_folder``, default osmnx's ``./cache``), so
    a second run reads the cache instead of the network.

    Parameters
    ----------
    place
        Place name that Nominatim resolves to a polygon, e.g. ``"Makati, Metro Manila"``.
    bbox
        ``(west, south, east, north)`` [degrees], instead of ``place``.
    mode
        ``"car"`` or ``"two_wheeler"``.
    cache_folder
        Folder of osmnx's response cache.
    layers
        Also download buildings, POIs and power infrastructure.

    Returns
    -------
    OsmLayers
        The same layers as :func:`read_osm`.
    """
    import osmnx as ox

    if (place is None) == (bbox is None):
        raise DataError("give exactly one of place or bbox to download OSM data")
    if mode not in MODES:
        raise DataError(f"unknown travel mode {mode!r}; use one of {list(MODES)}")
    saved = (ox.settings.use_cache, ox.settings.cache_folder, list(ox.settings.useful_tags_way))
    ox.settings.use_cache = True
    if cache_folder is not None:
        ox.settings.cache_folder = str(cache_folder)
    ox.settings.useful_tags_way = sorted(set(saved[2]) | set(EDGE_TAGS) | {"oneway", "oneway:motorcycle"})
    tags: dict[str, bool | str | list[str]] = {k: True for k in FEATURE_KEYS}
    label = place if place is not None else f"bbox {bbox}"
    try:
        kwargs: dict[str, Any] = {"custom_filter": overpass_filter(mode), "simplify": True, "retain_all": True}
        if place is not None:
            graph = ox.graph_from_place(place, **kwargs)
            feats = ox.features_from_place(place, tags) if layers else None
        else:
            graph = ox.graph_from_bbox(bbox, **kwargs)
            feats = ox.features_from_bbox(bbox, tags) if layers else None
    except DataError:
        raise
    except Exception as exc:  # network, geocoding or Overpass errors
        raise DataError(f"{label}: download through osmnx failed ({type(exc).__name__}: {exc})") from None
    finally:
        ox.settings.use_cache, ox.settings.cache_folder, ox.settings.useful_tags_way = saved
    return layers_from_download(graph, feats, mode=mode, source=str(label))


def layers_from_download(
    graph: nx.MultiDiGraph,
    features: gpd.GeoDataFrame | None,
    *,
    mode: str,
    source: str,
) -> OsmLayers:
    """Turn an osmnx graph and features table into :class:`OsmLayers`.

    Parameters
    ----------
    graph
        osmnx graph downloaded with :func:`overpass_filter` of ``mode``.
    features
        ``osmnx.features_from_*`` result (index ``element``, ``id``), or None.
    mode
        ``"car"`` or ``"two_wheeler"``.
    source
        Place or bounding box, for messages and attribution.
    """
    graph = filter_graph_mode(graph, mode, source=source, keep_untagged=False)
    if mode == "two_wheeler":
        graph = _two_way_for_motorcycles(graph)
    if graph.number_of_edges() == 0:
        raise DataError(f"{source}: the download has no road usable by mode {mode!r}")
    depot_land = empty_depot_land()
    if features is None or len(features) == 0:
        buildings, pois, power = empty_buildings(), empty_pois(), empty_power()
    else:
        feats = features.reset_index()
        if "element_type" in feats.columns and "element" not in feats.columns:
            feats = feats.rename(columns={"element_type": "element", "osmid": "id"})
        buildings, pois, power = layers_from_features(feats)
        depot_land = depot_land_from_features(feats)
    return OsmLayers(roads=graph, buildings=buildings, pois=pois, power=power, source=source, depot_land=depot_land)


def _two_way_for_motorcycles(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Add the reverse direction of one-way edges tagged ``oneway:motorcycle=no``."""
    add = [
        (v, u, {**d, "reversed": not d.get("reversed", False), "geometry": shapely.reverse(d["geometry"])}
         if "geometry" in d else {**d, "reversed": not d.get("reversed", False)})
        for u, v, d in graph.edges(data=True)
        if str(d.get("oneway:motorcycle", "")).lower() == "no" and not graph.has_edge(v, u)
    ]
    if add:
        graph = graph.copy()
        graph.add_edges_from(add)
    return graph


def project_layers(layers: Iterable[gpd.GeoDataFrame], crs: str) -> list[gpd.GeoDataFrame]:
    """Project layers to ``crs`` (empty layers get the CRS)."""
    return [layer.to_crs(crs) if layer.crs is not None else layer.set_crs(crs) for layer in layers]
