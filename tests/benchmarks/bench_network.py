"""Benchmark of the road-network stage: sparse demand x candidate travel-time tables.

Run:  python tests/benchmarks/bench_network.py            (about 2-5 minutes on 2 idle cores; pandana's
                                                           contraction hierarchy of the larger city
                                                           alone takes 20-40 s, untimed)
      python tests/benchmarks/bench_network.py --quick    (Bengaluru only, about 1 minute)
      python tests/benchmarks/bench_network.py --smoke    (small generated city, a few seconds;
                                                           checks that every peer agrees, not a timing)

The peers come with ``pip install -e ".[bench]"`` (pandana); a peer that is not installed is
skipped and the output says so.

For the Bengaluru drive graph (``../shared/data/bengaluru``, or ``$CHARGE_PLANNER_DATA``) and a
generated city of about 100,000 directed edges (``synthetic.generate_city`` on 33 km x 33 km),
5,000 demand points and 1,000 candidates are drawn (seed 7) and snapped to their nearest node:
uniformly over the bounding box of central Bengaluru (built up throughout), and in proportion to
the generated population in the generated city (a uniform draw over its 1,089 km2 would put most
points in empty outskirts). With a 10-minute cut-off it measures, in the same run, the time to
produce the same table (``demand_id``, ``site_id``, ``travel_time_s`` from demand point to
candidate, every pair within the cut-off):

* ours: :func:`charge_planner.network.travel_table` (bounded multi-source Dijkstra of
  ``scipy.sparse.csgraph`` over the reversed graph, in spatial batches; reading the networkx
  graph into arrays and the ``distance_m`` column are inside the timed call), median of 3 runs
  before and of 3 runs after the peers (the mean of the two medians); and again on the graph read
  into arrays before the timer (``EdgeTable.from_graph``, the analogue of the peers' structures built
  untimed, and what the pipeline does once per travel mode): every peer's ratio is printed against both;
* networkx at full strength: one ``networkx.single_source_dijkstra_path_length(cutoff=600,
  weight="travel_time_s")`` per DISTINCT candidate node, on a reversed simple ``DiGraph``
  (fastest of parallel edges) built before the timer; its reached nodes are joined to the
  demand and candidate ids with numpy (one run);
* pandana (``pip install pandana``): a ``pandana.Network`` built on the REVERSED edges with
  ``twoway=False`` (so that a range query from a candidate reaches the demand nodes that can
  drive to it: the same direction as ours), its contraction-hierarchy build timed separately
  and printed, not counted; timed: ``nodes_in_range(distinct candidate nodes, 600)`` and the
  same numpy join (median of 3 runs); then again after ``precompute(600)``, which runs the
  range query of every node of the graph once (timed separately, printed, not counted) so that
  ``nodes_in_range`` only looks its results up: pandana at its fastest for repeated queries.
  pandana truncates every edge impedance to 1/1000 of its unit (its contraction hierarchy works
  in integers) and returns single-precision times, so its times are shorter than ours by up to
  1 ms per edge, and pairs that close to the cut-off may fall on either side of it; the output
  counts them separately;
* before timing, each side runs once untimed (networkx on 20 candidates): imports, first-call
  set-up and the first growth of the process's memory are not counted on either side (on small
  virtual machines, memory a process touches for the first time can cost about 1 ms per MB);

and prints, per graph, one table: wall-clock and CPU time (``time.process_time``: less sensitive
to other processes on a shared machine), peak memory (``tracemalloc``, a separate run of each;
it does not see pandana's C++ memory, so none is given for pandana), how many times faster ours
is, whether the pairs agree and the largest absolute difference of the travel times.

Memory: the peak of ours is then measured at cut-offs of 2.5, 5 and 10 minutes on the larger
city and printed next to the number of pairs within the cut-off, in bytes per pair, and next to
the size a dense demand x candidate float64 matrix would need.

Timings depend on the machine and its load; the ratios are measured side by side, and only a
run on an otherwise idle machine gives figures to quote.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from charge_planner.network import EdgeTable, prepare_graph, snap_to_edges, travel_table  # noqa: E402
from charge_planner.presets import get_preset  # noqa: E402

CUTOFF_S = 600.0
N_DEMAND = 5_000
N_SITES = 1_000
# pandana truncates each edge impedance to 1/1000 s: over a route of up to 200 edges its times
# can be shorter than ours by this much
PANDANA_TOL_S = 0.2


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


def ours(graph: nx.MultiDiGraph, dn: pd.Series, sn: pd.Series, cutoff_s: float,
         edges: EdgeTable | None = None) -> pd.DataFrame:
    return travel_table(graph, dn, sn, cutoff_s, edges=edges)


# --- the peers' shared parts (built before any timer, or cheap and vectorised) -------------------

def fastest_edges(graph: nx.MultiDiGraph) -> pd.DataFrame:
    """One row per directed node pair: ``u``, ``v`` and the fastest parallel edge's ``travel_time_s``."""
    u, v, t = [], [], []
    for a, b, d in graph.edges(data=True):
        u.append(a)
        v.append(b)
        t.append(d["travel_time_s"])
    edges = pd.DataFrame({"u": u, "v": v, "travel_time_s": np.asarray(t, dtype=float)})
    return edges.groupby(["u", "v"], as_index=False, sort=False)["travel_time_s"].min()


