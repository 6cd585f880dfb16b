from __future__ import annotations

import geopandas as gpd
import pandas as pd

from charge_planner.candidates import build_candidates, generated_sites
from charge_planner.network import prepare_graph
from tests.conftest import grid_graph

TYPES = pd.DataFrame(
    {"power_kw": [12.0, 240.0], "capex_usd": [1.0, 2.0], "segments": [("car",), ("bus",)], "service_hours_day": [8.0, 8.0],
     "grid_level": ["lv", "mv"]},
    index=pd.Index(["small", "bus"], name="charger_type"),
)


def _graph():
    g = grid_graph(5)
    for u, v, d in g.edges(data=True):
        if u // 5 == 2 and v // 5 == 2:
            d["highway"] = "primary"
    return prepare_graph(g, speeds_kph={"residential": 15, "primary": 25})


def test_poi_candidates_rules():
    g = _graph()
    pois = gpd.GeoDataFrame(
        {"poi_id": ["a", "b", "c", "d", "e"], "kind": ["parking", "bus_depot", "charging_station", "cafe", "fuel"],
         "name": ["P <1>", "Depot", "CS", "Cafe", "Far fuel"]},
        geometry=gpd.points_from_xy([500_000, 500_200, 500_400, 500_600, 510_000], [1_400_000] * 4 + [1_410_000]),
        crs="EPSG:32643",
    )
    c = build_candidates(pois, g, TYPES, max_chargers=6, fixed_cost_usd=1000.0)
    assert list(c["kind"]) == ["parking", "bus_depot", "charging_station", "fuel"]  # the cafe is no site
    assert c.loc[c["kind"] == "bus_depot", "allowed_types"].iloc[0] == ("small", "bus")
    assert c.loc[c["kind"] == "parking", "allowed_types"].iloc[0] == ("small",)
    assert c.loc[c["kind"] == "charging_station", "fixed_cost_usd"].iloc[0] == 0.0
    assert c.loc[c["kind"] == "parking", "fixed_cost_usd"].iloc[0] == 1000.0
    assert c.loc[c["kind"] == "fuel", "excluded_reason"].iloc[0].startswith("more than 500 m")
    assert (c["max_chargers"] == 6).all()
    assert c.index.name == "site_id"


def test_generated_sites_spread_over_major_roads():
    g = _graph()
    gen = generated_sites(g, 3)
    assert len(gen) == 3
    xs = sorted(gen.geometry.x.round())
    assert set(gen.geometry.x.round()) == {500_400.0}  # the primary road runs along i == 2
    assert len(set(gen.geometry.y.round())) == 3
    assert xs == sorted(xs)


def test_access_is_measured_to_the_nearest_street_not_its_junctions():
    # blocks of 1.6 km: a fuel station 30 m beside the middle of a street is 800 m from any junction
    g = prepare_graph(grid_graph(3, spacing_m=1600.0), speeds_kph={"residential": 15})
    pois = gpd.GeoDataFrame(
        {"kind": ["fuel", "parking"], "name": ["Beside the street", "In a field"]},
        geometry=gpd.points_from_xy([500_800.0, 500_800.0], [1_400_030.0, 1_400_800.0]),
        crs="EPSG:32643",
    )
    c = build_candidates(pois, g, TYPES, max_chargers=4, fixed_cost_usd=1.0)
    assert c["access_m"].round(6).tolist() == [30.0, 800.0]
    assert c["excluded_reason"].tolist() == ["", "more than 500 m from a road"]
    assert set(c["node_id"]) <= set(g.nodes)


def test_a_charger_type_that_also_serves_light_vehicles_may_stand_anywhere():
    """Only chargers for buses (and trucks) are kept to depots: a single type for every segment, as a
    user may define, stays allowed at a car park (else no site could take any charger)."""
    g = _graph()
    pois = gpd.GeoDataFrame({"poi_id": ["a", "b"], "kind": ["parking", "bus_depot"], "name": ["P", "Depot"]},
                            geometry=gpd.points_from_xy([500_000, 500_200], [1_400_000, 1_400_000]), crs="EPSG:32643")
    types = pd.DataFrame(
        {"power_kw": [22.0, 240.0], "capex_usd": [1.0, 2.0], "segments": [("car", "bus"), ("bus", "truck")],
         "service_hours_day": [8.0, 8.0], "grid_level": ["lv", "mv"]},
        index=pd.Index(["any", "bus_truck"], name="charger_type"),
    )
    c = build_candidates(pois, g, types, max_chargers=4, fixed_cost_usd=1.0).set_index("kind")
    assert c.loc["parking", "allowed_types"] == ("any",)
    assert c.loc["bus_depot", "allowed_types"] == ("any", "bus_truck")
