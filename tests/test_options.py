"""Rollout options: the capped strategy, on-site batteries, compare_options and the options command."""

from __future__ import annotations

import math
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from charge_planner.city import load_city
from charge_planner.cli import app
from charge_planner.config import load_config
from charge_planner.demand.profiles import charging_profile
from charge_planner.errors import ConfigError
from charge_planner.grid import assess_grid, synthesise_grid
from charge_planner.grid.energy import PVProfile
from charge_planner.grid.smart import cap_profiles, dispatch_batteries, smart_rows
from charge_planner.grid.timeseries import time_index
from charge_planner.outputs.options import options_html, save_options
from charge_planner.outputs.write import OutputError
from charge_planner.pipeline import plan
from charge_planner.pipeline.options import (
    DEFAULT_OPTIONS,
    OPTION_COLUMNS,
    Option,
    compare_options,
    option_config,
)
from tests.conftest import DEMO_DIR
from tests.test_grid import grid_roads

# ------------------------------------------------------------------------------------- capped


def test_capped_profile_moves_the_excess_to_the_nearest_hours_with_room():
    # 100 kWh/day at a 50 kW site capped at 60 % = 30 kW: 18:00 draws 50 kW, 19:00 30 kW, 10:00 20 kW.
    # By hand: the 20 kW above the cap at 18:00 cannot go to 19:00 (at the cap), so it goes to 17:00.
    shares = np.zeros(24)
    shares[[10, 18, 19]] = [0.2, 0.5, 0.3]
    out = cap_profiles(shares[None, :], np.array([100.0]), np.array([50.0]), 0.6)[0] * 100.0
    expected = np.zeros(24)
    expected[[10, 17, 18, 19]] = [20.0, 20.0, 30.0, 30.0]
    np.testing.assert_allclose(out, expected, atol=1e-9)


def test_capped_profiles_never_exceed_the_cap_and_keep_the_daily_energy():
    rng = np.random.default_rng(3)
    shares = rng.random((40, 24)) ** 6  # peaky profiles
    shares /= shares.sum(axis=1, keepdims=True)
    energy = rng.uniform(50, 400, 40)
    power = rng.uniform(30, 120, 40)
    power = np.maximum(power, energy / 24 / 0.6 * 1.01)  # every site can serve its day under the cap
    out = cap_profiles(shares, energy, power, 0.6)
    kw = out * energy[:, None]
    assert (kw <= 0.6 * power[:, None] + 1e-9).all()
    np.testing.assert_allclose(kw.sum(axis=1), energy, rtol=1e-12)
    assert (shares * energy[:, None] > 0.6 * power[:, None]).any()  # the cap did bind


def test_a_site_that_needs_more_than_a_day_at_the_cap_draws_evenly():
    shares = np.full(24, 1 / 24)
    shares[12] += 0.1
    shares /= shares.sum()
    out = cap_profiles(shares[None, :], np.array([240.0]), np.array([10.0]), 0.5)  # 24 h x 5 kW = 120 < 240
    np.testing.assert_allclose(out[0] * 240.0, np.full(24, 10.0))


def test_capped_demand_profiles_are_the_unmanaged_ones():
    for seg, uc in (("car", "public_dc"), ("two_wheeler", "home"), ("bus", "depot")):
        np.testing.assert_array_equal(charging_profile(seg, uc, "capped"), charging_profile(seg, uc, "unmanaged"))


def test_smart_rows_cap_only_the_charging_sites_and_give_them_the_battery():
    rows = pd.DataFrame({"kind": ["public", "home"], "served_kwh_day": [100.0, 100.0], "power_kw": [10.0, np.inf]})
    prof = np.zeros((2, 24))
    prof[:, 18] = 1.0
    new_rows, new_prof = smart_rows(rows, prof, cap_share=0.5, battery_kwh=20.0, battery_kw=10.0)
    assert (new_prof[0] * 100.0 <= 5.0 + 1e-9).all()
    np.testing.assert_array_equal(new_prof[1], prof[1])
    assert new_rows["battery_kwh"].tolist() == [20.0, 0.0] and new_rows["battery_kw"].tolist() == [10.0, 0.0]


