"""Rollout options side by side: one plan per option, compared on the same figures.

An :class:`Option` is a name and overrides of the city's configuration by dotted key
(``{"demand.charging_strategy": "managed_offpeak", "grid.pv_kwp_per_site": 0}``). Each option's
configuration is the city's with the overrides, validated again as a whole (a bad key or value
gets the usual one-line :class:`~charge_planner.errors.ConfigError`); :func:`compare_options`
plans the loaded city once per option (the city is not loaded again) and gives one row per
option: coverage, capex with grid reinforcement, peak EV load, violations, renewable share and
CO2 of charging.

:data:`DEFAULT_OPTIONS` holds the charging strategies (unmanaged, off-peak, solar-following,
capped), on-site PV with batteries, and siting without grid reinforcement.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from charge_planner.city import City
from charge_planner.config import CityConfig, parse_config
from charge_planner.errors import ConfigError
from charge_planner.grid.smart import BATTERY_ROUND_TRIP_EFFICIENCY
from charge_planner.pipeline.result import Plan
from charge_planner.pipeline.run import plan

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_OPTIONS", "OPTION_COLUMNS", "Option", "compare_options", "option_config", "option_notes",
           "option_row", "peak_site_kw", "resolve_options"]


@dataclass(frozen=True)
class Option:
    """One rollout option: a name, overrides of the city configuration by dotted key, and what it means.

    Attributes
    ----------
    name
        Short name (a column label of the comparison).
    overrides
        Dotted ``section.key`` (or deeper) -> value, applied over the city's ``city.toml``.
    description
        One sentence for the report.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


DEFAULT_OPTIONS: dict[str, Option] = {
    o.name: o
    for o in (
        Option("unmanaged", {"demand.charging_strategy": "unmanaged"},
               "vehicles charge at full power on arrival"),
        Option("managed_offpeak", {"demand.charging_strategy": "managed_offpeak"},
               "charging moved into the off-peak tariff hours of each stay"),
        Option("solar_following", {"demand.charging_strategy": "solar_following"},
               "charging follows the PV output within each stay"),
        Option("capped", {"demand.charging_strategy": "capped"},
               "arrivals as unmanaged, each site's draw held at grid.charging_cap_share of its installed power"),
        # sizes are assumptions: a canopy over about 15 parking bays (about 180 m2 at 6 m2/kWp) and a
        # two-hour battery of 50 kWh / 25 kW, the size of a small commercial battery cabinet
        Option("pv_battery", {"demand.charging_strategy": "unmanaged", "grid.pv_kwp_per_site": 30.0,
                              "grid.battery_kwh_per_site": 50.0, "grid.battery_kw_per_site": 25.0},
               "unmanaged charging with 30 kWp of PV and a 50 kWh / 25 kW battery at every site (assumption)"),
        Option("no_reinforcement", {"demand.charging_strategy": "unmanaged", "grid.reinforcement": False},
               "unmanaged charging; grid-aware siting may not pay for grid reinforcement (no effect unless "
               "grid.aware)"),
    )
}
"""The options compared by default, by name."""

OPTION_COLUMNS: dict[str, str] = {
    "option": "option name",
    "overrides": "settings changed from the city's city.toml",
    "strategy": "demand.charging_strategy",
    "sites_open": "charging sites opened",
    "installed_kw": "installed charging power [kW]",
    "served_share": "share of the public charging demand served [-]",
    "capex_usd": "capital cost: chargers, connections and grid reinforcement [USD]",
    "reinforcement_usd": "grid reinforcement within it, chosen by grid-aware siting [USD]",
    "utility_reinforcement_usd": "reinforcement the utility would still need for the violations left (grid-aware "
    "siting; NaN without it) [USD]",
    "peak_ev_kw": "highest EV load on the grid over the checked steps, home and depot charging included [kW]",
    "peak_site_kw": "highest grid draw of the charging sites: charging less the on-site PV used, battery "
    "charging less discharging [kW]",
    "violations": "grid limit violations (elements and steps)",
    "violation_hours": "hours with a violation, summed over elements [h]",
    "vm_min_pu": "lowest voltage outside the slack buses [pu]",
    "renewable_share": "renewable share of the charging energy [-]",
    "co2_t_year": "CO2 of the charging energy [t/year]",
}
"""Columns of :func:`compare_options`, with their meaning and unit."""


#: Sections an option may not change: the loaded city (roads, population, points of interest) comes from them.
_FIXED_SECTIONS = ("city", "data")


