"""Benchmark of the siting optimiser.

Run:  python tests/benchmarks/bench_siting.py                (about 20 minutes on 2 cores, spopt included)
      python tests/benchmarks/bench_siting.py --part mclp    (only (a); --no-spopt skips the peer)
      python tests/benchmarks/bench_siting.py --part capacitated
      python tests/benchmarks/bench_siting.py --part pmedian --pmed 1-10

(a) Maximal covering (MCLP): 2,000 candidates and 20,000 weighted demand points (weights 1-100)
drawn uniformly over a 10 km x 10 km square (seed 2024), p = 100, geometric coverage: a point is
covered by the candidates within a radius tuned (bisection) so that each point has on average
~19 candidates in reach (dense) or ~6 (sparse). For ours (:class:`MaximalCoverage`, method
"auto") and for spopt's ``MCLP`` (a benchmark-only dependency: ``pip install -e ".[bench]"``) on
the same instance, with the same 60 s limit, side by side in one run, it prints: model build
time (ours: coverage pairs from the coordinates with a KD-tree + the model; spopt: the dense
distance matrix + ``MCLP.from_cost_matrix``), solve time, objective (covered weight, recomputed
from the chosen sites for both), the best proven upper bound (ours; pulp does not report one)
and each objective as a percentage of the best proven bound. Ours gets 60 s minus its build
time. spopt runs in a child process: when its build exceeds ``--spopt-build-cap`` seconds it is
stopped and the cap is printed; its solve uses HiGHS through pulp's highspy interface
(``pulp.HiGHS``) with ``timeLimit=60``.

(b) The capacitated multi-year model on the demo city (rollout 2026, 2028, 2030 with equal
yearly budgets, grid stage off): build and solve time, status, gap, model size, and the greedy
plan next to the solver's; then the single-year plan.

(c) p-median on OR-Library instances (``../shared/data/orlib_pmed``): ours against the published
optimum.

Timings depend on the machine and its load: they were taken on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from charge_planner.siting import MaximalCoverage  # noqa: E402
from charge_planner.siting.heuristics import covered_weight  # noqa: E402

N_DEMAND, N_SITES, P, SIDE_M, SEED = 20_000, 2_000, 100, 10_000.0, 2024
LIMIT_S = 60.0


def data_root() -> Path:
    env = os.environ.get("CHARGE_PLANNER_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


# ------------------------------------------------------------------------------------------- (a)


def mclp_instance(target: float) -> dict[str, Any]:
    """Points, weights and the coverage radius that gives ``target`` candidates per point on average."""
    rng = np.random.default_rng(SEED)
    demand = rng.random((N_DEMAND, 2)) * SIDE_M
    sites = rng.random((N_SITES, 2)) * SIDE_M
    weight = rng.integers(1, 101, N_DEMAND).astype(float)
    tree = cKDTree(sites)
    lo, hi = 0.0, SIDE_M
    for _ in range(50):
        r = (lo + hi) / 2
        if tree.query_ball_point(demand, r, return_length=True).mean() < target:
            lo = r
        else:
            hi = r
    return {"demand": demand, "sites": sites, "weight": weight, "radius": (lo + hi) / 2}


def coverage_matrix(inst: dict[str, Any]) -> sp.csr_matrix:
    """Sparse demand x site coverage from the coordinates (KD-tree pairs within the radius)."""
    pairs = cKDTree(inst["demand"]).sparse_distance_matrix(cKDTree(inst["sites"]), inst["radius"], output_type="coo_matrix")
    return sp.csr_matrix((np.ones(pairs.nnz), (pairs.row, pairs.col)), shape=(N_DEMAND, N_SITES))


def run_ours(inst: dict[str, Any]) -> dict[str, Any]:
    t0 = time.perf_counter()
    cover = coverage_matrix(inst)
    model = MaximalCoverage.from_sparse(cover, inst["weight"], p=P)
    build = time.perf_counter() - t0
    model.solve(time_limit_s=LIMIT_S - build, mip_gap=0.0)
    s = model.summary()
    chosen = np.asarray(model.sites.index, dtype=np.int64)
    return {"build_s": build, "solve_s": s["solve_time_s"], "objective": covered_weight(cover, inst["weight"], chosen),
            "bound": s["best_bound"], "status": s["status"], "pairs": cover.nnz, "log": model.result.log}


def _spopt_child(inst: dict[str, Any], queue: Any) -> None:
    """Child process: build spopt's MCLP, report, solve with HiGHS (pulp), report the chosen sites."""
    import warnings

    warnings.simplefilter("ignore")  # spopt uses pulp calls that pulp 3.x deprecates
    import pulp
    from scipy.spatial.distance import cdist
    from spopt.locate import MCLP

    t0 = time.perf_counter()
    cost = cdist(inst["demand"], inst["sites"])
    model = MCLP.from_cost_matrix(cost, inst["weight"], service_radius=inst["radius"], p_facilities=P)
    queue.put(("built", time.perf_counter() - t0))
    t1 = time.perf_counter()
    try:
        model.solve(pulp.HiGHS(msg=False, timeLimit=LIMIT_S), results=False)
    except Exception as exc:  # report, do not hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    chosen = [j for j, v in enumerate(model.fac_vars) if (v.value() or 0.0) > 0.5]
    queue.put(("solved", time.perf_counter() - t1, chosen, pulp.LpStatus[model.problem.status]))


