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

from dataclasses import dataclass, field, fields, replace

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


# ---------------------------------------------------------------------------------------------
# India
# ---------------------------------------------------------------------------------------------
INR_PER_USD = 83.7
_IN_POP = 1396.0  # million persons, 2020
_IN_POP_SRC = "India population 1,396 M in 2020 (UN World Population Prospects 2022; not in the facts table)"
_IN_REG = 326.3  # million registered vehicles, March 2020 (F1.01)
_IN_SALES_GROWTH = _a(0.04, "yearly sales growth; no sales time series in the facts table")
_IN_LCV = 0.48  # LCV share of India's goods-vehicle fleet, 2024 (P1.01)
_IN_LCV_SALES = 0.64  # LCV share of India's commercial-vehicle sales, FY22 (P1.02)
_IN_MHCV = 5.4  # million medium and heavy commercial vehicles in service, 2025 (P1.11)
_IN_LCV_FLEET = _IN_MHCV * _IN_LCV / (1.0 - _IN_LCV)  # million LCVs in service: the 48:52 split of P1.01


def _in_share(share: float) -> float:
    return _per_1000(_IN_REG * share, _IN_POP)


_IN_SEGMENTS: dict[str, SegmentPreset] = {
    "two_wheeler": SegmentPreset(
        vehicles_per_1000=Sourced(
            _in_share(0.72),
            f"326.3 M registered vehicles (MoRTH RTYB 2019-20, {_FACTS} F1.01) x 72% two-wheelers "
            f"(MoRTH RTYB 2007-09, F1.02) / {_IN_POP_SRC}; registered exceeds in-use",
            "M",
        ),
        sales_per_stock=Sourced(
            round(19.54 / (_IN_REG * 0.72), 4),
            f"19.54 M 2W sold in 2024 (SIAM, {_FACTS} F1.04) / 234.9 M registered 2W (F1.01 x F1.02)",
            "L",
        ),
        sales_growth_per_year=_IN_SALES_GROWTH,
        ev_sales_share_base=Sourced(0.06, f"IEA Global EV Outlook 2025: 6% of 2W sales in 2024 ({_FACTS} F1.05)", "M"),
        ev_sales_share_target=Sourced(0.80, "Government's 2030 EV sales ambition by segment: 80% of two- and "
                                      f"three-wheelers (MoRTH, 2021; {_PST} P1.04; overall 30%, {_FACTS} F1.11)", "M"),
        lifetime_years=_a(15.0, "15-year service life of a two-wheeler"),
        km_per_day=Sourced(16.0, f"CEEW pan-India survey 2021: average commute 16 km/day ({_FACTS} U2.01)", "M"),
        kwh_per_km=Sourced(0.0325, f"25-40 Wh/km, midpoint ({_FACTS} U2.02)", "L"),
        share_home=_a(0.80, "most e-2W charge at home from 15 A sockets (qualitative, U2.13, C3.04); no quantified split"),
        share_depot=_a(0.0, "private two-wheelers have no depot"),
        share_public_ac=_a(0.05, "public AC sockets at destinations; no quantified split (U2.13)"),
        share_public_dc=_a(0.05, "LEV DC fast charging; no quantified split (U2.13)"),
        share_swapping=_a(0.10, "swap networks exist (>1,000 Battery Smart stations, U2.14); share not found"),
        cutoff_min=_a(10.0, "10-minute drive to a public charger"),
        kwh_per_session=Sourced(1.5, f"entry e-2W battery about 1.5 kWh, one full charge per session ({_FACTS} U2.03)", "L"),
    ),
    "three_wheeler": SegmentPreset(
        vehicles_per_1000=Sourced(
            _per_1000(0.73 * 10.0, _IN_POP),
            f"0.73 M 3W sold in 2024 (SIAM, {_FACTS} F1.04) x 10-year life (assumption) / {_IN_POP_SRC}",
            "L",
        ),
        sales_per_stock=Sourced(0.1, "1 / 10-year life: the stock above is derived as 10 years of 2024 sales (F1.04)", "L"),
        sales_growth_per_year=_IN_SALES_GROWTH,
        ev_sales_share_base=Sourced(0.54, f"Vahan: about 54% of 3W sold are electric, FY24 ({_FACTS} F1.06)", "M"),
        ev_sales_share_target=Sourced(0.80, "Government's 2030 EV sales ambition by segment: 80% of two- and "
                                      f"three-wheelers (MoRTH, 2021; {_PST} P1.04)", "M"),
        lifetime_years=_a(10.0, "10-year service life of a three-wheeler"),
        km_per_day=Sourced(80.0, f"e-auto about 80 km per charge, used daily ({_FACTS} U2.06)", "L"),
        kwh_per_km=Sourced(0.025, f"about 3 kWh per 120 km for e-rickshaws ({_FACTS} U2.05)", "L"),
        share_home=_a(0.60, "most e-autos charge at home or at businesses (qualitative, U2.13)"),
        share_depot=_a(0.0, "three-wheelers are owner-driven; fleet depots not modelled"),
        share_public_ac=_a(0.10, "public AC sockets; no quantified split (U2.13)"),
        share_public_dc=_a(0.10, "LEV DC fast charging; no quantified split (U2.13)"),
        share_swapping=_a(0.20, "e-rickshaw swap networks (U2.14); share not found"),
        cutoff_min=_a(10.0, "10-minute drive to a public charger"),
        kwh_per_session=Sourced(3.0, f"about 3 kWh per full e-rickshaw charge ({_FACTS} U2.05)", "L"),
    ),
    "car": SegmentPreset(
        vehicles_per_1000=Sourced(25.2, f"IRF World Road Statistics 2020 via MoRTH ({_FACTS} F1.03)", "M"),
        sales_per_stock=Sourced(
            round(4.3 / (25.2 * _IN_POP / 1000.0), 4),
            f"about 4.3 M passenger vehicles sold in 2024 (SIAM, {_FACTS} F1.04) / 35.2 M cars (F1.03 x population)",
            "L",
        ),
        sales_growth_per_year=_IN_SALES_GROWTH,
        ev_sales_share_base=Sourced(0.024, f"about 2.4% of car sales in 2024 ({_FACTS} F1.10)", "L"),
        ev_sales_share_target=Sourced(0.30, "Government's 2030 EV sales ambition by segment: 30% of private cars "
                                      f"(MoRTH, 2021; {_PST} P1.04; {_FACTS} F1.11)", "M"),
        lifetime_years=_a(15.0, "15-year registration life of private cars"),
        km_per_day=_a(30.0, "no published Indian urban car daily distance found"),
        kwh_per_km=Sourced(0.16, f"Tata Nexon EV city use 0.15-0.17 kWh/km ({_FACTS} U2.07)", "M"),
        share_home=_a(0.70, "no quantified home/public split found (U2.13)"),
        share_depot=_a(0.0, "private cars; taxi depots not modelled"),
        share_public_ac=_a(0.10, "destination AC charging; no quantified split (U2.13)"),
        share_public_dc=_a(0.20, "public DC fast charging; no quantified split (U2.13)"),
        share_swapping=_a(0.0, "no car battery swapping"),
        cutoff_min=_a(10.0, "10-minute drive to a public fast charger"),
        kwh_per_session=_a(15.0, "half of a 30.2 kWh battery (Tata Nexon EV, U2.07) per public session"),
    ),
    "bus": SegmentPreset(
        vehicles_per_1000=Sourced(
            0.5, "city buses in service: BMTC's fleet, 0.5 per 1,000 residents of Bengaluru in 2018-19 (6,529 buses "
            f"in 2019, 6,340 in 2024; {_PST} P1.05), below the MoHUA benchmark of 0.6 ({_PST} P1.06); private, "
            f"school and intercity buses (1.3% of registered vehicles, {_FACTS} F1.02) are left out", "M",
        ),
        sales_per_stock=_a(round(1 / 12.0, 4), "steady-state turnover 1 / 12-year life; bus sales not split out of F1.04"),
        sales_growth_per_year=_IN_SALES_GROWTH,
        ev_sales_share_base=_a(0.05, "e-bus share of bus sales not found (stock about 11,500, F1.09)"),
        ev_sales_share_target=Sourced(0.40, "Government's 2030 EV sales ambition by segment: 40% of buses "
                                      f"(MoRTH, 2021; {_PST} P1.04)", "M"),
        lifetime_years=_a(12.0, "12-year bus life"),
        km_per_day=Sourced(200.0, f"city buses 150-250 km/day ({_FACTS} U2.11)", "M"),
        kwh_per_km=Sourced(1.62, f"Delhi e-bus trial, grid-side ({_FACTS} U2.09)", "M"),
        share_home=_a(0.0, "buses do not charge at homes"),
        share_depot=_a(0.90, "e-buses charge mostly at depots (depot equipment of at least 240 kW, C3.06)"),
        share_public_ac=_a(0.0, "no AC charging of buses"),
        share_public_dc=_a(0.10, "opportunity charging at terminals and bus stations"),
        share_swapping=_a(0.0, "no bus battery swapping"),
        cutoff_min=_a(20.0, "deadhead of up to 20 min to a charger"),
        kwh_per_session=_a(150.0, "about half a 300 kWh e-bus battery per session"),
    ),
    "lcv": SegmentPreset(
        vehicles_per_1000=Sourced(
            _per_1000(_IN_LCV_FLEET, _IN_POP),
            f"about 5.0 M LCVs in service: 5.4 M medium and heavy commercial vehicles ({_PST} P1.11) x 48 / 52, the "
            f"LCV to M&HCV split of goods vehicles ({_PST} P1.01); / {_IN_POP_SRC}. Registered goods vehicles "
            f"(5.5% of 326.3 M, {_FACTS} F1.01, F1.02) are 17.9 M; registered exceeds in use",
            "L",
        ),
        sales_per_stock=Sourced(
            round(0.95 * _IN_LCV_SALES / _IN_LCV_FLEET, 4),
            f"0.95 M commercial vehicles sold in 2024 (SIAM, {_FACTS} F1.04) x 64% LCVs ({_PST} P1.02) / 5.0 M LCVs "
            "in service (P1.11, P1.01)",
            "L",
        ),
        sales_growth_per_year=_IN_SALES_GROWTH,
        ev_sales_share_base=Sourced(
            0.011, f"6,220 e-trucks sold in 2024, 95% under 3.5 t ({_FACTS} F1.08), / (834,578 trucks x 64% LCVs, "
            f"{_PST} P1.02); derived in {_PST} P1.03", "L"
        ),
        ev_sales_share_target=Sourced(0.30, f"30% EV share of sales by 2030 ({_FACTS} F1.11); the 70% ambition for "
                                      f"commercial vehicles ({_PST} P1.04) is read as commercial passenger cars", "M"),
        lifetime_years=_a(15.0, "15-year life of a light commercial vehicle"),
        km_per_day=Sourced(100.0, f"e-LCV fleet lease of 3,000 km a month per vehicle in one shift ({_PST} P2.02)", "L"),
        kwh_per_km=Sourced(round(21.3 / 154.0, 3), f"Tata Ace EV: 21.3 kWh battery, certified range 154 km "
                           f"({_PST} P2.01)", "M"),
        share_home=_a(0.30, "owner-drivers charge overnight at home; no quantified split (U2.13)"),
        share_depot=_a(0.40, "fleet operators charge at their base or parking yard; no quantified split (U2.13)"),
        share_public_ac=_a(0.0, "LCV top-ups are fast charges"),
        share_public_dc=_a(0.30, "midday DC top-ups on delivery rounds; no quantified split (U2.13)"),
        share_swapping=_a(0.0, "no LCV battery swapping modelled"),
        cutoff_min=_a(10.0, "10-minute drive to a public fast charger, as for cars"),
        kwh_per_session=_a(15.0, f"about 70% of the 21.3 kWh Tata Ace EV battery per DC session ({_PST} P2.01)"),
    ),
    "truck": SegmentPreset(
        vehicles_per_1000=Sourced(
            _per_1000(_IN_MHCV, _IN_POP),
            f"about 5.4 M medium and heavy commercial vehicles in service in 2025 ({_PST} P1.11) / {_IN_POP_SRC}; "
            f"ICCT: medium and heavy trucks are 3% of the on-road fleet ({_PST} P1.11)",
            "L",
        ),
        sales_per_stock=Sourced(
            round(0.95 * (1.0 - _IN_LCV_SALES) / _IN_MHCV, 4),
            f"0.95 M commercial vehicles sold in 2024 (SIAM, {_FACTS} F1.04; includes buses) x 36% M&HCVs "
            f"({_PST} P1.02) / 5.4 M in service ({_PST} P1.11)",
            "L",
        ),
        sales_growth_per_year=_IN_SALES_GROWTH,
        ev_sales_share_base=Sourced(
            0.001, f"5% of 6,220 e-trucks over 3.5 t ({_FACTS} F1.08) / (834,578 trucks x 36% M&HCVs, {_PST} P1.02) = "
            f"0.10%; NITI Aayog gives 0.07% for e-trucks in 2024 ({_PST} P1.03)", "L"
        ),
        ev_sales_share_target=Sourced(0.30, f"30% EV share of sales by 2030 ({_FACTS} F1.11)", "M"),
        lifetime_years=_a(15.0, "15-year truck life"),
        km_per_day=_a(150.0, f"about one range a day, between the 7-8 t e-truck's 100 km ({_PST} P2.06) and the "
                             f"60 t e-tractor's 200 km laden ({_PST} P2.04); e-truck daily distance not found (U2.12)"),
        kwh_per_km=Sourced(round((62.5 / 100.0 + 265.0 / 200.0) / 2, 2),
                           f"mean of a 7-8 t e-truck, 62.5 kWh for about 100 km ({_PST} P2.06), and a 60 t "
                           f"e-tractor-trailer, 265 kWh for 200 km laden ({_PST} P2.04); the fleet mix is not known",
                           "L"),
        share_home=_a(0.0, "goods vehicles charge at depots or hubs"),
        share_depot=_a(0.80, f"early e-trucks run closed-loop routes from their own base ({_PST} P2.05); share not "
                             "found"),
        share_public_ac=_a(0.0, "no AC charging of trucks"),
        share_public_dc=_a(0.20, f"public truck hubs on corridors ({_PST} P2.05); share not found"),
        share_swapping=_a(0.0, "no truck battery swapping modelled"),
        cutoff_min=_a(15.0, "15-minute drive to a hub"),
        kwh_per_session=_a(90.0, f"between 80% of the 62.5 kWh battery of a 7-8 t e-truck ({_PST} P2.06) and half of "
                                 f"the 265 kWh battery of a 60 t e-tractor-trailer ({_PST} P2.04)"),
    ),
}

