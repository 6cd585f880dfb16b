"""Fleet and adoption: the cohort stock model of the EV fleet and its daily charging energy.

:func:`fleet_projection` gives, per segment and year, the stock, sales, scrappage, EV sales
and EV stock from a logistic EV sales-share curve (:func:`sales_share`) and a survival curve
(:func:`survival_curve`), optionally calibrated to an observed EV share of the base-year
stock or solved for a policy target of the EV share of the stock. :func:`energy_by_use_case`
turns the EV stock into daily charging energy per use case. :func:`check_segments`
validates the segment table both read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from charge_planner.errors import ConfigError, DataError
from charge_planner.presets import SEGMENTS, SHARE_FIELDS, USE_CASES

log = logging.getLogger(__name__)

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
        optional :data:`~charge_planner.presets.STOCK_SHARE_FIELDS` columns.
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
