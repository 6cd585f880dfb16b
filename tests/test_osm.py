from __future__ import annotations

import bz2
import shutil
import textwrap

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from charge_planner import osm
from charge_planner.city import load_city
from charge_planner.config import parse_config
from charge_planner.errors import ConfigError, DataError
from charge_planner.network import prepare_graph
from charge_planner.osm import (
    CAR_CLASSES,
    POI_KINDS,
    POWER_KINDS,
    TWO_WHEELER_CLASSES,
    fetch_osm,
    graph_from_tables,
    oneway_of,
    read_osm,
    read_road_network,
    way_allowed,
)
from tests.conftest import shared

EXTRACTS = {
    "bengaluru": ("bengaluru", "kr_circle_osm_bbox.osm.xml.gz"),
    "ho_chi_minh_city": ("ho_chi_minh_city", "hcmc_district1_3_map.osm"),
    "kathmandu": ("kathmandu", "kathmandu_thapathali_map.osm"),
    "makati": ("makati_metro_manila", "makati_osm_bbox.osm.xml.gz"),
}


@pytest.fixture(scope="module")
def layers():
    """Every shared extract read once per mode."""
    cache = {}

    def get(name, mode="car"):
        if (name, mode) not in cache:
            cache[(name, mode)] = read_osm(shared(*EXTRACTS[name]), mode=mode)
        return cache[(name, mode)]

    return get


# --------------------------------------------------------------------------- tag rules


def test_way_rules_per_mode():
    assert way_allowed({"highway": "residential"}, "car")
    assert not way_allowed({"highway": "service"}, "car")
    assert way_allowed({"highway": "service", "service": "alley"}, "two_wheeler")
    assert not way_allowed({"highway": "service", "service": "driveway"}, "car")
    assert not way_allowed({"highway": "motorway"}, "two_wheeler")
    assert way_allowed({"highway": "motorway", "motorcycle": "yes"}, "two_wheeler")
    assert not way_allowed({"highway": "footway"}, "two_wheeler")
    assert way_allowed({"highway": "path", "motorcycle": "designated"}, "two_wheeler")
    assert not way_allowed({"highway": "primary", "access": "no"}, "car")
    assert way_allowed({"highway": "primary", "access": "no", "motorcar": "yes"}, "car")
    assert not way_allowed({"highway": "primary", "motorcycle": "no"}, "two_wheeler")
    assert way_allowed({"highway": "primary", "motorcar": "no"}, "two_wheeler")
    assert not way_allowed({"highway": "primary", "motorcar": "no"}, "car")
    assert not way_allowed({"highway": "pedestrian", "area": "yes"}, "car")
    assert not way_allowed({"highway": "construction"}, "car")
    assert way_allowed({"highway": "residential", "access": "destination"}, "car")


def test_oneway_rules():
    assert oneway_of({"highway": "residential"}, "car") == 0
    assert oneway_of({"highway": "residential", "oneway": "yes"}, "car") == 1
    assert oneway_of({"highway": "residential", "oneway": "-1"}, "car") == -1
    assert oneway_of({"highway": "primary", "junction": "roundabout"}, "car") == 1
    assert oneway_of({"highway": "motorway"}, "car") == 1
    assert oneway_of({"highway": "motorway", "oneway": "no"}, "car") == 0
    assert oneway_of({"highway": "residential", "oneway": "yes", "oneway:motorcycle": "no"}, "two_wheeler") == 0
    assert oneway_of({"highway": "residential", "oneway": "yes", "oneway:motorcycle": "no"}, "car") == 1


# --------------------------------------------------------------------------- real extracts


