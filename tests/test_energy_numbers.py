"""Energy and emission numbers against their sources: one grid series per run, well-to-wheel
combustion baselines, the CEA combined margin, grid frequency and the base load per country.

Expected values are written from the region's facts table (rows E5.xx, B6.xx, G4.xx) and the
project's own table docs/sources.md (rows P4.xx, P5.xx, P6.xx); nothing here parses them.
"""

from __future__ import annotations

import math

import pytest

from charge_planner.config import parse_config
from charge_planner.errors import ConfigError
from charge_planner.grid import synthesise_grid
from charge_planner.grid.energy import (
    base_load_growth,
    combustion_g_per_km,
    grid_emissions,
    grid_mix,
    pv_profile,
)
from charge_planner.grid.timeseries import time_index
from charge_planner.presets import PRESETS, SEGMENTS
from tests.test_grid import grid_roads, random_loads

# (Electricity Maps 2024 intensity [g/kWh], its renewable share, Ember intensity, Ember renewable share)
SERIES = {
    "india": (614.0, 0.22, 709.0, 0.198),  # E5.01; P5.01 (Ember 2024: 19.8 %)
    "nepal": (112.0, 0.89, 23.0, 1.0),  # E5.02 (Ember 2022); P5.02 (Ember 2022: 100 %)
    "bangladesh": (618.0, 0.04, 695.0, 0.019),  # E5.03; P5.03 (1.9 %)
    "sri_lanka": (405.0, 0.49, 510.0, 0.503),  # E5.04 (Ember 2022); P5.04 (2022: 50.3 %)
    "philippines": (623.0, 0.18, 613.0, 0.205),  # E5.05; P5.05 (20.5 %)
    "vietnam": (442.0, 0.44, 486.0, 0.423),  # E5.06; P5.06 (42.3 %)
    "indonesia": (663.0, 0.16, 682.0, 0.186),  # E5.07 (Ember 2023); P5.07 (2023: 18.6 %)
    "thailand": (490.0, 0.15, 555.0, 0.148),  # E5.08; P5.08 (14.8 %)
}
# electricity demand per capita 2024 [kWh] and 2014-2024 demand growth [1/yr], P4.01-P4.08
DEMAND = {
    "india": (1402.0, 0.0491), "nepal": (372.0, 0.0787), "bangladesh": (644.0, 0.0672),
    "sri_lanka": (739.0, 0.0321), "philippines": (1072.0, 0.0486), "vietnam": (3042.0, 0.0797),
    "indonesia": (1314.0, 0.046), "thailand": (3236.0, 0.0234),
}


@pytest.mark.parametrize("country", sorted(SERIES))
def test_default_series_pairs_electricity_maps_intensity_with_its_own_renewable_share(country):
    em_co2, em_re, _, _ = SERIES[country]
    ge = grid_emissions(PRESETS[country])
    assert ge.series == "electricity_maps" and "consumption-based" in ge.basis
    assert ge.co2_g_per_kwh.value == em_co2 and ge.renewable_share.value == em_re
    assert "Electricity Maps 2024" in ge.co2_g_per_kwh.source and "Electricity Maps 2024" in ge.renewable_share.source
    assert ge.avoided_co2_g_per_kwh.value == em_co2


@pytest.mark.parametrize("country", sorted(SERIES))
def test_ember_series_pairs_ember_intensity_with_embers_renewable_share(country):
    _, _, ember_co2, ember_re = SERIES[country]
    ge = grid_emissions(PRESETS[country], series="ember")
    assert ge.co2_g_per_kwh.value == ember_co2 and ge.renewable_share.value == ember_re
    assert ge.co2_g_per_kwh.source.startswith("Ember") and ge.renewable_share.source.startswith("Ember")


def test_nepal_charging_co2_per_kwh_is_the_consumption_based_112_g():
    # E5.02: Nepal imports from India; Ember's generation-based 23 g is about 5x too low for charging
    ge = grid_emissions(PRESETS["nepal"])
    assert ge.co2_g_per_kwh.value == 112.0
    assert grid_emissions(PRESETS["nepal"], series="ember").co2_g_per_kwh.value == 23.0


