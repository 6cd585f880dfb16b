"""Siting sections of the report: the table of sites, the generated depot candidates, and why demand
is unserved (one table row and one plain sentence per cause).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charge_planner.outputs.report_tables import segment_label
from charge_planner.outputs.views import (
    UNSERVED_LABELS,
    candidate_flag,
    fmt_num,
    fmt_pct,
    hosting_capacity_kw,
    hosting_reason,
    opening_years,
)

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

#: sites listed in the report (the full table is in sites.csv and plan.gpkg)
MAX_SITE_ROWS = 300


def depot_note(plan: Plan) -> str:
    """Why no tagged or generated depot candidate hosts the bus demand, for the unserved sentence ("" when
    the plan has tagged bus depots or stations)."""
    cand = plan.candidates
    if cand["kind"].isin(["bus_station", "bus_depot"]).any():
        return ""
    n = int((cand["flag"].astype(str) != "").sum()) if "flag" in cand.columns else 0
    if n:
        return f"the extract tags no bus depot or bus station, and the {n} generated depot candidate(s) do not reach it"
    if not plan.city.config.candidates.generate_depots:
        return ("the extract tags no bus depot or bus station, and generated depot candidates are off "
                "(candidates.generate_depots = false)")
    return ("the extract tags no bus depot or bus station and has no land for a generated depot candidate "
            "(depot, industrial, commercial or retail land or parking of at least candidates.depot_min_area_m2, "
            "or a bus route end)")


def generated_depots_context(plan: Plan) -> dict[str, Any] | None:
    """The generated depot candidates of the plan (flag, count, chosen ones), or None when there are none."""
    cand = plan.candidates
    if "flag" not in cand.columns:
        return None
    gen = cand[cand["flag"].astype(str) != ""]
    if gen.empty:
        return None
    chosen = [sid for sid in gen.index if sid in plan.sites.index]
    served = float(plan.sites.loc[chosen, "served_kwh_day"].sum()) if chosen and "served_kwh_day" in plan.sites else 0.0
    return {
        "flag": str(gen["flag"].iloc[0]),
        "n": len(gen),
        "sources": ", ".join(sorted({str(v).removeprefix("generated_depot:").replace("_", " ") for v in gen["source"]})),
        "chosen": [{"site_id": sid, "name": str(gen.at[sid, "name"])} for sid in chosen],
        "served": fmt_num(served),
    }


def site_rows(plan: Plan) -> list[dict[str, Any]]:
    """Rows of the site table, by opening year then served energy, at most :data:`MAX_SITE_ROWS`."""
    types = [t for t in plan.charger_types.index if f"chargers_{t}" in plan.sites.columns]
    hosting = hosting_capacity_kw(plan)
    years = opening_years(plan)
    sites = plan.sites.assign(_year=years).sort_values(["_year", "served_kwh_day"], ascending=[True, False])
    rows = []
    for sid, r in sites.head(MAX_SITE_ROWS).iterrows():
        rows.append({
            "site_id": sid,
            "name": r.get("name") or "",
            "kind": r.get("kind", ""),
            "flag": candidate_flag(plan, sid),
            "year": int(r["_year"]),
            "chargers": ", ".join(f"{int(r[f'chargers_{t}'])} × {t}" for t in types if r[f"chargers_{t}"] > 0),
            "power_kw": fmt_num(r.get("power_kw")),
            "served": fmt_num(r.get("served_kwh_day")),
            "utilisation": fmt_pct(r.get("utilisation")),
            "capex": fmt_num(r.get("capex_usd")),
            "capex_chargers": fmt_num(r.get("charger_capex_usd")) if "charger_capex_usd" in r.index else None,
            "connection": fmt_num(r.get("connection_cost_usd")) if "connection_cost_usd" in r.index else None,
            "band": str(r.get("connection_band") or ""),
            "bus": "" if pd.isna(r.get("bus_id", np.nan)) else r.get("bus_id"),
            "level": str(r.get("grid_level", "")).upper(),
            "hosting": fmt_num(hosting.get(sid)) if hosting is not None else None,
            "hosting_reason": hosting_reason(plan, r.get("bus_id")) if hosting is not None and hosting.get(sid) == 0
            else "",
        })
    return rows


def _segments_text(by_segment: Mapping[str, Any], cause: str) -> tuple[str, str]:
    """The segments with unserved energy of a cause, largest first, as words; and the largest one."""
    parts = sorted(((float(r.get(cause, 0.0)), seg) for seg, r in by_segment.items() if float(r.get(cause, 0.0)) > 0),
                   reverse=True)
    if not parts:
        return "", ""
    words = [f"{fmt_num(v)} kWh/day of {segment_label(seg)} demand" for v, seg in parts[:3]]
    if len(parts) > 3:
        words.append(f"{fmt_num(sum(v for v, _ in parts[3:]))} kWh/day of other segments")
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return text[:1].upper() + text[1:], parts[0][1]


def unserved_context(s: Mapping[str, Any], *, depot_note: str = "",
                     depot_segments: Collection[str] = ("bus",)) -> dict[str, Any] | None:
    """Table rows and one plain sentence per cause of the unserved demand (None when all is served);
    ``depot_note`` says why no depot candidate reaches the demand of ``depot_segments``, the segments
    whose chargers only bus depots and stations may host (see :func:`depot_note`)."""
    u = s.get("unserved") or {}
    by_cause = u.get("by_cause") or {}
    total = float(u.get("unserved_kwh_day") or 0.0)
    if total <= 0 or not by_cause:
        return None
    by_segment = u.get("by_segment", {})
    shares = u.get("share_of_demand", {})
    rows, sentences = [], []
    detail = u.get("out_of_capacity_detail", {})
    left = u.get("budget_left_usd")
    for cause, v in sorted(by_cause.items(), key=lambda kv: -float(kv[1])):
        v = float(v)
        if v <= 0:
            continue
        segs, top = _segments_text(by_segment, cause)
        one = len([1 for r in by_segment.values() if float(r.get(cause, 0.0)) > 0]) == 1
        has, is_ = ("has", "is") if one else ("have", "are")
        rows.append({"cause": UNSERVED_LABELS.get(cause, cause), "kwh_day": fmt_num(v),
                     "of_demand": fmt_pct(shares.get(cause), 1), "of_unserved": fmt_pct(v / total, 0),
                     "segments": ", ".join(segment_label(seg) for seg, r in by_segment.items() if float(r.get(cause, 0.0)) > 0)})
        if v / total < 0.01:
            continue  # only the main causes get a sentence
        if cause == "no_candidate":
            segs_with = {seg for seg, r in by_segment.items() if float(r.get(cause, 0.0)) > 0}
            fix = "add candidate sites there or lengthen the travel-time cut-off"
            heavy = segs_with & set(depot_segments)
            if heavy:
                fix = (f"add bus depot or bus station candidates (only those can host {' and '.join(sorted(heavy))} "
                       "chargers)" + ("; for the other segments, " + fix if segs_with - heavy else ""))
                if depot_note:
                    fix = depot_note + "; " + fix
            sentences.append(f"{segs} {has} no candidate site able to host a suitable charger within the "
                             f"travel-time cut-off in the extract, whatever the budget: {fix}.")
        elif cause == "not_in_nearest":
            sentences.append(f"{segs} {has} a suitable candidate within its cut-off, but only beyond the nearest "
                             "candidates the model keeps per demand point: raise siting.max_sites_per_demand.")
        elif cause == "out_of_budget":
            money = f" ({fmt_num(left)} USD)" if left is not None else ""
            sentences.append(f"{segs} {is_} reached only by sites the plan did not open, and the budget left{money} "
                             "cannot pay for any of them: raise siting.budget_usd to serve it.")
        elif cause == "not_opened":
            sentences.append(f"{segs} {is_} reached only by sites the plan did not open although the budget left would "
                             "pay for one: the solver stopped within its optimality gap (lower siting.mip_gap) or "
                             "another limit applied.")
        elif cause == "out_of_capacity":
            why = []
            if float(detail.get("site_full", 0.0)) > 0:
                why.append(f"{fmt_num(detail['site_full'])} kWh/day because the sites within reach already hold "
                           "siting.max_chargers_per_site chargers")
            if float(detail.get("budget", 0.0)) > 0:
                why.append(f"{fmt_num(detail['budget'])} kWh/day because the budget left cannot buy another charger")
            if float(detail.get("other", 0.0)) > 0:
                why.append(f"{fmt_num(detail['other'])} kWh/day though there was spare capacity or money for "
                           "another charger (solver gap or another limit)")
            sentences.append(f"{segs} {is_} within reach of an opened site but not served by its chargers"
                             + (f": {'; '.join(why)}." if why else "."))
    return {"rows": rows, "sentences": sentences, "total": fmt_num(total),
            "share": fmt_pct(u.get("unserved_share"), 1), "year": u.get("year")}
