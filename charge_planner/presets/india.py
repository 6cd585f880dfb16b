"""The Indian preset, the reference for the others.

:data:`INDIA` with its segments, chargers, site connection cost bands, combustion baseline and
road-class speeds (``_IN_*``, ``_ROAD_SPEEDS``); the other presets transfer these values where
their own country has no published figure.
"""

from __future__ import annotations

from charge_planner.presets.base import (
    _FACTS,
    _PST,
    _SOURCES,
    INR_PER_USD,
    SEGMENTS,
    ChargerPreset,
    CountryPreset,
    SegmentPreset,
    Sourced,
    _a,
    _base_load,
    _grid,
    _hz50,
    _per_1000,
)

# ---------------------------------------------------------------------------------------------
# India
# ---------------------------------------------------------------------------------------------
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

