from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from charge_planner.errors import DataError
from charge_planner.network import travel as travel_module
from charge_planner.network.graph import (
    TIME_RESOLUTION_S,
    EdgeTable,
    parse_maxspeed,
    prepare_graph,
    utm_crs_for,
)
from charge_planner.network.isochrones import isochrones
from charge_planner.network.snap import snap_points, snap_to_edges
from charge_planner.network.travel import _packing, _routing_network, travel_table
from tests.conftest import grid_graph, shared

X0, Y0 = 500_000.0, 1_400_000.0  # corner of conftest.grid_graph


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


# --------------------------------------------------------------------------- speeds


@pytest.mark.parametrize(
    ("raw", "kph"),
    [("50", 50.0), ("30 mph", 30 * 1.609344), ("40;60", 50.0), (["30", "50"], 40.0), ("['20', '40']", 30.0),
     ("walk", np.nan), ("IN:urban", np.nan), (None, np.nan), ("none", np.nan)],
)
def test_parse_maxspeed(raw, kph):
    got = parse_maxspeed(raw)
    assert (np.isnan(got) and np.isnan(kph)) or got == pytest.approx(kph)


def test_prepare_rounds_times_to_the_resolution_and_rejects_bad_speeds():
    g = grid_graph(3, spacing_m=123.457)
    out = prepare_graph(g, speeds_kph={"residential": 17.0})
    for _, _, d in out.edges(data=True):
        steps = d["travel_time_s"] / TIME_RESOLUTION_S
        assert steps == round(steps)
        assert d["travel_time_s"] == pytest.approx(123.457 / (17.0 / 3.6), abs=TIME_RESOLUTION_S)
    with pytest.raises(DataError, match="residential"):
        prepare_graph(g, speeds_kph={"residential": 0.0})


def test_prepare_projects_a_geographic_graph_to_utm():
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=85.3170, y=27.6900)
    g.add_node(2, x=85.3180, y=27.6900)
    g.add_edge(1, 2, length=98.5, highway="primary")
    g.add_edge(2, 1, length=98.5, highway="primary")
    out = prepare_graph(g, speeds_kph={"primary": 30.0})
    assert out.graph["crs"] == "EPSG:32645"  # Kathmandu
    assert out[1][2][0]["travel_time_s"] == pytest.approx(98.5 / (30 / 3.6), abs=1e-6)


def test_projection_matches_osmnx_and_leaves_the_input_alone():
    import osmnx as ox

    from charge_planner.osm import read_osm

    raw = read_osm(shared("kathmandu", "kathmandu_thapathali_map.osm"), mode="car", layers=False).roads
    before = {n: (d["x"], d["y"]) for n, d in raw.nodes(data=True)}
    ours = prepare_graph(raw, crs="EPSG:32645")
    ref = ox.project_graph(raw, to_crs="EPSG:32645")
    assert {n: (d["x"], d["y"]) for n, d in raw.nodes(data=True)} == before  # the input is not changed
    for n, d in ours.nodes(data=True):
        assert (d["x"], d["y"]) == pytest.approx((ref.nodes[n]["x"], ref.nodes[n]["y"]), abs=1e-6)
        assert (d["lon"], d["lat"]) == before[n]
    for u, v, k, d in ours.edges(keys=True, data=True):
        if "geometry" in d:
            assert d["geometry"].equals_exact(ref[u][v][k]["geometry"], tolerance=1e-6)


# --------------------------------------------------------------------------- travel table against networkx


def _networkx_table(g, demand_nodes, site_nodes, cutoff):
    rev = g.reverse(copy=True)
    rows = []
    by_node = {}
    for d, n in demand_nodes.items():
        by_node.setdefault(n, []).append(d)
    for s, n in site_nodes.items():
        for reached, t in nx.single_source_dijkstra_path_length(rev, n, cutoff=cutoff, weight="travel_time_s").items():
            rows += [(d, s, t) for d in by_node.get(reached, ())]
    return pd.DataFrame(rows, columns=["demand_id", "site_id", "travel_time_s"])


def _compare(ours, ref):
    m = ours.merge(ref, on=["demand_id", "site_id"], how="outer", indicator=True, suffixes=("", "_ref"))
    assert (m["_merge"] == "both").all(), m["_merge"].value_counts().to_dict()
    return float((m["travel_time_s"] - m["travel_time_s_ref"]).abs().max())


