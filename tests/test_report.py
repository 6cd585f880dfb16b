"""Report: sections, known-answer tables, graceful degradation, scenario comparison, escaping."""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from charge_planner.outputs import rollout_summary
from charge_planner.outputs.report import label_of, render_report, scenario_table
from charge_planner.outputs.views import fmt_num, fmt_pct

SECTIONS = (
    "Executive summary", "Demand by segment and year", "Sites", "Rollout timeline", "Distribution grid",
    "Renewable share and CO2", "Optimisation", "Charger types", "Assumptions and their sources", "Method",
    "Data sources and licences",
)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_report_has_every_section_and_the_plan_figures(demo_plan):
    html = render_report(demo_plan, map_file="map.html")
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in html, heading
    assert "Scenario comparison" not in html  # only with several plans
    k = demo_plan.summary["kpis"]
    text = _text(html)
    assert f"opens {k['sites_open']} public charging sites" in text
    assert f"{k['installed_kw']:,.0f} kW" in text
    # one row per site, each with its name
    table = html.split("<h2>Sites</h2>", 1)[1].split("<h2>", 1)[0]
    assert table.count("<tr><td>") == len(demo_plan.sites)
    # every assumption listed with its source; flagged ones marked
    assert html.count('class="assumption"') >= 1
    assert "Synthetic data." in html and 'href="map.html"' in html
    # self-contained: every image is embedded
    assert not re.search(r'<img[^>]+src="(?!data:image/png;base64,)', html)
    assert html.count("<img") >= 4


def test_demand_table_sums_the_demand_by_segment_and_year(demo_plan):
    html = render_report(demo_plan)
    d = demo_plan.demand
    year = int(d["year"].max()) if "year" in d else demo_plan.city.config.fleet.year
    total = d[d["year"] == year]["energy_kwh_day"].sum() if "year" in d else d["energy_kwh_day"].sum()
    section = html.split("<h2>Demand by segment and year</h2>", 1)[1].split("<h2>", 1)[0]
    assert f'<th class="n">{total:,.0f}</th>' in section