def reversed_digraph(edges: pd.DataFrame) -> nx.DiGraph:
    """The reversed road network as a simple DiGraph (what networkx searches fastest)."""
    rev = nx.DiGraph()
    rev.add_nodes_from(pd.unique(edges[["u", "v"]].to_numpy().ravel()))
    rev.add_weighted_edges_from(zip(edges["v"], edges["u"], edges["travel_time_s"], strict=True),
                                weight="travel_time_s")
    return rev


def _group_rows(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(nodes, kind="stable")
    return order, nodes[order]


def join_pairs(src: np.ndarray, dst: np.ndarray, t: np.ndarray, dn: pd.Series, sn: pd.Series) -> pd.DataFrame:
    """(candidate node, reached node, time) -> one row per (demand_id, site_id) on those nodes.

    Vectorised: each reached node expands into the demand rows snapped to it, each candidate node
    into the candidates snapped to it.
    """
    d_order, d_sorted = _group_rows(dn.to_numpy(dtype=np.int64))
    lo = np.searchsorted(d_sorted, dst, "left")
    cnt = np.searchsorted(d_sorted, dst, "right") - lo
    keep = cnt > 0
    src, lo, cnt, t = src[keep], lo[keep], cnt[keep], t[keep]
    rep = np.repeat(np.arange(len(lo)), cnt)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    d_rows = d_order[lo[rep] + offset]
    s_src, t = src[rep], t[rep]
    s_order, s_sorted = _group_rows(sn.to_numpy(dtype=np.int64))
    lo = np.searchsorted(s_sorted, s_src, "left")
    cnt = np.searchsorted(s_sorted, s_src, "right") - lo
    rep = np.repeat(np.arange(len(lo)), cnt)
    offset = np.arange(len(rep)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    s_rows = s_order[lo[rep] + offset]
    return pd.DataFrame({"demand_id": dn.index.to_numpy()[d_rows[rep]], "site_id": sn.index.to_numpy()[s_rows],
                         "travel_time_s": t[rep]})


def networkx_peer(reverse: nx.DiGraph, dn: pd.Series, sn: pd.Series, cutoff_s: float) -> pd.DataFrame:
    """networkx at full strength: one bounded Dijkstra per distinct candidate node on the reversed graph."""
    srcs, dsts, times = [], [], []
    for node in pd.unique(sn.to_numpy()):
        lengths = nx.single_source_dijkstra_path_length(reverse, node, cutoff=cutoff_s, weight="travel_time_s")
        n = len(lengths)
        srcs.append(np.full(n, node, dtype=np.int64))
        dsts.append(np.fromiter(lengths.keys(), dtype=np.int64, count=n))
        times.append(np.fromiter(lengths.values(), dtype=float, count=n))
    if not srcs:
        return pd.DataFrame({"demand_id": [], "site_id": [], "travel_time_s": []})
    return join_pairs(np.concatenate(srcs), np.concatenate(dsts), np.concatenate(times), dn, sn)


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence what a C++ extension writes to file descriptor 1 (pandana's build progress)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def pandana_network(graph: nx.MultiDiGraph, edges: pd.DataFrame) -> Any:
    """A pandana Network on the REVERSED edges, one way (queries from a candidate reach its demand)."""
    import pandana

    ids = np.fromiter(graph.nodes, dtype=np.int64, count=graph.number_of_nodes())
    x = pd.Series([graph.nodes[n]["x"] for n in ids], index=ids, dtype=float)
    y = pd.Series([graph.nodes[n]["y"] for n in ids], index=ids, dtype=float)
    with _quiet_stdout():
        return pandana.Network(x, y, edges["v"].to_numpy(np.int64), edges["u"].to_numpy(np.int64),
                               edges[["travel_time_s"]], twoway=False)


def pandana_peer(net: Any, dn: pd.Series, sn: pd.Series, cutoff_s: float) -> pd.DataFrame:
    reach = net.nodes_in_range(pd.unique(sn.to_numpy()).astype(np.int64), cutoff_s)
    return join_pairs(reach["source"].to_numpy(np.int64), reach["destination"].to_numpy(np.int64),
                      reach["travel_time_s"].to_numpy(float), dn, sn)


def pandana_available() -> bool:
    try:
        import pandana  # noqa: F401
    except ImportError:
        return False
    return True


# --- measuring ------------------------------------------------------------------------------------

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


@dataclass
class Agreement:
    only_ours: int
    only_peer: int
    at_cutoff: int  # of those, pairs within the tolerance of the cut-off on the side that has them
    max_diff_s: float

    def same(self, tol_s: float, *, boundary_ok: bool) -> bool:
        """Times within ``tol_s``; pairs identical, or differing only at the cut-off if ``boundary_ok``."""
        differ = self.only_ours + self.only_peer
        return self.max_diff_s <= tol_s and (differ == self.at_cutoff if boundary_ok else differ == 0)

    def text(self) -> str:
        if self.only_ours == self.only_peer == 0:
            pairs = "same pairs"
        else:
            pairs = (f"{self.only_ours} only in ours, {self.only_peer} only in peer "
                     f"({self.at_cutoff} of them at the cut-off)")
        return f"{pairs}; max |dt| {self.max_diff_s:.1e} s"


def compare(a: pd.DataFrame, b: pd.DataFrame, cutoff_s: float, tol_s: float) -> Agreement:
    cols = ["demand_id", "site_id", "travel_time_s"]
    a = a[cols].astype({"demand_id": str, "site_id": str})
    b = b[cols].astype({"demand_id": str, "site_id": str})
    m = a.merge(b, on=["demand_id", "site_id"], how="outer", suffixes=("_ours", "_peer"), indicator=True)
    left = m["_merge"] == "left_only"
    right = m["_merge"] == "right_only"
    both = m["_merge"] == "both"
    at_cut = int((left & (cutoff_s - m["travel_time_s_ours"] <= tol_s)).sum()
                 + (right & (cutoff_s - m["travel_time_s_peer"] <= tol_s)).sum())
    diff = float((m.loc[both, "travel_time_s_ours"] - m.loc[both, "travel_time_s_peer"]).abs().max()) if both.any() else 0.0
    return Agreement(int(left.sum()), int(right.sum()), at_cut, diff)


def draw(graph: nx.MultiDiGraph, population: gpd.GeoDataFrame | None, n_demand: int,
         n_sites: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, str]:
    rng = np.random.default_rng(7)
    if population is None:
        how = "uniform over the network's bounding box"
        return random_points(graph, n_demand, rng, "d"), random_points(graph, n_sites, rng, "s"), how
    how = "in proportion to the generated population"
    return (population_points(population, n_demand, rng, "d"), population_points(population, n_sites, rng, "s"),
            how)


def run_case(name: str, graph: nx.MultiDiGraph, *, peer_memory: bool, population: gpd.GeoDataFrame | None = None,
             n_demand: int = N_DEMAND, n_sites: int = N_SITES, cutoff_s: float = CUTOFF_S,
             repeat: int = 3, edge_snap: bool = True) -> list[dict[str, Any]]:
    """Time ours and every installed peer on one graph; print one table; return its rows."""
    demand, sites, how = draw(graph, population, n_demand, n_sites)
    dn = nearest_nodes(graph, demand)
    sn = nearest_nodes(graph, sites)
    print(f"\n== {name}: {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges; "
          f"{n_demand:,} demand x {n_sites:,} candidates drawn {how} and snapped to their nearest node "
          f"({sn.nunique():,} distinct candidate nodes), cut-off {cutoff_s / 60:.1f} min", flush=True)

    # built before any timer: the peers' graphs
    t0 = time.perf_counter()
    edges = fastest_edges(graph)
    reverse = reversed_digraph(edges)
    nx_build = time.perf_counter() - t0
    net = None
    pd_build = float("nan")
    if pandana_available():
        t0 = time.perf_counter()
        net = pandana_network(graph, edges)
        pd_build = time.perf_counter() - t0

    # ours prepared like the peers: the graph read into arrays once, untimed (EdgeTable, which the
    # pipeline builds once per travel mode and shares between the site snap and the table)
    t0 = time.perf_counter()
    arrays = EdgeTable.from_graph(graph)
    arrays_s = time.perf_counter() - t0

    # warm-up, untimed: imports, first-call set-up and the memory allocator's first growth
    ours(graph, dn, sn, cutoff_s)
    ours(graph, dn, sn, cutoff_s, arrays)
    networkx_peer(reverse, dn, sn.iloc[:20], cutoff_s)
    if net is not None:
        pandana_peer(net, dn, sn, cutoff_s)

    table, t_ours, c_ours = timed(lambda: ours(graph, dn, sn, cutoff_s), repeat=repeat)
    table_p, t_prep, c_prep = timed(lambda: ours(graph, dn, sn, cutoff_s, arrays), repeat=repeat)
    pd.testing.assert_frame_equal(table_p, table)
    del table_p
    m_ours = peak_mb(lambda: ours(graph, dn, sn, cutoff_s)) if peer_memory else float("nan")
    rows: list[dict[str, Any]] = []

    ref, t_nx, c_nx = timed(lambda: networkx_peer(reverse, dn, sn, cutoff_s))
    m_nx = peak_mb(lambda: networkx_peer(reverse, dn, sn, cutoff_s)) if peer_memory else float("nan")
    agree_nx = compare(table, ref, cutoff_s, 0.0)
    rows.append({"method": "networkx, 1 Dijkstra/distinct candidate node", "wall": t_nx, "cpu": c_nx, "mb": m_nx,
                 "pairs": len(ref), "agree": agree_nx, "ok": agree_nx.same(1e-6, boundary_ok=False),
                 "note": f"reversed DiGraph built untimed in {nx_build:.2f} s"})
    del ref
    if net is not None:
        ref, t_pd, c_pd = timed(lambda: pandana_peer(net, dn, sn, cutoff_s), repeat=repeat)
        agree_pd = compare(table, ref, cutoff_s, PANDANA_TOL_S)
        rows.append({"method": "pandana nodes_in_range, reversed one-way", "wall": t_pd, "cpu": c_pd,
                     "mb": float("nan"), "pairs": len(ref), "agree": agree_pd,
                     "ok": agree_pd.same(PANDANA_TOL_S, boundary_ok=True),
                     "note": f"contraction hierarchy built untimed in {pd_build:.2f} s "
                             f"(with it: {t_pd + pd_build:.2f} s)"})
        del ref
        # pandana's cache: precompute(radius) runs the range query of EVERY node once; later
        # nodes_in_range calls within that radius only look their results up
        t0 = time.perf_counter()
        with _quiet_stdout():
            net.precompute(cutoff_s)
        pre_s = time.perf_counter() - t0
        pandana_peer(net, dn, sn, cutoff_s)
        ref, t_pc, c_pc = timed(lambda: pandana_peer(net, dn, sn, cutoff_s), repeat=repeat)
        agree_pc = compare(table, ref, cutoff_s, PANDANA_TOL_S)
        rows.append({"method": "pandana nodes_in_range after precompute", "wall": t_pc, "cpu": c_pc,
                     "mb": float("nan"), "pairs": len(ref), "agree": agree_pc,
                     "ok": agree_pc.same(PANDANA_TOL_S, boundary_ok=True),
                     "note": f"precompute({cutoff_s:.0f}) over all {graph.number_of_nodes():,} nodes untimed in "
                             f"{pre_s:.2f} s (with it and the hierarchy: {t_pc + pre_s + pd_build:.2f} s)"})
        del ref
    else:
        rows.append({"method": "pandana", "skipped": "not installed (pip install -e \".[bench]\")"})

    # ours again after the peers, so that a change of the machine's load hits both sides
    _, t_again, c_again = timed(lambda: ours(graph, dn, sn, cutoff_s), repeat=repeat)
    _, t_prep2, c_prep2 = timed(lambda: ours(graph, dn, sn, cutoff_s, arrays), repeat=repeat)
    t_ours, c_ours = statistics.median([t_ours, t_again]), statistics.median([c_ours, c_again])
    t_prep, c_prep = statistics.median([t_prep, t_prep2]), statistics.median([c_prep, c_prep2])

    print(f"{'method':<46} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'pairs':>11} {'ours faster':>16}  agreement")
    print(f"{'ours: travel_table':<46} {t_ours:8.3f} {c_ours:8.3f} {m_ours:8.1f} {len(table):11,} {'':>16}  "
          f"(mean of the medians before and after the peers; reads the graph into arrays inside)")
    print(f"{'ours: travel_table on prepared arrays':<46} {t_prep:8.3f} {c_prep:8.3f} {'':>8} {len(table):11,} "
          f"{'':>16}  (EdgeTable built untimed in {arrays_s:.2f} s, as the peers' structures)")
    for r in rows:
        if "skipped" in r:
            print(f"{r['method']:<46} skipped: {r['skipped']}")
            continue
        ratio = f"{r['wall'] / t_ours:.1f}x / {r['cpu'] / c_ours:.1f}x"
        prepared = f"{r['wall'] / t_prep:.1f}x / {r['cpu'] / c_prep:.1f}x"
        print(f"{r['method']:<46} {r['wall']:8.3f} {r['cpu']:8.3f} {r['mb']:8.1f} {r['pairs']:11,} {ratio:>16}  "
              f"{r['agree'].text()}{'' if r['ok'] else '  DISAGREES'}")
        print(f"{'':<46} {r['note']}; on prepared arrays ours is {prepared} faster")
    print("(ours faster: wall-clock / CPU time against ours reading the graph inside the call, then against ours on "
          "prepared arrays (each side's structures built before the timer); peak memory by tracemalloc, nan = not "
          "measured)", flush=True)

    if edge_snap:
        # the pipeline's way: points snapped to their nearest edge
        dsnap = snap_to_edges(graph, demand)
        ssnap = snap_to_edges(graph, sites)
        speed = 15.0 / 3.6
        edge_table, t_edge, _ = timed(lambda: travel_table(
            graph, dsnap["node_id"], ssnap["node_id"], cutoff_s, demand_access_s=dsnap["access_m"] / speed,
            site_access_s=ssnap["access_m"] / speed, demand_snap=dsnap, site_snap=ssnap), repeat=repeat)
        print(f"ours with points on their nearest edge (access at 15 km/h counted): time {t_edge:.2f} s, "
              f"pairs {len(edge_table):,}")
    for r in rows:
        r["t_ours"] = t_ours
        r["t_prepared"] = t_prep
    return rows


def memory_scaling(name: str, graph: nx.MultiDiGraph, population: gpd.GeoDataFrame | None) -> None:
    demand, sites, _ = draw(graph, population, N_DEMAND, N_SITES)
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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a peer's table disagrees with ours."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Bengaluru only")
    parser.add_argument("--smoke", action="store_true",
                        help="a 5 km generated city, 400 x 80 points, 5-minute cut-off: checks the peers agree")
    parser.add_argument("--no-peer-memory", action="store_true", help="skip the traced runs")
    parser.add_argument("--width-km", type=float, default=33.0, help="side of the generated city [km]")
    args = parser.parse_args(argv)

    if args.smoke:
        name, graph, population = synthetic(5000.0)
        rows = run_case(name, graph, peer_memory=False, population=population, n_demand=400, n_sites=80,
                        cutoff_s=300.0, repeat=1, edge_snap=False)
    else:
        name, graph = bengaluru()
        rows = run_case(name, graph, peer_memory=not args.no_peer_memory)
        if not args.quick:
            name, graph, population = synthetic(args.width_km * 1000.0)
            rows += run_case(name, graph, peer_memory=not args.no_peer_memory, population=population)
            memory_scaling(name, graph, population)
    bad = [r["method"] for r in rows if "skipped" not in r and not r["ok"]]
    if bad:
        print(f"DISAGREEMENT with ours: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
