"""Hourly charging profiles: when in the day each segment and use case draws its energy.

:func:`charging_profile` spreads a weekday's charging energy over 24 hours from the use
case's arrival times, dwell window and charging duration
(:data:`~charge_planner.assumptions.PROFILE_SPECS`) under one
of the :data:`STRATEGIES`; :func:`profile_table` collects them, and :func:`hourly_load`
and :func:`cell_peaks` apply them to the ``demand`` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from charge_planner.assumptions import PROFILE_SPECS
from charge_planner.errors import ConfigError
from charge_planner.presets import SEGMENTS, USE_CASES

STRATEGIES: tuple[str, ...] = ("unmanaged", "managed_offpeak", "solar_following", "capped")

# =============================================================================================
# 4. Hourly profiles
# =============================================================================================
# PV output shape (assumption: 12-hour day, half-sine between 06:00 and 18:00).
PV_SHAPE = np.clip(np.sin(np.pi * (np.arange(24) + 0.5 - 6.0) / 12.0), 0.0, None)
PV_SHAPE[(np.arange(24) < 6) | (np.arange(24) >= 18)] = 0.0


def offpeak_mask(offpeak_hours: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the hours in the ``[start, end)`` window (wrapping midnight)."""
    start, end = int(offpeak_hours[0]) % 24, int(offpeak_hours[1]) % 24
    if start == end:
        raise ConfigError(f"offpeak_hours {offpeak_hours} is an empty window; give [start, end) hours, e.g. (22, 6)")
    return (np.arange(24) - start) % 24 < (end - start) % 24


def _fill(pref: np.ndarray, cap: float) -> np.ndarray:
    """Spread one session over its dwell window.

    Preferred hours (``pref > 0``) get energy first, proportional to ``pref`` and at most
    ``cap`` per hour (water-filling); what does not fit goes to the other hours in
    chronological order, again at most ``cap`` per hour. Shares of the session, sum 1.
    """
    e = np.zeros(len(pref))
    pos = pref > 0
    if pos.any():
        if cap * pos.sum() <= 1.0:
            e[pos] = cap
        else:
            p = pref[pos]
            lo, hi = 0.0, cap / p.min()
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if np.minimum(cap, mid * p).sum() < 1.0:
                    lo = mid
                else:
                    hi = mid
            e[pos] = np.minimum(cap, hi * p)
            e[pos] /= e[pos].sum()
    rest = 1.0 - e.sum()
    if rest > 1e-12:
        room = np.where(pos, 0.0, cap)
        before = np.cumsum(room) - room
        e += np.clip(rest - before, 0.0, room)
    return e


@lru_cache(maxsize=512)
def _profile(segment: str, use_case: str, strategy: str, offpeak: tuple[int, int]) -> tuple[float, ...]:
    spec = PROFILE_SPECS[use_case]
    arr = spec.arrival_shares()
    dwell = int(spec.dwell_h)
    cap = max(1.0 / float(spec.charge_h.get(segment, 1.0)), 1.0 / dwell)
    if strategy in ("unmanaged", "capped"):
        weight = np.zeros(24)
    elif strategy == "managed_offpeak":
        weight = offpeak_mask(offpeak).astype(float)
    else:
        weight = PV_SHAPE
    out = np.zeros(24)
    for a in range(24):
        if arr[a] == 0:
            continue
        hours = (a + np.arange(dwell)) % 24
        np.add.at(out, hours, arr[a] * _fill(weight[hours], cap))
    out /= out.sum()
    return tuple(float(v) for v in out)


