"""Interactive folium map of a :class:`~charge_planner.pipeline.Plan`.

Layers
    charging demand per cell by segment and year (one radio button per view), candidate
    sites, chosen sites (sized by power, coloured by opening year, one layer per year),
    coverage isochrones, coverage gaps (cells with unserved demand, outlined by its main cause:
    no candidate within reach, out of budget, out of capacity, ...), road network, grid lines
    and transformers coloured by loading, buses by voltage, and grid violations; with a
    legend, a layer control and popups.

Scale
    above the sizes of :class:`~charge_planner.outputs.map_elements.MapDetail` (far above a
    district; a whole metro crosses them) a layer is drawn in less detail, and says so in its
    name and in the legend: demand cells merged into k × k blocks, major roads only, the MV grid
    with substations and transformers (LV buses and lines only where they violate a limit, EV
    hosting only at transformers that reach a new violation), and candidate and chosen sites as
    Leaflet.markercluster clusters. Coordinates are rounded to 1e-5 degree (about 1 m), path
    options every feature of a layer shares are written once, and candidate and site popups
    travel as rows that the browser turns into a table.

Safety
    every string that comes from data (OSM names and tags, user labels, config names) is
    HTML-escaped with :func:`esc` before it reaches a popup, tooltip or layer name, and every
    JSON payload embedded in a ``<script>`` has ``<``, ``>`` and ``&`` escaped.

Offline
    :class:`PlanMap` renders a standalone HTML file (``save``/``to_html``) or an inline
    Jupyter view. With ``offline=True`` (the default) the Leaflet and jQuery code folium
    links from CDNs is inlined from the installed ``xstatic-leaflet`` and ``xstatic-jquery``
    packages (and Leaflet.markercluster, when markers are clustered, from
    ``xstatic-leaflet-markercluster``), so the map works without internet; only basemap
    tiles, if any, need a network. The folium default resources that only serve icon
    markers (Bootstrap, glyphicons, Font Awesome, Leaflet.awesome-markers) are dropped; a map
    that uses them, or any plugin without an offline copy, raises :class:`MapError` rather
    than render blank.

Rendered HTML is deterministic: folium's random element ids are renumbered in order.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from charge_planner.errors import ChargePlannerError
from charge_planner.network import isochrones
from charge_planner.outputs.map_elements import (
    GAP_COLOUR,
    ISOCHRONE_COLOUR,
    LOADING_COLOURS,
    NEAR_LIMIT,
    NEAR_LIMIT_PU,
    NORMAL_V,
    OSM_ATTRIBUTION,
    OVERVOLTAGE,
    SITE_CLASS,
    UNDERVOLTAGE,
    GeoJsonLayer,
    MapDetail,
    MapError,
    PlanMap,
    _geom_feature,
    _MapScript,
    _num,
    _point_feature,
    _popup,
    _rc,
    esc,
    inline_assets,
    loading_colour,
    script_json,
    voltage_colour,
)
from charge_planner.outputs.map_grid import add_ev_hosting, add_grid
from charge_planner.outputs.views import (
    DEMAND_COLOUR,
    UNSERVED_LABELS,
    bus_voltage_column,
    candidate_flag,
    fmt_pct,
    hosting_capacity_kw,
    hosting_reason,
    opening_years,
    rollout_table,
    year_colours,
)
from charge_planner.siting.unserved import CAUSES, unserved_demand

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

__all__ = [
    "LOADING_COLOURS",
    "MapDetail",
    "MapError",
    "PlanMap",
    "build_map",
    "esc",
    "inline_assets",
    "loading_colour",
    "voltage_colour",
]

# ---------------------------------------------------------------------------------------------
# data pulled from the plan (tolerant of stages that add columns later)
# ---------------------------------------------------------------------------------------------
def plan_years(plan: Plan) -> list[int]:
    """Years present in the plan's demand table (the plan year when there is no ``year``)."""
    if "year" in plan.demand.columns and len(plan.demand):
        return sorted({int(y) for y in plan.demand["year"].unique()})
    return [int(plan.city.config.fleet.year)]


def default_isochrone_minutes(plan: Plan) -> list[float]:
    """Drive times of the coverage areas [min]: ``outputs.isochrone_minutes``, else the shortest cut-off."""
    configured = getattr(plan.city.config.outputs, "isochrone_minutes", None)
    if configured:
        return sorted({float(m) for m in configured})
    if "cutoff_min" in plan.segments.columns and plan.segments["cutoff_min"].notna().any():
        return [float(plan.segments["cutoff_min"].min())]
    return [10.0]


