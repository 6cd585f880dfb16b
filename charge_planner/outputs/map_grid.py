"""The grid's layers of the plan map: buses by voltage, lines and transformers by loading, violations
(with their hours in a time series), and the EV hosting level of every distribution transformer.

Every string from data is escaped with :func:`~charge_planner.outputs.map_elements.esc`.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import folium
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from charge_planner.errors import ChargePlannerError
from charge_planner.outputs.map_elements import (
    LOADING_COLOURS,
    MERGE_UP_TO_PERCENT,
    GeoJsonLayer,
    PlanMap,
    _geom_feature,
    _num,
    _point_feature,
    esc,
    loading_colour,
    voltage_colour,
)
from charge_planner.outputs.views import (
    bus_hosting_kw,
    bus_voltage_column,
    grid_layers,
    loading_column,
    trafo3w_points,
    violation_table,
)
from charge_planner.pipeline.adoption import plan_hosting_level

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

__all__ = ["add_ev_hosting", "add_grid", "violation_hours"]


def violation_hours(plan: Plan) -> dict[tuple[str, Any], float]:
    """Hours in violation per (``bus``/``line``/``trafo``, element id), from a time-series load flow."""
    if plan.grid_results is None or not len(plan.grid_results.violations):
        return {}
    v = plan.grid_results.violations
    return {(str(e), i): float(h) for (e, i), h in v.groupby(["element", "id"])["hours"].sum().items()}


def _when(t: Any) -> str:
    return "?" if t is None or pd.isna(t) else pd.Timestamp(t).strftime("%d %b %H:%M")


#: nominal voltage at or below which a bus is low voltage [kV]
LV_MAX_KV = 1.0
#: bus roles drawn when a large grid is reduced to its MV network
SUBSTATION_ROLES = ("hv", "mv_substation")


def _is_violated(table: pd.DataFrame) -> np.ndarray:
    if "violation" not in table.columns:
        return np.zeros(len(table), dtype=bool)
    v = table["violation"]
    return (v.notna() & (v.astype(str) != "")).to_numpy()


def _mv_lines(lines: pd.DataFrame, buses: pd.DataFrame) -> pd.DataFrame:
    """Lines with both ends above :data:`LV_MAX_KV` (MV and HV), and every violated line."""
    if "vn_kv" not in buses.columns or not {"from_bus", "to_bus"} <= set(lines.columns):
        return lines
    kv = pd.Series(buses["vn_kv"].to_numpy(float), index=buses["bus_id"].to_numpy())
    lv = (lines["from_bus"].map(kv).fillna(np.inf).to_numpy() <= LV_MAX_KV) | (
        lines["to_bus"].map(kv).fillna(np.inf).to_numpy() <= LV_MAX_KV)
    return lines[~lv | _is_violated(lines)]


def _substation_buses(buses: pd.DataFrame) -> pd.DataFrame:
    """Substation buses (roles :data:`SUBSTATION_ROLES` and slack buses) and every violated bus."""
    keep = _is_violated(buses)
    if "role" in buses.columns:
        keep |= buses["role"].astype(str).isin(SUBSTATION_ROLES).to_numpy()
    if "slack" in buses.columns:
        keep |= buses["slack"].fillna(False).astype(bool).to_numpy()
    return buses[keep]


def _merged_light(table: pd.DataFrame, loads: np.ndarray, what: str, colour_key: str,
                  fmap: PlanMap) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Above :attr:`MapDetail.grid_elements` rows, the rows loaded up to :data:`MERGE_UP_TO_PERCENT`
    without a violation as one multi-part feature per loading colour class (its tooltip counts them);
    returns the rows still drawn one by one and the merged features."""
    if len(table) <= fmap.detail.grid_elements:
        return table, []
    light = np.isfinite(loads) & (loads <= MERGE_UP_TO_PERCENT) & ~_is_violated(table)
    feats, lower = [], -np.inf
    for limit, colour in LOADING_COLOURS:
        if limit > MERGE_UP_TO_PERCENT:
            break
        sel = light & (loads > lower) & (loads <= limit)
        parts = shapely.get_parts(table.geometry.to_numpy()[sel])
        parts = parts[~shapely.is_empty(parts)] if len(parts) else parts
        if len(parts):
            geom = shapely.multipoints(parts) if what == "transformers" else shapely.multilinestrings(parts)
            band = f"up to {_num(limit)} %" if not np.isfinite(lower) else f"{_num(lower)}-{_num(limit)} %"
            feats.append(_geom_feature(geom, {colour_key: colour},
                                       f"{_num(int(sel.sum()))} {what} loaded {band} (drawn as one shape)"))
        lower = limit
    fmap.simplified.append(f"grid: {int(light.sum())} of {len(table)} {what} loaded up to "
                           f"{_num(MERGE_UP_TO_PERCENT)} % drawn as one shape per colour class")
    return table[~light], feats


