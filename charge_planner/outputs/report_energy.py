"""Energy and emissions section of the report: the grid series and its basis, the renewable share and
CO2 of the charging energy, the combustion baseline and the avoided emissions, as label/value rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charge_planner.outputs.report_tables import label_of, value_text
from charge_planner.outputs.views import fmt_num, fmt_pct

#: How each combustion basis and avoided-emission factor is stated in the report.
COMBUSTION_BASIS_TEXT = {
    "well_to_wheel": "well to wheel: fuel burnt plus its extraction, refining and transport (P6.01-P6.03), "
    "comparable with the lifecycle grid intensity",
    "tank_to_wheel": "tank-to-wheel: fuel burnt only (the grid side stays lifecycle)",
}
AVOIDED_FACTOR_TEXT = {
    "grid_average": "the grid series' annual average",
    "cea_combined_margin": "CEA combined margin (India, facts E5.11; direct combustion CO2)",
}


def energy_rows(s: Mapping[str, Any]) -> list[dict[str, str]]:
    """Label/value rows of the energy and emissions section, from a plan summary."""
    k = s.get("kpis", {})
    grid = s.get("grid") or {}
    rows = []
    if k.get("grid_series_basis"):
        rows.append({"label": "grid series (intensity and renewable share)",
                     "value": f"{k.get('grid_series')}: {k['grid_series_basis']}"})
    if k.get("co2_combustion_basis"):
        rows.append({"label": "combustion baseline", "value": COMBUSTION_BASIS_TEXT.get(
            str(k["co2_combustion_basis"]), str(k["co2_combustion_basis"]))})
    if k.get("co2_avoided_factor"):
        rows.append({"label": "grid factor of avoided emissions", "value": AVOIDED_FACTOR_TEXT.get(
            str(k["co2_avoided_factor"]), str(k["co2_avoided_factor"]))})
    spec = (
        ("charging_renewable_share", "renewable share of the charging energy (hourly grid mix and on-site PV)", "pct"),
        ("grid_renewable_share", "renewable share of the grid (annual average, same series)", "pct"),
        ("grid_co2_g_per_kwh", "carbon intensity of the grid (annual average) [gCO2e/kWh]", "num"),
        ("charging_co2_g_per_kwh", "CO2 per kWh charged [gCO2e/kWh]", "num"),
        ("renewable_kwh_day", "renewable charging energy [kWh/day]", "num"),
        ("co2_t_year", "CO2 of the charging energy [t/yr]", "num"),
        ("co2_combustion_t_year", "CO2 of combustion vehicles driving the same km [t/yr]", "num"),
        ("co2_avoided_g_per_kwh", "grid factor of avoided emissions [gCO2/kWh]", "num"),
        ("co2_avoided_t_year", "CO2 avoided [t/yr]", "num"),
    )
    for key, label, kind in spec:
        if key in k and k[key] is not None:
            rows.append({"label": label, "value": fmt_pct(k[key], 1) if kind == "pct" else fmt_num(k[key])})
    per_km = k.get("co2_g_per_km_by_segment")
    if isinstance(per_km, Mapping):
        for seg, d in per_km.items():
            if isinstance(d, Mapping):
                rows.append({"label": f"{seg}: gCO2/km, EV charging (grid annual average) vs combustion",
                             "value": f"{fmt_num(d.get('charging_g_per_km'))} vs {fmt_num(d.get('combustion_g_per_km'))}"})
    energy = grid.get("energy")
    if isinstance(energy, Mapping):
        for key, v in energy.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and key not in ("renewable_share", "co2_t_year"):
                rows.append({"label": label_of(key) + " (grid time series)", "value": value_text(key, v)})
    if k.get("co2_method"):
        rows.append({"label": "CO2 method", "value": str(k["co2_method"])})
    return rows
