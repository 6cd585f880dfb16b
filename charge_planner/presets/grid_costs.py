"""Unit costs of distribution-grid reinforcement (project sources table, section P8).

:func:`grid_reinforcement_costs` returns, per country, the installed cost of a distribution
transformer (DT) station of each standard rating, the cost of replacing a DT by one of the next
rating on its structure, of one more 10 or 20 MVA unit at a 33/11 kV substation, of an 11 kV overhead line
and underground cable per km and of an LT (0.4 kV) overhead line and aerial bunched (AB) cable per km,
in the local currency, each as a :class:`~charge_planner.presets.base.Sourced` value. India's figures
are the base; every other country gets India's converted at the presets' USD rates, flagged as such.

No Indian cost schedule could be read into the project's tables (the Forum of Regulators' capital
cost benchmarks, 2010, and the state cost-data schedules list these items, but only their title
pages are readable; P8.10). What is sourced comes from regulators' orders and utilities' figures
quoted in the press (P8.10, P8.11):

* DTs: equipment prices of a 100 kVA DT (1.30 lakh INR, MP West discom, 2022) and a 500 kVA DT
  (4 lakh INR, TANGEDCO, 2023), joined by a power law in the rating; a new DT station installed costs
  the equipment price times 2.5 / 1.30 (KSEB, 2024: installing one 100 kVA DT costs above 2.5 lakh
  INR). Cross-checks: Amroha (PVVNL) business plan 2025-26, 13 new DT stations for 49.96 lakh (3.84
  lakh each, the curve's value near 160 kVA) and 103 DT augmentations for 1.89 crore (1.83 lakh each,
  about the equipment price of the next rating, the curve's replacement cost).
* One more substation unit: half of UPCL's estimate for a new urban 2 x 10 MVA 33/11 kV substation
  with 0.1 km of 33 kV line, Rs 4.49 crore (UERC order of 8 December 2016): an upper estimate for a
  unit added at an existing substation. A 20 MVA unit has no published figure: the 10 MVA unit's cost
  scaled by the DT price curve's exponent, a flagged assumption.
* The 11 kV underground cable in a city: the Hyderabad discom's published spend per km.
* The 11 kV overhead line (ACSR Dog) and the LT aerial bunched cable: a Haryana discom's itemised
  estimate for one district's works (Jind, DDUGJY, about 2015-16; rural, so low for a city today).

The bare LT overhead line has no figure of its own: the AB-cable line's cost bounds it from above.
Every figure is brought from the INR of its date to INR of :data:`PRICE_YEAR` (2024, the year of the
exchange rate) by India's all-commodities Wholesale Price Index (:data:`WPI_MONTHLY`, P8.12): the ratio of
the 2024 mean to the index of the quote's month, or to the mean over the months a spend or an estimate
covers. A general index, not the equipment makers' price-variation formulas, so an approximation.
"""

from __future__ import annotations

import math
from statistics import fmean

from charge_planner.presets.base import INR_PER_USD, CountryPreset, Sourced, _fx_cost

__all__ = ["DT_COST_INR", "DT_UPGRADE_COST_INR", "LINE_COST_INR_PER_KM", "PRICE_YEAR", "SUBSTATION_UNIT_COST_INR",
           "WPI_MONTHLY", "grid_reinforcement_costs", "grid_reinforcement_costs_usd", "wpi_escalation"]

#: The price year of every cost below: the calendar year of the exchange rate ``INR_PER_USD`` (P8.09).
PRICE_YEAR = 2024