@pytest.mark.parametrize("name", list(EXTRACTS))
def test_every_shared_extract_loads_all_layers(layers, name):
    car = layers(name, "car")
    g = car.roads
    assert g.number_of_edges() > 100
    assert g.graph["crs"] == "EPSG:4326"
    for u, v, d in g.edges(data=True):
        assert d["highway"] in CAR_CLASSES
        assert d["length"] > 0
        coords = shapely.get_coordinates(d["geometry"])  # geometry runs from u to v
        assert coords[0] == pytest.approx([g.nodes[u]["x"], g.nodes[u]["y"]])
        assert coords[-1] == pytest.approx([g.nodes[v]["x"], g.nodes[v]["y"]])
    prepared = prepare_graph(g)
    assert prepared.number_of_edges() > 0.5 * g.number_of_edges()  # clipped boxes lose one-way ends
    assert len(car.buildings) > 300
    assert (car.buildings["area_m2"] > 1.0).all()
    assert car.buildings.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert set(car.pois["kind"]) <= set(POI_KINDS)
    assert car.pois["poi_id"].is_unique
    assert set(car.power["kind"]) <= set(POWER_KINDS)
    two = layers(name, "two_wheeler").roads
    assert two.number_of_edges() >= g.number_of_edges()
    assert {d["highway"] for _, _, d in two.edges(data=True)} <= TWO_WHEELER_CLASSES


def test_known_features_of_the_extracts(layers):
    hcmc = layers("ho_chi_minh_city")
    assert (hcmc.pois["kind"] == "fuel").sum() == 6
    assert (hcmc.power["kind"] == "substation").sum() == 1
    assert (hcmc.power["kind"] == "line").sum() == 3
    makati = layers("makati")
    assert (makati.pois["kind"] == "bus_station").sum() == 4
    assert (makati.power["kind"] == "substation").sum() == 3
    assert len(makati.buildings) == 1264
    kathmandu = layers("kathmandu")
    assert len(kathmandu.substations) == 1
    bengaluru = layers("bengaluru")
    assert (bengaluru.pois["kind"] == "charging_station").sum() == 1
    assert (bengaluru.pois["kind"] == "parking").sum() == 15
    # service lanes and alleys make the two-wheeler network of HCMC much denser
    two = layers("ho_chi_minh_city", "two_wheeler").roads
    assert sum(d["highway"] == "service" for _, _, d in two.edges(data=True)) > 300


