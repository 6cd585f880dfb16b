"""Views of a plan shared by the map, the report and the output files.

The tables each of them shows or writes (opening years, the rollout per site and year, hosting
capacity, the violation table, the grid elements with their load-flow results in EPSG:4326, the
rollout per year) and the number formats, labels and colours they have in common, so that the
map, the report and the files tell the same numbers the same way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, shape

from charge_planner.grid.flow import VIOLATION_COLUMNS

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

__all__ = [
    "DEMAND_COLOUR",
    "UNSERVED_LABELS",
    "WGS84",
    "YEAR_PALETTE",
    "GridLayers",
    "bus_hosting_kw",
    "bus_voltage_column",
    "candidate_flag",
    "fmt_num",
    "fmt_pct",
    "grid_layers",
    "hosting_capacity_kw",
    "hosting_reason",
    "loading_column",
    "opening_years",
    "rollout_summary",
    "rollout_table",
    "trafo3w_points",
    "violation_table",
    "year_colours",
]

#: coordinate reference system of every exported geometry and of the map
WGS84 = "EPSG:4326"
#: colours of opening years, in year order (ColorBrewer Dark2)
YEAR_PALETTE = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
#: colour of the charging demand (map layer, report chart)
DEMAND_COLOUR = "#3182bd"
#: Row labels of the unserved-demand table, per cause.
UNSERVED_LABELS = {
    "no_candidate": "no eligible candidate within reach",
    "not_in_nearest": "candidate beyond the nearest ones kept",
    "out_of_budget": "out of budget",
    "not_opened": "not opened though affordable",
    "out_of_capacity": "out of capacity at opened sites",
}


def fmt_num(v: Any, digits: int | None = 0) -> str:
    """Number with thousands separators, or an em dash when missing.

    ``digits`` is the number of decimals; None writes the shortest form that keeps up to
    six decimals (``11``, ``0.4``, ``12,345.25``). Any other kind of ``digits`` is a
    programming error and raises :class:`TypeError`.
    """
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int | np.integer)):
        raise TypeError(f"fmt_num: digits must be an int or None, got {digits!r}")
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(f):
        return "—"
    if digits is None:
        text = f"{f:,.6f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return f"{f:,.{max(int(digits), 0)}f}"


def fmt_pct(v: Any, digits: int = 0) -> str:
    """Share [0–1] as a percentage, or an em dash when missing.

    A share short of 100 % (or above 0 %) is never rounded to it: more digits are shown instead
    (0.996 -> "99.6%"), so that a report does not call demand fully served when some is not. A share
    within a millionth of the whole or of nothing is a solver's rounding and is written as given
    (0.9999999 -> "100%", not "100.0000%").
    """
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(f):
        return "—"

    def rounds_away(text: str) -> bool:
        return (f < 1.0 and float(text[:-1]) >= 100.0) or (f > 0.0 and float(text[:-1]) <= 0.0)

    given = text = f"{f:.{digits}%}"
    while digits < 4 and rounds_away(text):
        digits += 1
        text = f"{f:.{digits}%}"
    return given if rounds_away(text) else text


def candidate_flag(plan: Plan, sid: Any) -> str:
    """The candidate's flag (e.g. a generated depot candidate), or "" for an ordinary candidate."""
    cand = plan.candidates
    if "flag" not in cand.columns or sid not in cand.index:
        return ""
    v = cand.at[sid, "flag"]
    return str(v) if isinstance(v, str) else ""


def year_colours(years: Sequence[int]) -> dict[int, str]:
    """Colour of each opening year, in year order."""
    return {int(y): YEAR_PALETTE[i % len(YEAR_PALETTE)] for i, y in enumerate(sorted({int(y) for y in years}))}


def opening_years(plan: Plan) -> pd.Series:
    """``year_opened`` of every chosen site (the plan year where the column is missing)."""
    if "year_opened" in plan.sites.columns:
        return plan.sites["year_opened"].fillna(plan.city.config.fleet.year).astype(int)
    return pd.Series(int(plan.city.config.fleet.year), index=plan.sites.index)