def test_an_all_renewable_series_keeps_its_lifecycle_intensity_every_hour():
    # Ember's Nepal: 100 % renewable (P5.02), 23 gCO2e/kWh lifecycle (E5.02)
    idx = time_index("day", year=2030, resolution_min=60, day="05-15")
    pv = pv_profile(idx, latitude=27.7, longitude=85.3, country="nepal")
    mix = grid_mix(pv, annual_renewable_share=1.0, annual_co2_g_per_kwh=23.0)
    assert (mix["renewable_share"] == 1.0).all() and (mix["co2_g_per_kwh"] == 23.0).all()


def test_the_users_renewable_share_replaces_the_series_share_only():
    ge = grid_emissions(PRESETS["india"], series="ember", renewable_share=0.25)
    assert ge.co2_g_per_kwh.value == 709.0 and ge.renewable_share.value == 0.25
    assert ge.renewable_share.confidence == "user"


def test_cea_combined_margin_for_avoided_emissions_in_india_only():
    ge = grid_emissions(PRESETS["india"], avoided_factor="cea_combined_margin")
    assert ge.avoided_co2_g_per_kwh.value == 738.3  # E5.11: 0.7383 tCO2/MWh, FY2024-25
    assert ge.co2_g_per_kwh.value == 614.0  # charging emissions keep the series' intensity (E5.01)
    with pytest.raises(ConfigError, match="India's CEA combined margin"):
        grid_emissions(PRESETS["nepal"], avoided_factor="cea_combined_margin")
    base = {"city": {"name": "X", "country": "nepal"}, "siting": {"budget_usd": 1e6}}
    with pytest.raises(ConfigError, match="energy.avoided_emissions_factor.*use 'grid_average'"):
        parse_config({**base, "energy": {"avoided_emissions_factor": "cea_combined_margin"}})
    india = parse_config({**base, "city": {"name": "X", "country": "india"},
                          "energy": {"avoided_emissions_factor": "cea_combined_margin"}})
    assert india.energy.avoided_emissions_factor == "cea_combined_margin"


def test_a_series_without_a_renewable_share_is_refused_not_mixed():
    from dataclasses import replace

    no_share = replace(PRESETS["thailand"], ember_renewable_share=None)
    with pytest.raises(ConfigError, match="grid_renewable_share"):
        grid_emissions(no_share, series="ember")
    assert grid_emissions(no_share, series="ember", renewable_share=0.148).co2_g_per_kwh.value == 555.0


def test_the_reports_assumption_rows_show_the_one_series_of_the_run():
    from charge_planner.assumptions import sourced_rows

    base = {"city": {"name": "X", "country": "nepal"}, "siting": {"budget_usd": 1e6}}
    rows = {r["name"]: r for r in sourced_rows(parse_config(base))}
    assert rows["grid_co2_g_per_kwh (electricity_maps)"]["value"] == "112"  # E5.02
    assert rows["grid_renewable_share (electricity_maps)"]["value"] == "0.89"
    assert not any("(ember)" in name for name in rows) and not any("combined margin" in name for name in rows)
    assert rows["well_to_tank_kg_per_unit (diesel)"]["value"] == "0.62409"  # P6.02
    assert rows["electricity_kwh_per_capita"]["value"] == "372" and rows["frequency_hz"]["value"] == "50"
    ember = {r["name"]: r for r in sourced_rows(parse_config({**base, "energy": {"grid_series": "ember"}}))}
    assert ember["grid_co2_g_per_kwh (ember)"]["value"] == "23" and ember["grid_renewable_share (ember)"]["value"] == "1"
    assert not any("(electricity_maps)" in name for name in ember)
    india = {r["name"]: r for r in sourced_rows(parse_config(
        {**base, "city": {"name": "X", "country": "india"}, "energy": {"avoided_emissions_factor": "cea_combined_margin",
                                                                       "combustion_basis": "tank_to_wheel"}}))}
    assert india["avoided_emissions_g_per_kwh (CEA combined margin)"]["value"] == "738.3"  # E5.11
    assert not any(name.startswith("well_to_tank") for name in india)


