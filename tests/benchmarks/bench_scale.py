"""Scaling benchmark: the whole pipeline on synthetic cities of 10, 20 and 30 km, stage by stage.

Run:  python tests/benchmarks/bench_scale.py                  (10, 20 and 30 km; about 3 minutes on 2 cores)
      python tests/benchmarks/bench_scale.py --sizes 10 20 30 60  (and the 60 km stretch; about 9 minutes)
      python tests/benchmarks/bench_scale.py --sizes 10 20     (a subset)
      python tests/benchmarks/bench_scale.py --smoke           (5 km only, a minute: checks the script)

Each city is a synthetic city made from a city.toml (``[data] source = "synthetic"``, ``width_m`` =
``height_m`` = the size, ``population`` at the 30 km metro's density: 7.5 M persons on 900 km2, so
8,333 persons per km2), the demo city's other settings and a budget that grows with the area. Each
size runs in its own process, so that its peak memory is its own: ``charge_planner.plan`` (stages
timed by the plan itself: city, demand, candidates, travel, siting, grid; then the summary, which
includes how much EV the grid can host) and ``Plan.save`` (every output but the PDF). A thread samples
the process's resident memory every 50 ms; each stage's peak is the largest sample within its time.

Printed: per size the road edges, persons, demand rows, candidates and grid buses; per stage its
seconds and peak resident memory; the growth exponent of each stage's time and of the peak memory in
road edges (least squares of log time on log edges over the sizes run: 1 is linear, 2 quadratic;
with three sizes or more also between the two largest, where stages of a fraction of a second at
10 km no longer weigh); and the targets: the 30 km metro, whole pipeline including every output,
under 15 minutes and under 8 GB peak; the 60 km metro (stretch) under 30 minutes.

Timings depend on the machine and its load: run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DENSITY_PER_KM2 = 7_500_000 / 900.0
STAGES = ("city", "demand", "candidates", "travel", "siting", "grid", "summary", "outputs")
TARGET_S, TARGET_GB = 15 * 60.0, 8.0
STRETCH_S = 30 * 60.0

CHILD = textwrap.dedent('''
    import json, os, sys, threading, time
    sys.path.insert(0, {root!r})
    import charge_planner as cp
    samples = []
    stop = threading.Event()
    page = os.sysconf("SC_PAGE_SIZE")
    def sample():
        with open("/proc/self/statm") as fh:
            while not stop.is_set():
                fh.seek(0)
                samples.append((time.perf_counter(), int(fh.read().split()[1]) * page))
                time.sleep(0.05)
    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    plan = cp.plan({bundle!r}, progress=False)
    t_plan = time.perf_counter()
    plan.save({out!r}, pdf=False)
    t_end = time.perf_counter()
    stop.set()
    timings = plan.summary["timings_s"]
    bounds, t = [], t0
    for name in ("city", "demand", "candidates", "travel", "siting", "grid"):
        bounds.append((name, t, t + timings[name]))
        t += timings[name]
    bounds.append(("summary", t, t_plan))
    bounds.append(("outputs", t_plan, t_end))
    rows = {{}}
    for name, a, b in bounds:
        # a stage shorter than the sampling interval: the last sample before its end
        peak = max((m for s, m in samples if a <= s <= b), default=max((m for s, m in samples if s <= b), default=0))
        rows[name] = {{"s": b - a, "gb": peak / 1e9}}
    g = plan.summary.get("grid", {{}})
    size = sum(p.stat().st_size for p in __import__("pathlib").Path({out!r}).iterdir())
    print(json.dumps({{"stages": rows, "total_s": t_end - t0, "peak_gb": max(m for _, m in samples) / 1e9,
                       "edges": plan.city.roads.number_of_edges(),
                       "persons": float(plan.city.population["population"].sum()),
                       "demand_rows": len(plan.demand), "candidates": len(plan.candidates),
                       "buses": g.get("buses"), "map_mb": __import__("os").path.getsize({out!r} + "/map.html") / 1e6,
                       "outputs_mb": size / 1e6,
                       "gap": plan.summary["solver"].get("gap"), "status": plan.summary["solver"]["status"]}}))
''')


def bundle(folder: Path, km: float) -> Path:
    """A city bundle of a synthetic city ``km`` x ``km`` at the metro's density."""
    demo = (ROOT / "sample_cities" / "demo_city" / "city.toml").read_text(encoding="utf-8")
    persons = DENSITY_PER_KM2 * km * km
    budget = 1_500_000 * km * km / 63.0  # the demo's budget per km2 (9 x 7 km)
    text = (demo.replace('name = "Demo City (synthetic)"', f'name = "Synthetic {km:g} km city"')
            .replace("seed = 42", f"seed = 42\nwidth_m = {km * 1000:.0f}\nheight_m = {km * 1000:.0f}\n"
                                  f"population = {persons:.0f}")
            .replace("budget_usd = 1_500_000", f"budget_usd = {budget:.0f}")
            .replace('folder = "out/demo_city"', f'folder = "{folder / "out"}"'))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "city.toml").write_text(text, encoding="utf-8")
    return folder


