"""Sparse demand x site travel-time tables (:func:`travel_table`) and their batching.

:func:`travel_table` computes the sparse demand x site table of travel times within each demand
row's cut-off with ``scipy.sparse.csgraph.dijkstra``, one bounded run per distinct site position
over the reversed graph. Results per batch stay at the level of distinct site and demand
positions until the output columns are allocated at their final size; a batch whose pairs are
mostly within reach expands by one mask gather over its sites x demand rows, a sparse one pair
by pair. Ids are categorical columns (a code per pair), so the table costs about 24 bytes per
pair. A site snapped to an edge becomes a virtual node that splits the edge
at its position; a demand point snapped to an edge leaves its street through the next node in
each allowed direction (a graph node or a site on the same street). Time and length travel
packed in one float64: edge times are on a 2**-20 s grid (:data:`TIME_RESOLUTION_S`), so the
time in the high bits and the length in cm-scale units in the low bits add up exactly, and one
Dijkstra returns the exact fastest time and the length of that route (times off the grid fall
back to float Dijkstra with predecessors). Sites are processed in spatially compact batches,
each on the sub-network within the straight-line reach of its sites (the cut-off times the
fastest straight-line progress of any arc: an exact bound), so working memory grows with the
number of node pairs within the cut-off, not with demand x sites or with the size of the city.
The routing network with virtual nodes (``_routing_network``) and the batching (``_batches``)
also serve :mod:`charge_planner.network.isochrones`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from charge_planner.errors import DataError
from charge_planner.network.graph import _ZERO_TIME_S, TIME_RESOLUTION_S, EdgeTable, _Arcs, _node_positions

log = logging.getLogger(__name__)


TRAVEL_COLUMNS = ["demand_id", "site_id", "travel_time_s", "distance_m"]

_DEFAULT_MAX_CELLS = 4_000_000  # sources x sub-network nodes per Dijkstra batch (about 64 MB)


# --------------------------------------------------------------------------- routing network


@dataclass
class _Routing:
    """A routing network: graph nodes plus virtual nodes at snapped site positions on edges.

    ``chain_*`` list the virtual nodes along each directed edge, sorted by edge and position
    (``chain_key`` = edge index + position / 2, increasing).
    """

    n: int
    xy: np.ndarray
    rev: _Arcs  # reversed arcs: from the end of a road edge to its start
    speed_bound: float  # max straight-line distance per second over all arcs [m/s]
    chain_key: np.ndarray
    chain_edge: np.ndarray
    chain_phi: np.ndarray
    chain_node: np.ndarray


def _quantise(t: np.ndarray) -> np.ndarray:
    return np.round(t / TIME_RESOLUTION_S) * TIME_RESOLUTION_S


def _street_positions(et: EdgeTable, edge: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, ...]:
    """Street, position along the street's representative edge, and end node (or -1) of points."""
    rep_of = et.rep[et.group[edge]]
    same = (et.u[edge] == et.u[rep_of]) & (et.v[edge] == et.v[rep_of])
    frac_rep = np.where(same, frac, 1.0 - frac)
    along_m = frac_rep * et.length_m[rep_of]
    at_start = along_m <= 1e-6
    at_end = (et.length_m[rep_of] - along_m) <= 1e-6
    node = np.where(at_start, et.u[rep_of], np.where(at_end, et.v[rep_of], -1)).astype(np.int64)
    return et.group[edge], frac_rep, node


