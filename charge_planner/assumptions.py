"""Resolve a city's configuration and its country preset into assumption tables.

Each table carries, next to every value, where it came from: the preset's source, or
"city.toml" when the user overrode it. The report prints these tables so that every
number of a plan can be traced.
"""

from __future__ import annotations

from dataclasses import fields

import pandas as pd

from charge_planner.config import CityConfig
from charge_planner.presets import CountryPreset, SegmentPreset, Sourced, get_preset


def preset_of(config: CityConfig) -> CountryPreset:
    """The country preset selected by ``city.country``."""
    return get_preset(config.city.country)


def fx_local_per_usd(config: CityConfig) -> Sourced:
    """Exchange rate used to convert preset costs to USD [local currency per USD]."""
    if config.siting.fx_local_per_usd is not None:
        return Sourced(config.siting.fx_local_per_usd, "city.toml siting.fx_local_per_usd", "user")
    return preset_of(config).fx_local_per_usd


def segment_table(config: CityConfig) -> pd.DataFrame:
    """Per-segment parameters of the plan, with their sources.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``segment``; a value column and a ``<name>_source`` column for each of
        the :class:`~charge_planner.presets.SegmentPreset` fields.
    """
    preset = preset_of(config)
    rows = []
    for seg in config.fleet.segments:
        base: SegmentPreset = preset.segments[seg]
        override = config.fleet.overrides.get(seg)
        row: dict[str, object] = {"segment": seg}
        for f in fields(SegmentPreset):
            sourced: Sourced = getattr(base, f.name)
            user = getattr(override, f.name, None) if override is not None else None
            if user is not None:
                row[f.name] = float(user)
                row[f"{f.name}_source"] = "city.toml (user override)"
                row[f"{f.name}_confidence"] = "user"
            else:
                row[f.name] = sourced.value
                row[f"{f.name}_source"] = sourced.source
                row[f"{f.name}_confidence"] = sourced.confidence
        rows.append(row)
    return pd.DataFrame(rows).set_index("segment")


def charger_table(config: CityConfig) -> pd.DataFrame:
    """Charger types of the plan (``charger_types`` data contract), with sources.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``charger_type``: ``power_kw`` [kW], ``capex_usd`` [USD], ``segments``
        (tuple), ``service_hours_day`` [h], ``grid_level`` ("lv"/"mv"), ``source``.
    """
    segs = set(config.fleet.segments)
    if config.charger_types:
        rows = [
            {
                "charger_type": c.name,
                "power_kw": c.power_kw,
                "capex_usd": c.capex_usd,
                "segments": tuple(s for s in c.segments if s in segs),
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
                "service_hours_day": c.service_hours_day.value,
                "grid_level": c.grid_level,
                "source": f"power: {c.power_kw.source}; cost: {c.capex_local.source} "
                f"({preset.currency} converted at {fx} per USD); hours: {c.service_hours_day.source}",
            }
            for name, c in preset.chargers.items()
        ]
    table = pd.DataFrame(rows).set_index("charger_type")
    return table[table["segments"].map(len) > 0]


def site_fixed_cost_usd(config: CityConfig) -> float:
    """Fixed cost of opening a new site (connection and civil works) [USD]."""
    preset = preset_of(config)
    return preset.site_fixed_cost_local.value / fx_local_per_usd(config).value


def sourced_rows(config: CityConfig) -> list[dict[str, str]]:
    """Every scalar assumption of the plan as rows (name, value, source, confidence) for the report."""
    preset = preset_of(config)
    fx = fx_local_per_usd(config)
    scalars = {
        "fx_local_per_usd": fx,
        "site_fixed_cost_local": preset.site_fixed_cost_local,
        "base_peak_kw_per_person": preset.base_peak_kw_per_person,
        "mv_kv": preset.mv_kv,
        "lv_kv": preset.lv_kv,
        "grid_co2_g_per_kwh": preset.grid_co2_g_per_kwh,
        "grid_renewable_share": preset.grid_renewable_share,
    }
    rows = [
        {"name": k, "value": f"{v.value:g}", "source": v.source, "confidence": v.confidence} for k, v in scalars.items()
    ]
    rows.append(
        {
            "name": "road_speeds_kph",
            "value": ", ".join(f"{k} {v:g}" for k, v in preset.road_speeds_kph.items()),
            "source": preset.road_speeds_source,
            "confidence": "assumption",
        }
    )
    seg = segment_table(config)
    for s in seg.index:
        for f in fields(SegmentPreset):
            rows.append(
                {
                    "name": f"{s}.{f.name}",
                    "value": f"{seg.loc[s, f.name]:g}",
                    "source": str(seg.loc[s, f"{f.name}_source"]),
                    "confidence": str(seg.loc[s, f"{f.name}_confidence"]),
                }
            )
    return rows