def test_rollout_summary_known_answer(demo_plan):
    p = copy.copy(demo_plan)
    p.sites = demo_plan.sites.copy()
    types = list(p.charger_types.index)
    t0 = types[0]
    # two sites in 2026, the rest in 2030
    years = [2026 if i < 2 else 2030 for i in range(len(p.sites))]
    p.sites["year_opened"] = years
    p.siting = copy.copy(demo_plan.siting)
    p.siting.rollout = None  # no rollout table from the siting stage: derived from year_opened
    roll = rollout_summary(p)
    assert roll["year"].tolist() == [2026, 2030]
    assert roll["sites_opened"].tolist() == [2, len(p.sites) - 2]
    assert roll["sites_total"].tolist() == [2, len(p.sites)]
    first = p.sites.iloc[:2]
    assert roll.loc[0, f"chargers_{t0}"] == int(first[f"chargers_{t0}"].sum())
    power = sum(first[f"chargers_{t}"].sum() * p.charger_types.loc[t, "power_kw"] for t in types)
    assert abs(roll.loc[0, "power_added_kw"] - power) < 1e-6
    assert abs(roll["power_total_kw"].iloc[-1] - p.sites["power_kw"].sum()) < 1e-6
    html = render_report(p)
    section = html.split("<h2>Rollout timeline</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<img" in section and ">2026<" in section and ">2030<" in section


def test_rollout_uses_the_siting_stage_table_when_present(demo_plan):
    p = copy.copy(demo_plan)
    p.sites = demo_plan.sites.copy()
    sid = p.sites.index[0]
    t0 = p.charger_types.index[0]
    p.sites["year_opened"] = 2028
    rollout = pd.DataFrame({"site_id": [sid, sid], "year": [2028, 2030], f"chargers_{t0}": [1, 3]})
    p.siting = copy.copy(demo_plan.siting)
    p.siting.rollout = rollout
    p.rollout = None
    roll = rollout_summary(p)
    assert roll.set_index("year")[f"chargers_{t0}"].to_dict() == {2028: 1, 2030: 2}  # installed 1, then 2 more


def test_report_degrades_without_grid_and_shows_violations_when_present(demo_plan):
    p = copy.copy(demo_plan)
    p.grid_results = None
    p.summary = {k: v for k, v in demo_plan.summary.items() if k != "grid"}
    text = _text(render_report(p))
    assert "No load-flow result is available" in text or "grid was not modelled" in text
    # a violation injected into the load-flow tables appears in the report
    q = copy.copy(demo_plan)
    flow = copy.copy(demo_plan.flow)
    buses = demo_plan.flow.buses.copy()
    bus = buses.index[0]
    buses.loc[bus, "violation"] = "undervoltage"
    flow.buses = buses
    flow.violations = pd.DataFrame({"element": ["bus"], "id": [bus], "kind": ["undervoltage"], "hours": [3.0],
                                    "first": [pd.Timestamp("2030-05-15 18:00")], "last": [pd.Timestamp("2030-05-15 20:00")],
                                    "worst": [0.93], "unit": ["pu"]})
    q.grid_results = dataclasses.replace(demo_plan.grid_results, flow=flow)
    html = render_report(q)
    section = html.split("<h2>Distribution grid</h2>", 1)[1].split("<h2>", 1)[0]
    assert f"bus {bus}" in section and "undervoltage" in section and "0.930 pu" in section and "3.0" in section


def test_scenario_comparison_appears_with_several_plans(demo_plan):
    other = dict(demo_plan.summary)
    other["kpis"] = {**demo_plan.summary["kpis"], "capex_usd": 1.0, "served_share": 0.5}
    table = scenario_table([demo_plan, other], ["base", "cheap <b>"])
    assert list(table.columns) == ["base", "cheap <b>"]
    assert table.loc["capital cost [USD]", "cheap <b>"] == 1.0
    # the grid's share and the charging energy's share are told apart (they differ with the charging hours)
    k = demo_plan.summary["kpis"]
    assert table.loc["renewable share of the grid", "base"] == k["grid_renewable_share"]
    assert table.loc["renewable share of charging", "base"] == k["charging_renewable_share"]
    html = render_report(demo_plan, scenarios=[other], scenario_names=["base", "cheap <b>"])
    section = html.split("<h2>Scenario comparison</h2>", 1)[1].split("<h2>", 1)[0]
    assert "cheap &lt;b&gt;" in section and "cheap <b>" not in section
    assert "50.0%" in section


def test_formatting_helpers():
    assert fmt_num(1234.5) == "1,234" or fmt_num(1234.5) == "1,235"
    assert fmt_num(None) == "—" and fmt_num(float("nan")) == "—"
    assert fmt_pct(0.256) == "26%" and fmt_pct("x") == "—"
    assert label_of("vm_min_pu") == "vm min [pu]"
    assert label_of("line_loading_max_percent") == "line loading max [%]"
    assert label_of("co2_t_year") == "co2 [t/yr]"
    assert label_of("renewable_share") == "renewable share"
    assert label_of("frequency_hz") == "frequency [Hz]" and label_of("pv_mw_peak") == "on-site PV peak [MW]"


def test_calendar_years_read_as_years_in_the_report_figures():
    from charge_planner.outputs.report_tables import value_text

    # a year is written as a year, not as a count with a thousands separator ("2,030")
    assert value_text("plan_year", 2030) == "2030" and value_text("horizon", 2030) == "2030"
    assert value_text("data_year", np.int64(2024)) == "2024" and value_text("year", 2026.0) == "2026"
    # a level reached within a year keeps its tenth (22 % into 2025), beside its label "2026"
    assert value_text("city_year", 2025.22) == "2025.2"
    # figures named per year are rates, and other counts keep their separators
    assert value_text("growth_per_year", 0.0491) == "0.05"
    assert value_text("kw_per_person_plan_year", 0.3556) == "0.36"
    assert value_text("n_dts", 1322) == "1,322" and value_text("co2_t_year", 2566.0) == "2,566"


def test_fmt_num_shortest_form_and_bad_digits():
    # digits=None: the shortest form, with thousands separators, never a format error
    assert fmt_num(11.0, None) == "11" and fmt_num(0.4, None) == "0.4"
    assert fmt_num(12345.25, None) == "12,345.25" and fmt_num(-0.0, None) == "0"
    assert fmt_num(None, None) == "—" and fmt_num(float("inf"), None) == "—"
    assert fmt_num(0.95, 3) == "0.950" and fmt_num(1234.5, 1) == "1,234.5"
    with pytest.raises(TypeError, match="digits"):
        fmt_num(1.0, "{:.3f}")


def test_report_explains_why_demand_is_unserved(demo_plan):
    p = copy.copy(demo_plan)
    causes = {"no_candidate": 1020.0, "not_in_nearest": 0.0, "out_of_budget": 300.0, "not_opened": 0.0,
              "out_of_capacity": 80.0}
    p.summary = {**demo_plan.summary, "unserved": {
        "year": 2030, "demand_kwh_day": 4000.0, "unserved_kwh_day": 1400.0, "unserved_share": 0.35,
        "by_cause": causes, "share_of_demand": {c: v / 4000.0 for c, v in causes.items()},
        "out_of_capacity_detail": {"site_full": 80.0, "budget": 0.0, "other": 0.0}, "budget_left_usd": 900.0,
        "by_segment": {"bus": {"demand_kwh_day": 1500.0, "unserved_kwh_day": 1020.0, "no_candidate": 1020.0},
                       "<b>car</b>": {"demand_kwh_day": 2500.0, "unserved_kwh_day": 380.0, "out_of_budget": 300.0,
                                      "out_of_capacity": 80.0}}}}
    html = render_report(p)
    section = html[html.index("Why demand is unserved"):]
    section = section[:section.index("<h2>")]
    assert "1,400 kWh/day (35.0% of the public demand of 2030)" in section
    # one row per cause with energy, largest first, with its share of the demand (1020 / 4000 = 25.5 %)
    assert re.findall(r"<tr><td>([^<]+)</td><td class=\"n\">([\d,]+)</td>", section) == [
        ("no eligible candidate within reach", "1,020"), ("out of budget", "300"), ("out of capacity at opened sites", "80")]
    assert "25.5%" in section and "21%" in section  # 300 / 1400 of the unserved
    assert ("1,020 kWh/day of bus demand has no candidate site able to host a suitable charger within the travel-time "
            "cut-off in the extract, whatever the budget: add bus depot or bus station candidates (only those can host "
            "bus chargers).") in section
    assert "the budget left (900 USD) cannot pay for any of them" in section
    assert "80 kWh/day because the sites within reach already hold siting.max_chargers_per_site" in section
    assert "<b>car</b>" not in section and "&lt;b&gt;car&lt;/b&gt;" in section  # labels are escaped
    # a plan that serves everything has no such section
    p.summary = {**demo_plan.summary, "unserved": {**p.summary["unserved"], "unserved_kwh_day": 0.0}}
    assert "Why demand is unserved" not in render_report(p)


def test_demo_report_unserved_section_matches_the_summary(demo_plan):
    u = demo_plan.summary["unserved"]
    html = render_report(demo_plan)
    if u["unserved_kwh_day"] > 0:
        assert f"{fmt_num(u['unserved_kwh_day'])} kWh/day ({fmt_pct(u['unserved_share'], 1)}" in html


def test_report_does_not_depend_on_the_machines_speed(demo_plan):
    """Run times live in summary.json; the report of the same plan is the same on a fast or a loaded machine."""
    slow = copy.copy(demo_plan)
    slow.summary = copy.deepcopy(demo_plan.summary)

    def slower(obj, timed=False):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, int | float) and not isinstance(v, bool) and (
                        timed or k in ("solve_time_s", "build_time_s", "solve_s", "seconds")):
                    obj[k] = v * 7.0 + 1.0
                else:
                    slower(v, timed or k == "timings_s")

    slower(slow.summary)
    assert slow.summary["solver"]["solve_time_s"] != demo_plan.summary["solver"]["solve_time_s"]
    assert slow.summary["timings_s"] != demo_plan.summary["timings_s"]
    assert render_report(slow) == render_report(demo_plan)