def plan_isochrones(plan: Plan, minutes: Sequence[float] | None = None) -> tuple[gpd.GeoDataFrame | None, str]:
    """Coverage isochrones of the chosen sites in EPSG:4326, and a note when there are none.

    Uses ``plan.isochrones`` when the pipeline stored them, else
    :func:`charge_planner.network.isochrones`.
    """
    iso = getattr(plan, "isochrones", None)
    if iso is None:
        if not getattr(plan.city.config.outputs, "isochrones", True):
            return None, "drive-time areas: not drawn (set outputs.isochrones = true to draw them)"
        if len(plan.sites) == 0:
            return None, "drive-time areas: the plan opens no site"
        mins = list(minutes) if minutes is not None else default_isochrone_minutes(plan)
        t0 = time.perf_counter()
        try:
            iso = isochrones(plan.city.roads, plan.sites["node_id"], mins)
        except ChargePlannerError as exc:
            log.warning("isochrones skipped: %s", exc)
            return None, f"drive-time areas: {exc}"
        log.info("isochrones of %d sites at %s min in %.1f s", len(plan.sites), mins, time.perf_counter() - t0)
    if not isinstance(iso, gpd.GeoDataFrame) or len(iso) == 0:
        return None, "drive-time areas: none computed"
    if iso.crs is None:
        iso = iso.set_crs(plan.city.crs)
    return iso.to_crs("EPSG:4326"), ""


# ---------------------------------------------------------------------------------------------
# layers
# ---------------------------------------------------------------------------------------------
#: highway classes drawn when a large network is reduced to its major roads (with their ``_link`` ramps)
MAJOR_ROADS = ("motorway", "trunk", "primary", "secondary", "tertiary")


def _is_major(highway: Any) -> bool:
    values = highway if isinstance(highway, list | tuple) else [highway]
    return any(str(v).removesuffix("_link") in MAJOR_ROADS for v in values if v is not None)


def _road_features(plan: Plan, to_wgs: Transformer, *, major_only: bool = False) -> tuple[list[dict[str, Any]], int, int]:
    """One feature per road name (MultiLineString of its edges); unnamed edges share one.

    Returns the features, the number of road edges drawn and of edges in the network; with
    ``major_only`` only edges whose ``highway`` class is in :data:`MAJOR_ROADS` are drawn.
    """
    g = plan.city.roads
    xs: dict[int, float] = dict(g.nodes(data="x"))
    ys: dict[int, float] = dict(g.nodes(data="y"))
    by_name: dict[str, list[list[list[float]]]] = {}
    seen: set[tuple[Any, Any]] = set()
    parts_x: list[np.ndarray] = []
    parts_y: list[np.ndarray] = []
    names: list[str] = []
    for u, v, d in g.edges(data=True):
        key = (u, v) if str(u) <= str(v) else (v, u)
        if key in seen:
            continue
        seen.add(key)
        if major_only and not _is_major(d.get("highway")):
            continue
        geom = d.get("geometry")
        if geom is not None:
            cx, cy = geom.xy
            parts_x.append(np.asarray(cx))
            parts_y.append(np.asarray(cy))
        else:
            parts_x.append(np.array([xs[u], xs[v]]))
            parts_y.append(np.array([ys[u], ys[v]]))
        name = d.get("name", "")
        if isinstance(name, list | tuple):
            name = " / ".join(str(n) for n in name)
        names.append("" if name is None or (isinstance(name, float) and math.isnan(name)) else str(name))
    if not parts_x:
        return [], 0, len(seen)
    lengths = np.array([len(p) for p in parts_x])
    lon, lat = to_wgs.transform(np.concatenate(parts_x), np.concatenate(parts_y))
    lon, lat = _rc(lon), _rc(lat)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    for i, name in enumerate(names):
        a, b = bounds[i], bounds[i + 1]
        by_name.setdefault(name, []).append(np.column_stack([lon[a:b], lat[a:b]]).tolist())
    feats = []
    for name in sorted(by_name):
        props: dict[str, Any] = {"tip": esc(name)} if name else {"style": {"interactive": False}}
        feats.append({"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": by_name[name]},
                      "properties": props})
    return feats, len(names), len(seen)


#: path options shared by every road feature
ROAD_STYLE = {"color": "#8c8c8c", "weight": 1.2, "opacity": 0.7, "interactive": True}


def _cell_blocks(plan: Plan, cells: gpd.GeoSeries, limit: int) -> tuple[int, pd.Series, gpd.GeoSeries]:
    """Neighbouring demand cells merged into square blocks of k × k cells, k the smallest that leaves at most
    ``limit`` blocks: (k, block label of every cell, block centre (mean of its cells' centres) by label).
    With k = 1 every cell is its own block."""
    n = len(cells)
    if n <= limit:
        return 1, pd.Series(cells.index, index=cells.index), cells
    x, y = cells.x.to_numpy(), cells.y.to_numpy()
    size = float(getattr(plan.city.config.demand, "cell_size_m", 0) or 0)
    if not size > 0:  # the spacing of the cell centres
        ux = np.unique(np.round(x, 3))
        size = float(np.median(np.diff(ux))) if len(ux) > 1 else 1.0
    k = 2
    while True:
        ix = np.floor((x - x.min()) / (k * size) + 1e-9).astype(np.int64)
        iy = np.floor((y - y.min()) / (k * size) + 1e-9).astype(np.int64)
        labels = pd.Series([f"b{k}_{i:04d}_{j:04d}" for i, j in zip(ix, iy, strict=True)], index=cells.index)
        if labels.nunique() <= limit:
            break
        k += 1
    frame = pd.DataFrame({"x": x, "y": y, "block": labels.to_numpy()})
    centre = frame.groupby("block", sort=True)[["x", "y"]].mean()
    pts = gpd.GeoSeries(gpd.points_from_xy(centre["x"], centre["y"]), index=centre.index, crs=cells.crs)
    return k, labels, pts


