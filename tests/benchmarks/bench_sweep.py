"""Benchmark of scenario sweeps on Dask: throughput of 1 and 2 workers on the same sweep.

Run:  python tests/benchmarks/bench_sweep.py             (24 scenarios of the demo city; about 8 minutes on 2 cores)
      python tests/benchmarks/bench_sweep.py --smoke     (4 quick scenarios without the grid check)

The sweep: the demo city with every charging strategy (4) x at most 6, 8 or 10 chargers per site x
no PV or 30 kWp per site, each a full plan with its grid check and every output but the PDFs. The
same sweep runs twice, side by side in one run: on a local cluster of one worker, then of two (one
thread each). Printed: wall-clock time of each (cluster start included), scenarios per minute, the
speed-up of two workers over one (target: near 2x on 2 cores), the mean time per scenario in the
workers, and a check that both runs wrote the same figures for every scenario (exit status 1 if not).

Timings depend on the machine and its load: run it alone on the machine.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from charge_planner.scenarios import run_scenarios  # noqa: E402

FULL = """[axes]
"demand.charging_strategy" = ["unmanaged", "managed_offpeak", "solar_following", "capped"]
"siting.max_chargers_per_site" = [6, 8, 10]
"grid.pv_kwp_per_site" = [0.0, 30.0]
"""
SMOKE = """[axes]
"grid.source" = ["none"]
"siting.max_chargers_per_site" = [5, 6, 7, 8]
"""
FIGURES = ("sites_open", "installed_kw", "served_share", "capex_usd", "peak_ev_kw", "violations", "vm_min_pu",
           "renewable_share", "co2_t_year")


def _run(sweep: Path, out: Path, workers: int) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    table = run_scenarios(sweep, out, city=ROOT / "sample_cities" / "demo_city", workers=workers, pdf=False,
                          progress=False)
    return time.perf_counter() - t0, table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="4 quick scenarios without the grid check")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        sweep = Path(tmp) / "sweep.toml"
        sweep.write_text(SMOKE if args.smoke else FULL, encoding="utf-8")
        results = {n: _run(sweep, Path(tmp) / f"out_{n}", n) for n in (1, 2)}
    n_scen = len(results[1][1])
    print(f"sweep: {n_scen} scenarios of the demo city ({'no grid check' if args.smoke else 'each with its grid check'})")
    print(f"{'workers':>7} {'wall s':>8} {'scen./min':>9} {'mean s/scenario':>15} {'ok':>4}")
    for n, (wall, table) in results.items():
        print(f"{n:>7} {wall:>8.1f} {60 * len(table) / wall:>9.2f} {table['seconds'].mean():>15.1f} "
              f"{int((table['status'] == 'ok').sum()):>4}")
    speedup = results[1][0] / results[2][0]
    print(f"speed-up of 2 workers over 1: {speedup:.2f}x (target: near 2x on 2 cores)")
    a = results[1][1].set_index("scenario")[list(FIGURES)]
    b = results[2][1].set_index("scenario").loc[a.index, list(FIGURES)]
    same = ((a - b).abs() <= 1e-9 * a.abs().clip(lower=1.0)) | (a.isna() & b.isna())
    ok = bool(same.all().all()) and all((t["status"] == "ok").all() for _, t in results.values())
    print("same figures for every scenario with 1 and 2 workers:", "yes" if ok else "NO")
    if not ok:
        print(a.compare(b))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
