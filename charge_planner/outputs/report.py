"""Siting report of a plan: one self-contained HTML document, printable to PDF.

:func:`render_report` fills ``templates/report.html`` (Jinja2 with autoescaping on, so every
string from data — OSM names, user labels — is escaped) with the plan's figures and charts
(matplotlib PNGs embedded as data URIs). :func:`render_pdf` prints that HTML with headless
Chromium (A4, page numbers in the footer).

Sections appear when their data exists and say so in one line when it does not: the grid
section needs a modelled grid; voltage ranges, violation hours and hosting capacity appear
when the grid stage reports them; the rollout shows every opening year; "Why demand is
unserved" appears when some demand is not served (its causes from ``summary["unserved"]``); the
scenario comparison needs two or more plans.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd

from charge_planner.assumptions import sourced_rows
from charge_planner.candidates import depot_only_segments
from charge_planner.outputs.browser import BrowserError, Chromium
from charge_planner.outputs.views import (
    DEMAND_COLOUR,
    UNSERVED_LABELS,
    bus_voltage_column,
    candidate_flag,
    fmt_num,
    fmt_pct,
    hosting_capacity_kw,
    hosting_reason,
    loading_column,
    opening_years,
    rollout_summary,
    violation_table,
    year_colours,
)

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

__all__ = ["MAX_SITE_ROWS", "render_pdf", "render_report", "scenario_table"]

#: sites listed in the report (the full table is in sites.csv and plan.gpkg)
MAX_SITE_ROWS = 300
#: violations listed in the report (all of them are in grid_violations.csv)
MAX_VIOLATION_ROWS = 200
OSM_LICENCE = (
    "Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL) 1.0: "
    "https://www.openstreetmap.org/copyright"
)
SOFTWARE = (
    "charge_planner (MIT); HiGHS via highspy (MIT) for the optimisation; pandapower (BSD-3-Clause) for the load flow; "
    "folium (MIT) and Leaflet (BSD-2-Clause) for the interactive map; OSMnx (MIT) and networkx (BSD-3-Clause) "
    "for the road network; matplotlib for the charts."
)
UNIT_SUFFIXES = (
    ("_kwh_day", "kWh/day"), ("_t_year", "t/yr"), ("_mwh_year", "MWh/yr"), ("_kwh_year", "kWh/yr"),
    ("_percent", "%"), ("_pu", "pu"), ("_mw", "MW"), ("_kw", "kW"), ("_mwh", "MWh"), ("_kwh", "kWh"),
    ("_hours", "h"), ("_h", "h"), ("_usd", "USD"), ("_s", "s"), ("_share", "share"),
)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("charge_planner.outputs", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    return env


def label_of(key: str) -> str:
    """Readable label of a summary key, with its unit from the name (``vm_min_pu`` → ``vm min [pu]``)."""
    for suffix, unit in UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            stem = key[: -len(suffix)].replace("_", " ")
            return f"{stem} [{unit}]" if unit != "share" else f"{stem} share"
    return key.replace("_", " ")


def _value_text(key: str, v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float | np.integer | np.floating):
        f = float(v)
        if key.endswith("_share"):
            return fmt_pct(f, 1)
        if key.endswith("_pu"):
            return f"{f:.4f}"
        return fmt_num(f, 0 if abs(f) >= 100 or float(f).is_integer() else 2)
    return str(v)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100})
    return plt


def _nice(seg: str) -> str:
    return str(seg).replace("_", " ")


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------------------------
def _road_lines(plan: Plan) -> list[np.ndarray]:
    g = plan.city.roads
    xs, ys = dict(g.nodes(data="x")), dict(g.nodes(data="y"))
    out, seen = [], set()
    for u, v, d in g.edges(data=True):
        key = (u, v) if str(u) <= str(v) else (v, u)
        if key in seen:
            continue
        seen.add(key)
        geom = d.get("geometry")
        out.append(np.asarray(geom.coords)[:, :2] if geom is not None else np.array([[xs[u], ys[u]], [xs[v], ys[v]]]))
    return out


def _chart_site_map(plan: Plan) -> str:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 6.0))
    ax.add_collection(LineCollection(_road_lines(plan), colors="#bdbdbd", linewidths=0.5, zorder=1))
    d = plan.demand
    year = plan.city.config.fleet.year
    if "year" in d.columns and (d["year"] == year).any():
        d = d[d["year"] == year]
    cells = d.groupby("cell_id").agg(e=("energy_kwh_day", "sum"), geometry=("geometry", "first"))
    if len(cells):
        xy = np.array([(p.x, p.y) for p in cells["geometry"]])
        e = cells["e"].to_numpy(float)
        ax.scatter(xy[:, 0], xy[:, 1], s=4 + 120 * e / max(e.max(), 1e-9), c=DEMAND_COLOUR, alpha=0.25, lw=0, zorder=2)
    sites = plan.sites
    handles = [Line2D([], [], marker="o", ls="", color=DEMAND_COLOUR, alpha=0.4, label="charging demand per cell")]
    if len(sites):
        years = opening_years(plan)
        colours = year_colours(years.tolist())
        p = sites["power_kw"].to_numpy(float)
        size = 20 + 220 * p / max(p.max(), 1e-9)
        ax.scatter(sites.geometry.x, sites.geometry.y, s=size, c=[colours[int(y)] for y in years], edgecolors="#222222",
                   linewidths=0.6, zorder=3)
        handles += [Line2D([], [], marker="o", ls="", color=c, markeredgecolor="#222222", label=f"site opened {y}")
                    for y, c in sorted(colours.items())]
    minx, miny, maxx, maxy = plan.city.bounds()
    pad = 0.03 * max(maxx - minx, maxy - miny)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal")
    ax.set_axis_off()
    span = maxx - minx
    bar = 10 ** math.floor(math.log10(max(span / 4, 1.0)))
    bar = bar * 5 if span / 4 >= bar * 5 else bar * 2 if span / 4 >= bar * 2 else bar
    x0, y0 = minx + 0.04 * span, miny + 0.04 * (maxy - miny)
    ax.plot([x0, x0 + bar], [y0, y0], color="#222222", lw=2.5)
    ax.text(x0 + bar / 2, y0 + 0.012 * (maxy - miny), f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m",
            ha="center", va="bottom", fontsize=8)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=min(len(handles), 4), fontsize=8,
              frameon=False)
    credit = "synthetic demo city — not a real place" if plan.city.synthetic else "roads © OpenStreetMap contributors (ODbL)"
    ax.text(1.0, 1.0, credit + "; marker size: installed kW", transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7, color="#555555")
    return _png(fig)


def _chart_demand(plan: Plan, table: pd.DataFrame) -> str:
    plt = _pyplot()
    years = list(table.columns)
    segs = list(table.index)
    cmap = plt.get_cmap("tab10")
    if len(years) > 1:
        fig, ax = plt.subplots(figsize=(7.2, 3.2))
        bottom = np.zeros(len(years))
        x = np.arange(len(years))
        for i, seg in enumerate(segs):
            vals = table.loc[seg].to_numpy(float)
            ax.bar(x, vals, bottom=bottom, label=_nice(seg), color=cmap(i))
            bottom += vals
        ax.set_xticks(x, [str(y) for y in years])
        ax.set_ylabel("public charging demand [kWh/day]")
        ax.set_title("Public charging demand by segment and year")
        ax.legend(fontsize=8, ncols=min(len(segs), 5), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
        return _png(fig)
    served = plan.siting.served_by_segment
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    x = np.arange(len(segs))
    ax.bar(x - 0.2, table.iloc[:, 0].to_numpy(float), width=0.4, label="public demand", color="#9ecae1")
    if served is not None:
        ax.bar(x + 0.2, served["served_kwh_day"].reindex(segs).fillna(0).to_numpy(float), width=0.4,
               label="served by the plan", color="#e6550d")
    ax.set_xticks(x, [_nice(s) for s in segs])
    ax.set_ylabel("kWh/day")
    ax.set_title(f"Public charging demand and energy served by segment, {years[0]}")
    ax.legend(fontsize=8)
    return _png(fig)


def _chart_rollout(roll: pd.DataFrame) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    x = np.arange(len(roll))
    total = roll["power_total_kw"].to_numpy(float)
    ax.bar(x, roll["power_added_kw"].to_numpy(float), color="#fdae6b", label="power added [kW]")
    ax.plot(x, total, color="#d94801", marker="o", label="installed power [kW]")
    for xi, yi, n in zip(x, total, roll["sites_total"], strict=True):
        ax.annotate(f"{int(n)} sites", (xi, yi), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(x, [str(int(y)) for y in roll["year"]])
    ax.set_ylabel("kW")
    ax.set_title("Rollout: charging power by year")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_ylim(0, float(roll["power_total_kw"].max()) * 1.25 + 1)
    return _png(fig)


def _chart_grid(plan: Plan) -> str:
    plt = _pyplot()
    f = plan.flow
    g = plan.city.config.grid
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 2.9))
    col = bus_voltage_column(f.buses)
    vm = f.buses[col].astype(float).dropna()
    bins = np.linspace(min(vm.min(), g.vm_min_pu) - 0.005, max(vm.max(), g.vm_max_pu) + 0.005, 31)
    if col == "vm_min_pu" and "vm_max_pu" in f.buses.columns:
        axes[0].hist(f.buses["vm_max_pu"].astype(float).dropna(), bins=bins, color="#abd9e9", label="highest")
        axes[0].hist(vm, bins=bins, color="#2c7bb6", alpha=0.85, label="lowest")
        axes[0].legend(fontsize=7)
    else:
        axes[0].hist(vm, bins=bins, color="#2c7bb6")
    for lim in (g.vm_min_pu, g.vm_max_pu):
        axes[0].axvline(lim, color="#a50026", ls="--", lw=1)
    axes[0].set_xlabel("bus voltage [pu]")
    axes[0].set_ylabel("buses")
    axes[0].set_title("Bus voltages", fontsize=9)
    lines = f.lines[loading_column(f.lines)].astype(float).dropna()
    trafos = f.trafos[loading_column(f.trafos)].astype(float).dropna() if len(f.trafos) else pd.Series(dtype=float)
    top = max(float(lines.max()) if len(lines) else 0, float(trafos.max()) if len(trafos) else 0, g.max_loading_percent) * 1.05
    lbins = np.linspace(0, top, 31)
    axes[1].hist([lines, trafos], bins=lbins, stacked=True, color=["#fdae61", "#8073ac"], label=["lines", "transformers"])
    axes[1].axvline(g.max_loading_percent, color="#a50026", ls="--", lw=1)
    axes[1].set_xlabel("loading [%]")
    axes[1].set_ylabel("elements")
    axes[1].set_title("Line and transformer loading", fontsize=9)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _chart_time_series(steps: pd.DataFrame, limits: Any) -> str | None:
    """Loads and extreme voltages per step of a time-series load flow."""
    need = {"base_load_mw", "ev_load_mw"}
    if not isinstance(steps, pd.DataFrame) or not len(steps) or not need <= set(steps.columns):
        return None
    plt = _pyplot()
    days = (steps.index[-1] - steps.index[0]).total_seconds() / 86400.0 if isinstance(steps.index, pd.DatetimeIndex) else 0
    fig, axes = plt.subplots(2, 1, figsize=(7.4, 3.9), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    x = steps.index
    axes[0].plot(x, steps["ev_load_mw"], color="#d94801", label="EV charging")
    if "pv_mw" in steps.columns:
        axes[0].plot(x, steps["pv_mw"], color="#e6ab02", label="on-site PV")
    axes[0].set_ylabel("EV, PV [MW]")
    twin = axes[0].twinx()
    twin.plot(x, steps["base_load_mw"], color="#636363", ls="--", lw=1, label="base load (right axis)")
    twin.set_ylabel("base load [MW]")
    twin.spines["right"].set_visible(True)
    h1, l1 = axes[0].get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    axes[0].legend(h1 + h2, l1 + l2, fontsize=7, ncols=3, loc="upper left")
    axes[0].set_ylim(0, max(float(steps["ev_load_mw"].max()), float(steps.get("pv_mw", steps["ev_load_mw"]).max())) * 1.35
                     + 1e-6)
    axes[0].set_title("Loads and voltages over the simulated " + ("day" if days <= 1.01 else "period"), fontsize=9)
    if {"vm_min_pu", "vm_max_pu"} <= set(steps.columns):
        axes[1].fill_between(x, steps["vm_min_pu"], steps["vm_max_pu"], color="#abd9e9", label="range of bus voltages")
        axes[1].plot(x, steps["vm_min_pu"], color="#2c7bb6", lw=1)
        for lim in (limits.vm_min_pu, limits.vm_max_pu):
            axes[1].axhline(lim, color="#a50026", ls="--", lw=1)
        axes[1].set_ylabel("voltage [pu]")
        axes[1].legend(fontsize=7, loc="lower left")
    if isinstance(x, pd.DatetimeIndex):
        import matplotlib.dates as mdates

        axes[1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M" if days <= 1.01 else "%d %b"))
    fig.tight_layout()
    return _png(fig)


def _chart_co2(k: Mapping[str, Any]) -> str | None:
    ice, ev = k.get("co2_combustion_t_year"), k.get("co2_t_year")
    if ice is None or ev is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 1.7))
    ax.barh([0, 1], [ice, ev], color=["#969696", "#31a354"])
    ax.set_yticks([0, 1], ["combustion vehicles\n(same km)", "EV charging\n(grid mix)"])
    for y, v in enumerate([ice, ev]):
        ax.text(v, y, f"  {v:,.0f} t/yr", va="center", fontsize=8)
    ax.set_xlim(0, max(ice, ev) * 1.25 + 1)
    ax.set_xlabel("CO2 [t/yr]")
    ax.set_title("CO2 of the energy served, per year")
    return _png(fig)


def _chart_scenarios(table: pd.DataFrame) -> str:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 2.6))
    names = [str(c) for c in table.columns]
    x = np.arange(len(names))
    share = pd.to_numeric(table.loc["demand served"], errors="coerce").fillna(0).to_numpy() * 100
    capex = pd.to_numeric(table.loc["capital cost [USD]"], errors="coerce").fillna(0).to_numpy() / 1e6
    axes[0].bar(x, share, color="#e6550d")
    axes[0].set_ylabel("demand served [%]")
    axes[1].bar(x, capex, color="#756bb1")
    axes[1].set_ylabel("capital cost [million USD]")
    for ax in axes:
        ax.set_xticks(x, names, rotation=20, fontsize=8)
    fig.tight_layout()
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------
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


def _site_rows(plan: Plan) -> list[dict[str, Any]]:
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


#: figures that depend on the machine, not on the plan: kept in summary.json, left out of the report so that
#: the same inputs give the same report
RUN_TIME_KEYS = frozenset({"solve_s", "seconds", "solve_time_s", "build_time_s"})


def _grid_context(plan: Plan, s: Mapping[str, Any]) -> dict[str, Any] | None:
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
            figures += [{"label": f"{label_of(key)}: {label_of(k2)}", "value": _value_text(k2, v2)}
                        for k2, v2 in v.items()
                        if v2 is not None and k2 not in RUN_TIME_KEYS and not isinstance(v2, list | dict | tuple)]
        elif not isinstance(v, list | tuple):
            figures.append({"label": label_of(key), "value": _value_text(key, v)})
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
        "chart": _chart_grid(plan),
        "ts_chart": _chart_time_series(getattr(f, "steps", None), plan.city.config.grid),
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


#: How each combustion basis and avoided-emission factor is stated in the report.
COMBUSTION_BASIS_TEXT = {
    "well_to_wheel": "well to wheel: fuel burnt plus its extraction, refining and transport (P6.01-P6.03), "
    "comparable with the lifecycle grid intensity",
    "tank_to_wheel": "tank-to-wheel: fuel burnt only (the grid side stays lifecycle)",
}
AVOIDED_FACTOR_TEXT = {
    "grid_average": "the grid series' annual average",
    "cea_combined_margin": "CEA combined margin (India, facts E5.11; direct combustion CO2)",
}


def _energy_rows(s: Mapping[str, Any]) -> list[dict[str, str]]:
    k = s.get("kpis", {})
    grid = s.get("grid") or {}
    rows = []
    if k.get("grid_series_basis"):
        rows.append({"label": "grid series (intensity and renewable share)",
                     "value": f"{k.get('grid_series')}: {k['grid_series_basis']}"})
    if k.get("co2_combustion_basis"):
        rows.append({"label": "combustion baseline", "value": COMBUSTION_BASIS_TEXT.get(
            str(k["co2_combustion_basis"]), str(k["co2_combustion_basis"]))})
    if k.get("co2_avoided_factor"):
        rows.append({"label": "grid factor of avoided emissions", "value": AVOIDED_FACTOR_TEXT.get(
            str(k["co2_avoided_factor"]), str(k["co2_avoided_factor"]))})
    spec = (
        ("charging_renewable_share", "renewable share of the charging energy (hourly grid mix and on-site PV)", "pct"),
        ("grid_renewable_share", "renewable share of the grid (annual average, same series)", "pct"),
        ("grid_co2_g_per_kwh", "carbon intensity of the grid (annual average) [gCO2e/kWh]", "num"),
        ("charging_co2_g_per_kwh", "CO2 per kWh charged [gCO2e/kWh]", "num"),
        ("renewable_kwh_day", "renewable charging energy [kWh/day]", "num"),
        ("co2_t_year", "CO2 of the charging energy [t/yr]", "num"),
        ("co2_combustion_t_year", "CO2 of combustion vehicles driving the same km [t/yr]", "num"),
        ("co2_avoided_g_per_kwh", "grid factor of avoided emissions [gCO2/kWh]", "num"),
        ("co2_avoided_t_year", "CO2 avoided [t/yr]", "num"),
    )
    for key, label, kind in spec:
        if key in k and k[key] is not None:
            rows.append({"label": label, "value": fmt_pct(k[key], 1) if kind == "pct" else fmt_num(k[key])})
    per_km = k.get("co2_g_per_km_by_segment")
    if isinstance(per_km, Mapping):
        for seg, d in per_km.items():
            if isinstance(d, Mapping):
                rows.append({"label": f"{seg}: gCO2/km, EV charging (grid annual average) vs combustion",
                             "value": f"{fmt_num(d.get('charging_g_per_km'))} vs {fmt_num(d.get('combustion_g_per_km'))}"})
    energy = grid.get("energy")
    if isinstance(energy, Mapping):
        for key, v in energy.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and key not in ("renewable_share", "co2_t_year"):
                rows.append({"label": label_of(key) + " (grid time series)", "value": _value_text(key, v)})
    if k.get("co2_method"):
        rows.append({"label": "CO2 method", "value": str(k["co2_method"])})
    return rows


def _segments_text(by_segment: Mapping[str, Any], cause: str) -> tuple[str, str]:
    """The segments with unserved energy of a cause, largest first, as words; and the largest one."""
    parts = sorted(((float(r.get(cause, 0.0)), seg) for seg, r in by_segment.items() if float(r.get(cause, 0.0)) > 0),
                   reverse=True)
    if not parts:
        return "", ""
    words = [f"{fmt_num(v)} kWh/day of {_nice(seg)} demand" for v, seg in parts[:3]]
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
                     "segments": ", ".join(_nice(seg) for seg, r in by_segment.items() if float(r.get(cause, 0.0)) > 0)})
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


def render_report(
    plan: Plan,
    *,
    scenarios: Sequence[Plan | Mapping[str, Any]] | None = None,
    scenario_names: Sequence[str] | None = None,
    map_file: str | None = None,
) -> str:
    """Render the report of a plan as one self-contained HTML document.

    Parameters
    ----------
    plan
        The plan the report is about.
    scenarios
        Other plans (or their summaries), compared side by side with ``plan`` when given.
    scenario_names
        Labels of ``plan`` followed by the ``scenarios`` (default from their summaries).
    map_file
        Relative link to the interactive map written next to the report, if any.
    """
    s = plan.summary
    site_rows = _site_rows(plan)
    k = s.get("kpis", {})
    solver = s.get("solver", {})
    demand_table = demand_by_segment_year(plan)
    roll = rollout_summary(plan)
    types = [t for t in plan.charger_types.index if f"chargers_{t}" in roll.columns]
    served = s.get("served_by_segment", {})
    assumptions = sourced_rows(plan.city.config)
    n_flagged = sum(1 for a in assumptions if a.get("confidence") in ("assumption", "L"))

    comparison = None
    if scenarios:
        table = scenario_table([plan, *scenarios], scenario_names)
        comparison = {
            "names": [str(c) for c in table.columns],
            "rows": [{"label": label, "values": [_value_text(label, v) if not isinstance(v, str) else v for v in row]}
                     for label, row in zip(table.index, table.to_numpy().tolist(), strict=True)],
            "chart": _chart_scenarios(table),
        }
        for row in comparison["rows"]:
            if row["label"] in ("demand served", "renewable share of charging"):
                row["values"] = [fmt_pct(v, 1) for v in table.loc[row["label"]]]

    osm_used = any("OpenStreetMap" in str(src) for src in s.get("sources", plan.city.sources))
    years = list(demand_table.columns)
    context = {
        "s": s,
        "k": k,
        "solver": solver,
        "city_name": s.get("city", plan.city.name),
        "country": s.get("country", ""),
        "plan_year": s.get("plan_year", plan.city.config.fleet.year),
        "years": years,
        "synthetic": plan.city.synthetic,
        "cell_size_m": plan.city.config.demand.cell_size_m,
        "chargers_text": ", ".join(f"{n} × {t}" for t, n in k.get("chargers", {}).items() if n),
        "site_map": _chart_site_map(plan),
        "map_file": map_file,
        "demand_chart": _chart_demand(plan, demand_table),
        "demand_rows": [{"segment": _nice(seg), "values": [fmt_num(v) for v in demand_table.loc[seg]]}
                        for seg in demand_table.index],
        "demand_totals": [fmt_num(v) for v in demand_table.sum(axis=0)],
        "served": [{"segment": _nice(seg), **r} for seg, r in served.items()],
        "unserved": unserved_context(s, depot_note=depot_note(plan),
                                     depot_segments=depot_only_segments(plan.charger_types)),
        "generated_depots": generated_depots_context(plan),
        "site_rows": site_rows,
        "n_sites": len(plan.sites),
        "max_site_rows": MAX_SITE_ROWS,
        "hosting_known": hosting_capacity_kw(plan) is not None,
        "rollout": [
            {"year": int(r["year"]), "sites_opened": int(r["sites_opened"]), "sites_total": int(r["sites_total"]),
             "chargers": ", ".join(f"{int(r[f'chargers_{t}'])} × {t}" for t in types if r[f"chargers_{t}"] > 0) or "—",
             "power_added": fmt_num(r["power_added_kw"]), "power_total": fmt_num(r["power_total_kw"]),
             "capex": fmt_num(r["capex_usd"])}
            for _, r in roll.iterrows()
        ],
        "rollout_chart": _chart_rollout(roll) if len(roll) else None,
        "multi_year": len(roll) > 1,
        "grid": _grid_context(plan, s),
        "grid_source": plan.city.config.grid.source,
        "limits": plan.city.config.grid,
        "energy_rows": _energy_rows(s),
        "co2_chart": _chart_co2(k),
        "comparison": comparison,
        "chargers": plan.charger_types.reset_index().to_dict("records"),
        "assumptions": assumptions,
        "n_flagged": n_flagged,
        "sources": list(s.get("sources", plan.city.sources)),
        "osm_used": osm_used,
        "osm_licence": OSM_LICENCE,
        "software": SOFTWARE,
        "versions": s.get("package_versions", {}),
    }
    return _env().get_template("report.html").render(**context)


def render_pdf(html_path: str | Path, pdf_path: str | Path, *, chromium: str | None = None, timeout_s: float = 180.0) -> Path:
    """Print an HTML report to PDF with headless Chromium.

    Parameters
    ----------
    html_path
        The report's HTML file (its images are embedded, so it needs no other file).
    pdf_path
        The PDF to write.
    chromium
        Browser executable (default: :func:`charge_planner.outputs.browser.find_chromium`).
    timeout_s
        Time allowed for loading and printing [s].

    Raises
    ------
    charge_planner.outputs.browser.BrowserError
        When no browser is installed or printing fails.
    """
    footer = (
        "<div style='font: 7.5px Helvetica, Arial, sans-serif; color: #666; width: 100%; padding: 0 12mm; "
        "display: flex; justify-content: space-between'><span class='title'></span>"
        "<span>page <span class='pageNumber'></span> of <span class='totalPages'></span></span></div>"
    )
    src = Path(html_path).resolve()
    with Chromium(chromium, timeout_s=timeout_s) as browser:
        page = browser.new_page()
        page.goto(src.as_uri(), timeout_s=timeout_s)
        out = page.print_pdf(pdf_path, footer_html=footer, timeout_s=timeout_s)
    if not out.read_bytes().startswith(b"%PDF"):
        raise BrowserError(f"printing {src.name} to PDF produced no PDF")
    log.info("wrote %s (%d kB)", out, out.stat().st_size // 1024)
    return out