def _demand_views(plan: Plan, limit: int | None = None) -> tuple[list[tuple[str, int, str | None, list[dict[str, Any]]]], int, int]:
    """(label, year, segment or None, features) of every demand view, the block size k (cells merged into
    k × k blocks when there are more than ``limit`` cells; 1: one marker per cell) and the number of cells."""
    d = plan.demand
    if len(d) == 0:
        return [], 1, 0
    cells = d.groupby("cell_id", sort=True)["geometry"].first()
    cell_pts = gpd.GeoSeries(cells.to_numpy(), index=cells.index, crs=plan.city.crs)
    k, block_of, centres = _cell_blocks(plan, cell_pts, limit or len(cells))
    pts = centres.to_crs("EPSG:4326")
    lon = pd.Series(_rc(pts.x.to_numpy()), index=pts.index)
    lat = pd.Series(_rc(pts.y.to_numpy()), index=pts.index)
    members = block_of.groupby(block_of.to_numpy()).agg(["first", "size"]) if k > 1 else None
    years = d["year"] if "year" in d.columns else pd.Series(plan.city.config.fleet.year, index=d.index)
    cols = [c for c in ("energy_kwh_day", "sessions_day", "peak_kw") if c in d.columns]
    frame = d[["cell_id", "segment", *cols]].assign(year=years.astype(int).to_numpy())
    frame["cell_id"] = frame["cell_id"].map(block_of)
    per_seg = frame.groupby(["segment", "year", "cell_id"], sort=True)[cols].sum()
    total = frame.groupby(["year", "cell_id"], sort=True)[cols].sum()
    views: list[tuple[str, int, str | None, list[dict[str, Any]]]] = []
    segments = [s for s in plan.segments.index if s in set(frame["segment"])] + sorted(
        set(frame["segment"]) - set(plan.segments.index)
    )

    def name(cid: str) -> str:
        if members is None:
            return f"<b>{esc(cid)}</b>"
        first, size = members.loc[cid, "first"], int(members.loc[cid, "size"])
        return f"<b>{size} cells from {esc(first)}</b> ({k}×{k} block)"

    def features(table: pd.DataFrame, label: str, vmax: float) -> list[dict[str, Any]]:
        e = table["energy_kwh_day"].to_numpy(dtype=float)
        frac = np.sqrt(np.clip(e / vmax, 0.0, 1.0)) if vmax > 0 else np.zeros_like(e)
        cell_ids = table.index.get_level_values("cell_id")
        sess = table["sessions_day"].to_numpy(dtype=float) if "sessions_day" in table else np.full(len(e), np.nan)
        peak = table["peak_kw"].to_numpy(dtype=float) if "peak_kw" in table else np.full(len(e), np.nan)
        out = []
        for cid, ei, fi, si, pi in zip(cell_ids, e, frac, sess, peak, strict=True):
            if ei <= 0:
                continue
            tip = (f"{name(cid)} · {label}<br>{_num(ei)} kWh/day · {_num(si, 1)} sessions/day"
                   f" · peak {_num(pi, 1)} kW")
            style = {"radius": round(2.0 + 9.0 * fi, 2), "fillOpacity": round(0.2 + 0.55 * fi, 3)}
            out.append(_point_feature(float(lon[cid]), float(lat[cid]), style, tip))
        return out

    for year in sorted(total.index.get_level_values("year").unique()):
        t = total.xs(year, level="year", drop_level=False)
        vmax = float(total["energy_kwh_day"].max())
        label = f"all segments, {year}"
        views.append((label, int(year), None, features(t, esc(label), vmax)))
        for seg in segments:
            if (seg, year) not in per_seg.index.droplevel("cell_id"):
                continue
            t = per_seg.xs((seg, year), level=("segment", "year"), drop_level=False)
            vmax = float(per_seg.xs(seg, level="segment")["energy_kwh_day"].max())
            label = f"{str(seg).replace('_', ' ')}, {year}"
            views.append((label, int(year), str(seg), features(t, esc(label), vmax)))
    return views, k, len(cells)


#: path options shared by every demand marker
DEMAND_STYLE = {"stroke": False, "fill": True, "fillColor": DEMAND_COLOUR}