_IN_CHARGERS: dict[str, ChargerPreset] = {
    "ac_3kw": ChargerPreset(
        power_kw=Sourced(3.3, f"Bharat AC-001: 230 V, 15 A, 3.3 kW per outlet ({_FACTS} C3.01)", "M"),
        capex_local=_a(50_000.0, "price of one AC-001 outlet with installation not in the facts table"),
        segments=("two_wheeler", "three_wheeler", "car"),
        service_hours_day=_a(10.0, "10 busy hours a day at destinations (utilisation not found, C3.14)"),
        grid_level="lv",
        use_cases=("public_ac",),
    ),
    "lev_dc_12kw": ChargerPreset(
        power_kw=Sourced(12.0, f"PM E-DRIVE draft benchmark: 2W/3W chargers of at least 12 kW ({_FACTS} C3.09)", "M"),
        capex_local=Sourced(150_000.0, f"PM E-DRIVE draft: Rs 1.5 lakh per 2W/3W charger ({_FACTS} C3.09)", "M"),
        segments=("two_wheeler", "three_wheeler"),
        service_hours_day=_a(12.0, "12 busy hours a day (utilisation not found, C3.14)"),
        grid_level="lv",
        use_cases=("public_dc",),
    ),
    "swap_station": ChargerPreset(
        power_kw=_a(15.0, "swap cabinet charging about 15 batteries at 1 kW each; station power not in the facts table (U2.14)"),
        capex_local=_a(600_000.0, "cabinet with spare batteries; no swap-station cost in the facts table (U2.14)"),
        segments=("two_wheeler", "three_wheeler"),
        service_hours_day=_a(20.0, "batteries recharge around the clock, 20 h/day"),
        grid_level="lv",
        use_cases=("swapping",),
    ),
    "dc_60kw": ChargerPreset(
        power_kw=Sourced(60.0, f"PM E-DRIVE draft benchmark: 4W 60 kW ({_FACTS} C3.09)", "M"),
        capex_local=Sourced(600_000.0, f"PM E-DRIVE draft: Rs 6 lakh per 60 kW charger ({_FACTS} C3.09)", "M"),
        segments=("car", "lcv"),
        service_hours_day=_a(8.0, "8 busy hours a day (utilisation not found, C3.14)"),
        grid_level="lv",
        use_cases=("public_dc",),
    ),
    "dc_240kw_bus": ChargerPreset(
        power_kw=Sourced(240.0, f"MoP EVCI Guidelines 2024: e-bus depot equipment of at least 240 kW ({_FACTS} C3.06)", "M"),
        capex_local=Sourced(2_400_000.0, f"PM E-DRIVE draft: Rs 24 lakh per 240 kW bus charger ({_FACTS} C3.09)", "M"),
        segments=("bus", "truck"),
        service_hours_day=_a(10.0, "overnight and midday depot charging, 10 h/day"),
        grid_level="mv",
        use_cases=("public_dc", "depot"),
    ),
}

