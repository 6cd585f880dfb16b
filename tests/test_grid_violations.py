"""Grid results that mean what they say: one violation table for every element kind and mode,
voltages outside the supply point, hosting capacity that reports findings, and a plan with every
kind of violation through map, report, PDF and exports."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest

from charge_planner.grid import GridModel, assess_grid
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.flow import VIOLATION_COLUMNS, lowest_voltage, run_peak_flow, voltage_levels
from charge_planner.grid.hosting import hosting_capacity
from charge_planner.grid.model import _quiet_pandapower
from charge_planner.grid.timeseries import run_time_series, time_index

EVERY_KIND = {("bus", "undervoltage"), ("bus", "overvoltage"), ("line", "overload"), ("trafo", "overload"),
              ("trafo3w", "overload")}


def every_violation_net() -> pp.pandapowerNet:
    """pandapower's multi-voltage example with the three-winding transformer overloaded (its MV loads
    x4) and a 0.6 MW PV plant that lifts an LV bus above 1.05 pu; it already has overloaded lines,
    an overloaded two-winding transformer and undervoltage."""
    with _quiet_pandapower():
        net = pn.example_multivoltage()
    net.load.loc[net.load["bus"].isin([36, 37]), "p_mw"] *= 4.0
    pp.create_sgen(net, 50, p_mw=0.6, name="pv")
    return net


def pandapower_reference(net: pp.pandapowerNet, load_factor: float = 1.0) -> pp.pandapowerNet:
    ref = copy.deepcopy(net)
    ref.load["scaling"] = load_factor
    with _quiet_pandapower():
        pp.runpp(ref, numba=False)
    return ref


def kinds(v: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(v["element"], v["kind"], strict=True))


def test_peak_flow_reports_every_kind_with_pandapower_values() -> None:
    net = every_violation_net()
    ref = pandapower_reference(net)
    f = run_peak_flow(net, pd.Series(dtype=float))
    v = f.violations
    assert list(v.columns) == VIOLATION_COLUMNS
    assert kinds(v) == EVERY_KIND
    # the three-winding transformer: pandapower's own loading (166 % and more gave no row before)
    t3 = v[v["element"] == "trafo3w"].iloc[0]
    assert t3["id"] == 0 and t3["unit"] == "%"
    assert t3["worst"] == pytest.approx(ref.res_trafo3w.at[0, "loading_percent"], rel=1e-6)
    assert ref.res_trafo3w.at[0, "loading_percent"] > 100.0
    assert f.trafos3w.at[0, "loading_percent"] == pytest.approx(ref.res_trafo3w.at[0, "loading_percent"], rel=1e-6)
    # every element pandapower finds out of limits is listed, and nothing else
    vm = ref.res_bus["vm_pu"]
    assert set(v.loc[v["kind"] == "undervoltage", "id"]) == set(vm.index[vm < 0.95])
    assert set(v.loc[v["kind"] == "overvoltage", "id"]) == set(vm.index[vm > 1.05])
    for element in ("line", "trafo"):
        loading = ref[f"res_{element}"]["loading_percent"]
        assert set(v.loc[v["element"] == element, "id"]) == set(loading.index[loading > 100.0])
    assert v["hours"].isna().all() and v["first"].isna().all()  # one operating point: no duration
    assert f.n_violations == len(v)


@pytest.mark.parametrize("mode", ["day", "year"])
def test_time_series_lists_three_winding_transformers_with_their_hours(mode: str) -> None:
    net = every_violation_net()
    net.load.loc[net.load["bus"].isin([36, 37]), "p_mw"] /= 2.0  # overloaded at the busy hours only
    index = time_index(mode, year=2030)
    factor = 0.55 + 0.45 * np.sin(np.pi * np.asarray(index.hour) / 23.0) ** 2
    ts = run_time_series(net, index, base_load_factor=factor)
    v = ts.violations
    assert list(v.columns) == VIOLATION_COLUMNS
    assert ("trafo3w", "overload") in kinds(v)
    # independent reference: pandapower at each distinct factor of the day
    ref_hours = 0.0
    worst = 0.0
    for f_h, n_h in pd.Series(factor).value_counts().items():
        loading = pandapower_reference(net, float(f_h)).res_trafo3w.at[0, "loading_percent"]
        worst = max(worst, loading)
        ref_hours += n_h * (loading > 100.0)
    row = v[(v["element"] == "trafo3w")].iloc[0]
    assert 0 < row["hours"] < len(index)
    assert row["hours"] == ref_hours
    assert row["worst"] == pytest.approx(worst, rel=1e-6)
    assert ts.trafos3w.at[0, "overload_h"] == ref_hours
    assert ts.steps["trafo3w_loading_max_percent"].max() == pytest.approx(worst, rel=1e-6)


def test_voltage_per_level_leaves_the_supply_point_out() -> None:
    with _quiet_pandapower():
        net = pn.example_multivoltage()
    ref = pandapower_reference(net)
    f = run_peak_flow(net, pd.Series(dtype=float))
    assert f.buses.loc[f.buses["slack"], :].index.tolist() == net.ext_grid["bus"].tolist()
    levels = voltage_levels(f.buses)
    # reference: pandapower's res_bus grouped by nominal voltage, the external-grid bus left out
    res = ref.res_bus.join(net.bus["vn_kv"]).drop(index=net.ext_grid["bus"]).dropna(subset=["vm_pu"])
    expected = res.groupby("vn_kv")["vm_pu"].agg(["min", "max", "size"]).sort_index(ascending=False)
    assert levels.index.tolist() == expected.index.tolist() == [380.0, 110.0, 20.0, 10.0, 0.4]
    np.testing.assert_allclose(levels["vm_min_pu"], expected["min"], atol=1e-8)
    np.testing.assert_allclose(levels["vm_max_pu"], expected["max"], atol=1e-8)
    assert levels["buses"].tolist() == expected["size"].tolist()
    low, bus = lowest_voltage(f.buses)
    assert low == pytest.approx(res["vm_pu"].min(), abs=1e-8) and bus == res["vm_pu"].idxmin()
    # with every bus but the supply point loaded above it, the lowest voltage is not the set point
    ts = run_time_series(net, time_index("day"), base_load_factor=np.full(24, 0.2))
    assert lowest_voltage(ts.buses)[0] != pytest.approx(float(net.ext_grid.at[0, "vm_pu"]))
    assert (ts.steps["vm_min_pu"] == ts.buses.loc[~ts.buses["slack"], "vm_min_pu"].min()).all()


# ------------------------------------------------------------------------------ hosting capacity


def radial_net() -> pp.pandapowerNet:
    """20 kV source, a transformer and an LV cable whose end bus sits below 0.95 pu at full load."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0, name="mv")
    lv = pp.create_bus(net, 0.4, name="lv")
    mid = pp.create_bus(net, 0.4, name="mid")
    end = pp.create_bus(net, 0.4, name="end")
    pp.create_ext_grid(net, mv, vm_pu=1.0)
    pp.create_transformer(net, mv, lv, std_type="0.63 MVA 20/0.4 kV")
    pp.create_line(net, lv, mid, length_km=0.2, std_type="NAYY 4x150 SE")
    pp.create_line(net, mid, end, length_km=0.3, std_type="NAYY 4x50 SE")
    pp.create_load(net, end, p_mw=0.09)
    net.bus["x_m"] = [500_000.0, 500_010.0, 500_210.0, 500_510.0]
    net.bus["y_m"] = 3_000_000.0
    return net


