"""Tests of the grid reinforcement unit costs (charge_planner.presets.grid_costs)."""

from __future__ import annotations

import pytest

from charge_planner.grid.model import STANDARD_DT_RATINGS_KVA
from charge_planner.presets import (
    INR_PER_USD,
    get_preset,
    grid_reinforcement_costs,
    grid_reinforcement_costs_usd,
)


def test_every_standard_rating_and_line_kind_has_a_cost_that_grows_with_rating() -> None:
    india = grid_reinforcement_costs(get_preset("india"))
    dt = [india[f"dt_{r:g}kva"].value for r in STANDARD_DT_RATINGS_KVA]
    assert all(a < b for a, b in zip(dt, dt[1:], strict=False))
    for key in ("mv_overhead_per_km", "mv_cable_per_km", "lv_overhead_per_km", "lv_ab_cable_per_km"):
        assert india[key].value > 0
    assert india["mv_cable_per_km"].value > india["mv_overhead_per_km"].value  # a city trench costs more
    # replacing a DT costs less than a new station of the same rating
    assert all(india[f"dt_upgrade_{r:g}kva"].value < india[f"dt_{r:g}kva"].value for r in STANDARD_DT_RATINGS_KVA)
    # no number without its reason: every figure names its row (P8.10, the substation unit P8.11) and the
    # index that brings it to 2024 INR (P8.12); the ones with no published figure found would be flagged
    # assumptions: every item has one now
    assert all("P8.10" in s.source or "P8.11" in s.source for s in india.values())
    assert all("P8.12" in s.source and "escalated to 2024 INR" in s.source for s in india.values())
    # the 20 MVA substation unit alone has no published figure: a flagged assumption
    assert {k for k, s in india.items() if s.confidence == "assumption"} == {"substation_unit_20mva"}


# India's WPI (all commodities, 2011-12 = 100), read off the sources by hand: the 2024 months Jan-Dec
# 151.2 151.2 151.4 152.9 153.3 154.0 155.2 154.5 154.7 156.1 156.0 155.4 (sum 1,845.9, mean 153.825);
# fiscal 2015-16 (RBI Handbook 2018, Table 165) sums to 1,316.6 (mean 109.7167); April 2014 - March 2021
# (Tables 165 and 160) sums to 9,780.6 over 84 months (mean 116.4357); December 2015: 109.4.
WPI_2024 = 1845.9 / 12
WPI_FY2015_16 = 1316.6 / 12
WPI_2014_21 = 9780.6 / 84


def test_the_wpi_escalation_factors_are_the_index_ratios_read_by_hand() -> None:
    from charge_planner.presets.grid_costs import PRICE_YEAR, WPI_MONTHLY, wpi_escalation

    assert PRICE_YEAR == 2024
    assert len([m for m in WPI_MONTHLY if "2014-04" <= m <= "2021-03"]) == 84
    assert wpi_escalation("2015-04", "2016-03") == pytest.approx(WPI_2024 / WPI_FY2015_16, rel=1e-9)
    assert wpi_escalation("2014-04", "2021-03") == pytest.approx(WPI_2024 / WPI_2014_21, rel=1e-9)
    assert wpi_escalation("2015-12") == pytest.approx(WPI_2024 / 109.4, rel=1e-9)
    assert wpi_escalation("2024-01", "2024-12") == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no WPI month"):
        wpi_escalation("2010-01")


def test_11kv_city_cable_is_the_hyderabad_spend_per_km() -> None:
    # The Hans India / The New Indian Express, 6 Sep 2021 (TSSPDCL, Hyderabad): "Since 2014, 11 kV UG
    # cables were upgraded for 281 km at a cost of Rs 66 crore" -> 66 x 10^7 INR / 281 km, by hand
    # 2,348,754 INR/km of 2014-21, x 153.825 / 116.4357 = 3,102,960 INR/km of 2024, kept to 1,000 INR.
    cable = grid_reinforcement_costs(get_preset("india"))["mv_cable_per_km"]
    assert cable.value == 3_103_000.0
    assert cable.confidence == "L" and not cable.source.startswith("assumption")
    assert "281 km" in cable.source and "Rs 66 crore" in cable.source and "Hyderabad" in cable.source
    assert "x 1.321" in cable.source and "P8.12" in cable.source
    assert grid_reinforcement_costs_usd(get_preset("india"))["mv_cable_per_km"] == pytest.approx(3_103_000 / 83.7, abs=1)