@pytest.fixture(scope="module")
def bengaluru():
    import osmnx as ox

    from charge_planner.presets import get_preset

    g = ox.load_graphml(shared("bengaluru", "central_bengaluru_drive.graphml"))
    return prepare_graph(g, speeds_kph=get_preset("india").road_speeds_kph)


def test_bengaluru_table_identical_to_networkx(bengaluru):
    rng = np.random.default_rng(3)
    nodes = np.array(list(bengaluru.nodes))
    dn = pd.Series(rng.choice(nodes, 400), index=[f"d{i}" for i in range(400)])
    sn = pd.Series(rng.choice(nodes, 40), index=[f"s{i}" for i in range(40)])
    ours = travel_table(bengaluru, dn, sn, 420.0)
    assert _compare(ours, _networkx_table(bengaluru, dn, sn, 420.0)) == 0.0
    # distances are the lengths of the fastest paths
    for row in ours.sample(25, random_state=1).itertuples():
        path = nx.shortest_path(bengaluru, dn[row.demand_id], sn[row.site_id], weight="travel_time_s")
        length = sum(min(e["length"] for e in bengaluru[a][b].values()) for a, b in zip(path[:-1], path[1:], strict=True))
        assert row.distance_m == pytest.approx(length, abs=0.5)
    # small batches and tight memory bounds give the same table (the spatial pruning is exact)
    small = travel_table(bengaluru, dn, sn, 420.0, chunk=3, max_cells=20_000)
    key = ["demand_id", "site_id"]
    a = ours.sort_values(key).reset_index(drop=True)
    b = small.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_india_road_speeds_reproduce_the_sourced_bengaluru_average(bengaluru):
    """The preset's speeds per road class are assumptions; their aggregate is checked against
    Bengaluru's sourced 2019 average ride speed."""
    from charge_planner.presets import ROAD_SPEEDS_CHECK_KPH

    bengaluru_kph, lo, hi = ROAD_SPEEDS_CHECK_KPH
    rng = np.random.default_rng(8)
    nodes = np.array(list(bengaluru.nodes))
    dn = pd.Series(rng.choice(nodes, 800), index=[f"d{i}" for i in range(800)])
    sn = pd.Series(rng.choice(nodes, 150), index=[f"s{i}" for i in range(150)])
    t = travel_table(bengaluru, dn, sn, 3600.0)
    trips = t[t["distance_m"] > 1000.0]
    kph = 3.6 * trips["distance_m"].sum() / trips["travel_time_s"].sum()
    assert len(trips) > 50_000
    assert lo <= kph <= hi
    assert kph == pytest.approx(bengaluru_kph, rel=0.05)


def test_times_off_the_resolution_grid_use_the_exact_fallback():
    g = prepare_graph(grid_graph(5), speeds_kph={"residential": 36.0})
    rng = np.random.default_rng(0)
    for _, _, d in g.edges(data=True):
        d["travel_time_s"] = 20.0 + rng.uniform(0, 1) * 1e-3 + 1e-9  # not on the 2**-20 s grid
    et = EdgeTable.from_graph(g)
    routing, _ = _routing_network(et, [])
    assert _packing(routing.rev, 100.0) is None
    dn = pd.Series(list(g.nodes), index=list(g.nodes))
    sn = pd.Series([0, 12, 24], index=["a", "b", "c"])
    ours = travel_table(g, dn, sn, 100.0)
    assert _compare(ours, _networkx_table(g, dn, sn, 100.0)) < 1e-9


def test_dropped_demand_rows_get_no_pairs():
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})
    dn = pd.Series([0, -1, 4], index=["a", "gone", "c"])
    t = travel_table(g, dn, pd.Series([8], index=["s"]), 600.0)
    assert set(t["demand_id"]) == {"a", "c"}


def test_bad_inputs_to_the_table_are_clear_errors():
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})
    dn = pd.Series([0, 1], index=["a", "b"])
    with pytest.raises(DataError, match="not in the road graph"):
        travel_table(g, dn, pd.Series([999], index=["s"]), 60.0)
    with pytest.raises(DataError, match="cut-off"):
        travel_table(g, dn, pd.Series([4], index=["s"]), pd.Series({"a": 60.0}))
    with pytest.raises(DataError, match="demand_access_s"):
        travel_table(g, dn, pd.Series([4], index=["s"]), 60.0, demand_access_s=pd.Series({"a": -1.0, "b": 0.0}))
    raw = grid_graph(3)
    with pytest.raises(DataError, match="prepare_graph"):
        travel_table(raw, dn, pd.Series([4], index=["s"]), 60.0)


