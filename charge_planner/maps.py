"""Interactive folium map of a :class:`~charge_planner.pipeline.Plan`.

Layers: demand per cell (all segments), candidate sites, chosen sites (sized by power),
and the grid (lines coloured by loading, buses by voltage). Every string that comes from
data (OSM names and tags, user labels) is HTML-escaped before it reaches a popup or tooltip.
"""

from __future__ import annotations

import html
import json
import logging
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
from pyproj import Transformer

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

LOADING_COLOURS = ((50.0, "#1a9850"), (80.0, "#fdae61"), (100.0, "#f46d43"), (float("inf"), "#a50026"))


def esc(value: object) -> str:
    """HTML-escape any value for a popup or tooltip."""
    return html.escape("" if value is None else str(value), quote=True)


def loading_colour(loading_percent: float) -> str:
    """Colour of a line or transformer by its loading [%]."""
    for limit, colour in LOADING_COLOURS:
        if loading_percent <= limit:
            return colour
    return LOADING_COLOURS[-1][1]


def _popup(rows: list[tuple[str, object]]) -> folium.Popup:
    body = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return folium.Popup(f"<table>{body}</table>", max_width=320)


def build_map(plan: Plan) -> folium.Map:
    """Build the folium map of a plan (shown inline in Jupyter; ``.save()`` for a standalone file)."""
    city = plan.city
    to_wgs = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True)
    minx, miny, maxx, maxy = city.bounds()
    (w, e), (s, n) = to_wgs.transform([minx, maxx], [miny, maxy])
    tiles = city.config.outputs.map_tiles
    if tiles is None:
        tiles = None if city.synthetic else "OpenStreetMap"
    fmap = folium.Map(location=[(s + n) / 2, (w + e) / 2], tiles=tiles, control_scale=True, prefer_canvas=True)
    title = esc(city.name) + (" — synthetic demo city, not a real place" if city.synthetic else "")
    fmap.get_root().html.add_child(
        folium.Element(
            f"<div style='position:fixed;top:8px;left:50px;z-index:9999;background:white;padding:4px 8px;"
            f"border:1px solid #888;font:14px sans-serif'>{title}</div>"
        )
    )

    if city.synthetic or tiles is None:
        roads = folium.FeatureGroup(name="roads", show=True)
        xs, ys = [], []
        seen = set()
        for u, v, d in city.roads.edges(data=True):
            key = (min(u, v), max(u, v))
            if key in seen:
                continue
            seen.add(key)
            geom = d.get("geometry")
            if geom is not None:
                cx, cy = geom.xy
            else:
                cx = [city.roads.nodes[u]["x"], city.roads.nodes[v]["x"]]
                cy = [city.roads.nodes[u]["y"], city.roads.nodes[v]["y"]]
            xs.append(list(cx))
            ys.append(list(cy))
        lines = []
        for cx, cy in zip(xs, ys, strict=True):
            lon, lat = to_wgs.transform(cx, cy)
            lines.append(list(zip(lat, lon, strict=True)))
        folium.PolyLine(lines, color="#999999", weight=1, opacity=0.7).add_to(roads)
        roads.add_to(fmap)

    # demand per cell, all segments
    dem = plan.demand.groupby("cell_id").agg(energy_kwh_day=("energy_kwh_day", "sum"), geometry=("geometry", "first"))
    dem = gpd.GeoDataFrame(dem, geometry="geometry", crs=city.crs).to_crs("EPSG:4326")
    layer = folium.FeatureGroup(name="demand (kWh/day per cell)", show=True)
    vmax = float(dem["energy_kwh_day"].max()) if len(dem) else 1.0
    for cell_id, r in dem.iterrows():
        frac = float(r["energy_kwh_day"]) / vmax if vmax > 0 else 0.0
        folium.CircleMarker(
            [r.geometry.y, r.geometry.x], radius=2 + 6 * np.sqrt(frac), color=None, fill=True,
            fill_color="#3182bd", fill_opacity=0.25 + 0.5 * frac,
            tooltip=f"{esc(cell_id)}: {r['energy_kwh_day']:.0f} kWh/day",
        ).add_to(layer)
    layer.add_to(fmap)

    cand = plan.candidates.to_crs("EPSG:4326")
    layer = folium.FeatureGroup(name="candidate sites", show=False)
    for sid, r in cand.iterrows():
        folium.CircleMarker(
            [r.geometry.y, r.geometry.x], radius=3, color="#555555", weight=1, fill=True, fill_opacity=0.6,
            popup=_popup([("site", sid), ("name", r["name"]), ("kind", r["kind"]), ("source", r["source"]),
                          ("excluded", r["excluded_reason"] or "no")]),
        ).add_to(layer)
    layer.add_to(fmap)

    if plan.flow is not None and plan.grid is not None:
        _grid_layers(plan, fmap, to_wgs)

    sites = plan.sites.to_crs("EPSG:4326")
    layer = folium.FeatureGroup(name="chosen sites", show=True)
    pmax = float(sites["power_kw"].max()) if len(sites) else 1.0
    types = list(plan.charger_types.index)
    for sid, r in sites.iterrows():
        rows: list[tuple[str, object]] = [("site", sid), ("name", r["name"]), ("kind", r["kind"])]
        rows += [(f"chargers {t}", int(r[f"chargers_{t}"])) for t in types if r[f"chargers_{t}"] > 0]
        rows += [("power kW", f"{r['power_kw']:.0f}"), ("served kWh/day", f"{r['served_kwh_day']:.0f}"),
                 ("utilisation", f"{r['utilisation']:.0%}"), ("capex USD", f"{r['capex_usd']:,.0f}")]
        if "bus_id" in sites.columns:
            rows.append(("grid bus", r["bus_id"]))
        folium.CircleMarker(
            [r.geometry.y, r.geometry.x], radius=5 + 10 * np.sqrt(float(r["power_kw"]) / pmax),
            color="#000000", weight=1, fill=True, fill_color="#e6550d", fill_opacity=0.9,
            popup=_popup(rows), tooltip=esc(r["name"] or sid), class_name="cp-site",
        ).add_to(layer)
    layer.add_to(fmap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(_legend()))
    fmap.fit_bounds([[s, w], [n, e]])
    return fmap


