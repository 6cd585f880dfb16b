"""Local search on the chargers of a one-year capacitated siting plan, each plan valued exactly.

**Exact value of a fixed plan.** Once the charger counts ``n_jt`` are fixed, every cost term of the
capacitated model is fixed too (sites open where they have chargers, each in the lowest band its power
needs), and what is left is a transportation problem: with the served energy ``f_ijt = d_i x_ijt``
[kWh/day] it maximises ``sum f`` with each demand row giving at most ``d_i`` and each (site, type)
taking at most ``cap_t n_jt``, along the pairs within reach. That is a maximum flow from a source
through the demand rows and the (site, type) columns to a sink (:meth:`PlanSearch.served`, scipy's
push-relabel/Dinic ``maximum_flow`` on capacities in whole units of :attr:`PlanSearch.unit`: exact but for
the rounding of each capacity to the unit, at most half a unit per demand row and per (site, type)).

**Local search** (:meth:`PlanSearch.improve`), within the budget and each site's allowed mixes:

* *refill*: while money is left, the site mix increase with the best served energy per dollar is
  taken. Candidates are ranked by the unserved demand within reach of each (site, type) (what the new
  chargers serve without moving anybody: a lower bound of the gain) and, for closed sites, by the
  value per dollar of their best mixes at the decomposition's best prices (which counts the demand
  that moves); the best few of each ranking are valued exactly and the best gain per dollar is taken;
* *drop and refill*: one charger of an open site is removed, or the site is closed, and the money
  is spent again by refill; kept when the objective (served energy less ``eps`` x spend) rises.
  Removals are tried in order of their exact loss per dollar freed.

The work is capped by a count of exact valuations (a deterministic cap); a deadline is a safety stop.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from charge_planner.siting.decompose import SiteDecomposition

log = logging.getLogger(__name__)

__all__ = ["PlanSearch", "MAX_EVALUATIONS"]

#: Exact valuations (maximum flows) of one local search at most (a deterministic work cap).
MAX_EVALUATIONS = 20_000
#: Candidates of each ranking valued exactly at each refill step.
REFILL_CANDIDATES = 6
#: Largest integer capacity of the flow network (scipy's maximum flow works on 32-bit integers).
_INT_MAX = 2**31 - 1


@dataclass
class _State:
    mix: np.ndarray  # mix index of every site
    value: float  # served energy [kWh/day]
    row_served: np.ndarray  # served energy of each demand row [kWh/day]
    pair_used: np.ndarray  # served energy of each (site, type) [kWh/day]
    spend: float  # [USD]

    def objective(self, eps: float) -> float:
        return self.value - eps * self.spend


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
        self.c_dem, self.c_pair = dec.x_dem[use], dec.x_pair[use]
        self.d_units = np.round(dec.d / self.unit).astype(np.int64)
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
        self.lag_score: np.ndarray | None = None  # n_site x n_mix: Lagrangian gain of each mix

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
        self.evaluations += 1
        n_pair = np.asarray(n_pair)
        act = n_pair[self.c_pair] > 0
        dem, pair = self.c_dem[act], self.c_pair[act]
        nd, npr = self.n_dem, self.n_pair
        src, sink = nd + npr, nd + npr + 1
        pcap = np.minimum(np.floor(self.pair_cap * n_pair / self.unit + 1e-6), _INT_MAX).astype(np.int64)
        live = np.flatnonzero(pcap > 0)
        rows = np.concatenate([np.full(nd, src), dem, nd + live])
        cols = np.concatenate([np.arange(nd), nd + pair, np.full(len(live), sink)])
        caps = np.concatenate([self.d_units, self.d_units[dem], pcap[live]])
        g = sp.csr_matrix((caps.astype(np.int32), (rows, cols)), shape=(sink + 1, sink + 1))
        res = maximum_flow(g, src, sink)
        f = res.flow.tocsr()
        row_served = np.asarray(f[src, :nd].todense()).ravel() * self.unit
        pair_used = np.zeros(npr)
        pair_used[live] = np.asarray(f[nd + live, sink].todense()).ravel() * self.unit
        return float(res.flow_value) * self.unit, np.maximum(row_served, 0.0), np.maximum(pair_used, 0.0)

    def _state(self, mix: np.ndarray) -> _State:
        value, row_served, pair_used = self.served(self.site_counts(mix))
        return _State(mix=mix.copy(), value=value, row_served=row_served, pair_used=pair_used, spend=self.spend(mix))

    # ---- moves

    def set_prices(self, lam: np.ndarray | None) -> None:
        """Rank the opening of closed sites also by their best mixes at demand prices ``lam`` (the
        decomposition's best prices): the served value of each allowed mix at those prices."""
        if lam is None:
            self.lag_score = None
            return
        values, _, _, _ = self.dec._pair_values(np.asarray(lam, dtype=float))
        score = np.full((self.n_site, len(self.dec.mixes)), -np.inf)
        for (sites, mix_idx), gain in zip(self.dec.groups, self.dec._gains(values), strict=True):
            score[np.ix_(sites, mix_idx)] = gain
        self.lag_score = score

    def _candidates(self, st: _State, slack: float, ban: np.ndarray | None) -> list[tuple[int, int]]:
        """(site, new mix) increases that fit ``slack`` [USD], the best few by each ranking."""
        dec = self.dec
        unmet = np.maximum(dec.d - st.row_served, 0.0)
        reach = np.bincount(self.c_pair, weights=unmet[self.c_dem], minlength=self.n_pair)
        top = self.radix - 1
        k = np.arange(top + 1)[None, :]
        # energy the (site, type) would serve with k chargers without moving any served demand
        values = np.minimum(np.maximum(k * self.pair_cap[:, None] - st.pair_used[:, None], 0.0), reach[:, None])
        cur = dec.mixes[st.mix]  # n_site x n_type
        cur_cost = dec.mix_cost[np.arange(self.n_site), st.mix]
        direct: list[tuple[float, int, int]] = []
        lagr: list[tuple[float, int, int]] = []
        gains = dec._gains(values)
        for (sites, mix_idx), gain in zip(dec.groups, gains, strict=True):
            promising = (reach[np.maximum(dec.pair_of[sites], 0)] * (dec.pair_of[sites] >= 0)).sum(axis=1) > 0
            if self.lag_score is not None:
                promising |= ~(cur[sites] > 0).any(axis=1)
            s_idx = np.flatnonzero(promising)
            if not len(s_idx):
                continue
            ss = sites[s_idx]
            mixes = dec.mixes[mix_idx]
            up = (mixes[None, :, :] >= cur[ss][:, None, :]).all(axis=2) & (mix_idx[None, :] != st.mix[ss][:, None])
            if ban is not None:
                up &= ~ban[np.ix_(ss, mix_idx)]
            dcost = dec.mix_cost[np.ix_(ss, mix_idx)] - cur_cost[ss][:, None]
            up &= (dcost <= slack + 1e-6) & dec.mix_ok[np.ix_(ss, mix_idx)]
            cur_gain = gain[s_idx, :][np.arange(len(ss)), np.searchsorted(mix_idx, st.mix[ss]).clip(0, len(mix_idx) - 1)]
            cur_gain = np.where(mix_idx[np.searchsorted(mix_idx, st.mix[ss]).clip(0, len(mix_idx) - 1)] == st.mix[ss],
                                cur_gain, 0.0)
            est = gain[s_idx, :] - cur_gain[:, None] - dec.eps * dcost
            ratio = np.where(up & (est > 0), est / np.maximum(dcost, 1e-6), -np.inf)
            best = np.argmax(ratio, axis=1)
            r = ratio[np.arange(len(ss)), best]
            for i in np.flatnonzero(np.isfinite(r)):
                direct.append((float(r[i]), int(ss[i]), int(mix_idx[best[i]])))
            if self.lag_score is not None:
                closed = ~(cur[ss] > 0).any(axis=1)
                ls = self.lag_score[np.ix_(ss, mix_idx)]
                lr = np.where(up & closed[:, None] & (ls > 0), ls / np.maximum(dcost, 1e-6), -np.inf)
                lb = np.argmax(lr, axis=1)
                rr = lr[np.arange(len(ss)), lb]
                for i in np.flatnonzero(np.isfinite(rr)):
                    lagr.append((float(rr[i]), int(ss[i]), int(mix_idx[lb[i]])))
        out: list[tuple[int, int]] = []
        for ranking in (direct, lagr):
            ranking.sort(key=lambda t: (-t[0], t[1]))
            for _, j, mx in ranking[:REFILL_CANDIDATES]:
                if (j, mx) not in out:
                    out.append((j, mx))
        return out

    def _refill(self, st: _State, ban: np.ndarray | None, deadline: float, max_evals: int) -> _State:
        """Spend the money left on the best increases by exact served energy per dollar (greedy)."""
        dec = self.dec
        while self.evaluations < max_evals and time.perf_counter() < deadline:
            slack = dec.budget - st.spend
            cands = self._candidates(st, slack, ban)
            best: tuple[float, _State] | None = None
            for j, mx in cands:
                mix = st.mix.copy()
                mix[j] = mx
                new = self._state(mix)
                gain = new.objective(dec.eps) - st.objective(dec.eps)
                if gain <= 1e-9 * max(abs(st.value), 1.0):
                    continue
                ratio = gain / max(new.spend - st.spend, 1e-6)
                if best is None or ratio > best[0]:
                    best = (ratio, new)
            if best is None:
                break
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
                value, _, _ = self.served(self.site_counts(mix))
                loss = st.value - value - dec.eps * freed
                out.append((loss / freed, int(j), mx, int(st.mix[j])))
        out.sort()
        return out

    def improve(
        self,
        n_pair: np.ndarray,
        *,
        max_evaluations: int = MAX_EVALUATIONS,
        deadline: float = math.inf,
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
        moves = 0
        # removals ranked by their loss at the time they were valued; a stale one (its site changed
        # since) is skipped, and the list is valued again after a pass that improved the plan
        removals = self._removals(st)
        pos, improved = 0, False
        while self.evaluations < cap and time.perf_counter() < deadline:
            if pos >= len(removals):
                if not improved:
                    break
                removals, pos, improved = self._removals(st), 0, False
                continue
            _, j, mx, origin = removals[pos]
            pos += 1
            if st.mix[j] != origin:
                continue
            mix = st.mix.copy()
            old = dec.mixes[mix[j]]
            mix[j] = mx
            trial = self._state(mix)
            # the refill may not put back what was removed at that site
            ban = np.zeros((self.n_site, len(dec.mixes)), dtype=bool)
            ban[j] = (dec.mixes >= old[None, :]).all(axis=1) if mx != self.low_mix[j] else True
            ban[j, mx] = True
            trial = self._refill(trial, ban, deadline, cap)
            if trial.objective(dec.eps) > st.objective(dec.eps) + 1e-9 * max(abs(st.value), 1.0):
                st = self._refill(trial, None, deadline, cap)
                moves += 1
                improved = True
        log.info("plan search: %.6g -> %.6g kWh/day (objective) after %d moves and %d valuations",
                 start_obj, st.objective(dec.eps), moves, self.evaluations)
        return self.site_counts(st.mix), st.value
