"""Country presets: complete, plausible, every number sourced or flagged, usable from city.toml."""

from __future__ import annotations

import math
import re
from dataclasses import fields

import numpy as np
import pytest

from charge_planner.assumptions import charger_table, segment_table, sourced_rows
from charge_planner.config import parse_config
from charge_planner.errors import ConfigError
from charge_planner.presets import (
    CONFIDENCES,
    COUNTRY_ALIASES,
    PRESETS,
    PUBLIC_USE_CASES,
    SEGMENTS,
    SHARE_FIELDS,
    STOCK_SHARE_FIELDS,
    CountryPreset,
    SegmentPreset,
    Sourced,
    get_preset,
)
from tests.conftest import ROOT, SHARED_DATA

COUNTRIES = sorted(PRESETS)
ROW_ID = re.compile(r"\b([FUCGEBP]\d\.\d{2})\b")
# sources outside the facts table that a non-assumption value may name instead of a row id
NAMED_SOURCES = ("Census", "census", "Nepal Rastra Bank", "RBI reference rate", "UN World Population Prospects")
ISO = {
    "india": ("IN", "IND"), "nepal": ("NP", "NPL"), "bangladesh": ("BD", "BGD"), "sri_lanka": ("LK", "LKA"),
    "philippines": ("PH", "PHL"), "vietnam": ("VN", "VNM"), "indonesia": ("ID", "IDN"), "thailand": ("TH", "THA"),
}
# plausible ranges per segment field: (low, high)
RANGES = {
    "vehicles_per_1000": (0.1, 700.0),
    "sales_per_stock": (0.01, 0.3),
    "sales_growth_per_year": (-0.05, 0.15),
    "ev_sales_share_base": (0.001, 0.9),
    "ev_sales_share_target": (0.2, 0.95),
    "lifetime_years": (5.0, 25.0),
    "km_per_day": (5.0, 300.0),
    "kwh_per_km": (0.01, 2.5),
    "cutoff_min": (3.0, 60.0),
    "kwh_per_session": (0.5, 400.0),
}


def _config(country: str, **extra: object) -> object:
    return parse_config({"city": {"name": "X", "country": country}, "siting": {"budget_usd": 1e6}, **extra})


def _all_sourced(p: CountryPreset) -> dict[str, Sourced]:
    out: dict[str, Sourced] = {}
    for f in fields(CountryPreset):
        v = getattr(p, f.name)
        if isinstance(v, Sourced):
            out[f.name] = v
    for seg, sp in p.segments.items():
        for f in fields(SegmentPreset):
            if getattr(sp, f.name) is not None:
                out[f"{seg}.{f.name}"] = getattr(sp, f.name)
    for name, c in p.chargers.items():
        for attr in ("power_kw", "capex_local", "service_hours_day"):
            out[f"charger.{name}.{attr}"] = getattr(c, attr)
    for seg, s in p.combustion_g_co2_per_km.items():
        out[f"combustion.{seg}"] = s
    return out


def test_the_eight_countries_of_the_region_have_presets():
    assert set(PRESETS) == set(ISO)


@pytest.mark.parametrize("country", COUNTRIES)
def test_preset_is_complete_and_plausible(country):
    p = PRESETS[country]
    assert p.country == country
    assert set(p.segments) == set(SEGMENTS)
    assert 2020 <= p.base_year <= p.target_year == 2030
    for seg, sp in p.segments.items():
        for f in fields(SegmentPreset):
            if f.name in STOCK_SHARE_FIELDS and getattr(sp, f.name) is None:
                continue
            v = getattr(sp, f.name).value
            assert isinstance(v, float | int) and math.isfinite(v) and v >= 0, f"{country}.{seg}.{f.name} = {v!r}"
            if f.name in STOCK_SHARE_FIELDS:
                assert 0 < v < 1, f"{country}.{seg}.{f.name} = {v!r}"
        assert math.fsum(getattr(sp, f).value for f in SHARE_FIELDS) == pytest.approx(1.0, abs=1e-12)
        assert 0 < sp.public_share <= 1
        for name, (lo, hi) in RANGES.items():
            v = getattr(sp, name).value
            assert lo <= v <= hi, f"{country}.{seg}.{name} = {v} outside the plausible range [{lo}, {hi}]"
        assert sp.ev_sales_share_base.value <= sp.ev_sales_share_target.value
    assert p.segments["two_wheeler"].vehicles_per_1000.value > p.segments["bus"].vehicles_per_1000.value
    assert p.segments["bus"].share_depot.value > 0.5 and p.segments["bus"].share_home.value == 0
    assert 0 < p.grid_renewable_share.value < 1 and 0 < p.grid_co2_g_per_kwh.value < 1000
    assert 3.0 < p.pv_kwh_per_kwp_day.value < 5.5
    assert 0.2 <= p.lv_kv.value <= 0.45 and 6 <= p.mv_kv.value <= 35
    assert set(p.combustion_g_co2_per_km) == set(SEGMENTS)
    start, end = p.offpeak_hours
    assert 0 <= start < 24 and 0 <= end <= 24 and start != end % 24
    assert p.road_speeds_kph and p.road_speeds_source


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_number_is_sourced_or_flagged(country):
    for name, s in _all_sourced(PRESETS[country]).items():
        assert s.confidence in CONFIDENCES, f"{name}: confidence {s.confidence!r}"
        assert len(s.source) > 15, f"{name}: source too short: {s.source!r}"
        if s.confidence == "assumption":
            assert s.source.startswith("assumption:"), f"{name}: an assumption must say so: {s.source!r}"
            assert s.is_assumption
        else:
            assert ROW_ID.search(s.source) or any(k in s.source for k in NAMED_SOURCES), (
                f"{name}: confidence {s.confidence} but no facts-table row or named source: {s.source!r}"
            )
    assert PRESETS[country].offpeak_source


