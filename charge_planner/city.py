"""City bundle: read a city's sources, project them to one metric CRS and validate them.

A bundle is a folder with a ``city.toml`` (see :mod:`charge_planner.config`). Sources:

* ``data.source = "synthetic"``: the deterministic demo city of :mod:`charge_planner.synthetic`;
* ``data.source = "files"``: a road graph (OSMnx GraphML or OSM XML), an optional OSM XML
  extract for POIs, buildings and substations, and population from a raster
  (``data.population_raster``, persons per pixel) or a total (``data.population_total``)
  spread over the road network by road length.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from charge_planner.assumptions import preset_of
from charge_planner.config import CityConfig, data_root, find_config, load_config, resolve_data_path
from charge_planner.errors import DataError
from charge_planner.network import prepare_graph

log = logging.getLogger(__name__)

OSM_ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"

POI_TAGS: dict[str, list[str] | bool] = {
    "amenity": ["parking", "motorcycle_parking", "fuel", "marketplace", "bus_station", "charging_station"],
    "shop": ["mall", "department_store"],
    "power": ["substation"],
}


@dataclass
class City:
    """Everything the planner knows about a city, in one projected metric CRS.

    Attributes
    ----------
    config
        The validated ``city.toml``.
    city_dir
        Folder of the bundle.
    crs
        Projected metric CRS of every layer.
    roads
        Prepared road graph (``travel_time_s`` [s] and ``length`` [m] on every edge).
    population
        Points with ``population`` [persons].
    pois
        Points of interest: ``poi_id``, ``kind``, ``name``.
    substations
        OSM ``power=substation`` points (may be empty).
    synthetic
        True for generated data; every output says so.
    sources
        Data sources and licences, for attribution.
    """

    config: CityConfig
    city_dir: Path
    crs: str
    roads: nx.MultiDiGraph
    population: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    substations: gpd.GeoDataFrame
    synthetic: bool
    sources: list[str] = field(default_factory=list)
    data_root: Path | None = None

    @property
    def name(self) -> str:
        """City name from the configuration."""
        return self.config.city.name

    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the road network [m]."""
        xs = np.fromiter((d["x"] for _, d in self.roads.nodes(data=True)), float)
        ys = np.fromiter((d["y"] for _, d in self.roads.nodes(data=True)), float)
        return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def load_city(city: Path | str, *, data_dir: Path | str | None = None) -> City:
    """Load and validate a city bundle.

    Parameters
    ----------
    city
        Folder containing ``city.toml`` (or the file).
    data_dir
        Data root for relative data paths; default ``$CHARGE_PLANNER_DATA``.
    """
    path = find_config(city)
    config = load_config(path)
    return city_from_config(config, city_dir=path.parent, data_dir=data_dir)


def city_from_config(config: CityConfig, *, city_dir: Path | str, data_dir: Path | str | None = None) -> City:
    """Build a :class:`City` from an already validated configuration."""
    city_dir = Path(city_dir)
    root = data_root(data_dir)
    preset = preset_of(config)
    if config.data.source == "synthetic":
        return _synthetic_city(config, city_dir, root)

    roads_path = resolve_data_path(config.data.roads or "", city_dir=city_dir, root=root, field="data.roads")
    raw = _read_roads(roads_path)
    roads = prepare_graph(raw, crs=config.city.crs, speeds_kph=preset.road_speeds_kph)
    crs = str(roads.graph["crs"])
    sources = [f"roads: {roads_path.name} — {OSM_ATTRIBUTION}"]

    pois = _empty_points(crs, ["poi_id", "kind", "name"])
    substations = _empty_points(crs, ["name"])
    if config.data.osm:
        osm_path = resolve_data_path(config.data.osm, city_dir=city_dir, root=root, field="data.osm")
        pois, substations = read_osm_pois(osm_path, crs=crs)
        sources.append(f"POIs: {osm_path.name} — {OSM_ATTRIBUTION}")

    if config.data.population_raster:
        raster = resolve_data_path(config.data.population_raster, city_dir=city_dir, root=root, field="data.population_raster")
        population = read_population_raster(raster, crs=crs, bounds=_graph_bounds(roads))
        sources.append(f"population: {raster.name} (raster, persons per pixel)")
    else:
        total = float(config.data.population_total or 0.0)
        population = population_along_roads(roads, total)
        sources.append(
            f"population: {total:,.0f} persons spread by road length; source: {config.data.population_source or 'not given'}"
        )
    return City(
        config=config,
        city_dir=city_dir,
        crs=crs,
        roads=roads,
        population=population,
        pois=pois,
        substations=substations,
        synthetic=False,
        sources=sources,
        data_root=root,
    )


def _synthetic_city(config: CityConfig, city_dir: Path, root: Path | None) -> City:
    from charge_planner.synthetic import generate_city

    syn = generate_city(config.data.seed)
    preset = preset_of(config)
    roads = prepare_graph(syn.roads, crs=config.city.crs, speeds_kph=preset.road_speeds_kph)
    crs = str(roads.graph["crs"])
    return City(
        config=config,
        city_dir=city_dir,
        crs=crs,
        roads=roads,
        population=syn.population.to_crs(crs),
        pois=syn.pois.to_crs(crs),
        substations=_empty_points(crs, ["name"]),
        synthetic=True,
        sources=[f"synthetic demo city generated by charge_planner (seed {config.data.seed}); not a real place"],
        data_root=root,
    )


def _empty_points(crs: str, columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns}, geometry=[], crs=crs)


