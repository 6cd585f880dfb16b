"""Benchmark of the grid stage: batched time-series load flow and hosting capacity.

Run:  python tests/benchmarks/bench_grid.py                   (about 10-20 minutes on 2 idle cores;
                                                            the 10,458-bus MV/LV grid takes most of it)
      python tests/benchmarks/bench_grid.py --quick           (pandapower on 1,000 / 200 evenly spread
                                                            steps, extrapolated; about 6-10 minutes)
      python tests/benchmarks/bench_grid.py --skip-mvlv       (without the MV/LV grid; about 3 minutes)
      python tests/benchmarks/bench_grid.py --smoke           (SimBench MV grid, 12 steps, no hosting
                                                            capacity: checks every peer agrees, not a timing)
      python tests/benchmarks/bench_grid.py --full-bisection  (bisection on every bus, +3 min)

The peers come with ``pip install -e ".[bench]"`` (numba, lightsim2grid); a peer that is not
installed, or that cannot model a grid, is skipped and the output says why.

1. A year of hourly load flows (8,760 steps) on pandapower's ``mv_oberrhein`` (two external
   grids, 147 loads, 153 PV generators), on the SimBench grid ``1-MV-urban--0-sw`` (its own
   yearly profiles, 15-min values averaged to hours) and on the MV/LV grid
   ``1-MVLV-urban-all-0-sw``, with the same load and generation profiles and the same
   tolerance (1e-8 MVA) on every side, in the same run:

   * ours: ``BatchPowerFlow.from_net`` + ``run`` (preparation included in the time);
   * pandapower ``run_timeseries`` with ``ConstControl`` profiles and numba
     (``numba=True, lightsim2grid=False``; the output prints the flags pandapower actually used,
     read back from ``net._options``), its own recycling of the admittance matrix;
   * pandapower ``run_timeseries`` with ``lightsim2grid=True`` (each step's Newton-Raphson in
     lightsim2grid's C++; pandapower refuses it for grids with more than one external grid);
   * lightsim2grid's own batched C++ time series (``TimeSeriesCPP``: ``modify_load_p``,
     ``modify_load_q``, ``modify_sgen_p``, one ``compute`` for all steps, KLU Newton-Raphson)
     on an ``LSGrid`` from ``init_from_pandapower``. That converter ignores switches and does
     not know pandapower's ``tap_changer_type``, so the grid is first rewritten into the
     equivalent switch-free form (buses joined by closed bus-bus switches fused, a line behind an
     open switch kept energised from its other end through an auxiliary bus, as pandapower
     models it; the tap of a transformer without ``tap_changer_type`` set to neutral, as
     pandapower ignores it); the conversion, untimed, is checked against pandapower's load
     flow of the base case (the output prints the difference) and the peer is skipped when it
     does not reproduce it (1e-6 pu). The first step starts from pandapower's base-case
     solution, each later one from the step before; batches of 1,000 steps (bounds the memory of
     the complex voltages), one thread (``TimeSeriesCPP`` runs its steps in sequence);
   * lightsim2grid's ``InjectionSweepCPP`` on the same ``LSGrid`` with one thread per core: the
     same injections, each step independently from the base case, split over the threads.

   Before timing, each pandapower variant runs 3 steps and each lightsim2grid variant 24 steps
   untimed (numba's compilation, first-call set-up). Where a pandapower run would take too long
   it runs a subset of evenly spread steps and its time is extrapolated to the year; the output
   says so. One table per grid: wall-clock and CPU time (CPU above wall means several threads),
   time per year, how many times longer the peer takes than ours, and each peer's largest
   voltage-magnitude difference from ours over the steps both ran.
2. Hosting capacity of every bus of ``mv_oberrhein`` at its peak hour: ours against
   ``charge_planner.grid.hosting.hosting_capacity_bisection`` (bisection with a full
   ``pandapower.runpp`` per trial, as that function runs it: without numba, so this reference
   is a correctness check more than a peer at full strength; on a sample of buses unless
   ``--full-bisection``; the output says so), largest relative difference.

Timings depend on the machine and its load; only a run on an otherwise idle machine gives
figures to quote.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

TOLERANCE_MVA = 1e-8
# a peer whose voltages differ from ours by more than this disagrees
AGREE_PU = 1e-5
_PROFILE_TABLES = {"load_p_mw": ("load", "p_mw"), "load_q_mvar": ("load", "q_mvar"), "sgen_p_mw": ("sgen", "p_mw")}


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# --- cases ---------------------------------------------------------------------------------------

def oberrhein_case(n_steps: int):
    import pandapower.networks as pn

    from charge_planner.grid.energy import pv_profile
    from charge_planner.grid.model import _quiet_pandapower
    from charge_planner.grid.timeseries import base_load_profile, time_index

    with _quiet_pandapower():
        net = pn.mv_oberrhein()
    idx = time_index("year", year=2030)[:n_steps]
    rng = np.random.default_rng(7)
    shape = base_load_profile(idx, residential_share=0.6)
    noise = 1.0 + 0.1 * rng.standard_normal((n_steps, len(net.load)))
    load_p = pd.DataFrame(np.outer(shape, net.load["p_mw"]) * noise, columns=net.load.index)
    load_q = pd.DataFrame(np.outer(shape, net.load["q_mvar"]) * noise, columns=net.load.index)
    # PV at Oberrhein (48.5 N, 7.9 E); 1,000 kWh/kWp/yr is an assumption for the benchmark only
    pv = pv_profile(idx, latitude=48.5, longitude=7.9, annual_yield_kwh_per_kwp=1000.0)
    sgen_p = pd.DataFrame(np.outer(pv.kw_per_kwp, net.sgen["p_mw"]), columns=net.sgen.index)
    return net, {"load_p_mw": load_p, "load_q_mvar": load_q, "sgen_p_mw": sgen_p}


def simbench_case(code: str, n_steps: int):
    import simbench

    net = simbench.get_simbench_net(code)
    prof = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    out = {}
    for key, (table, col) in _PROFILE_TABLES.items():
        df = prof[(table, col)]
        hourly = df.groupby(np.arange(len(df)) // 4).mean().iloc[:n_steps]
        out[key] = hourly.reset_index(drop=True)
    return net, out


# --- pandapower's time series (numba, or lightsim2grid per step) ---------------------------------

def run_pandapower_ts(net, profiles: dict[str, pd.DataFrame], steps: np.ndarray,
                      **runpp_options: Any) -> tuple[np.ndarray, float, dict[str, Any]]:
    """``run_timeseries`` on the given steps: voltages, seconds, and the options pandapower used."""
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    work = copy.deepcopy(net)
    for key, df in profiles.items():
        table, col = _PROFILE_TABLES[key]
        sub = df.iloc[steps].reset_index(drop=True)
        ConstControl(work, element=table, variable=col, element_index=sub.columns.to_numpy(),
                     data_source=DFData(sub), profile_name=sub.columns.to_numpy())
    ow = OutputWriter(work, time_steps=range(len(steps)), output_path=None, log_variables=[("res_bus", "vm_pu")])
    t0 = time.perf_counter()
    run_timeseries(work, time_steps=range(len(steps)), verbose=False, tolerance_mva=TOLERANCE_MVA, **runpp_options)
    seconds = time.perf_counter() - t0
    vm = ow.output["res_bus.vm_pu"].to_numpy(float)
    used = {k: work._options.get(k) for k in ("numba", "lightsim2grid")}
    return vm, seconds, used


# --- lightsim2grid's own batched time series -----------------------------------------------------

def switch_free(net) -> tuple[Any, np.ndarray]:
    """The net without switches, electrically the same as pandapower models it.

    Returns the rewritten net (buses numbered 0..n-1) and, for every bus of ``net`` in order, the
    bus of the rewritten net that carries its voltage.
    """
    import pandapower as pp
    import pandapower.toolbox as tb

    work = copy.deepcopy(net)
    sw = work.switch
    # a line behind an open switch stays energised from its other end (its charging counts)
    for _, s in sw[(sw["et"] == "l") & ~sw["closed"].astype(bool)].iterrows():
        line = int(s["element"])
        aux = pp.create_bus(work, vn_kv=float(work.bus.at[s["bus"], "vn_kv"]), name=f"open end of line {line}")
        side = "from_bus" if work.line.at[line, "from_bus"] == s["bus"] else "to_bus"
        work.line.at[line, side] = aux
    open_t = sw[(sw["et"] == "t") & ~sw["closed"].astype(bool)]
    work.trafo.loc[open_t["element"].to_numpy(), "in_service"] = False
    # buses joined by closed bus-bus switches become one
    parent = {b: b for b in work.bus.index}

    def root(b: Any) -> Any:
        while parent[b] != b:
            b = parent[b]
        return b

    bb = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
    for a, b in zip(bb["bus"], bb["element"], strict=True):
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    keep = {b: root(b) for b in net.bus.index}
    for b in list(work.bus.index):
        if root(b) != b:
            tb.fuse_buses(work, root(b), [b])
    work.switch = work.switch.iloc[0:0]
    # pandapower ignores the tap of a transformer without a tap changer type; the converter does not
    for table in ("trafo",):
        if "tap_changer_type" in work[table]:
            none = work[table]["tap_changer_type"].isna()
            work[table].loc[none, "tap_pos"] = work[table].loc[none, "tap_neutral"]
    # the converter needs numeric limits (SimBench stores some as objects)
    for table in ("load", "sgen", "gen", "ext_grid", "storage"):
        for col in ("min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar"):
            if table in work and col in work[table]:
                work[table][col] = pd.to_numeric(work[table][col], errors="coerce").astype(float)
    old_to_new = tb.create_continuous_bus_index(work)
    bus_of = np.array([old_to_new[keep[b]] for b in net.bus.index], dtype=int)
    return work, bus_of


@dataclass
class LightsimSeries:
    """lightsim2grid's batched time series on a switch-free copy of a pandapower net."""

    grid: Any
    v_init: np.ndarray
    bus_of: np.ndarray
    load_ids: pd.Index
    sgen_ids: pd.Index
    tol_pu: float
    base_diff_pu: float
    build_s: float
    notes: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, net) -> LightsimSeries:
        import pandapower as pp
        from lightsim2grid.network import init_from_pandapower

        t0 = time.perf_counter()
        work, bus_of = switch_free(net)
        pp.runpp(work, numba=_installed("numba"), lightsim2grid=False, tolerance_mva=TOLERANCE_MVA)
        ref = work.res_bus["vm_pu"].to_numpy(float)
        v_init = (work.res_bus["vm_pu"] * np.exp(1j * np.deg2rad(work.res_bus["va_degree"]))).to_numpy(complex)
        tol_pu = TOLERANCE_MVA / float(work.sn_mva)
        best: tuple[float, Any] = (np.inf, None)
        # the converter's two transformer models; keep the one that reproduces pandapower
        for flavour in ("pandapower_v2", "pandapower_v3"):
            grid = init_from_pandapower(work, pp_orig_file=flavour)
            v = grid.ac_pf(v_init.copy(), 30, tol_pu)
            diff = float(np.nanmax(np.abs(np.abs(v) - ref))) if len(v) else np.inf
            if diff < best[0]:
                best = (diff, grid)
        return cls(best[1], v_init, bus_of, work.load.index, work.sgen.index, tol_pu, best[0],
                   time.perf_counter() - t0)

    def run(self, profiles: dict[str, pd.DataFrame], n: int, *, threads: int = 0,
            chunk: int = 1000) -> tuple[np.ndarray, float, float, int]:
        """|V| per step and original bus, wall and CPU seconds of the computations, converged steps.

        ``threads=0``: ``TimeSeriesCPP`` (one thread; each step starts from the previous one);
        otherwise ``InjectionSweepCPP`` with that many threads (every step from the base case).
        Steps go in batches of ``chunk`` (bounds the memory of the complex voltages).
        """
        from lightsim2grid.injectionSweep import InjectionSweepCPP
        from lightsim2grid.timeSerie import TimeSeriesCPP

        cols = {"load_p_mw": self.load_ids, "load_q_mvar": self.load_ids, "sgen_p_mw": self.sgen_ids}
        setter = {"load_p_mw": "modify_load_p", "load_q_mvar": "modify_load_q", "sgen_p_mw": "modify_sgen_p"}
        vm = np.empty((n, len(self.bus_of)))
        wall = cpu = 0.0
        converged = 0
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            batch = TimeSeriesCPP(self.grid) if threads == 0 else InjectionSweepCPP(self.grid)
            if threads:
                batch.nb_thread = threads
            for key, ids in cols.items():
                if key in profiles:
                    getattr(batch, setter[key])(np.ascontiguousarray(profiles[key][ids].to_numpy(float)[start:stop]))
            t0, c0 = time.perf_counter(), time.process_time()
            batch.compute(self.v_init.copy(), 30, self.tol_pu)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            ok = np.asarray(batch.converged_mask(), dtype=bool)
            vm[start:stop] = np.abs(batch.get_voltages())[:, self.bus_of]
            vm[start:stop][~ok] = np.nan
            converged += int(ok.sum())
        return vm, wall, cpu, converged


