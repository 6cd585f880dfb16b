"""Classic location models with one shape: set covering (LSCP) and maximal covering (MCLP).

The p-median model (:class:`~charge_planner.siting.pmedian.PMedian`) has the same shape and uses
the inputs and result handling defined here.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.ids import id_positions
from charge_planner.siting import heuristics as heur
from charge_planner.siting.solve import MatrixModel, SolveResult, SolverName, relative_gap, solve

log = logging.getLogger(__name__)

Method = Literal["auto", "mip", "heuristic"]


@dataclass
class _Inputs:
    """Demand x candidate data shared by the coverage models (positions, not ids)."""

    demand_ids: pd.Index
    site_ids: pd.Index
    weight: np.ndarray
    cover: sp.csr_matrix
    time_s: sp.csr_matrix | None
    fixed: np.ndarray
    forbidden: np.ndarray
    segment: np.ndarray | None = None
    cutoff_s: np.ndarray | None = None
    cost_usd: np.ndarray | None = None


def _inputs_from_tables(
    demand: pd.DataFrame,
    candidates: pd.DataFrame,
    travel: pd.DataFrame,
    *,
    weight: str,
    max_travel_time_s: float | None,
) -> _Inputs:
    for name, table, cols in (
        ("demand", demand, [weight]),
        ("travel", travel, ["demand_id", "site_id", "travel_time_s"]),
    ):
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise DataError(f"{name} table lacks column(s) {missing}; add them")
    w = demand[weight].to_numpy(dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError(f"demand column {weight!r} has negative or missing values; fix those rows")
    if demand.index.has_duplicates or candidates.index.has_duplicates:
        raise DataError("demand_id and site_id must be unique; drop the duplicated rows")
    rows = id_positions(travel["demand_id"], demand.index, "demand_id")
    cols = id_positions(travel["site_id"], candidates.index, "site_id")
    t = travel["travel_time_s"].to_numpy(dtype=float)
    ok = (rows >= 0) & (cols >= 0)
    if max_travel_time_s is not None:
        ok &= t <= max_travel_time_s
    rows, cols, t = rows[ok], cols[ok], t[ok]
    shape = (len(demand), len(candidates))
    # keep the shortest time of duplicated pairs; store time + 1 s so that 0 s stays a non-zero entry
    order = np.lexsort((t, cols, rows))
    rows, cols, t = rows[order], cols[order], t[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, t = rows[first], cols[first], t[first]
    time_s = sp.csr_matrix((t + 1.0, (rows, cols)), shape=shape)
    cover = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    fixed = (
        np.flatnonzero(candidates["existing"].fillna(False).astype(bool).to_numpy())
        if "existing" in candidates.columns
        else np.zeros(0, dtype=np.int64)
    )
    forbidden = (
        candidates["excluded_reason"].fillna("").astype(str).ne("").to_numpy()
        if "excluded_reason" in candidates.columns
        else np.zeros(len(candidates), dtype=bool)
    )
    forbidden[fixed] = False
    return _Inputs(
        demand_ids=demand.index,
        site_ids=candidates.index,
        weight=w,
        cover=cover,
        time_s=time_s,
        fixed=fixed,
        forbidden=forbidden,
        segment=demand["segment"].astype(str).to_numpy() if "segment" in demand.columns else None,
        cutoff_s=demand["cutoff_s"].to_numpy(dtype=float) if "cutoff_s" in demand.columns else None,
        cost_usd=candidates["fixed_cost_usd"].to_numpy(dtype=float) if "fixed_cost_usd" in candidates.columns else None,
    )


def _inputs_from_sparse(
    cover: sp.spmatrix | sp.sparray,
    weight: np.ndarray,
    *,
    demand_ids: pd.Index | None,
    site_ids: pd.Index | None,
    fixed: np.ndarray | None,
    forbidden: np.ndarray | None,
    cost: np.ndarray | None = None,
) -> _Inputs:
    a = heur._csr(cover)
    n, m = a.shape
    w = np.asarray(weight, dtype=float)
    if w.shape != (n,):
        raise DataError(f"weight has {w.size} values but the coverage matrix has {n} demand rows")
    if not np.isfinite(w).all() or (w < 0).any():
        raise DataError("weights must be finite and non-negative")
    return _Inputs(
        demand_ids=pd.Index(np.arange(n), name="demand_id") if demand_ids is None else pd.Index(demand_ids),
        site_ids=pd.Index(np.arange(m), name="site_id") if site_ids is None else pd.Index(site_ids),
        weight=w,
        cover=a,
        time_s=None,
        fixed=np.zeros(0, dtype=np.int64) if fixed is None else np.asarray(fixed, dtype=np.int64),
        forbidden=np.zeros(m, dtype=bool) if forbidden is None else np.asarray(forbidden, dtype=bool).copy(),
        cost_usd=None if cost is None else np.asarray(cost, dtype=float),
    )


def unreachable_message(inp: _Inputs, target: float, what: str = "coverage target") -> str:
    """One line naming the segment (or the demand share) that no candidate can reach."""
    a = inp.cover.tocsr()
    usable = np.ones(a.shape[1])
    usable[inp.forbidden] = 0.0
    reach = (a @ usable) > 0
    w = inp.weight
    total = float(w.sum())
    share_reach = float(w[reach].sum()) / total if total > 0 else 1.0
    detail = f"{1 - share_reach:.0%} of the demand weight has no usable candidate within reach"
    if inp.segment is not None:
        frame = pd.DataFrame({"seg": inp.segment, "w": w, "lost": np.where(reach, 0.0, w)})
        by = frame.groupby("seg")[["w", "lost"]].sum()
        by = by[by["lost"] > 0]
        if len(by):
            worst = (by["lost"] / by["w"]).idxmax()
            share = float(by.loc[worst, "lost"] / by.loc[worst, "w"])
            within = ""
            if inp.cutoff_s is not None:
                cut = inp.cutoff_s[inp.segment == worst]
                if len(cut):
                    within = f" within {float(np.median(cut)) / 60:.0f} min"
            detail = f"{share:.0%} of {str(worst).replace('_', '-')} demand has no candidate{within}"
    return (
        f"{what} {target:.0%} unreachable: {detail} (at most {share_reach:.1%} can be covered); "
        "lower the target, add candidate sites or lengthen the cut-off"
    )


@dataclass
class _LocationModel:
    """Common state and results of the coverage models."""

    inputs: _Inputs
    build_time_s: float = 0.0
    result: SolveResult | None = None
    sites: pd.DataFrame | None = None
    assignments: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "location"

    def _finish(self, open_idx: np.ndarray, result: SolveResult) -> None:
        """Fill :attr:`sites` and :attr:`assignments` from the open columns."""
        inp = self.inputs
        open_idx = np.unique(np.asarray(open_idx, dtype=np.int64))
        self.result = result
        n, m = inp.cover.shape
        is_open = np.zeros(m, dtype=bool)
        is_open[open_idx] = True
        # each demand row goes to its nearest open site (by travel time when known)
        dist = inp.time_s if inp.time_s is not None else inp.cover
        sub = sp.csr_matrix(dist.multiply(is_open[None, :].astype(float)))
        sub.eliminate_zeros()
        has = np.diff(sub.indptr) > 0
        rows = np.flatnonzero(has)
        if len(rows):
            coo = sub[rows].tocoo()
            order = np.lexsort((coo.col, coo.data, coo.row))
            r, c, v = coo.row[order], coo.col[order], coo.data[order]
            first = np.ones(len(r), dtype=bool)
            first[1:] = r[1:] != r[:-1]
            site_of = c[first]
            t_of = v[first] - 1.0 if inp.time_s is not None else np.full(first.sum(), np.nan)
        else:
            site_of = np.zeros(0, dtype=np.int64)
            t_of = np.zeros(0)
        w = inp.weight
        self.assignments = pd.DataFrame(
            {
                "demand_id": inp.demand_ids.to_numpy()[rows],
                "site_id": inp.site_ids.to_numpy()[site_of],
                "weight": w[rows],
                "travel_time_s": t_of,
            }
        )
        served = np.bincount(site_of, weights=w[rows], minlength=m)
        count = np.bincount(site_of, minlength=m)
        fixed = np.zeros(m, dtype=bool)
        fixed[inp.fixed] = True
        self.sites = pd.DataFrame(
            {"existing": fixed[open_idx], "demand_rows": count[open_idx], "weight": served[open_idx]},
            index=pd.Index(inp.site_ids.to_numpy()[open_idx], name="site_id"),
        )
        total = float(w.sum())
        self.meta.update(
            {
                "sites_open": int(len(open_idx)),
                "covered_weight": float(w[rows].sum()),
                "total_weight": total,
                "covered_share": float(w[rows].sum()) / total if total > 0 else 0.0,
            }
        )

    def summary(self) -> dict[str, Any]:
        """Solver status and key figures, JSON-serialisable."""
        if self.result is None:
            raise InfeasibleError(f"the {self.name} model has not been solved; call solve() first")
        res = self.result

        return {
            "model": self.name,
            **res.report(),
            "build_time_s": round(self.build_time_s, 3),
            "demand_rows": int(self.inputs.cover.shape[0]),
            "candidates": int(self.inputs.cover.shape[1]),
            "pairs": int(self.inputs.cover.nnz),
            **self.meta,
        }


def _integral(values: np.ndarray) -> bool:
    v = np.asarray(values, dtype=float)
    return bool(np.all(np.abs(v - np.round(v)) <= 1e-9 * np.maximum(np.abs(v), 1.0)))


def _status(gap: float, mip_gap: float, wall_clock_stop: bool = False) -> str:
    """"optimal" within the gap, else "time_limit" when the safety stop ended a step, else "feasible"."""
    if gap <= max(mip_gap, 1e-9) * (1 + 1e-9):
        return "optimal"
    return "time_limit" if wall_clock_stop else "feasible"


#: Branch-and-bound node limit of each MILP search of the coverage models (a work cap).
MAX_NODES = 1000
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
        _, top = heur._top_p_sum(c, self.p, fixed=inp.fixed, forbidden=inp.forbidden)
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


# --------------------------------------------------------------------------------------------
# LSCP
# --------------------------------------------------------------------------------------------


@dataclass
class SetCovering(_LocationModel):
    """Location set covering (LSCP, Toregas et al. 1971): the cheapest set of sites that covers
    the demand (every reachable row, or a target share of the demand weight).

    Build with :meth:`from_tables` or :meth:`from_sparse`, then :meth:`solve`.
    """

    coverage_target: float = 1.0
    name: str = "set_covering"

    @classmethod
    def from_tables(
        cls,
        demand: pd.DataFrame,
        candidates: pd.DataFrame,
        travel: pd.DataFrame,
        *,
        coverage_target: float = 1.0,
        weight: str = "energy_kwh_day",
        cost: str | None = None,
        max_travel_time_s: float | None = None,
        site_power_kw: str | None = None,
        site_cost_bands: pd.DataFrame | Sequence[tuple[float, float]] | None = None,
    ) -> SetCovering:
        """Build from tables.

        Parameters
        ----------
        demand, candidates, travel, weight, max_travel_time_s
            As in :meth:`MaximalCoverage.from_tables`.
        coverage_target
            Share of the demand weight that must be within reach of an open site [0-1];
            an unreachable target raises :class:`~charge_planner.errors.InfeasibleError`
            naming the segment that falls short.
        cost
            Candidate column with the cost of opening a site (e.g. ``fixed_cost_usd``);
            default: every site costs 1 (minimise the number of sites), or nothing but its
            connection when ``site_cost_bands`` is given.
        site_power_kw
            Candidate column with the power each site would install [kW] (set covering decides
            no chargers); needed with ``site_cost_bands``.
        site_cost_bands
            Connection cost by installed power band (as in
            :meth:`~charge_planner.siting.capacitated.CapacitatedSiting.from_tables`): each site's
            cost is ``cost`` plus the cost of the band of its ``site_power_kw``, priced by
            :func:`~charge_planner.siting.heuristics.connection_cost` like the capacitated model.
        """
        t0 = time.perf_counter()
        inp = _inputs_from_tables(demand, candidates, travel, weight=weight, max_travel_time_s=max_travel_time_s)
        inp.cost_usd = candidates[cost].to_numpy(dtype=float) if cost is not None else np.ones(len(candidates))
        if site_cost_bands is not None:
            if site_power_kw is None or site_power_kw not in candidates.columns:
                raise DataError("site_cost_bands needs site_power_kw, the candidate column with the power each site "
                                "would install [kW]; add it")
            kw = candidates[site_power_kw].to_numpy(dtype=float)
            if np.isnan(kw).any() or (kw < 0).any():
                raise DataError(f"candidates {site_power_kw} has negative or missing values; give each site's power [kW]")
            max_kw, band_usd = heur.band_table(site_cost_bands)
            base = inp.cost_usd if cost is not None else np.zeros(len(candidates))
            inp.cost_usd = base + heur.connection_cost(kw, max_kw, band_usd)
        if not 0 < coverage_target <= 1:
            raise DataError(f"coverage_target = {coverage_target}: give a share in (0, 1]")
        return cls(inputs=inp, coverage_target=float(coverage_target), build_time_s=time.perf_counter() - t0)

    @classmethod
    def from_sparse(
        cls,
        cover: sp.spmatrix | sp.sparray,
        weight: np.ndarray | None = None,
        *,
        cost: np.ndarray | None = None,
        coverage_target: float = 1.0,
        demand_ids: pd.Index | None = None,
        site_ids: pd.Index | None = None,
        fixed: np.ndarray | None = None,
        forbidden: np.ndarray | None = None,
    ) -> SetCovering:
        """Build from a sparse coverage matrix (see :meth:`MaximalCoverage.from_sparse`);
        ``cost`` per column (default 1) and ``weight`` per row (default 1)."""
        t0 = time.perf_counter()
        n, m = cover.shape
        inp = _inputs_from_sparse(
            cover, np.ones(n) if weight is None else weight, demand_ids=demand_ids, site_ids=site_ids, fixed=fixed,
            forbidden=forbidden, cost=np.ones(m) if cost is None else cost,
        )
        return cls(inputs=inp, coverage_target=float(coverage_target), build_time_s=time.perf_counter() - t0)

    def solve(
        self,
        solver: SolverName | None = None,
        *,
        time_limit_s: float = 60.0,
        mip_gap: float = 1e-4,
        method: Method = "auto",
        seed: int = 0,
        max_nodes: int = MAX_NODES,
    ) -> SetCovering:
        """Solve (greedy warm start, then the MILP unless ``method="heuristic"``).

        Parameters
        ----------
        solver, time_limit_s, mip_gap, method, seed, max_nodes
            As in :meth:`MaximalCoverage.solve` (``seed`` is unused: the heuristics here are
            deterministic).
        """
        t0 = time.perf_counter()
        inp = self.inputs
        a = inp.cover.tocsr()
        w = inp.weight
        n, m = a.shape
        cost = np.asarray(inp.cost_usd if inp.cost_usd is not None else np.ones(m), dtype=float)
        if (cost < 0).any():
            raise DataError("site costs must be non-negative")
        usable = np.where(inp.forbidden, 0.0, 1.0)
        reach = (a @ usable) > 0
        total = float(w.sum())
        reach_share = float(w[reach].sum()) / total if total > 0 else 1.0
        partial = self.coverage_target < 1.0
        if reach_share + 1e-12 < self.coverage_target or (not partial and not reach.all()):
            raise InfeasibleError(unreachable_message(inp, self.coverage_target))
        need_w = self.coverage_target * total
        # greedy: full cover of the reachable rows, or cheapest columns per newly covered weight
        if not partial:
            greedy = heur.greedy_set_cover(a, np.maximum(cost, 1e-9), fixed=inp.fixed, forbidden=inp.forbidden)
        else:
            greedy = self._greedy_partial(a, w, cost, need_w)
        # MILP: min c.x  s.t.  sum_j a_ij x_j >= 1 (full) or z_i <= sum_j a_ij x_j, w.z >= target (partial)
        cols = np.flatnonzero(~inp.forbidden)
        sub = a[:, cols].tocsr()
        if not partial:
            rows = np.flatnonzero(reach)
            sub_r = sub[rows]
            a_mat = sub_r.tocsc()
            model = MatrixModel(
                c=cost[cols], a=a_mat, row_lower=np.ones(len(rows)), row_upper=np.full(len(rows), np.inf),
                col_lower=np.zeros(len(cols)), col_upper=np.ones(len(cols)), integer=np.ones(len(cols), dtype=bool),
                maximize=False,
            )
            x_off = 0
        else:
            rows = np.flatnonzero(reach)
            sub_r = sub[rows]
            nr = len(rows)
            a_mat = sp.bmat([[sp.eye(nr), -sub_r], [sp.csr_matrix(w[rows][None, :]), None]]).tocsc()
            model = MatrixModel(
                c=np.concatenate([np.zeros(nr), cost[cols]]), a=a_mat,
                row_lower=np.concatenate([np.full(nr, -np.inf), [need_w * (1 - 1e-12)]]),
                row_upper=np.concatenate([np.zeros(nr), [np.inf]]),
                col_lower=np.zeros(nr + len(cols)), col_upper=np.ones(nr + len(cols)),
                integer=np.concatenate([np.zeros(nr, dtype=bool), np.ones(len(cols), dtype=bool)]),
                maximize=False,
            )
            x_off = nr
        pos = -np.ones(m, dtype=np.int64)
        pos[cols] = np.arange(len(cols))
        model.col_lower[x_off + pos[inp.fixed[pos[inp.fixed] >= 0]]] = 1.0
        warm = np.zeros(model.shape[1])
        warm[x_off + pos[greedy]] = 1.0
        if partial:
            warm[:x_off] = (sub_r @ warm[x_off:]) > 0
        greedy_cost = float(cost[greedy].sum())
        if method == "heuristic":
            res = SolveResult(status="feasible", solver="heuristic", x=None, objective=greedy_cost, bound=math.nan,
                              gap=math.inf, time_s=time.perf_counter() - t0, rows=model.shape[0], cols=model.shape[1])
            self._finish(greedy, res)
            return self
        res = solve(model, solver, time_limit_s=time_limit_s, mip_gap=mip_gap, warm_start=warm, max_nodes=max_nodes)
        if res.x is None:
            if res.status == "infeasible":
                raise InfeasibleError(unreachable_message(inp, self.coverage_target))
            res.x, res.objective = warm, greedy_cost
        open_idx = cols[np.flatnonzero(res.x[x_off:] > 0.5)]
        if float(cost[open_idx].sum()) > greedy_cost + 1e-9:
            open_idx = greedy
        res.objective = float(cost[open_idx].sum())
        res.gap = relative_gap(res.objective, res.bound)
        res.status = _status(res.gap, mip_gap, res.wall_clock_stop)
        res.time_s = time.perf_counter() - t0
        self._finish(open_idx, res)
        self.meta["cost"] = res.objective
        return self

    def _greedy_partial(self, a: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, need_w: float) -> np.ndarray:
        inp = self.inputs
        at = a.T.tocsr()
        m = a.shape[1]
        is_open = np.zeros(m, dtype=bool)
        is_open[inp.fixed] = True
        cnt = np.asarray(a @ is_open.astype(float)).ravel()
        while float(w[cnt > 0].sum()) < need_w * (1 - 1e-12):
            gain = np.asarray(at @ np.where(cnt == 0, w, 0.0)).ravel()
            ratio = np.where((gain > 0) & ~is_open & ~inp.forbidden, gain / np.maximum(cost, 1e-9), -np.inf)
            j = int(np.argmax(ratio))
            if not np.isfinite(ratio[j]):
                break
            is_open[j] = True
            cnt[at.indices[at.indptr[j] : at.indptr[j + 1]]] += 1
        return np.flatnonzero(is_open)

