"""Charts of the report: matplotlib figures (site map, demand, rollout, grid, time series, CO2,
scenarios) drawn with the Agg backend and embedded in the HTML as PNG data URIs.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charge_planner.outputs.report_tables import segment_label
from charge_planner.outputs.views import (
    DEMAND_COLOUR,
    bus_voltage_column,
    loading_column,
    opening_years,
    year_colours,
)

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan


def png_data_uri(fig: Any) -> str:
    """A matplotlib figure as a PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def chart_pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend with the report's chart style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": 100})
    return plt


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


def chart_site_map(plan: Plan) -> str:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    plt = chart_pyplot()
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
    return png_data_uri(fig)


def chart_demand(plan: Plan, table: pd.DataFrame) -> str:
    plt = chart_pyplot()
    years = list(table.columns)
    segs = list(table.index)
    cmap = plt.get_cmap("tab10")
    if len(years) > 1:
        fig, ax = plt.subplots(figsize=(7.2, 3.2))
        bottom = np.zeros(len(years))
        x = np.arange(len(years))
        for i, seg in enumerate(segs):
            vals = table.loc[seg].to_numpy(float)
            ax.bar(x, vals, bottom=bottom, label=segment_label(seg), color=cmap(i))
            bottom += vals
        ax.set_xticks(x, [str(y) for y in years])
        ax.set_ylabel("public charging demand [kWh/day]")
        ax.set_title("Public charging demand by segment and year")
        ax.legend(fontsize=8, ncols=min(len(segs), 5), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
        return png_data_uri(fig)
    served = plan.siting.served_by_segment
    fig, ax = plt.subplots(figsize=(7.2, 3.0))
    x = np.arange(len(segs))
    ax.bar(x - 0.2, table.iloc[:, 0].to_numpy(float), width=0.4, label="public demand", color="#9ecae1")
    if served is not None:
        ax.bar(x + 0.2, served["served_kwh_day"].reindex(segs).fillna(0).to_numpy(float), width=0.4,
               label="served by the plan", color="#e6550d")
    ax.set_xticks(x, [segment_label(s) for s in segs])
    ax.set_ylabel("kWh/day")
    ax.set_title(f"Public charging demand and energy served by segment, {years[0]}")
    ax.legend(fontsize=8)
    return png_data_uri(fig)


def chart_rollout(roll: pd.DataFrame) -> str:
    plt = chart_pyplot()
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
    return png_data_uri(fig)


def chart_grid(plan: Plan) -> str:
    plt = chart_pyplot()
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
    return png_data_uri(fig)


def chart_time_series(steps: pd.DataFrame, limits: Any) -> str | None:
    """Loads and extreme voltages per step of a time-series load flow."""
    need = {"base_load_mw", "ev_load_mw"}
    if not isinstance(steps, pd.DataFrame) or not len(steps) or not need <= set(steps.columns):
        return None
    plt = chart_pyplot()
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
    return png_data_uri(fig)


def chart_co2(k: Mapping[str, Any]) -> str | None:
    ice, ev = k.get("co2_combustion_t_year"), k.get("co2_t_year")
    if ice is None or ev is None:
        return None
    plt = chart_pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 1.7))
    ax.barh([0, 1], [ice, ev], color=["#969696", "#31a354"])
    ax.set_yticks([0, 1], ["combustion vehicles\n(same km)", "EV charging\n(grid mix)"])
    for y, v in enumerate([ice, ev]):
        ax.text(v, y, f"  {v:,.0f} t/yr", va="center", fontsize=8)
    ax.set_xlim(0, max(ice, ev) * 1.25 + 1)
    ax.set_xlabel("CO2 [t/yr]")
    ax.set_title("CO2 of the energy served, per year")
    return png_data_uri(fig)


def chart_scenarios(table: pd.DataFrame) -> str:
    plt = chart_pyplot()
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
    return png_data_uri(fig)
