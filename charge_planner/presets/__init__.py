"""Country presets: default assumptions, each number with its source.

Every default the planner uses comes from a :class:`Sourced` value here. The ``source``
names the publication and the row of the project's sourced-facts table where it was found
(row ids such as ``F1.05``); ``confidence`` is "H" (official or well-known dataset), "M"
(reputable secondary quoting a primary), "L" (rough) or "assumption" (no published figure
was found, or a figure of another country was transferred; the report flags these so the
user can override them in ``city.toml``).

Presets exist for India, Nepal, Bangladesh, Sri Lanka, the Philippines, Vietnam, Indonesia
and Thailand (:data:`PRESETS`; names and ISO 3166 alpha-2/alpha-3 codes in
:data:`COUNTRY_ALIASES`). Monetary values are kept in the local currency and converted with
the preset's ``fx_local_per_usd``, which ``siting.fx_local_per_usd`` overrides.

Vehicle segments are :data:`SEGMENTS`; the daily charging energy of a segment is split over
the use cases :data:`USE_CASES` by the ``share_<use case>`` fields of :class:`SegmentPreset`
(they sum to 1). :data:`PUBLIC_USE_CASES` are served by public chargers and reach the siting
model; home/private and depot charging do not.

Plausibility data: :data:`COUNTRY_BOUNDS_LONLAT` (each preset country's bounding box, from
Natural Earth) and :data:`MAX_DENSITY_PERSONS_KM2` (the densest neighbourhoods on record) let
the city loader refuse data that cannot belong to the plan.
"""

from __future__ import annotations

from charge_planner.presets.base import (
    BASE_LOAD_FACTOR,
    CONFIDENCES,
    FUEL_TTW_KG_PER_UNIT,
    FUEL_WTT_KG_PER_UNIT,
    INR_PER_USD,
    PUBLIC_USE_CASES,
    SEGMENT_FUEL,
    SEGMENTS,
    SHARE_FIELDS,
    STOCK_SHARE_FIELDS,
    USE_CASES,
    ChargerPreset,
    CountryPreset,
    SegmentPreset,
    Sourced,
)
from charge_planner.presets.countries import (
    BANGLADESH,
    INDONESIA,
    NEPAL,
    PHILIPPINES,
    SRI_LANKA,
    THAILAND,
    VIETNAM,
)
from charge_planner.presets.grid_costs import (
    DT_COST_INR,
    DT_UPGRADE_COST_INR,
    LINE_COST_INR_PER_KM,
    SUBSTATION_UNIT_COST_INR,
    grid_reinforcement_costs,
    grid_reinforcement_costs_usd,
)
from charge_planner.presets.india import INDIA, ROAD_SPEEDS_CHECK_KPH
from charge_planner.presets.plausibility import (
    COUNTRY_BOUNDS_LONLAT,
    COUNTRY_BOUNDS_MARGIN_DEG,
    COUNTRY_BOUNDS_SOURCE,
    MAX_DENSITY_PERSONS_KM2,
    MIN_DENSITY_PERSONS_KM2,
)

__all__ = [
    "BANGLADESH",
    "BASE_LOAD_FACTOR",
    "CONFIDENCES",
    "COUNTRY_ALIASES",
    "COUNTRY_BOUNDS_LONLAT",
    "COUNTRY_BOUNDS_MARGIN_DEG",
    "COUNTRY_BOUNDS_SOURCE",
    "DT_COST_INR",
    "DT_UPGRADE_COST_INR",
    "SUBSTATION_UNIT_COST_INR",
    "ChargerPreset",
    "CountryPreset",
    "FUEL_TTW_KG_PER_UNIT",
    "FUEL_WTT_KG_PER_UNIT",
    "INDIA",
    "INDONESIA",
    "INR_PER_USD",
    "LINE_COST_INR_PER_KM",
    "MAX_DENSITY_PERSONS_KM2",
    "MIN_DENSITY_PERSONS_KM2",
    "NEPAL",
    "PHILIPPINES",
    "PRESETS",
    "PUBLIC_USE_CASES",
    "ROAD_SPEEDS_CHECK_KPH",
    "SEGMENTS",
    "SEGMENT_FUEL",
    "SHARE_FIELDS",
    "SRI_LANKA",
    "STOCK_SHARE_FIELDS",
    "SegmentPreset",
    "Sourced",
    "THAILAND",
    "USE_CASES",
    "VIETNAM",
    "country_bounds",
    "get_preset",
    "grid_reinforcement_costs",
    "grid_reinforcement_costs_usd",
]

PRESETS: dict[str, CountryPreset] = {
    p.country: p for p in (INDIA, NEPAL, BANGLADESH, SRI_LANKA, PHILIPPINES, VIETNAM, INDONESIA, THAILAND)
}

COUNTRY_ALIASES: dict[str, str] = {
    **{k: "india" for k in ("india", "in", "ind")},
    **{k: "nepal" for k in ("nepal", "np", "npl")},
    **{k: "bangladesh" for k in ("bangladesh", "bd", "bgd")},
    **{k: "sri_lanka" for k in ("sri_lanka", "sri lanka", "sri-lanka", "srilanka", "lk", "lka")},
    **{k: "philippines" for k in ("philippines", "the philippines", "ph", "phl")},
    **{k: "vietnam" for k in ("vietnam", "viet nam", "viet_nam", "vn", "vnm")},
    **{k: "indonesia" for k in ("indonesia", "id", "idn")},
    **{k: "thailand" for k in ("thailand", "th", "tha")},
}



def country_bounds(country: str) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a preset's country, with :data:`COUNTRY_BOUNDS_MARGIN_DEG` added [degrees]."""
    w, s, e, n = COUNTRY_BOUNDS_LONLAT[get_preset(country).country]
    m = COUNTRY_BOUNDS_MARGIN_DEG
    return (w - m, s - m, e + m, n + m)


def get_preset(country: str) -> CountryPreset:
    """Return the preset of a country by name or ISO 3166 code.

    Parameters
    ----------
    country
        Country name (``"sri_lanka"`` or ``"Sri Lanka"``) or ISO 3166 alpha-2/alpha-3 code,
        case-insensitive.

    Raises
    ------
    KeyError
        When no preset exists; the message lists the available presets.
    """
    key = COUNTRY_ALIASES.get(country.strip().lower())
    if key is None or key not in PRESETS:
        raise KeyError(f"no preset for country {country!r}; available: {', '.join(sorted(PRESETS))} "
                       "(or their ISO codes)")
    return PRESETS[key]
