"""Why demand stays unserved: the unserved energy of a solved :class:`CapacitatedSiting`, split by cause.

Every demand row of every rollout year gets its unserved energy ``d_i - served_i`` [kWh/day]
and exactly one cause, so that the causes sum to the unserved total:

``no_candidate``
    No usable candidate site that may host a charger type serving the row's segment (and use
    case) lies within the segment's travel-time cut-off: no budget can serve it (no eligible
    candidate). Add candidates (e.g. bus depots; ``[candidates] generate_depots`` proposes some on
    OSM land when the extract tags none) or lengthen the cut-off.
``not_in_nearest``
    Such a candidate lies within the cut-off, but not among the ``max_sites_per_demand``
    nearest candidates the model keeps per row (only known when the full travel table is given).
``out_of_budget``
    Only unopened candidates reach the row, and the budget left in that year is below the
    cost of the cheapest of them (its fixed cost, the connection band of one compatible charger, and
    that charger).
``not_opened``
    Only unopened candidates reach the row, and the budget left would have paid for one of
    them: the solver chose otherwise within its optimality gap, or a grid headroom limit applied.
``out_of_capacity``
    An opened site reaches the row, but the chargers there do not serve all of it. The detail
    (column ``detail``) says why: ``site_full`` (every opened site within reach has its maximum
    number of chargers and the budget left would pay for another charger), ``budget`` (the budget
    left is below the price of one more compatible charger and of any reachable unopened site) or
    ``other`` (a charger within reach had spare capacity, or there was room and money for another
    charger or site: the solver stopped within its optimality gap, or a grid headroom limit applied).

Whether the budget could pay is checked against the slack of the model's budget rows in the
solution: with carry-over, the cumulative row of that year and of every later year must pay for
what the plan does not yet have in that year (a site the plan opens later costs only the years
before it opens); without carry-over, the purchase is paid in the row of that year or an earlier
one (it persists). ``budget_left_usd`` reports, per year, the largest amount a purchase kept from
that year on could still use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from charge_planner.errors import InfeasibleError
from charge_planner.ids import id_positions

if TYPE_CHECKING:
    from charge_planner.siting.capacitated import CapacitatedSiting

log = logging.getLogger(__name__)

#: The causes, in the order reports list them.
CAUSES = ("no_candidate", "not_in_nearest", "out_of_budget", "not_opened", "out_of_capacity")
#: Details of ``out_of_capacity``.
CAPACITY_DETAILS = ("site_full", "budget", "other")

#: Unserved energy below this share of a row's demand counts as served (solver tolerance).
_TOL = 1e-7


def _budget_slack(model: CapacitatedSiting) -> np.ndarray:
    """Slack of the model's budget rows in the solution [USD], one per rollout year."""
    res = model.result
    if res is None or res.x is None:
        raise InfeasibleError("the model has not been solved; call solve() first")
    b0, b1 = model.index["budget_rows"]
    act = model.model.a.tocsr()[b0:b1] @ res.x
    return np.maximum(model.model.row_upper[b0:b1] - act, 0.0)


def budget_left_usd(model: CapacitatedSiting) -> np.ndarray:
    """Budget a purchase made in each rollout year could still use [USD], one value per year."""
    slack = _budget_slack(model)
    if model.index["carry_over"]:
        return np.minimum.accumulate(slack[::-1])[::-1]  # a purchase in year k counts in rows k, k+1, ...
    return np.maximum.accumulate(slack)  # bought in year k or earlier, it counts in that year's row only


def _affordable(slack: np.ndarray, carry_over: bool, k: np.ndarray, fixed: np.ndarray, charger: np.ndarray,
                fixed_until: np.ndarray, charger_until: np.ndarray) -> np.ndarray:
    """Whether a purchase for year ``k`` fits the budget rows: a site's fixed cost and one charger, bought
    in year ``k`` where the plan has them only from year ``fixed_until`` / ``charger_until`` on (K: never).

    With carry-over, the cumulative row of every year ``r >= k`` pays for what the plan does not yet
    have in year ``r``; without, the purchase is paid in the incremental row of one year ``<= k``.
    """
    tol = slack * 1e-9 + 1e-6
    if not carry_over:
        return fixed + charger <= np.maximum.accumulate(slack + tol)[k]
    ok = np.ones(len(k), dtype=bool)
    for r in range(len(slack)):
        need = np.where(r >= k, fixed * (r < fixed_until) + charger * (r < charger_until), 0.0)
        ok &= need <= slack[r] + tol[r]
    return ok