def _site_popup(
    plan: Plan, sid: Any, r: pd.Series, hosting: pd.Series | None, roll: dict[Any, pd.DataFrame]
) -> list[Any]:
    types = plan.charger_types
    rows: list[tuple[str, str]] = [("site", esc(sid)), ("kind", esc(r.get("kind", "")))]
    flag = candidate_flag(plan, sid)
    if flag:
        rows.append(("note", f"<b>{esc(flag)}</b>"))
    if "year_opened" in r.index:
        rows.append(("opened", esc(int(r["year_opened"]))))
    for t in types.index:
        n = r.get(f"chargers_{t}", 0)
        if n and n > 0:
            rows.append((f"chargers {esc(t)}", f"{int(n)} × {_num(types.loc[t, 'power_kw'], 1, 'kW')}"))
    rows += [
        ("installed power", _num(r.get("power_kw"), unit="kW")),
        ("served energy", _num(r.get("served_kwh_day"), unit="kWh/day")),
        ("utilisation", fmt_pct(r.get("utilisation"))),
        ("capital cost", _num(r.get("capex_usd"), unit="USD")),
    ]
    if "connection_cost_usd" in r.index:
        band = esc(r.get("connection_band") or "")
        rows.append(("of which connection", _num(r["connection_cost_usd"], unit="USD") + (f" ({band})" if band else "")))
    if "bus_id" in r.index and pd.notna(r["bus_id"]):
        bus = r["bus_id"]
        text = f"bus {esc(bus)}"
        if "grid_level" in r.index:
            text += f" ({esc(str(r['grid_level']).upper())})"
        rows.append(("grid connection", text))
        if plan.flow is not None and bus in plan.flow.buses.index:
            b = plan.flow.buses.loc[bus]
            col = bus_voltage_column(plan.flow.buses)
            rows.append(("bus voltage" + (" (min)" if col == "vm_min_pu" else " at peak"), _num(b[col], 3, "pu")))
    if hosting is not None:
        rows.append(("hosting capacity", _num(hosting.get(sid), unit="kW")))
        reason = hosting_reason(plan, r.get("bus_id"))
        if reason and hosting.get(sid) == 0:
            rows.append(("why", esc(reason)))
    else:
        rows.append(("hosting capacity", "not computed"))
    mine = roll.get(sid)
    if mine is not None and len(mine) > 1:
        ccols = [c for c in mine.columns if c.startswith("chargers_")]
        steps = ", ".join(f"{int(y)}: {int(n)}" for y, n in zip(mine["year"], mine[ccols].sum(axis=1), strict=True))
        rows.append(("chargers installed by year", esc(steps)))
    title = esc(r.get("name") or sid)
    return _popup(rows, title)


def _add_sites(plan: Plan, fmap: PlanMap) -> dict[int, str]:
    sites = plan.sites.to_crs("EPSG:4326")
    years = opening_years(plan)
    colours = year_colours(years.tolist()) if len(sites) else {}
    pmax = float(sites["power_kw"].max()) if len(sites) else 1.0
    hosting = hosting_capacity_kw(plan)
    roll = {sid: part.sort_values("year") for sid, part in rollout_table(plan).groupby("site_id", sort=False)}
    folium.map.CustomPane("cp_sites", z_index=450, pointer_events=True).add_to(fmap)
    cluster = len(sites) > fmap.detail.markers
    if cluster:
        fmap.simplified.append(f"chosen sites: {len(sites)} sites, clustered (the number in a cluster counts its sites;"
                               " zoom in to split it)")
    for year in sorted(colours):
        mine = sites[years.to_numpy() == year]
        feats = []
        for sid, r in mine.iterrows():
            frac = math.sqrt(max(float(r["power_kw"]), 0.0) / pmax) if pmax > 0 else 0.0
            style = {"radius": round(5 + 10 * frac, 2), "fillColor": colours[year], "fillOpacity": 0.9,
                     "className": SITE_CLASS}
            tip = f"{esc(r.get('name') or sid)} · {_num(r['power_kw'], unit='kW')}"
            if candidate_flag(plan, sid):
                tip += f"<br>{esc(candidate_flag(plan, sid))}"
            feats.append(_point_feature(float(r.geometry.x), float(r.geometry.y), style, tip,
                                        _site_popup(plan, sid, r, hosting, roll)))
        label = f"chosen sites opened {year} ({len(feats)})" if len(colours) > 1 else f"chosen sites ({len(feats)})"
        layer = folium.FeatureGroup(name=label + (", clustered" if cluster else ""), overlay=True, show=True)
        GeoJsonLayer(feats, svg_pane="cp_sites", base_style=SITE_STYLE, cluster=cluster).add_to(layer)
        layer.add_to(fmap)
        fmap.site_markers += len(feats)
    if not len(sites):
        fmap.notes.append("chosen sites: the plan opens no site")
    return colours


#: path options shared by every chosen-site marker
SITE_STYLE = {"color": "#222222", "weight": 1, "fill": True}
#: path options shared by every candidate marker
CANDIDATE_STYLE = {"radius": 3.5, "color": "#555555", "weight": 1, "fill": True, "fillColor": "#969696",
                   "fillOpacity": 0.8}