#: Connection (upstream infrastructure: transformer, cables, protection, civil works) of a site by its
#: installed power [kW], the upper limit of each band (the last one open-ended), and its cost [INR].
_IN_SITE_COST_BANDS: tuple[tuple[float, Sourced], ...] = (
    (50.0, Sourced(604_000.0, "PM E-DRIVE operational guidelines (BEE benchmark): upstream infrastructure "
                   f"Rs 6.04 lakh up to 50 kW ({_FACTS} C3.10)", "M")),
    (150.0, _a(1_502_000.0, "upstream infrastructure of 50-150 kW: midpoint of the published Rs 6.04 lakh "
               "(<=50 kW) and Rs 24 lakh (>150 kW) of C3.10; the middle benchmark was not found (docs/sources.md P3.01)")),
    (float("inf"), Sourced(2_400_000.0, "PM E-DRIVE operational guidelines (BEE benchmark): upstream infrastructure "
                           f"Rs 24 lakh above 150 kW ({_FACTS} C3.10)", "M")),
)
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

_IN_COMBUSTION_ALL: dict[str, Sourced] = {
    "two_wheeler": Sourced(38.2, f"ICCT: Indian petrol 2W fleet average 38.2 gCO2/km, FY2020-21 ({_FACTS} B6.03)", "H"),
    "three_wheeler": Sourced(61.0, f"CNG auto about 45 km/kg x 2.74 kgCO2e/kg ({_FACTS} B6.05, B6.02)", "L"),
    "car": Sourced(122.4, f"Indian car fleet average 122.4 gCO2/km, FY2019-20 ({_FACTS} B6.04)", "H"),
    "bus": Sourced(1144.0, "air-conditioned diesel city bus, PEMS: 42.7 L/100 km AC on x 2.68 kgCO2/L "
                   f"({_FACTS} B6.07, B6.01); the e-bus it is compared with (1.62 kWh/km, U2.09) was air-conditioned "
                   f"({_SOURCES} P6.04)", "M"),
    "truck": _a(670.0, "diesel truck close to a pre-BS-IV city bus, 4.01 km/L x 2.68 kg/L (B6.06); truck figure not found"),
    "lcv": Sourced(147.5, f"Indian light commercial vehicle fleet average 147.5 gCO2/km tailpipe, 2024 ({_SOURCES} "
                   "P2.03); counted as diesel for the well-to-tank part", "L"),
}
_IN_COMBUSTION: dict[str, Sourced] = {s: v for s, v in _IN_COMBUSTION_ALL.items() if s in SEGMENTS}
"""Tank-to-wheel CO2 of the combustion vehicle each segment's EV replaces, India [gCO2/km]."""
_ROAD_SPEEDS = {
    "motorway": 40.0, "trunk": 30.0, "primary": 25.0, "secondary": 22.0, "tertiary": 20.0,
    "unclassified": 18.0, "residential": 15.0, "living_street": 10.0, "service": 10.0,
}
_ROAD_SPEEDS_SRC = (
    "assumption per road class (congested urban speeds; OSM maxspeed caps them where tagged), checked against "
    "a sourced city average: with them the fastest routes longer than 1 km on central Bengaluru's drive graph "
    "average 21.5 km/h, against 21.2 km/h for Bengaluru in 2019 (Ola HyperDrive 2019, reported by Business "
    "Today, 2019-12-27; seven Indian metros 19.4-24.8 km/h); not in the facts table"
)
ROAD_SPEEDS_CHECK_KPH = (21.2, 19.4, 24.8)
"""Bengaluru's 2019 average ride speed and the range over seven Indian metros [km/h] (Ola
HyperDrive 2019, Business Today 2019-12-27): the check of the India road-class speeds."""