# --------------------------------------------------------------------------- edge snapping


def _pts(xy, crs="EPSG:32643", prefix="p"):
    return gpd.GeoDataFrame(index=[f"{prefix}{i}" for i in range(len(xy))],
                            geometry=gpd.points_from_xy(*np.asarray(xy, dtype=float).T), crs=crs)


def test_snap_to_edges_projects_onto_the_nearest_street():
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})
    snap = snap_to_edges(g, _pts([(X0 + 60, Y0 + 30), (X0 + 200, Y0 + 190)]))
    first = snap.iloc[0]
    assert {first["u"], first["v"]} == {0, 3}  # the street y = Y0 between nodes 0 and 3
    assert first["access_m"] == pytest.approx(30.0)
    assert first["edge_frac"] == pytest.approx(0.3 if first["u"] == 0 else 0.7)
    assert first["node_id"] == 0
    second = snap.iloc[1]
    assert second["access_m"] == pytest.approx(0.0, abs=1e-9) or second["access_m"] == pytest.approx(10.0)
    assert second["node_id"] == 4


def test_travel_between_points_on_edges_known_answers():
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})  # 10 m/s
    demand = _pts([(X0 + 60, Y0), (X0 + 20, Y0)], prefix="d")
    sites = _pts([(X0 + 200, Y0 + 140), (X0 + 120, Y0)], prefix="s")
    ds, ss = snap_to_edges(g, demand), snap_to_edges(g, sites)
    t = travel_table(g, ds["node_id"], ss["node_id"], 1000.0, demand_snap=ds, site_snap=ss)
    got = {(r.demand_id, r.site_id): (r.travel_time_s, r.distance_m) for r in t.itertuples()}
    assert got[("d0", "s0")] == pytest.approx((28.0, 280.0), abs=1e-2)  # 140 m to node 3, 140 m up the street
    assert got[("d1", "s1")] == pytest.approx((10.0, 100.0), abs=1e-2)  # along the same street
    # one-way street 0 -> 3: from x = 120 back to x = 20 goes round the block
    one = g.copy()
    one.remove_edge(3, 0)
    ds, ss = snap_to_edges(one, _pts([(X0 + 120, Y0)], prefix="d")), snap_to_edges(one, _pts([(X0 + 20, Y0)], prefix="s"))
    t = travel_table(one, ds["node_id"], ss["node_id"], 1000.0, demand_snap=ds, site_snap=ss)
    assert t["travel_time_s"].iloc[0] == pytest.approx(8.0 + 60.0 + 2.0, abs=1e-3)
    assert t["distance_m"].iloc[0] == pytest.approx(700.0, abs=1e-2)


@pytest.mark.parametrize("off_grid", [False, True])
def test_edge_snapped_table_matches_brute_force_on_a_grid(off_grid):
    n, spacing, v = 6, 200.0, 10.0
    g = prepare_graph(grid_graph(n, spacing_m=spacing), speeds_kph={"residential": 36.0})
    if off_grid:  # times off the 2**-20 s grid take the exact fallback (predecessors, pointer jumping)
        for _, _, d in g.edges(data=True):
            d["travel_time_s"] += 1e-9
    rng = np.random.default_rng(11)

    def on_streets(k):
        along = rng.uniform(0, (n - 1) * spacing, k)
        line = rng.integers(0, n, k) * spacing
        horizontal = rng.random(k) < 0.5
        return np.column_stack([np.where(horizontal, along, line), np.where(horizontal, line, along)])

    dxy, sxy = on_streets(40), on_streets(12)
    ds = snap_to_edges(g, _pts(dxy + [X0, Y0], prefix="d"))
    ss = snap_to_edges(g, _pts(sxy + [X0, Y0], prefix="s"))
    table = travel_table(g, ds["node_id"], ss["node_id"], 10_000.0, demand_snap=ds, site_snap=ss)
    assert len(table) == 40 * 12
    got = table.set_index(["demand_id", "site_id"])["travel_time_s"]
    dist = table.set_index(["demand_id", "site_id"])["distance_m"]
    assert (dist - got * v).abs().max() < 0.05  # one speed everywhere: distance = time x speed
    hops = dict(nx.all_pairs_dijkstra_path_length(g, weight="travel_time_s"))
    xy = {k: (d["x"] - X0, d["y"] - Y0) for k, d in g.nodes(data=True)}

    def ends(p, snap):
        return [(snap["u"], np.hypot(*(p - xy[snap["u"]])) / v), (snap["v"], np.hypot(*(p - xy[snap["v"]])) / v)]

    for i, p in enumerate(dxy):
        for j, q in enumerate(sxy):
            a, b = ds.iloc[i], ss.iloc[j]
            best = min(ta + hops[na][nb] + tb for na, ta in ends(p, a) for nb, tb in ends(q, b))
            if {a["u"], a["v"]} == {b["u"], b["v"]}:
                best = min(best, np.hypot(*(p - q)) / v)
            assert got[(f"d{i}", f"s{j}")] == pytest.approx(best, abs=1e-5)
    # the graph read into arrays once and reused gives the same snaps and the same table
    et = EdgeTable.from_graph(g, geometry=True, keys=True)
    pd.testing.assert_frame_equal(snap_to_edges(g, _pts(dxy + [X0, Y0], prefix="d"), edges=et), ds)
    again = travel_table(g, ds["node_id"], ss["node_id"], 10_000.0, demand_snap=ds, site_snap=ss, edges=et)
    pd.testing.assert_frame_equal(again, table)
    bare = EdgeTable.from_graph(g)  # without geometry: refused for snapped points, in one line
    with pytest.raises(DataError, match="geometry=True, keys=True"):
        travel_table(g, ds["node_id"], ss["node_id"], 10_000.0, demand_snap=ds, site_snap=ss, edges=bare)
    with pytest.raises(DataError, match="geometry=True, keys=True"):
        snap_to_edges(g, _pts(sxy + [X0, Y0], prefix="s"), edges=bare)


