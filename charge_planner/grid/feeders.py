"""Building blocks of grid synthesis: DT ratings, substations, MV feeders and the pandapower net.

:func:`~charge_planner.grid.synthesise.synthesise_grid` places the distribution transformers
(DTs) with :mod:`~charge_planner.grid.lv`, rates them (:func:`_choose_rating`), places the 33/11 kV substations
(:func:`_place_substations`), splits the road tree into 11 kV feeders (:func:`_initial_feeders`,
:func:`_split_feeder`) and builds the pandapower net of a design state (:func:`_build_net`); the
design loop that adjusts that state lives in :mod:`~charge_planner.grid.synthesise`.
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandapower as pp
import pandas as pd
import pyproj
from pandapower.auxiliary import pandapowerNet
from pandapower.control import DiscreteTapControl
from scipy.spatial import cKDTree

from charge_planner.errors import GridError
from charge_planner.grid.lv import LVFeeders
from charge_planner.grid.model import (
    BASE_LOAD_POWER_FACTOR,
    DT_NO_LOAD_LV_FACTOR,
    DT_PARAMETER_TABLE,
    DT_TAP,
    EXT_GRID_VM_PU,
    FREQUENCY_HZ,
    LV_HEAVY_FROM_KVA,
    LV_LINE_STD_TYPE,
    LV_LINE_STD_TYPE_HEAVY,
    MV_BUSBAR_DEADBAND_PU,
    MV_BUSBAR_SETPOINT_PU,
    MV_LINE_STD_TYPE,
    MV_LINE_STD_TYPE_24KV,
    SUBSTATION_SNAP_M,
    SUBSTATION_TAP,
    SUBSTATION_TRAFO_PARAMETERS,
    _RoadTree,
)

log = logging.getLogger(__name__)

_KMEANS_MAX_ITER = 60
_KMEANSPP_MAX_WORK = 5_000_000


# ======================================================================================
# synthesise_grid: clustering loads into DT service areas
# ======================================================================================


def _weighted_kmeans(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Weighted k-means; returns a label per point.

    Seeding is k-means++ (weighted by load) while n x k is small; above that, O(n k) seeding
    would dominate, so k distinct points are drawn with probability proportional to load.
    Lloyd iterations use a KD-tree, O(n log k) each.
    """
    n = len(xy)
    k = max(1, min(k, n))
    p = w / w.sum()
    if n * k <= _KMEANSPP_MAX_WORK:
        centres = [xy[rng.choice(n, p=p)]]
        d2 = ((xy - centres[0]) ** 2).sum(axis=1)
        for _ in range(1, k):
            score = w * d2
            total = score.sum()
            if total <= 0:
                break
            c = xy[rng.choice(n, p=score / total)]
            centres.append(c)
            d2 = np.minimum(d2, ((xy - c) ** 2).sum(axis=1))
        centre_arr = np.array(centres)
    else:
        centre_arr = xy[np.sort(rng.choice(n, size=k, replace=False, p=p))]
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(_KMEANS_MAX_ITER):
        new = cKDTree(centre_arr).query(xy)[1].astype(np.int64)
        if np.array_equal(new, labels):
            break
        labels = new
        _, labels = np.unique(labels, return_inverse=True)
        wsum = np.bincount(labels, weights=w)
        centre_arr = np.column_stack(
            [
                np.bincount(labels, weights=w * xy[:, 0]) / wsum,
                np.bincount(labels, weights=w * xy[:, 1]) / wsum,
            ]
        )
    return labels


def _dt_parameters(rating_kva: np.ndarray) -> pd.DataFrame:
    logs = np.log(DT_PARAMETER_TABLE.index.to_numpy(dtype=float))
    out = {
        c: np.interp(np.log(rating_kva), logs, DT_PARAMETER_TABLE[c].to_numpy()) for c in DT_PARAMETER_TABLE
    }
    return pd.DataFrame(out)


def _choose_rating(kva: float, ratings: np.ndarray, loading: float) -> float:
    """Standard rating nearest (geometric mean rule) to ``kva / loading``; one unit, never parallel.

    Between two neighbouring ratings r1 < r2 the larger is chosen when ``kva / loading`` exceeds
    sqrt(r1 x r2), so peak loadings scatter around ``loading`` as they do in a grid built over
    the years rather than for one design day.
    """
    need = kva / loading
    bounds = np.sqrt(ratings[:-1] * ratings[1:])
    return float(ratings[int(np.searchsorted(bounds, need, side="right"))])


