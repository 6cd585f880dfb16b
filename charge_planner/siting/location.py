"""Shared base of the classic location models (set covering, maximal covering, p-median): the
demand x candidate inputs built from tables or from a sparse matrix (:class:`_Inputs`), the
message naming the demand no candidate reaches (:func:`unreachable_message`), the result
handling common to the models (:class:`_LocationModel`: open sites, assignments, summary) and
the status of a solve from its proven gap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.ids import id_positions
from charge_planner.siting.search_tools import _csr
from charge_planner.siting.solve import SolveResult

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
    a = _csr(cover)
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