def _add_candidates(plan: Plan, fmap: PlanMap) -> None:
    cand = plan.candidates.to_crs("EPSG:4326")
    chosen = set(plan.sites.index)
    feats = []
    for sid, r in cand.iterrows():
        excluded = str(r.get("excluded_reason") or "")
        rows = [("site", esc(sid)), ("kind", esc(r.get("kind", ""))), ("source", esc(r.get("source", "")))]
        flag = str(r.get("flag") or "")
        if flag:
            rows.append(("note", f"<b>{esc(flag)}</b>"))
            if pd.notna(r.get("area_m2")) and float(r["area_m2"]) > 0:
                rows.append(("land area", _num(r["area_m2"], unit="m²")))
        if "max_chargers" in r.index:
            rows.append(("max chargers", _num(r["max_chargers"])))
        if "existing_chargers" in r.index:
            rows.append(("existing chargers", _num(r["existing_chargers"])))
        if "fixed_cost_usd" in r.index and float(r["fixed_cost_usd"] or 0) > 0:
            rows.append(("site cost besides its connection", _num(r["fixed_cost_usd"], unit="USD")))
        rows.append(("status", esc("chosen" if sid in chosen else f"excluded: {excluded}" if excluded else "not chosen")))
        style: dict[str, Any] = {"color": "#a50026", "fillColor": "#ffffff"} if excluded else {}
        if flag:
            style.update({"color": GENERATED_DEPOT_COLOUR, "weight": 2})
        tip = esc(r.get("name") or sid) + (f"<br>{esc(flag)}" if flag else "")
        feats.append(_point_feature(float(r.geometry.x), float(r.geometry.y), style,
                                    tip, _popup(rows, esc(r.get("name") or sid))))
    cluster = len(feats) > fmap.detail.markers
    if cluster:
        fmap.simplified.append(f"candidate sites: {len(feats)} candidates, clustered (zoom in to split a cluster)")
    layer = folium.FeatureGroup(name=f"candidate sites ({len(feats)}{', clustered' if cluster else ''})", overlay=True,
                                show=False)
    GeoJsonLayer(feats, base_style=CANDIDATE_STYLE, cluster=cluster).add_to(layer)
    layer.add_to(fmap)


#: Outline colour of generated depot candidates (not tagged depots).
GENERATED_DEPOT_COLOUR = "#e7298a"


#: Outline colour of the unserved-demand cells by their main cause.
CAUSE_COLOURS = {
    "no_candidate": GAP_COLOUR,
    "not_in_nearest": "#7570b3",
    "out_of_budget": "#d95f02",
    "not_opened": "#666666",
    "out_of_capacity": "#1b9e77",
}


def unserved_table(plan: Plan) -> pd.DataFrame:
    """The plan's unserved demand by cause (:attr:`Plan.unserved`, computed from the siting when absent)."""
    if plan.unserved is not None:
        return plan.unserved
    return unserved_demand(plan.siting, plan.travel)


def _add_coverage_gaps(plan: Plan, fmap: PlanMap) -> int:
    """Cells of the plan year with unserved demand, outlined in the colour of their main cause; the
    tooltip gives the unserved energy of every cause (:mod:`charge_planner.siting.unserved`)."""
    year = plan.city.config.fleet.year
    u = unserved_table(plan)
    u = u[(u["year"] == year) & (u["unserved_kwh_day"] > 0)]
    u = u.join(plan.demand[["cell_id", "geometry"]], how="inner")
    feats = []
    counts: dict[str, int] = {}
    if len(u):
        by = u.pivot_table(index="cell_id", columns="cause", values="unserved_kwh_day", aggfunc="sum", fill_value=0.0)
        by = by[[c for c in CAUSES if c in by.columns]]
        geom = u.groupby("cell_id")["geometry"].first().reindex(by.index)
        segs = u.groupby(["cell_id", "cause"])["segment"].agg(
            lambda s: ", ".join(sorted({str(v).replace("_", " ") for v in s})))
        pts = gpd.GeoSeries(geom.to_numpy(), crs=plan.city.crs).to_crs("EPSG:4326")
        total = by.sum(axis=1)
        emax = float(total.max())
        for (cid, r), pt in zip(by.iterrows(), pts, strict=True):
            main = str(r.idxmax())
            counts[main] = counts.get(main, 0) + 1
            frac = math.sqrt(float(total[cid]) / emax) if emax > 0 else 0.0
            parts = [f"{_num(v)} kWh/day {esc(UNSERVED_LABELS[c])} ({esc(segs[(cid, c)])})"
                     for c, v in r.items() if v > 0]
            tip = f"<b>{esc(cid)}</b>: {_num(total[cid])} kWh/day unserved<br>" + "<br>".join(parts)
            feats.append(_point_feature(pt.x, pt.y, {"radius": round(3 + 8 * frac, 2), "color": CAUSE_COLOURS[main]},
                                        tip))
    what = ", ".join(f"{UNSERVED_LABELS[c]} {counts[c]}" for c in CAUSES if counts.get(c))
    name = f"coverage gaps {year}: unserved demand by main cause ({len(feats)} cells{': ' + what if what else ''})"
    layer = folium.FeatureGroup(name=esc(name), overlay=True, show=False)
    GeoJsonLayer(feats, base_style={"weight": 2, "fill": False}).add_to(layer)
    layer.add_to(fmap)
    return len(feats)


