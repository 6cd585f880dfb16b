"""Inputs that cannot be true are refused with a one-line error; oversized work is refused up front."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandapower as pp
import pandas as pd
import pyproj
import pytest
from shapely.geometry import Point, Polygon

from charge_planner.city import (
    check_density,
    check_in_country,
    load_city,
    read_population_raster,
    study_area_km2,
)
from charge_planner.errors import DataError, GridError
from charge_planner.grid import connect_sites_detail, synthesise_grid
from charge_planner.grid.synthesise import MAX_SYNTH_SUBSTATIONS
from charge_planner.network import prepare_graph
from charge_planner.osm import read_road_network
from charge_planner.presets import COUNTRY_BOUNDS_LONLAT, MAX_DENSITY_PERSONS_KM2, PRESETS
from charge_planner.siting.inputs import apply_exclusion_zones, read_exclusion_zones
from tests.conftest import grid_graph

KATHMANDU = (85.31, 27.69)  # lon, lat
UTM45 = "EPSG:32645"


def lonlat_grid(lon0: float, lat0: float, n: int = 6, step: float = 0.002) -> nx.MultiDiGraph:
    """An n x n two-way street grid in EPSG:4326 with its lower-left corner at (lon0, lat0)."""
    g = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=lon0 + i * step, y=lat0 + j * step)
    for i in range(n):
        for j in range(n):
            for a, b in ((i + 1, j), (i, j + 1)):
                if a < n and b < n:
                    for u, v in ((i * n + j, a * n + b), (a * n + b, i * n + j)):
                        g.add_edge(u, v, length=step * 100_000.0, highway="residential")
    return g


def write_osm_grid(path: Path, lon0: float, lat0: float, n: int = 6, step: float = 0.002) -> Path:
    nodes, ways, ids = [], [], {}
    for i in range(n):
        for j in range(n):
            ids[i, j] = len(ids) + 1
            nodes.append(f'<node id="{ids[i, j]}" lat="{lat0 + j * step:.7f}" lon="{lon0 + i * step:.7f}" version="1"/>')
    for i in range(n):
        for k, line in enumerate(([ids[i, j] for j in range(n)], [ids[j, i] for j in range(n)])):
            refs = "".join(f'<nd ref="{r}"/>' for r in line)
            ways.append(f'<way id="{2 * i + k + 1}" version="1">{refs}<tag k="highway" v="residential"/></way>')
    path.write_text('<?xml version="1.0"?>\n<osm version="0.6">\n' + "\n".join(nodes + ways) + "\n</osm>\n")
    return path


def bundle(tmp_path: Path, *, country: str, lonlat: tuple[float, float], population: str,
           crs: str | None = None, extra: str = "", city: str = "") -> Path:
    roads = write_osm_grid(tmp_path / "roads.osm", *lonlat)
    crs_line = f'crs = "{crs}"' if crs else ""
    (tmp_path / "city.toml").write_text(textwrap.dedent(f"""
        [city]
        name = "Test"
        country = "{country}"
        {crs_line}
        {city}
        [data]
        source = "files"
        roads = "{roads}"
        {population}
        population_source = "test"
        [fleet]
        year = 2030
        [siting]
        budget_usd = 100000
        [grid]
        source = "none"
    """) + textwrap.dedent(extra))
    return tmp_path


# ---------------------------------------------------------------------------------------------- 1 country


def test_roads_outside_the_preset_country_are_refused(tmp_path: Path) -> None:
    # a street grid in the Pacific planned under Nepal's preset
    city = bundle(tmp_path, country="nepal", lonlat=(-150.0, 0.5), population="population_total = 20000")
    with pytest.raises(DataError) as info:
        load_city(city)
    msg = str(info.value)
    assert "outside Nepal" in msg and "city.country" in msg and "roads.osm" in msg and "\n" not in msg
    # the same grid in Kathmandu loads
    ok = bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population="population_total = 20000")
    assert load_city(ok).crs == UTM45


def _write_poi(path: Path, lon: float, lat: float) -> Path:
    path.write_text('<?xml version="1.0"?>\n<osm version="0.6">\n'
                    f'<node id="900" lat="{lat}" lon="{lon}" version="1"><tag k="amenity" v="parking"/></node>\n</osm>\n')
    return path


def test_osm_layers_of_another_place_are_refused(tmp_path: Path) -> None:
    lon, lat = KATHMANDU
    near = _write_poi(tmp_path / "near.osm", lon + 0.005, lat + 0.005)
    city = load_city(bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population="population_total = 20000",
                            extra=""))
    assert len(city.pois) == 0
    text = (tmp_path / "city.toml").read_text().replace("[fleet]", f'osm = "{near}"\n[fleet]')
    (tmp_path / "city.toml").write_text(text)
    assert len(load_city(tmp_path).pois) == 1
    far = _write_poi(tmp_path / "far.osm", 85.5, 27.69)  # about 19 km east of the streets
    (tmp_path / "city.toml").write_text(text.replace(str(near), str(far)))
    with pytest.raises(DataError, match=r"data.osm \(.*far.osm\): none of its 1 buildings, POIs and power features"):
        load_city(tmp_path)


def test_country_boxes_cover_natural_earth_and_allow_the_margin() -> None:
    # Bengaluru is not in Nepal; Kathmandu is; the margin keeps the Batanes (21.1 N) in the Philippines
    assert set(COUNTRY_BOUNDS_LONLAT) == set(PRESETS)
    check_in_country(lonlat_grid(*KATHMANDU), "nepal")
    check_in_country(lonlat_grid(121.97, 20.45), "philippines")
    with pytest.raises(DataError, match="outside Nepal"):
        check_in_country(lonlat_grid(77.59, 12.97), "nepal")
    ne = Path(pyproj.__file__).parents[1] / "pyogrio/tests/fixtures/naturalearth_lowres/naturalearth_lowres.shp"
    if not ne.exists():
        pytest.skip("Natural Earth test file of pyogrio not installed")
    world = gpd.read_file(ne)
    names = {"india": "India", "nepal": "Nepal", "bangladesh": "Bangladesh", "sri_lanka": "Sri Lanka",
             "philippines": "Philippines", "vietnam": "Vietnam", "indonesia": "Indonesia", "thailand": "Thailand"}
    for key, name in names.items():
        w, s, e, n = world.loc[world["name"] == name].total_bounds
        bw, bs, be, bn = COUNTRY_BOUNDS_LONLAT[key]
        assert bw <= w and bs <= s and be >= e and bn >= n and max(w - bw, s - bs, be - e, bn - n) < 0.05, key


def test_synthetic_demo_city_passes_the_checks() -> None:
    demo = Path(__file__).parents[1] / "sample_cities" / "demo_city"
    city = load_city(demo)
    assert city.synthetic and city.population["population"].sum() > 0


# ---------------------------------------------------------------------------------------------- 2 CRS


def test_crs_in_feet_is_refused() -> None:
    with pytest.raises(DataError) as info:
        prepare_graph(lonlat_grid(*KATHMANDU), crs="EPSG:2227")
    msg = str(info.value)
    assert "EPSG:2227" in msg and "foot" in msg and "EPSG:32645" in msg and "\n" not in msg


def test_crs_of_the_wrong_utm_zone_is_refused() -> None:
    with pytest.raises(DataError) as info:
        prepare_graph(lonlat_grid(*KATHMANDU), crs="EPSG:32648")
    msg = str(info.value)
    assert "EPSG:32648" in msg and "use EPSG:32645, the UTM zone of the data, or leave city.crs unset" in msg
    # Web Mercator is in metres but 12.9 % too long at 27.7 N (1 / cos 27.7 deg = 1.129)
    with pytest.raises(DataError, match=r"stretches lengths by up to 12\.9%"):
        prepare_graph(lonlat_grid(*KATHMANDU), crs="EPSG:3857")
    # the right zone, and the neighbouring zone within 1 degree of its boundary (84 E), are accepted
    assert prepare_graph(lonlat_grid(*KATHMANDU), crs=UTM45).graph["crs"] == UTM45
    assert prepare_graph(lonlat_grid(83.5, 27.69), crs=UTM45).graph["crs"] == UTM45


def test_projected_road_file_in_feet_is_refused() -> None:
    g = grid_graph(3, crs="EPSG:2227")
    for _, d in g.nodes(data=True):  # somewhere in California, in US feet
        d["x"], d["y"] = d["x"] + 5_500_000.0, d["y"] + 700_000.0
    with pytest.raises(DataError, match=r"road graph's CRS EPSG:2227 .* not metres: set city.crs = \"EPSG:326"):
        prepare_graph(g)


def test_wrong_crs_through_the_bundle(tmp_path: Path) -> None:
    city = bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population="population_total = 20000",
                  crs="EPSG:32648")
    with pytest.raises(DataError, match="city.crs EPSG:32648"):
        load_city(city)


# ---------------------------------------------------------------------------------------------- 3 density


def test_density_ceiling_by_hand() -> None:
    g = prepare_graph(grid_graph(5))  # 800 m x 800 m of streets
    area = (800 + 200) * (800 + 200) / 1e6  # 100 m of margin on each side: 1.0 km2
    assert study_area_km2(g) == pytest.approx(area)
    check_density(0.99 * MAX_DENSITY_PERSONS_KM2 * area, study_area_km2(g))
    with pytest.raises(DataError) as info:
        check_density(1.01 * MAX_DENSITY_PERSONS_KM2 * area, study_area_km2(g), what="data.population_total")
    assert "data.population_total" in str(info.value) and "persons/km2" in str(info.value)
    for bad in (float("nan"), float("inf"), -1.0, 1e15):
        with pytest.raises(DataError):
            check_density(bad, study_area_km2(g))


def test_density_floor_by_hand() -> None:
    """1 km2 of streets (as above): 50 persons is the floor; 1 person, or 146 meant as thousands on
    10 km2, is refused (a plan for 0.03 kWh/day spends a site's cost on nothing)."""
    from charge_planner.presets import MIN_DENSITY_PERSONS_KM2

    g = prepare_graph(grid_graph(5))
    area = study_area_km2(g)
    check_density(MIN_DENSITY_PERSONS_KM2 * area, area)
    with pytest.raises(DataError, match=r"data.population_total: 1 persons on a study area of 1.00 km2 is 1.0 "
                                        r"persons/km2, below 50/km2"):
        check_density(1.0, area, what="data.population_total")
    with pytest.raises(DataError, match=r"14.6 persons/km2"):
        check_density(146.0, 10.0)


def _write_raster(path: Path, values: np.ndarray, *, lonlat: tuple[float, float] = KATHMANDU, step: float = 0.001,
                  nodata: float | None = None, crs: str | None = "EPSG:4326") -> Path:
    import rasterio
    from affine import Affine

    lon0, lat0 = lonlat
    with rasterio.open(
        path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1, dtype="float32",
        crs=crs, transform=Affine(step, 0.0, lon0 - step, 0.0, -step, lat0 + 0.012), nodata=nodata,
    ) as dst:
        dst.write(values.astype("float32"), 1)
    return path


def test_raster_sum_beyond_any_city_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    tif = _write_raster(tmp_path / "pop.tif", np.full((16, 16), 50_000.0))  # 50,000 persons per ~1 ha pixel
    city = bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population=f'population_raster = "{tif}"')
    with pytest.raises(DataError, match=r"data.population_raster \(pop.tif\): .* persons/km2, above 500,000"):
        load_city(city)


