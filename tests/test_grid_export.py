"""Tests of the grid exports: the worst hour as a pandapower net and the load of every bus per step.

The reference is pandapower itself: the exported net is read back with ``pandapower.from_json``
and solved with ``pandapower.runpp``; its voltages and loadings must be the plan's own figures.
"""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest

from charge_planner.errors import DataError, GridError
from charge_planner.grid import GridModel, assess_grid
from charge_planner.grid.energy import PVProfile
from charge_planner.grid.export import BUS_LOAD_COLUMNS, bus_loads, worst_hour_net, worst_step
from charge_planner.grid.flow import run_peak_flow
from charge_planner.grid.model import SUBSTATION_TAP
from charge_planner.grid.results import GridResults
from charge_planner.grid.timeseries import base_load_profile, time_index
from charge_planner.outputs.write import FILES, write_grid_files
from charge_planner.pipeline import grid_stage

VM_TOL = 1e-6  # pu
LOADING_TOL = 1e-3  # %


def rerun(net: pp.pandapowerNet) -> pp.pandapowerNet:
    """Write the net to JSON text, read it back and solve it, with pandapower alone."""
    again = pp.from_json_string(pp.to_json(net))
    pp.runpp(again, algorithm="nr", init="auto")
    return again


def small_grid() -> GridModel:
    """20 kV supply, one 0.25 MVA transformer, a 0.4 kV feeder of three buses with base loads."""
    net = pp.create_empty_network(name="test feeder")
    hv = pp.create_bus(net, 20.0, name="hv")
    lv = [pp.create_bus(net, 0.4, name=f"lv{i}") for i in range(4)]
    pp.create_ext_grid(net, hv, vm_pu=1.0)
    pp.create_transformer(net, hv, lv[0], std_type="0.25 MVA 20/0.4 kV")
    for a, b in zip(lv[:-1], lv[1:], strict=True):
        pp.create_line(net, a, b, length_km=0.15, std_type="NAYY 4x150 SE")
    for bus, kw in zip(lv[1:], (40.0, 50.0, 30.0), strict=True):
        pp.create_load(net, bus, p_mw=kw / 1000.0, q_mvar=kw / 3000.0)
    pp.create_sgen(net, lv[1], p_mw=0.005, name="roof")  # the grid's own PV, constant
    net.bus["x_m"] = np.nan
    net.bus["y_m"] = np.nan
    net.bus["role"] = ["mv", "lv", "lv", "lv", "lv"]
    return GridModel(net=net, source="test", crs="EPSG:32643")


@pytest.fixture(scope="module")
def small_results() -> GridResults:
    """A design day whose worst hour (09:00, EV peak) has a base-load factor below 1 and PV."""
    grid = small_grid()
    lv = grid.net.bus.index[1:]
    sites = pd.DataFrame({"bus_id": [lv[2], lv[3]], "served_kwh_day": [300.0, 200.0], "power_kw": [150.0, 150.0]},
                         index=["a", "b"])
    index = time_index("day", year=2030)
    shares = np.full(24, 0.5 / 23)
    shares[9] = 0.5  # 150 kW and 100 kW at 09:00
    pv_shape = np.clip(np.sin((np.arange(24) - 6) / 12 * np.pi), 0, None) * 0.7
    pv = PVProfile(kw_per_kwp=pv_shape, annual_yield_kwh_per_kwp=1500.0, annual_mean_kw_per_kwp=1500.0 / 8760.0)
    mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 700.0)})
    factor = base_load_profile(index)
    a = assess_grid(grid, sites, index, ev_shares=shares, base_load_factor=factor, mix=mix, pv=pv,
                    pv_kwp_per_site=20.0, hosting=False)
    return GridResults(model=grid, flow=a.flow, mode="day", site_buses=pd.Series(sites["bus_id"]), assessment=a)