INDIA = CountryPreset(
    country="india",
    currency="INR",
    fx_local_per_usd=Sourced(
        INR_PER_USD, "RBI reference rate, calendar-2024 average (about 83.7 INR per USD; not in the facts table); "
        "set siting.fx_local_per_usd", "M"
    ),
    base_year=2024,
    target_year=2030,
    segments=_IN_SEGMENTS,
    chargers=_IN_CHARGERS,
    site_cost_bands_local=_IN_SITE_COST_BANDS,
    mv_kv=Sourced(11.0, f"India distribution at 11 kV and 33 kV ({_FACTS} G4.01)", "M"),
    lv_kv=Sourced(0.4, f"India LV 400 V three-phase ({_FACTS} G4.01)", "M"),
    **_grid(614.0, 0.22, 709.0, 2024, 0.198, "P5.01", 4.32, "E5.01", "India", _hz50("India")),
    **_base_load(1402.0, 0.0491, "P4.01", "India"),
    combined_margin_g_per_kwh=Sourced(
        738.3, "CEA CO2 Baseline Database v21.0: combined margin 0.7383 tCO2/MWh, FY2024-25, the factor for avoided "
        f"emissions of projects ({_FACTS} E5.11); direct combustion CO2, not lifecycle", "M"),
    offpeak_hours=(9, 16),
    offpeak_source=f"MoP EVCI Guidelines 2024: EV tariff at 0.7 x ACoS in solar hours 09:00-16:00 ({_FACTS} C3.15)",
    combustion_g_co2_per_km=_IN_COMBUSTION,
    road_speeds_kph=_ROAD_SPEEDS,
    road_speeds_source=_ROAD_SPEEDS_SRC,
    road_speeds_confidence="L",
    utm_hint="UTM zone 43N (EPSG:32643) for Bengaluru",
)


# ---------------------------------------------------------------------------------------------
# Other countries: their own figures where the facts table has them, Indian values otherwise
# (each transferred value is flagged as an assumption and names the Indian source).
# ---------------------------------------------------------------------------------------------
def _country_segments(country: str, own: dict[str, dict[str, Sourced]]) -> dict[str, SegmentPreset]:
    out: dict[str, SegmentPreset] = {}
    for seg, base in _IN_SEGMENTS.items():
        kw = {f.name: _xfer(getattr(base, f.name), country) for f in fields(SegmentPreset)
              if f.name not in STOCK_SHARE_FIELDS}
        life = base.lifetime_years.value
        kw["sales_per_stock"] = _a(
            round(1.0 / life, 4), f"steady-state turnover 1 / {life:g}-year life; no {country} sales in the {_FACTS}"
        )
        kw["sales_growth_per_year"] = _a(0.04, f"yearly sales growth; no {country} sales time series in the {_FACTS}")
        kw.update(own.get(seg, {}))
        out[seg] = SegmentPreset(**kw)
    return out


def _country_chargers(country: str, fx_local: float, currency: str) -> dict[str, ChargerPreset]:
    return {
        name: replace(
            c,
            power_kw=_xfer(c.power_kw, country),
            capex_local=_fx_cost(c.capex_local, fx_local, currency, country),
            service_hours_day=_xfer(c.service_hours_day, country),
        )
        for name, c in _IN_CHARGERS.items()
    }


def _country(
    country: str,
    label: str,
    currency: str,
    fx: Sourced,
    base_year: int,
    segments: dict[str, dict[str, Sourced]],
    **kw: object,
) -> CountryPreset:
    return CountryPreset(
        country=country,
        currency=currency,
        fx_local_per_usd=fx,
        base_year=base_year,
        target_year=2030,
        segments=_country_segments(label, segments),
        chargers=_country_chargers(label, fx.value, currency),
        site_cost_bands_local=tuple((kw, _fx_cost(c, fx.value, currency, label)) for kw, c in _IN_SITE_COST_BANDS),
        combustion_g_co2_per_km={s: _xfer(v, label) for s, v in _IN_COMBUSTION.items()},
        road_speeds_kph=_ROAD_SPEEDS,
        road_speeds_source=f"India's speeds per road class, transferred (no sourced city average for {label} found); "
        "India: " + _ROAD_SPEEDS_SRC,
        **kw,  # type: ignore[arg-type]
    )


def _fx_assumed(value: float, currency: str, when: str) -> Sourced:
    return _a(value, f"about {value:g} {currency} per USD ({when}); exchange rates are not in the {_FACTS}, "
                     "set siting.fx_local_per_usd")


def _all(value: Sourced) -> dict[str, dict[str, Sourced]]:
    return {s: {"ev_sales_share_target": value} for s in SEGMENTS}


def _all_stock(value: Sourced, *, but: tuple[str, ...] = ()) -> dict[str, dict[str, Sourced]]:
    return {s: {"ev_stock_share_target": value} for s in SEGMENTS if s not in but}


def _city_buses(country: str) -> Sourced:
    """India's city-bus fleet per 1,000 residents, transferred (flagged)."""
    return _a(0.5, f"Indian city-bus fleet (BMTC, Bengaluru: 0.5 per 1,000, {_PST} P1.05) transferred; no {country} "
                   "city-bus fleet found")


def _goods_split(total: float, what: str, conf: str = "assumption") -> dict[str, dict[str, Sourced]]:
    """Split a goods-vehicle count per 1,000 into LCVs and trucks with India's 48% LCV share (P1.01)."""
    lcv, heavy = round(total * _IN_LCV, 2), round(total * (1.0 - _IN_LCV), 2)
    src = f"{what}, x India's {_IN_LCV:.0%} LCV share of goods vehicles ({_PST} P1.01, transferred)"
    if conf == "assumption":
        return {"lcv": {"vehicles_per_1000": _a(lcv, src + " for LCVs")},
                "truck": {"vehicles_per_1000": _a(heavy, src + "; the rest are trucks")}}
    return {"lcv": {"vehicles_per_1000": Sourced(lcv, src + " for LCVs", conf)},
            "truck": {"vehicles_per_1000": Sourced(heavy, src + "; the rest are trucks", conf)}}