def test_demand_refuses_density_on_its_own_study_area(tmp_path: Path) -> None:
    # 40,000 persons in 2 x 2 pixels of 0.001 deg: about 30,000/km2 over the road network (accepted at
    # load), but about 915,000/km2 on a city.study_area_bbox that holds just those pixels (0.0437 km2)
    pytest.importorskip("rasterio")
    from charge_planner.demand import city_demand

    values = np.zeros((16, 16))
    values[8:10, 3:5] = 10_000.0  # rows 8-9: lat + 0.002..0.004; cols 3-4: lon + 0.002..0.004
    tif = _write_raster(tmp_path / "hot.tif", values)
    lon, lat = KATHMANDU
    box_ = [lon + 0.002, lat + 0.002, lon + 0.004, lat + 0.004]
    city = load_city(bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population=f'population_raster = "{tif}"',
                            city=f"study_area_bbox = {box_}"))
    with pytest.raises(DataError, match=r"data.population_raster \(hot.tif\): 40,000 persons on a study area of 0.04"):
        city_demand(city)


# ---------------------------------------------------------------------------------------------- 4 far grid


def _net_at(x0: float, y0: float) -> pp.pandapowerNet:
    net = pp.create_empty_network()
    mv = pp.create_bus(net, vn_kv=11.0)
    lv = pp.create_bus(net, vn_kv=0.4)
    pp.create_ext_grid(net, mv)
    pp.create_transformer(net, mv, lv, std_type="0.63 MVA 10/0.4 kV")
    net.bus["x_m"] = [x0, x0 + 10.0]
    net.bus["y_m"] = [y0, y0]
    net.bus["role"] = ["mv", "lv"]
    return net


