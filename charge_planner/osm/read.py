"""The streaming OSM extract reader: :func:`read_osm` reads XML or PBF with pyosmium and builds the
road graph of a travel mode (split at shared nodes, great-circle lengths) and the feature rows of
the map layers.

The file is streamed in three passes, each filtered in libosmium before anything reaches Python:
(1) the relations (multipolygons and bus routes; only when the layers are read), (2) the tagged
nodes and the ways, of which only the road ways of the mode and the feature ways are kept, as
flat arrays of node references, (3) the node locations, looked up only for the nodes those ways
reference (with multipolygons, libosmium assembles them in this pass, after a look at their
relations and member ways). Ignored ways, untagged nodes and tags never become Python objects.

Pass 3 selects the referenced nodes with a dense id set (one 4 MiB block per 2^25 ids it
touches). With compact ids (a renumbered extract, a synthetic city) that set is small and memory
follows the roads and features kept, not the size of the file. The ids of a real city's nodes
spread over some 10^10 ids, where the set would take up to 1.6 GB: above ``id_set_budget_bytes``
(default :data:`ID_SET_BUDGET_BYTES`) pass 3 indexes every node location of the file instead
(libosmium's ``flex_mem`` index, 16 bytes a node, e.g. 160 MB for 10 million nodes) and frees the
index before the graph is built, so the peak is the larger of the two, not their sum. Both ways
give the same result.
"""


from __future__ import annotations

import logging
from array import array
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
    _TAGGED_ONLY_2W,
    CAR_CLASSES,
    EDGE_TAGS,
    FEATURE_KEYS,
    MODES,
    TWO_WHEELER_CLASSES,
    _check_file,
    oneway_of,
    osm_format,
    way_allowed,
)

log = logging.getLogger(__name__)

ID_SET_BUDGET_BYTES = 64 << 20
"""Default largest dense id set [bytes] pass 3 builds to select the referenced nodes; above it, the
locations of every node of the file are indexed instead."""

_ID_BLOCK_BITS = 25  # libosmium's IdSetDense: one block of 2^22 bytes per 2^25 ids
_INVALID = 2147483647  # osmium's undefined fixed-point coordinate


@dataclass
class _Ways:
    """Ways kept for the road graph, as flat arrays of their node references."""

    way_id: list[int] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    oneway: list[int] = field(default_factory=list)
    n_refs: array = field(default_factory=lambda: array("q"))
    refs: array = field(default_factory=lambda: array("q"))
    x: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


@dataclass
class _Relations:
    """What pass 1 keeps of the relations."""

    n_polygons: int = 0
    member_ways: array = field(default_factory=lambda: array("q"))
    terminals: list[tuple[int, str]] = field(default_factory=list)  # (node id, route name) of bus route ends


@dataclass
class _FeatureWays:
    """Feature ways waiting for their node locations: row index, id, tags and node references."""

    row: list[int] = field(default_factory=list)
    way_id: list[int] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    n_refs: array = field(default_factory=lambda: array("q"))
    refs: array = field(default_factory=lambda: array("q"))


