"""Resolve a city's configuration and its country preset into assumption tables.

Each table carries, next to every value, where it came from: the preset's source, or
"city.toml" when the user overrode it. The report prints these tables so that every
number of a plan can be traced.

The module also holds the demand stage's country-independent assumptions, which the
tables report and the demand stage reads: the survival curve's source
(:data:`SURVIVAL_SOURCE`), the POI attraction (:data:`POI_SHARE`, :data:`POI_WEIGHTS`) and
the arrival and dwell times of the charging profiles (:class:`ProfileSpec`,
:data:`PROFILE_SPECS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from charge_planner.config import CityConfig
from charge_planner.errors import ConfigError
from charge_planner.presets import (
    FUEL_WTT_KG_PER_UNIT,
    PUBLIC_USE_CASES,
    SHARE_FIELDS,
    STOCK_SHARE_FIELDS,
    CountryPreset,
    SegmentPreset,
    Sourced,
    get_preset,
    grid_reinforcement_costs,
)

_USER = "city.toml (user override)"

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


def preset_of(config: CityConfig) -> CountryPreset:
    """The country preset selected by ``city.country``."""
    return get_preset(config.city.country)


def fx_local_per_usd(config: CityConfig) -> Sourced:
    """Exchange rate used to convert preset costs to USD [local currency per USD]."""
    if config.siting.fx_local_per_usd is not None:
        return Sourced(config.siting.fx_local_per_usd, "city.toml siting.fx_local_per_usd", "user")
    return preset_of(config).fx_local_per_usd


def _rescaled_shares(seg: str, base: SegmentPreset, public: float) -> dict[str, Sourced]:
    """Use-case shares after a legacy ``public_share`` override: the preset's split, rescaled."""
    pub = {f"share_{u}": getattr(base, f"share_{u}").value for u in PUBLIC_USE_CASES}
    priv = {f: getattr(base, f).value for f in SHARE_FIELDS if f not in pub}
    p_sum, q_sum = math.fsum(pub.values()), math.fsum(priv.values())
    out: dict[str, float] = {}
    if p_sum > 0:
        out.update({f: v * public / p_sum for f, v in pub.items()})
    else:
        out.update({f: 0.0 for f in pub} | {"share_public_dc": public})
    if q_sum > 0:
        out.update({f: v * (1.0 - public) / q_sum for f, v in priv.items()})
    else:
        rest = "share_depot" if seg in ("lcv", "bus", "truck") else "share_home"
        out.update({f: 0.0 for f in priv} | {rest: 1.0 - public})
    src = f"city.toml public_share = {public:g}, split like the preset's use-case shares"
    return {f: Sourced(out[f], src, "user") for f in SHARE_FIELDS}


def segment_table(config: CityConfig) -> pd.DataFrame:
    """Per-segment parameters of the plan, with their sources.

    A user's ``ev_sales_share_target`` without an ``ev_stock_share_target`` drops the
    preset's stock target, so that the given sales target is the one used.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``segment``; for each :class:`~charge_planner.presets.SegmentPreset`
        field a value column, a ``<name>_source`` and a ``<name>_confidence`` column, and
        the derived ``public_share`` (sum of the public use-case shares) [0-1]. The
        optional :data:`~charge_planner.presets.STOCK_SHARE_FIELDS` are NaN (source and
        confidence "none") where neither the preset nor ``city.toml`` gives one.

    Raises
    ------
    ConfigError
        When a segment's use-case shares (preset values merged with ``city.toml``
        overrides) do not sum to 1; every such segment is listed.
    """
    preset = preset_of(config)
    rows = []
    problems = []
    for seg in config.fleet.segments:
        base: SegmentPreset = preset.segments[seg]
        override = config.fleet.overrides.get(seg)
        resolved: dict[str, Sourced] = {f.name: v for f in fields(SegmentPreset) if (v := getattr(base, f.name)) is not None}
        if override is not None:
            if override.public_share is not None:
                resolved.update(_rescaled_shares(seg, base, override.public_share))
            if override.ev_sales_share_target is not None and override.ev_stock_share_target is None:
                resolved.pop("ev_stock_share_target", None)
            for f in fields(SegmentPreset):
                user = getattr(override, f.name, None)
                if user is not None:
                    resolved[f.name] = Sourced(float(user), _USER, "user")
        total = math.fsum(resolved[f].value for f in SHARE_FIELDS)
        if abs(total - 1.0) > 1e-6:
            parts = ", ".join(f"{f} {resolved[f].value:g}" for f in SHARE_FIELDS)
            problems.append(f"fleet.overrides.{seg}: use-case shares sum to {total:.6g}, not 1 ({parts})")
        row: dict[str, object] = {"segment": seg}
        for name in (f.name for f in fields(SegmentPreset)):
            s = resolved.get(name)
            row[name] = math.nan if s is None else s.value
            row[f"{name}_source"] = "none" if s is None else s.source
            row[f"{name}_confidence"] = "none" if s is None else s.confidence
        row["public_share"] = math.fsum(resolved[f"share_{u}"].value for u in PUBLIC_USE_CASES)
        row["public_share_source"] = "sum of the public use-case shares (public AC, public DC, swapping)"
        row["public_share_confidence"] = "derived"
        rows.append(row)
    if problems:
        raise ConfigError(f"{config.city.name}: " + "; ".join(problems) + "; give all five share_* fields so they sum to 1")
    return pd.DataFrame(rows).set_index("segment")