def test_well_to_wheel_combustion_baselines_by_hand():
    p = PRESETS["india"]
    wtw = combustion_g_per_km(p, ["two_wheeler", "three_wheeler", "car", "bus", "truck"])
    # petrol: B6.03 38.2 g/km x (2.31 + 0.60664) / 2.31 (B6.01, P6.01)
    assert wtw["two_wheeler"].value == pytest.approx(38.2 * 2.91664 / 2.31, abs=0.05)
    assert wtw["car"].value == pytest.approx(122.4 * 2.91664 / 2.31, abs=0.05)  # B6.04
    # CNG: 61 g/km (B6.05) x (2.74 + 0.53078) / 2.74 (B6.02, P6.03)
    assert wtw["three_wheeler"].value == pytest.approx(61.0 * 3.27078 / 2.74, abs=0.05)
    # AC diesel bus, the pair of the air-conditioned Delhi e-bus (U2.09, P6.04): 42.7 L/100 km AC on (B6.07)
    assert p.combustion_g_co2_per_km["bus"].value == pytest.approx(0.427 * 2.68 * 1000, abs=0.5)
    assert wtw["bus"].value == pytest.approx(42.7 * (2.68 + 0.62409) * 10, abs=0.5)  # 1,410 g/km (P6.02)
    ttw = combustion_g_per_km(p, ["bus"], basis="tank_to_wheel")
    assert ttw["bus"].value == p.combustion_g_co2_per_km["bus"].value
    assert "well to wheel" in wtw["bus"].source and "P6.02" in wtw["bus"].source


def test_every_segment_has_a_combustion_baseline_with_its_fuel():
    p = PRESETS["india"]
    wtw = combustion_g_per_km(p, list(SEGMENTS))
    assert set(wtw) == set(SEGMENTS)
    if "lcv" in SEGMENTS:  # light commercial vehicles: fleet average 147.5 gCO2/km (P2.03), diesel upstream
        assert wtw["lcv"].value == pytest.approx(147.5 * 3.30409 / 2.68, abs=0.05)


def test_a_segment_without_a_baseline_is_left_out_not_invented(caplog):
    out = combustion_g_per_km(PRESETS["india"], ["two_wheeler", "hovercraft"])
    assert set(out) == {"two_wheeler"}
    assert "hovercraft" in caplog.text


@pytest.mark.parametrize("country", sorted(DEMAND))
def test_base_peak_per_person_comes_from_the_countrys_demand_per_capita(country):
    kwh, growth = DEMAND[country]
    p = PRESETS[country]
    assert p.electricity_kwh_per_capita.value == kwh
    assert p.electricity_demand_growth_per_year.value == growth
    assert p.base_load_data_year == 2024
    # by hand: kWh per person and year / 8,760 h / load factor 0.6 (P4.09)
    assert p.base_peak_kw_per_person.value == pytest.approx(kwh / 8760.0 / 0.6, abs=5e-5)
    assert p.base_peak_kw_per_person.is_assumption  # the load factor is an assumption: flagged


def test_growth_rates_are_the_ten_year_compound_averages_of_the_sources():
    # P4.01: India 1,259.25 TWh (2014) -> 2,034.22 TWh (2024); P4.02: Nepal 5.17 -> 11.03 TWh
    assert PRESETS["india"].electricity_demand_growth_per_year.value == pytest.approx(
        (2034.22 / 1259.25) ** 0.1 - 1, abs=5e-5)
    assert PRESETS["nepal"].electricity_demand_growth_per_year.value == pytest.approx((11.03 / 5.17) ** 0.1 - 1, abs=5e-5)


def test_base_load_grows_compound_to_the_plan_year():
    assert base_load_growth(2024, 2030, 0.0491) == pytest.approx(1.0491**6)
    assert base_load_growth(2024, 2024, 0.08) == 1.0
    assert base_load_growth(2024, 2022, 0.05) == pytest.approx(1 / 1.05**2)


def test_frequency_per_country():
    assert PRESETS["philippines"].frequency_hz.value == 60.0  # G4.06
    assert PRESETS["indonesia"].frequency_hz.value == 50.0  # G4.07
    for c in ("india", "nepal", "bangladesh", "sri_lanka", "vietnam", "thailand"):
        assert PRESETS[c].frequency_hz.value == 50.0 and PRESETS[c].frequency_hz.is_assumption


def test_a_philippine_synthesised_grid_runs_at_60_hz():
    roads = grid_roads()
    hz = PRESETS["philippines"].frequency_hz.value
    model = synthesise_grid(roads, random_loads(roads), frequency_hz=hz)
    assert model.net.f_hz == 60.0
    assert any("frequency 60 Hz" in a for a in model.assumptions)
    with pytest.raises(Exception, match="neither 50 nor 60 Hz"):
        synthesise_grid(roads, random_loads(roads), frequency_hz=55.0)


