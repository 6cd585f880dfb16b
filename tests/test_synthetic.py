"""Tests of the synthetic demo-city generator (offline, about 0.5 s per generated city)."""

from __future__ import annotations

import collections
import functools
import math
import re
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
from scipy.spatial import cKDTree

from charge_planner import load_city
from charge_planner.synthetic import (
    CITY_NAME,
    ORIGIN_M,
    POI_KINDS,
    SyntheticCity,
    city_bounds,
    generate_city,
)

# documented ranges of the generator (inclusive)
POI_RANGES = {
    "market": (10, 20),
    "mall": (3, 6),
    "parking": (30, 60),
    "fuel": (10, 20),
    "bus_depot": (1, 2),
    "bus_station": (3, 6),
    "charging_station": (2, 5),
}
HIGHWAYS = {"trunk", "primary", "secondary", "tertiary", "residential"}
ARTERIALS = {"trunk", "primary", "secondary"}


@functools.cache
def _city(seed: int) -> SyntheticCity:
    return generate_city(seed)


@pytest.fixture(scope="module", params=[42, 7, 2024])
def city(request: pytest.FixtureRequest) -> SyntheticCity:
    return _city(request.param)


@pytest.fixture(scope="module")
def default_city() -> SyntheticCity:
    return _city(42)


def _node_xy(graph: nx.MultiDiGraph) -> np.ndarray:
    return np.array([[d["x"], d["y"]] for _, d in graph.nodes(data=True)])


def _bridges(graph: nx.MultiDiGraph) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v, b in graph.edges(data="bridge") if b == "yes"}


def test_same_seed_gives_identical_city(default_city: SyntheticCity) -> None:
    again = generate_city(42)
    assert list(again.roads.nodes(data=True)) == list(default_city.roads.nodes(data=True))
    assert again.roads.number_of_edges() == default_city.roads.number_of_edges()
    assert [(u, v, d["length"], d["name"]) for u, v, d in again.roads.edges(data=True)] == [
        (u, v, d["length"], d["name"]) for u, v, d in default_city.roads.edges(data=True)
    ]
    assert again.population["population"].sum() == default_city.population["population"].sum()
    assert again.pois.drop(columns="geometry").equals(default_city.pois.drop(columns="geometry"))
    assert again.pois.geometry.geom_equals_exact(default_city.pois.geometry, tolerance=0.0).all()
    assert again.river.equals_exact(default_city.river, tolerance=0.0)
    assert again.description == default_city.description


def test_different_seed_gives_different_city(default_city: SyntheticCity) -> None:
    other = generate_city(43)
    a, b = _node_xy(other.roads), _node_xy(default_city.roads)
    assert a.shape != b.shape or not np.allclose(a, b)
    assert other.population["population"].sum() != default_city.population["population"].sum()
    assert not other.river.equals(default_city.river)


def test_labelled_synthetic(default_city: SyntheticCity) -> None:
    graph = default_city.roads
    assert graph.graph["name"] == CITY_NAME and "(synthetic)" in graph.graph["name"]
    assert graph.graph["synthetic"] is True
    assert graph.graph["crs"] == default_city.crs == "EPSG:32643"
    assert "synthetic" in default_city.description.lower()
    assert default_city.pois["name"].str.endswith("(synthetic)").all()
    assert default_city.seed == 42


def test_graph_strongly_connected_and_sized(city: SyntheticCity) -> None:
    graph = city.roads
    assert nx.is_strongly_connected(graph)
    assert 4000 <= graph.number_of_edges() <= 8000
    assert nx.number_of_selfloops(graph) == 0
    assert all(k == 0 for _, _, k in graph.edges(keys=True))  # no parallel edges
    assert {d["highway"] for _, _, d in graph.edges(data=True)} == HIGHWAYS


def test_nodes_inside_the_box(default_city: SyntheticCity) -> None:
    xy = _node_xy(default_city.roads)
    assert xy.dtype == float
    x0, y0 = ORIGIN_M
    assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x0 + 9000).all()
    assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y0 + 7000).all()
    assert len(np.unique(xy.round(3), axis=0)) == len(xy)  # no two nodes at one place
    minx, miny, maxx, maxy = city_bounds(default_city)
    assert minx == pytest.approx(x0) and miny == pytest.approx(y0)
    assert maxx == pytest.approx(x0 + 9000) and maxy == pytest.approx(y0 + 7000)