@dataclass(frozen=True)
class AdoptionSettings:
    """Resolved settings of the fleet model.

    Attributes
    ----------
    base_year, target_year
        Years of the base-year data and of the EV sales-share target.
    years
        Years of the demand table (always with the plan year and the rollout years).
    horizon_year
        Last year of the fleet projection.
    ceiling
        Saturation of the logistic sales-share curve [0-1].
    after_target
        "continue" (the logistic goes on towards the ceiling) or "hold" (the target share is kept).
    survival, survival_shape
        "weibull" (with that shape) or "fixed" (retirement at the lifetime).
    """

    base_year: int
    target_year: int
    years: tuple[int, ...]
    horizon_year: int
    ceiling: float
    after_target: str
    survival: str
    survival_shape: float


def adoption_settings(config: CityConfig) -> AdoptionSettings:
    """Adoption settings of a plan: ``[fleet]`` of ``city.toml`` with the preset's years as defaults."""
    preset = preset_of(config)
    f = config.fleet
    base = f.base_year or preset.base_year
    target = f.target_year or preset.target_year
    years = tuple(sorted(set(f.years))) if f.years else tuple(range(base, max(target, f.year) + 1))
    # the siting model needs the plan year and every rollout year
    rollout = getattr(config.siting, "rollout_years", None) or []
    years = tuple(sorted({*years, f.year, *rollout}))
    return AdoptionSettings(
        base_year=base,
        target_year=target,
        years=years,
        horizon_year=max(f.horizon_year, max(years)),
        ceiling=f.sales_share_ceiling,
        after_target=f.after_target,
        survival=f.survival,
        survival_shape=f.survival_shape,
    )


def offpeak_hours(config: CityConfig) -> tuple[tuple[int, int], str]:
    """Off-peak window (start, end) [h] of the ``managed_offpeak`` strategy, and its source."""
    if config.demand.offpeak_hours is not None:
        return (int(config.demand.offpeak_hours[0]), int(config.demand.offpeak_hours[1])), "city.toml demand.offpeak_hours"
    preset = preset_of(config)
    return preset.offpeak_hours, preset.offpeak_source