def run_size(km: float, tmp: Path) -> dict:
    folder = bundle(tmp / f"city_{km:g}km", km)
    code = CHILD.format(root=str(ROOT), bundle=str(folder), out=str(folder / "out"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the {km:g} km city failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return math.nan
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx if sxx > 0 else math.nan


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[10.0, 20.0, 30.0], help="city sides [km]")
    ap.add_argument("--smoke", action="store_true", help="a 5 km city only")
    args = ap.parse_args()
    sizes = [5.0] if args.smoke else sorted(args.sizes)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        for km in sizes:
            results[km] = r = run_size(km, Path(tmp))
            print(f"{km:g} km: {r['edges']:,} road edges, {r['persons']:,.0f} persons, {r['demand_rows']:,} demand rows, "
                  f"{r['candidates']:,} candidates, {r['buses'] or 0:,} grid buses; {r['total_s']:.0f} s, peak "
                  f"{r['peak_gb']:.2f} GB; map {r['map_mb']:.1f} MB, outputs {r['outputs_mb']:.0f} MB; siting "
                  f"{r['status']}, gap {r['gap']}", flush=True)
    print()
    head = (f"{'stage':<11}" + "".join(f"{f'{km:g} km s':>10}{'GB':>6}" for km in sizes) + f"{'exponent':>10}"
            + (f"{'largest 2':>11}" if len(sizes) > 2 else ""))
    print(head)
    edges = [results[km]["edges"] for km in sizes]

    def growth(values: list[float]) -> str:
        """The exponent over every size, and between the two largest when there are three or more."""
        return f"{exponent(edges, values):>10.2f}" + (f"{exponent(edges[-2:], values[-2:]):>11.2f}" if len(sizes) > 2 else "")

    for st in STAGES:
        line = f"{st:<11}"
        for km in sizes:
            s = results[km]["stages"][st]
            line += f"{s['s']:>10.1f}{s['gb']:>6.2f}"
        print(line + growth([results[km]["stages"][st]["s"] for km in sizes]))
    total = f"{'total':<11}" + "".join(f"{results[km]['total_s']:>10.1f}{results[km]['peak_gb']:>6.2f}" for km in sizes)
    print(total + growth([results[km]["total_s"] for km in sizes]))
    print(f"growth of the peak memory in road edges: exponent "
          f"{exponent(edges, [results[km]['peak_gb'] for km in sizes]):.2f}")
    for km, limit_s, limit_gb, what in ((30.0, TARGET_S, TARGET_GB, "target (30 km metro"),
                                        (60.0, STRETCH_S, None, "stretch (60 km metro")):
        if km not in results:
            continue
        r = results[km]
        ok = r["total_s"] < limit_s and (limit_gb is None or r["peak_gb"] < limit_gb)
        bound = f"< {limit_s / 60:.0f} min" + (f" and < {limit_gb:g} GB" if limit_gb else "")
        print(f"{what}, every output, {bound}): {r['total_s'] / 60:.1f} min, {r['peak_gb']:.2f} GB -> "
              f"{'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