def _grid_layers(plan: Plan, fmap: folium.Map, to_wgs: Transformer) -> None:
    flow = plan.flow
    net = plan.grid.net
    layer = folium.FeatureGroup(name="grid lines (loading %)", show=True)
    geo = net.line["geo"] if "geo" in net.line.columns else None
    for lid, r in flow.lines.iterrows():
        coords: list[Any] | None = None
        if geo is not None and isinstance(geo.get(lid), str):
            try:
                coords = [[c[1], c[0]] for c in json.loads(geo[lid])["coordinates"]]
            except (ValueError, KeyError, TypeError):
                coords = None
        if coords is None:
            fb, tb = flow.buses.loc[r["from_bus"]], flow.buses.loc[r["to_bus"]]
            lon, lat = to_wgs.transform([fb["x_m"], tb["x_m"]], [fb["y_m"], tb["y_m"]])
            coords = list(zip(lat, lon, strict=True))
        folium.PolyLine(
            coords, color=loading_colour(float(r["loading_percent"])), weight=3, opacity=0.9,
            tooltip=f"line {esc(lid)}: {r['loading_percent']:.0f}% loaded" + (f" ({esc(r['violation'])})" if r["violation"] else ""),
        ).add_to(layer)
    layer.add_to(fmap)
    buses = flow.buses.dropna(subset=["x_m", "y_m"])
    layer = folium.FeatureGroup(name="grid buses (voltage pu)", show=False)
    lon, lat = to_wgs.transform(buses["x_m"].to_numpy(), buses["y_m"].to_numpy())
    for (bid, r), la, lo in zip(buses.iterrows(), lat, lon, strict=True):
        bad = bool(r["violation"])
        folium.CircleMarker(
            [la, lo], radius=3 if not bad else 6, color="#a50026" if bad else "#2c7bb6", fill=True,
            tooltip=f"bus {esc(bid)} ({esc(r.get('role', ''))}): {r['vm_pu']:.3f} pu" + (f" {esc(r['violation'])}" if bad else ""),
        ).add_to(layer)
    layer.add_to(fmap)


def _legend() -> str:
    items = "".join(
        f"<div><span style='display:inline-block;width:18px;height:4px;background:{c};margin-right:6px'></span>"
        f"{'≤' if lim != float('inf') else '>'} {lim if lim != float('inf') else 100:.0f}%</div>"
        for lim, c in LOADING_COLOURS
    )
    return (
        "<div style='position:fixed;bottom:24px;left:12px;z-index:9999;background:white;padding:6px 8px;"
        "border:1px solid #888;font:12px sans-serif'><b>Legend</b>"
        "<div><span style='color:#e6550d'>&#9679;</span> chosen site (size: kW)</div>"
        "<div><span style='color:#3182bd'>&#9679;</span> charging demand per cell</div>"
        f"<div><b>grid line loading</b></div>{items}</div>"
    )