# --- the comparison ------------------------------------------------------------------------------

def _max_dv(ours: np.ndarray, peer: np.ndarray) -> float:
    both = ~np.isnan(ours) & ~np.isnan(peer)
    return float(np.max(np.abs(ours[both] - peer[both]))) if both.any() else float("nan")


def bench_time_series(name: str, net, profiles: dict[str, pd.DataFrame], pp_steps: int, *,
                      warm_up: bool = True) -> list[dict[str, Any]]:
    """Time ours and every peer on one grid; print one table; return its rows.

    With ``warm_up``, each pandapower variant first runs 3 steps and each lightsim2grid variant
    24 steps untimed (numba's compilation and first-call set-up are not counted).
    """
    from charge_planner.grid.fastflow import BatchPowerFlow

    n = len(next(iter(profiles.values())))
    t0, c0 = time.perf_counter(), time.process_time()
    model = BatchPowerFlow.from_net(net)
    prep_s = time.perf_counter() - t0
    res = model.run(n, **profiles)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    ours_vm = res.vm_pu
    steps = np.arange(n) if pp_steps >= n else np.linspace(0, n - 1, pp_steps).round().astype(int)
    rows: list[dict[str, Any]] = []

    def add(method: str, vm: np.ndarray | None = None, seconds: float = 0.0, cpu: float = 0.0, ran: int = 0,
            note: str = "", skipped: str | None = None) -> None:
        if skipped is not None:
            rows.append({"method": method, "skipped": skipped})
            return
        assert vm is not None
        idx = steps if ran < n else np.arange(n)
        dv = _max_dv(ours_vm[idx], vm)
        nan_differs = bool((np.isnan(ours_vm[idx]) != np.isnan(vm)).any())
        rows.append({"method": method, "seconds": seconds, "cpu": cpu, "ran": ran, "year_s": seconds * n / ran,
                     "dv": dv, "ok": bool(dv <= AGREE_PU) and not nan_differs,
                     "note": note + (" NaN pattern differs!" if nan_differs else "")})

    def pandapower_row(method: str, **options: Any) -> None:
        if warm_up:
            run_pandapower_ts(net, profiles, steps[:3], **options)
        c0 = time.process_time()
        vm, s, used = run_pandapower_ts(net, profiles, steps, **options)
        add(method, vm, s, time.process_time() - c0, len(steps),
            f"used: numba={used['numba']}, lightsim2grid={used['lightsim2grid']}")

    # pandapower with numba, lightsim2grid explicitly off
    if _installed("numba"):
        pandapower_row("pandapower run_timeseries, numba", numba=True, lightsim2grid=False)
    else:
        add("pandapower run_timeseries, numba", skipped="numba not installed (pip install -e \".[bench]\")")
    if _installed("lightsim2grid"):
        # pandapower with lightsim2grid's Newton-Raphson per step
        try:
            pandapower_row("pandapower run_timeseries, lightsim2grid=True", numba=_installed("numba"),
                           lightsim2grid=True)
        except NotImplementedError as exc:
            add("pandapower run_timeseries, lightsim2grid=True", skipped=str(exc).splitlines()[0])
        # lightsim2grid's own batched time series, every step
        try:
            ls = LightsimSeries.build(net)
        except Exception as exc:  # the converter refuses some elements (3-winding transformers, ...)
            why = f"{type(exc).__name__}: {exc}".splitlines()[0]
            ls = None
        else:
            if not ls.base_diff_pu <= 1e-6:
                why = ("its load flow of the converted base case does not converge"
                       if not np.isfinite(ls.base_diff_pu) else
                       f"its conversion does not reproduce pandapower's base case (max |dV| {ls.base_diff_pu:.1e} pu)")
                if len(net.ext_grid) > 1:
                    why += f" ({len(net.ext_grid)} external grids)"
                ls = None
        threads = os.cpu_count() or 1
        variants = [("lightsim2grid TimeSeriesCPP, batched C++", 0)]
        if threads > 1:
            variants.append((f"lightsim2grid InjectionSweepCPP, {threads} threads", threads))
        for method, nt in variants:
            if ls is None:
                add(method, skipped=why)
                continue
            if warm_up:
                ls.run(profiles, min(n, 24), threads=nt)
            vm, s, c, ok = ls.run(profiles, n, threads=nt)
            add(method, vm, s, c, n, f"{ok:,}/{n:,} converged; conversion untimed {ls.build_s:.2f} s, "
                f"base case |dV| {ls.base_diff_pu:.0e} pu")
    else:
        for method in ("pandapower run_timeseries, lightsim2grid=True", "lightsim2grid TimeSeriesCPP"):
            add(method, skipped="lightsim2grid not installed (pip install -e \".[bench]\")")

    bad = int((~res.converged).sum())
    print(f"\n== {name}: {len(net.bus)} buses, {len(net.load)} loads, {len(net.sgen)} static generators, "
          f"{n:,} hourly steps")
    print(f"{'method':<46} {'steps run':>9} {'wall s':>9} {'cpu s':>9} {'wall s per ' + str(n):>16} "
          f"{'ours faster':>12} {'max |dV| pu':>12}")
    print(f"{'ours: BatchPowerFlow (preparation included)':<46} {n:9,} {ours_s:9.3f} {ours_cpu:9.3f} {ours_s:16.3f} "
          f"{'':>12} {'':>12}  {bad} steps not converged; preparation {prep_s:.2f} s + solve "
          f"{ours_s - prep_s:.2f} s")
    for r in rows:
        if "skipped" in r:
            print(f"{r['method']:<46} skipped: {r['skipped']}")
            continue
        extra = " (EXTRAPOLATED from the steps run)" if r["ran"] < n else ""
        print(f"{r['method']:<46} {r['ran']:9,} {r['seconds']:9.3f} {r['cpu']:9.3f} {r['year_s']:16.3f} "
              f"{r['year_s'] / ours_s:11.3g}x {r['dv']:12.1e}  {r['note']}{extra}"
              f"{'' if r['ok'] else '  DISAGREES'}")
    print("(ours faster: the peer's wall-clock time per year over ours; below 1 means the peer is faster)")
    sys.stdout.flush()
    return rows