# ======================================================================================
# synthesise_grid: design state, feeders, net building
# ======================================================================================


@dataclass
class _Design:
    dt_node: np.ndarray
    dt_p_mw: np.ndarray
    dt_rating_kva: np.ndarray
    dt_tap_pos: np.ndarray
    feeders: list[list[int]]
    sub_unit_mva: float
    sub_units: np.ndarray  # units per substation
    sub_tap_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    taps_tried: list[set[int]] = field(default_factory=list)


def _place_substations(
    tree: _RoadTree,
    comp_tree: cKDTree,
    dt_xy: np.ndarray,
    dt_kva: np.ndarray,
    given_xy: np.ndarray | None,
    n_needed: int,
    load_xy: np.ndarray,
    load_kva: np.ndarray,
) -> tuple[np.ndarray, str]:
    """Road nodes of the substations and a sentence saying how they were chosen."""
    fixed = np.empty((0, 2))
    rule = ""
    if given_xy is not None and len(given_xy):
        dist, _ = comp_tree.query(given_xy)
        near = given_xy[dist <= SUBSTATION_SNAP_M]
        if len(near):
            fixed = near
            rule = f"{len(near)} given (OSM) substation(s) within {SUBSTATION_SNAP_M:g} m of the roads used"
        else:
            centre = np.average(load_xy, axis=0, weights=load_kva)
            fixed = given_xy[[int(np.argmin(((given_xy - centre) ** 2).sum(axis=1)))]]
            rule = "no given substation near the roads: the one nearest the load centre used"
    n_free = max(0, n_needed - len(fixed))
    centres = fixed.copy()
    if n_free:
        # farthest-first seeding weighted by load, then Lloyd iterations with the given ones held fixed
        # (the distance to the nearest centre is kept and lowered pick by pick, and the Lloyd means come
        # from one weighted count per coordinate, so the work grows with DTs x substations only linearly
        # in each)
        free: list[np.ndarray] = []
        d_near = cKDTree(centres).query(dt_xy)[0] if len(centres) else np.full(len(dt_xy), np.inf)
        for _ in range(n_free):
            if not len(centres) and not free:
                centre = np.average(dt_xy, axis=0, weights=dt_kva)
                pick = int(np.argmin(((dt_xy - centre) ** 2).sum(axis=1)))
            else:
                pick = int(np.argmax(d_near ** 2 * dt_kva))
            free.append(dt_xy[pick])
            d_near = np.minimum(d_near, np.hypot(dt_xy[:, 0] - dt_xy[pick, 0], dt_xy[:, 1] - dt_xy[pick, 1]))
        free_arr = np.array(free, dtype=float)
        n_all = len(fixed) + n_free
        for _ in range(_KMEANS_MAX_ITER):
            allc = np.vstack([fixed, free_arr])
            label = cKDTree(allc).query(dt_xy)[1]
            w = np.bincount(label, weights=dt_kva, minlength=n_all)[len(fixed):]
            wx = np.bincount(label, weights=dt_kva * dt_xy[:, 0], minlength=n_all)[len(fixed):]
            wy = np.bincount(label, weights=dt_kva * dt_xy[:, 1], minlength=n_all)[len(fixed):]
            has = w > 0
            moved = free_arr.copy()
            moved[has] = np.column_stack([wx[has] / w[has], wy[has] / w[has]])
            if np.allclose(moved, free_arr):
                break
            free_arr = moved
        centres = np.vstack([fixed, free_arr])
        placed = f"{n_free} substation(s) placed by load (weighted k-means of the DT loads; assumption)"
        rule = f"{rule}; {placed}" if rule else placed
    nodes = tree.component[comp_tree.query(centres)[1]].astype(np.int64)
    _, first = np.unique(nodes, return_index=True)
    return nodes[np.sort(first)], rule


def _union_children(tree: _RoadTree, nodes: Sequence[int] | np.ndarray) -> dict[int, list[int]]:
    """Children lists of the union of root paths of ``nodes`` (sorted for determinism)."""
    seen = {int(r) for r in tree.roots}
    children: dict[int, list[int]] = {}
    for n in sorted(set(int(x) for x in nodes)):
        cur = n
        while cur not in seen:
            seen.add(cur)
            par = int(tree.parent[cur])
            children.setdefault(par, []).append(cur)
            cur = par
    for kids in children.values():
        kids.sort()
    return children


