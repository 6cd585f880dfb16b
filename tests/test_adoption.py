"""EV hosting level: the adoption factor and year of the first new grid violation."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import tracemalloc

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from charge_planner.errors import DataError
from charge_planner.grid import run_peak_flow
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.timeseries import run_time_series
from charge_planner.outputs.maps import build_map
from charge_planner.outputs.report import render_report
from charge_planner.pipeline import adoption, hosting_search
from charge_planner.pipeline.adoption import (
    HostingLevel,
    adoption_path,
    ev_hosting_level,
    grid_hosting_level,
    hosting_level_of,
    scaled_loads,
    violated_at_plan,
    year_reached,
)
from charge_planner.pipeline.hosting_search import (
    HostingCheck,
    HostingSeries,
    dt_of_buses,
    search_crossings,
    search_steps,
)
from charge_planner.pipeline.stages import grid_stage
from charge_planner.pipeline.summary import summary_json

PATH = pd.Series([0.1, 0.25, 0.5, 1.0], index=[2027, 2028, 2029, 2030])


def _tiny_grid(base_kw: float) -> tuple[pp.pandapowerNet, int]:
    """ext_grid - 11/0.4 kV 250 kVA DT (low impedance) - one short LV line - a bus with a site."""
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 11.0)
    lv = pp.create_bus(net, 0.4)
    site = pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, mv, vm_pu=1.0)
    pp.create_transformer_from_parameters(net, mv, lv, sn_mva=0.25, vn_hv_kv=11.0, vn_lv_kv=0.4, vkr_percent=0.05,
                                          vk_percent=0.5, pfe_kw=0.0, i0_percent=0.0)
    pp.create_line_from_parameters(net, lv, site, length_km=0.01, r_ohm_per_km=0.01, x_ohm_per_km=0.005,
                                   c_nf_per_km=0.0, max_i_ka=2.0)
    pp.create_load(net, lv, p_mw=base_kw / 1000.0, q_mvar=0.0)
    return net, site


def test_tiny_grid_factor_matches_the_trafo_rating_by_hand():
    """Base 50 kW + EV 100 kW x a at unity power factor on a 250 kVA DT with a stiff LV side: the DT is
    at 100 % when 50 + 100 a = 250 kW, a = 2.0 (by hand); pandapower confirms the loading there."""
    net, site = _tiny_grid(50.0)
    index = pd.date_range("2030-05-15 20:00", periods=1, freq="60min")
    ev = pd.DataFrame({site: [100.0]}, index=index)
    level = grid_hosting_level(net, ev, base_load_factor=np.ones(1), path=PATH, plan_year=2030,
                               vm_min_pu=0.9, vm_max_pu=1.1)
    assert level.city_factor == pytest.approx(2.0, rel=0.01)
    assert level.first_limit is not None and (level.first_limit["element"], level.first_limit["kind"]) == (
        "trafo", "overload")
    assert list(level.table.index) == [0]  # the one DT, found from the topology (no net.bus["dt"])
    assert level.table.loc[0, "factor"] == pytest.approx(level.city_factor)
    # an independent check: pandapower's own load flow at the factor found
    check = copy.deepcopy(net)
    pp.create_load(check, site, p_mw=0.1 * level.city_factor, q_mvar=0.0)
    pp.runpp(check)
    assert check.res_trafo.loading_percent.iloc[0] == pytest.approx(100.0, abs=0.3)
    assert level.city_year is None and level.city_year_label == "beyond 2030"


def test_violation_already_at_zero_does_not_count():
    """A DT overloaded by its base load alone is reported apart; the new violation is the LV line."""
    net, site = _tiny_grid(260.0)  # 104 % with no EV
    net.line.loc[0, "max_i_ka"] = 0.6  # the line carries the EV only: 0.6 kA at 0.4 kV is 415.7 kW, a = 4.157
    index = pd.date_range("2030-05-15 20:00", periods=1, freq="60min")
    ev = pd.DataFrame({site: [100.0]}, index=index)
    level = grid_hosting_level(net, ev, base_load_factor=np.ones(1), path=PATH, plan_year=2030,
                               vm_min_pu=0.9, vm_max_pu=1.1)
    assert list(zip(level.already_violated["element"], level.already_violated["kind"], strict=True)) == [
        ("trafo", "overload")]
    assert level.first_limit is not None and level.first_limit["element"] == "line"
    by_hand = math.sqrt(3) * 0.4 * 0.6 * 1000.0 / 100.0  # the stiff DT and short line keep the site at ~1 pu
    assert level.city_factor == pytest.approx(by_hand, rel=0.01)
    assert "trafo 0 overload" in level.table.loc[0, "already"]


def test_year_interpolates_on_the_path():
    assert year_reached(0.5, PATH) == pytest.approx(2029.0)
    assert year_reached(0.75, PATH) == pytest.approx(2029.5)  # half-way from 0.5 (2029) to 1.0 (2030)
    assert year_reached(0.175, PATH) == pytest.approx(2027.5)
    assert year_reached(0.05, PATH) == pytest.approx(2027.0)  # reached already in the first year
    assert year_reached(1.2, PATH) is None
    assert year_reached(None, PATH) is None


def test_adoption_path_normalises_to_the_plan_year():
    idx = pd.MultiIndex.from_tuples(
        [("car", 2029, "home"), ("car", 2029, "public_dc"), ("car", 2030, "home"), ("car", 2030, "public_dc")],
        names=["segment", "year", "use_case"])
    energy = pd.DataFrame({"energy_kwh_day": [10.0, 30.0, 40.0, 40.0]}, index=idx)
    assert adoption_path(energy, 2030).to_dict() == {2029: 0.5, 2030: 1.0}
    assert adoption_path(energy, 2030, use_cases=["public_dc"]).to_dict() == {2029: 0.75, 2030: 1.0}
    with pytest.raises(DataError, match="plan year 2031"):
        adoption_path(energy, 2031)


def test_dt_of_buses_from_the_topology():
    net, site = _tiny_grid(10.0)
    assert dt_of_buses(net).to_dict() == {0: -1, 1: 0, 2: 0}


def _dt_of(net: pp.pandapowerNet, element: str, element_id: int) -> int:
    """The DT of a violated element: a bus's, a DT's own, a line's when both its ends are the DT's (else -1)."""
    bus_dt = net.bus["dt"]
    if element == "bus":
        return int(bus_dt[element_id])
    if element == "trafo":
        return element_id
    ends = bus_dt[net.line.at[element_id, "from_bus"]], bus_dt[net.line.at[element_id, "to_bus"]]
    return int(ends[0]) if ends[0] == ends[1] else -1


def test_demo_hosting_level(demo_plan):
    """On the demo: a city factor above 0, every DT listed, and the factors hold against the batched
    time series rerun with scaled EV loads (no new violation just below, one just above and at 1.1 a),
    the tap changers carried from hour to hour in both."""
    level = hosting_level_of(demo_plan)
    net = demo_plan.grid_results.model.net
    dts = sorted(int(d) for d in set(net.bus["dt"]) if d >= 0)
    assert list(level.table.index) == dts
    assert level.city_factor is not None and level.city_factor > 0
    a = demo_plan.grid_assessment
    cfg = demo_plan.city.config
    blf = a.base_load_factor

    def violated(factor: float) -> set[tuple[str, int, str]]:
        flow = run_time_series(net, a.flow.index, base_load_factor=blf, ev_kw=a.ev_kw * factor, pv_kw=a.pv_kw,
                               vm_min_pu=cfg.grid.vm_min_pu, vm_max_pu=cfg.grid.vm_max_pu,
                               max_loading_percent=cfg.grid.max_loading_percent)
        v = flow.violations
        return set(zip(v["element"], v["id"].astype(int), v["kind"], strict=True))

    already = violated(0.0)
    assert already == set(zip(level.already_violated["element"], level.already_violated["id"].astype(int),
                              level.already_violated["kind"], strict=True))
    assert violated(level.city_factor * 0.99) == already
    first = level.first_limit
    assert first is not None
    assert (first["element"], first["id"], first["kind"]) in violated(level.city_factor * 1.01)

    def dt_of(element: str, element_id: int) -> int:
        return _dt_of(net, element, element_id)

    limited = level.table.dropna(subset=["factor"]).sort_values("factor").head(4)
    for dt, row in limited.iterrows():
        for factor in (row["factor"] * 1.01, row["factor"] * 1.1):
            assert (row["element"], row["element_id"], row["kind"]) in violated(factor)
        # nothing of the DT is violated just below its factor
        assert not {v for v in violated(row["factor"] * 0.99) - already if dt_of(v[0], v[1]) == dt}
    # the year: the adoption path of the grid's EV use cases, 1 in the plan year
    assert level.path.loc[cfg.fleet.year] == 1.0
    assert level.city_year == pytest.approx(year_reached(level.city_factor, level.path))
    summary = level.summary()
    assert summary["city_factor"] == pytest.approx(level.city_factor, abs=1e-4)
    assert summary["n_dts"] == len(dts)


def test_hosting_level_of_a_longer_axis_starts_each_hour_where_the_time_series_had_the_taps(demo_plan):
    """Five days of the demo (base load 0.9 to 1.0 of the design day's): the search examines the highest hour of
    each hour of the day, from different days. Started where the time series at a = 1 had the tap changers the
    hour before, the DT levels that differ from those started at the stored positions hold against the time
    series run over the five days at the scaled load, its taps carried from hour to hour (nothing of the DT
    violated just below its factor, its limit just above)."""
    net = demo_plan.grid_results.model.net
    a = demo_plan.grid_assessment
    cfg = demo_plan.city.config
    days = [0.93, 0.97, 1.0, 0.96, 0.9]
    index = pd.date_range("2030-05-13 00:00", periods=24 * len(days), freq="60min")
    blf = np.concatenate([np.asarray(a.base_load_factor) * d for d in days])

    def tiled(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(np.tile(frame.to_numpy(), (len(days), 1)), index=index, columns=frame.columns)

    ev, pv = tiled(a.ev_kw), tiled(a.pv_kw)
    limits = {"vm_min_pu": cfg.grid.vm_min_pu, "vm_max_pu": cfg.grid.vm_max_pu,
              "max_loading_percent": cfg.grid.max_loading_percent}

    def flow(factor: float):
        return run_time_series(net, index, base_load_factor=blf, ev_kw=ev * factor, pv_kw=pv, **limits)

    def violated(factor: float) -> set[tuple[str, int, str]]:
        v = flow(factor).violations
        return set(zip(v["element"], v["id"].astype(int), v["kind"], strict=True))

    at_one = flow(1.0).batch.tap_pos.T
    path = pd.Series({2030: 1.0, 2035: 3.0})
    stored = grid_hosting_level(net, ev, base_load_factor=blf, path=path, plan_year=2030, pv_kw=pv, **limits)
    level = grid_hosting_level(net, ev, base_load_factor=blf, path=path, plan_year=2030, pv_kw=pv, tap_path=at_one,
                               **limits)
    assert any("where the plan's time series had them the hour before" in n for n in level.assumptions)
    with pytest.raises(DataError, match=r"tap_path has shape .* one position per on-load tap changer and step"):
        grid_hosting_level(net, ev, base_load_factor=blf, path=path, plan_year=2030, pv_kw=pv,
                           tap_path=at_one[:, :24], **limits)
    assert not any("the hour before" in n for n in stored.assumptions)
    new, old = level.table["factor"], stored.table["factor"]
    moved = level.table.index[new.notna() & ~np.isclose(new, old, rtol=0.005)]
    assert len(moved) >= 3  # the start of the searched hours matters on this grid
    already = violated(0.0)

    def dt_of(element: str, element_id: int) -> int:
        return _dt_of(net, element, element_id)

    for dt in moved[:4]:
        row = level.table.loc[dt]
        assert (row["element"], row["element_id"], row["kind"]) in violated(row["factor"] * 1.01), dt
        assert not {v for v in violated(row["factor"] * 0.99) - already if dt_of(v[0], v[1]) == dt}, dt


def test_hosting_level_from_the_loads_reruns_the_grid_stage_on_the_same_grid(demo_plan):
    """From (city, loads, grid model) the grid stage is rerun on the given grid: the same level as the plan's."""
    p = demo_plan
    level = ev_hosting_level(p.city, p.grid_loads, p.grid_results.model, energy=p.demand_result.energy,
                             factors=(0.0, 0.25, 0.5, 1.0))
    ref = hosting_level_of(p, factors=(0.0, 0.25, 0.5, 1.0))
    assert level.city_factor == pytest.approx(ref.city_factor, rel=1e-6)
    assert level.first_limit == ref.first_limit


def test_scaled_loads_scale_every_ev_load(demo_plan):
    loads = demo_plan.grid_loads
    half = scaled_loads(loads, 0.5)
    assert np.allclose(half.sites["served_kwh_day"], loads.sites["served_kwh_day"] * 0.5)
    assert np.allclose(half.sites["power_kw"], loads.sites["power_kw"] * 0.5)
    assert half.base is loads.base
    assert np.allclose(half.other["kwh_day"], loads.other["kwh_day"] * 0.5)
    assert np.allclose(half.other["peak_kw"], loads.other["peak_kw"] * 0.5)
    with pytest.raises(DataError, match="adoption factor"):
        scaled_loads(loads, -1.0)


def test_map_layer_and_report_section(demo_plan):
    """The map has the layer "EV hosting per transformer" with every DT, names escaped; the report has the
    section with the city level in words."""
    level = hosting_level_of(demo_plan)
    first_dt = level.table["factor"].idxmin()
    table = level.table.copy()
    table.loc[first_dt, "name"] = "<script>alert(1)</script>"
    plan = copy.copy(demo_plan)
    plan.ev_hosting = dataclasses.replace(level, table=table)
    html = build_map(plan).get_root().render()
    assert "EV hosting per transformer" in html
    assert "<script>alert(1)</script>" not in html
    assert html.count("first new violation at") == int(table["factor"].notna().sum())
    report = render_report(plan)
    section = report[report.index("How much EV the grid can host"):report.index("Renewable share and CO2")]
    assert f"up to {round(level.city_factor * 100)}% of the EV energy planned for 2030" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section and "<script>alert(1)" not in section
    # the grid figures name the hosting level in words, with its year as a year
    assert "EV hosting: first new violation at" in report and "ev hosting:" not in report
    assert f"EV hosting: plan year (its EV energy = 1)</td><td class=\"n\">{level.plan_year}<" in report


def test_summary_has_the_hosting_level(demo_plan):
    """summary.json's grid.ev_hosting is the plan's hosting level, JSON-serialisable."""
    got = demo_plan.summary["grid"]["ev_hosting"]
    want = hosting_level_of(demo_plan).summary(at_plan=violated_at_plan(demo_plan))
    assert got == want
    # the demo's first limit (a transformer overload at 12 % of the 2030 EV energy) is still violated at 100 %
    assert got["first_limit_holds_at_plan"] is False and got["already_violated"]["holding_at_plan"] >= 0
    assert set(got) >= {"city_factor", "city_year", "first_limit", "dts_limited_by_year", "already_violated"}
    assert json.loads(summary_json(demo_plan.summary))["grid"]["ev_hosting"]["city_factor"] == got["city_factor"]


def test_peak_mode_scales_the_peak_flow(demo_plan):
    """With grid.time_series = "peak" the level scales the evening-peak EV load per bus of the peak flow;
    pandapower's peak flow (run_peak_flow) confirms no new violation just below it and the limit just above."""
    p = demo_plan
    cfg = p.city.config
    city = copy.copy(p.city)
    city.config = cfg.model_copy(update={"grid": cfg.grid.model_copy(update={"time_series": "peak"})})
    model = p.grid_results.model
    level = ev_hosting_level(city, p.grid_loads, model, energy=p.demand_result.energy,
                             factors=(0.0, 0.25, 0.5, 1.0, 2.0, 3.0))
    peak = grid_stage(city, p.grid_loads, model)
    assert peak.mode == "peak" and level.city_factor is not None

    def violated(factor: float) -> set[tuple[str, int, str]]:
        flow = run_peak_flow(model.net, peak.flow.ev_kw_by_bus * factor, vm_min_pu=cfg.grid.vm_min_pu,
                             vm_max_pu=cfg.grid.vm_max_pu, max_loading_percent=cfg.grid.max_loading_percent)
        v = flow.violations
        return set(zip(v["element"], v["id"].astype(int), v["kind"], strict=True))

    already = violated(0.0)
    assert violated(level.city_factor * 0.99) == already
    first = level.first_limit
    assert first is not None and (first["element"], first["id"], first["kind"]) in violated(level.city_factor * 1.01)


# ------------------------------------------------------------------------------------- scale


def _dt_grid(n_dt: int = 40, n_lv: int = 4) -> tuple[pp.pandapowerNet, pd.DataFrame, np.ndarray]:
    """An 11 kV chain with one 250 kVA DT per MV bus, 4 LV buses of 20 kW behind each DT and an EV load
    of 5 + 3 d kW (d the DT's position) at the end of its LV chain, peaking in the evening; the design
    day's EV load (steps x buses) and base-load factor."""
    net = pp.create_empty_network()
    bar = pp.create_bus(net, 11.0)
    pp.create_ext_grid(net, bar, vm_pu=1.02)
    net.bus["dt"] = -1
    prev = bar
    ev_at: dict[int, float] = {}
    for d in range(n_dt):
        mv = pp.create_bus(net, 11.0)
        pp.create_line_from_parameters(net, bar if d % 8 == 0 else prev, mv, length_km=0.3, r_ohm_per_km=0.1,
                                       x_ohm_per_km=0.08, c_nf_per_km=0.0, max_i_ka=0.6)
        prev = mv
        lv = pp.create_bus(net, 0.4)
        t = pp.create_transformer_from_parameters(net, mv, lv, sn_mva=0.25, vn_hv_kv=11.0, vn_lv_kv=0.4,
                                                  vkr_percent=1.0, vk_percent=4.0, pfe_kw=0.0, i0_percent=0.0)
        net.bus.loc[[mv, lv], "dt"] = [-1, t]
        at = lv
        for _ in range(n_lv):
            b = pp.create_bus(net, 0.4)
            net.bus.loc[b, "dt"] = t
            pp.create_line_from_parameters(net, at, b, length_km=0.04, r_ohm_per_km=0.2, x_ohm_per_km=0.08,
                                           c_nf_per_km=0.0, max_i_ka=0.4)
            pp.create_load(net, b, p_mw=0.02)
            at = b
        ev_at[at] = 5.0 + 3.0 * d
    net.bus["dt"] = net.bus["dt"].astype(int)
    index = pd.date_range("2030-05-15 00:00", periods=24, freq="60min")
    hours = np.arange(24)
    ev_shape = np.exp(-0.5 * ((hours - 20) / 2.0) ** 2)
    ev = pd.DataFrame(np.outer(ev_shape, list(ev_at.values())), index=index, columns=list(ev_at))
    base = 0.6 + 0.4 * np.exp(-0.5 * ((hours - 19) / 3.0) ** 2)
    return net, ev, base


def test_refinement_budget_refines_the_earliest_dts_and_flags_the_others(monkeypatch):
    """With a small column budget the city and the earliest DTs are refined as with no limit, the
    later ones keep the linear crossing within the grid of factors, and the level says how many
    (``dts_not_refined``, the table's ``refined`` column, an assumption line); the refined crossings hold
    against the time series rerun with scaled EV loads (no violation of the DT's element at 0.99 a,
    one at 1.01 a)."""
    net, ev, base = _dt_grid()
    kw = dict(base_load_factor=base, path=PATH, plan_year=2030, vm_min_pu=0.9, vm_max_pu=1.1)
    full = grid_hosting_level(net, ev, **kw)
    monkeypatch.setattr(hosting_search, "MAX_REFINE_COLUMNS", 24)
    part = grid_hosting_level(net, ev, **kw)
    limited = full.table["factor"].notna()
    assert limited.sum() >= 10 and full.dts_not_refined == 0 and full.table["refined"].all()
    assert part.city_factor == pytest.approx(full.city_factor, rel=1e-6)
    flagged = ~part.table["refined"]
    assert 0 < flagged.sum() < limited.sum() and part.dts_not_refined == int(flagged.sum())
    assert part.summary()["dts_not_refined"] == part.dts_not_refined
    assert any("not refined" in a for a in part.assumptions) and not any("not refined" in a for a in full.assumptions)
    assert any("budget of 24 load-flow columns" in a for a in part.assumptions)
    refined = limited & ~flagged
    np.testing.assert_allclose(part.table.loc[refined, "factor"], full.table.loc[refined, "factor"], rtol=1e-6)
    # the earliest crossings are refined first
    earliest = full.table["factor"].nsmallest(2).index
    assert part.table.loc[earliest, "refined"].all()
    assert full.table.loc[refined, "factor"].median() < full.table.loc[flagged, "factor"].median()
    # a flagged crossing lies in the same interval of the grid of factors as the refined one
    grid = np.asarray(adoption.DEFAULT_FACTORS)
    np.testing.assert_array_equal(np.searchsorted(grid, part.table.loc[flagged, "factor"]),
                                  np.searchsorted(grid, full.table.loc[flagged, "factor"]))
    assert (part.table.loc[refined, "element"] == full.table.loc[refined, "element"]).all()

    def violated(factor: float) -> set[tuple[str, int, str]]:
        flow = run_time_series(net, ev.index, base_load_factor=base, ev_kw=ev * factor, vm_min_pu=0.9, vm_max_pu=1.1)
        v = flow.violations
        return set(zip(v["element"], v["id"].astype(int), v["kind"], strict=True))

    for _dt, row in part.table[refined].sort_values("factor").head(3).iterrows():
        limit = (row["element"], row["element_id"], row["kind"])
        assert limit not in violated(row["factor"] * 0.99)
        assert limit in violated(row["factor"] * 1.01)


def test_search_memory_is_bounded_by_its_blocks(monkeypatch):
    """The grid of 18 factors x 24 steps and its refinement are solved a block of columns at a time and
    reduced at once to one margin per DT: the search holds less than one dense columns x limits matrix
    of the grid of factors, solves no column twice for the limits, and its answer is that of one block."""
    net, ev, base = _dt_grid(n_dt=120)
    index = pd.DatetimeIndex(ev.index)
    series = HostingSeries(index=index, base_load_factor=base, ev_kw=ev, pv_kw=pd.DataFrame(index=index),
                           vm_min_pu=0.9, vm_max_pu=1.1, max_loading_percent=100.0)
    factors = np.asarray(adoption.DEFAULT_FACTORS)
    steps = search_steps(series)
    whole, _, _ = search_crossings(HostingCheck(net, series), steps, factors)
    check = HostingCheck(net, series)
    n_limits = len(check.table)
    monkeypatch.setattr(hosting_search, "BLOCK_ENTRIES", 16 * (check.model.n_internal + n_limits))  # 16 columns a block
    tracemalloc.start()
    try:
        blocks, _, info = search_crossings(check, steps, factors)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    dense = len(factors) * len(steps) * n_limits * 8
    assert peak < dense, f"peak {peak / 2**20:.1f} MiB, one dense margin matrix {dense / 2**20:.1f} MiB"
    # the grid of factors and the refinement rounds, nothing more: what fails first at each crossing is
    # kept from the round that found its upper end, not solved again
    assert info["refine_columns"] > 0
    assert info["columns_solved"] == len(factors) * len(steps) + info["refine_columns"]
    assert blocks["factor"].notna().sum() >= 10
    np.testing.assert_allclose(blocks["factor"], whole["factor"], rtol=1e-7)
    assert (blocks["limit_pos"] == whole["limit_pos"]).all()


def _level(first: dict, factor: float, already: list[tuple[str, int, str]]) -> HostingLevel:
    table = pd.DataFrame({"name": ["DT1 100 kVA"], "factor": [factor], "refined": [True], "year": [2029.4],
                          "limit": ["x"], "element": [first["element"]], "element_id": [first["id"]],
                          "kind": [first["kind"]], "already": [""], "x_m": [0.0], "y_m": [0.0]}, index=[7])
    return HostingLevel(city_factor=factor, city_year=2029.4, first_limit=first, table=table,
                        already_violated=pd.DataFrame(already, columns=["element", "id", "kind"]).assign(dt=7),
                        path=pd.Series([0.5, 1.0], index=[2029, 2030]), plan_year=2030, horizon=2030, max_factor=5.0)


def test_report_says_when_a_limit_met_below_the_planned_load_holds_at_it():
    """A voltage limit first met at part of the planned EV load but absent from the plan's own grid check is said to
    hold again there (tap changers), instead of "beyond that" the grid failing; limits broken without EV that the
    plan's check does not report are not called in need of reinforcement."""
    from charge_planner.outputs.report_hosting import _context

    bus = {"element": "bus", "id": 5, "kind": "undervoltage"}
    level = _level(bus, 0.43, [("bus", 9, "undervoltage"), ("bus", 11, "undervoltage")])
    # the plan's check (a = 1) reports none of them: both sentences say so, the tap changers named once
    ctx = _context(level, at_plan=set())
    assert "up to 43% of the EV energy planned for 2030; at that level, bus 5 falls below" in ctx["headline"]
    assert "holds again" in ctx["headline"] and "tap changers" in ctx["headline"]
    assert "None of them is violated at the planned EV load of 2030" in ctx["already_text"]
    assert "for the same reason" in ctx["already_text"] and "need reinforcement" not in ctx["already_text"]
    # the plan's check reports the first limit and one of the two: the plain sentences
    ctx = _context(level, at_plan={("bus", 5, "undervoltage"), ("bus", 9, "undervoltage")})
    assert "holds again" not in ctx["headline"]
    assert "1 of them hold at the planned EV load" in ctx["already_text"]
    assert "tap changers" in ctx["already_text"] and "the others need reinforcement" in ctx["already_text"]
    ctx = _context(level, at_plan={("bus", 5, "undervoltage"), ("bus", 9, "undervoltage"), ("bus", 11, "undervoltage")})
    assert ctx["already_text"].endswith("and need reinforcement in any case.")
    # an overload met below the planned load and absent from its check: said, without the tap-changer reason
    trafo = {"element": "trafo", "id": 3, "kind": "overload"}
    ctx = _context(_level(trafo, 0.8, []), at_plan=set())
    assert "holds again" in ctx["headline"] and "tap changers" not in ctx["headline"]
    # above the planned load nothing is said about the plan's check
    assert "holds again" not in _context(_level(bus, 1.3, []), at_plan=set())["headline"]
    # summary.json carries the same judgement, for notebooks and other readers of the summary
    s = level.summary(at_plan={("bus", 9, "undervoltage")})
    assert s["first_limit_holds_at_plan"] is True and s["already_violated"]["holding_at_plan"] == 1
    assert level.summary(at_plan={("bus", 5, "undervoltage")})["first_limit_holds_at_plan"] is False
    assert "first_limit_holds_at_plan" not in level.summary()


def test_the_year_the_level_is_reached_is_compared_with_the_rollouts_own_check_of_it():
    """The hosting level scales the plan year's loads; the rollout's own check of the year the path reaches it (the
    earlier sites serving that year's demand) is named beside it, whatever it found."""
    from charge_planner.outputs.report_hosting import _context

    bus = {"element": "bus", "id": 5, "kind": "undervoltage"}
    # reached in 2029.4: the first whole year at that level is the plan year, whose check is the section's own
    level = _level(bus, 0.43, [])
    assert str(level.city_year_label) == "2030"
    assert "rollout's own check" not in _context(level, at_plan=set(), checked={2029: 0, 2030: 0})["headline"]
    level2 = _level(bus, 0.43, [])
    level2.city_year = 2028.6
    ctx = _context(level2, at_plan=set(), checked={2028: 0, 2029: 2, 2030: 0})
    assert str(level2.city_year_label) == "2029"
    assert ("The rollout's own check of 2029 (table \"The grid in every year checked\") finds 2 violation(s): its loads that "
            "year are its sites of then serving that year's demand, not the 2030 loads scaled down.") in ctx["headline"]
    # a year not checked (a one-year plan): nothing is said
    assert "rollout's own check" not in _context(level2, at_plan=set(), checked={2030: 0})["headline"]


def test_hosting_level_on_a_grid_solved_area_group_by_area_group_is_the_whole_grids(demo_plan, monkeypatch):
    """The demo's grid split into groups of its substations' areas (at most 400 buses each), each DT's
    refinement solved on its own group only: the city's and every DT's hosting level, and what limits each,
    are those of the grid solved as one system."""
    from charge_planner.grid import fastflow

    monkeypatch.setattr(fastflow, "ISLAND_BUSES", 400)
    split = hosting_level_of(demo_plan)
    check = BatchPowerFlow.from_net(demo_plan.grid_results.model.net)
    assert check.islands() is not None and len(check.islands()) >= 3
    monkeypatch.setattr(BatchPowerFlow, "islands", lambda self: None)
    whole = hosting_level_of(demo_plan)
    assert split.city_factor == pytest.approx(whole.city_factor, rel=1e-6)
    limited = whole.table["factor"].notna()
    assert limited.sum() >= 5
    assert (split.table["factor"].notna() == limited).all()
    np.testing.assert_allclose(split.table.loc[limited, "factor"], whole.table.loc[limited, "factor"], rtol=1e-5)
    assert (split.table.loc[limited, "element_id"] == whole.table.loc[limited, "element_id"]).all()


def test_a_dt_out_of_service_is_listed_with_no_level_on_a_grid_searched_island_by_island(demo_plan, monkeypatch):
    """A DT switched out of service belongs to no island of the split grid: the hosting level still lists it,
    with no level, as the whole grid's search does."""
    from charge_planner.grid import fastflow

    net = copy.deepcopy(demo_plan.grid_results.model.net)
    dt = int(net.trafo.index[net.trafo["role"] == "distribution"][0])
    net.trafo.at[dt, "in_service"] = False
    net.bus.loc[net.bus["dt"] == dt, "in_service"] = False
    a = demo_plan.grid_assessment
    ev = a.ev_kw.loc[:, [c for c in a.ev_kw.columns if bool(net.bus.at[c, "in_service"])]]
    kw = dict(base_load_factor=a.base_load_factor, path=pd.Series([0.5, 1.0], index=[2029, 2030]), plan_year=2030)
    monkeypatch.setattr(fastflow, "ISLAND_BUSES", 400)
    split = grid_hosting_level(net, ev, **kw)
    monkeypatch.setattr(fastflow.BatchPowerFlow, "islands", lambda self: None)
    whole = grid_hosting_level(net, ev, **kw)
    assert dt in whole.table.index and dt in split.table.index
    assert list(split.table.index) == list(whole.table.index)
    assert np.isnan(split.table.at[dt, "factor"]) and np.isnan(whole.table.at[dt, "factor"])
    assert split.city_factor == pytest.approx(whole.city_factor, rel=1e-6)


def test_the_tap_changer_note_of_a_grid_searched_island_by_island_is_the_whole_grids_when_the_first_has_none(
        demo_plan, monkeypatch):
    """The demo's grid split into groups of its substations' areas, the first group's on-load tap changers
    taken out: the hosting level's note on tap changers says what the whole grid's search says (carried from
    hour to hour round the day), not what the first group alone would say."""
    from charge_planner.grid import fastflow

    net = copy.deepcopy(demo_plan.grid_results.model.net)
    monkeypatch.setattr(fastflow, "ISLAND_BUSES", 400)
    first = BatchPowerFlow.from_net(net).islands()[0]
    assert first.model.taps is not None
    trafos = set(first.model.taps.trafos.tolist())
    ctrl = net.controller
    without = [i for i in ctrl.index if int(np.atleast_1d(ctrl.at[i, "object"].element_index)[0]) in trafos]
    assert without
    net.controller = ctrl.drop(index=without)
    islands = BatchPowerFlow.from_net(net).islands()
    assert islands[0].model.taps is None and any(isl.model.taps is not None for isl in islands[1:])
    a = demo_plan.grid_assessment
    kw = dict(base_load_factor=a.base_load_factor, path=pd.Series([0.5, 1.0], index=[2029, 2030]), plan_year=2030)
    split = grid_hosting_level(net, a.ev_kw, **kw)
    monkeypatch.setattr(fastflow.BatchPowerFlow, "islands", lambda self: None)
    whole = grid_hosting_level(net, a.ev_kw, **kw)

    def tap_note(level):
        return [n.split(" (")[0] for n in level.assumptions if "tap changer" in n]

    assert tap_note(whole) == ["EV hosting level: the on-load tap changers are carried from hour to hour as in the "
                               "plan's time series, the whole day solved at every factor of the grid and every trial "
                               "of the city's factor"]
    assert tap_note(split) == tap_note(whole)
    assert split.city_factor == pytest.approx(whole.city_factor, rel=1e-6)
