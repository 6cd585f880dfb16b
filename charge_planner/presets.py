"""Country presets: default assumptions, each number with its source.

Every default the planner uses comes from a :class:`Sourced` value here. The ``source``
names the publication (and the row of the project's sourced-facts table where it was
found); ``confidence`` is "H" (official or well-known dataset), "M" (reputable secondary
quoting a primary), "L" (rough) or "assumption" (no published figure was found; the
planner flags it in the report so the user can override it in ``city.toml``).

Monetary values are kept in local currency and converted with the user-settable
``fx_local_per_usd`` of the preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEGMENTS: tuple[str, ...] = ("two_wheeler", "three_wheeler", "car", "bus", "truck")


@dataclass(frozen=True)
class Sourced:
    """A number with the source it comes from.

    Parameters
    ----------
    value
        The number, in the unit given by the field name that holds it.
    source
        Publication, dataset or derivation the value comes from.
    confidence
        "H", "M", "L" or "assumption".
    """

    value: float
    source: str
    confidence: str = "M"

    @property
    def is_assumption(self) -> bool:
        """True when no published figure backs the value."""
        return self.confidence in ("assumption", "L")


@dataclass(frozen=True)
class SegmentPreset:
    """Fleet and usage defaults of one vehicle segment in one country."""

    vehicles_per_1000: Sourced
    ev_sales_share_base: Sourced
    ev_sales_share_target: Sourced
    km_per_day: Sourced
    kwh_per_km: Sourced
    public_share: Sourced
    lifetime_years: Sourced
    cutoff_min: Sourced
    kwh_per_session: Sourced


@dataclass(frozen=True)
class ChargerPreset:
    """A charger type with its power, cost and the segments it serves."""

    power_kw: Sourced
    capex_local: Sourced
    segments: tuple[str, ...]
    service_hours_day: Sourced
    grid_level: str


@dataclass(frozen=True)
class CountryPreset:
    """All defaults of one country."""

    country: str
    currency: str
    fx_local_per_usd: Sourced
    base_year: int
    target_year: int
    segments: dict[str, SegmentPreset]
    chargers: dict[str, ChargerPreset]
    site_fixed_cost_local: Sourced
    base_peak_kw_per_person: Sourced
    mv_kv: Sourced
    lv_kv: Sourced
    grid_co2_g_per_kwh: Sourced
    grid_renewable_share: Sourced
    combustion_g_co2_per_km: dict[str, Sourced] = field(default_factory=dict)
    road_speeds_kph: dict[str, float] = field(default_factory=dict)
    road_speeds_source: str = ""
    utm_hint: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


_FACTS = "charge_planner sourced-facts table"
_IN_POP = 1396.0  # million persons, India 2020 (UN World Population Prospects 2022)
_IN_POP_SRC = "India population 1,396 M in 2020 (UN World Population Prospects 2022)"
_IN_REG = 326.3  # million registered vehicles, March 2020 (MoRTH RTYB 2019-20, F1.01)


def _share_per_1000(share: float) -> float:
    return round(_IN_REG * share / _IN_POP * 1000.0, 1)


INDIA = CountryPreset(
    country="india",
    currency="INR",
    fx_local_per_usd=Sourced(
        83.7, "RBI reference rate, calendar-2024 average (about 83.7 INR per USD); set your own rate", "M"
    ),
    base_year=2024,
    target_year=2030,
    segments={
        "two_wheeler": SegmentPreset(
            vehicles_per_1000=Sourced(
                _share_per_1000(0.72),
                f"326.3 M registered vehicles (MoRTH RTYB 2019-20, {_FACTS} F1.01) x 72% two-wheelers "
                f"(MoRTH RTYB 2007-09, F1.02) / {_IN_POP_SRC}; registered exceeds in-use",
                "M",
            ),
            ev_sales_share_base=Sourced(0.06, f"IEA Global EV Outlook 2025: 6% of 2W sales in 2024 ({_FACTS} F1.05)", "M"),
            ev_sales_share_target=Sourced(0.30, f"30% EV share of sales by 2030, national target ({_FACTS} F1.11)", "M"),
            km_per_day=Sourced(16.0, f"CEEW pan-India survey 2021: average commute 16 km/day ({_FACTS} U2.01)", "M"),
            kwh_per_km=Sourced(0.0325, f"25-40 Wh/km, midpoint ({_FACTS} U2.02)", "L"),
            public_share=Sourced(
                0.2, "assumption: most e-2W charge at home (qualitative, U2.13); no quantified share found", "assumption"
            ),
            lifetime_years=Sourced(15.0, "assumption: registered-vehicle life of 15 years", "assumption"),
            cutoff_min=Sourced(10.0, "assumption: 10-minute drive to a public charger", "assumption"),
            kwh_per_session=Sourced(1.5, f"entry e-2W battery about 1.5 kWh, one full charge per session ({_FACTS} U2.03)", "L"),
        ),
        "three_wheeler": SegmentPreset(
            vehicles_per_1000=Sourced(
                round(0.73 * 10.0 / _IN_POP * 1000.0, 1),
                f"0.73 M 3W sold in 2024 (SIAM, {_FACTS} F1.04) x 10-year life (assumption) / {_IN_POP_SRC}",
                "L",
            ),
            ev_sales_share_base=Sourced(0.54, f"Vahan: about 54% of 3W sold are electric, FY24 ({_FACTS} F1.06)", "M"),
            ev_sales_share_target=Sourced(0.54, "30% national target already exceeded: kept at the 2024 share (F1.06, F1.11)", "M"),
            km_per_day=Sourced(80.0, f"e-auto about 80 km per charge, used daily ({_FACTS} U2.06)", "L"),
            kwh_per_km=Sourced(0.025, f"about 3 kWh per 120 km for e-rickshaws ({_FACTS} U2.05)", "L"),
            public_share=Sourced(
                0.4, "assumption: most e-autos charge at home or businesses (qualitative, U2.13)", "assumption"
            ),
            lifetime_years=Sourced(10.0, "assumption: 10-year life of a three-wheeler", "assumption"),
            cutoff_min=Sourced(10.0, "assumption: 10-minute drive to a public charger", "assumption"),
            kwh_per_session=Sourced(3.0, f"about 3 kWh per full e-rickshaw charge ({_FACTS} U2.05)", "L"),
        ),
        "car": SegmentPreset(
            vehicles_per_1000=Sourced(25.2, f"IRF World Road Statistics 2020 via MoRTH ({_FACTS} F1.03)", "M"),
            ev_sales_share_base=Sourced(0.024, f"about 2.4% of car sales in 2024 ({_FACTS} F1.10)", "L"),
            ev_sales_share_target=Sourced(0.30, f"30% EV share of sales by 2030 ({_FACTS} F1.11)", "M"),
            km_per_day=Sourced(30.0, "assumption: no published Indian urban car daily distance found", "assumption"),
            kwh_per_km=Sourced(0.16, f"Tata Nexon EV city use 0.15-0.17 kWh/km ({_FACTS} U2.07)", "M"),
            public_share=Sourced(0.3, "assumption: no quantified home/public split found (U2.13)", "assumption"),
            lifetime_years=Sourced(15.0, "assumption: 15-year registration life of private cars", "assumption"),
            cutoff_min=Sourced(10.0, "assumption: 10-minute drive to a public fast charger", "assumption"),
            kwh_per_session=Sourced(15.0, f"half of a 30.2 kWh battery (Tata Nexon EV, {_FACTS} U2.07) per public session; assumption", "assumption"),
        ),
        "bus": SegmentPreset(
            vehicles_per_1000=Sourced(
                _share_per_1000(0.013),
                f"326.3 M registered vehicles x 1.3% buses (MoRTH, {_FACTS} F1.01, F1.02) / {_IN_POP_SRC}; all buses, "
                "not only city buses",
                "L",
            ),
            ev_sales_share_base=Sourced(0.05, "assumption: e-bus share of bus sales (stock about 11,500, F1.09)", "assumption"),
            ev_sales_share_target=Sourced(0.30, f"30% EV share of sales by 2030 ({_FACTS} F1.11)", "M"),
            km_per_day=Sourced(200.0, f"city buses 150-250 km/day ({_FACTS} U2.11)", "M"),
            kwh_per_km=Sourced(1.62, f"Delhi e-bus trial, grid-side ({_FACTS} U2.09)", "M"),
            public_share=Sourced(1.0, "buses charge at depots and bus stations planned here (DESIGN)", "M"),
            lifetime_years=Sourced(12.0, "assumption: 12-year bus life", "assumption"),
            cutoff_min=Sourced(20.0, "assumption: deadhead of up to 20 min to a depot charger", "assumption"),
            kwh_per_session=Sourced(150.0, "assumption: about half a 300 kWh e-bus battery per depot session", "assumption"),
        ),
        "truck": SegmentPreset(
            vehicles_per_1000=Sourced(
                _share_per_1000(0.055),
                f"326.3 M registered vehicles x 5.5% goods vehicles (MoRTH, {_FACTS} F1.01, F1.02) / {_IN_POP_SRC}",
                "L",
            ),
            ev_sales_share_base=Sourced(0.0075, f"NITI Aayog: 0.75% of trucks electric in 2024 ({_FACTS} F1.08)", "M"),
            ev_sales_share_target=Sourced(0.30, f"30% EV share of sales by 2030 ({_FACTS} F1.11)", "M"),
            km_per_day=Sourced(100.0, "assumption: e-truck usage not found (U2.12)", "assumption"),
            kwh_per_km=Sourced(0.5, "assumption: e-truck energy use not found (U2.12); 95% are under 3.5 t (F1.08)", "assumption"),
            public_share=Sourced(0.5, "assumption: half of e-truck charging at public hubs", "assumption"),
            lifetime_years=Sourced(15.0, "assumption: 15-year truck life", "assumption"),
            cutoff_min=Sourced(15.0, "assumption: 15-minute drive to a hub", "assumption"),
            kwh_per_session=Sourced(40.0, "assumption: e-truck session energy not found (U2.12)", "assumption"),
        ),
    },
    chargers={
        "lev_dc_12kw": ChargerPreset(
            power_kw=Sourced(12.0, f"PM E-DRIVE draft benchmark: 2W/3W chargers of at least 12 kW ({_FACTS} C3.09)", "M"),
            capex_local=Sourced(150_000.0, f"PM E-DRIVE draft: Rs 1.5 lakh per 2W/3W charger ({_FACTS} C3.09)", "M"),
            segments=("two_wheeler", "three_wheeler"),
            service_hours_day=Sourced(12.0, "assumption: 12 busy hours a day (utilisation not found, C3.14)", "assumption"),
            grid_level="lv",
        ),
        "dc_60kw": ChargerPreset(
            power_kw=Sourced(60.0, f"PM E-DRIVE draft benchmark: 4W 60 kW ({_FACTS} C3.09)", "M"),
            capex_local=Sourced(600_000.0, f"PM E-DRIVE draft: Rs 6 lakh per 60 kW charger ({_FACTS} C3.09)", "M"),
            segments=("car", "truck"),
            service_hours_day=Sourced(8.0, "assumption: 8 busy hours a day (utilisation not found, C3.14)", "assumption"),
            grid_level="lv",
        ),
        "dc_240kw_bus": ChargerPreset(
            power_kw=Sourced(240.0, f"MoP EVCI Guidelines 2024: e-bus depot equipment of at least 240 kW ({_FACTS} C3.06)", "M"),
            capex_local=Sourced(2_400_000.0, f"PM E-DRIVE draft: Rs 24 lakh per 240 kW bus charger ({_FACTS} C3.09)", "M"),
            segments=("bus", "truck"),
            service_hours_day=Sourced(10.0, "assumption: overnight and midday depot charging, 10 h/day", "assumption"),
            grid_level="mv",
        ),
    },
    site_fixed_cost_local=Sourced(
        604_000.0, f"PM E-DRIVE: upstream infrastructure Rs 6.04 lakh for sites up to 50 kW ({_FACTS} C3.10)", "M"
    ),
    base_peak_kw_per_person=Sourced(
        0.3,
        "assumption: diversified evening peak of about 1.2 kW per household of four (household peak not found, G4.11)",
        "assumption",
    ),
    mv_kv=Sourced(11.0, f"India distribution at 11 kV and 33 kV ({_FACTS} G4.01)", "M"),
    lv_kv=Sourced(0.4, f"India LV 400 V three-phase ({_FACTS} G4.01)", "M"),
    grid_co2_g_per_kwh=Sourced(709.0, f"Ember 2024, India, lifecycle gCO2e/kWh ({_FACTS} E5.01)", "H"),
    grid_renewable_share=Sourced(0.22, f"Electricity Maps 2024, India renewable share ({_FACTS} E5.01)", "H"),
    combustion_g_co2_per_km={
        "two_wheeler": Sourced(38.2, f"ICCT: Indian petrol 2W fleet average 38.2 gCO2/km, FY2020-21 ({_FACTS} B6.03)", "H"),
        "three_wheeler": Sourced(61.0, f"CNG auto about 45 km/kg x 2.74 kgCO2e/kg ({_FACTS} B6.05, B6.02)", "L"),
        "car": Sourced(122.4, f"Indian car fleet average 122.4 gCO2/km, FY2019-20 ({_FACTS} B6.04)", "H"),
        "bus": Sourced(760.0, f"BMTC BS-IV diesel bus 3.52 km/L x 2.68 kgCO2/L ({_FACTS} B6.06)", "M"),
        "truck": Sourced(
            670.0, "assumption: diesel truck close to a pre-BS-IV city bus, 4.01 km/L x 2.68 kg/L (B6.06); "
            "truck figure not found", "assumption"
        ),
    },
    road_speeds_kph={
        "motorway": 40.0, "trunk": 30.0, "primary": 25.0, "secondary": 22.0, "tertiary": 20.0,
        "unclassified": 18.0, "residential": 15.0, "living_street": 10.0, "service": 10.0,
    },
    road_speeds_source=(
        "assumption: congested urban peak-hour speeds by road class (no sourced value in the facts table); "
        "OSM maxspeed caps them where tagged"
    ),
    utm_hint="UTM zone 43N (EPSG:32643) for Bengaluru",
)

PRESETS: dict[str, CountryPreset] = {"india": INDIA}

COUNTRY_ALIASES: dict[str, str] = {"in": "india", "ind": "india", "india": "india"}


def get_preset(country: str) -> CountryPreset:
    """Return the preset of a country by name or ISO code.

    Parameters
    ----------
    country
        Country name or ISO 3166 alpha-2/alpha-3 code, case-insensitive.

    Raises
    ------
    KeyError
        When no preset exists; the message lists the available presets.
    """
    key = COUNTRY_ALIASES.get(country.strip().lower())
    if key is None or key not in PRESETS:
        raise KeyError(f"no preset for country {country!r}; available: {', '.join(sorted(PRESETS))}")
    return PRESETS[key]
