"""The presets of Nepal, Bangladesh, Sri Lanka, the Philippines, Vietnam, Indonesia and Thailand.

Each is built from the Indian preset: the country's own figures where the facts table has them,
Indian values otherwise (each transferred value is flagged as an assumption and names the Indian
source).
"""

from __future__ import annotations

from dataclasses import fields, replace

from charge_planner.presets.base import (
    _FACTS,
    _PST,
    INR_PER_USD,
    SEGMENTS,
    STOCK_SHARE_FIELDS,
    ChargerPreset,
    CountryPreset,
    SegmentPreset,
    Sourced,
    _a,
    _base_load,
    _fx_cost,
    _grid,
    _hz50,
    _per_1000,
    _xfer,
)
from charge_planner.presets.india import (
    _IN_CHARGERS,
    _IN_COMBUSTION,
    _IN_LCV,
    _IN_SEGMENTS,
    _IN_SITE_COST_BANDS,
    _ROAD_SPEEDS,
    _ROAD_SPEEDS_SRC,
)


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