def _edges_of_streets(et: EdgeTable, group: np.ndarray, frac_rep: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every directed edge of each point's street and the point's position along it: (point, edge, phi)."""
    g_order = np.argsort(et.group, kind="stable")
    g_sorted = et.group[g_order]
    g_start = np.searchsorted(g_sorted, group, side="left")
    counts = np.searchsorted(g_sorted, group, side="right") - g_start
    point = np.repeat(np.arange(len(group)), counts)
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    e = g_order[np.repeat(g_start, counts) + offs]
    rep_e = et.rep[group[point]]
    same = (et.u[e] == et.u[rep_e]) & (et.v[e] == et.v[rep_e])
    return point, e, np.where(same, frac_rep[point], 1.0 - frac_rep[point])


def _routing_network(et: EdgeTable, snaps: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[_Routing, list[np.ndarray]]:
    """Add virtual nodes at snapped positions to the edge table's network.

    Parameters
    ----------
    et
        Edge table of the graph.
    snaps
        Per point set: (edge index, fraction along that edge) of every point.

    Returns
    -------
    tuple
        The routing network and, per point set, the routing-node position of every point.
    """
    n0 = len(et.nodes)
    all_edge = np.concatenate([s[0] for s in snaps]) if snaps else np.zeros(0, dtype=np.int64)
    all_frac = np.concatenate([s[1] for s in snaps]) if snaps else np.zeros(0)
    if len(all_edge):
        group, frac_rep, pos = _street_positions(et, all_edge, all_frac)
    else:  # nothing to place: the streets need not be grouped
        group = pos = np.zeros(0, dtype=np.int64)
        frac_rep = np.zeros(0)
    inner = pos < 0

    xy = et.xy
    u_arc, v_arc, t_arc, l_arc = [et.u], [et.v], [et.time_s], [et.length_m]
    e = np.zeros(0, dtype=np.int64)
    phi = np.zeros(0)
    virt = np.zeros(0, dtype=np.int64)
    if inner.any():
        keys = np.column_stack([group[inner], frac_rep[inner]])
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        p_group = uniq[:, 0].astype(np.int64)
        p_frac = uniq[:, 1]
        pos[np.flatnonzero(inner)] = n0 + inv.ravel()
        point, e, phi = _edges_of_streets(et, p_group, p_frac)
        virt = n0 + point
        # chain the points along each directed edge: u -> p1 -> p2 -> ... -> v
        order = np.lexsort((phi, e))
        e, phi, virt = e[order], phi[order], virt[order]
        first = np.ones(len(e), dtype=bool)
        first[1:] = e[1:] != e[:-1]
        last = np.ones(len(e), dtype=bool)
        last[:-1] = e[1:] != e[:-1]
        prev_node = np.where(first, et.u[e], np.roll(virt, 1))
        prev_phi = np.where(first, 0.0, np.roll(phi, 1))
        u_arc += [prev_node, virt[last]]
        v_arc += [virt, et.v[e[last]]]
        t_arc += [_quantise((phi - prev_phi) * et.time_s[e]), _quantise((1.0 - phi[last]) * et.time_s[e[last]])]
        l_arc += [(phi - prev_phi) * et.length_m[e], (1.0 - phi[last]) * et.length_m[e[last]]]
        if et.geometry is not None:
            pts = shapely.line_interpolate_point(et.geometry[et.rep[p_group]], p_frac, normalized=True)
            vxy = np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
        else:
            a, b = xy[et.u[et.rep[p_group]]], xy[et.v[et.rep[p_group]]]
            vxy = a + (b - a) * p_frac[:, None]
        xy = np.vstack([xy, vxy])
    n = len(xy)
    u = np.concatenate(u_arc)
    v = np.concatenate(v_arc)
    rev = _Arcs.build(v, u, np.concatenate(t_arc), np.concatenate(l_arc), n)  # reversed arcs
    rows = rev.rows()
    straight = np.hypot(*(xy[rows] - xy[rev.indices]).T)
    moving = rev.t > 0
    if (~moving & (straight > 0)).any():
        speed_bound = math.inf  # a zero-time arc between distinct points: no spatial pruning
    else:
        speed_bound = float(np.max(straight[moving] / rev.t[moving])) if moving.any() else 0.0
    routing = _Routing(n=n, xy=xy, rev=rev, speed_bound=speed_bound, chain_key=e + phi / 2.0, chain_edge=e,
                       chain_phi=phi, chain_node=virt)
    split = np.cumsum([len(s[0]) for s in snaps])[:-1] if snaps else []
    return routing, list(np.split(pos, split)) if snaps else []


@dataclass
class _Targets:
    """Demand positions as Dijkstra targets: each leaves the network through one or more exits.

    A point on a street reaches a site by driving along the street to the next node in an allowed
    direction (a graph node, or a site's virtual node on the same street), so its time to a site is
    the smallest exit offset + the exit's time to the site. ``owner`` is sorted; rows of the
    demand table of target ``i`` are ``order[ptr[i]:ptr[i + 1]]``.
    """

    exit_node: np.ndarray
    off_t: np.ndarray
    off_m: np.ndarray
    owner: np.ndarray
    n: int
    order: np.ndarray
    ptr: np.ndarray
    single: bool  # one exit per target, at offset zero

    @classmethod
    def at_nodes(cls, node_pos: np.ndarray) -> _Targets:
        nodes, order, ptr = _groups(node_pos)
        z = np.zeros(len(nodes))
        return cls(nodes, z, z, np.arange(len(nodes)), len(nodes), order, ptr, True)

    @classmethod
    def on_edges(cls, et: EdgeTable, routing: _Routing, edge: np.ndarray, frac: np.ndarray) -> _Targets:
        group, frac_rep, node = _street_positions(et, edge, frac)
        # distinct positions: a node, or (street, position)
        key = np.column_stack([np.where(node >= 0, -1 - node, group).astype(float), np.where(node >= 0, 0.0, frac_rep)])
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        inv = inv.ravel()
        order = np.argsort(inv, kind="stable").astype(np.int32)
        ptr = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
        at_node = uniq[:, 0] < 0
        # exits of positions at a node: the node itself
        n_idx = np.flatnonzero(at_node)
        owners = [n_idx]
        exits = [(-1 - uniq[n_idx, 0]).astype(np.int64)]
        offs_t = [np.zeros(len(n_idx))]
        offs_m = [np.zeros(len(n_idx))]
        s_idx = np.flatnonzero(~at_node)
        if len(s_idx):
            point, e, phi = _edges_of_streets(et, uniq[s_idx, 0].astype(np.int64), uniq[s_idx, 1])
            # the next chain node along edge e at or after phi, else the edge's end node
            q = np.searchsorted(routing.chain_key, e + phi / 2.0, side="left")
            hit = q < len(routing.chain_key)
            hit[hit] = routing.chain_edge[q[hit]] == e[hit]
            q_ok = np.where(hit, q, 0)
            nxt_phi = np.where(hit, routing.chain_phi[q_ok] if len(routing.chain_phi) else 1.0, 1.0)
            nxt_node = np.where(hit, routing.chain_node[q_ok] if len(routing.chain_node) else 0, et.v[e])
            owners.append(s_idx[point])
            exits.append(nxt_node.astype(np.int64))
            offs_t.append(_quantise((nxt_phi - phi) * et.time_s[e]))
            offs_m.append((nxt_phi - phi) * et.length_m[e])
        owner = np.concatenate(owners)
        srt = np.argsort(owner, kind="stable")
        return cls(
            exit_node=np.concatenate(exits)[srt], off_t=np.concatenate(offs_t)[srt], off_m=np.concatenate(offs_m)[srt],
            owner=owner[srt], n=len(uniq), order=order, ptr=ptr, single=False,
        )


@dataclass
class _Packing:
    """Exact packed weights: time on the :data:`TIME_RESOLUTION_S` grid in the high bits, length
    in units of ``unit_m`` in the low bits of an integer-valued float64 (sums below 2**53 are
    exact, so Dijkstra returns the exact fastest time, ties broken by the shorter length)."""

    bits: int
    unit_m: float
    weights: np.ndarray

    def limit(self, limit_s: float) -> float:
        return float((math.floor(limit_s / TIME_RESOLUTION_S) + 1) * 2**self.bits - 1)

    def unpack(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tq = np.floor(w * 2.0**-self.bits)
        return tq * TIME_RESOLUTION_S, (w - tq * 2.0**self.bits) * self.unit_m


def _packing(rev: _Arcs, limit_s: float) -> _Packing | None:
    """Packed weights for a limit, or None when times are off the grid or lengths too coarse."""
    tq = rev.t / TIME_RESOLUTION_S
    if len(tq) == 0 or not np.array_equal(tq, np.round(tq)) or (tq < 0).any():
        return None
    moving = rev.t > 0
    if (~moving & (rev.length > 0)).any():
        return None
    v_len = float(np.max(rev.length[moving] / rev.t[moving])) if moving.any() else 0.0
    # reached weights stay below (floor(limit / resolution) + 1) * 2**bits <= 2**53: exact integers
    t_bits = int(math.floor(limit_s / TIME_RESOLUTION_S) + 1).bit_length()
    bits = 53 - t_bits
    if bits < 8:
        return None
    # a path within the limit is at most v_len * limit long (1 % headroom), plus one unit per
    # zero-length arc (they weigh one unit so that csgraph sees an edge)
    n_zero = int((~moving).sum())
    unit_m = (1.01 * v_len * (limit_s + TIME_RESOLUTION_S) + 1.0) / max(2**bits - n_zero - 1, 1)
    if unit_m > 0.01:
        return None
    w = tq * 2.0**bits + np.round(rev.length / unit_m)
    w[w == 0] = 1.0
    return _Packing(bits=bits, unit_m=unit_m, weights=w)


def _edge_index(et: EdgeTable, snap: pd.DataFrame, what: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("u", "v", "key", "edge_frac") if c not in snap.columns]
    if missing:
        raise DataError(f"{what}: snap table lacks columns {missing}; build it with snap_to_edges()")
    assert et.key is not None
    lookup = pd.MultiIndex.from_arrays([et.nodes.to_numpy()[et.u], et.nodes.to_numpy()[et.v], et.key])
    idx = lookup.get_indexer(pd.MultiIndex.from_arrays([snap["u"].to_numpy(), snap["v"].to_numpy(),
                                                        snap["key"].to_numpy().astype(object)]))
    if (idx < 0).any():
        ids = list(snap.index[idx < 0][:5])
        raise DataError(f"{what}: {int((idx < 0).sum())} points are snapped to edges not in the graph (first {ids}); "
                        "snap them again on this graph")
    return idx, snap["edge_frac"].to_numpy(dtype=float)


def _z_order(xy: np.ndarray) -> np.ndarray:
    """Indices of points in Morton (Z-curve) order: neighbours in the order are close in space."""
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    lo = xy.min(axis=0)
    span = max(float((xy.max(axis=0) - lo).max()), 1e-9)
    q = ((xy - lo) / span * 65535).astype(np.uint64)
    code = np.zeros(len(xy), dtype=np.uint64)
    for bit in range(16):
        code |= ((q[:, 0] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit)
        code |= ((q[:, 1] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return np.argsort(code, kind="stable")


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique keys, the members of each (positions into ``keys``, grouped) and group pointers."""
    order = np.argsort(keys, kind="stable").astype(np.int32)
    uniq, starts = np.unique(keys[order], return_index=True)
    return uniq, order, np.append(starts, len(keys))


def _expand(
    group_of_pair: np.ndarray, order: np.ndarray, ptr: np.ndarray, values: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Expand pairs keyed by group into pairs keyed by member.

    Returns the member of every expanded pair and ``values`` repeated to match.
    """
    if len(order) == len(ptr) - 1:  # one member per group
        return order[group_of_pair], values
    start = ptr[group_of_pair]
    counts = ptr[group_of_pair + 1] - start
    n = int(counts.sum())
    index = np.int32 if n < 2**31 else np.int64
    shift = np.repeat((start - (np.cumsum(counts) - counts)).astype(index), counts)
    shift += np.arange(n, dtype=index)
    return order[shift], tuple(np.repeat(v, counts) for v in values)


def _tree_lengths(dist: np.ndarray, pred: np.ndarray, sub: np.ndarray, rev_l: sp.csr_matrix) -> np.ndarray:
    """Length [m] of every shortest-time path of a Dijkstra result, by pointer jumping.

    Returns a flat array aligned with ``dist.ravel()`` (zero at the sources and where unreached).
    """
    k, n = dist.shape
    flat = np.flatnonzero(pred.ravel() >= 0)  # reached nodes other than the sources
    out = np.zeros(k * n)
    if len(flat) == 0:
        return out
    rows = flat // n
    p = pred.ravel()[flat]
    length = np.asarray(rev_l[sub[p], sub[flat - rows * n]]).ravel()  # reversed arc p -> c
    where = np.full(k * n, -1, dtype=np.int64)
    where[flat] = np.arange(len(flat))
    ptr = where[rows * n + p]  # -1 where the parent is the source
    live = np.flatnonzero(ptr >= 0)
    while len(live):
        up = ptr[live]
        length[live] += length[up]
        nxt = ptr[up]
        ptr[live] = nxt
        live = live[nxt >= 0]
    out[flat] = length
    return out


def travel_table(
    graph: nx.MultiDiGraph,
    demand_nodes: pd.Series,
    site_nodes: pd.Series,
    cutoff_s: pd.Series | float,
    *,
    demand_access_s: pd.Series | None = None,
    site_access_s: pd.Series | None = None,
    demand_snap: pd.DataFrame | None = None,
    site_snap: pd.DataFrame | None = None,
    chunk: int = 64,
    max_cells: int = _DEFAULT_MAX_CELLS,
    edges: EdgeTable | None = None,
) -> pd.DataFrame:
    """Sparse table of travel times from demand points to sites within a cut-off.

    One bounded Dijkstra per distinct site position runs over the reversed network; sites are
    handled in spatially compact batches, each on the sub-network within its straight-line reach.

    Parameters
    ----------
    graph
        Prepared road graph (edges with ``travel_time_s`` [s] and ``length`` [m]).
    demand_nodes
        Node id per ``demand_id``; -1 marks a point dropped while snapping (it gets no pairs).
    site_nodes
        Node id per ``site_id``.
    cutoff_s
        Cut-off per ``demand_id`` (or one value) [s]; pairs with a larger total time are left out.
    demand_access_s, site_access_s
        Time from the point to the road [s], added to the network time (and counted against
        the cut-off).
    demand_snap, site_snap
        Results of :func:`snap_to_edges` (same index as the nodes): the points then enter the
        network at their position along the street instead of at ``demand_nodes``/``site_nodes``.
    chunk
        Sites per Dijkstra batch.
    max_cells
        Upper bound of sites x sub-network nodes per batch (bounds the working memory).
    edges
        The graph read into arrays once (:meth:`EdgeTable.from_graph` of ``graph``, with
        ``geometry=True, keys=True`` when points are snapped to edges), to reuse across calls;
        read from ``graph`` when None.

    Returns
    -------
    pandas.DataFrame
        ``demand_id``, ``site_id``, ``travel_time_s`` [s] (access + network time) and
        ``distance_m`` [m] (road length of the fastest route, the shortest one among equally fast
        routes; access legs excluded), one row per pair within the cut-off, in a deterministic
        order (by batches of nearby sites). On a graph from :func:`prepare_graph` network times
        are exact sums of the edge times; lengths are exact to about 1 cm per edge.
        The id columns are categoricals whose categories are the whole ``demand_nodes`` and
        ``site_nodes`` index (each pair stores a 4-byte code, not a copy of its label); they
        compare, merge and group like the labels (pass ``observed=True`` to ``groupby``), and
        :func:`id_positions` turns them into row positions. Ids that are not unique are
        returned as plain labels.

    Raises
    ------
    DataError
        When a node is not in the graph, or a cut-off or access time is negative or missing.
    """
    snapped = demand_snap is not None or site_snap is not None
    if edges is None:
        et = EdgeTable.from_graph(graph, geometry=snapped, keys=snapped)
    elif snapped and (edges.geometry is None or edges.key is None):
        raise DataError("travel_table: points snapped to edges need an edge table built with geometry=True, keys=True")
    else:
        et = edges
    n_d, n_s = len(demand_nodes), len(site_nodes)
    cut = (
        np.full(n_d, float(cutoff_s))
        if not isinstance(cutoff_s, pd.Series)
        else cutoff_s.reindex(demand_nodes.index).to_numpy(dtype=float)
    )
    if n_d and not (np.isfinite(cut) & (cut >= 0)).all():
        bad = list(demand_nodes.index[~(np.isfinite(cut) & (cut >= 0))][:5])
        raise DataError(f"cut-off missing or negative for demand rows {bad}; give a cut-off [s] for every row")
    d_acc = _access(demand_access_s, demand_nodes.index, "demand_access_s")
    s_acc = _access(site_access_s, site_nodes.index, "site_access_s")

    d_dropped = demand_nodes.astype(object).eq(-1).to_numpy() if n_d else np.zeros(0, dtype=bool)
    if demand_snap is not None:
        demand_snap = demand_snap.reindex(demand_nodes.index)
        d_dropped |= demand_snap["node_id"].astype(object).eq(-1).to_numpy()
    live_d = np.flatnonzero(~d_dropped)
    if d_dropped.any():
        log.info("travel table: %d demand rows dropped while snapping get no pairs", int(d_dropped.sum()))
    # sites become virtual nodes on their streets (they are the Dijkstra sources); demand points
    # leave their street through the next node in each allowed direction
    if site_snap is not None:
        site_snap = site_snap.reindex(site_nodes.index)
        if site_snap["node_id"].astype(object).eq(-1).any():
            raise DataError("site_snap: some sites were dropped while snapping; remove them from the sites first")
        routing, (s_pos,) = _routing_network(et, [_edge_index(et, site_snap, "site_snap")])
    else:
        routing, _ = _routing_network(et, [])
        s_pos = _node_positions(et.nodes, site_nodes, "site")
    if demand_snap is not None:
        edge, frac = _edge_index(et, demand_snap.iloc[live_d], "demand_snap")
        targets = _Targets.on_edges(et, routing, edge, frac)
    else:
        targets = _Targets.at_nodes(_node_positions(et.nodes, demand_nodes.iloc[live_d], "demand"))

    di, si, tt, mm = _pairs(routing, targets, d_acc[live_d], cut[live_d], s_pos, s_acc,
                            chunk=chunk, max_cells=max_cells)
    table = pd.DataFrame(
        {"demand_id": _labels(demand_nodes.index, di if len(live_d) == n_d else live_d.take(di)), "site_id": _labels(site_nodes.index, si),
         "travel_time_s": tt, "distance_m": mm},
        copy=False,
    )
    log.info("travel table: %d pairs within the cut-off (of %d x %d)", len(table), n_d, n_s)
    return table


def _labels(index: pd.Index, pos: np.ndarray) -> pd.Categorical | np.ndarray:
    """Labels of ``index`` at positions ``pos``: a categorical over the whole index (codes only, no
    copy of the labels per pair) when the labels are unique, else the labels themselves."""
    if index.is_unique and not index.hasnans:
        codes = pos.astype(np.int32 if len(index) < 2**31 else np.int64, copy=False)
        return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(index), validate=False)
    return index.to_numpy().take(pos)


def _access(values: pd.Series | None, index: pd.Index, name: str) -> np.ndarray:
    if values is None:
        return np.zeros(len(index))
    out = values.reindex(index).to_numpy(dtype=float)
    if len(out) and not (np.isfinite(out) & (out >= 0)).all():
        bad = list(index[~(np.isfinite(out) & (out >= 0))][:5])
        raise DataError(f"{name} is missing or negative for {bad}; give a time [s] >= 0 for every point")
    return out


def _pairs(
    routing: _Routing,
    targets: _Targets,
    d_acc: np.ndarray,
    cut: np.ndarray,
    s_pos: np.ndarray,
    s_acc: np.ndarray,
    *,
    chunk: int,
    max_cells: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (demand row, site row, time, distance) within the cut-off; rows are positions."""
    empty = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32), np.zeros(0), np.zeros(0))
    if targets.n == 0 or len(s_pos) == 0:
        return empty
    # distinct routing nodes of the sites (sources); targets are distinct demand positions
    src, src_order, src_ptr = _groups(s_pos)
    tgt_order, tgt_ptr = targets.order, targets.ptr
    s_lo = np.minimum.reduceat(s_acc[src_order], src_ptr[:-1])
    s_hi = np.maximum.reduceat(s_acc[src_order], src_ptr[:-1])
    d_lo = np.minimum.reduceat(d_acc[tgt_order], tgt_ptr[:-1])
    d_hi = np.maximum.reduceat(d_acc[tgt_order], tgt_ptr[:-1])
    c_lo = np.minimum.reduceat(cut[tgt_order], tgt_ptr[:-1])
    c_hi = np.maximum.reduceat(cut[tgt_order], tgt_ptr[:-1])
    uniform = bool((s_lo == s_hi).all() and (d_lo == d_hi).all() and (c_lo == c_hi).all())
    budget = c_hi - d_lo  # largest network + site access time any member of a target allows
    limit_all = float(budget.max() - s_lo.min())
    prefilter = bool(budget.min() != budget.max() or s_lo.min() != s_lo.max() or not targets.single)
    if limit_all < 0:
        return empty
    packing = _packing(routing.rev, limit_all)
    weights = routing.rev.matrix(packing.weights if packing else np.maximum(routing.rev.t, _ZERO_TIME_S))
    rev_l = None if packing else routing.rev.matrix(routing.rev.length)
    if packing is not None:
        off_w = targets.off_t / TIME_RESOLUTION_S * 2.0**packing.bits + np.round(targets.off_m / packing.unit_m)
    xy = routing.xy
    reach_m = routing.speed_bound * limit_all * (1.0 + 1e-9) + 1e-6
    blocks: list[_SparseBlock | _DenseBlock] = []
    local = np.full(routing.n, -1, dtype=np.int64)  # routing node -> position in the batch's sub-network
    for b in _batches(src, xy, reach_m, chunk=max(1, int(chunk)), max_cells=max_cells):
        lim = limit_all - float(s_lo[b].min())
        if lim < 0:
            continue
        lo = xy[src[b]].min(axis=0) - reach_m
        hi = xy[src[b]].max(axis=0) + reach_m
        inside = np.flatnonzero((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1]))
        local[inside] = np.arange(len(inside))
        ex_local = local[targets.exit_node]
        ex_in = np.flatnonzero(ex_local >= 0)
        src_local = local[src[b]]
        local[inside] = -1  # reset for the next batch (one array for all batches)
        if len(ex_in) == 0:
            continue
        cols = ex_local[ex_in]
        sub = weights if len(inside) == routing.n else weights[inside][:, inside]
        if packing is not None:
            dist = dijkstra(sub, directed=True, indices=src_local, limit=packing.limit(lim))
            vals = dist[:, cols]
            if not targets.single:
                vals += off_w[ex_in]
            owners, vals = _min_per_owner(vals, targets.owner[ex_in])
            lengths = None
        else:
            assert rev_l is not None
            dist, pred = dijkstra(sub, directed=True, indices=src_local, limit=lim, return_predecessors=True)
            lengths = _tree_lengths(dist, pred, inside, rev_l).reshape(dist.shape)[:, cols] + targets.off_m[ex_in]
            vals = dist[:, cols] + targets.off_t[ex_in]
            owners, best = _min_per_owner(vals, targets.owner[ex_in])
            if len(owners) < len(ex_in):  # shortest among the fastest exits
                first = np.searchsorted(targets.owner[ex_in], owners)
                ties = vals == np.repeat(best, np.diff(np.append(first, len(ex_in))), axis=1)
                _, lengths = _min_per_owner(np.where(ties, lengths, np.inf), targets.owner[ex_in])
            vals = best
        reached = vals < np.inf
        if _dense_is_cheaper(reached, src_ptr, b, tgt_ptr, owners, max_cells):
            # most group pairs are reached: expand the reached mask densely to sites x demand rows
            # (one boolean gather) instead of repeating every reached pair per member
            if packing is not None:  # unpack per group pair: fewer than the expanded pairs
                vals, lengths = packing.unpack(np.where(reached, vals, 0.0))
            assert lengths is not None
            if prefilter:
                reached &= vals + s_lo[b][:, None] <= budget[owners][None, :]
            site, (g_pos,) = _expand(b, src_order, src_ptr, (np.arange(len(b)),))
            row, (o_pos,) = _expand(owners, tgt_order, tgt_ptr, (np.arange(len(owners)),))
            keep = reached[g_pos][:, o_pos]
            access = (s_acc, d_acc) if s_hi.any() or d_hi.any() else None
            if not uniform:  # each row's own cut-off, with each site's and row's access time
                keep &= vals[g_pos][:, o_pos] + s_acc[site][:, None] + d_acc[row][None, :] <= cut[row][None, :]
            blocks.append(_DenseBlock(keep, vals, lengths, g_pos, o_pos, site, row, access))
            continue
        flat = np.flatnonzero(reached)
        bi = flat // vals.shape[1]
        sg, tg = b[bi], owners[flat - bi * vals.shape[1]]
        if packing is not None:
            net_t, net_m = packing.unpack(vals.ravel()[flat])
        else:
            assert lengths is not None
            net_t, net_m = vals.ravel()[flat], lengths.ravel()[flat]
        if prefilter:
            ok = net_t + s_lo[sg] <= budget[tg]
            sg, tg, net_t, net_m = sg[ok], tg[ok], net_t[ok], net_m[ok]
        if uniform and (s_hi.any() or d_hi.any()):
            net_t += s_lo[sg] + d_lo[tg]
        # expand distinct site nodes to sites and distinct demand positions to demand rows
        site, (tg, net_t, net_m) = _expand(sg, src_order, src_ptr, (tg, net_t, net_m))
        row, (site, total, dist_m) = _expand(tg, tgt_order, tgt_ptr, (site, net_t, net_m))
        if not uniform:
            total += s_acc[site] + d_acc[row]
            ok = total <= cut[row]
            row, site, total, dist_m = row[ok], site[ok], total[ok], dist_m[ok]
        blocks.append(_SparseBlock(row, site, total, dist_m))
    # the output columns are allocated once, at their final size, and each block writes its part
    n = sum(blk.count for blk in blocks)
    out = (np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32), np.empty(n), np.empty(n))
    start = 0
    while blocks:
        blk = blocks.pop(0)
        blk.write(*(col[start : start + blk.count] for col in out))
        start += blk.count
    return out


