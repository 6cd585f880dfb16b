"""LV network synthesis: DT service areas along the roads and the radial 0.4 kV feeders of each DT.

A synthesised grid spreads each base-load point (a population cell) over the road nodes around
it (:func:`spread_loads`), places distribution transformers (DTs) so that every service area
fits one DT (:func:`dt_service_areas`) and builds, per DT, the radial LV feeders that follow
the roads from the DT to the road nodes of its area (:func:`lv_feeders`). Service areas are the
road-distance Voronoi cells of the DT nodes: every loaded road node is supplied by the DT
nearest to it along the roads, and its LV feeder follows that shortest path.

:func:`lv_bus_of` gives the nearest LV bus of a synthesised (or any) grid for a point, so that
later stages put home charging on the right LV bus and aggregate it per DT (``net.bus["dt"]``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from charge_planner.errors import GridError
from charge_planner.grid.model import GridModel, _RoadTree, bus_roles

log = logging.getLogger(__name__)

__all__ = [
    "LVAreas",
    "LVFeeders",
    "area_loads_kw",
    "check_lv_feeders",
    "dt_service_areas",
    "lv_bus_of",
    "lv_feeders",
    "spread_loads",
]

_MAX_SPLIT_ROUNDS = 60


def spread_loads(tree: _RoadTree, load_xy: np.ndarray, load_kw: np.ndarray, *, radius_m: float) -> np.ndarray:
    """Base load per road node [kW]: each load point spread over the road nodes around it.

    Every road node of the used component takes a share of the load point nearest to it (within
    ``radius_m``), in proportion to half the length of the road edges meeting at it (houses line
    the streets); a load point with no road node within the radius puts its load on its nearest
    road node. The total is kept exactly.

    Parameters
    ----------
    tree
        The road graph as arrays.
    load_xy
        Load point coordinates [m] (n x 2).
    load_kw
        Load per point [kW].
    radius_m
        Largest distance from a load point to the road nodes that share its load [m].

    Returns
    -------
    numpy.ndarray
        kW per road node position (0 outside the component).
    """
    n = len(tree.node_ids)
    comp = tree.component
    out = np.zeros(n)
    if len(load_kw) == 0:
        return out
    # road length around each node: half of every edge that meets it
    keys = np.array(list(tree.edges.keys()), dtype=np.int64).reshape(-1, 2)
    lengths = np.array([tree.edges[(int(a), int(b))][0] for a, b in keys])
    reach = np.bincount(keys[:, 0], weights=lengths / 2.0, minlength=n) + np.bincount(
        keys[:, 1], weights=lengths / 2.0, minlength=n
    )
    reach = np.maximum(reach[comp], 1.0)
    dist, owner = cKDTree(load_xy).query(tree.xy[comp])
    near = dist <= radius_m
    weight = np.where(near, reach, 0.0)
    owned = np.bincount(owner[near], weights=weight[near], minlength=len(load_kw))
    share = np.zeros(len(comp))
    share[near] = load_kw[owner[near]] * weight[near] / owned[owner[near]]
    out[comp] = share
    orphan = np.flatnonzero(owned <= 0)
    if len(orphan):
        nearest = comp[cKDTree(tree.xy[comp]).query(load_xy[orphan])[1]]
        np.add.at(out, nearest, load_kw[orphan])
    return out


@dataclass
class LVAreas:
    """DT service areas on the road graph (positions are road-node positions of the tree).

    Attributes
    ----------
    dt_node
        Road node of each DT.
    dt_share
        Share of its area's load each DT carries [-] (1, or 1/k when k DTs stand at one node).
    dt_area
        Area of each DT (index into ``area_node``).
    node_area
        Area (index into the unique DT nodes ``area_node``) of every road node; -1 where none.
    area_node
        Road node of each area (one per distinct DT node).
    parent
        Predecessor of each node on its path to its area's DT (-1 at DT nodes and unreached).
    dist_m
        Road distance from each node to its DT [m].
    node_kw
        Base load per road node [kW].
    """

    dt_node: np.ndarray
    dt_share: np.ndarray
    dt_area: np.ndarray
    node_area: np.ndarray
    area_node: np.ndarray
    parent: np.ndarray
    dist_m: np.ndarray
    node_kw: np.ndarray


def _voronoi(tree: _RoadTree, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Road-distance Voronoi of ``nodes``: (area index per node or -1, predecessor, distance [m])."""
    dist, pred, src = dijkstra(tree.graph, directed=False, indices=nodes, return_predecessors=True, min_only=True)
    lookup = np.full(len(tree.node_ids), -1, dtype=np.int64)
    lookup[nodes] = np.arange(len(nodes))
    area = np.where(src >= 0, lookup[np.maximum(src, 0)], -1)
    return area, pred.astype(np.int64), dist


