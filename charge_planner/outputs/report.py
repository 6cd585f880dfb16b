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

The sections' contexts are built in ``report_siting`` (sites, generated depots, unserved demand),
``report_grid`` (load flow and violations) and ``report_energy`` (energy and emissions), from the
labels and tables of ``report_tables`` and the charts of ``report_charts``; this module assembles
them and renders the HTML and the PDF.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from charge_planner.assumptions import sourced_rows
from charge_planner.candidates import depot_only_segments
from charge_planner.outputs.browser import BrowserError, Chromium
from charge_planner.outputs.report_charts import (
    chart_co2,
    chart_demand,
    chart_rollout,
    chart_scenarios,
    chart_site_map,
)
from charge_planner.outputs.report_energy import energy_rows
from charge_planner.outputs.report_grid import MAX_VIOLATION_ROWS, RUN_TIME_KEYS, grid_context
from charge_planner.outputs.report_hosting import hosting_context
from charge_planner.outputs.report_rollout import rollout_context
from charge_planner.outputs.report_siting import (
    MAX_SITE_ROWS,
    depot_note,
    generated_depots_context,
    site_rows,
    unserved_context,
)
from charge_planner.outputs.report_tables import (
    UNIT_SUFFIXES,
    demand_by_segment_year,
    label_of,
    scenario_table,
    segment_label,
    value_text,
)
from charge_planner.outputs.views import fmt_num, fmt_pct, hosting_capacity_kw, rollout_summary

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

__all__ = [
    "MAX_SITE_ROWS",
    "MAX_VIOLATION_ROWS",
    "RUN_TIME_KEYS",
    "UNIT_SUFFIXES",
    "demand_by_segment_year",
    "depot_note",
    "generated_depots_context",
    "label_of",
    "render_pdf",
    "render_report",
    "scenario_table",
    "unserved_context",
]

OSM_LICENCE = (
    "Map data © OpenStreetMap contributors, available under the Open Database Licence (ODbL) 1.0: "
    "https://www.openstreetmap.org/copyright"
)
SOFTWARE = (
    "charge_planner (MIT); HiGHS via highspy (MIT) for the optimisation; pandapower (BSD-3-Clause) for the load flow; "
    "folium (MIT) and Leaflet (BSD-2-Clause) for the interactive map; OSMnx (MIT) and networkx (BSD-3-Clause) "
    "for the road network; matplotlib for the charts."
)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("charge_planner.outputs", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = fmt_num
    env.filters["pct"] = fmt_pct
    return env


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
    rows_of_sites = site_rows(plan)
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
            "rows": [{"label": label, "values": [value_text(label, v) if not isinstance(v, str) else v for v in row]}
                     for label, row in zip(table.index, table.to_numpy().tolist(), strict=True)],
            "chart": chart_scenarios(table),
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
        "site_map": chart_site_map(plan),
        "map_file": map_file,
        "demand_chart": chart_demand(plan, demand_table),
        "demand_rows": [{"segment": segment_label(seg), "values": [fmt_num(v) for v in demand_table.loc[seg]]}
                        for seg in demand_table.index],
        "demand_totals": [fmt_num(v) for v in demand_table.sum(axis=0)],
        "served": [{"segment": segment_label(seg), **r} for seg, r in served.items()],
        "unserved": unserved_context(s, depot_note=depot_note(plan),
                                     depot_segments=depot_only_segments(plan.charger_types)),
        "generated_depots": generated_depots_context(plan),
        "site_rows": rows_of_sites,
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
        "rollout_chart": chart_rollout(roll) if len(roll) else None,
        "multi_year": len(roll) > 1,
        "grid": grid_context(plan, s),
        "hosting": hosting_context(plan),
        "gridroll": rollout_context(plan, s),
        "grid_source": plan.city.config.grid.source,
        "limits": plan.city.config.grid,
        "energy_rows": energy_rows(s),
        "co2_chart": chart_co2(k),
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