def _reduced(plan: Plan, fmap: PlanMap) -> bool:
    """Whether the grid has more buses than the map draws in full (:attr:`MapDetail.grid_buses`)."""
    return plan.grid_results is not None and len(plan.grid_results.flow.buses) > fmap.detail.grid_buses


def add_grid(plan: Plan, fmap: PlanMap) -> bool:
    layers = grid_layers(plan)
    if layers is None:
        fmap.notes.append("grid: not modelled (grid.source = \"none\")")
        return False
    buses, lines, trafos = layers.buses, layers.lines, layers.trafos
    g = plan.city.config.grid
    hours = violation_hours(plan)
    hosting = bus_hosting_kw(plan)

    def hours_text(kind: str, ident: Any) -> str:
        h = hours.get((kind, ident))
        return f" for {_num(h, 1)} h" if h else ""
    vcol = bus_voltage_column(buses)
    lcol = loading_column(lines)
    n_buses, n_lines = len(buses), len(lines)
    reduced = _reduced(plan, fmap)
    line_label, bus_label = "grid lines (loading %)", f"grid buses ({'lowest ' if vcol == 'vm_min_pu' else ''}voltage pu)"
    if reduced:
        lines, buses = _mv_lines(lines, buses), _substation_buses(buses)
        line_label += f": MV lines, LV lines only where violated ({len(lines)} of {n_lines})"
        bus_label += f": substations and violated buses only ({len(buses)} of {n_buses})"
        fmap.simplified.append(f"grid: {n_buses} buses; MV lines, substations and transformers drawn, LV buses and "
                               "lines only where they violate a limit")

    lines, feats = _merged_light(lines, lines[lcol].to_numpy(float), "lines", "color", fmap)
    if feats:
        line_label += (f"{'; ' if reduced else ': '}{_num(len(lines))} loaded over {_num(MERGE_UP_TO_PERCENT)} % or "
                       "violated drawn one by one, the others merged by colour class")
    for r in lines.itertuples():
        load = float(getattr(r, lcol))
        tip = f"line {esc(r.line_id)}: {_num(load)} % loaded" + (f" — {esc(r.violation)}" if r.violation else "")
        tip += hours_text("line", r.line_id)
        f = _geom_feature(r.geometry, {"color": loading_colour(load)}, tip)
        if f is not None:
            feats.append(f)
    layer = folium.FeatureGroup(name=line_label, overlay=True, show=True)
    GeoJsonLayer(feats, base_style={"weight": 2.5, "opacity": 0.8}).add_to(layer)
    layer.add_to(fmap)

    t3_points = trafo3w_points(plan, buses)
    if (trafos is not None and len(trafos)) or len(t3_points):
        feats, label = [], "grid transformers (loading %)"
        if trafos is not None and len(trafos):
            tcol = loading_column(trafos)
            drawn, feats = _merged_light(trafos, trafos[tcol].to_numpy(float), "transformers", "fillColor", fmap)
            if feats:
                label += (f": {_num(len(drawn))} loaded over {_num(MERGE_UP_TO_PERCENT)} % or violated drawn one by "
                          "one, the others merged by colour class")
            for r in drawn.itertuples():
                load = float(getattr(r, tcol))
                tip = (f"transformer {esc(r.trafo_id)}: {_num(load)} % of "
                       f"{_num(r.sn_mva * 1000 if hasattr(r, 'sn_mva') else None)} kVA"
                       + (f" — {esc(r.violation)}" if r.violation else ""))
                feats.append(_geom_feature(r.geometry, {"fillColor": loading_colour(load)}, tip))
        for ident, (geom, r) in t3_points.items():
            load = float(r.get("loading_percent", np.nan))
            tip = (f"three-winding transformer {esc(ident)}: {_num(load)} % of {_num(r.get('sn_mva', np.nan) * 1000)} kVA"
                   + (f" — {esc(r.get('violation'))}" if r.get("violation") else ""))
            feats.append(_geom_feature(geom, {"radius": 5.5, "weight": 1.5, "fillColor": loading_colour(load)}, tip))
        layer = folium.FeatureGroup(name=label, overlay=True, show=False)
        GeoJsonLayer([f for f in feats if f], base_style={"radius": 4.5, "color": "#333333", "weight": 1, "fill": True,
                                                          "fillOpacity": 0.95}).add_to(layer)
        layer.add_to(fmap)

    feats = []
    for r in buses.itertuples():
        vm = float(getattr(r, vcol))
        colour = voltage_colour(vm, g.vm_min_pu, g.vm_max_pu)
        tip = f"bus {esc(r.bus_id)} ({esc(getattr(r, 'role', ''))}, {_num(getattr(r, 'vn_kv', None), None, 'kV')}): "
        if vcol == "vm_min_pu" and "vm_max_pu" in buses.columns:
            tip += f"{_num(vm, 3)}–{_num(r.vm_max_pu, 3)} pu"
        else:
            tip += f"{_num(vm, 3)} pu"
        if r.violation:
            tip += f"<br>{esc(r.violation)}{hours_text('bus', r.bus_id)}"
        if hosting is not None:
            tip += f"<br>hosting capacity {_num(hosting.get(r.bus_id), unit='kW')}"
            reason = getattr(r, "hosting_reason", "")
            if isinstance(reason, str) and reason and hosting.get(r.bus_id) == 0:
                tip += f" ({esc(reason)})"
        feats.append(_point_feature(float(r.geometry.x), float(r.geometry.y), {"color": colour, "fillColor": colour},
                                    tip))
    layer = folium.FeatureGroup(name=bus_label, overlay=True, show=False)
    GeoJsonLayer(feats, base_style={"radius": 3, "weight": 1, "fill": True, "fillOpacity": 0.9}).add_to(layer)
    layer.add_to(fmap)

    feats = []
    table_v = violation_table(plan)
    where = {
        "bus": dict(zip(layers.buses["bus_id"], layers.buses.geometry, strict=True)),
        "line": dict(zip(layers.lines["line_id"], layers.lines.geometry, strict=True)),
        "trafo": dict(zip(trafos["trafo_id"], trafos.geometry, strict=True)) if trafos is not None else {},
        "trafo3w": {i: geom for i, (geom, _) in t3_points.items()},
    }
    names = {"bus": "bus", "line": "line", "trafo": "transformer", "trafo3w": "three-winding transformer"}
    unplaced = 0
    for r in table_v.itertuples():
        if r.element == "grid":
            fmap.notes.append(f"grid: the load flow did not converge for {_num(r.hours, None)} h "
                              f"({esc(_when(r.first))} to {esc(_when(r.last))}); those hours have no result")
            continue
        geom = where.get(str(r.element), {}).get(r.id)
        if geom is None:
            unplaced += 1
            continue
        unit = str(r.unit)
        value = _num(r.worst, 3 if unit == "pu" else 0, unit)
        tip = f"<b>{esc(r.kind)}</b>: {names.get(str(r.element), esc(r.element))} {esc(r.id)}, {value}"
        if pd.notna(r.hours):
            tip += f" for {_num(r.hours, 1)} h"
        style = ({"color": "#a50026", "weight": 6, "opacity": 0.85} if r.element == "line" else
                 {"radius": 8, "color": "#a50026", "weight": 3, "fill": False})
        f = _geom_feature(geom, style, tip)
        if f is not None:
            feats.append(f)
    if unplaced:
        fmap.notes.append(f"grid: {unplaced} violation(s) at elements without coordinates are listed in "
                          "grid_violations.csv and the report")
    layer = folium.FeatureGroup(name=f"grid violations ({len(feats)})", overlay=True, show=bool(feats))
    GeoJsonLayer(feats).add_to(layer)
    layer.add_to(fmap)
    return True


