"""Points of interest of a synthetic city: markets, malls, parking, fuel, bus and charging stations.

POIs are placed 8-25 m from road nodes, drawn with probabilities that follow the population
density, the arterials, the outer arterials or the centre and sub-centres, with a minimum
spacing per kind. Counts per kind are either drawn within :data:`POI_COUNT_RANGES` (``"legacy"``,
the demo city's fixed ranges) or scale with the population (``"densities"``):
:data:`POI_DENSITY_PER_100K` persons, from the OSM extracts of real cities (docs/sources.md P9).
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
from shapely.geometry import Point

from charge_planner.synthetic.layout import Box, FloatArray, IntArray, _density_shape

POI_KINDS: tuple[str, ...] = (
    "market",
    "mall",
    "parking",
    "fuel",
    "bus_depot",
    "bus_station",
    "charging_station",
)
"""Values of the ``kind`` column of :attr:`SyntheticCity.pois`, in the order they are placed."""

POI_COUNT_RANGES: dict[str, tuple[int, int]] = {
    "market": (12, 18),
    "mall": (3, 6),
    "parking": (35, 55),
    "fuel": (12, 18),
    "bus_depot": (1, 2),
    "bus_station": (3, 6),
    "charging_station": (2, 5),
}
"""Inclusive range of the number of POIs of each kind (``poi_counts="legacy"``)."""

#: Persons of the default demo city the legacy ranges were set for: the middle of its drawn total [persons].
_LEGACY_PERSONS = 550_000.0

POI_DENSITY_PER_100K: dict[str, float] = {
    "market": 0.5 * sum(POI_COUNT_RANGES["market"]) / _LEGACY_PERSONS * 1e5,
    "mall": 8.70,
    "parking": 20.89,
    "fuel": 6.25,
    "bus_depot": 0.5 * sum(POI_COUNT_RANGES["bus_depot"]) / _LEGACY_PERSONS * 1e5,
    "bus_station": 0.5 * sum(POI_COUNT_RANGES["bus_station"]) / _LEGACY_PERSONS * 1e5,
    "charging_station": 0.5 * sum(POI_COUNT_RANGES["charging_station"]) / _LEGACY_PERSONS * 1e5,
}
"""POIs of each kind per 100,000 persons (``poi_counts="densities"``) [1/100,000 persons].

Mall, parking and fuel: the median over the OSM extracts of Bengaluru, Ho Chi Minh City, Kathmandu
and Makati (docs/sources.md P9.02-P9.04). Markets, bus depots, bus stations and charging stations
appear in at most two of the four extracts, too few to measure; they keep the demo's rate (the
middle of :data:`POI_COUNT_RANGES` per 550,000 persons; an assumption, P9.01 and P9.05-P9.07).
"""

POI_COUNT_MODES: tuple[str, ...] = ("legacy", "densities")
"""How the POI counts are set: the demo's fixed ranges, or densities per 100,000 persons."""



def poi_count(kind: str, persons: float) -> int:
    """Number of POIs of ``kind`` for ``persons`` with ``poi_counts="densities"``: the density of
    :data:`POI_DENSITY_PER_100K` times the population, rounded [-]."""
    return int(round(POI_DENSITY_PER_100K[kind] * persons / 1e5))


_HIGHWAY_RANK = {"trunk": 0, "primary": 1, "secondary": 2, "tertiary": 3, "residential": 4}


# --------------------------------------------------------------------------- POIs


def _pick(
    rng: np.random.Generator,
    candidates: IntArray,
    weights: FloatArray,
    count: int,
    min_gap_m: float,
    x: FloatArray,
    y: FloatArray,
    taken: list[int] | None = None,
) -> list[int]:
    """Draw ``count`` distinct node indices by weight, at least ``min_gap_m`` apart (relaxed
    by halves when the candidates run out)."""
    if len(candidates) == 0 or count <= 0:
        return []
    p = np.asarray(weights, dtype=float) + 1e-12
    order = candidates[rng.choice(len(candidates), size=len(candidates), replace=False, p=p / p.sum())]
    chosen: list[int] = []
    others = list(taken or [])
    gap = min_gap_m
    while len(chosen) < count and gap > 1.0:
        for n in order:
            if len(chosen) == count:
                break
            if n in chosen:
                continue
            near = others + chosen
            if not near or np.min(np.hypot(x[near] - x[n], y[near] - y[n])) >= gap:
                chosen.append(int(n))
        gap *= 0.5
    return chosen


