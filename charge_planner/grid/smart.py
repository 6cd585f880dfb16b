"""Smart charging and on-site batteries: transformations of the sites' load before the load flow.

* :func:`cap_profiles` — "capped" smart charging: each site's draw is held at a share of its
  installed power; the energy above the cap moves to the nearest hours with room, so the
  daily energy is kept.
* :func:`dispatch_batteries` — a battery at each site, charged from on-site PV surplus first,
  then from the grid in the site's lowest-load hours, discharged to shave the site's grid draw
  in its peak hours; every day ends with the charge it started with, so the energy balance
  closes over each day (losses: 1 - round-trip efficiency of the energy stored).
* :class:`BatteryDispatch` — the result, with the site's load behind its meter (what the
  load flow sees besides the PV) and the energy balance of charging with the battery
  (:meth:`BatteryDispatch.energy`).

Everything is vectorised over sites (and days); nothing here reads a configuration.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from charge_planner.errors import DataError
from charge_planner.grid.energy import EnergyBalance

log = logging.getLogger(__name__)

__all__ = [
    "BATTERY_ROUND_TRIP_EFFICIENCY",
    "BatteryDispatch",
    "cap_profiles",
    "dispatch_batteries",
    "site_batteries",
    "smart_rows",
]

BATTERY_ROUND_TRIP_EFFICIENCY = 0.9
"""Round-trip (AC to AC) efficiency of an on-site lithium-ion battery [-]. Assumption: the middle of the
85-95 % usually quoted for lithium-ion systems; NREL's Annual Technology Baseline uses 85 % for utility-scale
systems with their auxiliary loads."""

_EPS = 1e-12


def cap_profiles(
    shares: np.ndarray, energy_kwh_day: np.ndarray, power_kw: np.ndarray, cap_share: float
) -> np.ndarray:
    """Hourly shares of each site's daily energy with its draw held at ``cap_share`` x installed power.

    The energy of an hour above the cap moves to the nearest hours with room, later hours
    first at equal distance (a session can be stretched, wrapping midnight); hours are
    treated from the largest excess down. A site whose daily energy exceeds 24 h at the cap
    draws evenly over the day (the energy is kept; logged).

    Parameters
    ----------
    shares
        Sites x 24 hourly shares of the daily energy, each row summing to 1 [-].
    energy_kwh_day
        Daily energy of each site [kWh/day].
    power_kw
        Installed power of each site [kW].
    cap_share
        Share of the installed power a site may draw [-], in (0, 1].

    Returns
    -------
    numpy.ndarray
        Sites x 24 shares, each row summing to 1; ``share x energy`` never exceeds the cap
        (except for the sites that draw evenly above it).
    """
    s = np.atleast_2d(np.asarray(shares, dtype=float))
    energy = np.asarray(energy_kwh_day, dtype=float)
    power = np.asarray(power_kw, dtype=float)
    if s.shape != (len(energy), 24) or len(power) != len(energy):
        raise DataError(f"cap_profiles: shares {s.shape}, energy {energy.shape} and power {power.shape} "
                        "must describe the same sites (sites x 24)")
    if not 0 < cap_share <= 1:
        raise DataError(f"charging cap share {cap_share:g} must lie in (0, 1]")
    if (energy < 0).any() or (power < 0).any():
        raise DataError("cap_profiles: daily energy and installed power must be >= 0")
    kw = s * energy[:, None]
    cap = cap_share * power
    flat = energy > 24.0 * cap + 1e-9
    if flat.any():
        log.warning("%d site(s) need more than 24 h at the charging cap to serve their daily energy; they draw "
                    "evenly over the day above the cap", int(flat.sum()))
    hours = np.arange(24)
    # offsets in order of distance, later first at equal distance: +1, -1, +2, -2, ..., +12
    offsets = [d for k in range(1, 13) for d in ((k, -k) if k < 12 else (k,))]
    excess = np.clip(kw - cap[:, None], 0.0, None)
    kw = np.minimum(kw, cap[:, None])
    order = np.argsort(-excess, axis=1, kind="stable")
    rows = np.arange(len(energy))
    for rank in range(24):
        h = order[:, rank]
        left = excess[rows, h]
        if not (left > _EPS).any():
            break
        for d in offsets:
            t = (h + d) % 24
            room = np.clip(cap - kw[rows, t], 0.0, None)
            move = np.minimum(left, room)
            kw[rows, t] += move
            left = left - move
            if not (left > _EPS).any():
                break
        excess[rows, h] = left
    kw[flat] = (energy[flat] / 24.0)[:, None] * np.ones(len(hours))
    out = np.where(energy[:, None] > 0, kw / np.where(energy > 0, energy, 1.0)[:, None], s)
    return out


@dataclass
class BatteryDispatch:
    """Hour-by-hour operation of the sites' batteries (steps x sites, [kW]).

    Attributes
    ----------
    ev_kw
        Charging load of the vehicles [kW].
    pv_kw
        On-site PV output [kW].
    pv_direct_kw
        PV used by the chargers at once [kW].
    charge_pv_kw, charge_grid_kw
        Battery charging from PV surplus and from the grid [kW].
    discharge_kw
        Battery discharging to the chargers [kW].
    soc_kwh
        Stored energy at the end of each step [kWh].
    step_h
        Step length [h].
    efficiency
        Round-trip efficiency [-].
    rows
        Positions of the dispatch's sites in the caller's table of EV loads (None: all of them).
    """

    ev_kw: np.ndarray
    pv_kw: np.ndarray
    pv_direct_kw: np.ndarray
    charge_pv_kw: np.ndarray
    charge_grid_kw: np.ndarray
    discharge_kw: np.ndarray
    soc_kwh: np.ndarray
    step_h: float
    efficiency: float
    rows: np.ndarray | None = None

    @property
    def site_load_kw(self) -> np.ndarray:
        """Load of the site behind its meter, PV aside: chargers + battery charging - discharging [kW]."""
        return self.ev_kw + self.charge_pv_kw + self.charge_grid_kw - self.discharge_kw

    @property
    def grid_kw(self) -> np.ndarray:
        """The site's draw from the grid for charging [kW] (>= 0)."""
        return self.ev_kw - self.pv_direct_kw - self.discharge_kw + self.charge_grid_kw

    @property
    def export_kw(self) -> np.ndarray:
        """PV fed into the grid: neither used by the chargers nor stored [kW]."""
        return self.pv_kw - self.pv_direct_kw - self.charge_pv_kw

    def energy(self, mix: pd.DataFrame, columns: np.ndarray | None = None) -> EnergyBalance:
        """Energy balance of charging with the batteries, over the steps.

        The renewable part: PV used at once, the stored energy that comes back (efficiency x
        (PV stored + grid energy stored x that hour's renewable share)), and the grid energy
        drawn directly x its hour's renewable share. CO2: every kWh drawn from the grid for
        charging, the battery's losses included, at its hour's intensity.

        Parameters
        ----------
        mix
            Hourly ``renewable_share`` [-] and ``co2_g_per_kwh`` of the steps.
        columns
            Boolean mask of the sites counted (default: all).
        """
        if len(mix) != len(self.ev_kw):
            raise DataError("battery energy balance: the grid mix must have one row per step")
        cols = slice(None) if columns is None else np.asarray(columns, bool)
        h = self.step_h
        re = mix["renewable_share"].to_numpy(float)[:, None]
        co2 = mix["co2_g_per_kwh"].to_numpy(float)[:, None]
        ev = self.ev_kw[:, cols]
        direct_grid = ev - self.pv_direct_kw[:, cols] - self.discharge_kw[:, cols]
        c_pv, c_grid = self.charge_pv_kw[:, cols], self.charge_grid_kw[:, cols]
        grid = direct_grid + c_grid
        ev_kwh = float(ev.sum() * h)
        renewable = (float(self.pv_direct_kw[:, cols].sum()) + self.efficiency * float((c_pv + c_grid * re).sum())
                     + float((direct_grid * re).sum())) * h
        return EnergyBalance(
            ev_kwh=ev_kwh,
            pv_used_kwh=float((self.pv_direct_kw[:, cols] + c_pv).sum() * h),
            pv_exported_kwh=float(self.export_kw[:, cols].sum() * h),
            grid_kwh=float(grid.sum() * h),
            renewable_kwh=renewable,
            renewable_share=renewable / ev_kwh if ev_kwh > 0 else math.nan,
            co2_kg=float((grid * co2).sum() * h) / 1000.0,
        )


