"""Large siting models: the decomposition by site (charge_planner.siting.decompose), its bound
against hand computations and exact optima, and the decomposed solve on a synthetic city with a
binding budget."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from charge_planner.siting import CapacitatedSiting, solve
from charge_planner.siting.decompose import SiteDecomposition, plan_with_chargers
from charge_planner.siting.solve import relative_gap
from tests.conftest import demo_siting_model, siting_tables


def _hand_tables():
    """One charger type of 10 kW x 2 h = 20 kWh/day at 1,000 USD; two sites (500 USD to open, at
    most 2 chargers); d1 = 30 kWh/day reaches s1, d2 = 10 reaches both, d3 = 15 reaches s2."""
    demand = pd.DataFrame({"segment": "car", "energy_kwh_day": [30.0, 10.0, 15.0]},
                          index=pd.Index(["d1", "d2", "d3"], name="demand_id"))
    cand = pd.DataFrame({"max_chargers": [2, 2], "fixed_cost_usd": [500.0, 500.0]},
                        index=pd.Index(["s1", "s2"], name="site_id"))
    types = pd.DataFrame({"power_kw": [10.0], "capex_usd": [1000.0], "segments": [("car",)],
                          "service_hours_day": [2.0]}, index=pd.Index(["dc"], name="charger_type"))
    travel = pd.DataFrame({"demand_id": ["d1", "d2", "d2", "d3"], "site_id": ["s1", "s1", "s2", "s2"],
                           "travel_time_s": [60.0, 60.0, 90.0, 60.0]})
    return demand, cand, types, travel


def test_lagrangian_value_matches_hand_computation():
    """Budget 2,000 USD. At prices lambda = 0, mu = 0.01/USD: s1 with 2 chargers (2,500 USD) serves
    d1 + d2 = 40 kWh/day, worth 40 - 25 = 15; with 1 charger 20 - 15 = 5; s2 with 1 charger
    20 - 15 = 5, with 2: 25 - 25 = 0. L = 0.01 x 2,000 + 15 + 5 = 40. At lambda = (0, 10, 0): s1 keeps
    only d1, 30 - 25 = 5 (or 20 - 15 = 5), s2: 15 - 15 = 0, L = 10 + 20 + 5 + 0 = 35. The optimum
    (one charger, 20 kWh/day) is below both."""
    m = CapacitatedSiting.from_tables(*_hand_tables(), budget_usd=2000.0)
    dec = SiteDecomposition.from_siting(m)
    assert dec is not None
    eps = m.index["eps"]
    order = [list(m.demand.index).index(d) for d in ("d1", "d2", "d3")]
    lam = np.zeros(3)
    val, n_pair, _, spend = dec.value(lam, 0.01)
    assert val == pytest.approx(40.0 - eps * 2500.0 - eps * 1500.0, abs=1e-6)
    assert sorted(n_pair.tolist()) == [1, 2] and spend == pytest.approx(4000.0)
    lam[order] = [0.0, 10.0, 0.0]
    val, _, _, _ = dec.value(lam, 0.01)
    assert val == pytest.approx(35.0 - eps * 1500.0, abs=1e-6)
    # the exact optimum of the model is 20 kWh/day (one charger), below every Lagrangian value
    exact = solve(m.model, "highs", mip_gap=1e-9, time_limit_s=30)
    assert exact.objective == pytest.approx(20.0 - eps * 1500.0, abs=1e-6)
    best, _, _ = dec.bound(lower=exact.objective, iterations=200)
    assert exact.objective - 1e-9 <= best <= 35.0


def _random_tables(seed: int):
    """120 demand rows of two segments, 30 sites within 2.5 km, two charger types, one site with an
    existing charger."""
    return siting_tables(seed, 120, 30, existing=True)

@pytest.mark.parametrize("seed", [5, 6])
def test_decomposition_bound_holds_against_the_exact_optimum(seed):
    """The decomposition's value at any prices, and the bound of the decomposed solve, are at least
    the optimum of the full model found by HiGHS (gap 1e-9); the solve's plan is feasible and its
    gap is (bound - objective) / objective."""
    bands = [(60.0, 1500.0), (120.0, 4000.0), (math.inf, 9000.0)]
    m = CapacitatedSiting.from_tables(*_random_tables(seed), budget_usd=40_000, site_cost_bands=bands)
    exact = solve(m.model, "highs", mip_gap=1e-9, time_limit_s=120)
    assert exact.status == "optimal"
    opt = exact.objective
    dec = SiteDecomposition.from_siting(m)
    assert dec is not None
    rng = np.random.default_rng(seed)
    for _ in range(5):  # any prices give an upper bound
        lam = rng.uniform(0.0, 1.0, len(dec.d)) * dec.d
        val, _, _, _ = dec.value(lam, float(rng.uniform(0.0, 0.02)))
        assert val >= opt - 1e-6
    m.solve("highs", mip_gap=0.01, decompose=True, time_limit_s=60)
    res = m.result
    assert res.bound >= opt - 1e-6 * abs(opt)
    assert res.objective <= opt + 1e-6 * abs(opt)
    assert res.gap == pytest.approx((res.bound - res.objective) / res.objective, rel=1e-9)
    ax = m.model.a @ res.x
    assert (ax <= m.model.row_upper + 1e-6).all() and (ax >= m.model.row_lower - 1e-6).all()
    assert m.meta["capex_usd"] <= 40_000 + 1e-6


def test_plan_with_chargers_assigns_demand_optimally():
    """With one charger at each site (20 kWh/day each), the best assignment serves d1 up to 20 at s1
    and d3 (15) + 5 of d2 at s2: 40 kWh/day (budget 3,000 USD: both sites with one charger)."""
    m = CapacitatedSiting.from_tables(*_hand_tables(), budget_usd=3000.0)
    x = plan_with_chargers(m, np.array([1, 1]))
    assert x is not None
    served = float(m.model.c[m.index["cols"][2]:] @ x[m.index["cols"][2]:])
    assert served == pytest.approx(40.0, abs=1e-6)
    # two chargers at each site break the budget: no plan
    assert plan_with_chargers(m, np.array([2, 2])) is None


def test_decomposition_does_not_apply_to_rollouts():
    demand, cand, types, travel = _hand_tables()
    demand = pd.concat([demand.assign(year=2030), demand.rename(lambda s: s + "b").assign(year=2035)])
    travel = pd.concat([travel, travel.assign(demand_id=travel["demand_id"] + "b")])
    m = CapacitatedSiting.from_tables(demand, cand, types, travel, budget_usd=3000.0)
    assert SiteDecomposition.from_siting(m) is None


# --------------------------------------------------------------------------- a synthetic city


@pytest.fixture(scope="module")
def city_model(tmp_path_factory) -> CapacitatedSiting:
    """The siting model of a 10 km x 10 km synthetic city of 1.2 M persons with the demo bundle's
    budget of 1.5 M USD, which binds there (the plans spend all of it)."""
    return demo_siting_model(tmp_path_factory.mktemp("city10"), {
        'source = "synthetic"\n': 'source = "synthetic"\nwidth_m = 10_000\nheight_m = 10_000\npopulation = 1_200_000\n'})


@pytest.mark.scale
def test_decomposed_solve_on_a_synthetic_city_has_a_valid_bound_and_a_small_gap(city_model):
    """The decomposed solve of a city whose budget binds: its bound is valid for the full model (at
    least the objective of every other plan: the greedy plan and the LP-guided search's plan), the
    gap it reports is (bound - objective) / objective, and it is small: 1.3 % measured here with the
    local search in 45 s on a shared machine (the 1 % target is not reached on this city in that time;
    tests/benchmarks/bench_siting_scale.py measures the metro)."""
    m = city_model
    greedy = m.greedy_solution()
    assert greedy is not None
    m.solve("highs", mip_gap=0.01, time_limit_s=45, decompose=True)
    res = m.result
    assert any("site decomposition bound" in line for line in res.log)
    assert res.status in ("optimal", "feasible", "time_limit")
    assert res.gap == pytest.approx(relative_gap(res.objective, res.bound), rel=1e-12)
    assert res.gap == pytest.approx((res.bound - res.objective) / res.objective, rel=1e-9)
    assert res.gap <= 0.02
    assert m.meta["capex_usd"] <= 1_500_000 + 1e-6
    assert res.bound >= float(m.model.c @ greedy)
    bound, objective = res.bound, res.objective
    # an independent plan: the LP-guided search of the same model
    m.solve("highs", mip_gap=0.01, time_limit_s=20, decompose=False)
    assert bound >= m.result.objective - 1e-9 * abs(bound)
    assert objective >= (1 - 0.02) * m.result.objective
