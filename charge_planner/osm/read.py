"""The streaming OSM extract reader: :func:`read_osm` reads XML or PBF with pyosmium in one pass and
builds the road graph of a travel mode (split at shared nodes, great-circle lengths) and the feature
rows of the map layers."""


from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely

from charge_planner.errors import DataError
from charge_planner.osm.layers import (
    OsmLayers,
    _features_frame,
    depot_land_from_features,
    empty_buildings,
    empty_depot_land,
    empty_pois,
    empty_power,
    layers_from_features,
)
from charge_planner.osm.tags import (
    EDGE_TAGS,
    FEATURE_KEYS,
    MODES,
    _check_file,
    oneway_of,
    osm_format,
    way_allowed,
)

log = logging.getLogger(__name__)

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