def test_overhead_lines_are_the_jind_estimate_per_km() -> None:
    # UHBVN cost abstract for Jind district (DDUGJY): "11 KV HT Line (5.8 Kms.) with ACSR Conductor 100mm2
    # ... 5.8 Kms. 3003270.32" -> by hand 517,805 INR/km; "LT Line (0.6 Kms.) with AB cable (3CX95+70 mm2)
    # ... 0.6 Kms 231703.29" -> 386,172 INR/km; both of about 2015-16, x 153.825 / 109.7167 = 1.40202:
    # 725,974 and 541,421 INR/km of 2024, kept to the nearest 1,000 INR.
    india = grid_reinforcement_costs(get_preset("india"))
    assert india["mv_overhead_per_km"].value == 726_000.0
    assert india["lv_ab_cable_per_km"].value == 541_000.0
    for key in ("mv_overhead_per_km", "lv_ab_cable_per_km"):
        assert india[key].confidence == "M" and "Jind" in india[key].source and "x 1.402" in india[key].source
    # the bare LT line has no figure of its own: the AB-cable line bounds it from above (low confidence)
    bare = india["lv_overhead_per_km"]
    assert bare.value == 541_000.0 and bare.confidence == "L" and "upper bound" in bare.source
    assert grid_reinforcement_costs_usd(get_preset("india"))["lv_ab_cable_per_km"] == pytest.approx(541_000 / 83.7, abs=1)


def test_other_countries_get_indias_costs_converted_and_flagged() -> None:
    india = grid_reinforcement_costs(get_preset("india"))
    nepal_preset = get_preset("nepal")
    nepal = grid_reinforcement_costs(nepal_preset)
    fx = nepal_preset.fx_local_per_usd.value
    for key, s in nepal.items():
        assert s.value == pytest.approx(india[key].value / INR_PER_USD * fx, rel=0.01)
        assert s.confidence == "assumption" and "converted to NPR" in s.source
    usd = grid_reinforcement_costs_usd(get_preset("india"))
    assert usd["dt_250kva"] == pytest.approx(india["dt_250kva"].value / INR_PER_USD, abs=1.0)


def test_a_20_mva_unit_is_the_10_mva_unit_scaled_by_the_dt_curve_and_flagged() -> None:
    # by hand: the 10 MVA unit 2.245 crore x 153.825 / 109.4 (WPI, Dec 2015 -> 2024) = 31,566,327 INR; the DT
    # curve's exponent through 1.30 lakh (Oct 2022, x 153.825 / 152.5) and 4 lakh (Jun 2023, x 153.825 / 148.9)
    # over 100 -> 500 kVA; the 20 MVA unit = the 10 MVA one x 2^exponent, kept to 1,000 INR
    import math

    unit10 = 22_450_000 * WPI_2024 / 109.4
    b = math.log((400_000 * WPI_2024 / 148.9) / (130_000 * WPI_2024 / 152.5)) / math.log(5.0)
    c = grid_reinforcement_costs(get_preset("india"))
    assert c["substation_unit_10mva"].value == round(unit10, -3)
    assert c["substation_unit_20mva"].value == round(unit10 * 2.0**b, -3)
    assert 0.70 < b < 0.72 and c["substation_unit_20mva"].confidence == "assumption"
    assert c["substation_unit_20mva"].source.startswith("assumption") and "no published figure" in c[
        "substation_unit_20mva"].source
