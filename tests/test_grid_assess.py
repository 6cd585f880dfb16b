"""Tests of the plan-level grid check (time series + PV + hosting + energy) and its pipeline output."""

from __future__ import annotations

import copy

import geopandas as gpd
import numpy as np
import pandapower as pp
import pandas as pd
import pytest
from conftest import BENGALURU_DIR, shared

from charge_planner.errors import DataError
from charge_planner.grid import GridModel, assess_grid, site_load_matrix, synthesise_grid
from charge_planner.grid.energy import PVProfile
from charge_planner.grid.model import run_pandapower
from charge_planner.grid.timeseries import time_index
from tests.test_grid import grid_roads

CRS = "EPSG:32643"


@pytest.fixture(scope="module")
def grid() -> GridModel:
    roads = grid_roads(5)
    rng = np.random.default_rng(4)
    loads = gpd.GeoDataFrame(
        {"base_peak_kw": rng.uniform(20, 60, 80)},
        geometry=gpd.points_from_xy(rng.uniform(500_000, 500_800, 80), rng.uniform(3_000_000, 3_000_800, 80)),
        crs=CRS,
    )
    return synthesise_grid(roads, loads)


def test_assess_grid_energy_balance_and_hosting(grid: GridModel) -> None:
    lv = grid.net.bus.index[grid.net.bus["role"] == "lv"][:2]
    sites = pd.DataFrame(
        {"bus_id": lv, "served_kwh_day": [240.0, 120.0], "power_kw": [50.0, 30.0]}, index=["a", "b"]
    )
    index = time_index("day", year=2030)
    pv_shape = np.zeros(24)
    pv_shape[12] = 2.0
    pv = PVProfile(kw_per_kwp=pv_shape, annual_yield_kwh_per_kwp=730.0, annual_mean_kw_per_kwp=730.0 / 8760.0)
    mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 500.0)})
    before = copy.deepcopy(grid.net)
    a = assess_grid(
        grid, sites, index, ev_shares=np.full(24, 1 / 24), base_load_factor=np.full(24, 0.8), mix=mix, pv=pv,
        pv_kwp_per_site=5.0,
    )
    # EV: 10 kW and 5 kW flat; PV: 10 kW at each site bus at noon
    np.testing.assert_allclose(a.ev_kw[lv[0]], 10.0)
    np.testing.assert_allclose(a.ev_kw[lv[1]], 5.0)
    e = a.energy
    assert (e.ev_kwh, e.pv_used_kwh, e.pv_exported_kwh) == pytest.approx((360.0, 15.0, 5.0))
    assert e.grid_kwh == pytest.approx(345.0)
    assert e.renewable_share == pytest.approx((15.0 + 0.2 * 345.0) / 360.0)
    assert e.co2_kg == pytest.approx(345.0 * 0.5)
    assert a.days == 1.0 and a.flow.converged and a.flow.n_violations == 0
    assert a.flow.steps.loc[index[12], "pv_mw"] == pytest.approx(0.02)
    # hosting capacity of every non-slack bus, verified by a load flow
    hc = a.flow.buses["hosting_capacity_kw"]
    roles = a.flow.buses["role"]
    assert hc[roles.isin(["lv", "mv"])].notna().all() and (hc[roles.isin(["lv", "mv"])] > 0).all()
    assert set(a.flow.buses["hosting_limit"].dropna()) <= {"undervoltage", "overvoltage", "line", "trafo", ""}
    assert len(a.hosting_steps) >= 1
    work = copy.deepcopy(grid.net)
    work.load["scaling"] = 0.8
    bus = int(lv[0])
    pp.create_load(work, bus, p_mw=hc[bus] / 1000.0)  # at the hosting capacity every limit still holds
    run_pandapower(work)
    assert work.res_bus["vm_pu"].between(0.95 - 1e-9, 1.05 + 1e-9).all()
    assert work.res_trafo["loading_percent"].max() <= 100.0 + 1e-6
    assert work.res_line["loading_percent"].max() <= 100.0 + 1e-6
    assert pp.toolbox.nets_equal(grid.net, before)