def dispatch_batteries(
    ev_kw: np.ndarray,
    pv_kw: np.ndarray,
    *,
    steps_per_day: int,
    step_h: float,
    kwh: np.ndarray | float,
    kw: np.ndarray | float,
    efficiency: float = BATTERY_ROUND_TRIP_EFFICIENCY,
    power_kw: np.ndarray | None = None,
) -> BatteryDispatch:
    """Operate a battery at each site, one day at a time.

    Per site and day: PV serves the chargers first; the surplus charges the battery (at most
    ``kw`` per step, earliest first); then the grid charges it in the site's lowest-draw hours,
    levelling them up but never above the day's mean draw (at most ``kw`` and, with
    ``power_kw``, within the site's connection); the battery discharges ``efficiency`` x the
    energy put in, in the hours of highest draw, levelling the peak down (only hours above the
    mean draw, at most ``kw`` and the draw of that hour). The energy put in is at most what the
    day can give back (``kwh``, and what the peak hours can take) / ``efficiency``. Losses are
    taken on the way in, so every day closes exactly: discharged = ``efficiency`` x charged.

    The order within the day is not enforced (PV charging at noon may serve an evening peak,
    grid charging at night a morning peak of the same day): the battery is a daily energy
    shifter, the design-day view of storage.

    Parameters
    ----------
    ev_kw, pv_kw
        Charging load and on-site PV per step and site (steps x sites) [kW]; the steps cover
        whole days.
    steps_per_day
        Steps of one day [-].
    step_h
        Step length [h].
    kwh, kw
        Usable energy and charge/discharge power of each site's battery [kWh], [kW].
    efficiency
        Round-trip efficiency [-], in (0, 1].
    power_kw
        Installed power of each site [kW]: grid charging keeps the site's draw within it.

    Returns
    -------
    BatteryDispatch
    """
    ev = np.asarray(ev_kw, dtype=float)
    pv = np.asarray(pv_kw, dtype=float)
    if ev.ndim != 2 or pv.shape != ev.shape:
        raise DataError(f"battery dispatch: EV {ev.shape} and PV {pv.shape} must both be steps x sites")
    n_t, n = ev.shape
    if steps_per_day <= 0 or n_t % steps_per_day:
        raise DataError(f"battery dispatch: {n_t} steps are not whole days of {steps_per_day} steps")
    if not 0 < efficiency <= 1:
        raise DataError(f"battery round-trip efficiency {efficiency:g} must lie in (0, 1]")
    cap_kwh = np.broadcast_to(np.asarray(kwh, dtype=float), (n,)).copy()
    cap_kw = np.broadcast_to(np.asarray(kw, dtype=float), (n,)).copy()
    if (cap_kwh < 0).any() or (cap_kw < 0).any():
        raise DataError("battery energy and power must be >= 0")
    days = n_t // steps_per_day
    shape = (days, steps_per_day, n)
    e = ev.reshape(shape)
    p = pv.reshape(shape)
    direct = np.minimum(e, p)
    surplus = p - direct
    draw = e - direct
    # the most a day can give back: the usable energy, and what discharging at power can shave off the draw
    mean = draw.mean(axis=1, keepdims=True)
    shave_room = np.where(draw > mean, np.minimum(draw, cap_kw), 0.0)
    out_max = np.minimum(cap_kwh[None, :], shave_room.sum(axis=1) * step_h)
    in_max = out_max / efficiency
    # PV surplus first, at most the power per step, earliest hours first, up to what the day can give back
    c_pv = np.minimum(surplus, cap_kw)
    cum = np.cumsum(c_pv, axis=1) * step_h
    c_pv = np.clip(np.minimum(cum, in_max[:, None, :]) - (cum - c_pv * step_h), 0.0, None) / step_h
    pv_in = c_pv.sum(axis=1) * step_h
    # then the grid, in the site's lowest-draw hours (levelled up), within the power and the connection
    room = np.minimum(cap_kw - c_pv, mean - draw)
    if power_kw is not None:
        conn = np.broadcast_to(np.asarray(power_kw, dtype=float), (n,))
        room = np.minimum(room, conn - draw)
    room = np.clip(room, 0.0, None)
    c_grid = _level(draw, room, np.clip(in_max - pv_in, 0.0, None), step_h, down=False)
    # discharge: efficiency x the energy put in, off the highest draw (levelled down)
    got_in = pv_in + c_grid.sum(axis=1) * step_h
    discharge = _level(draw, shave_room, efficiency * got_in, step_h, down=True)
    # stored energy: the losses are taken on the way in; a day's walk ranges over at most the usable
    # energy, and it starts at the level that keeps it >= 0 (the day repeats)
    soc = np.cumsum((efficiency * (c_pv + c_grid) - discharge) * step_h, axis=1)
    soc = soc - np.minimum(soc.min(axis=1, keepdims=True), 0.0)
    return BatteryDispatch(
        ev_kw=ev, pv_kw=pv, pv_direct_kw=direct.reshape(n_t, n), charge_pv_kw=c_pv.reshape(n_t, n),
        charge_grid_kw=c_grid.reshape(n_t, n), discharge_kw=discharge.reshape(n_t, n),
        soc_kwh=soc.reshape(n_t, n), step_h=step_h, efficiency=efficiency,
    )


