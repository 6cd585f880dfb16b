"""The grid side of the grid-aware loop checked by hand on one transformer: headroom, options, reinforcement.

The headroom the loop hands to the optimiser is a linearisation; here pandapower, run on its own with
the headroom added as load, says how close it is to the limit it stands for.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from charge_planner.grid.assess import assess_grid
from charge_planner.grid.headroom import HEADROOM_POWER_FACTOR, bus_groups, group_headroom
from charge_planner.grid.model import GridModel, run_pandapower
from charge_planner.grid.reinforce import apply_reinforcements, reinforcement_options
from charge_planner.grid.results import GridResults
from charge_planner.grid.timeseries import time_index

BASE_KW = 60.0
PF = 0.95


def one_dt(line_km: float) -> GridModel:
    """11 kV source - 100 kVA DT - LV busbar - one LV line - a load bus with 60 kW of base load at pf 0.95."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 11.0)
    bar = pp.create_bus(net, 0.4)
    end = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, mv, vm_pu=1.0)
    pp.create_transformer_from_parameters(net, mv, bar, sn_mva=0.1, vn_hv_kv=11.0, vn_lv_kv=0.4, vkr_percent=1.5,
                                          vk_percent=4.5, pfe_kw=0.0, i0_percent=0.0)
    pp.create_line_from_parameters(net, bar, end, length_km=line_km, r_ohm_per_km=0.3, x_ohm_per_km=0.08,
                                   c_nf_per_km=0.0, max_i_ka=0.4)
    q = BASE_KW * np.tan(np.arccos(PF)) / 1000.0
    pp.create_load(net, end, p_mw=BASE_KW / 1000.0, q_mvar=q)
    net.bus["x_m"] = [0.0, 10.0, 10.0 + 1000.0 * line_km]
    net.bus["y_m"] = 0.0
    net.bus["role"] = ["mv", "lv", "lv"]
    net.bus["dt"] = [-1, 0, 0]
    net.line["dt"] = 0
    return GridModel(net=net, source="test", crs="EPSG:32643", synthetic=True)


def checked(grid: GridModel, public_kwh_day: float) -> GridResults:
    """A flat design day: base load constant, one public site at the load bus drawing its energy evenly."""
    index = time_index("day")
    rows = pd.DataFrame({"kind": ["public"], "bus_id": [2], "served_kwh_day": [public_kwh_day], "power_kw": [1e6],
                         "pv_kwp": [0.0], "site_id": ["s1"], "cell_id": [None]})
    profiles = np.full((1, 24), 1 / 24)
    mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 700.0)})
    a = assess_grid(grid, rows, index, ev_shares=profiles, base_load_factor=np.ones(24), mix=mix, hosting=False)
    return GridResults(model=grid, flow=a.flow, mode="day", site_buses=pd.Series({"s1": 2}), assessment=a,
                       ev_rows=rows, ev_profiles=profiles, year=2030)


def pandapower_with(grid: GridModel, public_kw: float) -> pp.pandapowerNet:
    net = copy.deepcopy(grid.net)
    pp.create_load(net, 2, p_mw=public_kw / 1000.0)
    run_pandapower(net)
    return net


def test_the_groups_of_a_grid_are_its_transformers() -> None:
    groups = bus_groups(one_dt(0.1))
    assert groups.loc[[1, 2], "group_id"].tolist() == ["dt:0", "dt:0"] and 0 not in groups.index


def test_transformer_headroom_matches_pandapower_at_the_limit() -> None:
    grid = one_dt(0.05)  # a short line: the transformer binds
    res = checked(grid, public_kwh_day=24 * 10.0)  # 10 kW of public charging every hour
    h = group_headroom(res).loc["dt:0"]
    assert h["limit"] == "trafo" and h["public_kw"] == pytest.approx(10.0)
    # by hand: 10 kW + (100 % - loading) x 100 kVA x 0.95
    loading = float(res.trafos["loading_percent"].max())
    assert h["headroom_kw"] == pytest.approx(10.0 + (100.0 - loading) / 100.0 * 100.0 * HEADROOM_POWER_FACTOR)
    # pandapower alone, with that much public charging: the transformer sits at its rating (within 3 %)
    net = pandapower_with(grid, h["headroom_kw"])
    assert net.res_trafo["loading_percent"].iloc[0] == pytest.approx(100.0, abs=3.0)
    # the installed kW the siting may put there: the public load at the worst hour per installed kW
    assert h["headroom_installed_kw"] == pytest.approx(max(h["headroom_kw"], 0.0) / h["coincidence"])