#: India's Wholesale Price Index, all commodities (base 2011-12 = 100), by month "YYYY-MM" (P8.12).
#: Apr 2014 - Mar 2018: RBI Handbook of Statistics on Indian Economy 2018, Table 165; Apr 2018 - Mar 2021:
#: the 2022 Handbook, Table 160; later months: the Office of the Economic Adviser's monthly releases (final
#: figures where published, else the provisional ones, marked in P8.12).
WPI_MONTHLY: dict[str, float] = {
    **{f"{2014 + (i + 3) // 12}-{(i + 3) % 12 + 1:02d}": v for i, v in enumerate((
        114.1, 114.8, 115.2, 116.7, 117.2, 116.4, 115.6, 114.1, 112.1, 110.8, 109.6, 109.9,    # 2014-15
        110.2, 111.4, 111.8, 111.1, 110.0, 109.9, 110.1, 109.9, 109.4, 108.0, 107.1, 107.7,    # 2015-16
        109.0, 110.4, 111.7, 111.8, 111.2, 111.4, 111.5, 111.9, 111.7, 112.6, 113.0, 113.2,    # 2016-17
        113.2, 112.9, 112.7, 113.9, 114.8, 114.9, 115.6, 116.4, 115.7, 116.0, 116.1, 116.3,    # 2017-18
        117.3, 118.3, 119.1, 119.9, 120.1, 120.9, 122.0, 121.6, 119.7, 119.2, 119.5, 119.9,    # 2018-19
        121.1, 121.6, 121.5, 121.3, 121.5, 121.3, 122.0, 122.3, 123.0, 123.4, 122.2, 120.4,    # 2019-20
        119.2, 117.5, 119.3, 121.0, 122.0, 122.9, 123.6, 125.1, 125.4, 126.5, 128.1, 129.9,    # 2020-21
    ))},
    "2022-10": 152.5, "2023-06": 148.9,
    **{f"2024-{m:02d}": v for m, v in enumerate((151.2, 151.2, 151.4, 152.9, 153.3, 154.0, 155.2, 154.5, 154.7,
                                                 156.1, 156.0, 155.4), start=1)},
}


def _wpi(first: str, last: str | None = None) -> float:
    """Mean WPI over the months ``first`` to ``last`` (inclusive; one month when ``last`` is None)."""
    months = [m for m in WPI_MONTHLY if first <= m <= (last or first)]
    if not months:
        raise KeyError(f"no WPI month between {first} and {last or first}")
    return fmean(WPI_MONTHLY[m] for m in months)


def wpi_escalation(first: str, last: str | None = None) -> float:
    """Factor that brings INR of the months ``first``..``last`` to INR of :data:`PRICE_YEAR` (WPI ratio, P8.12)."""
    return _wpi(f"{PRICE_YEAR}-01", f"{PRICE_YEAR}-12") / _wpi(first, last)


def _escalated(inr: float, first: str, last: str | None = None) -> tuple[float, str]:
    """``inr`` of the months ``first``..``last`` in INR of the price year, and the words that say how."""
    f = wpi_escalation(first, last)
    when = first if last is None else f"{first} to {last}"
    return inr * f, (f"escalated to {PRICE_YEAR} INR by the all-commodities WPI, x {f:.3f} ({PRICE_YEAR} mean "
                     f"{_wpi(f'{PRICE_YEAR}-01', f'{PRICE_YEAR}-12'):.1f} / {_wpi(first, last):.1f} for {when}; P8.12)")


#: DT equipment prices quoted by utilities (P8.10): "The current cost of a 100 KVA transformer is around
#: 1.30 lakh" (MP West discom MD, Free Press Journal, 2 Oct 2022); "The cost of a 500 kva transformer was
#: Rs 4 lakh" (TANGEDCO, The New Indian Express, 3 Jun 2023) [kVA: (INR, month quoted)].
_DT_PRICE_QUOTED = {100.0: (130_000.0, "2022-10"), 500.0: (400_000.0, "2023-06")}
#: "Installing one 100 kVA transformer costs above Rs 2.50 lakh" (KSEB, Kerala press, April 2024; P8.10) [INR].
_DT_100_INSTALLED_QUOTED = (250_000.0, "2024-04")
#: The quoted prices in INR of the price year [kVA: INR].
_DT_PRICE_INR = {k: _escalated(v, month)[0] for k, (v, month) in _DT_PRICE_QUOTED.items()}
_SRC_DT = ("equipment price on a power law in the rating through 100 kVA 1.30 lakh INR (MP West discom, Free Press "
           f"Journal 2 Oct 2022; {_escalated(1.0, '2022-10')[1]}) and 500 kVA 4 lakh INR (TANGEDCO, The New Indian "
           f"Express 3 Jun 2023; {_escalated(1.0, '2023-06')[1]})")