def _pois(
    rng: np.random.Generator,
    graph: nx.MultiDiGraph,
    box: Box,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
    crs: str,
    *,
    persons: float,
    poi_counts: str = "legacy",
) -> gpd.GeoDataFrame:
    """Points of interest placed 8-25 m from road nodes (see the module docstring); ``persons``
    is the city's population, which sets the counts with ``poi_counts="densities"``."""
    node_ids = np.array(list(graph.nodes), dtype=np.int64)
    x = np.array([graph.nodes[n]["x"] for n in node_ids], dtype=float)
    y = np.array([graph.nodes[n]["y"] for n in node_ids], dtype=float)
    rank = np.full(len(node_ids), 9, dtype=np.int64)
    street: list[str] = [""] * len(node_ids)
    position = {int(n): i for i, n in enumerate(node_ids)}
    for u, v, data in graph.edges(data=True):
        r = _HIGHWAY_RANK[data["highway"]]
        for n in (u, v):
            i = position[n]
            if r < rank[i]:
                rank[i], street[i] = r, data["name"]
    density = _density_shape(x, y, centre, subcentres, radius_m)
    dist_centre = np.hypot(x - centre[0], y - centre[1])
    everywhere = np.arange(len(node_ids))
    arterial = np.flatnonzero(rank <= 2)
    collector = np.flatnonzero(rank <= 3)

    def count(kind: str) -> int:
        if poi_counts == "densities":
            return poi_count(kind, persons)
        low, high = POI_COUNT_RANGES[kind]
        return int(rng.integers(low, high + 1))

    picks: dict[str, list[int]] = {}
    picks["market"] = _pick(rng, everywhere, density[everywhere] ** 1.5, count("market"), 350.0, x, y)
    picks["mall"] = _pick(rng, collector, density[collector] ** 2, count("mall"), 800.0, x, y)
    picks["parking"] = _pick(rng, everywhere, density[everywhere] ** 1.2, count("parking"), 200.0, x, y)
    picks["fuel"] = _pick(rng, arterial, density[arterial] ** 0.3, count("fuel"), 500.0, x, y)
    edge_gap = np.minimum.reduce([x - box[0], box[2] - x, y - box[1], box[3] - y])
    outer = arterial[(dist_centre[arterial] > 0.7 * radius_m) & (edge_gap[arterial] > 400.0)]
    picks["bus_depot"] = _pick(rng, outer, np.ones(len(outer)), count("bus_depot"), 2000.0, x, y)
    hubs = [
        int(arterial[np.argmin(np.hypot(x[arterial] - px, y[arterial] - py))])
        for px, py in (centre, *subcentres)
    ]
    hubs = list(dict.fromkeys(hubs))
    extra = max(0, count("bus_station") - len(hubs))
    picks["bus_station"] = hubs + _pick(rng, arterial, density[arterial], extra, 1000.0, x, y, taken=hubs)
    picks["charging_station"] = _pick(
        rng, collector, density[collector], count("charging_station"), 1000.0, x, y
    )

    labels = {
        "market": "Market",
        "mall": "Mall",
        "parking": "Parking",
        "fuel": "Fuel Station",
        "bus_depot": "Bus Depot",
        "bus_station": "Bus Station",
        "charging_station": "EV Charging Station",
    }
    rows: list[dict[str, Any]] = []
    for kind in POI_KINDS:
        chosen = picks[kind]
        if kind in ("market", "bus_station") and chosen:  # the most central one is "Central ..."
            central = min(chosen, key=lambda n: dist_centre[n])
            chosen = [central] + [n for n in chosen if n != central]
        for j, n in enumerate(chosen):
            if j == 0 and kind in ("market", "bus_station"):
                name = f"Central {labels[kind]} (synthetic)"
            else:
                name = f"{labels[kind]} {j + 1}, {street[n]} (synthetic)"
            angle, offset = rng.uniform(0.0, 2 * math.pi), rng.uniform(8.0, 25.0)
            rows.append(
                {
                    "poi_id": f"poi-{len(rows) + 1:04d}",
                    "kind": kind,
                    "name": name,
                    "geometry": Point(x[n] + offset * math.cos(angle), y[n] + offset * math.sin(angle)),
                }
            )
    return gpd.GeoDataFrame(
        rows, columns=["poi_id", "kind", "name", "geometry"], geometry="geometry", crs=crs
    )
