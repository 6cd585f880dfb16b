"""The run's summary (``summary.json``): config hash, package versions, solver, KPIs, grid figures.

:func:`plan_summary` reads a finished :class:`~charge_planner.pipeline.result.Plan`;
:func:`summary_json` writes it as JSON.
"""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from charge_planner.assumptions import preset_of
from charge_planner.errors import InfeasibleError
from charge_planner.grid.assess import GridAssessment
from charge_planner.grid.energy import combustion_g_per_km
from charge_planner.grid.flow import lowest_voltage, voltage_levels
from charge_planner.pipeline.adoption import hosting_summary
from charge_planner.pipeline.loop import MARGIN, TIGHTEN, rollout_year_of
from charge_planner.pipeline.result import Plan
from charge_planner.pipeline.stages import base_load_growth_of, grid_emissions_of
from charge_planner.siting.unserved import unserved_summary
from charge_planner.version import __version__

__all__ = ["PACKAGES", "demand_result_summary", "package_versions", "plan_summary", "summary_json"]

PACKAGES = ("charge-planner", "numpy", "pandas", "geopandas", "shapely", "networkx", "scipy", "pulp", "highspy",
            "pandapower", "folium", "osmnx", "pydantic")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a plan."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["charge-planner"] = __version__
    return out


def demand_result_summary(p: Plan) -> dict[str, Any]:
    """Fleet and energy KPIs of the plan year from the demand stage (empty when absent)."""
    if p.demand_result is None:
        return {}
    return p.demand_result.summary(p.city.config.fleet.year)


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def plan_summary(p: Plan, timings: dict[str, float], total_s: float) -> dict[str, Any]:
    """The summary of a finished plan; ``timings`` per stage [s] and the total run time [s].

    Raises
    ------
    InfeasibleError
        When the siting ended without a solution.
    """
    cfg = p.city.config
    preset = preset_of(cfg)
    siting = p.siting.summary()
    served = p.siting.served_by_segment
    assert served is not None and p.siting.assignments is not None
    # CO2 of the served energy and of the combustion kilometres it replaces

    ge = grid_emissions_of(cfg)
    basis = cfg.energy.combustion_basis
    served_by_seg = served["served_kwh_day"]
    kwh_per_km = p.segments["kwh_per_km"]
    km = (served_by_seg / kwh_per_km.reindex(served_by_seg.index)).fillna(0.0)
    combustion = combustion_g_per_km(preset, [str(s) for s in km.index], basis=basis)
    g_km = pd.Series({s: v.value for s, v in combustion.items()}, dtype=float)
    served_kwh_day = float(served_by_seg.sum())
    co2_ev_t_year = served_kwh_day * ge.co2_g_per_kwh.value * 365 / 1e6
    co2_ice_t_year = float((km * g_km.reindex(km.index).fillna(0.0)).sum()) * 365 / 1e6
    co2_for_avoided_t_year = served_kwh_day * ge.avoided_co2_g_per_kwh.value * 365 / 1e6
    per_km = {
        str(s): {
            "charging_g_per_km": round(float(kwh_per_km[s]) * ge.co2_g_per_kwh.value, 1),
            "combustion_g_per_km": combustion[s].value if s in combustion else None,
        }
        for s in km.index if s in kwh_per_km.index
    }
    summary: dict[str, Any] = {
        "city": cfg.city.name,
        "country": cfg.city.country,
        "synthetic": p.city.synthetic,
        "plan_year": cfg.fleet.year,
        "crs": p.city.crs,
        "config_hash": cfg.config_hash(),
        "package_versions": package_versions(),
        "solver": siting,
        "kpis": {
            "demand_kwh_day": round(siting["demand_kwh_day"], 2),
            "served_kwh_day": round(siting["served_kwh_day"], 2),
            "served_share": round(siting["served_kwh_day"] / max(siting["demand_kwh_day"], 1e-9), 4),
            "sites_open": siting["sites_open"],
            "chargers": {t: int(p.sites[f"chargers_{t}"].sum()) for t in p.charger_types.index},
            "installed_kw": round(float(p.sites["power_kw"].sum()), 1),
            "capex_usd": round(siting["capex_usd"], 0),
            "connection_cost_usd": round(siting["connection_cost_usd"], 0),
            "sites_by_connection_band": siting["sites_by_connection_band"],
            "budget_usd": cfg.siting.budget_usd,
            "budget_by_year_usd": {str(y): round(float(b), 0) for y, b in p.siting.budget_by_year_usd.items()},
            "grid_series": ge.series,
            "grid_series_basis": ge.basis,
            "grid_co2_g_per_kwh": ge.co2_g_per_kwh.value,
            "grid_renewable_share": ge.renewable_share.value,
            "renewable_kwh_day": round(served_kwh_day * ge.renewable_share.value, 2),
            "charging_co2_g_per_kwh": round(ge.co2_g_per_kwh.value, 1),
            "co2_t_year": round(co2_ev_t_year, 1),
            "co2_combustion_basis": basis,
            "co2_combustion_t_year": round(co2_ice_t_year, 1),
            "co2_avoided_factor": ge.avoided_factor,
            "co2_avoided_g_per_kwh": ge.avoided_co2_g_per_kwh.value,
            "co2_avoided_t_year": round(co2_ice_t_year - co2_for_avoided_t_year, 1),
            "co2_g_per_km_by_segment": per_km,
        },
        "demand": demand_result_summary(p),
        "served_by_segment": {
            s: {
                "demand_kwh_day": round(float(r["demand_kwh_day"]), 2),
                "served_kwh_day": round(float(r["served_kwh_day"]), 2),
                "served_share": _finite(r["served_share"]),
                "reachable_share": _finite(r["reachable_share"]),
            }
            for s, r in served.iterrows()
        },
        "unserved": unserved_summary(p.unserved, p.siting.years[-1]) if p.unserved is not None else {},
        "counts": {
            "road_nodes": p.city.roads.number_of_nodes(),
            "road_edges": p.city.roads.number_of_edges(),
            "road_networks": {m: {"nodes": g.number_of_nodes(), "edges": g.number_of_edges()}
                              for m, g in sorted(p.city.roads_by_mode.items())},
            "demand_rows": len(p.demand),
            "candidates": len(p.candidates),
            "travel_pairs": len(p.travel),
        },
        "timings_s": {**timings, "total": round(total_s, 3)},
        "sources": p.city.sources,
    }
    results = p.grid_results
    if results is not None:
        f, grid = results.flow, results.model
        levels = voltage_levels(f.buses)
        t3 = f.trafos3w
        summary["grid"] = {
            "source": grid.source,
            "synthetic": bool(grid.synthetic),
            "converged": bool(f.converged),
            "buses": int(len(f.buses)),
            "lines": int(len(f.lines)),
            "trafos": int(len(f.trafos)),
            "trafos3w": int(len(t3)),
            # outside the slack buses, whose voltage is a set point
            "vm_min_pu": _finite(round(lowest_voltage(f.buses)[0], 5)),
            "vm_max_pu": _finite(round(float(levels["vm_max_pu"].max()), 5)) if len(levels) else None,
            "voltage_levels": [
                {"vn_kv": float(kv), "buses": int(r["buses"]), "vm_min_pu": round(float(r["vm_min_pu"]), 5),
                 "vm_max_pu": round(float(r["vm_max_pu"]), 5)}
                for kv, r in levels.iterrows()
            ],
            "line_loading_max_percent": round(float(f.lines["loading_percent"].max()), 2) if len(f.lines) else None,
            "trafo_loading_max_percent": round(float(f.trafos["loading_percent"].max()), 2) if len(f.trafos) else None,
            "trafo3w_loading_max_percent": (
                round(float(t3["loading_percent"].max()), 2) if len(t3) else None
            ),
            "violations": int(f.n_violations),
            "ev_kwh_day_on_grid": ({k: round(v, 1) for k, v in p.grid_loads.ev_kwh_day().items()}
                                   if p.grid_loads is not None else {}),
            "ev_load_mw": round(float(f.ev_load_mw), 4),
            "base_load_mw": round(float(f.base_load_mw), 4),
            "time_series": p.city.config.grid.time_series,
            "frequency_hz": float(getattr(grid.net, "f_hz", 50.0) or 50.0),
            "assumptions": list(grid.assumptions),
        }
        if grid.source == "synthesised":
            growth, rate = base_load_growth_of(cfg)
            summary["grid"]["base_load"] = {
                "kw_per_person_data_year": preset.base_peak_kw_per_person.value,
                "data_year": preset.base_load_data_year,
                "growth_per_year": rate.value,
                "growth_factor": round(growth, 4),
                "kw_per_person_plan_year": round(preset.base_peak_kw_per_person.value * growth, 4),
            }
        a = results.assessment
        if a is not None:
            summary["grid"].update(_grid_time_series_summary(p, a))
            e = summary["grid"]["energy"]
            kpis = summary["kpis"]
            kpis["charging_renewable_share"] = e["renewable_share"]
            kpis["renewable_kwh_day"] = e["renewable_kwh_day"]
            kpis["co2_t_year"] = e["co2_t_year"]
            if e["ev_kwh_day"] > 0:
                kpis["charging_co2_g_per_kwh"] = round(e["co2_t_year"] * 1e6 / (e["ev_kwh_day"] * 365.0), 1)
            if ge.avoided_factor == "grid_average":
                kpis["co2_avoided_t_year"] = round(kpis["co2_combustion_t_year"] - e["co2_t_year"], 1)
            kpis["co2_method"] = "hourly grid mix and on-site PV over the " + (
                "design day x 365" if a.days < 365 else "year"
            )
    kpis = summary["kpis"]
    kpis["reinforcement_usd"] = round(float(siting.get("reinforcement_usd", 0.0)), 0)
    kpis["capex_with_grid_usd"] = round(float(siting["capex_usd"]) + kpis["reinforcement_usd"], 0)
    if p.grid_years:
        rollout = p.city.config.siting_years
        summary.setdefault("grid", {})["years"] = {
            # the rollout year whose sites and chargers stand in that year (the year itself, or the one before it)
            str(y): {"sites_of_rollout_year": rollout_year_of(rollout, y),
                     "violations": int(len(r.violations)),
                     "vm_min_pu": _finite(round(lowest_voltage(r.buses)[0], 5)),
                     "trafo_loading_max_percent": (round(float(r.trafos["loading_percent"].max()), 2)
                                                   if len(r.trafos) else None),
                     "ev_kwh_day_on_grid": {str(k): round(float(v), 1) for k, v in
                                            r.ev_rows.groupby("kind")["served_kwh_day"].sum().items()}
                     if len(r.ev_rows) else {}}
            for y, r in sorted(p.grid_years.items())
        }
    # how much EV the grid can host: the adoption level and year of the first new violation (pipeline/adoption.py)
    if p.grid_results is not None:
        summary.setdefault("grid", {})["ev_hosting"] = hosting_summary(p)
    if p.city.config.grid.aware and p.grid_results is not None:
        util = p.utility_reinforcement
        summary["grid_aware"] = {
            "iterations": p.grid_iterations,
            "converged": bool(p.grid_iterations and p.grid_iterations[-1]["violations"] == 0),
            "reinforcement": _records(p.reinforcement),
            "utility_reinforcement": _records(util),
            "utility_reinforcement_usd": round(float(util["cost_usd"].sum()), 0) if util is not None and len(util)
            else 0.0,
            # the assumptions on the linearised headroom (pipeline/loop.py): the share the siting may use, and the
            # cut per round while a group stays violated
            "headroom_share_used": MARGIN,
            "headroom_cut_while_violated": TIGHTEN,
        }
    if siting["status"] not in ("optimal", "feasible", "time_limit"):
        raise InfeasibleError(f"siting ended with status {siting['status']}")
    return summary