def _dt_exponent() -> float:
    """Exponent of the DT price curve in the rating, through the two quoted prices [-]."""
    (k0, p0), (k1, p1) = sorted(_DT_PRICE_INR.items())
    return math.log(p1 / p0) / math.log(k1 / k0)


def _dt_price_inr(kva: float) -> float:
    """Equipment price of a DT of ``kva`` on the power law through the two quoted prices [INR of the price year]."""
    k0, p0 = min(_DT_PRICE_INR.items())
    return p0 * (kva / k0) ** _dt_exponent()


def _dt_installed(kva: float) -> Sourced:
    installed, how = _escalated(*_DT_100_INSTALLED_QUOTED)
    factor = installed / _DT_PRICE_INR[100.0]
    beyond = " (extrapolated above 500 kVA)" if kva > 500.0 else ""
    return Sourced(
        round(_dt_price_inr(kva) * factor, -3),
        f"{kva:g} kVA DT station installed (new unit with its structure): {_SRC_DT}{beyond}, times {factor:.3f} "
        "for installation, the ratio of KSEB's 'above Rs 2.50 lakh' to install a 100 kVA DT (Kerala press, Apr "
        f"2024; {how}) to the 100 kVA price, a lower bound; cross-check: PVVNL Amroha business plan 2025-26, 13 new "
        "11/0.4 kV DT stations for 49.96 lakh INR, 3.84 lakh each (Hindustan, 1 Oct 2025) (P8.10)",
        "L",
    )


def _dt_upgrade(kva: float) -> Sourced:
    beyond = " (extrapolated above 500 kVA)" if kva > 500.0 else ""
    return Sourced(
        round(_dt_price_inr(kva), -3),
        f"replacing a DT by a {kva:g} kVA unit on the existing structure: the new unit's equipment price, "
        f"{_SRC_DT}{beyond}; cross-check: PVVNL Amroha business plan 2025-26, 103 DT capacity augmentations for "
        "1.89 crore INR, 1.83 lakh each (Hindustan, 1 Oct 2025); erection labour (about 3,000-5,000 INR) and the "
        "old unit's salvage value are left out (P8.10)",
        "L",
    )


#: Installed cost of one new 11/0.433 kV DT station with its pole-mounted or plinth structure, by rating [INR].
DT_COST_INR: dict[float, Sourced] = {r: _dt_installed(r) for r in (100.0, 160.0, 200.0, 250.0, 315.0, 400.0,
                                                                    500.0, 630.0, 1000.0)}
#: Cost of replacing a DT by one of this rating on the existing structure [INR].
DT_UPGRADE_COST_INR: dict[float, Sourced] = {r: _dt_upgrade(r) for r in DT_COST_INR}

#: UPCL's estimate of 16 Dec 2015 for a new 2 x 10 MVA 33/11 kV substation with 0.10 km of 33 kV line at IHM
#: Nibuwala, Dehradun: Rs 4.49 crore (UERC order of 8 Dec 2016, Petition 05 of 2016; P8.11) [INR].
_UERC_2X10_SUBSTATION_INR = 4.49e7
_UNIT_INR, _UNIT_HOW = _escalated(_UERC_2X10_SUBSTATION_INR / 2.0, "2015-12")