def _subtree_kw(order: np.ndarray, parent: np.ndarray, node_kw: np.ndarray) -> np.ndarray:
    """Load at or below every node of a shortest-path forest (``order``: farthest first)."""
    sub = node_kw.copy()
    for v in order:
        p = parent[v]
        if p >= 0:
            sub[p] += sub[v]
    return sub


def _drop_pu(order_near: np.ndarray, parent: np.ndarray, dist: np.ndarray, sub: np.ndarray, k: float) -> np.ndarray:
    """Estimated voltage drop from the DT to every node [pu]: sum of downstream load x section length x k."""
    drop = np.zeros(len(parent))
    if k <= 0:
        return drop
    for v in order_near:
        p = parent[v]
        if p >= 0:
            drop[v] = drop[p] + sub[v] * (dist[v] - dist[p]) * k
    return drop


def dt_service_areas(
    tree: _RoadTree,
    node_kw: np.ndarray,
    first_nodes: np.ndarray,
    *,
    max_area_kw: float,
    max_feeder_m: float,
    max_drop_pu: float = np.inf,
    drop_pu_per_kw_m: float = 0.0,
) -> LVAreas:
    """Place DTs until every road-distance service area fits one DT and no LV feeder is too long.

    Starting from ``first_nodes``, each round computes the road-distance Voronoi cells of the DT
    nodes; a cell whose load exceeds ``max_area_kw`` gets a new DT at the node whose downstream
    load is closest to half the cell's, and a cell with a loaded node farther than
    ``max_feeder_m`` from its DT, or whose estimated voltage drop (load moment x
    ``drop_pu_per_kw_m``) at some node exceeds ``max_drop_pu``, gets one halfway along the path
    to that node. When a
    single road node carries more than ``max_area_kw`` on its own, k DTs stand at that node and
    share its area's load equally (each DT still has its own service: 1/k of every customer).

    Parameters
    ----------
    tree
        The road graph as arrays.
    node_kw
        Base load per road node [kW].
    first_nodes
        Road nodes of the first DTs.
    max_area_kw
        Largest load one DT takes [kW] (its rating x the design loading x power factor).
    max_feeder_m
        Longest LV feeder, DT to its farthest load [m].
    max_drop_pu
        Largest estimated voltage drop along an LV feeder [pu].
    drop_pu_per_kw_m
        Voltage drop of 1 kW carried over 1 m of LV line [pu/(kW m)]: (R + X tan phi) / V^2.

    Returns
    -------
    LVAreas
    """
    loaded = node_kw > 0
    nodes = np.unique(np.asarray(first_nodes, dtype=np.int64))
    final_heavy: set[int] = set()
    for _ in range(_MAX_SPLIT_ROUNDS):
        area, parent, dist = _voronoi(tree, nodes)
        ok = area >= 0
        area_kw = np.bincount(area[ok], weights=node_kw[ok], minlength=len(nodes))
        reached = np.flatnonzero(ok & np.isfinite(dist))
        order = reached[np.lexsort((reached, -dist[reached]))]
        sub = _subtree_kw(order, parent, node_kw)
        drop = _drop_pu(order[::-1], parent, dist, sub, drop_pu_per_kw_m)
        # per area: its loaded node farthest along the road and the one with the largest drop
        far = np.zeros(len(nodes))
        far_node = np.full(len(nodes), -1, dtype=np.int64)
        worst = np.zeros(len(nodes))
        worst_node = np.full(len(nodes), -1, dtype=np.int64)
        sel = np.flatnonzero(ok & loaded)
        if len(sel):
            for value, at, top in ((dist, far_node, far), (drop, worst_node, worst)):
                by = sel[np.lexsort((sel, -value[sel]))]
                first = np.unique(area[by], return_index=True)[1]
                at[area[by[first]]] = by[first]
                top[area[by[first]]] = value[by[first]]
        heavy = area_kw > max_area_kw
        wide = (far > max_feeder_m) | (worst > max_drop_pu)
        todo = sorted(set(np.flatnonzero(heavy | wide).tolist()) - final_heavy)
        if not todo:
            break
        new_nodes: list[int] = []
        for a in todo:
            members = np.flatnonzero(area == a)
            cand = members[(members != nodes[a]) & (sub[members] > 0)]
            if heavy[a] and len(cand):
                best = cand[np.lexsort((cand, dist[cand], np.abs(sub[cand] - area_kw[a] / 2.0)))[0]]
                new_nodes.append(int(best))
                continue
            if wide[a]:
                # halfway along the road to the farthest (or the worst-voltage) load
                cur = int(far_node[a]) if far[a] > max_feeder_m else int(worst_node[a])
                half = dist[cur] / 2.0
                while parent[cur] >= 0 and dist[parent[cur]] >= half:
                    cur = int(parent[cur])
                if cur != nodes[a]:
                    new_nodes.append(cur)
                    continue
            final_heavy.add(a)  # a single node heavier than one DT, or nothing left to split
        if not new_nodes:
            break
        old = nodes[sorted(final_heavy)]
        nodes = np.unique(np.concatenate([nodes, np.asarray(new_nodes, dtype=np.int64)]))
        final_heavy = {int(i) for i in np.searchsorted(nodes, old)}
    else:
        log.warning("DT placement stopped after %d rounds with areas still above one DT", _MAX_SPLIT_ROUNDS)
    area, parent, dist = _voronoi(tree, nodes)
    ok = area >= 0
    area_kw = np.bincount(area[ok], weights=node_kw[ok], minlength=len(nodes))
    # an area with no load gets no DT; an area heavier than one DT gets k DTs at its node
    k = np.where(area_kw > 0, np.maximum(1, np.ceil(area_kw / max_area_kw - 1e-9)), 0).astype(np.int64)
    dt_area = np.repeat(np.arange(len(nodes)), k)
    dt_share = 1.0 / k[dt_area]
    return LVAreas(
        dt_node=nodes[dt_area],
        dt_share=dt_share,
        dt_area=dt_area,
        node_area=area,
        area_node=nodes,
        parent=np.where(ok, parent, -1),
        dist_m=dist,
        node_kw=node_kw,
    )


