"""The pipeline's stages rerun alone with explicit inputs, and a plan pickles small."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.pipeline import grid_stage, site_profiles, siting_stage


def test_a_plan_pickles_without_solver_matrices_graphs_or_step_matrices(demo_plan) -> None:
    data = pickle.dumps(demo_plan, protocol=pickle.HIGHEST_PROTOCOL)
    # the same parts pickled whole, and what is left out, measured on its own
    parts = {**demo_plan.__dict__, "city": demo_plan.city.__dict__, "siting": demo_plan.siting.__dict__}
    whole = len(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL))
    left_out = sum(len(pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)) for v in (
        demo_plan.siting.model, demo_plan.siting.index, demo_plan.city.roads, demo_plan.flow.batch))
    assert left_out > 2_000_000
    assert len(data) < whole - 0.9 * left_out
    back = pickle.loads(data)
    assert back.siting.model is None and back.siting.index == {}
    assert "roads" not in back.city.__dict__ and "roads_by_mode" not in back.city.__dict__
    assert back.flow.batch is None and demo_plan.flow.batch is not None  # the original keeps its matrices
    # the tables a report is made of travel whole, and the solver's figures stay readable
    pd.testing.assert_frame_equal(back.sites.drop(columns="geometry"), demo_plan.sites.drop(columns="geometry"))
    pd.testing.assert_frame_equal(back.flow.buses, demo_plan.flow.buses)
    assert back.summary == demo_plan.summary
    assert back.siting.summary()["rows"] == demo_plan.siting.summary()["rows"]
    # the road graphs come back from the bundle on first use
    assert back.city.roads.number_of_edges() == demo_plan.city.roads.number_of_edges()
    assert set(back.city.roads_by_mode) == set(demo_plan.city.roads_by_mode)


def test_the_grid_stage_reruns_alone_from_its_loads(demo_plan) -> None:
    loads = demo_plan.grid_loads
    assert isinstance(loads, GridLoads) and isinstance(demo_plan.grid_results, GridResults)
    again = grid_stage(demo_plan.city, loads)
    assert again.mode == demo_plan.grid_results.mode
    pd.testing.assert_series_equal(again.site_buses, demo_plan.grid_results.site_buses)
    np.testing.assert_allclose(again.buses["vm_pu"], demo_plan.flow.buses["vm_pu"], atol=1e-9)
    # the same sites drawing twice the energy: the EV energy on the grid grows (short of double where a
    # site's hourly draw is capped at its installed power) and the voltage at the sites' buses falls
    heavier = dataclasses.replace(loads, sites=loads.sites.assign(served_kwh_day=loads.sites["served_kwh_day"] * 2))
    twice = grid_stage(demo_plan.city, heavier)
    e1, e2 = again.assessment.energy.ev_kwh, twice.assessment.energy.ev_kwh
    assert e2 > 1.5 * e1
    at = again.site_buses.unique()
    v1, v2 = again.buses.loc[at, "vm_pu"], twice.buses.loc[at, "vm_pu"]
    assert (v2 <= v1 + 1e-12).all() and (v2 < v1 - 1e-4).any()


def test_site_profiles_weight_each_sites_demand_by_served_energy() -> None:
    sites = pd.DataFrame(index=pd.Index(["a", "b", "c"], name="site_id"))
    demand = pd.DataFrame({"segment": ["car", "two_wheeler"], "use_case": ["public_dc", "public_ac"]},
                          index=pd.Index(["d1", "d2"], name="demand_id"))
    asg = pd.DataFrame({"demand_id": ["d1", "d2", "d1"], "site_id": ["a", "a", "b"], "served_kwh_day": [30.0, 10.0, 5.0]})
    from charge_planner.demand import charging_profile

    out = site_profiles(sites, asg, demand, "unmanaged", (22, 6))
    car = charging_profile("car", "public_dc", "unmanaged", offpeak_hours=(22, 6))
    tw = charging_profile("two_wheeler", "public_ac", "unmanaged", offpeak_hours=(22, 6))
    np.testing.assert_allclose(out[0], 0.75 * car + 0.25 * tw, atol=1e-12)  # 30 of 40 kWh by car
    np.testing.assert_allclose(out[1], car, atol=1e-12)
    np.testing.assert_allclose(out[2], np.full(24, 1 / 24))  # no assignment: flat
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_the_siting_stage_reruns_alone_with_another_budget(demo_plan) -> None:
    cfg = demo_plan.city.config
    usable = demo_plan.candidates[demo_plan.candidates["excluded_reason"] == ""]
    budget = 300_000.0
    # a budget that leaves demand unserved needs a solver search: 10 s is enough for the checks below
    low = cfg.model_copy(update={"siting": cfg.siting.model_copy(update={"budget_usd": budget, "time_limit_s": 10})})
    model, sites = siting_stage(low, demo_plan.demand, usable, demo_plan.charger_types, demo_plan.travel)
    capex = float(sites["capex_usd"].sum()) if "capex_usd" in sites else model.summary()["capex_usd"]
    assert capex <= budget + 1.0
    assert model.summary()["served_kwh_day"] < demo_plan.summary["kpis"]["served_kwh_day"]
    assert set(sites["grid_level"]) <= {"lv", "mv"}
    # the one MV/LV rule: MV exactly where the installed power passes grid.lv_max_site_kw or an MV charger is
    mv_types = [t for t in demo_plan.charger_types.index if demo_plan.charger_types.loc[t, "grid_level"] == "mv"]
    expect_mv = sites["power_kw"] > cfg.grid.lv_max_site_kw
    for t in mv_types:
        expect_mv |= sites[f"chargers_{t}"] > 0
    assert (sites["grid_level"] == np.where(expect_mv, "mv", "lv")).all()


@pytest.mark.parametrize("bad", ["power_kw", "served_kwh_day"])
def test_grid_loads_refuse_sites_without_their_columns(demo_plan, bad: str) -> None:
    loads = demo_plan.grid_loads
    with pytest.raises(ValueError, match=bad):
        GridLoads(base=loads.base, sites=loads.sites.drop(columns=bad), site_profiles=loads.site_profiles)