# ------------------------------------------------------------------------------------ battery


def _mix(re: float = 0.2, co2: float = 700.0) -> pd.DataFrame:
    return pd.DataFrame({"renewable_share": np.full(24, re), "co2_g_per_kwh": np.full(24, co2)})


def test_battery_stores_pv_surplus_and_discharges_it_at_the_peak_by_hand():
    # one site, one day: chargers draw 20 kW from 18:00 to 22:00 (80 kWh), PV gives 10 kW from 10:00 to 14:00
    # (40 kWh) when no vehicle charges; battery 30 kWh usable, 15 kW, 90 % round trip.
    # By hand: the day can give back 30 kWh, so 30 / 0.9 = 33.33 kWh of PV surplus is stored (10, 10, 10,
    # 3.33 kW), 6.67 kWh is exported; 30 kWh comes back at 7.5 kW in each peak hour (20 -> 12.5 kW);
    # losses 3.33 kWh = 10 % of the energy stored; the grid gives 80 - 30 = 50 kWh.
    ev = np.zeros((24, 1))
    ev[18:22] = 20.0
    pv = np.zeros((24, 1))
    pv[10:14] = 10.0
    d = dispatch_batteries(ev, pv, steps_per_day=24, step_h=1.0, kwh=30.0, kw=15.0, efficiency=0.9)
    c_pv = np.zeros(24)
    c_pv[10:14] = [10.0, 10.0, 10.0, 10.0 / 3.0]
    np.testing.assert_allclose(d.charge_pv_kw[:, 0], c_pv, atol=1e-9)
    np.testing.assert_allclose(d.charge_grid_kw, 0.0, atol=1e-9)
    dis = np.zeros(24)
    dis[18:22] = 7.5
    np.testing.assert_allclose(d.discharge_kw[:, 0], dis, atol=1e-9)
    np.testing.assert_allclose(d.grid_kw.max(), 12.5)
    stored = d.charge_pv_kw.sum() + d.charge_grid_kw.sum()
    assert stored - d.discharge_kw.sum() == pytest.approx(0.1 * stored, rel=1e-9)  # losses 10 %
    assert d.export_kw.sum() == pytest.approx(40.0 - 100.0 / 3.0)
    assert d.soc_kwh.min() >= -1e-9 and d.soc_kwh.max() == pytest.approx(30.0)
    e = d.energy(_mix(0.2, 700.0))
    # by hand: renewable = 0.9 x 33.33 (PV through the battery) + 50 x 0.2 = 40 kWh of 80; CO2 50 x 0.7 kg
    assert e.ev_kwh == pytest.approx(80.0)
    assert e.grid_kwh == pytest.approx(50.0)
    assert e.renewable_share == pytest.approx(0.5)
    assert e.co2_kg == pytest.approx(35.0)
    assert e.pv_used_kwh == pytest.approx(100.0 / 3.0)


def test_battery_charges_from_the_grid_in_the_lowest_hours_without_pv():
    # 2 kW all day, 20 kW from 18:00 to 22:00 (mean draw 5 kW); battery 30 kWh / 15 kW, 90 %.
    # By hand: 33.33 kWh from the grid spread over the 20 low hours (1.67 kW each, never above the mean);
    # 30 kWh back at 7.5 kW in the four peak hours.
    ev = np.full((24, 1), 2.0)
    ev[18:22] = 20.0
    d = dispatch_batteries(ev, np.zeros((24, 1)), steps_per_day=24, step_h=1.0, kwh=30.0, kw=15.0)
    low = np.r_[0:18, 22:24]
    np.testing.assert_allclose(d.charge_grid_kw[low, 0], 100.0 / 3.0 / 20.0)
    np.testing.assert_allclose(d.discharge_kw[18:22, 0], 7.5)
    assert d.grid_kw.max() == pytest.approx(12.5)
    assert d.grid_kw.sum() == pytest.approx(ev.sum() + 100.0 / 3.0 - 30.0)  # losses drawn from the grid


