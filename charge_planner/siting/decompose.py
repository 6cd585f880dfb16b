"""Decomposition of the capacitated siting model by site, coupled through the shared demand.

Relaxing the assignment rows ``sum_jt x_ijt <= 1`` with prices ``lambda_i >= 0`` (one per demand
row) and the budget row with a price ``mu >= 0`` [1/USD x kWh/day] leaves one small problem per site:
choose its chargers ``n_jt`` (integer, at most ``max_j``, above the existing ones) and so its
connection band, then fill each (site, type) with the demand of the highest net value
``d_i - lambda_i`` per kWh up to its capacity ``cap_t n_jt`` (a fractional knapsack, each row at
most once). Every site's problem is solved exactly, by enumerating the charger mixes
(:class:`SiteDecomposition`), so for any prices

    L(lambda, mu) = sum_i lambda_i + mu (B + existing) + sum_j max(0, best mix of site j)

bounds the model's optimum from above (weak duality of the Lagrangian relaxation; the integer
chargers and the bands are kept, so it is at least as tight as the LP relaxation at its best
prices). The prices are improved by a deflected subgradient method with Polyak steps, scaled per
kWh of each row (:meth:`SiteDecomposition.bound`), and the budget price is then set best for the
best demand prices; the lowest value met is the bound. The mixes the sites choose at the best prices also seed a plan
(:meth:`SiteDecomposition.mix_plan`): the sites are taken by value per dollar within the budget. Averaged over
a round of price steps near the best prices (:meth:`SiteDecomposition.average_plan`), the sites' mixes estimate
the relaxation's fractional plan (the classic primal recovery of subgradient methods): the sites taken by the
share of steps that open them, each with its average mix, make a far better plan than one price vector's mixes
(on a 30 km metro 105.0k against 98.9k kWh/day, the greedy plan 100.4k, and the local search from it ends 0.6 %
higher than from those). The best plans are then improved by the local search of :mod:`charge_planner.siting.plan_search`, which
values each plan exactly (a maximum flow) and ranks the sites to open also by their value per dollar at
the best prices; :func:`plan_with_chargers` gives the final plan's columns.

It applies to the one-year model without equity floors, served-share targets, headroom or grid
reinforcement and with at most :data:`MAX_MIXES` charger mixes per site (:meth:`SiteDecomposition.from_siting`
returns None otherwise).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from charge_planner.siting.connection import connection_band
from charge_planner.siting.solve import MatrixModel, solve

if TYPE_CHECKING:
    from charge_planner.siting.capacitated import CapacitatedSiting

log = logging.getLogger(__name__)

__all__ = ["SiteDecomposition", "MAX_MIXES"]

#: At most this many charger mixes (``n_t`` per type with ``sum_t n_t <= max chargers``) are
#: enumerated per site (8 chargers of 5 types: 1,287 mixes).
MAX_MIXES = 5000


@dataclass
class SiteDecomposition:
    """The per-site subproblems of the capacitated siting model (see the module docstring).

    Build it with :meth:`from_siting`; :meth:`value` evaluates the Lagrangian function at
    given prices, :meth:`bound` minimises it by subgradient steps.
    """

    d: np.ndarray  # energy of each demand row [kWh/day]
    x_dem: np.ndarray  # demand row of each x column
    x_pair: np.ndarray  # charger column (site, type) of each x column
    x_upper: np.ndarray  # upper bound of each x column (0 or 1)
    pair_site: np.ndarray
    pair_type: np.ndarray
    cap: np.ndarray  # capacity of one charger of each type [kWh/day]
    mixes: np.ndarray  # n_mix x n_type charger counts
    mix_ok: np.ndarray  # n_site x n_mix: the mix is allowed at the site
    mix_cost: np.ndarray  # n_site x n_mix: capex of the new chargers + band cost [USD]
    site_open_min: np.ndarray  # sites that must stay open (existing chargers)
    budget: float  # right-hand side of the budget row [USD]
    eps: float  # the objective's cost weight
    pair_of: np.ndarray  # n_site x n_type -> charger column (-1: none)
    n_lower: np.ndarray  # lower bound of each charger column (existing chargers)
    groups: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (sites, their allowed mixes)
    history: list[float] = field(default_factory=list)
    #: the lowest value met so far and the prices reaching it (bound, demand prices, budget price): a later
    #: solve through the same decomposition starts from them
    best_prices: tuple[float, np.ndarray, float] | None = None
    #: the chargers of each charger column in the sites' best mixes at every price step of :meth:`bound`
    #: with ``average=True`` (for :meth:`average_plan`)
    steps: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def from_siting(cls, siting: CapacitatedSiting) -> SiteDecomposition | None:
        """The decomposition of a built model, or None when it does not apply (several years,
        equity floors, targets, headroom, reinforcement, too many charger mixes per site)."""
        ix, m = siting.index, siting.model
        if ix["n_years"] != 1 or ix["labels"] or m.shape[1] != ix["r0"]:
            return None
        y0, n0, x0 = ix["cols"]
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        n_site, n_type = len(siting.candidates), len(siting.charger_types)
        n_upper = np.floor(m.col_upper[n0:x0] + 1e-9).astype(np.int64)
        n_lower = np.ceil(m.col_lower[n0:x0] - 1e-9).astype(np.int64)
        y_upper = m.col_upper[y0:n0]
        y_lower = m.col_lower[y0:n0]
        max_ch = np.floor(ix["max_ch"] + 1e-9).astype(np.int64)
        top = int(min(max(max_ch.max(initial=0), 0), n_upper.max(initial=0) * n_type))
        n_mix = math.comb(top + n_type, n_type)
        if n_mix > MAX_MIXES:
            log.info("site decomposition skipped: %d charger mixes per site (more than %d)", n_mix, MAX_MIXES)
            return None
        mixes = np.array([c for c in itertools.product(range(top + 1), repeat=n_type) if sum(c) <= top],
                         dtype=np.int64).reshape(-1, n_type)
        pair_of = -np.ones((n_site, n_type), dtype=np.int64)
        pair_of[c_site, c_type] = np.arange(len(c_site))
        up = np.zeros((n_site, n_type), dtype=np.int64)
        lo = np.zeros((n_site, n_type), dtype=np.int64)
        up[c_site, c_type] = n_upper
        lo[c_site, c_type] = n_lower
        up[(y_upper < 0.5)] = 0
        ok = np.ones((n_site, len(mixes)), dtype=bool)
        for t in range(n_type):
            ok &= (mixes[None, :, t] <= up[:, t:t + 1]) & (mixes[None, :, t] >= lo[:, t:t + 1])
        ok &= mixes.sum(axis=1)[None, :] <= max_ch[:, None]
        power = siting.charger_types["power_kw"].to_numpy(dtype=float)
        capex = ix["capex"]
        band = ix["band"]
        kw = np.broadcast_to((mixes @ power)[None, :], (n_site, len(mixes)))  # installed power of each mix [kW]
        level = np.maximum(band.paid[:, None], connection_band(kw, band.max_kw))
        level = np.minimum(level, band.level_cost.shape[1] - 1)
        open_cost = np.take_along_axis(band.level_cost, level, axis=1)
        empty = mixes.sum(axis=1) == 0
        # existing chargers are paid already: the budget row counts them on both sides
        cost = (mixes @ capex)[None, :] + np.where(empty[None, :], 0.0, open_cost)
        must_open = (y_lower > 0.5) | (lo.sum(axis=1) > 0)
        # a site that must stay open pays its band even with no new charger
        cost = np.where(must_open[:, None] & empty[None, :], open_cost, cost)
        ok &= np.isfinite(cost)
        b0, _ = ix["budget_rows"]
        d = siting.demand["energy_kwh_day"].to_numpy(dtype=float)
        x_upper = np.clip(m.col_upper[x0:x0 + len(ix["x_dem"])], 0.0, 1.0)
        pattern, group_of = np.unique(ok, axis=0, return_inverse=True)
        groups = [(np.flatnonzero(group_of.ravel() == g), np.flatnonzero(pattern[g])) for g in range(len(pattern))]
        groups = [(sites, mix_idx) for sites, mix_idx in groups if len(mix_idx)]
        return cls(
            groups=groups, d=d, x_dem=ix["x_dem"], x_pair=ix["pair_x"], x_upper=x_upper, pair_site=c_site, pair_type=c_type,
            cap=ix["cap"], mixes=mixes, mix_ok=ok, mix_cost=cost, site_open_min=must_open,
            budget=float(m.row_upper[b0]), eps=float(ix["eps"]), pair_of=pair_of, n_lower=n_lower,
        )

    # ---- the Lagrangian function

    def _pair_values(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For each charger column and charger count 0..top: the best knapsack value at prices ``lam``;
        also the x order and the cumulative weights (to read the fill back)."""
        top = int(self.mixes.max(initial=0))
        v = (self.d[self.x_dem] - lam[self.x_dem]) * self.x_upper
        w = self.d[self.x_dem] * self.x_upper
        good = (v > 0) & (w > 0)
        ratio = np.where(good, v / np.where(w > 0, w, 1.0), -1.0)
        order = np.lexsort((-ratio, self.x_pair))
        order = order[good[order]]
        pair = self.x_pair[order]
        wo, vo = w[order], v[order]
        csum = np.cumsum(wo)
        start = np.searchsorted(pair, np.arange(len(self.pair_site)))
        base = np.concatenate([[0.0], csum])[start]  # weight before each column's first item
        w_prev = csum - wo - base[pair]
        values = np.zeros((len(self.pair_site), top + 1))
        capa = self.cap[self.pair_type]
        for k in range(1, top + 1):
            frac = np.clip((k * capa[pair] - w_prev) / wo, 0.0, 1.0)
            values[:, k] = np.bincount(pair, weights=vo * frac, minlength=len(self.pair_site))
        return values, order, w_prev, capa

    def _gains(self, values: np.ndarray) -> list[np.ndarray]:
        """Served value of every allowed mix of every site, per group of sites (``self.groups``)."""
        out = []
        for sites, mix_idx in self.groups:  # sites allowing the same mixes
            mixes = self.mixes[mix_idx]
            gain = np.zeros((len(sites), len(mix_idx)))
            for t in range(self.pair_of.shape[1]):
                if not mixes[:, t].any():
                    continue
                p = self.pair_of[sites, t]
                gain += np.where(p[:, None] >= 0, values[np.maximum(p, 0)][:, mixes[:, t]], 0.0)
            out.append(gain)
        return out

    def _choose(self, gains: list[np.ndarray], mu: float) -> tuple[np.ndarray, np.ndarray]:
        """Best mix of each site at budget price ``mu`` (-1: closed) and its value (0 when closed)."""
        n_site = self.pair_of.shape[0]
        best = np.full(n_site, -1, dtype=np.int64)
        best_val = np.zeros(n_site)
        for (sites, mix_idx), gain in zip(self.groups, gains, strict=True):
            score = gain - (self.eps + mu) * self.mix_cost[np.ix_(sites, mix_idx)]
            k = np.argmax(score, axis=1)
            best[sites] = mix_idx[k]
            best_val[sites] = score[np.arange(len(sites)), k]
        closed = ~self.site_open_min & (best_val <= 0)
        return np.where(closed, -1, best), np.where(closed, 0.0, best_val)

    def best_budget_price(self, lam: np.ndarray, mu: float) -> tuple[float, float]:
        """The lowest value of the Lagrangian function over the budget price at demand prices ``lam``
        (convex in ``mu``: bisection on its slope, budget minus spend), starting from ``mu``.

        Returns
        -------
        tuple
            The value (a valid bound) and the budget price reaching it.
        """
        values, _, _, _ = self._pair_values(lam)
        gains = self._gains(values)
        lam_sum, mag0 = float(lam.sum()), float(np.abs(lam).sum() + self.d.sum())

        def f(m: float) -> tuple[float, float]:
            best, best_val = self._choose(gains, m)
            has = np.flatnonzero(best >= 0)
            spend = float(self.mix_cost[has, best[has]].sum())
            total = lam_sum + m * self.budget + float(best_val.sum())
            mag = mag0 + abs(m * self.budget) + float(np.abs(best_val).sum())
            return total + 1e-9 * mag, spend

        lo, hi = 0.0, max(mu, 1e-12)
        while f(hi)[1] > self.budget and hi < 1e6:
            lo, hi = hi, hi * 2.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if f(mid)[1] > self.budget:
                lo = mid
            else:
                hi = mid
        candidates = [(f(m)[0], m) for m in (lo, hi, mu)]
        return min(candidates)

    def value(self, lam: np.ndarray, mu: float) -> tuple[float, np.ndarray, np.ndarray, float]:
        """The Lagrangian function at prices ``lam`` (per demand row) and ``mu`` (budget).

        Returns
        -------
        tuple
            Its value (an upper bound of the model's optimum), the charger count of each charger
            column in the sites' best mixes, the served share of each x column in them, and
            their spend [USD].
        """
        values, order, w_prev, capa = self._pair_values(lam)
        n_type = self.pair_of.shape[1]
        best, best_val = self._choose(self._gains(values), mu)
        n_pair = np.zeros(len(self.pair_site), dtype=np.int64)
        chosen = best
        has = np.flatnonzero(chosen >= 0)
        for t in range(n_type):
            p = self.pair_of[has, t]
            sel = p >= 0
            n_pair[p[sel]] = self.mixes[chosen[has[sel]], t]
        spend = float(self.mix_cost[has, chosen[has]].sum())
        # the fill of each x column in the chosen mixes
        xs = np.zeros(len(self.x_dem))
        pair = self.x_pair[order]
        wo = (self.d[self.x_dem] * self.x_upper)[order]
        xs[order] = np.clip((n_pair[pair] * capa[pair] - w_prev) / wo, 0.0, 1.0) * self.x_upper[order]
        total = float(lam.sum() + mu * self.budget + best_val.sum())
        # rounding of the sums: a generous multiple of the machine epsilon times their magnitudes
        mag = float(np.abs(lam).sum() + abs(mu * self.budget) + np.abs(best_val).sum() + self.d.sum())
        return total + 1e-9 * mag, n_pair, xs, spend

    def bound(
        self,
        *,
        lower: float,
        iterations: int = 300,
        deadline: float = math.inf,
        mu0: float | None = None,
        lam0: np.ndarray | None = None,
        theta0: float = 1.0,
        patience: int = 20,
        deflect: float = 1.5,
        average: bool = False,
        enough: float = -math.inf,
    ) -> tuple[float, np.ndarray, float]:
        """Minimise the Lagrangian function by subgradient steps (Polyak steps towards ``lower``,
        the best plan's objective), from prices ``lambda = 0`` and ``mu0``.

        Parameters
        ----------
        lower
            Objective of a known plan [kWh/day] (the step's target).
        iterations
            Subgradient steps (a deterministic work cap).
        deadline
            ``time.perf_counter()`` value at which to stop (a safety stop).
        mu0
            Starting budget price (default: the served energy per dollar of the known plan).
        lam0
            Starting demand prices (default 0).
        theta0
            First step factor (halved after ``patience`` steps without a better value).
        patience
            Steps without a better value before the step factor is halved.
        deflect
            Deflection factor of the direction (0: plain subgradient steps; 1.5 is the classic choice).
        average
            Keep the sites' best mixes of every step in :attr:`steps` (for :meth:`average_plan`).
        enough
            Stop once a value at or below this is met (a bound that proves the known plan good enough).

        Returns
        -------
        tuple
            The lowest value met (a valid bound), the demand prices and budget price reaching it.
        """
        lam = np.zeros(len(self.d)) if lam0 is None else np.clip(np.asarray(lam0, dtype=float), 0.0, self.d)
        mu = float(mu0) if mu0 is not None else max(lower, 0.0) / max(self.budget, 1.0)
        best, best_lam, best_mu = math.inf, lam.copy(), mu
        theta = float(theta0)
        stall = 0
        served = np.zeros(len(self.d))
        total_d = float(self.d.sum())
        dir_lam: np.ndarray | None = None
        dir_mu = 0.0
        for it in range(iterations):
            if time.perf_counter() > deadline:
                log.info("site decomposition: safety stop after %d subgradient steps", it)
                break
            val, n_pair, xs, spend = self.value(lam, mu)
            self.history.append(val)
            if average:
                self._add_to_average(n_pair)
            if val < best - 1e-9 * abs(best if math.isfinite(best) else 1.0):
                improved = best - val > 1e-4 * abs(val)
                best, best_lam, best_mu = val, lam.copy(), mu
                stall = 0 if improved else stall + 1
            else:
                stall += 1
            if best <= enough:
                break
            if stall >= patience:
                theta /= 2.0
                stall = 0
            served[:] = np.bincount(self.x_dem, weights=xs, minlength=len(self.d))
            # steps scaled by each row's energy (the prices per kWh, lambda_i / d_i, move alike) and the
            # budget price by the demand per budget dollar: the Polyak step of the scaled subgradient
            g_lam = 1.0 - served
            g_lam = np.where((lam <= 0) & (g_lam > 0), 0.0, g_lam)  # projected: prices stay >= 0
            g_mu = self.budget - spend
            if mu <= 0 and g_mu > 0:
                g_mu = 0.0
            scale_mu = total_d / self.budget ** 2
            if float(self.d @ (g_lam * g_lam)) + scale_mu * g_mu ** 2 <= 0:
                break  # the relaxed plan is feasible and complementary: the bound is the optimum
            # deflected direction (the modified gradient of Camerini, Fratta and Maffioli): against
            # the zigzag of plain steps, the last direction is added where the new one turns back
            if deflect > 0 and dir_lam is not None:
                dot = float(self.d @ (g_lam * dir_lam)) + scale_mu * g_mu * dir_mu
                prev = float(self.d @ (dir_lam * dir_lam)) + scale_mu * dir_mu ** 2
                if dot < 0 and prev > 0:
                    beta = -deflect * dot / prev
                    g_lam = g_lam + beta * dir_lam
                    g_mu = g_mu + beta * dir_mu
            dir_lam, dir_mu = g_lam, g_mu
            norm = float(self.d @ (g_lam * g_lam)) + scale_mu * g_mu ** 2
            if norm <= 0:
                break
            step = theta * max(val - lower, 1e-9 * abs(val)) / norm
            lam = np.clip(lam - step * self.d * g_lam, 0.0, self.d)
            mu = max(mu - step * scale_mu * g_mu, 0.0)
            if theta < 1e-4:
                break
        if math.isfinite(best):
            # the best budget price for the best demand prices (the Lagrangian is convex in it)
            val, mu_b = self.best_budget_price(best_lam, best_mu)
            if val < best:
                best, best_mu = val, mu_b
        log.info("site decomposition: bound %.6g after %d subgradient steps in all (known plan %.6g)",
                 best, len(self.history), lower)
        return best, best_lam, best_mu

    @property
    def averaged_steps(self) -> int:
        """Number of price steps kept for :meth:`average_plan`."""
        return len(self.steps)

    def _add_to_average(self, n_pair: np.ndarray) -> None:
        self.steps.append(np.asarray(n_pair, dtype=np.int16))

    def average_plan(self, last: int | None = None) -> np.ndarray | None:
        """Charger counts of a plan within the budget from the sites' best mixes averaged over the price
        steps of :meth:`bound` with ``average=True`` (an estimate of the relaxation's fractional plan:
        each step's mixes answer its prices, their average the prices' neighbourhood). The sites are
        taken by the share of steps that open them, each with its average mix over those steps rounded
        to whole chargers (existing chargers kept), while the budget lasts.

        Parameters
        ----------
        last
            Average only the last this many steps (default: all of them).

        Returns
        -------
        numpy.ndarray or None
            Charger count of each charger column; None when no step was kept.
        """
        if not self.steps:
            return None
        n_site, n_type = self.pair_of.shape
        chosen_steps = np.stack(self.steps[-last:] if last else self.steps).astype(float)
        n_steps = len(chosen_steps)
        site_of = sp.csr_matrix((np.ones(len(self.pair_site)), (np.arange(len(self.pair_site)), self.pair_site)),
                                shape=(len(self.pair_site), n_site))
        share = np.asarray((site_of.T @ chosen_steps.T).T > 0).sum(axis=0) / n_steps
        has = self.pair_of >= 0
        mean = np.zeros((n_site, n_type))
        mean[has] = chosen_steps.mean(axis=0)[self.pair_of[has]]
        mix_of, low, low_idx = self._lowest_mixes()
        # the average mix of the steps that open the site
        counts = np.maximum(np.round(mean / np.maximum(share, 1e-12)[:, None]).astype(np.int64), low)
        chosen = low_idx.copy()
        left = self.budget - float(self.mix_cost[np.arange(n_site), low_idx].sum())
        for j in np.argsort(-share, kind="stable"):
            if share[j] <= 0:
                break
            k = mix_of.get(tuple(counts[j]), -1)
            if k < 0 or k == low_idx[j] or not self.mix_ok[j, k]:
                continue
            extra = float(self.mix_cost[j, k] - self.mix_cost[j, low_idx[j]])
            if extra <= left + 1e-9:
                chosen[j] = k
                left -= extra
        out = np.zeros(len(self.pair_site), dtype=np.int64)
        counts_chosen = self.mixes[chosen]
        out[self.pair_of[has]] = counts_chosen[has]
        return out

    def _lowest_mixes(self) -> tuple[dict[tuple, int], np.ndarray, np.ndarray]:
        """The index of every mix by its counts, and each site's required minimum (existing chargers):
        its counts per type and its mix index."""
        n_site, n_type = self.pair_of.shape
        has = self.pair_of >= 0
        low = np.zeros((n_site, n_type), dtype=np.int64)
        low[has] = self.n_lower[self.pair_of[has]]
        mix_of = {tuple(r): i for i, r in enumerate(self.mixes.tolist())}
        return mix_of, low, np.array([mix_of[tuple(r)] for r in low.tolist()])

    def mix_plan(self, lam: np.ndarray, mu: float) -> np.ndarray:
        """Charger counts of a plan within the budget from the sites' best mixes at the given prices:
        the sites are taken by their gain per dollar (the gain at prices ``lam``) while the budget lasts.

        Returns
        -------
        numpy.ndarray
            Charger count of each charger column (existing chargers kept).
        """
        _, n_pair, _, _ = self.value(lam, mu)
        n_site, n_type = self.pair_of.shape
        site_n = np.zeros((n_site, n_type), dtype=np.int64)
        has = self.pair_of >= 0
        site_n[has] = n_pair[self.pair_of[has]]
        # the cost of each site's mix, and of its required minimum (existing chargers, kept anyway)
        mix_of, low, low_idx = self._lowest_mixes()
        idx = np.array([mix_of[tuple(r)] for r in site_n])
        cost = self.mix_cost[np.arange(n_site), idx] - self.mix_cost[np.arange(n_site), low_idx]
        values, _, _, _ = self._pair_values(lam)
        gain = np.zeros(n_site)
        for t in range(n_type):
            p = self.pair_of[:, t]
            ok = p >= 0
            gain[ok] += values[p[ok], site_n[ok, t]] - values[p[ok], low[ok, t]]
        left = self.budget - float(self.mix_cost[np.arange(n_site), low_idx].sum())
        keep = low.copy()
        cand = np.flatnonzero((site_n > low).any(axis=1) & (gain > 0))
        for j in cand[np.argsort(-gain[cand] / np.maximum(cost[cand], 1e-9), kind="stable")]:
            if cost[j] <= left + 1e-9:
                keep[j] = site_n[j]
                left -= cost[j]
        out = np.zeros(len(self.pair_site), dtype=np.int64)
        out[self.pair_of[has]] = keep[has]
        return out