def test_hosting_capacity_reports_unsolvable_hours_and_buses_already_out_of_band() -> None:
    net = radial_net()
    end = int(net.bus.index[net.bus["name"] == "end"][0])
    mid = int(net.bus.index[net.bus["name"] == "mid"][0])
    # independent reference: pandapower finds the end bus below the band at full load, and no
    # solution at 40 times the load
    assert pandapower_reference(net, 1.0).res_bus.at[end, "vm_pu"] < 0.95
    with pytest.raises(pp.LoadflowNotConverged), _quiet_pandapower():
        bad = copy.deepcopy(net)
        bad.load["scaling"] = 40.0
        pp.runpp(bad, numba=False)
    model = BatchPowerFlow.from_net(net)
    hours = model.load_injections(2, load_p_mw=pd.DataFrame({0: [0.09, 0.09 * 40.0]}),
                                  load_q_mvar=pd.DataFrame({0: [0.0, 0.0]}))
    one = hosting_capacity(model, hours[:, :1])
    t = one.table
    assert t.at[end, "hosting_capacity_kw"] == 0.0 and t.at[end, "limit"] == "undervoltage"
    assert t.at[end, "already_violated"] and "already undervoltage" in t.at[end, "reason"]
    assert t.at[mid, "hosting_capacity_kw"] > 0.0 and not t.at[mid, "already_violated"]
    both = hosting_capacity(model, hours).table
    # the unsolvable hour is a finding: nothing can be added anywhere, never the search cap
    assert (both["hosting_capacity_kw"] == 0.0).all()
    assert both.at[mid, "limit"] == "not_converged" and "does not converge" in both.at[mid, "reason"]
    assert not (both["limit"] == "search_cap").any() and both["already_violated"].all()


