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
    # no number without its reason: unextracted figures are flagged assumptions naming P8.10
    assert all(s.confidence == "assumption" and "P8.10" in s.source for s in india.values())


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