def _add_isochrones(iso: gpd.GeoDataFrame, fmap: PlanMap) -> None:
    minutes = sorted({float(m) for m in iso["minutes"]}) if "minutes" in iso.columns else [float("nan")]
    for m in minutes:
        part = iso[iso["minutes"] == m] if "minutes" in iso.columns else iso
        geom = part.geometry.union_all()
        label = f"{m:g}-minute drive" if math.isfinite(m) else "coverage"
        feat = _geom_feature(geom, {"stroke": False, "fillColor": ISOCHRONE_COLOUR, "fillOpacity": 0.18,
                                    "interactive": False})
        if feat is None:
            continue
        layer = folium.FeatureGroup(name=f"coverage: {esc(label)} of a chosen site", overlay=True, show=m == minutes[0])
        GeoJsonLayer([feat]).add_to(layer)
        layer.add_to(fmap)


def _demand_selector(
    fmap: PlanMap, views: list[tuple[str, int, str | None, list[dict[str, Any]]]], view_layers: dict[str, str],
    default_year: int, unit: str = "kWh/day per cell",
) -> None:
    """A control with two drop-downs (segment, year) that shows one demand view at a time."""
    segments: list[str] = []
    for _, _, seg, _ in views:
        if seg is not None and seg not in segments:
            segments.append(seg)
    years = sorted({y for _, y, _, _ in views})
    seg_options = "<option value='' selected>all segments</option>" + "".join(
        f"<option value='{esc(s)}'>{esc(s.replace('_', ' '))}</option>" for s in segments
    ) + "<option value='-'>none</option>"
    year_options = "".join(
        f"<option value='{y}'{' selected' if y == default_year else ''}>{y}</option>" for y in years
    )
    box = (
        f"<b>Charging demand</b> <span class='cp-unit'>{esc(unit)}</span><br>"
        f"<select class='cp-seg' aria-label='segment'>{seg_options}</select> "
        f"<select class='cp-year' aria-label='year'>{year_options}</select>"
    )
    layers = "{" + ",".join(f"{script_json(k)}: {v}" for k, v in view_layers.items()) + "}"
    code = f"""
        var layers = {layers};
        var ctl = L.control({{position: 'topright'}});
        ctl.onAdd = function () {{
            var div = L.DomUtil.create('div', 'cp-box cp-demand');
            div.innerHTML = {script_json(box)};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            var seg = div.querySelector('.cp-seg'), year = div.querySelector('.cp-year');
            function show() {{
                Object.keys(layers).forEach(function (k) {{ map.removeLayer(layers[k]); }});
                var chosen = layers[seg.value + '|' + year.value];
                if (seg.value !== '-' && chosen) {{ map.addLayer(chosen); chosen.bringToBack(); }}
            }}
            seg.addEventListener('change', show);
            year.addEventListener('change', show);
            return div;
        }};
        ctl.addTo(map);
    """
    _MapScript(code).add_to(fmap)


_CSS = """
<style>
html .leaflet-container { font: 13px/1.4 "Helvetica Neue", Arial, sans-serif; background: #f4f3ef; }
.cp-box { background: rgba(255,255,255,0.94); border: 1px solid #999; border-radius: 4px; padding: 6px 9px;
  box-shadow: 0 1px 4px rgba(0,0,0,.25); font: 12px/1.4 "Helvetica Neue", Arial, sans-serif; color: #222; }
.cp-title { position: fixed; top: 10px; left: 54px; z-index: 1000; max-width: 46%; }
.cp-title b { font-size: 15px; }
.cp-title .cp-synthetic { color: #a15c00; }
.cp-legend { position: fixed; bottom: 64px; left: 10px; z-index: 1000; max-width: 300px; max-height: 60%; overflow-y: auto; }
.cp-legend summary { font-weight: bold; cursor: pointer; }
.cp-legend h4 { margin: 6px 0 2px; font-size: 12px; }
.cp-legend .row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.cp-legend .dot { display: inline-block; width: 11px; height: 11px; border-radius: 50%; border: 1px solid #333; }
.cp-legend .bar { display: inline-block; width: 20px; height: 4px; }
.cp-legend .sq { display: inline-block; width: 14px; height: 10px; }
.cp-legend .note { color: #666; font-size: 11px; margin-top: 4px; }
.leaflet-control-layers-overlays::before { content: "Layers"; font-weight: bold; display: block; margin-bottom: 2px; }
.cp-demand select { font-size: 12px; margin-top: 3px; }
.cp-demand .cp-unit { color: #666; font-size: 11px; }
.leaflet-control-layers-expanded { max-height: 70vh; overflow-y: auto; }
.cp-popup-title { font-weight: bold; font-size: 13px; margin-bottom: 4px; }
table.cp-popup { border-collapse: collapse; font-size: 12px; }
table.cp-popup th { text-align: left; font-weight: normal; color: #555; padding: 1px 10px 1px 0; vertical-align: top; }
table.cp-popup td { padding: 1px 0; }
</style>
"""


