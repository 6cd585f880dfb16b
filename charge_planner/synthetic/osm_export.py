"""A synthetic city as an OpenStreetMap file: :func:`write_osm` writes the road graph and points of
interest of a :class:`~charge_planner.synthetic.SyntheticCity` as OSM PBF or XML with pyosmium, so
that the OSM readers (:func:`charge_planner.osm.read_osm`) can be exercised on a city of any size.

Every street (one undirected edge of the graph, both directions of a two-way street) becomes one
way whose nodes are the edge's geometry: its end nodes are the graph nodes, its inner points are
nodes used by that way only, so an OSM reader that splits ways at shared nodes and way ends gets
the graph back. Ways carry ``highway``, ``name``, ``lanes``, ``oneway=yes`` on one-way streets
(drawn in their direction of travel), ``bridge`` and ``maxspeed`` where the edge has them. Each
POI is a node tagged as the OSM layers read it (:func:`charge_planner.osm.poi_kind`), e.g.
``amenity=marketplace`` for a market or ``shop=mall`` for a mall. Coordinates are the projected
ones transformed to EPSG:4326 (OSM stores them to 1e-7 degree, about 1 cm). Population is not
written: OSM has no such layer.

Ids are positive and dense: graph nodes first (in the graph's node order), then the inner points
of the ways, then the POIs; ways are numbered from 1 in edge order. The file is labelled synthetic
in its header (``generator``) and every name ends with "(synthetic)" or is a synthetic street name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer

from charge_planner.errors import DataError
from charge_planner.osm.tags import osm_format
from charge_planner.synthetic.city import SyntheticCity

log = logging.getLogger(__name__)

POI_TAGS: dict[str, dict[str, str]] = {
    "market": {"amenity": "marketplace"},
    "mall": {"shop": "mall"},
    "parking": {"amenity": "parking"},
    "fuel": {"amenity": "fuel"},
    "bus_depot": {"amenity": "bus_depot"},
    "bus_station": {"amenity": "bus_station"},
    "charging_station": {"amenity": "charging_station"},
}
"""OSM tags of each synthetic POI kind, as :func:`charge_planner.osm.poi_kind` reads them back."""

_WAY_TAGS = ("highway", "name", "lanes", "bridge", "maxspeed")


def write_osm(city: SyntheticCity, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write a synthetic city's roads and points of interest as an OSM file.

    Parameters
    ----------
    city
        City from :func:`~charge_planner.synthetic.generate_city`.
    path
        Output file; the format follows the name: ``.osm.pbf``/``.pbf`` (PBF), ``.osm``
        (XML), ``.osm.gz`` or ``.osm.bz2`` (compressed XML).
    overwrite
        Replace an existing file (else an existing file is an error).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    DataError
        When the name is not that of an OSM file, the file exists and ``overwrite`` is false,
        or its folder does not exist.
    """
    import osmium

    path = Path(path)
    fmt = osm_format(path)
    if fmt is None:
        raise DataError(f"{path}: not an OSM file name; end it with .osm.pbf, .pbf, .osm, .osm.gz or .osm.bz2")
    if path.exists() and not overwrite:
        raise DataError(f"{path}: the file exists; remove it or pass overwrite=True")
    if not path.parent.is_dir():
        raise DataError(f"{path}: the folder {path.parent} does not exist; create it first")

    nodes, ways = _osm_elements(city)
    pois = _poi_nodes(city, first_id=int(nodes["id"][-1]) + 1 if len(nodes["id"]) else 1)
    header = osmium.io.Header()
    header.set("generator", "charge_planner synthetic city (not a real place)")
    lon_all = np.concatenate([nodes["lon"], pois["lon"]])
    lat_all = np.concatenate([nodes["lat"], pois["lat"]])
    header.add_box(osmium.osm.Box(osmium.osm.Location(float(lon_all.min()), float(lat_all.min())),
                                  osmium.osm.Location(float(lon_all.max()), float(lat_all.max()))))
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    try:
        with osmium.SimpleWriter(osmium.io.File(str(tmp), fmt), header=header) as writer:
            Node, Way = osmium.osm.mutable.Node, osmium.osm.mutable.Way
            for i, x, y in zip(nodes["id"].tolist(), nodes["lon"].tolist(), nodes["lat"].tolist(), strict=True):
                writer.add_node(Node(id=i, location=(x, y)))
            for i, x, y, tags in zip(pois["id"].tolist(), pois["lon"].tolist(), pois["lat"].tolist(), pois["tags"],
                                     strict=True):
                writer.add_node(Node(id=i, location=(x, y), tags=tags))
            for way_id, refs, tags in ways:
                writer.add_way(Way(id=way_id, nodes=refs, tags=tags))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: wrote %d nodes, %d ways and %d POIs of the synthetic city", path.name,
             len(nodes["id"]), len(ways), len(pois["id"]))
    return path