def _records(table: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A small table as JSON records (group, option, kW, cost, year)."""
    if table is None or not len(table):
        return []
    cols = [c for c in ("group_id", "option", "added_kw", "cost_usd", "year") if c in table.columns]
    out = table[cols].copy()
    for c in ("added_kw", "cost_usd"):
        if c in out:
            out[c] = out[c].astype(float).round(1)
    return [{k: (int(v) if k == "year" else v) for k, v in r.items()} for r in out.to_dict("records")]


def _grid_time_series_summary(p: Plan, a: GridAssessment) -> dict[str, Any]:
    """Grid part of the summary that only a time series gives."""
    f = a.flow
    e = a.energy
    per_day = 1.0 / a.days
    v = f.violations
    out: dict[str, Any] = {
        "steps": int(len(f.index)),
        "step_h": f.step_h,
        "first_step": str(f.index[0]),
        "non_converged_steps": [str(t) for t in f.non_converged],
        "solve_s": round(float(f.batch.solve_s), 3) if f.batch is not None else None,
        "violation_hours": {
            "undervoltage": round(float(v.loc[v["kind"] == "undervoltage", "hours"].sum()), 2),
            "overvoltage": round(float(v.loc[v["kind"] == "overvoltage", "hours"].sum()), 2),
            "line_overload": round(float(v.loc[(v["element"] == "line"), "hours"].sum()), 2),
            "trafo_overload": round(float(v.loc[(v["element"] == "trafo"), "hours"].sum()), 2),
            "trafo3w_overload": round(float(v.loc[(v["element"] == "trafo3w"), "hours"].sum()), 2),
            "not_converged": round(float(v.loc[(v["kind"] == "not_converged"), "hours"].sum()), 2),
        },
        "steps_with_violations": int((f.steps["n_violations"] > 0).sum()),
        "pv_mw_peak": round(float(f.steps["pv_mw"].max()), 4),
        "energy": {
            "ev_kwh_day": round(e.ev_kwh * per_day, 2),
            "pv_used_kwh_day": round(e.pv_used_kwh * per_day, 2),
            "pv_exported_kwh_day": round(e.pv_exported_kwh * per_day, 2),
            "grid_kwh_day": round(e.grid_kwh * per_day, 2),
            "renewable_kwh_day": round(e.renewable_kwh * per_day, 2),
            "renewable_share": _finite(round(e.renewable_share, 4) if math.isfinite(e.renewable_share) else None),
            "co2_t_year": round(e.co2_kg * per_day * 365.0 / 1000.0, 1),
        },
        "time_series_assumptions": list(a.assumptions),
    }
    if a.hosting is not None:
        hc = a.hosting.table
        out["hosting_capacity"] = {
            "buses": int(len(hc)),
            "steps": [str(t) for t in a.hosting_steps],
            "min_kw": round(float(hc["hosting_capacity_kw"].min()), 1) if len(hc) else None,
            "median_kw": round(float(hc["hosting_capacity_kw"].median()), 1) if len(hc) else None,
            "limits": {str(k): int(n) for k, n in hc["limit"].value_counts().items()},
            "already_violated_buses": int(hc["already_violated"].sum()) if "already_violated" in hc else 0,
            "load_flows": int(a.hosting.load_flows),
            "seconds": round(float(a.hosting.seconds), 3),
        }
        if "bus_id" in p.sites.columns and len(p.sites):
            out["hosting_capacity"]["site_buses_min_kw"] = round(
                float(hc["hosting_capacity_kw"].reindex(p.sites["bus_id"]).min()), 1
            )
    return out


def summary_json(summary: dict[str, Any]) -> str:
    """The summary as pretty JSON."""
    return json.dumps(summary, indent=2, sort_keys=False, default=_json_default)


def _json_default(o: object) -> object:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")