def _sites(xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"power_kw": [50.0] * len(xy), "grid_level": ["lv"] * len(xy)},
        geometry=[Point(x, y) for x, y in xy], crs=UTM45, index=pd.Index([f"s{i}" for i in range(len(xy))]),
    )


def test_grid_far_from_the_sites_is_an_error() -> None:
    x, y = pyproj.Transformer.from_crs("EPSG:4326", UTM45, always_xy=True).transform(*KATHMANDU)
    sites = _sites([(x, y), (x + 500.0, y), (x, y + 500.0)])
    # straight-line distances 25 km + 10 m etc.: the median is above 20 km
    with pytest.raises(GridError) as info:
        connect_sites_detail(_net_at(x - 25_000.0, y), sites)
    msg = str(info.value)
    assert "25 km" in msg and "27.69 deg N" in msg and "\n" not in msg
    # 15 km away: connected (a long rural MV feeder is possible)
    out = connect_sites_detail(_net_at(x - 15_000.0, y), sites)
    assert (out["distance_m"] > 14_000).all()


def test_grid_far_from_the_study_area_is_an_error_without_sites() -> None:
    from charge_planner.grid.connect import check_grid_near

    x, y = pyproj.Transformer.from_crs("EPSG:4326", UTM45, always_xy=True).transform(*KATHMANDU)
    bounds = (x, y, x + 1000.0, y + 1000.0)
    # the nearest bus 21 km west of the area's left edge: refused; 19 km: accepted
    with pytest.raises(GridError, match=r"21 km \(nearest bus, straight line\) from the study area"):
        check_grid_near(_net_at(x - 21_000.0, y + 500.0), bounds, crs=UTM45)
    check_grid_near(_net_at(x - 19_000.0, y + 500.0), bounds, crs=UTM45)