def test_voltage_headroom_matches_pandapower_at_the_lower_limit() -> None:
    grid = one_dt(0.9)  # a long line: the voltage binds first
    res = checked(grid, public_kwh_day=24 * 5.0)
    h = group_headroom(res).loc["dt:0"]
    assert h["limit"] == "voltage"
    net = pandapower_with(grid, h["headroom_kw"])
    assert net.res_bus["vm_pu"].iloc[2] == pytest.approx(0.95, abs=0.01)
    # a group already violated without public charging has negative headroom and a deficit
    heavy = one_dt(1.4)
    hv = group_headroom(checked(heavy, public_kwh_day=0.0)).loc["dt:0"]
    assert hv["violated"] and hv["violated_without_public"] and hv["deficit_kw"] > 0


def test_reinforcement_options_add_what_they_promise() -> None:
    grid = one_dt(0.05)
    res = checked(grid, public_kwh_day=24 * 40.0)  # 60 + 40 kW at pf ~0.98: overloaded
    heads = group_headroom(res)
    assert heads.loc["dt:0", "violated"]
    costs = {"dt_100kva": 5357.0, "dt_160kva": 6571.0, "lv_ab_cable_per_km": 7700.0}
    opts = reinforcement_options(grid, heads, costs, local_per_usd=84.0)
    up = opts[opts["kind"] == "dt_upgrade"].iloc[0]
    assert up["option"] == "DT 100 -> 160 kVA" and up["cost_usd"] == 6571.0
    # (160 - 100) kVA x 0.95 more at the transformer, as far as the line and the voltage let it
    h = heads.loc["dt:0"]
    head = min(h["trafo_kw"], h["line_kw"], h["voltage_kw"])
    assert up["added_kw"] == pytest.approx(
        min(h["trafo_kw"] + 60.0 * HEADROOM_POWER_FACTOR, h["line_kw"], h["voltage_kw"]) - head)
    assert 0 < up["added_kw"] <= 60.0 * HEADROOM_POWER_FACTOR + 1e-9
    added = opts[opts["kind"] == "dt_added"].iloc[0]
    assert added["option"] == "second 100 kVA DT" and added["cost_usd"] == costs["dt_100kva"]
    assert added["added_kw"] == pytest.approx(
        min(h["trafo_kw"] + 100.0 * HEADROOM_POWER_FACTOR, h["line_kw"], h["voltage_kw"]) - head)
    twin = apply_reinforcements(grid, opts[opts["kind"] == "dt_added"].head(1))
    assert int(twin.net.trafo.at[0, "parallel"]) == 2
    twin_pct = float(checked(twin, public_kwh_day=24 * 40.0).trafos["loading_percent"].max())
    assert twin_pct == pytest.approx(float(res.trafos["loading_percent"].max()) / 2.0, rel=0.03)
    circuit = opts[opts["kind"] == "lv_circuit"]
    assert circuit.empty or circuit["cost_usd"].iloc[0] == pytest.approx(7700.0 * 0.05)
    # built: the new rating carries the same load at 100/160 of the loading, and the plan's check passes
    bigger = apply_reinforcements(grid, opts[opts["kind"] == "dt_upgrade"].head(1))
    assert bigger.net.trafo.at[0, "sn_mva"] == pytest.approx(0.16) and grid.net.trafo.at[0, "sn_mva"] == 0.1
    after = checked(bigger, public_kwh_day=24 * 40.0)
    assert after.violations.empty
    before_pct, after_pct = float(res.trafos["loading_percent"].max()), float(after.trafos["loading_percent"].max())
    assert after_pct == pytest.approx(before_pct * 100.0 / 160.0, rel=0.03)