@pytest.mark.parametrize("off_grid", [False, True])
@pytest.mark.parametrize("snapped", [False, True])
def test_dense_and_pairwise_expansion_give_the_same_table(monkeypatch, off_grid, snapped):
    """Batches expand to sites x demand rows either densely (mask gather) or pair by pair; both
    must give the same table, with shared positions, access times and per-row cut-offs."""
    n, spacing = 7, 150.0
    g = prepare_graph(grid_graph(n, spacing_m=spacing), speeds_kph={"residential": 36.0})
    g[10][11][0]["travel_time_s"] = 400.0  # asymmetry
    if off_grid:
        for _, _, d in g.edges(data=True):
            d["travel_time_s"] += 1e-9
    rng = np.random.default_rng(5)
    nodes = np.array(list(g.nodes))
    # several demand rows and sites share a node or a position, so groups have many members
    d_ids = [f"d{i}" for i in range(120)]
    s_ids = [f"s{i}" for i in range(30)]
    dn = pd.Series(rng.choice(nodes[:20], len(d_ids)), index=d_ids)
    sn = pd.Series(rng.choice(nodes, len(s_ids)), index=s_ids)
    cut = pd.Series(rng.choice([120.0, 240.0, 400.0], len(d_ids)), index=d_ids)
    d_acc = pd.Series(rng.choice([0.0, 5.0, 12.5], len(d_ids)), index=d_ids)
    s_acc = pd.Series(rng.choice([0.0, 7.0], len(s_ids)), index=s_ids)
    kw = {}
    if snapped:
        xy = np.array([(d["x"], d["y"]) for _, d in g.nodes(data=True)])
        dpts = _pts(xy[rng.integers(0, len(xy), 12)][rng.integers(0, 12, len(d_ids))] + rng.choice([0.0, 40.0], (len(d_ids), 1)) * [1, 0],
                    prefix="d")
        spts = _pts(xy[rng.integers(0, len(xy), len(s_ids))] + [[0.0, 60.0]], prefix="s")
        ds, ss = snap_to_edges(g, dpts), snap_to_edges(g, spts)
        dn, sn = ds["node_id"], ss["node_id"]
        kw = {"demand_snap": ds, "site_snap": ss}
    key = ["demand_id", "site_id"]
    tables = {}
    for dense in (True, False):
        monkeypatch.setattr(travel_module, "_dense_is_cheaper", lambda *a, dense=dense, **k: dense)
        for args in ({"chunk": 64}, {"chunk": 4, "max_cells": 3_000}):
            t = travel_table(g, dn, sn, cut, demand_access_s=d_acc, site_access_s=s_acc, **kw, **args)
            tables[(dense, args["chunk"])] = t.sort_values(key).reset_index(drop=True)
    ref = tables[(False, 64)]
    assert 200 < len(ref) < 120 * 30  # some pairs within the cut-offs, some not
    assert (ref["travel_time_s"] <= cut[ref["demand_id"].astype(str)].to_numpy()).all()
    for t in tables.values():
        pd.testing.assert_frame_equal(t, ref)