def _level(load: np.ndarray, room: np.ndarray, energy: np.ndarray, step_h: float, *, down: bool) -> np.ndarray:
    """Power per step (days x steps x sites) that takes ``energy`` [kWh] per day and site off the
    highest steps of ``load`` (``down``) or puts it on the lowest, levelling to one threshold,
    at most ``room`` per step. Bisection on the threshold, vectorised over days and sites."""
    lo = np.zeros(energy.shape)
    hi = np.zeros(energy.shape)
    if down:
        lo = (load - room).min(axis=1)
        hi = load.max(axis=1)
    else:
        lo = load.min(axis=1)
        hi = (load + room).max(axis=1)
    lo = np.minimum(lo, hi)

    def amount(level: np.ndarray) -> np.ndarray:
        if down:
            return np.clip(load - level[:, None, :], 0.0, room)
        return np.clip(level[:, None, :] - load, 0.0, room)

    for _ in range(60):
        mid = 0.5 * (lo + hi)
        got = amount(mid).sum(axis=1) * step_h
        if down:
            lo, hi = np.where(got > energy, mid, lo), np.where(got > energy, hi, mid)
        else:
            lo, hi = np.where(got < energy, mid, lo), np.where(got < energy, hi, mid)
    level = hi if down else lo
    res = amount(level)
    # the bisection leaves at most a rounding error; scale to the energy asked where it is reachable
    got = res.sum(axis=1) * step_h
    scale = np.where(got > energy, energy / np.where(got > 0, got, 1.0), 1.0)
    return res * scale[:, None, :]


