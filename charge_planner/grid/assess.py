"""One call that checks a siting plan against the grid over a design day or a year.

:func:`assess_grid` turns the chosen sites into an EV load matrix (served energy x daily
profile), adds on-site PV, runs the batched time-series load flow
(:func:`~charge_planner.grid.timeseries.run_time_series`), computes the hosting capacity
of every bus at the worst hours (:func:`~charge_planner.grid.hosting.hosting_capacity`)
and the energy balance of charging (renewable share, CO2). The pipeline maps its
configuration onto the arguments; nothing here reads a configuration file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from charge_planner.errors import DataError
from charge_planner.grid.energy import EnergyBalance, PVProfile, charging_energy
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.hosting import HostingResult, hosting_capacity
from charge_planner.grid.model import GridModel
from charge_planner.grid.smart import BatteryDispatch, site_batteries
from charge_planner.grid.timeseries import (
    TimeSeriesResult,
    build_injections,
    daily_profile_series,
    run_time_series,
    step_hours,
)

log = logging.getLogger(__name__)

__all__ = ["GridAssessment", "assess_grid", "site_load_matrix", "worst_steps"]


@dataclass
class GridAssessment:
    """Time-series check of a plan against the grid.

    Attributes
    ----------
    flow
        The time-series result; ``flow.buses`` also carries ``hosting_capacity_kw`` [kW],
        ``hosting_limit`` and ``hosting_reason`` when the hosting capacity was computed.
    energy
        Energy balance of charging over the time axis.
    days
        Days the time axis covers [d] (1 for a design day, 365 for a year).
    ev_kw, pv_kw
        EV load and on-site PV per step and bus [kW].
    base_load_factor
        Factor on every base load's ``p_mw`` and ``q_mvar`` per step [-] (None: constant loads).
    hosting
        Hosting-capacity result (None when not computed).
    hosting_steps
        Times of the steps the hosting capacity was computed at.
    assumptions
        What was assumed on the way.
    batteries
        Operation of the on-site batteries (None without batteries): the rows of the sites with a
        battery and those the energy balance counts (positions in ``batteries.rows``).
    """

    flow: TimeSeriesResult
    energy: EnergyBalance
    days: float
    ev_kw: pd.DataFrame
    pv_kw: pd.DataFrame
    base_load_factor: np.ndarray | None = None
    hosting: HostingResult | None = None
    hosting_steps: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([]))
    assumptions: list[str] = field(default_factory=list)
    batteries: BatteryDispatch | None = None


def _hour_tap_start(model: BatchPowerFlow, flow: TimeSeriesResult, pos: np.ndarray) -> np.ndarray | None:
    """Where the time series' tap changers start the steps ``pos``: where the step before each ended (the
    first step of a design day where its last ends; of a longer axis, at the net's positions)."""
    taps = model.taps
    batch = flow.batch
    if taps is None or batch is None or batch.tap_pos is None:
        return None
    path = batch.tap_pos.T  # changers x steps
    return taps.starts(path, pos, cyclic=abs(flow.step_h * path.shape[1] - 24.0) < 1e-9)


def queue_above_power(kw: np.ndarray, cap: np.ndarray, max_rounds: int = 8) -> tuple[np.ndarray, float, float]:
    """Each site's load held at its installed power, the excess charged in the next steps (vehicles queue).

    The axis is taken round (a design day repeats; a year's last hours carry into its first), so the site's
    energy is kept whenever it fits its power over the whole axis.

    Parameters
    ----------
    kw
        Load per step and site [kW] (steps x sites).
    cap
        Installed power of each site [kW].
    max_rounds
        Passes round the axis at most (a backlog left after them is dropped and counted).

    Returns
    -------
    tuple
        The load (steps x sites) [kW], the load moved to later steps and the load left out (the energy above
        the site's power over the whole axis), summed over the steps and sites [kW x steps].
    """
    out = np.empty_like(kw)
    backlog = np.zeros(kw.shape[1])
    excess = float(np.clip(kw - cap[None, :], 0.0, None).sum())
    for _ in range(max_rounds):
        start = backlog.copy()
        for t in range(kw.shape[0]):
            want = kw[t] + backlog
            out[t] = np.minimum(want, cap)
            backlog = want - out[t]
        if np.allclose(backlog, start, rtol=0.0, atol=1e-9) or not backlog.any():
            break
    total = float(kw.sum())
    lost = float(total - out.sum())
    lost = lost if lost > 1e-9 * max(abs(total), 1.0) else 0.0  # beyond the rounding of the sums
    return out, excess - lost, lost