def _merge(*parts: dict[str, dict[str, Sourced]]) -> dict[str, dict[str, Sourced]]:
    out: dict[str, dict[str, Sourced]] = {s: {} for s in SEGMENTS}
    for part in parts:
        for seg, values in part.items():
            out[seg].update(values)
    return out


# Nepal ---------------------------------------------------------------------------------------
_NP_POP = 29.164578
_NP_POP_SRC = "Nepal population 29,164,578 (National Population and Housing Census 2021; not in the facts table)"
_NP_REG = f"Dept. of Transport Management, FY2081/82 ({_FACTS} F1.12)"
_NP_EV_CARS = round((4_502 + 3_050 + 11_701 + 13_492) / 366_723, 4)  # EV share of the car stock, mid-2025 (P1.08)
NEPAL = _country(
    "nepal", "Nepal", "NPR",
    Sourced(round(1.6 * INR_PER_USD, 2), "NPR pegged at 1.6 per INR by Nepal Rastra Bank (not in the facts table) "
            f"x {INR_PER_USD:g} INR per USD; set siting.fx_local_per_usd", "M"),
    2025,
    {
        "two_wheeler": {
            "vehicles_per_1000": Sourced(_per_1000(4.744072, _NP_POP), f"4,744,072 registered motorcycles ({_NP_REG}) / "
                                         f"{_NP_POP_SRC}; registered exceeds in-use", "M"),
            "ev_sales_share_base": _a(0.10, "Nepali e-2W sales share not found (F1.13 covers cars only)"),
            "ev_sales_share_target": Sourced(0.90, "Second NDC: 90% EV share of private passenger vehicle sales, "
                                             f"two-wheelers included, by 2030 ({_FACTS} F1.14)", "H"),
        },
        "three_wheeler": {
            "vehicles_per_1000": _a(1.0, "tempo and e-rickshaw count not in the registration figures (F1.12)"),
            "ev_sales_share_base": _a(0.30, "Kathmandu's tempos are largely electric; sales share not found"),
            "ev_sales_share_target": Sourced(0.60, "Second NDC: 60% EV share of public passenger vehicle sales by 2030, "
                                             f"applied to three-wheelers ({_FACTS} F1.14)", "L"),
        },
        "car": {
            "vehicles_per_1000": Sourced(_per_1000(0.366723, _NP_POP), f"366,723 registered cars, jeeps and taxis "
                                         f"({_NP_REG}) / {_NP_POP_SRC}", "M"),
            "ev_sales_share_base": Sourced(0.76, f"Ember: 76% of new cars electric in 2025 ({_FACTS} F1.13)", "M"),
            "ev_sales_share_target": Sourced(0.90, "Second NDC: 90% EV share of private passenger vehicle sales by 2030 "
                                             f"({_FACTS} F1.14)", "H"),
            "ev_stock_share_base": Sourced(_NP_EV_CARS, "about 32,700 electric cars, jeeps and vans by mid-2025 "
                                           "(DoTM registrations to 2022, then customs imports) / 366,723 registered "
                                           f"cars, jeeps and taxis ({_FACTS} F1.12; {_PST} P1.08)", "L"),
        },
        "bus": {
            "vehicles_per_1000": _city_buses("Nepali (71,577 registered buses of every kind, F1.12)"),
            "ev_sales_share_base": _a(0.05, "Nepali e-bus sales share not found"),
            "ev_sales_share_target": Sourced(0.60, "Second NDC: 60% EV share of four-wheel public passenger vehicle "
                                             f"sales by 2030 ({_FACTS} F1.14)", "H"),
        },
        "lcv": {
            "vehicles_per_1000": Sourced(round(_per_1000(0.041986, _NP_POP) * _IN_LCV, 2),
                                         f"41,986 registered minibuses and trucks ({_NP_REG}) / {_NP_POP_SRC}, x India's "
                                         f"48% LCV share of goods vehicles ({_PST} P1.01); the category mixes "
                                         "minibuses and trucks", "L"),
            "ev_sales_share_base": _a(0.005, "Nepali e-LCV sales share not found"),
            "ev_sales_share_target": _a(0.30, "the region's 30% EV sales commitment; the NDC covers passenger "
                                              "vehicles only (F1.14)"),
        },
        "truck": {
            "vehicles_per_1000": Sourced(round(_per_1000(0.041986, _NP_POP) * (1.0 - _IN_LCV), 2),
                                         f"41,986 registered minibuses and trucks ({_NP_REG}) / {_NP_POP_SRC}, x the 52% "
                                         f"of goods vehicles that are not LCVs in India ({_PST} P1.01)", "L"),
            "ev_sales_share_base": _a(0.002, "Nepali e-truck sales share not found"),
            "ev_sales_share_target": _a(0.30, "the region's 30% EV sales commitment; the NDC covers passenger "
                                              "vehicles only (F1.14)"),
        },
    },
    mv_kv=Sourced(11.0, f"NEA distribution at 11 kV and 33 kV ({_FACTS} G4.09)", "L"),
    lv_kv=_a(0.4, "Nepali LV level not found (G4.09); 400 V three-phase"),
    **_grid(112.0, 0.89, 23.0, 2022, 1.0, "P5.02", 4.00, "E5.02", "Nepal", _hz50("Nepal")),
    **_base_load(372.0, 0.0787, "P4.02", "Nepal"),
    utm_hint="UTM zone 45N (EPSG:32645) for Kathmandu",
    notes=("Nepal imports electricity from India: the default consumption-based intensity (Electricity Maps 2024) "
           "is 112 gCO2e/kWh against Ember's generation-based 23 (E5.02); energy.grid_series = 'ember' selects "
           "Ember's series.",),
)