def site_batteries(
    sites: pd.DataFrame,
    index: pd.DatetimeIndex,
    shares: np.ndarray,
    pv_kw_per_kwp: np.ndarray | None,
    *,
    efficiency: float = BATTERY_ROUND_TRIP_EFFICIENCY,
) -> tuple[pd.DataFrame, BatteryDispatch]:
    """The batteries of the rows of ``sites`` operated over the time axis, and what they add to the load.

    Parameters
    ----------
    sites
        One row per EV load: ``bus_id``, ``served_kwh_day`` [kWh/day], ``power_kw`` [kW] (the
        charging draw is capped at it), ``battery_kwh`` [kWh], ``battery_kw`` [kW] (0: none) and
        optionally ``pv_kwp`` [kWp].
    index
        Time axis of whole days starting at midnight.
    shares
        Hourly shares of each row's daily energy (rows x 24) or one profile of 24 for all.
    pv_kw_per_kwp
        PV output per kWp per step [kW/kWp] (None: no PV).
    efficiency
        Round-trip efficiency of the batteries [-].

    Returns
    -------
    tuple
        Steps x bus ids of what the batteries add to the load at each bus (charging less
        discharging) [kW], and the dispatch (per row).
    """
    missing = {"bus_id", "served_kwh_day", "power_kw", "battery_kwh", "battery_kw"} - set(sites.columns)
    if missing:
        raise DataError(f"sites lack column(s) {sorted(missing)} needed for the batteries")
    n = len(sites)
    arr = np.asarray(shares, dtype=float)
    arr = np.broadcast_to(arr, (n, 24)) if arr.ndim == 1 else arr
    if arr.shape != (n, 24):
        raise DataError(f"site profiles must have shape ({n}, 24), got {arr.shape}")
    step_h = (index[1] - index[0]).total_seconds() / 3600.0 if len(index) > 1 else 24.0
    steps_per_day = int(round(24.0 / step_h))
    if len(index) % steps_per_day or index[0] != index[0].normalize():
        raise DataError("batteries need a time axis of whole days starting at midnight")
    ev = arr[:, np.asarray(index.hour)].T * sites["served_kwh_day"].to_numpy(float)[None, :]
    ev = np.minimum(ev, sites["power_kw"].to_numpy(float)[None, :])
    kwp = sites["pv_kwp"].to_numpy(float) if "pv_kwp" in sites.columns else np.zeros(n)
    pv = np.outer(pv_kw_per_kwp, kwp) if pv_kw_per_kwp is not None else np.zeros_like(ev)
    dispatch = dispatch_batteries(
        ev, pv, steps_per_day=steps_per_day, step_h=step_h, kwh=sites["battery_kwh"].to_numpy(float),
        kw=sites["battery_kw"].to_numpy(float), efficiency=efficiency, power_kw=sites["power_kw"].to_numpy(float),
    )
    delta = dispatch.charge_pv_kw + dispatch.charge_grid_kw - dispatch.discharge_kw
    frame = pd.DataFrame(delta, index=index, columns=sites["bus_id"].to_numpy())
    return frame.T.groupby(level=0).sum().T, dispatch