def bench_hosting(full: bool, sample_every: int) -> None:
    import pandapower.networks as pn

    from charge_planner.grid.fastflow import BatchPowerFlow
    from charge_planner.grid.hosting import hosting_capacity, hosting_capacity_bisection
    from charge_planner.grid.model import _quiet_pandapower

    with _quiet_pandapower():
        net = pn.mv_oberrhein()
    t0 = time.perf_counter()
    model = BatchPowerFlow.from_net(net)
    ours = hosting_capacity(model, model.load_injections(1))
    ours_s = time.perf_counter() - t0
    buses = ours.table.index if full else ours.table.index[::sample_every]
    t0 = time.perf_counter()
    ref = hosting_capacity_bisection(net, buses)
    ref_s = time.perf_counter() - t0
    ref_all_s = ref_s * len(ours.table) / len(buses)
    rel = (ours.table.loc[buses, "hosting_capacity_kw"] - ref) / ref
    note = "" if full else f" (bisection on {len(buses)} of {len(ours.table)} buses, EXTRAPOLATED)"
    print(
        f"\nhosting capacity mv_oberrhein, {len(ours.table)} buses: ours {ours_s:.2f} s ({ours.rounds} rounds, "
        f"{ours.load_flows} batched load flows) | bisection with runpp {ref_all_s:.1f} s{note} | "
        f"speed-up {ref_all_s / ours_s:.0f}x | max relative difference {rel.abs().max():.2%} "
        f"(median {rel.abs().median():.2%}); limits: {ours.table['limit'].value_counts().to_dict()}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a peer's voltages disagree with ours."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run pandapower on fewer steps")
    parser.add_argument("--smoke", action="store_true", help="SimBench MV grid, 12 steps: checks the peers agree")
    parser.add_argument("--full-bisection", action="store_true", help="bisection on every bus (about 5 min)")
    parser.add_argument("--skip-mvlv", action="store_true", help="skip the large MV/LV SimBench grid")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="lightsim2grid.*")
    import pandapower
    import scipy
    from pandapower.auxiliary import NUMBA_INSTALLED, lightsim2grid_available

    versions = [f"pandapower {pandapower.__version__}", f"numpy {np.__version__}", f"scipy {scipy.__version__}"]
    for module in ("numba", "lightsim2grid"):
        versions.append(f"{module} {__import__(module).__version__}" if _installed(module) else f"{module} not installed")
    print(", ".join(versions) + f"; pandapower sees numba: {NUMBA_INSTALLED}, lightsim2grid: {lightsim2grid_available}",
          flush=True)

    rows: list[dict[str, Any]] = []
    if args.smoke:
        net, prof = simbench_case("1-MV-urban--0-sw", 12)
        rows += bench_time_series("simbench 1-MV-urban--0-sw (smoke: 12 steps, not a timing)", net, prof, 12,
                                  warm_up=False)
    else:
        n = 8760
        net, prof = oberrhein_case(n)
        rows += bench_time_series("mv_oberrhein", net, prof, 1000 if args.quick else n)
        net, prof = simbench_case("1-MV-urban--0-sw", n)
        rows += bench_time_series("simbench 1-MV-urban--0-sw", net, prof, 1000 if args.quick else n)
        if not args.skip_mvlv:
            net, prof = simbench_case("1-MVLV-urban-all-0-sw", n)
            rows += bench_time_series("simbench 1-MVLV-urban-all-0-sw", net, prof, 200 if args.quick else 600)
        bench_hosting(args.full_bisection, 12 if args.quick else 6)
    bad = [r["method"] for r in rows if "skipped" not in r and not r["ok"]]
    if bad:
        print(f"DISAGREEMENT with ours: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