# Bangladesh ----------------------------------------------------------------------------------
_BD_POP = 169.828911
_BD_POP_SRC = "Bangladesh population 169.8 M (Population and Housing Census 2022, adjusted; not in the facts table)"
_BD_MC_SHARE = 1_068_866 / 2_029_979
BANGLADESH = _country(
    "bangladesh", "Bangladesh", "BDT", _fx_assumed(117.0, "BDT", "mid-2024"), 2024,
    _merge(
        _all(_a(0.30, "the region's 30% EV sales commitment; replaced by the guideline's stock target (F1.16)")),
        _all_stock(Sourced(0.30, "EV Registration & Operation Guideline 2023: at least 30% of road-transport vehicles "
                                 f"electric by 2030, applied to the stock of the private segments that make up most of "
                                 f"the registered fleet ({_FACTS} F1.16); battery rickshaws are already electric",
                           "M"),
                   but=("three_wheeler", "lcv", "bus", "truck")),
        {
            "two_wheeler": {
                "vehicles_per_1000": Sourced(
                    _per_1000(5.348160 * _BD_MC_SHARE, _BD_POP),
                    f"5,348,160 registered vehicles (BRTA, {_FACTS} F1.15) x 52.7% motorcycles (Dhaka 2023, F1.15) / "
                    f"{_BD_POP_SRC}", "L"),
                "ev_sales_share_base": _a(0.01, "Bangladeshi EV sales shares not found"),
            },
            "three_wheeler": {
                "vehicles_per_1000": _a(10.0, "battery rickshaws and easy-bikes are outside registration (F1.15); "
                                              "count not found"),
                "ev_sales_share_base": _a(0.50, "battery rickshaws and easy-bikes are electric; share of sales not found"),
                "ev_sales_share_target": _a(0.50, "the 30% target (F1.16) is already exceeded: kept at the base share"),
            },
            "car": {"vehicles_per_1000": _a(3.0, "car count not found (F1.15 gives the total only)"),
                    "ev_sales_share_base": _a(0.005, "Bangladeshi EV sales shares not found")},
            "bus": {"vehicles_per_1000": _city_buses("Bangladeshi (F1.15 gives the total only)"),
                    "ev_sales_share_base": _a(0.005, "Bangladeshi EV sales shares not found")},
            **_goods_split(2.0, "goods-vehicle count not found (F1.15 gives the total only): about 2 per 1,000"),
        },
        {
            "lcv": {"ev_sales_share_base": _a(0.005, "Bangladeshi EV sales shares not found")},
            "truck": {"ev_sales_share_base": _a(0.002, "Bangladeshi EV sales shares not found")},
        },
    ),
    mv_kv=_a(11.0, "Bangladeshi MV level not found (G4.10)"),
    lv_kv=_a(0.4, "Bangladeshi LV level not found (G4.10)"),
    **_grid(618.0, 0.04, 695.0, 2024, 0.019, "P5.03", 3.88, "E5.03", "Bangladesh", _hz50("Bangladesh")),
    **_base_load(644.0, 0.0672, "P4.03", "Bangladesh"),
    utm_hint="UTM zone 46N (EPSG:32646) for Dhaka",
)

# Sri Lanka -----------------------------------------------------------------------------------
_LK_FLEET = "total fleet not found (F1.17 gives 2025 registrations only); order of magnitude"
SRI_LANKA = _country(
    "sri_lanka", "Sri Lanka", "LKR", _fx_assumed(300.0, "LKR", "2024"), 2025,
    _merge(
        _all(_a(0.30, "no current official target (F1.18: non-fossil fleet by 2040); the region's 30% commitment")),
        {
            "two_wheeler": {"vehicles_per_1000": _a(220.0, _LK_FLEET),
                            "ev_sales_share_base": _a(0.05, "EV split by segment not found (F1.17)")},
            "three_wheeler": {"vehicles_per_1000": _a(55.0, _LK_FLEET),
                              "ev_sales_share_base": _a(0.02, "EV split by segment not found (F1.17)")},
            "car": {"vehicles_per_1000": _a(45.0, _LK_FLEET),
                    "ev_sales_share_base": _a(0.25, "EVs were 12% of 2025 registrations of motorcycles, cars and 3W "
                                                    "(35,268 of 292,611, F1.17), mostly cars; split not found")},
            "bus": {"vehicles_per_1000": _city_buses("Sri Lankan"),
                    "ev_sales_share_base": _a(0.01, "EV split by segment not found (F1.17)")},
            **_goods_split(20.0, _LK_FLEET + ": about 20 goods vehicles per 1,000"),
        },
        {
            "lcv": {"ev_sales_share_base": _a(0.005, "EV split by segment not found (F1.17)")},
            "truck": {"ev_sales_share_base": _a(0.003, "EV split by segment not found (F1.17)")},
        },
    ),
    mv_kv=_a(11.0, "Sri Lankan MV level not found (G4.10)"),
    lv_kv=_a(0.4, "Sri Lankan LV level not found (G4.10)"),
    **_grid(405.0, 0.49, 510.0, 2022, 0.503, "P5.04", 4.21, "E5.04", "Sri Lanka", _hz50("Sri Lanka")),
    **_base_load(739.0, 0.0321, "P4.04", "Sri Lanka"),
    utm_hint="UTM zone 44N (EPSG:32644) for Colombo",
)

# Philippines ---------------------------------------------------------------------------------
_PH_POP = 109.035343
_PH_POP_SRC = "Philippine population 109,035,343 (2020 Census of Population and Housing; not in the facts table)"
_PH_OTHER = 11.6 * 0.38  # million registered vehicles that are not motorcycles (F1.19)
_PH_SPLIT = "11.6 M registered vehicles, 38% not motorcycles (F1.19); split of those not found, {p:.0%} taken as {what}"
PHILIPPINES = _country(
    "philippines", "Philippine", "PHP", _fx_assumed(57.3, "PHP", "2024 average"), 2024,
    _merge(
        _all(_a(0.30, "the region's 30% commitment; EVIDA sets only a 5% EV quota for company and public fleets (F1.20)")),
        {
            "two_wheeler": {
                "vehicles_per_1000": Sourced(_per_1000(11.6 * 0.62, _PH_POP), "11.6 M currently registered vehicles, "
                                             f"62% motorcycles, 2018 (CPBRD, {_FACTS} F1.19) / {_PH_POP_SRC}", "M"),
                "ev_sales_share_base": _a(0.01, "EV sales share not found (F1.21)"),
            },
            "three_wheeler": {
                "vehicles_per_1000": Sourced(_per_1000(1.7, _PH_POP), f"1.7 M tricycles in the LTO database, 2019 "
                                             f"({_FACTS} F1.19) / {_PH_POP_SRC}; the database keeps lapsed registrations",
                                             "L"),
                "ev_sales_share_base": _a(0.02, "e-trike sales share not found (F1.21)"),
            },
            "car": {"vehicles_per_1000": _a(_per_1000(_PH_OTHER * 0.80, _PH_POP), _PH_SPLIT.format(p=0.8, what="cars")),
                    "ev_sales_share_base": _a(0.01, "EV sales share not found (F1.21)")},
            "bus": {"vehicles_per_1000": _city_buses("Metro Manila (jeepneys are not counted as buses)"),
                    "ev_sales_share_base": _a(0.01, "e-jeepney and e-bus sales share not found (F1.21)")},
            **_goods_split(_per_1000(_PH_OTHER * 0.15, _PH_POP), _PH_SPLIT.format(p=0.15, what="goods vehicles")),
        },
        {
            "lcv": {"ev_sales_share_base": _a(0.004, "EV sales share not found (F1.21)")},
            "truck": {"ev_sales_share_base": _a(0.002, "EV sales share not found (F1.21)")},
        },
    ),
    mv_kv=Sourced(13.8, f"Meralco distribution feeders 13.8 kV and 34.5 kV ({_FACTS} G4.06)", "M"),
    lv_kv=_a(0.4, "LV level not in the facts table (G4.06 gives MV only); 400 V three-phase"),
    **_grid(623.0, 0.18, 613.0, 2024, 0.205, "P5.05", 3.93, "E5.05", "Philippines",
            Sourced(60.0, f"the Philippine grid runs at 60 Hz ({_FACTS} G4.06)", "M")),
    **_base_load(1072.0, 0.0486, "P4.05", "Philippines"),
    utm_hint="UTM zone 51N (EPSG:32651) for Metro Manila",
)

