"""Benchmark of the road-network stage: sparse demand x candidate travel-time tables.

Run:  python tests/benchmarks/bench_network.py            (about 6-10 minutes on 2 cores)
      python tests/benchmarks/bench_network.py --quick    (Bengaluru only)

For the Bengaluru drive graph (``../shared/data/bengaluru``, or ``$CHARGE_PLANNER_DATA``) and a
generated city of about 100,000 directed edges (``synthetic.generate_city`` on 33 km x 33 km),
5,000 demand points and 1,000 candidates are drawn (seed 7) and snapped to their nearest node:
uniformly over the bounding box of central Bengaluru (built up throughout), and in proportion to
the generated population in the generated city (a uniform draw over its 1,089 km2 would put most
points in empty outskirts). With a 10-minute cut-off it measures, in the same run:

* ours: :func:`charge_planner.network.travel_table` (bounded multi-source Dijkstra of
  ``scipy.sparse.csgraph`` over the reversed graph, in spatial batches), median of 3 runs before
  and of 3 runs after the peer (the mean of the two medians);
* the osmnx/networkx way: one ``networkx.single_source_dijkstra_path_length(G_reversed,
  candidate, cutoff=600, weight="travel_time_s")`` per candidate, its reached nodes joined to the
  demand points in Python (one run);
* before timing, each side runs once untimed (the peer on 20 candidates): imports, first-call
  set-up and the first growth of the process's memory are not counted on either side (on small
  virtual machines, memory a process touches for the first time can cost about 1 ms per MB);

and prints wall-clock and CPU time (``time.process_time``: less sensitive to other processes on a
shared machine), peak memory (``tracemalloc``, a separate run of each), their ratios, whether both
give the same set of pairs and the largest absolute difference of their travel times.

Memory: the peak of ours is then measured at cut-offs of 2.5, 5 and 10 minutes on the larger
city and printed next to the number of pairs within the cut-off, in bytes per pair, and next to
the size a dense demand x candidate float64 matrix would need.

Timings depend on the machine and its load; the ratio is measured side by side.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from charge_planner.network import prepare_graph, snap_to_edges, travel_table  # noqa: E402
from charge_planner.presets import get_preset  # noqa: E402

CUTOFF_S = 600.0
N_DEMAND = 5_000
N_SITES = 1_000


def data_root() -> Path:
    env = os.environ.get("CHARGE_PLANNER_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def bengaluru() -> tuple[str, nx.MultiDiGraph]:
    import osmnx as ox

    path = data_root() / "bengaluru" / "central_bengaluru_drive.graphml"
    if not path.is_file():
        raise SystemExit(f"{path} not found; set CHARGE_PLANNER_DATA to the shared data folder")
    graph = prepare_graph(ox.load_graphml(path), speeds_kph=get_preset("india").road_speeds_kph)
    return f"Bengaluru ({path.name})", graph


def synthetic(width_m: float) -> tuple[str, nx.MultiDiGraph, gpd.GeoDataFrame]:
    from charge_planner.synthetic import generate_city

    city = generate_city(42, width_m=width_m, height_m=width_m)
    graph = prepare_graph(city.roads, speeds_kph=get_preset("india").road_speeds_kph)
    return f"generated city ({width_m / 1000:.0f} km x {width_m / 1000:.0f} km, seed 42)", graph, city.population


def population_points(population: gpd.GeoDataFrame, n: int, rng: np.random.Generator, prefix: str) -> gpd.GeoDataFrame:
    """Points drawn in proportion to population: a pixel by weight, then uniformly inside it."""
    w = population["population"].to_numpy(dtype=float)
    pick = rng.choice(len(w), size=n, p=w / w.sum())
    half = 50.0  # the generator's population pixels are 100 m
    x = population.geometry.x.to_numpy()[pick] + rng.uniform(-half, half, n)
    y = population.geometry.y.to_numpy()[pick] + rng.uniform(-half, half, n)
    return gpd.GeoDataFrame({"id": [f"{prefix}{i}" for i in range(n)]}, geometry=gpd.points_from_xy(x, y),
                            crs=population.crs).set_index("id")


def random_points(graph: nx.MultiDiGraph, n: int, rng: np.random.Generator, prefix: str) -> gpd.GeoDataFrame:
    xs = np.array([d["x"] for _, d in graph.nodes(data=True)])
    ys = np.array([d["y"] for _, d in graph.nodes(data=True)])
    pts = gpd.points_from_xy(rng.uniform(xs.min(), xs.max(), n), rng.uniform(ys.min(), ys.max(), n))
    return gpd.GeoDataFrame({"id": [f"{prefix}{i}" for i in range(n)]}, geometry=pts,
                            crs=graph.graph["crs"]).set_index("id")


def nearest_nodes(graph: nx.MultiDiGraph, points: gpd.GeoDataFrame) -> pd.Series:
    from charge_planner.network import snap_points

    nodes, _ = snap_points(graph, points)
    return pd.Series(nodes, index=points.index)


def ours(graph: nx.MultiDiGraph, dn: pd.Series, sn: pd.Series, cutoff_s: float) -> pd.DataFrame:
    return travel_table(graph, dn, sn, cutoff_s)


def peer(graph: nx.MultiDiGraph, dn: pd.Series, sn: pd.Series, cutoff_s: float) -> pd.DataFrame:
    """The osmnx/networkx way: one bounded Dijkstra per candidate on the reversed graph."""
    reverse = graph.reverse(copy=True)
    by_node: dict[Any, list[Any]] = {}
    for d, node in dn.items():
        by_node.setdefault(node, []).append(d)
    out_d: list[Any] = []
    out_s: list[Any] = []
    out_t: list[float] = []
    for s, node in sn.items():
        lengths = nx.single_source_dijkstra_path_length(reverse, node, cutoff=cutoff_s, weight="travel_time_s")
        for reached, t in lengths.items():
            rows = by_node.get(reached)
            if rows:
                out_d.extend(rows)
                out_s.extend([s] * len(rows))
                out_t.extend([t] * len(rows))
    return pd.DataFrame({"demand_id": out_d, "site_id": out_s, "travel_time_s": out_t})


def timed(fn: Callable[[], pd.DataFrame], repeat: int = 1) -> tuple[pd.DataFrame, float, float]:
    """Result, median wall-clock time [s] and median CPU time of this process [s]."""
    wall, cpu = [], []
    result = pd.DataFrame()
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return result, statistics.median(wall), statistics.median(cpu)


def peak_mb(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    result = fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return peak / 1e6


def compare(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, int, float]:
    m = a[["demand_id", "site_id", "travel_time_s"]].merge(
        b[["demand_id", "site_id", "travel_time_s"]], on=["demand_id", "site_id"], how="outer",
        suffixes=("_ours", "_peer"), indicator=True,
    )
    only_ours = int((m["_merge"] == "left_only").sum())
    only_peer = int((m["_merge"] == "right_only").sum())
    both = m["_merge"] == "both"
    diff = float((m.loc[both, "travel_time_s_ours"] - m.loc[both, "travel_time_s_peer"]).abs().max()) if both.any() else 0.0
    return only_ours, only_peer, diff


def draw(graph: nx.MultiDiGraph, population: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str]:
    rng = np.random.default_rng(7)
    if population is None:
        how = "uniform over the network's bounding box"
        return random_points(graph, N_DEMAND, rng, "d"), random_points(graph, N_SITES, rng, "s"), how
    how = "in proportion to the generated population"
    return population_points(population, N_DEMAND, rng, "d"), population_points(population, N_SITES, rng, "s"), how


def run_case(name: str, graph: nx.MultiDiGraph, *, peer_memory: bool,
             population: gpd.GeoDataFrame | None = None) -> dict[str, float]:
    demand, sites, how = draw(graph, population)
    dn = nearest_nodes(graph, demand)
    sn = nearest_nodes(graph, sites)
    print(f"\n== {name}: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges; "
          f"{N_DEMAND:,} demand x {N_SITES:,} candidates drawn {how} and snapped to their nearest node "
          f"({sn.nunique():,} distinct candidate nodes), cut-off {CUTOFF_S / 60:.0f} min", flush=True)
    # warm-up, untimed: imports, first-call set-up and the memory allocator's first growth
    ours(graph, dn, sn, CUTOFF_S)
    peer(graph, dn, sn.iloc[:20], CUTOFF_S)
    table, t_ours, c_ours = timed(lambda: ours(graph, dn, sn, CUTOFF_S), repeat=3)
    m_ours = peak_mb(lambda: ours(graph, dn, sn, CUTOFF_S))
    print(f"ours  travel_table                       wall {t_ours:7.2f} s  cpu {c_ours:7.2f} s  "
          f"peak {m_ours:7.1f} MB  pairs {len(table):,}", flush=True)
    ref, t_peer, c_peer = timed(lambda: peer(graph, dn, sn, CUTOFF_S))
    m_peer = peak_mb(lambda: peer(graph, dn, sn, CUTOFF_S)) if peer_memory else float("nan")
    print(f"peer  networkx, one Dijkstra/candidate   wall {t_peer:7.2f} s  cpu {c_peer:7.2f} s  "
          f"peak {m_peer:7.1f} MB  pairs {len(ref):,}", flush=True)
    # ours again after the peer, so that a change of the machine's load hits both sides
    _, t_again, c_again = timed(lambda: ours(graph, dn, sn, CUTOFF_S), repeat=3)
    t_ours, c_ours = statistics.median([t_ours, t_again]), statistics.median([c_ours, c_again])
    only_ours, only_peer, diff = compare(table, ref)
    print(f"ratio {t_peer / t_ours:.1f}x faster by wall-clock time, {c_peer / c_ours:.1f}x by CPU time "
          f"(ours: mean of the medians before and after the peer); memory {m_peer / m_ours:.1f}x less")
    print(f"same pairs: {'yes' if only_ours == only_peer == 0 else 'NO'} ({only_ours} only in ours, "
          f"{only_peer} only in peer); largest |travel time difference| {diff:.3e} s")
    # the pipeline's way: points snapped to their nearest edge
    dsnap = snap_to_edges(graph, demand)
    ssnap = snap_to_edges(graph, sites)
    speed = 15.0 / 3.6
    edge_table, t_edge, _ = timed(lambda: travel_table(
        graph, dsnap["node_id"], ssnap["node_id"], CUTOFF_S, demand_access_s=dsnap["access_m"] / speed,
        site_access_s=ssnap["access_m"] / speed, demand_snap=dsnap, site_snap=ssnap), repeat=3)
    print(f"ours with points on their nearest edge (access at 15 km/h counted): time {t_edge:.2f} s, "
          f"pairs {len(edge_table):,}")
    return {"t_ours": t_ours, "t_peer": t_peer, "c_ours": c_ours, "c_peer": c_peer, "m_ours": m_ours,
            "m_peer": m_peer, "diff": diff}


def memory_scaling(name: str, graph: nx.MultiDiGraph, population: gpd.GeoDataFrame | None) -> None:
    demand, sites, _ = draw(graph, population)
    dn = nearest_nodes(graph, demand)
    sn = nearest_nodes(graph, sites)
    dense_mb = N_DEMAND * N_SITES * 8 / 1e6
    print(f"\n== memory of ours against pairs within the cut-off, {name} "
          f"(a dense {N_DEMAND:,} x {N_SITES:,} float64 matrix alone: {dense_mb:.0f} MB)")
    print(f"{'cut-off':>8} {'pairs':>12} {'share of D x C':>15} {'peak MB':>9} {'bytes/pair':>11}")
    holder: dict[float, int] = {}

    def run(minutes: float) -> None:
        holder[minutes] = len(ours(graph, dn, sn, minutes * 60.0))

    for minutes in (2.5, 5.0, 10.0):
        mb = peak_mb(lambda m=minutes: run(m))
        pairs = holder[minutes]
        print(f"{minutes:6.1f} m {pairs:12,} {pairs / (N_DEMAND * N_SITES):15.1%} {mb:9.1f} "
              f"{mb * 1e6 / max(pairs, 1):11.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Bengaluru only")
    parser.add_argument("--no-peer-memory", action="store_true", help="skip the traced run of the networkx way")
    parser.add_argument("--width-km", type=float, default=33.0, help="side of the generated city [km]")
    args = parser.parse_args()

    name, graph = bengaluru()
    run_case(name, graph, peer_memory=not args.no_peer_memory)
    if args.quick:
        return
    name, graph, population = synthetic(args.width_km * 1000.0)
    run_case(name, graph, peer_memory=not args.no_peer_memory, population=population)
    memory_scaling(name, graph, population)


if __name__ == "__main__":
    main()