def test_plan_refuses_a_grid_of_another_country(tmp_path: Path) -> None:
    # a pandapower example grid (Oberrhein, Germany) under a Kathmandu street grid, without any site
    from charge_planner.pipeline import plan

    city = bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population="population_total = 2000")
    text = (tmp_path / "city.toml").read_text().replace('source = "none"', 'source = "pandapower_network"\n'
                                                         'name = "mv_oberrhein"\ntime_series = "peak"')
    text = text.replace("budget_usd = 100000", "budget_usd = 1\ngenerated_candidates = 3")
    (tmp_path / "city.toml").write_text(text)
    with pytest.raises(GridError, match=r"from the study area .* grid around 48.\d+ deg N"):
        plan(city, progress=False)


# ---------------------------------------------------------------------------------------------- 5 synthesis bounds


def _loads(g: nx.MultiDiGraph, kw_total: float) -> gpd.GeoDataFrame:
    xs = np.array([d["x"] for _, d in g.nodes(data=True)])
    ys = np.array([d["y"] for _, d in g.nodes(data=True)])
    return gpd.GeoDataFrame({"base_peak_kw": np.full(len(xs), kw_total / len(xs))},
                            geometry=gpd.points_from_xy(xs, ys), crs=g.graph["crs"])


def test_substation_rating_below_one_transformer_is_refused() -> None:
    g = prepare_graph(grid_graph(4))
    with pytest.raises(DataError, match="max_substation_mva 1e-06 MVA is smaller than one distribution transformer"):
        synthesise_grid(g, _loads(g, 2_000.0), max_substation_mva=1e-6)