# Vietnam -------------------------------------------------------------------------------------
_VN_POP = 96.208984
_VN_POP_SRC = "Vietnam population 96,208,984 (2019 Population and Housing Census; not in the facts table)"
_VN_876 = Sourced(0.50, "Decision 876/QD-TTg: at least 50% of urban vehicles electric or green by 2030, applied to each "
                        f"segment's stock as electric ({_FACTS} F1.24)", "M")
_VN_HCMC_BUSES = round(2_300 / 8_993_082 * 1000, 3)  # P1.07
VIETNAM = _country(
    "vietnam", "Vietnam", "VND", _fx_assumed(25_000.0, "VND", "2024"), 2025,
    _merge(
        _all(_a(0.50, "Decision 876/QD-TTg (F1.24) sets a stock target; used only where no stock target is given")),
        _all_stock(_VN_876, but=("bus", "truck")),
        {
            "two_wheeler": {
                "vehicles_per_1000": Sourced(_per_1000(61.3, _VN_POP), "about 61.3 M motorcycles, mid-2019 (National "
                                             f"Traffic Safety Committee, {_FACTS} F1.22) / {_VN_POP_SRC}; registered "
                                             "exceeds in-use", "M"),
                "ev_sales_share_base": _a(0.10, "e-motorbike sales share not found"),
            },
            "three_wheeler": {"vehicles_per_1000": _a(0.5, "three-wheelers are rare; count not found"),
                              "ev_sales_share_base": _a(0.05, "sales share not found")},
            "car": {"vehicles_per_1000": _a(50.0, "Vietnamese car fleet not found (F1.22)"),
                    "ev_sales_share_base": Sourced(0.40, f"Ember: about 40% of new cars electric in 2025 ({_FACTS} F1.23)",
                                                   "M")},
            "bus": {"vehicles_per_1000": Sourced(_VN_HCMC_BUSES, "Ho Chi Minh City: over 2,300 buses in service on "
                                                 "164 routes in 2025 / 8,993,082 residents (2019 Census; "
                                                 f"{_PST} P1.07)", "M"),
                    "ev_sales_share_base": _a(0.30, "electric buses run in Hanoi and Ho Chi Minh City; share not found"),
                    "ev_sales_share_target": Sourced(0.90, "Decision 876/QD-TTg: all new urban buses electric or green "
                                                     f"from 2025 ({_FACTS} F1.24); 0.9 leaves room for green "
                                                     "non-electric buses", "L")},
            **_goods_split(15.0, "goods-vehicle count not found: about 15 per 1,000"),
        },
        {
            "lcv": {"ev_sales_share_base": _a(0.01, "e-LCV sales share not found")},
            "truck": {"ev_sales_share_base": _a(0.003, "e-truck sales share not found"),
                      "ev_sales_share_target": _a(0.30, "the region's 30% EV sales commitment; Decision 876's urban "
                                                        "stock target (F1.24) is not applied to intercity trucks")},
        },
    ),
    mv_kv=_a(22.0, "Vietnamese MV levels not extracted from the Distribution Code (G4.08)"),
    lv_kv=_a(0.4, "Vietnamese LV level not extracted (G4.08)"),
    **_grid(442.0, 0.44, 486.0, 2024, 0.423, "P5.06", 3.55, "E5.06", "Vietnam", _hz50("Vietnam")),
    **_base_load(3042.0, 0.0797, "P4.06", "Vietnam"),
    utm_hint="UTM zone 48N (EPSG:32648) for Ho Chi Minh City and Hanoi",
)

# Indonesia -----------------------------------------------------------------------------------
_ID_POP = 270.203917
_ID_POP_SRC = "Indonesia population 270,203,917 (Population Census 2020; not in the facts table)"
_ID_REG = f"Korlantas Polri, Aug 2024 ({_FACTS} F1.25)"
INDONESIA = _country(
    "indonesia", "Indonesia", "IDR", _fx_assumed(15_800.0, "IDR", "2024"), 2025,
    _merge(
        _all(_a(0.30, "the region's 30% commitment; the national goal of 13 M e-motorcycles and 2 M e-cars on the "
                      "road by 2030 (F1.28) is a stock target")),
        {
            "two_wheeler": {"ev_stock_share_target": Sourced(round(13.0 / 137.35, 4), "13 M e-motorcycles on the road "
                                                             f"by 2030 ({_FACTS} F1.28) / 137.35 M motorcycles in 2024 "
                                                             f"(F1.25; {_PST} P1.10)", "L")},
            "car": {"ev_stock_share_target": Sourced(round(2.0 / 20.12, 4), "2 M e-cars on the road by 2030 "
                                                     f"({_FACTS} F1.28) / 20.12 M cars in 2024 (F1.25; {_PST} P1.10)",
                                                     "L")},
        },
        {
            "two_wheeler": {
                "vehicles_per_1000": Sourced(_per_1000(137.35, _ID_POP), f"137.35 M motorcycles ({_ID_REG}) / "
                                             f"{_ID_POP_SRC}; registered exceeds in-use", "M"),
                "ev_sales_share_base": _a(0.03, "e-motorcycle sales share not found"),
            },
            "three_wheeler": {"vehicles_per_1000": _a(0.5, "three-wheeler count not found"),
                              "ev_sales_share_base": _a(0.01, "sales share not found")},
            "car": {"vehicles_per_1000": Sourced(_per_1000(20.12, _ID_POP), f"20.12 M cars ({_ID_REG}) / {_ID_POP_SRC}; "
                                                 "the Ministry of Industry gives 99 per 1,000 (F1.26)", "M"),
                    "ev_sales_share_base": Sourced(0.15, f"Ember: 15% of new cars electric in 2025 ({_FACTS} F1.27)", "M")},
            "bus": {"vehicles_per_1000": Sourced(round(5_000 / 10_562_088 * 1000, 3), "Transjakarta: about 5,000 "
                                                 "buses / 10,562,088 residents of DKI Jakarta (2020 Census; "
                                                 f"{_PST} P1.09); 285,957 buses of every kind nationwide (F1.25)", "M"),
                    "ev_sales_share_base": _a(0.02, "e-bus sales share not found")},
            **_goods_split(_per_1000(6.20, _ID_POP), f"6.20 M trucks ({_ID_REG}) / {_ID_POP_SRC}", "L"),
        },
        {
            "lcv": {"ev_sales_share_base": _a(0.004, "e-LCV sales share not found")},
            "truck": {"ev_sales_share_base": _a(0.002, "e-truck sales share not found")},
        },
    ),
    mv_kv=Sourced(20.0, f"PLN medium voltage 20 kV ({_FACTS} G4.07)", "M"),
    lv_kv=Sourced(0.4, f"PLN low voltage 230/400 V, SPLN 1 ({_FACTS} G4.07)", "M"),
    **_grid(663.0, 0.16, 682.0, 2023, 0.186, "P5.07", 3.77, "E5.07", "Indonesia",
            Sourced(50.0, f"PLN grid 50 Hz ({_FACTS} G4.07)", "M")),
    **_base_load(1314.0, 0.046, "P4.07", "Indonesia"),
    utm_hint="UTM zone 48S (EPSG:32748) for Jakarta",
)

