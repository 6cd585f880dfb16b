"""The online source: :func:`fetch_osm` downloads a place name or bounding box through osmnx (with its
response cache) and returns the same layers as the local readers; :func:`overpass_filter` is the
way filter of a travel mode."""


from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import shapely

from charge_planner.errors import DataError
from charge_planner.osm.layers import (
    OsmLayers,
    depot_land_from_features,
    empty_buildings,
    empty_depot_land,
    empty_pois,
    empty_power,
    layers_from_features,
)
from charge_planner.osm.roads import filter_graph_mode
from charge_planner.osm.tags import (
    _SERVICE_EXCLUDED,
    _TAGGED_ONLY_2W,
    CAR_CLASSES,
    EDGE_TAGS,
    FEATURE_KEYS,
    MODES,
    TWO_WHEELER_CLASSES,
)


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