def test_edge_attributes(city: SyntheticCity) -> None:
    graph = city.roads
    for u, v, d in graph.edges(data=True):
        geom = d["geometry"]
        assert d["length"] > 0
        assert d["length"] == pytest.approx(geom.length, rel=1e-6)
        assert geom.coords[0] == (graph.nodes[u]["x"], graph.nodes[u]["y"])
        assert geom.coords[-1] == (graph.nodes[v]["x"], graph.nodes[v]["y"])
        assert d["highway"] in HIGHWAYS
        assert isinstance(d["name"], str) and d["name"]
        assert isinstance(d["oneway"], bool)
        assert isinstance(d["lanes"], int) and d["lanes"] >= 1
        if d["oneway"]:
            assert not graph.has_edge(v, u)
        else:  # two-way streets appear in both directions with the reversed geometry
            back = graph.edges[v, u, 0]
            assert back["name"] == d["name"] and back["geometry"].equals(shapely.reverse(geom))
    names = {d["name"] for _, _, d in graph.edges(data=True)}
    assert "Ring Road" in names and any(n.startswith("Arterial ") for n in names)
    assert any(n.startswith("Street ") for n in names)


def test_only_bridges_cross_the_river(city: SyntheticCity) -> None:
    edges = list(city.roads.edges(data=True))
    geoms = np.array([d["geometry"] for _, _, d in edges], dtype=object)
    is_bridge = np.array([d.get("bridge") == "yes" for _, _, d in edges])
    crosses = shapely.intersects(geoms, city.river)
    assert not (crosses & ~is_bridge).any()
    assert crosses[is_bridge].all()
    bridges = _bridges(city.roads)
    assert 3 <= len(bridges) <= 5
    assert {city.roads.edges[u, v, 0]["highway"] for u, v in bridges} <= ARTERIALS
    # the river splits the city: without its bridges the graph falls apart
    cut = city.roads.copy()
    cut.remove_edges_from([(u, v) for u, v in bridges] + [(v, u) for u, v in bridges])
    assert not nx.is_strongly_connected(cut)


def test_population_total_and_not_in_river(city: SyntheticCity) -> None:
    pop = city.population
    assert pop.crs == city.crs
    assert (pop.geom_type == "Point").all()
    assert 400_000 <= pop["population"].sum() <= 700_000
    assert (pop["population"] > 0).all()
    assert not shapely.contains_xy(city.river, pop.geometry.x, pop.geometry.y).any()


def test_population_density_falls_off(city: SyntheticCity) -> None:
    pop = city.population
    r = np.hypot(pop.geometry.x - city.centre.x, pop.geometry.y - city.centre.y)
    core = pop["population"][r < 1500].mean()
    outer = pop["population"][r > 3000].mean()  # all pixels have the same area
    assert core > 3 * outer


def test_street_density_falls_off(city: SyntheticCity) -> None:
    xy = _node_xy(city.roads)
    r = np.hypot(xy[:, 0] - city.centre.x, xy[:, 1] - city.centre.y)
    core_per_km2 = (r < 1500).sum() / (math.pi * 1.5**2)
    outer_per_km2 = (r > 3000).sum() / (9 * 7 - math.pi * 3.0**2)
    assert core_per_km2 > 3 * outer_per_km2


def test_poi_counts_and_columns(city: SyntheticCity) -> None:
    pois = city.pois
    assert pois.crs == city.crs
    assert list(pois.columns) == ["poi_id", "kind", "name", "geometry"]
    assert pois["poi_id"].is_unique and pois["poi_id"].str.fullmatch(r"poi-\d{4}").all()
    assert set(pois["kind"]) <= set(POI_KINDS)
    counts = collections.Counter(pois["kind"])
    for kind, (low, high) in POI_RANGES.items():
        assert low <= counts[kind] <= high, kind
    assert (pois["name"] == "Central Market (synthetic)").sum() == 1