def resolve_options(names: Iterable[str] | None = None) -> list[Option]:
    """The default options of ``names`` (all of :data:`DEFAULT_OPTIONS` when None or empty).

    Raises
    ------
    ConfigError
        For a name that is not an option, listing the known ones.
    """
    names = list(names or [])
    if not names:
        return list(DEFAULT_OPTIONS.values())
    unknown = [n for n in names if n not in DEFAULT_OPTIONS]
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; choose from {list(DEFAULT_OPTIONS)}")
    return [DEFAULT_OPTIONS[n] for n in dict.fromkeys(names)]


def option_config(config: CityConfig, option: Option, *, source: str = "city.toml", what: str = "option") -> CityConfig:
    """The city's configuration with the option's overrides, validated again as a whole.

    ``source`` and ``what`` name the file and the kind of entry ("option", "scenario") in errors.

    Raises
    ------
    ConfigError
        When a dotted key does not name a setting, or the merged configuration is invalid (one
        line naming the option and the field).
    """
    data = copy.deepcopy(config.model_dump())
    where = f"{source}: {what} {option.name!r}"
    for key, value in option.overrides.items():
        parts = key.split(".")
        if len(parts) < 2 or not all(parts):
            raise ConfigError(f"{where}: {key!r} is not a dotted setting of city.toml; write "
                              "section.key, e.g. 'demand.charging_strategy'")
        if parts[0] in _FIXED_SECTIONS:
            raise ConfigError(f"{where}: {key!r} changes the city's data, which the {what}s share "
                              f"(they plan the loaded city); {what}s may change every section but "
                              f"{', '.join(_FIXED_SECTIONS)}: make another city bundle instead")
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{where}: {key!r} is not a setting of city.toml "
                                  f"({'.'.join(parts[:depth + 1])!r} does not exist); check its spelling")
            if node[part] is None:
                node[part] = {}
            node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: {key!r} is not a setting of city.toml "
                              f"({'.'.join(parts[:-1])!r} is a value, not a section)")
        node[parts[-1]] = value
    return parse_config(data, source=f"{source} with {what} {option.name!r}")


def option_row(option: Option, result: Plan) -> dict[str, Any]:
    """The comparison row of one option's plan (columns :data:`OPTION_COLUMNS`)."""
    s = result.summary
    k = s["kpis"]
    g = s.get("grid", {})
    reinforcement = float(k.get("reinforcement_usd") or 0.0)
    capex = k.get("capex_with_grid_usd")
    capex = float(k["capex_usd"]) + reinforcement if capex is None else float(capex)
    aware = s.get("grid_aware")
    hours = g.get("violation_hours")

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    return {
        "option": option.name,
        "overrides": ", ".join(f"{key}={value!r}" for key, value in option.overrides.items()),
        "strategy": result.city.config.demand.charging_strategy,
        "sites_open": int(k["sites_open"]),
        "installed_kw": float(k["installed_kw"]),
        "served_share": float(k["served_share"]),
        "capex_usd": capex,
        "reinforcement_usd": reinforcement,
        "utility_reinforcement_usd": num(aware.get("utility_reinforcement_usd")) if aware else math.nan,
        "peak_ev_kw": round(num(g.get("ev_load_mw")) * 1000.0, 1) if g else math.nan,
        "peak_site_kw": round(peak_site_kw(result), 1),
        "violations": int(g["violations"]) if "violations" in g else -1,
        "violation_hours": float(sum(hours.values())) if hours else (0.0 if g else math.nan),
        "vm_min_pu": num(g.get("vm_min_pu")),
        "renewable_share": num(k.get("charging_renewable_share", k.get("grid_renewable_share"))),
        "co2_t_year": float(k["co2_t_year"]),
    }


def peak_site_kw(result: Plan) -> float:
    """Highest draw of the plan's charging sites from the grid over the grid check's steps [kW].

    Per site: its charging load (capped at its installed power) less the on-site PV it uses, plus
    battery charging from the grid less discharging; PV fed back is not netted against other
    sites. At the evening peak (``grid.time_series = "peak"``, no PV): installed power x the peak
    coincidence (x the cap for "capped"). NaN without a grid check.
    """
    r = result.grid_results
    if r is None or not len(r.ev_rows):
        return math.nan
    rows, prof = r.ev_rows, np.asarray(r.ev_profiles, dtype=float)
    public = rows["kind"].eq("public").to_numpy() if "kind" in rows.columns else np.ones(len(rows), bool)
    g = result.city.config.grid
    a = r.assessment
    if a is None:
        share = g.ev_peak_coincidence
        if result.city.config.demand.charging_strategy == "capped":
            share = min(share, g.charging_cap_share)
        return float(rows["power_kw"].to_numpy(float)[public].sum() * share)
    if a.batteries is not None:
        b = a.batteries
        if b.rows is not None and len(b.rows) != len(rows):
            on = np.zeros(len(rows), bool)
            on[b.rows] = True
            if (public & ~on).any():  # every charging site has its battery (smart_rows); none left out
                return math.nan
            public = public[b.rows]
        return float(b.grid_kw[:, public].sum(axis=1).max(initial=0.0))
    hours = np.asarray(a.flow.index.hour)
    kw = prof[public][:, hours] * rows["served_kwh_day"].to_numpy(float)[public][:, None]
    kw = np.minimum(kw, rows["power_kw"].to_numpy(float)[public][:, None])
    kwp = rows["pv_kwp"].to_numpy(float) if "pv_kwp" in rows.columns else np.zeros(len(rows))
    if kwp.sum() > 0 and a.pv_kw.shape[1]:
        per_kwp = a.pv_kw.to_numpy(float).sum(axis=1) / kwp.sum()  # every site has the same PV shape
        kw = np.clip(kw - kwp[public][:, None] * per_kwp[None, :], 0.0, None)
    return float(kw.sum(axis=0).max(initial=0.0))