def test_cited_rows_exist_in_the_facts_table():
    facts = SHARED_DATA.parent / "FACTS.md"
    if not facts.is_file():
        pytest.skip(f"{facts} not available")
    known = set(re.findall(r"^\|\s*([FUCGEB]\d\.\d{2})\s*\|", facts.read_text(encoding="utf-8"), flags=re.M))
    assert len(known) > 60
    cited = {rid for p in PRESETS.values() for s in _all_sourced(p).values() for rid in ROW_ID.findall(s.source)}
    cited |= {rid for p in PRESETS.values() for rid in ROW_ID.findall(p.offpeak_source)}
    assert cited, "presets cite no facts-table rows"
    facts_rows = {rid for rid in cited if not rid.startswith("P")}
    assert facts_rows <= known, f"cited rows missing from the facts table: {sorted(facts_rows - known)}"


def test_cited_fleet_and_usage_rows_exist_in_the_project_sources_table():
    # the fleet (P1) and usage (P2) rows of docs/sources.md that the segment presets cite
    table = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    known = set(re.findall(r"^\|\s*(P[12]\.\d{2})\s*\|", table, flags=re.M))
    cited = {rid for p in PRESETS.values() for sp in p.segments.values() for f in fields(SegmentPreset)
             if getattr(sp, f.name) is not None for rid in ROW_ID.findall(getattr(sp, f.name).source)
             if rid[:2] in ("P1", "P2")}
    assert {"P1.01", "P1.04", "P1.05", "P1.08", "P2.01", "P2.04"} <= cited
    assert cited <= known, f"cited rows missing from docs/sources.md: {sorted(cited - known)}"


def test_hand_checked_derivations():
    # registered motorcycles / census population x 1000
    assert PRESETS["nepal"].segments["two_wheeler"].vehicles_per_1000.value == pytest.approx(
        4_744_072 / 29_164_578 * 1000, abs=0.05)
    assert PRESETS["indonesia"].segments["two_wheeler"].vehicles_per_1000.value == pytest.approx(
        137.35e6 / 270_203_917 * 1000, abs=0.05)
    assert PRESETS["india"].segments["two_wheeler"].vehicles_per_1000.value == pytest.approx(326.3 * 0.72 / 1396 * 1000,
                                                                                             abs=0.05)
    assert PRESETS["thailand"].segments["car"].sales_per_stock.value == pytest.approx(191_195 * 12 * 0.218 / 18.59e6,
                                                                                      abs=1e-4)
    assert PRESETS["nepal"].fx_local_per_usd.value == pytest.approx(1.6 * PRESETS["india"].fx_local_per_usd.value)
    assert PRESETS["vietnam"].segments["car"].ev_stock_share_target.value == 0.5  # Decision 876: 50% of the stock
    assert PRESETS["nepal"].segments["car"].ev_sales_share_target.value == 0.9  # NDC: 90% by 2030
    assert PRESETS["thailand"].offpeak_hours == (22, 9)  # MEA/PEA TOU off-peak
    assert PRESETS["india"].offpeak_hours == (9, 16)  # EV tariff solar hours


@pytest.mark.parametrize("country", COUNTRIES)
def test_names_and_iso_codes_select_the_preset(country):
    two, three = ISO[country]
    for key in (country, country.upper(), two, three, two.lower(), country.replace("_", " ")):
        assert get_preset(key) is PRESETS[country], key
    assert _config(three).city.country == three
    assert all(v in PRESETS for v in COUNTRY_ALIASES.values())