def test_clipped_extract_loads(tmp_path):
    import osmium

    src = shared(*EXTRACTS["kathmandu"])
    clipped = tmp_path / "clipped.osm"
    west, south, east, north = 85.315, 27.685, 85.320, 27.692
    with osmium.SimpleWriter(str(clipped)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node():
                if west <= obj.location.lon <= east and south <= obj.location.lat <= north:
                    writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            else:
                writer.add_relation(obj)
    result = read_osm(clipped)
    assert result.stats["ways_with_missing_nodes"] > 50
    g = result.roads
    assert g.number_of_edges() > 50
    xy = np.array([(d["x"], d["y"]) for _, d in g.nodes(data=True)])
    assert (xy[:, 0] >= west).all() and (xy[:, 0] <= east).all()
    assert (xy[:, 1] >= south).all() and (xy[:, 1] <= north).all()
    assert prepare_graph(g).number_of_edges() > 20


def test_pbf_and_bz2_give_the_same_layers(tmp_path, layers):
    import osmium

    src = shared(*EXTRACTS["kathmandu"])
    pbf = tmp_path / "kathmandu.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            else:
                writer.add_relation(obj)
    packed = tmp_path / "kathmandu.osm.bz2"
    with open(src, "rb") as fin, bz2.open(packed, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    ref = layers("kathmandu")
    for path in (pbf, packed):
        got = read_osm(path)
        assert got.roads.number_of_edges() == ref.roads.number_of_edges()
        assert set(got.roads.edges(keys=False)) == set(ref.roads.edges(keys=False))
        assert len(got.buildings) == len(ref.buildings)
        assert got.buildings["area_m2"].sum() == pytest.approx(ref.buildings["area_m2"].sum())
        assert list(got.pois["poi_id"]) == list(ref.pois["poi_id"])
    assert read_road_network(pbf).number_of_edges() == ref.roads.number_of_edges()


# --------------------------------------------------------------------------- bad input


def _osm_xml(tmp_path, body, name="tiny.osm"):
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n{textwrap.dedent(body)}\n</osm>\n')
    return path


def test_bad_files_are_clear_errors(tmp_path):
    empty = tmp_path / "empty.osm"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_osm(empty)
    with pytest.raises(DataError, match="empty"):
        read_road_network(tmp_path / "empty.osm")
    footway = _osm_xml(tmp_path, """
        <node id="1" lat="27.690" lon="85.317"/>
        <node id="2" lat="27.691" lon="85.317"/>
        <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>""")
    with pytest.raises(DataError, match=r"no road usable by mode 'car' \(highway ways found: footway 1\)"):
        read_osm(footway)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat='1' lon=")
    with pytest.raises(DataError, match="cannot read"):
        read_osm(broken)
    odd = tmp_path / "roads.shp"
    odd.write_text("x")
    with pytest.raises(DataError, match="unknown road file type"):
        read_road_network(odd)
    with pytest.raises(DataError, match="travel mode"):
        read_osm(footway, mode="bicycle")


def test_tiny_extract_topology(tmp_path):
    # a one-way street crossing a two-way street; node 3 is shared
    path = _osm_xml(tmp_path, """
        <node id="1" lat="27.6900" lon="85.3170"/>
        <node id="2" lat="27.6905" lon="85.3170"/>
        <node id="3" lat="27.6910" lon="85.3170"/>
        <node id="4" lat="27.6910" lon="85.3160"/>
        <node id="5" lat="27.6910" lon="85.3180"/>
        <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/>
          <tag k="oneway" v="yes"/><tag k="name" v="A &amp; B Marg"/></way>
        <way id="11"><nd ref="4"/><nd ref="3"/><nd ref="5"/><tag k="highway" v="tertiary"/><tag k="maxspeed" v="30"/></way>
        <node id="6" lat="27.6902" lon="85.3172"><tag k="amenity" v="fuel"/><tag k="name" v="Pump"/></node>
        <node id="7" lat="27.6903" lon="85.3168"><tag k="power" v="transformer"/></node>""")
    got = read_osm(path)
    g = got.roads
    assert sorted(g.edges()) == [(1, 3), (3, 4), (3, 5), (4, 3), (5, 3)]  # node 2 is interior
    assert g[1][3][0]["name"] == "A & B Marg" and g[1][3][0]["oneway"] is True
    assert g[1][3][0]["length"] == pytest.approx(111.2, abs=0.5)  # 0.001 degree of latitude
    assert g[3][5][0]["maxspeed"] == "30"
    assert list(got.pois["kind"]) == ["fuel"] and list(got.pois["name"]) == ["Pump"]
    assert list(got.power["kind"]) == ["transformer"]


# --------------------------------------------------------------------------- road files


@pytest.fixture(scope="module")
def hcmc_graph(layers):
    return layers("ho_chi_minh_city").roads


def test_graphml_is_filtered_by_mode():
    g = read_road_network(shared("bengaluru", "central_bengaluru_drive.graphml"))
    assert g.number_of_edges() == 6400  # one edge is tagged access=no
    assert all(str(d.get("access")) != "no" for _, _, d in g.edges(data=True))


def test_geopackage_round_trip_in_geographic_crs(tmp_path, hcmc_graph):
    import osmnx as ox

    path = tmp_path / "hcmc.gpkg"
    ox.save_graph_geopackage(hcmc_graph, path)
    g = read_road_network(path)  # osmnx writes one row per street by default
    assert g.graph["crs"] == "EPSG:4326"
    assert set(g.edges()) == set(hcmc_graph.edges())
    ox.save_graph_geopackage(hcmc_graph, tmp_path / "directed.gpkg", directed=True)
    assert set(read_road_network(tmp_path / "directed.gpkg").edges(keys=True)) == set(hcmc_graph.edges(keys=True))
    ref = {(u, v): d["length"] for u, v, d in hcmc_graph.edges(data=True)}
    for u, v, d in g.edges(data=True):
        assert d["length"] == pytest.approx(ref[(u, v)])
    prepared = prepare_graph(g)
    assert prepared.graph["crs"] == "EPSG:32648"
    assert prepared.number_of_edges() == prepare_graph(hcmc_graph).number_of_edges()


def test_unfiltered_osmnx_graph_in_every_form_gives_the_same_roads(tmp_path, caplog):
    """``osmnx.graph_from_xml`` keeps every way of an extract (landuse and building outlines too);
    saved as GraphML, as a GeoPackage, or undirected, it must give the same drivable network."""
    import warnings

    import osmnx as ox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # osmnx notes about the unfiltered extract
        raw = ox.graph_from_xml(shared("ho_chi_minh_city", "hcmc_district1_3_map.osm"), retain_all=True)
    untagged = sum(1 for _, _, d in raw.edges(data=True) if "highway" not in d)
    assert untagged > 1000  # outlines of landuse areas and buildings
    ox.save_graphml(raw, tmp_path / "all.graphml")
    ox.save_graph_geopackage(raw, tmp_path / "all.gpkg")  # "" where a way has no highway tag
    ox.save_graphml(ox.convert.to_undirected(raw), tmp_path / "undirected.graphml")
    graphs = {}
    with caplog.at_level("INFO", logger="charge_planner.osm"):
        for name in ("all.graphml", "all.gpkg", "undirected.graphml"):
            graphs[name] = read_road_network(tmp_path / name)
    assert "(no highway tag)" in caplog.text and "undirected road graph" in caplog.text
    ref = graphs["all.graphml"]
    assert all("highway" in d for _, _, d in ref.edges(data=True))
    for name, g in graphs.items():
        assert set(g.edges()) == set(ref.edges()), name
    # the undirected form keeps one-way streets one-way, with geometries along each direction
    und = graphs["undirected.graphml"]
    one_way = [(u, v) for u, v, d in ref.edges(data=True) if d.get("oneway") is True]
    assert one_way and all(not und.has_edge(v, u) or ref.has_edge(v, u) for u, v in one_way)
    for u, _v, d in list(und.edges(data=True))[:200]:
        if "geometry" in d:
            x0, y0 = d["geometry"].coords[0]
            assert (x0, y0) == pytest.approx((und.nodes[u]["x"], und.nodes[u]["y"]), abs=1e-6)
    sizes = {prepare_graph(g).number_of_edges() for g in graphs.values()}
    assert len(sizes) == 1


def test_geopackage_with_lengths_in_degrees_is_fixed_with_a_warning(tmp_path, hcmc_graph, caplog):
    import osmnx as ox

    _, edges = ox.graph_to_gdfs(hcmc_graph)
    edges = edges.reset_index()
    true_length = edges["length"].to_numpy()
    edges["length"] = shapely.length(edges.geometry.to_numpy())  # degrees: what a GIS computes in EPSG:4326
    path = tmp_path / "degrees.gpkg"
    edges[["u", "v", "key", "highway", "length", "geometry"]].to_file(path, layer="edges")
    with caplog.at_level("WARNING", logger="charge_planner.osm"):
        g = read_road_network(path)
    assert "does not look like metres" in caplog.text and "geographic" in caplog.text
    got = np.array([d["length"] for _, _, d in g.edges(data=True)])
    assert got.sum() == pytest.approx(true_length.sum(), rel=1e-6)  # great-circle lengths [m] again


def test_geopackage_lines_without_topology(tmp_path, caplog):
    lines = gpd.GeoDataFrame(
        {"highway": ["primary", "residential", "residential"], "oneway": [False, True, False]},
        geometry=[shapely.LineString([(0, 0), (300, 0)]), shapely.LineString([(300, 0), (300, 200)]),
                  shapely.LineString([(300, 200), (0, 0)])],
        crs="EPSG:32643",
    )
    lines.geometry = lines.geometry.translate(500_000, 1_400_000)
    path = tmp_path / "lines.gpkg"
    lines.to_file(path, layer="roads")
    g = read_road_network(path)
    assert g.number_of_nodes() == 3
    assert g.number_of_edges() == 5  # the one-way line is one edge
    assert sorted(round(d["length"], 3) for _, _, d in g.edges(data=True)) == pytest.approx(
        sorted([300.0, 300.0, 200.0, 360.555, 360.555]), abs=1e-3)
    nocrs = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        lines.set_crs(None, allow_override=True).to_file(nocrs, layer="edges")
    with pytest.raises(DataError, match="no CRS"):
        read_road_network(nocrs)


def test_geoparquet_round_trip(tmp_path, hcmc_graph):
    import osmnx as ox

    nodes, edges = ox.graph_to_gdfs(hcmc_graph)
    edges.to_parquet(tmp_path / "hcmc_edges.parquet")
    nodes.to_parquet(tmp_path / "hcmc_nodes.parquet")
    g = read_road_network(tmp_path / "hcmc_edges.parquet")
    assert g.number_of_nodes() == hcmc_graph.number_of_nodes()
    assert set(g.edges(keys=True)) == set(hcmc_graph.edges(keys=True))
    # without the nodes file the node coordinates come from the edge geometries
    alone = tmp_path / "only" / "roads.parquet"
    alone.parent.mkdir()
    edges.to_parquet(alone)
    g2 = read_road_network(alone)
    for n, d in g2.nodes(data=True):
        assert (d["x"], d["y"]) == pytest.approx((hcmc_graph.nodes[n]["x"], hcmc_graph.nodes[n]["y"]))


# --------------------------------------------------------------------------- online (offline test of the wrapper)


def test_fetch_osm_wraps_osmnx_with_its_cache(monkeypatch, tmp_path):
    import osmnx as ox

    src = shared(*EXTRACTS["ho_chi_minh_city"])
    calls = {}

    def graph_from_place(query, **kwargs):
        calls["graph"] = (query, kwargs, ox.settings.use_cache, ox.settings.cache_folder)
        return ox.graph_from_xml(src, simplify=True, retain_all=True)

    def features_from_place(query, tags):
        calls["features"] = (query, tags)
        return ox.features_from_xml(src, tags=tags)

    monkeypatch.setattr(ox, "graph_from_place", graph_from_place)
    monkeypatch.setattr(ox, "features_from_place", features_from_place)
    before = (ox.settings.use_cache, ox.settings.cache_folder)
    got = fetch_osm(place="District 1, Ho Chi Minh City", mode="car", cache_folder=tmp_path / "cache")
    query, kwargs, use_cache, folder = calls["graph"]
    assert query == "District 1, Ho Chi Minh City" and use_cache and folder == str(tmp_path / "cache")
    assert kwargs["custom_filter"] == osm.overpass_filter("car")
    assert (ox.settings.use_cache, ox.settings.cache_folder) == before  # settings restored
    assert all("highway" in d for _, _, d in got.roads.edges(data=True))  # building outlines dropped
    assert len(got.buildings) > 600 and (got.buildings["area_m2"] > 0).all()
    assert len(got.substations) == 1
    assert (got.pois["kind"] == "fuel").sum() == 6
    assert prepare_graph(got.roads).number_of_edges() > 100
    with pytest.raises(DataError, match="exactly one"):
        fetch_osm(place="x", bbox=(0, 0, 1, 1))


@pytest.mark.online
def test_fetch_osm_downloads_a_bounding_box(tmp_path, request):
    if "online" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("needs internet access; opt in with -m online")
    got = fetch_osm(bbox=(85.3155, 27.6880, 85.3200, 27.6920), cache_folder=tmp_path)
    assert got.roads.number_of_edges() > 10


# --------------------------------------------------------------------------- city bundles


def _bundle(tmp_path, data: str, city: str = "") -> None:
    (tmp_path / "city.toml").write_text(textwrap.dedent(f"""
        [city]
        name = "Thapathali"
        country = "india"
        {city}
        [data]
        {textwrap.dedent(data).strip()}
        population_total = 29400
        population_source = "WorldPop 2020 within the extract (README)"
        [siting]
        budget_usd = 100000
    """))


def test_city_from_one_osm_extract_has_every_layer(tmp_path):
    src = shared(*EXTRACTS["kathmandu"])
    _bundle(tmp_path, f'source = "files"\nroads = "{src}"')
    city = load_city(tmp_path)
    assert city.crs == "EPSG:32645"
    assert city.roads.number_of_edges() > 100
    assert len(city.buildings) > 2000 and city.buildings.crs == city.crs
    assert list(city.buildings.columns) == ["building_id", "building", "levels", "name", "area_m2", "geometry"]
    assert len(city.substations) == 1 and city.substations.crs == city.crs
    assert city.power.crs == city.crs
    assert list(city.pois.columns[:3]) == ["poi_id", "kind", "name"]
    assert any("buildings, POIs, power" in s for s in city.sources)
    _bundle(tmp_path, f'source = "files"\nroads = "{src}"\nmode = "two_wheeler"')
    assert load_city(tmp_path).roads.number_of_edges() > city.roads.number_of_edges()


def test_online_source_validation():
    base = {"city": {"name": "x", "country": "india"}, "siting": {"budget_usd": 1}}
    ok = parse_config({**base, "data": {"source": "online", "place": "Makati", "population_total": 1}})
    assert ok.data.mode == "car"
    with pytest.raises(ConfigError, match="data.source is 'online': give data.place or city.study_area_bbox"):
        parse_config({**base, "data": {"source": "online", "population_total": 1}})
    boxed = {**base, "city": {**base["city"], "study_area_bbox": [85.3, 27.6, 85.4, 27.7]}}
    assert parse_config({**boxed, "data": {"source": "online", "population_total": 1}}).data.place is None
    both = parse_config({**boxed, "data": {"source": "online", "place": "Thapathali", "population_total": 1}})
    assert both.data.place == "Thapathali" and both.city.study_area_bbox == (85.3, 27.6, 85.4, 27.7)
    with pytest.raises(ConfigError, match=r"city.study_area_bbox \[10.0, 0.0, 5.0, 1.0\] must be \[west, south, east"):
        parse_config({**base, "city": {**base["city"], "study_area_bbox": [10, 0, 5, 1]},
                      "data": {"source": "online", "population_total": 1}})
    with pytest.raises(ConfigError, match="mode"):
        parse_config({**base, "data": {"source": "files", "roads": "r.osm", "mode": "bus", "population_total": 1}})


def test_graph_from_tables_checks_node_cover():
    edges = gpd.GeoDataFrame({"u": [1], "v": [2]}, geometry=[shapely.LineString([(0, 0), (0, 100)])], crs="EPSG:32643")
    g = graph_from_tables(edges)
    assert isinstance(g, nx.MultiDiGraph) and g.nodes[2]["y"] == 100.0
    assert pd.Series([d["length"] for _, _, d in g.edges(data=True)]).iloc[0] == pytest.approx(100.0)


def test_city_from_an_online_source_uses_the_download(monkeypatch, tmp_path):
    import charge_planner.city as city_module

    src = shared(*EXTRACTS["kathmandu"])
    seen = {}

    def fake_fetch(*, place, bbox, mode, cache_folder):
        seen.update(place=place, bbox=bbox, mode=mode, cache_folder=cache_folder)
        return read_osm(src, mode=mode)

    monkeypatch.setattr(city_module, "fetch_osm", fake_fetch)
    _bundle(tmp_path, 'source = "online"\ncache_folder = "osm_cache"',
            city="study_area_bbox = [85.3136, 27.6829, 85.3211, 27.6950]")
    city = load_city(tmp_path)
    assert seen["bbox"] == (85.3136, 27.6829, 85.3211, 27.6950) and seen["mode"] == "car"
    assert seen["cache_folder"] == tmp_path / "osm_cache"
    assert len(city.buildings) > 2000 and len(city.substations) == 1
    assert any("via osmnx" in s for s in city.sources)


def test_online_download_area_is_the_city_study_area_bbox(monkeypatch, tmp_path):
    """Through osmnx (its download functions replaced by readers of the Kathmandu extract): without
    data.place, osmnx downloads the box of city.study_area_bbox; with data.place it downloads the place,
    and the demand is still clipped to the box: 0.0075 deg x 111.32 km x cos(27.689 deg) = 739 m by
    0.0121 deg x 110.8 km = 1,341 m, about 0.99 km2."""
    import osmnx as ox

    from charge_planner.demand import default_study_area

    src = shared(*EXTRACTS["kathmandu"])
    calls: list[tuple[str, object]] = []

    def graph_from(kind):
        def fake(query, **kwargs):
            calls.append((f"graph_from_{kind}", query))
            return ox.graph_from_xml(src, simplify=True, retain_all=True)
        return fake

    def features_from(kind):
        def fake(query, tags):
            calls.append((f"features_from_{kind}", query))
            return ox.features_from_xml(src, tags=tags)
        return fake

    for kind in ("bbox", "place"):
        monkeypatch.setattr(ox, f"graph_from_{kind}", graph_from(kind))
        monkeypatch.setattr(ox, f"features_from_{kind}", features_from(kind))
    box_ = (85.3136, 27.6829, 85.3211, 27.6950)
    _bundle(tmp_path, 'source = "online"\ncache_folder = "osm_cache"', city=f"study_area_bbox = {list(box_)}")
    city = load_city(tmp_path)
    assert calls == [("graph_from_bbox", box_), ("features_from_bbox", box_)]
    assert any("via osmnx for bbox [85.3136, 27.6829, 85.3211, 27.695]" in s for s in city.sources)
    assert default_study_area(city).area == pytest.approx(739 * 1341, rel=0.01)

    calls.clear()
    _bundle(tmp_path, 'source = "online"\nplace = "Thapathali, Kathmandu"\ncache_folder = "osm_cache"',
            city=f"study_area_bbox = {list(box_)}")
    city = load_city(tmp_path)
    assert calls == [("graph_from_place", "Thapathali, Kathmandu"), ("features_from_place", "Thapathali, Kathmandu")]
    area = default_study_area(city)
    assert area.area == pytest.approx(739 * 1341, rel=0.01)
    lon, lat = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True).transform(*np.asarray(area.exterior.coords).T)
    assert (lon.min(), lat.min(), lon.max(), lat.max()) == pytest.approx(box_, abs=1e-7)


def _graphml(graph_data: str, nodes: str) -> str:
    return ('<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
            '<key id="d0" for="graph" attr.name="crs" attr.type="string"/>'
            '<key id="x" for="node" attr.name="x" attr.type="string"/>'
            '<key id="y" for="node" attr.name="y" attr.type="string"/>'
            f'<graph edgedefault="directed">{graph_data}{nodes}<edge source="1" target="2"/></graph></graphml>')


def test_broken_road_files_name_the_file_and_the_fault(tmp_path):
    """Each broken road file is refused with its name and what is wrong, not a library's internal error."""
    no_crs = tmp_path / "nocrs.graphml"
    no_crs.write_text(_graphml("", '<node id="1"><data key="x">85.3</data><data key="y">27.7</data></node>'
                                   '<node id="2"><data key="x">85.31</data><data key="y">27.7</data></node>'))
    with pytest.raises(DataError, match=r"nocrs.graphml: the GraphML graph has no 'crs' attribute"):
        osm.read_road_network(no_crs)
    no_xy = tmp_path / "noxy.graphml"
    no_xy.write_text(_graphml('<data key="d0">EPSG:4326</data>',
                              '<node id="1"><data key="x">85.3</data><data key="y">27.7</data></node><node id="2"/>'))
    with pytest.raises(DataError, match=r"noxy.graphml: node 2 has no numeric 'x'/'y' coordinate"):
        osm.read_road_network(no_xy)
    text = tmp_path / "text.graphml"
    text.write_text("404 Not Found")
    with pytest.raises(DataError, match=r"text.graphml: not a GraphML file"):
        osm.read_road_network(text)
    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame({"a": [1, 2]}, geometry=gpd.points_from_xy([85.3, 85.31], [27.7, 27.7]),
                     crs="EPSG:4326").to_file(points, layer="edges")
    with pytest.raises(DataError, match=r"points.gpkg:edges: the road layer has no line geometries \(only Point\)"):
        osm.read_road_network(points)
    not_db = tmp_path / "garbage.gpkg"
    not_db.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(DataError, match=r"garbage.gpkg: cannot read the road network"):  # and no GDAL warning
        osm.read_road_network(not_db)
