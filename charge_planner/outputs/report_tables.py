"""Labels and tables of the report: readable labels of summary keys with their units, values as text,
the public charging demand per segment and year, and the key figures of several plans side by side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charge_planner.outputs.views import fmt_num, fmt_pct

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

UNIT_SUFFIXES = (
    ("_kwh_day", "kWh/day"), ("_t_year", "t/yr"), ("_mwh_year", "MWh/yr"), ("_kwh_year", "kWh/yr"),
    ("_percent", "%"), ("_pu", "pu"), ("_mw", "MW"), ("_kw", "kW"), ("_mwh", "MWh"), ("_kwh", "kWh"),
    ("_hours", "h"), ("_h", "h"), ("_usd", "USD"), ("_s", "s"), ("_share", "share"),
)


#: keys whose unit sits inside the name, with their labels
SPECIAL_LABELS = {"ev_kwh_day_on_grid": "EV energy on the grid [kWh/day]", "pv_mw_peak": "on-site PV peak [MW]",
                  "frequency_hz": "frequency [Hz]"}


def label_of(key: str) -> str:
    """Readable label of a summary key, with its unit from the name (``vm_min_pu`` → ``vm min [pu]``)."""
    if key in SPECIAL_LABELS:
        return SPECIAL_LABELS[key]
    for suffix, unit in UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            stem = key[: -len(suffix)].replace("_", " ")
            return f"{stem} [{unit}]" if unit != "share" else f"{stem} share"
    return key.replace("_", " ")


#: a value of a key named so (``year``, ``plan_year``, ``horizon``) within this range is a calendar year
YEAR_RANGE = (1900.0, 2200.0)


def _is_year(key: str, f: float) -> bool:
    named = key in ("year", "horizon") or (key.endswith("_year") and not key.endswith("per_year"))
    return named and YEAR_RANGE[0] <= f <= YEAR_RANGE[1]


def value_text(key: str, v: Any) -> str:
    """A summary value as report text (yes/no, a share in %, a voltage in pu, a calendar year without a
    thousands separator, to one decimal when it falls within a year, a rounded number)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.integer | np.floating):
        f = float(v)
        if math.isfinite(f) and _is_year(key, f):
            return f"{f:.0f}" if f.is_integer() else f"{f:.1f}"
        if key.endswith("_share"):
            return fmt_pct(f, 1)
        if key.endswith("_pu"):
            return f"{f:.4f}"
        return fmt_num(f, 0 if abs(f) >= 100 or float(f).is_integer() else 2)
    return str(v)


def segment_label(seg: str) -> str:
    """A segment name in words (``two_wheeler`` → ``two wheeler``)."""
    return str(seg).replace("_", " ")


def demand_by_segment_year(plan: Plan) -> pd.DataFrame:
    """Public charging demand [kWh/day] per segment (rows) and year (columns)."""
    d = plan.demand
    years = d["year"] if "year" in d.columns else pd.Series(plan.city.config.fleet.year, index=d.index)
    table = d.assign(year=years.astype(int)).pivot_table(
        index="segment", columns="year", values="energy_kwh_day", aggfunc="sum", fill_value=0.0
    )
    order = [s for s in plan.segments.index if s in table.index] + [s for s in table.index if s not in plan.segments.index]
    return table.reindex(order)


def scenario_table(plans: Sequence[Plan | Mapping[str, Any]], names: Sequence[str] | None = None) -> pd.DataFrame:
    """Key figures of several plans side by side (rows: figures, columns: scenarios).

    Parameters
    ----------
    plans
        Plans, or their ``summary`` dictionaries.
    names
        Scenario labels (default: the summary's ``scenario`` entry, else "scenario 1", …).
    """
    summaries = [p if isinstance(p, Mapping) else p.summary for p in plans]
    labels = list(names) if names is not None else [
        str(s.get("scenario") or f"scenario {i + 1}") for i, s in enumerate(summaries)
    ]
    rows: dict[str, list[Any]] = {}
    figures = (
        ("sites_open", "sites"), ("installed_kw", "installed power [kW]"), ("capex_usd", "capital cost [USD]"),
        ("served_kwh_day", "served energy [kWh/day]"), ("served_share", "demand served"),
        ("grid_renewable_share", "renewable share of the grid"),
        ("charging_renewable_share", "renewable share of charging"), ("co2_t_year", "CO2 of charging [t/yr]"),
        ("co2_avoided_t_year", "CO2 avoided [t/yr]"),
    )
    for key, label in figures:
        rows[label] = [s.get("kpis", {}).get(key) for s in summaries]
    rows["grid violations"] = [s.get("grid", {}).get("violations") if s.get("grid") else None for s in summaries]
    rows["lowest voltage [pu]"] = [s.get("grid", {}).get("vm_min_pu") if s.get("grid") else None for s in summaries]
    rows["solver status"] = [s.get("solver", {}).get("status") for s in summaries]
    return pd.DataFrame(rows, index=labels).T
