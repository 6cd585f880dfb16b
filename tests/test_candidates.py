from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

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


# --------------------------------------------------------------------------- generated depot candidates

def _square(x0: float, y0: float, side_m: float) -> list[tuple[float, float]]:
    """Corners (lon, lat) of a square of side ``side_m`` with its south-west corner at UTM 43N (x0, y0)."""
    from pyproj import Transformer

    to_wgs = Transformer.from_crs("EPSG:32643", "EPSG:4326", always_xy=True)
    xy = [(x0, y0), (x0 + side_m, y0), (x0 + side_m, y0 + side_m), (x0, y0 + side_m)]
    return [to_wgs.transform(x, y) for x, y in xy]


def _depot_extract(path, *, bus_depot: bool = False):
    """A tiny OSM XML: an industrial square of 100 m (10,000 m2), a surface car park of 80 m (6,400 m2)
    2 km east, a commercial square of 120 m only 400 m from the industrial one, a small car park (900 m2),
    a large underground car park, a large car park that is only a node, and a bus route whose first
    stop lies in the extract (2 km north) and whose last stop is cut off."""
    from xml.sax.saxutils import quoteattr

    from pyproj import Transformer

    to_wgs = Transformer.from_crs("EPSG:32643", "EPSG:4326", always_xy=True)
    nodes, ways = [], []
    nid = [0]

    def node(lon, lat, tags=()):
        nid[0] += 1
        t = "".join(f'<tag k="{k}" v={quoteattr(v)}/>' for k, v in tags)
        nodes.append(f'<node id="{nid[0]}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">{t}</node>')
        return nid[0]

    def polygon(wid, x0, y0, side, tags):
        ids = [node(lon, lat) for lon, lat in _square(x0, y0, side)]
        refs = "".join(f'<nd ref="{i}"/>' for i in [*ids, ids[0]])
        t = "".join(f'<tag k="{k}" v={quoteattr(v)}/>' for k, v in tags)
        ways.append(f'<way id="{wid}" version="1">{refs}{t}</way>')

    polygon(101, 500_050, 1_400_450, 100, [("landuse", "industrial"), ("name", "Works <A&B>")])
    polygon(102, 502_050, 1_400_450, 80, [("amenity", "parking"), ("parking", "surface")])
    polygon(103, 500_450, 1_400_450, 120, [("landuse", "commercial")])
    polygon(104, 503_050, 1_403_050, 30, [("amenity", "parking")])
    polygon(105, 503_050, 1_402_050, 90, [("amenity", "parking"), ("parking", "underground")])
    node(*to_wgs.transform(501_050, 1_403_050), tags=[("amenity", "parking")])
    stop = node(*to_wgs.transform(500_020, 1_402_500), tags=[("public_transport", "platform"), ("bus", "yes")])
    if bus_depot:
        node(*to_wgs.transform(503_020, 1_401_500), tags=[("amenity", "bus_depot"), ("name", "Depot")])
    rel = (f'<relation id="9" version="1"><member type="node" ref="{stop}" role="platform"/>'
           '<member type="node" ref="999999" role="platform"/><tag k="type" v="route"/>'
           '<tag k="route" v="bus"/><tag k="ref" v="7"/></relation>')
    path.write_text("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n" + "\n".join(nodes + ways)
                    + "\n" + rel + "\n</osm>\n", encoding="utf-8")
    return path


def _layers(path):
    from charge_planner.osm import project_layers, read_osm

    layers = read_osm(path, roads=False, layers=True)
    pois, land = project_layers([layers.pois, layers.depot_land], "EPSG:32643")
    return pois, land


def test_osm_land_gives_exactly_the_expected_flagged_depot_candidates(tmp_path):
    from charge_planner.candidates import GENERATED_DEPOT_FLAG

    pois, land = _layers(_depot_extract(tmp_path / "x.osm"))
    areas = land.set_index("land_id")["area_m2"]
    assert areas["way/101"] == pytest.approx(10_000, rel=0.005)  # hand: 100 m x 100 m
    assert areas["way/102"] == pytest.approx(6_400, rel=0.005)
    assert "way/105" not in areas.index  # underground: no bus fits
    terminal = land[land["kind"] == "route_terminal"]
    assert len(terminal) == 1 and terminal["name"].iloc[0] == "end of bus route 7"  # the cut-off end is skipped
    g = prepare_graph(grid_graph(5, spacing_m=1000.0), speeds_kph={"residential": 15})
    c = build_candidates(pois, g, TYPES, max_chargers=4, fixed_cost_usd=1.0, depot_land=land,
                         depot_min_area_m2=5000.0, depot_spacing_m=1000.0, max_generated_depots=5)
    gen = c[c["kind"] == "generated_depot"]
    # industrial (10,000 m2) and the car park (6,400 m2) first, then the route end; the commercial square
    # is 400 m from the industrial one, the small car park too small, the parking node has no area
    assert gen["source"].tolist() == ["generated_depot:landuse_industrial", "generated_depot:parking",
                                      "generated_depot:route_terminal"]
    assert gen["area_m2"].round(-1).tolist() == [10_000.0, 6_400.0, 0.0]
    assert (gen["flag"] == GENERATED_DEPOT_FLAG).all()
    assert (gen["excluded_reason"] == "").all()
    assert all(t == ("small", "bus") for t in gen["allowed_types"])  # they may host bus chargers
    assert gen["name"].iloc[0] == "Works <A&B>"
    assert (c.loc[c["kind"] != "generated_depot", "flag"] == "").all()
    assert not (c.loc[c["kind"] == "parking", "allowed_types"].map(lambda t: "bus" in t)).any()
    # a candidate sits inside its land: the industrial one within the 100 m square
    x, y = gen.geometry.iloc[0].x, gen.geometry.iloc[0].y
    assert 500_050 < x < 500_150 and 1_400_450 < y < 1_400_550