def plan_with_chargers(siting: CapacitatedSiting, n_pair: np.ndarray, *, time_limit_s: float = 60.0) -> np.ndarray | None:
    """The plan with the given chargers (one year) and the best assignment of demand to them: the
    sites with chargers open in the lowest band their power needs, and the served shares from the
    assignment LP (each row at most once, each (site, type) within its capacity).

    Parameters
    ----------
    siting
        The built one-year model.
    n_pair
        Charger count of each charger column.
    time_limit_s
        Safety stop of the assignment LP [s].

    Returns
    -------
    numpy.ndarray or None
        Column values of the model; None when the plan breaks a row of the model (e.g. the budget)
        or the LP found no solution.
    """
    ix, m = siting.index, siting.model
    y0, n0, x0 = ix["cols"]
    band = ix["band"]
    c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
    n_site = len(siting.candidates)
    power = siting.charger_types["power_kw"].to_numpy(dtype=float)
    n_pair = np.maximum(np.asarray(n_pair, dtype=float), np.ceil(m.col_lower[n0:x0] - 1e-9))
    x = np.zeros(m.shape[1])
    x[n0:x0] = n_pair
    kw = np.bincount(c_site, weights=n_pair * power[c_type], minlength=n_site)
    is_open = (np.bincount(c_site, weights=n_pair, minlength=n_site) > 0) | (m.col_lower[y0:n0] > 0.5)
    x[y0:n0] = is_open
    lv = np.where(is_open, band.level(np.arange(n_site), kw), -1)
    x[ix["u0"]:ix["u0"] + len(band.up_site)] = lv[band.up_site] >= band.up_band
    # the assignment LP over the x columns of the (site, type) pairs with chargers
    cols = np.flatnonzero(n_pair[ix["pair_x"]] > 0)
    if len(cols):
        d = siting.demand["energy_kwh_day"].to_numpy(dtype=float)
        dem, pair = ix["x_dem"][cols], ix["pair_x"][cols]
        u_dem, r_dem = np.unique(dem, return_inverse=True)
        u_pair, r_pair = np.unique(pair, return_inverse=True)
        nc, nd = len(cols), len(u_dem)
        a = sp.csc_matrix((np.concatenate([np.ones(nc), d[dem]]),
                           (np.concatenate([r_dem, nd + r_pair]), np.concatenate([np.arange(nc)] * 2))),
                          shape=(nd + len(u_pair), nc))
        lp = MatrixModel(
            c=m.c[x0 + cols], a=a, row_lower=np.full(a.shape[0], -np.inf),
            row_upper=np.concatenate([np.ones(nd), ix["cap"][c_type[u_pair]] * n_pair[u_pair]]),
            col_lower=np.zeros(nc), col_upper=np.clip(m.col_upper[x0 + cols], 0.0, 1.0),
            integer=np.zeros(nc, dtype=bool), maximize=True,
        )
        res = solve(lp, "highs", time_limit_s=time_limit_s, lp_method="simplex")
        if res.x is None:
            return None
        x[x0 + cols] = np.clip(res.x, 0.0, lp.col_upper)
    ax = m.a @ x
    tol = 1e-6
    bad = (ax < m.row_lower - tol * np.maximum(1.0, np.abs(m.row_lower))) | (
        ax > m.row_upper + tol * np.maximum(1.0, np.abs(m.row_upper)))
    if bad.any() or (x < m.col_lower - tol).any() or (x > m.col_upper + tol).any():
        log.info("plan with the given chargers breaks %d row(s) of the model", int(bad.sum()))
        return None
    return x
