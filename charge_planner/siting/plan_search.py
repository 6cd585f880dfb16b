"""Local search on the chargers of a one-year capacitated siting plan, each plan valued by a flow.

**Exact value of a fixed plan.** Once the charger counts ``n_jt`` are fixed, every cost term of the
capacitated model is fixed too (sites open where they have chargers, each in the lowest band its power
needs), and what is left is a transportation problem: with the served energy ``f_ijt = d_i x_ijt``
[kWh/day] it maximises ``sum f`` with each demand row giving at most ``d_i`` and each (site, type)
taking at most ``cap_t n_jt``, along the pairs within reach. That is a maximum flow from a source
through the demand rows and the (site, type) columns to a sink (:meth:`PlanSearch.served`, scipy's
``maximum_flow`` on capacities in whole units of :attr:`PlanSearch.unit`: exact but for the rounding
of each capacity to the unit, at most half a unit per demand row and per (site, type)).

**Moves valued near the change.** A move changes one site's mix. Its plan is valued by re-solving the
flow only on the demand rows within reach of that site, the charger columns within reach of those rows
and the rows within reach of them, the rest of the flow kept (:meth:`PlanSearch._move`). That is a
feasible flow of the new plan, so its value never overstates the plan (and it is exact unless a better
assignment moves demand further away); a kept move, and a trial that ends close below the current plan,
are valued over the whole network.

**Local search** (:meth:`PlanSearch.improve`), within the budget and each site's allowed mixes:

* *refill*: while money is left, the site mix increase with the most served energy per dollar is
  taken. Candidates are ranked by the unserved demand within reach of each (site, type) (what the new
  chargers serve without moving anybody: a lower bound of the gain) and, for closed sites, by the
  value per dollar of their best mixes at the decomposition's best prices (which counts the demand
  that moves); every site is ranked, each step valuing again only the sites near the last change
  (:class:`_Ranking`), and the best few of each ranking are valued and the best gain per dollar is taken;
* *drop and refill*: one charger of an open site is removed, or the site is closed, and the money
  is spent again by refill (not on what was removed); kept when the objective (served energy less
  ``eps`` x spend) rises. Removals are tried in order of their loss per dollar freed.

At a local optimum the search restarts from its best plan with a few open sites closed at random (a
seeded generator, so the same inputs give the same plan) and their money spent elsewhere, until a
number of restarts in a row find nothing better. The work is capped by a count of flow valuations
(a deterministic cap); a deadline is a safety stop.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from charge_planner.siting.decompose import SiteDecomposition
from charge_planner.siting.search_tools import csr_gather
from charge_planner.siting.solve import solver_threads

log = logging.getLogger(__name__)

__all__ = ["PlanSearch", "MAX_EVALUATIONS", "improve_starts"]

#: Exact valuations (maximum flows) of one local search at most (a deterministic work cap).
MAX_EVALUATIONS = 200_000
#: Candidates of each ranking valued exactly at each refill step.
REFILL_CANDIDATES = 4
#: Sites valued at a time when ranking the candidates of refill steps.
_CHUNK = 64
#: Open sites closed at random to restart the search from its best plan at a local optimum.
_KICK = 3
#: ... and the search ends after this many restarts in a row that found no better plan.
_IDLE_KICKS = 10
#: A trial's refill gives up when its first step's ratio times the money left is below this share of
#: the loss to recover (below 1: the ratio is not a strict bound of later steps).
_GIVE_UP = 0.8
#: A trial plan whose re-solved flow ends within this share of the current plan's is valued over
#: the whole network before it is given up.
_CLOSE = 1e-3
#: Largest integer capacity of the flow network (scipy's maximum flow works on 32-bit integers).
_INT_MAX = 2**31 - 1


def _take(table: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``table[rows][:, cols]`` (``cols`` sorted, without repeats): a plain row gather when ``cols`` are all
    the columns (far faster than the outer-product index)."""
    if len(cols) == table.shape[1] and cols[0] == 0 and cols[-1] == len(cols) - 1:
        return table[rows]
    return table[np.ix_(rows, cols)]