def test_hosting_capacity_without_a_finished_search_is_unresolved_not_the_cap() -> None:
    net = radial_net()
    net.load["p_mw"] = 0.01  # every bus within the band
    model = BatchPowerFlow.from_net(net)
    t = hosting_capacity(model, model.load_injections(1), max_rounds=0).table
    # no trial was run: 0 kW is only a lower bound, never "the search cap"
    assert (t["limit"] == "unresolved").all() and (t["hosting_capacity_kw"] == 0.0).all()
    assert t["reason"].str.contains("lower bound").all()
    done = hosting_capacity(model, model.load_injections(1)).table
    assert not (done["limit"] == "unresolved").any() and (done["hosting_capacity_kw"] > 0).all()


def test_worst_hours_include_the_unsolvable_one() -> None:
    net = radial_net()
    grid = GridModel(net=net, source="test", crs="EPSG:32643")
    index = time_index("day")
    factor = np.full(24, 0.5)
    factor[20] = 40.0  # no solution at 20 h
    mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 500.0)})
    sites = pd.DataFrame({"bus_id": pd.Series(dtype=int), "served_kwh_day": pd.Series(dtype=float),
                          "power_kw": pd.Series(dtype=float)})
    a = assess_grid(grid, sites, index, ev_shares=np.full(24, 1 / 24), base_load_factor=factor, mix=mix)
    assert list(a.flow.non_converged) == [index[20]]
    v = a.flow.violations
    row = v[v["kind"] == "not_converged"].iloc[0]
    assert row["element"] == "grid" and row["hours"] == 1.0 and row["first"] == index[20]
    assert index[20] in a.hosting_steps
    hc = a.flow.buses["hosting_capacity_kw"].dropna()
    assert len(hc) and (hc == 0.0).all()
    limits = a.flow.buses.loc[hc.index, "hosting_limit"]
    end = int(net.bus.index[net.bus["name"] == "end"][0])  # already below the band at half load
    assert (limits.drop(index=end) == "not_converged").all() and limits[end] in ("undervoltage", "not_converged")


def test_hosting_search_past_voltage_collapse_does_not_warn_but_a_real_step_does(caplog) -> None:
    import logging

    net = radial_net()
    net.load["p_mw"] = 0.01
    assert pandapower_reference(net).converged  # the base case solves
    model = BatchPowerFlow.from_net(net)
    # limits wide enough that only voltage collapse stops the search: its trial loads collapse
    with caplog.at_level(logging.DEBUG, logger="charge_planner"):
        t = hosting_capacity(model, model.load_injections(1), vm_min_pu=0.3, max_loading_percent=1e6).table
    assert (t["limit"] == "not_converged").all() and (t["hosting_capacity_kw"] > 0).all()
    collapsed = [r for r in caplog.records if "did not converge" in r.getMessage()]
    assert collapsed and all(r.levelno == logging.DEBUG for r in collapsed)  # logged, but not as a warning
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    caplog.clear()
    # a step of the real time series that pandapower cannot solve either (40 times the load) still warns
    factor = np.full(24, 0.5)
    factor[20] = 40.0
    with caplog.at_level(logging.WARNING, logger="charge_planner"):
        ts = run_time_series(radial_net(), time_index("day"), base_load_factor=factor)
    assert len(ts.non_converged) == 1
    assert any(r.levelno == logging.WARNING and "1 of 24 step(s) did not converge" in r.getMessage()
               for r in caplog.records)


