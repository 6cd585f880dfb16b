"""Road files: :func:`read_road_network` reads GraphML, GeoPackage, GeoParquet or an OSM extract;
:func:`filter_graph_mode` keeps the ways of a travel mode; :func:`graph_from_tables` builds an
osmnx-style graph from edge and node tables."""


from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from charge_planner.errors import DataError
from charge_planner.osm.read import _great_circle_m, read_osm
from charge_planner.osm.tags import (
    EDGE_TAGS,
    MODES,
    ROAD_FILE_TYPES,
    _check_file,
    as_list,
    osm_format,
    way_allowed,
)

log = logging.getLogger(__name__)

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
        classes = [str(h) for h in as_list(hwy)]
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