def option_notes(config: CityConfig, *, grid_aware: bool | None = None) -> list[str]:
    """What the comparison assumes, for the report: the cap, the battery, the grid check and reinforcement."""
    g = config.grid
    notes = [
        f"capped: each site's draw at most {g.charging_cap_share:.0%} of its installed power (grid.charging_cap_share, "
        "assumption); the energy above it moves to the nearest hours with room, later hours first",
        f"batteries: round-trip efficiency {BATTERY_ROUND_TRIP_EFFICIENCY:.0%} (assumption: lithium-ion systems are "
        "quoted at 85-95 %), charged from PV surplus first, then from the grid in the site's lowest-draw hours, "
        "discharged at its peak, each day balanced; pv_battery sizes are assumptions",
        f"grid check: grid.time_series = {g.time_series!r}; peak EV load counts every EV load put on the grid "
        f"(grid.ev_loads = {', '.join(g.ev_loads)})",
    ]
    if not (g.aware if grid_aware is None else grid_aware):
        notes.append("grid.aware is false: siting does not see the grid, so no option pays for reinforcement and "
                     "no_reinforcement equals the city's own plan; set grid.aware = true (or --grid-aware) to compare "
                     "reinforcement")
    return notes


def compare_options(
    city: City, options: Iterable[Option] | Mapping[str, Mapping[str, Any]] | None = None, *,
    grid_aware: bool | None = None, progress: bool | None = False,
) -> pd.DataFrame:
    """Plan the city once per option and compare the plans.

    Parameters
    ----------
    city
        The loaded city; each option plans it with its own configuration (the city's with the
        option's overrides) without loading it again.
    options
        :class:`Option` objects, or a mapping name -> overrides; default :data:`DEFAULT_OPTIONS`.
        Every option's configuration is checked before the first plan runs.
    grid_aware
        Set ``grid.aware`` of every option that does not set it itself (None: the city's); grid-aware
        siting is what pays for reinforcement, so the ``no_reinforcement`` option differs from the
        others only with it.
    progress
        Show each plan's progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per option, in the given order, indexed by ``option``, with the columns of
        :data:`OPTION_COLUMNS`; ``violations`` is -1 and the grid figures NaN without a grid check
        (``grid.source = "none"``). ``renewable_share`` is the time series' (hourly mix and on-site PV),
        else the grid's annual share.

    Raises
    ------
    ConfigError
        When an option's overrides are invalid (before any plan runs).
    """
    if options is None:
        chosen = list(DEFAULT_OPTIONS.values())
    elif isinstance(options, Mapping):
        chosen = [Option(str(name), dict(over)) for name, over in options.items()]
    else:
        chosen = list(options)
    if not chosen:
        raise ConfigError("no option to compare; give at least one")
    names = [o.name for o in chosen]
    if len(set(names)) != len(names):
        raise ConfigError(f"option names must differ, got {names}")
    source = str(city.city_dir / "city.toml") if city.city_dir is not None else "city.toml"
    if grid_aware is not None:
        chosen = [dataclasses.replace(o, overrides={"grid.aware": bool(grid_aware), **o.overrides}) for o in chosen]
    configs = [option_config(city.config, o, source=source) for o in chosen]
    for o, cfg in zip(chosen, configs, strict=True):
        if "grid.reinforcement" in o.overrides and not cfg.grid.aware:
            log.warning("option %r sets grid.reinforcement, which acts only with grid-aware siting (grid.aware = "
                        "true); its plan equals the one without it", o.name)
    rows = []
    for o, cfg in zip(chosen, configs, strict=True):
        log.info("option %s: planning with %s", o.name, dict(o.overrides) or "the city's settings")
        result = plan(dataclasses.replace(city, config=cfg), progress=progress)
        rows.append(option_row(o, result))
    return pd.DataFrame(rows, columns=list(OPTION_COLUMNS)).set_index("option", drop=False)