class _SparseBlock:
    """A batch's pairs as arrays (demand row, site row, time, distance)."""

    def __init__(self, *cols: np.ndarray) -> None:
        self.cols = cols
        self.count = len(cols[0])

    def write(self, *out: np.ndarray) -> None:
        for dst, src in zip(out, self.cols, strict=True):
            dst[:] = src


class _DenseBlock:
    """A batch's pairs as group-level times and lengths (distinct site nodes x distinct demand
    positions) and the mask of kept pairs over its sites x demand rows; expanded only when written."""

    def __init__(self, keep: np.ndarray, t: np.ndarray, m: np.ndarray, g_pos: np.ndarray, o_pos: np.ndarray,
                 site: np.ndarray, row: np.ndarray, access: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.keep, self.t, self.m, self.g_pos, self.o_pos = keep, t, m, g_pos, o_pos
        self.site, self.row, self.access = site, row, access
        self.count = int(np.count_nonzero(keep))

    def write(self, row: np.ndarray, site: np.ndarray, t: np.ndarray, m: np.ndarray) -> None:
        flat = np.flatnonzero(self.keep)
        # mode="clip" writes straight into ``out`` (the indices are in range by construction)
        np.take(self.t[self.g_pos][:, self.o_pos], flat, out=t, mode="clip")
        np.take(self.m[self.g_pos][:, self.o_pos], flat, out=m, mode="clip")
        np.take(np.tile(self.row, len(self.g_pos)), flat, out=row, mode="clip")
        site[:] = np.repeat(self.site, np.count_nonzero(self.keep, axis=1))
        if self.access is not None:
            t += self.access[0][site] + self.access[1][row]


def _dense_is_cheaper(
    reached: np.ndarray, src_ptr: np.ndarray, batch: np.ndarray, tgt_ptr: np.ndarray, owners: np.ndarray, max_cells: int
) -> bool:
    """Whether expanding a batch's reached mask densely (sites x demand rows) beats expanding its
    reached pairs one by one: when at least a quarter of the dense cells become pairs and the
    dense mask fits ``max_cells``."""
    per_src = np.diff(src_ptr)[batch].astype(float)
    per_tgt = np.diff(tgt_ptr)[owners].astype(float)
    cells = per_src.sum() * per_tgt.sum()
    if cells > max_cells or cells == 0:
        return False
    return bool(4.0 * float(per_src @ (reached @ per_tgt)) >= cells)


def _min_per_owner(vals: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise minimum over the exits of each owner (``owner`` sorted): (owners, minima)."""
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    if len(starts) == len(owner):
        return owner, vals
    # owners have few exits (one per direction of their street): fold the r-th exit of every
    # owner that has one, which is much faster than ``reduceat`` across the columns
    count = np.diff(np.r_[starts, len(owner)])
    out = vals[:, starts]
    for r in range(1, int(count.max())):
        more = np.flatnonzero(count > r)
        out[:, more] = np.minimum(out[:, more], vals[:, starts[more] + r])
    return owner[starts], out


def _batches(src: np.ndarray, xy: np.ndarray, reach_m: float, *, chunk: int, max_cells: int) -> list[np.ndarray]:
    """Spatially compact batches of source indices whose sub-networks fit ``max_cells``."""
    order = _z_order(xy[src])
    todo = [order[i : i + chunk] for i in range(0, len(order), chunk)][::-1]
    out: list[np.ndarray] = []
    while todo:
        b = todo.pop()
        if len(b) > 1:
            lo = xy[src[b]].min(axis=0) - reach_m
            hi = xy[src[b]].max(axis=0) + reach_m
            inside = int(((xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1])).sum())
            if len(b) * inside > max_cells:
                half = len(b) // 2
                todo += [b[half:], b[:half]]
                continue
        out.append(b)
    return out