def run_spopt(inst: dict[str, Any], cover: sp.csr_matrix, build_cap_s: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_spopt_child, args=(inst, queue), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    out: dict[str, Any] = {"build_s": None, "solve_s": None, "objective": None, "note": ""}
    try:
        msg = queue.get(timeout=build_cap_s + 30)  # the child needs a few seconds to import
    except Exception:
        proc.terminate()
        out["note"] = f"build not finished after the {build_cap_s:.0f} s cap ({time.perf_counter() - t0:.0f} s)"
        return out
    out["build_s"] = msg[1]
    try:
        msg = queue.get(timeout=LIMIT_S * 3 + 120)
    except Exception:
        proc.terminate()
        out["note"] = "no answer from the solver"
        return out
    proc.join(timeout=10)
    if msg[0] == "error":
        out["note"] = msg[1]
        return out
    out["solve_s"] = msg[1]
    out["note"] = f"pulp status {msg[3]}"
    if msg[2]:
        out["objective"] = covered_weight(cover, inst["weight"], np.asarray(msg[2]))
    else:
        out["note"] += ", no solution"
    return out


def bench_mclp(args: argparse.Namespace) -> None:
    print(f"(a) MCLP: {N_SITES} candidates x {N_DEMAND} weighted demand points, p = {P}, limit {LIMIT_S:.0f} s")
    for label, target in (("dense", 19.0), ("sparse", 6.0)):
        inst = mclp_instance(target)
        cover = coverage_matrix(inst)
        per_point = cover.nnz / N_DEMAND
        print(f"\n  {label}: radius {inst['radius']:.1f} m, {per_point:.2f} candidates in reach per point, "
              f"{cover.nnz:,} pairs, total weight {inst['weight'].sum():,.0f}")
        ours = run_ours(inst)
        bound = ours["bound"]
        print(f"  {'':8s} {'build s':>9s} {'solve s':>9s} {'objective':>12s} {'proven bound':>13s} {'% of bound':>11s}  status")
        print(f"  {'ours':8s} {ours['build_s']:9.2f} {ours['solve_s']:9.2f} {ours['objective']:12,.0f} {bound:13,.0f} "
              f"{100 * ours['objective'] / bound:10.2f}%  {ours['status']} (build + solve "
              f"{ours['build_s'] + ours['solve_s']:.1f} s)")
        print("           " + "; ".join(ours["log"]))
        if args.no_spopt:
            continue
        try:
            import spopt  # noqa: F401
        except ImportError:
            print("  spopt    not installed (pip install -e \".[bench]\")")
            continue
        ref = run_spopt(inst, cover, args.spopt_build_cap)
        b = f"{ref['build_s']:9.2f}" if ref["build_s"] is not None else f"{'>' + format(args.spopt_build_cap, '.0f'):>9s}"
        s_ = f"{ref['solve_s']:9.2f}" if ref["solve_s"] is not None else f"{'-':>9s}"
        if ref["objective"] is not None:
            o = f"{ref['objective']:12,.0f}"
            pct = f"{100 * ref['objective'] / bound:10.2f}%"
        else:
            o, pct = f"{'-':>12s}", f"{'-':>11s}"
        print(f"  {'spopt':8s} {b} {s_} {o} {'n/a':>13s} {pct}  {ref['note']}")
        if ref["build_s"] is not None:
            print(f"  ratio    build spopt/ours {ref['build_s'] / ours['build_s']:.0f}x", end="")
            if ref["objective"]:
                print(f"; objective ours/spopt {ours['objective'] / ref['objective']:.3f}")
            else:
                print()


# ------------------------------------------------------------------------------------------- (b)


def bench_capacitated(args: argparse.Namespace) -> None:
    from charge_planner.city import load_city
    from charge_planner.pipeline import plan

    demo = ROOT / "sample_cities" / "demo_city"
    city = load_city(demo)
    cfg = city.config
    print("\n(b) capacitated multi-type siting on the demo city (grid stage off)")
    for label, update in (
        ("rollout 2026/2028/2030", {"rollout_years": [2026, 2028, 2030],
                                    "year_budgets_usd": [cfg.siting.budget_usd / 3] * 3}),
        ("single year 2030", {}),
    ):
        siting = cfg.siting.model_copy(update={**update, "time_limit_s": LIMIT_S})
        c2 = cfg.model_copy(update={"siting": siting, "grid": cfg.grid.model_copy(update={"source": "none"})})
        t0 = time.perf_counter()
        p = plan(dataclasses.replace(city, config=c2), progress=False)
        s = p.siting.summary()
        print(f"  {label}: {s['rows']:,} rows x {s['columns']:,} columns ({s['integer_columns']:,} integer), "
              f"build {s['build_time_s']:.2f} s, solve {s['solve_time_s']:.1f} s (limit {LIMIT_S:.0f} s, "
              f"mip_gap {siting.mip_gap}), status {s['status']}, objective {s['objective']:,.1f}, "
              f"bound {s['best_bound']:,.1f}, gap {100 * s['gap']:.2f}%  [{'; '.join(p.siting.result.log)}]; "
              f"whole plan {time.perf_counter() - t0:.0f} s")
        if p.siting.served_by_year is not None:
            for year, r in p.siting.served_by_year.iterrows():
                print(f"      {year}: served {r['served_kwh_day']:,.0f} of {r['demand_kwh_day']:,.0f} kWh/day "
                      f"({100 * r['served_share']:.1f}%), spent {r['capex_usd']:,.0f} of {r['budget_usd']:,.0f} USD, "
                      f"{int(r['sites_open'])} sites, {int(r['chargers'])} chargers")


# ------------------------------------------------------------------------------------------- (c)


def bench_pmedian(args: argparse.Namespace) -> None:
    from charge_planner.siting import PMedian
    from charge_planner.siting.orlib import read_pmed, read_pmed_optima

    folder = data_root() / "orlib_pmed"
    if not folder.exists():
        print(f"\n(c) p-median: {folder} not found; skipped")
        return
    lo, _, hi = args.pmed.partition("-")
    ks = range(int(lo), int(hi or lo) + 1)
    optima = read_pmed_optima(folder / "pmedopt.txt")
    print(f"\n(c) p-median, OR-Library instances (limit {LIMIT_S:.0f} s each)")
    print(f"  {'instance':9s} {'n':>5s} {'p':>4s} {'optimum':>9s} {'ours':>9s} {'bound':>9s} {'time s':>8s}  status")
    for k in ks:
        d, p = read_pmed(folder / f"pmed{k}.txt")
        t0 = time.perf_counter()
        m = PMedian.from_cost_matrix(d, p=p).solve(time_limit_s=LIMIT_S, mip_gap=0.0)
        s = m.summary()
        ok = "=" if abs(s["objective"] - optima[f"pmed{k}"]) < 0.5 else "!="
        print(f"  pmed{k:<5d} {d.shape[0]:5d} {p:4d} {optima[f'pmed{k}']:9.0f} {s['objective']:9.0f} "
              f"{s['best_bound']:9.0f} {time.perf_counter() - t0:8.1f}  {s['status']} ({ok} published optimum)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["all", "mclp", "capacitated", "pmedian"], default="all")
    ap.add_argument("--no-spopt", action="store_true", help="skip the spopt runs")
    ap.add_argument("--spopt-build-cap", type=float, default=900.0, help="stop spopt's model build after this [s]")
    ap.add_argument("--pmed", default="1-10", help="OR-Library instances, e.g. 1-10 or 7")
    args = ap.parse_args()
    print(f"siting benchmark; {os.cpu_count()} cores; timings on a shared machine depend on its load")
    if args.part in ("all", "mclp"):
        bench_mclp(args)
    if args.part in ("all", "capacitated"):
        bench_capacitated(args)
    if args.part in ("all", "pmedian"):
        bench_pmedian(args)


if __name__ == "__main__":
    main()