def test_worst_hour_net_reruns_in_pandapower_with_the_steps_loads(small_results: GridResults) -> None:
    r = small_results
    batch = r.flow.batch
    # the worst step by hand: violations of each step counted from the raw matrices
    under = (batch.vm_pu < 0.95).sum(axis=1)
    over = (batch.line_loading_percent > 100).sum(axis=1) + (batch.trafo_loading_percent > 100).sum(axis=1)
    assert (under + over).max() > 0
    expected = int(np.argmax(under + over))
    assert expected == 9 and worst_step(r) == expected
    before = copy.deepcopy(r.model.net)
    net = worst_hour_net(r)
    assert pp.toolbox.nets_equal(r.model.net, before)  # the plan's grid is untouched
    info = net["charge_planner"]
    assert info["step"] == 9 and info["time"] == "2030-05-15T09:00:00" and "09:00" in net.name
    factor = base_load_profile(r.flow.index)[9]
    assert 0.3 < factor < 0.9 and info["base_load_factor"] == pytest.approx(factor)
    # the elements: base loads at the step's power, one 'ev' load and one 'pv' sgen per site bus
    base = net.load[net.load["name"] != "ev"]
    np.testing.assert_allclose(base["p_mw"], np.array([40.0, 50.0, 30.0]) / 1000 * factor)
    ev = net.load[net.load["name"] == "ev"].set_index("bus")["p_mw"]
    assert ev.to_dict() == pytest.approx({3: 0.15, 4: 0.10})
    pv = net.sgen[net.sgen["name"] == "pv"].set_index("bus")["p_mw"]
    assert pv.to_dict() == pytest.approx({3: 0.02 * 0.7 * np.sin(np.pi / 4), 4: 0.02 * 0.7 * np.sin(np.pi / 4)})
    assert net.res_bus.empty
    solved = rerun(net)
    np.testing.assert_allclose(solved.res_bus["vm_pu"].reindex(batch.buses), batch.vm_pu[9], atol=VM_TOL)
    np.testing.assert_allclose(solved.res_line["loading_percent"].reindex(batch.lines), batch.line_loading_percent[9],
                               atol=LOADING_TOL)
    np.testing.assert_allclose(solved.res_trafo["loading_percent"].reindex(batch.trafos),
                               batch.trafo_loading_percent[9], atol=LOADING_TOL)
    assert solved.res_bus["vm_pu"].iloc[1:].min() == pytest.approx(info["vm_min_pu"], abs=VM_TOL)


def test_a_given_grid_with_every_kind_of_element_reruns() -> None:
    """pandapower's multi-voltage example: three-winding transformer, generator, shunt, switches, sgens."""
    net = pn.example_multivoltage()
    assert len(net.trafo3w) and len(net.gen) and len(net.shunt) and len(net.switch)
    grid = GridModel(net=net, source="pandapower_network:example_multivoltage", crs="EPSG:32632")
    sites = pd.DataFrame({"bus_id": net.load["bus"].to_numpy()[:3], "served_kwh_day": [3000.0, 2000.0, 2500.0],
                          "power_kw": [500.0] * 3})
    index = time_index("day", year=2030)
    mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 700.0)})
    a = assess_grid(grid, sites, index, ev_shares=np.full(24, 1 / 24), base_load_factor=base_load_profile(index),
                    mix=mix, hosting=False)
    r = GridResults(model=grid, flow=a.flow, mode="day", assessment=a)
    pos = worst_step(r)
    solved = rerun(worst_hour_net(r))
    b = a.flow.batch
    np.testing.assert_allclose(solved.res_bus["vm_pu"].reindex(b.buses), b.vm_pu[pos], atol=VM_TOL)
    for table, loading, ids in (("res_line", b.line_loading_percent, b.lines),
                                ("res_trafo", b.trafo_loading_percent, b.trafos),
                                ("res_trafo3w", b.trafo3w_loading_percent, b.trafos3w)):
        np.testing.assert_allclose(solved[table]["loading_percent"].reindex(ids), loading[pos], atol=LOADING_TOL)