def _osm_elements(city: SyntheticCity) -> tuple[dict[str, np.ndarray], list[tuple[int, list[int], dict[str, str]]]]:
    """Nodes (id, lon, lat; graph nodes then inner points) and ways (id, node refs, tags)."""
    graph = city.roads
    to_wgs = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True)
    labels = list(graph.nodes)
    node_id = {n: i + 1 for i, n in enumerate(labels)}
    gx = np.fromiter((graph.nodes[n]["x"] for n in labels), dtype=float, count=len(labels))
    gy = np.fromiter((graph.nodes[n]["y"] for n in labels), dtype=float, count=len(labels))

    streets = list(_streets(graph))
    geoms = [shapely.LineString([(graph.nodes[u]["x"], graph.nodes[u]["y"]),
                                 (graph.nodes[v]["x"], graph.nodes[v]["y"])]) if d.get("geometry") is None
             else d["geometry"] for u, v, d in streets]
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    n_coords = np.bincount(owner, minlength=len(streets))
    first = np.concatenate([[0], np.cumsum(n_coords)[:-1]])
    inner = np.ones(len(coords), dtype=bool)
    inner[first] = False
    inner[first + n_coords - 1] = False
    inner_ids = len(labels) + 1 + np.arange(int(inner.sum()))
    point_id = np.zeros(len(coords), dtype=np.int64)
    point_id[inner] = inner_ids
    point_id[first] = [node_id[u] for u, _, _ in streets]
    point_id[first + n_coords - 1] = [node_id[v] for _, v, _ in streets]

    xs = np.concatenate([gx, coords[inner, 0]])
    ys = np.concatenate([gy, coords[inner, 1]])
    lon, lat = to_wgs.transform(xs, ys)
    nodes = {"id": np.arange(1, len(xs) + 1, dtype=np.int64), "lon": np.asarray(lon), "lat": np.asarray(lat)}

    ways = []
    refs = np.split(point_id, np.cumsum(n_coords)[:-1])
    for way_id, ((_, _, d), way_refs) in enumerate(zip(streets, refs, strict=True), start=1):
        tags = {k: str(d[k]) for k in _WAY_TAGS if d.get(k) is not None and str(d[k]) != ""}
        if _is_true(d.get("oneway")):
            tags["oneway"] = "yes"
        ways.append((way_id, way_refs.tolist(), tags))
    return nodes, ways


def _streets(graph: Any) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """One ``(u, v, attributes)`` per street: the first direction seen of each two-way street."""
    seen: set[tuple[Any, ...]] = set()
    for u, v, key, d in graph.edges(keys=True, data=True):
        osmid = d.get("osmid")
        street = (str(osmid), *sorted((str(u), str(v)))) if osmid is not None else (u, v, key)
        if street in seen:
            continue
        seen.add(street)
        yield u, v, d


def _is_true(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "yes", "1")


def _poi_nodes(city: SyntheticCity, *, first_id: int) -> dict[str, Any]:
    pois = city.pois
    unknown = sorted(set(pois["kind"]) - set(POI_TAGS))
    if unknown:
        raise DataError(f"synthetic city: POI kinds {unknown} have no OSM tags; use one of {sorted(POI_TAGS)}")
    to_wgs = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True)
    pts = shapely.get_coordinates(pois.geometry.to_numpy())
    lon, lat = to_wgs.transform(pts[:, 0], pts[:, 1]) if len(pts) else (np.empty(0), np.empty(0))
    tags = [{**POI_TAGS[k], "name": str(n)} for k, n in zip(pois["kind"], pois["name"], strict=True)]
    return {"id": first_id + np.arange(len(pois), dtype=np.int64), "lon": np.asarray(lon),
            "lat": np.asarray(lat), "tags": tags}
