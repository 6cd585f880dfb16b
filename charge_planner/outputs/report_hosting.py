"""The report's section "How much EV the grid can host": the adoption level (a share of the plan
year's EV energy) and the year at which the grid, and each distribution transformer, first gets a
new violation, in plain words, with the transformers that limit first.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from charge_planner.errors import ChargePlannerError
from charge_planner.outputs.views import fmt_num, fmt_pct
from charge_planner.pipeline.adoption import HostingLevel, LimitKey, plan_hosting_level, violated_at_plan

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

__all__ = ["MAX_HOSTING_ROWS", "hosting_context"]

#: Transformers listed in the report (the first to be limited); all are on the map.
MAX_HOSTING_ROWS = 15

_KIND_WORDS = {"overload": "overloads", "undervoltage": "falls below the voltage band",
               "overvoltage": "rises above the voltage band", "not_converged": "the load flow fails"}
_ELEMENT_WORDS = {"bus": "bus", "line": "line", "trafo": "transformer", "trafo3w": "three-winding transformer",
                  "grid": "grid"}


def limit_words(element: str, element_id: Any, kind: str) -> str:
    """What fails first, in words ("transformer 114 overloads")."""
    if kind == "not_converged" or element == "grid":
        return "the load flow fails (voltage collapse)"
    return f"{_ELEMENT_WORDS.get(element, element)} {element_id} {_KIND_WORDS.get(kind, kind)}"


def _share_words(factor: float, plan_year: int) -> str:
    if factor < 1.0:
        return f"{fmt_pct(factor)} of the EV energy planned for {plan_year}"
    return f"{fmt_num(factor, 2)} times the EV energy planned for {plan_year}"


def hosting_context(plan: Plan) -> dict[str, Any] | None:
    """The section's sentences and tables, None when the plan has no grid check.

    The hosting level is the plan's own or computed once for its outputs
    (:func:`~charge_planner.pipeline.adoption.plan_hosting_level`).
    """
    if plan.grid_results is None:
        return None
    try:
        level = plan_hosting_level(plan)
    except ChargePlannerError as exc:
        log.warning("EV hosting level not computed: %s", exc)
        return {"error": str(exc)}
    if level is None:
        return None
    checked = {int(y): int(len(r.violations)) for y, r in plan.grid_years.items()}
    return _context(level, at_plan=violated_at_plan(plan), checked=checked)


_VOLTAGE_KINDS = ("undervoltage", "overvoltage")
#: why a voltage limit met at a part of the planned EV load can hold again at all of it
_TAP_WORDS = ("the substations' on-load tap changers move in whole steps within a dead band, from hour to hour, so at "
              "part of the load a tap can sit one step from where it sits at all of it, and a tail-end voltage can be "
              "lower at the smaller load")


def _context(level: HostingLevel, at_plan: set[LimitKey] | None = None,
             checked: dict[int, int] | None = None) -> dict[str, Any]:
    """The section's sentences and tables; ``at_plan`` holds the (element, id, kind) violated in the plan's own
    grid check (a = 1), so that a limit met at a lower level but not at the plan's is said to be so; ``checked``
    the violations of every year the rollout was checked in, so that the year the level is reached is compared
    with the rollout's own check of it."""
    y0 = level.plan_year
    t = level.table
    limited = t.dropna(subset=["factor"]).sort_values("factor", kind="stable")
    explained = False  # the headline says why a voltage limit can hold again at the planned load
    if level.city_factor is None:
        headline = (f"No new violation appears anywhere in the grid up to {fmt_num(level.max_factor, None)} times "
                    f"the EV energy planned for {y0}.")
    else:
        first = level.first_limit or {}
        what = limit_words(str(first.get("element", "grid")), first.get("id"), str(first.get("kind", "")))
        when = (f"reaches that level in {level.city_year_label}" if level.city_year is not None
                else f"does not reach that level by {level.horizon}")
        headline = (f"The grid carries EV charging up to {_share_words(level.city_factor, y0)}; at that level, "
                    f"{what}. The adoption path of the demand stage {when}.")
        if at_plan is not None and level.first_limit_holds_at(at_plan):
            headline += (f" At the planned EV load of {y0} this limit holds again (the grid check above does not "
                         "report it)")
            explained = str(first.get("kind")) in _VOLTAGE_KINDS
            headline += f": {_TAP_WORDS}." if explained else "."
        year = str(level.city_year_label)
        if checked and year.isdigit() and int(year) in checked and int(year) != y0:
            n_then = checked[int(year)]
            found = "no violation" if n_then == 0 else f"{n_then} violation(s)"
            headline += (f" The rollout's own check of {year} (table \"The grid in every year checked\") finds {found}: its "
                         f"loads that year are its sites of then serving that year's demand, not the {y0} loads "
                         "scaled down.")
    by_year = level.dts_limited_by_year()
    n = len(t)
    in_plan_year = by_year.get(str(y0), 0)
    dts_text = (f"{in_plan_year} of {n} distribution transformers reach their first new violation by {y0}; "
                f"{len(limited)} do so below {fmt_num(level.max_factor, None)} times the {y0} EV energy, and "
                f"{n - len(limited)} carry that much without a new violation.")
    already = level.already_violated
    already_text = ""
    if len(already):
        kinds = "; ".join(f"{_ELEMENT_WORDS.get(e, e)} {k}: {count}"
                          for (e, k), count in already.groupby(["element", "kind"]).size().items())
        already_text = (f"{len(already)} limit(s) are violated already with no EV charging at all (the base load "
                        f"alone: {kinds}); they are not counted above")
        holding = level.already_holding_at(at_plan) if at_plan is not None else []
        why = f": {_TAP_WORDS}" if all(k[2] in _VOLTAGE_KINDS for k in holding) else ""
        if why and explained:
            why = ", for the same reason"
        if holding and len(holding) == len(already):
            already_text += (f". None of them is violated at the planned EV load of {y0} (the grid check above){why}; "
                             "they show where the grid is weak without EV charging.")
        elif holding:
            already_text += (f"; {len(holding)} of them hold at the planned EV load of {y0} (the grid check "
                             f"above){why}; the others need reinforcement in any case.")
        else:
            already_text += " and need reinforcement in any case."
    path = [{"year": int(y), "share": fmt_pct(v, 1), "dts": by_year.get(str(int(y)), 0)}
            for y, v in level.path.items()]
    rows = [{"dt": str(dt), "name": str(r["name"]), "factor": fmt_num(r["factor"], 2),
             "year": level.year_label(float(r["year"]) if not math.isnan(r["year"]) else None),
             "limit": limit_words(str(r["element"]), r["element_id"], str(r["kind"])),
             "already": str(r["already"]) or "—"}
            for dt, r in limited.head(MAX_HOSTING_ROWS).iterrows()]
    return {
        "error": None,
        "headline": headline,
        "dts_text": dts_text,
        "already_text": already_text,
        "path": path,
        "rows": rows,
        "n_limited": len(limited),
        "max_rows": MAX_HOSTING_ROWS,
        "plan_year": y0,
        "max_factor": fmt_num(level.max_factor, None),
    }
