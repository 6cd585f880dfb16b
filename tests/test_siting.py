from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from charge_planner.errors import InfeasibleError, SolverError
from charge_planner.siting import CapacitatedSiting, MatrixModel, solve
from charge_planner.siting.solve import require_solution


def _tables():
    demand = pd.DataFrame(
        {"segment": ["car", "car", "two_wheeler"], "energy_kwh_day": [100.0, 50.0, 30.0]},
        index=pd.Index(["d1", "d2", "d3"], name="demand_id"),
    )
    cand = pd.DataFrame({"max_chargers": [2, 2], "fixed_cost_usd": [1000.0, 1000.0]},
                        index=pd.Index(["s1", "s2"], name="site_id"))
    types = pd.DataFrame(
        {"power_kw": [60.0, 12.0], "capex_usd": [5000.0, 1000.0], "segments": [("car",), ("two_wheeler",)],
         "service_hours_day": [1.0, 5.0]},
        index=pd.Index(["dc", "lev"], name="charger_type"),
    )
    travel = pd.DataFrame({"demand_id": ["d1", "d2", "d3", "d3"], "site_id": ["s1", "s2", "s1", "s2"],
                           "travel_time_s": [10.0, 10.0, 20.0, 5.0]})
    return demand, cand, types, travel


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_known_answer(solver):
    m = CapacitatedSiting.from_tables(*_tables(), budget_usd=7000).solve(solver)
    # best: s1 with one dc (60 of d1) and one lev (30 of d3) = 90 kWh/day for exactly 7000 USD
    assert m.meta["served_kwh_day"] == pytest.approx(90.0)
    assert list(m.sites.index) == ["s1"]
    assert m.sites.loc["s1", "chargers_dc"] == 1 and m.sites.loc["s1", "chargers_lev"] == 1
    assert m.sites.loc["s1", "capex_usd"] == pytest.approx(7000.0)
    s = m.summary()
    assert s["status"] == "optimal" and s["gap"] <= 1e-6


def _brute_force(demand, cand, types, travel, budget):
    """Enumerate charger counts per (site, type); served energy by an LP per count vector."""
    best = 0.0
    choices = range(0, 3)
    slots = list(itertools.product(cand.index, types.index))
    for counts in itertools.product(choices, repeat=len(slots)):
        n = dict(zip(slots, counts, strict=True))
        if any(sum(n[(s, t)] for t in types.index) > cand.loc[s, "max_chargers"] for s in cand.index):
            continue
        opened = {s for s in cand.index if sum(n[(s, t)] for t in types.index) > 0}
        cost = sum(cand.loc[s, "fixed_cost_usd"] for s in opened) + sum(c * types.loc[t, "capex_usd"] for (s, t), c in n.items())
        if cost > budget:
            continue
        from scipy.optimize import linprog

        pairs = [(r.demand_id, r.site_id, t) for r in travel.itertuples() for t in types.index
                 if demand.loc[r.demand_id, "segment"] in types.loc[t, "segments"]]
        if not pairs:
            continue
        c = [-demand.loc[d, "energy_kwh_day"] for d, _, _ in pairs]
        a, b = [], []
        for d in demand.index:
            a.append([1.0 if p[0] == d else 0.0 for p in pairs])
            b.append(1.0)
        for s, t in slots:
            a.append([demand.loc[p[0], "energy_kwh_day"] if (p[1], p[2]) == (s, t) else 0.0 for p in pairs])
            b.append(n[(s, t)] * types.loc[t, "power_kw"] * types.loc[t, "service_hours_day"])
        res = linprog(c, A_ub=a, b_ub=b, bounds=(0, 1), method="highs")
        best = max(best, -res.fun)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_on_random_small_instances(seed):
    rng = np.random.default_rng(seed)
    demand = pd.DataFrame(
        {"segment": rng.choice(["car", "two_wheeler"], 5), "energy_kwh_day": rng.uniform(10, 120, 5).round(1)},
        index=pd.Index([f"d{i}" for i in range(5)], name="demand_id"),
    )
    cand = pd.DataFrame({"max_chargers": [2, 2], "fixed_cost_usd": rng.uniform(500, 2000, 2).round()},
                        index=pd.Index(["s1", "s2"], name="site_id"))
    types = pd.DataFrame(
        {"power_kw": [50.0, 10.0], "capex_usd": [4000.0, 800.0], "segments": [("car",), ("two_wheeler",)],
         "service_hours_day": [1.0, 4.0]},
        index=pd.Index(["dc", "lev"], name="charger_type"),
    )
    rows = [(d, s, float(rng.uniform(1, 100))) for d in demand.index for s in cand.index if rng.random() < 0.7]
    travel = pd.DataFrame(rows, columns=["demand_id", "site_id", "travel_time_s"])
    budget = 9000.0
    m = CapacitatedSiting.from_tables(demand, cand, types, travel, budget_usd=budget).solve("highs", mip_gap=0)
    assert m.meta["served_kwh_day"] == pytest.approx(_brute_force(demand, cand, types, travel, budget), abs=1e-4)
    assert m.meta["capex_usd"] <= budget + 1e-6