def test_synthesis_beyond_the_substation_bound_is_refused_up_front() -> None:
    g = prepare_graph(grid_graph(6))
    # 5,000 MW on 36 load points with 5 MVA substations loaded to the typical 75 %:
    # 5e6 / 0.95 / 1000 / (0.75 x 5) = 1,404 substations
    kw = 5e6
    n = int(np.ceil(kw / 0.95 / 1000.0 / (0.75 * 5.0)))
    assert n > MAX_SYNTH_SUBSTATIONS
    with pytest.raises(GridError) as info:
        synthesise_grid(g, _loads(g, kw), max_substation_mva=5.0)
    msg = str(info.value)
    assert f"{n:,} substations" in msg and "raise grid.max_substation_mva" in msg and "\n" not in msg
    # a base load of 1e12 kW (a population of 1e15) is refused in one line before any load flow (by the
    # number of distribution transformers it would take, counted first)
    with pytest.raises(GridError, match=r"would build [\d,]+ distribution transformers .* more than") as big:
        synthesise_grid(g, _loads(g, 1e12))
    assert "\n" not in str(big.value)


def test_synthesis_beyond_the_transformer_bound_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import charge_planner.grid.synthesise as build

    g = prepare_graph(grid_graph(6))
    # 36 points of 400 kW: at least ceil(14,400 / 0.95 / (0.75 x 630)) = 33 DTs of the largest urban rating
    # loaded to the typical 75 % (one DT per area, none paralleled)
    monkeypatch.setattr(build, "MAX_SYNTH_DTS", 20)
    with pytest.raises(GridError, match=r"would build (\d+) distribution transformers .* more than 20") as info:
        synthesise_grid(g, _loads(g, 36 * 400.0))
    n = int(re.search(r"would build (\d+) distribution", str(info.value)).group(1))
    assert n >= int(np.ceil(36 * 400.0 / 0.95 / (0.75 * 630.0)))


# ---------------------------------------------------------------------------------------------- 6 exclusion zones


def test_exclusion_zone_edges_are_densified_before_reprojection(tmp_path: Path) -> None:
    # a 0.6 deg (59 km) long southern edge along 27.5 N, drawn in EPSG:4326
    poly = Polygon([(85.0, 27.5), (85.6, 27.5), (85.6, 27.6), (85.0, 27.6)])
    path = tmp_path / "zones.geojson"
    gpd.GeoDataFrame(geometry=[poly], crs="EPSG:4326").to_file(path, driver="GeoJSON")
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", UTM45, always_xy=True)
    # candidates 10 m north (inside) and 10 m south (outside) of the edge's midpoint
    pts = [to_utm.transform(85.3, 27.5 + 10.0 / 111_000.0), to_utm.transform(85.3, 27.5 - 10.0 / 111_000.0)]
    cand = gpd.GeoDataFrame({"excluded_reason": ["", ""]}, geometry=[Point(p) for p in pts], crs=UTM45,
                            index=pd.Index(["in", "out"]))
    # reference: the test in the file's own CRS
    back = cand.to_crs("EPSG:4326")
    truth = back.geometry.within(poly).to_numpy()
    assert truth.tolist() == [True, False]
    # the straight chord between the projected corners misses the edge by tens of metres
    chord = gpd.GeoSeries([poly], crs="EPSG:4326").to_crs(UTM45).iloc[0]
    assert chord.exterior.distance(Point(to_utm.transform(85.3, 27.5))) > 10.0
    out = apply_exclusion_zones(cand, read_exclusion_zones(path, crs=UTM45), label="zones.geojson")
    assert (out["excluded_reason"] != "").tolist() == truth.tolist()