def unserved_demand(model: CapacitatedSiting, travel: pd.DataFrame | None = None) -> pd.DataFrame:
    """Unserved energy of every demand row and year, with its cause.

    Parameters
    ----------
    model
        A solved :class:`CapacitatedSiting`.
    travel
        The full travel table the model was built from (``demand_id``, ``site_id``); with it,
        rows whose compatible candidates were all dropped by ``max_sites_per_demand`` are told
        apart (``not_in_nearest``) from rows with none within the cut-off (``no_candidate``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``demand_id``: ``year``, ``segment``, ``use_case`` (when the demand has it),
        ``demand_kwh_day``, ``served_kwh_day``, ``unserved_kwh_day`` [kWh/day], ``cause`` (one of
        :data:`CAUSES`, "" when fully served), ``detail`` (of ``out_of_capacity``, else "") and
        ``budget_left_usd`` [USD] of the row's year.
    """
    res = model.result
    if res is None or res.x is None:
        raise InfeasibleError("the model has not been solved; call solve() first")
    ix = model.index
    x = res.x
    y0, n0, x0 = ix["cols"]
    K = ix["n_years"]
    c_site = ix["n_site_idx"]
    n_site, n_pairs = len(model.candidates), len(c_site)
    x_dem, x_site, x_type, pair_x = ix["x_dem"], ix["x_site"], ix["x_type"], ix["pair_x"]
    dem_k = ix["dem_k"]
    d = model.demand["energy_kwh_day"].to_numpy(dtype=float)
    n_dem = len(d)
    cap, capex, fixed, max_ch = ix["cap"], ix["capex"], ix["fixed_eff"], ix["max_ch"]
    col_upper = model.model.col_upper

    y = np.round(x[y0:n0]).reshape(n_site, K)
    nv = np.round(x[n0:x0]).reshape(n_pairs, K)
    n_up = col_upper[n0:x0].reshape(n_pairs, K)
    y_up = col_upper[y0:n0].reshape(n_site, K)
    xv = np.clip(x[x0:x0 + len(x_dem)], 0.0, 1.0)
    served_x = d[x_dem] * xv
    served = np.bincount(x_dem, weights=served_x, minlength=n_dem)
    unserved = np.maximum(d - served, 0.0)
    left = budget_left_usd(model)

    site_n = np.zeros((n_site, K))
    np.add.at(site_n, c_site, nv)
    opened = (y > 0.5) | (site_n > 0.5)

    k_x = dem_k[x_dem]
    load = np.zeros((n_pairs, K))
    np.add.at(load, (pair_x, k_x), served_x)
    n_e = nv[pair_x, k_x]
    usable = (n_up[pair_x, k_x] >= 1.0 - 1e-9) & (y_up[x_site, k_x] >= 1.0 - 1e-9)
    is_open = usable & opened[x_site, k_x]
    spare = is_open & (n_e >= 0.5) & (cap[x_type] * n_e - load[pair_x, k_x] > 1e-6 * np.maximum(cap[x_type] * n_e, 1.0))
    room = is_open & (n_e + 1 <= n_up[pair_x, k_x] + 1e-9) & (site_n[x_site, k_x] + 1 <= max_ch[x_site] + 1e-9)
    avail = left[k_x] * (1 + 1e-9) + 1e-6
    slack, carry = _budget_slack(model), bool(ix["carry_over"])
    yr = np.arange(K)
    # first year each site is open, and each (site, type) has a charger / more chargers than in year k
    open_from = np.where(opened.any(axis=1), np.argmax(opened, axis=1), K)
    has_n = nv >= 0.5
    charger_from = np.where(has_n.any(axis=1), np.argmax(has_n, axis=1), K)
    more = nv[pair_x] > n_e[:, None] + 0.5  # n_x x K
    more &= yr[None, :] > k_x[:, None]
    more_from = np.where(more.any(axis=1), np.argmax(more, axis=1), K)
    zero = np.zeros(len(x_dem))

    def any_of(mask: np.ndarray) -> np.ndarray:
        return np.bincount(x_dem[mask], minlength=n_dem) > 0

    has_usable = any_of(usable)
    has_open = any_of(is_open)
    has_spare = any_of(spare)
    unopened = usable & ~opened[x_site, k_x]
    # a new site pays the connection band its first charger of this type needs (a 240 kW charger
    # needs a higher band than the lowest one)
    power = model.charger_types["power_kw"].to_numpy(dtype=float)
    open_fixed = ix["band"].open_cost(x_site, power[x_type]) if "band" in ix else fixed[x_site]
    afford_new = any_of(unopened & _affordable(slack, carry, k_x, open_fixed, capex[x_type], open_from[x_site],
                                               charger_from[pair_x]))
    afford_room = any_of(room & _affordable(slack, carry, k_x, zero, capex[x_type], zero + K, more_from))
    has_room = any_of(room)
    afford_charger = any_of(is_open & (capex[x_type] <= avail))

    cause = np.full(n_dem, "", dtype=object)
    detail = np.full(n_dem, "", dtype=object)
    short = unserved > _TOL * np.maximum(d, 1e-9)
    unserved = np.where(short, unserved, 0.0)

    none = short & ~has_usable
    cause[none] = "no_candidate"
    if travel is not None and none.any():
        cause[none & _compatible_in_travel(model, travel)] = "not_in_nearest"
    closed = short & has_usable & ~has_open
    cause[closed] = np.where(afford_new[closed], "not_opened", "out_of_budget")
    full = short & has_open
    cause[full] = "out_of_capacity"
    other = has_spare | afford_room | afford_new
    detail[full] = np.where(other[full], "other",
                            np.where(has_room[full] | ~afford_charger[full], "budget", "site_full"))

    out = pd.DataFrame({
        "year": np.asarray(model.years)[dem_k],
        "segment": model.demand["segment"].astype(str).to_numpy(),
    }, index=model.demand.index)
    if "use_case" in model.demand.columns:
        out["use_case"] = model.demand["use_case"].astype(str).to_numpy()
    out["demand_kwh_day"] = d
    out["served_kwh_day"] = d - np.where(short, d - served, 0.0)
    out["unserved_kwh_day"] = unserved
    out["cause"] = cause
    out["detail"] = detail
    out["budget_left_usd"] = left[dem_k] if n_dem else np.zeros(0)
    return out