def one_mv_feeder(unit_mva: float = 10.0, max_i_ka: float = 0.1) -> GridModel:
    """33 kV source - 10 MVA substation unit - 11 kV busbar - a 2 km 11 kV section (100 A) - an MV load bus
    with 1.5 MW of base load at pf 0.95: the section, not the substation unit, limits the group (by default)."""
    net = pp.create_empty_network()
    hv = pp.create_bus(net, 33.0)
    bar = pp.create_bus(net, 11.0)
    end = pp.create_bus(net, 11.0)
    pp.create_ext_grid(net, hv, vm_pu=1.0)
    pp.create_transformer_from_parameters(net, hv, bar, sn_mva=unit_mva, vn_hv_kv=33.0, vn_lv_kv=11.0,
                                          vkr_percent=0.5, vk_percent=8.0, pfe_kw=0.0, i0_percent=0.0)
    pp.create_line_from_parameters(net, bar, end, length_km=2.0, r_ohm_per_km=0.3, x_ohm_per_km=0.35,
                                   c_nf_per_km=0.0, max_i_ka=max_i_ka)
    q = 1500.0 * np.tan(np.arccos(PF)) / 1000.0
    pp.create_load(net, end, p_mw=1.5, q_mvar=q)
    net.bus["x_m"] = [0.0, 10.0, 2010.0]
    net.bus["y_m"] = 0.0
    net.bus["role"] = ["hv", "mv_substation", "mv"]
    return GridModel(net=net, source="test", crs="EPSG:32643", synthetic=True)


def test_an_mv_section_that_binds_gets_a_second_cable_and_pandapower_agrees() -> None:
    grid = one_mv_feeder()
    res = checked(grid, public_kwh_day=24 * 400.0)  # 1.5 MW + 0.4 MW on a 1.9 MVA section: overloaded
    heads = group_headroom(res)
    h = heads.loc["mv:0"]
    assert h["violated"] and h["limit"] == "line"
    assert h["mv_cable_lines"] == (0,) and h["mv_cable_km"] == pytest.approx(2.0)
    # by hand: the section's rating doubled, its loading halved
    loading = float(res.lines["loading_percent"].max())
    kva = np.sqrt(3.0) * 11.0 * 0.1 * 1000.0
    assert h["mv_cable_line_kw"] == pytest.approx(400.0 + (100.0 - loading / 2.0) / 100.0 * 2.0 * kva * PF)
    costs = {"mv_cable_per_km": 28_000.0}
    opts = reinforcement_options(grid, heads, costs, local_per_usd=84.0)
    cable = opts[opts["kind"] == "mv_cable"].iloc[0]
    assert cable["cost_usd"] == pytest.approx(2.0 * 28_000.0) and cable["lines"] == (0,)
    assert cable["added_kw"] == pytest.approx(min(h["trafo_kw"], h["mv_cable_line_kw"]) - h["headroom_kw"])
    built = apply_reinforcements(grid, opts[opts["kind"] == "mv_cable"].head(1))
    assert int(built.net.line.at[0, "parallel"]) == 2 and int(grid.net.line.at[0, "parallel"]) == 1
    after = checked(built, public_kwh_day=24 * 400.0)
    assert after.violations.empty
    assert float(after.lines["loading_percent"].max()) == pytest.approx(loading / 2.0, rel=0.02)
    # pandapower alone with the headroom the cable gives as public load: the section sits at its new rating
    net = copy.deepcopy(built.net)
    pp.create_load(net, 2, p_mw=(min(h["trafo_kw"], h["mv_cable_line_kw"])) / 1000.0,
                   q_mvar=min(h["trafo_kw"], h["mv_cable_line_kw"]) / 1000.0 * np.tan(np.arccos(PF)))
    run_pandapower(net)
    assert net.res_line["loading_percent"].iloc[0] == pytest.approx(100.0, abs=4.0)