# --- the whole plan: Kathmandu, one grid series, by hand ---------------------------------------


@pytest.fixture(scope="module")
def ktm_peak(tmp_path_factory):
    """Kathmandu's bundle with the evening-peak load flow: annual averages, no hourly shaping."""
    from charge_planner import load_city, plan
    from tests.conftest import BENGALURU_DIR, shared

    src = BENGALURU_DIR.parent / "kathmandu_thapathali" / "city.toml"
    text = src.read_text().replace('[grid]\nsource = "synthesise"', '[grid]\nsource = "synthesise"\ntime_series = "peak"')
    assert 'time_series = "peak"' in text
    d = tmp_path_factory.mktemp("ktm") / "ktm"
    d.mkdir()
    (d / "city.toml").write_text(text)
    city = load_city(d, data_dir=shared("kathmandu").parent)
    return plan(city, progress=False)


def test_kathmandu_summary_states_one_series_and_its_numbers(ktm_peak):
    k = ktm_peak.summary["kpis"]
    served = k["served_kwh_day"]
    assert k["grid_series"] == "electricity_maps" and "consumption-based" in k["grid_series_basis"]
    assert k["grid_co2_g_per_kwh"] == 112.0 and k["charging_co2_g_per_kwh"] == 112.0  # E5.02
    assert k["grid_renewable_share"] == 0.89  # E5.02, the same series
    assert k["co2_t_year"] == pytest.approx(served * 112.0 * 365 / 1e6, abs=0.06)
    assert k["renewable_kwh_day"] == pytest.approx(served * 0.89, abs=0.01)


def test_kathmandu_combustion_and_avoided_co2_by_hand(ktm_peak):
    k = ktm_peak.summary["kpis"]
    served = ktm_peak.siting.served_by_segment["served_kwh_day"]
    kwh_per_km = ktm_peak.segments["kwh_per_km"]
    # well to wheel, Nepal transfers India's tank-to-wheel figures (B6.03-B6.07, P2.03) x P6.01-P6.03 uplifts
    wtw = {"two_wheeler": 38.2 * 2.91664 / 2.31, "car": 122.4 * 2.91664 / 2.31, "three_wheeler": 61.0 * 3.27078 / 2.74,
           "bus": 1144.0 * 3.30409 / 2.68, "truck": 670.0 * 3.30409 / 2.68, "lcv": 147.5 * 3.30409 / 2.68}
    ice_t = sum(float(served[s]) / float(kwh_per_km[s]) * round(wtw[s], 1) for s in served.index) * 365 / 1e6
    assert k["co2_combustion_basis"] == "well_to_wheel"
    assert k["co2_combustion_t_year"] == pytest.approx(ice_t, abs=0.06)
    assert k["co2_avoided_t_year"] == pytest.approx(ice_t - float(served.sum()) * 112.0 * 365 / 1e6, abs=0.11)
    bus = k["co2_g_per_km_by_segment"].get("bus")
    if bus is not None:  # e-bus 1.62 kWh/km (U2.09) x 112 g against the AC diesel bus's 1,410 g/km
        assert bus["charging_g_per_km"] == pytest.approx(float(kwh_per_km["bus"]) * 112.0, abs=0.05)
        assert bus["combustion_g_per_km"] == pytest.approx(1410.4, abs=0.05)


def test_kathmandu_base_load_is_nepals_grown_to_the_plan_year(ktm_peak):
    g = ktm_peak.summary["grid"]
    year = ktm_peak.city.config.fleet.year
    kw_person = round(372.0 / 8760.0 / 0.6, 4) * 1.0787 ** (year - 2024)  # P4.02, P4.09
    assert g["base_load"]["kw_per_person_plan_year"] == pytest.approx(kw_person, abs=1e-4)
    cells = ktm_peak.demand_result.cells
    population = float(cells.loc[cells["population"] > 0, "population"].sum())
    assert float(ktm_peak.grid.net.load["p_mw"].sum()) == pytest.approx(population * kw_person / 1000.0, rel=1e-3)
    assert g["frequency_hz"] == 50.0
    assert math.isclose(ktm_peak.grid.net.f_hz, 50.0)
