from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from charge_planner.assumptions import segment_table
from charge_planner.config import parse_config
from charge_planner.demand import PUBLIC_PROFILE, build_demand, population_by_cell, sales_share, stock_share
from charge_planner.errors import DataError

CFG = {"city": {"name": "X", "country": "india"}, "siting": {"budget_usd": 1000}}


def test_sales_share_hits_base_and_target():
    kw = dict(base_year=2024, target_year=2030, base=0.06, target=0.30)
    assert sales_share(2024, **kw) == pytest.approx(0.06)
    assert sales_share(2030, **kw) == pytest.approx(0.30)
    assert sales_share(2035, **kw) == pytest.approx(0.30)
    years = np.arange(2024, 2031)
    shares = [sales_share(y, **kw) for y in years]
    assert np.all(np.diff(shares) > 0)


def test_stock_share_is_mean_of_past_sales_shares():
    kw = dict(base_year=2024, target_year=2030, base=0.1, target=0.5)
    got = stock_share(2030, lifetime_years=3, **kw)
    assert got == pytest.approx(np.mean([sales_share(y, **kw) for y in (2028, 2029, 2030)]))
    assert stock_share(2030, lifetime_years=15, **kw) < got


def test_population_by_cell_conserves_and_weights():
    pts = gpd.GeoDataFrame(
        {"population": [10.0, 30.0, 5.0, 7.0]},
        geometry=gpd.points_from_xy([10, 30, 450, 5000], [10, 10, 10, 10]),
        crs="EPSG:32643",
    )
    cells = population_by_cell(pts, bounds=(0, 0, 800, 800), cell_size_m=400)
    assert cells["population"].sum() == pytest.approx(45.0)  # the point at x=5000 is outside
    first = cells.loc["c0000_0000"]
    assert first["population"] == 40.0
    assert first["x"] == pytest.approx((10 * 10 + 30 * 30) / 40)


def test_negative_population_rejected():
    pts = gpd.GeoDataFrame({"population": [-1.0]}, geometry=gpd.points_from_xy([1], [1]), crs="EPSG:32643")
    with pytest.raises(DataError, match="negative or missing"):
        population_by_cell(pts, bounds=(0, 0, 10, 10), cell_size_m=5)


def test_build_demand_hand_computed_case():
    cfg = parse_config({**CFG, "fleet": {"segments": ["car"], "overrides": {"car": {
        "vehicles_per_1000": 100, "ev_sales_share_base": 0.5, "ev_sales_share_target": 0.5,
        "lifetime_years": 1, "km_per_day": 40, "kwh_per_km": 0.2, "public_share": 0.25, "cutoff_min": 5,
        "kwh_per_session": 10}}}})
    segs = segment_table(cfg)
    cells = pd.DataFrame({"population": [1000.0, 3000.0], "x": [0.0, 1.0], "y": [0.0, 1.0]},
                         index=pd.Index(["a", "b"], name="cell_id"))
    d = build_demand(cells, segs, year=2030, base_year=2024, target_year=2030, crs="EPSG:32643", peak_hour=20)
    # 1000 people x 0.1 cars x 0.5 EV = 50 EVs x 40 km x 0.2 kWh/km x 0.25 public = 100 kWh/day
    assert d.loc["a:car:2030", "energy_kwh_day"] == pytest.approx(100.0)
    assert d.loc["b:car:2030", "energy_kwh_day"] == pytest.approx(300.0)
    assert d.loc["a:car:2030", "sessions_day"] == pytest.approx(10.0)
    assert d.loc["a:car:2030", "peak_kw"] == pytest.approx(100.0 * PUBLIC_PROFILE[20])
    assert d.loc["a:car:2030", "cutoff_s"] == 300.0
    assert set(d.columns) >= {"geometry", "cell_id", "segment", "year", "energy_kwh_day", "sessions_day", "peak_kw"}


def test_demand_totals_equal_population_times_rates():
    cfg = parse_config(CFG)
    segs = segment_table(cfg)
    rng = np.random.default_rng(1)
    cells = pd.DataFrame({"population": rng.uniform(0, 5000, 50), "x": 0.0, "y": 0.0},
                         index=pd.Index([f"c{i}" for i in range(50)], name="cell_id"))
    d = build_demand(cells, segs, year=2030, base_year=2024, target_year=2030, crs="EPSG:32643")
    total_pop = cells["population"].sum()
    for seg, p in segs.iterrows():
        share = stock_share(2030, base_year=2024, target_year=2030, base=p["ev_sales_share_base"],
                            target=p["ev_sales_share_target"], lifetime_years=p["lifetime_years"])
        expected = total_pop * p["vehicles_per_1000"] / 1000 * share * p["km_per_day"] * p["kwh_per_km"] * p["public_share"]
        assert d[d["segment"] == seg]["energy_kwh_day"].sum() == pytest.approx(expected, rel=1e-12)


def test_profile_sums_to_one():
    assert PUBLIC_PROFILE.sum() == pytest.approx(1.0)
    assert PUBLIC_PROFILE.argmax() in (19, 20)