@dataclass
class _State:
    """A plan and a flow of its demand (in whole flow units): the maximum one, or one at least as
    large as a feasible flow found by re-solving the part of the network near the last change."""

    mix: np.ndarray  # mix index of every site
    n: np.ndarray  # charger count of every charger column
    _col: np.ndarray | None  # flow of every usable x column [units] (None: ``_delta`` applied to a parent's)
    row: np.ndarray  # served flow of every demand row [units]
    pair: np.ndarray  # served flow of every charger column [units]
    total: int  # served flow [units]
    spend: float  # [USD]
    unit: float  # [kWh/day]
    #: the parent state, the columns re-solved and the new flow of those that are open: a trial's column
    #: flows are written out only when asked for (most trials are dropped; a metro's copy is 2 MB)
    _delta: tuple[_State, np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def col(self) -> np.ndarray:
        """Flow of every usable x column [units]."""
        if self._col is None:
            assert self._delta is not None
            parent, inner, open_cols, col_flow = self._delta
            col = parent.col.copy()
            col[inner] = 0
            col[open_cols] = col_flow
            self._col, self._delta = col, None
        return self._col

    @property
    def value(self) -> float:
        """Served energy [kWh/day]."""
        return self.total * self.unit

    @property
    def row_served(self) -> np.ndarray:
        return self.row * self.unit

    @property
    def pair_used(self) -> np.ndarray:
        return self.pair * self.unit

    def objective(self, eps: float) -> float:
        return self.value - eps * self.spend


def _prefix_best(ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running maximum of each row and the column where it was first reached."""
    best = np.maximum.accumulate(ratio, axis=1)
    new = np.ones(ratio.shape, dtype=bool)
    new[:, 1:] = ratio[:, 1:] > best[:, :-1]
    arg = np.maximum.accumulate(np.where(new, np.arange(ratio.shape[1])[None, :], 0), axis=1)
    return best, arg.astype(np.int32)


class _Ranking:
    """Each site's best increase per dollar, kept from one refill step to the next so that a step values
    again only the sites near what changed since the plan of the last step.

    Each site's mixes are held in order of cost, with the running best ratio along that order, so the
    best increase within any money left is one binary search per site. A site is valued again when its
    own mix, the flow of a charger column of it, or the served demand of a row within reach of one of its
    columns changed (a few dozen sites per move on a metro, against thousands). The ratios of closed
    sites at the decomposition's prices do not depend on the plan and are kept once per set of prices.
    Sites a refill may not grow (``ban``) are valued apart, without touching what is kept."""

    def __init__(self, search: PlanSearch) -> None:
        self.search = search
        dec = search.dec
        #: per group: its sites, its mixes, each site's mixes in order of cost, and their costs in that order
        self.groups = []
        self.pos = np.full(search.n_site, -1, dtype=np.int64)
        for sites, mix_idx in dec.groups:
            cost = dec.mix_cost[np.ix_(sites, mix_idx)]
            order = np.argsort(cost, axis=1, kind="stable").astype(np.int32)
            self.groups.append((sites, mix_idx, order, np.take_along_axis(cost, order, axis=1)))
            self.pos[sites] = np.arange(len(sites))
        self.base: _State | None = None
        self.direct: list[tuple[np.ndarray, np.ndarray]] = []
        self.lag: list[tuple[np.ndarray, np.ndarray]] | None = None

    def _sorted_best(self, g: int, rows: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Running best of ``ratio`` (rows of group ``g`` x its mixes) along each row's cost order."""
        order = self.groups[g][2][rows]
        return _prefix_best(np.take_along_axis(ratio, order, axis=1))

    def _direct_rows(self, g: int, st: _State, rows: np.ndarray, ban: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        sites, mix_idx = self.groups[g][0], self.groups[g][1]
        best, arg = [], []
        for lo in range(0, len(rows), _CHUNK):
            r = rows[lo:lo + _CHUNK]
            mask = None
            if ban and any(int(j) in ban for j in sites[r]):
                mask = np.zeros((len(r), len(self.search.dec.mixes)), dtype=bool)
                for i, j in enumerate(sites[r]):
                    if int(j) in ban:
                        mask[i] = ban[int(j)]
            b, a = self._sorted_best(g, r, self.search._direct_ratios(st, sites[r], mix_idx, mask))
            best.append(b)
            arg.append(a)
        width = len(mix_idx)
        if not best:
            return np.zeros((0, width)), np.zeros((0, width), dtype=np.int32)
        return np.concatenate(best), np.concatenate(arg)

    def _lag_rows(self, g: int, rows: np.ndarray, ban: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        sites, mix_idx = self.groups[g][0], self.groups[g][1]
        ratio = np.where(self.search.dec.mix_ok[np.ix_(sites[rows], mix_idx)],
                         self.search.lag_ratio[np.ix_(sites[rows], mix_idx)], -np.inf)
        for i, j in enumerate(sites[rows]):
            if int(j) in ban:
                ratio[i, ban[int(j)][mix_idx]] = -np.inf
        return self._sorted_best(g, rows, ratio)

    def _follow(self, st: _State) -> None:
        """Make ``st`` the base plan: value again the sites whose ratios may differ (all at first)."""
        if self.base is None:
            self.direct = [self._direct_rows(g, st, np.arange(len(grp[0])), {}) for g, grp in enumerate(self.groups)]
        else:
            changed = self._changed_sites(st)
            for g, (sites, *_rest) in enumerate(self.groups):
                rows = self.pos[changed[np.isin(changed, sites)]]
                if len(rows):
                    best, arg = self._direct_rows(g, st, rows, {})
                    self.direct[g][0][rows] = best
                    self.direct[g][1][rows] = arg
        self.base = st

    def _changed_sites(self, st: _State) -> np.ndarray:
        """Sites whose ratios may differ between the base plan and ``st``."""
        search, base = self.search, self.base
        assert base is not None
        rows = np.flatnonzero(base.row != st.row)
        cols = csr_gather(search.dem_ptr, search.by_dem, rows)
        pairs = np.concatenate([np.flatnonzero(base.pair != st.pair), search.c_pair[cols]])
        return np.union1d(search.dec.pair_site[pairs], np.flatnonzero(base.mix != st.mix))

    def _pick(self, g: int, best: np.ndarray, arg: np.ndarray, rows: np.ndarray, at: np.ndarray,
              spare: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best ratio and mix of the sites of group ``g`` at ``rows`` among their mixes that cost at most
        ``spare`` [USD] (their running bests are the rows ``at`` of ``best``/``arg``)."""
        costs = self.groups[g][3].ravel()
        width = self.groups[g][3].shape[1]
        base = rows * width
        # the number of mixes within the money: a binary search on every row at once
        lo = np.zeros(len(rows), dtype=np.int64)
        hi = np.full(len(rows), width, dtype=np.int64)
        live = np.arange(len(rows))
        while len(live):
            mid = (lo[live] + hi[live]) // 2
            inside = costs[base[live] + mid] <= spare[live]
            lo[live[inside]] = mid[inside] + 1
            hi[live[~inside]] = mid[~inside]
            live = live[lo[live] < hi[live]]
        last = np.maximum(lo - 1, 0)
        ratio = np.where(lo > 0, best[at, last], -np.inf)
        mix = self.groups[g][1][self.groups[g][2][rows, arg[at, last]]]
        return ratio, mix

    def top(self, st: _State, slack: float, ban: tuple[np.ndarray, np.ndarray] | None) -> list[tuple[int, int]]:
        search, dec = self.search, self.search.dec
        banned = {int(j): m for j, m in zip(*ban, strict=True)} if ban is not None else {}
        if self.base is not st:
            self._follow(st)
        fresh = np.array(sorted(banned), dtype=np.int64)
        cur_cost = dec.mix_cost[np.arange(search.n_site), st.mix]
        at_low = st.mix == search.low_mix
        if search.lag_ratio is not None and self.lag is None:
            self.lag = [self._lag_rows(g, np.arange(len(grp[0])), {}) for g, grp in enumerate(self.groups)]
        found: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"direct": [], "lag": []}
        for g, (sites, _mix_idx, _order, _costs) in enumerate(self.groups):
            is_fresh = np.isin(sites, fresh)
            kept = np.flatnonzero(~is_fresh)
            again = np.flatnonzero(is_fresh)
            spare = cur_cost[sites] + slack + 1e-6
            db, da = self.direct[g]
            parts = [(kept, db, da, kept)]
            if len(again):
                parts.append((again, *self._direct_rows(g, st, again, banned), np.arange(len(again))))
            for rows, best, arg, at in parts:
                ratio, mix = self._pick(g, best, arg, rows, at, spare[rows])
                found["direct"].append((sites[rows], ratio, mix))
            if self.lag is not None:
                low = at_low[sites]
                lb, la = self.lag[g]
                ban_rows = np.flatnonzero(np.isin(sites, list(banned)) & low) if banned else np.zeros(0, dtype=np.int64)
                keep = np.flatnonzero(low & ~np.isin(np.arange(len(sites)), ban_rows))
                parts = [(keep, lb, la, keep)]
                if len(ban_rows):
                    parts.append((ban_rows, *self._lag_rows(g, ban_rows, banned), np.arange(len(ban_rows))))
                for rows, best, arg, at in parts:
                    ratio, mix = self._pick(g, best, arg, rows, at, spare[rows])
                    found["lag"].append((sites[rows], ratio, mix))
        out: list[tuple[int, int]] = []
        for kind in ("direct", "lag"):
            if not found[kind]:
                continue
            site = np.concatenate([f[0] for f in found[kind]])
            ratio = np.concatenate([f[1] for f in found[kind]])
            mix = np.concatenate([f[2] for f in found[kind]])
            ok = np.flatnonzero(np.isfinite(ratio))
            order = ok[np.lexsort((site[ok], -ratio[ok]))][:REFILL_CANDIDATES]
            out += [(int(site[i]), int(mix[i])) for i in order if (int(site[i]), int(mix[i])) not in out]
        return out


class PlanSearch:
    """Exact valuation of plans with fixed chargers and a local search over them (module docstring).

    Parameters
    ----------
    dec
        The decomposition by site of the model (its data: demand, pairs, mixes, costs, budget).
    unit
        Flow unit [kWh/day] (default: 0.001 kWh/day, coarser when the demand would overflow 32-bit
        capacities).
    """

    def __init__(self, dec: SiteDecomposition, *, unit: float | None = None) -> None:
        self.dec = dec
        self.n_dem = len(dec.d)
        self.n_pair = len(dec.pair_site)
        self.n_site, self.n_type = dec.pair_of.shape
        total = float(dec.d.sum())
        self.unit = float(unit) if unit is not None else max(1e-3, 4.0 * total / _INT_MAX)
        use = np.flatnonzero((dec.x_upper > 0) & (dec.d[dec.x_dem] > 0))
        # held in (demand row, charger column) order, the arc order of the flow networks: every network
        # built from an ordered subset of them needs no sort (:meth:`_max_flow`)
        use = use[np.lexsort((dec.x_pair[use], dec.x_dem[use]))]
        self.c_dem, self.c_pair = dec.x_dem[use], dec.x_pair[use]
        self.d_units = np.round(dec.d / self.unit).astype(np.int64)
        # the usable x columns by charger column and by demand row, and their (row, column) keys
        self.by_pair = np.argsort(self.c_pair, kind="stable")
        self.pair_ptr = np.searchsorted(self.c_pair[self.by_pair], np.arange(len(dec.pair_site) + 1))
        self.by_dem = np.argsort(self.c_dem, kind="stable")
        self.dem_ptr = np.searchsorted(self.c_dem[self.by_dem], np.arange(len(dec.d) + 1))
        self.pair_cap = dec.cap[dec.pair_type]
        top = int(dec.mixes.max(initial=0))
        self.radix = top + 1
        self.weights = self.radix ** np.arange(self.n_type)
        self.code_mix = np.full(self.radix ** self.n_type, -1, dtype=np.int64)
        self.code_mix[dec.mixes @ self.weights] = np.arange(len(dec.mixes))
        has = dec.pair_of >= 0
        self.low = np.zeros((self.n_site, self.n_type), dtype=np.int64)
        self.low[has] = dec.n_lower[dec.pair_of[has]]
        self.low_mix = self.code_mix[self.low @ self.weights]
        self.evaluations = 0
        #: whether the deadline (not the work cap, the target or a local optimum) ended a search
        self.wall_clock_stop = False
        #: asked between moves: True ends the search (another search has reached the target)
        self.stop: Callable[[], bool] | None = None
        #: whether the last search ended at or above its target
        self.reached_target = False
        self.moves = 0
        self.kicks = 0
        self.group_of = np.full(self.n_site, -1, dtype=np.int64)
        for g, (sites, _) in enumerate(dec.groups):
            self.group_of[sites] = g
        self.lag_ratio: np.ndarray | None = None  # n_site x n_mix: value per dollar of each mix at the prices
        self._ranking: _Ranking | None = None

    # ---- plans as site mixes

    def site_counts(self, mix: np.ndarray) -> np.ndarray:
        """Charger count of each charger column of the plan given by the mix index of every site."""
        counts = self.dec.mixes[mix]
        has = self.dec.pair_of >= 0
        out = np.zeros(self.n_pair, dtype=np.int64)
        out[self.dec.pair_of[has]] = counts[has]
        return out

    def mix_of(self, n_pair: np.ndarray) -> np.ndarray:
        """Mix index of every site of the plan with the given charger counts (existing ones kept)."""
        counts = np.zeros((self.n_site, self.n_type), dtype=np.int64)
        has = self.dec.pair_of >= 0
        counts[has] = np.round(np.asarray(n_pair, dtype=float)[self.dec.pair_of[has]]).astype(np.int64)
        counts = np.maximum(counts, self.low)
        if (counts >= self.radix).any():
            raise ValueError("plan has more chargers at a site than any allowed mix")
        mix = self.code_mix[counts @ self.weights]
        if (mix < 0).any():
            raise ValueError("plan has a charger mix outside the enumerated mixes")
        return mix

    def spend(self, mix: np.ndarray) -> float:
        """Spend of the plan [USD] as the budget row counts it (existing chargers on both sides)."""
        return float(self.dec.mix_cost[np.arange(self.n_site), mix].sum())

    def feasible(self, mix: np.ndarray) -> bool:
        """The plan keeps every site's allowed mixes and the budget."""
        ok = bool(self.dec.mix_ok[np.arange(self.n_site), mix].all())
        return ok and self.spend(mix) <= self.dec.budget * (1 + 1e-9) + 1e-6

    # ---- exact value of a plan

    def _max_flow(self, dem: np.ndarray, pair: np.ndarray, supply: np.ndarray, capacity: np.ndarray,
                  cols: np.ndarray) -> tuple[int, np.ndarray]:
        """Maximum flow from a source through demand nodes (``supply`` units each) and charger nodes
        (``capacity`` units each) to a sink, along the arcs ``dem[c] -> pair[c]`` of the x columns
        ``cols`` (node numbers local: ``0..len(supply)-1`` and ``0..len(capacity)-1``).

        Returns
        -------
        tuple
            The flow [units] and the flow of each given column [units].
        """
        self.evaluations += 1
        nd, npr = len(supply), len(capacity)
        src, sink = nd + npr, nd + npr + 1
        live = capacity > 0
        # the arcs in CSR order: demand nodes (to their charger nodes, in order), charger nodes (to the
        # sink), the source (to every demand node); the sink has none. The columns come in (row, charger
        # column) order from every caller, so the sort is a check
        keys = dem.astype(np.int64) * npr + pair
        order = None if (keys[1:] > keys[:-1]).all() else np.argsort(keys, kind="stable")
        dem_o, pair_o = (dem, pair) if order is None else (dem[order], pair[order])
        per_dem = np.bincount(dem_o, minlength=nd)
        counts = np.concatenate([per_dem, live.astype(np.int64), [nd, 0]])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        heads = np.concatenate([nd + pair_o, np.full(int(live.sum()), sink), np.arange(nd)])
        caps = np.concatenate([supply[dem_o], capacity[live], supply])
        g = sp.csr_matrix((caps.astype(np.int32), heads.astype(np.int32), indptr.astype(np.int32)),
                          shape=(sink + 1, sink + 1))
        res = maximum_flow(g, src, sink)
        f = res.flow
        # the flow of the demand nodes' arcs: scipy keeps each row's arcs in order, the reverse arc to the
        # source last; checked (arc count per row and heads), else matched by (row, charger column)
        end = int(f.indptr[nd])
        head, flow = f.indices[:end], f.data[:end]
        sel = (head >= nd) & (head < nd + npr)
        arc_flow: np.ndarray | None = None
        if int(sel.sum()) == len(dem_o):
            csum = np.concatenate([[0], np.cumsum(sel)])
            if (np.array_equal(csum[f.indptr[1:nd + 1]] - csum[f.indptr[:nd]], per_dem)
                    and np.array_equal(head[sel], nd + pair_o)):
                arc_flow = flow[sel]
        if arc_flow is None:
            tail = np.repeat(np.arange(nd), np.diff(f.indptr[:nd + 1]))
            arc_keys = tail[sel] * npr + (head[sel] - nd)
            arc_flow = np.zeros(len(dem_o), dtype=np.int64)
            arc_flow[np.searchsorted(keys if order is None else keys[order], arc_keys)] = flow[sel]
        col_flow = np.zeros(len(cols), dtype=np.int64)
        if order is None:
            col_flow[:] = arc_flow
        else:
            col_flow[order] = arc_flow
        return int(res.flow_value), col_flow

    def _pcap(self, n_pair: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
        """Capacity [units] of the charger columns (all, or ``pairs``) with ``n_pair`` chargers."""
        cap = self.pair_cap if pairs is None else self.pair_cap[pairs]
        return np.minimum(np.floor(cap * n_pair / self.unit + 1e-6), _INT_MAX).astype(np.int64)

    def served(self, n_pair: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The best assignment of demand to fixed chargers, as a maximum flow.

        Parameters
        ----------
        n_pair
            Charger count of each charger column.

        Returns
        -------
        tuple
            Served energy [kWh/day], served energy of each demand row and of each charger column [kWh/day].
        """
        st = self._exact(np.asarray(n_pair), None)
        return st.value, st.row_served, st.pair_used

    def _exact(self, n_pair: np.ndarray, mix: np.ndarray | None) -> _State:
        """The maximum flow of the plan with charger counts ``n_pair`` over the whole network."""
        cols = np.flatnonzero(n_pair[self.c_pair] > 0)
        total, col_flow = self._max_flow(self.c_dem[cols], self.c_pair[cols], self.d_units, self._pcap(n_pair), cols)
        col = np.zeros(len(self.c_dem), dtype=np.int64)
        col[cols] = col_flow
        return _State(
            mix=mix if mix is not None else np.zeros(self.n_site, dtype=np.int64), n=n_pair.copy(), _col=col,
            row=np.bincount(self.c_dem[cols], weights=col_flow, minlength=self.n_dem).astype(np.int64),
            pair=np.bincount(self.c_pair[cols], weights=col_flow, minlength=self.n_pair).astype(np.int64),
            total=total, spend=self.spend(mix) if mix is not None else math.nan, unit=self.unit,
        )

    def _state(self, mix: np.ndarray) -> _State:
        return self._exact(self.site_counts(mix), mix.copy())

    def _move(self, st: _State, mix: np.ndarray, sites: np.ndarray | list[int]) -> _State:
        """The plan ``mix`` (``st``'s with the mixes of ``sites`` changed) and a flow of it: the flow of
        ``st`` re-solved on the demand rows within reach of the changed sites, the charger columns
        within reach of those rows and the rows within reach of them (the rest of the flow kept). A
        feasible flow, so its value is at most the plan's maximum flow, and equal to it unless a
        better assignment needs to move demand further away."""
        dec = self.dec
        sites = np.asarray(sites)
        n_new = st.n.copy()
        has = dec.pair_of[sites] >= 0
        n_new[dec.pair_of[sites][has]] = dec.mixes[mix[sites]][has]
        spend = st.spend + float((dec.mix_cost[sites, mix[sites]] - dec.mix_cost[sites, st.mix[sites]]).sum())
        p0 = dec.pair_of[sites].ravel()
        p0 = p0[p0 >= 0]
        rows1 = np.unique(self.c_dem[csr_gather(self.pair_ptr, self.by_pair, p0)])
        near = csr_gather(self.dem_ptr, self.by_dem, rows1)
        p1 = np.unique(self.c_pair[near][n_new[self.c_pair[near]] > 0])
        pairs = np.union1d(p0, p1)
        rows = np.union1d(rows1, self.c_dem[csr_gather(self.pair_ptr, self.by_pair, p1)])
        in_pair = np.zeros(self.n_pair, dtype=bool)
        in_pair[pairs] = True
        in_row = np.zeros(self.n_dem, dtype=bool)
        in_row[rows] = True
        # the columns inside (row and charger column both re-solved), and the flow kept outside
        cand = csr_gather(self.dem_ptr, self.by_dem, rows)
        inner = cand[in_pair[self.c_pair[cand]]]
        old_inner = st.col[inner]
        row_out = st.row[rows] - np.bincount(np.searchsorted(rows, self.c_dem[inner]), weights=old_inner,
                                             minlength=len(rows)).astype(np.int64)
        pair_in = st.pair[pairs] - np.bincount(np.searchsorted(pairs, self.c_pair[inner]), weights=old_inner,
                                               minlength=len(pairs)).astype(np.int64)
        supply = self.d_units[rows] - row_out
        capacity = np.maximum(self._pcap(n_new[pairs], pairs) - pair_in, 0)
        open_cols = inner[n_new[self.c_pair[inner]] > 0]
        flow, col_flow = self._max_flow(np.searchsorted(rows, self.c_dem[open_cols]),
                                        np.searchsorted(pairs, self.c_pair[open_cols]), supply, capacity, open_cols)
        row = st.row.copy()
        row[rows] = row_out + np.bincount(np.searchsorted(rows, self.c_dem[open_cols]), weights=col_flow,
                                          minlength=len(rows)).astype(np.int64)
        pair = st.pair.copy()
        pair[pairs] = pair_in + np.bincount(np.searchsorted(pairs, self.c_pair[open_cols]), weights=col_flow,
                                            minlength=len(pairs)).astype(np.int64)
        return _State(mix=mix, n=n_new, _col=None, _delta=(st, inner, open_cols, col_flow), row=row, pair=pair,
                      total=st.total - int(old_inner.sum()) + flow,
                      spend=spend, unit=self.unit)

    # ---- moves

    def set_prices(self, lam: np.ndarray | None) -> None:
        """Rank the opening of closed sites also by their best mixes at demand prices ``lam`` (the
        decomposition's best prices): the served value of each allowed mix at those prices per dollar."""
        self.lag_ratio = None
        if self._ranking is not None:
            self._ranking.lag = None
        if lam is None:
            return
        dec = self.dec
        values, _, _, _ = dec._pair_values(np.asarray(lam, dtype=float))
        ratio = np.full((self.n_site, len(dec.mixes)), -np.inf)
        for (sites, mix_idx), gain in zip(dec.groups, dec._gains(values), strict=True):
            dcost = dec.mix_cost[np.ix_(sites, mix_idx)] - dec.mix_cost[sites, self.low_mix[sites]][:, None]
            ok = (gain > 0) & (dcost > 0) & (mix_idx[None, :] != self.low_mix[sites][:, None])
            ratio[np.ix_(sites, mix_idx)] = np.where(ok, gain / np.where(dcost > 0, dcost, 1.0), -np.inf)
        self.lag_ratio = ratio
        if self._ranking is not None:
            self._ranking.lag = None

    def _site_gains(self, values: np.ndarray, local: np.ndarray, mix_idx: np.ndarray) -> np.ndarray:
        """Sum over types of ``values[local[site, type], count]`` for every site and mix (sites x mixes;
        ``local`` -1 where the site has no column of the type)."""
        mixes = self.dec.mixes[mix_idx]
        gain = np.zeros((len(local), len(mix_idx)))
        for t in range(self.n_type):
            if not mixes[:, t].any():
                continue
            p = local[:, t]
            ok = p >= 0
            gain[ok] += values[p[ok]][:, mixes[:, t]]
        return gain

    def _candidates(self, st: _State, slack: float, ban: tuple[np.ndarray, np.ndarray] | None) -> list[tuple[int, int]]:
        """(site, new mix) increases that fit ``slack`` [USD]: the best few by the served energy they
        add without moving served demand, per dollar, and (closed sites) by their value per dollar at
        the decomposition's prices; every site is ranked (:class:`_Ranking` keeps each site's best
        increases between steps and values again only the sites near what changed)."""
        if self._ranking is None:
            self._ranking = _Ranking(self)
        return self._ranking.top(st, slack, ban)

    def _values(self, st: _State, pairs: np.ndarray) -> np.ndarray:
        """Energy [kWh/day] each charger column of ``pairs`` would serve with 0, 1, ... chargers without
        moving any served demand (``len(pairs) x radix``): its unused capacity, at most the unserved
        demand within its reach."""
        unmet = np.maximum(self.dec.d - st.row_served, 0.0)
        start, stop = self.pair_ptr[pairs], self.pair_ptr[pairs + 1]
        cols = csr_gather(self.pair_ptr, self.by_pair, pairs)
        sums = np.concatenate([[0.0], np.cumsum(unmet[self.c_dem[cols]])])
        ends = np.cumsum(stop - start)
        reach = np.maximum(sums[ends] - sums[ends - (stop - start)], 0.0)
        k = np.arange(self.radix)[None, :]
        return np.minimum(np.maximum(k * self.pair_cap[pairs, None] - st.pair_used[pairs, None], 0.0), reach[:, None])

    def _direct_ratios(self, st: _State, sites: np.ndarray, mix_idx: np.ndarray, ban_mask: np.ndarray | None) -> np.ndarray:
        """Served energy per dollar of changing each of ``sites`` (one group) to each of ``mix_idx``, by
        the energy the new chargers serve without moving served demand, less ``eps`` x their cost
        (``-inf`` where the mix is not allowed, is the site's own, shrinks an open site, or gains nothing)."""
        dec = self.dec
        pairs = dec.pair_of[sites]
        has = pairs >= 0
        needed = np.unique(pairs[has])
        if not len(needed):
            return np.full((len(sites), len(mix_idx)), -np.inf)
        values = self._values(st, needed)
        local = np.where(has, np.searchsorted(needed, pairs), -1)
        mixes = dec.mixes[mix_idx]
        cur = dec.mixes[st.mix[sites]]
        up = dec.mix_ok[np.ix_(sites, mix_idx)] & (mix_idx[None, :] != st.mix[sites][:, None])
        opened = st.mix[sites] != self.low_mix[sites]
        if opened.any():
            # an open site only grows: mixes with at least its chargers of every type
            grow = np.ones((int(opened.sum()), len(mix_idx)), dtype=bool)
            for t in range(self.n_type):
                grow &= mixes[None, :, t] >= cur[opened, t][:, None]
            up[opened] &= grow
        if ban_mask is not None:
            up &= ~ban_mask[:, mix_idx]
        dcost = dec.mix_cost[np.ix_(sites, mix_idx)] - dec.mix_cost[sites, st.mix[sites]][:, None]
        gain = self._site_gains(values, local, mix_idx)
        cur_gain = np.where(has, values[np.maximum(local, 0), cur], 0.0).sum(axis=1)
        est = gain - cur_gain[:, None] - dec.eps * dcost
        return np.where(up & (est > 0), est / np.maximum(dcost, 1e-6), -np.inf)

    def _refill(self, st: _State, ban: tuple[np.ndarray, np.ndarray] | None, deadline: float, max_evals: int,
                need: float = -math.inf) -> _State:
        """Spend the money left on the best increases by served energy per dollar (greedy). With
        ``need`` [kWh/day], a trial's refill gives up when even spending all the money left at its
        first step's best ratio (the returns fall as money is spent) would gain less than that."""
        dec = self.dec
        first = True
        while self.evaluations < max_evals and time.perf_counter() < deadline:
            slack = dec.budget - st.spend
            cands = self._candidates(st, slack, ban)
            best: tuple[float, _State] | None = None
            for j, mx in cands:
                mix = st.mix.copy()
                mix[j] = mx
                new = self._move(st, mix, [j])
                gain = new.objective(dec.eps) - st.objective(dec.eps)
                if gain <= 1e-9 * max(abs(st.value), 1.0):
                    continue
                ratio = gain / max(new.spend - st.spend, 1e-6)
                if best is None or ratio > best[0]:
                    best = (ratio, new)
            if best is None:
                break
            if first and best[0] * slack < need:
                break
            first = False
            st = best[1]
        return st

    def _removals(self, st: _State) -> list[tuple[float, int, int, int]]:
        """Every removal (one charger of a type, or the whole site) of the plan with its exact loss
        per dollar freed: (loss per dollar, site, new mix, its mix before), cheapest first."""
        dec = self.dec
        cur = dec.mixes[st.mix]
        out: list[tuple[float, int, int, int]] = []
        for j in np.flatnonzero((cur > self.low).any(axis=1)):
            options = set()
            for t in np.flatnonzero(cur[j] > self.low[j]):
                c = cur[j].copy()
                c[t] -= 1
                options.add(int(self.code_mix[c @ self.weights]))
            options.add(int(self.low_mix[j]))
            for mx in sorted(options):
                if mx < 0 or not dec.mix_ok[j, mx]:
                    continue
                mix = st.mix.copy()
                mix[j] = mx
                freed = st.spend - self.spend(mix)
                if freed <= 0:
                    continue
                value = self._move(st, mix, [j]).value
                loss = st.value - value - dec.eps * freed
                out.append((loss / freed, int(j), mx, int(st.mix[j])))
        out.sort()
        return out

    def _descend(self, st: _State, cap: int, deadline: float, target: float) -> tuple[_State, bool]:
        """Drop-and-refill moves until none improves the plan (then True: a local optimum), the work
        cap, the deadline or the target."""
        dec = self.dec
        # removals ranked by their loss at the time they were valued; a stale one (its site changed
        # since) is skipped, and the list is valued again after a pass that improved the plan
        removals = self._removals(st)
        pos, improved = 0, False
        while self.evaluations < cap and st.objective(dec.eps) < target:
            if time.perf_counter() >= deadline:
                self.wall_clock_stop = True
                return st, False
            if self.stop is not None and self.stop():
                return st, False
            if pos >= len(removals):
                if not improved:
                    return st, True
                removals, pos, improved = self._removals(st), 0, False
                continue
            _, j, mx, origin = removals[pos]
            pos += 1
            if st.mix[j] != origin:
                continue
            mix = st.mix.copy()
            old = dec.mixes[mix[j]]
            mix[j] = mx
            trial = self._move(st, mix, [j])
            # the refill may not put back what was removed at that site
            banned = (dec.mixes >= old[None, :]).all(axis=1) if mx != self.low_mix[j] else np.ones(len(dec.mixes), bool)
            banned[mx] = True
            trial = self._refill(trial, (np.array([j]), banned[None, :]), deadline, cap,
                                 need=_GIVE_UP * (st.objective(dec.eps) - trial.objective(dec.eps)))
            tol = 1e-9 * max(abs(st.value), 1.0)
            if trial.objective(dec.eps) <= st.objective(dec.eps) + tol < trial.objective(dec.eps) + _CLOSE * st.value:
                trial = self._state(trial.mix)  # close: the re-solved flows may have missed a better assignment
            if trial.objective(dec.eps) > st.objective(dec.eps) + tol:
                # the flow of the new plan over the whole network (at least the re-solved one's)
                st = self._refill(self._state(trial.mix), None, deadline, cap)
                self.moves += 1
                improved = True
                log.debug("plan search: move %d, objective %.8g after %d valuations", self.moves,
                          st.objective(dec.eps), self.evaluations)
        return st, False

    def improve(
        self,
        n_pair: np.ndarray,
        *,
        max_evaluations: int = MAX_EVALUATIONS,
        deadline: float = math.inf,
        target: float = math.inf,
    ) -> tuple[np.ndarray, float]:
        """A plan at least as good as the given one, by refill and drop-and-refill moves.

        Parameters
        ----------
        n_pair
            Charger count of each charger column of a plan within the budget.
        max_evaluations
            Exact valuations at most (the work cap).
        deadline
            ``time.perf_counter()`` value at which to stop (a safety stop).
        target
            Objective (served energy less ``eps`` x spend) [kWh/day] at which the search may stop
            (e.g. the one a bound proves good enough).

        Returns
        -------
        tuple
            Charger count of each charger column, and the plan's served energy [kWh/day] as the
            maximum flow values it.
        """
        dec = self.dec
        mix = self.mix_of(n_pair)
        if not self.feasible(mix):
            raise ValueError("the starting plan breaks the budget or a site's allowed mixes")
        cap = self.evaluations + max_evaluations
        st = self._state(mix)
        start_obj = st.objective(dec.eps)
        st = self._refill(st, None, deadline, cap)
        self.moves = 0
        best = st
        rng = np.random.default_rng(0)
        idle = 0
        while True:
            st, local_optimum = self._descend(st, cap, deadline, target)
            if st.objective(dec.eps) > best.objective(dec.eps) + 1e-9 * max(abs(best.value), 1.0):
                best, idle = st, 0
            else:
                idle += 1
            if not local_optimum or self.evaluations >= cap or idle > _IDLE_KICKS:
                break
            # a local optimum: close a few open sites of the best plan at random, spend the money
            # elsewhere (not on them) and descend again from there
            open_sites = np.flatnonzero(best.mix != self.low_mix)
            if len(open_sites) < 2:
                break
            kick = rng.choice(open_sites, size=min(_KICK, len(open_sites) - 1), replace=False)
            mix = best.mix.copy()
            mix[kick] = self.low_mix[kick]
            st = self._refill(self._state(mix), (kick, np.ones((len(kick), len(dec.mixes)), dtype=bool)), deadline, cap)
            st = self._refill(self._state(st.mix), None, deadline, cap)
            self.kicks += 1
        st = best
        st = self._state(st.mix)  # the maximum flow of the final plan
        self.reached_target = st.objective(dec.eps) >= target
        log.info("plan search: %.6g -> %.6g kWh/day (objective) after %d moves, %d restarts and %d valuations",
                 start_obj, st.objective(dec.eps), self.moves, self.kicks, self.evaluations)
        return self.site_counts(st.mix), st.value


#: The search handed to a forked process by :func:`improve_starts`: (search, charger counts, options, the event
#: that ends it).
_FORKED: tuple[PlanSearch, np.ndarray, dict, Any] | None = None


def _improve_forked(_: int) -> tuple[np.ndarray, float, bool, int]:
    assert _FORKED is not None
    search, n_pair, options, stop = _FORKED
    search.stop = stop.is_set
    n_best, value = search.improve(n_pair, **options)
    return n_best, value, search.wall_clock_stop, search.evaluations


def _can_fork() -> bool:
    """Whether a second search may run in a forked process: on Linux (fork is safe there), with two
    cores or more, unless the solves of this process were limited to one thread (parallel runs)."""
    return (sys.platform.startswith("linux") and (os.cpu_count() or 1) >= 2 and solver_threads() != 1
            and "fork" in multiprocessing.get_all_start_methods())


def improve_starts(
    search: PlanSearch, starts: list[np.ndarray], *, deadline: float, target: float = math.inf,
    parallel: bool | None = None, max_evaluations: int = MAX_EVALUATIONS,
) -> list[tuple[np.ndarray, float]]:
    """The local search from each of two starting plans (each a plan of charger counts).

    With two cores (``parallel`` None: :func:`_can_fork`), the second search runs in a forked process
    while the first runs here, both until ``deadline``; otherwise one after the other, the first with all
    the time and the second with what it leaves. When the first search reaches ``target``, its plan alone
    is returned: the forked second search is ended at its next move, and the sequential one does not run
    (the searches are deterministic and the first is never ended early, so the result does not depend on
    which runs where). ``search.wall_clock_stop`` tells whether the deadline ended either of them.
    ``max_evaluations`` is each search's work cap (see :meth:`PlanSearch.improve`).

    Returns
    -------
    list
        For each start searched: its best plan's charger counts and served energy [kWh/day].
    """
    global _FORKED
    starts = starts[:2]
    if parallel is None:
        parallel = len(starts) > 1 and _can_fork()
    options = {"deadline": deadline, "target": target, "max_evaluations": max_evaluations}
    if not parallel or len(starts) < 2:
        out = []
        for n_pair in starts:
            if time.perf_counter() >= deadline or (out and search.reached_target):
                break
            out.append(search.improve(n_pair, **options))
        return out
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    _FORKED = (search, starts[1], options, stop)  # the forked process searches its own copy
    try:
        with context.Pool(1) as pool:
            pending = pool.apply_async(_improve_forked, (0,))
            first = search.improve(starts[0], **options)
            if search.reached_target:
                # the first plan is proven good enough: the second search ends at its next move and its plan
                # is left out (stopped at a moment the clock decides, it would make the result depend on it)
                stop.set()
            try:
                wait = max(deadline - time.perf_counter(), 0.0) + 120.0
                n_best, value, wall, evaluations = pending.get(timeout=wait if math.isfinite(wait) else None)
            except multiprocessing.TimeoutError:
                log.warning("plan search: the second search did not end in time; its plan is left out")
                return [first]
    finally:
        _FORKED = None
    if stop.is_set():
        log.info("plan search: the first start reached the target; the second, searched in a second process, "
                 "was ended (%d valuations)", evaluations)
        return [first]
    search.wall_clock_stop = search.wall_clock_stop or wall
    log.info("plan search: the second start searched in a second process (%d valuations)", evaluations)
    return [first, (n_best, value)]