def charger_table(config: CityConfig) -> pd.DataFrame:
    """Charger types of the plan (``charger_types`` data contract), with sources.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``charger_type``: ``power_kw`` [kW], ``capex_usd`` [USD], ``segments``
        (tuple), ``use_cases`` (tuple), ``service_hours_day`` [h], ``grid_level``
        ("lv"/"mv"), ``source``. Types serving none of the plan's segments are dropped.
    """
    segs = set(config.fleet.segments)
    if config.charger_types:
        rows = [
            {
                "charger_type": c.name,
                "power_kw": c.power_kw,
                "capex_usd": c.capex_usd,
                "segments": tuple(s for s in c.segments if s in segs),
                "use_cases": tuple(c.use_cases),
                "service_hours_day": c.service_hours_day,
                "grid_level": c.grid_level,
                "source": "city.toml charger_types",
            }
            for c in config.charger_types
        ]
    else:
        preset = preset_of(config)
        fx = fx_local_per_usd(config).value
        rows = [
            {
                "charger_type": name,
                "power_kw": c.power_kw.value,
                "capex_usd": round(c.capex_local.value / fx, 2),
                "segments": tuple(s for s in c.segments if s in segs),
                "use_cases": tuple(c.use_cases),
                "service_hours_day": c.service_hours_day.value,
                "grid_level": c.grid_level,
                "source": f"power: {c.power_kw.source}; cost: {c.capex_local.source} "
                f"({preset.currency} converted at {fx} per USD); hours: {c.service_hours_day.source}",
            }
            for name, c in preset.chargers.items()
        ]
    table = pd.DataFrame(rows).set_index("charger_type")
    return table[table["segments"].map(len) > 0]


def site_cost_bands_usd(config: CityConfig) -> pd.DataFrame:
    """Connection cost of a new site by its installed power band [USD].

    One row per band: ``max_kw`` (upper limit [kW], the last ``inf``), ``cost_usd`` [USD],
    ``source`` and ``confidence``; the table :meth:`CapacitatedSiting.from_tables` takes as
    ``site_cost_bands``. With ``siting.site_fixed_cost_usd`` set, one open-ended band at that
    cost: every new site costs the same, whatever its power.
    """
    if config.siting.site_fixed_cost_usd is not None:
        return pd.DataFrame({"max_kw": [math.inf], "cost_usd": [float(config.siting.site_fixed_cost_usd)],
                             "source": ["city.toml siting.site_fixed_cost_usd"], "confidence": ["user"]})
    preset = preset_of(config)
    fx = fx_local_per_usd(config).value
    return pd.DataFrame({
        "max_kw": [float(kw) for kw, _ in preset.site_cost_bands_local],
        "cost_usd": [c.value / fx for _, c in preset.site_cost_bands_local],
        "source": [c.source for _, c in preset.site_cost_bands_local],
        "confidence": [c.confidence for _, c in preset.site_cost_bands_local],
    })


def _row(name: str, value: str, source: str, confidence: str) -> dict[str, str]:
    return {"name": name, "value": value, "source": source, "confidence": confidence}