def smart_rows(
    rows: pd.DataFrame,
    profiles: np.ndarray,
    *,
    cap_share: float | None = None,
    battery_kwh: float = 0.0,
    battery_kw: float = 0.0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Charging sites of the grid's EV rows with the charging cap and the on-site batteries.

    Parameters
    ----------
    rows
        EV loads with ``kind`` (``"public"`` for charging sites), ``served_kwh_day`` [kWh/day] and
        ``power_kw`` [kW].
    profiles
        Daily profile of each row (rows x 24).
    cap_share
        Share of the installed power a charging site may draw [-] (None: no cap).
    battery_kwh, battery_kw
        Battery at each charging site [kWh], [kW].

    Returns
    -------
    tuple
        The rows with ``battery_kwh`` and ``battery_kw`` (0 outside charging sites), and the
        profiles with the charging sites' capped.
    """
    public = rows["kind"].eq("public").to_numpy() if "kind" in rows.columns else np.ones(len(rows), bool)
    out = np.array(profiles, dtype=float, copy=True)
    if cap_share is not None and public.any():
        out[public] = cap_profiles(out[public], rows["served_kwh_day"].to_numpy(float)[public],
                                   rows["power_kw"].to_numpy(float)[public], cap_share)
    rows = rows.assign(battery_kwh=np.where(public, float(battery_kwh), 0.0),
                       battery_kw=np.where(public, float(battery_kw), 0.0))
    return rows, out