def _first_hop(tree: _RoadTree, node: int, top: int) -> int:
    """The node just below ``top`` on the path from ``node`` up to ``top`` (``node`` if top is its parent)."""
    prev, cur = -1, node
    while cur != top:
        prev, cur = cur, int(tree.parent[cur])
    return prev


def _split_feeder(tree: _RoadTree, dts: list[int], design: _Design) -> list[list[int]] | None:
    """Split a feeder's DTs in two: cut off the subtree whose load is closest to half.

    The feeder's route is a tree rooted at the substation node. For each node v on it, S(v)
    is the base load of the feeder's DTs at or below v. The DTs at or below the node whose
    S(v) is closest to half the feeder load (among nodes holding some but not all of its
    DTs; ties: nearer the substation, then lower node) become a new feeder with its own cable
    from the substation; the others stay. On a chain this splits near half from far half.
    When all DTs sit at one node they are halved by load instead. Returns None for one DT.
    """
    if len(dts) < 2:
        return None
    children = _union_children(tree, design.dt_node[dts])
    load: dict[int, float] = {}
    count: dict[int, int] = {}
    for d in dts:
        n = int(design.dt_node[d])
        load[n] = load.get(n, 0.0) + float(design.dt_p_mw[d])
        count[n] = count.get(n, 0) + 1
    nodes = [n for kids in children.values() for n in kids]
    # children lie farther from the root than their parents (edge lengths > 0): accumulate
    # subtree sums from the farthest node inwards
    for n in sorted(nodes, key=lambda v: (-tree.dist_m[v], v)):
        par = int(tree.parent[n])
        load[par] = load.get(par, 0.0) + load.get(n, 0.0)
        count[par] = count.get(par, 0) + count.get(n, 0)
    total = float(design.dt_p_mw[dts].sum())
    candidates = [n for n in nodes if 0 < count.get(n, 0) < len(dts)]
    if candidates:
        best = min(candidates, key=lambda v: (abs(load[v] - total / 2.0), tree.dist_m[v], v))
        best_dist = tree.dist_m[best]
        cut: list[int] = []
        rest: list[int] = []
        for d in dts:
            cur = int(design.dt_node[d])
            while cur != best and not tree.is_root(cur) and tree.dist_m[cur] > best_dist:
                cur = int(tree.parent[cur])
            (cut if cur == best else rest).append(d)
        return [sorted(rest), sorted(cut)]
    # all DTs at one node: halve them by load (heaviest first into the lighter half)
    order = sorted(dts, key=lambda d: (-float(design.dt_p_mw[d]), d))
    bins: list[list[int]] = [[], []]
    bin_load = [0.0, 0.0]
    for d in order:
        j = 0 if bin_load[0] <= bin_load[1] else 1
        bins[j].append(d)
        bin_load[j] += float(design.dt_p_mw[d])
    return [sorted(b) for b in bins]


def _initial_feeders(tree: _RoadTree, design: _Design, max_feeder_mw: float) -> list[list[int]]:
    """One feeder per branch of the road tree leaving the substation node, then split heavy ones."""
    branches: dict[int, list[int]] = {}
    for d, n in enumerate(design.dt_node):
        if not tree.is_root(int(n)):
            root = int(tree.roots[tree.sub_of[int(n)]])
            branches.setdefault(_first_hop(tree, int(n), root), []).append(d)
    feeders = [sorted(branches[k]) for k in sorted(branches)]
    while True:
        new: list[list[int]] = []
        split_any = False
        for f in feeders:
            parts = _split_feeder(tree, f, design) if design.dt_p_mw[f].sum() > max_feeder_mw else None
            if parts is None:
                new.append(f)
            else:
                new += parts
                split_any = True
        feeders = new
        if not split_any:
            break
    return sorted(feeders, key=min)


@dataclass
class _Section:
    path: list[int]  # road node positions, upstream -> downstream
    length_m: float
    coords: np.ndarray  # projected coordinates along the roads