def test_a_substation_unit_that_binds_gets_a_second_unit_at_its_sourced_cost() -> None:
    grid = one_mv_feeder(unit_mva=2.0, max_i_ka=0.4)  # a 2 MVA unit, a 7.6 MVA section: the unit binds
    res = checked(grid, public_kwh_day=24 * 400.0)  # 1.5 MW + 0.4 MW at pf 0.95: about 2 MVA through the unit
    heads = group_headroom(res)
    h = heads.loc["mv:0"]
    assert h["violated"] and h["limit"] == "trafo"
    costs = {"substation_unit_2mva": 250_000.0, "substation_unit_10mva": 1.0, "mv_cable_per_km": 28_000.0}
    opts = reinforcement_options(grid, heads, costs, local_per_usd=84.0)
    unit = opts[opts["kind"] == "mv_unit"]
    assert len(unit) == 1 and unit["cost_usd"].iloc[0] == 250_000.0  # the cost of this unit's rating
    assert unit["option"].iloc[0] == "substation unit 2 MVA"
    # by hand: one more 2 MVA unit adds 2,000 kVA x pf at 100 % loading, as far as the section lets it
    assert unit["added_kw"].iloc[0] == pytest.approx(
        min(h["trafo_kw"] + 2000.0 * HEADROOM_POWER_FACTOR, h["line_kw"], h["voltage_kw"]) - h["headroom_kw"])
    built = apply_reinforcements(grid, unit)
    assert int(built.net.trafo.at[0, "parallel"]) == 2
    after = checked(built, public_kwh_day=24 * 400.0)
    assert after.violations.empty
    before = float(res.trafos["loading_percent"].max())
    assert float(after.trafos["loading_percent"].max()) == pytest.approx(before / 2.0, rel=0.03)
    # no cost for a rating: no option
    assert reinforcement_options(grid, heads, {"substation_unit_10mva": 1.0}, local_per_usd=84.0).query(
        "kind == 'mv_unit'").empty


def test_india_substation_unit_and_dt_costs_come_from_their_sources() -> None:
    from charge_planner.presets import get_preset, grid_reinforcement_costs

    c = grid_reinforcement_costs(get_preset("india"))
    # UERC order of 8 Dec 2016: UPCL's estimate of Dec 2015 for a new 2 x 10 MVA substation with 0.1 km of 33 kV
    # line, Rs 4.49 crore; half per unit, 2.245 crore x WPI 153.825 (2024 mean) / 109.4 (Dec 2015) = 3.1566 crore
    assert c["substation_unit_10mva"].value == 31_566_000.0 and c["substation_unit_10mva"].confidence == "M"
    # by hand: 100 kVA 1.30 lakh (Oct 2022, WPI 152.5) and 500 kVA 4 lakh (Jun 2023, WPI 148.9) equipment, in 2024
    # INR 131,130 and 413,230 (power law between them); installed: x 2.5 lakh (Apr 2024, WPI 152.9) in 2024 INR,
    # 251,512, over the 100 kVA price
    p100, p500 = 130_000.0 * 153.825 / 152.5, 400_000.0 * 153.825 / 148.9
    installed = 250_000.0 * 153.825 / 152.9 / p100
    assert c["dt_upgrade_100kva"].value == round(p100, -3) == 131_000.0
    assert c["dt_upgrade_500kva"].value == round(p500, -3) == 413_000.0
    assert c["dt_100kva"].value == round(p100 * installed, -3) == 252_000.0
    assert c["dt_500kva"].value == round(p500 * installed, -3)
    b = np.log(p500 / p100) / np.log(5.0)
    assert c["dt_upgrade_160kva"].value == round(p100 * 1.6**b, -3)
    # the Amroha cross-checks: 3.84 lakh per new DT station and 1.83 lakh per augmentation lie on the curves
    assert c["dt_100kva"].value < 384_000.0 < c["dt_200kva"].value
    assert c["dt_upgrade_160kva"].value < 183_000.0 * 1.1 and c["dt_upgrade_160kva"].value > 183_000.0 * 0.9