def test_bus_loads_per_step_and_bus(small_results: GridResults) -> None:
    r = small_results
    frame = bus_loads(r)
    assert list(frame.columns) == BUS_LOAD_COLUMNS
    assert len(frame) == 24 * 3 and set(frame["bus"]) == {2, 3, 4} and (frame["year"] == 2030).all()
    factor = base_load_profile(r.flow.index)
    at = frame.set_index(["time", "bus"])
    t = r.flow.index[9]
    # by hand: bus 3 carries 50 kW base (q = p/3), site a's 150 kW at unity power factor and PV
    row = at.loc[(t, 3)]
    assert row["base_p_mw"] == pytest.approx(0.05 * factor[9]) and row["base_q_mvar"] == pytest.approx(0.05 / 3 * factor[9])
    assert (row["ev_p_mw"], row["ev_q_mvar"]) == pytest.approx((0.15, 0.0))
    assert row["pv_p_mw"] == pytest.approx(0.014 * np.sin(np.pi / 4))
    assert row["p_mw"] == pytest.approx(row["base_p_mw"] + 0.15 - row["pv_p_mw"])
    totals = frame.groupby("time")[["base_p_mw", "ev_p_mw", "pv_p_mw"]].sum()
    steps = r.flow.steps
    np.testing.assert_allclose(totals["base_p_mw"], steps["base_load_mw"], atol=1e-12)
    np.testing.assert_allclose(totals["ev_p_mw"], steps["ev_load_mw"], atol=1e-12)
    np.testing.assert_allclose(totals["pv_p_mw"], steps["pv_mw"], atol=1e-12)
    # the power factor of the EV load gives its reactive power
    lagging = bus_loads(r, ev_power_factor=0.8)
    np.testing.assert_allclose(lagging["ev_q_mvar"], lagging["ev_p_mw"] * 0.75)


def test_worst_step_ties_go_to_the_lowest_voltage_and_failed_steps_are_skipped(small_results: GridResults) -> None:
    steps = small_results.flow.steps.copy()
    steps["converged"] = True
    steps["n_violations"] = 0
    steps.iloc[3, steps.columns.get_loc("n_violations")] = 2
    steps.iloc[5, steps.columns.get_loc("n_violations")] = 2
    steps.iloc[3, steps.columns.get_loc("vm_min_pu")] = 0.97
    steps.iloc[5, steps.columns.get_loc("vm_min_pu")] = 0.96
    steps.iloc[7, steps.columns.get_loc("n_violations")] = 5  # most violations, but not converged
    steps.iloc[7, steps.columns.get_loc("converged")] = False

    def with_steps(s: pd.DataFrame) -> GridResults:
        return dataclasses.replace(small_results, flow=dataclasses.replace(small_results.flow, steps=s))

    assert worst_step(with_steps(steps)) == 5
    steps.iloc[5, steps.columns.get_loc("vm_min_pu")] = 0.97  # a full tie: the earlier step
    assert worst_step(with_steps(steps)) == 3
    steps["converged"] = False
    with pytest.raises(GridError, match="no step of the time series converged"):
        worst_hour_net(with_steps(steps))


def test_peak_flow_net_and_bus_loads() -> None:
    grid = small_grid()
    ev = pd.Series([60.0, 30.0, 20.0], index=[3, 4, 3])  # two sites at bus 3
    flow = run_peak_flow(grid.net, ev, base_load_scale=0.9)
    r = GridResults(model=grid, flow=flow, mode="peak")
    net = worst_hour_net(r)
    assert net["charge_planner"]["mode"] == "peak" and net["charge_planner"]["step"] is None
    assert net.load.loc[net.load["name"] == "ev"].set_index("bus")["p_mw"].to_dict() == pytest.approx({3: 0.08, 4: 0.03})
    solved = rerun(net)
    np.testing.assert_allclose(solved.res_bus["vm_pu"], flow.buses["vm_pu"].reindex(solved.res_bus.index), atol=VM_TOL)
    np.testing.assert_allclose(solved.res_line["loading_percent"], flow.lines["loading_percent"], atol=LOADING_TOL)
    np.testing.assert_allclose(solved.res_trafo["loading_percent"], flow.trafos["loading_percent"], atol=LOADING_TOL)
    frame = bus_loads(r, year=2030).set_index("bus")
    assert frame["time"].isna().all() and (frame["year"] == 2030).all()
    # by hand: bus 3 has 50 kW x 0.9 base and 80 kW EV; bus 2 40 kW x 0.9; bus 4 30 kW x 0.9 + 30 kW EV
    assert frame["base_p_mw"].to_dict() == pytest.approx({2: 0.036, 3: 0.045, 4: 0.027})
    assert frame["ev_p_mw"].to_dict() == pytest.approx({2: 0.0, 3: 0.08, 4: 0.03})
    assert frame["base_p_mw"].sum() == pytest.approx(flow.base_load_mw)
    # a peak flow that does not say where its EV load was is refused, not guessed
    blind = dataclasses.replace(r, flow=dataclasses.replace(flow, ev_kw_by_bus=pd.Series(dtype=float)))
    with pytest.raises(DataError, match="EV load per bus"):
        worst_hour_net(blind)


