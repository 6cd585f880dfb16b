"""Demand stage: where and when charging energy is needed, per cell, segment, use case and year.

The stage has four parts, each a set of plain functions over tables:

1. **Fleet and adoption** (:func:`fleet_projection`). Per segment, a cohort stock model:
   base-year stock = population x vehicles per 1,000; base-year sales = stock x
   ``sales_per_stock``, growing by ``sales_growth_per_year``; vehicles leave the stock by a
   survival curve whose mean is the lifetime (:func:`survival_curve`). The EV share of
   sales follows a logistic S-curve through the base-year share and the target share in
   the target year, saturating at a ceiling (:func:`sales_share`); the same curve, run
   backwards, gives the EV share of the cohorts already on the road, calibrated to the
   observed EV share of the base-year stock where one is given. A policy target for the EV
   share of the stock replaces the sales target: the sales share that reaches it is solved.
   Out come stock, sales, scrappage, EV sales and EV stock per year from the base year to
   the horizon.
2. **Energy by use case** (:func:`energy_by_use_case`): EV stock x km/day x kWh/km,
   split into home/private, depot, public AC, public DC and battery swapping by the
   segment's use-case shares.
3. **Spatial allocation** (:func:`make_cells`, :func:`raster_zonal_sums`,
   :func:`polygon_area_weights`, :func:`point_weights`, :func:`spatial_weights`,
   :func:`allocate_demand`): square or H3 cells clipped to the study area; residents from
   a population raster (exact area-weighted zonal sums), else building footprint area,
   else population points; POI attraction for destination charging; depots for depot
   charging. The city total of every (segment, year, use case) is spread in proportion
   to the cell weights, so the sum over cells equals the total up to floating-point
   rounding.
4. **Hourly profiles** (:func:`charging_profile`): 24 hourly shares per segment and use
   case from an arrival-time distribution, a dwell window and a charging duration;
   strategies "unmanaged" (charge on arrival), "managed_offpeak" (fill the off-peak
   tariff hours of the dwell window) and "solar_following" (follow the PV output within
   the dwell window).

:func:`city_demand` runs all four for a loaded :class:`~charge_planner.city.City` and
returns a :class:`DemandResult`; its ``demand`` table is the DESIGN ``demand`` contract for
every year and use case, and :meth:`DemandResult.for_siting` selects the rows the siting
model consumes (publicly served use cases of the chosen years).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from charge_planner.city import check_density
from charge_planner.errors import ConfigError, DataError
from charge_planner.presets import PUBLIC_USE_CASES, SEGMENTS, SHARE_FIELDS, USE_CASES

if TYPE_CHECKING:
    from charge_planner.city import City

log = logging.getLogger(__name__)

STRATEGIES: tuple[str, ...] = ("unmanaged", "managed_offpeak", "solar_following")
SURVIVAL_SOURCE = (
    "assumption: Weibull survival (shape 3) with mean equal to the lifetime; no scrappage data in the facts table"
)

# Share of a use case's spatial weight that comes from POI attraction (the rest from residents).
POI_SHARE: dict[str, float] = {"public_ac": 0.5, "public_dc": 0.3, "swapping": 0.3}
# Relative attraction of a POI by kind (assumption: no trip-attraction data in the facts table).
POI_WEIGHTS: dict[str, float] = {
    "mall": 3.0,
    "market": 3.0,
    "bus_station": 2.0,
    "parking": 1.0,
    "fuel": 1.0,
    "charging_station": 1.0,
    "bus_depot": 0.5,
}
DEFAULT_POI_WEIGHT = 1.0
DEPOT_POI_KINDS: tuple[str, ...] = ("bus_depot", "bus_station")


# =============================================================================================
# 1. Fleet and adoption
# =============================================================================================
def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _curve(base: float, target: float, ceiling: float, base_year: int, target_year: int, what: str) -> tuple[float, float]:
    """Intercept and slope of the logistic in logit space; raises on impossible inputs."""
    problems = []
    for name, v in (("ev_sales_share_base", base), ("ev_sales_share_target", target)):
        if not (isinstance(v, int | float) and math.isfinite(v)):
            problems.append(f"{name} is missing or not a number ({v!r})")
        elif v <= 0:
            problems.append(f"{name} is {v:g}; an S-curve cannot pass through 0, give a small positive share (e.g. 0.001)")
        elif v >= ceiling:
            problems.append(f"{name} {v:g} must be below the sales-share ceiling {ceiling:g} (fleet.sales_share_ceiling)")
    if target_year < base_year:
        problems.append(f"target year {target_year} is before base year {base_year}")
    if problems:
        raise ConfigError(f"{what}: " + "; ".join(problems))
    a = _logit(base / ceiling)
    if target_year == base_year:
        if abs(target - base) > 1e-12:
            raise ConfigError(f"{what}: target year equals base year but the shares differ ({base:g} vs {target:g})")
        return a, 0.0
    return a, (_logit(target / ceiling) - a) / (target_year - base_year)


def sales_share(
    year: float | np.ndarray,
    *,
    base_year: int,
    target_year: int,
    base: float,
    target: float,
    ceiling: float = 1.0,
    after_target: str = "continue",
) -> float | np.ndarray:
    """EV share of sales: a logistic S-curve through the base and target shares.

    ``s(t) = ceiling / (1 + exp(-(a + b (t - base_year))))`` with ``a, b`` chosen so that
    ``s(base_year) = base`` and ``s(target_year) = target``. Before the base year the curve
    runs backwards (smaller shares); after the target year it continues towards the
    ceiling, or stays at the target with ``after_target="hold"``.

    Parameters
    ----------
    year
        Calendar year(s) [year].
    base_year, target_year
        Years at which the share equals ``base`` and ``target`` [year].
    base, target
        EV share of sales [0-1]; both in (0, ceiling).
    ceiling
        Saturation of the curve [0-1].
    after_target
        "continue" or "hold".

    Returns
    -------
    float or numpy.ndarray
        EV share of sales [0-1], of the shape of ``year``.

    Raises
    ------
    ConfigError
        When a share is not in (0, ceiling) or the target year precedes the base year.
    """
    a, b = _curve(base, target, ceiling, base_year, target_year, "EV sales-share curve")
    y = np.asarray(year, dtype=float)
    t = y - base_year
    if after_target == "hold":
        t = np.minimum(t, target_year - base_year)
    elif after_target != "continue":
        raise ConfigError(f"after_target must be 'continue' or 'hold', not {after_target!r}")
    s = ceiling / (1.0 + np.exp(-(a + b * t)))
    return float(s) if s.ndim == 0 else s


def survival_curve(lifetime_years: float, *, kind: str = "weibull", shape: float = 3.0, tol: float = 1e-9) -> np.ndarray:
    """Share of a sales cohort still in the stock at age 0, 1, 2, ... years.

    A vehicle sold in year ``y`` is in the stock of year ``y`` (age 0). "fixed": every
    vehicle is retired after ``round(lifetime_years)`` years. "weibull": the survival
    ``exp(-((a + 0.5) / lam) ** shape)`` at mid-year ages, with ``lam`` chosen so that
    the mean life equals ``lifetime_years``. In both cases the sum over ages (years in
    service) is close to the lifetime, so a constant-sales fleet has stock = sales x lifetime.

    Parameters
    ----------
    lifetime_years
        Mean service life [years].
    kind
        "weibull" or "fixed".
    shape
        Weibull shape [-]; larger is closer to "fixed".
    tol
        Ages with a survival below this are cut off [-].

    Returns
    -------
    numpy.ndarray
        ``S[a]`` for ``a = 0 .. A`` [0-1].
    """
    if not (math.isfinite(lifetime_years) and lifetime_years >= 1):
        raise ConfigError(f"lifetime_years must be at least 1, got {lifetime_years!r}")
    if kind == "fixed":
        return np.ones(max(int(round(lifetime_years)), 1))
    if kind != "weibull":
        raise ConfigError(f"survival must be 'weibull' or 'fixed', not {kind!r}")
    if not (math.isfinite(shape) and shape >= 1):
        raise ConfigError(f"survival_shape must be at least 1, got {shape!r}")
    lam = lifetime_years / math.gamma(1.0 + 1.0 / shape)
    a_max = int(math.ceil(lam * (-math.log(tol)) ** (1.0 / shape)))
    ages = np.arange(a_max + 1, dtype=float)
    return np.exp(-(((ages + 0.5) / lam) ** shape))


_NUMERIC = (
    "vehicles_per_1000", "sales_per_stock", "sales_growth_per_year", "ev_sales_share_base", "ev_sales_share_target",
    "lifetime_years", "km_per_day", "kwh_per_km", *SHARE_FIELDS, "cutoff_min", "kwh_per_session",
)


def check_segments(segments: pd.DataFrame) -> None:
    """Validate a segment table (:func:`charge_planner.assumptions.segment_table` form).

    Raises
    ------
    ConfigError
        Listing every segment and field that is missing, not a number, negative, out of
        range, or whose use-case shares do not sum to 1.
    """
    missing = [c for c in _NUMERIC if c not in segments.columns]
    if missing:
        raise ConfigError(f"segment table lacks column(s) {missing}")
    problems = []
    unknown = [s for s in segments.index if s not in SEGMENTS]
    if unknown:
        problems.append(f"unknown segment(s) {unknown}; use any of {list(SEGMENTS)}")
    for seg, row in segments.iterrows():
        for c in _NUMERIC:
            v = row[c]
            if not isinstance(v, int | float | np.floating | np.integer) or not math.isfinite(float(v)):
                problems.append(f"{seg}.{c} is missing or not a number ({v!r})")
            elif c != "sales_growth_per_year" and v < 0:
                problems.append(f"{seg}.{c} is negative ({v:g})")
        if problems:
            continue
        total = math.fsum(float(row[f]) for f in SHARE_FIELDS)
        if abs(total - 1.0) > 1e-6:
            problems.append(f"{seg}: use-case shares sum to {total:.6g}, not 1")
        if not 0 < row["sales_per_stock"] <= 1:
            problems.append(f"{seg}.sales_per_stock must be in (0, 1], got {row['sales_per_stock']:g}")
        if row["sales_growth_per_year"] <= -1:
            problems.append(f"{seg}.sales_growth_per_year must be above -1, got {row['sales_growth_per_year']:g}")
        for c in ("lifetime_years",):
            if row[c] < 1:
                problems.append(f"{seg}.{c} must be at least 1, got {row[c]:g}")
        for c in ("cutoff_min", "kwh_per_session"):
            if row[c] <= 0:
                problems.append(f"{seg}.{c} must be positive, got {row[c]:g}")
    if problems:
        raise ConfigError("segment parameters: " + "; ".join(problems) + "; fix them in city.toml [fleet.overrides]")


STOCK_SHARE_FIELDS: tuple[str, ...] = ("ev_stock_share_base", "ev_stock_share_target")
"""Optional segment-table columns: the observed EV share of the base-year stock and a policy target for the
EV share of the stock in the target year [0-1]; NaN (or a missing column) means none."""

_LOGIT_BOUND = 40.0  # logit of a share within about 4e-18 of 0 or of the ceiling: "no sales" / "every sale"
_BISECTIONS = 80
UNCALIBRATED_FACTOR = 2.0
"""The back-cast base-year EV stock share (the S-curve run backwards) is reported with a WARNING when it
differs from a sourced ``ev_stock_share_base`` by more than this factor."""


def _optional(p: pd.Series, name: str) -> float | None:
    """An optional numeric column of a segment row; None when absent or NaN."""
    v = p.get(name)
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"segment {p.name}: {name} must be a number in [0, 1], got {v!r}") from None
    if math.isnan(v):
        return None
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"segment {p.name}: {name} must be in [0, 1], got {v:g}")
    return v


def _strict(p: pd.Series, name: str) -> bool:
    """True when an unreachable ``name`` must raise: a user value, or a table without sources.

    A country preset's value (its ``<name>_confidence`` column is present and is not "user") is
    capped with a WARNING instead, so that every preset runs.
    """
    conf = p.get(f"{name}_confidence")
    return conf is None or (isinstance(conf, float) and math.isnan(conf)) or conf == "user"


def _bisect(f, lo: float, hi: float, want: float) -> float:
    """Root of the increasing function ``f(x) - want`` in [lo, hi] (both ends bracket it)."""
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if f(mid) < want:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True)
class _Cohorts:
    """The cohorts of one segment: years since the base year ``t``, the pre-base mask ``older``,
    the survival matrix ``m`` (projected year x cohort), cohort sizes, the stock per year, and the
    logit ``a0`` of the base-year sales share. The cohorts sold before the base year follow the
    S-curve of ``pre_slope`` (run backwards), shifted by ``offset`` in logit."""

    t: np.ndarray
    older: np.ndarray
    m: np.ndarray
    size: np.ndarray
    stock: np.ndarray
    a0: float
    ceiling: float
    span: int
    pre_slope: float

    def shares(self, slope: float, offset: float) -> np.ndarray:
        """EV share of each cohort's sales: ``slope`` from the base year on, the back-cast before it."""
        logit = self.a0 + np.where(self.older, self.pre_slope * self.t + offset, slope * self.t)
        return self.ceiling * _sigmoid(logit)

    def stock_share(self, i_year: int, slope: float, offset: float) -> float:
        """EV share of the stock in projected year ``i_year`` (0 = base year)."""
        if self.stock[i_year] <= 0:
            return 0.0
        return float(self.m[i_year] @ (self.size * self.shares(slope, offset))) / float(self.stock[i_year])


