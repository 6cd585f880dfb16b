"""City bundle: read a city's sources, project them to one metric CRS and validate them.

A bundle is a folder with a ``city.toml`` (see :mod:`charge_planner.config`). Sources:

* ``data.source = "synthetic"``: the deterministic demo city of :mod:`charge_planner.synthetic`;
* ``data.source = "files"``: a road file (``data.roads``: OSM XML or PBF, OSMnx GraphML,
  GeoPackage or GeoParquet; see :mod:`charge_planner.osm`), an OSM extract for buildings, POIs and
  power infrastructure (``data.osm``; by default the road file when it is an OSM extract, read in
  the same pass), and population from a raster (``data.population_raster``, persons per pixel)
  or a total (``data.population_total``) spread over the road network by road length;
* ``data.source = "online"``: the same layers downloaded through osmnx for ``data.place``, else
  for the box ``city.study_area_bbox`` (cached in ``data.cache_folder``).

The road network is the one of ``data.mode`` (``car`` or ``two_wheeler``).

Inputs that cannot be true are refused with a :class:`~charge_planner.errors.DataError`: roads
outside the preset's country (:func:`check_in_country`), a ``city.crs`` that does not measure the
data in metres (:func:`charge_planner.network.check_metric_crs`), a population denser than any
city district on the study area (:func:`check_density`), an OSM extract of another place
(:func:`check_layers_near`) and a population raster with negative values. The synthetic demo
city is not a real place and is not checked against a country.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from charge_planner.assumptions import preset_of
from charge_planner.config import CityConfig, data_root, find_config, load_config, resolve_data_path
from charge_planner.errors import ConfigError, DataError
from charge_planner.network.graph import lonlat_bounds, prepare_graph
from charge_planner.osm import (
    OSM_ATTRIBUTION,
    empty_buildings,
    empty_depot_land,
    empty_pois,
    empty_power,
    fetch_osm,
    osm_format,
    project_layers,
    read_osm,
    read_road_network,
    substations_from_power,
)
from charge_planner.presets import (
    COUNTRY_BOUNDS_MARGIN_DEG,
    MAX_DENSITY_PERSONS_KM2,
    MIN_DENSITY_PERSONS_KM2,
    country_bounds,
    get_preset,
)
from charge_planner.synthetic import generate_city

log = logging.getLogger(__name__)

__all__ = [
    "OSM_ATTRIBUTION",
    "City",
    "check_density",
    "check_in_country",
    "check_layers_near",
    "city_from_config",
    "load_city",
    "population_along_roads",
    "read_population_raster",
    "study_area_km2",
]

#: Margin added to each side of the road network's bounding box to make the study area [m]:
#: residents live up to a block beyond the outermost streets.
STUDY_AREA_MARGIN_M = 100.0


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
        Prepared road graph of ``data.mode`` (``travel_time_s`` [s] and ``length`` [m] on every
        edge); it carries the map, the candidates and the synthesised grid.
    population
        Points with ``population`` [persons].
    pois
        Points of interest: ``poi_id``, ``kind``, ``name``.
    substations
        Substation points: ``name`` (may be empty).
    synthetic
        True for generated data; every output says so.
    sources
        Data sources and licences, for attribution.
    data_root
        Data root the bundle's files were found in.
    buildings
        Building footprints: ``building_id``, ``building``, ``levels``, ``name``, ``area_m2``
        [m2] (may be empty).
    power
        OSM power infrastructure: ``power_id``, ``kind`` (substation, transformer, line,
        minor_line, cable, generator, plant), ``name``, ``voltage_kv`` [kV], ``source``
        (may be empty).
    roads_by_mode
        Prepared road graph per travel mode used by a segment (``data.segment_modes``),
        ``roads`` included.
    depot_land
        OSM land where a depot could stand when none is tagged (see
        :func:`charge_planner.osm.depot_land_from_features`; may be empty).
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
    buildings: gpd.GeoDataFrame = None  # type: ignore[assignment]
    power: gpd.GeoDataFrame = None  # type: ignore[assignment]
    roads_by_mode: dict[str, nx.MultiDiGraph] = field(default_factory=dict)
    depot_land: gpd.GeoDataFrame = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.depot_land is None:
            self.depot_land = empty_depot_land(self.crs)
        if self.buildings is None:
            self.buildings = empty_buildings(self.crs)
        if self.power is None:
            self.power = empty_power(self.crs)
        self.roads_by_mode.setdefault(self.config.data.mode, self.roads)

    def __copy__(self) -> City:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self) -> dict[str, object]:
        # pickled without its road graphs (the largest part); they are reloaded from the
        # bundle the first time an unpickled city uses them
        state = dict(self.__dict__)
        state.pop("roads", None)
        state.pop("roads_by_mode", None)
        return state

    def __getattr__(self, name: str) -> object:
        # only reached for attributes missing from the instance: the graphs of an unpickled city
        if name not in _GRAPH_FIELDS or name.startswith("__") or "config" not in self.__dict__:
            raise AttributeError(name)
        log.info("reloading the road graphs of %s from %s", self.config.city.name, self.city_dir)
        fresh = city_from_config(self.config, city_dir=self.city_dir, data_dir=self.data_root)
        self.__dict__["roads"] = fresh.roads
        self.__dict__["roads_by_mode"] = fresh.roads_by_mode
        return self.__dict__[name]

    def mode_of(self, segment: str) -> str:
        """Travel mode of a vehicle segment's trips to chargers (``data.segment_modes``, else ``data.mode``)."""
        return self.config.data.segment_modes.get(segment, self.config.data.mode)

    def roads_for(self, mode: str) -> nx.MultiDiGraph:
        """Prepared road graph of a travel mode (the main ``roads`` for ``data.mode``)."""
        return self.roads_by_mode.get(mode, self.roads)

    @property
    def name(self) -> str:
        """City name from the configuration."""
        return self.config.city.name

    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) of the road network [m]."""
        return _graph_bounds(self.roads)


#: Fields of a :class:`City` that are not pickled and are reloaded on first use.
_GRAPH_FIELDS = ("roads", "roads_by_mode")


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
    """Build a :class:`City` from an already validated configuration.

    Raises
    ------
    ConfigError
        When a data file named in the configuration is missing.
    DataError
        When a data file is empty, unreadable or has no usable road for the travel mode.
    """
    city_dir = Path(city_dir)
    root = data_root(data_dir)
    preset = preset_of(config)
    data = config.data
    if data.source == "synthetic":
        return _synthetic_city(config, city_dir, root)

    unknown = sorted(set(data.segment_modes) - set(preset.segments))
    if unknown:
        raise ConfigError(
            f"data.segment_modes: unknown segment(s) {unknown}; use segments of the preset ({sorted(preset.segments)})"
        )
    sources: list[str] = []
    cache: Path | None = None
    nodes_path: Path | None = None
    if data.source == "online":
        # the place when given, else the study-area box (the configuration requires one of them)
        area_bbox = config.city.study_area_bbox if data.place is None else None
        label = data.place if data.place is not None else f"bbox {list(area_bbox or ())}"
        cache = resolve_cache(data.cache_folder, city_dir)
        layers = fetch_osm(place=data.place, bbox=area_bbox, mode=data.mode, cache_folder=cache)
        raw, buildings, pois, power = layers.roads, layers.buildings, layers.pois, layers.power
        depot_land = layers.depot_land
        sources.append(f"roads, buildings, POIs, power: OpenStreetMap via osmnx for {label} — {OSM_ATTRIBUTION}")
    else:
        roads_path = resolve_data_path(data.roads or "", city_dir=city_dir, root=root, field="data.roads")
        osm_path = (
            resolve_data_path(data.osm, city_dir=city_dir, root=root, field="data.osm") if data.osm else None
        )
        if osm_path is not None and osm_format(osm_path) is None:
            raise DataError(f"data.osm ({osm_path}): not an OSM extract by its name, so no buildings, POIs or power "
                            "would be read from it; give an .osm, .osm.gz, .osm.bz2 or .osm.pbf file or remove data.osm")
        buildings, pois, power = empty_buildings(), empty_pois(), empty_power()
        depot_land = empty_depot_land()
        if osm_format(roads_path) is not None:
            same = osm_path is None or osm_path.resolve() == roads_path.resolve()
            layers = read_osm(roads_path, mode=data.mode, layers=same)
            raw = layers.roads
            if same:
                buildings, pois, power = layers.buildings, layers.pois, layers.power
                depot_land = layers.depot_land
        else:
            nodes_path = (
                resolve_data_path(data.roads_nodes, city_dir=city_dir, root=root, field="data.roads_nodes")
                if data.roads_nodes
                else None
            )
            raw = read_road_network(roads_path, mode=data.mode, nodes_path=nodes_path)
        sources.append(f"roads ({data.mode}): {roads_path.name} — {OSM_ATTRIBUTION}")
        if osm_path is not None and osm_path.resolve() != roads_path.resolve():
            extra = read_osm(osm_path, mode=data.mode, roads=False, layers=True)
            buildings, pois, power = extra.buildings, extra.pois, extra.power
            depot_land = extra.depot_land
            sources.append(f"buildings, POIs, power: {osm_path.name} — {OSM_ATTRIBUTION}")
        elif osm_path is not None or osm_format(roads_path) is not None:
            sources.append(f"buildings, POIs, power: {roads_path.name} — {OSM_ATTRIBUTION}")

    where = f"data.place/city.study_area_bbox ({label})" if data.source == "online" else f"data.roads ({roads_path})"
    try:
        roads = prepare_graph(raw, crs=config.city.crs, speeds_kph=preset.road_speeds_kph)
    except DataError as exc:
        check_in_country(raw, config.city.country, what=where)  # data in another country: say that first
        if where in str(exc):
            raise
        raise DataError(f"{where}: {exc}") from None  # name the road file the fault is in
    check_in_country(roads, config.city.country, what=where)
    crs = str(roads.graph["crs"])
    buildings, pois, power, depot_land = project_layers([buildings, pois, power, depot_land], crs)
    if data.source == "files" and osm_path is not None and osm_path.resolve() != roads_path.resolve():
        check_layers_near([buildings, pois, power], roads, what=f"data.osm ({osm_path})")
    roads_by_mode = {data.mode: roads}
    for mode in sorted(set(data.segment_modes.values()) - {data.mode}):
        if data.source == "online":
            other = fetch_osm(place=data.place, bbox=area_bbox, mode=mode, cache_folder=cache).roads
        else:  # any road file, OSM extracts included
            other = read_road_network(roads_path, mode=mode, nodes_path=nodes_path)
        roads_by_mode[mode] = prepare_graph(other, crs=crs, speeds_kph=preset.road_speeds_kph)
        sources.append(f"roads ({mode}): the same source, the roads that mode may use — {OSM_ATTRIBUTION}")
    substations = substations_from_power(power)[["name", "geometry"]]

    if data.population_raster:
        raster = resolve_data_path(data.population_raster, city_dir=city_dir, root=root, field="data.population_raster")
        population = read_population_raster(raster, crs=crs, bounds=_graph_bounds(roads))
        check_density(float(population["population"].sum()), study_area_km2(roads),
                      what=f"data.population_raster ({raster.name})")
        credit = data.population_source or "provider not given: set data.population_source to credit it"
        sources.append(f"population: {raster.name} (raster, persons per pixel) — {credit}")
    else:
        total = float(data.population_total or 0.0)
        check_density(total, study_area_km2(roads), what="data.population_total")
        population = population_along_roads(roads, total)
        sources.append(
            f"population: {total:,.0f} persons spread by road length; source: {data.population_source or 'not given'}"
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
        buildings=buildings,
        power=power,
        roads_by_mode=roads_by_mode,
        depot_land=depot_land,
    )


def resolve_cache(folder: str | None, city_dir: Path) -> Path | None:
    """The osmnx cache folder of an online city: relative paths are inside the city folder."""
    if folder is None:
        return None
    path = Path(folder).expanduser()
    return path if path.is_absolute() else city_dir / path


def _synthetic_city(config: CityConfig, city_dir: Path, root: Path | None) -> City:
    data = config.data
    width_m, height_m = data.synthetic_size_m
    syn = generate_city(data.seed, width_m=width_m, height_m=height_m, population=data.population,
                        poi_counts=data.synthetic_poi_counts)
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
        substations=substations_from_power(empty_power(crs))[["name", "geometry"]],
        synthetic=True,
        sources=[f"synthetic demo city generated by charge_planner (seed {config.data.seed}); not a real place"],
        data_root=root,
    )


def _node_array(graph: nx.MultiDiGraph) -> np.ndarray:
    xs = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), float, count=graph.number_of_nodes())
    ys = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), float, count=graph.number_of_nodes())
    return np.column_stack([xs, ys])


def check_in_country(graph: nx.MultiDiGraph, country: str, *, what: str = "the road network") -> None:
    """Refuse a road network that lies outside the preset's country.

    The country's box is :data:`charge_planner.presets.COUNTRY_BOUNDS_LONLAT` widened by
    :data:`charge_planner.presets.COUNTRY_BOUNDS_MARGIN_DEG` on each side.

    Parameters
    ----------
    graph
        Road graph with a ``crs`` graph attribute and node ``x``/``y``.
    country
        Preset name or ISO code (``city.country``).
    what
        Name of the source for the message.

    Raises
    ------
    DataError
        When any part of the road network lies outside the widened box (one line, with both
        extents and the fix).
    """
    if graph.number_of_nodes() == 0 or "crs" not in graph.graph:
        return  # prepare_graph reports these
    west, south, east, north = lonlat_bounds(_node_array(graph), graph.graph["crs"])
    bw, bs, be, bn = country_bounds(country)
    if west >= bw and east <= be and south >= bs and north <= bn:
        return
    m = COUNTRY_BOUNDS_MARGIN_DEG
    raise DataError(
        f"{what}: the roads lie at {west:.2f} to {east:.2f} deg E, {south:.2f} to {north:.2f} deg N, outside "
        f"{_preset_name(country)} ({bw + m:.2f} to {be - m:.2f} deg E, {bs + m:.2f} to {bn - m:.2f} deg N, "
        f"accepted with a {m:g} deg margin): set city.country to the data's country or check the file and its CRS"
    )


#: Largest gap between the road network's bounding box and the nearest feature of a separate
#: OSM extract before the extract is taken to be of another place [m].
LAYERS_NEAR_M = 1000.0


def check_layers_near(layers: list[gpd.GeoDataFrame], graph: nx.MultiDiGraph, *, what: str) -> None:
    """Refuse OSM layers (buildings, POIs, power) none of whose features lie near the road network.

    Raises
    ------
    DataError
        When the layers hold features and none is within :data:`LAYERS_NEAR_M` of the road
        network's bounding box (an extract of another place, or in another CRS).
    """
    geoms = [g.geometry for g in layers if g is not None and len(g)]
    if not geoms:
        return
    minx, miny, maxx, maxy = _graph_bounds(graph)
    m = LAYERS_NEAR_M
    area = shapely.box(minx - m, miny - m, maxx + m, maxy + m)
    n = sum(len(g) for g in geoms)
    if not any(bool(g.intersects(area).any()) for g in geoms):
        raise DataError(
            f"{what}: none of its {n:,} buildings, POIs and power features lies within {m / 1000:g} km of the road "
            "network: give the OSM extract of the same area as data.roads"
        )


def _preset_name(country: str) -> str:
    """Display name of a preset's country ("sri_lanka" -> "Sri Lanka")."""
    return get_preset(country).country.replace("_", " ").title()


