"""Local search on the plans of the one-year capacitated siting model (charge_planner.siting.plan_search):
the maximum-flow value of a fixed plan against the full model solved by HiGHS with those chargers
fixed, the feasibility and quality of the searched plans against the greedy plan and exact optima."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from charge_planner.siting import CapacitatedSiting, solve
from charge_planner.siting.decompose import SiteDecomposition, plan_with_chargers
from charge_planner.siting.plan_search import PlanSearch, improve_starts
from tests.conftest import siting_tables

BANDS = [(60.0, 1500.0), (120.0, 4000.0), (math.inf, 9000.0)]


def _tables(seed: int, n_d: int = 90, n_s: int = 24):
    """Random demand rows of two segments, sites within 2.5 km, two charger types, one site with an
    existing charger."""
    return siting_tables(seed, n_d, n_s, existing=True)

def _served(m: CapacitatedSiting, x: np.ndarray) -> float:
    x0 = m.index["cols"][2]
    return float(m.model.c[x0:] @ x[x0:])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_flow_value_equals_the_model_with_its_chargers_fixed(seed):
    """For random charger counts (any allowed mix at each site), the maximum flow's served energy
    equals the served energy of the full model solved by HiGHS (gap 1e-9) with the charger columns
    fixed to those counts, up to the flow's rounding (half a unit per demand row and per column)."""
    m = CapacitatedSiting.from_tables(*_tables(seed), budget_usd=1e7, site_cost_bands=BANDS)
    dec = SiteDecomposition.from_siting(m)
    assert dec is not None
    ps = PlanSearch(dec)
    rng = np.random.default_rng(seed)
    n0, x0 = m.index["cols"][1:]
    for _ in range(3):
        # a random allowed mix at a random third of the sites (existing chargers kept)
        mix = ps.low_mix.copy()
        for j in rng.choice(ps.n_site, ps.n_site // 3, replace=False):
            mix[j] = rng.choice(np.flatnonzero(dec.mix_ok[j]))
        n = ps.site_counts(mix)
        value, row_served, pair_used = ps.served(n)
        fixed = dataclasses.replace(m.model, col_lower=m.model.col_lower.copy(), col_upper=m.model.col_upper.copy())
        fixed.col_lower[n0:x0] = n
        fixed.col_upper[n0:x0] = n
        exact = solve(fixed, "highs", mip_gap=1e-9, time_limit_s=60)
        assert exact.status == "optimal"
        tol = (ps.n_dem + ps.n_pair) * ps.unit
        assert value == pytest.approx(_served(m, exact.x), abs=tol)
        # the flow's parts: each row at most its energy, each column within its chargers' capacity
        assert (row_served <= dec.d + ps.unit).all()
        assert (pair_used <= dec.cap[dec.pair_type] * n + ps.unit).all()
        assert row_served.sum() == pytest.approx(value, abs=tol)
    assert ps.evaluations == 3


def test_a_moved_plan_carries_a_feasible_flow_of_its_chargers():
    """A move re-solves the flow near the changed site and keeps the rest: its column flows (written out only
    when asked for) must add up to its rows' and charger columns' flows, keep every row's energy and every
    column's capacity, and serve at most the plan's maximum flow (itself checked against HiGHS above); the
    maximum flow of arcs given out of order equals the one of the same arcs in order."""
    m = CapacitatedSiting.from_tables(*_tables(2), budget_usd=1e7, site_cost_bands=BANDS)
    dec = SiteDecomposition.from_siting(m)
    ps = PlanSearch(dec)
    rng = np.random.default_rng(7)
    st = ps._state(ps.low_mix.copy())
    for _ in range(12):
        j = int(rng.integers(ps.n_site))
        mix = st.mix.copy()
        mix[j] = rng.choice(np.flatnonzero(dec.mix_ok[j]))
        trial = ps._move(st, mix, [j])
        col = trial.col
        assert np.array_equal(np.bincount(ps.c_dem, weights=col, minlength=ps.n_dem).astype(np.int64), trial.row)
        assert np.array_equal(np.bincount(ps.c_pair, weights=col, minlength=ps.n_pair).astype(np.int64), trial.pair)
        assert int(col.sum()) == trial.total and (col >= 0).all()
        assert (trial.row <= ps.d_units).all() and (trial.pair <= ps._pcap(trial.n)).all()
        assert (col[trial.n[ps.c_pair] == 0] == 0).all()
        assert trial.total <= ps._exact(trial.n, mix).total
        st = trial if rng.random() < 0.7 else st
    # the same network with its arcs shuffled
    n = st.n
    cols = np.flatnonzero(n[ps.c_pair] > 0)
    shuffle = rng.permutation(len(cols))
    total, flow = ps._max_flow(ps.c_dem[cols], ps.c_pair[cols], ps.d_units, ps._pcap(n), cols)
    total_s, flow_s = ps._max_flow(ps.c_dem[cols][shuffle], ps.c_pair[cols][shuffle], ps.d_units, ps._pcap(n),
                                   cols[shuffle])
    assert total_s == total == int(flow.sum()) == int(flow_s.sum())
    # each flow returned in its own column order: a valid flow of the network
    assert (np.bincount(ps.c_dem[cols][shuffle], weights=flow_s, minlength=ps.n_dem) <= ps.d_units).all()
    assert (np.bincount(ps.c_pair[cols][shuffle], weights=flow_s, minlength=ps.n_pair) <= ps._pcap(n)).all()
    assert (flow_s >= 0).all()


def test_arc_flows_are_matched_when_the_flow_matrix_holds_its_arcs_in_another_order(monkeypatch):
    """The arcs' flows are read in place when scipy's flow matrix keeps each row's arcs in the order given; a
    flow matrix with every row's entries reversed (a valid CSR matrix, unsorted) must give the same column
    flows through the matching by (row, charger column)."""
    import types

    import scipy.sparse as sp
    from scipy.sparse.csgraph import maximum_flow as real_max_flow

    import charge_planner.siting.plan_search as plan_search

    m = CapacitatedSiting.from_tables(*_tables(5), budget_usd=1e7, site_cost_bands=BANDS)
    ps = PlanSearch(SiteDecomposition.from_siting(m))
    rng = np.random.default_rng(5)
    mix = ps.low_mix.copy()
    for j in rng.choice(ps.n_site, ps.n_site // 2, replace=False):
        mix[j] = rng.choice(np.flatnonzero(ps.dec.mix_ok[j]))
    n = ps.site_counts(mix)
    cols = np.flatnonzero(n[ps.c_pair] > 0)
    args = (ps.c_dem[cols], ps.c_pair[cols], ps.d_units, ps._pcap(n), cols)
    total, flow = ps._max_flow(*args)

    def reversed_rows(graph, source, sink):
        res = real_max_flow(graph, source, sink)
        f = res.flow
        order = np.concatenate([np.arange(f.indptr[r + 1] - 1, f.indptr[r] - 1, -1) for r in range(f.shape[0])])
        g = sp.csr_matrix((f.data[order], f.indices[order], f.indptr.copy()), shape=f.shape)
        return types.SimpleNamespace(flow=g, flow_value=res.flow_value)

    monkeypatch.setattr(plan_search, "maximum_flow", reversed_rows)
    total_r, flow_r = ps._max_flow(*args)
    assert total_r == total and total > 0
    assert np.array_equal(flow_r, flow)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_searched_plan_is_feasible_and_never_worse_than_the_greedy_plan(seed):
    """With a budget that binds, the plan the local search returns from the greedy plan's chargers
    keeps every row of the model (its best assignment is checked against the model's rows), stays
    within the budget, serves at least what the greedy plan serves, and not more than the exact
    optimum (HiGHS, gap 1e-9)."""
    m = CapacitatedSiting.from_tables(*_tables(seed), budget_usd=40_000, site_cost_bands=BANDS)
    greedy = m.greedy_solution()
    assert greedy is not None
    dec = SiteDecomposition.from_siting(m)
    ps = PlanSearch(dec)
    n0, x0 = m.index["cols"][1:]
    n, value = ps.improve(np.round(greedy[n0:x0]))
    x = plan_with_chargers(m, n)
    assert x is not None  # every row of the model holds
    assert ps.feasible(ps.mix_of(n))
    assert ps.spend(ps.mix_of(n)) <= 40_000 + m.index["existing"].sum() * 700.0 + 1e-6
    obj = float(m.model.c @ x)
    assert obj >= float(m.model.c @ greedy) - 1e-6
    assert _served(m, x) == pytest.approx(value, abs=(ps.n_dem + ps.n_pair) * ps.unit)
    exact = solve(m.model, "highs", mip_gap=1e-9, time_limit_s=120)
    assert exact.status == "optimal"
    assert obj <= exact.objective + 1e-6 * abs(exact.objective)


@pytest.mark.parametrize("seed", [4, 5, 8, 10])
def test_local_search_reaches_the_optimum_of_small_instances(seed):
    """On small random instances with a known optimum (HiGHS, gap 1e-9) where the greedy plan is
    7-21 % below it, the local search (openings ranked also by the decomposition's best prices) from
    the greedy plan and from the plan of the best prices, as the decomposed solve runs it: the
    better of the two ends at the optimum (measured: exactly; from the greedy plan alone 0-4.3 %
    below it on these seeds)."""
    m = CapacitatedSiting.from_tables(*_tables(seed), budget_usd=40_000, site_cost_bands=BANDS)
    opt = solve(m.model, "highs", mip_gap=1e-9, time_limit_s=120).objective
    greedy = m.greedy_solution()
    assert float(m.model.c @ greedy) < 0.93 * opt
    dec = SiteDecomposition.from_siting(m)
    _, lam, mu = dec.bound(lower=float(m.model.c @ greedy), iterations=300)
    n0, x0 = m.index["cols"][1:]
    objs = []
    for start in (np.round(greedy[n0:x0]), dec.mix_plan(lam, mu)):
        ps = PlanSearch(dec)
        ps.set_prices(lam)
        n, _ = ps.improve(start)
        objs.append(float(m.model.c @ plan_with_chargers(m, n)))
    assert max(objs) == pytest.approx(opt, rel=1e-4)
    assert min(objs) <= opt * (1 + 1e-6)


def test_decomposed_solve_returns_the_optimum_of_a_small_instance():
    """The decomposed solve of a small model with a known optimum (HiGHS, gap 1e-9) returns a plan at
    the optimum, found by its local search; its bound (the Lagrangian's, 4.6 % above the optimum
    here) is at least the optimum and the gap it reports is (bound - objective) / objective."""
    m = CapacitatedSiting.from_tables(*_tables(5), budget_usd=40_000, site_cost_bands=BANDS)
    opt = solve(m.model, "highs", mip_gap=1e-9, time_limit_s=120).objective
    m.solve("highs", mip_gap=0.01, decompose=True, time_limit_s=60)
    res = m.result
    assert any(line.startswith("local search plan") for line in res.log)
    assert any(line.startswith("decomposition average plan (") for line in res.log)
    assert res.objective == pytest.approx(opt, rel=1e-4)
    assert res.bound >= opt - 1e-6 * abs(opt)
    assert res.gap == pytest.approx((res.bound - res.objective) / res.objective, rel=1e-9)


def test_average_plan_rounds_the_averaged_mixes_within_the_budget():
    """The plan from averaged price steps, by hand: two steps open site 1 with (1 dc, 0 lev) and
    (1 dc, 2 lev), site 2 once with 2 lev, site 3 once with 1 lev. Site 1 is open in both steps (share 1),
    its mix the average (1 dc, 1 lev); sites 2 and 3 in one (share 1/2), their mixes the average over
    the steps that open them (2 lev, 1 lev). With money for sites 1 and 2 but not 3 (taken by share,
    then in order), the plan is exactly sites 1 and 2 plus the existing charger of site 0."""
    m = CapacitatedSiting.from_tables(*_tables(5), budget_usd=40_000, site_cost_bands=BANDS)
    dec = SiteDecomposition.from_siting(m)
    assert dec.average_plan() is None  # nothing averaged yet
    dc, lev = (list(m.charger_types.index).index(t) for t in ("dc", "lev"))

    def plan(counts: dict[int, tuple[int, int]]) -> np.ndarray:
        n = dec.n_lower.copy()
        for j, (n_dc, n_lev) in counts.items():
            n[dec.pair_of[j, dc]], n[dec.pair_of[j, lev]] = n_dc, n_lev
        return n

    def mix(n_dc: int, n_lev: int) -> int:
        want = np.zeros(dec.mixes.shape[1], dtype=np.int64)
        want[dc], want[lev] = n_dc, n_lev
        return int(np.flatnonzero((dec.mixes == want).all(axis=1))[0])

    dec._add_to_average(plan({1: (1, 0), 2: (0, 2)}))
    dec._add_to_average(plan({1: (1, 2), 3: (0, 1)}))
    base = float(dec.mix_cost[0, mix(0, 1)] + dec.mix_cost[1:, mix(0, 0)].sum())  # site 0 keeps its charger
    cost = {j: float(dec.mix_cost[j, mix(*c)] - dec.mix_cost[j, mix(0, 0)]) for j, c in ((1, (1, 1)), (2, (0, 2)), (3, (0, 1)))}
    dec.budget = base + cost[1] + cost[2] + 0.5 * cost[3]
    assert dec.average_plan().tolist() == plan({1: (1, 1), 2: (0, 2)}).tolist()
    dec.budget = base + cost[1] + cost[2] + cost[3]
    assert dec.average_plan().tolist() == plan({1: (1, 1), 2: (0, 2), 3: (0, 1)}).tolist()
    # price steps with averaging add every step
    # the last step alone: site 1 with (1 dc, 2 lev) and site 3
    assert dec.average_plan(last=1).tolist() == plan({1: (1, 2), 3: (0, 1)}).tolist()
    # price steps with averaging keep every step
    steps = dec.averaged_steps
    dec.bound(lower=0.0, iterations=7, patience=100, average=True)
    assert dec.averaged_steps == steps + 7


def test_two_starts_searched_side_by_side_give_the_plans_of_one_after_the_other():
    """The second start searched in a forked process ends at the very plan the same search reaches in
    this process (the search is deterministic), and each start's plan is the one a fresh search gives."""
    m = CapacitatedSiting.from_tables(*_tables(8), budget_usd=40_000, site_cost_bands=BANDS)
    dec = SiteDecomposition.from_siting(m)
    _, lam, mu = dec.bound(lower=0.0, iterations=200)
    n0, x0 = m.index["cols"][1:]
    starts = [np.round(m.greedy_solution()[n0:x0]), dec.mix_plan(lam, mu)]
    alone = []
    for start in starts:
        ps = PlanSearch(dec)
        ps.set_prices(lam)
        alone.append(ps.improve(start))
    for parallel in (True, False):
        ps = PlanSearch(dec)
        ps.set_prices(lam)
        found = improve_starts(ps, starts, deadline=math.inf, parallel=parallel)
        assert len(found) == 2
        for (n, value), (n_ref, value_ref) in zip(found, alone, strict=True):
            assert n.tolist() == n_ref.tolist() and value == value_ref


def test_a_first_start_at_its_target_ends_the_second_search(caplog):
    """When the first start's search reaches the target, its plan alone is returned, side by side (the
    forked second search is ended) as one after the other (the second does not run), and it is the plan a
    fresh search from that start with that target gives; a target the first start misses keeps both."""
    m = CapacitatedSiting.from_tables(*_tables(8), budget_usd=40_000, site_cost_bands=BANDS)
    dec = SiteDecomposition.from_siting(m)
    _, lam, mu = dec.bound(lower=0.0, iterations=200)
    n0, x0 = m.index["cols"][1:]
    starts = [dec.mix_plan(lam, mu), np.round(m.greedy_solution()[n0:x0])]

    def search() -> PlanSearch:
        ps = PlanSearch(dec)
        ps.set_prices(lam)
        return ps

    ref = search()
    n_ref, value_ref = ref.improve(starts[0])
    target = value_ref - dec.eps * ref.spend(ref.mix_of(n_ref))  # the first start's objective: reached
    alone = search().improve(starts[0], target=target)
    for parallel in (True, False):
        with caplog.at_level("INFO", logger="charge_planner.siting.plan_search"):
            caplog.clear()
            ps = search()
            found = improve_starts(ps, starts, deadline=math.inf, target=target, parallel=parallel)
        assert len(found) == 1 and ps.reached_target
        assert found[0][0].tolist() == alone[0].tolist() and found[0][1] == alone[1]
        assert ("was ended" in caplog.text) == parallel
    # out of reach: both starts are searched to their end
    found = improve_starts(search(), starts, deadline=math.inf, target=target * 2, parallel=True)
    assert len(found) == 2


def test_unfinished_relaxation_falls_back_to_the_decomposition(monkeypatch):
    """When the LP-guided step gives no plan and no bound (its relaxation did not finish within its
    work cap), the automatic choice solves by decomposition instead of the full search."""
    m = CapacitatedSiting.from_tables(*_tables(6), budget_usd=40_000, site_cost_bands=BANDS)
    monkeypatch.setattr(CapacitatedSiting, "_lp_guided", lambda self, *a, **k: (None, False, math.inf, False))
    m.solve("highs", mip_gap=0.01, time_limit_s=60)
    assert any("site decomposition bound" in line for line in m.result.log)
    assert m.result.bound < math.inf


def test_the_fallback_decomposition_starts_from_the_first_stage_prices(monkeypatch):
    """When the relaxation fails after the decomposition-first stage, the decomposition that takes over is the
    same one, started from the prices the first stage reached: only the very first round of price steps starts
    from zero prices, and the final bound is no higher than the first stage's."""
    m = CapacitatedSiting.from_tables(*_tables(6), budget_usd=40_000, site_cost_bands=BANDS)
    monkeypatch.setattr(CapacitatedSiting, "_lp_guided", lambda self, *a, **k: (None, False, math.inf, False))
    builds: list[SiteDecomposition] = []
    starts: list[np.ndarray | None] = []
    first_bounds: list[float] = []
    from_siting, bound, decomposed = SiteDecomposition.from_siting, SiteDecomposition.bound, CapacitatedSiting._decomposed

    def build(cls, siting):
        builds.append(from_siting.__func__(cls, siting))
        return builds[-1]

    def spy_bound(self, **kw):
        starts.append(kw.get("lam0"))
        return bound(self, **kw)

    def spy_decomposed(self, dec, *a, **k):
        out = decomposed(self, dec, *a, **k)
        first_bounds.append(out[1])
        return out

    monkeypatch.setattr(SiteDecomposition, "from_siting", classmethod(build))
    monkeypatch.setattr(SiteDecomposition, "bound", spy_bound)
    monkeypatch.setattr(CapacitatedSiting, "_decomposed", spy_decomposed)
    m.solve("highs", mip_gap=1e-6, time_limit_s=60)  # a gap the first stage cannot prove: the fallback runs
    assert len(first_bounds) == 2 and len(builds) == 1
    assert sum(s is None for s in starts) == 1
    assert first_bounds[1] <= first_bounds[0] + 1e-9 and m.result.bound <= first_bounds[0] + 1e-9


def test_search_stops_at_its_target_and_at_its_deadline():
    """A target already met ends the search after the first refill (no drop-and-refill trial); a
    deadline already past ends it at once and says so; a plan over the budget is refused."""
    m = CapacitatedSiting.from_tables(*_tables(4), budget_usd=40_000, site_cost_bands=BANDS)
    greedy = m.greedy_solution()
    n0, x0 = m.index["cols"][1:]
    start = np.round(greedy[n0:x0])
    dec = SiteDecomposition.from_siting(m)
    ps = PlanSearch(dec)
    n, _ = ps.improve(start, target=-math.inf)
    assert not ps.wall_clock_stop
    few = ps.evaluations
    ps2 = PlanSearch(dec)
    n2, _ = ps2.improve(start)
    assert ps2.evaluations > few  # the full search valued more plans than the refill alone
    ps3 = PlanSearch(dec)
    n3, _ = ps3.improve(start, deadline=0.0)
    assert ps3.wall_clock_stop
    assert float(m.model.c @ plan_with_chargers(m, n3)) >= float(m.model.c @ greedy) - 1e-6
    with pytest.raises(ValueError, match="budget"):
        PlanSearch(dec).improve(np.ones_like(start))  # a charger of every type at every site


def _ranking_by_hand(ps: PlanSearch, st, slack: float, ban) -> tuple[dict, dict]:
    """The refill candidates' ratios from their definition, site by site and mix by mix in plain loops:
    every allowed (site, mix) increase within the money by the unserved energy its new chargers reach
    beyond the used capacity, less eps x cost, per dollar ("direct"); and closed sites' mixes by their
    value per dollar at the prices ("lag")."""
    dec = ps.dec
    unmet = np.maximum(dec.d - st.row_served, 0.0)
    reach = np.zeros(ps.n_pair)
    for r, p in zip(ps.c_dem, ps.c_pair, strict=True):
        reach[p] += unmet[r]
    banned = dict(zip(*ban, strict=True)) if ban is not None else {}

    def value(p, k):
        return min(max(k * dec.cap[dec.pair_type[p]] - st.pair_used[p], 0.0), reach[p])

    direct, lag = {}, {}
    for j in range(ps.n_site):
        if ps.group_of[j] < 0:
            continue
        cur = dec.mixes[st.mix[j]]
        cur_cost = dec.mix_cost[j, st.mix[j]]
        opened = st.mix[j] != ps.low_mix[j]
        for m in dec.groups[ps.group_of[j]][1]:
            new = dec.mixes[m]
            dcost = dec.mix_cost[j, m] - cur_cost
            if (not dec.mix_ok[j, m] or m == st.mix[j] or dcost > slack + 1e-6
                    or (j in banned and banned[j][m]) or (opened and (new < cur).any())):
                continue
            est = -dec.eps * dcost
            for t in range(ps.n_type):
                p = dec.pair_of[j, t]
                if p >= 0:
                    est += value(p, new[t]) - value(p, cur[t])
            if est > 0:
                direct[j, m] = est / max(dcost, 1e-6)
            if not opened and np.isfinite(ps.lag_ratio[j, m]):
                lag[j, m] = ps.lag_ratio[j, m]
    return direct, lag


def test_refill_candidates_kept_between_steps_equal_a_ranking_by_hand(monkeypatch):
    """At every refill step of a whole search (refills, drop-and-refill trials with their banned mixes,
    restarts), the candidates ranked from what was kept since the last step are those of a ranking from
    the definition over every site and mix (plain loops): first the best four sites by served energy
    per dollar, each with its best mix, then the best closed sites at the prices (up to exact ties)."""
    m = CapacitatedSiting.from_tables(*_tables(10, n_d=70, n_s=18), budget_usd=40_000, site_cost_bands=BANDS)
    dec = SiteDecomposition.from_siting(m)
    _, lam, _ = dec.bound(lower=0.0, iterations=100)
    ps = PlanSearch(dec)
    ps.set_prices(lam)
    kept = PlanSearch._candidates
    seen = []

    def best_per_site(ratios: dict) -> dict[int, float]:
        best: dict[int, float] = {}
        for (j, _), r in ratios.items():
            best[j] = max(best.get(j, -np.inf), r)
        return best

    def checked(self, st, slack, ban):
        out = kept(self, st, slack, ban)
        direct, lag = _ranking_by_hand(self, st, slack, ban)
        best_direct, best_lag = best_per_site(direct), best_per_site(lag)
        top_direct = sorted(best_direct.values(), reverse=True)[:4]
        top_lag = sorted(best_lag.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
        n_direct = len(top_direct)
        # first the four best sites by served energy per dollar, each with its best mix
        assert [direct[c] for c in out[:n_direct]] == pytest.approx(top_direct, rel=1e-9)
        assert all(direct[j, mx] == pytest.approx(best_direct[j], rel=1e-9) for j, mx in out[:n_direct])
        # then the four best closed sites at the prices, each with its best mix, less those ranked above
        floor = top_lag[-1][1] if top_lag else np.inf
        for j, mx in out[n_direct:]:
            assert lag[j, mx] == pytest.approx(best_lag[j], rel=1e-9) and lag[j, mx] >= floor * (1 - 1e-9)
        best_mix = {j: min(mx for (s, mx), r in lag.items() if s == j and r == best_lag[j]) for j, _ in top_lag}
        assert len(out) - n_direct == len([j for j, _ in top_lag if (j, best_mix[j]) not in out[:n_direct]])
        seen.append(ban is not None)
        return out

    monkeypatch.setattr(PlanSearch, "_candidates", checked)
    n0, x0 = m.index["cols"][1:]
    ps.improve(np.round(m.greedy_solution()[n0:x0]), max_evaluations=400)
    assert len(seen) > 30 and any(seen) and not all(seen)