def site_load_matrix(
    sites: pd.DataFrame, index: pd.DatetimeIndex, shares: np.ndarray, *, quiet: bool = False
) -> pd.DataFrame:
    """EV load per step and bus from each site's served energy and daily profile.

    Parameters
    ----------
    sites
        Columns ``bus_id``, ``served_kwh_day`` [kWh/day] and ``power_kw`` [kW].
    index
        Time axis.
    shares
        Hourly shares of the daily energy [-]: 24 values for every site, or one row of 24
        per site (sites x 24), each summing to 1.
    quiet
        Do not log the charging that waits for later steps (a second matrix of the same sites).

    Returns
    -------
    pandas.DataFrame
        Steps x bus ids [kW]; a site's load is held at its installed power, the excess charged in the next
        steps (:func:`queue_above_power`, logged).
    """
    missing = {"bus_id", "served_kwh_day", "power_kw"} - set(sites.columns)
    if missing:
        raise DataError(f"sites lack column(s) {sorted(missing)} needed for the EV load")
    arr = np.asarray(shares, dtype=float)
    energy = sites["served_kwh_day"].to_numpy(float)
    if arr.ndim == 1:
        kw = np.outer(daily_profile_series(arr, index), energy)
    else:
        if arr.shape != (len(sites), 24):
            raise DataError(f"site profiles must have shape ({len(sites)}, 24), got {arr.shape}")
        for row in arr:
            daily_profile_series(row, index[:1])  # validates the shares
        kw = arr[:, np.asarray(index.hour)].T * energy[None, :]
    cap = sites["power_kw"].to_numpy(float)
    over = kw > cap[None, :] + 1e-9
    if over.any():
        kw, moved, lost = queue_above_power(kw, cap)
        step_h = step_hours(index)
        days = max(len(index) * step_h / 24.0, 1e-9)
        if not quiet:
            log.info("EV profile above the installed power at %d site(s): %.1f kWh/day of their charging waits for "
                     "the next steps (queued vehicles charge later)", int(over.any(axis=0).sum()), moved * step_h / days)
        if lost > 1e-9:
            log.warning("EV energy above what the installed power can deliver over the whole axis at some sites: "
                        "%.1f kWh/day left out of the grid's load", lost * step_h / days)
    frame = pd.DataFrame(kw, index=index, columns=sites["bus_id"].to_numpy())
    return frame.T.groupby(level=0).sum().T


def worst_steps(flow: TimeSeriesResult, k: int) -> np.ndarray:
    """Positions of the steps the hosting capacity is examined at.

    Up to k steps whose load flow did not converge (the worst of all: no solution), the k
    converged steps with the lowest voltage outside the slack buses and the k with the
    highest line or transformer loading.
    """
    steps = flow.steps
    ok = steps["converged"].to_numpy(bool)
    failed = np.flatnonzero(~ok)[:k]
    pos = np.flatnonzero(ok)
    if not len(pos):
        return failed
    vmin = steps["vm_min_pu"].to_numpy(float)[pos]
    load = steps["line_loading_max_percent"].to_numpy(float)
    for col in ("trafo_loading_max_percent", "trafo3w_loading_max_percent"):
        if col in steps.columns:
            load = np.fmax(load, steps[col].to_numpy(float))
    load = load[pos]
    chosen = np.concatenate([failed, pos[np.argsort(vmin, kind="stable")[:k]],
                             pos[np.argsort(-load, kind="stable")[:k]]])
    return np.unique(chosen)


