"""Tests of the LV level of synthesised grids (charge_planner.grid.lv and synthesise_grid)."""

from __future__ import annotations

import copy
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from charge_planner.errors import GridError
from charge_planner.grid import GridModel, synthesise_grid
from charge_planner.grid.connect import connect_sites_detail
from charge_planner.grid.lv import lv_bus_of
from charge_planner.grid.model import STANDARD_DT_RATINGS_KVA, URBAN_DT_RATINGS_KVA, run_pandapower
from charge_planner.grid.timeseries import run_time_series
from tests.test_grid import grid_roads
from tests.test_grid_synth import uniform_loads

CRS = "EPSG:32643"
X0, Y0 = 500_000.0, 3_000_000.0

#: IS 1180 (Part 1):2014 Table 1 standard ratings up to 1,000 kVA (11 kV), written out here.
IS_1180_RATINGS_KVA = {16.0, 25.0, 63.0, 100.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 800.0, 1000.0}


def solved(net: pp.pandapowerNet) -> pp.pandapowerNet:
    work = copy.deepcopy(net)
    run_pandapower(work)
    return work


@pytest.fixture(scope="module")
def model() -> GridModel:
    roads = grid_roads(10, spacing_m=100.0)
    return synthesise_grid(roads, uniform_loads(roads, 4.0))  # 1.2 MW on 0.81 km2


def test_ratings_come_from_the_standard_list_and_every_area_has_one_unit(model: GridModel) -> None:
    assert set(URBAN_DT_RATINGS_KVA) <= set(STANDARD_DT_RATINGS_KVA) <= IS_1180_RATINGS_KVA
    net = model.net
    dts = net.trafo[net.trafo["role"] == "distribution"]
    assert set((dts["sn_mva"] * 1000.0).round(3)) <= set(URBAN_DT_RATINGS_KVA)
    assert (dts["parallel"] == 1).all() and dts["lv_bus"].is_unique
    # no area heavier than one DT of the largest rating at the typical loading (75 % of 630 kVA)
    lv = net.bus["role"] == "lv"
    dt_kw = net.load.groupby(net.bus.loc[net.load["bus"], "dt"].to_numpy())["p_mw"].sum() * 1000.0
    assert set(dt_kw.index) == set(dts.index)
    assert dt_kw.max() / 0.95 <= 0.75 * 630.0 + 1e-6
    # every LV bus has a DT and hangs off that DT's LV busbar through LV lines only
    assert (net.bus.loc[lv, "dt"] >= 0).all() and (net.bus.loc[~lv, "dt"] == -1).all()
    lv_lines = net.line[net.line["dt"] >= 0]
    assert set(lv_lines["from_bus"]) | set(lv_lines["to_bus"]) <= set(net.bus.index[lv])
    g = nx.Graph()
    g.add_nodes_from(net.bus.index[lv])
    g.add_edges_from(zip(lv_lines["from_bus"], lv_lines["to_bus"], strict=True))
    for comp in nx.connected_components(g):
        owners = set(net.bus.loc[list(comp), "dt"])
        assert len(owners) == 1  # one DT's network, never two joined
        (dt,) = owners
        assert dts.at[dt, "lv_bus"] in comp
        assert nx.is_tree(g.subgraph(comp))  # radial
    assert (lv_lines["dt"] == net.bus.loc[lv_lines["to_bus"], "dt"].to_numpy()).all()
    # LV feeders exist: some DT has two or more, and some feeder more than one section
    per_dt = lv_lines.groupby("dt")["lv_feeder"].nunique()
    assert per_dt.max() >= 2
    assert lv_lines.groupby(["dt", "lv_feeder"]).size().max() >= 2
    # LV lines follow the road edges: their length is the sum of the edges they run along
    roads = grid_roads(10, spacing_m=100.0)
    for line in lv_lines.itertuples():
        path = [int(n) for n in line.road_nodes.split()]
        assert all(roads.has_edge(a, b) for a, b in zip(path, path[1:], strict=False))
        assert line.length_km * 1000.0 == pytest.approx(100.0 * (len(path) - 1))
        assert (net.bus.at[line.to_bus, "x_m"], net.bus.at[line.to_bus, "y_m"]) == pytest.approx(
            (roads.nodes[path[-1]]["x"], roads.nodes[path[-1]]["y"]))
    # total load is the input
    assert net.load["p_mw"].sum() * 1000.0 == pytest.approx(300 * 4.0)


