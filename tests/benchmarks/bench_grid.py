"""Benchmark of the grid stage: batched time-series load flow and hosting capacity.

Run:  python tests/benchmarks/bench_grid.py                   (15-25 minutes on 2 busy cores;
                                                            pandapower takes nearly all of it)
      python tests/benchmarks/bench_grid.py --quick           (smaller pandapower subsets, ~8 min)
      python tests/benchmarks/bench_grid.py --full-bisection  (bisection on every bus, +3 min)

1. 8,760 hourly steps on pandapower's ``mv_oberrhein`` (two external grids, 147 loads,
   153 PV generators) and on the SimBench grid ``1-MV-urban--0-sw`` (its own yearly
   profiles, 15-min values averaged to hours), and on the MV/LV grid
   ``1-MVLV-urban-all-0-sw``: ours (``BatchPowerFlow``) against pandapower's
   ``run_timeseries`` with ``ConstControl`` profiles, same tolerance (1e-8 MVA), in the same
   run. Where pandapower would take too long it runs a subset of the steps and its time is
   extrapolated; the output says so. Largest voltage difference over the steps both ran.
2. Hosting capacity of every bus of ``mv_oberrhein`` at its peak hour: ours against
   bisection with a full ``pandapower.runpp`` per trial (on a sample of buses unless
   ``--full-bisection``; the output says so), largest relative difference.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import numpy as np
import pandas as pd


def _numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def oberrhein_case(n_steps: int):
    import pandapower.networks as pn

    from charge_planner.grid.build import _quiet_pandapower
    from charge_planner.grid.energy import pv_profile
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
    for (table, col), key in ((("load", "p_mw"), "load_p_mw"), (("load", "q_mvar"), "load_q_mvar"),
                              (("sgen", "p_mw"), "sgen_p_mw")):
        df = prof[(table, col)]
        hourly = df.groupby(np.arange(len(df)) // 4).mean().iloc[:n_steps]
        out[key] = hourly.reset_index(drop=True)
    return net, out


def run_pandapower_ts(net, profiles: dict[str, pd.DataFrame], steps: np.ndarray) -> tuple[np.ndarray, float]:
    import copy

    import pandapower as pp
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    work = copy.deepcopy(net)
    for key, df in profiles.items():
        table, col = {"load_p_mw": ("load", "p_mw"), "load_q_mvar": ("load", "q_mvar"),
                      "sgen_p_mw": ("sgen", "p_mw")}[key]
        sub = df.iloc[steps].reset_index(drop=True)
        ConstControl(work, element=table, variable=col, element_index=sub.columns.to_numpy(),
                     data_source=DFData(sub), profile_name=sub.columns.to_numpy())
    ow = OutputWriter(work, time_steps=range(len(steps)), output_path=None, log_variables=[("res_bus", "vm_pu")])
    t0 = time.perf_counter()
    run_timeseries(work, time_steps=range(len(steps)), verbose=False, numba=_numba(), tolerance_mva=1e-8)
    seconds = time.perf_counter() - t0
    vm = ow.output["res_bus.vm_pu"].to_numpy(float)
    del pp
    return vm, seconds


def bench_time_series(name: str, net, profiles: dict[str, pd.DataFrame], pp_steps: int) -> dict[str, float]:
    from charge_planner.grid.fastflow import BatchPowerFlow

    n = len(next(iter(profiles.values())))
    t0 = time.perf_counter()
    model = BatchPowerFlow.from_net(net)
    res = model.run(n, **profiles)
    ours_s = time.perf_counter() - t0
    steps = np.arange(n) if pp_steps >= n else np.linspace(0, n - 1, pp_steps).round().astype(int)
    vm_pp, pp_s = run_pandapower_ts(net, profiles, steps)
    pp_full_s = pp_s * n / len(steps)
    ours = res.vm_pu[steps]
    diff = np.nanmax(np.abs(ours - vm_pp))
    both_nan = np.isnan(ours) == np.isnan(vm_pp)
    line = (
        f"{name}: {len(net.bus)} buses, {n} steps | ours {ours_s:.2f} s ({1000 * ours_s / n:.3f} ms/step, "
        f"{int((~res.converged).sum())} not converged) | pandapower run_timeseries "
    )
    if len(steps) < n:
        line += f"{pp_s:.1f} s on {len(steps)} evenly spread steps, EXTRAPOLATED to {n}: {pp_full_s:.1f} s"
    else:
        line += f"{pp_s:.1f} s"
    line += f" | speed-up {pp_full_s / ours_s:.1f}x | max |dV| {diff:.2e} pu over {len(steps)} steps"
    line += "" if both_nan.all() else " | NaN pattern differs!"
    print(line, flush=True)
    return {"ours_s": ours_s, "pp_s": pp_full_s, "max_dv": float(diff)}


def bench_hosting(full: bool, sample_every: int) -> None:
    import pandapower.networks as pn

    from charge_planner.grid.build import _quiet_pandapower
    from charge_planner.grid.fastflow import BatchPowerFlow
    from charge_planner.grid.hosting import hosting_capacity, hosting_capacity_bisection

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
        f"hosting capacity mv_oberrhein, {len(ours.table)} buses: ours {ours_s:.2f} s ({ours.rounds} rounds, "
        f"{ours.load_flows} batched load flows) | bisection with runpp {ref_all_s:.1f} s{note} | "
        f"speed-up {ref_all_s / ours_s:.0f}x | max relative difference {rel.abs().max():.2%} "
        f"(median {rel.abs().median():.2%}); limits: {ours.table['limit'].value_counts().to_dict()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="run pandapower on fewer steps")
    parser.add_argument("--full-bisection", action="store_true", help="bisection on every bus (about 5 min)")
    parser.add_argument("--skip-mvlv", action="store_true", help="skip the large MV/LV SimBench grid")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import pandapower
    import scipy

    print(f"pandapower {pandapower.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"numba {'yes' if _numba() else 'not installed'}; timings on a shared machine (2 cores)", flush=True)
    n = 8760
    net, prof = oberrhein_case(n)
    bench_time_series("mv_oberrhein", net, prof, 1000 if args.quick else n)
    net, prof = simbench_case("1-MV-urban--0-sw", n)
    bench_time_series("simbench 1-MV-urban--0-sw", net, prof, 1000 if args.quick else n)
    if not args.skip_mvlv:
        net, prof = simbench_case("1-MVLV-urban-all-0-sw", n)
        bench_time_series("simbench 1-MVLV-urban-all-0-sw", net, prof, 200 if args.quick else 600)
    bench_hosting(args.full_bisection, 12 if args.quick else 6)


if __name__ == "__main__":
    main()