def test_existing_chargers_are_kept_and_free():
    demand, cand, types, travel = _tables()
    cand = cand.assign(existing_chargers=[{"dc": 1}, {}], fixed_cost_usd=[0.0, 1000.0])
    m = CapacitatedSiting.from_tables(demand, cand, types, travel, budget_usd=1000).solve("highs")
    assert m.sites.loc["s1", "chargers_dc"] >= 1
    assert m.sites.loc["s1", "capex_usd"] <= 1000.0


def test_allowed_types_respected():
    demand, cand, types, travel = _tables()
    cand = cand.assign(allowed_types=[("lev",), ("dc", "lev")])
    m = CapacitatedSiting.from_tables(demand, cand, types, travel, budget_usd=100_000).solve("highs")
    assert m.sites.loc["s1", "chargers_dc"] == 0 if "s1" in m.sites.index else True
    assert (m.assignments.query("site_id == 's1'")["charger_type"] != "dc").all()


def test_time_limited_run_reports_real_status_and_gap():
    rng = np.random.default_rng(3)
    n, m = 300, 120
    w = rng.uniform(1, 10, n)
    cover = sp.random(n, m, density=0.05, random_state=3, format="csr")
    cover.data[:] = 1.0
    # max coverage with p facilities: x_j binary, z_i <= sum_j a_ij x_j
    a = sp.bmat([[sp.eye(n), -cover], [None, sp.csr_matrix(np.ones((1, m)))]]).tocsc()
    model = MatrixModel(
        c=np.concatenate([w, np.zeros(m)]), a=a,
        row_lower=np.full(n + 1, -np.inf), row_upper=np.concatenate([np.zeros(n), [10.0]]),
        col_lower=np.zeros(n + m), col_upper=np.ones(n + m),
        integer=np.concatenate([np.zeros(n, bool), np.ones(m, bool)]),
    )
    res = solve(model, "highs", time_limit_s=0.01, mip_gap=0.0)
    assert res.status in ("time_limit", "optimal", "no_solution")
    if res.status == "time_limit":
        assert res.bound >= res.objective - 1e-6
        assert res.gap == pytest.approx(abs(res.bound - res.objective) / abs(res.objective))
    full = solve(model, "highs", time_limit_s=60, mip_gap=0.0)
    assert full.status == "optimal" and full.gap <= 1e-6
    if res.has_solution:
        assert res.objective <= full.objective + 1e-6


def test_infeasible_model_is_a_clear_error():
    model = MatrixModel(c=np.ones(1), a=sp.csc_matrix(np.ones((1, 1))), row_lower=np.array([2.0]),
                        row_upper=np.array([np.inf]), col_lower=np.zeros(1), col_upper=np.ones(1),
                        integer=np.ones(1, bool))
    res = solve(model, "highs")
    assert res.status == "infeasible" and not res.has_solution and math.isinf(res.gap)
    with pytest.raises(InfeasibleError, match="infeasible"):
        require_solution(res, what="test")


def test_unknown_solver():
    model = MatrixModel(c=np.ones(1), a=sp.csc_matrix((0, 1)), row_lower=np.zeros(0), row_upper=np.zeros(0),
                        col_lower=np.zeros(1), col_upper=np.ones(1), integer=np.zeros(1, bool))
    with pytest.raises(SolverError, match="unknown solver"):
        solve(model, "gurobi")  # type: ignore[arg-type]