def _tags(obj: Any) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def read_osm(
    path: Path | str,
    *,
    mode: str = "car",
    roads: bool = True,
    layers: bool = True,
    id_set_budget_bytes: int = ID_SET_BUDGET_BYTES,
) -> OsmLayers:
    """Read the road graph and map layers of an OSM extract, streaming (see the module docstring).

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
    id_set_budget_bytes
        Largest id set that selects the referenced nodes in pass 3 [bytes]; above it (and
        always with 0) every node location of the file is indexed instead. The result is the
        same either way.

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
    if not (roads or layers):
        raise DataError("read_osm: nothing to read; ask for roads, layers or both")
    keys = (("highway",) if roads else ()) + ((*FEATURE_KEYS, "route") if layers else ())
    file = osmium.io.File(str(path), fmt)

    usable = CAR_CLASSES if mode == "car" else TWO_WHEELER_CLASSES | _TAGGED_ONLY_2W  # way_allowed's classes
    ways = _Ways()
    fways = _FeatureWays()
    feature_rows: list[dict[str, Any] | None] = []
    hwy_seen: dict[str, int] = {}
    try:
        rels = _read_relations(file, keys) if layers else _Relations()
        for obj in osmium.FileProcessor(file, osmium.osm.NODE | osmium.osm.WAY).with_filter(osmium.filter.KeyFilter(*keys)):
            if obj.is_way():
                hwy = obj.tags.get("highway") if roads else None
                if hwy is not None and hwy not in usable and not (layers and any(k in obj.tags for k in FEATURE_KEYS)):
                    hwy_seen[hwy] = hwy_seen.get(hwy, 0) + 1  # a footway, path, ...: no road of the mode
                    continue
                tags = _tags(obj)
                refs = [n.ref for n in obj.nodes]
                if hwy is not None:
                    hwy_seen[hwy] = hwy_seen.get(hwy, 0) + 1
                    if way_allowed(tags, mode) and len(refs) >= 2:
                        ways.way_id.append(obj.id)
                        ways.tags.append({k: tags[k] for k in EDGE_TAGS if k in tags})
                        ways.oneway.append(oneway_of(tags, mode))
                        ways.n_refs.append(len(refs))
                        ways.refs.extend(refs)
                if layers and any(k in tags for k in FEATURE_KEYS):
                    fways.row.append(len(feature_rows))
                    fways.way_id.append(obj.id)
                    fways.tags.append(tags)
                    fways.n_refs.append(len(refs))
                    fways.refs.extend(refs)
                    feature_rows.append(None)  # filled once the node locations are known
            elif layers:
                tags = _tags(obj)
                if any(k in tags for k in FEATURE_KEYS) and obj.location.valid():
                    feature_rows.append(
                        {"element": "node", "id": obj.id, **tags, "geometry": shapely.Point(obj.location.lon, obj.location.lat)}
                    )
        areas = _AreaRows()
        ids, lx, ly = _node_locations(
            file, np.concatenate([np.frombuffer(ways.refs, dtype=np.int64), np.frombuffer(fways.refs, dtype=np.int64)]),
            rels=rels, areas=areas, name=path.name, budget_bytes=id_set_budget_bytes,
        )
    except RuntimeError as exc:  # libosmium parse errors
        raise DataError(f"{path}: cannot read the OSM extract ({exc}); check that the file is complete") from None

    ways.x, ways.y = _lookup(np.frombuffer(ways.refs, dtype=np.int64), ids, lx, ly)
    n_missing_ways = _n_ways_with_missing(ways.x, np.frombuffer(ways.n_refs, dtype=np.int64))
    _fill_feature_ways(feature_rows, fways, ids, lx, ly)
    feature_rows.extend(areas.rows)
    n_polygons, n_assembled = rels.n_polygons, len(areas.rows)
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
    features = _features_frame([r for r in feature_rows if r is not None])
    buildings, pois, power = layers_from_features(features) if layers else (empty_buildings(), empty_pois(), empty_power())
    depot_land = depot_land_from_features(features, terminals=rels.terminals) if layers else empty_depot_land()
    log.info(
        "%s: %d road nodes, %d edges (%s); %d buildings, %d POIs, %d power features",
        path.name, graph.number_of_nodes(), graph.number_of_edges(), mode, len(buildings), len(pois), len(power),
    )
    return OsmLayers(
        roads=graph, buildings=buildings, pois=pois, power=power, source=str(path),
        stats={"ways_with_missing_nodes": n_missing_ways, "multipolygons_dropped": n_polygons - n_assembled},
        depot_land=depot_land,
    )


def _read_relations(file: Any, keys: tuple[str, ...]) -> _Relations:
    """Pass 1: count multipolygons, keep the member ways of those with feature tags and bus route ends."""
    import osmium

    rels = _Relations()
    for obj in osmium.FileProcessor(file, osmium.osm.RELATION).with_filter(osmium.filter.KeyFilter(*keys)):
        kind = obj.tags.get("type")
        if kind in ("multipolygon", "boundary"):
            rels.n_polygons += 1
            if any(k in obj.tags for k in FEATURE_KEYS):
                rels.member_ways.extend(m.ref for m in obj.members if m.type == "w")
        elif kind == "route" and "bus" in str(obj.tags.get("route", "")).split(";"):
            stops = [m.ref for m in obj.members if m.type == "n" and m.role.startswith(("stop", "platform"))]
            name = str(obj.tags.get("ref") or obj.tags.get("name") or f"relation/{obj.id}")
            rels.terminals += [(stops[0], name), (stops[-1], name)] if stops else []
    return rels


def _id_set_bytes(*id_arrays: np.ndarray) -> int:
    """Memory [bytes] of libosmium's dense id set (``osmium.filter.IdFilter``) holding these ids."""
    blocks = [np.unique(a >> _ID_BLOCK_BITS) for a in id_arrays if len(a)]
    return sum(len(b) for b in blocks) << 22