def test_fmt_pct_never_rounds_a_part_to_the_whole_or_to_nothing():
    assert fmt_pct(0.996) == "99.6%" and fmt_pct(0.9999) == "99.99%" and fmt_pct(1.0) == "100%"
    assert fmt_pct(0.004) == "0.4%" and fmt_pct(0.0) == "0%" and fmt_pct(0.5) == "50%"
    assert fmt_pct(0.6896) == "69%" and fmt_pct(float("nan")) == "—"
    # within a millionth of the whole: a solver's rounding, not a shortfall worth "100.0000%"
    assert fmt_pct(1.0 - 4e-8) == "100%" and fmt_pct(3e-8) == "0%" and fmt_pct(0.99995) == "99.995%"


def _rollout_summary(converged: bool) -> dict:
    years = {str(y): {"sites_of_rollout_year": y - (y % 2), "violations": 0 if converged or y < 2030 else 2, "vm_min_pu": 0.95 + 0.001 * (y - 2026),
                      "trafo_loading_max_percent": 80.0 + y - 2026,
                      "ev_kwh_day_on_grid": {"public": 100.0 * (y - 2025), "home": 50.0, "depot": 10.0}}
             for y in range(2026, 2031)}
    rounds = [
        {"iteration": 0, "violations": 40, "violations_by_year": {"2026": 0, "2027": 0, "2028": 3, "2029": 7, "2030": 30},
         "served_share": 0.9932, "capex_usd": 949725.0, "reinforcement_usd": 0.0, "utility_reinforcement_usd": 0.0,
         "sites_open": 27, "opened": [], "closed": [], "n_opened": 0, "n_closed": 0},
        {"iteration": 1, "violations": 0 if converged else 2,
         "violations_by_year": {"2026": 0, "2027": 0, "2028": 0, "2029": 0, "2030": 0 if converged else 2},
         "served_share": 0.9899, "capex_usd": 966738.0, "reinforcement_usd": 1200.0,
         "utility_reinforcement_usd": 46331.0, "sites_open": 32, "opened": ["s1", "s2", "s3"], "closed": ["s9"],
         "n_opened": 3, "n_closed": 1},
    ]
    return {"grid": {"years": years}, "grid_aware": {
        "iterations": rounds, "converged": converged,
        "reinforcement": [{"group_id": "dt:7", "option": "DT 100 -> 160 kVA", "added_kw": 57.0, "cost_usd": 1200.0,
                           "year": 2028}],
        "utility_reinforcement": [{"group_id": "mv:2", "option": "second 10 MVA unit", "added_kw": 9000.0,
                                   "cost_usd": 46331.0, "year": 2029}],
        "utility_reinforcement_usd": 46331.0}}