@dataclass
class LVFeeders:
    """The LV network of every DT, ready to become pandapower buses, lines and loads.

    Buses (one row per LV bus that is not a DT's LV busbar): ``bus_dt`` (DT index), ``bus_node``
    (road node position), ``bus_kw`` (base load [kW]). Lines: ``line_dt``, ``line_from`` and
    ``line_to`` (-1 means the DT's LV busbar, else a row of the bus arrays), ``line_feeder``
    (number of the LV feeder at its DT, 0..), ``line_path`` (road node positions, upstream first)
    and ``line_length_m`` [m]. ``busbar_kw`` is the base load left at each DT's LV busbar [kW].
    """

    bus_dt: np.ndarray
    bus_node: np.ndarray
    bus_kw: np.ndarray
    line_dt: np.ndarray
    line_from: np.ndarray
    line_to: np.ndarray
    line_feeder: np.ndarray
    line_path: list[list[int]]
    line_length_m: np.ndarray
    busbar_kw: np.ndarray


def lv_feeders(tree: _RoadTree, areas: LVAreas) -> LVFeeders:
    """Radial LV feeders of every DT along its area's shortest-path tree.

    The union of the road paths from a DT to the loaded road nodes of its area is the DT's LV
    network; each branch leaving the DT node is one LV feeder. Road nodes where the network
    branches or ends become LV buses; a loaded node in between is split between the two ends of
    its line section in proportion to its position (which keeps the voltage drop at the far end
    of the section exact for that load). DTs sharing one node (a node heavier than one DT) each
    take their share of every load on a copy of the same feeders.

    Parameters
    ----------
    tree
        The road graph as arrays.
    areas
        DT service areas from :func:`dt_service_areas`.

    Returns
    -------
    LVFeeders
    """
    parent, dist, node_kw = areas.parent, areas.dist_m, areas.node_kw
    n_area = len(areas.area_node)
    loaded = np.flatnonzero((node_kw > 0) & (areas.node_area >= 0))
    # nodes of every area's LV network: the union of the paths from its loaded nodes to its DT
    in_net = np.zeros(len(node_kw), dtype=bool)
    children = np.zeros(len(node_kw), dtype=np.int64)
    is_root = np.zeros(len(node_kw), dtype=bool)
    is_root[areas.area_node] = True
    for v in loaded:
        cur = int(v)
        while not in_net[cur]:
            in_net[cur] = True
            p = int(parent[cur])
            if p < 0:
                break
            children[p] += 1
            cur = p
    key = in_net & ((children != 1) | is_root)  # DT nodes, branch points and ends
    # walk every key node up to the next key node: one line section each
    area_kw_at: dict[int, float] = {}  # per key node: load (kW) of the whole area's network
    sections: list[tuple[int, int, list[int]]] = []  # (area, key node, path upstream-first)
    extra_up: dict[int, float] = {}
    for v in np.flatnonzero(key & ~is_root):
        path = [int(v)]
        cur = int(parent[v])
        while not key[cur]:
            path.append(cur)
            cur = int(parent[cur])
        path.append(cur)
        path.reverse()
        up, down = path[0], path[-1]
        length = float(dist[down] - dist[up])
        area_kw_at[down] = area_kw_at.get(down, 0.0) + float(node_kw[down])
        for mid in path[1:-1]:
            kw = float(node_kw[mid])
            if kw <= 0:
                continue
            frac = (dist[mid] - dist[up]) / length if length > 0 else 1.0
            area_kw_at[down] += kw * frac
            extra_up[up] = extra_up.get(up, 0.0) + kw * (1.0 - frac)
        sections.append((int(areas.node_area[v]), int(v), path))
    for u, kw in extra_up.items():
        area_kw_at[u] = area_kw_at.get(u, 0.0) + kw
    root_kw = np.zeros(n_area)
    for a, node in enumerate(areas.area_node):
        root_kw[a] = float(node_kw[node]) + area_kw_at.get(int(node), 0.0)
    # feeder number per section: branch at the DT node it descends from
    sections.sort(key=lambda s: (dist[s[1]], s[1]))
    feeder_of: dict[int, int] = {}
    next_feeder = np.zeros(n_area, dtype=np.int64)
    sec_feeder = []
    for a, v, path in sections:
        up = path[0]
        if is_root[up] and areas.area_node[a] == up:
            f = int(next_feeder[a])
            next_feeder[a] += 1
        else:
            f = feeder_of[up]
        feeder_of[v] = f
        sec_feeder.append(f)
    # expand per DT (DTs sharing a node copy the network with their share)
    bus_dt: list[int] = []
    bus_node: list[int] = []
    bus_kw: list[float] = []
    line_dt: list[int] = []
    line_from: list[int] = []
    line_to: list[int] = []
    line_feeder: list[int] = []
    line_path: list[list[int]] = []
    line_len: list[float] = []
    by_area: dict[int, list[int]] = {}
    for i, (a, _, _) in enumerate(sections):
        by_area.setdefault(a, []).append(i)
    busbar_kw = np.zeros(len(areas.dt_node))
    for d, (a, share) in enumerate(zip(areas.dt_area, areas.dt_share, strict=True)):
        busbar_kw[d] = root_kw[a] * share
        row_of: dict[int, int] = {}
        for i in by_area.get(int(a), []):
            _, v, path = sections[i]
            row = len(bus_dt)
            bus_dt.append(d)
            bus_node.append(v)
            bus_kw.append(area_kw_at.get(v, 0.0) * share)
            row_of[v] = row
            line_dt.append(d)
            line_from.append(row_of.get(path[0], -1))
            line_to.append(row)
            line_feeder.append(sec_feeder[i])
            line_path.append(path)
            line_len.append(float(dist[path[-1]] - dist[path[0]]))
    return LVFeeders(
        bus_dt=np.asarray(bus_dt, dtype=np.int64),
        bus_node=np.asarray(bus_node, dtype=np.int64),
        bus_kw=np.asarray(bus_kw, dtype=float),
        line_dt=np.asarray(line_dt, dtype=np.int64),
        line_from=np.asarray(line_from, dtype=np.int64),
        line_to=np.asarray(line_to, dtype=np.int64),
        line_feeder=np.asarray(line_feeder, dtype=np.int64),
        line_path=line_path,
        line_length_m=np.asarray(line_len, dtype=float),
        busbar_kw=busbar_kw,
    )


