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
    # no number without its reason: every figure names its row (P8.10, the substation unit P8.11); the
    # ones with no published figure found would be flagged assumptions: every item has one now
    assert all("P8.10" in s.source or "P8.11" in s.source for s in india.values())
    assert not {k for k, s in india.items() if s.confidence == "assumption"}


def test_11kv_city_cable_is_the_hyderabad_spend_per_km() -> None:
    # The Hans India / The New Indian Express, 6 Sep 2021 (TSSPDCL, Hyderabad): "Since 2014, 11 kV UG
    # cables were upgraded for 281 km at a cost of Rs 66 crore" -> 66 x 10^7 INR / 281 km, by hand
    # 2,348,754 INR/km, kept to the nearest 1,000 INR.
    cable = grid_reinforcement_costs(get_preset("india"))["mv_cable_per_km"]
    assert cable.value == 2_349_000.0
    assert cable.confidence == "L" and not cable.source.startswith("assumption")
    assert "281 km" in cable.source and "Rs 66 crore" in cable.source and "Hyderabad" in cable.source
    assert grid_reinforcement_costs_usd(get_preset("india"))["mv_cable_per_km"] == pytest.approx(2_349_000 / 83.7, abs=1)


def test_overhead_lines_are_the_jind_estimate_per_km() -> None:
    # UHBVN cost abstract for Jind district (DDUGJY): "11 KV HT Line (5.8 Kms.) with ACSR Conductor 100mm2
    # ... 5.8 Kms. 3003270.32" -> by hand 517,805 INR/km; "LT Line (0.6 Kms.) with AB cable (3CX95+70 mm2)
    # ... 0.6 Kms 231703.29" -> 386,172 INR/km; both kept to the nearest 1,000 INR.
    india = grid_reinforcement_costs(get_preset("india"))
    assert india["mv_overhead_per_km"].value == 518_000.0
    assert india["lv_ab_cable_per_km"].value == 386_000.0
    for key in ("mv_overhead_per_km", "lv_ab_cable_per_km"):
        assert india[key].confidence == "M" and "Jind" in india[key].source
    # the bare LT line has no figure of its own: the AB-cable line bounds it from above (low confidence)
    bare = india["lv_overhead_per_km"]
    assert bare.value == 386_000.0 and bare.confidence == "L" and "upper bound" in bare.source
    assert grid_reinforcement_costs_usd(get_preset("india"))["lv_ab_cable_per_km"] == pytest.approx(386_000 / 83.7, abs=1)


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
