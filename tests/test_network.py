from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from charge_planner.errors import DataError
from charge_planner.network import prepare_graph, snap_points, travel_table, utm_crs_for
from tests.conftest import grid_graph, shared


def test_utm_zone():
    assert utm_crs_for(77.6, 12.97) == "EPSG:32643"
    assert utm_crs_for(106.69, 10.78) == "EPSG:32648"
    assert utm_crs_for(-70.0, -33.0) == "EPSG:32719"


def test_prepare_sets_speeds_and_keeps_largest_scc():
    g = grid_graph(4)
    g.add_node(999, x=0.0, y=0.0)
    g.add_edge(0, 999, length=100.0, highway="primary", maxspeed="10")  # one-way dead end: not strongly connected
    out = prepare_graph(g, speeds_kph={"residential": 18.0, "primary": 30.0})
    assert 999 not in out
    for _, _, d in out.edges(data=True):
        assert d["speed_kph"] == 18.0
        assert d["travel_time_s"] == pytest.approx(200.0 / 5.0)


def test_maxspeed_caps_class_speed():
    g = grid_graph(2)
    for _, _, d in g.edges(data=True):
        d["maxspeed"] = "12"
    out = prepare_graph(g, speeds_kph={"residential": 30.0})
    assert all(d["speed_kph"] == 12.0 for _, _, d in out.edges(data=True))


def test_empty_graph_is_a_clear_error():
    with pytest.raises(DataError, match="no edges"):
        prepare_graph(nx.MultiDiGraph(crs="EPSG:32643"))


def test_travel_table_matches_networkx_and_respects_cutoff():
    g = prepare_graph(grid_graph(6), speeds_kph={"residential": 36.0})  # 10 m/s -> 20 s per block
    # make one street one-way slow to create asymmetry
    g[7][8][0]["travel_time_s"] = 500.0
    demand_nodes = pd.Series([0, 7, 35, 14], index=["d0", "d1", "d2", "d3"])
    site_nodes = pd.Series([8, 21, 0], index=["s0", "s1", "s2"])
    table = travel_table(g, demand_nodes, site_nodes, 100.0, chunk=2)
    got = {(r.demand_id, r.site_id): (r.travel_time_s, r.distance_m) for r in table.itertuples()}
    expected = {}
    for d, dn in demand_nodes.items():
        lengths, paths = nx.single_source_dijkstra(g, dn, weight="travel_time_s")
        for s, sn in site_nodes.items():
            if lengths.get(sn, np.inf) <= 100.0:
                path = paths[sn]
                dist = sum(min(e["length"] for e in g[a][b].values()) for a, b in zip(path[:-1], path[1:], strict=True))
                expected[(d, s)] = (lengths[sn], dist)
    assert set(got) == set(expected)
    for key, (t, m) in expected.items():
        assert got[key][0] == pytest.approx(t, abs=1e-6)
        assert got[key][1] == pytest.approx(m, abs=1e-2)  # lengths are packed to about 1 cm per edge


def test_per_demand_cutoff_and_access_time():
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})
    dn = pd.Series([0, 0], index=["near", "far"])
    sn = pd.Series([2], index=["s"])
    cut = pd.Series({"near": 39.0, "far": 60.0})
    t = travel_table(g, dn, sn, cut)
    assert list(t["demand_id"]) == ["far"]
    t2 = travel_table(g, dn, sn, 60.0, demand_access_s=pd.Series({"near": 25.0, "far": 0.0}))
    assert set(t2["demand_id"]) == {"far"}


def test_snap_points_returns_nearest_node_and_distance():
    g = grid_graph(3)
    pts = gpd.GeoSeries(gpd.points_from_xy([500_010.0, 500_390.0], [1_400_000.0, 1_400_205.0]), crs="EPSG:32643")
    nodes, dist = snap_points(g, pts)
    assert list(nodes) == [0, 7]
    assert dist == pytest.approx([10.0, np.hypot(10, 5)])


def test_bengaluru_graphml_prepares():
    import osmnx as ox

    g = ox.load_graphml(shared("bengaluru", "central_bengaluru_drive.graphml"))
    out = prepare_graph(g)
    assert out.graph["crs"] == "EPSG:32643"
    assert out.number_of_edges() == 6401
    assert all(d["travel_time_s"] > 0 for _, _, d in out.edges(data=True))