def test_battery_days_close_each_on_its_own():
    rng = np.random.default_rng(0)
    ev = rng.uniform(0, 40, (24 * 3, 5))
    pv = np.tile(np.clip(np.sin(np.pi * (np.arange(24) - 6) / 12), 0, None) * 30, 3)[:, None] * np.ones(5)
    d = dispatch_batteries(ev, pv, steps_per_day=24, step_h=1.0, kwh=np.array([0, 10, 50, 100, 500.0]), kw=20.0)
    for day in range(3):
        sl = slice(24 * day, 24 * day + 24)
        np.testing.assert_allclose(d.discharge_kw[sl].sum(axis=0),
                                   0.9 * (d.charge_pv_kw[sl] + d.charge_grid_kw[sl]).sum(axis=0), rtol=1e-9,
                                   atol=1e-9)
    assert (d.discharge_kw <= np.minimum(ev, 20.0) + 1e-9).all()
    assert (d.charge_pv_kw + d.charge_grid_kw <= 20.0 + 1e-9).all()
    assert (d.grid_kw >= -1e-9).all() and (d.export_kw >= -1e-9).all()
    np.testing.assert_allclose(d.discharge_kw[:, 0], 0.0)


@pytest.mark.parametrize(("over", "field"), [
    ({"grid": {"battery_kwh_per_site": 50.0}}, "grid.battery_kw_per_site"),
    ({"grid": {"battery_kwh_per_site": 50.0, "battery_kw_per_site": 20.0, "time_series": "peak"}},
     "grid.time_series"),
    ({"grid": {"charging_cap_share": 0.0}}, "grid.charging_cap_share"),
])
def test_battery_and_cap_settings_are_checked(over, field):
    base = load_config(DEMO_DIR / "city.toml")
    with pytest.raises(ConfigError) as err:
        option_config(base, Option("x", {f"grid.{k}": v for k, v in over["grid"].items()}))
    assert field in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------ options


@pytest.fixture(scope="module")
def demo_city():
    return load_city(DEMO_DIR)


@pytest.mark.parametrize(("key", "value", "named"), [
    ("grid.no_such_key", 1, "grid.no_such_key"),
    ("gird.pv_kwp_per_site", 1, "gird.pv_kwp_per_site"),
    ("demand.charging_strategy", "sometimes", "demand.charging_strategy"),
    ("data.seed", 7, "data.seed"),
    ("charging_strategy", "capped", "charging_strategy"),
])
def test_a_bad_option_gets_one_line_naming_the_key(demo_city, key, value, named):
    with pytest.raises(ConfigError) as err:
        compare_options(demo_city, {"bad": {key: value}})
    msg = str(err.value)
    assert named in msg and "\n" not in msg and "'bad'" in msg


def test_default_options_are_valid_on_the_demo(demo_city):
    for o in DEFAULT_OPTIONS.values():
        cfg = option_config(demo_city.config, o)
        for key, value in o.overrides.items():
            section, name = key.split(".")
            assert getattr(getattr(cfg, section), name) == value


def _toml_with(lines: dict[str, list[str]]) -> str:
    text = (DEMO_DIR / "city.toml").read_text()
    for section, extra in lines.items():
        assert f"[{section}]\n" in text
        text = text.replace(f"[{section}]\n", f"[{section}]\n" + "\n".join(extra) + "\n", 1)
    return text