def test_unknown_country_lists_the_presets():
    with pytest.raises(KeyError, match="available: bangladesh, india, indonesia"):
        get_preset("atlantis")
    with pytest.raises(ConfigError, match="city.country: no preset for country 'atlantis'"):
        _config("atlantis")


@pytest.mark.parametrize("country", COUNTRIES)
def test_chargers_serve_every_publicly_charged_segment(country):
    p = PRESETS[country]
    swap = [c for c in p.chargers.values() if "swapping" in c.use_cases]
    assert swap and {"two_wheeler", "three_wheeler"} <= set(swap[0].segments)
    for seg, sp in p.segments.items():
        for u in PUBLIC_USE_CASES:
            if getattr(sp, f"share_{u}").value > 0:
                assert any(seg in c.segments and u in c.use_cases for c in p.chargers.values()), (
                    f"{country}: no charger type serves {seg} {u}"
                )
    table = charger_table(_config(country))
    assert {"power_kw", "capex_usd", "segments", "use_cases", "service_hours_day", "grid_level"} <= set(table.columns)
    assert (table["capex_usd"] > 0).all() and (table["power_kw"] * table["service_hours_day"] > 0).all()
    # capex in USD is about the same everywhere: costs are converted through the presets' FX rates
    india = charger_table(_config("india"))
    assert table["capex_usd"].to_numpy() == pytest.approx(india["capex_usd"].to_numpy(), rel=0.01)


def test_currencies_and_user_fx_rate():
    codes = [p.currency for p in PRESETS.values()]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"[A-Z]{3}", c) for c in codes)
    default = charger_table(_config("thailand"))
    half = charger_table(_config("thailand", siting={"budget_usd": 1e6, "fx_local_per_usd": 2 * 35.3}))
    assert half["capex_usd"].to_numpy() == pytest.approx(default["capex_usd"].to_numpy() / 2, rel=1e-3)


@pytest.mark.parametrize("country", COUNTRIES)
def test_report_rows_for_every_country(country):
    rows = sourced_rows(_config(country))
    names = {r["name"] for r in rows}
    assert {"fx_local_per_usd", "currency", "fleet.survival", "demand.offpeak_hours", "car.share_public_dc",
            "two_wheeler.public_share", "profile.home"} <= names
    for r in rows:
        assert set(r) == {"name", "value", "source", "confidence"}
        assert r["value"] not in ("", "nan") and r["source"], r


def test_user_overrides_are_marked_in_the_tables():
    cfg = _config("nepal", fleet={"sales_share_ceiling": 0.95, "overrides": {"car": {"km_per_day": 25}}})
    seg = segment_table(cfg)
    assert seg.loc["car", "km_per_day"] == 25 and seg.loc["car", "km_per_day_confidence"] == "user"
    rows = {r["name"]: r for r in sourced_rows(cfg)}
    assert rows["car.km_per_day"]["confidence"] == "user"
    assert rows["fleet.sales_share_ceiling"] == {"name": "fleet.sales_share_ceiling", "value": "0.95",
                                                 "source": "city.toml", "confidence": "user"}
    assert rows["fleet.base_year"]["value"] == "2025"


