"""Classic location models with one shape: maximal covering (MCLP), defined here, and set covering
(LSCP, :class:`~charge_planner.siting.set_covering.SetCovering`, re-exported here).

The p-median model (:class:`~charge_planner.siting.pmedian.PMedian`) has the same shape; the three
share the inputs and result handling of :mod:`charge_planner.siting.location`.

Each model is built from tables — ``demand`` (indexed by ``demand_id``), ``candidates``
(indexed by ``site_id``) and the sparse ``travel`` table of (``demand_id``, ``site_id``,
``travel_time_s``) pairs within reach — or from a sparse coverage / dense cost matrix,
then solved with :meth:`solve` ``(solver=None, *, time_limit_s, mip_gap)``, and returns
tables keyed by ids: :attr:`sites` (open sites), :attr:`assignments` (each demand row and
the open site that serves it) and :meth:`summary` (status, objective, proven bound, gap).

The solve strategy (``method="auto"``) combines heuristics and the MILP solver so that a
good solution is available fast and its distance to the optimum is always proven:

* MCLP — greedy, swap local search and simulated annealing for the incumbent; the LP
  relaxation (HiGHS interior point or first-order method, capped by iterations) for the
  bound, evaluated through the Lagrangian function so that it is valid even when the LP
  stops early; Lagrangian reduced-cost fixing with that bound, then the MILP on the columns
  that survive (often a few hundred), warm-started with the incumbent.
* LSCP — greedy (Chvatal) with a redundancy pass warm-starts the MILP.
* p-median (:mod:`~charge_planner.siting.pmedian`) — greedy plus vertex interchange warm-starts
  the MILP; a Lagrangian lower bound is reported when the MILP does not finish.

Every step ends by a work cap (rounds, moves, iterations, nodes), never by the clock, so the
same inputs and seed give the same result on any machine; ``time_limit_s`` is a safety stop,
and a solve it ended reports ``wall_clock_stop`` (status "time_limit" unless proven anyway).

Optional candidate columns: ``existing`` (bool, always open) and ``excluded_reason``
(non-empty: never opened); for LSCP a cost column (e.g. ``fixed_cost_usd``) is the cost of opening,
to which ``site_cost_bands`` add the connection cost of each site's planned power band.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import InfeasibleError
from charge_planner.siting import heuristics as heur
from charge_planner.siting.bounds import _top_p_sum
from charge_planner.siting.location import (
    MAX_NODES,
    Method,
    _inputs_from_sparse,
    _inputs_from_tables,
    _integral,
    _LocationModel,
    _status,
    unreachable_message,
)
from charge_planner.siting.set_covering import SetCovering
from charge_planner.siting.solve import MatrixModel, SolveResult, SolverName, relative_gap, solve

log = logging.getLogger(__name__)

__all__ = ["MAX_NODES", "MaximalCoverage", "Method", "SetCovering", "unreachable_message"]

#: Annealing moves of the MCLP heuristic (each a few microseconds of numpy work).
ANNEAL_MOVES = 200_000
#: Perturbation rounds of the MCLP iterated swap search.
ILS_ROUNDS = 30
#: Subgradient iterations of the first MCLP Lagrangian bound.
SUBGRADIENT_ITERATIONS = 1000
#: Iteration caps of the MCLP LP relaxation: interior point (tight bounds) and first-order method.
LP_IPM_ITERATIONS = 200
LP_PDLP_ITERATIONS = 20_000


# --------------------------------------------------------------------------------------------
# MCLP
# --------------------------------------------------------------------------------------------


@dataclass
class MaximalCoverage(_LocationModel):
    """Maximal covering location (MCLP, Church and ReVelle 1974): open ``p`` sites so that the
    demand weight within reach of an open site is maximal.

    Build with :meth:`from_tables` or :meth:`from_sparse`, then :meth:`solve`.
    """

    p: int = 1
    name: str = "maximal_coverage"

    @classmethod
    def from_tables(
        cls,
        demand: pd.DataFrame,
        candidates: pd.DataFrame,
        travel: pd.DataFrame,
        *,
        p: int,
        weight: str = "energy_kwh_day",
        max_travel_time_s: float | None = None,
    ) -> MaximalCoverage:
        """Build from tables.

        Parameters
        ----------
        demand
            Indexed by ``demand_id``; the ``weight`` column (e.g. ``energy_kwh_day`` [kWh/day]),
            optional ``segment`` and ``cutoff_s`` [s] (used in messages).
        candidates
            Indexed by ``site_id``; optional ``existing`` (bool) and ``excluded_reason``.
        travel
            Pairs ``demand_id``, ``site_id``, ``travel_time_s`` [s] within reach.
        p
            Number of open sites (existing ones included).
        weight
            Demand column to cover.
        max_travel_time_s
            Coverage radius [s]; default: every pair in ``travel`` is within reach.
        """
        t0 = time.perf_counter()
        inp = _inputs_from_tables(demand, candidates, travel, weight=weight, max_travel_time_s=max_travel_time_s)
        return cls(inputs=inp, p=int(p), build_time_s=time.perf_counter() - t0)

    @classmethod
    def from_sparse(
        cls,
        cover: sp.spmatrix | sp.sparray,
        weight: np.ndarray,
        *,
        p: int,
        demand_ids: pd.Index | None = None,
        site_ids: pd.Index | None = None,
        fixed: np.ndarray | None = None,
        forbidden: np.ndarray | None = None,
    ) -> MaximalCoverage:
        """Build from a sparse demand x candidate coverage matrix (non-zero = within reach).

        Parameters
        ----------
        cover
            Coverage matrix, ``n_demand x n_candidates``.
        weight
            Demand weights.
        p
            Number of open sites.
        demand_ids, site_ids
            Labels of rows and columns (default: positions).
        fixed
            Column positions that are always open.
        forbidden
            Boolean mask of columns that may not open.
        """
        t0 = time.perf_counter()
        inp = _inputs_from_sparse(cover, weight, demand_ids=demand_ids, site_ids=site_ids, fixed=fixed, forbidden=forbidden)
        return cls(inputs=inp, p=int(p), build_time_s=time.perf_counter() - t0)

    # ---- model pieces

    def _check(self) -> int:
        inp = self.inputs
        m = inp.cover.shape[1]
        if self.p < 1:
            raise InfeasibleError(f"p = {self.p}: at least one site must open; set p >= 1")
        if len(inp.fixed) > self.p:
            raise InfeasibleError(
                f"p = {self.p} is below the {len(inp.fixed)} existing sites that stay open; raise p to at least {len(inp.fixed)}"
            )
        usable = int((~inp.forbidden).sum())
        if usable < self.p:
            log.info("only %d usable candidates for p = %d; all of them may open", usable, self.p)
        return min(self.p, usable, m)

    def _reduced(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Coverage rows the optimiser works on: rows no usable candidate reaches are dropped and
        rows with the same coverage set are merged (weights add up); forbidden columns are emptied.

        Returns
        -------
        tuple
            Reduced matrix (rows x all candidate columns), its weights, and for each original
            row the reduced row it went to (-1 when dropped).
        """
        if "reduced" in self.__dict__.get("_cache", {}):
            return self._cache["reduced"]  # type: ignore[attr-defined]
        inp = self.inputs
        a = inp.cover.tocsr()
        if inp.forbidden.any():
            a = sp.csr_matrix(a.multiply((~inp.forbidden)[None, :].astype(float)))
            a.eliminate_zeros()
        keep = np.flatnonzero((np.diff(a.indptr) > 0) & (inp.weight > 0))
        merged, w, inv = _merge_identical_rows(a[keep], inp.weight[keep])
        row_map = -np.ones(a.shape[0], dtype=np.int64)
        row_map[keep] = inv
        self.__dict__.setdefault("_cache", {})["reduced"] = (merged, w, row_map)
        return merged, w, row_map

    def matrix_model(
        self, *, columns: np.ndarray | None = None, fixed_open: np.ndarray | None = None
    ) -> tuple[MatrixModel, np.ndarray, sp.csr_matrix]:
        """The MILP ``max w.z  s.t.  z_i <= sum_j a_ij x_j,  sum_j x_j <= p``, optionally restricted.

        Works on the reduced rows (see :meth:`_reduced`); restricting the columns merges more.

        Parameters
        ----------
        columns
            Candidate columns kept (default: all usable ones).
        fixed_open
            Columns forced open.

        Returns
        -------
        tuple
            The model, the kept column positions and the coverage rows of the model.
        """
        inp = self.inputs
        a, wr, _ = self._reduced()
        m = a.shape[1]
        keep_cols = np.flatnonzero(~inp.forbidden) if columns is None else np.asarray(columns, dtype=np.int64)
        sub = a[:, keep_cols].tocsr()
        rows = np.flatnonzero(np.diff(sub.indptr) > 0)
        sub, w, _ = _merge_identical_rows(sub[rows], wr[rows])
        n_r, n_c = sub.shape
        a_mat = sp.bmat([[sp.eye(n_r), -sub], [None, sp.csr_matrix(np.ones((1, n_c)))]]).tocsc()
        col_lower = np.zeros(n_r + n_c)
        pos = -np.ones(m, dtype=np.int64)
        pos[keep_cols] = np.arange(n_c)
        forced = np.concatenate([inp.fixed, np.zeros(0, dtype=np.int64) if fixed_open is None else fixed_open])
        forced = forced[pos[forced] >= 0]
        col_lower[n_r + pos[forced]] = 1.0
        model = MatrixModel(
            c=np.concatenate([w, np.zeros(n_c)]),
            a=a_mat,
            row_lower=np.full(n_r + 1, -np.inf),
            row_upper=np.concatenate([np.zeros(n_r), [float(self.p)]]),
            col_lower=col_lower,
            col_upper=np.ones(n_r + n_c),
            integer=np.concatenate([np.zeros(n_r, dtype=bool), np.ones(n_c, dtype=bool)]),
            maximize=True,
        )
        return model, keep_cols, sub

    def _warm(self, sub: sp.csr_matrix, keep_cols: np.ndarray, open_idx: np.ndarray) -> np.ndarray:
        n_r, n_c = sub.shape
        x = np.zeros(n_r + n_c)
        pos = -np.ones(self.inputs.cover.shape[1], dtype=np.int64)
        pos[keep_cols] = np.arange(n_c)
        op = pos[np.asarray(open_idx, dtype=np.int64)]
        x[n_r + op[op >= 0]] = 1.0
        x[:n_r] = (sub @ x[n_r:]) > 0
        return x

    # ---- solve

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 1e-4,
        method: Method = "auto",
        seed: int = 0,
        heuristic_moves: int = ANNEAL_MOVES,
        max_nodes: int = MAX_NODES,
    ) -> MaximalCoverage:
        """Solve and fill :attr:`sites`, :attr:`assignments` and :attr:`result`.

        Every step ends by a work cap (swap rounds, annealing moves, subgradient and
        interior-point iterations, branch-and-bound nodes), so the same inputs and seed give
        the same result on any machine; ``time_limit_s`` is a safety stop only, and a solve it
        ended says so (``result.wall_clock_stop``).

        Parameters
        ----------
        solver
            MILP solver: "highs" (default) or "cbc".
        time_limit_s
            Wall-clock safety stop of the whole solve [s].
        mip_gap
            Relative gap at which the search stops.
        method
            "auto" (heuristics + LP bound + reduced-cost fixing + MILP on the rest), "mip"
            (the MILP on the whole model, warm-started by greedy) or "heuristic" (no MILP;
            Lagrangian bound by subgradient).
        seed
            Seed of the randomised heuristics.
        heuristic_moves
            Annealing moves (the work cap of the annealing).
        max_nodes
            Branch-and-bound node limit of each MILP search.
        """
        t0 = time.perf_counter()
        inp = self.inputs
        p = self._check()
        a, w, _ = self._reduced()
        safety = heur.SafetyStop.after(time_limit_s)

        greedy = heur.greedy_max_cover(a, w, p, fixed=inp.fixed, forbidden=inp.forbidden)
        if method == "mip":
            model, cols, sub = self.matrix_model()
            res = solve(model, solver, time_limit_s=safety.left(), mip_gap=mip_gap,
                        warm_start=self._warm(sub, cols, greedy), max_nodes=max_nodes)
            if res.x is None:
                raise InfeasibleError(f"maximal coverage: {res.solver} found no solution ({res.status}); raise time_limit_s")
            open_idx = cols[np.flatnonzero(res.x[sub.shape[0]:] > 0.5)]
            res.objective = heur.covered_weight(a, w, open_idx)
            res.gap = relative_gap(res.objective, res.bound)
            res.status = _status(res.gap, mip_gap, res.wall_clock_stop)
            res.time_s = time.perf_counter() - t0
            self._finish(open_idx, res)
            return self

        open_idx, _ = heur.local_search_max_cover(
            a, w, greedy, fixed=inp.fixed, forbidden=inp.forbidden, perturb=False, safety=safety
        )
        best: dict[str, Any] = {"inc": (heur.covered_weight(a, w, open_idx), open_idx)}
        bound, lam = heur.max_cover_lagrangian_bound(
            a, w, p, lower_bound=best["inc"][0], fixed=inp.fixed, forbidden=inp.forbidden,
            max_iter=SUBGRADIENT_ITERATIONS, safety=safety,
        )
        notes = [f"greedy+swap {best['inc'][0]:.6g}", f"subgradient bound {bound:.6g}"]
        use_highs = solver in (None, "highs") and method == "auto"
        if use_highs:
            try:
                import highspy  # noqa: F401
            except ImportError:
                use_highs = False
        box: dict[str, Any] = {"notes": [], "wall": False}

        def open_gap() -> bool:
            return relative_gap(best["inc"][0], min(bound, box.get("bound", math.inf))) > mip_gap

        if open_gap():
            if use_highs:
                lam_lp = self._lp_step(best, box, tight=relative_gap(best["inc"][0], bound) < 0.01, safety=safety)
                if lam_lp is not None and box["bound"] < bound:
                    lam = lam_lp
            if open_gap():
                # iterated swap descent (strong when coverage areas barely overlap), then annealing
                ils_open, ils_stats = heur.local_search_max_cover(
                    a, w, best["inc"][1], fixed=inp.fixed, forbidden=inp.forbidden, seed=seed,
                    max_rounds=ILS_ROUNDS, safety=safety,
                )
                if ils_stats.objective > best["inc"][0]:
                    best["inc"] = (ils_stats.objective, ils_open)
            if open_gap():
                sa_open, sa_obj = heur.anneal_max_cover(
                    a, w, best["inc"][1], fixed=inp.fixed, forbidden=inp.forbidden, moves=heuristic_moves,
                    seed=seed, safety=safety,
                )
                if sa_obj > best["inc"][0]:
                    best["inc"] = (sa_obj, sa_open)
            if open_gap() and not use_highs:
                b2, lam2 = heur.max_cover_lagrangian_bound(
                    a, w, p, lower_bound=best["inc"][0], lam0=lam, fixed=inp.fixed, forbidden=inp.forbidden,
                    safety=safety,
                )
                if b2 < bound:
                    bound, lam = b2, lam2
            if open_gap() and method == "auto":
                self._restricted_mip(solver, best, box, lam, safety, mip_gap, max_nodes)
        notes += box["notes"]
        bound = min(bound, box.get("bound", math.inf))
        # polish: a last swap descent on the incumbent (cheap)
        pol, _ = heur.local_search_max_cover(a, w, best["inc"][1], fixed=inp.fixed, forbidden=inp.forbidden,
                                             perturb=False, safety=safety)
        pol_obj = heur.covered_weight(a, w, pol)
        if pol_obj > best["inc"][0]:
            best["inc"] = (pol_obj, pol)
        obj, open_idx = best["inc"]
        if _integral(w) and math.isfinite(bound):
            bound = math.floor(bound + 1e-6)  # integer weights: the optimum is an integer
        bound = max(bound, obj)
        gap = relative_gap(obj, bound)
        wall = safety.hit or box["wall"]
        res = SolveResult(
            status=_status(gap, mip_gap, wall),
            solver=("highs" if use_highs else (solver or "highs")) + "+heuristics",
            x=None,
            objective=obj,
            bound=bound,
            gap=gap,
            time_s=time.perf_counter() - t0,
            rows=a.shape[0],
            cols=a.shape[1],
            integer_cols=a.shape[1],
            log=notes,
            wall_clock_stop=wall,
        )
        log.info("MCLP: %s objective=%.6g bound=%.6g gap=%.3g%% in %.1f s (%s)", res.status, res.objective, bound,
                 100 * gap, res.time_s, "; ".join(notes))
        self._finish(open_idx, res)
        return self

    def _lp_step(self, best: dict[str, Any], box: dict[str, Any], *, tight: bool,
                 safety: heur.SafetyStop) -> np.ndarray | None:
        """The LP relaxation (interior point when the bound is already tight, first-order method
        otherwise, each capped by iterations); its duals, clipped to ``[0, w]``, give a valid
        Lagrangian bound whatever the LP's state. The LP solution is rounded (the p largest
        ``x_j``) and polished by a swap descent. Returns the multipliers (None without duals)."""
        inp = self.inputs
        a, w, _ = self._reduced()
        n, m = a.shape
        full = MatrixModel(
            c=np.concatenate([w, np.zeros(m)]),
            a=sp.bmat([[sp.eye(n), -a], [None, sp.csr_matrix(np.ones((1, m)))]]).tocsc(),
            row_lower=np.full(n + 1, -np.inf),
            row_upper=np.concatenate([np.zeros(n), [float(self.p)]]),
            col_lower=np.zeros(n + m),
            col_upper=np.concatenate([np.ones(n), np.where(inp.forbidden, 0.0, 1.0)]),
            integer=np.zeros(n + m, dtype=bool),
        )
        full.col_lower[n + inp.fixed] = 1.0
        if tight:
            lp = solve(full, "highs", time_limit_s=safety.left(), relax=True, lp_method="ipm",
                       lp_iteration_limit=LP_IPM_ITERATIONS)
        else:
            lp = solve(full, "highs", time_limit_s=safety.left(), relax=True, lp_method="pdlp",
                       lp_iteration_limit=LP_PDLP_ITERATIONS)
        box["wall"] = box["wall"] or lp.wall_clock_stop
        state = "solved" if lp.status == "optimal" else "stopped at its iteration cap"
        box["notes"].append(f"LP relaxation ({'interior point' if tight else 'first-order'}, {state}) "
                            f"in {lp.time_s:.1f} s")
        if lp.row_dual is None:
            return None
        lam = np.clip(np.abs(lp.row_dual[:n]), 0.0, w)
        bound = heur.max_cover_lagrangian_value(a, w, self.p, lam, fixed=inp.fixed, forbidden=inp.forbidden)
        box["bound"] = min(box.get("bound", math.inf), bound)
        box["notes"].append(f"LP bound {bound:.6g}")
        if lp.x is not None:
            # LP rounding: the p largest x_j, then a swap descent (often optimal when the LP is tight)
            x_lp = np.where(inp.forbidden, -1.0, lp.x[n:])
            x_lp[inp.fixed] = 2.0
            start = np.argsort(-x_lp, kind="stable")[: self.p]
            rounded, stats = heur.local_search_max_cover(
                a, w, start, fixed=inp.fixed, forbidden=inp.forbidden, perturb=False, safety=safety,
            )
            box["notes"].append(f"LP rounding {stats.objective:.6g}")
            if stats.objective > best["inc"][0]:
                best["inc"] = (stats.objective, rounded)
        return lam

    def _restricted_mip(self, solver: SolverName | None, best: dict[str, Any], box: dict[str, Any], lam: np.ndarray,
                        safety: heur.SafetyStop, mip_gap: float, max_nodes: int, max_free: int = 1200) -> bool:
        """Reduced-cost fixing with multipliers ``lam``, then the MILP on the columns left free.

        With ``L`` the Lagrangian bound and ``c = A^T lam``, forcing column ``j`` open bounds
        the objective by ``L - c_(p) + c_j`` (``j`` outside the top p) and forcing it closed by
        ``L - c_j + c_(p+1)`` (``j`` inside); a column whose bound is below the incumbent is
        fixed. Any solution better than the incumbent lies in the restricted problem, so its
        optimum is the global optimum and its bound (at least the incumbent) is a global bound.

        Returns
        -------
        bool
            True when the optimum was proven (``box`` then holds the solution and bound).
        """
        inp = self.inputs
        a, w, _ = self._reduced()
        lb, inc_open = best["inc"]
        lb = float(lb)
        c = np.asarray(a.T @ lam).ravel()
        c_eff = np.where(inp.forbidden, -np.inf, c)
        fixed_mask = np.zeros(len(c), dtype=bool)
        fixed_mask[inp.fixed] = True
        value = heur.max_cover_lagrangian_value(a, w, self.p, lam, fixed=inp.fixed, forbidden=inp.forbidden)
        _, top = _top_p_sum(c, self.p, fixed=inp.fixed, forbidden=inp.forbidden)
        in_top = np.zeros(len(c), dtype=bool)
        in_top[top] = True
        rest = np.where(in_top | fixed_mask, -np.inf, c_eff)
        c_next = max(float(rest.max()) if len(rest) else 0.0, 0.0)
        top_free = np.where(in_top & ~fixed_mask, c, np.inf)
        c_last = float(top_free.min()) if np.isfinite(top_free).any() else 0.0
        ub_open = np.where(in_top | fixed_mask, value, value - c_last + np.maximum(c, 0.0))
        ub_closed = np.where(in_top & ~fixed_mask, value - c + c_next, value)
        tol = 1e-9 * max(abs(lb), 1.0)
        to_zero = (ub_open < lb - tol) & ~fixed_mask
        to_one = (ub_closed < lb - tol) & ~inp.forbidden
        free_cols = np.flatnonzero(~to_zero & ~inp.forbidden)
        note = f"reduced-cost fixing at {lb:.6g}: {int(to_zero.sum())} closed, {int(to_one.sum())} open, {len(free_cols)} free"
        if len(free_cols) > max_free:
            log.debug("%s; restricted MILP skipped", note)
            return False
        if safety.expired():
            return False
        model, cols, sub = self.matrix_model(columns=free_cols, fixed_open=np.flatnonzero(to_one))
        res = solve(model, solver, time_limit_s=safety.left(), mip_gap=mip_gap, warm_start=self._warm(sub, cols, inc_open),
                    max_nodes=max_nodes)
        box["wall"] = box.get("wall", False) or res.wall_clock_stop
        box["notes"].append(f"{note}; restricted MILP {model.shape[0]}x{model.shape[1]}: {res.status} in {res.time_s:.1f} s")
        if res.x is not None:
            open_idx = cols[np.flatnonzero(res.x[sub.shape[0]:] > 0.5)]
            obj = heur.covered_weight(a, w, open_idx)
            if obj > best["inc"][0]:
                best["inc"] = (obj, open_idx)
        if math.isfinite(res.bound):
            box["bound"] = min(box.get("bound", math.inf), max(res.bound, lb))
        return res.status == "optimal"

def _merge_identical_rows(sub: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge rows with the same sparsity pattern (their weights add up).

    Returns
    -------
    tuple
        Merged matrix, merged weights, and the merged row of each input row.
    """
    if sub.shape[0] == 0:
        return sub, w, np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(12345)
    keys = rng.integers(1, 2**62, size=(sub.shape[1], 2), dtype=np.int64)
    # sums of random 62-bit keys (wrapping) identify a set; collisions are checked below
    row_of = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
    h = np.zeros((sub.shape[0], 2), dtype=np.int64)
    with np.errstate(over="ignore"):
        np.add.at(h[:, 0], row_of, keys[sub.indices, 0])
        np.add.at(h[:, 1], row_of, keys[sub.indices, 1])
    _, first, inv = np.unique(h, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    merged = sub[first]
    if (merged[inv] != sub).nnz:
        return sub, w, np.arange(sub.shape[0])  # a hash collision: keep the rows as they are
    return merged.tocsr(), np.bincount(inv, weights=w, minlength=len(first)), inv