# ---------------------------------------------------------------------------------------------- 7 causes


def test_negative_raster_values_name_the_cause(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    tif = _write_raster(tmp_path / "neg.tif", np.full((16, 16), -99999.0))
    g = prepare_graph(lonlat_grid(*KATHMANDU), crs=UTM45)
    xs = [d["x"] for _, d in g.nodes(data=True)]
    ys = [d["y"] for _, d in g.nodes(data=True)]
    with pytest.raises(DataError) as info:
        read_population_raster(tif, crs=UTM45, bounds=(min(xs), min(ys), max(xs), max(ys)))
    msg = str(info.value)
    assert "negative" in msg and "no nodata value declared" in msg and "overlap" not in msg
    # the same values declared as nodata: no data pixel in the area (not "negative")
    tif2 = _write_raster(tmp_path / "nodata.tif", np.full((16, 16), -99999.0), nodata=-99999.0)
    with pytest.raises(DataError, match="no data pixel"):
        read_population_raster(tif2, crs=UTM45, bounds=(min(xs), min(ys), max(xs), max(ys)))


def test_raster_of_zeros_is_refused_when_the_city_is_loaded(tmp_path: Path) -> None:
    """A raster of zeros over the roads gives a city of 0 persons; validate must refuse it as run does."""
    pytest.importorskip("rasterio")
    tif = _write_raster(tmp_path / "zero.tif", np.zeros((16, 16)))
    g = prepare_graph(lonlat_grid(*KATHMANDU), crs=UTM45)
    xs = [d["x"] for _, d in g.nodes(data=True)]
    ys = [d["y"] for _, d in g.nodes(data=True)]
    bounds = (min(xs), min(ys), max(xs), max(ys))
    with pytest.raises(DataError, match=r"zero.tif: every pixel of the population raster .* is zero"):
        read_population_raster(tif, crs=UTM45, bounds=bounds)
    one = np.zeros((16, 16))
    one[8, 8] = 12.0
    got = read_population_raster(_write_raster(tmp_path / "one.tif", one), crs=UTM45, bounds=bounds)
    assert got["population"].sum() == pytest.approx(12.0)


def test_raster_of_several_bands_is_refused(tmp_path: Path) -> None:
    """An RGB image saved as GeoTIFF would be read as persons per pixel from its red band."""
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    tif = tmp_path / "rgb.tif"
    with rasterio.open(tif, "w", driver="GTiff", height=16, width=16, count=3, dtype="uint8", crs="EPSG:4326",
                       transform=Affine(0.001, 0.0, KATHMANDU[0] - 0.001, 0.0, -0.001, KATHMANDU[1] + 0.012)) as dst:
        dst.write(np.full((3, 16, 16), 200, dtype="uint8"))
    with pytest.raises(DataError, match=r"rgb.tif: the raster has 3 bands"):
        read_population_raster(tif, crs=UTM45, bounds=(330_000.0, 3_063_000.0, 331_000.0, 3_064_000.0))


def test_raster_without_crs_in_projected_units_names_the_cause(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    tif = _write_raster(tmp_path / "nocrs.tif", np.ones((4, 4)), lonlat=(330_000.0, 3_064_000.0), step=100.0,
                        crs=None)
    with pytest.raises(DataError, match="no CRS and its coordinates"):
        read_population_raster(tif, crs=UTM45, bounds=(330_000.0, 3_063_000.0, 331_000.0, 3_064_000.0))


def test_graphml_without_edges_names_the_cause(tmp_path: Path) -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=85.3, y=27.7)
    g.add_node(2, x=85.31, y=27.71)
    path = tmp_path / "roads.graphml"
    nx.write_graphml(g, path)
    with pytest.raises(DataError, match="the GraphML file has no edges"):
        read_road_network(path)


def test_osm_without_roads_suggests_no_mode_it_already_uses(tmp_path: Path) -> None:
    path = tmp_path / "empty.osm"
    path.write_text('<?xml version="1.0"?>\n<osm version="0.6">\n</osm>\n')
    with pytest.raises(DataError) as info:
        read_road_network(path, mode="two_wheeler")
    assert "try mode" not in str(info.value)
    with pytest.raises(DataError, match="try mode 'two_wheeler'"):
        read_road_network(path, mode="car")



def test_graphml_written_by_networkx_is_read(tmp_path: Path) -> None:
    # typed attributes (attr.type="double") made osmnx's reader fail with an AttributeError
    g = lonlat_grid(*KATHMANDU, n=3)
    path = tmp_path / "typed.graphml"
    nx.write_graphml(g, path)
    read = read_road_network(path)
    assert read.number_of_edges() == g.number_of_edges() == 24
    prepared = prepare_graph(read)
    assert prepared.graph["crs"] == UTM45 and prepared.number_of_edges() == 24


def test_exclusion_zones_far_from_the_candidates_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    far = Polygon([(86.3, 27.6), (86.4, 27.6), (86.4, 27.7), (86.3, 27.7)])  # about 98 km east of Kathmandu
    path = tmp_path / "zones.geojson"
    gpd.GeoDataFrame(geometry=[far], crs="EPSG:4326").to_file(path, driver="GeoJSON")
    x, y = pyproj.Transformer.from_crs("EPSG:4326", UTM45, always_xy=True).transform(*KATHMANDU)
    cand = gpd.GeoDataFrame({"excluded_reason": [""]}, geometry=[Point(x, y)], crs=UTM45, index=pd.Index(["a"]))
    with caplog.at_level("WARNING", logger="charge_planner.siting.inputs"):
        out = apply_exclusion_zones(cand, read_exclusion_zones(path, crs=UTM45), label="zones.geojson")
    assert (out["excluded_reason"] == "").all()
    assert any("no zone reaches the candidates' area (nearest 9" in r.getMessage() for r in caplog.records)


def test_data_osm_that_is_not_an_osm_extract_is_refused(tmp_path: Path) -> None:
    """data.osm naming a GeoJSON (or the GraphML road file itself) would give a city without POIs and a
    false credit in the sources; it is refused by name."""
    import osmnx as ox

    city = bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population="population_total = 20000")
    ox.save_graphml(read_road_network(city / "roads.osm"), city / "roads.graphml")
    toml = (city / "city.toml").read_text().replace('roads.osm"', 'roads.graphml"\nosm = "roads.graphml"')
    (city / "city.toml").write_text(toml)
    with pytest.raises(DataError, match=r"data.osm \(.*roads.graphml\): not an OSM extract by its name"):
        load_city(city)


def test_a_road_file_without_a_connected_network_is_named(tmp_path: Path) -> None:
    """Two one-way streets in a row: no strongly connected part with an edge; the message names data.roads."""
    city = bundle(tmp_path, country="nepal", lonlat=KATHMANDU, population="population_total = 20000")
    lon, lat = KATHMANDU
    (city / "oneway.osm").write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        f'<node id="1" lat="{lat}" lon="{lon}"/><node id="2" lat="{lat}" lon="{lon + 0.01}"/>'
        f'<node id="3" lat="{lat + 0.01}" lon="{lon + 0.01}"/>'
        '<way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/><tag k="oneway" v="yes"/></way>'
        '<way id="11"><nd ref="2"/><nd ref="3"/><tag k="highway" v="primary"/><tag k="oneway" v="yes"/></way></osm>')
    toml = (city / "city.toml").read_text().replace('roads.osm"', 'oneway.osm"')
    (city / "city.toml").write_text(toml)
    with pytest.raises(DataError, match=r"^data.roads \(.*oneway.osm\): no strongly connected drivable network"):
        load_city(city)