# Thailand ------------------------------------------------------------------------------------
_TH_NEW = 191_195 * 12  # new vehicles per year from September 2025 (F1.31)
THAILAND = _country(
    "thailand", "Thai", "THB", _fx_assumed(35.3, "THB", "2024 average"), 2025,
    _merge(
        _all(Sourced(0.30, "30@30 policy: zero-emission vehicles 30% of production by 2030, applied to sales "
                           f"({_FACTS} F1.32)", "M")),
        {
            "two_wheeler": {
                "vehicles_per_1000": Sourced(322.0, f"FOURIN: 322 motorcycles per 1,000 people, end-2019 ({_FACTS} F1.30)",
                                             "M"),
                "sales_per_stock": Sourced(round(_TH_NEW * 0.723 / 21.4e6, 4), "September 2025: 191,195 new vehicles, "
                                           f"72.3% motorcycles (DLT, {_FACTS} F1.31), x 12 / 21.4 M motorcycles (F1.30)",
                                           "L"),
                "ev_sales_share_base": _a(0.02, "e-motorcycle sales share not found"),
            },
            "three_wheeler": {"vehicles_per_1000": _a(0.3, "tuk-tuk count not found"),
                              "ev_sales_share_base": _a(0.02, "sales share not found")},
            "car": {
                "vehicles_per_1000": Sourced(279.0, f"FOURIN: 279 cars per 1,000 people, end-2019 ({_FACTS} F1.30)", "M"),
                "sales_per_stock": Sourced(round(_TH_NEW * 0.218 / 18.59e6, 4), "September 2025: 191,195 new vehicles, "
                                           f"21.8% passenger cars (DLT, {_FACTS} F1.31), x 12 / 18.59 M cars (F1.30)", "L"),
                "ev_sales_share_base": Sourced(0.20, f"Ember: EVs about 20-21% of new car sales in 2025 ({_FACTS} F1.31)",
                                               "M"),
            },
            "bus": {"vehicles_per_1000": _city_buses("Bangkok"),
                    "ev_sales_share_base": _a(0.02, "e-bus sales share not found")},
            **_goods_split(15.0, "goods-vehicle count not found (pickups count as cars in F1.30): about 15 per 1,000"),
        },
        {
            "lcv": {"ev_sales_share_base": _a(0.008, "e-LCV sales share not found")},
            "truck": {"ev_sales_share_base": _a(0.005, "e-truck sales share not found")},
        },
    ),
    mv_kv=Sourced(22.0, f"PEA substations feed 33, 22 and 11 kV ({_FACTS} G4.05)", "M"),
    lv_kv=Sourced(0.4, f"MEA service 230/400 V ({_FACTS} G4.04)", "M"),
    **_grid(490.0, 0.15, 555.0, 2024, 0.148, "P5.08", 4.06, "E5.08", "Thailand", _hz50("Thailand")),
    **_base_load(3236.0, 0.0234, "P4.08", "Thailand"),
    offpeak_hours=(22, 9),
    offpeak_source=f"MEA and PEA time-of-use tariff: on-peak Mon-Fri 09:00-22:00, off-peak otherwise ({_FACTS} C3.17)",
    utm_hint="UTM zone 47N (EPSG:32647) for Bangkok",
)


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


# Plausibility data --------------------------------------------------------------------------
COUNTRY_BOUNDS_SOURCE = (
    "Natural Earth 1:110m Admin 0 - Countries (public domain), the bounding box of each country's polygons "
    "(as shipped in the naturalearth_lowres test data of pyogrio), rounded outward to 0.01 degree"
)
COUNTRY_BOUNDS_LONLAT: dict[str, tuple[float, float, float, float]] = {
    "india": (68.17, 7.96, 97.41, 35.50),
    "nepal": (80.08, 26.39, 88.18, 30.43),
    "bangladesh": (88.08, 20.67, 92.68, 26.45),
    "sri_lanka": (79.69, 5.96, 81.79, 9.83),
    "philippines": (117.17, 5.58, 126.54, 18.51),
    "vietnam": (102.17, 8.59, 109.34, 23.36),
    "indonesia": (95.29, -10.36, 141.04, 5.48),
    "thailand": (97.37, 5.69, 105.59, 20.42),
}
"""(west, south, east, north) of each preset's country [degrees]; source :data:`COUNTRY_BOUNDS_SOURCE`."""

COUNTRY_BOUNDS_MARGIN_DEG = 3.0
"""Margin around :data:`COUNTRY_BOUNDS_LONLAT` within which data is accepted [degrees] (about 330 km).
The 1:110m polygons leave out small islands: the Batanes (Philippines) reach 21.1 deg N, 2.6 deg
beyond the box; Indira Point (India, Nicobar Islands) lies at 6.75 deg N, 1.2 deg beyond."""

MIN_DENSITY_PERSONS_KM2 = 50.0
"""Lowest mean population density accepted over a study area [persons/km2], a PLAUSIBILITY BOUND.
The degree of urbanisation (Eurostat, FAO, ILO, OECD, UN-Habitat, World Bank 2020, "A
recommendation on the method to delineate cities, urban and rural areas") counts 1 km2 cells
of at least 300 persons as urban clusters; a sixth of that over the whole study area still
allows parks, water and industry. Lower densities mean a total in the wrong unit (thousands
instead of persons), a raster of another quantity, or a place with no one to plan for."""

MAX_DENSITY_PERSONS_KM2 = 500_000.0
"""Highest mean population density accepted over a study area [persons/km2]. The densest
neighbourhoods on record stay below it: Dharavi, Mumbai, is given 0.6 to 1 million residents on
about 2.1 km2 (Wikipedia, "Dharavi"), at most about 480,000/km2; whole districts of Dhaka or
Manila reach 100,000-130,000/km2. Higher densities mean a population in the wrong unit (persons
per km2 instead of per pixel) or a total that belongs to a larger area."""


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
