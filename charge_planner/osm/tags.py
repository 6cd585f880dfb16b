"""OSM tag rules shared by every reader: travel modes and their road classes, access and one-way
rules, the tag lists kept on edges and features, the layer column lists, OSM file name endings and
:func:`as_list` (a tag value that osmnx may have merged into a list)."""


from __future__ import annotations

import ast
import logging
import math
from pathlib import Path
from typing import Literal

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

def as_list(value: object) -> list[object]:
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
