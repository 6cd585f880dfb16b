"""Time-series AC load flow: a design day or a full year, base load + EV charging + on-site PV.

:func:`run_time_series` solves every step with the batched load flow of
:mod:`charge_planner.grid.fastflow` and condenses the result into per-element tables
(lowest/highest voltage, highest loading, hours in violation) and a per-step table
(load, EV, PV, grid import, losses, extreme values). Steps that do not converge are
listed and counted as violations; their values are never filled in from other steps.

Base-load shapes (:func:`base_load_profile`) and the time axes (:func:`time_index`) live
here too. The load shapes are assumptions (no sourced hourly load curve exists in the
project's facts table); every assumption is returned in :data:`PROFILE_ASSUMPTIONS`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import DataError
from charge_planner.grid.fastflow import BatchPowerFlow, BatchResult
from charge_planner.grid.flow import FlowResult, slack_buses, trafo3w_table, violation_frame
from charge_planner.grid.model import bus_roles

log = logging.getLogger(__name__)

__all__ = [
    "PROFILE_ASSUMPTIONS",
    "TimeSeriesResult",
    "Injections",
    "base_load_profile",
    "build_injections",
    "daily_profile_series",
    "run_time_series",
    "step_hours",
    "time_index",
]


def step_hours(index: pd.DatetimeIndex) -> float:
    """Length of a step of a time axis [h] (one hour for an axis of one step)."""
    return float((index[1] - index[0]) / pd.Timedelta(hours=1)) if len(index) > 1 else 1.0

#: ASSUMPTION: hourly residential load relative to its daily peak (Indian urban homes:
#: morning hump, evening peak at 20-21 h). No sourced curve in the facts table.
RESIDENTIAL_DAY = np.array(
    [0.45, 0.40, 0.37, 0.36, 0.37, 0.45, 0.60, 0.70, 0.68, 0.60, 0.56, 0.55,
     0.56, 0.56, 0.55, 0.56, 0.62, 0.72, 0.88, 0.98, 1.00, 0.92, 0.75, 0.58]
)  # fmt: skip
#: ASSUMPTION: hourly commercial load relative to its daily peak (offices and shops,
#: 10-19 h opening, cooling through the afternoon).
COMMERCIAL_DAY = np.array(
    [0.30, 0.28, 0.27, 0.27, 0.28, 0.30, 0.35, 0.45, 0.62, 0.82, 0.93, 0.98,
     1.00, 1.00, 0.99, 0.97, 0.95, 0.92, 0.86, 0.78, 0.65, 0.50, 0.40, 0.34]
)  # fmt: skip
#: ASSUMPTION: monthly factor on the daily curve (Jan..Dec), pre-monsoon cooling peak in
#: April-May, lowest in December-January (typical of north and central Indian cities).
MONTH_FACTOR = np.array([0.80, 0.84, 0.92, 0.99, 1.00, 0.95, 0.90, 0.89, 0.90, 0.90, 0.84, 0.80])
#: ASSUMPTION: Sunday load relative to a weekday (commercial part only).
SUNDAY_COMMERCIAL_FACTOR = 0.7

PROFILE_ASSUMPTIONS: list[str] = [
    "base load follows an hourly residential curve (evening peak 20-21 h) and a commercial curve "
    "(10-19 h) mixed by residential_share; monthly factors 0.80 (Dec-Jan) to 1.00 (May); commercial "
    "load on Sundays x 0.7; peak of the year = 1 (all assumptions: no sourced load curve in the facts table)",
]


def time_index(mode: Literal["day", "year"], *, year: int = 2030, resolution_min: int = 60,
               day: str | None = None) -> pd.DatetimeIndex:
    """Time axis of a design day or a full year (local time, no DST).

    Parameters
    ----------
    mode
        ``"day"`` for one design day, ``"year"`` for a full year.
    year
        Calendar year [-].
    resolution_min
        Step length [min]: 60 or 15 (or any divisor of 60).
    day
        Design day as ``"MM-DD"`` (default the 15th of May, the pre-monsoon peak month).

    Returns
    -------
    pandas.DatetimeIndex
        Step start times; a year has 8,760 hourly steps (the 29th of February is dropped in
        leap years so that every year has 365 days).
    """
    if resolution_min <= 0 or 60 % resolution_min:
        raise DataError(f"resolution_min {resolution_min} must divide 60 (e.g. 60 or 15)")
    freq = f"{resolution_min}min"
    if mode == "day":
        start = pd.Timestamp(f"{year}-{day or '05-15'}")
        return pd.date_range(start, periods=24 * 60 // resolution_min, freq=freq, name="time")
    if mode == "year":
        idx = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq=freq, inclusive="left", name="time")
        return idx[~((idx.month == 2) & (idx.day == 29))]
    raise DataError(f"time-series mode {mode!r} must be 'day' or 'year'")


def daily_profile_series(shares: np.ndarray, index: pd.DatetimeIndex) -> np.ndarray:
    """Spread 24 hourly shares of daily energy over a time axis as power per kWh/day.

    Parameters
    ----------
    shares
        24 hourly shares of the daily energy, summing to 1 [-].
    index
        Time axis with a regular step of at most one hour.

    Returns
    -------
    numpy.ndarray
        Power per unit of daily energy at each step [kW per kWh/day]: ``shares[hour]``
        (the hour's energy delivered at constant power through the hour).
    """
    arr = np.asarray(shares, dtype=float)
    if arr.shape != (24,) or not np.isfinite(arr).all() or (arr < 0).any():
        raise DataError("a daily profile needs 24 finite, non-negative hourly shares")
    total = arr.sum()
    if not math.isclose(total, 1.0, rel_tol=1e-6):
        raise DataError(f"hourly shares of a daily profile must sum to 1, got {total:.6f}")
    return arr[np.asarray(index.hour)]


def base_load_profile(index: pd.DatetimeIndex, *, residential_share: float = 0.7) -> np.ndarray:
    """Base load relative to the peak of the year, per step.

    Parameters
    ----------
    index
        Time axis (any resolution; the curve is hourly, steps within an hour share it).
    residential_share
        Share of residential load in the mix, the rest is commercial [-].

    Returns
    -------
    numpy.ndarray
        Factor per step [-]; equal to 1 at the peak of the mix over the whole year (so a
        design day in May peaks at 1 and a December day lower).
    """
    if not 0.0 <= residential_share <= 1.0:
        raise DataError(f"residential_share {residential_share} must lie in [0, 1]")
    hour = np.asarray(index.hour)
    month = np.asarray(index.month) - 1
    sunday = np.asarray(index.dayofweek) == 6
    commercial = COMMERCIAL_DAY[hour] * np.where(sunday, SUNDAY_COMMERCIAL_FACTOR, 1.0)
    mix = residential_share * RESIDENTIAL_DAY[hour] + (1.0 - residential_share) * commercial
    peak = float((residential_share * RESIDENTIAL_DAY + (1.0 - residential_share) * COMMERCIAL_DAY).max())
    return mix * MONTH_FACTOR[month] / (peak * MONTH_FACTOR.max())


@dataclass
class TimeSeriesResult(FlowResult):
    """Result of a time-series load flow; a :class:`~charge_planner.grid.flow.FlowResult`.

    The inherited tables hold the worst value over all converged steps: ``buses.vm_pu`` is
    the lowest voltage (also ``vm_min_pu``), ``lines``/``trafos``/``trafos3w.loading_percent``
    the highest loading (also ``loading_max_percent``). ``ev_load_mw`` and ``base_load_mw``
    are their peaks over the horizon [MW]; ``losses_mw`` the mean losses [MW].
    ``violations`` has the columns of every violation table (see
    :class:`~charge_planner.grid.flow.FlowResult`) with ``hours`` [h] in violation, the
    ``first`` and ``last`` step, and one ``grid``/``not_converged`` row when some steps did
    not converge.

    Attributes
    ----------
    index
        Time axis.
    step_h
        Step length [h].
    steps
        Per step: ``converged``, ``base_load_mw``, ``ev_load_mw``, ``pv_mw``,
        ``grid_import_mw`` (drawn from the external grids), ``losses_mw``, ``vm_min_pu``,
        ``vm_max_pu`` (outside the slack buses), ``line_loading_max_percent``,
        ``trafo_loading_max_percent``, ``trafo3w_loading_max_percent``, ``n_violations``.
    non_converged
        Times of the steps whose load flow did not converge.
    batch
        The raw per-step matrices.
    """

    index: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    step_h: float = 1.0
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)
    non_converged: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    batch: BatchResult | None = None


def _nan_arg(values: np.ndarray, fn: str) -> np.ndarray:
    filled = np.where(np.isnan(values), np.inf if fn == "min" else -np.inf, values)
    return np.argmin(filled, axis=0) if fn == "min" else np.argmax(filled, axis=0)


def _violation_rows(
    element: str, ids: pd.Index, mask: np.ndarray, values: np.ndarray, kind: str, index: pd.DatetimeIndex,
    step_h: float, worst: Literal["min", "max"], unit: str,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    hit = np.flatnonzero(mask.any(axis=0))
    for j in hit:
        steps = np.flatnonzero(mask[:, j])
        vals = values[steps, j]
        rows.append(
            {
                "element": element,
                "id": ids[j],
                "kind": kind,
                "hours": float(len(steps) * step_h),
                "first": index[steps[0]],
                "last": index[steps[-1]],
                "worst": float(vals.min() if worst == "min" else vals.max()),
                "unit": unit,
            }
        )
    return rows


def run_time_series(
    net: pandapowerNet,
    index: pd.DatetimeIndex,
    *,
    base_load_factor: np.ndarray | pd.DataFrame | None = None,
    sgen_factor: np.ndarray | pd.DataFrame | None = None,
    ev_kw: pd.DataFrame | None = None,
    pv_kw: pd.DataFrame | None = None,
    ev_power_factor: float = 1.0,
    vm_min_pu: float = 0.95,
    vm_max_pu: float = 1.05,
    max_loading_percent: float = 100.0,
    model: BatchPowerFlow | None = None,
    taps_in_sequence: bool = True,
) -> TimeSeriesResult:
    """Run an AC load flow at every step of ``index``.

    Parameters
    ----------
    net
        The pandapower net; never modified.
    index
        Time axis with a regular step (see :func:`time_index`).
    base_load_factor
        Factor on every load's ``p_mw`` and ``q_mvar`` per step (array of length n_steps),
        or per step and load (DataFrame steps x load ids; missing loads keep factor 1) [-].
        None keeps the net's loads constant.
    sgen_factor
        Same for static generators (e.g. the grid's own PV) [-].
    ev_kw
        EV charging load per step and pandapower bus (DataFrame steps x bus ids) [kW].
    pv_kw
        On-site PV generation per step and bus (DataFrame steps x bus ids) [kW], injected at
        unity power factor.
    ev_power_factor
        Power factor of the EV load (lagging) [-].
    vm_min_pu, vm_max_pu
        Voltage band [pu].
    max_loading_percent
        Highest admissible line and transformer loading [%].
    model
        A prepared :class:`BatchPowerFlow` of ``net`` (built when None).
    taps_in_sequence
        On-load tap changers carry their position from step to step (a design day repeats: its
        first step starts where its last ends), as in service; False starts every step from the
        net's stored position (independent steps, as the EV hosting level's search runs them).

    Returns
    -------
    TimeSeriesResult
        Per-element extremes and violation hours, per-step table, raw matrices.

    Raises
    ------
    DataError
        Profiles of the wrong length, negative EV or PV, bad parameters.
    GridError
        EV or PV at buses not in the grid, or a grid that pandapower cannot solve at all.
    """
    n = len(index)
    problems: list[str] = []
    if n == 0:
        problems.append("the time axis is empty")
    if not 0.0 < ev_power_factor <= 1.0:
        problems.append(f"ev_power_factor {ev_power_factor} must lie in (0, 1]")
    if not vm_min_pu < vm_max_pu:
        problems.append(f"vm_min_pu {vm_min_pu} must be below vm_max_pu {vm_max_pu}")
    for name, frame in (("ev_kw", ev_kw), ("pv_kw", pv_kw)):
        if frame is not None:
            values = frame.to_numpy(dtype=float)
            if frame.shape[0] != n:
                problems.append(f"{name} has {frame.shape[0]} rows, the time axis {n}")
            elif not np.isfinite(values).all() or (values < 0).any():
                problems.append(f"{name} holds missing or negative values")
    if problems:
        raise DataError("run_time_series: " + "; ".join(problems))
    step_h = step_hours(index)
    model = model if model is not None else BatchPowerFlow.from_net(net)
    inj = build_injections(model, n, base_load_factor=base_load_factor, sgen_factor=sgen_factor, ev_kw=ev_kw,
                           pv_kw=pv_kw, ev_power_factor=ev_power_factor)
    s_load, ev_mw, pv_mw, load_p = inj.s_load, inj.ev_mw, inj.pv_mw, inj.load_p_mw
    work = model.net
    # the tap changers carry their positions from step to step; a design day repeats
    one_day = abs(step_h * n - 24.0) < 1e-9
    batch = model.solve(s_load, taps_in_sequence=("cyclic" if one_day else "carry") if taps_in_sequence else None)
    return _condense(work, index, step_h, batch, ev_mw, pv_mw, load_p, vm_min_pu, vm_max_pu, max_loading_percent)


@dataclass
class Injections:
    """Internal bus load of a series of steps and what it is made of.

    Attributes
    ----------
    s_load
        Complex internal bus load [pu] (n_internal x steps).
    ev_mw, pv_mw
        Total EV load and on-site PV per step [MW].
    load_p_mw
        Active power of every load per step (steps x load ids) [MW], or None when constant.
    """

    s_load: np.ndarray
    ev_mw: np.ndarray
    pv_mw: np.ndarray
    load_p_mw: pd.DataFrame | None


def build_injections(
    model: BatchPowerFlow,
    n: int,
    *,
    base_load_factor: np.ndarray | pd.DataFrame | None = None,
    sgen_factor: np.ndarray | pd.DataFrame | None = None,
    ev_kw: pd.DataFrame | None = None,
    pv_kw: pd.DataFrame | None = None,
    ev_power_factor: float = 1.0,
) -> Injections:
    """Internal bus load of ``n`` steps (arguments as in :func:`run_time_series`)."""
    work = model.net

    def element_profile(table: str, factor: np.ndarray | pd.DataFrame | None, column: str) -> pd.DataFrame | None:
        if factor is None or not len(work[table]):
            return None
        base = work[table][column].astype(float)
        if isinstance(factor, pd.DataFrame):
            if factor.shape[0] != n:
                raise DataError(f"{table} factor has {factor.shape[0]} rows, the time axis {n}")
            return pd.DataFrame(factor.to_numpy(float) * base.reindex(factor.columns).to_numpy(), columns=factor.columns)
        f = np.asarray(factor, dtype=float)
        if f.shape != (n,):
            raise DataError(f"{table} factor must have one value per step ({n}), got shape {f.shape}")
        return pd.DataFrame(np.outer(f, base.to_numpy()), columns=base.index)

    load_p = element_profile("load", base_load_factor, "p_mw")
    load_q = element_profile("load", base_load_factor, "q_mvar")
    sgen_p = element_profile("sgen", sgen_factor, "p_mw")
    sgen_q = element_profile("sgen", sgen_factor, "q_mvar")
    bus_p = None
    bus_q = None
    ev_mw = np.zeros(n)
    pv_mw = np.zeros(n)
    parts_p: list[pd.DataFrame] = []
    if ev_kw is not None and ev_kw.shape[1]:
        ev = ev_kw.T.groupby(level=0).sum().T.reset_index(drop=True) / 1000.0
        parts_p.append(ev)
        ev_mw = ev.sum(axis=1).to_numpy()
        tanphi = math.tan(math.acos(ev_power_factor))
        if tanphi:
            bus_q = ev * tanphi
    if pv_kw is not None and pv_kw.shape[1]:
        pv = pv_kw.T.groupby(level=0).sum().T.reset_index(drop=True) / 1000.0
        parts_p.append(-pv)
        pv_mw = pv.sum(axis=1).to_numpy()
    if parts_p:
        bus_p = pd.concat(parts_p, axis=1).T.groupby(level=0).sum().T
    s_load = model.load_injections(
        n, load_p_mw=load_p, load_q_mvar=load_q, sgen_p_mw=sgen_p, sgen_q_mvar=sgen_q,
        bus_p_mw=bus_p, bus_q_mvar=bus_q,
    )
    return Injections(s_load=s_load, ev_mw=ev_mw, pv_mw=pv_mw, load_p_mw=load_p)


def _condense(
    work: pandapowerNet,
    index: pd.DatetimeIndex,
    step_h: float,
    batch: BatchResult,
    ev_mw: np.ndarray,
    pv_mw: np.ndarray,
    load_p: pd.DataFrame | None,
    vm_min_pu: float,
    vm_max_pu: float,
    max_loading_percent: float,
) -> TimeSeriesResult:
    n = len(index)
    ok = batch.converged
    in_service = work.bus["in_service"].astype(bool).to_numpy()
    vm = batch.vm_pu
    with np.errstate(invalid="ignore"):
        under = (vm < vm_min_pu) & in_service
        over = (vm > vm_max_pu) & in_service
    vm_c = vm[ok]
    vm_min = np.nanmin(vm_c, axis=0, initial=np.inf) if len(vm_c) else np.full(vm.shape[1], np.nan)
    vm_max = np.nanmax(vm_c, axis=0, initial=-np.inf) if len(vm_c) else np.full(vm.shape[1], np.nan)
    vm_min = np.where(np.isinf(vm_min), np.nan, vm_min)
    vm_max = np.where(np.isinf(vm_max), np.nan, vm_max)
    t_min = index[_nan_arg(vm, "min")] if n else pd.DatetimeIndex([])
    bus = work.bus
    buses = pd.DataFrame(
        {
            "vm_pu": vm_min,
            "vm_min_pu": vm_min,
            "vm_max_pu": vm_max,
            "time_vm_min": t_min,
            "undervoltage_h": under.sum(axis=0) * step_h,
            "overvoltage_h": over.sum(axis=0) * step_h,
            "vn_kv": bus["vn_kv"].astype(float).to_numpy(),
            "role": bus_roles(work).to_numpy(),
            "slack": np.isin(np.asarray(batch.buses), slack_buses(work)),
            "x_m": bus["x_m"].astype(float).to_numpy() if "x_m" in bus.columns else np.nan,
            "y_m": bus["y_m"].astype(float).to_numpy() if "y_m" in bus.columns else np.nan,
        },
        index=batch.buses,
    )
    buses.insert(
        4,
        "violation",
        np.where(buses["undervoltage_h"] > 0, "undervoltage", np.where(buses["overvoltage_h"] > 0, "overvoltage", "")),
    )

    def branch_table(loading: np.ndarray, ids: pd.Index) -> pd.DataFrame:
        with np.errstate(invalid="ignore"):
            over_l = loading > max_loading_percent
        lc = loading[ok]
        mx = np.nanmax(lc, axis=0, initial=-np.inf) if len(lc) else np.full(loading.shape[1], np.nan)
        mx = np.where(np.isinf(mx), np.nan, mx)
        return pd.DataFrame(
            {
                "loading_percent": mx,
                "loading_max_percent": mx,
                "time_loading_max": index[_nan_arg(loading, "max")] if loading.shape[1] else [],
                "overload_h": over_l.sum(axis=0) * step_h,
                "violation": np.where(over_l.any(axis=0), "overload", ""),
            },
            index=ids,
        ), over_l

    lines, line_over = branch_table(batch.line_loading_percent, batch.lines)
    if len(lines):
        lines["from_bus"] = work.line["from_bus"].astype(np.int64).reindex(lines.index).to_numpy()
        lines["to_bus"] = work.line["to_bus"].astype(np.int64).reindex(lines.index).to_numpy()
        lines["feeder"] = (
            work.line["feeder"].fillna(-1).astype(np.int64).reindex(lines.index).to_numpy()
            if "feeder" in work.line.columns
            else -1
        )
    else:
        lines = lines.assign(from_bus=pd.Series(dtype=np.int64), to_bus=pd.Series(dtype=np.int64),
                             feeder=pd.Series(dtype=np.int64))
    trafos, trafo_over = branch_table(batch.trafo_loading_percent, batch.trafos)
    tr = work.trafo.reindex(trafos.index)
    trafos["hv_bus"] = tr["hv_bus"].astype(np.int64).to_numpy() if len(tr) else np.zeros(0, dtype=np.int64)
    trafos["lv_bus"] = tr["lv_bus"].astype(np.int64).to_numpy() if len(tr) else np.zeros(0, dtype=np.int64)
    trafos["sn_mva"] = tr["sn_mva"].astype(float).to_numpy() if len(tr) else np.zeros(0)
    trafos["parallel"] = tr["parallel"].astype(np.int64).to_numpy() if len(tr) else np.zeros(0, dtype=np.int64)
    trafos3w, trafo3w_over = branch_table(batch.trafo3w_loading_percent, batch.trafos3w)
    for col, values in trafo3w_table(work, trafos3w.index).items():
        trafos3w[col] = values.to_numpy()
    for table in (buses, lines, trafos, trafos3w):
        table.index.name = "id"

    rows = _violation_rows("bus", batch.buses, under, vm, "undervoltage", index, step_h, "min", "pu")
    rows += _violation_rows("bus", batch.buses, over, vm, "overvoltage", index, step_h, "max", "pu")
    for element, ids, mask, loading in (
        ("line", batch.lines, line_over, batch.line_loading_percent),
        ("trafo", batch.trafos, trafo_over, batch.trafo_loading_percent),
        ("trafo3w", batch.trafos3w, trafo3w_over, batch.trafo3w_loading_percent),
    ):
        rows += _violation_rows(element, ids, mask, loading, "overload", index, step_h, "max", "%")
    if not ok.all():
        failed = np.flatnonzero(~ok)
        rows.append({"kind": "not_converged", "element": "grid", "id": -1, "hours": float(len(failed) * step_h),
                     "first": index[failed[0]], "last": index[failed[-1]], "worst": np.nan, "unit": ""})
    violations = violation_frame(rows)

    base_mw = (
        load_p.to_numpy().dot(work.load["scaling"].reindex(load_p.columns).to_numpy(float)
                              * work.load["in_service"].reindex(load_p.columns).to_numpy(bool))
        if load_p is not None
        else np.full(n, float((work.load["p_mw"] * work.load["scaling"])[work.load["in_service"]].sum()))
    )
    n_step_viol = (under.sum(axis=1) + over.sum(axis=1) + line_over.sum(axis=1) + trafo_over.sum(axis=1)
                   + trafo3w_over.sum(axis=1))
    # the slack buses hold their set point: the range of voltages is taken over the other buses
    free = ~buses["slack"].to_numpy(bool)
    vm_free = vm[:, free] if free.any() else vm
    with np.errstate(invalid="ignore"):
        steps = pd.DataFrame(
            {
                "converged": ok,
                "base_load_mw": base_mw,
                "ev_load_mw": ev_mw,
                "pv_mw": pv_mw,
                "grid_import_mw": batch.p_slack_mw,
                "losses_mw": batch.losses_mw,
                "vm_min_pu": np.nanmin(np.where(np.isnan(vm_free), np.inf, vm_free), axis=1, initial=np.inf),
                "vm_max_pu": np.nanmax(np.where(np.isnan(vm_free), -np.inf, vm_free), axis=1, initial=-np.inf),
                "line_loading_max_percent": batch.line_loading_percent.max(axis=1, initial=0.0),
                "trafo_loading_max_percent": batch.trafo_loading_percent.max(axis=1, initial=0.0),
                "trafo3w_loading_max_percent": batch.trafo3w_loading_percent.max(axis=1, initial=0.0),
                "n_violations": n_step_viol + (~ok),
            },
            index=index,
        )
    steps.loc[~ok, ["vm_min_pu", "vm_max_pu", "grid_import_mw", "losses_mw"]] = np.nan
    non_converged = index[~ok]
    n_violations = len(violations)
    lo, hi = vm_min[free], vm_max[free]
    log.info(
        "time series: %d steps (%g h), %d not converged; %.3f-%.3f pu outside the slack buses; %d violation(s); "
        "solved in %.2f s",
        n, step_h, len(non_converged), float(np.nanmin(lo)) if np.isfinite(lo).any() else float("nan"),
        float(np.nanmax(hi)) if np.isfinite(hi).any() else float("nan"), n_violations, batch.solve_s,
    )
    return TimeSeriesResult(
        converged=bool(ok.all()),
        buses=buses,
        lines=lines,
        trafos=trafos,
        trafos3w=trafos3w,
        n_violations=n_violations,
        ev_load_mw=float(ev_mw.max(initial=0.0)),
        base_load_mw=float(np.max(base_mw, initial=0.0)),
        losses_mw=float(np.nanmean(batch.losses_mw[ok])) if ok.any() else float("nan"),
        index=index,
        step_h=step_h,
        steps=steps,
        violations=violations,
        non_converged=non_converged,
        batch=batch,
    )