def _calibrate_offset(c: _Cohorts, p: pd.Series, stock_base: float) -> float:
    """Logit offset of the pre-base cohorts that makes the base-year EV stock share ``stock_base``."""
    lo, hi = c.stock_share(0, 0.0, -_LOGIT_BOUND), c.stock_share(0, 0.0, _LOGIT_BOUND)
    if lo <= stock_base <= hi:
        return _bisect(lambda d: c.stock_share(0, 0.0, d), -_LOGIT_BOUND, _LOGIT_BOUND, stock_base)
    msg = (f"segment {p.name}: ev_stock_share_base {stock_base:g} cannot be met: with the base-year EV sales share "
           f"{float(p['ev_sales_share_base']):g} and the older cohorts anywhere between none and all electric, the "
           f"base-year EV stock share lies in [{lo:.4g}, {hi:.4g}]")
    if _strict(p, "ev_stock_share_base"):
        raise ConfigError(msg + "; correct ev_stock_share_base or ev_sales_share_base")
    log.warning("%s; the preset's value is capped at %.4g", msg, lo if stock_base < lo else hi)
    return -_LOGIT_BOUND if stock_base < lo else _LOGIT_BOUND


def _solve_stock_target(c: _Cohorts, p: pd.Series, offset: float, stock_target: float, low_slope: float, *,
                        base_year: int, target_year: int) -> float:
    """Slope of the S-curve from the base year on whose target-year EV stock share is ``stock_target``.

    The cohorts on the road before the base year are fixed (back-cast, calibrated by ``offset``),
    so the stock share grows with the slope: bisection on the logit of the target-year sales share,
    from the curve of ``low_slope`` (which falls short of the target) up to every sale electric.
    """

    def share_at_target(logit_target: float) -> float:
        return c.stock_share(c.span, (logit_target - c.a0) / c.span, offset)

    low = c.a0 + low_slope * c.span
    hi = share_at_target(_LOGIT_BOUND)
    if stock_target <= hi:
        return (_bisect(share_at_target, low, _LOGIT_BOUND, stock_target) - c.a0) / c.span
    msg = (f"segment {p.name}: ev_stock_share_target {stock_target:g} in {target_year} is out of reach: the "
           f"highest reachable EV share of the stock is {hi:.4g} (every sale after {base_year} electric, up to the "
           f"ceiling {c.ceiling:g})")
    if _strict(p, "ev_stock_share_target"):
        raise ConfigError(msg + "; lower ev_stock_share_target or move fleet.target_year later")
    log.warning("%s; the preset's target is capped there", msg)
    return (_LOGIT_BOUND - c.a0) / c.span


