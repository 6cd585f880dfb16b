"""Writing a plan to files: map, report, GeoPackage, CSV and summary JSON.

Exported geometries are in EPSG:4326. :meth:`charge_planner.pipeline.Plan.save` calls
:func:`write_outputs` on a temporary folder and moves it into place when all succeeded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
from shapely.geometry import LineString, shape

if TYPE_CHECKING:
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Turn tuple/dict/list cells into text so GDAL can store them."""
    out = df.copy()
    for col in out.columns:
        if col == "geometry":
            continue
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: json.dumps(v) if isinstance(v, dict | list | tuple) else v)
    return out


def grid_layers(plan: Plan) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None:
    """Grid buses and lines with their load-flow results, in EPSG:4326."""
    if plan.flow is None:
        return None
    crs = plan.grid.crs
    buses = plan.flow.buses.dropna(subset=["x_m", "y_m"])
    bus_gdf = gpd.GeoDataFrame(
        buses.drop(columns=["x_m", "y_m"]).rename_axis("bus_id").reset_index(),
        geometry=gpd.points_from_xy(buses["x_m"], buses["y_m"]),
        crs=crs,
    ).to_crs("EPSG:4326")
    lines = plan.flow.lines
    net = plan.grid.net
    geoms = []
    for lid, r in lines.iterrows():
        geo = net.line["geo"].get(lid) if "geo" in net.line.columns else None
        if isinstance(geo, str):
            geoms.append(shape(json.loads(geo)))
            continue
        try:
            fb, tb = buses.loc[r["from_bus"]], buses.loc[r["to_bus"]]
            geoms.append(
                gpd.GeoSeries([LineString([(fb["x_m"], fb["y_m"]), (tb["x_m"], tb["y_m"])])], crs=crs).to_crs("EPSG:4326").iloc[0]
            )
        except KeyError:
            geoms.append(None)
    line_gdf = gpd.GeoDataFrame(lines.rename_axis("line_id").reset_index(), geometry=geoms, crs="EPSG:4326")
    return bus_gdf, line_gdf


def write_outputs(plan: Plan, folder: Path) -> None:
    """Write every output file of a plan into ``folder`` (which must exist)."""
    from charge_planner.maps import build_map
    from charge_planner.pipeline import summary_json
    from charge_planner.report import render_report

    folder = Path(folder)
    gpkg = folder / "plan.gpkg"
    sites = _plain(plan.sites.rename_axis("site_id").reset_index()).to_crs("EPSG:4326")
    sites.to_file(gpkg, layer="sites", driver="GPKG", engine="pyogrio")
    _plain(plan.candidates.rename_axis("site_id").reset_index()).to_crs("EPSG:4326").to_file(
        gpkg, layer="candidates", driver="GPKG", engine="pyogrio"
    )
    _plain(plan.demand.rename_axis("demand_id").reset_index()).to_crs("EPSG:4326").to_file(
        gpkg, layer="demand", driver="GPKG", engine="pyogrio"
    )
    layers = grid_layers(plan)
    if layers is not None:
        layers[0].to_file(gpkg, layer="grid_buses", driver="GPKG", engine="pyogrio")
        layers[1].to_file(gpkg, layer="grid_lines", driver="GPKG", engine="pyogrio")
    csv = sites.copy()
    csv["lon"] = csv.geometry.x
    csv["lat"] = csv.geometry.y
    pd.DataFrame(csv.drop(columns="geometry")).to_csv(folder / "sites.csv", index=False)
    plan.siting.assignments.to_csv(folder / "assignments.csv", index=False)
    (folder / "summary.json").write_text(summary_json(plan.summary), encoding="utf-8")
    build_map(plan).save(str(folder / "map.html"))
    (folder / "report.html").write_text(render_report(plan), encoding="utf-8")
    log.info("wrote %s", ", ".join(sorted(p.name for p in folder.iterdir())))