# ------------------------------------------------------------------------------ a plan with every kind


def _plan_with_every_violation(demo_plan, mode: str):
    from charge_planner.grid.results import GridResults
    from charge_planner.pipeline import plan_summary

    net = every_violation_net()
    # place the buses on a small grid inside the demo city, so map and exports have positions
    x0, y0 = (float(c) for c in demo_plan.sites.geometry.union_all().centroid.coords[0])
    net.bus["x_m"] = x0 + 60.0 * (net.bus.index % 8)
    net.bus["y_m"] = y0 + 60.0 * (net.bus.index // 8)
    grid = GridModel(net=net, source="pandapower_network:example_multivoltage", crs=demo_plan.city.crs)
    p = copy.copy(demo_plan)
    p.sites = demo_plan.sites.copy()
    p.sites["bus_id"] = 50
    buses = p.sites["bus_id"]
    if mode == "peak":
        p.grid_results = GridResults(model=grid, flow=run_peak_flow(net, pd.Series(dtype=float)), mode="peak",
                                     site_buses=buses)
    else:
        index = time_index("day")
        mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 500.0)})
        sites = pd.DataFrame({"bus_id": [45], "served_kwh_day": [24.0], "power_kw": [50.0]})
        assessment = assess_grid(grid, sites, index, ev_shares=np.full(24, 1 / 24),
                                 base_load_factor=np.full(24, 1.0), mix=mix)
        p.grid_results = GridResults(model=grid, flow=assessment.flow, mode="day", site_buses=buses,
                                     assessment=assessment)
    p.summary = plan_summary(p, {}, 0.0)
    return p


@pytest.mark.parametrize("mode", ["peak", "day"])
def test_every_kind_of_violation_reaches_map_report_pdf_and_exports(demo_plan, tmp_path, mode: str) -> None:
    from charge_planner.outputs.browser import find_chromium
    from charge_planner.outputs.maps import build_map
    from charge_planner.outputs.report import render_report

    p = _plan_with_every_violation(demo_plan, mode)
    assert kinds(p.flow.violations) == EVERY_KIND
    # the summary's lowest voltage is pandapower's lowest outside the external-grid bus
    net = copy.deepcopy(p.grid.net)
    if mode == "day":
        pp.create_load(net, 45, p_mw=0.001)  # the site's flat 24 kWh/day
    ref = pandapower_reference(net)
    res = ref.res_bus.drop(index=net.ext_grid["bus"])
    g = p.summary["grid"]
    assert g["vm_min_pu"] == pytest.approx(res["vm_pu"].min(), abs=1e-5)
    assert g["vm_max_pu"] == pytest.approx(res["vm_pu"].max(), abs=1e-5)
    assert [lv["vn_kv"] for lv in g["voltage_levels"]] == [380.0, 110.0, 20.0, 10.0, 0.4]
    assert g["trafos3w"] == 1 and g["trafo3w_loading_max_percent"] > 100.0
    assert g["violations"] == len(p.flow.violations)

    html = build_map(p).get_root().render()  # crashed with "Format specifier missing precision" before
    html = html.replace("\\u003c", "<").replace("\\u003e", ">")  # tooltips are JSON inside a script
    layer = re.search(r"grid violations \((\d+)\)", html)
    assert layer and int(layer.group(1)) == len(p.flow.violations)
    for text in ("undervoltage</b>: bus", "overvoltage</b>: bus", "overload</b>: line", "overload</b>: transformer",
                 "overload</b>: three-winding transformer 0"):
        assert text in html, text

    report = render_report(p)
    section = report.split("<h2>Distribution grid</h2>", 1)[1].split("<h2>", 1)[0]
    for text in ("undervoltage", "overvoltage", "line 14", "transformer 1", "three-winding transformer 0",
                 "Voltage per level"):
        assert text in section, text

    if mode == "day":
        # the sites sit at bus 50, which the PV plant already lifts above the band: 0 kW, and why
        assert p.flow.buses.at[50, "hosting_capacity_kw"] == 0.0
        assert "already overvoltage" in html and "already overvoltage" in report.split("<h2>Sites", 1)[1]

    pdf = mode == "day" and find_chromium() is not None
    out = p.save(tmp_path / "out", pdf=pdf)
    csv = pd.read_csv(out / "grid_violations.csv")
    assert list(csv.columns[:5]) == ["element", "element_id", "violation", "value", "value_unit"]
    assert set(zip(csv["element"], csv["violation"], strict=True)) == EVERY_KIND
    assert len(csv) == len(p.flow.violations) and csv[["lon", "lat"]].notna().all().all()
    t3 = csv[csv["element"] == "trafo3w"].iloc[0]
    assert t3["value"] == pytest.approx(p.flow.trafos3w.at[0, "loading_percent"], rel=1e-6)
    assert csv["hours"].notna().all() == (mode == "day")
    assert "overload\\u003c/b\\u003e: three-winding transformer 0" in (out / "map.html").read_text(encoding="utf-8")
    if pdf:
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True,
                                  check=True).stdout
            for word in ("undervoltage", "overvoltage", "three-winding transformer 0", "transformer 1", "line 14"):
                assert word in text, word