def _two_year_plan(growth: float):
    """One site with 2 AC chargers (10 kW, 10 h a day: 200 kWh/day) and 1 DC charger (50 kW, 8 h: 400 kWh/day)
    in 2028, serving three demand rows; the demand table has 2028 and 2029, each row grown by ``growth``."""
    from types import SimpleNamespace

    import geopandas as gpd

    types = pd.DataFrame({"power_kw": [10.0, 50.0], "service_hours_day": [10.0, 8.0]},
                         index=pd.Index(["ac", "dc"], name="charger_type"))
    rollout = pd.DataFrame({"site_id": ["s1", "s1"], "year": [2028, 2030], "chargers_ac": [2, 4], "chargers_dc": [1, 2],
                            "power_kw": [70.0, 140.0], "served_kwh_day": [200.0, 400.0]})
    asg = pd.DataFrame({"demand_id": ["a:2028", "b:2028", "c:2028"], "site_id": "s1", "charger_type": ["ac", "ac", "dc"],
                        "year": 2028, "share": 1.0, "served_kwh_day": [60.0, 50.0, 90.0], "travel_time_s": 60.0})
    rows = []
    for year, factor in ((2028, 1.0), (2029, growth)):
        for cell, energy in (("a", 60.0), ("b", 100.0), ("c", 90.0)):
            rows.append({"demand_id": f"{cell}:{year}", "cell_id": cell, "segment": "car",
                         "use_case": "public_dc" if cell == "c" else "public_ac", "year": year,
                         "energy_kwh_day": energy * factor})
    demand = SimpleNamespace(demand=pd.DataFrame(rows).set_index("demand_id"))
    model = SimpleNamespace(rollout=rollout, years=[2028, 2030], assignments_all=asg, assignments=asg, charger_types=types)
    sites = gpd.GeoDataFrame({"chargers_ac": [4], "chargers_dc": [2], "power_kw": [140.0], "served_kwh_day": [400.0]},
                             index=pd.Index(["s1"], name="site_id"), geometry=gpd.points_from_xy([0.0], [0.0]))
    return model, sites, demand


@pytest.mark.parametrize(("growth", "ac_a", "ac_b", "dc_c"), [
    # x 1.5: AC 90 + 75 = 165 kWh/day within its 200; DC 135 within 400
    (1.5, 90.0, 75.0, 135.0),
    # x 3: AC 180 + 150 = 330 kWh/day against 200, so each AC row gets 200/330 of its share; DC 270 within 400
    (3.0, 180.0 * 200 / 330, 150.0 * 200 / 330, 270.0),
])
def test_a_year_between_rollout_years_has_the_earlier_chargers_serving_its_grown_demand(growth, ac_a, ac_b,
                                                                                        dc_c) -> None:
    from charge_planner.pipeline.loop import sites_between

    model, sites, demand = _two_year_plan(growth)
    out, asg = sites_between(model, sites, demand, 2028, 2029)
    # the 2028 chargers (2 AC, 1 DC, 70 kW), not the 2030 ones
    assert out.loc["s1", "chargers_ac"] == 2 and out.loc["s1", "power_kw"] == pytest.approx(70.0)
    assert (asg["year"] == 2029).all()
    assert asg["served_kwh_day"].to_numpy() == pytest.approx([ac_a, ac_b, dc_c])
    assert out.loc["s1", "served_kwh_day"] == pytest.approx(ac_a + ac_b + dc_c)


def test_the_years_checked_are_every_year_of_the_rollout_unless_asked_for_the_rollout_years() -> None:
    from charge_planner.config import CityConfig
    from charge_planner.pipeline.loop import checked_years

    base = {"city": {"name": "x", "country": "india"}, "data": {"source": "synthetic"},
            "fleet": {"year": 2030}, "siting": {"budget_usd": 1e6, "rollout_years": [2026, 2028, 2030]}}
    assert checked_years(CityConfig.model_validate(base)) == [2026, 2027, 2028, 2029, 2030]
    rollout_only = {**base, "grid": {"check_years": "rollout"}}
    assert checked_years(CityConfig.model_validate(rollout_only)) == [2026, 2028, 2030]
    one_year = {**base, "siting": {"budget_usd": 1e6}}
    assert checked_years(CityConfig.model_validate(one_year)) == [2030]


