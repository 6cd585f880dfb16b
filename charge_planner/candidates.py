"""Candidate sites: from points of interest (parking, fuel, malls, markets, bus stations and
depots, existing charging stations), generated depot candidates on OSM land where a depot could
stand when the plan has depot-only demand and no tagged depot or bus station, and, optionally,
generated at well-spread major-road junctions where POIs are sparse.

The ``candidates`` table (DESIGN data contract) is indexed by ``site_id`` and has
``geometry`` (Point), ``source``, ``kind``, ``name``, ``node_id`` (the end of the nearest
street nearer along it), ``access_m`` (straight-line distance to that street) [m],
``max_chargers``, ``fixed_cost_usd`` [USD], ``existing_chargers`` (dict type -> count),
``allowed_types`` (tuple of charger types allowed there), ``excluded_reason``, ``area_m2``
(of the land a generated depot candidate stands on, else NaN) [m2] and ``flag`` (
:data:`GENERATED_DEPOT_FLAG` for generated depot candidates, else "").

Generated depot candidates
--------------------------
Bus chargers may stand only at bus stations and depots. An extract that tags neither leaves all
bus demand without a candidate, however large the budget. :func:`depot_sites` then proposes
candidates of kind ``generated_depot`` (``source`` ``generated_depot:<land kind>``) on the
land of :func:`charge_planner.osm.depot_land_from_features`: depot and industrial land, large
off-street parking and the ends of bus routes first, then commercial and retail land; polygons
of at least ``min_area_m2``, largest first, at least ``spacing_m`` apart, at most ``max_n``.
They are not depots: every output labels them with :data:`GENERATED_DEPOT_FLAG`.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from charge_planner.errors import DataError
from charge_planner.network.snap import snap_to_edges

log = logging.getLogger(__name__)

SITE_KINDS: tuple[str, ...] = (
    "parking",
    "fuel",
    "mall",
    "market",
    "bus_station",
    "bus_depot",
    "charging_station",
)
DEPOT_KINDS: frozenset[str] = frozenset({"bus_station", "bus_depot"})
#: Kind of a generated depot candidate; like :data:`DEPOT_KINDS`, it may host bus chargers.
GENERATED_DEPOT = "generated_depot"
#: Label of a generated depot candidate in every output.
GENERATED_DEPOT_FLAG = "generated depot candidate (not a tagged depot; check on site)"
#: Land kinds ranked first (a depot stands on such land or on a large parking); the rest follow.
_DEPOT_LAND_FIRST = frozenset({"landuse_depot", "landuse_industrial", "parking", "route_terminal"})
#: Segments whose chargers stand at ordinary sites; a type serving any of them is no bus-only charger.
LIGHT_SEGMENTS: frozenset[str] = frozenset({"two_wheeler", "three_wheeler", "car"})
MAJOR_ROADS: frozenset[str] = frozenset({"trunk", "primary", "secondary", "tertiary"})


def generated_sites(graph: nx.MultiDiGraph, n: int, *, avoid: gpd.GeoSeries | None = None) -> gpd.GeoDataFrame:
    """Spread ``n`` candidate points over the junctions of major roads (farthest-point sampling).

    Parameters
    ----------
    graph
        Prepared road graph.
    n
        Number of points wanted.
    avoid
        Existing candidate points that count as already chosen.
    """
    if n <= 0:
        return gpd.GeoDataFrame({"kind": pd.Series(dtype=object), "name": pd.Series(dtype=object)}, geometry=[],
                                crs=graph.graph["crs"])
    nodes = sorted(
        {u for u, _, d in graph.edges(data=True) if str(d.get("highway")).removesuffix("_link") in MAJOR_ROADS}
    )
    if not nodes:
        nodes = sorted(graph.nodes)
    xy = np.array([[graph.nodes[v]["x"], graph.nodes[v]["y"]] for v in nodes])
    chosen: list[int] = []
    if avoid is not None and len(avoid):
        base = np.column_stack([avoid.x.to_numpy(), avoid.y.to_numpy()])
        dmin = np.min(np.hypot(xy[:, None, 0] - base[None, :, 0], xy[:, None, 1] - base[None, :, 1]), axis=1)
    else:
        centre = xy.mean(axis=0)
        first = int(np.argmin(np.hypot(*(xy - centre).T)))
        chosen.append(first)
        dmin = np.hypot(*(xy - xy[first]).T)
    while len(chosen) < min(n, len(nodes)):
        k = int(np.argmax(dmin))
        if dmin[k] <= 0:
            break
        chosen.append(k)
        dmin = np.minimum(dmin, np.hypot(*(xy - xy[k]).T))
    pts = gpd.points_from_xy(xy[chosen, 0], xy[chosen, 1])
    return gpd.GeoDataFrame(
        {"kind": "road_junction", "name": [f"Junction {i + 1}" for i in range(len(chosen))]},
        geometry=pts,
        crs=graph.graph["crs"],
    )


def depot_only_segments(charger_types: pd.DataFrame) -> set[str]:
    """Segments that only bus chargers serve (types serving no car, two- or three-wheeler), so that
    only depots and bus stations can host their charging."""
    bus_types = {t for t, segs in charger_types["segments"].items() if "bus" in segs and not set(segs) & LIGHT_SEGMENTS}
    served_elsewhere = {s for t, segs in charger_types["segments"].items() if t not in bus_types for s in segs}
    return {s for t in bus_types for s in charger_types.loc[t, "segments"]} - served_elsewhere


def depot_sites(
    land: gpd.GeoDataFrame,
    *,
    min_area_m2: float,
    spacing_m: float,
    max_n: int,
) -> gpd.GeoDataFrame:
    """Depot candidates on land where a depot could stand (none tagged), ranked and thinned.

    Parameters
    ----------
    land
        Depot land (:func:`charge_planner.osm.depot_land_from_features`) in a projected metric CRS.
    min_area_m2
        Smallest polygon kept [m2]; route terminals (points) are kept whatever this is.
    spacing_m
        Smallest distance between two candidates [m].
    max_n
        Largest number of candidates.

    Returns
    -------
    geopandas.GeoDataFrame
        ``kind`` (``generated_depot``), ``name``, ``source`` (``generated_depot:<land kind>``),
        ``area_m2`` [m2] and a Point inside each chosen polygon, best first: depot and industrial
        land, parking and route ends before commercial and retail land, larger before smaller.
    """
    cols = {"kind": pd.Series(dtype=object), "name": pd.Series(dtype=object), "source": pd.Series(dtype=object),
            "area_m2": pd.Series(dtype=float)}
    if land is None or len(land) == 0 or max_n <= 0:
        return gpd.GeoDataFrame(cols, geometry=[], crs=None if land is None else land.crs)
    area = land["area_m2"].to_numpy(dtype=float)
    point = ~land.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    keep = point | (area >= min_area_m2)
    cand = land[keep].copy()
    cand["_tier"] = np.where(cand["kind"].isin(_DEPOT_LAND_FIRST), 0, 1)
    cand["_point"] = point[keep].astype(int)
    cand = cand.sort_values(["_tier", "_point", "area_m2", "land_id"], ascending=[True, True, False, True])
    pts = cand.geometry.representative_point()
    xy = np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])
    chosen: list[int] = []
    for i in range(len(cand)):
        if len(chosen) >= max_n:
            break
        if chosen and np.min(np.hypot(*(xy[chosen] - xy[i]).T)) < spacing_m:
            continue
        chosen.append(i)
    pick = cand.iloc[chosen]
    names = [n if n else f"{k.replace('landuse_', '').replace('_', ' ')} land {lid}" if k != "route_terminal" else lid
             for n, k, lid in zip(pick["name"].astype(str), pick["kind"].astype(str), pick["land_id"].astype(str),
                                  strict=True)]
    out = gpd.GeoDataFrame(
        {"kind": GENERATED_DEPOT, "name": names, "source": ("generated_depot:" + pick["kind"].astype(str)).to_numpy(),
         "area_m2": pick["area_m2"].to_numpy(dtype=float)},
        geometry=pts.iloc[chosen].to_numpy(), crs=land.crs,
    )
    log.info("depot candidates generated on OSM land (no tagged depot or bus station): %d of %d with at least "
             "%.0f m2 (%s)", len(out), int(keep.sum()), min_area_m2, ", ".join(out["source"]))
    return out


def build_candidates(
    pois: gpd.GeoDataFrame,
    graph: nx.MultiDiGraph,
    charger_types: pd.DataFrame,
    *,
    max_chargers: int,
    fixed_cost_usd: float,
    generated: int = 0,
    max_access_m: float = 500.0,
    depot_land: gpd.GeoDataFrame | None = None,
    depot_min_area_m2: float = 5000.0,
    depot_spacing_m: float = 1000.0,
    max_generated_depots: int = 5,
) -> gpd.GeoDataFrame:
    """Build the ``candidates`` table.

    Parameters
    ----------
    pois
        Points of interest with ``kind`` and ``name`` in the graph's CRS.
    graph
        Prepared road graph.
    charger_types
        Charger table (``grid_level``, ``segments``); bus chargers (types that serve buses and
        no car, two- or three-wheeler) are allowed only at bus stations and depots.
    max_chargers
        Per-site maximum number of chargers.
    fixed_cost_usd
        Cost of opening a new site [USD]; existing charging stations cost nothing to open.
    generated
        Number of extra candidates spread over major-road junctions.
    max_access_m
        POIs farther than this from the nearest street are excluded (``excluded_reason``).
    depot_land
        Land where a depot could stand (projected like ``graph``); given when the plan has demand
        only depots can host (:func:`depot_only_segments`). When no POI is a bus station or depot,
        :func:`depot_sites` proposes candidates on it, flagged :data:`GENERATED_DEPOT_FLAG`.
    depot_min_area_m2, depot_spacing_m, max_generated_depots
        Smallest land polygon [m2], smallest spacing [m] and largest number of generated depot
        candidates (see :func:`depot_sites`).
    """
    if "kind" not in pois.columns:
        raise DataError("POI layer has no 'kind' column")
    use = pois[pois["kind"].isin(SITE_KINDS)].copy()
    use["source"] = "poi:" + use["kind"].astype(str)
    parts = [use[["kind", "name", "source", "geometry"]]]
    if depot_land is not None and not use["kind"].isin(DEPOT_KINDS).any():
        dep = depot_sites(depot_land.to_crs(graph.graph["crs"]) if len(depot_land) else depot_land,
                          min_area_m2=depot_min_area_m2, spacing_m=depot_spacing_m, max_n=max_generated_depots)
        if len(dep):
            parts.append(dep[["kind", "name", "source", "area_m2", "geometry"]])
        else:
            log.warning("no tagged bus depot or bus station and no land for a depot candidate (depot, industrial, "
                        "commercial or retail land or parking of at least %.0f m2, or a bus route end): demand only "
                        "depots can host stays unserved", depot_min_area_m2)
    known = pd.concat([p.geometry for p in parts if len(p)]) if any(len(p) for p in parts) else None
    gen = generated_sites(graph, generated, avoid=known)
    gen["source"] = "generated"
    parts.append(gen[["kind", "name", "source", "geometry"]])
    cand = pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
    if "area_m2" not in cand.columns:
        cand["area_m2"] = np.nan
    cand = gpd.GeoDataFrame(cand, geometry="geometry", crs=graph.graph["crs"])
    if cand.empty:
        raise DataError(
            "no candidate sites: the POI layer has no parking, fuel, mall, market, bus or charging POIs; "
            "set siting.generated_candidates to generate sites on major roads"
        )
    cand.index = pd.Index([f"s{i:04d}" for i in range(len(cand))], name="site_id")
    snap = snap_to_edges(graph, cand)  # distance to the nearest street, not to its nearest junction
    cand["node_id"] = snap["node_id"].to_numpy()
    cand["access_m"] = snap["access_m"].to_numpy(dtype=float)
    cand["name"] = cand["name"].fillna("").astype(str)
    cand["max_chargers"] = int(max_chargers)
    existing = cand["kind"].eq("charging_station")
    cand["fixed_cost_usd"] = np.where(existing, 0.0, float(fixed_cost_usd))
    cand["existing_chargers"] = [{} for _ in range(len(cand))]
    # a bus charger (one that serves buses and no light vehicle) belongs at a bus station or depot; a
    # type that also serves cars or two- and three-wheelers may stand anywhere
    bus_types = {t for t, segs in charger_types["segments"].items() if "bus" in segs and not set(segs) & LIGHT_SEGMENTS}
    all_types = tuple(charger_types.index)
    depot = cand["kind"].isin(DEPOT_KINDS | {GENERATED_DEPOT}).to_numpy()
    cand["allowed_types"] = [all_types if d else tuple(t for t in all_types if t not in bus_types) for d in depot]
    cand["excluded_reason"] = np.where(cand["access_m"] > max_access_m, f"more than {max_access_m:.0f} m from a road", "")
    cand["area_m2"] = cand["area_m2"].astype(float)
    cand["flag"] = np.where(cand["kind"].eq(GENERATED_DEPOT), GENERATED_DEPOT_FLAG, "")
    n_ex = int((cand["excluded_reason"] != "").sum())
    log.info(
        "candidates: %d (%s), %d excluded",
        len(cand),
        ", ".join(f"{k} {v}" for k, v in cand["kind"].value_counts().sort_index().items()),
        n_ex,
    )
    return cand
