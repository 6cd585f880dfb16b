"""Unit costs of distribution-grid reinforcement (project sources table, section P8).

:func:`grid_reinforcement_costs` returns, per country, the installed cost of a distribution
transformer (DT) of each standard rating, of an 11 kV overhead line and underground cable per km
and of an LT (0.4 kV) overhead line and aerial bunched (AB) cable per km, in the local currency,
each as a :class:`~charge_planner.presets.base.Sourced` value. India's figures are the base;
every other country gets India's converted at the presets' USD rates and is flagged as such.

No Indian cost schedule could be read into the project's tables (the Forum of Regulators' capital
cost benchmarks, 2010, and the state cost-data schedules such as HPSEBL's FY 2022-23 and KSEB's
2023-24 list these items, but only their title pages are readable; P8.10). One figure is sourced:
the 11 kV underground cable in a city, from the Hyderabad discom's published spend per km (low
confidence, a programme average). The DT stations and the overhead and LT lines stay
order-of-magnitude assumptions, each with its reason, and the report flags them.
"""

from __future__ import annotations

from charge_planner.presets.base import INR_PER_USD, CountryPreset, Sourced, _a, _fx_cost

__all__ = ["DT_COST_INR", "LINE_COST_INR_PER_KM", "grid_reinforcement_costs", "grid_reinforcement_costs_usd"]

_WHY = ("order of magnitude of Indian discom cost-data schedules for installed plant (material, erection, "
        "structure); no installed figure found in a readable source (P8.10)")
_WHY_DT = (f"{_WHY}; published equipment-only prices for scale: 100 kVA about 1.30 lakh INR (MP West discom, "
           "2022), 200 kVA 22 kV 6.73 lakh INR (TNPDCL consumer-procurement rates, 2025)")

#: Hyderabad (TSSPDCL): "Since 2014, 11 kV UG cables were upgraded for 281 km at a cost of Rs 66 crore"
#: (The Hans India and The New Indian Express, 6 September 2021; P8.10) [INR, km].
_HYD_11KV_UG_SPEND_INR = 66 * 1e7
_HYD_11KV_UG_KM = 281.0

#: Installed cost of one 11/0.433 kV DT with its pole-mounted or plinth structure, by rating [INR].
DT_COST_INR: dict[float, Sourced] = {
    100.0: _a(450_000.0, f"100 kVA DT station installed; {_WHY_DT}"),
    160.0: _a(550_000.0, f"160 kVA DT station installed; {_WHY_DT}"),
    200.0: _a(620_000.0, f"200 kVA DT station installed; {_WHY_DT}"),
    250.0: _a(700_000.0, f"250 kVA DT station installed; {_WHY_DT}"),
    315.0: _a(820_000.0, f"315 kVA DT station installed; {_WHY_DT}"),
    400.0: _a(950_000.0, f"400 kVA DT station installed; {_WHY_DT}"),
    500.0: _a(1_100_000.0, f"500 kVA DT station installed; {_WHY_DT}"),
    630.0: _a(1_300_000.0, f"630 kVA DT station installed; {_WHY_DT}"),
    1000.0: _a(1_900_000.0, f"1,000 kVA DT station installed; {_WHY_DT}"),
}

#: Installed cost of a line per km [INR/km].
LINE_COST_INR_PER_KM: dict[str, Sourced] = {
    "mv_overhead": _a(700_000.0, f"11 kV overhead line, ACSR Dog on PSC poles, per km; {_WHY}"),
    "mv_cable": Sourced(
        round(_HYD_11KV_UG_SPEND_INR / _HYD_11KV_UG_KM, -3),
        "11 kV underground cable in a city, per km: Rs 66 crore for 281 km of 11 kV UG cable laid by TSSPDCL in "
        "Hyderabad since 2014 (The Hans India / The New Indian Express, 6 Sep 2021), i.e. 23.5 lakh INR/km in the "
        "INR of 2014-21 (not escalated: no price index in the tables); cable size and road reinstatement not stated; "
        "other published figures: UGVCL estimate 2020, 11 kV XLPE 185 mm2 cable with laying 16.47 lakh INR/km; "
        "BESCOM Bengaluru, Rs 5,400 crore to take over 7,000 km of 11 kV lines (with LT) underground, at most "
        "about 77 lakh INR/km "
        "(P8.10)",
        "L",
    ),
    "lv_overhead": _a(400_000.0, f"LT (0.4 kV) overhead line, ACSR Rabbit on PSC poles, per km; {_WHY}"),
    "lv_ab_cable": _a(650_000.0, f"LT aerial bunched cable 3x95+1x70 mm2 on existing or new poles, per km; {_WHY}"),
}


def grid_reinforcement_costs(preset: CountryPreset) -> dict[str, Sourced]:
    """Unit costs of grid reinforcement of a country, in its currency.

    Parameters
    ----------
    preset
        The country's preset (``charge_planner.presets.get_preset(country)``).

    Returns
    -------
    dict
        ``"dt_<rating>kva"`` [local currency per DT installed] for every standard rating, and
        ``"mv_overhead_per_km"``, ``"mv_cable_per_km"``, ``"lv_overhead_per_km"``,
        ``"lv_ab_cable_per_km"`` [local currency per km]. Countries other than India get India's
        figures converted at the presets' USD rates (confidence ``"assumption"``).
    """
    items: dict[str, Sourced] = {f"dt_{r:g}kva": s for r, s in DT_COST_INR.items()}
    items.update({f"{k}_per_km": s for k, s in LINE_COST_INR_PER_KM.items()})
    if preset.country == "india":
        return dict(items)
    fx = preset.fx_local_per_usd.value
    return {k: _fx_cost(s, fx, preset.currency, preset.country) for k, s in items.items()}


def grid_reinforcement_costs_usd(preset: CountryPreset) -> dict[str, float]:
    """The same unit costs in USD at the preset's exchange rate (India: ``INR_PER_USD``)."""
    fx = INR_PER_USD if preset.country == "india" else preset.fx_local_per_usd.value
    return {k: round(s.value / fx, 0) for k, s in grid_reinforcement_costs(preset).items()}