def rollout_table(plan: Plan) -> pd.DataFrame:
    """Installed chargers per site and year: columns ``site_id``, ``year``, ``chargers_<type>``.

    Taken from the siting stage's rollout table when it provides one (``plan.rollout`` or
    ``plan.siting.rollout``); otherwise every site's chargers count from its opening year.
    """
    for holder in (plan, plan.siting):
        table = getattr(holder, "rollout", None)
        if isinstance(table, pd.DataFrame) and {"site_id", "year"} <= set(table.columns):
            return table.copy()
    types = [f"chargers_{t}" for t in plan.charger_types.index if f"chargers_{t}" in plan.sites.columns]
    out = plan.sites[types].copy()
    out.insert(0, "year", opening_years(plan).to_numpy())
    return out.rename_axis("site_id").reset_index()


def bus_voltage_column(buses: pd.DataFrame) -> str:
    """``vm_min_pu`` (lowest over a time series) when present, else the snapshot ``vm_pu``."""
    return "vm_min_pu" if "vm_min_pu" in buses.columns else "vm_pu"


def loading_column(table: pd.DataFrame) -> str:
    """``loading_max_percent`` (highest over a time series) when present, else ``loading_percent``."""
    return "loading_max_percent" if "loading_max_percent" in table.columns else "loading_percent"


def bus_hosting_kw(plan: Plan) -> pd.Series | None:
    """Hosting capacity [kW] per grid bus id, when the grid stage computed it."""
    table = plan.grid_results.hosting if plan.grid_results is not None else None
    return table["hosting_capacity_kw"] if table is not None else None


def hosting_reason(plan: Plan, bus: Any) -> str:
    """Why a bus has the hosting capacity it has (e.g. already undervoltage), or ``""``."""
    table = plan.grid_results.hosting if plan.grid_results is not None else None
    if table is None or "reason" not in table.columns or bus is None or bus not in table.index:
        return ""
    reason = table.at[bus, "reason"]
    return reason if isinstance(reason, str) else ""


def hosting_capacity_kw(plan: Plan) -> pd.Series | None:
    """Hosting capacity [kW] at each chosen site's bus, when the grid stage computed it."""
    if "hosting_capacity_kw" in plan.sites.columns:
        return plan.sites["hosting_capacity_kw"]
    per_bus = bus_hosting_kw(plan)
    if per_bus is not None and "bus_id" in plan.sites.columns:
        return plan.sites["bus_id"].map(per_bus)
    return None


def violation_table(plan: Plan) -> pd.DataFrame:
    """The plan's one violation table (``kind``, ``element``, ``id``, ``hours``, ``first``, ``last``,
    ``worst``, ``unit``), for the peak flow and the time series alike; empty without a grid."""
    if plan.grid_results is None:
        return pd.DataFrame(columns=VIOLATION_COLUMNS)
    return plan.grid_results.violations[VIOLATION_COLUMNS]


def trafo3w_points(plan: Plan, buses: gpd.GeoDataFrame) -> dict[Any, tuple[Any, dict[str, Any]]]:
    """Three-winding transformers drawn at their low-voltage bus (else medium, else high):
    id -> (point in EPSG:4326, row of the flow's ``trafos3w`` table)."""
    if plan.grid_results is None:
        return {}
    t3 = plan.grid_results.trafos3w
    if not len(t3) or not len(buses):
        return {}
    at = dict(zip(buses["bus_id"], buses.geometry, strict=True))
    out = {}
    for ident, r in t3.iterrows():
        geom = next((at[b] for b in (r.get("lv_bus"), r.get("mv_bus"), r.get("hv_bus")) if b in at), None)
        if geom is not None:
            out[ident] = (geom, r.to_dict())
    return out