def charging_profile(
    segment: str,
    use_case: str,
    strategy: str = "unmanaged",
    *,
    offpeak_hours: tuple[int, int] = (22, 6),
) -> np.ndarray:
    """Hourly shares of a weekday's charging energy (24 values that sum to 1).

    Vehicles arrive by the use case's arrival distribution and stay ``dwell_h`` hours;
    a session needs ``charge_h`` hours at full power (:data:`PROFILE_SPECS`).

    * "unmanaged": charging starts on arrival at full power (evening peak for home
      charging, daytime hump for destination charging, overnight for depots);
    * "managed_offpeak": the off-peak hours of the dwell window are filled first, evenly
      up to full power; the rest is charged as early as possible;
    * "solar_following": as "managed_offpeak" but following the PV output shape
      (:data:`PV_SHAPE`) within the dwell window;
    * "capped": the arrivals of "unmanaged"; the cap on each site's draw needs the site's
      installed power, so it is applied on the grid side to the sites' profiles
      (:func:`charge_planner.grid.smart.cap_profiles`), and demand peaks of cells, which
      have no installed power, stay those of "unmanaged".

    Parameters
    ----------
    segment
        One of :data:`~charge_planner.presets.SEGMENTS`.
    use_case
        One of :data:`~charge_planner.presets.USE_CASES`.
    strategy
        One of :data:`STRATEGIES`.
    offpeak_hours
        (start, end) of the off-peak window [h], end exclusive, may wrap midnight.

    Returns
    -------
    numpy.ndarray
        Shares per hour 0..23 [1/h]; energy [kWh/day] x share = mean load in that hour [kW].
    """
    bad = []
    if segment not in SEGMENTS:
        bad.append(f"segment {segment!r} (use any of {list(SEGMENTS)})")
    if use_case not in USE_CASES:
        bad.append(f"use case {use_case!r} (use any of {list(USE_CASES)})")
    if strategy not in STRATEGIES:
        bad.append(f"strategy {strategy!r} (use any of {list(STRATEGIES)})")
    if bad:
        raise ConfigError("charging profile: unknown " + "; unknown ".join(bad))
    offpeak_mask(offpeak_hours)
    window = (int(offpeak_hours[0]) % 24, int(offpeak_hours[1]) % 24)
    return np.array(_profile(segment, use_case, strategy, window))


def profile_table(
    strategy: str = "unmanaged",
    *,
    segments: Sequence[str] = SEGMENTS,
    use_cases: Sequence[str] = USE_CASES,
    offpeak_hours: tuple[int, int] = (22, 6),
) -> pd.DataFrame:
    """Profiles of every (segment, use case): rows indexed by (``segment``, ``use_case``), columns 0..23 [1/h]."""
    keys = [(s, u) for s in segments for u in use_cases]
    data = np.array([charging_profile(s, u, strategy, offpeak_hours=offpeak_hours) for s, u in keys])
    return pd.DataFrame(data, index=pd.MultiIndex.from_tuples(keys, names=["segment", "use_case"]), columns=range(24))


# Unmanaged public fast-charging profile of cars (kept for callers that need one public profile).
PUBLIC_PROFILE = charging_profile("car", "public_dc")


def hourly_load(demand: pd.DataFrame, profiles: pd.DataFrame, *, by: Sequence[str] = ("cell_id", "year")) -> pd.DataFrame:
    """Mean charging load per hour [kW], summed over the rows of each group.

    Parameters
    ----------
    demand
        Rows with ``segment``, ``use_case``, ``energy_kwh_day`` and the ``by`` columns.
    profiles
        Output of :func:`profile_table`.
    by
        Grouping columns.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``; columns ``0..23`` [kW].
    """
    by = list(by)
    if demand.empty:
        return pd.DataFrame(columns=range(24), index=pd.MultiIndex.from_tuples([], names=by), dtype=float)
    keys = pd.MultiIndex.from_arrays([demand["segment"], demand["use_case"]])
    k = profiles.index.get_indexer(keys)
    if (k < 0).any():
        raise ConfigError("no charging profile for some (segment, use case) pairs of the demand table")
    groups = demand.groupby(by, sort=True).ngroup().to_numpy()
    n_g = int(groups.max()) + 1
    import scipy.sparse as sp

    e = sp.csr_matrix((demand["energy_kwh_day"].to_numpy(dtype=float), (groups, k)), shape=(n_g, len(profiles)))
    load = e @ profiles.to_numpy()
    index = demand.groupby(by, sort=True).size().index
    return pd.DataFrame(np.asarray(load), index=index, columns=range(24))


def cell_peaks(demand: pd.DataFrame, profiles: pd.DataFrame) -> pd.DataFrame:
    """Peak charging load of every cell and year, over all use cases and over the sited ones.

    Returns
    -------
    pandas.DataFrame
        Indexed by (``cell_id``, ``year``): ``energy_kwh_day`` [kWh/day], ``peak_kw`` [kW],
        ``peak_hour`` [h], ``sited_energy_kwh_day`` [kWh/day], ``sited_peak_kw`` [kW].
    """
    load = hourly_load(demand, profiles)
    out = pd.DataFrame(
        {
            "energy_kwh_day": load.sum(axis=1),
            "peak_kw": load.max(axis=1),
            "peak_hour": load.to_numpy().argmax(axis=1) if len(load) else np.zeros(0, dtype=int),
        },
        index=load.index,
    )
    sited = demand[demand["sited"]] if "sited" in demand.columns else demand.iloc[:0]
    s_load = hourly_load(sited, profiles).reindex(load.index, fill_value=0.0)
    out["sited_energy_kwh_day"] = s_load.sum(axis=1)
    out["sited_peak_kw"] = s_load.max(axis=1)
    return out