def _rollout_plan(rollout_years):
    from types import SimpleNamespace

    import pandapower as pp

    net = pp.create_empty_network()
    for _ in range(3):
        pp.create_bus(net, 11.0)
    for i in range(8):
        pp.create_transformer(net, 0, 1, "0.25 MVA 20/0.4 kV", name=f"DT<{i}>")
    cfg = SimpleNamespace(siting=SimpleNamespace(rollout_years=rollout_years), fleet=SimpleNamespace(year=2030))
    return SimpleNamespace(city=SimpleNamespace(config=cfg), grid=SimpleNamespace(net=net))


def test_the_grid_safe_rollout_section_reads_the_loop_record_in_plain_words():
    from charge_planner.outputs.report_rollout import rollout_context

    ctx = rollout_context(_rollout_plan([2026, 2028, 2030]), _rollout_summary(converged=True))
    assert [r["year"] for r in ctx["years"]] == ["2026", "2027", "2028", "2029", "2030"]
    assert [r["sites"] for r in ctx["years"]] == ["2026", "2026 (between rollout years)", "2028",
                                                  "2028 (between rollout years)", "2030"]
    assert ctx["years"][1]["public"] == "200" and ctx["years"][1]["vm_min"] == "0.951" and ctx["between"]
    assert ctx["headline"] == (
        "The grid-blind plan (round 0) breaks 40 limit(s) over the years checked (2028: 3, 2029: 7, 2030: 30). "
        "After 2 rounds of siting, the plan keeps every voltage and loading within its limits in each of the 5 years "
        "checked. It pays 1,200 USD of grid reinforcement from its budget; the load without public charging (base, "
        "home and depot charging) needs 46,331 USD of reinforcement by the utility in any case, which is not part of "
        "the plan's capital cost.")
    assert [(r["round"], r["by_year"], r["served"], r["moved"]) for r in ctx["rounds"]] == [
        (0, "2028: 3, 2029: 7, 2030: 30", "99.3%", "—"), (1, "none", "99.0%", "+3 / -1")]
    # the works in the order they are built, each with who pays and the transformer's own name
    assert [(w["where"], w["year"], w["cost"], w["paid_by"]) for w in ctx["works"]] == [
        ("DT area of transformer 7 (DT<7>)", 2028, "1,200", "plan budget"),
        ("MV network of substation transformer 2 (DT<2>)", 2029, "46,331", "utility")]
    left = rollout_context(_rollout_plan([2026, 2028, 2030]), _rollout_summary(converged=False))
    assert "2 violation(s) are left (2030: 2)" in left["headline"]


def test_a_one_year_plan_has_no_rollout_section_and_a_grid_blind_one_no_rounds():
    from charge_planner.outputs.report_rollout import rollout_context

    one = {"grid": {"years": {"2030": {"sites_of_rollout_year": 2030, "violations": 0}}}}
    assert rollout_context(_rollout_plan(None), one) is None
    blind = _rollout_summary(converged=True)
    del blind["grid_aware"]
    ctx = rollout_context(_rollout_plan([2026, 2028, 2030]), blind)
    assert not ctx["aware"] and len(ctx["years"]) == 5