def assess_grid(
    grid: GridModel,
    sites: pd.DataFrame,
    index: pd.DatetimeIndex,
    *,
    ev_shares: np.ndarray,
    base_load_factor: np.ndarray,
    mix: pd.DataFrame,
    pv: PVProfile | None = None,
    pv_kwp_per_site: float = 0.0,
    ev_power_factor: float = 1.0,
    vm_min_pu: float = 0.95,
    vm_max_pu: float = 1.05,
    max_loading_percent: float = 100.0,
    hosting: bool = True,
    hosting_hours: int = 2,
    hosting_buses: pd.Index | np.ndarray | None = None,
    energy_rows: np.ndarray | None = None,
) -> GridAssessment:
    """Check a plan against the grid over a time axis.

    Parameters
    ----------
    grid
        The grid model.
    sites
        EV loads with ``bus_id``, ``served_kwh_day`` [kWh/day], ``power_kw`` [kW] (the draw is capped at
        it) and optionally ``pv_kwp`` [kWp] (on-site PV of that row; replaces ``pv_kwp_per_site``) and
        ``battery_kwh`` [kWh], ``battery_kw`` [kW] (an on-site battery,
        :func:`~charge_planner.grid.smart.site_batteries`; the EV load matrix is then the load behind
        the meter and the energy balance counts the stored energy):
        charging sites, and other EV loads (home charging, depots) as further rows.
    index
        Time axis (design day or year).
    ev_shares
        Hourly shares of the daily charging energy [-]: 24 values, or sites x 24.
    base_load_factor
        Factor on every base load per step [-].
    mix
        Hourly grid renewable share and carbon intensity (:func:`~charge_planner.grid.energy.grid_mix`).
    pv
        PV output per kWp per step (None: no on-site PV).
    pv_kwp_per_site
        On-site PV at every row of ``sites`` without a ``pv_kwp`` column [kWp].
    ev_power_factor
        Power factor of the charging load [-].
    vm_min_pu, vm_max_pu, max_loading_percent
        Limits [pu], [pu], [%].
    hosting
        Compute the hosting capacity of every bus.
    hosting_hours
        Worst steps per criterion (lowest voltage, highest loading) examined [-].
    hosting_buses
        Buses whose hosting capacity is computed (default: every supplied bus that is not a slack bus).
    energy_rows
        Rows of ``sites`` counted in the energy balance (renewable share, CO2) (default: all).

    Returns
    -------
    GridAssessment
        Flow result (with hosting capacity), energy balance, the load matrices.
    """
    if len(mix) != len(index):
        raise DataError(f"grid mix has {len(mix)} rows, the time axis {len(index)}")
    if pv_kwp_per_site < 0:
        raise DataError(f"pv_kwp_per_site {pv_kwp_per_site} must be >= 0")
    model = BatchPowerFlow.from_net(grid.net)
    ev_kw = site_load_matrix(sites, index, ev_shares) if len(sites) else pd.DataFrame(index=index)
    kwp = (sites["pv_kwp"].to_numpy(float) if "pv_kwp" in sites.columns
           else np.full(len(sites), float(pv_kwp_per_site)))
    if (kwp < 0).any():
        raise DataError("pv_kwp of every site must be >= 0")
    if pv is not None and (kwp > 0).any():
        per_site = np.outer(pv.kw_per_kwp, kwp[kwp > 0])
        pv_kw = pd.DataFrame(per_site, index=index, columns=sites["bus_id"].to_numpy()[kwp > 0])
        pv_kw = pv_kw.T.groupby(level=0).sum().T
    else:
        pv_kw = pd.DataFrame(index=index)
    storage, operated = None, None
    if "battery_kwh" in sites.columns and (sites["battery_kwh"].to_numpy(float) > 0).any():
        # the rows with a battery and those the energy balance counts are operated row by row
        operated = (sites["battery_kwh"].to_numpy(float) > 0) | (
            np.ones(len(sites), bool) if energy_rows is None else np.asarray(energy_rows, bool))
        shares = np.asarray(ev_shares, dtype=float)
        added, storage = site_batteries(sites.assign(pv_kwp=kwp)[operated], index,
                                        shares[operated] if shares.ndim == 2 else shares,
                                        pv.kw_per_kwp if pv is not None else None)
        storage.rows = np.flatnonzero(operated)
        ev_kw = ev_kw.add(added, fill_value=0.0)
    flow = run_time_series(
        grid.net, index, base_load_factor=base_load_factor, ev_kw=ev_kw, pv_kw=pv_kw,
        ev_power_factor=ev_power_factor, vm_min_pu=vm_min_pu, vm_max_pu=vm_max_pu,
        max_loading_percent=max_loading_percent, model=model,
    )
    step_h = flow.step_h
    days = len(index) * step_h / 24.0
    if energy_rows is None or np.asarray(energy_rows, bool).all():
        ev_energy_kw = ev_kw
    else:
        rows = np.asarray(energy_rows, bool)
        ev_energy_kw = (site_load_matrix(sites[rows], index, np.asarray(ev_shares)[rows] if np.ndim(ev_shares) == 2
                                         else ev_shares, quiet=True) if rows.any() else pd.DataFrame(index=index))
    if storage is not None:
        energy = storage.energy(mix, columns=None if energy_rows is None else np.asarray(energy_rows, bool)[operated])
    else:
        energy = charging_energy(ev_energy_kw, pv_kw if pv_kw.shape[1] else None, mix, step_h=step_h)
    result = GridAssessment(flow=flow, energy=energy, days=days, ev_kw=ev_kw, pv_kw=pv_kw,
                            base_load_factor=np.asarray(base_load_factor, dtype=float), batteries=storage)
    if hosting:
        pos = worst_steps(flow, hosting_hours)
        if len(pos):
            inj = build_injections(
                model, len(pos), base_load_factor=np.asarray(base_load_factor)[pos],
                ev_kw=ev_kw.iloc[pos] if ev_kw.shape[1] else None,
                pv_kw=pv_kw.iloc[pos] if pv_kw.shape[1] else None, ev_power_factor=ev_power_factor,
            )
            hc = hosting_capacity(
                model, inj.s_load, buses=hosting_buses, power_factor=ev_power_factor, vm_min_pu=vm_min_pu, vm_max_pu=vm_max_pu,
                max_loading_percent=max_loading_percent, tap_start=_hour_tap_start(model, flow, pos),
            )
            flow.buses["hosting_capacity_kw"] = hc.table["hosting_capacity_kw"].reindex(flow.buses.index)
            flow.buses["hosting_limit"] = hc.table["limit"].reindex(flow.buses.index).fillna("")
            flow.buses["hosting_reason"] = hc.table["reason"].reindex(flow.buses.index).fillna("")
            result.hosting = hc
            result.hosting_steps = index[pos]
    return result