def test_pois_next_to_road_nodes(city: SyntheticCity) -> None:
    graph = city.roads
    nodes = list(graph.nodes)
    tree = cKDTree(_node_xy(graph))
    dist, idx = tree.query(np.column_stack([city.pois.geometry.x, city.pois.geometry.y]))
    assert dist.max() <= 50.0
    # fuel stations sit on the arterials or the ring road
    for i in np.flatnonzero((city.pois["kind"] == "fuel").to_numpy()):
        highways = {d["highway"] for _, _, d in graph.edges(nodes[idx[i]], data=True)}
        assert highways & ARTERIALS
    # bus depots are on the outskirts, beyond the ring road
    depots = city.pois[city.pois["kind"] == "bus_depot"]
    assert (depots.distance(city.centre) > 2500).all()


def test_osmnx_graph_to_gdfs(default_city: SyntheticCity) -> None:
    nodes, edges = ox.graph_to_gdfs(default_city.roads)
    assert nodes.crs == edges.crs == default_city.crs
    assert len(nodes) == default_city.roads.number_of_nodes()
    assert len(edges) == default_city.roads.number_of_edges()
    assert {"length", "highway", "name", "oneway", "lanes", "bridge"} <= set(edges.columns)
    undirected = ox.convert.to_undirected(default_city.roads)
    assert undirected.number_of_edges() == len(
        {(min(u, v), max(u, v)) for u, v in default_city.roads.edges()}
    )


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="projected CRS in metres"):
        generate_city(crs="EPSG:4326")
    with pytest.raises(ValueError, match="width_m"):
        generate_city(width_m=500.0)
    with pytest.raises(ValueError, match="population"):
        generate_city(population=10.0)
    with pytest.raises(ValueError, match="poi_counts"):
        generate_city(poi_counts="many")


# --------------------------------------------------------------------------- metro size

ROOT = Path(__file__).resolve().parents[1]


def _published_densities() -> dict[str, float]:
    """POIs per 100,000 persons used by the generator, read from docs/sources.md (rows P9.xx)."""
    text = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| P9\.\d\d \| (\w+) \|.*\*\*used: ([\d.]+) per 100,000 persons", text, flags=re.M)
    return {kind: float(value) for kind, value in rows}


def _assert_counts_follow_densities(pois, persons: float) -> None:
    published = _published_densities()
    assert set(published) == set(POI_KINDS)
    counts = collections.Counter(pois["kind"])
    for kind, per_100k in published.items():
        want = per_100k * persons / 1e5
        # rounding to a whole POI, and the table's rounding of the density to its last digit
        digits = len(str(per_100k).split(".")[1])
        assert abs(counts[kind] - want) <= 0.5 + 0.5 * 10**-digits * persons / 1e5, (kind, counts[kind], want)


def test_metro_city_from_city_toml(tmp_path: Path) -> None:
    """[data] width_m, height_m and population give a city of that extent (roads within a street
    spacing of the box) and that population (within 1 %), with POI counts from the published
    densities per 100,000 persons."""
    toml = (ROOT / "sample_cities" / "demo_city" / "city.toml").read_text(encoding="utf-8")
    toml = toml.replace('source = "synthetic"\n',
                        'source = "synthetic"\nwidth_m = 20_000\nheight_m = 16_000\npopulation = 3_000_000\n')
    (tmp_path / "city.toml").write_text(toml, encoding="utf-8")
    city = load_city(tmp_path)
    assert city.config.data.synthetic_poi_counts == "densities"
    xy = _node_xy(city.roads)
    width, height = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    assert 20_000 - 500 <= width <= 20_000 and 16_000 - 500 <= height <= 16_000  # streets at most 500 m apart
    persons = float(city.population["population"].sum())
    assert abs(persons - 3_000_000) <= 0.01 * 3_000_000
    _assert_counts_follow_densities(city.pois, persons)


def test_poi_counts_of_a_20_km_city_follow_the_densities() -> None:
    """A 20 km x 20 km city with the drawn population: POI counts = density x persons, rounded;
    the default counts stay the demo's fixed ranges."""
    city = generate_city(width_m=20_000, height_m=20_000, poi_counts="densities")
    persons = float(city.population["population"].sum())
    assert persons > 2_500_000  # the drawn total grows with the area
    _assert_counts_follow_densities(city.pois, persons)
    legacy = collections.Counter(generate_city(width_m=20_000, height_m=20_000).pois["kind"])
    for kind, (low, high) in POI_RANGES.items():
        assert low <= legacy[kind] <= high, kind
