"""Unit costs of distribution-grid reinforcement (project sources table, section P8).

:func:`grid_reinforcement_costs` returns, per country, the installed cost of a distribution
transformer (DT) of each standard rating, of an 11 kV overhead line and underground cable per km
and of an LT (0.4 kV) overhead line and aerial bunched (AB) cable per km, in the local currency,
each as a :class:`~charge_planner.presets.base.Sourced` value. India's figures are the base;
every other country gets India's converted at the presets' USD rates and is flagged as such.

No Indian cost schedule has been read into the project's tables yet (the Forum of Regulators'
capital cost benchmarks, 2010, and the state cost-data schedules such as HPSEBL's FY 2022-23 and
KSEB's 2023-24 list these items; P8.10): until their figures are extracted, the Indian values
below are order-of-magnitude assumptions, each with its reason, and the report flags them.
"""

from __future__ import annotations

from charge_planner.presets.base import INR_PER_USD, CountryPreset, Sourced, _a, _fx_cost

__all__ = ["DT_COST_INR", "LINE_COST_INR_PER_KM", "grid_reinforcement_costs", "grid_reinforcement_costs_usd"]

_WHY = ("order of magnitude of Indian discom cost-data schedules for installed plant (material, erection, "
        "structure; P8.10, figures not yet extracted)")

#: Installed cost of one 11/0.433 kV DT with its pole-mounted or plinth structure, by rating [INR].
DT_COST_INR: dict[float, Sourced] = {
    100.0: _a(450_000.0, f"100 kVA DT station installed; {_WHY}"),
    160.0: _a(550_000.0, f"160 kVA DT station installed; {_WHY}"),
    200.0: _a(620_000.0, f"200 kVA DT station installed; {_WHY}"),
    250.0: _a(700_000.0, f"250 kVA DT station installed; {_WHY}"),
    315.0: _a(820_000.0, f"315 kVA DT station installed; {_WHY}"),
    400.0: _a(950_000.0, f"400 kVA DT station installed; {_WHY}"),
    500.0: _a(1_100_000.0, f"500 kVA DT station installed; {_WHY}"),
    630.0: _a(1_300_000.0, f"630 kVA DT station installed; {_WHY}"),
    1000.0: _a(1_900_000.0, f"1,000 kVA DT station installed; {_WHY}"),
}

#: Installed cost of a line per km [INR/km].
LINE_COST_INR_PER_KM: dict[str, Sourced] = {
    "mv_overhead": _a(700_000.0, f"11 kV overhead line, ACSR Dog on PSC poles, per km; {_WHY}"),
    "mv_cable": _a(6_000_000.0, f"11 kV 3x300 mm2 Al XLPE underground cable laid in a city street (trench, "
                                f"reinstatement), per km; {_WHY}"),
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