def test_demo_plan_lowest_voltage_is_not_the_supply_point(demo_plan) -> None:
    # the summary once reported the 33 kV source's 1.000 pu for every run: the lowest voltage must
    # be that of a bus other than the source
    f = demo_plan.flow
    net = demo_plan.grid.net
    assert sorted(f.buses.index[f.buses["slack"]]) == sorted(net.ext_grid["bus"])
    others = f.buses.loc[~f.buses["slack"], "vm_min_pu"]
    g = demo_plan.summary["grid"]
    assert g["vm_min_pu"] == pytest.approx(others.min(), abs=1e-5)
    assert g["vm_min_pu"] != pytest.approx(float(net.ext_grid["vm_pu"].max()), abs=1e-4)
    levels = {lv["vn_kv"]: lv for lv in g["voltage_levels"]}
    vn = net.bus["vn_kv"].reindex(others.index)
    assert set(levels) == set(vn.unique())
    for kv, lv in levels.items():
        assert lv["vm_min_pu"] == pytest.approx(others[vn == kv].min(), abs=1e-5)
        assert lv["buses"] == int((vn == kv).sum())


def test_transformer_layer_and_csv_hold_the_three_winding_transformer(demo_plan, tmp_path) -> None:
    import pyogrio

    p = _plan_with_every_violation(demo_plan, "peak")
    ref = pandapower_reference(p.grid.net)  # independent reference: pandapower's own load flow
    out = p.save(tmp_path / "out", pdf=False)
    layer = pyogrio.read_dataframe(out / "plan.gpkg", layer="grid_trafos")
    csv = pd.read_csv(out / "grid_trafos.csv")
    for table in (layer, csv):
        assert set(table["kind"]) == {"trafo", "trafo3w"}
        three = table[table["kind"] == "trafo3w"].set_index("trafo_id")
        assert sorted(three.index) == sorted(ref.trafo3w.index)
        for i in three.index:
            assert three.at[i, "loading_percent"] == pytest.approx(ref.res_trafo3w.at[i, "loading_percent"], rel=1e-6)
            assert three.at[i, "lv_bus"] == ref.trafo3w.at[i, "lv_bus"]
            assert three.at[i, "mv_bus"] == ref.trafo3w.at[i, "mv_bus"]
        # the two-winding ones are all still there, with pandapower's loading
        two = table[table["kind"] == "trafo"].set_index("trafo_id")
        assert sorted(two.index) == sorted(ref.trafo.index)
        assert np.allclose(two["loading_percent"], ref.res_trafo["loading_percent"].reindex(two.index), rtol=1e-6)
        assert (two["parallel"] == ref.trafo["parallel"].reindex(two.index)).all()
    # the CSV gives the position of the low-voltage bus, as the grid bus table does
    buses = pd.read_csv(out / "grid_buses.csv").set_index("bus_id")
    row = csv[csv["kind"] == "trafo3w"].iloc[0]
    lv = int(ref.trafo3w.at[int(row["trafo_id"]), "lv_bus"])
    assert (row["lon"], row["lat"]) == pytest.approx((buses.at[lv, "lon"], buses.at[lv, "lat"]), abs=1e-7)
