"""Tests of several-substation synthesis, road-distance site connection and the level rule."""

from __future__ import annotations

import copy

import geopandas as gpd
import networkx as nx
import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from shapely.geometry import Point

from charge_planner.errors import DataError
from charge_planner.grid import synthesise_grid
from charge_planner.grid.connect import connect_sites_detail, grid_level
from charge_planner.grid.model import run_pandapower
from tests.test_grid import grid_roads

CRS = "EPSG:32643"
X0, Y0 = 500_000.0, 3_000_000.0


def uniform_loads(g: nx.MultiDiGraph, kw_each: float, n_points: int = 300, seed: int = 2) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    xs = np.array([d["x"] for _, d in g.nodes(data=True)])
    ys = np.array([d["y"] for _, d in g.nodes(data=True)])
    x = rng.uniform(xs.min(), xs.max(), n_points)
    y = rng.uniform(ys.min(), ys.max(), n_points)
    return gpd.GeoDataFrame({"base_peak_kw": np.full(n_points, kw_each)}, geometry=gpd.points_from_xy(x, y), crs=CRS)


def within_limits(net: pp.pandapowerNet) -> None:
    """The 11 kV level and the substations within limits; LV tail ends and DTs mostly (as built)."""
    work = copy.deepcopy(net)
    run_pandapower(work)
    lv = work.bus["role"] == "lv"
    assert work.res_bus.loc[~lv, "vm_pu"].between(0.95, 1.05).all()
    # tail ends of LV feeders sag: most LV buses within the band, none below 0.9 pu
    assert work.res_bus.loc[lv, "vm_pu"].between(0.95, 1.05).mean() >= 0.8
    assert work.res_bus.loc[lv, "vm_pu"].min() >= 0.9
    assert (work.res_line.loc[work.line["dt"] < 0, "loading_percent"] < 100.0).all()
    assert (work.res_trafo.loc[work.trafo["role"] == "substation", "loading_percent"] < 100.0).all()
    assert (work.res_trafo["loading_percent"] < 100.0).mean() >= 0.9


@pytest.fixture(scope="module")
def roads() -> nx.MultiDiGraph:
    return grid_roads(10)


def test_given_substations_are_all_used_and_each_dt_is_fed_from_the_nearest(roads: nx.MultiDiGraph) -> None:
    subs = gpd.GeoDataFrame(geometry=[Point(X0 + 10, Y0 + 10), Point(X0 + 1790, Y0 + 1790)], crs=CRS)
    m = synthesise_grid(roads, uniform_loads(roads, 20.0), substations=subs)
    net = m.net
    within_limits(net)
    busbars = net.bus[net.bus["role"] == "mv_substation"]
    assert len(busbars) == 2 and len(net.ext_grid) == 2
    assert {(b.x_m, b.y_m) for b in busbars.itertuples()} == {(X0, Y0), (X0 + 1800, Y0 + 1800)}
    assert any("2 given (OSM) substation(s)" in a for a in m.assumptions)
    # every DT hangs (through its feeder) off the substation nearest to it along the street grid
    dts = net.trafo[net.trafo["role"] == "distribution"]
    graph = pp.topology.create_nxgraph(net, include_trafos=False)
    for dt in dts.itertuples():
        xy = net.bus.loc[dt.lv_bus, ["x_m", "y_m"]].to_numpy()
        manhattan = [abs(xy - np.array([bx, by])).sum() for bx, by in busbars[["x_m", "y_m"]].to_numpy()]
        if abs(manhattan[0] - manhattan[1]) < 1.0:
            continue  # equidistant: either is right
        nearest = busbars.index[int(np.argmin(manhattan))]
        assert nx.has_path(graph, dt.hv_bus, nearest)


def test_large_load_gets_several_substations_placed_by_load(roads: nx.MultiDiGraph) -> None:
    loads = uniform_loads(roads, 40.0, n_points=600)  # 24 MW
    m = synthesise_grid(roads, loads, max_substation_mva=20.0)
    net = m.net
    within_limits(net)
    subs = net.trafo[net.trafo["role"] == "substation"]
    assert len(subs) >= 2 and len(net.ext_grid) == len(subs)
    assert any("placed by load" in a for a in m.assumptions)
    # the substations are spread: no two share a road node
    busbars = net.bus[net.bus["role"] == "mv_substation"][["x_m", "y_m"]]
    assert not busbars.duplicated().any()
    with pytest.raises(DataError, match="max_substation_mva"):
        synthesise_grid(roads, loads, max_substation_mva=0.0)


def test_grid_level_rule() -> None:
    power = pd.Series({"a": 24.0, "b": 600.0, "c": 240.0})
    mv_type = pd.Series({"a": False, "b": False, "c": True})
    assert grid_level(power, mv_type).tolist() == ["lv", "mv", "mv"]
    assert grid_level(power, lv_max_kw=1000.0).tolist() == ["lv", "lv", "lv"]
    with pytest.raises(DataError):
        grid_level(power, lv_max_kw=0.0)


def test_sites_connect_by_road_distance() -> None:
    # two streets 60 m apart joined only at their west end (a river between them)
    g = nx.MultiDiGraph(crs=CRS)
    for i in range(6):
        g.add_node(i, x=X0 + 200.0 * i, y=Y0)  # south street
        g.add_node(10 + i, x=X0 + 200.0 * i, y=Y0 + 60.0)  # north street
    for i in range(5):
        for a, b in ((i, i + 1), (10 + i, 11 + i)):
            g.add_edge(a, b, length=200.0)
            g.add_edge(b, a, length=200.0)
    g.add_edge(0, 10, length=60.0)
    g.add_edge(10, 0, length=60.0)
    net = pp.create_empty_network()
    pp.create_buses(net, 2, 0.4)  # bus 0 across the river, bus 1 down the street
    net.bus["x_m"] = [X0 + 1000.0, X0 + 600.0]
    net.bus["y_m"] = [Y0 + 60.0, Y0]
    net.bus["role"] = "lv"
    sites = gpd.GeoDataFrame(
        {"power_kw": [50.0], "grid_level": ["lv"], "node_id": [5]},
        geometry=[Point(X0 + 1000.0, Y0)],
        index=pd.Index(["s0"], name="site_id"),
        crs=CRS,
    )
    straight = connect_sites_detail(net, sites)
    assert straight.at["s0", "bus_id"] == 0 and straight.at["s0", "method"] == "straight_line"
    by_road = connect_sites_detail(net, sites, roads=g)
    assert by_road.at["s0", "bus_id"] == 1 and by_road.at["s0", "method"] == "road"
    assert by_road.at["s0", "distance_m"] == pytest.approx(400.0)
    # a site on a road piece that reaches no bus falls back to the straight line
    g.add_node(99, x=X0 + 1000.0, y=Y0 - 500.0)
    g.add_node(98, x=X0 + 1200.0, y=Y0 - 500.0)
    g.add_edge(99, 98, length=200.0)
    far = sites.assign(node_id=[99])
    assert connect_sites_detail(net, far, roads=g).at["s0", "method"] == "straight_line"