def fleet_projection(
    segments: pd.DataFrame,
    *,
    population: float,
    base_year: int,
    target_year: int,
    horizon_year: int = 2035,
    ceiling: float = 1.0,
    after_target: str = "continue",
    survival: str = "weibull",
    survival_shape: float = 3.0,
) -> pd.DataFrame:
    """Stock, sales, scrappage and EVs per segment and year (cohort stock model).

    The base-year stock is ``population x vehicles_per_1000 / 1000``. Cohorts sold before
    the base year have sizes ``sales0 x (1 + g) ** (y - base_year)``, scaled (all but the
    base-year cohort, by ``stock_scale``) so that the survivors add up to the base-year
    stock exactly; their EV shares come from the S-curve run backwards. From the base year
    on, sales grow at ``g`` and the EV share of each year's sales follows the S-curve.

    Two optional columns (NaN or absent: none) tie the curve to the stock:

    - ``ev_stock_share_base``: the observed EV share of the base-year stock. The EV shares
      of the cohorts sold before the base year get one common logit offset, found by
      bisection, so that the base-year EV stock matches it (``pre_base_logit_offset``);
      the base-year cohort keeps ``ev_sales_share_base``. A back-cast that differs from
      the observed share by more than :data:`UNCALIBRATED_FACTOR` is logged as a WARNING.
    - ``ev_stock_share_target``: a policy minimum for the EV share of the stock in the
      target year. When the curve through ``ev_sales_share_base`` and
      ``ev_sales_share_target`` falls short of it, the curve from the base year on is
      re-fitted: its sales share of the target year is solved by bisection so that
      ``ev_stock / stock`` of the target year equals the target; a curve that already
      reaches it is kept. The cohorts already on the road keep the back-cast of the
      given curve (calibrated as above), so the stock share grows with the solved sales
      share.

    A share that no sales curve can reach (a stock target above the stock share with
    every sale after the base year electric, up to the ceiling; a base-year stock share
    outside what the older cohorts can hold) raises a
    :class:`~charge_planner.errors.ConfigError` naming the segment and the reachable share
    when the value is the user's (its ``<field>_confidence`` is "user") or has no source
    column; a country preset's value is capped at the nearest reachable share with a
    WARNING, so that every preset runs.

    Parameters
    ----------
    segments
        Segment parameters, indexed by segment (see :func:`check_segments`), with the
        optional :data:`STOCK_SHARE_FIELDS` columns.
    population
        Residents of the study area [persons], held constant.
    base_year, target_year, horizon_year
        Base-data year, target year of the sales (or stock) share, last projected year [year].
    ceiling, after_target
        Of the S-curve (see :func:`sales_share`).
    survival, survival_shape
        Of the survival curve (see :func:`survival_curve`).

    Returns
    -------
    pandas.DataFrame
        Indexed by (``segment``, ``year``) for ``base_year .. horizon_year``: ``stock``,
        ``sales``, ``scrapped`` [vehicles/year; NaN in the base year], ``ev_sales_share``
        [0-1], ``ev_sales`` [vehicles/year], ``ev_stock`` [vehicles], ``ev_stock_share``
        [0-1], ``stock_scale`` [-] (how much older cohorts were scaled to meet the
        base-year stock; far from 1 means the stock and sales figures disagree),
        ``ev_sales_share_target`` [0-1] (given, or solved from the stock target) and
        ``pre_base_logit_offset`` [-] (0 unless calibrated to ``ev_stock_share_base``).

    Raises
    ------
    ConfigError
        On invalid segment parameters or years, or an unreachable user stock share.
    """
    check_segments(segments)
    if not (math.isfinite(population) and population >= 0):
        raise DataError(f"population must be a non-negative number of persons, got {population!r}")
    if horizon_year < base_year:
        raise ConfigError(f"horizon year {horizon_year} is before base year {base_year}")
    years = np.arange(base_year, horizon_year + 1)
    frames = []
    for seg, p in segments.iterrows():
        what = f"segment {seg}"
        stock_base = _optional(p, "ev_stock_share_base")
        stock_target = _optional(p, "ev_stock_share_target")
        base_share = float(p["ev_sales_share_base"])
        target_share = float(p["ev_sales_share_target"])
        _, b = _curve(base_share, target_share, ceiling, base_year, target_year, what)
        surv = survival_curve(float(p["lifetime_years"]), kind=survival, shape=survival_shape)
        n_age = len(surv)
        stock0 = population * float(p["vehicles_per_1000"]) / 1000.0
        sales0 = stock0 * float(p["sales_per_stock"])
        g = float(p["sales_growth_per_year"])
        # cohorts by year of sale, oldest surviving one first
        cohort_years = np.arange(base_year - n_age + 1, horizon_year + 1)
        size = sales0 * (1.0 + g) ** (cohort_years - base_year).astype(float)
        older = cohort_years < base_year
        ages0 = base_year - cohort_years[older]
        alive_older = float(np.sum(size[older] * surv[ages0]))
        if alive_older > 0:
            scale = (stock0 - sales0 * surv[0]) / alive_older
            if scale < 0:
                raise ConfigError(
                    f"{what}: base-year sales ({sales0:,.0f}) exceed the base-year stock ({stock0:,.0f}); "
                    "lower sales_per_stock"
                )
        else:
            scale = 1.0
            if stock0 > 0 and abs(stock0 - sales0 * surv[0]) > 1e-9 * stock0:
                log.info("%s: a one-year lifetime makes the stock equal to the sales; base stock not matched", what)
        size = np.where(older, size * scale, size)
        t = (cohort_years - base_year).astype(float)
        if after_target == "hold":
            t = np.minimum(t, target_year - base_year)
        age = years[:, None] - cohort_years[None, :]
        valid = (age >= 0) & (age < n_age)
        m = np.where(valid, surv[np.clip(age, 0, n_age - 1)], 0.0)
        stock = m @ size
        cohorts = _Cohorts(t=t, older=older, m=m, size=size, stock=stock, a0=_logit(base_share / ceiling),
                           ceiling=ceiling, span=target_year - base_year, pre_slope=b)
        offset = 0.0
        if stock_base is not None and stock[0] > 0:
            uncal = cohorts.stock_share(0, b, 0.0)
            if uncal > UNCALIBRATED_FACTOR * stock_base or uncal * UNCALIBRATED_FACTOR < stock_base:
                log.warning("%s: the S-curve run backwards gives a base-year EV stock share of %.3g, more than a "
                            "factor %g from the observed %.3g (ev_stock_share_base); the cohorts before %d are "
                            "calibrated to the observed share", what, uncal, UNCALIBRATED_FACTOR, stock_base,
                            base_year)
            offset = _calibrate_offset(cohorts, p, stock_base)
        if stock_target is not None:
            if target_year <= base_year:
                raise ConfigError(f"{what}: ev_stock_share_target needs a target year after the base year "
                                  f"({base_year}); set fleet.target_year")
            if target_year > horizon_year:
                raise ConfigError(f"{what}: the target year {target_year} of ev_stock_share_target is after the "
                                  f"last projected year {horizon_year}; raise fleet.horizon_year")
            on_curve = cohorts.stock_share(target_year - base_year, b, offset)
            if on_curve >= stock_target:
                log.info("%s: the sales curve already gives an EV stock share of %.4g in %d, at least the target %.4g",
                         what, on_curve, target_year, stock_target)
            else:
                b = _solve_stock_target(cohorts, p, offset, stock_target, b, base_year=base_year,
                                        target_year=target_year)
                target_share = float(cohorts.shares(b, offset)[cohort_years == target_year][0])
                log.info("%s: an EV sales share of %.4g in %d gives the EV stock share target %.4g", what,
                         target_share, target_year, stock_target)
        share = cohorts.shares(b, offset)
        ev_stock = m @ (size * share)
        sales = size[cohort_years >= base_year]
        ev_share_sales = share[cohort_years >= base_year]
        scrapped = np.full(len(years), np.nan)
        scrapped[1:] = stock[:-1] + sales[1:] - stock[1:]
        frames.append(
            pd.DataFrame(
                {
                    "segment": seg,
                    "year": years,
                    "stock": stock,
                    "sales": sales,
                    "scrapped": scrapped,
                    "ev_sales_share": ev_share_sales,
                    "ev_sales": sales * ev_share_sales,
                    "ev_stock": ev_stock,
                    "ev_stock_share": np.divide(ev_stock, stock, out=np.zeros_like(stock), where=stock > 0),
                    "stock_scale": scale,
                    "ev_sales_share_target": target_share,
                    "pre_base_logit_offset": offset,
                }
            )
        )
        if abs(scale - 1.0) > 0.5:
            log.info("%s: older cohorts scaled by %.2f to meet the base-year stock (stock and sales disagree)", what, scale)
    fleet = pd.concat(frames, ignore_index=True).set_index(["segment", "year"])
    return fleet


def energy_by_use_case(fleet: pd.DataFrame, segments: pd.DataFrame, *, years: Sequence[int] | None = None) -> pd.DataFrame:
    """Daily charging energy of the city per segment, year and use case.

    ``energy = ev_stock x km_per_day x kwh_per_km x share_<use case>``.

    Parameters
    ----------
    fleet
        Output of :func:`fleet_projection`.
    segments
        Segment parameters.
    years
        Years to keep (default: all of ``fleet``).

    Returns
    -------
    pandas.DataFrame
        Indexed by (``segment``, ``year``, ``use_case``): ``ev_stock`` [vehicles] and
        ``energy_kwh_day`` [kWh/day]; zero-energy use cases are kept.
    """
    f = fleet
    if years is not None:
        have = set(fleet.index.get_level_values("year"))
        lacking = sorted(set(years) - have)
        if lacking:
            raise ConfigError(f"years {lacking} are outside the fleet projection "
                              f"({min(have)}-{max(have)}); raise fleet.horizon_year or use later years")
        f = fleet[fleet.index.get_level_values("year").isin(list(years))]
    seg = f.index.get_level_values("segment")
    daily = f["ev_stock"].to_numpy() * segments.loc[seg, "km_per_day"].to_numpy() * segments.loc[seg, "kwh_per_km"].to_numpy()
    parts = []
    for u in USE_CASES:
        share = segments.loc[seg, f"share_{u}"].to_numpy(dtype=float)
        parts.append(pd.DataFrame({"segment": seg, "year": f.index.get_level_values("year"), "use_case": u,
                                   "ev_stock": f["ev_stock"].to_numpy(), "energy_kwh_day": daily * share}))
    out = pd.concat(parts, ignore_index=True)
    out["segment"] = pd.Categorical(out["segment"], categories=list(SEGMENTS), ordered=True)
    out["use_case"] = pd.Categorical(out["use_case"], categories=list(USE_CASES), ordered=True)
    out = out.sort_values(["segment", "year", "use_case"], kind="stable")
    out["segment"] = out["segment"].astype(str)
    out["use_case"] = out["use_case"].astype(str)
    return out.set_index(["segment", "year", "use_case"])


