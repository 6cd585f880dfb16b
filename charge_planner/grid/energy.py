"""Energy of charging: on-site PV (pvlib), hourly grid mix, renewable share and CO2.

* :func:`pv_profile` — PV output per kWp at each step: pvlib clear-sky irradiance
  (Ineichen model with pvlib's climatological Linke turbidity, no internet needed) on a
  fixed south-facing plane at latitude tilt, cell temperature (Faiman) and PVWatts DC/AC;
  a seeded day-to-day clear-sky index stands in for clouds; the result is scaled so that
  the annual yield equals the country's PVOUT (ESMAP/Solargis, facts table E5.12).
* :func:`grid_mix` — hourly renewable share and carbon intensity of grid electricity.
  The facts table gives annual averages only (E5.01-E5.09), so the hourly shape is an
  assumption: a constant non-solar renewable part plus a solar part shaped like the PV
  profile, and a constant intensity of the non-renewable part.
* :func:`charging_energy` — renewable share of the charging energy (on-site PV used by
  the chargers + the grid's renewable share at each step) and its CO2.
* :func:`combustion_co2_kg` — CO2 of the combustion vehicles the charging energy replaces.
* :func:`grid_emissions` — the one grid series of a run (Electricity Maps or Ember, never
  mixed: intensity and renewable share come from the same series) and the factor of
  avoided emissions (grid average or, for India, CEA's combined margin).
* :func:`combustion_g_per_km` — combustion baseline per segment, tank-to-wheel or well to
  wheel (tank-to-wheel x (fuel CO2 + well-to-tank) / fuel CO2).
* :func:`base_load_growth` — factor that grows the base load from its data year to a year.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from charge_planner.errors import ConfigError, DataError
from charge_planner.presets import (
    FUEL_TTW_KG_PER_UNIT,
    FUEL_WTT_KG_PER_UNIT,
    SEGMENT_FUEL,
    CountryPreset,
    Sourced,
)

log = logging.getLogger(__name__)

__all__ = [
    "COMBUSTION_BASES",
    "GRID_SERIES",
    "PV_YIELD_KWH_PER_KWP_YEAR",
    "EnergyBalance",
    "GridEmissions",
    "PVProfile",
    "base_load_growth",
    "charging_energy",
    "combustion_co2_kg",
    "combustion_g_per_km",
    "grid_emissions",
    "grid_mix",
    "pv_profile",
]

_E512 = "ESMAP/Solargis Global Photovoltaic Power Potential by Country (2020), country-average PVOUT (facts E5.12)"

#: Annual PV yield per kWp [kWh/kWp/year] by country (fixed optimum tilt, about 11 % losses).
PV_YIELD_KWH_PER_KWP_YEAR: dict[str, Sourced] = {
    "india": Sourced(1577.0, _E512, "M"),
    "nepal": Sourced(1460.0, _E512, "M"),
    "bangladesh": Sourced(1416.0, _E512, "M"),
    "sri_lanka": Sourced(1537.0, _E512, "M"),
    "philippines": Sourced(1434.0, _E512, "M"),
    "vietnam": Sourced(1296.0, _E512, "M"),
    "indonesia": Sourced(1376.0, _E512, "M"),
    "thailand": Sourced(1482.0, _E512, "M"),
}

#: Standard time offsets from UTC [h] (no daylight saving in these countries).
UTC_OFFSET_H: dict[str, float] = {
    "india": 5.5, "nepal": 5.75, "bangladesh": 6.0, "sri_lanka": 5.5, "philippines": 8.0,
    "vietnam": 7.0, "indonesia": 7.0, "thailand": 7.0,
}  # fmt: skip

#: ASSUMPTION: mean and standard deviation of the daily clear-sky index (ratio of actual to
#: clear-sky energy) that shapes day-to-day variability; the level is rescaled to PVOUT.
DAILY_CLEARSKY_INDEX_MEAN = 0.75
DAILY_CLEARSKY_INDEX_STD = 0.18
#: ASSUMPTION: ambient temperature for the cell temperature: 27 degC mean, +-5 K daily swing
#: peaking at 15 h; wind 1 m/s.
AMBIENT_MEAN_C = 27.0
AMBIENT_SWING_C = 5.0
#: ASSUMPTION: PVWatts temperature coefficient [1/K] and nominal inverter efficiency [-].
GAMMA_PDC = -0.004
INVERTER_EFFICIENCY = 0.96
#: ASSUMPTION: share of solar in a country's renewable generation, shaping the hourly
#: renewable share (not in the facts table; India 2024 is roughly one third).
SOLAR_SHARE_OF_RENEWABLES = 0.35


@dataclass
class PVProfile:
    """PV output per kWp installed.

    Attributes
    ----------
    kw_per_kwp
        AC output per step [kW/kWp].
    annual_yield_kwh_per_kwp
        Yield of a full year with the same model [kWh/kWp/year] (the PVOUT it is scaled to).
    annual_mean_kw_per_kwp
        Mean output over that year [kW/kWp] (used to normalise the grid-mix shape).
    assumptions
        What was assumed, each with its source or "assumption".
    """

    kw_per_kwp: np.ndarray
    annual_yield_kwh_per_kwp: float
    annual_mean_kw_per_kwp: float
    assumptions: list[str] = field(default_factory=list)


def _utc_offset(country: str | None, longitude: float) -> float:
    if country is not None:
        key = country.strip().lower().replace(" ", "_")
        if key in UTC_OFFSET_H:
            return UTC_OFFSET_H[key]
    return round(longitude / 15.0 * 2.0) / 2.0


def _clear_sky_ac(times_local: pd.DatetimeIndex, latitude: float, longitude: float, offset_h: float,
                  tilt_deg: float, azimuth_deg: float) -> np.ndarray:
    """Clear-sky AC output per kWp at the given local times (step midpoints) [kW/kWp]."""
    from pvlib import irradiance, location, pvsystem, temperature

    minutes = int(round(offset_h * 60))
    tz = pd.Timedelta(minutes=minutes)
    times_utc = (times_local - tz).tz_localize("UTC")
    loc = location.Location(latitude, longitude, tz="UTC")
    with warnings.catch_warnings():
        # pvlib reads its bundled Linke turbidity table; no other warning is expected
        warnings.simplefilter("ignore", category=RuntimeWarning)
        solpos = loc.get_solarposition(times_utc)
        cs = loc.get_clearsky(times_utc, model="ineichen", solar_position=solpos)
        poa = irradiance.get_total_irradiance(
            tilt_deg, azimuth_deg, solpos["apparent_zenith"], solpos["azimuth"], cs["dni"], cs["ghi"], cs["dhi"]
        )["poa_global"].fillna(0.0).clip(lower=0.0)
    hour = np.asarray(times_local.hour) + np.asarray(times_local.minute) / 60.0
    t_air = AMBIENT_MEAN_C + AMBIENT_SWING_C * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
    t_cell = temperature.faiman(poa.to_numpy(), t_air, 1.0)
    pdc = pvsystem.pvwatts_dc(poa.to_numpy(), t_cell, 1.0, GAMMA_PDC)
    return np.clip(np.asarray(pdc, dtype=float) * INVERTER_EFFICIENCY, 0.0, None)


def pv_profile(
    index: pd.DatetimeIndex,
    *,
    latitude: float,
    longitude: float,
    country: str | None = None,
    annual_yield_kwh_per_kwp: float | None = None,
    tilt_deg: float | None = None,
    azimuth_deg: float | None = None,
    seed: int = 0,
) -> PVProfile:
    """PV output per kWp at every step of a (local-time) time axis.

    For a time axis of one day the output is the expected day (clear-sky x the mean
    clear-sky index); for longer axes every day gets its own seeded clear-sky index.

    Parameters
    ----------
    index
        Local standard time, regular steps (see :func:`~charge_planner.grid.timeseries.time_index`).
    latitude, longitude
        Site [degree].
    country
        Selects PVOUT and the UTC offset (default: offset from longitude; PVOUT required then).
    annual_yield_kwh_per_kwp
        Annual yield to scale to [kWh/kWp/year]; default the country's PVOUT.
    tilt_deg
        Module tilt [degree]; default ``abs(latitude)``.
    azimuth_deg
        Module azimuth [degree]; default 180 (south) north of the equator, 0 south of it.
    seed
        Seed of the daily clear-sky index [-].

    Returns
    -------
    PVProfile
        Output per kWp per step [kW/kWp] and what was assumed.

    Raises
    ------
    DataError
        Bad coordinates, an unknown country without an explicit yield, or an empty axis.
    """
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise DataError(f"pv_profile: latitude {latitude} / longitude {longitude} out of range (degrees, EPSG:4326)")
    if len(index) == 0:
        raise DataError("pv_profile: the time axis is empty")
    source = "given by the caller"
    if annual_yield_kwh_per_kwp is None:
        key = (country or "").strip().lower().replace(" ", "_")
        if key not in PV_YIELD_KWH_PER_KWP_YEAR:
            raise DataError(
                f"pv_profile: no PVOUT for country {country!r}; pass annual_yield_kwh_per_kwp "
                f"(known: {', '.join(sorted(PV_YIELD_KWH_PER_KWP_YEAR))})"
            )
        sourced = PV_YIELD_KWH_PER_KWP_YEAR[key]
        annual_yield_kwh_per_kwp, source = sourced.value, sourced.source
    if not annual_yield_kwh_per_kwp > 0:
        raise DataError(f"pv_profile: annual_yield_kwh_per_kwp {annual_yield_kwh_per_kwp} must be positive")
    tilt = abs(latitude) if tilt_deg is None else float(tilt_deg)
    azimuth = (180.0 if latitude >= 0 else 0.0) if azimuth_deg is None else float(azimuth_deg)
    offset = _utc_offset(country, longitude)
    step = (index[1] - index[0]) if len(index) > 1 else pd.Timedelta(hours=1)
    step_h = step / pd.Timedelta(hours=1)

    # a full reference year (hourly, same model) fixes the level
    year = int(index[0].year)
    ref_idx = pd.date_range(f"{year}-01-01 00:30", periods=8760, freq="h")
    ref_clear = _clear_sky_ac(ref_idx, latitude, longitude, offset, tilt, azimuth)
    rng = np.random.default_rng(seed)
    m, s = DAILY_CLEARSKY_INDEX_MEAN, DAILY_CLEARSKY_INDEX_STD
    common = m * (1.0 - m) / s**2 - 1.0  # Beta distribution with this mean and std
    k_day = rng.beta(m * common, (1.0 - m) * common, size=366)
    ref_days = np.asarray(ref_idx.dayofyear) - 1
    ref_energy = float((ref_clear * k_day[ref_days]).sum())
    scale = annual_yield_kwh_per_kwp / ref_energy

    clear = _clear_sky_ac(pd.DatetimeIndex(index) + step / 2, latitude, longitude, offset, tilt, azimuth)
    if len(index) * step_h <= 24.0:
        factor = np.full(len(index), m)
    else:
        factor = k_day[np.asarray(index.dayofyear) - 1]
    kw = clear * factor * scale
    assumptions = [
        f"PV: pvlib {_pvlib_version()} clear-sky (Ineichen, climatological Linke turbidity), fixed plane tilt "
        f"{tilt:.0f} deg azimuth {azimuth:.0f} deg, Faiman cell temperature with ambient {AMBIENT_MEAN_C:g} "
        f"+- {AMBIENT_SWING_C:g} degC, PVWatts gamma {GAMMA_PDC:g}/K, inverter {INVERTER_EFFICIENCY:g} (assumption)",
        f"PV clouds: daily clear-sky index from a seeded Beta distribution, mean {m:g}, std {s:g} (assumption; "
        "no monsoon seasonality), level scaled so that a year yields "
        f"{annual_yield_kwh_per_kwp:.0f} kWh/kWp ({source})",
        f"local standard time UTC{offset:+g} h",
    ]
    return PVProfile(
        kw_per_kwp=kw,
        annual_yield_kwh_per_kwp=float(annual_yield_kwh_per_kwp),
        annual_mean_kw_per_kwp=float(annual_yield_kwh_per_kwp) / 8760.0,
        assumptions=assumptions,
    )


def _pvlib_version() -> str:
    import pvlib

    return str(pvlib.__version__)


def grid_mix(
    pv: PVProfile,
    *,
    annual_renewable_share: float,
    annual_co2_g_per_kwh: float,
    solar_share_of_renewables: float = SOLAR_SHARE_OF_RENEWABLES,
) -> pd.DataFrame:
    """Hourly renewable share and carbon intensity of grid electricity.

    ``re(t) = R (1 - s) + R s pv(t) / mean_year(pv)`` and
    ``co2(t) = C (1 - re(t)) / (1 - R)``, with R the annual renewable share, C the annual
    intensity and s the solar share of renewables: their averages over a year are R and C.

    Parameters
    ----------
    pv
        PV profile of the time axis (its shape is the shape of grid solar).
    annual_renewable_share
        Annual renewable share of the series' electricity [-] (facts E5.01-E5.09); with 1 the
        intensity is the constant lifecycle intensity of renewables.
    annual_co2_g_per_kwh
        Annual carbon intensity [gCO2e/kWh] (facts E5.01-E5.09).
    solar_share_of_renewables
        Share of solar in renewable generation [-] (assumption).

    Returns
    -------
    pandas.DataFrame
        Columns ``renewable_share`` [-] and ``co2_g_per_kwh`` [gCO2e/kWh], one row per step.
    """
    r, c, s = annual_renewable_share, annual_co2_g_per_kwh, solar_share_of_renewables
    if not (0.0 <= r <= 1.0 and c >= 0.0 and 0.0 <= s <= 1.0):
        raise DataError(
            f"grid_mix: renewable share {r} must lie in [0, 1], intensity {c} >= 0, solar share {s} in [0, 1]"
        )
    if r == 1.0:  # all renewable (Ember's Nepal): the lifecycle intensity of renewables, all day
        n = len(pv.kw_per_kwp)
        return pd.DataFrame({"renewable_share": np.ones(n), "co2_g_per_kwh": np.full(n, c)})
    shape = pv.kw_per_kwp / pv.annual_mean_kw_per_kwp if pv.annual_mean_kw_per_kwp > 0 else np.ones_like(pv.kw_per_kwp)
    re = np.clip(r * (1.0 - s) + r * s * shape, 0.0, 1.0)
    co2 = c * (1.0 - re) / (1.0 - r)
    return pd.DataFrame({"renewable_share": re, "co2_g_per_kwh": co2})


@dataclass
class EnergyBalance:
    """Energy of charging over a time axis.

    Attributes
    ----------
    ev_kwh
        Charging energy [kWh].
    pv_used_kwh
        On-site PV consumed by the chargers at their own bus [kWh].
    pv_exported_kwh
        On-site PV fed into the grid [kWh].
    grid_kwh
        Charging energy drawn from the grid [kWh].
    renewable_kwh
        Renewable part of the charging energy: PV used + grid energy x hourly renewable share [kWh].
    renewable_share
        ``renewable_kwh / ev_kwh`` [-].
    co2_kg
        CO2 of the grid energy drawn for charging [kg].
    """

    ev_kwh: float
    pv_used_kwh: float
    pv_exported_kwh: float
    grid_kwh: float
    renewable_kwh: float
    renewable_share: float
    co2_kg: float


def charging_energy(
    ev_kw: pd.DataFrame,
    pv_kw: pd.DataFrame | None,
    mix: pd.DataFrame,
    *,
    step_h: float,
) -> EnergyBalance:
    """Renewable share and CO2 of charging, with on-site PV used first at its own bus.

    Parameters
    ----------
    ev_kw
        Charging power per step and bus (steps x bus ids) [kW].
    pv_kw
        On-site PV per step and bus (steps x bus ids) [kW], or None.
    mix
        :func:`grid_mix` of the same steps.
    step_h
        Step length [h].

    Returns
    -------
    EnergyBalance
        Energies [kWh], renewable share [-], CO2 [kg].
    """
    n = len(ev_kw)
    if len(mix) != n or (pv_kw is not None and len(pv_kw) != n):
        raise DataError("charging_energy: EV, PV and grid-mix tables must have one row per step each")
    ev = ev_kw.T.groupby(level=0).sum().T
    if pv_kw is not None and pv_kw.shape[1]:
        pv = pv_kw.T.groupby(level=0).sum().T.reindex(columns=ev.columns.union(pv_kw.columns), fill_value=0.0)
        ev_all = ev.reindex(columns=pv.columns, fill_value=0.0).to_numpy(float)
        pv_all = pv.to_numpy(float)
    else:
        ev_all = ev.to_numpy(float)
        pv_all = np.zeros_like(ev_all)
    used = np.minimum(ev_all, pv_all)
    grid = (ev_all - used).sum(axis=1)
    re = mix["renewable_share"].to_numpy(float)
    co2 = mix["co2_g_per_kwh"].to_numpy(float)
    ev_kwh = float(ev_all.sum() * step_h)
    pv_used = float(used.sum() * step_h)
    renewable = pv_used + float((grid * re).sum() * step_h)
    return EnergyBalance(
        ev_kwh=ev_kwh,
        pv_used_kwh=pv_used,
        pv_exported_kwh=float((pv_all - used).sum() * step_h),
        grid_kwh=float(grid.sum() * step_h),
        renewable_kwh=renewable,
        renewable_share=renewable / ev_kwh if ev_kwh > 0 else math.nan,
        co2_kg=float((grid * co2).sum() * step_h) / 1000.0,
    )


def combustion_co2_kg(
    ev_kwh_by_segment: pd.Series, kwh_per_km: pd.Series, g_co2_per_km: pd.Series
) -> float:
    """CO2 of the combustion vehicles that would drive the kilometres this charging energy covers.

    Parameters
    ----------
    ev_kwh_by_segment
        Charging energy per segment [kWh].
    kwh_per_km
        EV energy use per segment [kWh/km].
    g_co2_per_km
        Combustion-vehicle emissions per segment [gCO2/km].

    Returns
    -------
    float
        CO2 [kg]; segments missing from ``kwh_per_km`` or ``g_co2_per_km`` count 0 and are logged.
    """
    km = ev_kwh_by_segment / kwh_per_km.reindex(ev_kwh_by_segment.index)
    g = g_co2_per_km.reindex(ev_kwh_by_segment.index)
    missing = ev_kwh_by_segment.index[(km.isna() | g.isna()) & (ev_kwh_by_segment > 0)]
    if len(missing):
        log.warning("no combustion baseline for segment(s) %s: they count 0 kg CO2 avoided", list(missing))
    return float((km * g).fillna(0.0).sum()) / 1000.0


GRID_SERIES: dict[str, str] = {
    "electricity_maps": "Electricity Maps 2024, consumption-based (imports included), lifecycle gCO2e/kWh",
    "ember": "Ember, generation-based (imports excluded), lifecycle gCO2e/kWh",
}
"""The grid series a run can use, with the basis of each (facts E5.01-E5.09)."""

AVOIDED_FACTORS: tuple[str, ...] = ("grid_average", "cea_combined_margin")
COMBUSTION_BASES: tuple[str, ...] = ("well_to_wheel", "tank_to_wheel")


@dataclass(frozen=True)
class GridEmissions:
    """Grid electricity of one run: intensity and renewable share of ONE series, and the avoided-emission factor.

    Attributes
    ----------
    series
        ``"electricity_maps"`` or ``"ember"``.
    basis
        What the series counts (:data:`GRID_SERIES`).
    co2_g_per_kwh
        Annual intensity of the series [gCO2e/kWh].
    renewable_share
        Annual renewable share of the same series [-].
    avoided_factor
        ``"grid_average"`` or ``"cea_combined_margin"``.
    avoided_co2_g_per_kwh
        Grid factor of the charging energy when avoided emissions are counted [gCO2/kWh]:
        the series' intensity, or India's combined margin.
    """

    series: str
    basis: str
    co2_g_per_kwh: Sourced
    renewable_share: Sourced
    avoided_factor: str
    avoided_co2_g_per_kwh: Sourced


def grid_emissions(
    preset: CountryPreset,
    *,
    series: str = "electricity_maps",
    renewable_share: float | None = None,
    avoided_factor: str = "grid_average",
) -> GridEmissions:
    """The grid series of a run, never mixing two series.

    Parameters
    ----------
    preset
        Country preset.
    series
        ``"electricity_maps"`` (default: consumption-based, imports count) or ``"ember"``
        (generation-based); intensity and renewable share both come from it.
    renewable_share
        The user's renewable share of that series [-]; replaces the preset's.
    avoided_factor
        ``"grid_average"`` (the series' intensity) or ``"cea_combined_margin"`` (India only).

    Returns
    -------
    GridEmissions

    Raises
    ------
    ConfigError
        An unknown series or factor, a series without a renewable share for the country (give
        ``energy.grid_renewable_share``), or the combined margin for a country without one.
    """
    where = "city.toml [energy]"
    if series not in GRID_SERIES:
        raise ConfigError(f"{where} grid_series {series!r} is unknown; use one of {list(GRID_SERIES)}")
    if avoided_factor not in AVOIDED_FACTORS:
        raise ConfigError(f"{where} avoided_emissions_factor {avoided_factor!r} is unknown; use one of "
                          f"{list(AVOIDED_FACTORS)}")
    co2, share = preset.grid_series_values(series)
    if co2 is None:
        raise ConfigError(f"{where} grid_series = {series!r}: the {preset.country} preset has no intensity of that "
                          "series; use grid_series = 'electricity_maps'")
    if renewable_share is not None:
        share = Sourced(float(renewable_share), f"city.toml energy.grid_renewable_share, {series} series", "user")
    if share is None:
        raise ConfigError(f"{where} grid_series = {series!r}: the {preset.country} preset has no renewable share of "
                          "that series; give energy.grid_renewable_share (share of renewables in that series, 0-1) "
                          "so that intensity and share come from one series")
    if avoided_factor == "grid_average":
        avoided = co2
    else:
        if preset.combined_margin_g_per_kwh is None:
            raise ConfigError(f"{where} avoided_emissions_factor = 'cea_combined_margin' is India's CEA combined "
                              f"margin (facts E5.11); city.country is {preset.country}: use 'grid_average'")
        avoided = preset.combined_margin_g_per_kwh
    return GridEmissions(series=series, basis=GRID_SERIES[series], co2_g_per_kwh=co2, renewable_share=share,
                         avoided_factor=avoided_factor, avoided_co2_g_per_kwh=avoided)


_CONFIDENCE_ORDER = ("H", "M", "user", "L", "assumption")


def combustion_g_per_km(
    preset: CountryPreset, segments: list[str] | tuple[str, ...], *, basis: str = "well_to_wheel"
) -> dict[str, Sourced]:
    """CO2 per km of the combustion vehicle each segment's EV replaces.

    Well to wheel: the preset's tank-to-wheel gCO2/km x (fuel CO2 + well-to-tank) / fuel CO2
    per unit of the segment's fuel (:data:`~charge_planner.presets.SEGMENT_FUEL`).

    Parameters
    ----------
    preset
        Country preset (``combustion_g_co2_per_km`` is tank-to-wheel).
    segments
        Segments to return.
    basis
        ``"well_to_wheel"`` (default) or ``"tank_to_wheel"``.

    Returns
    -------
    dict
        Segment -> gCO2/km [gCO2e/km] with its source; a segment without a baseline is left
        out and logged.
    """
    if basis not in COMBUSTION_BASES:
        raise ConfigError(f"city.toml [energy] combustion_basis {basis!r} is unknown; use one of {list(COMBUSTION_BASES)}")
    out: dict[str, Sourced] = {}
    for seg in segments:
        ttw = preset.combustion_g_co2_per_km.get(seg)
        fuel = SEGMENT_FUEL.get(seg)
        if ttw is None or (basis == "well_to_wheel" and fuel is None):
            log.warning("no combustion baseline for segment %r in the %s preset: it counts 0 kg CO2 avoided",
                        seg, preset.country)
            continue
        if basis == "tank_to_wheel":
            out[seg] = ttw
            continue
        burn, wtt = FUEL_TTW_KG_PER_UNIT[fuel], FUEL_WTT_KG_PER_UNIT[fuel]
        conf = max(ttw.confidence, wtt.confidence, key=lambda c: _CONFIDENCE_ORDER.index(c)
                   if c in _CONFIDENCE_ORDER else len(_CONFIDENCE_ORDER))
        prefix = "assumption: " if conf == "assumption" else ""
        out[seg] = Sourced(
            round(ttw.value * (burn.value + wtt.value) / burn.value, 1),
            f"{prefix}well to wheel: {ttw.value:g} gCO2/km tank-to-wheel ({ttw.source}) x ({burn.value:g} + "
            f"{wtt.value:g}) / {burn.value:g} kgCO2e per unit of {fuel} ({burn.source}; {wtt.source})",
            conf,
        )
    return out


def base_load_growth(data_year: int, year: int, rate_per_year: float) -> float:
    """Factor that grows a base load from its data year to ``year`` at a compound rate [-].

    Parameters
    ----------
    data_year
        Year of the base-load data.
    year
        Year to grow to (earlier years shrink it).
    rate_per_year
        Growth of electricity demand [1/year].
    """
    if not -0.5 < rate_per_year < 1.0:
        raise DataError(f"base_load_growth: growth {rate_per_year} per year is not plausible; give -0.5 to 1")
    return float((1.0 + rate_per_year) ** (year - data_year))