def test_snapping_far_points_and_other_crs():
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})
    pts = _pts([(X0 + 60, Y0 + 30), (X0 + 5_000, Y0)])
    snap = snap_to_edges(g, pts, max_access_m=1_000.0)
    assert snap.loc["p1", "node_id"] == -1 and snap.loc["p0", "node_id"] == 0
    with pytest.raises(DataError, match="more than 100 m"):
        snap_to_edges(g, _pts([(X0 + 5_000, Y0)]), max_access_m=100.0)
    with pytest.raises(DataError, match="reproject"):
        snap_to_edges(g, pts.to_crs("EPSG:4326"))


def test_far_points_are_logged(caplog):
    g = prepare_graph(grid_graph(3), speeds_kph={"residential": 36.0})
    with caplog.at_level("WARNING", logger="charge_planner.network"):
        snap_to_edges(g, _pts([(X0 + 60, Y0 + 30), (X0 + 5_000, Y0)]), max_access_m=1_000.0)
    assert "dropped 1 of 2 points more than 1000 m" in caplog.text


# --------------------------------------------------------------------------- isochrones


def test_isochrones_cover_reachable_streets_only():
    g = prepare_graph(grid_graph(5), speeds_kph={"residential": 36.0})  # 20 s per 200 m block
    iso = isochrones(g, pd.Series([0], index=["site"]), [1.0, 2.0], buffer_m=10.0)
    assert list(iso.columns) == ["site_id", "minutes", "area_km2", "geometry"]
    assert list(iso["minutes"]) == [1.0, 2.0]
    one = iso.geometry.iloc[0]
    pt = gpd.points_from_xy
    assert one.contains(pt([X0 + 590], [Y0])[0])  # three blocks along the street: 59 s
    assert not one.contains(pt([X0 + 650], [Y0])[0])  # 65 s
    assert not one.contains(pt([X0 + 300], [Y0 + 300])[0])  # inside a block, 100 m from any street
    assert iso.geometry.iloc[1].contains(one.buffer(-1.0))
    assert iso["area_km2"].iloc[1] > iso["area_km2"].iloc[0] > 0
    with pytest.raises(DataError, match="positive"):
        isochrones(g, pd.Series([0], index=["site"]), [0.0])


# --------------------------------------------------------------------------- package layout

_OLD_NETWORK_NAMES = (
    "CRS_AREA_MARGIN_DEG", "DEFAULT_SPEED_KPH", "FALLBACK_SPEEDS_KPH", "MAX_CRS_SCALE_ERROR", "TIME_RESOLUTION_S",
    "TRAVEL_COLUMNS", "check_metric_crs", "graph_arrays", "id_positions", "isochrones", "lonlat_bounds",
    "parse_maxspeed", "prepare_graph", "snap_points", "snap_to_edges", "travel_table", "utm_crs_for",
)


def test_network_package_reexports_the_old_names():
    import charge_planner.network as network
    from charge_planner.ids import id_positions
    from charge_planner.network import graph, snap, travel
    from charge_planner.network import isochrones as iso_fn

    for name in _OLD_NETWORK_NAMES:
        assert hasattr(network, name), name
    assert network.prepare_graph is graph.prepare_graph
    assert network.snap_to_edges is snap.snap_to_edges
    assert network.travel_table is travel.travel_table
    assert network.id_positions is id_positions
    assert callable(iso_fn) and iso_fn.__module__ == "charge_planner.network.isochrones"


def _charge_planner_imports(path):
    """Every charge_planner module a source file imports, at any depth of its code."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("charge_planner"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("charge_planner"))
    return found


def test_network_imports_only_lower_layers():
    from pathlib import Path

    import charge_planner

    root = Path(charge_planner.__file__).parent
    lower = {"charge_planner.errors", "charge_planner.osm", "charge_planner.ids"}
    for path in sorted((root / "network").glob("*.py")):
        outside = {m for m in _charge_planner_imports(path) if not m.startswith("charge_planner.network")}
        outside = {m.rsplit(".", 1)[0] if m.startswith("charge_planner.osm.") else m for m in outside}
        assert outside <= lower, (path.name, outside - lower)
    # the layers below the network stage do not reach up into it
    for path in [*sorted((root / "osm").glob("*.py")), root / "ids.py", root / "errors.py"]:
        assert not any(m.startswith("charge_planner.network") for m in _charge_planner_imports(path)), path.name