def _section(tree: _RoadTree, path: list[int], cache: dict[tuple[int, int], _Section]) -> _Section:
    key = (path[0], path[-1])
    if key in cache:
        return cache[key]
    length = 0.0
    parts: list[np.ndarray] = []
    for a, b in itertools.pairwise(path):
        k = (a, b) if a < b else (b, a)
        edge_len, start, coords = tree.edges[k]
        length += edge_len
        c = coords if start == a else coords[::-1]
        parts.append(c if not parts else c[1:])
    sec = _Section(path=path, length_m=length, coords=np.vstack(parts))
    cache[key] = sec
    return sec


def _feeder_sections(tree: _RoadTree, dt_nodes: np.ndarray) -> list[list[int]]:
    """Road paths (upstream -> downstream) between key nodes of one feeder.

    Key nodes are the substation node, DT nodes and branch points of the feeder's route;
    chains of degree-2 road nodes between them become one line section.
    """
    children = _union_children(tree, dt_nodes)
    roots = {int(r) for r in tree.roots}
    key = roots | {int(n) for n in dt_nodes} | {n for n, kids in children.items() if len(kids) >= 2}
    paths = []
    for k in sorted(key - roots, key=lambda n: (tree.dist_m[n], n)):
        path = [k]
        cur = int(tree.parent[k])
        while cur not in key:
            path.append(cur)
            cur = int(tree.parent[cur])
        path.append(cur)
        paths.append(path[::-1])
    return paths


@dataclass
class _Built:
    net: pandapowerNet
    mv_busbar: np.ndarray  # per substation
    sub_trafo: np.ndarray  # per substation
    dt_trafo: np.ndarray  # trafo index per DT
    dt_hv_bus: np.ndarray
    dt_lv_bus: np.ndarray
    dt_feeder: np.ndarray
    line_key: dict[int, tuple[int, int, int]]
    bus_feeder: dict[int, int]


@functools.cache
def _empty_template(f_hz: float) -> pandapowerNet:
    return pp.create_empty_network(f_hz=f_hz)


def empty_net(name: str, f_hz: float = FREQUENCY_HZ) -> pandapowerNet:
    """A new empty pandapower net with its standard types.

    A copy of one made once per frequency: pandapower builds its tables and standard types anew on
    every ``create_empty_network``, which took longer than a small grid's whole load flow.
    """
    net = copy.deepcopy(_empty_template(float(f_hz)))
    net.name = name
    return net


@functools.lru_cache(maxsize=1)
def _line_types() -> pd.DataFrame:
    return pp.available_std_types(pp.create_empty_network(), "line")


def line_std_types() -> pd.DataFrame:
    """pandapower's standard line types (a copy of the table read once)."""
    return _line_types().copy()