def add_ev_hosting(plan: Plan, fmap: PlanMap) -> None:
    """Layer "EV hosting per transformer": every DT coloured by the adoption factor (and year) at which
    it first gets a new violation when every EV load of the plan is scaled."""
    if plan.grid_results is None:
        return
    try:
        level = plan_hosting_level(plan)
    except ChargePlannerError as exc:
        fmap.notes.append(f"EV hosting per transformer: {exc}")
        return
    if level is None or not len(level.table):
        return
    t = level.table.dropna(subset=["x_m", "y_m"])
    if not len(t):
        fmap.notes.append("EV hosting per transformer: the transformers have no coordinates")
        return
    n_all = len(t)
    reduced = _reduced(plan, fmap)
    if reduced:
        limited = np.isfinite(t["factor"].to_numpy(float)) | t["already"].astype(bool).to_numpy()
        t = t[limited]
    to_wgs = Transformer.from_crs(level.crs or plan.city.crs, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(t["x_m"].to_numpy(float), t["y_m"].to_numpy(float))
    y0 = level.plan_year
    classes = ((1.0, "#a50026", f"by {y0}"), (2.0, "#f46d43", f"up to 2x the {y0} EV energy"),
               (level.max_factor, "#fee08b", f"up to {level.max_factor:g}x"))
    feats = []
    for (dt, r), x, y in zip(t.iterrows(), lon, lat, strict=True):
        factor = float(r["factor"])
        colour, when = "#1a9850", f"none up to {level.max_factor:g}x"
        for upper, c, text in classes:
            if math.isfinite(factor) and factor <= upper:
                colour, when = c, text
                break
        year = float(r["year"]) if pd.notna(r["year"]) else None
        tip = f"<b>transformer {esc(r['name'])}</b> (DT {esc(dt)})<br>"
        if math.isfinite(factor):
            tip += (f"first new violation at {_num(factor, 2)} x the {y0} EV energy ({esc(r['limit'])}); "
                    f"reached on the adoption path: {esc(level.year_label(year))}")
        else:
            tip += f"no new violation up to {level.max_factor:g} x the {y0} EV energy"
        if r["already"]:
            tip += f"<br>violated already without EV: {esc(r['already'])}"
        tip += f"<br>class: {esc(when)}"
        style: dict[str, Any] = {"radius": 4 if math.isfinite(factor) else 2.5, "fillColor": colour}
        style.update({"color": "#000000", "weight": 2} if r["already"] else {"color": colour})
        feats.append(_point_feature(float(x), float(y), style, tip))
    name = (f"EV hosting per transformer (first new violation: red by {y0}, orange up to 2x, yellow up to "
            f"{level.max_factor:g}x the {y0} EV energy, green none)")
    if reduced:
        name += f": only the {len(t)} of {n_all} transformers with a violation up to {level.max_factor:g}x"
        fmap.simplified.append(f"EV hosting per transformer: {n_all - len(t)} transformers without a new violation up to "
                               f"{level.max_factor:g}x the {y0} EV energy not drawn")
    layer = folium.FeatureGroup(name=esc(name), overlay=True, show=False)
    GeoJsonLayer(feats, base_style={"weight": 1, "fill": True, "fillOpacity": 0.9}).add_to(layer)
    layer.add_to(fmap)


# ---------------------------------------------------------------------------------------------
# map furniture
# ---------------------------------------------------------------------------------------------