def test_time_series_voltages_agree_with_pandapower(model: GridModel) -> None:
    ref = solved(model.net)
    index = pd.DatetimeIndex(["2030-05-15 20:00"])
    res = run_time_series(model.net, index, base_load_factor=np.ones(1))
    assert res.converged
    np.testing.assert_allclose(res.buses["vm_pu"].reindex(ref.bus.index), ref.res_bus["vm_pu"], atol=1e-6)
    np.testing.assert_allclose(res.trafos["loading_percent"].reindex(ref.trafo.index),
                               ref.res_trafo["loading_percent"], rtol=1e-4)


def _line_roads(n: int = 5, spacing_m: float = 100.0) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph(crs=CRS)
    for i in range(n):
        g.add_node(i, x=X0 + spacing_m * i, y=Y0)
    for i in range(n - 1):
        for a, b in ((i, i + 1), (i + 1, i)):
            geom = LineString([(g.nodes[a]["x"], Y0), (g.nodes[b]["x"], Y0)])
            g.add_edge(a, b, length=spacing_m, geometry=geom)
    return g


def test_lv_feeder_voltage_drop_matches_a_hand_computation() -> None:
    # a 400 m street with road nodes every 100 m and one 40 kW load point at its east end: the
    # load spreads over the five nodes by road length around them (50/100/100/100/50 m), i.e.
    # 5, 10, 10, 10, 5 kW; the DT stands at the load-weighted centre (x = 200 m), its two LV
    # feeders run 200 m west and east; the middle node of each feeder is split between the ends
    # of its section by position: the far end carries 5 + 10/2 = 10 kW at 200 m
    roads = _line_roads()
    loads = gpd.GeoDataFrame({"base_peak_kw": [40.0]}, geometry=[Point(X0 + 400.0, Y0)], crs=CRS)
    net = solved(synthesise_grid(roads, loads).net)
    dts = net.trafo[net.trafo["role"] == "distribution"]
    assert len(dts) == 1
    dt = dts.iloc[0]
    assert dt["sn_mva"] == pytest.approx(0.1)  # 40 kW / 0.95 / 0.75 = 56 kVA: nearest rating 100 kVA
    lv_bus = int(dt["lv_bus"])
    assert net.bus.at[lv_bus, "x_m"] == pytest.approx(X0 + 200.0)
    east = net.bus.index[(net.bus["role"] == "lv") & np.isclose(net.bus["x_m"], X0 + 400.0)]
    assert len(east) == 1
    load_east = net.load.loc[net.load["bus"] == east[0], "p_mw"].sum() * 1000.0
    assert load_east == pytest.approx(10.0)
    # hand: dV = (P R + Q X) / V_end [V, line-to-line], 200 m of ACSR-Rabbit-like conductor
    # (0.5939 + j0.300 ohm/km), in pu of 400 V
    p_w, tanphi = 10e3, math.tan(math.acos(0.95))
    r_ohm, x_ohm = 0.5939 * 0.2, 0.300 * 0.2
    v_dt, v_end = net.res_bus.at[lv_bus, "vm_pu"], net.res_bus.at[east[0], "vm_pu"]
    drop = (p_w * r_ohm + p_w * tanphi * x_ohm) / (400.0 * v_end) / 400.0
    assert v_dt - v_end == pytest.approx(drop, rel=0.005)
    # and the DT: 11/0.433 kV no-load ratio on a 0.4 kV (415 V) bus, minus its own drop
    # (vkr 1.6 %, vk 4.5 % at 100 kVA) for the whole 40 kW
    v_hv = net.res_bus.at[int(dt["hv_bus"]), "vm_pu"]
    vx = math.sqrt(4.5**2 - 1.6**2) / 100.0
    dt_drop = (0.040 * 0.016 + 0.040 * tanphi * vx) / 0.1
    assert v_dt == pytest.approx(v_hv * 433.0 / 415.0 * (1.0 - dt_drop), abs=2e-3)


