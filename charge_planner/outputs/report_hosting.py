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
from charge_planner.pipeline.adoption import HostingLevel, plan_hosting_level

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
    return _context(level)


def _context(level: HostingLevel) -> dict[str, Any]:
    y0 = level.plan_year
    t = level.table
    limited = t.dropna(subset=["factor"]).sort_values("factor", kind="stable")
    if level.city_factor is None:
        headline = (f"No new violation appears anywhere in the grid up to {fmt_num(level.max_factor, None)} times "
                    f"the EV energy planned for {y0}.")
    else:
        first = level.first_limit or {}
        what = limit_words(str(first.get("element", "grid")), first.get("id"), str(first.get("kind", "")))
        when = (f"reaches that level in {level.city_year_label}" if level.city_year is not None
                else f"does not reach that level by {level.horizon}")
        headline = (f"The grid carries EV charging up to {_share_words(level.city_factor, y0)}; beyond that, "
                    f"{what}. The adoption path of the demand stage {when}.")
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
                        f"alone: {kinds}); they are not counted above and need reinforcement in any case.")
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