class _AreaRows:
    """Feature rows of the multipolygon relations libosmium assembles (areas of closed ways are
    read as ways)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def area(self, obj: Any) -> None:
        if obj.from_way():
            return
        geom = _area_geometry(obj)
        if geom is not None:
            self.rows.append({"element": "relation", "id": obj.orig_id(), **_tags(obj), "geometry": geom})


def _node_locations(
    file: Any, refs: np.ndarray, *, rels: _Relations, areas: _AreaRows, name: str, budget_bytes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 3: locations of the referenced nodes (sorted ids, fixed-point x and y) and the
    multipolygon areas (appended to ``areas.rows``)."""
    import osmium

    needed = np.unique(refs)
    members = np.unique(np.frombuffer(rels.member_ways, dtype=np.int64))
    entities = osmium.osm.NODE
    handlers: list[Any] = []
    compact = _id_set_bytes(needed, members) <= budget_bytes
    if compact and len(members):
        needed = np.union1d(needed, _member_refs(file, members))
        compact = _id_set_bytes(needed, members) <= budget_bytes
    if compact:
        node_filter = osmium.filter.IdFilter(needed.tolist())
        node_filter.enable_for(osmium.osm.NODE)
        handlers.append(node_filter)
        if len(members):
            way_filter = osmium.filter.IdFilter(members.tolist())
            way_filter.enable_for(osmium.osm.WAY)
            handlers.append(way_filter)
        store = osmium.index.create_map("sparse_mem_array")
    else:
        log.info("%s: node ids too spread for an id set (%d MiB); indexing every node location of the file",
                 name, _id_set_bytes(needed, members) >> 20)
        store = osmium.index.create_map("flex_mem")
    locations = osmium.NodeLocationsForWays(store)
    locations.ignore_errors()
    handlers.append(locations)
    if len(members):
        manager = osmium.area.AreaManager()
        reader = osmium.io.Reader(file, osmium.osm.RELATION)
        try:
            osmium.apply(reader, osmium.filter.KeyFilter(*FEATURE_KEYS), manager.first_pass_handler())
        finally:
            reader.close()
        handlers.append(manager.second_pass_handler(osmium.filter.KeyFilter(*FEATURE_KEYS), areas))
        entities = osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION
    reader = osmium.io.Reader(file, entities)
    try:
        osmium.apply(reader, *handlers)
    finally:
        reader.close()
    lx = np.full(len(needed), _INVALID, dtype=np.int64)
    ly = np.full(len(needed), _INVALID, dtype=np.int64)
    get = store.get
    for i, ref in enumerate(needed.tolist()):
        try:
            loc = get(ref)
        except KeyError:
            continue
        lx[i], ly[i] = loc.x, loc.y
    store.clear()
    return needed, lx, ly


def _member_refs(file: Any, members: np.ndarray) -> np.ndarray:
    """Node references of the member ways of multipolygon relations."""
    import osmium

    refs = array("q")
    way_filter = osmium.filter.IdFilter(members.tolist())
    for obj in osmium.FileProcessor(file, osmium.osm.WAY).with_filter(way_filter):
        refs.extend(n.ref for n in obj.nodes)
    return np.frombuffer(refs, dtype=np.int64)


def _lookup(refs: np.ndarray, ids: np.ndarray, lx: np.ndarray, ly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point x and y of node references (``_INVALID`` where the file has no location)."""
    if len(ids) == 0:
        return np.full(len(refs), _INVALID, dtype=np.int64), np.full(len(refs), _INVALID, dtype=np.int64)
    idx = np.searchsorted(ids, refs)
    return lx[idx], ly[idx]


def _n_ways_with_missing(x: np.ndarray, n_refs: np.ndarray) -> int:
    """Number of ways with at least one node reference without a location."""
    if len(n_refs) == 0:
        return 0
    missing = np.add.reduceat((x == _INVALID).astype(np.int64), np.concatenate([[0], np.cumsum(n_refs)[:-1]]))
    return int((missing > 0).sum())


def _fill_feature_ways(
    rows: list[dict[str, Any] | None], fways: _FeatureWays, ids: np.ndarray, lx: np.ndarray, ly: np.ndarray
) -> None:
    refs = np.frombuffer(fways.refs, dtype=np.int64)
    x, y = _lookup(refs, ids, lx, ly)
    start = 0
    for row, way_id, tags, n in zip(fways.row, fways.way_id, fways.tags, fways.n_refs, strict=True):
        part = slice(start, start + n)
        rows[row] = _way_feature(way_id, tags, list(zip(refs[part].tolist(), x[part].tolist(), y[part].tolist(), strict=True)))
        start += n


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