#: Cost of one more 33/11 kV unit of this rating at an existing substation [MVA: INR].
SUBSTATION_UNIT_COST_INR: dict[float, Sourced] = {
    10.0: Sourced(
        round(_UNIT_INR, -3),
        "one more 10 MVA 33/11 kV unit at an existing substation: half of UPCL's estimate of 16 Dec 2015 for a new "
        "urban 2 x 10 MVA substation with 0.10 km of 33 kV line, Rs 4.49 crore (land excluded; UERC order of 8 Dec "
        f"2016, Petition 05 of 2016), 2.245 crore, {_UNIT_HOW}; an upper estimate (the building, the incoming line "
        "and the bays shared by both units are in it); lower published figure: 2 substation capacity augmentations "
        "for 168 lakh INR, 0.84 crore each (PuVVNL Bahraich, about 2019-20, press) (P8.11)",
        "M",
    ),
    20.0: Sourced(
        round(_UNIT_INR * 2.0 ** _dt_exponent(), -3),
        "assumption: one more 20 MVA 33/11 kV unit at an existing substation: no published figure was found; the "
        f"10 MVA unit's cost (P8.11; {_UNIT_HOW}) scaled by (20/10)^{_dt_exponent():.3f}, the exponent of the DT "
        "price curve "
        "through the quoted 100 and 500 kVA prices (P8.10) (P8.11)",
        "assumption",
    ),
}

#: Hyderabad (TSSPDCL): "Since 2014, 11 kV UG cables were upgraded for 281 km at a cost of Rs 66 crore"
#: (The Hans India and The New Indian Express, 6 September 2021; P8.10) [INR, km]; the spend is spread over
#: April 2014 to March 2021, so it is escalated from the mean index of those months.
_HYD_11KV_UG_SPEND_INR = 66 * 1e7
_HYD_11KV_UG_KM = 281.0
_HYD_INR_PER_KM, _HYD_HOW = _escalated(_HYD_11KV_UG_SPEND_INR / _HYD_11KV_UG_KM, "2014-04", "2021-03")

#: UHBVN (Haryana) cost abstract "Rural Electrification Works in Jind District in Haryana under DDUGJY"
#: (prepared by AE/P&D, checked by Xen/P&D, SE/P&D; items 1-13 add up to the printed total of
#: Rs 191,347,037.61; P8.10): "11 KV HT Line (5.8 Kms.) with ACSR Conductor 100mm2 with span 40 meters and
#: double earth wire with guards ... 5.8 Kms. 3003270.32" and "LT Line (0.6 Kms.) with AB cable
#: (3CX95+70 mm2) with span 40 Meters ... 0.6 Kms 231703.29" [INR, km]; prices of about 2015-16 (DDUGJY was
#: launched in December 2014; the abstract prints no year), escalated from the mean index of that fiscal year.
_JIND_11KV_DOG_INR, _JIND_11KV_DOG_KM = 3_003_270.32, 5.8
_JIND_LT_ABC_INR, _JIND_LT_ABC_KM = 231_703.29, 0.6
_JIND_FY = ("2015-04", "2016-03")
_JIND_HOW = _escalated(1.0, *_JIND_FY)[1]
_JIND = ("UHBVN cost abstract 'Rural Electrification Works in Jind District in Haryana under DDUGJY' (AE/Xen/SE "
         "P&D; https://www.scribd.com/document/532901403/Estimate-240)")
_JIND_LT_INR_PER_KM = _escalated(_JIND_LT_ABC_INR / _JIND_LT_ABC_KM, *_JIND_FY)[0]