def test_ev_at_an_unknown_bus_is_refused(small_results: GridResults) -> None:
    a = small_results.assessment
    r = dataclasses.replace(small_results, assessment=dataclasses.replace(a, ev_kw=a.ev_kw.rename(columns={3: 99})))
    with pytest.raises(DataError, match="not in the grid"):
        worst_hour_net(r)


def test_plan_writes_the_worst_hour_and_the_bus_loads(demo_plan, demo_outputs) -> None:
    r = demo_plan.grid_results
    assert r.mode in ("day", "year")
    manifest = {e["name"]: e for e in json.loads((demo_outputs / "manifest.json").read_text())["files"]}
    for name in ("grid_worst_hour.json", "grid_loads.parquet"):
        assert manifest[name]["description"] == FILES[name]
    assert all(e.get("description") for e in manifest.values())  # every file written is described
    net = pp.from_json(str(demo_outputs / "grid_worst_hour.json"))
    info = net["charge_planner"]
    steps = r.flow.steps
    ok = steps[steps["converged"]]
    most = ok[ok["n_violations"] == ok["n_violations"].max()]
    expected = steps.index.get_loc(most["vm_min_pu"].idxmin())
    assert info["step"] == expected and pd.Timestamp(info["time"]) == steps.index[expected]
    pp.runpp(net, algorithm="nr", init="auto")
    batch = r.flow.batch
    np.testing.assert_allclose(net.res_bus["vm_pu"].reindex(batch.buses), batch.vm_pu[expected], atol=VM_TOL)
    np.testing.assert_allclose(net.res_line["loading_percent"].reindex(batch.lines),
                               batch.line_loading_percent[expected], atol=LOADING_TOL)
    np.testing.assert_allclose(net.res_trafo["loading_percent"].reindex(batch.trafos),
                               batch.trafo_loading_percent[expected], atol=LOADING_TOL)
    if len(batch.trafos3w):
        np.testing.assert_allclose(net.res_trafo3w["loading_percent"].reindex(batch.trafos3w),
                                   batch.trafo3w_loading_percent[expected], atol=LOADING_TOL)
    # the steps table's own figures of that step
    free = ~r.buses["slack"].to_numpy(bool)
    row = steps.iloc[expected]
    assert net.res_bus["vm_pu"].reindex(r.buses.index)[free].min() == pytest.approx(row["vm_min_pu"], abs=VM_TOL)
    assert net.res_line["loading_percent"].max() == pytest.approx(row["line_loading_max_percent"], abs=LOADING_TOL)
    assert net.res_trafo["loading_percent"].max() == pytest.approx(row["trafo_loading_max_percent"], abs=LOADING_TOL)
    assert net.res_ext_grid["p_mw"].sum() == pytest.approx(row["grid_import_mw"], abs=1e-6)

    loads = pd.read_parquet(demo_outputs / "grid_loads.parquet")
    assert list(loads.columns) == BUS_LOAD_COLUMNS and (loads.dtypes.iloc[3:] == np.float32).all()
    loads = loads.astype({c: float for c in BUS_LOAD_COLUMNS[3:]})  # stored in single precision
    assert (loads["year"] == demo_plan.city.config.fleet.year).all()
    totals = loads.groupby("time")[["base_p_mw", "ev_p_mw", "pv_p_mw"]].sum()
    assert len(totals) == len(steps)
    np.testing.assert_allclose(totals["base_p_mw"], steps["base_load_mw"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(totals["ev_p_mw"], steps["ev_load_mw"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(totals["pv_p_mw"], steps["pv_mw"], rtol=1e-6, atol=1e-9)
    # the worst hour's loads in the net are that step's rows of the table
    at = loads[loads["time"] == steps.index[expected]].set_index("bus")
    ev = net.load[net.load["name"] == "ev"].groupby("bus")["p_mw"].sum()
    np.testing.assert_allclose(ev, at["ev_p_mw"].reindex(ev.index), rtol=1e-6)  # single precision
    assert at["ev_p_mw"].sum() == pytest.approx(ev.sum(), rel=1e-6)


def test_peak_plan_writes_a_net_that_reproduces_the_peak_flow(demo_plan, tmp_path) -> None:
    cfg = demo_plan.city.config
    city = dataclasses.replace(demo_plan.city, config=cfg.model_copy(
        update={"grid": cfg.grid.model_copy(update={"time_series": "peak"})}))
    peak = copy.copy(demo_plan)
    peak.city = city
    peak.grid_results = grid_stage(city, demo_plan.grid_loads)
    peak.grid_years = {cfg.fleet.year: peak.grid_results}
    assert peak.grid_results.mode == "peak" and peak.grid_results.flow.ev_load_mw > 0
    written = write_grid_files(peak, tmp_path)
    assert [p.name for p in written] == ["grid_worst_hour.json", "grid_loads.parquet"]
    net = pp.from_json(str(tmp_path / "grid_worst_hour.json"))
    assert net["charge_planner"]["mode"] == "peak" and net["charge_planner"]["time"] is None
    pp.runpp(net, algorithm="nr", init="auto")
    flow = peak.grid_results.flow
    np.testing.assert_allclose(net.res_bus["vm_pu"].reindex(flow.buses.index), flow.buses["vm_pu"], atol=VM_TOL)
    np.testing.assert_allclose(net.res_line["loading_percent"].reindex(flow.lines.index),
                               flow.lines["loading_percent"], atol=LOADING_TOL)
    np.testing.assert_allclose(net.res_trafo["loading_percent"].reindex(flow.trafos.index),
                               flow.trafos["loading_percent"], atol=LOADING_TOL)
    assert net.load.loc[net.load["name"] == "ev", "p_mw"].sum() == pytest.approx(flow.ev_load_mw)
    loads = pd.read_parquet(tmp_path / "grid_loads.parquet").astype({c: float for c in BUS_LOAD_COLUMNS[3:]})
    assert loads["time"].isna().all() and (loads["year"] == cfg.fleet.year).all()
    assert loads["ev_p_mw"].sum() == pytest.approx(flow.ev_load_mw, rel=1e-6)
    assert loads["base_p_mw"].sum() == pytest.approx(flow.base_load_mw, rel=1e-6)
    assert loads["pv_p_mw"].sum() == 0.0


def test_bus_loads_of_every_rollout_year(demo_plan, tmp_path) -> None:
    final = demo_plan.grid_results
    assert final.year == demo_plan.city.config.fleet.year == 2030
    loads = dataclasses.replace(demo_plan.grid_loads.scaled(0.5), year=2028)
    early = grid_stage(demo_plan.city, loads, copy.deepcopy(demo_plan.grid))
    plan = copy.copy(demo_plan)
    plan.grid_years = {2028: early, 2030: final}
    write_grid_files(plan, tmp_path)
    frame = pd.read_parquet(tmp_path / "grid_loads.parquet").astype({c: float for c in BUS_LOAD_COLUMNS[3:]})
    assert sorted(frame["year"].unique()) == [2028, 2030]
    for year, r in plan.grid_years.items():
        rows = frame[frame["year"] == year]
        assert (rows["time"].dt.year == year).all()
        totals = rows.groupby("time")[["base_p_mw", "ev_p_mw", "pv_p_mw"]].sum()
        steps = r.flow.steps
        np.testing.assert_allclose(totals["base_p_mw"], steps["base_load_mw"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(totals["ev_p_mw"], steps["ev_load_mw"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(totals["pv_p_mw"], steps["pv_mw"], rtol=1e-6, atol=1e-9)
    # half the EV energy in 2028: less EV load on the grid than in 2030
    assert frame.loc[frame["year"] == 2028, "ev_p_mw"].sum() < frame.loc[frame["year"] == 2030, "ev_p_mw"].sum()
    # the worst hour is the plan's own check's, the last rollout year
    net = pp.from_json(str(tmp_path / "grid_worst_hour.json"))
    assert pd.Timestamp(net["charge_planner"]["time"]).year == 2030


def test_a_time_series_without_a_converged_step_writes_no_worst_hour(demo_plan, tmp_path, caplog) -> None:
    final = demo_plan.grid_results
    failed = dataclasses.replace(final.flow, steps=final.flow.steps.assign(converged=False))
    plan = copy.copy(demo_plan)
    plan.grid_results = dataclasses.replace(final, flow=failed)
    plan.grid_years = {}
    written = write_grid_files(plan, tmp_path)
    assert [p.name for p in written] == ["grid_loads.parquet"]
    assert not (tmp_path / "grid_worst_hour.json").exists()
    assert "grid_worst_hour.json skipped: no step of the time series converged" in caplog.text


def test_synthesised_grid_taps_act_per_hour_as_pandapower_run_control(demo_plan, monkeypatch) -> None:
    """Every substation OLTC of the synthesised grid acts per hour, carrying its position from hour to hour
    round the design day; pandapower's own controller, run on the net of an hour from the position the hour
    before ended at (the last hour's for the first), lands on the same position and the same voltages."""
    import charge_planner.grid.export as export

    r = demo_plan.grid_results
    batch = r.flow.batch
    subs = r.model.net.trafo.index[r.model.net.trafo["role"] == "substation"]
    assert batch.tap_pos is not None and sorted(batch.tap_trafos) == sorted(subs)
    design = r.model.net.trafo.loc[batch.tap_trafos, "tap_pos"].to_numpy()
    assert (batch.tap_pos != design).any()  # the tap moves over the day
    busbar = r.model.net.trafo.loc[batch.tap_trafos, "lv_bus"].to_numpy()
    vm_bus = r.flow.batch.vm_frame()[busbar].to_numpy()
    ctrl = r.model.net.controller["object"].iloc[0]
    at_limit = (batch.tap_pos == SUBSTATION_TAP["tap_min"]) | (batch.tap_pos == SUBSTATION_TAP["tap_max"])
    assert ((vm_bus > ctrl.vm_lower_pu) & (vm_bus < ctrl.vm_upper_pu) | at_limit).all()
    steps = [int(np.argmin(r.flow.steps["base_load_mw"])), int(np.argmax(r.flow.steps["ev_load_mw"])),
             int(np.argmax(r.flow.steps["base_load_mw"]))]
    for pos in steps:
        monkeypatch.setattr(export, "worst_step", lambda _r, p=pos: p)
        net = export.worst_hour_net(r)
        at_step = zip(batch.tap_trafos, batch.tap_pos[pos], strict=True)
        assert net["charge_planner"]["tap_pos"] == {str(t): int(k) for t, k in at_step}
        net.trafo.loc[batch.tap_trafos, "tap_pos"] = batch.tap_pos[pos - 1]  # where the hour before ended
        pp.runpp(net, algorithm="nr", init="auto", run_control=True)
        np.testing.assert_array_equal(net.trafo.loc[batch.tap_trafos, "tap_pos"].to_numpy(), batch.tap_pos[pos])
        np.testing.assert_allclose(net.res_bus["vm_pu"].reindex(batch.buses), batch.vm_pu[pos], atol=VM_TOL)
        np.testing.assert_allclose(net.res_trafo["loading_percent"].reindex(batch.trafos),
                                   batch.trafo_loading_percent[pos], atol=LOADING_TOL)