def study_area_km2(graph: nx.MultiDiGraph) -> float:
    """Area of the study area: the road network's bounding box plus :data:`STUDY_AREA_MARGIN_M` per side [km2]."""
    minx, miny, maxx, maxy = _graph_bounds(graph)
    m = STUDY_AREA_MARGIN_M
    return (maxx - minx + 2 * m) * (maxy - miny + 2 * m) / 1e6


def check_density(persons: float, area_km2: float, *, what: str = "population") -> None:
    """Refuse a population no city holds on a study area.

    Parameters
    ----------
    persons
        Population of the study area [persons].
    area_km2
        Area of the study area [km2] (:func:`study_area_km2` for a road network).
    what
        Field or file the population comes from, for the message.

    Raises
    ------
    DataError
        When the population is not a finite non-negative number, or its mean density is below
        :data:`charge_planner.presets.MIN_DENSITY_PERSONS_KM2` or above
        :data:`charge_planner.presets.MAX_DENSITY_PERSONS_KM2`.
    """
    if not (np.isfinite(persons) and persons >= 0):
        raise DataError(f"{what}: population {persons} is not a finite non-negative number of persons")
    if not area_km2 > 0:
        return  # an empty study area is reported by the stage that uses it
    density = persons / area_km2
    if density > MAX_DENSITY_PERSONS_KM2:
        raise DataError(
            f"{what}: {persons:,.0f} persons on a study area of {area_km2:.2f} km2 is {density:,.0f} persons/km2, "
            f"above {MAX_DENSITY_PERSONS_KM2:,.0f}/km2 (denser than any city district): give the population of this "
            "area only, in persons (a raster in persons per pixel)"
        )
    if density < MIN_DENSITY_PERSONS_KM2:
        raise DataError(
            f"{what}: {persons:,.0f} persons on a study area of {area_km2:.2f} km2 is {density:,.1f} persons/km2, "
            f"below {MIN_DENSITY_PERSONS_KM2:,.0f}/km2 (sparser than any town): give the population of this area "
            "in persons, not thousands (a raster in persons per pixel)"
        )
    log.info("population %.0f persons on %.2f km2: %.0f persons/km2", persons, area_km2, density)