#: Installed cost of a line per km [INR/km].
LINE_COST_INR_PER_KM: dict[str, Sourced] = {
    "mv_overhead": Sourced(
        round(_escalated(_JIND_11KV_DOG_INR / _JIND_11KV_DOG_KM, *_JIND_FY)[0], -3),
        "new 11 kV overhead line, ACSR 100 mm2 (Dog) on 40 m spans with double earth wire and guards, supply and "
        f"erection, per km: {_JIND}, item 1: 5.8 km for 30.03 lakh INR (5.18 lakh INR/km; items 2-3: ACSR 80 mm2 "
        f"3.76 lakh/km, 50 mm2 3.23 lakh/km), prices of about 2015-16, {_JIND_HOW}; a rural estimate, so low for a "
        "city (P8.10)",
        "M",
    ),
    "mv_cable": Sourced(
        round(_HYD_INR_PER_KM, -3),
        "11 kV underground cable in a city, per km: Rs 66 crore for 281 km of 11 kV UG cable laid by TSSPDCL in "
        "Hyderabad since 2014 (The Hans India / The New Indian Express, 6 Sep 2021), i.e. 23.5 lakh INR/km spent over "
        f"2014-21, {_HYD_HOW}; cable size and road reinstatement not stated; "
        "other published figures: UGVCL estimate 2020, 11 kV XLPE 185 mm2 cable with laying 16.47 lakh INR/km; "
        "BESCOM Bengaluru, Rs 5,400 crore to take over 7,000 km of 11 kV lines (with LT) underground, at most "
        "about 77 lakh INR/km "
        "(P8.10)",
        "L",
    ),
    "lv_overhead": Sourced(
        round(_JIND_LT_INR_PER_KM, -3),
        "LT (0.4 kV) overhead line, bare ACSR on PSC poles, per km: an upper bound, the new AB-cable LT line of "
        f"{_JIND}, item 9 (3.86 lakh INR/km of about 2015-16, {_JIND_HOW}; a bare conductor costs less than the "
        "insulated bundle on the same poles); no bare-line figure found in a readable source (P8.10)",
        "L",
    ),
    "lv_ab_cable": Sourced(
        round(_JIND_LT_INR_PER_KM, -3),
        "new LT line with aerial bunched cable 3x95+1x70 mm2 on 40 m spans (poles included), supply and erection, "
        f"per km: {_JIND}, item 9: 0.6 km for 2.32 lakh INR (3.86 lakh INR/km); item 10, converting 105.74 km of "
        f"bare LT line to AB cable, 3.87 lakh INR/km; prices of about 2015-16, {_JIND_HOW}; a rural estimate, so low "
        "for a city; a published upper bound: Assam's conversion of 12,982 km of LT line to covered "
        "conductor with new poles, 489 DTs and 250 km of 11 kV line for Rs 1,200 crore, under 9.2 lakh INR/km "
        "(The Sentinel, 1 Nov 2024) (P8.10)",
        "M",
    ),
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
        ``"dt_<rating>kva"`` [local currency per DT station installed] and ``"dt_upgrade_<rating>kva"``
        [per DT replaced by one of that rating] for every standard rating, ``"substation_unit_10mva"`` and
        ``"substation_unit_20mva"`` [per 33/11 kV unit added; the 20 MVA one an assumption], and
        ``"mv_overhead_per_km"``, ``"mv_cable_per_km"``, ``"lv_overhead_per_km"``,
        ``"lv_ab_cable_per_km"`` [local currency per km]. Countries other than India get India's
        figures converted at the presets' USD rates (confidence ``"assumption"``).
    """
    items: dict[str, Sourced] = {f"dt_{r:g}kva": s for r, s in DT_COST_INR.items()}
    items.update({f"dt_upgrade_{r:g}kva": s for r, s in DT_UPGRADE_COST_INR.items()})
    items.update({f"substation_unit_{m:g}mva": s for m, s in SUBSTATION_UNIT_COST_INR.items()})
    items.update({f"{k}_per_km": s for k, s in LINE_COST_INR_PER_KM.items()})
    if preset.country == "india":
        return dict(items)
    fx = preset.fx_local_per_usd.value
    return {k: _fx_cost(s, fx, preset.currency, preset.country) for k, s in items.items()}


def grid_reinforcement_costs_usd(preset: CountryPreset) -> dict[str, float]:
    """The same unit costs in USD at the preset's exchange rate (India: ``INR_PER_USD``)."""
    fx = INR_PER_USD if preset.country == "india" else preset.fx_local_per_usd.value
    return {k: round(s.value / fx, 0) for k, s in grid_reinforcement_costs(preset).items()}
