"""Unserved demand split by cause, against hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from charge_planner.siting import CapacitatedSiting
from charge_planner.siting.unserved import CAUSES, unserved_demand, unserved_summary


def _case():
    """Three car rows and three sites; one fast-charger type of 60 kWh/day per charger, 500 USD.

    dA (30 kWh/day) has no travel pair; dB (100) reaches only s1, whose maximum is one charger;
    dC (50) reaches only s2, whose fixed cost (10,000 USD) is above the budget. Budget 2,200 USD:
    the plan opens s1 with one charger (1,500 USD), serves 60 of dB and has 700 USD left, enough
    for another charger but not for s2. s3 hosts two-wheeler chargers only.
    """
    demand = pd.DataFrame({"segment": ["car", "car", "car"], "energy_kwh_day": [30.0, 100.0, 50.0]},
                          index=pd.Index(["dA", "dB", "dC"], name="demand_id"))
    cand = pd.DataFrame({"max_chargers": [1, 4, 4], "fixed_cost_usd": [1000.0, 10_000.0, 1000.0],
                         "allowed_types": [None, None, ("lev",)]},
                        index=pd.Index(["s1", "s2", "s3"], name="site_id"))
    types = pd.DataFrame({"power_kw": [60.0, 10.0], "capex_usd": [500.0, 300.0],
                          "segments": [("car",), ("two_wheeler",)], "service_hours_day": [1.0, 4.0]},
                         index=pd.Index(["dc", "lev"], name="charger_type"))
    travel = pd.DataFrame({"demand_id": ["dB", "dC"], "site_id": ["s1", "s2"], "travel_time_s": [10.0, 10.0]})
    m = CapacitatedSiting.from_tables(demand, cand, types, travel, budget_usd=2200.0, max_sites_per_demand=1)
    return m.solve("highs", mip_gap=0), travel


def test_each_cause_matches_the_hand_computation():
    m, travel = _case()
    assert m.meta["served_kwh_day"] == pytest.approx(60.0)
    u = unserved_demand(m, travel)
    assert u.loc["dA", "cause"] == "no_candidate" and u.loc["dA", "unserved_kwh_day"] == pytest.approx(30.0)
    assert u.loc["dB", "cause"] == "out_of_capacity" and u.loc["dB", "unserved_kwh_day"] == pytest.approx(40.0)
    assert u.loc["dB", "detail"] == "site_full"  # 700 USD left would buy a charger; s1 holds only one
    assert u.loc["dC", "cause"] == "out_of_budget" and u.loc["dC", "unserved_kwh_day"] == pytest.approx(50.0)
    assert u["budget_left_usd"].iloc[0] == pytest.approx(700.0)
    assert unserved_demand(m).equals(u)  # the travel table only tells dropped pairs apart
    s = unserved_summary(u)
    assert s["by_cause"] == {"no_candidate": 30.0, "not_in_nearest": 0.0, "out_of_budget": 50.0, "not_opened": 0.0,
                             "out_of_capacity": 40.0}
    assert s["unserved_kwh_day"] == pytest.approx(120.0) and s["demand_kwh_day"] == pytest.approx(180.0)
    assert s["share_of_demand"]["out_of_budget"] == pytest.approx(50.0 / 180.0)
    assert s["by_segment"]["car"]["out_of_capacity"] == pytest.approx(40.0)
    assert s["out_of_capacity_detail"] == {"site_full": 40.0, "budget": 0.0, "other": 0.0}


def test_a_smaller_budget_makes_the_full_site_a_budget_limit():
    m, travel = _case()
    m2 = CapacitatedSiting.from_tables(m.demand, m.candidates, m.charger_types, travel, budget_usd=1600.0,
                                       max_sites_per_demand=1).solve("highs", mip_gap=0)
    u = unserved_demand(m2, travel)
    assert u.loc["dB", "cause"] == "out_of_capacity" and u.loc["dB", "detail"] == "budget"  # 100 USD left < 500


def test_a_plan_that_opens_nothing_though_it_could_is_not_blamed_on_the_budget():
    m, travel = _case()
    m.result.x = np.zeros_like(m.result.x)  # a feasible plan with no site: 2,200 USD left
    u = unserved_demand(m, travel)
    assert u.loc["dB", "cause"] == "not_opened"  # s1 with one charger costs 1,500 USD
    assert u.loc["dC", "cause"] == "out_of_budget"  # s2 costs 10,500 USD
    assert u["unserved_kwh_day"].sum() == pytest.approx(180.0)


def test_a_suitable_candidate_the_model_did_not_keep_is_told_apart():
    m, travel = _case()
    # a pair of dA to s1 (which can host its charger) that the model was not given
    full = pd.concat([travel, pd.DataFrame({"demand_id": ["dA"], "site_id": ["s1"], "travel_time_s": [900.0]})])
    assert unserved_demand(m, full).loc["dA", "cause"] == "not_in_nearest"
    # a pair to s3, which hosts two-wheeler chargers only, does not count
    other = pd.concat([travel, pd.DataFrame({"demand_id": ["dA"], "site_id": ["s3"], "travel_time_s": [900.0]})])
    assert unserved_demand(m, other).loc["dA", "cause"] == "no_candidate"


def test_nearest_sites_that_cannot_serve_a_row_do_not_crowd_out_one_that_can():
    m, travel = _case()
    # dD (car) reaches s3 (two-wheeler chargers only) first and s1 second; one site is kept per row
    demand = pd.concat([m.demand, pd.DataFrame({"segment": ["car"], "energy_kwh_day": [20.0]},
                                               index=pd.Index(["dD"], name="demand_id"))])
    travel = pd.concat([travel, pd.DataFrame({"demand_id": ["dD", "dD"], "site_id": ["s3", "s1"],
                                              "travel_time_s": [5.0, 50.0]})])
    m2 = CapacitatedSiting.from_tables(demand, m.candidates, m.charger_types, travel, budget_usd=2200.0,
                                       max_sites_per_demand=1).solve("highs", mip_gap=0)
    assert list(m2.pairs.loc[m2.pairs["demand_id"] == "dD", "site_id"]) == ["s1"]
    u = unserved_demand(m2, travel)
    # s1's one charger (60 kWh/day) serves dB or dD; the other 60 kWh/day wait for a second charger there
    assert m2.meta["served_kwh_day"] == pytest.approx(60.0)
    assert u.loc[["dB", "dD"], "unserved_kwh_day"].sum() == pytest.approx(60.0)
    assert set(u.loc[["dB", "dD"], "cause"]) - {""} == {"out_of_capacity"}


def test_causes_sum_to_the_unserved_energy_of_the_demo_plan(demo_plan):
    u = demo_plan.unserved
    last = demo_plan.siting.years[-1]
    total = demo_plan.siting.meta["demand_kwh_day"] - demo_plan.siting.meta["served_kwh_day"]
    part = u[u["year"] == last]
    assert set(part.loc[part["unserved_kwh_day"] > 0, "cause"]) <= set(CAUSES)
    assert part["unserved_kwh_day"].sum() == pytest.approx(total, rel=1e-6)
    s = demo_plan.summary["unserved"]
    assert sum(s["by_cause"].values()) == pytest.approx(s["unserved_kwh_day"], rel=1e-6, abs=1e-3)
    assert s["unserved_kwh_day"] == pytest.approx(total, rel=1e-6, abs=1e-3)
    for seg, r in s["by_segment"].items():
        assert sum(r[c] for c in CAUSES) == pytest.approx(r["unserved_kwh_day"], rel=1e-6, abs=1e-3), seg


@pytest.fixture(scope="module")
def kathmandu_city():
    from charge_planner import load_city
    from tests.conftest import ROOT, shared

    data = shared("kathmandu", "kathmandu_thapathali_map.osm").parents[1]
    return load_city(ROOT / "sample_cities" / "kathmandu_thapathali", data_dir=data)


def test_kathmandu_bus_demand_is_unserved_for_want_of_a_depot_unless_depot_candidates_are_generated(kathmandu_city):
    """The extract tags no bus depot or bus station (only those may host bus chargers). Without generated
    depot candidates every bus row lacks an eligible candidate; with them (the default), the bus demand
    is served at a candidate on OSM land, labelled as generated in the map and the report."""
    import dataclasses

    from charge_planner import plan
    from charge_planner.candidates import GENERATED_DEPOT_FLAG
    from charge_planner.config import CandidatesSection
    from charge_planner.outputs.maps import build_map
    from charge_planner.outputs.report import render_report

    city = kathmandu_city
    assert not city.pois["kind"].isin(["bus_station", "bus_depot"]).any()
    off = dataclasses.replace(city, config=city.config.model_copy(
        update={"candidates": CandidatesSection(generate_depots=False)}))
    p = plan(off, progress=False)
    u = p.unserved[p.unserved["year"] == p.siting.years[-1]]
    total = p.siting.meta["demand_kwh_day"] - p.siting.meta["served_kwh_day"]
    assert u["unserved_kwh_day"].sum() == pytest.approx(total, rel=1e-6)
    assert "generated_depot" not in set(p.candidates["kind"])
    bus = u[u["segment"] == "bus"]
    assert bus["demand_kwh_day"].sum() > 0
    assert (bus["cause"] == "no_candidate").all() and bus["served_kwh_day"].sum() == 0
    s = p.summary["unserved"]
    assert s["by_segment"]["bus"]["no_candidate"] == pytest.approx(bus["demand_kwh_day"].sum(), abs=1e-3)
    assert sum(s["by_cause"].values()) == pytest.approx(s["unserved_kwh_day"], rel=1e-6, abs=1e-3)
    html = render_report(p)
    assert "no eligible candidate within reach" in html
    assert "generated depot candidates are off (candidates.generate_depots = false)" in html
    document = build_map(p, offline=False).to_html()
    assert "no eligible candidate within reach" in document and "0 cells" not in document

    p = plan(city, progress=False)
    gen = p.candidates[p.candidates["kind"] == "generated_depot"]
    assert len(gen) >= 1 and (gen["flag"] == GENERATED_DEPOT_FLAG).all()
    assert (gen["excluded_reason"] == "").all() and gen["source"].str.startswith("generated_depot:").all()
    u = p.unserved[p.unserved["year"] == p.siting.years[-1]]
    bus = u[u["segment"] == "bus"]
    assert bus["unserved_kwh_day"].sum() == pytest.approx(0.0, abs=1e-6)
    # the bus chargers stand at generated depot candidates, the only candidates that may host them
    bus_chargers = [c for c in p.sites.columns if c == "chargers_dc_240kw_bus"]
    assert bus_chargers and p.sites.loc[p.sites[bus_chargers[0]] > 0, "kind"].eq("generated_depot").all()
    assert p.sites[bus_chargers[0]].sum() >= 1
    html = render_report(p)
    document = build_map(p, offline=False).to_html()
    assert GENERATED_DEPOT_FLAG in html and GENERATED_DEPOT_FLAG in document


def test_a_site_the_plan_opens_later_costs_only_the_years_before():
    from charge_planner.siting.unserved import _affordable

    k = np.array([0, 0])
    fixed, charger = np.array([1000.0, 1000.0]), np.array([500.0, 500.0])
    # cumulative rows with 2,000 USD left in the first year and none in the second; the first site is
    # opened with its charger by the plan in the second year, the second never
    until = np.array([1, 2])
    assert list(_affordable(np.array([2000.0, 0.0]), True, k, fixed, charger, until, until)) == [True, False]
    assert list(_affordable(np.array([1400.0, 0.0]), True, k, fixed, charger, until, until)) == [False, False]
    # incremental rows: a purchase is paid in one year's row, at or before the year it serves
    assert list(_affordable(np.array([1500.0, 0.0]), False, np.array([1, 0]), fixed, charger, until, until)) == [
        True, True]
    assert list(_affordable(np.array([0.0, 1500.0]), False, np.array([0, 1]), fixed, charger, until, until)) == [
        False, True]


def test_rollout_demand_before_a_site_opens_is_out_of_budget_when_that_year_cannot_pay():
    m, travel = _case()
    demand = pd.DataFrame({"segment": ["car", "car"], "energy_kwh_day": [50.0, 50.0], "year": [2026, 2030]},
                          index=pd.Index(["dX", "dY"], name="demand_id"))
    cand = m.candidates.assign(fixed_cost_usd=[1000.0, 1000.0, 1000.0])
    tr = pd.DataFrame({"demand_id": ["dX", "dY"], "site_id": ["s2", "s2"], "travel_time_s": [10.0, 10.0]})
    m2 = CapacitatedSiting.from_tables(demand, cand, m.charger_types, tr, budget_usd=1600.0,
                                       budget_by_year_usd={2026: 100.0, 2030: 1500.0}).solve("highs", mip_gap=0)
    u = unserved_demand(m2, tr)
    # s2 with one charger (1,500 USD) opens in 2030; in 2026 only 100 USD could be spent
    assert u.loc["dY", "unserved_kwh_day"] == pytest.approx(0.0)
    assert u.loc["dX", "cause"] == "out_of_budget" and u.loc["dX", "unserved_kwh_day"] == pytest.approx(50.0)
    assert unserved_summary(u)["by_year"] == {
        "2026": {"no_candidate": 0.0, "not_in_nearest": 0.0, "out_of_budget": 50.0, "not_opened": 0.0,
                 "out_of_capacity": 0.0},
        "2030": {c: 0.0 for c in CAUSES}}


def test_the_report_tells_why_no_depot_candidate_serves_bus_demand():
    from types import SimpleNamespace

    from charge_planner.outputs.report import depot_note

    def fake(kinds, flags, generate):
        cand = pd.DataFrame({"kind": kinds, "flag": flags})
        cfg = SimpleNamespace(candidates=SimpleNamespace(generate_depots=generate))
        return SimpleNamespace(candidates=cand, city=SimpleNamespace(config=cfg))

    assert depot_note(fake(["bus_station", "parking"], ["", ""], True)) == ""  # a tagged one exists
    assert "2 generated depot candidate(s) do not reach it" in depot_note(
        fake(["generated_depot", "generated_depot", "fuel"], ["x", "x", ""], True))
    assert "candidates.generate_depots = false" in depot_note(fake(["parking"], [""], False))
    assert "no land for a generated depot candidate" in depot_note(fake(["parking"], [""], True))


def test_truck_demand_without_a_depot_is_told_to_need_a_depot_not_more_sites():
    from charge_planner.outputs.report import unserved_context

    s = {"unserved": {"year": 2030, "unserved_kwh_day": 100.0, "unserved_share": 0.1,
                      "by_cause": {"no_candidate": 100.0}, "share_of_demand": {"no_candidate": 0.1},
                      "by_segment": {"truck": {"no_candidate": 60.0}, "car": {"no_candidate": 40.0}}}}
    text = " ".join(unserved_context(s, depot_note="no depot here", depot_segments={"bus", "truck"})["sentences"])
    assert "no depot here; add bus depot or bus station candidates (only those can host truck chargers); for the " \
           "other segments, add candidate sites there" in text
    # trucks that a charger standing anywhere may serve need more candidates, not a depot
    text = " ".join(unserved_context(s, depot_segments={"bus"})["sentences"])
    assert "depot" not in text and "add candidate sites there or lengthen the travel-time cut-off" in text