def _graph_bounds(graph: nx.MultiDiGraph) -> tuple[float, float, float, float]:
    xs = np.fromiter((d["x"] for _, d in graph.nodes(data=True)), float)
    ys = np.fromiter((d["y"] for _, d in graph.nodes(data=True)), float)
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


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

    Only the window of the raster that covers ``bounds`` is read. Pixels equal to the raster's
    nodata value, and NaN pixels, are skipped; zero pixels are dropped. A raster without a CRS
    is taken to be in longitude/latitude (EPSG:4326).

    Raises
    ------
    DataError
        When the file cannot be read, has more than one band, has no CRS and coordinates that are
        not longitude/latitude, does not overlap the study area, holds negative values there (a nodata value that
        is not declared in the file) or only zeros.
    """
    try:
        import rasterio
        from rasterio.errors import WindowError
        from rasterio.windows import Window, from_bounds
    except ImportError:
        raise DataError(f"{path}: reading a population raster needs rasterio; pip install rasterio") from None
    from pyproj import Transformer

    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise DataError(
                    f"{path}: the raster has {src.count} bands (an image, not a population grid); give a single-band "
                    "raster of persons per pixel, e.g. WorldPop or GHS-POP"
                )
            left, bottom, right, top = src.bounds
            if src.crs is None and not (-180.5 <= min(left, right) and max(left, right) <= 360.5
                                        and -90.5 <= min(bottom, top) and max(bottom, top) <= 90.5):
                raise DataError(
                    f"{path}: the raster has no CRS and its coordinates ({left:.0f}, {bottom:.0f}, {right:.0f}, "
                    f"{top:.0f}) are not longitude/latitude: set its CRS (e.g. gdal_edit.py -a_srs EPSG:NNNN)"
                )
            src_crs = src.crs.to_string() if src.crs else "EPSG:4326"
            wl, wb, wr, wt = Transformer.from_crs(crs, src_crs, always_xy=True).transform_bounds(*bounds, densify_pts=21)
            full = Window(0, 0, src.width, src.height)
            try:
                window = from_bounds(wl, wb, wr, wt, transform=src.transform)
                window = window.round_offsets(op="floor").round_lengths(op="ceil")
                window = Window(window.col_off - 1, window.row_off - 1, window.width + 2, window.height + 2)
                window = window.intersection(full)
            except WindowError:  # the two do not intersect
                window = None
            if window is None or window.width <= 0 or window.height <= 0:
                raise DataError(
                    f"{path}: the population raster (in {src_crs}) does not overlap the road network; check the "
                    "file and its CRS"
                )
            data = src.read(1, window=window, masked=True)
            transform = src.transform
            row_off, col_off = int(window.row_off), int(window.col_off)
            nodata = src.nodata
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot read the raster ({type(exc).__name__}: {exc})") from None
    values = np.ma.filled(data.astype(float), np.nan)
    rows, cols = np.nonzero(np.isfinite(values))
    vals = values[rows, cols]
    xs, ys = rasterio.transform.xy(transform, rows + row_off, cols + col_off)
    tr = Transformer.from_crs(src_crs, crs, always_xy=True)
    px, py = tr.transform(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    minx, miny, maxx, maxy = bounds
    inside = (px >= minx) & (px <= maxx) & (py >= miny) & (py <= maxy)
    if not inside.any():
        raise DataError(
            f"{path}: the population raster has no data pixel inside the road network's extent; check the file and "
            "its CRS"
        )
    negative = inside & (vals < 0)
    if negative.any():
        declared = "no nodata value declared" if nodata is None else f"nodata declared as {nodata:g}"
        raise DataError(
            f"{path}: {int(negative.sum())} pixel(s) in the study area are negative (min {vals[negative].min():g}; "
            f"{declared}): persons per pixel cannot be negative; declare the file's nodata value "
            "(e.g. gdal_edit.py -a_nodata VALUE) or fix the values"
        )
    keep = inside & (vals > 0)
    if not keep.any():
        raise DataError(
            f"{path}: every pixel of the population raster inside the road network's extent is zero: no residents to "
            "plan for; check that the file holds persons per pixel and covers the city (or give data.population_total)"
        )
    return gpd.GeoDataFrame({"population": vals[keep]}, geometry=gpd.points_from_xy(px[keep], py[keep]), crs=crs)