def sourced_rows(config: CityConfig) -> list[dict[str, str]]:
    """Every assumption of the plan as rows (name, value, source, confidence) for the report."""
    preset = preset_of(config)
    fx = fx_local_per_usd(config)
    energy = config.energy
    co2, share = preset.grid_series_values(energy.grid_series)  # one series, never mixed
    if energy.grid_renewable_share is not None:
        share = Sourced(energy.grid_renewable_share, f"{_USER} energy.grid_renewable_share", "user")
    scalars = {
        "fx_local_per_usd": fx,
        "base_peak_kw_per_person": preset.base_peak_kw_per_person,
        "electricity_kwh_per_capita": preset.electricity_kwh_per_capita,
        "electricity_demand_growth_per_year": (
            Sourced(energy.base_load_growth_per_year, f"{_USER} energy.base_load_growth_per_year", "user")
            if energy.base_load_growth_per_year is not None else preset.electricity_demand_growth_per_year
        ),
        "frequency_hz": preset.frequency_hz,
        "mv_kv": preset.mv_kv,
        "lv_kv": preset.lv_kv,
        f"grid_co2_g_per_kwh ({energy.grid_series})": co2,
        f"grid_renewable_share ({energy.grid_series})": share,
        "avoided_emissions_g_per_kwh (CEA combined margin)": (
            preset.combined_margin_g_per_kwh if energy.avoided_emissions_factor == "cea_combined_margin" else None
        ),
        "pv_kwh_per_kwp_day": preset.pv_kwh_per_kwp_day,
    }
    if energy.combustion_basis == "well_to_wheel":
        scalars.update({f"well_to_tank_kg_per_unit ({fuel})": v for fuel, v in FUEL_WTT_KG_PER_UNIT.items()})
    rows = [_row(k, f"{v.value:g}", v.source, v.confidence) for k, v in scalars.items() if v is not None]
    if config.siting.site_fixed_cost_usd is not None:
        rows.append(_row("siting.site_fixed_cost_usd", f"{config.siting.site_fixed_cost_usd:g}", _USER, "user"))
    else:
        lower = 0.0
        for kw, cost in preset.site_cost_bands_local:
            band = f"{lower:g}-{kw:g} kW" if math.isfinite(kw) else f"above {lower:g} kW"
            rows.append(_row(f"site_connection_cost_local ({band})", f"{cost.value:g}", cost.source, cost.confidence))
            lower = kw
    rows.append(_row("currency", preset.currency, f"{preset.country} preset", "H"))
    rows.append(_row("road_speeds_kph", ", ".join(f"{k} {v:g}" for k, v in preset.road_speeds_kph.items()),
                     preset.road_speeds_source, preset.road_speeds_confidence))

    f = config.fleet
    set_fields = f.model_fields_set
    adoption = adoption_settings(config)

    def fleet_row(name: str, value: str, default_source: str, *, user: bool) -> dict[str, str]:
        if user:
            return _row(f"fleet.{name}", value, "city.toml", "user")
        return _row(f"fleet.{name}", value, default_source, "assumption" if "assumption" in default_source else "M")

    rows.append(fleet_row("base_year", str(adoption.base_year), f"{preset.country} preset: year of the base data",
                          user="base_year" in set_fields))
    rows.append(fleet_row("target_year", str(adoption.target_year), f"{preset.country} preset: policy target year",
                          user="target_year" in set_fields))
    rows.append(fleet_row("sales_share_ceiling", f"{adoption.ceiling:g}",
                          "assumption: the logistic EV sales-share curve saturates at 100% of sales",
                          user="sales_share_ceiling" in set_fields))
    rows.append(fleet_row("after_target", adoption.after_target,
                          "assumption: after the target year the S-curve continues towards its ceiling",
                          user="after_target" in set_fields))
    survival = (f"Weibull, shape {adoption.survival_shape:g}, mean = lifetime" if adoption.survival == "weibull"
                else "retirement at the lifetime")
    rows.append(fleet_row("survival", survival, SURVIVAL_SOURCE,
                          user=bool({"survival", "survival_shape"} & set_fields)))

    window, window_src = offpeak_hours(config)
    rows.append(_row("demand.offpeak_hours", f"{window[0]:02d}:00-{window[1] % 24:02d}:00", window_src,
                     "user" if config.demand.offpeak_hours is not None else
                     ("assumption" if window_src.startswith("assumption") else "M")))
    for use_case, share in POI_SHARE.items():
        user = config.demand.poi_share.get(use_case)
        rows.append(_row(f"demand.poi_share.{use_case}", f"{share if user is None else user:g}",
                         "city.toml" if user is not None else
                         "assumption: share of the spatial weight from POI attraction (rest: residents)",
                         "user" if user is not None else "assumption"))
    weights = {**POI_WEIGHTS, **config.demand.poi_weights}
    rows.append(_row("demand.poi_weights", ", ".join(f"{k} {v:g}" for k, v in weights.items()),
                     "city.toml" if config.demand.poi_weights else "assumption: relative attraction per POI kind",
                     "user" if config.demand.poi_weights else "assumption"))
    for use_case, spec in PROFILE_SPECS.items():
        rows.append(_row(f"profile.{use_case}", spec.describe(), f"{PROFILE_SOURCE}; {spec.source}", "assumption"))

    if config.grid.aware and config.grid.source != "none":  # the loop prices reinforcement with these
        for key, cost in grid_reinforcement_costs(preset).items():
            rows.append(_row(f"grid_reinforcement_local ({key})", f"{cost.value:.6g}", cost.source, cost.confidence))

    seg = segment_table(config)
    for s in seg.index:
        for fld in [*(x.name for x in fields(SegmentPreset)), "public_share"]:
            if fld in STOCK_SHARE_FIELDS and math.isnan(float(seg.loc[s, fld])):
                continue
            rows.append(_row(f"{s}.{fld}", f"{seg.loc[s, fld]:g}", str(seg.loc[s, f"{fld}_source"]),
                             str(seg.loc[s, f"{fld}_confidence"])))
    return rows