def test_compare_options_rows_equal_separate_plans_with_the_same_settings(demo_city, tmp_path):
    options = [
        Option("offpeak_no_pv", {"demand.charging_strategy": "managed_offpeak", "grid.pv_kwp_per_site": 0.0,
                                 "grid.hosting_capacity": False}),
        Option("capped_battery", {"demand.charging_strategy": "capped", "grid.battery_kwh_per_site": 40.0,
                                  "grid.battery_kw_per_site": 20.0, "grid.hosting_capacity": False}),
    ]
    table = compare_options(demo_city, options)
    assert list(table["option"]) == ["offpeak_no_pv", "capped_battery"]
    # the same settings written into city.toml files, loaded and planned separately
    bundles = {
        "offpeak_no_pv": {"demand": ['charging_strategy = "managed_offpeak"'],
                          "grid": ["pv_kwp_per_site = 0", "hosting_capacity = false"]},
        "capped_battery": {"demand": ['charging_strategy = "capped"'],
                           "grid": ["battery_kwh_per_site = 40", "battery_kw_per_site = 20", "hosting_capacity = false"]},
    }
    for name, lines in bundles.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "city.toml").write_text(_toml_with(lines))
        p = plan(folder, progress=False)
        k, g = p.summary["kpis"], p.summary["grid"]
        row = table.loc[name]
        assert row["served_share"] == k["served_share"]
        assert row["capex_usd"] == k.get("capex_with_grid_usd", k["capex_usd"] + float(k.get("reinforcement_usd") or 0))
        assert row["capex_usd"] == pytest.approx(k["capex_usd"] + float(k.get("reinforcement_usd") or 0.0), abs=1.0)
        assert row["peak_ev_kw"] == pytest.approx(g["ev_load_mw"] * 1000.0, abs=0.051)
        assert row["violations"] == g["violations"]
        assert row["renewable_share"] == k["charging_renewable_share"]
        assert row["co2_t_year"] == k["co2_t_year"]
        if name == "capped_battery":
            # the capped sites' charging never exceeds the cap (before the battery); the battery closes each day
            r = p.grid_results
            pub = r.ev_rows["kind"].eq("public").to_numpy()
            kw = r.ev_profiles[pub] * r.ev_rows["served_kwh_day"].to_numpy()[pub][:, None]
            assert (kw <= 0.6 * r.ev_rows["power_kw"].to_numpy()[pub][:, None] + 1e-6).all()
            b = r.assessment.batteries
            assert b is not None and b.discharge_kw.sum() > 0
            assert b.discharge_kw.sum() == pytest.approx(0.9 * (b.charge_pv_kw + b.charge_grid_kw).sum())
    # the two options differ where they should
    a, b = table.loc["offpeak_no_pv"], table.loc["capped_battery"]
    assert a["strategy"] == "managed_offpeak" and b["strategy"] == "capped"
    assert not math.isclose(a["renewable_share"], b["renewable_share"])


# ---------------------------------------------------------------------------------------- CLI