def test_lv_bus_of_and_lv_sites_go_to_the_nearest_lv_bus(model: GridModel) -> None:
    net = model.net
    dts = net.trafo[net.trafo["role"] == "distribution"]
    lv = net.bus[(net.bus["role"] == "lv") & ~net.bus.index.isin(dts["lv_bus"])]
    # a feeder bus whose road node has no other LV bus
    counts = lv.groupby(["x_m", "y_m"]).size()
    bus = next(b for b, r in lv.iterrows() if counts[(r["x_m"], r["y_m"])] == 1
               and not ((net.bus["role"] == "lv") & (net.bus["x_m"] == r["x_m"]) & (net.bus["y_m"] == r["y_m"])
                        & (net.bus.index != b)).any())
    x, y = float(net.bus.at[bus, "x_m"]), float(net.bus.at[bus, "y_m"])
    assert lv_bus_of(model, x + 3.0, y - 2.0) == bus
    many = lv_bus_of(model, np.array([x + 3.0, x]), np.array([y, y + 1.0]))
    assert many.tolist() == [bus, bus]
    assert int(net.bus.at[bus, "dt"]) in set(dts.index)
    sites = gpd.GeoDataFrame(
        {"power_kw": [22.0], "grid_level": ["lv"]}, geometry=[Point(x + 3.0, y - 2.0)],
        index=pd.Index(["s0"], name="site_id"), crs=CRS,
    )
    assert connect_sites_detail(net, sites).at["s0", "bus_id"] == bus
    # no LV level: a clear error
    mv_only = copy.deepcopy(net)
    mv_only.bus.loc[mv_only.bus["role"] == "lv", "in_service"] = False
    with pytest.raises(GridError, match="no in-service LV bus"):
        lv_bus_of(GridModel(net=mv_only, source="x", crs=CRS), x, y)


def test_demo_base_case_has_sagging_tail_ends_and_some_dts_near_their_rating(demo_plan) -> None:
    net = copy.deepcopy(demo_plan.grid.net)
    # base case: the synthesised base load only, at its peak
    net.load = net.load[net.load["name"].astype(str).str.startswith("base load")]
    run_pandapower(net)
    lv = net.bus["role"] == "lv"
    v = net.res_bus.loc[lv, "vm_pu"]
    assert 0.9 <= v.min() < 0.97
    assert v.between(0.95, 1.05).mean() >= 0.95  # a few tail ends, not most of the grid
    dt = net.res_trafo.loc[net.trafo["role"] == "distribution", "loading_percent"]
    assert np.percentile(dt, 90) >= 80.0 and (dt < 100.0).mean() >= 0.97


def test_a_road_node_heavier_than_one_dt_gets_several_dts_each_with_its_share() -> None:
    # 1.2 MW on a 100 m street of two road nodes: 600 kW a node, more than one 630 kVA DT takes at
    # the typical 75 % loading (0.75 x 630 x 0.95 = 449 kW): two DTs stand at each node, each
    # with half of it, never paralleled
    roads = _line_roads(n=2)
    loads = gpd.GeoDataFrame({"base_peak_kw": [1200.0]}, geometry=[Point(X0 + 50.0, Y0)], crs=CRS)
    net = synthesise_grid(roads, loads).net
    dts = net.trafo[net.trafo["role"] == "distribution"]
    assert len(dts) == 4 and (dts["parallel"] == 1).all()
    per_dt = net.load.groupby(net.bus.loc[net.load["bus"], "dt"].to_numpy())["p_mw"].sum() * 1000.0
    np.testing.assert_allclose(sorted(per_dt), [300.0] * 4)
    at = net.bus.loc[dts["lv_bus"], "x_m"].round(3).value_counts()
    assert sorted(at.tolist()) == [2, 2]
