"""Coverage models (LSCP, MCLP, p-median) and their heuristics: known answers, brute force,
OR-Library optima, and clear infeasibility messages."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.siting import heuristics as heur
from charge_planner.siting.coverage import MaximalCoverage, SetCovering, _merge_identical_rows
from charge_planner.siting.orlib import read_pmed, read_pmed_optima
from charge_planner.siting.pmedian import PMedian
from tests.conftest import shared


def _geometric(n: int, m: int, radius: float, seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    dem, sites = rng.random((n, 2)), rng.random((m, 2))
    d = np.hypot(dem[:, None, 0] - sites[None, :, 0], dem[:, None, 1] - sites[None, :, 1])
    w = rng.integers(1, 20, n).astype(float)
    return sp.csr_matrix((d <= radius).astype(float)), w, d


def _brute_mclp(a: sp.csr_matrix, w: np.ndarray, p: int, forbidden=None, fixed=()) -> float:
    m = a.shape[1]
    cols = [j for j in range(m) if forbidden is None or not forbidden[j]]
    best = 0.0
    for combo in itertools.combinations(cols, p):
        if not set(fixed) <= set(combo):
            continue
        best = max(best, heur.covered_weight(a, w, np.array(combo)))
    return best


# ---------------------------------------------------------------------------- MCLP


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("method", ["auto", "mip", "heuristic"])
def test_mclp_matches_brute_force(seed, method):
    a, w, _ = _geometric(40, 12, 0.25, seed)
    opt = _brute_mclp(a, w, 3)
    m = MaximalCoverage.from_sparse(a, w, p=3).solve(time_limit_s=20, mip_gap=0, method=method)
    s = m.summary()
    assert s["best_bound"] >= opt - 1e-6  # the bound is never below the optimum
    assert s["objective"] <= opt + 1e-6
    if method != "heuristic":
        assert s["objective"] == pytest.approx(opt)
        assert s["status"] == "optimal" and s["gap"] <= 1e-9
    assert len(m.sites) <= 3
    assert m.meta["covered_weight"] == pytest.approx(s["objective"])


def test_mclp_fixed_and_forbidden_columns():
    a, w, _ = _geometric(40, 10, 0.3, 5)
    forbidden = np.zeros(10, dtype=bool)
    forbidden[[0, 1]] = True
    opt = _brute_mclp(a, w, 3, forbidden=forbidden, fixed=(7,))
    m = MaximalCoverage.from_sparse(a, w, p=3, fixed=np.array([7]), forbidden=forbidden).solve(mip_gap=0)
    assert m.summary()["objective"] == pytest.approx(opt)
    assert 7 in m.sites.index and not ({0, 1} & set(m.sites.index))
    assert bool(m.sites.loc[7, "existing"])


def test_mclp_from_tables_keys_results_by_ids():
    demand = pd.DataFrame({"energy_kwh_day": [10.0, 20.0, 5.0, 40.0]},
                          index=pd.Index(["a", "b", "c", "d"], name="demand_id"))
    cand = pd.DataFrame({"excluded_reason": ["", "", "flood zone"]}, index=pd.Index(["s1", "s2", "s3"], name="site_id"))
    travel = pd.DataFrame({
        "demand_id": ["a", "b", "b", "c", "d", "d"],
        "site_id": ["s1", "s1", "s2", "s2", "s3", "s2"],
        "travel_time_s": [60.0, 300.0, 100.0, 50.0, 10.0, 900.0],
    })
    m = MaximalCoverage.from_tables(demand, cand, travel, p=1).solve(mip_gap=0)
    # s2 reaches b, c and d (65); s3 (d, 40) is excluded
    assert list(m.sites.index) == ["s2"]
    assert m.summary()["objective"] == pytest.approx(65.0)
    asg = m.assignments.set_index("demand_id")
    assert set(asg.index) == {"b", "c", "d"} and asg.loc["d", "travel_time_s"] == pytest.approx(900.0)
    # a 10-minute radius drops d's 15-minute pair: s1 (a, b = 30) now wins
    m = MaximalCoverage.from_tables(demand, cand, travel, p=1, max_travel_time_s=600).solve(mip_gap=0)
    assert list(m.sites.index) == ["s1"] and m.summary()["objective"] == pytest.approx(30.0)


def test_mclp_p_below_existing_sites_is_explained():
    a, w, _ = _geometric(10, 5, 0.3, 0)
    with pytest.raises(InfeasibleError, match="existing sites"):
        MaximalCoverage.from_sparse(a, w, p=1, fixed=np.array([0, 1])).solve()


def test_mclp_larger_instance_reports_a_valid_gap():
    a, w, _ = _geometric(3000, 300, 0.08, 11)
    m = MaximalCoverage.from_sparse(a, w, p=15).solve(time_limit_s=8, mip_gap=1e-4)
    s = m.summary()
    # the reported bound is a real bound: an exact MILP run cannot beat it
    exact = MaximalCoverage.from_sparse(a, w, p=15).solve(time_limit_s=60, mip_gap=0, method="mip").summary()
    assert s["best_bound"] >= exact["objective"] - 1e-6
    assert s["objective"] <= exact["best_bound"] + 1e-6
    assert s["gap"] == pytest.approx((s["best_bound"] - s["objective"]) / s["objective"], abs=1e-12)
    assert s["objective"] >= 0.99 * exact["objective"]


# ---------------------------------------------------------------------------- heuristics


def test_local_search_ends_at_a_swap_optimum():
    a, w, _ = _geometric(200, 25, 0.2, 4)
    start = heur.greedy_max_cover(a, w, 4)
    opened, stats = heur.local_search_max_cover(a, w, start, perturb=False)
    base = heur.covered_weight(a, w, opened)
    assert base == pytest.approx(stats.objective)
    for r in opened:
        for k in set(range(25)) - set(opened):
            trial = np.array([j for j in opened if j != r] + [k])
            assert heur.covered_weight(a, w, trial) <= base + 1e-9


def test_lagrangian_value_is_a_bound_and_lp_duals_make_it_tight():
    a, w, _ = _geometric(60, 12, 0.25, 7)
    opt = _brute_mclp(a, w, 3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        lam = rng.random(60) * w
        assert heur.max_cover_lagrangian_value(a, w, 3, lam) >= opt - 1e-9
    bound, _ = heur.max_cover_lagrangian_bound(a, w, 3, lower_bound=opt, time_limit_s=2)
    assert bound >= opt - 1e-9
    from charge_planner.siting.solve import MatrixModel, solve

    n, m = a.shape
    lp = solve(MatrixModel(c=np.concatenate([w, np.zeros(m)]), a=sp.bmat([[sp.eye(n), -a], [None, sp.csr_matrix(np.ones((1, m)))]]).tocsc(),
                           row_lower=np.full(n + 1, -np.inf), row_upper=np.concatenate([np.zeros(n), [3.0]]),
                           col_lower=np.zeros(n + m), col_upper=np.ones(n + m), integer=np.zeros(n + m, bool)),
               "highs", relax=True, lp_method="simplex")
    assert lp.row_dual is not None
    assert heur.max_cover_lagrangian_value(a, w, 3, np.abs(lp.row_dual[:n])) == pytest.approx(lp.objective, rel=1e-7)


def test_annealing_is_reproducible_with_a_move_budget():
    a, w, _ = _geometric(500, 60, 0.12, 9)
    start = heur.greedy_max_cover(a, w, 6)
    r1 = heur.anneal_max_cover(a, w, start, moves=5000, time_limit_s=60, seed=3)
    r2 = heur.anneal_max_cover(a, w, start, moves=5000, time_limit_s=60, seed=3)
    assert np.array_equal(r1[0], r2[0]) and r1[1] == r2[1]
    assert r1[1] >= heur.covered_weight(a, w, start) and r1[1] == heur.covered_weight(a, w, r1[0])


def test_merge_identical_rows():
    a = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=float))
    merged, w, inv = _merge_identical_rows(a, np.array([1.0, 2.0, 3.0, 4.0]))
    assert merged.shape[0] == 3 and w.sum() == 10.0
    assert inv[0] == inv[2] and len({inv[0], inv[1], inv[3]}) == 3
    assert w[inv[0]] == 4.0


# ---------------------------------------------------------------------------- LSCP


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lscp_matches_brute_force(seed):
    a, w, _ = _geometric(30, 10, 0.35, seed)
    reach = np.asarray(a.sum(axis=1)).ravel() > 0
    a = a[reach]
    best = None
    for k in range(1, 11):
        for combo in itertools.combinations(range(10), k):
            if (np.asarray(a[:, list(combo)].sum(axis=1)).ravel() > 0).all():
                best = k
                break
        if best:
            break
    m = SetCovering.from_sparse(a).solve(mip_gap=0)
    assert m.summary()["objective"] == best and m.summary()["status"] == "optimal"
    assert m.meta["covered_share"] == pytest.approx(1.0)


def test_lscp_partial_target_and_costs():
    cover = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=float))
    w = np.array([10.0, 10.0, 10.0, 70.0])
    # 70 % of the weight: site 2 alone (cost 5) beats sites 0+1 (cost 2 + 2 = 4 but only 30 %)
    m = SetCovering.from_sparse(cover, w, cost=np.array([2.0, 2.0, 5.0]), coverage_target=0.7).solve(mip_gap=0)
    assert list(m.sites.index) == [2] and m.summary()["objective"] == pytest.approx(5.0)
    m = SetCovering.from_sparse(cover, w, cost=np.array([2.0, 2.0, 5.0]), coverage_target=0.8).solve(mip_gap=0)
    assert m.summary()["objective"] == pytest.approx(7.0)


def test_unreachable_coverage_target_names_the_segment():
    demand = pd.DataFrame(
        {"energy_kwh_day": [50.0, 30.0, 12.0, 8.0], "segment": ["car", "two_wheeler", "two_wheeler", "two_wheeler"],
         "cutoff_s": [900.0, 600.0, 600.0, 600.0]},
        index=pd.Index(["c1", "t1", "t2", "t3"], name="demand_id"),
    )
    cand = pd.DataFrame(index=pd.Index(["s1", "s2"], name="site_id"))
    travel = pd.DataFrame({"demand_id": ["c1", "t1"], "site_id": ["s1", "s2"], "travel_time_s": [100.0, 200.0]})
    with pytest.raises(InfeasibleError) as err:
        SetCovering.from_tables(demand, cand, travel, coverage_target=0.95).solve()
    msg = str(err.value)
    assert msg.startswith("coverage target 95% unreachable: 40% of two-wheeler demand has no candidate within 10 min")
    assert "\n" not in msg
    # 80 % is reachable: the target is met with both sites
    m = SetCovering.from_tables(demand, cand, travel, coverage_target=0.8).solve()
    assert set(m.sites.index) == {"s1", "s2"}


def test_bad_inputs_are_clear_errors():
    demand = pd.DataFrame({"kwh": [1.0]}, index=pd.Index(["a"], name="demand_id"))
    cand = pd.DataFrame(index=pd.Index(["s"], name="site_id"))
    travel = pd.DataFrame({"demand_id": ["a"], "site_id": ["s"], "travel_time_s": [1.0]})
    with pytest.raises(DataError, match="energy_kwh_day"):
        MaximalCoverage.from_tables(demand, cand, travel, p=1)
    with pytest.raises(DataError, match="coverage_target"):
        SetCovering.from_tables(demand, cand, travel, weight="kwh", coverage_target=1.5)
    with pytest.raises(DataError, match="weight"):
        MaximalCoverage.from_sparse(sp.csr_matrix(np.ones((2, 2))), np.array([1.0, -1.0]), p=1)


# ---------------------------------------------------------------------------- p-median


@pytest.mark.parametrize("seed", [0, 1])
def test_pmedian_matches_brute_force(seed):
    _, w, d = _geometric(25, 8, 1.0, seed)
    best = min(float(w @ d[:, list(c)].min(axis=1)) for c in itertools.combinations(range(8), 3))
    for method in ("auto", "heuristic"):
        m = PMedian.from_cost_matrix(d, w, p=3).solve(mip_gap=0, method=method)
        s = m.summary()
        assert s["best_bound"] <= best + 1e-6
        if method == "auto":
            assert s["objective"] == pytest.approx(best) and s["status"] == "optimal"
        else:
            assert s["objective"] >= best - 1e-6
    asg = m.assignments
    assert len(asg) == 25 and set(asg["site_id"]) <= set(m.sites.index)


def test_pmedian_from_tables_respects_reach():
    demand = pd.DataFrame({"energy_kwh_day": [1.0, 1.0, 1.0]}, index=pd.Index(["a", "b", "c"], name="demand_id"))
    cand = pd.DataFrame(index=pd.Index(["s1", "s2", "s3"], name="site_id"))
    travel = pd.DataFrame({"demand_id": ["a", "a", "b", "b", "c"], "site_id": ["s1", "s2", "s2", "s3", "s3"],
                           "travel_time_s": [1.0, 5.0, 1.0, 4.0, 2.0]})
    m = PMedian.from_tables(demand, cand, travel, p=2).solve(mip_gap=0)
    # c can only reach s3; then a and b share s1/s2: s1 + s3 costs 1 + 4 + 2 = 7, s2 + s3 costs 5 + 1 + 2 = 8
    assert set(m.sites.index) == {"s1", "s3"} and m.summary()["objective"] == pytest.approx(7.0)
    with pytest.raises(InfeasibleError, match="no candidate"):
        PMedian.from_tables(demand.assign(segment="car"), cand, travel[travel["demand_id"] != "c"], p=2).solve()


def test_orlib_reader_keeps_the_last_duplicate_edge(tmp_path):
    f = tmp_path / "pmedx.txt"
    f.write_text(" 3 4 1\n 1 2 10\n 2 3 1\n 1 2 2\n 1 3 50\n")
    d, p = read_pmed(f)
    assert p == 1 and d[0, 1] == 2.0 and d[0, 2] == 3.0
    bad = tmp_path / "bad.txt"
    bad.write_text("3 4 1\n1 2 10\n")
    with pytest.raises(DataError, match="truncated"):
        read_pmed(bad)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_orlib_pmedian_optima(k):
    folder = shared("orlib_pmed")
    optima = read_pmed_optima(folder / "pmedopt.txt")
    d, p = read_pmed(folder / f"pmed{k}.txt")
    m = PMedian.from_cost_matrix(d, p=p).solve(time_limit_s=60, mip_gap=0)
    s = m.summary()
    assert s["status"] == "optimal"
    assert s["objective"] == pytest.approx(optima[f"pmed{k}"])
    assert len(m.sites) == p


# ---------------------------------------------------------------------------- against spopt


# spopt builds its models with pulp calls that pulp 3.x deprecates
@pytest.mark.filterwarnings("ignore::DeprecationWarning:spopt.*")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp.*")
def test_mclp_and_lscp_agree_with_spopt():
    spopt_locate = pytest.importorskip("spopt.locate")
    import pulp

    _, w, d = _geometric(60, 12, 1.0, 21)
    radius = 0.3
    a = sp.csr_matrix((d <= radius).astype(float))
    ours = MaximalCoverage.from_sparse(a, w, p=3).solve(mip_gap=0).summary()["objective"]
    ref = spopt_locate.MCLP.from_cost_matrix(d, w.astype(int), service_radius=radius, p_facilities=3)
    ref = ref.solve(pulp.PULP_CBC_CMD(msg=False))
    chosen = [j for j in range(12) if ref.fac_vars[j].value() > 0.5]
    assert ours == pytest.approx(heur.covered_weight(a, w, np.array(chosen)))
    reach = np.asarray(a.sum(axis=1)).ravel() > 0
    lscp = spopt_locate.LSCP.from_cost_matrix(d[reach], service_radius=radius).solve(pulp.PULP_CBC_CMD(msg=False))
    n_ref = sum(v.value() > 0.5 for v in lscp.fac_vars)
    assert SetCovering.from_sparse(a[reach]).solve(mip_gap=0).summary()["objective"] == n_ref


def test_summary_before_solve_is_an_error():
    a, w, _ = _geometric(5, 3, 0.5, 0)
    with pytest.raises(InfeasibleError, match="not been solved"):
        MaximalCoverage.from_sparse(a, w, p=1).summary()
    assert math.isfinite(MaximalCoverage.from_sparse(a, w, p=1).solve().summary()["objective"])


# ---------------------------------------------------------------------------- machine speed


@pytest.mark.parametrize("method", ["auto", "heuristic"])
def test_mclp_same_result_on_a_slow_machine(method, request):
    """Swap rounds, annealing moves and subgradient iterations cap the heuristics, not the clock:
    a machine 1e5 times slower gives the same sites, objective and bound."""
    a, w, _ = _geometric(3000, 300, 0.08, 11)
    normal = MaximalCoverage.from_sparse(a, w, p=15).solve(time_limit_s=1e7, mip_gap=1e-4, method=method)
    request.getfixturevalue("slow_machine")
    slow = MaximalCoverage.from_sparse(a, w, p=15).solve(time_limit_s=1e7, mip_gap=1e-4, method=method)
    assert list(slow.sites.index) == list(normal.sites.index)
    s, n = slow.summary(), normal.summary()
    assert (s["objective"], s["best_bound"], s["status"]) == (n["objective"], n["best_bound"], n["status"])
    assert not s["wall_clock_stop"] and not n["wall_clock_stop"]


def test_pmedian_same_result_on_a_slow_machine(request):
    _, w, d = _geometric(400, 60, 1.0, 5)
    normal = PMedian.from_cost_matrix(d, w, p=6).solve(time_limit_s=1e7, mip_gap=0)
    request.getfixturevalue("slow_machine")
    slow = PMedian.from_cost_matrix(d, w, p=6).solve(time_limit_s=1e7, mip_gap=0)
    assert list(slow.sites.index) == list(normal.sites.index)
    assert slow.summary()["objective"] == normal.summary()["objective"]
    assert not slow.summary()["wall_clock_stop"]


def test_safety_stop_is_reported_by_the_coverage_models():
    a, w, d = _geometric(3000, 300, 0.08, 11)
    s = MaximalCoverage.from_sparse(a, w, p=15).solve(time_limit_s=1e-6, mip_gap=0).summary()
    assert s["wall_clock_stop"] is True and s["status"] in ("time_limit", "optimal")
    assert s["best_bound"] >= s["objective"]


def test_lagrangian_bound_of_an_early_stopped_relaxation_holds_on_orlib():
    """p-median relaxations stopped after a few interior-point iterations: the bound from their
    duals is never above the OR-Library optimum (a minimisation), and the one from the finished
    relaxation is close to it."""
    from charge_planner.siting.solve import lagrangian_bound, solve

    folder = shared("orlib_pmed")
    optima = read_pmed_optima(folder / "pmedopt.txt")
    for k in (1, 2):
        d, p = read_pmed(folder / f"pmed{k}.txt")
        pm = PMedian.from_cost_matrix(d, p=p)
        model = pm._matrix_model(pm.cost, pm.inputs.weight, p)[0]
        opt = optima[f"pmed{k}"]
        for iterations in (2, 5, 10, None):
            lp = solve(model, "highs", relax=True, lp_method="ipm", lp_iteration_limit=iterations)
            if lp.row_dual is None:
                continue
            assert lagrangian_bound(model, lp.row_dual) <= opt + 1e-6
        full = solve(model, "highs", relax=True, lp_method="ipm")
        assert lagrangian_bound(model, full.row_dual) >= 0.98 * opt
        # the relaxation's reported bound is a lower bound too (its primal objective need not be)
        assert full.bound <= opt and full.gap == pytest.approx(
            abs(full.objective - full.bound) / abs(full.objective))


def test_names_of_the_split_modules_import_from_their_old_places():
    """The heuristics, coverage and capacitated modules were split by concern; every name other
    modules, tests, notebooks and benchmarks import from the old places is the moved object."""
    import charge_planner.siting as siting
    from charge_planner.siting import (
        bounds,
        capacitated,
        capacitated_build,
        capacitated_results,
        connection,
        coverage,
        greedy,
        location,
        search_tools,
        set_covering,
    )

    moved = {
        heur: {"SafetyStop": search_tools, "covered_weight": search_tools, "band_table": connection,
               "connection_band": connection, "connection_cost": connection, "greedy_max_cover": greedy,
               "greedy_set_cover": greedy, "greedy_pmedian": greedy, "max_cover_lagrangian_value": bounds,
               "max_cover_lagrangian_bound": bounds, "pmedian_lagrangian_bound": bounds, "pmedian_fixing": bounds},
        coverage: {"SetCovering": set_covering, "MAX_NODES": location, "Method": location,
                   "unreachable_message": location},
        siting: {"SetCovering": set_covering, "MaximalCoverage": coverage, "CapacitatedSiting": capacitated},
    }
    for old, names in moved.items():
        for name, new in names.items():
            assert getattr(old, name) is getattr(new, name), f"{old.__name__}.{name}"
    for name in ("local_search_max_cover", "anneal_max_cover", "interchange_pmedian", "LocalSearchStats"):
        assert callable(getattr(heur, name))
    assert callable(coverage._merge_identical_rows)
    assert capacitated.CapacitatedSiting.from_tables.__func__ is capacitated_build.CapacitatedBuild.from_tables.__func__
    assert capacitated.CapacitatedSiting.summary is capacitated_results.CapacitatedResults.summary
    assert all(hasattr(siting, n) for n in siting.__all__)
