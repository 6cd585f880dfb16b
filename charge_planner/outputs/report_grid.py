"""Grid section of the report: the load-flow figures, the violations with their hours, the voltage
levels and the most loaded elements of a plan's grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from charge_planner.outputs.report_charts import chart_grid, chart_time_series
from charge_planner.outputs.report_tables import label_of, value_text
from charge_planner.outputs.views import fmt_num, loading_column, violation_table

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

#: violations listed in the report (all of them are in grid_violations.csv)
MAX_VIOLATION_ROWS = 200
#: figures that depend on the machine, not on the plan: kept in summary.json, left out of the report so that
#: the same inputs give the same report
RUN_TIME_KEYS = frozenset({"solve_s", "seconds", "solve_time_s", "build_time_s"})
#: figures of a section whose key alone does not say what they count, in plain words: (section, key) -> label
_PLAIN = {
    ("hosting_capacity", "hosting capacity"): {"buses": "buses examined", "load_flows": "load flows solved"},
    ("base_load", "base load"): {"kw_per_person_data_year": "kW per person in the data year",
                                 "kw_per_person_plan_year": "kW per person in the plan year"},
    ("ev_hosting", "EV hosting"): {
        "city_factor": "first new violation at (x the plan year's EV energy)",
        "city_year": "year the adoption path reaches it", "city_year_label": "first whole year at that level",
        "max_factor": "largest level examined (x the plan year's EV energy)",
        "plan_year": "plan year (its EV energy = 1)", "horizon": "last year of the adoption path",
        "first_limit_holds_at_plan": "the first limit holds again at the planned EV load",
        "n_dts": "distribution transformers", "dts_limited_up_to_max_factor": "transformers with a new violation "
        "up to that level", "dts_not_refined": "transformers whose level is not refined"},
}
FIGURE_LABELS = {(section, key): f"{title}: {words}" for (section, title), keys in _PLAIN.items()
                 for key, words in keys.items()}


def grid_context(plan: Plan, s: Mapping[str, Any]) -> dict[str, Any] | None:
    """Template context of the grid section (None when the plan has no load flow)."""
    if plan.flow is None or not s.get("grid"):
        return None
    f = plan.flow
    grid = dict(s["grid"])
    table_v = violation_table(plan)
    hours = bool(table_v["hours"].notna().any())
    names = {"bus": "bus", "line": "line", "trafo": "transformer", "trafo3w": "three-winding transformer",
             "grid": "whole grid"}
    order = table_v.assign(_nc=table_v["kind"] != "not_converged",
                           _h=table_v["hours"].fillna(0.0)).sort_values(["_nc", "_h"], ascending=[True, False],
                                                                         kind="stable")
    violations: list[dict[str, Any]] = []
    for r in order.itertuples():
        unit = str(r.unit)
        value = f"{fmt_num(r.worst, 3 if unit == 'pu' else 0)} {unit}" if pd.notna(r.worst) else "—"
        violations.append({
            "element": names.get(str(r.element), str(r.element)) + ("" if r.element == "grid" else f" {r.id}"),
            "value": value,
            "what": "load flow did not converge" if r.kind == "not_converged" else str(r.kind),
            "hours": fmt_num(r.hours, 1),
            "when": f"{_time_text(r.first)}–{_time_text(r.last)}" if pd.notna(r.first) else "—",
        })
    kinds = table_v.groupby(["element", "kind"]).size()
    violation_kinds = [{"what": f"{names.get(str(e), str(e))}: {'no solution' if k == 'not_converged' else k}",
                        "count": int(n)} for (e, k), n in kinds.items()]
    levels = [{"vn_kv": fmt_num(r.get("vn_kv"), None), "buses": r.get("buses"),
               "vm_min": fmt_num(r.get("vm_min_pu"), 3), "vm_max": fmt_num(r.get("vm_max_pu"), 3)}
              for r in grid.get("voltage_levels") or []]
    skip = {"assumptions", "time_series_assumptions", "source", "synthetic", "converged", "first_step",
            "non_converged_steps", "voltage_levels"} | RUN_TIME_KEYS
    figures = []
    for key, v in grid.items():
        if key in skip or v is None:
            continue
        if isinstance(v, Mapping):
            figures += [{"label": FIGURE_LABELS.get((key, k2), f"{label_of(key)}: {label_of(k2)}"),
                         "value": value_text(k2, v2)}
                        for k2, v2 in v.items()
                        if v2 is not None and k2 not in RUN_TIME_KEYS and not isinstance(v2, list | dict | tuple)]
        elif not isinstance(v, list | tuple):
            figures.append({"label": label_of(key), "value": value_text(key, v)})
    loaded = []
    t3 = getattr(f, "trafos3w", None)
    for kind, table in (("line", f.lines), ("transformer", f.trafos),
                        ("three-winding transformer", t3 if t3 is not None else pd.DataFrame())):
        if len(table):
            col = loading_column(table)
            for i, v in table[col].astype(float).nlargest(5).items():
                loaded.append({"element": f"{kind} {i}", "loading": f"{v:.0f} %"})
    loaded.sort(key=lambda r: -float(r["loading"].split()[0]))
    return {
        "info": grid,
        "source": grid.get("source", ""),
        "synthetic": bool(grid.get("synthetic")),
        "converged": grid.get("converged", True),
        "time_series": "vm_min_pu" in f.buses.columns,
        "violations": violations[:MAX_VIOLATION_ROWS],
        "n_violations": len(violations),
        "violation_kinds": violation_kinds,
        "voltage_levels": levels,
        "hours": hours,
        "figures": figures,
        "most_loaded": loaded[:8],
        "assumptions": list(grid.get("assumptions", [])) + list(grid.get("time_series_assumptions", [])),
        "chart": chart_grid(plan),
        "ts_chart": chart_time_series(getattr(f, "steps", None), plan.city.config.grid),
        "non_converged": list(grid.get("non_converged_steps", [])),
        "hosting": "hosting_capacity_kw" in f.buses.columns,
    }


def _time_text(t: Any) -> str:
    if t is None or pd.isna(t):
        return "?"
    try:
        return pd.Timestamp(t).strftime("%d %b %H:%M")
    except (TypeError, ValueError):
        return str(t)