def test_fleet_presets_match_their_sourced_rows():
    """Segment values recomputed by hand from the figures of the facts table and docs/sources.md."""
    india = PRESETS["india"].segments
    # goods vehicles in service: 5.4 M medium and heavy (P1.11) and LCVs in the 48:52 split of P1.01
    assert india["truck"].vehicles_per_1000.value == pytest.approx(5.4e6 / 1396e6 * 1000, abs=0.05)
    assert india["lcv"].vehicles_per_1000.value == pytest.approx(5.4e6 * 48 / 52 / 1396e6 * 1000, abs=0.05)
    # together fewer than the registered goods vehicles (5.5% of 326.3 M, F1.01 x F1.02): registered exceeds in use
    registered = 326.3e6 * 0.055 / 1396e6 * 1000
    assert 0.5 * registered < india["lcv"].vehicles_per_1000.value + india["truck"].vehicles_per_1000.value < registered
    assert india["lcv"].sales_per_stock.value == pytest.approx(0.95e6 * 0.64 / (5.4e6 * 48 / 52), abs=1e-4)
    assert india["truck"].sales_per_stock.value == pytest.approx(0.95e6 * 0.36 / 5.4e6, abs=1e-4)
    assert india["lcv"].ev_sales_share_base.value == pytest.approx(6220 * 0.95 / (834_578 * 0.64), abs=5e-4)  # P1.03
    # daily energy per vehicle [kWh/day] = km/day x kWh/km
    lcv_day = india["lcv"].km_per_day.value * india["lcv"].kwh_per_km.value
    assert lcv_day == pytest.approx(100 * 21.3 / 154, abs=0.1)  # P2.02 x P2.01: about 13.8 kWh, 65% of the battery
    assert india["truck"].kwh_per_km.value == pytest.approx((62.5 / 100 + 265 / 200) / 2, abs=0.01)  # P2.06, P2.04
    truck_day = india["truck"].km_per_day.value * india["truck"].kwh_per_km.value
    assert 62.5 < truck_day < 265  # more than a 7-8 t e-truck's battery, less than a 60 t e-tractor's
    assert india["lcv"].kwh_per_session.value < 21.3 < india["truck"].kwh_per_session.value <= 265
    # heavy trucks charge mostly at their base (P2.05); LCVs at home, base and public DC
    assert india["truck"].share_depot.value >= 0.8 and india["lcv"].share_public_ac.value == 0
    # city buses in service (P1.05), not every registered bus (1.3% of 326.3 M, F1.02: 3.0 per 1,000)
    assert india["bus"].vehicles_per_1000.value == 0.5 < 326.3e6 * 0.013 / 1396e6 * 1000
    assert PRESETS["vietnam"].segments["bus"].vehicles_per_1000.value == pytest.approx(2300 / 8_993_082 * 1000,
                                                                                       abs=1e-3)  # P1.07
    assert PRESETS["indonesia"].segments["bus"].vehicles_per_1000.value == pytest.approx(5000 / 10_562_088 * 1000,
                                                                                         abs=1e-3)  # P1.09
    # India's 2030 ambition by segment (P1.04)
    assert {s: india[s].ev_sales_share_target.value for s in ("two_wheeler", "three_wheeler", "car", "bus")} == {
        "two_wheeler": 0.8, "three_wheeler": 0.8, "car": 0.3, "bus": 0.4}
    # stock targets: Indonesia's on-road goals (F1.28 / F1.25, P1.10), Vietnam's Decision 876 for urban vehicles
    # (F1.24; buses by their sales target, intercity trucks left out), Bangladesh's fleet-wide guideline (F1.16)
    # on the private segments that make up most of the fleet
    indonesia = PRESETS["indonesia"].segments
    assert indonesia["car"].ev_stock_share_target.value == pytest.approx(2.0 / 20.12, abs=1e-4)
    assert indonesia["two_wheeler"].ev_stock_share_target.value == pytest.approx(13.0 / 137.35, abs=1e-4)
    vietnam, bangladesh = PRESETS["vietnam"].segments, PRESETS["bangladesh"].segments
    assert {s for s in SEGMENTS if vietnam[s].ev_stock_share_target is not None} == set(SEGMENTS) - {"bus", "truck"}
    assert {s for s in SEGMENTS if bangladesh[s].ev_stock_share_target is not None} == {"two_wheeler", "car"}
    assert bangladesh["two_wheeler"].ev_stock_share_target.value == bangladesh["car"].ev_stock_share_target.value == 0.3
    # Nepal: EV cars, jeeps and vans on the road in mid-2025 / registered cars (P1.08, F1.12)
    assert PRESETS["nepal"].segments["car"].ev_stock_share_base.value == pytest.approx(
        (4_502 + 3_050 + 11_701 + 13_492) / 366_723, abs=1e-4)
    # stock shares are never transferred from India to another country
    assert all(sp.ev_stock_share_base is None for c, p in PRESETS.items() for s, sp in p.segments.items()
               if (c, s) != ("nepal", "car"))


def test_user_sales_target_replaces_the_presets_stock_target():
    seg = segment_table(_config("vietnam", fleet={"overrides": {"car": {"ev_sales_share_target": 0.6}}}))
    assert np.isnan(seg.loc["car", "ev_stock_share_target"]) and seg.loc["car", "ev_sales_share_target"] == 0.6
    assert seg.loc["two_wheeler", "ev_stock_share_target"] == 0.5
    seg = segment_table(_config("india", fleet={"overrides": {"car": {"ev_stock_share_target": 0.2,
                                                                     "ev_stock_share_base": 0.01}}}))
    assert seg.loc["car", "ev_stock_share_target_confidence"] == "user"
    assert seg.loc["car", "ev_stock_share_base"] == 0.01 and np.isnan(seg.loc["bus", "ev_stock_share_base"])
    rows = {r["name"] for r in sourced_rows(_config("india"))}
    assert "car.ev_stock_share_target" not in rows and "lcv.km_per_day" in rows
