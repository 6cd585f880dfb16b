"""Candidate sites: from points of interest (parking, fuel, malls, markets, bus stations and
depots, existing charging stations) and, optionally, generated at well-spread major-road
junctions where POIs are sparse.

The ``candidates`` table (DESIGN data contract) is indexed by ``site_id`` and has
``geometry`` (Point), ``source``, ``kind``, ``name``, ``node_id`` (the end of the nearest
street nearer along it), ``access_m`` (straight-line distance to that street) [m],
``max_chargers``, ``fixed_cost_usd`` [USD], ``existing_chargers`` (dict type -> count),
``allowed_types`` (tuple of charger types allowed there) and ``excluded_reason``.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

from charge_planner.errors import DataError
from charge_planner.network import snap_to_edges

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


def build_candidates(
    pois: gpd.GeoDataFrame,
    graph: nx.MultiDiGraph,
    charger_types: pd.DataFrame,
    *,
    max_chargers: int,
    fixed_cost_usd: float,
    generated: int = 0,
    max_access_m: float = 500.0,
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
    """
    if "kind" not in pois.columns:
        raise DataError("POI layer has no 'kind' column")
    use = pois[pois["kind"].isin(SITE_KINDS)].copy()
    use["source"] = "poi:" + use["kind"].astype(str)
    gen = generated_sites(graph, generated, avoid=use.geometry if len(use) else None)
    gen["source"] = "generated"
    cand = pd.concat([use[["kind", "name", "source", "geometry"]], gen[["kind", "name", "source", "geometry"]]], ignore_index=True)
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
    depot = cand["kind"].isin(DEPOT_KINDS).to_numpy()
    cand["allowed_types"] = [all_types if d else tuple(t for t in all_types if t not in bus_types) for d in depot]
    cand["excluded_reason"] = np.where(cand["access_m"] > max_access_m, f"more than {max_access_m:.0f} m from a road", "")
    n_ex = int((cand["excluded_reason"] != "").sum())
    log.info(
        "candidates: %d (%s), %d excluded",
        len(cand),
        ", ".join(f"{k} {v}" for k, v in cand["kind"].value_counts().sort_index().items()),
        n_ex,
    )
    return cand