def test_site_load_matrix_per_site_profiles_and_cap() -> None:
    index = time_index("day", year=2030, resolution_min=15)
    shares = np.zeros((2, 24))
    shares[0, 20] = 1.0
    shares[1, :] = 1 / 24
    sites = pd.DataFrame({"bus_id": [7, 7], "served_kwh_day": [10.0, 48.0], "power_kw": [100.0, 100.0]})
    kw = site_load_matrix(sites, index, shares)
    assert list(kw.columns) == [7]
    assert kw[7].sum() * 0.25 == pytest.approx(58.0)
    assert kw.loc[index[80], 7] == pytest.approx(12.0)  # 20:00: 10 kW + 2 kW
    # a site whose profile asks for more than its power: held at 5 kW, the rest charged in the next steps (by
    # hand: 10 kWh at 20:00-21:00 needs 10 kW; 5 kW then, 5 kW 21:00-22:00), its daily energy kept
    capped = site_load_matrix(sites.assign(power_kw=[5.0, 100.0]), index, shares)
    assert capped.loc[index[80], 7] == pytest.approx(7.0) and capped.loc[index[84], 7] == pytest.approx(7.0)
    assert capped.loc[index[88], 7] == pytest.approx(2.0) and capped.loc[index[79], 7] == pytest.approx(2.0)
    assert capped[7].sum() * 0.25 == pytest.approx(58.0)
    # round the day: a demand at 23:00 above the power is charged after midnight, at the start of the day
    late = np.zeros((1, 24))
    late[0, 23] = 1.0
    wrap = site_load_matrix(pd.DataFrame({"bus_id": [3], "served_kwh_day": [9.0], "power_kw": [3.0]}), index, late)
    assert wrap[3].iloc[92:].tolist() == pytest.approx([3.0] * 4) and wrap[3].iloc[:8].tolist() == pytest.approx([3.0] * 8)
    assert wrap[3].sum() * 0.25 == pytest.approx(9.0)
    # more energy than the power delivers in a whole day: the rest is left out (and logged)
    over = site_load_matrix(pd.DataFrame({"bus_id": [3], "served_kwh_day": [100.0], "power_kw": [2.0]}), index,
                            np.full((1, 24), 1 / 24))
    assert over[3].max() == pytest.approx(2.0) and over[3].sum() * 0.25 == pytest.approx(48.0)
    with pytest.raises(DataError, match="shape"):
        site_load_matrix(sites, index, np.ones((3, 24)) / 24)


def test_demo_plan_runs_the_grid_time_series(demo_plan) -> None:
    g = demo_plan.summary["grid"]
    assert g["time_series"] == "day" and g["steps"] == 24 and g["non_converged_steps"] == []
    e = g["energy"]
    # every kWh the plan serves reaches the grid: a site whose profile asks for more than its power in an hour
    # charges the rest in the next hours
    assert e["ev_kwh_day"] == pytest.approx(demo_plan.summary["kpis"]["served_kwh_day"], rel=1e-6)
    assert 0.0 < e["renewable_share"] < 1.0
    assert demo_plan.summary["kpis"]["charging_renewable_share"] == e["renewable_share"]
    assert g["hosting_capacity"]["buses"] > 0
    buses = demo_plan.flow.buses
    assert {"vm_min_pu", "vm_max_pu", "hosting_capacity_kw", "undervoltage_h"} <= set(buses.columns)
    # several substations for the demo city's load, each with its own external grid
    assert (demo_plan.grid.net.trafo["role"] == "substation").sum() >= 2


