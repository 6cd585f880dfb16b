"""Building blocks of the country presets: the sourced-value and preset types and shared helpers.

:class:`Sourced` (a value with its source and confidence), :class:`SegmentPreset`,
:class:`ChargerPreset` and :class:`CountryPreset`; the vehicle segments :data:`SEGMENTS` and use
cases :data:`USE_CASES`; the helpers that flag assumptions (``_a``), transfer Indian figures to
another country (``_xfer``, ``_fx_cost``), and build the grid, base-load and combustion-fuel values
shared by every preset (``_grid``, ``_base_load``, ``_hz50``, :data:`FUEL_TTW_KG_PER_UNIT`,
:data:`FUEL_WTT_KG_PER_UNIT`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEGMENTS: tuple[str, ...] = ("two_wheeler", "three_wheeler", "car", "lcv", "bus", "truck")
"""Vehicle segments: two- and three-wheelers, cars, light commercial vehicles (goods vehicles up to
3.5 t gross weight, e.g. the Tata Ace EV class), city buses, and medium and heavy trucks (goods
vehicles above 3.5 t)."""
USE_CASES: tuple[str, ...] = ("home", "depot", "public_ac", "public_dc", "swapping")
PUBLIC_USE_CASES: tuple[str, ...] = ("public_ac", "public_dc", "swapping")
CONFIDENCES: tuple[str, ...] = ("H", "M", "L", "assumption")


@dataclass(frozen=True)
class Sourced:
    """A number with the source it comes from.

    Parameters
    ----------
    value
        The number, in the unit given by the field name that holds it.
    source
        Publication, dataset or derivation the value comes from (with the facts-table row id).
    confidence
        "H", "M", "L" or "assumption" ("user" for a value from ``city.toml``).
    """

    value: float
    source: str
    confidence: str = "M"

    @property
    def is_assumption(self) -> bool:
        """True when no firm published figure backs the value."""
        return self.confidence in ("assumption", "L")


@dataclass(frozen=True)
class SegmentPreset:
    """Fleet, usage and charging defaults of one vehicle segment in one country.

    Attributes
    ----------
    vehicles_per_1000
        Vehicle stock in the base year per 1,000 residents [vehicles/1000 persons].
    sales_per_stock
        Sales in the base year divided by the base-year stock [1/year].
    sales_growth_per_year
        Growth rate of yearly sales [1/year].
    ev_sales_share_base
        EV share of sales in the base year [0-1].
    ev_sales_share_target
        EV share of sales in the target year [0-1].
    lifetime_years
        Mean service life of a vehicle [years].
    km_per_day
        Distance driven per vehicle and day [km/day].
    kwh_per_km
        Electricity use per km [kWh/km].
    share_home, share_depot, share_public_ac, share_public_dc, share_swapping
        Share of the daily charging energy by use case [0-1]; they sum to 1.
    cutoff_min
        Longest acceptable drive to a public charger [min].
    kwh_per_session
        Energy per charging session or battery swap [kWh].
    ev_stock_share_base
        Observed EV share of the base-year stock [0-1], or None; the cohorts sold before the
        base year are calibrated to it (:func:`charge_planner.demand.fleet_projection`).
    ev_stock_share_target
        Policy minimum for the EV share of the stock in the target year [0-1], or None; when
        the curve through the sales shares falls short of it, the sales share of the target
        year is solved to reach it.
    """

    vehicles_per_1000: Sourced
    sales_per_stock: Sourced
    sales_growth_per_year: Sourced
    ev_sales_share_base: Sourced
    ev_sales_share_target: Sourced
    lifetime_years: Sourced
    km_per_day: Sourced
    kwh_per_km: Sourced
    share_home: Sourced
    share_depot: Sourced
    share_public_ac: Sourced
    share_public_dc: Sourced
    share_swapping: Sourced
    cutoff_min: Sourced
    kwh_per_session: Sourced
    ev_stock_share_base: Sourced | None = None
    ev_stock_share_target: Sourced | None = None

    @property
    def public_share(self) -> float:
        """Share of the daily energy charged at public chargers and swap stations [0-1]."""
        return sum(getattr(self, f"share_{u}").value for u in PUBLIC_USE_CASES)


SHARE_FIELDS: tuple[str, ...] = tuple(f"share_{u}" for u in USE_CASES)
STOCK_SHARE_FIELDS: tuple[str, ...] = ("ev_stock_share_base", "ev_stock_share_target")
"""Optional :class:`SegmentPreset` fields (None: no figure); never transferred between countries."""


@dataclass(frozen=True)
class ChargerPreset:
    """A charger type (or battery-swap station) with its power, cost, segments and use cases.

    The siting stage sizes every type alike: one unit delivers ``power_kw x
    service_hours_day`` kWh per day.
    """

    power_kw: Sourced
    capex_local: Sourced
    segments: tuple[str, ...]
    service_hours_day: Sourced
    grid_level: str
    use_cases: tuple[str, ...] = PUBLIC_USE_CASES


@dataclass(frozen=True)
class CountryPreset:
    """All defaults of one country.

    ``site_cost_bands_local`` is the connection cost of a charging site by its installed power:
    (upper limit [kW], cost [local currency]) per band, increasing, the last band open-ended (``inf``).

    ``offpeak_hours`` is the (start, end) hour of the cheapest tariff window used by the
    ``managed_offpeak`` charging strategy (end exclusive; the window may wrap midnight).

    Grid electricity comes in two series that are never mixed in one run:
    ``grid_co2_g_per_kwh`` and ``grid_renewable_share`` are the default series
    (Electricity Maps 2024, consumption-based: imports count, lifecycle gCO2e/kWh);
    ``ember_co2_g_per_kwh`` and ``ember_renewable_share`` are Ember's generation-based
    series of the same year. ``combined_margin_g_per_kwh`` is a grid factor for avoided
    emissions where a national one is published (India's CEA combined margin).

    ``base_peak_kw_per_person`` is the diversified peak of the base load per resident in
    ``base_load_data_year`` [kW/person], derived from the national electricity demand per
    capita ``electricity_kwh_per_capita`` [kWh/person/year] and :data:`BASE_LOAD_FACTOR`;
    ``electricity_demand_growth_per_year`` [1/year] grows it to the plan year.
    ``combustion_g_co2_per_km`` is tank-to-wheel; :data:`FUEL_WTT_KG_PER_UNIT` adds the
    well-to-tank part of each segment's fuel (:data:`SEGMENT_FUEL`).
    """

    country: str
    currency: str
    fx_local_per_usd: Sourced
    base_year: int
    target_year: int
    segments: dict[str, SegmentPreset]
    chargers: dict[str, ChargerPreset]
    site_cost_bands_local: tuple[tuple[float, Sourced], ...]
    base_peak_kw_per_person: Sourced
    mv_kv: Sourced
    lv_kv: Sourced
    grid_co2_g_per_kwh: Sourced
    grid_renewable_share: Sourced
    pv_kwh_per_kwp_day: Sourced
    offpeak_hours: tuple[int, int] = (22, 6)
    offpeak_source: str = "assumption: night valley 22:00-06:00; no tariff window in the facts table"
    combustion_g_co2_per_km: dict[str, Sourced] = field(default_factory=dict)
    road_speeds_kph: dict[str, float] = field(default_factory=dict)
    road_speeds_source: str = ""
    road_speeds_confidence: str = "assumption"
    utm_hint: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    frequency_hz: Sourced | None = None
    ember_co2_g_per_kwh: Sourced | None = None
    ember_renewable_share: Sourced | None = None
    combined_margin_g_per_kwh: Sourced | None = None
    electricity_kwh_per_capita: Sourced | None = None
    electricity_demand_growth_per_year: Sourced | None = None
    base_load_data_year: int = 2024

    def grid_series_values(self, series: str) -> tuple[Sourced | None, Sourced | None]:
        """(intensity [gCO2e/kWh], renewable share [-]) of one grid series: ``"electricity_maps"`` or ``"ember"``."""
        if series == "ember":
            return self.ember_co2_g_per_kwh, self.ember_renewable_share
        if series == "electricity_maps":
            return self.grid_co2_g_per_kwh, self.grid_renewable_share
        raise KeyError(f"unknown grid series {series!r}; use 'electricity_maps' or 'ember'")


_FACTS = "sourced-facts table"
_PST = "project sources table"  # docs/sources.md
_REGIONAL_TARGET = "assumption: the region's commitment of 30% EV sales by 2030"


def _a(value: float, reason: str) -> Sourced:
    """An assumption: a value without a published figure, with the reason."""
    return Sourced(value, f"assumption: {reason}", "assumption")


def _xfer(s: Sourced, country: str) -> Sourced:
    """Transfer an Indian figure to another country, flagged as an assumption."""
    return Sourced(s.value, f"assumption: Indian value, no {country} figure in the {_FACTS} ({s.source})", "assumption")


def _fx_cost(s: Sourced, fx_local: float, currency: str, country: str) -> Sourced:
    """An Indian cost converted to another currency at the presets' USD rates (an assumption)."""
    value = float(round(s.value / INR_PER_USD * fx_local, -1 if fx_local < 1000 else 2))
    return Sourced(
        value,
        f"assumption: Indian cost converted to {currency} at {fx_local:g} {currency} and {INR_PER_USD:g} INR per USD; "
        f"no {country} benchmark in the {_FACTS} ({s.source})",
        "assumption",
    )


def _per_1000(count_m: float, pop_m: float) -> float:
    return round(count_m / pop_m * 1000.0, 1)


# Exchange rate of the Indian figures that other presets convert (India's fx_local_per_usd) ---
INR_PER_USD = 83.7

# Base load ------------------------------------------------------------------------------------
_SOURCES = "project sources table"
BASE_LOAD_FACTOR = _a(
    0.6, "annual load factor (mean / peak) of the base load a city distribution network carries; a national "
    "system's is higher (many customers' peaks do not coincide), a single feeder's lower; not in the facts table"
)
"""Load factor that turns electricity demand per person into a peak per person [-] (an assumption)."""


def _base_load(kwh_pc: float, growth: float, row: str, label: str) -> dict[str, Sourced]:
    """Per-capita demand, its growth and the base peak per person derived from them."""
    lf = BASE_LOAD_FACTOR.value
    src = (f"Ember yearly electricity data via Our World in Data energy dataset ({_SOURCES} {row})")
    return {
        "electricity_kwh_per_capita": Sourced(kwh_pc, f"{label} electricity demand per capita 2024, {src}", "H"),
        "electricity_demand_growth_per_year": Sourced(
            growth, f"{label} electricity demand growth, 2014-2024 compound average, {src}", "M"),
        "base_peak_kw_per_person": Sourced(
            round(kwh_pc / (8760.0 * lf), 4),
            f"{kwh_pc:g} kWh per person and year ({_SOURCES} {row}) / 8,760 h / load factor {lf:g} (assumption: "
            "BASE_LOAD_FACTOR); the national mean of all sectors, city load not found (G4.11)", "L"),
    }


def _grid(
    em_co2: float, em_re: float, ember_co2: float, ember_year: int, ember_re: float, re_row: str, pv: float, row: str,
    label: str, hz: Sourced,
) -> dict[str, Sourced]:
    """Both grid series of a country (never mixed), PV yield and grid frequency."""
    return {
        "grid_co2_g_per_kwh": Sourced(
            em_co2, f"Electricity Maps 2024, {label}, consumption-based lifecycle gCO2e/kWh ({_FACTS} {row})", "H"),
        "grid_renewable_share": Sourced(
            em_re, f"Electricity Maps 2024, {label} renewable share of consumption ({_FACTS} {row})", "H"),
        "ember_co2_g_per_kwh": Sourced(
            ember_co2, f"Ember {ember_year}, {label}, generation-based lifecycle gCO2e/kWh ({_FACTS} {row})", "H"),
        "ember_renewable_share": Sourced(
            ember_re, f"Ember {ember_year}, {label} renewable share of generation ({_SOURCES} {re_row})", "H"),
        "pv_kwh_per_kwp_day": Sourced(pv, f"ESMAP/Solargis country average PVOUT ({_FACTS} E5.12)", "M"),
        "frequency_hz": hz,
    }


def _hz50(label: str) -> Sourced:
    return _a(50.0, f"50 Hz, the frequency of the region's grids except the Philippines' (G4.06: 60 Hz; G4.07: "
                    f"Indonesia 50 Hz); {label}'s is not in the {_FACTS}")


# Combustion baseline, well to wheel --------------------------------------------------------
SEGMENT_FUEL: dict[str, str] = {
    "two_wheeler": "petrol", "three_wheeler": "cng", "car": "petrol", "bus": "diesel", "truck": "diesel",
    "lcv": "diesel",
}
"""Fuel of the combustion vehicle each segment's EV replaces."""

FUEL_TTW_KG_PER_UNIT: dict[str, Sourced] = {
    "petrol": Sourced(2.31, f"petrol 2.31 kgCO2/L, tank-to-wheel ({_FACTS} B6.01)", "M"),
    "diesel": Sourced(2.68, f"diesel 2.68 kgCO2/L, tank-to-wheel ({_FACTS} B6.01)", "M"),
    "cng": Sourced(2.74, f"CNG 2.74 kgCO2e/kg, tank-to-wheel ({_FACTS} B6.02)", "M"),
}
"""Combustion CO2 of one unit of fuel (litre of petrol or diesel, kg of CNG) [kgCO2e/unit]."""

FUEL_WTT_KG_PER_UNIT: dict[str, Sourced] = {
    "petrol": Sourced(0.60664, "UK Government GHG conversion factors 2025 (DESNZ), WTT- fuels, petrol (100% mineral), "
                      f"0.60664 kgCO2e/L ({_SOURCES} P6.01)", "M"),
    "diesel": Sourced(0.62409, "UK Government GHG conversion factors 2025 (DESNZ), WTT- fuels, diesel (100% mineral), "
                      f"0.62409 kgCO2e/L ({_SOURCES} P6.02)", "M"),
    "cng": Sourced(0.53078, "UK Government GHG conversion factors 2025 (DESNZ), WTT- fuels, CNG, 530.78 kgCO2e/t "
                   f"({_SOURCES} P6.03)", "M"),
}
"""Well-to-tank emissions (extraction, refining, transport) of one unit of fuel [kgCO2e/unit]; UK
supply chains, used for the region (no regional well-to-tank factors were found)."""