def lv_bus_of(grid_model: GridModel, x: float | np.ndarray, y: float | np.ndarray) -> int | np.ndarray:
    """Nearest in-service LV bus (straight line) of one point or of many points.

    Parameters
    ----------
    grid_model
        The grid; its buses need projected coordinates ``x_m``/``y_m`` [m] (every grid the
        planner loads or synthesises has them where geodata exists).
    x, y
        Point coordinates in the grid's CRS [m]; scalars or arrays of equal length.

    Returns
    -------
    int or numpy.ndarray
        pandapower bus index of the nearest LV bus (an array for array input). On a synthesised
        grid ``net.bus.at[bus, "dt"]`` names the DT (trafo index) that supplies it.

    Raises
    ------
    GridError
        When the grid has no in-service LV bus with coordinates.
    """
    net = grid_model.net
    if not {"x_m", "y_m"} <= set(net.bus.columns):
        raise GridError("grid buses have no projected coordinates x_m/y_m: the nearest LV bus cannot be found")
    xy = net.bus[["x_m", "y_m"]].to_numpy(dtype=float)
    usable = (bus_roles(net) == "lv").to_numpy() & net.bus["in_service"].astype(bool).to_numpy()
    usable &= np.isfinite(xy).all(axis=1)
    if not usable.any():
        raise GridError("grid has no in-service LV bus with coordinates: use a grid with an LV level")
    idx = net.bus.index.to_numpy()[usable]
    pts = np.column_stack([np.atleast_1d(np.asarray(x, dtype=float)), np.atleast_1d(np.asarray(y, dtype=float))])
    pos = cKDTree(xy[usable]).query(pts)[1]
    out = idx[pos].astype(np.int64)
    if np.ndim(x) == 0 and np.ndim(y) == 0:
        return int(out[0])
    return out


def area_loads_kw(areas: LVAreas) -> np.ndarray:
    """Base load of each DT [kW] (its area's load x its share)."""
    ok = areas.node_area >= 0
    area_kw = np.bincount(areas.node_area[ok], weights=areas.node_kw[ok], minlength=len(areas.area_node))
    return area_kw[areas.dt_area] * areas.dt_share


def check_lv_feeders(feeders: LVFeeders, areas: LVAreas) -> None:
    """Every DT's LV loads add up to its area's load (internal consistency; GridError otherwise)."""
    per_dt = np.bincount(feeders.bus_dt, weights=feeders.bus_kw, minlength=len(areas.dt_node)) + feeders.busbar_kw
    expected = area_loads_kw(areas)
    if not np.allclose(per_dt, expected, rtol=1e-9, atol=1e-6):
        worst = int(np.argmax(np.abs(per_dt - expected)))
        raise GridError(
            f"LV synthesis lost load at DT{worst}: {per_dt[worst]:.3f} kW on its feeders, {expected[worst]:.3f} kW "
            "in its area (report this as a bug)"
        )