@pytest.mark.slow
def test_synthesised_grid_of_central_bengaluru_converges_as_built() -> None:
    from charge_planner.assumptions import preset_of
    from charge_planner.city import load_city
    from charge_planner.demand import population_by_cell

    root = shared("bengaluru", "central_bengaluru_drive.graphml").parents[1]
    city = load_city(BENGALURU_DIR, data_dir=root)
    cells = population_by_cell(city.population, bounds=city.bounds(), cell_size_m=400)
    preset = preset_of(city.config)
    loads = gpd.GeoDataFrame(
        {"base_peak_kw": cells["population"].to_numpy() * preset.base_peak_kw_per_person.value},
        geometry=gpd.points_from_xy(cells["x"], cells["y"]), crs=city.crs,
    )
    model = synthesise_grid(city.roads, loads, mv_kv=preset.mv_kv.value, lv_kv=preset.lv_kv.value,
                            substations=city.substations if len(city.substations) else None)
    work = copy.deepcopy(model.net)
    run_pandapower(work)
    # the 11 kV level and the substations within limits; LV tail ends and DTs mostly (as built)
    lv = work.bus["role"] == "lv"
    assert work.res_bus.loc[~lv, "vm_pu"].between(0.95, 1.05).all()
    assert work.res_bus.loc[lv, "vm_pu"].between(0.95, 1.05).mean() >= 0.8
    assert work.res_bus.loc[lv, "vm_pu"].min() >= 0.9
    assert (work.res_line.loc[work.line["dt"] < 0, "loading_percent"] < 100.0).all()
    assert (work.res_trafo.loc[work.trafo["role"] == "substation", "loading_percent"] < 100.0).all()
    assert (work.res_trafo["loading_percent"] < 100.0).mean() >= 0.9
    assert model.net.load["p_mw"].sum() == pytest.approx(loads["base_peak_kw"].sum() / 1000.0)


def test_grid_ev_load_follows_the_demand_strategy_and_the_preset_window() -> None:
    """India + managed_offpeak: the grid's EV profile is the demand stage's, with India's 09-16 window."""
    from types import SimpleNamespace

    from charge_planner.assumptions import offpeak_hours
    from charge_planner.config import parse_config
    from charge_planner.demand import charging_profile
    from charge_planner.pipeline import grid_loads

    cfg = parse_config({
        "city": {"name": "X", "country": "india", "crs": "EPSG:32643"},
        "siting": {"budget_usd": 1000},
        "demand": {"charging_strategy": "managed_offpeak"},
    })
    city = SimpleNamespace(config=cfg, crs="EPSG:32643")
    sites = gpd.GeoDataFrame({"power_kw": [50.0], "grid_level": ["lv"], "node_id": [1], "served_kwh_day": [100.0]},
                             geometry=gpd.points_from_xy([777000.0], [1425000.0]), crs="EPSG:32643",
                             index=pd.Index(["s1"], name="site_id"))
    cells = pd.DataFrame({"population": [1000.0], "x": [777100.0], "y": [1425100.0]})
    demand = pd.DataFrame({"segment": ["two_wheeler"], "use_case": ["public_ac"]}, index=pd.Index(["d1"], name="demand_id"))
    assignments = pd.DataFrame({"demand_id": ["d1"], "site_id": ["s1"], "served_kwh_day": [100.0]})
    loads = grid_loads(city, cells, sites, assignments, demand)
    assert loads.strategy == "managed_offpeak" and loads.offpeak_window == (9, 16)
    shares = loads.site_profiles[0]
    assert offpeak_hours(cfg)[0] == (9, 16)  # India preset: presets.py offpeak_hours=(9, 16)
    expected = charging_profile("two_wheeler", "public_ac", "managed_offpeak", offpeak_hours=(9, 16))
    np.testing.assert_allclose(shares, expected, atol=1e-12)
    # managed charging moves energy into 09-16 (sessions of vehicles that leave before 09:00 or
    # arrive after 16:00 still charge outside it), and the old 22-06 window gives another shape
    unmanaged = charging_profile("two_wheeler", "public_ac", "unmanaged", offpeak_hours=(9, 16))
    assert shares[9:16].sum() > unmanaged[9:16].sum() + 0.03
    old = charging_profile("two_wheeler", "public_ac", "managed_offpeak", offpeak_hours=(22, 6))
    assert np.abs(shares - old).max() > 0.01
