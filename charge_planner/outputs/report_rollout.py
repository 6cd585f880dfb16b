"""The report's section "Grid-safe rollout": the grid check of every year of the rollout, the rounds of
the grid-aware siting (what each found violated and what it cost) and the reinforcements, paid from the
plan's budget or by the utility.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from charge_planner.outputs.views import fmt_num, fmt_pct

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

__all__ = ["rollout_context"]

_KINDS = ("public", "home", "depot")


def _group_name(plan: Plan, group_id: str) -> str:
    """A reinforced group in words: "DT area of transformer 803 (DT791 400 kVA)", "MV network of substation
    transformer 4"."""
    kind, _, trafo = str(group_id).partition(":")
    what = {"dt": "DT area of transformer", "mv": "MV network of substation transformer"}.get(kind, "group")
    name = ""
    grid = plan.grid
    if grid is not None and trafo.isdigit() and int(trafo) in grid.net.trafo.index and "name" in grid.net.trafo:
        raw = grid.net.trafo.at[int(trafo), "name"]
        name = f" ({raw})" if isinstance(raw, str) and raw else ""
    return f"{what} {trafo}{name}"


def _by_year_text(by_year: Mapping[str, int]) -> str:
    hit = [f"{y}: {n}" for y, n in by_year.items() if n]
    return ", ".join(hit) if hit else "none"


def rollout_context(plan: Plan, s: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's sentences and tables; None when the grid was checked in one year only and the
    siting was grid-blind."""
    grid = s.get("grid") or {}
    years: Mapping[str, Mapping[str, Any]] = grid.get("years") or {}
    aware = s.get("grid_aware")
    if len(years) < 2 and not aware:
        return None
    year_rows = []
    for y, r in sorted(years.items(), key=lambda kv: int(kv[0])):
        on_grid = r.get("ev_kwh_day_on_grid") or {}
        built_in = int(r["sites_of_rollout_year"])
        year_rows.append({
            "year": y, "sites": str(built_in) if built_in == int(y) else f"{built_in} (between rollout years)",
            **{k: fmt_num(on_grid.get(k)) if k in on_grid else "—" for k in _KINDS},
            "vm_min": fmt_num(r.get("vm_min_pu"), 3), "trafo_max": fmt_num(r.get("trafo_loading_max_percent")),
            "violations": int(r.get("violations", 0)),
        })
    between = any(int(r["sites_of_rollout_year"]) != int(y) for y, r in years.items())
    ctx: dict[str, Any] = {"years": year_rows, "between": between, "aware": bool(aware)}
    if not aware:
        return ctx
    rounds = list(aware.get("iterations") or [])
    ctx["rounds"] = [{
        "round": int(r["iteration"]), "violations": int(r["violations"]),
        "by_year": _by_year_text(r.get("violations_by_year") or {}), "served": fmt_pct(r.get("served_share"), 1),
        "capex": fmt_num(r.get("capex_usd")), "reinforcement": fmt_num(r.get("reinforcement_usd")),
        "utility": fmt_num(r.get("utility_reinforcement_usd")), "sites": int(r.get("sites_open", 0)),
        "moved": f"+{r['n_opened']} / -{r['n_closed']}" if int(r["iteration"]) else "—",
    } for r in rounds]
    works = []
    for paid_by, records in (("plan budget", aware.get("reinforcement") or []),
                             ("utility", aware.get("utility_reinforcement") or [])):
        for w in records:
            works.append({"where": _group_name(plan, w.get("group_id", "")), "option": w.get("option", ""),
                          "year": w.get("year", ""), "added_kw": fmt_num(w.get("added_kw")),
                          "cost": fmt_num(w.get("cost_usd")), "paid_by": paid_by})
    ctx["works"] = sorted(works, key=lambda w: (str(w["year"]), w["paid_by"], w["where"]))
    last = rounds[-1] if rounds else {}
    budget_usd = float(sum(w.get("cost_usd", 0.0) for w in aware.get("reinforcement") or []))
    utility_usd = float(aware.get("utility_reinforcement_usd") or 0.0)
    first = rounds[0] if rounds else {}
    n_years = len(years)
    if aware.get("converged"):
        outcome = (f"After {len(rounds)} round{'s' if len(rounds) != 1 else ''} of siting, the plan keeps every "
                   f"voltage and loading within its limits in each of the {n_years} year{'s' if n_years != 1 else ''}"
                   " checked")
    else:
        outcome = (f"After {len(rounds)} round{'s' if len(rounds) != 1 else ''} of siting (grid.max_iterations), "
                   f"{int(last.get('violations', 0))} violation(s) are left "
                   f"({_by_year_text(last.get('violations_by_year') or {})})")
    ctx["cost_text"] = (f"The plan pays {fmt_num(budget_usd)} USD of grid reinforcement from its budget; the utility "
                        f"needs {fmt_num(utility_usd)} USD of reinforcement for the load without public charging.")
    ctx["headline"] = (
        f"The grid-blind plan (round 0) breaks {int(first.get('violations', 0))} limit(s) over the years checked "
        f"({_by_year_text(first.get('violations_by_year') or {})}). {outcome}. It pays "
        f"{fmt_num(budget_usd)} USD of grid reinforcement from its budget; the load without public charging "
        f"(base, home and depot charging) needs {fmt_num(utility_usd)} USD of reinforcement by the utility in any "
        "case, which is not part of the plan's capital cost."
    )
    return ctx
