"""Demand stage: adoption curve, cohort stock model, cells, zonal sums, allocation, profiles."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from charge_planner.assumptions import segment_table
from charge_planner.config import parse_config
from charge_planner.demand import (
    PROFILE_SPECS,
    PUBLIC_PROFILE,
    STRATEGIES,
    WeightLayer,
    _fill,
    allocate_demand,
    build_demand,
    cell_peaks,
    charging_profile,
    energy_by_use_case,
    fleet_projection,
    hourly_load,
    make_cells,
    offpeak_mask,
    point_weights,
    polygon_area_weights,
    population_by_cell,
    profile_table,
    raster_zonal_sums,
    sales_share,
    spatial_weights,
    survival_curve,
)
from charge_planner.errors import ConfigError, DataError
from charge_planner.presets import PRESETS, SEGMENTS, USE_CASES
from tests.conftest import DEMO_DIR, shared

CFG = {"city": {"name": "X", "country": "india"}, "siting": {"budget_usd": 1000}}
UTM = "EPSG:32645"


def _segments(**override: float) -> pd.DataFrame:
    """One 'car' segment with round numbers (every share on home unless overridden)."""
    row = {
        "vehicles_per_1000": 100.0, "sales_per_stock": 0.25, "sales_growth_per_year": 0.0,
        "ev_sales_share_base": 0.2, "ev_sales_share_target": 0.2, "lifetime_years": 4.0,
        "km_per_day": 40.0, "kwh_per_km": 0.2, "share_home": 0.5, "share_depot": 0.0, "share_public_ac": 0.1,
        "share_public_dc": 0.25, "share_swapping": 0.15, "cutoff_min": 5.0, "kwh_per_session": 10.0,
    }
    row.update(override)
    return pd.DataFrame([row], index=pd.Index(["car"], name="segment"))


# ---------------------------------------------------------------------------------------------
# adoption
# ---------------------------------------------------------------------------------------------
def test_sales_share_hits_base_and_target_and_is_an_s_curve():
    kw = dict(base_year=2024, target_year=2030, base=0.06, target=0.30)
    assert sales_share(2024, **kw) == pytest.approx(0.06, rel=1e-12)
    assert sales_share(2030, **kw) == pytest.approx(0.30, rel=1e-12)
    shares = sales_share(np.arange(2015, 2046), **kw)
    assert np.all(np.diff(shares) > 0)
    assert shares[0] < 0.06 and shares[-1] < 1.0
    # logit is linear in time: the S-curve's defining property
    logit = np.log(shares / (1 - shares))
    assert np.allclose(np.diff(logit, 2), 0.0, atol=1e-9)
    assert sales_share(2035, **kw, after_target="hold") == pytest.approx(0.30)
    assert sales_share(2035, **kw) > 0.30
    assert sales_share(2030, **kw, ceiling=0.8) == pytest.approx(0.30)
    assert sales_share(2060, **kw, ceiling=0.8) == pytest.approx(0.8, abs=1e-3)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(base=0.0, target=0.3), "cannot pass through 0"),
        (dict(base=0.1, target=1.0), "below the sales-share ceiling"),
        (dict(base=float("nan"), target=0.3), "missing or not a number"),
        (dict(base=0.1, target=0.3, target_year=2020), "before base year"),
    ],
)
def test_sales_share_rejects_impossible_curves(kw, match):
    args = dict(base_year=2024, target_year=2030) | kw
    with pytest.raises(ConfigError, match=match):
        sales_share(2026, **args)


def test_survival_curves_have_the_lifetime_as_mean():
    fixed = survival_curve(4, kind="fixed")
    assert fixed.tolist() == [1.0, 1.0, 1.0, 1.0]
    for life in (8.0, 12.0, 15.0):
        s = survival_curve(life, shape=3.0)
        assert s.sum() == pytest.approx(life, rel=0.01)
        assert np.all(np.diff(s) <= 0) and s[-1] < 1e-8
    with pytest.raises(ConfigError, match="lifetime_years"):
        survival_curve(0.5)


def test_fleet_hand_computed_case():
    # 1,000 persons x 100/1000 = 100 cars; sales 25/year, 4-year life: four cohorts of 25
    segs = _segments()
    f = fleet_projection(segs, population=1000, base_year=2024, target_year=2030, horizon_year=2030, survival="fixed")
    car = f.loc["car"]
    assert car["stock"].tolist() == pytest.approx([100.0] * 7)
    assert car["sales"].tolist() == pytest.approx([25.0] * 7)
    assert car["scrapped"].iloc[1:].tolist() == pytest.approx([25.0] * 6)
    assert car["ev_stock"].tolist() == pytest.approx([20.0] * 7)
    assert car["stock_scale"].iloc[0] == pytest.approx(1.0)


def test_fleet_ev_stock_is_the_sum_of_surviving_ev_cohorts():
    segs = _segments(ev_sales_share_base=0.1, ev_sales_share_target=0.5)
    f = fleet_projection(segs, population=1000, base_year=2024, target_year=2028, horizon_year=2032, survival="fixed")
    kw = dict(base_year=2024, target_year=2028, base=0.1, target=0.5)
    for year in (2024, 2028, 2032):
        expected = sum(25.0 * sales_share(y, **kw) for y in range(year - 3, year + 1))
        assert f.loc[("car", year), "ev_stock"] == pytest.approx(expected, rel=1e-12)
    assert f.loc[("car", 2028), "ev_sales_share"] == pytest.approx(0.5, rel=1e-12)


def test_fleet_with_growth_matches_the_base_stock_and_grows():
    segs = _segments(sales_growth_per_year=0.05, sales_per_stock=0.1, lifetime_years=12.0)
    f = fleet_projection(segs, population=50_000, base_year=2024, target_year=2030, horizon_year=2035)
    car = f.loc["car"]
    assert car.loc[2024, "stock"] == pytest.approx(5_000.0, rel=1e-12)
    assert car.loc[2024, "sales"] == pytest.approx(500.0)
    assert car.loc[2035, "sales"] == pytest.approx(500.0 * 1.05**11)
    # stock flow identity: stock(t) = stock(t-1) + sales(t) - scrapped(t)
    s = car["stock"].to_numpy()
    assert np.allclose(s[1:], s[:-1] + car["sales"].to_numpy()[1:] - car["scrapped"].to_numpy()[1:])
    assert (car["scrapped"].iloc[1:] > 0).all()
    with pytest.raises(ConfigError, match=r"sales_per_stock must be in \(0, 1\]"):
        fleet_projection(_segments(sales_per_stock=1.5), population=1000, base_year=2024, target_year=2030)


@pytest.mark.parametrize("country", sorted(PRESETS))
def test_every_preset_hits_its_sales_target_in_the_target_year(country, caplog):
    cfg = parse_config({"city": {"name": "X", "country": country}, "siting": {"budget_usd": 1}})
    segs = segment_table(cfg)
    p = PRESETS[country]
    f = fleet_projection(segs, population=1e6, base_year=p.base_year, target_year=p.target_year, horizon_year=2035)
    target = f.xs(p.target_year, level="year")
    by_sales = segs["ev_stock_share_target"].isna()
    want = segs.loc[by_sales, "ev_sales_share_target"]
    assert np.allclose(target["ev_sales_share"].reindex(want.index), want, rtol=1e-12)
    # a stock target is met exactly, or (out of reach) capped with a WARNING naming the segment
    capped = {r.getMessage().split(":")[0] for r in caplog.records
              if r.levelname == "WARNING" and "ev_stock_share_target" in r.getMessage()}
    for seg in segs.index[~by_sales]:
        want_stock = segs.loc[seg, "ev_stock_share_target"]
        if f"segment {seg}" in capped:
            assert target.loc[seg, "ev_sales_share"] == pytest.approx(1.0, abs=1e-6)
        elif target.loc[seg, "ev_stock_share"] > want_stock + 1e-9:  # met by the sales curve: kept
            assert target.loc[seg, "ev_sales_share"] == pytest.approx(segs.loc[seg, "ev_sales_share_target"])
        else:
            assert target.loc[seg, "ev_stock_share"] == pytest.approx(want_stock, abs=1e-9)
    assert (f["ev_stock"] <= f["stock"] + 1e-9).all() and (f["ev_stock"] >= 0).all()
    assert set(f.index.get_level_values("year")) == set(range(p.base_year, 2036))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_stock_target_solves_the_sales_share_hand_computed():
    # fixed 4-year life, constant sales of 25: the 2028 stock is the cohorts 2025-2028, so its EV share is the
    # mean of their sales shares; the curve starts at 0.1 in 2024 (logit a0) and has logit L in 2028
    from scipy.optimize import brentq

    segs = _segments(ev_sales_share_base=0.1, ev_sales_share_target=0.2, ev_stock_share_target=0.4)
    f = fleet_projection(segs, population=1000, base_year=2024, target_year=2028, horizon_year=2030, survival="fixed")
    a0 = _logit(0.1)

    def stock_share_2028(logit_2028: float) -> float:
        return sum(_sigmoid(a0 + (logit_2028 - a0) / 4 * k) for k in (1, 2, 3, 4)) / 4

    want = _sigmoid(brentq(lambda x: stock_share_2028(x) - 0.4, -20, 20, xtol=1e-14))
    car = f.loc["car"]
    assert car.loc[2028, "ev_stock_share"] == pytest.approx(0.4, abs=1e-10)
    assert car.loc[2028, "ev_sales_share"] == pytest.approx(want, rel=1e-9)
    assert car.loc[2028, "ev_sales_share_target"] == pytest.approx(want, rel=1e-9)
    assert car.loc[2024, "ev_sales_share"] == pytest.approx(0.1, rel=1e-12)
    # the cohorts before 2024 keep the back-cast of the curve through 0.1 (2024) and 0.2 (2028)
    b0 = (_logit(0.2) - a0) / 4
    back = sum(_sigmoid(a0 + b0 * k) for k in (-3, -2, -1))
    assert car.loc[2024, "ev_stock"] == pytest.approx(25 * (back + 0.1), rel=1e-12)


def test_unreachable_stock_target_is_refused_naming_the_reachable_share():
    # at most every sale from 2025 on is electric: the 2026 stock (cohorts 2023-2026) holds the back-cast
    # 2023 cohort, the 2024 cohort at 0.1 and two all-electric cohorts
    segs = _segments(ev_sales_share_base=0.1, ev_sales_share_target=0.2, ev_stock_share_target=0.8)
    back_2023 = _sigmoid(_logit(0.1) - (_logit(0.2) - _logit(0.1)) / 2)
    highest = (back_2023 + 0.1 + 1.0 + 1.0) / 4
    with pytest.raises(ConfigError, match=rf"segment car: ev_stock_share_target 0.8 in 2026 is out of reach: the "
                                          rf"highest reachable EV share of the stock is {highest:.4g}"):
        fleet_projection(segs, population=1000, base_year=2024, target_year=2026, horizon_year=2030, survival="fixed")
    # a target the sales curve already meets (a minimum, as policies state them) keeps the curve
    kept = fleet_projection(_segments(ev_sales_share_base=0.5, ev_sales_share_target=0.6, ev_stock_share_target=0.01),
                            population=1000, base_year=2024, target_year=2026, survival="fixed")
    assert kept.loc[("car", 2026), "ev_sales_share"] == pytest.approx(0.6, rel=1e-12)


def test_unreachable_preset_stock_target_is_capped_with_a_warning(caplog):
    segs = _segments(ev_sales_share_base=0.1, ev_sales_share_target=0.2, ev_stock_share_target=0.8)
    segs["ev_stock_share_target_confidence"] = "M"  # a preset's value, not the user's
    f = fleet_projection(segs, population=1000, base_year=2024, target_year=2026, horizon_year=2030, survival="fixed")
    back_2023 = _sigmoid(_logit(0.1) - (_logit(0.2) - _logit(0.1)) / 2)
    assert f.loc[("car", 2026), "ev_stock_share"] == pytest.approx((back_2023 + 0.1 + 2.0) / 4, abs=1e-6)
    assert any(r.levelname == "WARNING" and "capped" in r.getMessage() for r in caplog.records)


def test_base_year_ev_stock_is_calibrated_to_the_observed_share(caplog):
    # observed: 2% of the 2024 stock electric; the 2024 cohort alone brings 0.2 / 4 = 5%, so an observed 2% is
    # out of reach, and 8% leaves 0.12 / 4 for the three older cohorts: mean share 0.04 each
    from scipy.optimize import brentq

    base = dict(ev_sales_share_base=0.2, ev_sales_share_target=0.5)
    kw = dict(population=1000, base_year=2024, target_year=2028, horizon_year=2030, survival="fixed")
    with pytest.raises(ConfigError, match=r"segment car: ev_stock_share_base 0.02 cannot be met.*\[0.05, "):
        fleet_projection(_segments(**base, ev_stock_share_base=0.02), **kw)
    f = fleet_projection(_segments(**base, ev_stock_share_base=0.08), **kw)
    a0, b0 = _logit(0.2), (_logit(0.5) - _logit(0.2)) / 4
    delta = brentq(lambda d: sum(_sigmoid(a0 + b0 * k + d) for k in (-3, -2, -1)) - (0.08 * 4 - 0.2), -30, 30,
                   xtol=1e-14)
    car = f.loc["car"]
    assert car.loc[2024, "ev_stock_share"] == pytest.approx(0.08, abs=1e-10)
    assert car.loc[2024, "pre_base_logit_offset"] == pytest.approx(delta, abs=1e-8)
    # 2025: the calibrated 2022 and 2023 cohorts, 2024 at 0.2 and 2025 on the unchanged curve
    want = 25 * (_sigmoid(a0 - 2 * b0 + delta) + _sigmoid(a0 - b0 + delta) + 0.2 + _sigmoid(a0 + b0))
    assert car.loc[2025, "ev_stock"] == pytest.approx(want, rel=1e-9)
    assert car.loc[2028, "ev_sales_share"] == pytest.approx(0.5, rel=1e-12)
    # the uncalibrated back-cast, (0.152 + 0.110 + 0.078 + 0.2) / 4 = 13.6%, is within a factor 2 of 8%: no
    # warning; against 6% it is more than a factor 2 off, and that is logged
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "0.08" in r.getMessage()]
    fleet_projection(_segments(**base, ev_stock_share_base=0.06), **kw)
    assert any(r.levelname == "WARNING" and "base-year EV stock share of 0.136, more than a factor 2 from the "
               "observed 0.06" in r.getMessage() for r in caplog.records)


def test_kathmandu_preset_base_year_car_ev_stock_matches_the_sourced_count(caplog):
    # Nepal: about 32,700 electric cars, jeeps and vans on 366,723 registered cars (P1.08, F1.12) in 2025,
    # where the S-curve through 76% of 2025 sales (F1.13) run backwards gave 45%
    from charge_planner.config import load_config

    cfg = load_config(DEMO_DIR.parent / "kathmandu_thapathali" / "city.toml")
    segs = segment_table(cfg)
    sourced = (4_502 + 3_050 + 11_701 + 13_492) / 366_723
    assert segs.loc["car", "ev_stock_share_base"] == pytest.approx(sourced, abs=1e-4)
    f = fleet_projection(segs, population=112_971, base_year=2025, target_year=2030, horizon_year=2035)
    assert f.loc[("car", 2025), "ev_stock_share"] == pytest.approx(sourced, rel=0.01)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(m.startswith("segment car: the S-curve run backwards gives a base-year EV stock share of 0.451")
               for m in warned), warned
    # the 2030 stock then holds the calibrated old cars and the NDC's 90% of 2030 sales
    assert f.loc[("car", 2030), "ev_sales_share"] == pytest.approx(0.9)
    assert 0.25 < f.loc[("car", 2030), "ev_stock_share"] < 0.6


def test_users_unreachable_stock_target_is_an_error_not_a_cap():
    # the preset's Decision 876 target (50% of the 2030 stock) is capped with a warning; the same figure given
    # in city.toml is the user's, and an impossible one is refused
    cfg = parse_config({"city": {"name": "X", "country": "vietnam"}, "siting": {"budget_usd": 1},
                        "fleet": {"overrides": {"two_wheeler": {"ev_stock_share_target": 0.9}}}})
    with pytest.raises(ConfigError, match=r"segment two_wheeler: ev_stock_share_target 0.9 in 2030 is out of reach: "
                                          r"the highest reachable EV share of the stock is 0\.36"):
        fleet_projection(segment_table(cfg), population=1e5, base_year=2025, target_year=2030)


def test_indonesia_reaches_its_on_road_targets_in_2030():
    # 2 M e-cars and 13 M e-motorcycles on the road in 2030 (F1.28) as shares of the 2024 stock (F1.25)
    cfg = parse_config({"city": {"name": "X", "country": "indonesia"}, "siting": {"budget_usd": 1}})
    f = fleet_projection(segment_table(cfg), population=1e6, base_year=2025, target_year=2030, horizon_year=2035)
    # motorcycles: 3% of 2025 sales rising to 30% would leave the stock short of 9.5%: the sales share is raised
    assert f.loc[("two_wheeler", 2030), "ev_stock_share"] == pytest.approx(13.0 / 137.35, abs=1e-4)
    assert f.loc[("two_wheeler", 2030), "ev_sales_share"] > 0.3
    # cars: 15% of 2025 sales rising to 30% already puts more than 2 M e-cars on the road: the curve is kept
    assert f.loc[("car", 2030), "ev_stock_share"] > 2.0 / 20.12
    assert f.loc[("car", 2030), "ev_sales_share"] == pytest.approx(0.3)
    assert f.loc[("bus", 2030), "ev_sales_share"] == pytest.approx(0.3)  # no stock target: the sales target


def test_daily_energy_per_vehicle_by_segment_hand_computed():
    # kWh/day per EV = km/day x kWh/km: India's LCV (P2.02 x P2.01) and medium-to-heavy truck (P2.04, P2.06)
    cfg = parse_config({"city": {"name": "X", "country": "india"}, "siting": {"budget_usd": 1}})
    segs = segment_table(cfg)
    f = fleet_projection(segs, population=1e6, base_year=2024, target_year=2030, horizon_year=2030)
    e = energy_by_use_case(f, segs, years=[2030]).groupby(level=["segment", "year"]).sum()
    per_ev = (e["energy_kwh_day"] / e["ev_stock"] * len(USE_CASES)).xs(2030, level="year")
    assert per_ev["lcv"] == pytest.approx(100 * 0.138, rel=1e-9)
    assert per_ev["truck"] == pytest.approx(150 * 0.97, rel=1e-9)
    assert per_ev["bus"] == pytest.approx(200 * 1.62, rel=1e-9)
    assert per_ev["two_wheeler"] == pytest.approx(16 * 0.0325, rel=1e-9)


def test_bad_segment_values_give_one_error_naming_each():
    segs = _segments(km_per_day=-1.0, share_home=0.3)
    segs.loc["car", "kwh_per_km"] = np.nan
    with pytest.raises(ConfigError) as err:
        fleet_projection(segs, population=100, base_year=2024, target_year=2030)
    msg = str(err.value)
    assert "car.km_per_day is negative" in msg and "car.kwh_per_km is missing" in msg and "\n" not in msg


def test_energy_by_use_case_hand_computed():
    segs = _segments()
    f = fleet_projection(segs, population=1000, base_year=2024, target_year=2030, horizon_year=2030, survival="fixed")
    e = energy_by_use_case(f, segs, years=[2030])
    # 20 EVs x 40 km x 0.2 kWh/km = 160 kWh/day, split 0.5 / 0 / 0.1 / 0.25 / 0.15
    got = e.xs(("car", 2030))["energy_kwh_day"]
    assert got.to_dict() == pytest.approx({"home": 80.0, "depot": 0.0, "public_ac": 16.0, "public_dc": 40.0,
                                           "swapping": 24.0})
    with pytest.raises(ConfigError, match="outside the fleet projection"):
        energy_by_use_case(f, segs, years=[2040])


# ---------------------------------------------------------------------------------------------
# cells and weights
# ---------------------------------------------------------------------------------------------
AREA = box(500_000, 3_000_000, 501_000, 3_000_700)  # 1.0 km x 0.7 km


def test_square_cells_tile_the_study_area():
    cells = make_cells(AREA, crs=UTM, cell_size_m=400)
    assert len(cells) == 3 * 2
    assert cells["area_m2"].sum() == pytest.approx(AREA.area, rel=1e-12)
    assert cells.loc["c0002_0001", "area_m2"] == pytest.approx(200 * 300)
    assert cells.index.name == "cell_id"


def test_h3_cells_tile_the_study_area():
    import h3

    cells = make_cells(AREA, crs=UTM, cell_type="h3", cell_size_m=400)
    assert all(h3.is_valid_cell(c) and h3.get_resolution(c) == 9 for c in cells.index)
    assert cells["area_m2"].sum() == pytest.approx(AREA.area, rel=1e-9)
    overlap = shapely.area(shapely.union_all(cells.geometry.to_numpy()))
    assert overlap == pytest.approx(AREA.area, rel=1e-9)  # no overlaps, no gaps


def test_point_weights_count_each_point_once():
    cells = make_cells(AREA, crs=UTM, cell_size_m=400)
    pts = gpd.GeoSeries([Point(500_100, 3_000_100), Point(500_300, 3_000_100), Point(500_400, 3_000_100),
                         Point(600_000, 3_000_000)], crs=UTM)
    layer = point_weights(pts, [10.0, 30.0, 5.0, 99.0], cells, what="population")
    assert layer.total == pytest.approx(45.0)  # the far point is outside; the boundary point counts once
    i = cells.index.get_loc("c0000_0000")
    assert layer.weight[i] in (40.0, 45.0)
    assert layer.weight.sum() == pytest.approx(45.0)
    with pytest.raises(DataError, match="negative or missing"):
        point_weights(pts, [1.0, -1.0, 0.0, 0.0], cells)


def test_building_area_is_split_by_overlap():
    cells = make_cells(AREA, crs=UTM, cell_size_m=400)
    b = gpd.GeoSeries([box(500_350, 3_000_050, 500_450, 3_000_090)], crs=UTM)  # straddles x = 500,400
    layer = polygon_area_weights(b, cells)
    assert layer.total == pytest.approx(100 * 40)
    assert layer.weight[cells.index.get_loc("c0000_0000")] == pytest.approx(50 * 40)
    assert layer.weight[cells.index.get_loc("c0001_0000")] == pytest.approx(50 * 40)


def _write_raster(path, values, *, crs, left, top, res, nodata=-99.0):
    import rasterio
    from affine import Affine

    arr = np.asarray(values, dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="float32",
                       crs=crs, transform=Affine(res, 0.0, left, 0.0, -res, top), nodata=nodata) as dst:
        dst.write(arr, 1)
    return path


def test_zonal_sums_hand_computed(tmp_path):
    # 4 x 2 pixels of 200 m from (500000, 3000400) down; the study area cuts the last column in half
    vals = [[10, 20, 30, 40], [1, 2, 3, -99]]
    tif = _write_raster(tmp_path / "pop.tif", vals, crs=UTM, left=500_000, top=3_000_400, res=200)
    area = box(500_000, 3_000_000, 500_700, 3_000_400)
    cells = make_cells(area, crs=UTM, cell_size_m=400)
    layer = raster_zonal_sums(tif, cells, study_area=area)
    # inside: 10 + 20 + 30 + 40/2 + 1 + 2 + 3 = 86 (nodata pixel ignored)
    assert layer.total == pytest.approx(86.0, rel=1e-12)
    w = dict(zip(cells.index, layer.weight, strict=True))
    assert w["c0000_0000"] == pytest.approx(10 + 20 + 1 + 2)
    assert w["c0001_0000"] == pytest.approx(30 + 20 + 3)
    assert sum(w.values()) == pytest.approx(86.0, rel=1e-12)


def test_zonal_sums_conserve_a_geographic_raster(tmp_path):
    rng = np.random.default_rng(3)
    vals = rng.uniform(0, 50, (30, 30))
    tif = _write_raster(tmp_path / "wgs.tif", vals, crs="EPSG:4326", left=85.30, top=27.71, res=0.0008333)
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform([85.305, 85.318], [27.692, 27.705])
    area = box(x[0], y[0], x[1], y[1])
    for cell_type in ("square", "h3"):
        cells = make_cells(area, crs=UTM, cell_type=cell_type, cell_size_m=300)
        layer = raster_zonal_sums(tif, cells, study_area=area)
        assert layer.weight.sum() == pytest.approx(layer.total, rel=1e-12)
    # independent check: pixel polygons clipped by geopandas
    assert layer.total == pytest.approx(_clip_total(tif, area, UTM), rel=1e-9)


def _clip_total(tif, area, crs) -> float:
    """Persons inside ``area`` computed with geopandas.clip over projected pixel outlines."""
    import rasterio

    with rasterio.open(tif) as src:
        arr = src.read(1, masked=True).astype(float)
        t = src.transform
        src_crs = src.crs
    rows, cols = np.nonzero(~np.ma.getmaskarray(arr) & (np.ma.filled(arr, 0) > 0))

    def corner(c: float, r: float) -> tuple[float, float]:
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f

    polys = [Polygon([corner(c, r), corner(c + 1, r), corner(c + 1, r + 1), corner(c, r + 1)])
             for r, c in zip(rows, cols, strict=True)]
    pix = gpd.GeoDataFrame({"v": np.asarray(arr[rows, cols])}, geometry=polys, crs=src_crs).to_crs(crs)
    pix["a0"] = pix.area
    clipped = gpd.clip(pix, area)
    return float((clipped["v"] * clipped.area / clipped["a0"]).sum())


def test_raster_errors_are_clear(tmp_path):
    tif = _write_raster(tmp_path / "pop.tif", [[1, 2], [3, 4]], crs=UTM, left=500_000, top=3_000_400, res=200)
    far = box(700_000, 3_000_000, 701_000, 3_001_000)
    cells = make_cells(far, crs=UTM, cell_size_m=400)
    with pytest.raises(DataError, match="does not overlap the study area"):
        raster_zonal_sums(tif, cells, study_area=far)
    bad = _write_raster(tmp_path / "neg.tif", [[1, -2], [3, 4]], crs=UTM, left=500_000, top=3_000_400, res=200)
    area = box(500_000, 3_000_000, 500_400, 3_000_400)
    with pytest.raises(DataError, match="negative values"):
        raster_zonal_sums(bad, make_cells(area, crs=UTM), study_area=area)
    (tmp_path / "junk.tif").write_text("not a raster")
    with pytest.raises(DataError, match="cannot read the raster"):
        raster_zonal_sums(tmp_path / "junk.tif", make_cells(area, crs=UTM), study_area=area)


def _two_cells() -> gpd.GeoDataFrame:
    return make_cells(box(0, 0, 800, 400), crs=UTM, cell_size_m=400)


def test_spatial_weights_mix_residents_and_poi_attraction():
    cells = _two_cells()
    res = point_weights(gpd.GeoSeries([Point(100, 100), Point(500, 100)], crs=UTM), [300.0, 100.0], cells)
    pois = gpd.GeoDataFrame({"kind": ["mall", "bus_station"]}, geometry=[Point(600, 200), Point(700, 300)], crs=UTM)
    w = spatial_weights(cells, res, pois=pois, poi_share={"public_ac": 0.5})
    assert w.shares["home"].tolist() == pytest.approx([0.75, 0.25])
    # public AC: 0.5 x residents + 0.5 x POIs (both POIs in the second cell)
    assert w.shares["public_ac"].tolist() == pytest.approx([0.375, 0.625])
    assert w.shares["depot"].tolist() == pytest.approx([0.0, 1.0])
    assert w.cells["population"].sum() == pytest.approx(400.0)
    for u in USE_CASES:
        assert w.shares[u].sum() == pytest.approx(1.0)
    # no POIs: destination charging follows residents
    w0 = spatial_weights(cells, res)
    assert w0.shares["public_dc"].tolist() == pytest.approx([0.75, 0.25])
    with pytest.raises(DataError, match="no residents"):
        spatial_weights(cells, WeightLayer(np.zeros(2), np.zeros(2), np.zeros(2), 0.0, "empty"))


def test_allocation_conserves_every_total_and_is_hand_checkable():
    cells = _two_cells()
    res = point_weights(gpd.GeoSeries([Point(100, 100), Point(500, 100)], crs=UTM), [750.0, 250.0], cells)
    w = spatial_weights(cells, res)
    segs = _segments()
    f = fleet_projection(segs, population=1000, base_year=2024, target_year=2030, horizon_year=2030, survival="fixed")
    e = energy_by_use_case(f, segs, years=[2029, 2030])
    profiles = profile_table(segments=["car"])
    d = allocate_demand(e, w, segs, profiles=profiles)
    row = d.loc["c0000_0000:car:public_dc:2030"]
    assert row["energy_kwh_day"] == pytest.approx(40.0 * 0.75)
    assert row["sessions_day"] == pytest.approx(3.0)
    assert row["cutoff_s"] == 300.0
    assert row["peak_kw"] == pytest.approx(30.0 * profiles.loc[("car", "public_dc")].max())
    assert bool(row["sited"]) and not d.loc["c0000_0000:car:home:2030", "sited"]
    g = d.groupby(["segment", "year", "use_case"])["energy_kwh_day"].sum()
    want = e["energy_kwh_day"][e["energy_kwh_day"] > 0]
    assert np.allclose(g.reindex(want.index).to_numpy(), want.to_numpy(), rtol=1e-12, atol=0)
    assert set(d.columns) >= {"geometry", "cell_id", "segment", "use_case", "year", "energy_kwh_day", "sessions_day",
                              "peak_kw", "cutoff_s", "sited"}
    assert d.index.is_unique and d.crs == cells.crs


def test_build_demand_hand_computed_case():
    cfg = parse_config({**CFG, "fleet": {"segments": ["car"], "overrides": {"car": {
        "vehicles_per_1000": 100, "ev_sales_share_base": 0.5, "ev_sales_share_target": 0.5, "km_per_day": 40,
        "kwh_per_km": 0.2, "share_home": 0.75, "share_public_ac": 0.0, "share_public_dc": 0.25, "cutoff_min": 5,
        "kwh_per_session": 10}}}})
    segs = segment_table(cfg)
    cells = pd.DataFrame({"population": [1000.0, 3000.0], "x": [0.0, 1.0], "y": [0.0, 1.0]},
                         index=pd.Index(["a", "b"], name="cell_id"))
    d = build_demand(cells, segs, year=2030, base_year=2030, target_year=2030, crs=UTM)
    # 1000 people x 0.1 cars x 0.5 EV = 50 EVs x 40 km x 0.2 kWh/km x 0.25 public DC = 100 kWh/day
    assert d.loc["a:car:public_dc:2030", "energy_kwh_day"] == pytest.approx(100.0)
    assert d.loc["b:car:public_dc:2030", "energy_kwh_day"] == pytest.approx(300.0)
    assert d.loc["a:car:public_dc:2030", "sessions_day"] == pytest.approx(10.0)
    assert d.loc["a:car:public_dc:2030", "ev_stock"] == pytest.approx(50.0 * 0.25)
    assert set(d["use_case"]) == {"public_dc"}


def test_population_by_cell_conserves_and_weights():
    pts = gpd.GeoDataFrame({"population": [10.0, 30.0, 5.0, 7.0]},
                           geometry=gpd.points_from_xy([10, 30, 450, 5000], [10, 10, 10, 10]), crs=UTM)
    cells = population_by_cell(pts, bounds=(0, 0, 800, 800), cell_size_m=400)
    assert cells["population"].sum() == pytest.approx(45.0)
    assert cells.loc["c0000_0000", "x"] == pytest.approx((10 * 10 + 30 * 30) / 40)
    with pytest.raises(DataError, match="negative or missing"):
        population_by_cell(pts.assign(population=[-1.0, 0, 0, 0]), bounds=(0, 0, 10, 10), cell_size_m=5)


# ---------------------------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------------------------
def test_fill_spreads_a_session_over_its_window():
    assert _fill(np.zeros(4), 0.5).tolist() == [0.5, 0.5, 0.0, 0.0]  # unmanaged: as early as possible
    assert _fill(np.array([0.0, 1.0, 1.0, 1.0]), 0.5).tolist() == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])
    assert _fill(np.array([0.0, 0.0, 1.0, 0.0]), 0.5).tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])
    solar = _fill(np.array([1.0, 3.0, 0.0]), 0.6)  # water-filling: 0.6 cap on the sunniest hour
    assert solar.tolist() == pytest.approx([0.4, 0.6, 0.0])


def test_every_profile_sums_to_one_and_is_non_negative():
    for strategy in STRATEGIES:
        table = profile_table(strategy, offpeak_hours=(22, 6))
        assert np.allclose(table.sum(axis=1), 1.0, atol=1e-12)
        assert (table.to_numpy() >= 0).all()
    assert PUBLIC_PROFILE.sum() == pytest.approx(1.0)


def test_profile_shapes():
    home = charging_profile("car", "home")
    assert 18 <= home.argmax() <= 21 and home[3:15].sum() < 0.05  # evening peak
    depot = charging_profile("bus", "depot")
    assert depot.argmax() in (22, 23, 0, 1) and depot[8:18].sum() < 0.01  # overnight
    ac = charging_profile("car", "public_ac")
    assert 9 <= ac.argmax() <= 17 and ac[9:19].sum() > 0.8  # daytime destination
    off = charging_profile("car", "home", "managed_offpeak", offpeak_hours=(22, 6))
    assert off[offpeak_mask((22, 6))].sum() > 0.95 and off[18:21].sum() < 0.05
    sun = charging_profile("two_wheeler", "swapping", "solar_following")
    assert sun[8:17].sum() > charging_profile("two_wheeler", "swapping")[8:17].sum()
    dc = [charging_profile("car", "public_dc", s) for s in STRATEGIES]  # one-hour dwell: nothing to shift
    assert np.allclose(dc[0], dc[1]) and np.allclose(dc[0], dc[2])
    assert PROFILE_SPECS["home"].dwell_h == 12


def test_profile_input_errors():
    with pytest.raises(ConfigError, match="unknown segment 'boat'"):
        charging_profile("boat", "home")
    with pytest.raises(ConfigError, match="unknown strategy"):
        charging_profile("car", "home", "smart")
    with pytest.raises(ConfigError, match="empty window"):
        charging_profile("car", "home", "managed_offpeak", offpeak_hours=(5, 5))


def test_cell_peaks_are_coincident_peaks_of_the_summed_profiles():
    demand = pd.DataFrame({
        "cell_id": ["a", "a", "b"], "year": 2030, "segment": ["car", "car", "two_wheeler"],
        "use_case": ["home", "public_ac", "swapping"], "energy_kwh_day": [24.0, 48.0, 10.0], "sited": [False, True, True],
    })
    profiles = profile_table()
    load = hourly_load(demand, profiles)
    expect_a = 24.0 * profiles.loc[("car", "home")].to_numpy() + 48.0 * profiles.loc[("car", "public_ac")].to_numpy()
    assert np.allclose(load.loc[("a", 2030)].to_numpy(), expect_a)
    peaks = cell_peaks(demand, profiles)
    assert peaks.loc[("a", 2030), "peak_kw"] == pytest.approx(expect_a.max())
    assert peaks.loc[("a", 2030), "peak_hour"] == int(expect_a.argmax())
    assert peaks.loc[("a", 2030), "sited_peak_kw"] == pytest.approx(48.0 * profiles.loc[("car", "public_ac")].max())
    assert peaks["energy_kwh_day"].sum() == pytest.approx(82.0)


# ---------------------------------------------------------------------------------------------
# the stage on a city
# ---------------------------------------------------------------------------------------------
def test_city_demand_on_the_demo_city_conserves_totals():
    from charge_planner.city import load_city
    from charge_planner.demand import city_demand

    city = load_city(DEMO_DIR)
    r = city_demand(city)
    assert r.years == tuple(range(2024, 2031))
    assert r.cells["population"].sum() == pytest.approx(city.population["population"].sum(), rel=1e-12)
    g = r.demand.groupby(["segment", "year", "use_case"])["energy_kwh_day"].sum()
    want = r.energy["energy_kwh_day"][r.energy["energy_kwh_day"] > 0]
    assert np.allclose(g.reindex(want.index).to_numpy(), want.to_numpy(), rtol=1e-12, atol=0)
    sited = r.for_siting(2030)
    assert set(sited["use_case"]) <= {"public_ac", "public_dc", "swapping"} and (sited["year"] == 2030).all()
    assert len(r.cell_peaks) == r.demand.groupby(["cell_id", "year"]).ngroups
    assert r.summary(2030)["ev_sales_share"]["car"] == pytest.approx(0.30)
    with pytest.raises(ConfigError, match="no year"):
        r.for_siting(2040)


# ---------------------------------------------------------------------------------------------
# configuration errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fleet", "match"),
    [
        ({"overrides": {"car": {"share_home": 0.5}}}, "use-case shares sum to 0.8"),
        ({"overrides": {"car": {"share_home": 0.5, "share_depot": 0, "share_public_ac": 0.1, "share_public_dc": 0.1,
                                "share_swapping": 0.1}}}, "sum to 0.8"),
        ({"overrides": {"car": {"public_share": 0.2, "share_home": 0.8}}}, "either public_share or the share_"),
        ({"overrides": {"car": {"km_per_day": -5}}}, "km_per_day"),
        ({"overrides": {"car": {"kwh_per_km": float("nan")}}}, "finite number"),
        ({"target_year": 2020}, "before"),
        ({"year": 2023}, "before the base year 2024"),
        ({"years": [2022, 2030]}, "before the base year 2024"),
    ],
)
def test_bad_fleet_configuration_is_reported(fleet, match):
    with pytest.raises(ConfigError, match=match):
        segment_table(parse_config({**CFG, "fleet": fleet}))


def test_demand_years_cover_the_rollout_years():
    from charge_planner.assumptions import adoption_settings

    cfg = parse_config({**CFG, "fleet": {"years": [2030]}, "siting": {"budget_usd": 1, "rollout_years": [2026, 2030]}})
    assert adoption_settings(cfg).years == (2026, 2030)
    with pytest.raises(ConfigError, match=r"\[2023\] are before the base year 2024"):
        parse_config({**CFG, "siting": {"budget_usd": 1, "rollout_years": [2023, 2030]}})


def test_partial_share_override_is_rejected_when_the_file_is_read(tmp_path):
    from charge_planner.config import load_config

    (tmp_path / "city.toml").write_text('[city]\nname = "X"\ncountry = "india"\n[fleet.overrides.car]\n'
                                        'share_home = 0.5\n[siting]\nbudget_usd = 1\n')
    with pytest.raises(ConfigError, match=r"city.toml: .*fleet.overrides.car: use-case shares sum to 0.8") as err:
        load_config(tmp_path)
    assert "(preset)" in str(err.value) and "\n" not in str(err.value)


def test_legacy_public_share_rescales_the_use_case_split():
    cfg = parse_config({**CFG, "fleet": {"overrides": {"two_wheeler": {"public_share": 0.4}}}})
    seg = segment_table(cfg).loc["two_wheeler"]
    assert seg["public_share"] == pytest.approx(0.4)
    # preset split: public AC 0.05, DC 0.05, swapping 0.10 -> doubled; home 0.8 -> 0.6
    assert seg["share_swapping"] == pytest.approx(0.2) and seg["share_home"] == pytest.approx(0.6)
    assert seg["share_home_confidence"] == "user"


def test_study_area_bbox_and_h3_cells_from_the_config():
    from charge_planner.city import load_city
    from charge_planner.demand import default_study_area

    city = load_city(DEMO_DIR)
    assert default_study_area(city).equals(box(*city.bounds()))
    with pytest.raises(ConfigError, match="city.study_area_bbox"):
        parse_config({**CFG, "city": {**CFG["city"], "study_area_bbox": [80, 13, 79, 12]}})


def test_city_study_area_bbox_clips_the_demand(tmp_path):
    """The demand of the demo city on ``city.study_area_bbox`` = [77.42, 12.85, 77.44, 12.86]: the box is
    0.02 deg x 111.32 km x cos(12.855 deg) = 2,171 m wide and 0.01 deg x 110.6 km = 1,106 m high, so 500 m
    squares aligned to its lower-left corner give ceil(4.34) x ceil(2.21) = 5 x 3 = 15 cells covering
    about 2.40 km2 (the whole demo city has 18 x 14 cells)."""
    from charge_planner.city import load_city
    from charge_planner.demand import city_demand

    text = (DEMO_DIR / "city.toml").read_text()
    assert 'crs = "EPSG:32643"\n' in text and "cell_size_m = 500" in text
    (tmp_path / "city.toml").write_text(
        text.replace('crs = "EPSG:32643"\n', 'crs = "EPSG:32643"\nstudy_area_bbox = [77.42, 12.85, 77.44, 12.86]\n'))
    city = load_city(tmp_path)
    assert city.config.city.study_area_bbox == (77.42, 12.85, 77.44, 12.86)
    r = city_demand(city)
    assert len(r.cells) == 15
    assert sorted({cid.split("_")[0] for cid in r.cells.index}) == [f"c{i:04d}" for i in range(5)]
    assert sorted({cid.split("_")[1] for cid in r.cells.index}) == [f"{j:04d}" for j in range(3)]
    assert r.cells["area_m2"].sum() == pytest.approx(2171 * 1106, rel=0.01)
    assert set(r.demand["cell_id"]) <= set(r.cells.index) and r.demand["energy_kwh_day"].sum() > 0
    whole = city_demand(load_city(DEMO_DIR))
    assert len(whole.cells) == 18 * 14
    assert r.demand["energy_kwh_day"].sum() < 0.2 * whole.demand["energy_kwh_day"].sum()


# ---------------------------------------------------------------------------------------------
# acceptance: WorldPop over the Kathmandu OSM extract
# ---------------------------------------------------------------------------------------------
KTM_BOUNDS = (85.31356, 27.68290, 85.32105, 27.69495)  # <bounds> of the OSM export


@pytest.fixture(scope="module")
def kathmandu(tmp_path_factory):
    osm = shared("kathmandu", "kathmandu_thapathali_map.osm")
    tif = shared("kathmandu", "NPL_ppp_v2c_2020_UNadj_kathmandu_crop.tif")
    from charge_planner.city import load_city

    folder = tmp_path_factory.mktemp("kathmandu")
    (folder / "city.toml").write_text(
        '[city]\nname = "Thapathali, Kathmandu"\ncountry = "NPL"\n'
        f"study_area_bbox = {list(KTM_BOUNDS)}\n"
        f'[data]\nsource = "files"\nroads = "{osm}"\nosm = "{osm}"\npopulation_raster = "{tif}"\n'
        "[demand]\ncell_size_m = 400\n[siting]\nbudget_usd = 1e6\n"
    )
    return load_city(folder), osm, tif


@pytest.mark.slow
def test_kathmandu_worldpop_zonal_sums_conserve_the_rasters_persons(kathmandu):
    from charge_planner.demand import city_demand, default_study_area

    city, _, tif = kathmandu
    area = default_study_area(city)
    assert city.crs == "EPSG:32645" and 0.9e6 < area.area < 1.1e6  # about 0.74 km x 1.34 km
    r = city_demand(city)
    direct = _clip_total(tif, area, city.crs)
    assert r.population_total == pytest.approx(direct, rel=1e-9)
    assert r.cells["population"].sum() == pytest.approx(direct, rel=1e-12)
    # about 29,400 persons inside the export's bbox (data README, pixel centres): within 6 %
    assert 0.94 * 29_400 < r.population_total < 1.06 * 29_400
    # H3 hexagons conserve the same persons
    from charge_planner.demand import make_cells

    hexes = make_cells(area, crs=city.crs, cell_type="h3", cell_size_m=400)
    layer = raster_zonal_sums(tif, hexes, study_area=area)
    assert layer.weight.sum() == pytest.approx(direct, rel=1e-9) and len(hexes) >= 10


@pytest.mark.slow
def test_kathmandu_demand_by_segment_use_case_and_year(kathmandu):
    from charge_planner.demand import city_demand

    city, _, _ = kathmandu
    r = city_demand(city)
    assert r.years == tuple(range(2025, 2031))
    g = r.demand.groupby(["segment", "year", "use_case"])["energy_kwh_day"].sum()
    want = r.energy["energy_kwh_day"][r.energy["energy_kwh_day"] > 0]
    assert np.allclose(g.reindex(want.index).to_numpy(), want.to_numpy(), rtol=1e-12, atol=0)
    # Nepal's NDC: 90% of car and two-wheeler sales electric in 2030
    s = r.summary(2030)
    assert s["ev_sales_share"]["car"] == pytest.approx(0.9) and s["ev_sales_share"]["two_wheeler"] == pytest.approx(0.9)
    total = r.energy.xs(2030, level="year")["energy_kwh_day"].sum()
    assert total > r.energy.xs(2025, level="year")["energy_kwh_day"].sum() > 0
    # plausible scale: about 31,000 residents, a few MWh/day of EV charging in 2030
    assert 1_000 < total < 30_000
    sited = r.for_siting(2030)
    assert sited["energy_kwh_day"].sum() == pytest.approx(
        r.energy.xs(2030, level="year").query("use_case in ['public_ac', 'public_dc', 'swapping']")["energy_kwh_day"].sum(),
        rel=1e-12)
    assert (r.cell_peaks["peak_kw"] > 0).all()
    # POIs pull destination charging: the public AC centre of a cell differs from the home centre somewhere
    car = r.demand[(r.demand["segment"] == "car") & (r.demand["year"] == 2030)]
    home = car[car["use_case"] == "home"].set_index("cell_id").geometry
    ac = car[car["use_case"] == "public_ac"].set_index("cell_id").geometry
    assert (home.distance(ac.reindex(home.index)) > 1).any()


@pytest.mark.slow
def test_kathmandu_building_footprints_track_the_raster(kathmandu):
    from charge_planner.demand import default_study_area, make_cells, residential_layer

    city, _, tif = kathmandu
    area = default_study_area(city)
    cells = make_cells(area, crs=city.crs, cell_size_m=200)
    assert len(city.buildings) > 2000
    by_area, total = residential_layer(cells, study_area=area, buildings=city.buildings, population_total=30_000,
                                       mode="buildings")
    assert total == 30_000 and by_area.total > 0.2 * area.area  # dense core: footprints cover > 20 % of the land
    by_raster, _ = residential_layer(cells, study_area=area, raster=tif)
    assert np.corrcoef(by_area.weight, by_raster.weight)[0, 1] > 0.3
    # "auto" takes the footprints only where they are mapped completely
    from charge_planner.demand import building_coverage

    pts = gpd.GeoDataFrame({"population": np.ones(len(cells))}, geometry=cells.representative_point().to_numpy(),
                           crs=city.crs)
    assert building_coverage(city.buildings, cells, pts) > 0.9
    auto, _ = residential_layer(cells, study_area=area, buildings=city.buildings, population=pts,
                                population_total=30_000)
    assert auto.source.startswith("building footprint area")
    corner = city.buildings[city.buildings.geometry.centroid.x < city.buildings.geometry.centroid.x.quantile(0.2)]
    partial, _ = residential_layer(cells, study_area=area, buildings=corner, population=pts, population_total=30_000)
    assert partial.source == "population"


def test_raster_that_misses_the_city_is_rejected():
    tif = shared("kathmandu", "NPL_ppp_v2c_2020_UNadj_kathmandu_crop.tif")
    far = box(700_000, 3_000_000, 701_000, 3_001_000)  # about 350 km east of Kathmandu
    with pytest.raises(DataError, match="does not overlap"):
        raster_zonal_sums(tif, make_cells(far, crs=UTM), study_area=far)


def test_segments_in_presets_have_profiles():
    for seg in SEGMENTS:
        for u in USE_CASES:
            assert math.isclose(charging_profile(seg, u).sum(), 1.0)


# --- layering: the demand stage sits above city and assumptions, and assumptions imports no stage --------------
_PACKAGE = Path(__file__).resolve().parents[1] / "charge_planner"
# what the demand stage may import: the layers below it (city and what city stands on) and its own modules
_DEMAND_MAY_IMPORT = {"assumptions", "city", "config", "errors", "osm", "presets", "synthetic", "demand"}


def _project_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported charge_planner module, imported inside a function) for every import of the project in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return  # annotations only, never run
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("charge_planner"):
            out.append((node.module, in_function))
        elif isinstance(node, ast.Import):
            out.extend((a.name, in_function) for a in node.names if a.name.startswith("charge_planner"))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return out


def test_assumptions_imports_no_stage():
    imported = {m for m, _ in _project_imports(_PACKAGE / "assumptions.py")}
    assert imported <= {"charge_planner.config", "charge_planner.errors", "charge_planner.presets"}, imported


def test_demand_package_imports_only_lower_layers_at_module_level():
    modules = sorted((_PACKAGE / "demand").glob("*.py"))
    assert {p.stem for p in modules} == {"__init__", "fleet", "spatial", "profiles", "allocate"}
    for path in modules:
        for module, in_function in _project_imports(path):
            assert not in_function, f"{path.name}: import of {module} inside a function"
            assert module.split(".")[1] in _DEMAND_MAY_IMPORT, f"{path.name} imports {module}, a later stage"
