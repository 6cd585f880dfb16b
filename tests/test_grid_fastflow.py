"""Tests of the batched load flow, the time series, hosting capacity and the energy balance."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest

from charge_planner.errors import DataError, GridError
from charge_planner.grid.energy import (
    PV_YIELD_KWH_PER_KWP_YEAR,
    charging_energy,
    combustion_co2_kg,
    grid_mix,
    pv_profile,
)
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.hosting import hosting_capacity, hosting_capacity_bisection
from charge_planner.grid.model import _quiet_pandapower
from charge_planner.grid.timeseries import (
    base_load_profile,
    daily_profile_series,
    run_time_series,
    time_index,
)


@pytest.fixture(scope="module")
def oberrhein() -> pp.pandapowerNet:
    with _quiet_pandapower():
        return pn.mv_oberrhein()


def runpp(net: pp.pandapowerNet) -> None:
    with _quiet_pandapower():
        pp.runpp(net, numba=False, tolerance_mva=1e-8)


def random_profiles(net: pp.pandapowerNet, n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    f = 0.2 + 1.0 * rng.random((n, len(net.load)))
    out = {
        "load_p_mw": pd.DataFrame(f * net.load["p_mw"].to_numpy(), columns=net.load.index),
        "load_q_mvar": pd.DataFrame(f * net.load["q_mvar"].to_numpy(), columns=net.load.index),
    }
    if len(net.sgen):
        g = rng.random((n, len(net.sgen)))
        out["sgen_p_mw"] = pd.DataFrame(g * net.sgen["p_mw"].to_numpy(), columns=net.sgen.index)
    return out


def assert_matches_runpp(net: pp.pandapowerNet, profiles: dict[str, pd.DataFrame], steps: list[int],
                         bus_p_mw: pd.DataFrame | None = None) -> None:
    n = len(next(iter(profiles.values())))
    model = BatchPowerFlow.from_net(net)
    res = model.run(n, bus_p_mw=bus_p_mw, **profiles)
    assert res.converged.all()
    work = copy.deepcopy(net)
    extra = None
    if bus_p_mw is not None:
        extra = pp.create_loads(work, bus_p_mw.columns.to_numpy(), p_mw=0.0)
    for k in steps:
        for key, df in profiles.items():
            table, col = {"load_p_mw": ("load", "p_mw"), "load_q_mvar": ("load", "q_mvar"),
                          "sgen_p_mw": ("sgen", "p_mw")}[key]
            work[table].loc[df.columns, col] = df.iloc[k].to_numpy()
        if extra is not None:
            work.load.loc[extra, "p_mw"] = bus_p_mw.iloc[k].to_numpy()
        runpp(work)
        np.testing.assert_allclose(res.vm_pu[k], work.res_bus["vm_pu"].to_numpy(), atol=1e-8, equal_nan=True)
        np.testing.assert_allclose(res.va_degree[k], work.res_bus["va_degree"].to_numpy(), atol=1e-6, equal_nan=True)
        if len(work.line):
            np.testing.assert_allclose(res.line_loading_percent[k], work.res_line["loading_percent"].to_numpy(),
                                       atol=1e-5, equal_nan=True)
        if len(work.trafo):
            np.testing.assert_allclose(res.trafo_loading_percent[k], work.res_trafo["loading_percent"].to_numpy(),
                                       atol=1e-5, equal_nan=True)
        if len(work.trafo3w):
            np.testing.assert_allclose(res.trafo3w_loading_percent[k],
                                       work.res_trafo3w["loading_percent"].to_numpy(), atol=1e-5, equal_nan=True)
        assert res.p_slack_mw[k] == pytest.approx(
            work.res_ext_grid["p_mw"].sum() + (work.res_gen["p_mw"][work.gen["slack"]].sum() if len(work.gen) else 0),
            abs=1e-6,
        )


# ------------------------------------------------------------------------------ fast path


def test_batched_flow_matches_runpp_on_mv_oberrhein(oberrhein: pp.pandapowerNet) -> None:
    # two external grids, transformer taps with a 150 degree phase shift, open line switches
    prof = random_profiles(oberrhein, 300)
    assert_matches_runpp(oberrhein, prof, [0, 1, 149, 299])


def test_batched_flow_matches_runpp_on_a_net_with_every_element_kind() -> None:
    with _quiet_pandapower():
        net = pn.example_multivoltage()  # trafo3w, gen (PV bus), shunt, ward, xward, impedance, switches
    net.line.loc[net.line.index[3], "in_service"] = False
    net.load.loc[net.load.index[0], ["const_z_p_percent", "const_i_q_percent"]] = [30.0, 20.0]
    pp.create_ward(net, int(net.load["bus"].iloc[2]), ps_mw=0.1, qs_mvar=0.05, pz_mw=0.02, qz_mvar=0.01)
    assert len(net.trafo3w) and len(net.gen) and len(net.shunt) and len(net.xward) and len(net.impedance)
    prof = random_profiles(net, 12, seed=3)
    ev = pd.DataFrame(np.linspace(0.0, 0.5, 12)[:, None] * np.ones((1, 2)),
                      columns=net.bus.index[net.bus["vn_kv"] < 1.0][:2])
    assert_matches_runpp(net, prof, [0, 5, 11], bus_p_mw=ev)


def test_non_converged_step_is_reported_not_replaced(oberrhein: pp.pandapowerNet) -> None:
    model = BatchPowerFlow.from_net(oberrhein)
    bus = int(oberrhein.bus.index[oberrhein.bus["vn_kv"] < 30][5])
    load = pd.DataFrame({bus: [0.0, 500.0, 0.0]})  # 500 MW at one MV bus: voltage collapse
    res = model.run(3, bus_p_mw=load)
    assert res.converged.tolist() == [True, False, True]
    assert np.isnan(res.vm_pu[1]).all() and np.isnan(res.line_loading_percent[1]).all()
    np.testing.assert_allclose(res.vm_pu[0], res.vm_pu[2])
    assert res.non_converged_steps.tolist() == [1]


def test_bad_inputs_give_clear_errors(oberrhein: pp.pandapowerNet) -> None:
    model = BatchPowerFlow.from_net(oberrhein)
    with pytest.raises(GridError, match=r"bus\(es\) 99999 are not in the grid"):
        model.run(2, bus_p_mw=pd.DataFrame({99999: [1.0, 1.0]}))
    with pytest.raises(DataError, match="load.p_mw profile has 3 steps, expected 2"):
        model.run(2, load_p_mw=pd.DataFrame({0: [1.0, 1.0, 1.0]}))
    with pytest.raises(DataError, match="NaN"):
        model.run(1, load_p_mw=pd.DataFrame({0: [np.nan]}))
    net = copy.deepcopy(oberrhein)
    net.ext_grid["in_service"] = False
    with pytest.raises(GridError, match="no external grid"):
        BatchPowerFlow.from_net(net)
    island = copy.deepcopy(oberrhein)
    b = pp.create_bus(island, 20.0, name="orphan")
    pp.create_load(island, b, p_mw=0.1)
    with pytest.raises(GridError, match=r"\('orphan'\)"):
        BatchPowerFlow.from_net(island)
    unsupplied = copy.deepcopy(oberrhein)
    lone = pp.create_bus(unsupplied, 20.0, name="lone")  # no line to it: not supplied
    with pytest.raises(GridError, match=rf"{lone} \('lone'\) are not in the grid or not supplied"):
        BatchPowerFlow.from_net(unsupplied).run(1, bus_p_mw=pd.DataFrame({lone: [0.1]}))


def test_unsolvable_base_case_raises(oberrhein: pp.pandapowerNet) -> None:
    net = copy.deepcopy(oberrhein)
    net.load["p_mw"] *= 200.0
    with pytest.raises(GridError, match=r"base case does not converge.* at bus \d+"):
        BatchPowerFlow.from_net(net)


# ------------------------------------------------------------------------------ time series


def test_time_axes_and_profiles() -> None:
    year = time_index("year", year=2028)  # leap year: still 8,760 h
    assert len(year) == 8760 and year[0] == pd.Timestamp("2028-01-01")
    day = time_index("day", year=2030, resolution_min=15)
    assert len(day) == 96 and day[0] == pd.Timestamp("2030-05-15")
    f = base_load_profile(year)
    assert f.max() == pytest.approx(1.0) and 0.2 < f.min() < 0.5
    assert np.argmax(f[: 24 * 7]) % 24 in (19, 20, 21)  # evening peak of the mix
    shares = np.full(24, 1 / 24)
    assert daily_profile_series(shares, day).sum() * 0.25 == pytest.approx(1.0)
    with pytest.raises(DataError, match="sum to 1"):
        daily_profile_series(np.ones(24), day)
    with pytest.raises(DataError, match="divide 60"):
        time_index("day", resolution_min=7)


def test_time_series_counts_violation_hours(oberrhein: pp.pandapowerNet) -> None:
    idx = time_index("day", year=2030)
    trafo = oberrhein.trafo.index[0]
    lv_bus = int(oberrhein.trafo.at[trafo, "lv_bus"])
    heavy = np.where(np.isin(idx.hour, [18, 19, 20]), 30_000.0, 0.0)  # 30 MW on the 25 MVA trafo
    ev = pd.DataFrame({lv_bus: heavy}, index=idx)
    res = run_time_series(oberrhein, idx, base_load_factor=np.full(24, 0.5), ev_kw=ev)
    assert res.converged and len(res.steps) == 24 and res.step_h == 1.0
    assert res.trafos.at[trafo, "overload_h"] == 3.0
    assert res.trafos.at[trafo, "violation"] == "overload"
    assert res.trafos.at[trafo, "time_loading_max"].hour in (18, 19, 20)
    row = res.violations[(res.violations["element"] == "trafo") & (res.violations["id"] == trafo)].iloc[0]
    assert (row["hours"], row["first"].hour, row["last"].hour) == (3.0, 18, 20)
    assert res.steps["ev_load_mw"].max() == pytest.approx(30.0)
    assert res.steps.loc[idx[19], "n_violations"] >= 1 and res.steps.loc[idx[3], "n_violations"] == 0
    assert res.ev_load_mw == pytest.approx(30.0)
    assert res.buses["vm_pu"].equals(res.buses["vm_min_pu"])
    # the grid import covers load, EV and losses at every step
    load = res.steps["base_load_mw"] + res.steps["ev_load_mw"] - res.steps["pv_mw"] + res.steps["losses_mw"]
    sgen = (oberrhein.sgen["p_mw"] * oberrhein.sgen["scaling"]).sum()
    np.testing.assert_allclose(res.steps["grid_import_mw"], load - sgen, atol=1e-6)


def test_time_series_rejects_bad_profiles(oberrhein: pp.pandapowerNet) -> None:
    idx = time_index("day")
    with pytest.raises(DataError, match="ev_kw has 3 rows"):
        run_time_series(oberrhein, idx, ev_kw=pd.DataFrame({1: [1.0, 2.0, 3.0]}))
    with pytest.raises(DataError, match="negative"):
        run_time_series(oberrhein, idx, pv_kw=pd.DataFrame({1: np.full(24, -1.0)}, index=idx))


# ------------------------------------------------------------------------------ hosting capacity


def test_hosting_capacity_matches_bisection() -> None:
    with _quiet_pandapower():
        net = pn.create_cigre_network_mv(with_der=False)
    net.load["scaling"] = 0.5  # base case within limits, so every limit counts
    base = copy.deepcopy(net)
    runpp(base)
    assert base.res_bus["vm_pu"].min() > 0.95 and base.res_line["loading_percent"].max() < 100.0
    model = BatchPowerFlow.from_net(net)
    res = hosting_capacity(model, model.load_injections(1))
    table = res.table
    assert set(table["limit"]) <= {"undervoltage", "overvoltage", "line", "trafo", "trafo3w", "not_converged"}
    buses = table.index[[2, 7, 12]]
    ref = hosting_capacity_bisection(net, buses)
    rel = (table.loc[buses, "hosting_capacity_kw"] - ref) / ref
    assert rel.abs().max() < 0.02
    assert (table["hosting_capacity_kw"] <= table["upper_kw"]).all()
    # the reported capacity is feasible and the upper end infeasible (verified by runpp)
    bus = int(table.index[-1])
    work = copy.deepcopy(net)
    probe = pp.create_load(work, bus, p_mw=table.at[bus, "hosting_capacity_kw"] / 1000.0)
    runpp(work)
    assert work.res_bus["vm_pu"].min() >= 0.95 - 1e-9
    assert work.res_line["loading_percent"].max() <= 100.0 + 1e-6
    work.load.at[probe, "p_mw"] = table.at[bus, "upper_kw"] / 1000.0 * 1.001
    try:
        runpp(work)
        broken = (work.res_bus["vm_pu"].min() < 0.95 or work.res_line["loading_percent"].max() > 100.0
                  or work.res_trafo["loading_percent"].max() > 100.0)
    except pp.LoadflowNotConverged:
        broken = True
    assert broken


def test_hosting_capacity_ignores_limits_already_broken() -> None:
    with _quiet_pandapower():
        net = pn.create_cigre_network_mv(with_der=False)
    model = BatchPowerFlow.from_net(net)
    s = model.load_injections(1)
    tight = hosting_capacity(model, s, max_loading_percent=1.0)  # every branch already above 1 %
    assert (tight.table["limit"].isin(["undervoltage", "overvoltage", "not_converged"])).all()
    capped = hosting_capacity(model, s, max_kw=100.0)
    # buses whose own voltage is out of band before any added load take nothing (pandapower's
    # own load flow says which ones); every other bus takes the search cap
    ref = copy.deepcopy(net)
    with _quiet_pandapower():
        pp.runpp(ref, numba=False)
    vm = ref.res_bus["vm_pu"].reindex(capped.table.index)
    low = vm < 0.95
    assert low.any() and (~low).any()
    t = capped.table
    assert (t.loc[low, "hosting_capacity_kw"] == 0.0).all() and (t.loc[low, "limit"] == "undervoltage").all()
    assert t.loc[low, "already_violated"].all() and t.loc[low, "reason"].str.contains("already undervoltage").all()
    assert (t.loc[~low, "hosting_capacity_kw"] == 100.0).all() and (t.loc[~low, "limit"] == "search_cap").all()
    assert not t.loc[~low, "already_violated"].any()


# ------------------------------------------------------------------------------ energy


def test_pv_profile_matches_the_sourced_yield() -> None:
    year = time_index("year", year=2030)
    pv = pv_profile(year, latitude=12.97, longitude=77.59, country="india")
    assert pv.kw_per_kwp.sum() == pytest.approx(PV_YIELD_KWH_PER_KWP_YEAR["india"].value, rel=1e-9)
    hours = np.asarray(year.hour)
    assert pv.kw_per_kwp[(hours < 5) | (hours > 19)].max() == 0.0
    assert 0.5 < pv.kw_per_kwp.max() < 1.0
    assert any("E5.12" in a for a in pv.assumptions) and any("assumption" in a for a in pv.assumptions)
    day = pv_profile(time_index("day", resolution_min=15), latitude=12.97, longitude=77.59, country="india")
    assert day.kw_per_kwp.sum() * 0.25 == pytest.approx(1577.0 / 365.0, rel=0.15)
    again = pv_profile(year, latitude=12.97, longitude=77.59, country="india")
    np.testing.assert_array_equal(again.kw_per_kwp, pv.kw_per_kwp)
    with pytest.raises(DataError, match="no PVOUT"):
        pv_profile(year, latitude=0.0, longitude=0.0, country="atlantis")


def test_grid_mix_and_charging_energy() -> None:
    year = time_index("year", year=2030)
    pv = pv_profile(year, latitude=12.97, longitude=77.59, country="india")
    mix = grid_mix(pv, annual_renewable_share=0.22, annual_co2_g_per_kwh=709.0)
    assert mix["renewable_share"].mean() == pytest.approx(0.22)
    assert mix["co2_g_per_kwh"].mean() == pytest.approx(709.0)
    assert mix["renewable_share"][np.asarray(year.hour) == 12].mean() > mix["renewable_share"][
        np.asarray(year.hour) == 0].mean()
    # hand-checked case: two steps of 1 h, two buses
    ev = pd.DataFrame({1: [10.0, 10.0], 2: [0.0, 5.0]})
    pv_kw = pd.DataFrame({1: [4.0, 0.0], 3: [2.0, 2.0]})
    m = pd.DataFrame({"renewable_share": [0.5, 0.1], "co2_g_per_kwh": [400.0, 800.0]})
    e = charging_energy(ev, pv_kw, m, step_h=1.0)
    assert (e.ev_kwh, e.pv_used_kwh, e.pv_exported_kwh, e.grid_kwh) == (25.0, 4.0, 4.0, 21.0)
    assert e.renewable_kwh == pytest.approx(4.0 + 6.0 * 0.5 + 15.0 * 0.1)
    assert e.co2_kg == pytest.approx((6.0 * 400.0 + 15.0 * 800.0) / 1000.0)
    kg = combustion_co2_kg(pd.Series({"car": 160.0, "bus": 0.0}), pd.Series({"car": 0.16, "bus": 1.6}),
                           pd.Series({"car": 120.0, "bus": 760.0}))
    assert kg == pytest.approx(1000.0 * 120.0 / 1000.0)


def test_solve_blocks_matches_pandapower_a_block_at_a_time(oberrhein: pp.pandapowerNet) -> None:
    """Load scaled 0.2 .. 1.6 in 9 steps, solved 2 columns at a time from a load function: every block
    holds at most 2 columns, and each step's voltages and line loadings equal pandapower's runpp."""
    model = BatchPowerFlow.from_net(oberrhein)
    base = model.load_injections(1)[:, 0]
    scale = np.linspace(0.2, 1.6, 9)
    asked: list[int] = []

    def loads(cols: np.ndarray) -> np.ndarray:
        asked.append(len(cols))
        return base[:, None] * scale[cols][None, :]

    seen = np.zeros(len(scale), dtype=int)
    for cols, res in model.solve_blocks(loads, base.real.sum() * scale, block_columns=2):
        assert len(cols) <= 2 and res.vm_pu.shape[0] == len(cols) and res.converged.all()
        seen[cols] += 1
        for k, c in enumerate(cols):
            if c not in (0, 8):
                continue
            work = copy.deepcopy(oberrhein)
            work.load["scaling"] *= scale[c]
            work.sgen["scaling"] *= scale[c]  # the load matrix holds loads and generation alike
            runpp(work)
            np.testing.assert_allclose(res.vm_pu[k], work.res_bus["vm_pu"].reindex(res.buses).to_numpy(), atol=1e-6)
            np.testing.assert_allclose(res.line_loading_percent[k],
                                       work.res_line["loading_percent"].reindex(res.lines).to_numpy(), atol=1e-4)
    assert (seen == 1).all() and max(asked) <= 2


def _oltc_net(tap_pos: int = 1, tap_side: str = "hv", control: bool = True) -> pp.pandapowerNet:
    """33 kV source, a 10 MVA 33/11 kV transformer with an on-load tap changer, a two-section 11 kV feeder."""
    from pandapower.control import DiscreteTapControl

    net = pp.create_empty_network()
    b0, b1, b2, b3 = (pp.create_bus(net, kv) for kv in (33.0, 11.0, 11.0, 11.0))
    pp.create_ext_grid(net, b0, vm_pu=1.0)
    t = pp.create_transformer_from_parameters(
        net, b0, b1, sn_mva=10.0, vn_hv_kv=33.0, vn_lv_kv=11.0, vkr_percent=0.5, vk_percent=10.0, pfe_kw=8.0,
        i0_percent=0.3, tap_side=tap_side, tap_neutral=0, tap_min=-8, tap_max=8, tap_step_percent=1.25,
        tap_pos=tap_pos, tap_changer_type="Ratio")
    pp.create_line_from_parameters(net, b1, b2, 3.0, 0.2, 0.35, 10.0, 0.4)
    pp.create_line_from_parameters(net, b2, b3, 2.0, 0.3, 0.37, 10.0, 0.3)
    pp.create_load(net, b2, p_mw=3.0, q_mvar=1.0)
    pp.create_load(net, b3, p_mw=2.0, q_mvar=0.6)
    if control:
        DiscreteTapControl(net, t, vm_lower_pu=0.971, vm_upper_pu=0.989)
    return net


@pytest.mark.parametrize("mode", ["carry", "cyclic"])
def test_tap_changer_carried_from_hour_to_hour_as_pandapower_hour_after_hour(mode: str) -> None:
    """A day of 24 hours whose load rises to an evening peak and falls: pandapower run hour after hour with
    ``run_control=True``, each hour from the position the previous one ended at (the net's stored position
    first; for a repeating day, a second day after a first one), gives every hour's position and voltages
    of the batched flow with the taps carried ("carry": the first day; "cyclic": the second). The dead
    band makes the carried positions differ from those of hours started from the stored position."""
    net = _oltc_net(2)
    model = BatchPowerFlow.from_net(net)
    hours = np.arange(24)
    factors = 0.25 + 1.6 * np.exp(-0.5 * ((hours - 19.0) / 3.0) ** 2)
    res = model.solve(model.s_load[:, None] * factors[None, :], taps_in_sequence=mode)
    alone = model.solve(model.s_load[:, None] * factors[None, :])
    ref = copy.deepcopy(net)
    taps, vms = [], []
    for _day in range(2 if mode == "cyclic" else 1):
        taps, vms = [], []
        for f in factors:
            ref.load["p_mw"] = net.load["p_mw"] * f
            ref.load["q_mvar"] = net.load["q_mvar"] * f
            with _quiet_pandapower():
                pp.runpp(ref, numba=False, run_control=True)  # the controller leaves its tap where it ended
            taps.append(int(ref.trafo.at[0, "tap_pos"]))
            vms.append(ref.res_bus["vm_pu"].to_numpy().copy())
    assert res.tap_pos[:, 0].tolist() == taps
    np.testing.assert_allclose(res.vm_pu, np.array(vms), atol=1e-8)
    assert (res.tap_pos[:, 0] != alone.tap_pos[:, 0]).any()
    assert res.converged.all()
    # the same day among others solved together (each carried on its own), and solved from a poor first
    # guess of the positions (every hour at the top position): the same positions and voltages
    scales = (0.6, 1.0, 1.3)
    days = np.concatenate([model.s_load[:, None] * (k * factors)[None, :] for k in scales], axis=1)
    for tap_start in (None, np.full((1, days.shape[1]), 8)):
        together = model.solve(days, taps_in_sequence=mode, sequence_length=24, tap_start=tap_start)
        assert together.tap_pos[24:48, 0].tolist() == taps
        np.testing.assert_allclose(together.vm_pu[24:48], np.array(vms), atol=1e-8)
        for k, scale in enumerate(scales):
            one = model.solve(model.s_load[:, None] * (scale * factors)[None, :], taps_in_sequence=mode)
            np.testing.assert_array_equal(together.tap_pos[24 * k:24 * (k + 1)], one.tap_pos)
    assert len({tuple(together.tap_pos[24 * k:24 * (k + 1), 0]) for k in range(3)}) == 3


def test_hosting_capacity_from_a_carried_tap_position_as_pandapower() -> None:
    """Hosting capacity at an hour whose tap changer starts where the hour before ended: the base case moves
    the tap from there as pandapower's controller does, and the capacities equal a bisection with pandapower
    on the net with the tap held at that settled position. Two starts settle at different positions (the dead
    band), with different capacities."""
    net = _oltc_net(2)
    model = BatchPowerFlow.from_net(net)
    s = model.s_load[:, None] * 1.15
    buses = np.array([2, 3])
    found = {}
    for start in (-8, 8):
        res = hosting_capacity(model, s, buses=buses, tap_start=np.array([[start]]), vm_min_pu=0.9)
        ref = copy.deepcopy(net)
        ref.load["p_mw"] *= 1.15
        ref.load["q_mvar"] *= 1.15
        ref.trafo.at[0, "tap_pos"] = start
        with _quiet_pandapower():
            pp.runpp(ref, numba=False, run_control=True)
        settled = int(ref.trafo.at[0, "tap_pos"])
        held = copy.deepcopy(ref)
        held.controller = held.controller.iloc[0:0]
        bisection = hosting_capacity_bisection(held, buses, rel_tol=0.001, vm_min_pu=0.9)
        rel = (res.table.loc[buses, "hosting_capacity_kw"] - bisection) / bisection
        assert rel.abs().max() < 0.01, (start, settled, res.table, bisection)
        found[settled] = bisection
    assert len(found) == 2
    a, b = found.values()
    assert not np.allclose(a, b, rtol=0.01)


@pytest.mark.parametrize("tap0", [1, -3, 8])
def test_on_load_tap_changer_acts_per_step_as_pandapower_run_control(tap0: int) -> None:
    net = _oltc_net(tap0)
    model = BatchPowerFlow.from_net(net)
    assert model.taps is not None and list(model.taps.trafos) == [0]
    factors = np.linspace(0.05, 1.9, 15)
    res = model.solve(model.s_load[:, None] * factors[None, :])
    assert res.tap_pos is not None and list(res.tap_trafos) == [0]
    for k, f in enumerate(factors):
        ref = copy.deepcopy(net)
        ref.load["p_mw"] *= f
        ref.load["q_mvar"] *= f
        with _quiet_pandapower():
            pp.runpp(ref, numba=False, run_control=True)  # each step from the net's tap, as the batched flow
        assert res.tap_pos[k, 0] == ref.trafo.at[0, "tap_pos"]
        np.testing.assert_allclose(res.vm_pu[k], ref.res_bus["vm_pu"].to_numpy(), atol=1e-8)
        np.testing.assert_allclose(res.trafo_loading_percent[k], ref.res_trafo["loading_percent"].to_numpy(), atol=1e-5)
        np.testing.assert_allclose(res.line_loading_percent[k], ref.res_line["loading_percent"].to_numpy(), atol=1e-5)
        assert res.p_slack_mw[k] == pytest.approx(ref.res_ext_grid["p_mw"].sum(), abs=1e-7)
        assert res.losses_mw[k] == pytest.approx(ref.res_line["pl_mw"].sum() + ref.res_trafo["pl_mw"].sum(), abs=1e-7)
    # the tap moves with the load: higher load, lower position (the winding is on the 33 kV side)
    assert len(set(res.tap_pos[:, 0])) >= 4 and np.all(np.diff(res.tap_pos[:, 0]) <= 0)
    # solve_blocks operates the taps the same way
    seen = []
    for cols, r in model.solve_blocks(lambda c: model.s_load[:, None] * factors[None, c], factors, block_columns=4):
        assert r.tap_pos is not None
        np.testing.assert_array_equal(r.tap_pos[:, 0], res.tap_pos[cols, 0])
        np.testing.assert_allclose(r.vm_pu, res.vm_pu[cols], atol=1e-8)
        seen += list(cols)
    assert sorted(seen) == list(range(len(factors)))


def test_tap_changer_that_cannot_be_operated_keeps_its_tap_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    # a tap winding on the 11 kV side changes the transformer's impedance with the tap: not operated per step
    net = _oltc_net(2, tap_side="lv")
    with caplog.at_level("WARNING", logger="charge_planner.grid.oltc"):
        model = BatchPowerFlow.from_net(net)
    assert model.taps is None
    assert "transformer 0" in caplog.text and "stays at position 2" in caplog.text
    res = model.solve(model.s_load[:, None] * np.array([0.2, 1.5])[None, :])
    assert res.tap_pos is None
    # a tap without a changer type: pandapower ignores its position, and so does the batched flow
    untyped = _oltc_net(2)
    untyped.trafo["tap_changer_type"] = None
    caplog.clear()
    with caplog.at_level("WARNING", logger="charge_planner.grid.oltc"):
        assert BatchPowerFlow.from_net(untyped).taps is None
    assert "only ratio tap changers" in caplog.text
    for k, f in enumerate((0.2, 1.5)):
        ref = copy.deepcopy(net)
        ref.load["p_mw"] *= f
        ref.load["q_mvar"] *= f
        runpp(ref)  # without control: the tap as stored
        np.testing.assert_allclose(res.vm_pu[k], ref.res_bus["vm_pu"].to_numpy(), atol=1e-8)


def _areas_net(loads_mw: tuple[float, ...] = (3.0, 5.5, 1.5)) -> pp.pandapowerNet:
    """Several substations' areas in one net, joined by no line: each a 33 kV source, a 33/11 kV transformer
    with an on-load tap changer and a two-section 11 kV feeder, loaded differently."""
    from pandapower.control import DiscreteTapControl

    net = pp.create_empty_network()
    for k, p in enumerate(loads_mw):
        b0, b1, b2, b3 = (pp.create_bus(net, kv, name=f"area {k} bus {i}") for i, kv in enumerate((33.0, 11.0, 11.0, 11.0)))
        pp.create_ext_grid(net, b0, vm_pu=1.0)
        t = pp.create_transformer_from_parameters(
            net, b0, b1, sn_mva=10.0, vn_hv_kv=33.0, vn_lv_kv=11.0, vkr_percent=0.5, vk_percent=10.0, pfe_kw=8.0,
            i0_percent=0.3, tap_side="hv", tap_neutral=0, tap_min=-8, tap_max=8, tap_step_percent=1.25,
            tap_pos=k, tap_changer_type="Ratio")
        pp.create_line_from_parameters(net, b1, b2, 3.0, 0.2, 0.35, 10.0, 0.4)
        pp.create_line_from_parameters(net, b2, b3, 2.0 + k, 0.3, 0.37, 10.0, 0.3)
        pp.create_load(net, b2, p_mw=0.6 * p, q_mvar=0.2 * p)
        pp.create_load(net, b3, p_mw=0.4 * p, q_mvar=0.12 * p)
        DiscreteTapControl(net, t, vm_lower_pu=0.971, vm_upper_pu=0.989)
    return net


@pytest.mark.parametrize("island_buses", [1, 8, 4000])
def test_areas_joined_by_no_line_are_solved_apart_and_match_pandapower_hour_after_hour(island_buses: int) -> None:
    """Three substations' areas, each with its own source and tap changer: the batched flow finds the three
    islands, solves them one at a time (each alone, or two in a group of 8 buses; all three in one group are
    one system), and a
    day with the taps carried from hour to hour gives, in every area, pandapower's positions and voltages
    run hour after hour with ``run_control=True``; the whole grid solved as one system gives the same."""
    net = _areas_net()
    model = BatchPowerFlow.from_net(net)
    model.island_buses = island_buses
    islands = model.islands()
    if island_buses < 12:
        assert islands is not None and sum(len(i.rows) for i in islands) == model.n_internal
        assert len(islands) == {1: 3, 8: 2}[island_buses]
        assert sorted(np.concatenate([i.taps for i in islands]).tolist()) == [0, 1, 2]
    else:
        assert islands is None  # the three areas fit in one group: solved as one system
    hours = np.arange(24)
    factors = 0.25 + 1.6 * np.exp(-0.5 * ((hours - 19.0) / 3.0) ** 2)
    res = model.solve(model.s_load[:, None] * factors[None, :], taps_in_sequence="carry")
    whole = BatchPowerFlow.from_net(net)
    whole.split_islands = False
    assert whole.islands() is None
    one = whole.solve(whole.s_load[:, None] * factors[None, :], taps_in_sequence="carry")
    ref = copy.deepcopy(net)
    taps, vms = [], []
    for f in factors:
        ref.load["p_mw"] = net.load["p_mw"] * f
        ref.load["q_mvar"] = net.load["q_mvar"] * f
        with _quiet_pandapower():
            pp.runpp(ref, numba=False, run_control=True)
        taps.append(ref.trafo["tap_pos"].to_numpy().astype(int))
        vms.append(ref.res_bus["vm_pu"].to_numpy().copy())
    assert res.converged.all()
    np.testing.assert_array_equal(res.tap_pos, np.array(taps))
    np.testing.assert_allclose(res.vm_pu, np.array(vms), atol=1e-8)
    np.testing.assert_array_equal(one.tap_pos, res.tap_pos)
    np.testing.assert_allclose(one.vm_pu, res.vm_pu, atol=1e-8)
    # the areas' taps do not move together (else the test would not tell carried areas apart)
    assert len({tuple(np.array(taps)[:, k]) for k in range(3)}) == 3


def test_blocks_of_a_grid_split_into_islands_match_pandapower() -> None:
    """Blocks of columns from a load function on three areas solved island by island (each a group of its
    own): every bus's voltage equals pandapower's runpp at that load and the whole grid solved as one system."""
    net = _areas_net()
    for c in net.controller["object"]:
        c.in_service = False  # runpp below runs no controller
    net.controller["in_service"] = False
    model = BatchPowerFlow.from_net(net)
    model.island_buses = 1
    assert model.islands() is not None and len(model.islands()) == 3
    whole = BatchPowerFlow.from_net(net)
    whole.split_islands = False
    base = model.load_injections(1)[:, 0]
    scale = np.array([0.5, 1.0, 1.5, 1.2])
    one = whole.solve(base[:, None] * scale[None, :])
    for cols, res in model.solve_blocks(lambda c: base[:, None] * scale[c][None, :], base.real.sum() * scale,
                                        block_columns=2):
        assert res.converged.all()
        np.testing.assert_allclose(res.vm_pu, one.vm_pu[cols], atol=1e-9)
        for k, c in enumerate(cols):
            work = copy.deepcopy(net)
            work.load["scaling"] *= scale[c]
            runpp(work)
            np.testing.assert_allclose(res.vm_pu[k], work.res_bus["vm_pu"].reindex(res.buses).to_numpy(), atol=1e-8)


def test_hosting_capacity_on_areas_solved_apart_matches_pandapower_bisection() -> None:
    """Hosting capacity of the buses of three areas joined by no line, each trial iterated on its own area
    (the others kept at the hour's base solution): the capacities match pandapower's bisection (one runpp
    per trial on the whole net) within 2 %, and the whole grid solved as one system gives the same."""
    net = _areas_net((2.0, 1.2, 0.8))
    for c in net.controller["object"]:
        c.in_service = False  # pandapower's bisection runs no controller: the taps stay at the net's positions
    net.controller["in_service"] = False
    split = BatchPowerFlow.from_net(net)
    split.island_buses = 1
    assert split.islands() is not None
    whole = BatchPowerFlow.from_net(net)
    whole.split_islands = False
    res = hosting_capacity(split, split.load_injections(1)).table
    one = hosting_capacity(whole, whole.load_injections(1)).table
    buses = pd.Index([2, 3, 6, 7, 10, 11])  # the feeder buses of every area
    ref = hosting_capacity_bisection(net, buses)
    rel = (res.loc[buses, "hosting_capacity_kw"] - ref) / ref
    assert rel.abs().max() < 0.02
    np.testing.assert_allclose(res.loc[buses, "hosting_capacity_kw"], one.loc[buses, "hosting_capacity_kw"],
                               rtol=0.005)
    # the areas differ, so a trial really sees its own area's limits
    assert ref.loc[[3, 7, 11]].nunique() == 3
