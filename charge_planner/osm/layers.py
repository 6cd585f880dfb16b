"""Map layers from OSM features: :class:`OsmLayers`, buildings, points of interest, power
infrastructure, land where a depot could stand, substations, empty layers and :func:`project_layers`."""


from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from charge_planner.osm.tags import (
    _NO_BUS_PARKING,
    BUILDING_COLUMNS,
    DEPOT_LAND_COLUMNS,
    FEATURE_COLUMNS,
    POI_COLUMNS,
    POI_KINDS,
    POWER_COLUMNS,
    POWER_KINDS,
)

log = logging.getLogger(__name__)

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


def project_layers(layers: Iterable[gpd.GeoDataFrame], crs: str) -> list[gpd.GeoDataFrame]:
    """Project layers to ``crs`` (empty layers get the CRS)."""
    return [layer.to_crs(crs) if layer.crs is not None else layer.set_crs(crs) for layer in layers]