def test_a_reinforced_group_gets_the_next_step_on_the_reinforced_grid_not_the_same_work_again() -> None:
    # a 200 m LV line: the voltage binds first, and a second LV circuit is on offer; once built, the transformer
    # binds, and the group's options are those of the reinforced grid: no third circuit costed as a second, the
    # DT's next rating and a second DT
    grid = one_dt(0.2)
    costs = {"dt_100kva": 5357.0, "dt_160kva": 6571.0, "lv_ab_cable_per_km": 7700.0}
    heads = group_headroom(checked(grid, public_kwh_day=24 * 10.0))
    assert heads.loc["dt:0", "limit"] == "voltage"
    first = reinforcement_options(grid, heads, costs, local_per_usd=84.0)
    assert "lv_circuit" in set(first["kind"])
    circuit = apply_reinforcements(grid, first[first["kind"] == "lv_circuit"].head(1))
    assert int(circuit.net.line.at[0, "parallel"]) == 2
    after = group_headroom(checked(circuit, public_kwh_day=24 * 10.0))
    assert after.loc["dt:0", "limit"] == "trafo"
    again = reinforcement_options(circuit, after, costs, local_per_usd=84.0)
    assert set(again["option"]) == {"DT 100 -> 160 kVA", "second 100 kVA DT"}
    # and applied after the circuit, the upgrade keeps it: 160 kVA with two circuits
    both = apply_reinforcements(grid, pd.concat([first[first["kind"] == "lv_circuit"].head(1),
                                                 again[again["kind"] == "dt_upgrade"].head(1)]))
    assert int(both.net.line.at[0, "parallel"]) == 2 and both.net.trafo.at[0, "sn_mva"] == pytest.approx(0.16)


@pytest.mark.slow
def test_a_multi_year_real_city_is_grid_safe_in_every_year_and_a_reinforced_area_gets_its_next_step() -> None:
    """Central Bengaluru planned in stages (the bundle with rollout years 2026, 2028 and 2030): the loop ends with no
    violation in any year from 2026 to 2030, the years between rollout years included; a DT area the utility
    reinforced and that breaks a limit again later gets another work, never the same one twice (with rollout
    years alone it stayed at one violation round after round)."""
    import dataclasses

    import charge_planner as cp
    from charge_planner.city import load_city
    from charge_planner.pipeline.options import Option, option_config
    from tests.conftest import ROOT, SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data {SHARED_DATA} not available")
    bundle = ROOT / "sample_cities" / "bengaluru_central"
    city = load_city(bundle, data_dir=SHARED_DATA)
    staged = Option("staged", {"siting.rollout_years": [2026, 2028, 2030]})
    city = dataclasses.replace(city, config=option_config(city.config, staged, source=str(bundle / "city.toml")))
    s = cp.plan(city).summary
    years = s["grid"]["years"]
    assert sorted(years) == ["2026", "2027", "2028", "2029", "2030"]
    assert {y: v["violations"] for y, v in years.items()} == dict.fromkeys(years, 0)
    assert [years[y]["sites_of_rollout_year"] for y in sorted(years)] == [2026, 2026, 2028, 2028, 2030]
    rounds = s["grid_aware"]["iterations"]
    assert rounds[0]["violations"] > 0 and rounds[-1]["violations"] == 0 and s["grid_aware"]["converged"]
    util = pd.DataFrame(s["grid_aware"]["utility_reinforcement"])
    again = util[util.duplicated("group_id", keep=False)]
    assert len(again), "no area needed a second step"
    for _, works in again.groupby("group_id"):
        assert works["option"].is_unique and works["year"].is_monotonic_increasing
