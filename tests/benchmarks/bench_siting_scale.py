"""Benchmark of the siting model on a metro-sized synthetic city with a binding budget.

Run:  python tests/benchmarks/bench_siting_scale.py [--size-km 30] [--population 7500000]
      [--budget-usd 5e6] [--seed 42] [--time-limit-s 600] [--mip-gap 0.01] [--decompose auto|on|off]
      [--reference-s SECONDS]

With ``--reference-s``, HiGHS alone then solves the whole model (from the greedy plan, gap 1e-6) for at
most that long: a second opinion on a city small enough for it, e.g. ``--size-km 6 --population 300000
--budget-usd 200000 --decompose on --reference-s 300``. When it proves its optimum, the printout says how
far the pipeline's plan is below it and how far the pipeline's bound lies above it (the part of the
reported gap that no better plan can close).

A synthetic city bundle (``[data] source = "synthetic"`` with ``width_m = height_m = size``,
``population``) is written to a temporary folder and run through the demand, candidate and
travel stages; the siting model is built with the budget given (binding on a metro: the
default 5 M USD buys about a tenth of what the reachable demand could use) and solved as the
pipeline solves it. Printed: the instance (demand rows, candidates, travel pairs), the model
(rows x columns, integer columns), the time of the greedy plan (the first incumbent), the final
status, objective, proven bound and gap, the total siting time, the peak memory of the process,
and whether the target (a proven gap <= 1 % within 10 minutes) is met.
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def city_bundle(folder: Path, size_km: float, population: int, budget_usd: float, seed: int = 42) -> Path:
    """A synthetic city bundle of ``size_km`` x ``size_km`` from the demo city's city.toml (the
    generator's ``seed``: another seed, another city of the same size)."""
    toml = (ROOT / "sample_cities" / "demo_city" / "city.toml").read_text(encoding="utf-8")
    size_m = int(size_km * 1000)
    toml = toml.replace('source = "synthetic"\nseed = 42\n',
                        f'source = "synthetic"\nseed = {seed}\nwidth_m = {size_m}\nheight_m = {size_m}\n'
                        f'population = {population}\n')
    toml = toml.replace("budget_usd = 1_500_000", f"budget_usd = {budget_usd:.0f}")
    if f"width_m = {size_m}" not in toml or f"budget_usd = {budget_usd:.0f}" not in toml:
        raise SystemExit("the demo city's city.toml changed: update city_bundle in bench_siting_scale.py")
    (folder / "city.toml").write_text(toml, encoding="utf-8")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-km", type=float, default=30.0, help="edge of the square city [km]")
    ap.add_argument("--population", type=int, default=7_500_000, help="persons")
    ap.add_argument("--budget-usd", type=float, default=5e6, help="siting budget [USD]")
    ap.add_argument("--seed", type=int, default=42, help="seed of the synthetic city (another seed, another city)")
    ap.add_argument("--time-limit-s", type=float, default=600.0, help="siting time limit [s]")
    ap.add_argument("--mip-gap", type=float, default=0.01, help="target relative gap")
    ap.add_argument("--decompose", choices=["auto", "on", "off"], default="auto",
                    help="decomposition by site: by model size (auto), always (on), never (off)")
    ap.add_argument("--reference-s", type=float, default=0.0,
                    help="then solve the whole model with HiGHS alone for at most this long [s] (0: not)")
    ap.add_argument("--verbose", action="store_true", help="log the solver steps")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")

    import charge_planner as cp
    from charge_planner.pipeline.stages import siting_inputs
    from charge_planner.siting import CapacitatedSiting
    from charge_planner.siting.inputs import siting_options

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        city = cp.load_city(city_bundle(Path(tmp), args.size_km, args.population, args.budget_usd, args.seed))
        cfg = city.config
        tables = siting_inputs(city)
        demand_rows, usable, _, travel = tables
        print(f"city {args.size_km:g} km x {args.size_km:g} km, {args.population:,} persons: "
              f"{len(demand_rows):,} demand rows, {len(usable):,} candidates, {len(travel):,} travel pairs "
              f"(stages {time.perf_counter() - t0:.1f} s)")

        t1 = time.perf_counter()
        model = CapacitatedSiting.from_tables(*tables, **siting_options(cfg))
        rows, cols = model.model.shape
        print(f"model: {rows:,} rows x {cols:,} columns ({int(model.model.integer.sum()):,} integer), "
              f"built in {model.build_time_s:.1f} s")
        t2 = time.perf_counter()
        greedy = model.greedy_solution()
        first = time.perf_counter() - t1
        print(f"first incumbent (greedy plan): {float(model.model.c @ greedy) if greedy is not None else float('nan'):.6g}"
              f" after {first:.1f} s (model build included; greedy {time.perf_counter() - t2:.1f} s)")
        decompose = {"auto": None, "on": True, "off": False}[args.decompose]
        model.solve(cfg.siting.solver, time_limit_s=args.time_limit_s, mip_gap=args.mip_gap, decompose=decompose)
        total = time.perf_counter() - t1
        res = model.result
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"status {res.status}, objective {res.objective:.6g} kWh/day, bound {res.bound:.6g}, "
              f"gap {res.gap:.2%}")
        print("\n".join("  " + line for line in res.log))
        print(f"siting time {total:.1f} s (build + solve), peak memory {peak_gb:.2f} GB")
        met = res.gap <= 0.01 + 1e-12 and total <= 600.0
        print(f"target (proven gap <= 1 % within 10 minutes): {'met' if met else 'NOT met'}")
        if args.reference_s > 0:
            from charge_planner.siting.solve import solve

            t3 = time.perf_counter()
            ref = solve(model.model, "highs", time_limit_s=args.reference_s, mip_gap=1e-6, warm_start=greedy)
            print(f"HiGHS alone: {ref.status}, objective {ref.objective:.6g}, bound {ref.bound:.6g} "
                  f"in {time.perf_counter() - t3:.0f} s")
            if ref.status == "optimal":
                print(f"  the pipeline's plan is {max(ref.objective - res.objective, 0.0) / ref.objective:.3%} below the proven "
                      f"optimum; its bound lies {(res.bound - ref.objective) / ref.objective:.3%} above it")


if __name__ == "__main__":
    main()