def _compatible_in_travel(model: CapacitatedSiting, travel: pd.DataFrame) -> np.ndarray:
    """Rows with a travel pair (within the cut-off) to a usable candidate that may host a type serving them."""
    ix = model.index
    K = ix["n_years"]
    y0, n0, x0 = ix["cols"]
    n_site, n_dem = len(model.candidates), len(model.demand)
    types = ix["types"]
    c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
    dem_k = ix["dem_k"]
    p_dem = id_positions(travel["demand_id"], model.demand.index, "demand_id")
    p_site = id_positions(travel["site_id"], model.candidates.index, "site_id")
    ok = (p_dem >= 0) & (p_site >= 0)
    p_dem, p_site = p_dem[ok], p_site[ok]
    n_up = model.model.col_upper[n0:x0].reshape(len(c_site), K)
    y_up = model.model.col_upper[y0:n0].reshape(n_site, K)
    host = np.zeros((n_site, len(types), K), dtype=bool)  # site may hold a charger of the type that year
    host[c_site, c_type] = (n_up >= 1.0 - 1e-9) & (y_up[c_site] >= 1.0 - 1e-9)
    seg = model.demand["segment"].astype(str).to_numpy()
    ct = model.charger_types
    use = model.demand["use_case"].astype(str).to_numpy() if (
        "use_case" in model.demand.columns and "use_cases" in ct.columns) else None
    found = np.zeros(n_dem, dtype=bool)
    k = dem_k[p_dem]
    for t_i, t in enumerate(types):
        serves = np.isin(seg[p_dem], list(ct.loc[t, "segments"]))
        if use is not None:
            serves &= np.isin(use[p_dem], list(ct.loc[t, "use_cases"]))
        hit = serves & host[p_site, t_i, k]
        found[p_dem[hit]] = True
    return found


