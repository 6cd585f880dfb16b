"""The planner's main model: capacitated multi-type charger siting with a multi-year rollout.

:class:`CapacitatedSiting` decides which candidate sites open in which year, how many
chargers of each type they have each year, and which demand each (site, type) serves, so
that the charging energy served within each segment's travel-time cut-off, summed over the
rollout years, is maximal.

Formulation (years ``k``; all sums over the sparse set of pairs within the cut-off; demand
row ``i`` belongs to one year ``k(i)``)::

    max   sum_ijt d_i x_ijt  -  eps * sum_k spend_k
    s.t.  sum_jt x_ijt <= 1                                   each demand row served at most once
          sum_{i in k} d_i x_ijt <= cap_t n_jtk                charger capacity [kWh/day]
          x_ijt <= n_jtk                                       served only where the type is installed
          sum_t n_jtk <= max_j y_jk                            per-site maximum; links n to y
          y_jk >= y_j,k-1 ,  n_jtk >= n_jt,k-1                  sites stay open, chargers only grow
          sum_t p_t n_jtk <= U_0 y_jk + sum_b (U_b - U_b-1) u_jbk     installed power fits the site's band
          u_jbk <= u_j(b-1)k <= ... <= y_jk,  u_jbk >= u_jb(k-1)      one band per open site, never lower
          spend_k = sum_j (f_j + C_0) y_jk + sum_jb (C_b - C_b-1) u_jbk + sum_jt c_t n_jtk - existing
          spend_k <= sum_{k' <= k} B_k'      (carry-over)   or   spend_k - spend_k-1 <= B_k
          n_jtk >= e_jt,  y_jk = 1 where chargers exist      existing chargers kept, free
          sum_{i in g, k} d_i x_ijt >= floor * D_gk           equity floor per group and year
          sum_{i in k} d_i x_ijt >= target * D_k              served-share target per year
          sum_{j in h, t} coinc * p_t n_jtk <= H_h            grid headroom per group [kW]
          x in [0, 1],  n integer >= 0,  y, u binary;  excluded sites: y = 0

where ``d_i`` is the daily energy of demand row ``i`` [kWh/day], ``cap_t`` = power x
service hours [kWh/day per charger], ``f_j`` the fixed cost of opening site ``j`` and
``c_t`` the cost of one charger [USD]; ``U_b`` [kW] and ``C_b`` [USD] are the upper limit and the
connection cost of power band ``b`` (``site_cost_bands``; band ``b`` of site ``j`` is ``u_jb - u_j(b+1)``,
with ``u_j0 = y_j``, so each open site is in exactly one band; bands already paid by existing chargers or
connections cost nothing). A per-type form of the band row in whole chargers (``n_jtk <= floor(U_b / p_t)``
steps) tightens the relaxation. ``eps`` makes the cheaper (and later) of two plans
that serve the same energy win; it is never more than 0.01 % of the objective.

**Headroom table.** The grid stage limits the charging power per transformer or feeder:
pass ``headroom`` (a Series ``group_id -> headroom_kw`` [kW], or a DataFrame with columns
``group_id``, ``headroom_kw`` and optionally ``year`` for limits that change by year) and
``site_groups`` (a Series ``site_id -> group_id``). The power counted against a group is
``headroom_coincidence x power_kw x chargers`` of its sites; sites without a group are
not limited.

**Infeasibility.** Before solving, targets that no plan can meet are found from the data
(an equity floor above the reachable share of a group, existing chargers above a site's
maximum or a group's headroom) and raised as :class:`~charge_planner.errors.InfeasibleError`
with one line naming the cause. When the solver itself proves infeasibility, an elastic LP
(shortfall variables on the floors and targets) names the binding floor or target.

**Large models.** A one-year model too large for the LP-guided step (its interior-point work cap)
is solved through its decomposition by site (:mod:`charge_planner.siting.decompose`): prices on the
demand rows and the budget split it into one small problem per site, whose Lagrangian value bounds
the full model; the plans the prices suggest, a local search from the best of them (each plan valued
exactly as a maximum flow, :mod:`charge_planner.siting.plan_search`) and a search restricted to their
sites give the plan. A model whose LP relaxation does not finish within its work cap is solved so too.
The reported bound is that Lagrangian bound (or the reachable demand), valid for the full model.
A smaller one-year model is solved by the same decomposition first (a share of the time, a smaller
local search, no restricted search), and by the LP-guided step from its best plan when that does not
prove the gap; the tighter of the two bounds is reported.

The model is assembled block by block: :meth:`CapacitatedSiting.from_tables` lays out the columns
and calls the ``define_*`` functions of :mod:`charge_planner.siting.rows` (one block of rows each,
its constraint in the docstring) and prices connections with :mod:`charge_planner.siting.bands`;
it lives in :mod:`charge_planner.siting.capacitated_build`, and the result tables are read back from
a solution in :mod:`charge_planner.siting.capacitated_results`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import InfeasibleError
from charge_planner.siting.bands import SiteBands
from charge_planner.siting.capacitated_build import CapacitatedBuild
from charge_planner.siting.capacitated_results import CapacitatedResults
from charge_planner.siting.connection import connection_band
from charge_planner.siting.decompose import SiteDecomposition, plan_with_chargers
from charge_planner.siting.greedy_headroom import HeadroomGuard
from charge_planner.siting.plan_search import MAX_EVALUATIONS, PlanSearch, improve_starts
from charge_planner.siting.search_tools import csr_gather
from charge_planner.siting.solve import (
    MatrixModel,
    SolveResult,
    SolverName,
    lagrangian_bound,
    relative_gap,
    require_solution,
    solve,
)

log = logging.getLogger(__name__)

__all__ = ["CapacitatedSiting"]

#: Branch-and-bound node limit of each MILP search of :meth:`CapacitatedSiting.solve` (a work
#: cap: the sample cities' searches end at the root node, within their gap).
MAX_NODES = 1000
#: Work of the LP-guided step's relaxation [interior-point iterations x nonzeros]: the demo city's
#: relaxation (87,900 nonzeros) gets 91 iterations, about 5 s of one core (34 were too few for it).
LP_WORK = 8_000_000
#: The relaxation's iterations are at most this many (interior point converges in 30-60 here) ...
LP_MAX_ITERATIONS = 100
#: ... and the step is skipped when the work cap leaves fewer than this many.
LP_MIN_ITERATIONS = 20
#: Subgradient steps of the site decomposition of a model too large for the LP-guided step
#: (a work cap; a step costs about 0.08 s on a metro model of 3,000 sites and 280,000 pairs, whose
#: bound settles within 0.1 % after 600 steps).
DECOMPOSE_ITERATIONS = 600
#: Subgradient steps of the second round, from the best prices of the first towards the better plan.
DECOMPOSE_ITERATIONS2 = 300
#: ... and the share of the solve's time limit they may take at most (a safety stop); the
#: restricted search leaves the time of a second round of price steps (at most this share of what is left).
DECOMPOSE_SHARE = 0.5
#: Last rounds of price steps aimed at the best plan at most (each :data:`DECOMPOSE_ITERATIONS2` steps) ...
LAST_ROUNDS = 4
#: ... while a round lowers the bound by more than this share of it (the 30 km metro of seed 7: its first
#: last round lowers it by 0.011 %, and its bound then needs 0.008 % more to prove its plan within 1 %).
LAST_ROUND_GAIN = 1e-5
#: First step factor of the second round of price steps (from the best prices of the first).
DECOMPOSE_THETA2 = 0.25
#: The second round's steps averaged into a plan: all of them, the last half, the last quarter (the
#: plan of best exact value starts the local search; which window is best varies from city to city).
AVERAGE_WINDOWS = (1.0, 0.5, 0.25)
#: Share of the time left that the local search of the decomposed solve may take at most (a safety
#: stop; its work cap is :data:`~charge_planner.siting.plan_search.MAX_EVALUATIONS` plan valuations).
LOCAL_SHARE = 0.8
#: The restricted search of the decomposed solve stops at this share of the requested gap, or after
#: this many times the node limit of a search (its wall-clock share usually ends it first).
RESTRICTED_GAP_SHARE = 0.25
RESTRICTED_NODES_FACTOR = 20
#: Share of the time limit the decomposition by site may take before the LP-guided step, on a one-year
#: model small enough for both (a safety stop: its own work caps usually end it within seconds there).
FIRST_SHARE = 1 / 3
#: ... and its local search's plan valuations at most (a work cap: the demo city at 600,000 USD proves
#: 0.5 % after 2,600; the search of a small model is the LP-guided step's).
FIRST_EVALUATIONS = 5_000


class _RowColumns:
    """The assignment triples of one year (sorted by charger column), indexed by demand row, so
    that the unmet energy within reach of each column is summed again only for the columns that
    reach a row whose unmet energy changed: the same sums, in the same order, as a bincount over
    every triple."""

    def __init__(self, t_row: np.ndarray, t_pair: np.ndarray, n_rows: int, n_pairs: int) -> None:
        self.t_row, self.t_pair = t_row, t_pair
        self.by_row = np.argsort(t_row, kind="stable")
        self.row_ptr = np.searchsorted(t_row[self.by_row], np.arange(n_rows + 1))
        self.pair_ptr = np.searchsorted(t_pair, np.arange(n_pairs + 1))

    def refresh(self, unmet: np.ndarray, rem: np.ndarray, rows: np.ndarray) -> None:
        cols = np.unique(self.t_pair[csr_gather(self.row_ptr, self.by_row, np.unique(rows))])
        if not len(cols):
            return
        # each column's triples are contiguous and summed in their order, as np.bincount sums them
        at = csr_gather(self.pair_ptr, None, cols)
        sums = np.bincount(self.t_pair[at], weights=rem[self.t_row[at]], minlength=len(unmet))
        unmet[cols] = sums[cols]


@dataclass
class CapacitatedSiting(CapacitatedBuild, CapacitatedResults):
    """Capacitated multi-type charger siting with a multi-year rollout.

    Build it with :meth:`from_tables`, then call :meth:`solve`. After solving, the result
    tables describe the final rollout year (:attr:`sites`, :attr:`assignments`,
    :attr:`served_by_segment`) and every year (:attr:`rollout`, :attr:`served_by_year`,
    :attr:`assignments_all`).
    """

    demand: pd.DataFrame
    candidates: pd.DataFrame
    charger_types: pd.DataFrame
    pairs: pd.DataFrame  # the demand-site pairs within reach that can serve the row, nearest first per row
    budget_usd: float
    model: MatrixModel
    index: dict[str, Any]
    build_time_s: float
    years: list[int] = field(default_factory=list)
    budget_by_year_usd: dict[int, float] = field(default_factory=dict)
    result: SolveResult | None = None
    sites: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    assignments_all: pd.DataFrame | None = None
    served_by_segment: pd.DataFrame | None = None
    served_by_year: pd.DataFrame | None = None
    rollout: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: (rows, columns, integer columns) of the matrix model, kept when :meth:`compact` drops it
    model_size: tuple[int, int, int] | None = None
    #: grid reinforcement options built (``group_id``, ``option``, ``added_kw``, ``cost_usd``, ``year`` first built)
    reinforcement: pd.DataFrame | None = None

    def compact(self) -> CapacitatedSiting:
        """A copy with the solved tables and summary but without the matrix model and its index
        (for pickling small); it can be summarised, not solved again."""
        if self.model is None:
            return self
        size = (int(self.model.shape[0]), int(self.model.shape[1]), int(np.asarray(self.model.integer).sum()))
        return dataclasses.replace(self, model=None, index={}, model_size=size)  # type: ignore[arg-type]

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 0.01,
        max_nodes: int = MAX_NODES,
        decompose: bool | None = None,
    ) -> CapacitatedSiting:
        """Solve the model and fill the result tables.

        The greedy plan (:meth:`greedy_solution`) is built first; then, on a one-year model the
        decomposition by site applies to, that decomposition (:meth:`_decomposed`, at most
        ``FIRST_SHARE`` of the time; its bound is tighter than the LP relaxation's); then, unless
        that proved its plan within ``mip_gap``, the LP-guided restricted search (:meth:`_lp_guided`,
        warm-started from the best plan so far), then, unless that proved its plan, the search of
        the full model. A model too large for the LP-guided step is solved through its
        decomposition by site alone (see ``decompose``). The best of the plans is kept, with the tightest valid
        bound (the solver's, the decomposition's, the LP relaxation's Lagrangian bound, the reachable demand).

        The work is capped by deterministic limits (interior-point iterations of the relaxation,
        ``max_nodes`` branch-and-bound nodes), so the same model gives the same plan on any
        machine; ``time_limit_s`` is a safety stop only. When it ends a step, the result says so
        (``result.wall_clock_stop``, status "time_limit" unless the gap is proven anyway).

        Parameters
        ----------
        solver
            "highs" (default) or "cbc".
        time_limit_s
            Wall-clock safety stop of the whole solve [s].
        mip_gap
            Relative gap at which the solver may stop.
        max_nodes
            Branch-and-bound node limit of each MILP search (a work cap; a search it ends is
            reported "feasible" with its proven gap).
        decompose
            True: solve through the decomposition by site (:meth:`_decomposed`) alone, without the
            LP-guided step and the full search. False: the LP-guided step and the full search
            alone. Default (None): the decomposition alone when the model is too large for the
            LP-guided step's work cap, else the decomposition first and then the LP-guided step.
            It applies to one-year models without floors, targets, headroom or reinforcement
            (otherwise the LP-guided step and the full search run as usual).

        Raises
        ------
        InfeasibleError
            Naming the binding floor, target or limit.
        SolverError
            When the solver found no solution in time.
        """
        # the greedy plan is kept as a fallback and a yardstick, and warm-starts only the LP-guided
        # restricted search (there it cut the search on central Bengaluru with connection bands from
        # 39 s to 9 s); the full search starts cold: on the demo city a warm-started HiGHS search ended
        # worse than a cold one in the same time
        t_start = time.perf_counter()
        deadline = t_start + time_limit_s

        def left() -> float:
            return max(deadline - time.perf_counter(), 1e-3)

        warm = self.greedy_solution()
        # every demand row is served at most once and costs only lower the objective, so the
        # reachable demand bounds every plan; a greedy plan within the gap of it needs no solver
        y0, n0, x0 = self.index["cols"]
        reach = np.zeros(len(self.demand))
        reach[self.index["x_dem"]] = self.model.c[x0:x0 + len(self.index["x_dem"])]
        reach_bound = float(reach.sum())
        if warm is not None and relative_gap(float(self.model.c @ warm), reach_bound) <= mip_gap * (1 + 1e-9):
            obj = float(self.model.c @ warm)
            log.info("greedy plan %.6g is within the gap of the reachable demand %.6g: no search needed",
                     obj, reach_bound)
            guided, complete, lp_bound, lp_wall = SolveResult(
                status="optimal", solver="greedy", x=warm, objective=obj, bound=reach_bound,
                gap=relative_gap(obj, reach_bound), time_s=0.0, rows=self.model.a.shape[0],
                cols=self.model.a.shape[1], integer_cols=int(np.asarray(self.model.integer).sum()),
                log=[f"greedy plan proven within the gap by the reachable demand {reach_bound:.6g}"],
            ), False, math.inf, False
        elif (solver in (None, "highs")
              and (decompose if decompose is not None else self._lp_iterations() < LP_MIN_ITERATIONS)
              and (dec := SiteDecomposition.from_siting(self)) is not None):
            # too large for the LP-guided step: the site decomposition bounds it and seeds the search
            guided, lp_bound = self._decomposed(dec, warm, left=left, mip_gap=mip_gap, max_nodes=max_nodes)
            complete, lp_wall = True, False
        else:
            first, first_dec = None, None
            if (solver in (None, "highs") and decompose is None
                    and (first_dec := SiteDecomposition.from_siting(self)) is not None):
                dec = first_dec
                # a model the LP-guided step can take: its decomposition by site first, with at most
                # FIRST_SHARE of the time (its bound is tighter than the relaxation's and its plans
                # often close the gap at once); then the LP-guided step from its best plan
                first = self._decomposed(dec, warm, left=share_of(left, FIRST_SHARE), mip_gap=mip_gap,
                                         max_nodes=max_nodes, max_evaluations=FIRST_EVALUATIONS, restricted=False)
            if first is not None and first[0].status == "optimal":
                guided, lp_bound = first
                complete, lp_wall = True, False
            else:
                start = warm
                if first is not None and first[0].x is not None and (
                        warm is None or first[0].objective > float(self.model.c @ warm)):
                    start = first[0].x
                guided, complete, lp_bound, lp_wall = self._lp_guided(start, solver, left=left, mip_gap=mip_gap,
                                                                      max_nodes=max_nodes)
                if (guided is None and not math.isfinite(lp_bound) and not lp_wall and decompose is None
                        and solver in (None, "highs")
                        and (dec := first_dec or SiteDecomposition.from_siting(self)) is not None):
                    # the relaxation did not finish within its work cap (not stopped by the clock): the
                    # decomposition bounds the model instead, with all the time left (the full search of
                    # such a model stays far from its bound), from the prices the first stage reached
                    log.info("siting: the LP relaxation did not finish; solving by decomposition by site")
                    guided, lp_bound = self._decomposed(dec, start, left=left, mip_gap=mip_gap, max_nodes=max_nodes)
                    complete = True
                if first is not None:
                    guided, lp_bound = _with_first(guided, first, lp_bound, mip_gap)
        if guided is not None and (guided.status == "optimal" or complete):
            res = guided  # proven within the gap by the LP relaxation, or the search was the full one
        else:
            res = solve(self.model, solver, time_limit_s=left(), mip_gap=mip_gap, max_nodes=max_nodes)
        wall = res.wall_clock_stop or lp_wall or (guided is not None and guided.wall_clock_stop)
        if res.status != "infeasible":
            # the best of the solver's plan, the LP-guided restricted plan and the greedy plan is kept
            others = [("LP-guided restricted plan", guided.x if guided is not None and guided is not res else None),
                      ("greedy plan", warm)]
            for name, x in others:
                if x is None:
                    continue
                obj = float(self.model.c @ x)
                res.log.append(f"{name} {obj:.6g}")
                if res.x is None or obj > res.objective + 1e-9 * max(abs(obj), 1.0):
                    res.x, res.objective = x, obj
            if res.x is not None:
                # every demand row is served at most once and costs only lower the objective, so the
                # reachable demand bounds it: tighter than the solver's own bound when its root LP did
                # not finish (large multi-year models); the relaxation's Lagrangian bound holds too
                for name, bound in (("reachable demand", reach_bound), ("LP relaxation", lp_bound)):
                    if math.isfinite(bound) and (not math.isfinite(res.bound) or bound < res.bound):
                        res.log.append(f"bound {res.bound:.6g} -> {name} {bound:.6g}")
                        res.bound = bound
                res.gap = relative_gap(res.objective, res.bound)
                if res.gap <= mip_gap * (1 + 1e-9):
                    res.status = "optimal"
                else:
                    res.status = "time_limit" if wall else "feasible"
        res.wall_clock_stop = wall
        res.time_s = time.perf_counter() - t_start  # the whole solve: greedy, relaxation and searches
        if wall:
            res.log.append(f"the wall-clock safety stop ({time_limit_s:g} s) ended a step: the plan may depend "
                           "on the machine's speed")
            log.warning("siting: the wall-clock safety stop of %g s ended a solver step; the plan may differ on "
                        "another machine (raise siting.time_limit_s)", time_limit_s)
        self.result = res
        if res.status == "infeasible":
            raise InfeasibleError(self._explain_infeasible())
        x = require_solution(res, what="charger siting")
        x = self._lowest_bands(x)
        res.x, res.objective = x, float(self.model.c @ x)
        self._read_back(x)
        return self

    def _lowest_bands(self, x: np.ndarray) -> np.ndarray:
        """The plan with each open site in the lowest connection band its installed power needs
        (a solver stopped within its gap may leave a site in a higher, dearer band): every row
        stays met, the spend can only fall."""
        ix = self.index
        band: SiteBands = ix["band"]
        if not len(band.up_site):
            return x
        out = x.copy()
        lv = self._levels(x)
        K = ix["n_years"]
        u = (lv[band.up_site] >= band.up_band[:, None]).astype(float)  # n_up x K
        out[ix["u0"]:ix["u0"] + len(band.up_site) * K] = u.ravel()
        return out

    def _levels(self, x: np.ndarray) -> np.ndarray:
        """Connection band of every site and year in plan ``x`` (-1: closed): the lowest its
        installed power needs, never below the band paid already."""
        ix = self.index
        y0, n0, x0 = ix["cols"]
        K = ix["n_years"]
        band: SiteBands = ix["band"]
        n_site = len(self.candidates)
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        y = np.round(x[y0:n0]).reshape(n_site, K)
        nv = np.round(x[n0:x0]).reshape(len(c_site), K)
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        kw = np.zeros((n_site, K))
        np.add.at(kw, c_site, nv * power[c_type][:, None])
        opened = (y > 0.5) | (kw > 0)
        lv = np.maximum(band.paid[:, None], connection_band(kw, band.max_kw))
        return np.where(opened, lv, -1)

    # ---- decomposition by site (large one-year models)

    def _decomposed(
        self, dec: SiteDecomposition, warm: np.ndarray | None, *, left: Any, mip_gap: float, max_nodes: int,
        max_evaluations: int = MAX_EVALUATIONS, restricted: bool = True,
    ) -> tuple[SolveResult, float]:
        """Solve a model too large for the LP-guided step through its decomposition by site
        (:mod:`charge_planner.siting.decompose`).

        The greedy plan's chargers get their best demand assignment (an LP); the subgradient
        method on the demand and budget prices gives a valid bound and, at its best prices, a
        second plan (the sites' best mixes taken by gain per dollar within the budget); a second
        round of price steps from the best prices, whose sites' best mixes are averaged, gives two more
        (:meth:`SiteDecomposition.average_plan` over all its steps, its last half and its last quarter:
        the two best by their exact value; the sites by the share of steps that open them, each with its
        average mix). Unless the best plan is within ``mip_gap`` of the bound, a local search improves
        the two best distinct plans, side by side on two cores (:func:`~charge_planner.siting.plan_search.improve_starts`;
        else the best first with all the time left; refill and drop-and-refill moves, each plan valued
        by a maximum flow, at most ``LOCAL_SHARE`` of the time left, stopping once a plan is proven
        within the gap); then, unless that plan is within the gap, last rounds of price steps aimed
        at the better plan (each at most ``DECOMPOSE_SHARE`` of the time left, until the bound proves the
        plan; another, up to ``LAST_ROUNDS``, while a round lowers the bound by more than
        ``LAST_ROUND_GAIN``) and a search of the model
        restricted to the sites of the plans and the sites the best prices open, warm-started from the
        best plan, with the time left (until ``RESTRICTED_GAP_SHARE x mip_gap`` of its own bound).
        The restricted search's own bound holds only for
        the restriction: the reported bound is the decomposition's (or the reachable demand),
        valid for the full model. ``max_evaluations`` caps each local search's plan valuations;
        ``restricted=False`` leaves out the last price round and the restricted search (the LP-guided
        step that follows does that work on a small model).

        Returns
        -------
        tuple
            The result (status "optimal" when proven within ``mip_gap``) and the decomposition's bound.
        """
        m, ix = self.model, self.index
        t0 = time.perf_counter()
        y0, n0, x0 = ix["cols"]
        n_site = n0 - y0
        plans: list[tuple[str, np.ndarray]] = []
        if warm is not None:
            plans.append(("greedy plan", warm))
            polished = plan_with_chargers(self, np.round(warm[n0:x0]), time_limit_s=left())
            if polished is not None:
                plans.append(("greedy chargers, best assignment", polished))

        def best_plan() -> tuple[str, np.ndarray | None, float]:
            if not plans:
                return "", None, -math.inf
            objs = [float(m.c @ x) for _, x in plans]
            k = int(np.argmax(objs))
            return plans[k][0], plans[k][1], objs[k]

        name, inc, inc_obj = best_plan()
        if dec.best_prices is None:
            lag_bound, lam, mu = dec.bound(lower=max(inc_obj, 0.0), iterations=DECOMPOSE_ITERATIONS,
                                           deadline=time.perf_counter() + DECOMPOSE_SHARE * left())
        else:  # solved through this decomposition before: its best prices are the start (and their bound holds)
            lag_bound, lam, mu = dec.best_prices
            more, lam_m, mu_m = dec.bound(lower=max(inc_obj, 0.0), iterations=DECOMPOSE_ITERATIONS2, lam0=lam,
                                          mu0=mu, theta0=DECOMPOSE_THETA2,
                                          deadline=time.perf_counter() + DECOMPOSE_SHARE * left())
            if more < lag_bound:
                lag_bound, lam, mu = more, lam_m, mu_m
        lag_plan = plan_with_chargers(self, dec.mix_plan(lam, mu), time_limit_s=left())
        if lag_plan is not None:
            plans.append(("decomposition plan", lag_plan))
        name, inc, inc_obj = best_plan()
        search: PlanSearch | None = None
        if relative_gap(inc_obj, lag_bound) > mip_gap * (1 + 1e-9):
            # a second round of price steps from the best prices, its sites' best mixes averaged: the
            # average estimates the relaxation's fractional plan, whose rounding starts the local search
            # far better than the mixes of one price vector (this round's steps alone)
            dec.steps.clear()
            more, lam_m, mu_m = dec.bound(lower=max(inc_obj, 0.0), iterations=DECOMPOSE_ITERATIONS2, lam0=lam, mu0=mu,
                                          theta0=DECOMPOSE_THETA2, deadline=time.perf_counter() + DECOMPOSE_SHARE * left(),
                                          average=True)
            if more < lag_bound:
                lag_bound, lam, mu = more, lam_m, mu_m
            # over all the round's steps, its last half and its last quarter: the two best distinct ones
            # by their exact value
            search = PlanSearch(dec)
            averaged: list[tuple[float, str, np.ndarray]] = []
            for last, label in zip(AVERAGE_WINDOWS, ("all steps", "last half", "last quarter"), strict=True):
                mean_n = dec.average_plan(last=max(int(last * dec.averaged_steps), 1))
                if mean_n is not None and not any(np.array_equal(mean_n, a[2]) for a in averaged):
                    obj = search.served(mean_n)[0] - dec.eps * search.spend(search.mix_of(mean_n))
                    averaged.append((obj, label, mean_n))
            for _, label, mean_n in sorted(averaged, key=lambda a: -a[0])[:2]:
                avg_plan = plan_with_chargers(self, mean_n, time_limit_s=left())
                if avg_plan is not None:
                    plans.append((f"decomposition average plan ({label})", avg_plan))
            name, inc, inc_obj = best_plan()
        if inc is not None and relative_gap(inc_obj, lag_bound) > mip_gap * (1 + 1e-9):
            # local search from the best plan, then from the next best if time is left, each plan
            # valued exactly by a maximum flow (they end in different local optima)
            search = search or PlanSearch(dec)
            search.set_prices(lam)
            local_end = time.perf_counter() + LOCAL_SHARE * left()
            starts = sorted(plans, key=lambda p: -float(m.c @ p[1]))
            if len(starts) > 1 and starts[0][0].startswith("greedy") and starts[1][0].startswith("greedy"):
                starts.pop(1)  # the greedy plan and its best assignment: the same chargers
            starts = starts[:2]
            # the two best starts side by side on two cores (else the best first, with all the time left)
            found = improve_starts(search, [np.round(x[n0:x0]) for _, x in starts], deadline=local_end,
                                   target=lag_bound / (1 + 0.95 * mip_gap), max_evaluations=max_evaluations)
            for (start_name, _), (n_best, _) in zip(starts, found, strict=False):
                local = plan_with_chargers(self, n_best, time_limit_s=left())
                if local is not None:
                    plans.append((f"local search plan (from the {start_name})", local))
            name, inc, inc_obj = best_plan()
        for _ in range(LAST_ROUNDS if restricted else 0):
            if inc is None or relative_gap(inc_obj, lag_bound) <= mip_gap * (1 + 1e-9) or left() <= 1.0:
                break
            # last rounds of price steps from the best prices, aimed at the better plan (Polyak steps
            # towards a target close to the bound are shorter), each until the bound proves the plan or
            # its step factor has shrunk; another round while the last one still lowered the bound
            more, lam_m, mu_m = dec.bound(lower=max(inc_obj, 0.0), iterations=DECOMPOSE_ITERATIONS2, lam0=lam, mu0=mu,
                                          theta0=DECOMPOSE_THETA2, deadline=time.perf_counter() + DECOMPOSE_SHARE * left(),
                                          enough=inc_obj * (1 + mip_gap))
            lowered = lag_bound - more
            if more < lag_bound:
                lag_bound, lam, mu = more, lam_m, mu_m
            if lowered <= LAST_ROUND_GAIN * abs(lag_bound):
                break
        log.info("site decomposition: bound %.6g, best plan %.6g (%s), gap %.3g after %.1f s", lag_bound, inc_obj,
                 name, relative_gap(inc_obj, lag_bound), time.perf_counter() - t0)
        text = [f"{nm} {float(m.c @ x):.6g}" for nm, x in plans]
        wall = search is not None and search.wall_clock_stop
        if restricted and inc is not None and relative_gap(inc_obj, lag_bound) > mip_gap * (1 + 1e-9):
            # the restricted search: the sites of the plans and those the best prices open, with the
            # time left
            _, n_open, _, _ = dec.value(lam, mu)
            c_site = ix["n_site_idx"]
            keep = np.bincount(c_site, weights=n_open, minlength=n_site) > 0
            for _, x in plans:
                keep |= x[y0:n0] > 0.5
            keep |= ix["existing"].sum(axis=1) > 0
            n_r = m.shape[1] - ix["r0"]
            site_of_col = np.concatenate([ix["band"].up_site, np.arange(n_site), c_site, ix["x_site"],
                                          np.full(n_r, n_site)])
            upper = np.where(np.append(keep, True)[site_of_col], m.col_upper, np.minimum(m.col_upper, 0.0))
            sub = dataclasses.replace(m, col_upper=upper)
            # a tighter gap than asked: the restriction's own bound is below the decomposition's, and
            # a better plan is what closes the gap to that
            res = solve(sub, "highs", time_limit_s=max(left(), 1e-3), mip_gap=RESTRICTED_GAP_SHARE * mip_gap,
                        max_nodes=RESTRICTED_NODES_FACTOR * max_nodes, warm_start=inc)
            wall = wall or res.wall_clock_stop
            text.append(f"restricted search on {int(keep.sum())} of {n_site} sites: {res.objective:.6g}")
            log.info("site decomposition: restricted search on %d of %d sites: %.6g", int(keep.sum()), n_site,
                     res.objective)
            if res.x is not None and res.objective > inc_obj:
                inc, inc_obj = res.x, float(m.c @ res.x)
        dec.best_prices = (lag_bound, lam.copy(), mu)
        bound = lag_bound
        text.insert(0, f"site decomposition bound {bound:.6g} after {len(dec.history)} subgradient steps")
        if inc is None:
            return SolveResult(status="no_solution", solver="highs", x=None, objective=math.nan, bound=bound,
                               gap=math.inf, time_s=time.perf_counter() - t0, rows=m.shape[0], cols=m.shape[1],
                               integer_cols=int(np.asarray(m.integer).sum()), log=text), bound
        gap = relative_gap(inc_obj, bound)
        proven = gap <= mip_gap * (1 + 1e-9)
        return SolveResult(
            status="optimal" if proven else ("time_limit" if wall else "feasible"), solver="highs", x=inc,
            objective=inc_obj, bound=bound, gap=gap, time_s=time.perf_counter() - t0, rows=m.shape[0],
            cols=m.shape[1], integer_cols=int(np.asarray(m.integer).sum()), log=text, wall_clock_stop=wall,
        ), bound

    def _lp_iterations(self) -> int:
        """Interior-point iterations the LP-guided step's work cap leaves for this model."""
        return int(min(LP_MAX_ITERATIONS, LP_WORK // max(int(self.model.a.nnz), 1)))

    # ---- LP-guided restricted solve

    def _lp_guided(
        self, warm: np.ndarray | None, solver: SolverName | None, *, left: Any, mip_gap: float, max_nodes: int
    ) -> tuple[SolveResult | None, bool, float, bool]:
        """Solve the model restricted to the sites its LP relaxation opens (plus the greedy plan's
        and the existing ones). The relaxation bounds the full model, so a restricted plan within
        ``mip_gap`` of it is proven good enough, often long before the full search would close
        its gap (HiGHS may spend a long time in cut rounds at the root).

        The relaxation is solved by interior point without crossover, capped at
        ``LP_WORK / nonzeros`` iterations (at most ``LP_MAX_ITERATIONS``): a deterministic cap
        that lets it finish on small and medium models (36 iterations on Makati) and gives it up
        on large ones (the demo city needs about 51 and opens every site there). Its bound is not
        its primal objective (without crossover that is not a bound) but the Lagrangian value of
        its row duals (:func:`~charge_planner.siting.solve.lagrangian_bound`), valid for any duals.
        The restricted search starts from the greedy plan ``warm`` (feasible there: its sites are kept).

        Returns
        -------
        tuple
            The result (None when not applicable: CBC, a model too large for the iteration cap,
            no LP solution, an infeasible restriction); whether it was a search of the full
            model (the LP opened every site); the relaxation's valid bound (inf when none); and
            whether the wall-clock safety stop ended the relaxation.
        """
        if solver not in (None, "highs"):
            return None, False, math.inf, False
        m, ix = self.model, self.index
        t0 = time.perf_counter()
        iterations = min(LP_MAX_ITERATIONS, LP_WORK // max(int(m.a.nnz), 1))
        if iterations < LP_MIN_ITERATIONS:
            log.info("LP-guided step skipped: %d nonzeros leave %d interior-point iterations", m.a.nnz, iterations)
            return None, False, math.inf, False
        lp = solve(m, "highs", time_limit_s=left(), relax=True, lp_method="ipm", lp_iteration_limit=iterations)
        lp_bound = lagrangian_bound(m, lp.row_dual) if lp.row_dual is not None else math.inf
        log.info("LP relaxation: %s after at most %d interior-point iterations, Lagrangian bound %.6g",
                 lp.status, iterations, lp_bound)
        if lp.status != "optimal" or lp.x is None:
            return None, False, lp_bound, lp.wall_clock_stop
        if warm is not None and math.isfinite(lp_bound):
            # the relaxation bounds every plan: a greedy plan within the gap of it needs no search
            warm_obj = float(m.c @ warm)
            gap = relative_gap(warm_obj, lp_bound)
            if gap <= mip_gap * (1 + 1e-9):
                log.info("greedy plan %.6g is within the gap of the LP bound %.6g (%.3g): no search needed",
                         warm_obj, lp_bound, gap)
                return SolveResult(
                    status="optimal", solver="highs", x=warm, objective=warm_obj, bound=lp_bound, gap=gap,
                    time_s=time.perf_counter() - t0, rows=m.a.shape[0], cols=m.a.shape[1],
                    integer_cols=int(np.asarray(m.integer).sum()),
                    log=[f"greedy plan proven within the gap by the LP bound {lp_bound:.6g}"],
                ), False, lp_bound, False
        y0, n0, x0 = ix["cols"]
        n_years = ix["n_years"]
        n_site = (n0 - y0) // n_years
        n_r = m.shape[1] - ix["r0"]  # grid reinforcement columns belong to no site: always kept
        site_of_col = np.concatenate([
            np.repeat(ix["band"].up_site, n_years), np.repeat(np.arange(n_site), n_years),
            np.repeat(ix["n_site_idx"], n_years), ix["x_site"], np.full(n_r, n_site)
        ])
        keep = lp.x[y0:n0].reshape(n_site, n_years).max(axis=1) > 1e-6
        keep |= ix["existing"].sum(axis=1) > 0
        if warm is not None:
            keep |= warm[y0:n0].reshape(n_site, n_years).max(axis=1) > 0.5
        complete = bool(keep.all())
        if complete:
            sub = m
        else:
            upper = np.where(np.append(keep, True)[site_of_col], m.col_upper, np.minimum(m.col_upper, 0.0))
            if (upper < m.col_lower).any():
                return None, False, lp_bound, False
            sub = dataclasses.replace(m, col_upper=upper)
        res = solve(sub, "highs", time_limit_s=left(), mip_gap=mip_gap, max_nodes=max_nodes, warm_start=warm)
        if res.x is None:
            return (res if complete else None), complete, lp_bound, False
        bound = lp_bound  # the relaxation bounds every plan
        if complete and math.isfinite(res.bound):
            bound = min(bound, res.bound)
        gap = relative_gap(res.objective, bound)
        proven = gap <= mip_gap * (1 + 1e-9)
        log.info("LP-guided restricted solve: %d of %d sites, objective %.6g, bound %.6g, gap %.3g%s",
                 int(keep.sum()), n_site, res.objective, bound, gap, " (within the gap: done)" if proven else "")
        return SolveResult(
            status="optimal" if proven else ("time_limit" if res.wall_clock_stop else "feasible"), solver="highs",
            x=res.x, objective=res.objective, bound=bound, gap=gap, time_s=time.perf_counter() - t0,
            rows=m.a.shape[0], cols=m.a.shape[1], integer_cols=int(np.asarray(m.integer).sum()),
            log=[f"LP-guided restricted solve on {int(keep.sum())} of {n_site} sites, LP bound {bound:.6g}"],
            wall_clock_stop=res.wall_clock_stop,
        ), complete, lp_bound, False

    # ---- greedy plan

    def greedy_solution(self) -> np.ndarray | None:
        """A feasible plan built greedily, year by year (the fallback when the solver's own
        incumbent is worse or missing at the time limit).

        Each year, the year's demand first fills the chargers already built (nearest demand
        first); then chargers are added one at a time where the unmet energy they can serve
        per dollar is highest (a new site's fixed cost and connection band included, and the
        step to a higher band where the charger lifts the site's power into it: priced as the
        model prices them), within the year's budget, the per-site maximum and the grid headroom of
        the charger's group in its year and later ones (:class:`~charge_planner.siting.greedy_headroom.
        HeadroomGuard`; no reinforcement is built), each taking the nearest unmet demand up to its capacity.
        The plan is checked against every row of the model; None when it violates one (e.g.
        an equity floor the greedy order did not meet).

        Returns
        -------
        numpy.ndarray or None
            Column values of the model.
        """
        ix = self.index
        y0, n0, x0 = ix["cols"]
        n_years = ix["n_years"]
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        n_pairs, n_site = len(c_site), len(self.candidates)
        x_dem, pair_x, dem_k = ix["x_dem"], ix["pair_x"], ix["dem_k"]
        x_time = ix["x_time"]
        d = self.demand["energy_kwh_day"].to_numpy(dtype=float)
        cap, capex, max_ch = ix["cap"], ix["capex"], ix["max_ch"]
        band: SiteBands = ix["band"]
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        col_upper = self.model.col_upper
        existing = ix["existing"][c_site, c_type].astype(float)
        n = existing.copy()
        is_open = (np.bincount(c_site, weights=n, minlength=n_site) > 0) | (self.model.col_lower[y0:n0:n_years] > 0)
        site_kw = np.bincount(c_site, weights=n * power[c_type], minlength=n_site)
        all_sites = np.arange(n_site)
        n_upper = col_upper[n0:x0:n_years]
        y_upper = col_upper[y0:n0:n_years]
        x = np.zeros(self.model.shape[1])
        spent = 0.0
        budget_cum = 0.0
        guard = HeadroomGuard.from_model(self.model, ix)  # grid headroom rows: no charger may break one
        for k in range(n_years):
            budget_cum = budget_cum + ix["budgets"][k] if ix["carry_over"] else ix["budgets"][k]
            left = budget_cum - spent if ix["carry_over"] else ix["budgets"][k]
            sel = np.flatnonzero(dem_k[x_dem] == k)
            # triples of this year, nearest first within each charger column
            sel = sel[np.lexsort((x_time[sel], pair_x[sel]))]
            t_pair = pair_x[sel]
            t_row = x_dem[sel]
            rem = d.copy()
            rem[dem_k != k] = 0.0
            used = np.zeros(n_pairs)
            touched: list[np.ndarray] = []  # rows whose unmet energy a fill changed

            def fill(c: int, cap_c: float, sel: np.ndarray = sel, t_pair: np.ndarray = t_pair,
                     rem: np.ndarray = rem, touched: list[np.ndarray] = touched) -> float:
                lo, hi = np.searchsorted(t_pair, c), np.searchsorted(t_pair, c, side="right")
                trip = sel[lo:hi]
                if cap_c <= 0 or len(trip) == 0:
                    return 0.0
                rows = x_dem[trip]
                want = rem[rows]
                # the same row may appear once per column; take in order up to the capacity
                before = np.concatenate([[0.0], np.cumsum(want)[:-1]])
                take = np.clip(cap_c - before, 0.0, want)
                rem[rows] -= take
                touched.append(rows[take > 0])
                x[x0 + trip] += np.divide(take, d[rows], out=np.zeros(len(rows)), where=d[rows] > 0)
                return float(take.sum())

            for col in np.flatnonzero(n > 0):
                used[col] += fill(int(col), cap[c_type[col]] * n[col])
            per_site = np.bincount(c_site, weights=n, minlength=n_site)
            if guard is not None:
                guard.start_year(x, n, k)
            # unmet energy within reach of each charger column, kept up to date column by column
            unmet = np.bincount(t_pair, weights=rem[t_row], minlength=n_pairs)
            by_row = _RowColumns(t_row, t_pair, len(d), n_pairs)
            touched.clear()
            while True:
                if touched:
                    by_row.refresh(unmet, rem, np.concatenate(touched))
                    touched.clear()
                spare = cap[c_type] * n - used
                gain = np.minimum(cap[c_type], np.maximum(unmet - np.maximum(spare, 0.0), 0.0))
                # the site's cost at its band after the charger, less what it costs now (0: closed)
                now = np.where(is_open, band.level_cost[all_sites, band.level(all_sites, site_kw)], 0.0)
                after = band.level_cost[c_site, band.level(c_site, site_kw[c_site] + power[c_type])]
                cost = capex[c_type] + after - now[c_site]
                ok = (gain > 1e-9) & (cost <= left + 1e-9) & (per_site[c_site] < max_ch[c_site]) & (n < n_upper)
                ok &= is_open[c_site] | (y_upper[c_site] > 0)
                if guard is not None:
                    ok &= guard.allowed(k)
                if not ok.any():
                    break
                ratio = np.where(ok, gain / np.maximum(cost, 1e-9), -np.inf)
                c = int(np.argmax(ratio))
                n[c] += 1
                if guard is not None:
                    guard.add(c, k)
                per_site[c_site[c]] += 1
                site_kw[c_site[c]] += power[c_type[c]]
                is_open[c_site[c]] = True
                left -= cost[c]
                spent += cost[c]
                used[c] += fill(c, cap[c_type[c]] * n[c] - used[c])
            x[y0 + np.arange(n_site) * n_years + k] = is_open.astype(float)
            x[n0 + np.arange(n_pairs) * n_years + k] = n
            lv = np.where(is_open, band.level(all_sites, site_kw), -1)
            x[ix["u0"] + np.arange(len(band.up_site)) * n_years + k] = lv[band.up_site] >= band.up_band
        x[x0:x0 + len(x_dem)] = np.clip(x[x0:x0 + len(x_dem)], 0.0, 1.0)
        m = self.model
        ax = m.a @ x
        tol = 1e-6
        bad = (ax < m.row_lower - tol * np.maximum(1.0, np.abs(m.row_lower))) | (ax > m.row_upper + tol * np.maximum(1.0, np.abs(m.row_upper)))
        if bad.any() or (x < m.col_lower - tol).any() or (x > m.col_upper + tol).any():
            log.info("greedy plan violates %d row(s) of the model; no warm start", int(bad.sum()))
            return None
        return x

    # ---- infeasibility

    def _explain_infeasible(self) -> str:
        """One line naming the binding floor or target, from an elastic LP relaxation."""
        ix = self.index
        labels = ix["labels"]
        soft = [(name, labels[name]) for name in ("equity", "target", "headroom") if name in labels]
        base = self.model
        if not soft:
            return "charger siting is infeasible: the existing chargers and limits contradict each other; check them"
        # shortfall columns s_r >= 0 on every soft row, minimise the relative shortfall
        extra_rows, extra_vals, weights = [], [], []
        for name, (start, end, _) in soft:
            r = np.arange(start, end)
            rhs = np.where(np.isfinite(base.row_lower[r]), base.row_lower[r], base.row_upper[r])
            sign = 1.0 if name != "headroom" else -1.0
            extra_rows.append(r)
            extra_vals.append(np.full(len(r), sign))
            weights.append(1.0 / np.maximum(np.abs(rhs), 1e-9))
        rows = np.concatenate(extra_rows)
        n_s = len(rows)
        a = sp.hstack([base.a, sp.csc_matrix((np.concatenate(extra_vals), (rows, np.arange(n_s))), shape=(base.shape[0], n_s))]).tocsc()
        m = MatrixModel(
            c=np.concatenate([np.zeros(base.shape[1]), np.concatenate(weights)]), a=a,
            row_lower=base.row_lower, row_upper=base.row_upper,
            col_lower=np.concatenate([base.col_lower, np.zeros(n_s)]),
            col_upper=np.concatenate([base.col_upper, np.full(n_s, np.inf)]),
            integer=np.concatenate([base.integer, np.zeros(n_s, dtype=bool)]), maximize=False,
        )
        res = solve(m, "highs", time_limit_s=30.0, relax=True)
        if res.x is None:
            return "charger siting is infeasible even without its floors and targets; check existing chargers and limits"
        s = res.x[base.shape[1]:] * np.concatenate(weights)
        plan_kind = "fractional chargers"
        if s.max() <= 1e-7:
            # only whole chargers make it infeasible: the elastic MILP names the floor that binds
            res = solve(m, "highs", time_limit_s=30.0, mip_gap=1e-3, max_nodes=MAX_NODES)
            if res.x is None:
                return ("charger siting is infeasible with whole chargers, though fractional ones would meet every "
                        "floor and target; raise the budget or lower siting.equity_floor / siting.min_served_share")
            s = res.x[base.shape[1]:] * np.concatenate(weights)
            plan_kind = "whole chargers"
        worst = int(np.argmax(s))
        offset = 0
        for name, (start, end, names) in soft:
            if worst < offset + (end - start):
                what = names[worst - offset]
                if name == "equity":
                    return (f"equity floor {ix['equity_floor']:.0%} cannot be met for {what} within the budget and "
                            f"charger limits: the closest plan ({plan_kind}) misses it by "
                            f"{s[worst] * ix['equity_floor']:.0%} of that group's demand; lower siting.equity_floor "
                            "or raise the budget")
                if name == "target":
                    return (f"served-share target {ix['min_served_share']:.0%} cannot be met in {what} within the "
                            f"budget and charger limits: the closest plan ({plan_kind}) misses it by "
                            f"{s[worst] * ix['min_served_share']:.0%} of the demand; lower siting.min_served_share "
                            "or raise the budget")
                return f"grid headroom of {what} is binding; raise it or move chargers elsewhere"
            offset += end - start
        return "charger siting is infeasible"


def share_of(left: Any, share: float) -> Any:
    """A ``left()`` that ends after ``share`` of the time ``left()`` gives now."""
    end = time.perf_counter() + share * left()

    def left_share() -> float:
        return max(min(end - time.perf_counter(), left()), 1e-3)

    return left_share


def _with_first(guided: SolveResult | None, first: tuple[SolveResult, float], lp_bound: float,
                mip_gap: float) -> tuple[SolveResult | None, float]:
    """The LP-guided step's result with the decomposition's plan (when better) and its bound (when tighter)."""
    res, bound = first
    lp_bound = min(lp_bound, bound)
    if guided is None:
        return (res if res.x is not None else None), lp_bound
    if res.x is not None and res.objective > guided.objective:
        guided.x, guided.objective = res.x, res.objective
        guided.log.append(f"site decomposition plan {res.objective:.6g} kept")
    if bound < guided.bound:
        guided.log.append(f"bound {guided.bound:.6g} -> site decomposition {bound:.6g}")
        guided.bound = bound
    guided.gap = relative_gap(guided.objective, guided.bound)
    if guided.gap <= mip_gap * (1 + 1e-9):
        guided.status = "optimal"
    guided.wall_clock_stop = guided.wall_clock_stop or res.wall_clock_stop
    return guided, lp_bound