def _build_net(
    tree: _RoadTree,
    design: _Design,
    *,
    kv: dict[str, float],
    crs: str,
    cache: dict[tuple[int, int], _Section],
    f_hz: float = FREQUENCY_HZ,
    lv: LVFeeders | None = None,
) -> _Built:
    """The pandapower net of a design state; with ``lv``, every DT's LV feeders and loads too.

    Without ``lv`` each DT's base load sits on its LV busbar (the design loop's fast stand-in), and the
    substations' OLTC controllers are left out: the design rounds run plain load flows and set the taps
    themselves.
    """
    to_wgs84 = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    mv_type = _mv_line(kv["mv"])

    def lonlat(points: np.ndarray) -> list[tuple[float, float]]:
        lon, lat = to_wgs84.transform(points[:, 0], points[:, 1])
        return list(zip(np.atleast_1d(lon).tolist(), np.atleast_1d(lat).tolist(), strict=True))

    def lonlat_each(paths: list[np.ndarray]) -> list[list[tuple[float, float]]]:
        """:func:`lonlat` of every path, projected in one call (one call per line costs more than the
        projection itself on a metro grid)."""
        if not paths:
            return []
        points = lonlat(np.concatenate([np.asarray(c, dtype=float).reshape(-1, 2) for c in paths]))
        ends = np.cumsum([len(c) for c in paths]).tolist()
        return [points[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    net = empty_net("charge_planner synthesised grid", f_hz)

    bus_vn: list[float] = []
    bus_name: list[str] = []
    bus_role: list[str] = []
    bus_xy: list[np.ndarray] = []
    bus_dt: list[int] = []

    def add_bus(vn: float, name: str, role: str, xy: np.ndarray, dt: int = -1) -> int:
        bus_vn.append(vn)
        bus_name.append(name)
        bus_role.append(role)
        bus_xy.append(xy)
        bus_dt.append(dt)
        return len(bus_vn) - 1

    hv_buses: list[int] = []
    busbars: list[int] = []
    bus_feeder: dict[int, int] = {}
    for root in tree.roots:
        label = f"S{len(busbars)} N{tree.node_ids[int(root)]}"
        hv_buses.append(add_bus(kv["hv"], f"HV substation {label}", "hv", tree.xy[int(root)]))
        busbars.append(add_bus(kv["mv"], f"MV busbar {label}", "mv_substation", tree.xy[int(root)]))
        bus_feeder[hv_buses[-1]] = -1
        bus_feeder[busbars[-1]] = -1
    root_bus = {int(r): busbars[i] for i, r in enumerate(tree.roots)}

    n_dt = len(design.dt_node)
    dt_feeder = np.full(n_dt, -1, dtype=np.int64)
    dt_hv_bus = np.array([root_bus.get(int(tree.roots[tree.sub_of[int(n)]]), busbars[0]) for n in design.dt_node],
                         dtype=np.int64)
    line_from: list[int] = []
    line_to: list[int] = []
    line_sec: list[_Section] = []
    line_fdr: list[int] = []
    line_key_list: list[tuple[int, int, int]] = []
    for f, dts in enumerate(design.feeders):
        fkey = min(dts)
        nodes = design.dt_node[dts]
        node_bus: dict[int, int] = dict(root_bus)
        for path in _feeder_sections(tree, nodes):
            sec = _section(tree, path, cache)
            down = path[-1]
            b = add_bus(kv["mv"], f"F{f} N{tree.node_ids[down]}", "mv", tree.xy[down])
            bus_feeder[b] = f
            node_bus[down] = b
            line_from.append(node_bus[path[0]])
            line_to.append(b)
            line_sec.append(sec)
            line_fdr.append(f)
            line_key_list.append((fkey, path[0], down))
        for d in dts:
            dt_feeder[d] = f
            dt_hv_bus[d] = node_bus[int(design.dt_node[d])]

    # DT trafo indices are 0..n_dt-1 offset by the substation units created first
    first_dt_trafo = len(tree.roots)
    dt_lv_bus = np.array(
        [add_bus(kv["lv"], f"DT{d} LV", "lv", tree.xy[int(design.dt_node[d])], first_dt_trafo + d) for d in range(n_dt)],
        dtype=np.int64,
    )
    for d in range(n_dt):
        bus_feeder[int(dt_lv_bus[d])] = int(dt_feeder[d])
    lv_rows = np.zeros(0, dtype=np.int64)
    if lv is not None:
        lv_rows = np.array(
            [add_bus(kv["lv"], f"DT{d} LV F{f} N{tree.node_ids[int(n)]}", "lv", tree.xy[int(n)], first_dt_trafo + d)
             for d, n, f in zip(lv.bus_dt, lv.bus_node, _bus_feeder_no(lv), strict=True)],
            dtype=np.int64,
        )

    xy_arr = np.array(bus_xy, dtype=float)
    buses = pp.create_buses(net, len(bus_vn), vn_kv=bus_vn, name=bus_name, geodata=lonlat(xy_arr))
    assert np.array_equal(buses, np.arange(len(bus_vn)))
    net.bus["x_m"] = xy_arr[:, 0]
    net.bus["y_m"] = xy_arr[:, 1]
    net.bus["role"] = bus_role
    net.bus["dt"] = np.asarray(bus_dt, dtype=np.int64)

    sub_params = SUBSTATION_TRAFO_PARAMETERS[design.sub_unit_mva]
    n_sub = len(hv_buses)
    # one source per substation: the first created by pandapower, the others as copies of its row (creating
    # them one by one costs a pandas insertion each, which a metro of hundreds of substations pays every round)
    first = pp.create_ext_grid(net, hv_buses[0], vm_pu=EXT_GRID_VM_PU, name=f"{kv['hv']:g} kV source S0")
    if n_sub > 1:
        more = net.ext_grid.loc[[first] * (n_sub - 1)].copy()
        more.index = pd.RangeIndex(first + 1, first + n_sub)
        more["bus"] = np.asarray(hv_buses[1:], dtype=net.ext_grid["bus"].dtype)
        more["name"] = [f"{kv['hv']:g} kV source S{i}" for i in range(1, n_sub)]
        net.ext_grid = pd.concat([net.ext_grid, more])
    sub_trafos = list(pp.create_transformers_from_parameters(
        net,
        hv_buses,
        busbars,
        sn_mva=design.sub_unit_mva,
        vn_hv_kv=kv["hv"],
        vn_lv_kv=kv["mv"],
        parallel=design.sub_units.astype(int).tolist(),
        tap_pos=design.sub_tap_pos.astype(int).tolist(),
        tap_changer_type="Ratio",
        name=[f"substation S{i} {int(u)}x{design.sub_unit_mva:g} MVA" for i, u in enumerate(design.sub_units)],
        **sub_params,
        **SUBSTATION_TAP,
    ))
    for t in sub_trafos if lv is not None else ():  # the OLTC acts at every step of a load flow run with control
        DiscreteTapControl(net, int(t), vm_lower_pu=MV_BUSBAR_SETPOINT_PU - MV_BUSBAR_DEADBAND_PU,
                           vm_upper_pu=MV_BUSBAR_SETPOINT_PU + MV_BUSBAR_DEADBAND_PU)
    params = _dt_parameters(design.dt_rating_kva)
    dt_trafo = pp.create_transformers_from_parameters(
        net,
        dt_hv_bus,
        dt_lv_bus,
        sn_mva=(design.dt_rating_kva / 1000.0).tolist(),
        vn_hv_kv=kv["mv"],
        vn_lv_kv=kv["lv"] * DT_NO_LOAD_LV_FACTOR,
        vk_percent=params["vk_percent"].tolist(),
        vkr_percent=params["vkr_percent"].tolist(),
        pfe_kw=params["pfe_kw"].tolist(),
        i0_percent=params["i0_percent"].tolist(),
        tap_pos=design.dt_tap_pos.tolist(),
        tap_changer_type="Ratio",
        name=[f"DT{d} {r:g} kVA" for d, r in enumerate(design.dt_rating_kva)],
        **DT_TAP,
    )
    assert np.array_equal(np.asarray(dt_trafo), first_dt_trafo + np.arange(n_dt))
    net.trafo["role"] = "distribution"
    net.trafo.loc[sub_trafos, "role"] = "substation"

    line_key: dict[int, tuple[int, int, int]] = {}
    if line_from:
        lines = pp.create_lines(
            net,
            line_from,
            line_to,
            length_km=[s.length_m / 1000.0 for s in line_sec],
            std_type=mv_type,
            name=[
                f"F{f} N{tree.node_ids[s.path[0]]}-N{tree.node_ids[s.path[-1]]}"
                for f, s in zip(line_fdr, line_sec, strict=True)
            ],
            geodata=lonlat_each([s.coords for s in line_sec]),
        )
        line_key = {int(li): k for li, k in zip(lines, line_key_list, strict=True)}
    line_feeder = list(line_fdr)
    line_dt = [-1] * len(line_fdr)
    line_lv_feeder = [-1] * len(line_fdr)
    road_nodes = [" ".join(str(tree.node_ids[n]) for n in s.path) for s in line_sec]
    if lv is not None and len(lv.line_to):
        lv_cache: dict[tuple[int, int], _Section] = {}  # LV and MV trees may join two nodes by other roads
        lv_paths = [_section(tree, path, lv_cache) for path in lv.line_path]
        from_bus = np.where(lv.line_from < 0, dt_lv_bus[lv.line_dt], lv_rows[np.maximum(lv.line_from, 0)])
        heavy = _heavy_lv(lv, design.dt_rating_kva, kv["lv"])[lv.line_dt]
        names = [f"DT{d} LV F{f} N{tree.node_ids[p[0]]}-N{tree.node_ids[p[-1]]}"
                 for d, f, p in zip(lv.line_dt, lv.line_feeder, lv.line_path, strict=True)]
        geo = lonlat_each([sec.coords for sec in lv_paths])
        length_km = np.maximum(lv.line_length_m, 1.0) / 1000.0
        for std_type, mask in ((LV_LINE_STD_TYPE, ~heavy), (LV_LINE_STD_TYPE_HEAVY, heavy)):
            rows = np.flatnonzero(mask)
            if len(rows):
                pp.create_lines(
                    net, from_bus[rows].tolist(), lv_rows[lv.line_to[rows]].tolist(), length_km=length_km[rows],
                    std_type=std_type, name=[names[i] for i in rows], geodata=[geo[i] for i in rows],
                )
        order = np.concatenate([np.flatnonzero(~heavy), np.flatnonzero(heavy)])
        line_feeder += dt_feeder[lv.line_dt[order]].tolist()
        line_dt += (first_dt_trafo + lv.line_dt[order]).tolist()
        line_lv_feeder += lv.line_feeder[order].tolist()
        road_nodes += [" ".join(str(tree.node_ids[n]) for n in lv.line_path[i]) for i in order]
    net.line["feeder"] = np.asarray(line_feeder, dtype=np.int64)
    net.line["dt"] = np.asarray(line_dt, dtype=np.int64)
    net.line["lv_feeder"] = np.asarray(line_lv_feeder, dtype=np.int64)
    net.line["road_nodes"] = pd.Series(road_nodes, index=net.line.index, dtype=object)

    tanphi = math.tan(math.acos(BASE_LOAD_POWER_FACTOR))
    if lv is None:
        load_bus = dt_lv_bus
        load_mw = design.dt_p_mw
        load_name = [f"base load DT{d}" for d in range(n_dt)]
    else:
        load_bus = np.concatenate([dt_lv_bus, lv_rows])
        load_mw = np.concatenate([lv.busbar_kw, lv.bus_kw]) / 1000.0
        load_name = [f"base load DT{d}" for d in range(n_dt)] + [
            f"base load DT{d} N{tree.node_ids[int(n)]}" for d, n in zip(lv.bus_dt, lv.bus_node, strict=True)
        ]
    pp.create_loads(
        net,
        load_bus,
        p_mw=load_mw.tolist(),
        q_mvar=(load_mw * tanphi).tolist(),
        name=load_name,
    )
    return _Built(
        net=net,
        mv_busbar=np.asarray(busbars, dtype=np.int64),
        sub_trafo=np.asarray(sub_trafos, dtype=np.int64),
        dt_trafo=np.asarray(dt_trafo, dtype=np.int64),
        dt_hv_bus=dt_hv_bus,
        dt_lv_bus=dt_lv_bus,
        dt_feeder=dt_feeder,
        line_key=line_key,
        bus_feeder=bus_feeder,
    )


def _heavy_lv(lv: LVFeeders, rating_kva: np.ndarray, lv_kv: float) -> np.ndarray:
    """Per DT: whether its LV feeders use the heavy conductor.

    A DT's feeders are built of the heavy conductor when its rating shared by its feeders
    exceeds the thermal rating of the light one (a utility chooses the conductor for the DT it
    hangs from), or when the DT is of ``LV_HEAVY_FROM_KVA`` or more.
    """
    std = line_std_types()
    light_kva = math.sqrt(3.0) * lv_kv * float(std.at[LV_LINE_STD_TYPE, "max_i_ka"]) * 1000.0
    n_dt = len(rating_kva)
    per_dt = pd.DataFrame({"dt": lv.line_dt, "f": lv.line_feeder}).drop_duplicates()
    n_feeders = np.maximum(np.bincount(per_dt["dt"].to_numpy(dtype=np.int64), minlength=n_dt), 1)
    return (rating_kva / n_feeders > light_kva) | (rating_kva >= LV_HEAVY_FROM_KVA)


def _bus_feeder_no(lv: LVFeeders) -> np.ndarray:
    """LV feeder number of every LV bus (the feeder of the line that ends at it)."""
    out = np.zeros(len(lv.bus_dt), dtype=np.int64)
    out[lv.line_to] = lv.line_feeder
    return out


def _mv_line(mv_kv: float) -> str:
    """pandapower std type of the MV overhead line for a nominal voltage [kV]; GridError if missing."""
    name = MV_LINE_STD_TYPE if mv_kv <= 12.0 else MV_LINE_STD_TYPE_24KV
    if name not in line_std_types().index:
        raise GridError(
            f"pandapower {pp.__version__} has no line std type {name!r}: pin a pandapower version that has it"
        )
    return name