@dataclass
class GridLayers:
    """Grid elements with their load-flow results, in EPSG:4326.

    Attributes
    ----------
    buses
        Points; ``bus_id`` and every column of the flow's bus table (``vm_pu``, ``violation``, …).
    lines
        Line strings (following the cable route where the net has line geodata); ``line_id``, …
    trafos
        Two-winding transformers, points at the low-voltage bus; ``trafo_id``, ``loading_percent``, …
    trafos3w
        Three-winding transformers, points at the low-voltage bus (else the medium-, else the
        high-voltage one, as on the map); ``trafo_id``, ``loading_percent``, ``hv_bus``,
        ``mv_bus``, ``lv_bus``, ``sn_mva``, …
    """

    buses: gpd.GeoDataFrame
    lines: gpd.GeoDataFrame
    trafos: gpd.GeoDataFrame
    trafos3w: gpd.GeoDataFrame | None = None

    def transformer_layer(self) -> gpd.GeoDataFrame:
        """Every transformer as written to the ``grid_trafos`` layer and ``grid_trafos.csv``: the
        two-winding ones with their columns unchanged, then the three-winding ones; ``kind``
        (``trafo`` or ``trafo3w``) after ``trafo_id`` tells them apart, as ids of the two kinds
        may be equal. ``mv_bus`` is empty for two-winding and ``parallel`` for three-winding rows."""
        two = self.trafos.copy()
        two.insert(1, "kind", "trafo")
        three = self.trafos3w
        if three is None or not len(three):
            return two
        three = three.copy()
        three.insert(1, "kind", "trafo3w")
        if not len(two):
            return three
        # integer columns stay integer where one kind has no value (nullable, not float)
        int_cols = [c for c in ("trafo_id", "hv_bus", "mv_bus", "lv_bus", "parallel")
                    if all(pd.api.types.is_integer_dtype(f[c]) for f in (two, three) if c in f.columns)]
        both = pd.concat([two, three], ignore_index=True)
        for col in int_cols:
            if col in both.columns:
                both[col] = both[col].astype("Int64")
        return gpd.GeoDataFrame(both, geometry="geometry", crs=WGS84)


def _line_geometry(geo: Any) -> Any:
    if isinstance(geo, str):
        try:
            return shape(json.loads(geo))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
    if isinstance(geo, dict):
        return shape(geo)
    return None


def grid_layers(plan: Plan) -> GridLayers | None:
    """Grid buses, lines and transformers with their load-flow results, in EPSG:4326.

    Returns None when the plan has no grid (``grid.source = "none"``).
    """
    if plan.grid_results is None:
        return None
    crs = plan.grid_results.model.crs
    flow = plan.grid_results.flow
    located = flow.buses.dropna(subset=["x_m", "y_m"])
    buses = gpd.GeoDataFrame(
        located.drop(columns=["x_m", "y_m"]).rename_axis("bus_id").reset_index(),
        geometry=gpd.points_from_xy(located["x_m"], located["y_m"]),
        crs=crs,
    ).to_crs(WGS84)

    lines = flow.lines
    net_geo = plan.grid.net.line["geo"] if "geo" in plan.grid.net.line.columns else pd.Series(dtype=object)
    routed = [_line_geometry(net_geo.get(lid)) for lid in lines.index]
    # straight lines between the end buses where the net has no route, projected once
    x, y = flow.buses["x_m"], flow.buses["y_m"]
    fx, fy = lines["from_bus"].map(x).to_numpy(float), lines["from_bus"].map(y).to_numpy(float)
    tx, ty = lines["to_bus"].map(x).to_numpy(float), lines["to_bus"].map(y).to_numpy(float)
    ok = np.isfinite(fx) & np.isfinite(fy) & np.isfinite(tx) & np.isfinite(ty)
    straight = gpd.GeoSeries(
        [LineString([(a, b), (c, d)]) if k else None for a, b, c, d, k in zip(fx, fy, tx, ty, ok, strict=True)],
        crs=crs,
    ).to_crs(WGS84)
    geoms = [r if r is not None else s for r, s in zip(routed, straight, strict=True)]
    line_gdf = gpd.GeoDataFrame(lines.rename_axis("line_id").reset_index(), geometry=geoms, crs=WGS84)
    line_gdf = line_gdf[line_gdf.geometry.notna()].reset_index(drop=True)

    trafos = flow.trafos
    at = trafos["lv_bus"] if "lv_bus" in trafos.columns else pd.Series(dtype=float)
    tx_, ty_ = at.map(x).to_numpy(float), at.map(y).to_numpy(float)
    keep = np.isfinite(tx_) & np.isfinite(ty_)
    trafo_gdf = gpd.GeoDataFrame(
        trafos[keep].rename_axis("trafo_id").reset_index(),
        geometry=gpd.points_from_xy(tx_[keep], ty_[keep]),
        crs=crs,
    ).to_crs(WGS84)

    placed = trafo3w_points(plan, buses)
    t3 = flow.trafos3w.loc[[i for i in flow.trafos3w.index if i in placed]]
    trafo3w_gdf = gpd.GeoDataFrame(
        t3.rename_axis("trafo_id").reset_index(), geometry=[placed[i][0] for i in t3.index], crs=WGS84
    )
    return GridLayers(buses=buses, lines=line_gdf, trafos=trafo_gdf, trafos3w=trafo3w_gdf)