# =============================================================================================
# 2. Cells
# =============================================================================================
def h3_resolution_for(cell_size_m: float) -> int:
    """The H3 resolution whose average cell area is closest (in ratio) to ``cell_size_m ** 2``."""
    import h3

    target = float(cell_size_m) ** 2
    return min(range(0, 16), key=lambda r: abs(math.log(h3.average_hexagon_area(r, "m^2") / target)))


def _square_cells(area: BaseGeometry, cell_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = area.bounds
    nx_ = max(int(math.ceil((maxx - minx) / cell_size_m)), 1)
    ny_ = max(int(math.ceil((maxy - miny) / cell_size_m)), 1)
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    x0, y0 = minx + ix * cell_size_m, miny + iy * cell_size_m
    geoms = shapely.box(x0, y0, x0 + cell_size_m, y0 + cell_size_m)
    ids = np.array([f"c{i:04d}_{j:04d}" for i, j in zip(ix, iy, strict=True)], dtype=object)
    return ids, geoms


def _h3_cells(area: BaseGeometry, crs: str, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    import h3
    from pyproj import Transformer

    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    edge = h3.average_hexagon_edge_length(resolution, "m")
    outline = shapely.segmentize(shapely.convex_hull(area), max(edge / 4.0, 1.0))
    lon, lat = to_ll.transform(*np.asarray(outline.exterior.coords).T)
    cells = set(h3.h3shape_to_cells(h3.LatLngPoly(list(zip(lat, lon, strict=True))), resolution))
    c_lon, c_lat = to_ll.transform(area.centroid.x, area.centroid.y)
    cells.add(h3.latlng_to_cell(c_lat, c_lon, resolution))
    target = area.area
    ids: list[str] = []
    geoms: np.ndarray = np.empty(0, dtype=object)
    for _ in range(6):  # grow the ring until the cells cover the study area
        cells |= {n for c in cells for n in h3.grid_disk(c, 1)}
        ids = sorted(cells)
        rings = []
        for c in ids:
            lat_lng = np.asarray(h3.cell_to_boundary(c))
            x, y = to_xy.transform(lat_lng[:, 1], lat_lng[:, 0])
            rings.append(np.column_stack([x, y]))
        geoms = np.array([shapely.Polygon(r) for r in rings], dtype=object)
        covered = float(shapely.area(shapely.intersection(shapely.union_all(geoms), area)))
        if covered >= target * (1.0 - 1e-9):
            break
    return np.array(ids, dtype=object), geoms


def make_cells(
    study_area: BaseGeometry,
    *,
    crs: str,
    cell_type: str = "square",
    cell_size_m: float = 400.0,
    h3_resolution: int | None = None,
) -> gpd.GeoDataFrame:
    """Cells covering the study area, clipped to it.

    Parameters
    ----------
    study_area
        Polygon in the projected ``crs`` [m].
    crs
        Projected metric CRS.
    cell_type
        "square" (edge ``cell_size_m``, aligned to the study area's lower-left corner, ids
        ``c<ix>_<iy>``) or "h3" (H3 hexagons, ids are the H3 indexes).
    cell_size_m
        Square edge, or the size whose square area picks the H3 resolution [m].
    h3_resolution
        Explicit H3 resolution (overrides ``cell_size_m``).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``cell_id``: ``geometry`` (cell clipped to the study area), ``area_m2``
        [m2]. The cells tile the study area: their areas add up to its area.
    """
    if study_area is None or study_area.is_empty or study_area.area <= 0:
        raise DataError("the study area is empty; check the road network or the given boundary")
    if not (math.isfinite(cell_size_m) and cell_size_m > 0):
        raise ConfigError(f"cell_size_m must be positive, got {cell_size_m!r}")
    if cell_type == "square":
        ids, geoms = _square_cells(study_area, cell_size_m)
    elif cell_type == "h3":
        res = h3_resolution if h3_resolution is not None else h3_resolution_for(cell_size_m)
        ids, geoms = _h3_cells(study_area, crs, res)
    else:
        raise ConfigError(f"cell_type must be 'square' or 'h3', not {cell_type!r}")
    clipped = shapely.intersection(geoms, study_area)
    area = shapely.area(clipped)
    keep = area > 1e-9 * study_area.area
    cells = gpd.GeoDataFrame({"area_m2": area[keep]}, geometry=clipped[keep], crs=crs,
                             index=pd.Index(ids[keep], name="cell_id"))
    log.info("%d %s cells over %.2f km2", len(cells), cell_type, study_area.area / 1e6)
    return cells


# =============================================================================================
# 3. Spatial weights
# =============================================================================================
@dataclass
class WeightLayer:
    """A non-negative weight per cell and its weighted centre.

    Attributes
    ----------
    weight
        Weight per cell, aligned with the cells' order (unit of the layer: persons, m2 of
        footprint, or attraction points).
    wx, wy
        Weight x coordinate sums, per cell [unit x m]; centre = ``wx / weight``.
    total
        Sum of the weights inside the study area.
    source
        What the layer is.
    """

    weight: np.ndarray
    wx: np.ndarray
    wy: np.ndarray
    total: float
    source: str

    def centres(self, cells: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Weighted centre per cell; a cell's representative point where its weight is zero [m]."""
        rep = cells.geometry.representative_point()
        ok = self.weight > 0
        x = np.where(ok, np.divide(self.wx, self.weight, out=np.zeros_like(self.wx), where=ok), rep.x.to_numpy())
        y = np.where(ok, np.divide(self.wy, self.weight, out=np.zeros_like(self.wy), where=ok), rep.y.to_numpy())
        return x, y


def _bincount(idx: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(idx, weights=w, minlength=n).astype(float) if len(idx) else np.zeros(n)


def raster_zonal_sums(path: Path | str, cells: gpd.GeoDataFrame, *, study_area: BaseGeometry) -> WeightLayer:
    """Persons per cell from a persons-per-pixel raster, by exact area-weighted overlap.

    Each pixel's persons are spread uniformly over its area (the pixel outline projected to
    the cells' CRS). A cell receives ``persons x area(pixel & cell) / area(pixel)``; the
    pixel's share inside the study area is split over the cells in proportion to those
    overlaps, so the sum over cells equals the raster's persons inside the study area to
    floating-point rounding. Only the window of the raster around the study area is read.

    Parameters
    ----------
    path
        GeoTIFF (or any rasterio-readable raster) of persons per pixel, e.g. WorldPop ``ppp``.
    cells
        Output of :func:`make_cells`.
    study_area
        Polygon in the cells' CRS [m].

    Returns
    -------
    WeightLayer
        Persons per cell; ``total`` is the raster's persons inside the study area.

    Raises
    ------
    DataError
        When the raster cannot be read, has no CRS, has negative values near the study area,
        or does not overlap the study area.
    """
    import rasterio
    from pyproj import Transformer

    path = Path(path)
    crs = str(cells.crs)
    try:
        src = rasterio.open(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read the raster ({type(exc).__name__}: {exc})") from None
    with src:
        if src.crs is None:
            raise DataError(f"{path}: the raster has no CRS; set one (e.g. gdal_edit.py -a_srs EPSG:4326)")
        to_src = Transformer.from_crs(crs, src.crs, always_xy=True)
        to_xy = Transformer.from_crs(src.crs, crs, always_xy=True)
        left, bottom, right, top = to_src.transform_bounds(*study_area.bounds, densify_pts=21)
        inv = ~src.transform
        qx, qy = np.array([left, right, right, left]), np.array([bottom, bottom, top, top])
        cols, rows = inv.a * qx + inv.b * qy + inv.c, inv.d * qx + inv.e * qy + inv.f
        c0 = max(int(math.floor(float(np.min(cols)))) - 1, 0)
        r0 = max(int(math.floor(float(np.min(rows)))) - 1, 0)
        c1 = min(int(math.ceil(float(np.max(cols)))) + 1, src.width)
        r1 = min(int(math.ceil(float(np.max(rows)))) + 1, src.height)
        rb = src.bounds
        if c1 <= c0 or r1 <= r0:
            raise DataError(
                f"{path}: the population raster (bounds {rb.left:.5g}, {rb.bottom:.5g}, {rb.right:.5g}, {rb.top:.5g} "
                f"in {src.crs}) does not overlap the study area ({left:.5g}, {bottom:.5g}, {right:.5g}, {top:.5g}); "
                "check the file and its CRS"
            )
        from rasterio.windows import Window

        data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        transform = src.transform
    vals = np.ma.filled(data.astype(float), np.nan)
    valid = np.isfinite(vals)
    if (vals[valid] < 0).any():
        n_neg = int((vals[valid] < 0).sum())
        raise DataError(f"{path}: {n_neg} pixels near the study area have negative values (min {np.nanmin(vals):g}); "
                        "persons per pixel cannot be negative: fix the raster or its nodata value")
    rr, cc = np.nonzero(valid & (vals > 0))
    v = vals[rr, cc]
    rr, cc = rr + r0, cc + c0
    # pixel outlines: corners (c, r), (c+1, r), (c+1, r+1), (c, r+1) through the affine transform
    dc = np.array([0, 1, 1, 0, 0])
    dr = np.array([0, 0, 1, 1, 0])
    pc = cc[:, None] + dc[None, :]
    pr = rr[:, None] + dr[None, :]
    px = transform.a * pc + transform.b * pr + transform.c
    py = transform.d * pc + transform.e * pr + transform.f
    x, y = to_xy.transform(px.ravel(), py.ravel())
    coords = np.stack([np.asarray(x).reshape(px.shape), np.asarray(y).reshape(py.shape)], axis=-1)
    pix = shapely.polygons(coords)
    # raster extent inside the study area (for a coverage message)
    ext = shapely.box(rb.left, rb.bottom, rb.right, rb.top)
    ext = shapely.segmentize(ext, max(abs(transform.a), abs(transform.e)) * 10)
    ex, ey = to_xy.transform(*np.asarray(ext.exterior.coords).T)
    coverage = float(shapely.area(shapely.intersection(shapely.Polygon(np.column_stack([ex, ey])), study_area)))
    coverage /= study_area.area
    if coverage <= 0:
        raise DataError(f"{path}: the population raster does not overlap the study area; check the file and its CRS")
    if coverage < 0.999:
        log.warning("%s covers only %.1f%% of the study area; the rest gets no residents", path.name, 100 * coverage)

    n = len(cells)
    tree = shapely.STRtree(pix)
    hit = tree.query(study_area, predicate="intersects")
    pix, v = pix[hit], v[hit]
    area_pix = shapely.area(pix)
    # pixels wholly inside the study area (most of them) need no clipping
    shapely.prepare(study_area)
    inside = np.ones(len(pix))
    part = ~shapely.contains_properly(study_area, pix)
    inside[part] = shapely.area(shapely.intersection(pix[part], study_area)) / area_pix[part]
    persons_in = v * inside
    total = float(math.fsum(persons_in))
    cell_geoms = cells.geometry.to_numpy()
    cell_tree = shapely.STRtree(cell_geoms)
    p_idx, c_idx = cell_tree.query(pix, predicate="intersects")
    # a pixel wholly inside one cell contributes its whole area at its centroid; others are clipped
    shapely.prepare(cell_geoms)
    whole = shapely.contains_properly(cell_geoms[c_idx], pix[p_idx])
    a = area_pix[p_idx].copy()
    cen = np.empty(len(p_idx), dtype=object)
    pix_cen = shapely.centroid(pix)
    cen[whole] = pix_cen[p_idx[whole]]
    clip = shapely.intersection(pix[p_idx[~whole]], cell_geoms[c_idx[~whole]])
    a[~whole] = shapely.area(clip)
    cen[~whole] = shapely.centroid(clip)
    keep = a > 0
    p_idx, c_idx, cen, a = p_idx[keep], c_idx[keep], cen[keep], a[keep]
    denom = _bincount(p_idx, a, len(pix))
    persons = persons_in[p_idx] * a / denom[p_idx]
    cx, cy = shapely.get_x(cen), shapely.get_y(cen)
    weight = _bincount(c_idx, persons, n)
    layer = WeightLayer(weight=weight, wx=_bincount(c_idx, persons * cx, n), wy=_bincount(c_idx, persons * cy, n),
                        total=total, source=f"{path.name}: persons per pixel, area-weighted zonal sums")
    log.info("%s: %.0f persons in the study area from %d pixels", path.name, total, len(pix))
    return layer


def polygon_area_weights(polygons: gpd.GeoSeries | gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> WeightLayer:
    """Footprint area per cell (e.g. buildings): each polygon's area split by its overlap with the cells.

    Parameters
    ----------
    polygons
        Polygons in the cells' CRS; other geometry types are ignored.
    cells
        Output of :func:`make_cells`.

    Returns
    -------
    WeightLayer
        Footprint area per cell [m2].
    """
    geoms = polygons.geometry if isinstance(polygons, gpd.GeoDataFrame) else polygons
    if len(geoms) and geoms.crs is not None and cells.crs is not None and not geoms.crs.equals(cells.crs):
        geoms = geoms.to_crs(cells.crs)
    g = geoms.to_numpy()
    g = g[np.isin(shapely.get_type_id(g), (3, 6))] if len(g) else g  # Polygon, MultiPolygon
    n = len(cells)
    if len(g) == 0:
        return WeightLayer(np.zeros(n), np.zeros(n), np.zeros(n), 0.0, "building footprints (none)")
    g = shapely.make_valid(g)
    tree = shapely.STRtree(cells.geometry.to_numpy())
    p_idx, c_idx = tree.query(g, predicate="intersects")
    inter = shapely.intersection(g[p_idx], cells.geometry.to_numpy()[c_idx])
    a = shapely.area(inter)
    cen = shapely.centroid(inter)
    ok = a > 0
    a, c_idx, cen = a[ok], c_idx[ok], cen[ok]
    cx, cy = shapely.get_x(cen), shapely.get_y(cen)
    w = _bincount(c_idx, a, n)
    return WeightLayer(w, _bincount(c_idx, a * cx, n), _bincount(c_idx, a * cy, n), float(w.sum()),
                       f"building footprint area ({len(g)} polygons)")


def point_weights(points: gpd.GeoSeries | gpd.GeoDataFrame, values: np.ndarray | Sequence[float],
                  cells: gpd.GeoDataFrame, *, what: str = "points") -> WeightLayer:
    """Sum point values into the cells (each point counts once, in the first cell that holds it).

    Parameters
    ----------
    points
        Points in the cells' CRS (other geometries count at their representative point).
    values
        Value per point (persons, attraction) [unit of the layer]; must be finite and >= 0.
    cells
        Output of :func:`make_cells`.
    what
        Name used in messages.

    Returns
    -------
    WeightLayer
        Sum of the values of the points inside each cell.

    Raises
    ------
    DataError
        When a value is negative or missing.
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if len(geoms) and geoms.crs is not None and cells.crs is not None and not geoms.crs.equals(cells.crs):
        geoms = geoms.to_crs(cells.crs)
    vals = np.asarray(values, dtype=float)
    n = len(cells)
    if len(vals) != len(geoms):
        raise DataError(f"{what}: {len(vals)} values for {len(geoms)} points")
    if len(vals) and (not np.isfinite(vals).all() or (vals < 0).any()):
        raise DataError(f"{what} layer has negative or missing values; fix or drop those features")
    if len(vals) == 0:
        return WeightLayer(np.zeros(n), np.zeros(n), np.zeros(n), 0.0, f"{what} (none)")
    pts = shapely.point_on_surface(geoms.to_numpy())
    tree = shapely.STRtree(cells.geometry.to_numpy())
    p_idx, c_idx = tree.query(pts, predicate="intersects")
    order = np.lexsort((c_idx, p_idx))
    p_idx, c_idx = p_idx[order], c_idx[order]
    first = np.unique(p_idx, return_index=True)[1]
    p_idx, c_idx = p_idx[first], c_idx[first]
    outside = len(pts) - len(p_idx)
    if outside:
        log.info("%s: %d of %d points (%.0f of %.0f) lie outside the study area", what, outside, len(pts),
                 vals.sum() - vals[p_idx].sum(), vals.sum())
    x, y = shapely.get_x(pts[p_idx]), shapely.get_y(pts[p_idx])
    w = _bincount(c_idx, vals[p_idx], n)
    return WeightLayer(w, _bincount(c_idx, vals[p_idx] * x, n), _bincount(c_idx, vals[p_idx] * y, n),
                       float(w.sum()), what)


@dataclass
class SpatialWeights:
    """Cell weights of every use case.

    Attributes
    ----------
    cells
        The cells with ``population`` [persons], ``x``, ``y`` (residents' centre) [m],
        ``attraction`` [points] and ``depots`` [points].
    shares
        Cells x use cases; each column sums to 1 (or is all zero when nothing is there).
    cx, cy
        Cells x use cases: the weighted centre of each use case's weight in each cell [m].
    population_total
        Residents of the study area [persons].
    population_source
        Where the residents come from.
    """

    cells: gpd.GeoDataFrame
    shares: pd.DataFrame
    cx: pd.DataFrame
    cy: pd.DataFrame
    population_total: float
    population_source: str


def spatial_weights(
    cells: gpd.GeoDataFrame,
    residential: WeightLayer,
    *,
    population_total: float | None = None,
    pois: gpd.GeoDataFrame | None = None,
    poi_share: Mapping[str, float] | None = None,
    poi_weights: Mapping[str, float] | None = None,
) -> SpatialWeights:
    """Combine residents, POI attraction and depots into one weight column per use case.

    * home: residents;
    * depot: depot POIs (``bus_depot``, ``bus_station``), else residents;
    * public AC, public DC, swapping: ``(1 - a) x residents + a x POI attraction``, both
      normalised to 1, with ``a`` from ``poi_share`` (default :data:`POI_SHARE`); without
      POIs, residents only.

    Parameters
    ----------
    cells
        Output of :func:`make_cells`.
    residential
        Residents' weight layer (raster persons, building area or population points).
    population_total
        Residents of the study area [persons]; default ``residential.total`` (use it when the
        layer is not in persons, e.g. building area).
    pois
        Points of interest with a ``kind`` column.
    poi_share
        Share of each use case's weight from POI attraction [0-1].
    poi_weights
        Attraction per POI kind (default :data:`POI_WEIGHTS`; other kinds count 1).

    Raises
    ------
    DataError
        When the residential layer is empty inside the study area.
    """
    if residential.total <= 0 or residential.weight.sum() <= 0:
        raise DataError(f"no residents in the study area ({residential.source}); check the population data and "
                        "that it overlaps the road network")
    share_of = {**POI_SHARE, **(poi_share or {})}
    kind_w = {**POI_WEIGHTS, **(poi_weights or {})}
    n = len(cells)
    pop_total = float(residential.total if population_total is None else population_total)
    if not (math.isfinite(pop_total) and pop_total > 0):
        raise DataError(f"population total must be a positive number of persons, got {population_total!r}")
    r_sum = float(residential.weight.sum())
    r_norm = residential.weight / r_sum
    rx, ry = residential.centres(cells)
    empty = WeightLayer(np.zeros(n), np.zeros(n), np.zeros(n), 0.0, "none")
    attraction, depots = empty, empty
    if pois is not None and len(pois):
        if "kind" not in pois.columns:
            raise DataError("POI layer has no 'kind' column")
        kinds = pois["kind"].astype(str).to_numpy()
        w = np.array([kind_w.get(k, DEFAULT_POI_WEIGHT) for k in kinds], dtype=float)
        attraction = point_weights(pois, w, cells, what="POI attraction")
        is_depot = np.isin(kinds, DEPOT_POI_KINDS)
        if is_depot.any():
            depots = point_weights(pois[is_depot], np.ones(int(is_depot.sum())), cells, what="depots")
    cols_w, cols_x, cols_y = {}, {}, {}
    for u in USE_CASES:
        if u == "home":
            layers = [(1.0, residential)]
        elif u == "depot":
            layers = [(1.0, depots)] if depots.weight.sum() > 0 else [(1.0, residential)]
        else:
            a = float(share_of.get(u, 0.0))
            if attraction.weight.sum() <= 0:
                a = 0.0
            layers = [(1.0 - a, residential), (a, attraction)]
        w_u = np.zeros(n)
        wx_u = np.zeros(n)
        wy_u = np.zeros(n)
        for coef, layer in layers:
            s = float(layer.weight.sum())
            if coef <= 0 or s <= 0:
                continue
            w_u += coef * layer.weight / s
            wx_u += coef * layer.wx / s
            wy_u += coef * layer.wy / s
        total = w_u.sum()
        if total > 0:
            w_u, wx_u, wy_u = w_u / total, wx_u / total, wy_u / total
        ok = w_u > 0
        cols_w[u] = w_u
        cols_x[u] = np.where(ok, np.divide(wx_u, w_u, out=np.zeros(n), where=ok), rx)
        cols_y[u] = np.where(ok, np.divide(wy_u, w_u, out=np.zeros(n), where=ok), ry)
    if depots.weight.sum() <= 0:
        log.info("no bus depots or stations among the POIs: depot charging follows the residents")
    if attraction.weight.sum() <= 0:
        log.info("no POIs in the study area: destination charging follows the residents")
    out = cells.copy()
    out["population"] = pop_total * r_norm
    out["x"], out["y"] = rx, ry
    out["attraction"] = attraction.weight
    out["depots"] = depots.weight
    idx = cells.index
    return SpatialWeights(
        cells=out,
        shares=pd.DataFrame(cols_w, index=idx),
        cx=pd.DataFrame(cols_x, index=idx),
        cy=pd.DataFrame(cols_y, index=idx),
        population_total=pop_total,
        population_source=residential.source,
    )


# =============================================================================================
# 4. Hourly profiles
# =============================================================================================
@dataclass(frozen=True)
class ProfileSpec:
    """How vehicles of a use case arrive and charge.

    Attributes
    ----------
    arrivals
        Mixture of wrapped normal arrival times: (weight, mean hour, standard deviation [h]).
    dwell_h
        Hours the vehicle stays plugged in (or a swapped battery may wait) [h].
    charge_h
        Hours at full power to deliver one session's energy, per segment [h].
    source
        Where the numbers come from.
    """

    arrivals: tuple[tuple[float, float, float], ...]
    dwell_h: int
    charge_h: Mapping[str, float]
    source: str

    def arrival_shares(self) -> np.ndarray:
        """Share of arrivals in each hour 0..23 [0-1]."""
        h = np.arange(24) + 0.5
        out = np.zeros(24)
        for w, mu, sd in self.arrivals:
            for k in (-1, 0, 1):
                out += w * np.exp(-0.5 * ((h - mu + 24 * k) / sd) ** 2)
        return out / out.sum()

    def describe(self) -> str:
        """One-line summary for the report."""
        arr = " + ".join(f"{w:g} x N({m:g} h, {s:g} h)" for w, m, s in self.arrivals)
        ch = ", ".join(f"{k} {v:g}" for k, v in self.charge_h.items())
        return f"arrivals {arr}; dwell {self.dwell_h} h; charging hours {ch}"


PROFILE_SOURCE = "assumption: arrival times and dwell windows (no charging-session data in the facts table)"
PROFILE_SPECS: dict[str, ProfileSpec] = {
    "home": ProfileSpec(
        arrivals=((1.0, 19.0, 2.0),),
        dwell_h=12,
        charge_h={"two_wheeler": 3.0, "three_wheeler": 5.0, "car": 4.5, "lcv": 4.5, "bus": 3.0, "truck": 4.0},
        source="e-autos charge 4-5 h at home (U2.06); a car's 15 kWh at 3.3 kW AC-001 takes 4.5 h (C3.01)",
    ),
    "depot": ProfileSpec(
        arrivals=((1.0, 22.5, 1.5),),
        dwell_h=8,
        charge_h={"two_wheeler": 3.0, "three_wheeler": 5.0, "car": 4.5, "lcv": 4.5, "bus": 3.0, "truck": 4.0},
        source="e-buses take 2.5-3 h for a full charge (U2.10); evening return to the depot is an assumption",
    ),
    "public_ac": ProfileSpec(
        arrivals=((0.6, 11.0, 2.5), (0.4, 16.0, 2.5)),
        dwell_h=3,
        charge_h={"two_wheeler": 2.0, "three_wheeler": 2.0, "car": 3.0, "lcv": 3.0, "bus": 2.0, "truck": 2.0},
        source="destination charging during shopping and work hours (assumption)",
    ),
    "public_dc": ProfileSpec(
        arrivals=((0.6, 13.0, 3.5), (0.4, 19.0, 2.0)),
        dwell_h=1,
        charge_h={"two_wheeler": 0.5, "three_wheeler": 0.5, "car": 0.5, "lcv": 0.5, "bus": 1.0, "truck": 1.0},
        source="fast charging within the hour of arrival, daytime and evening (assumption)",
    ),
    "swapping": ProfileSpec(
        arrivals=((0.6, 12.0, 4.0), (0.4, 19.0, 2.5)),
        dwell_h=6,
        charge_h={"two_wheeler": 2.0, "three_wheeler": 2.0, "car": 2.0, "lcv": 2.0, "bus": 2.0, "truck": 2.0},
        source="swapped batteries recharge in the cabinet within 6 h of the swap (assumption)",
    ),
}
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
    if strategy == "unmanaged":
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
      (:data:`PV_SHAPE`) within the dwell window.

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


# =============================================================================================
# 5. Allocation and the demand table
# =============================================================================================
def allocate_demand(
    energy: pd.DataFrame,
    weights: SpatialWeights,
    segments: pd.DataFrame,
    *,
    profiles: pd.DataFrame,
    sited_use_cases: Sequence[str] = PUBLIC_USE_CASES,
) -> gpd.GeoDataFrame:
    """Spread city totals over the cells: the ``demand`` table.

    Every (segment, year, use case) total is multiplied by the use case's cell shares
    (which sum to 1), so the sum over cells equals the total.

    Parameters
    ----------
    energy
        Output of :func:`energy_by_use_case`.
    weights
        Output of :func:`spatial_weights`.
    segments
        Segment parameters (``kwh_per_session``, ``cutoff_min``).
    profiles
        Output of :func:`profile_table` (gives ``peak_kw``).
    sited_use_cases
        Use cases served by public chargers that the siting model plans.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``demand_id`` (``<cell>:<segment>:<use case>:<year>``): ``geometry``
        (Point: weighted centre of the use case's weight in the cell), ``cell_id``,
        ``segment``, ``use_case``, ``year``, ``energy_kwh_day`` [kWh/day],
        ``sessions_day`` [1/day], ``peak_kw`` [kW, the row's own hourly maximum],
        ``cutoff_s`` [s], ``sited`` (bool). Rows with no energy are left out.
    """
    bad = [u for u in sited_use_cases if u not in USE_CASES]
    if bad:
        raise ConfigError(f"unknown sited use case(s) {bad}; use any of {list(USE_CASES)}")
    cell_ids = weights.shares.index.to_numpy()
    e = energy[energy["energy_kwh_day"] > 0]
    frames = []
    for u in USE_CASES:
        w = weights.shares[u].to_numpy()
        k = np.flatnonzero(w > 0)
        combos = e[e.index.get_level_values("use_case") == u]
        if combos.empty or len(k) == 0:
            if not combos.empty:
                raise DataError(f"use case {u} has energy but no cell has a weight for it")
            continue
        n_k, n_c = len(k), len(combos)
        seg = np.repeat(combos.index.get_level_values("segment").to_numpy(), n_k)
        year = np.repeat(combos.index.get_level_values("year").to_numpy(), n_k)
        kk = np.tile(k, n_c)
        frames.append(pd.DataFrame({
            "cell_id": cell_ids[kk],
            "segment": seg,
            "use_case": u,
            "year": year.astype(int),
            "energy_kwh_day": np.repeat(combos["energy_kwh_day"].to_numpy(), n_k) * w[kk],
            "x": weights.cx[u].to_numpy()[kk],
            "y": weights.cy[u].to_numpy()[kk],
            "order": kk,
        }))
    if not frames:
        raise DataError("no charging demand: every segment has zero EV energy; check the fleet parameters")
    t = pd.concat(frames, ignore_index=True)
    t = t[t["energy_kwh_day"] > 0]
    seg_rank = {s: i for i, s in enumerate(SEGMENTS)}
    use_rank = {u: i for i, u in enumerate(USE_CASES)}
    t = t.assign(_s=t["segment"].map(seg_rank), _u=t["use_case"].map(use_rank))
    t = t.sort_values(["year", "_s", "_u", "order"], kind="stable").drop(columns=["_s", "_u", "order"])
    seg_params = segments.loc[t["segment"]]
    t["sessions_day"] = t["energy_kwh_day"].to_numpy() / seg_params["kwh_per_session"].to_numpy(dtype=float)
    peak_share = profiles.max(axis=1)
    t["peak_kw"] = t["energy_kwh_day"].to_numpy() * peak_share.reindex(
        pd.MultiIndex.from_arrays([t["segment"], t["use_case"]])).to_numpy()
    t["cutoff_s"] = seg_params["cutoff_min"].to_numpy(dtype=float) * 60.0
    t["sited"] = t["use_case"].isin(list(sited_use_cases)).to_numpy()
    t.index = pd.Index(t["cell_id"].astype(str) + ":" + t["segment"] + ":" + t["use_case"] + ":" + t["year"].astype(str),
                       name="demand_id")
    gdf = gpd.GeoDataFrame(t.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(t["x"], t["y"]),
                           crs=weights.cells.crs)
    return gdf[["geometry", "cell_id", "segment", "use_case", "year", "energy_kwh_day", "sessions_day", "peak_kw",
                "cutoff_s", "sited"]]


@dataclass
class DemandResult:
    """Everything the demand stage produced for a city.

    Attributes
    ----------
    cells
        Cells (``cell_id`` index, clipped ``geometry``, ``area_m2`` [m2], ``population``
        [persons], ``x``, ``y`` residents' centre [m], ``attraction``, ``depots``).
    fleet
        :func:`fleet_projection` table, base year to horizon.
    energy
        City totals per (segment, year, use case) (:func:`energy_by_use_case`).
    demand
        The ``demand`` table of every year and use case (:func:`allocate_demand`).
    profiles
        Hourly profiles of the charging strategy (:func:`profile_table`).
    cell_peaks
        :func:`cell_peaks` of the demand table.
    population_total
        Residents of the study area [persons].
    population_source
        Where the residents come from.
    strategy
        The charging strategy of the profiles.
    years
        Years of the demand table.
    """

    cells: gpd.GeoDataFrame
    fleet: pd.DataFrame
    energy: pd.DataFrame
    demand: gpd.GeoDataFrame
    profiles: pd.DataFrame
    cell_peaks: pd.DataFrame
    population_total: float
    population_source: str
    strategy: str
    years: tuple[int, ...]
    study_area: BaseGeometry | None = None
    meta: dict[str, object] = field(default_factory=dict)

    def for_siting(self, years: int | Sequence[int] | None = None) -> gpd.GeoDataFrame:
        """Rows the siting model consumes: publicly served use cases (``sited``) of the given years.

        Parameters
        ----------
        years
            A year, several years, or None for every year of the table.

        Raises
        ------
        ConfigError
            When a requested year is not in the table.
        """
        d = self.demand
        if years is None:
            return d[d["sited"]]
        wanted = [years] if isinstance(years, int | np.integer) else list(years)
        lacking = sorted(set(wanted) - set(self.years))
        if lacking:
            raise ConfigError(f"demand has no year(s) {lacking}; it covers {list(self.years)} (fleet.years)")
        return d[d["sited"] & d["year"].isin(wanted)]

    def summary(self, year: int) -> dict[str, object]:
        """KPIs of one year: EV stock per segment and energy per use case [kWh/day]."""
        f = self.fleet.xs(year, level="year")
        e = self.energy.xs(year, level="year")
        return {
            "year": year,
            "population": round(self.population_total, 1),
            "population_source": self.population_source,
            "ev_stock": {s: round(float(v), 1) for s, v in f["ev_stock"].items()},
            "ev_sales_share": {s: round(float(v), 4) for s, v in f["ev_sales_share"].items()},
            "energy_kwh_day_by_use_case": {
                u: round(float(v), 2) for u, v in e.groupby(level="use_case", sort=False)["energy_kwh_day"].sum().items()
            },
            "charging_strategy": self.strategy,
        }


MIN_BUILDING_COVERAGE = 0.9


def building_coverage(buildings: gpd.GeoDataFrame, cells: gpd.GeoDataFrame,
                      population: gpd.GeoDataFrame | None) -> float:
    """How completely building footprints are mapped: the share of the population points (or,
    without them, of the cells) that lies in cells holding some footprint [0-1]."""
    has = polygon_area_weights(buildings, cells).weight > 0
    if population is None or len(population) == 0 or "population" not in population.columns:
        return float(has.mean()) if len(has) else 0.0
    pts = point_weights(population, population["population"].to_numpy(dtype=float), cells, what="population")
    return float(pts.weight[has].sum() / pts.weight.sum()) if pts.weight.sum() > 0 else 0.0


def residential_layer(
    cells: gpd.GeoDataFrame,
    *,
    study_area: BaseGeometry,
    raster: Path | str | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    population: gpd.GeoDataFrame | None = None,
    population_total: float | None = None,
    mode: str = "auto",
) -> tuple[WeightLayer, float]:
    """Residents' weight layer and the residents' total, from the best source available.

    "auto" uses the population raster when given, else building footprints (scaled to
    ``population_total``) when they are mapped completely enough (cells with footprints hold
    at least :data:`MIN_BUILDING_COVERAGE` of the population points), else population points.

    Returns
    -------
    tuple
        (layer, residents of the study area [persons]).
    """
    has_buildings = buildings is not None and len(buildings) > 0
    if mode == "auto":
        mode = "raster" if raster is not None else "points"
        if raster is None and has_buildings and population_total:
            coverage = building_coverage(buildings, cells, population)
            if coverage >= MIN_BUILDING_COVERAGE:
                mode = "buildings"
            else:
                log.info("building footprints cover cells with only %.0f%% of the population points (need %.0f%%): "
                         "residents follow the population points; set demand.residential_weights = 'buildings' to "
                         "force them", 100 * coverage, 100 * MIN_BUILDING_COVERAGE)
    if mode == "raster":
        if raster is None:
            raise ConfigError("demand.residential_weights = 'raster' needs data.population_raster")
        layer = raster_zonal_sums(raster, cells, study_area=study_area)
        return layer, layer.total
    if mode == "buildings":
        if not has_buildings:
            raise DataError("demand.residential_weights = 'buildings' but the city has no building footprints")
        if not population_total:
            raise ConfigError("building-area weights need data.population_total (persons in the study area)")
        layer = polygon_area_weights(buildings, cells)
        if layer.total <= 0:
            raise DataError("no building footprint lies inside the study area")
        return layer, float(population_total)
    if mode == "points":
        if population is None or len(population) == 0:
            raise DataError("no population points; give data.population_raster or data.population_total")
        if "population" not in population.columns:
            raise DataError("population layer has no 'population' column")
        layer = point_weights(population, population["population"].to_numpy(dtype=float), cells, what="population")
        return layer, layer.total
    raise ConfigError(f"residential_weights must be 'auto', 'raster', 'buildings' or 'points', not {mode!r}")


def default_study_area(city: City) -> BaseGeometry:
    """The study area of a city: ``demand.study_area_bbox`` of ``city.toml`` (WGS84, projected
    with densified edges), else the city's own ``study_area`` polygon when it has one, else the
    bounding box of the road network."""
    bbox = city.config.demand.study_area_bbox
    if bbox is not None:
        from pyproj import Transformer

        ring = shapely.segmentize(box(*bbox), max(bbox[2] - bbox[0], bbox[3] - bbox[1]) / 64.0)
        x, y = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True).transform(*np.asarray(ring.exterior.coords).T)
        return shapely.Polygon(np.column_stack([x, y]))
    own = getattr(city, "study_area", None)
    if isinstance(own, BaseGeometry) and not own.is_empty:
        return own
    return box(*city.bounds())


def city_demand(city: City, *, years: Sequence[int] | None = None, study_area: BaseGeometry | None = None) -> DemandResult:
    """Run the demand stage for a loaded city.

    Parameters
    ----------
    city
        A :class:`~charge_planner.city.City`.
    years
        Years of the demand table (default: ``fleet.years``, else base year to max(target
        year, plan year)).
    study_area
        Polygon in the city's CRS (default: :func:`default_study_area`).

    Returns
    -------
    DemandResult
    """
    from charge_planner.assumptions import adoption_settings, offpeak_hours, segment_table
    from charge_planner.config import resolve_data_path

    cfg = city.config
    settings = adoption_settings(cfg)
    years = tuple(sorted(set(years))) if years is not None else settings.years
    if min(years) < settings.base_year:
        raise ConfigError(f"demand years {list(years)} start before the base year {settings.base_year}")
    horizon = max(settings.horizon_year, max(years))
    segs = segment_table(cfg)
    area = study_area if study_area is not None else default_study_area(city)
    cells = make_cells(area, crs=city.crs, cell_type=cfg.demand.cell_type, cell_size_m=cfg.siting.cell_size_m,
                       h3_resolution=cfg.demand.h3_resolution)
    raster = None
    if cfg.data.population_raster:
        raster = resolve_data_path(cfg.data.population_raster, city_dir=city.city_dir, root=city.data_root,
                                   field="data.population_raster")
    layer, pop_total = residential_layer(
        cells, study_area=area, raster=raster, buildings=getattr(city, "buildings", None), population=city.population,
        population_total=cfg.data.population_total, mode=cfg.demand.residential_weights,
    )
    source = (f"data.population_raster ({raster.name})" if raster is not None and cfg.data.population_total is None
              else "data.population_total" if cfg.data.population_total is not None else "population")
    check_density(pop_total, area.area / 1e6, what=source)
    weights = spatial_weights(cells, layer, population_total=pop_total, pois=city.pois,
                              poi_share=cfg.demand.poi_share, poi_weights=cfg.demand.poi_weights)
    fleet = fleet_projection(
        segs, population=pop_total, base_year=settings.base_year, target_year=settings.target_year,
        horizon_year=horizon, ceiling=settings.ceiling, after_target=settings.after_target,
        survival=settings.survival, survival_shape=settings.survival_shape,
    )
    energy = energy_by_use_case(fleet, segs, years=years)
    window, _ = offpeak_hours(cfg)
    strategy = cfg.demand.charging_strategy
    profiles = profile_table(strategy, segments=list(segs.index), offpeak_hours=window)
    demand = allocate_demand(energy, weights, segs, profiles=profiles, sited_use_cases=cfg.demand.sited_use_cases)
    peaks = cell_peaks(demand, profiles)
    for y in years:
        e = energy.xs(y, level="year")["energy_kwh_day"]
        log.info("demand %d: %.0f kWh/day (%s); sited %.0f kWh/day", y, e.sum(),
                 ", ".join(f"{u} {v:.0f}" for u, v in e.groupby(level="use_case", sort=False).sum().items()),
                 demand.loc[demand["sited"] & (demand["year"] == y), "energy_kwh_day"].sum())
    return DemandResult(cells=weights.cells, fleet=fleet, energy=energy, demand=demand, profiles=profiles,
                        cell_peaks=peaks, population_total=pop_total, population_source=weights.population_source,
                        strategy=strategy, years=years, study_area=area)


# =============================================================================================
# One-year helpers over a population-per-cell frame
# =============================================================================================
def population_by_cell(
    population: gpd.GeoDataFrame, *, bounds: tuple[float, float, float, float], cell_size_m: float
) -> pd.DataFrame:
    """Sum population points into square cells and find each cell's population-weighted centre.

    Parameters
    ----------
    population
        Points with column ``population`` [persons], in the projected CRS.
    bounds
        (minx, miny, maxx, maxy) of the study area [m]; points outside are dropped (logged).
    cell_size_m
        Cell edge [m].

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cell_id``: ``population`` [persons], ``x``, ``y`` [m] of the weighted centre;
        cells without residents are left out.
    """
    if "population" not in population.columns:
        raise DataError("population layer has no 'population' column")
    pop = population["population"].to_numpy(dtype=float)
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise DataError("population layer has negative or missing values; fix or drop those features")
    pts = population.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    minx, miny, maxx, maxy = bounds
    inside = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
    if (~inside).any():
        log.info("dropped %d population points (%.0f persons) outside the study area", (~inside).sum(), pop[~inside].sum())
    x, y, pop = x[inside], y[inside], pop[inside]
    ix = np.floor((x - minx) / cell_size_m).astype(int)
    iy = np.floor((y - miny) / cell_size_m).astype(int)
    frame = pd.DataFrame({"ix": ix, "iy": iy, "pop": pop, "px": pop * x, "py": pop * y})
    g = frame.groupby(["ix", "iy"], sort=True).sum()
    g = g[g["pop"] > 0]
    return pd.DataFrame(
        {"population": g["pop"].to_numpy(), "x": (g["px"] / g["pop"]).to_numpy(), "y": (g["py"] / g["pop"]).to_numpy()},
        index=pd.Index([f"c{i:04d}_{j:04d}" for i, j in g.index], name="cell_id"),
    )


def build_demand(
    cells: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    year: int,
    base_year: int,
    target_year: int,
    crs: str,
    strategy: str = "unmanaged",
    sited_use_cases: Sequence[str] = PUBLIC_USE_CASES,
) -> gpd.GeoDataFrame:
    """The sited rows of the ``demand`` table of one year, from residents per cell only (no POIs).

    A compact entry point for notebooks and tests; :func:`city_demand` is the full stage.

    Parameters
    ----------
    cells
        Output of :func:`population_by_cell` (``population``, ``x``, ``y`` by ``cell_id``).
    segments
        Segment parameters (:func:`charge_planner.assumptions.segment_table`).
    year, base_year, target_year
        Plan year and the years of the adoption curve.
    crs
        Projected CRS of the cell coordinates.
    strategy
        Charging strategy of ``peak_kw``.
    sited_use_cases
        Use cases kept.

    Returns
    -------
    geopandas.GeoDataFrame
        The :func:`allocate_demand` columns of the sited rows, plus ``population``
        [persons] of the cell and ``ev_stock`` [vehicles]: the cell's EVs of the segment
        times the use case's share of their energy.
    """
    if year < base_year:
        raise ConfigError(f"plan year {year} is before base year {base_year}")
    pop = cells["population"].to_numpy(dtype=float)
    n = len(cells)
    geo = gpd.GeoDataFrame(cells[[]], geometry=gpd.points_from_xy(cells["x"], cells["y"]), crs=crs)
    layer = WeightLayer(pop, pop * cells["x"].to_numpy(), pop * cells["y"].to_numpy(), float(pop.sum()), "population")
    weights = spatial_weights(geo, layer)
    fleet = fleet_projection(segments, population=float(pop.sum()), base_year=base_year, target_year=target_year,
                             horizon_year=max(year, target_year))
    energy = energy_by_use_case(fleet, segments, years=[year])
    profiles = profile_table(strategy, segments=list(segments.index))
    d = allocate_demand(energy, weights, segments, profiles=profiles, sited_use_cases=sited_use_cases)
    d = d[d["sited"]].copy()
    d["population"] = cells["population"].reindex(d["cell_id"]).to_numpy()
    ev = fleet.xs(year, level="year")["ev_stock"]
    share = np.zeros(len(d))
    for u in USE_CASES:
        m = (d["use_case"] == u).to_numpy()
        share[m] = segments.loc[d["segment"].to_numpy()[m], f"share_{u}"].to_numpy(dtype=float)
    d["ev_stock"] = ev.reindex(d["segment"]).to_numpy() * d["population"].to_numpy() / max(pop.sum(), 1e-300) * share
    log.debug("build_demand: %d cells, %d rows", n, len(d))
    return d
