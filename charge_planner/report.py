"""HTML report of a plan, rendered from ``templates/report.html`` with autoescaping on.

Every string from data (OSM names, user labels) is escaped by Jinja2's autoescape; charts
are embedded as PNG data URIs so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import TYPE_CHECKING, Any

import jinja2

from charge_planner.assumptions import sourced_rows

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("charge_planner", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        undefined=jinja2.StrictUndefined,
    )


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _charts(plan: Plan) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = {}
    served = plan.siting.served_by_segment
    assert served is not None
    fig, ax = plt.subplots(figsize=(6, 3))
    x = range(len(served))
    ax.bar([i - 0.2 for i in x], served["demand_kwh_day"], width=0.4, label="public demand")
    ax.bar([i + 0.2 for i in x], served["served_kwh_day"], width=0.4, label="served by plan")
    ax.set_xticks(list(x), [s.replace("_", " ") for s in served.index])
    ax.set_ylabel("kWh/day")
    ax.legend()
    ax.set_title(f"Charging energy by segment, {plan.city.config.fleet.year}")
    charts["demand"] = _png(fig)
    plt.close(fig)
    if plan.flow is not None and len(plan.flow.buses):
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        axes[0].hist(plan.flow.buses["vm_pu"], bins=30, color="#2c7bb6")
        axes[0].axvline(plan.city.config.grid.vm_min_pu, color="red", ls="--")
        axes[0].set_xlabel("bus voltage [pu]")
        loads = list(plan.flow.lines["loading_percent"]) + list(plan.flow.trafos["loading_percent"])
        axes[1].hist(loads, bins=30, color="#fdae61")
        axes[1].axvline(plan.city.config.grid.max_loading_percent, color="red", ls="--")
        axes[1].set_xlabel("line and transformer loading [%]")
        fig.suptitle("Grid at the evening peak with the plan's chargers")
        charts["grid"] = _png(fig)
        plt.close(fig)
    return charts


def render_report(plan: Plan) -> str:
    """Render the report of a plan as one HTML document."""
    s = plan.summary
    types = list(plan.charger_types.index)
    sites = plan.sites.sort_values("served_kwh_day", ascending=False)
    site_rows = [
        {
            "site_id": sid,
            "name": r["name"],
            "kind": r["kind"],
            "chargers": ", ".join(f"{int(r[f'chargers_{t}'])} x {t}" for t in types if r[f"chargers_{t}"] > 0),
            "power_kw": f"{r['power_kw']:.0f}",
            "served": f"{r['served_kwh_day']:.0f}",
            "utilisation": f"{r['utilisation']:.0%}",
            "capex": f"{r['capex_usd']:,.0f}",
            "bus": r.get("bus_id", ""),
        }
        for sid, r in sites.iterrows()
    ]
    violations: list[dict[str, Any]] = []
    if plan.flow is not None:
        f = plan.flow
        for kind, table, col in (("bus", f.buses, "vm_pu"), ("line", f.lines, "loading_percent"), ("trafo", f.trafos, "loading_percent")):
            bad = table[table["violation"] != ""]
            violations += [{"element": f"{kind} {i}", "value": f"{r[col]:.3f}", "what": r["violation"]} for i, r in bad.iterrows()]
    html = _env().get_template("report.html").render(
        s=s,
        k=s["kpis"],
        solver=s["solver"],
        grid=s.get("grid"),
        city=plan.city,
        synthetic=plan.city.synthetic,
        charts=_charts(plan),
        site_rows=site_rows,
        chargers=plan.charger_types.reset_index().to_dict("records"),
        served=s["served_by_segment"],
        assumptions=sourced_rows(plan.city.config),
        violations=violations[:200],
        n_violations=len(violations),
    )
    return html