def rollout_summary(plan: Plan) -> pd.DataFrame:
    """Per year: sites opened, chargers installed per type, cumulative kW and capital cost.

    Columns ``year``, ``sites_opened``, ``sites_total``, ``chargers_<type>`` (installed that
    year), ``chargers_total``, ``power_added_kw``, ``power_total_kw`` [kW], ``capex_usd`` [USD]
    (the chargers added, and each site's connection: its power band's cost in the year it opens,
    the step to a higher band in the year its power needs it; as the siting model spent it).
    """
    roll = rollout_table(plan)
    types = [t for t in plan.charger_types.index if f"chargers_{t}" in roll.columns]
    ccols = [f"chargers_{t}" for t in types]
    if roll.empty:
        return pd.DataFrame(columns=["year", "sites_opened", "sites_total", *ccols, "chargers_total",
                                     "power_added_kw", "power_total_kw", "capex_usd"])
    roll = roll.sort_values(["site_id", "year"])
    # rollout rows hold chargers installed by that year; the difference is what is added
    added = roll[ccols].astype(float) - roll.groupby("site_id")[ccols].shift(fill_value=0).astype(float)
    added = added.clip(lower=0)
    added["year"] = roll["year"].astype(int).to_numpy()
    per_year = added.groupby("year")[ccols].sum()
    power = pd.Series(plan.charger_types.loc[types, "power_kw"].to_numpy(float), index=ccols)
    capex = pd.Series(plan.charger_types.loc[types, "capex_usd"].to_numpy(float), index=ccols)
    years = opening_years(plan)
    opened = years.value_counts().reindex(per_year.index, fill_value=0)
    out = per_year.copy()
    out.insert(0, "sites_opened", opened.to_numpy())
    out.insert(1, "sites_total", opened.cumsum().to_numpy())
    out["chargers_total"] = per_year.sum(axis=1)
    out["power_added_kw"] = per_year.mul(power).sum(axis=1)
    out["power_total_kw"] = out["power_added_kw"].cumsum()
    if "capex_usd" in roll.columns:  # the siting model's spend per site and year, connections included
        out["capex_usd"] = roll.groupby("year")["capex_usd"].sum().reindex(per_year.index, fill_value=0.0)
    else:
        fixed = 0.0
        if "fixed_cost_usd" in plan.candidates.columns and len(plan.sites):
            fc = plan.candidates["fixed_cost_usd"].reindex(plan.sites.index).fillna(0.0)
            fixed = fc.groupby(years.to_numpy()).sum().reindex(per_year.index, fill_value=0.0)
        out["capex_usd"] = per_year.mul(capex).sum(axis=1) + fixed
    out[ccols + ["chargers_total"]] = out[ccols + ["chargers_total"]].round().astype(int)
    return out.reset_index()