#: One line per cause, for summaries and reports.
CAUSE_TEXT = {
    "no_candidate": "no eligible candidate: no candidate site that may host a charger type serving it (for buses, "
                    "a bus depot, bus station or generated depot candidate) within the travel-time cut-off",
    "not_in_nearest": "a suitable candidate lies within the cut-off but beyond the nearest candidates the model "
                      "keeps per demand point (siting.max_sites_per_demand)",
    "out_of_budget": "only unopened sites reach it and the budget left cannot pay for any of them",
    "not_opened": "only unopened sites reach it although the budget left would pay for one (solver gap or grid limits)",
    "out_of_capacity": "an opened site reaches it but its chargers are full",
}


def unserved_summary(table: pd.DataFrame, year: int | None = None) -> dict[str, object]:
    """JSON-serialisable summary of :func:`unserved_demand` for one year (default: the last).

    ``by_cause`` and each entry of ``by_segment`` and ``by_use_case`` give kWh/day per cause;
    ``share_of_demand`` gives each cause as a share of the year's demand. The causes sum to
    ``unserved_kwh_day``.
    """
    if year is None:
        year = int(table["year"].max()) if len(table) else 0
    t = table[table["year"] == year]
    demand = float(t["demand_kwh_day"].sum())
    unserved = float(t["unserved_kwh_day"].sum())

    def causes(part: pd.DataFrame) -> dict[str, float]:
        by = part.groupby("cause")["unserved_kwh_day"].sum()
        return {c: round(float(by.get(c, 0.0)), 4) for c in CAUSES}

    def share(v: float) -> float | None:
        return round(v / demand, 6) if demand > 0 else None

    by_cause = causes(t)
    cap = t[t["cause"] == "out_of_capacity"].groupby("detail")["unserved_kwh_day"].sum()
    out: dict[str, object] = {
        "year": int(year),
        "demand_kwh_day": round(demand, 4),
        "unserved_kwh_day": round(unserved, 4),
        "unserved_share": share(unserved),
        "by_cause": by_cause,
        "share_of_demand": {c: share(float(t.loc[t["cause"] == c, "unserved_kwh_day"].sum())) for c in CAUSES},
        "out_of_capacity_detail": {d: round(float(cap.get(d, 0.0)), 4) for d in CAPACITY_DETAILS},
        "budget_left_usd": round(float(t["budget_left_usd"].iloc[0]), 2) if len(t) else None,
        "by_segment": {},
        "definitions": dict(CAUSE_TEXT),
    }
    for seg, part in t.groupby("segment", sort=True):
        dem = float(part["demand_kwh_day"].sum())
        uns = float(part["unserved_kwh_day"].sum())
        out["by_segment"][str(seg)] = {  # type: ignore[index]
            "demand_kwh_day": round(dem, 4), "unserved_kwh_day": round(uns, 4),
            "unserved_share": round(uns / dem, 6) if dem > 0 else None, **causes(part),
        }
    if "use_case" in t.columns and t["use_case"].nunique() > 1:
        out["by_use_case"] = {
            f"{seg}/{use}": {"demand_kwh_day": round(float(part["demand_kwh_day"].sum()), 4),
                             "unserved_kwh_day": round(float(part["unserved_kwh_day"].sum()), 4), **causes(part)}
            for (seg, use), part in t.groupby(["segment", "use_case"], sort=True)
        }
    years = sorted(int(v) for v in table["year"].unique())
    if len(years) > 1:
        out["by_year"] = {str(y): causes(table[table["year"] == y]) for y in years}
    return out
