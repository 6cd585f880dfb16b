"""Road networks and map layers from OpenStreetMap extracts and road files.

Readers
-------
* :func:`read_osm` reads an OSM extract — XML (``.osm``, ``.osm.gz``, ``.osm.bz2``, also with
  ``.osm.xml``) or PBF (``.osm.pbf``, ``.pbf``) — streaming with pyosmium, in three filtered passes (memory follows what is kept, not the file), and returns
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

Modules
-------
* :mod:`~charge_planner.osm.tags`: travel-mode rules, tag and column lists, file name endings.
* :mod:`~charge_planner.osm.layers`: :class:`OsmLayers`; buildings, POIs, power, depot land.
* :mod:`~charge_planner.osm.read`: the pyosmium XML/PBF streaming reader.
* :mod:`~charge_planner.osm.roads`: GraphML, GeoPackage and GeoParquet road files.
* :mod:`~charge_planner.osm.online`: the osmnx download with its cache.
"""

from charge_planner.osm.layers import (
    OsmLayers,
    depot_land_from_features,
    empty_buildings,
    empty_depot_land,
    empty_pois,
    empty_power,
    layers_from_features,
    poi_kind,
    project_layers,
    substations_from_power,
)
from charge_planner.osm.online import fetch_osm, layers_from_download, overpass_filter
from charge_planner.osm.read import read_osm
from charge_planner.osm.roads import filter_graph_mode, graph_from_tables, read_road_network
from charge_planner.osm.tags import (
    BUILDING_COLUMNS,
    CAR_CLASSES,
    DEPOT_LAND_COLUMNS,
    DEPOT_LAND_KINDS,
    EDGE_TAGS,
    FEATURE_COLUMNS,
    FEATURE_KEYS,
    MODES,
    OSM_ATTRIBUTION,
    OSM_SUFFIXES,
    POI_COLUMNS,
    POI_KINDS,
    POWER_COLUMNS,
    POWER_KINDS,
    ROAD_FILE_TYPES,
    TWO_WHEELER_CLASSES,
    Mode,
    as_list,
    oneway_of,
    osm_format,
    way_allowed,
)
from charge_planner.osm.tags import as_list as _as_list

__all__ = [
    "BUILDING_COLUMNS",
    "CAR_CLASSES",
    "DEPOT_LAND_COLUMNS",
    "DEPOT_LAND_KINDS",
    "EDGE_TAGS",
    "FEATURE_COLUMNS",
    "FEATURE_KEYS",
    "MODES",
    "OSM_ATTRIBUTION",
    "OSM_SUFFIXES",
    "POI_COLUMNS",
    "POI_KINDS",
    "POWER_COLUMNS",
    "POWER_KINDS",
    "ROAD_FILE_TYPES",
    "TWO_WHEELER_CLASSES",
    "Mode",
    "OsmLayers",
    "_as_list",
    "as_list",
    "depot_land_from_features",
    "empty_buildings",
    "empty_depot_land",
    "empty_pois",
    "empty_power",
    "fetch_osm",
    "filter_graph_mode",
    "graph_from_tables",
    "layers_from_download",
    "layers_from_features",
    "oneway_of",
    "osm_format",
    "overpass_filter",
    "poi_kind",
    "project_layers",
    "read_osm",
    "read_road_network",
    "substations_from_power",
    "way_allowed",
]