def _legend(plan: Plan, colours: dict[int, str], has_grid: bool, has_iso: bool, notes: list[str],
            simplified: Sequence[str] = (), demand_unit: str = "kWh/day per cell") -> str:
    parts = ["<details class='cp-box cp-legend' open><summary>Legend</summary>"]
    if colours:
        parts.append("<h4>Chosen sites (size: installed kW)</h4>")
        parts += [f"<div class='row'><span class='dot' style='background:{c}'></span>opened {y}</div>"
                  for y, c in sorted(colours.items())]
    parts.append("<h4>Charging demand</h4><div class='row'>"
                 f"<span class='dot' style='background:{DEMAND_COLOUR};opacity:.6;border:none'></span>"
                 f"{esc(demand_unit)} (size and shade)</div>")
    u = unserved_table(plan)
    present = set(u.loc[(u["year"] == plan.city.config.fleet.year) & (u["unserved_kwh_day"] > 0), "cause"])
    if present:
        parts.append("<h4>Unserved demand (main cause)</h4>")
        parts += [f"<div class='row'><span class='dot' style='background:none;border:2px solid {c}'></span>"
                  f"{esc(UNSERVED_LABELS[cause])}</div>" for cause, c in CAUSE_COLOURS.items() if cause in present]
    parts.append("<div class='row'><span class='dot' style='background:#969696;width:7px;height:7px'></span>"
                 "candidate site</div>")
    if "flag" in plan.candidates.columns and (plan.candidates["flag"].astype(str) != "").any():
        flag = str(plan.candidates.loc[plan.candidates["flag"].astype(str) != "", "flag"].iloc[0])
        parts.append("<div class='row'><span class='dot' style='background:#969696;width:7px;height:7px;"
                     f"border:2px solid {GENERATED_DEPOT_COLOUR}'></span>{esc(flag)}</div>")
    if has_iso:
        parts.append(f"<div class='row'><span class='sq' style='background:{ISOCHRONE_COLOUR};opacity:.35'></span>"
                     "reachable within the drive time</div>")
    if has_grid:
        g = plan.city.config.grid
        parts.append("<h4>Grid loading</h4>")
        lo = 0.0
        for lim, c in LOADING_COLOURS:
            text = f"{lo:.0f}–{lim:.0f} %" if math.isfinite(lim) else f"above {lo:.0f} %"
            parts.append(f"<div class='row'><span class='bar' style='background:{c}'></span>{text}</div>")
            lo = lim
        parts.append("<h4>Bus voltage</h4>")
        for c, text in ((NORMAL_V, f"within {g.vm_min_pu + NEAR_LIMIT_PU:.2f}–{g.vm_max_pu:.2f} pu"),
                        (NEAR_LIMIT, f"{g.vm_min_pu:.2f}–{g.vm_min_pu + NEAR_LIMIT_PU:.2f} pu (near the limit)"),
                        (UNDERVOLTAGE, f"below {g.vm_min_pu:.2f} pu"), (OVERVOLTAGE, f"above {g.vm_max_pu:.2f} pu")):
            parts.append(f"<div class='row'><span class='dot' style='background:{c};width:8px;height:8px'></span>{text}</div>")
        parts.append("<div class='row'><span class='dot' style='background:none;border:3px solid #a50026;width:8px;height:8px'>"
                     "</span>violation</div>")
    if simplified:
        parts.append("<div class='note cp-simplified'>Simplified for the size of the city: "
                     + "; ".join(esc(n) for n in simplified) + "</div>")
    if notes:
        parts.append("<div class='note'>Not shown: " + "; ".join(esc(n) for n in notes) + "</div>")
    parts.append("</details>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------
def build_map(
    plan: Plan,
    *,
    offline: bool | None = None,
    tiles: str | None = None,
    isochrones: gpd.GeoDataFrame | None | bool = True,
    isochrone_minutes: Sequence[float] | None = None,
    notes: Sequence[str] = (),
    detail: MapDetail | None = None,
) -> PlanMap:
    """Build the interactive map of a plan.

    Parameters
    ----------
    plan
        A solved plan.
    offline
        Inline Leaflet and jQuery so the file works without internet (default:
        ``outputs.offline_map`` of the city config).
    tiles
        Basemap: a folium/xyzservices tile name or URL; default ``outputs.map_tiles``, else
        OpenStreetMap for a real city and none for the synthetic demo city. ``"none"`` for
        no basemap (the road network is drawn instead).
    isochrones
        Coverage polygons (``site_id``, ``minutes``, ``geometry``); True to take them from the
        plan or compute them with the network stage, False or None to leave them out.
    isochrone_minutes
        Drive times of the isochrones [min] (default: ``outputs.isochrone_minutes``, else the
        shortest segment cut-off).
    notes
        Extra lines for the legend's "not shown" note.
    detail
        Sizes above which layers are drawn in less detail (default :class:`MapDetail`): demand
        cells merged into blocks, major roads only, the MV grid with LV detail only where a limit
        is violated, clustered site markers. Each simplification is named in its layer and listed
        in the legend and in :attr:`PlanMap.simplified`.

    Returns
    -------
    PlanMap
        Shown inline in Jupyter; ``.save(path)`` writes a standalone HTML file.
    """
    city = plan.city
    out_cfg = city.config.outputs
    offline = bool(getattr(out_cfg, "offline_map", True)) if offline is None else offline
    to_wgs = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True)
    minx, miny, maxx, maxy = city.bounds()
    (w, e), (s, n) = to_wgs.transform([minx, maxx], [miny, maxy])
    if tiles is None:
        tiles = out_cfg.map_tiles
    if tiles is None:
        tiles = "none" if city.synthetic else "OpenStreetMap"
    has_tiles = str(tiles).lower() != "none"

    # a map without tiles has no zoom range unless one is given; marker clusters need it (18: folium's tiles)
    fmap = PlanMap(location=[(s + n) / 2, (w + e) / 2], tiles=None, control_scale=True, prefer_canvas=True,
                   offline=offline, zoom_start=14, maxZoom=18, detail=detail)
    fmap.notes.extend(notes)
    root = fmap.get_root()
    root.header.add_child(folium.Element(_CSS), name="cp_css")
    root.title = esc(f"Charging plan — {city.name}")

    years = plan_years(plan)
    title = f"<b>{esc(city.name)}</b> — public EV charging plan {esc(years[0]) if len(years) == 1 else f'{years[0]}–{years[-1]}'}"
    if city.synthetic:
        title += "<br><span class='cp-synthetic'>synthetic demo city, not a real place</span>"
    root.html.add_child(folium.Element(f"<div class='cp-box cp-title'>{title}</div>"), name="cp_title")

    # demand views: one layer per (segment, year), switched by the "charging demand" selector
    views, block, n_cells = _demand_views(plan, fmap.detail.demand_cells)
    demand_unit = "kWh/day per cell"
    if block > 1:
        size = float(getattr(city.config.demand, "cell_size_m", 0) or 0)
        edge = f" ({_num(block * size / 1000, None)} km)" if size > 0 else ""
        demand_unit = f"kWh/day per block of {block}×{block} cells{edge}"
        fmap.simplified.append(f"charging demand: the {n_cells} cells merged into blocks of {block}×{block} cells{edge}")
    default_year = city.config.fleet.year if city.config.fleet.year in years else years[-1]
    view_layers: dict[str, str] = {}
    for label, year, segment, feats in views:
        layer = folium.FeatureGroup(name=esc(label if block == 1 else f"{label} ({block}×{block} blocks)"), overlay=True,
                                    control=False, show=(segment is None and year == default_year))
        GeoJsonLayer(feats, base_style=DEMAND_STYLE).add_to(layer)
        layer.add_to(fmap)
        view_layers[f"{segment or ''}|{year}"] = layer.get_name()
    if views:
        _demand_selector(fmap, views, view_layers, default_year, demand_unit)
    else:
        fmap.notes.append("charging demand: the demand table is empty")

    if has_tiles:
        folium.TileLayer(tiles, name=f"basemap: {esc(tiles)}", attr=getattr(out_cfg, "map_attribution", None),
                         overlay=True, control=True, show=True).add_to(fmap)
    n_edges = plan.city.roads.number_of_edges()
    major_only = n_edges > fmap.detail.road_edges
    roads, drawn, total = _road_features(plan, to_wgs, major_only=major_only)
    road_label = "road network"
    if major_only:
        road_label = f"road network: major roads only (motorway to tertiary, {drawn} of {total} segments)"
        fmap.simplified.append(road_label)
    if roads:
        # drawn by default: it is the only street context when the basemap cannot load (offline)
        layer = folium.FeatureGroup(name=road_label, overlay=True, show=True)
        GeoJsonLayer(roads, base_style=ROAD_STYLE).add_to(layer)
        layer.add_to(fmap)

    iso: gpd.GeoDataFrame | None = None
    if isochrones is True:
        iso, note = plan_isochrones(plan, isochrone_minutes)
        if note:
            fmap.notes.append(note)
    elif isinstance(isochrones, gpd.GeoDataFrame) and len(isochrones):
        iso = isochrones.to_crs("EPSG:4326") if isochrones.crs is not None else isochrones.set_crs(city.crs).to_crs(4326)
    if iso is not None:
        _add_isochrones(iso, fmap)

    _add_coverage_gaps(plan, fmap)
    has_grid = add_grid(plan, fmap)
    add_ev_hosting(plan, fmap)
    _add_candidates(plan, fmap)
    colours = _add_sites(plan, fmap)

    attribution = "Synthetic demo data (charge_planner)" if city.synthetic else OSM_ATTRIBUTION
    _MapScript(f"map.attributionControl.addAttribution({script_json(attribution)});").add_to(fmap)
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    legend = _legend(plan, colours, has_grid, iso is not None, fmap.notes, fmap.simplified, demand_unit)
    root.html.add_child(folium.Element(legend), name="cp_legend")
    fmap.fit_bounds([[s, w], [n, e]])
    log.info("map: %d sites, %d demand views, %d notes, %d simplification(s)", fmap.site_markers, len(views),
             len(fmap.notes), len(fmap.simplified))
    return fmap