def test_cli_options_writes_the_table(tmp_path):
    city = tmp_path / "city"
    shutil.copytree(DEMO_DIR, city)
    out = tmp_path / "opts"
    res = CliRunner().invoke(app, ["options", str(city), "--out", str(out), "--option", "unmanaged",
                                   "--option", "capped", "-q"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "options.csv")
    assert list(table["option"]) == ["unmanaged", "capped"]
    assert {"served_share", "capex_usd", "peak_ev_kw", "violations", "renewable_share", "co2_t_year"} <= set(table)
    page = (out / "options.html").read_text()
    assert "<table>" in page and "capped" in page
    assert (out / "manifest.json").is_file()
    # the capped row's sites draw less at their peak than unmanaged ones
    assert table.loc[1, "peak_site_kw"] < table.loc[0, "peak_site_kw"]


def test_cli_options_refuses_an_unknown_option_in_one_line(tmp_path):
    out = tmp_path / "opts"
    res = CliRunner().invoke(app, ["options", str(DEMO_DIR), "--out", str(out), "--option", "sometimes"])
    assert res.exit_code == 2
    assert "unknown option" in res.output and "sometimes" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def _table(name: str = "a") -> pd.DataFrame:
    row = {c: 1.0 for c in OPTION_COLUMNS}
    row.update(option=name, overrides="grid.pv_kwp_per_site=0", strategy="unmanaged", violations=0)
    return pd.DataFrame([row]).set_index("option", drop=False)


def test_options_html_escapes_option_names_and_settings():
    page = options_html(_table("<script>x</script>"), city="A & B", descriptions={"<script>x</script>": "<b>"})
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "A &amp; B" in page and "<b></li>" not in page


def test_save_options_refuses_a_folder_of_other_files_and_writes_nothing(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not an earlier plan output"):
        save_options(_table(), out, city="x")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    # a new folder gets the files and a manifest; a second run replaces them only with overwrite
    new = tmp_path / "new"
    save_options(_table(), new, city="x")
    assert sorted(p.name for p in new.iterdir()) == ["manifest.json", "options.csv", "options.html"]
    with pytest.raises(OutputError, match="overwrite"):
        save_options(_table("b"), new, city="x")
    save_options(_table("b"), new, city="x", overwrite=True)
    assert pd.read_csv(new / "options.csv")["option"].tolist() == ["b"]


def test_grid_aware_is_set_for_every_option_that_does_not_set_it(demo_city, monkeypatch):
    import charge_planner.pipeline.options as options_module

    seen = []

    class Stop(Exception):
        pass

    def record(city, **kwargs):
        seen.append((city.config.grid.aware, city.config.grid.reinforcement))
        if len(seen) == 2:
            raise Stop
        return None

    monkeypatch.setattr(options_module, "plan", record)
    monkeypatch.setattr(options_module, "option_row", lambda option, result: {"option": option.name})
    with pytest.raises(Stop):
        compare_options(demo_city, [DEFAULT_OPTIONS["unmanaged"], DEFAULT_OPTIONS["no_reinforcement"]],
                        grid_aware=True)
    assert seen == [(True, True), (True, False)]


def test_assess_grid_puts_the_battery_on_its_bus_and_counts_it_by_hand():
    # site a: 20 kW from 18:00 to 22:00 (80 kWh), 5 kWp giving 10 kW from 10:00 to 14:00, battery 30 kWh /
    # 15 kW; a home load of 1 kW all day without a battery, outside the energy balance. By hand (as in the
    # one-site test above): a's bus carries +10, 10, 10, 3.33 kW at 10-13 h (PV stored) and 20 - 7.5 =
    # 12.5 kW at 18-21 h; the home bus stays at 1 kW; the balance counts site a only: 80 kWh charged,
    # 50 kWh from the grid, renewable 0.9 x 33.33 + 0.2 x 50 = 40 kWh, CO2 50 kWh x 0.5 kg.
    rng = np.random.default_rng(4)
    loads = gpd.GeoDataFrame(
        {"base_peak_kw": rng.uniform(20, 60, 80)},
        geometry=gpd.points_from_xy(rng.uniform(500_000, 500_800, 80), rng.uniform(3_000_000, 3_000_800, 80)),
        crs="EPSG:32643",
    )
    grid = synthesise_grid(grid_roads(5), loads)
    lv = grid.net.bus.index[grid.net.bus["role"] == "lv"][:2]
    sites = pd.DataFrame({"bus_id": lv, "served_kwh_day": [80.0, 24.0], "power_kw": [50.0, np.inf],
                          "pv_kwp": [5.0, 0.0], "battery_kwh": [30.0, 0.0], "battery_kw": [15.0, 0.0]})
    shares = np.zeros((2, 24))
    shares[0, 18:22] = 0.25
    shares[1] = 1 / 24
    index = time_index("day", year=2030)
    pv_shape = np.zeros(24)
    pv_shape[10:14] = 2.0
    pv = PVProfile(kw_per_kwp=pv_shape, annual_yield_kwh_per_kwp=2920.0, annual_mean_kw_per_kwp=1 / 3)
    mix = pd.DataFrame({"renewable_share": np.full(24, 0.2), "co2_g_per_kwh": np.full(24, 500.0)})
    a = assess_grid(grid, sites, index, ev_shares=shares, base_load_factor=np.full(24, 0.8), mix=mix, pv=pv,
                    hosting=False, energy_rows=np.array([True, False]))
    site = np.zeros(24)
    site[10:14] = [10.0, 10.0, 10.0, 10.0 / 3.0]
    site[18:22] = 12.5
    np.testing.assert_allclose(a.ev_kw[lv[0]].to_numpy(), site, atol=1e-9)
    np.testing.assert_allclose(a.ev_kw[lv[1]].to_numpy(), 1.0)
    e = a.energy
    assert (e.ev_kwh, e.grid_kwh, e.renewable_share, e.co2_kg) == pytest.approx((80.0, 50.0, 0.5, 25.0))
    assert a.batteries is not None and a.batteries.rows.tolist() == [0]