def _graph_bounds(graph: nx.MultiDiGraph) -> tuple[float, float, float, float]:
    xs = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), float)
    ys = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), float)
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _read_roads(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; download the extract again")
    name = path.name.lower()
    try:
        if name.endswith(".graphml"):
            return ox.load_graphml(path)
        if name.endswith((".osm", ".osm.xml", ".osm.gz", ".osm.xml.gz", ".osm.bz2", ".osm.xml.bz2")):
            return ox.graph_from_xml(path, simplify=True, retain_all=False)
    except DataError:
        raise
    except Exception as exc:  # parse errors from osmnx/lxml/networkx
        raise DataError(f"{path}: cannot read the road network ({type(exc).__name__}: {exc})") from None
    raise DataError(f"{path}: unknown road file type; use .graphml or OSM XML (.osm, .osm.gz, .osm.bz2)")


def _kind_of(row: pd.Series) -> str | None:
    amenity = row.get("amenity")
    shop = row.get("shop")
    if amenity in ("parking", "motorcycle_parking"):
        return "parking"
    if amenity == "fuel":
        return "fuel"
    if amenity == "marketplace":
        return "market"
    if amenity == "bus_station":
        return "bus_station"
    if amenity == "charging_station":
        return "charging_station"
    if shop in ("mall", "department_store"):
        return "mall"
    return None


def read_osm_pois(path: Path, *, crs: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Read POIs usable as charging sites and power substations from an OSM XML extract.

    Returns
    -------
    tuple of geopandas.GeoDataFrame
        POIs (``poi_id``, ``kind``, ``name``, ``osm_id``) and substations (``name``), as points in ``crs``.
    """
    import osmnx as ox
    from osmnx._errors import InsufficientResponseError

    try:
        feats = ox.features_from_xml(path, tags=POI_TAGS)
    except InsufficientResponseError:
        log.warning("%s: no POIs with usable tags", path)
        return _empty_points(crs, ["poi_id", "kind", "name"]), _empty_points(crs, ["name"])
    except Exception as exc:
        raise DataError(f"{path}: cannot read OSM features ({type(exc).__name__}: {exc})") from None
    feats = feats.to_crs(crs)
    for col in ("amenity", "shop", "power", "name"):
        if col not in feats.columns:
            feats[col] = None
    feats = feats.reset_index()
    feats["osm_id"] = feats["element"].astype(str) + "/" + feats["id"].astype(str)
    pts = feats.geometry.representative_point()
    subs = feats["power"].eq("substation")
    substations = gpd.GeoDataFrame({"name": feats.loc[subs, "name"].fillna("substation").astype(str).to_numpy()},
                                   geometry=pts[subs].to_numpy(), crs=crs)
    kinds = feats.apply(_kind_of, axis=1)
    keep = kinds.notna() & ~subs
    pois = gpd.GeoDataFrame(
        {
            "poi_id": feats.loc[keep, "osm_id"].to_numpy(),
            "kind": kinds[keep].to_numpy(),
            "name": feats.loc[keep, "name"].fillna("").astype(str).to_numpy(),
        },
        geometry=pts[keep].to_numpy(),
        crs=crs,
    )
    log.info("%s: %d POIs (%s), %d substations", path.name, len(pois),
             ", ".join(f"{k} {v}" for k, v in pois["kind"].value_counts().sort_index().items()), len(substations))
    return pois, substations


def population_along_roads(graph: nx.MultiDiGraph, total: float) -> gpd.GeoDataFrame:
    """Spread a population total over the road network in proportion to road length.

    A proxy when no population raster exists: residents live along streets. Each edge's
    midpoint gets ``total x length / total length`` persons (both directions of a two-way
    street count once each, which keeps the proportion).
    """
    mids_x, mids_y, lengths = [], [], []
    for u, v, d in graph.edges(data=True):
        geom = d.get("geometry")
        if geom is not None:
            mid = geom.interpolate(0.5, normalized=True)
            mids_x.append(mid.x)
            mids_y.append(mid.y)
        else:
            mids_x.append((graph.nodes[u]["x"] + graph.nodes[v]["x"]) / 2)
            mids_y.append((graph.nodes[u]["y"] + graph.nodes[v]["y"]) / 2)
        lengths.append(float(d["length"]))
    w = np.asarray(lengths)
    pop = total * w / w.sum()
    return gpd.GeoDataFrame({"population": pop}, geometry=gpd.points_from_xy(mids_x, mids_y), crs=graph.graph["crs"])


def read_population_raster(path: Path, *, crs: str, bounds: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Pixel centres of a persons-per-pixel raster inside ``bounds`` (given in ``crs``), as points.

    Raises
    ------
    DataError
        When the file cannot be read or does not overlap the study area.
    """
    try:
        import rasterio
    except ImportError:
        raise DataError(f"{path}: reading a population raster needs rasterio; pip install rasterio") from None
    from pyproj import Transformer

    try:
        with rasterio.open(path) as src:
            data = src.read(1, masked=True)
            transform = src.transform
            src_crs = src.crs.to_string() if src.crs else "EPSG:4326"
    except Exception as exc:
        raise DataError(f"{path}: cannot read the raster ({type(exc).__name__}: {exc})") from None
    rows, cols = np.nonzero(~np.ma.getmaskarray(data) & (np.ma.filled(data, 0) > 0))
    vals = np.asarray(data[rows, cols], dtype=float)
    xs, ys = rasterio.transform.xy(transform, rows, cols)
    tr = Transformer.from_crs(src_crs, crs, always_xy=True)
    px, py = tr.transform(np.asarray(xs), np.asarray(ys))
    minx, miny, maxx, maxy = bounds
    inside = (px >= minx) & (px <= maxx) & (py >= miny) & (py <= maxy)
    if not inside.any():
        raise DataError(f"{path}: the population raster does not overlap the road network; check the file and CRS")
    return gpd.GeoDataFrame({"population": vals[inside]}, geometry=gpd.points_from_xy(px[inside], py[inside]), crs=crs)