def test_no_depot_candidate_is_generated_when_a_bus_depot_is_tagged(tmp_path):
    pois, land = _layers(_depot_extract(tmp_path / "x.osm", bus_depot=True))
    assert "bus_depot" in set(pois["kind"])
    g = prepare_graph(grid_graph(5, spacing_m=1000.0), speeds_kph={"residential": 15})
    c = build_candidates(pois, g, TYPES, max_chargers=4, fixed_cost_usd=1.0, depot_land=land)
    assert "generated_depot" not in set(c["kind"])
    assert (c["flag"] == "").all()
    # without the depot the same land gives candidates; without depot land (no depot-only demand) none
    no_depot = pois[pois["kind"] != "bus_depot"]
    assert "generated_depot" in set(build_candidates(no_depot, g, TYPES, max_chargers=4, fixed_cost_usd=1.0,
                                                     depot_land=land)["kind"])
    assert "generated_depot" not in set(build_candidates(no_depot, g, TYPES, max_chargers=4,
                                                         fixed_cost_usd=1.0)["kind"])


def test_depot_sites_rank_by_land_then_area_keep_their_spacing_and_limit():
    from charge_planner.candidates import depot_sites

    sq = [shapely.box(x, 0, x + s, s) for x, s in ((0, 60), (2000, 100), (4000, 80), (4100, 150), (6000, 200))]
    land = gpd.GeoDataFrame(
        {"land_id": ["a", "b", "c", "d", "e"],
         "kind": ["landuse_industrial", "landuse_commercial", "parking", "landuse_depot", "landuse_retail"],
         "name": ["", "", "", "", ""], "area_m2": [s.area for s in sq]},
        geometry=sq, crs="EPSG:32643",
    )
    out = depot_sites(land, min_area_m2=5000.0, spacing_m=1000.0, max_n=10)
    # a (3,600 m2) is too small; d (22,500, depot land) before c (6,400, parking, 100 m away: dropped);
    # then commercial/retail land by area: e (40,000) before b (10,000)
    assert out["source"].tolist() == ["generated_depot:landuse_depot", "generated_depot:landuse_retail",
                                      "generated_depot:landuse_commercial"]
    assert out["name"].tolist() == ["depot land d", "retail land e", "commercial land b"]
    assert depot_sites(land, min_area_m2=5000.0, spacing_m=1000.0, max_n=2)["area_m2"].tolist() == [22_500.0, 40_000.0]
    assert len(depot_sites(land, min_area_m2=50_000.0, spacing_m=0.0, max_n=5)) == 0


def test_depot_only_segments_follow_the_charger_types():
    from charge_planner.candidates import depot_only_segments

    assert depot_only_segments(TYPES) == {"bus"}
    both = pd.DataFrame({"segments": [("car", "bus"), ("bus", "truck")]}, index=["any", "heavy"])
    assert depot_only_segments(both) == {"truck"}  # buses may use the type that stands anywhere


@pytest.mark.parametrize("line", ["depot_min_area_m2 = -1.0", "max_generated_depots = 0", "depot_spacing_m = 1e9",
                                  "generate_depots = 1", "unknown = 1"])
def test_bad_candidates_settings_are_refused_with_the_field_named(tmp_path, line):
    from charge_planner.config import load_config
    from charge_planner.errors import ConfigError

    (tmp_path / "city.toml").write_text(
        f'[city]\nname = "X"\ncountry = "india"\n[siting]\nbudget_usd = 1000.0\n[candidates]\n{line}\n',
        encoding="utf-8")
    with pytest.raises(ConfigError, match="candidates"):
        load_config(tmp_path)
