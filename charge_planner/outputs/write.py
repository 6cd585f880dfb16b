"""Writing a plan to files: map, report (HTML, optional PDF), GeoPackage, CSV tables, summary JSON.

Every exported geometry is in EPSG:4326 (what GDAL, QGIS and web maps expect); list and dict
cells are stored as JSON text so any GIS tool reads them.

Writing never destroys what the user had. :func:`save_plan` (behind
:meth:`charge_planner.pipeline.Plan.save` and the command line) first checks the output
folder with :func:`check_output_folder`: a new or empty folder is used; a folder holding an
earlier plan's output (its ``manifest.json``) is replaced only when asked (``overwrite``), and
then only the files that manifest lists are removed; any other folder that is not empty, a
file, a folder that cannot be written, and the city folder, the data root or a folder that
contains either of them are refused. The files are written to a temporary folder and moved
into place only when every file was written, so a failure leaves no partial output and the
files that were there before untouched.

Files
    ``map.html`` (interactive map, works offline), ``report.html`` (+ ``report.pdf``),
    ``plan.gpkg`` (layers :data:`GPKG_LAYERS`), ``sites.csv``, ``candidates.csv``,
    ``assignments.csv``, ``demand.csv``, ``demand_by_segment_year.csv``, ``rollout.csv``,
    ``grid_buses.csv``, ``grid_lines.csv``, ``grid_trafos.csv``, ``grid_violations.csv``,
    ``grid_worst_hour.json`` (the grid as a pandapower net with the loads of the worst step, for
    ``pandapower.from_json`` and ``runpp``), ``grid_loads.parquet`` (the load of every bus at every
    step [MW]) (grid files only when the grid was modelled), ``summary.json`` and ``manifest.json``
    (every file written, with its size, SHA-256 and description, the package name and version,
    the city and its config hash), written last. :data:`FILES` describes each file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandapower as pp
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio

from charge_planner.errors import GridError, OutputError
from charge_planner.grid.export import BUS_LOAD_COLUMNS, bus_loads, worst_hour_net
from charge_planner.outputs import browser, report
from charge_planner.outputs.maps import build_map, plan_isochrones
from charge_planner.outputs.views import (
    WGS84,
    GridLayers,
    grid_layers,
    rollout_table,
    trafo3w_points,
    violation_table,
)
from charge_planner.pipeline import summary_json
from charge_planner.version import __version__

if TYPE_CHECKING:
    from charge_planner.config import CityConfig
    from charge_planner.pipeline import Plan

log = logging.getLogger(__name__)

__all__ = [
    "FILES",
    "GPKG_LAYERS",
    "MANIFEST",
    "OutputError",
    "OutputTarget",
    "TMP_PREFIX",
    "check_output_folder",
    "check_pdf",
    "default_output_folder",
    "read_manifest",
    "save_plan",
    "violation_export",
    "write_csv",
    "write_grid_files",
    "write_manifest",
    "write_outputs",
]

#: GeoPackage layers and what each holds
GPKG_LAYERS = {
    "sites": "chosen charging sites: chargers per type, power_kw [kW], served_kwh_day [kWh/day], capex_usd [USD], "
    "year_opened, grid bus",
    "candidates": "every candidate site with its source and the reason it was excluded, if any",
    "demand": "charging demand per cell, segment and year: energy_kwh_day [kWh/day], sessions_day, peak_kw [kW]",
    "isochrones": "area reachable from the chosen sites within the drive time [min]",
    "grid_buses": "grid buses with load-flow voltages [pu] and violations",
    "grid_lines": "grid lines with loading [%] and violations",
    "grid_trafos": "grid transformers, two-winding (kind trafo) and three-winding (kind trafo3w), at their "
    "low-voltage bus with loading [%] and violations",
    "rollout": "installed chargers per site and year (table without geometry)",
}


#: Every file a plan may write, and what it holds (recorded in ``manifest.json``)
FILES = {
    "map.html": "interactive map of sites, demand, isochrones and the grid",
    "report.html": "the plan's report",
    "report.pdf": "the plan's report, printed",
    "plan.gpkg": "GeoPackage, EPSG:4326, layers: " + ", ".join(GPKG_LAYERS),
    "sites.csv": "chosen charging sites with lon/lat",
    "candidates.csv": "every candidate site with lon/lat and the reason it was excluded, if any",
    "assignments.csv": "demand served by each site",
    "demand.csv": "charging demand per cell, segment and year",
    "demand_by_segment_year.csv": "charging demand per year and segment",
    "rollout.csv": "installed chargers per site and year",
    "grid_buses.csv": "grid buses with load-flow voltages [pu] and violations",
    "grid_lines.csv": "grid lines with loading [%] and violations",
    "grid_trafos.csv": "grid transformers with loading [%] and violations",
    "grid_violations.csv": "one row per element and kind of violation",
    "grid_worst_hour.json": "the grid as a pandapower net (pandapower.from_json) with the loads of the worst step: "
    "base loads at that step, EV charging as loads named 'ev', on-site PV as sgens named 'pv'; "
    "runpp(net, algorithm='nr', init='auto') reproduces the plan's voltages and loadings of that step; "
    "net['charge_planner'] records the step's time and the plan's figures",
    "grid_loads.parquet": "load of every bus at every step of every year checked, long format: "
    + ", ".join(BUS_LOAD_COLUMNS) + " [MW, Mvar, float32]; p_mw = base_p_mw + ev_p_mw - pv_p_mw",
    "summary.json": "configuration hash, package versions, solver status and key figures",
}


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Turn tuple/dict/list/set cells into JSON text and numpy scalars into Python ones, for GDAL."""
    out = df.copy()
    for col in out.columns:
        if col == "geometry" or out[col].dtype != object:
            continue
        out[col] = out[col].map(
            lambda v: json.dumps(sorted(v) if isinstance(v, set) else v, default=str)
            if isinstance(v, dict | list | tuple | set)
            else v
        )
    return out


def _gpkg_timestamp() -> str:
    """The time GDAL stamps into a GeoPackage (``gpkg_contents.last_change``): ``$SOURCE_DATE_EPOCH`` when
    set, else the Unix epoch, so that the same plan gives the same file; the real time written is in
    ``manifest.json``."""
    try:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        epoch = 0
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _write_layer(gdf: gpd.GeoDataFrame | pd.DataFrame, path: Path, layer: str) -> None:
    opts = {"DESCRIPTION": GPKG_LAYERS.get(layer, layer)}
    # GeoPackage 1.2: read without a version warning by the GDAL of current Linux distributions and QGIS LTR
    dataset = None if path.exists() else {"VERSION": "1.2"}
    frame = _plain(gdf.to_crs(WGS84)) if isinstance(gdf, gpd.GeoDataFrame) else _plain(pd.DataFrame(gdf))
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _gpkg_timestamp()})
    try:
        pyogrio.write_dataframe(frame, path, layer=layer, driver="GPKG", layer_options=opts, dataset_options=dataset)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV with text cells made safe for spreadsheets: a cell that starts like a
    formula (``=``, ``+``, ``-``, ``@``, tab, carriage return; OSM names are untrusted) gets a
    leading apostrophe, so that Excel or LibreOffice shows it as text instead of running it."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or isinstance(out[col].dtype, pd.StringDtype):
            risky = out[col].map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START)).to_numpy(dtype=bool)
            if risky.any():
                out[col] = out[col].astype(object)
                out.loc[risky, col] = "'" + out.loc[risky, col].astype(str)
    out.to_csv(path, index=False)


def _csv_with_lonlat(gdf: gpd.GeoDataFrame, path: Path) -> None:
    g = gdf.to_crs(WGS84)
    df = pd.DataFrame(g.drop(columns="geometry"))
    if len(g) and (g.geom_type == "Point").all():
        df["lon"] = g.geometry.x.round(7)
        df["lat"] = g.geometry.y.round(7)
    write_csv(_plain(df), path)


def violation_export(
    plan: Plan, buses: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, trafos: gpd.GeoDataFrame | None
) -> pd.DataFrame:
    """The violation table as written to ``grid_violations.csv``.

    Columns ``element``, ``element_id``, ``violation`` (the kind), ``value`` (worst value),
    ``value_unit`` (``pu`` or ``%``), ``hours`` [h] (empty for the peak flow), ``first``,
    ``last`` (times), ``lon``, ``lat`` (the bus, the middle of the line, the transformer's
    low-voltage bus; empty when unknown) — one row per element and kind, three-winding
    transformers and load flows that did not converge (element ``grid``) included.
    """
    v = violation_table(plan)
    where: dict[str, dict[Any, Any]] = {
        "bus": dict(zip(buses["bus_id"], buses.geometry, strict=True)) if len(buses) else {},
        "line": ({i: g.interpolate(0.5, normalized=True) for i, g in zip(lines["line_id"], lines.geometry, strict=True)
                  if g is not None} if len(lines) else {}),
        "trafo": dict(zip(trafos["trafo_id"], trafos.geometry, strict=True)) if trafos is not None and len(trafos) else {},
        "trafo3w": {i: geom for i, (geom, _) in trafo3w_points(plan, buses).items()},
    }
    points = [where.get(str(e), {}).get(i) for e, i in zip(v["element"], v["id"], strict=True)]
    return pd.DataFrame({
        "element": v["element"].to_numpy(),
        "element_id": v["id"].to_numpy(),
        "violation": v["kind"].to_numpy(),
        "value": v["worst"].to_numpy(float),
        "value_unit": v["unit"].to_numpy(),
        "hours": v["hours"].to_numpy(float),
        "first": v["first"].to_numpy(),
        "last": v["last"].to_numpy(),
        "lon": [round(float(p.x), 7) if p is not None else np.nan for p in points],
        "lat": [round(float(p.y), 7) if p is not None else np.nan for p in points],
    })


def _violations(plan: Plan, layers: GridLayers) -> pd.DataFrame:
    """The flow's one violation table (every element kind, three-winding transformers included) with positions."""
    return violation_export(plan, layers.buses, layers.lines, layers.trafos)


def write_grid_files(plan: Plan, folder: Path) -> list[Path]:
    """Write ``grid_worst_hour.json`` and ``grid_loads.parquet`` of a plan with a grid.

    ``grid_worst_hour.json`` is :func:`~charge_planner.grid.export.worst_hour_net` written with
    ``pandapower.to_json``; ``grid_loads.parquet`` is :func:`~charge_planner.grid.export.bus_loads`
    (columns :data:`~charge_planner.grid.export.BUS_LOAD_COLUMNS`) of every year the grid
    was checked in (``plan.grid_years``; the plan's own check when there are none); the worst
    hour is the plan's own check's (``plan.grid_results``, the last rollout year).

    Returns
    -------
    list of Path
        The files written: both, or only ``grid_loads.parquet`` when no step of the time series
        converged (there is no load flow to reproduce; a warning says so).
    """
    results = plan.grid_results
    if results is None:
        return []
    written: list[Path] = []
    try:
        net = worst_hour_net(results)
    except GridError as exc:  # no converged step: nothing to reproduce, the other files still hold
        log.warning("grid_worst_hour.json skipped: %s", exc)
    else:
        json_path = folder / "grid_worst_hour.json"
        pp.to_json(net, str(json_path))
        written.append(json_path)
    checks = sorted(plan.grid_years.items()) if plan.grid_years else []
    if not any(r is results for _, r in checks):
        checks.append((results.year if results.year is not None else plan.city.config.fleet.year, results))
    parquet_path = folder / "grid_loads.parquet"
    # one year at a time (a year's time series of a city's buses is tens of millions of rows), in single
    # precision (7 significant digits: 0.1 W in 1 MW) with zstd: a year of a city's buses in about a tenth
    # of a gigabyte on disk, and in memory no more than one year's table
    writer: pq.ParquetWriter | None = None
    try:
        for y, r in checks:
            loads = bus_loads(r, year=y)
            powers = [c for c in loads.columns if c.endswith(("_mw", "_mvar"))]
            loads = loads.astype({**dict.fromkeys(powers, "float32"), "bus": "int32", "year": "Int16"})
            table = pa.Table.from_pandas(loads, preserve_index=False)
            del loads
            if writer is None:
                writer = pq.ParquetWriter(parquet_path, table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
    return [*written, parquet_path]


def check_pdf(pdf: bool | None) -> None:
    """Refuse ``pdf=True`` (``--pdf``, ``outputs.pdf = true``) when no Chromium is installed.

    Raises
    ------
    OutputError
        Saying how to install Chromium or turn the PDF off.
    """
    if pdf is True and browser.find_chromium() is None:
        raise OutputError(
            "report.pdf needs Chromium: install it (Debian: apt-get install chromium) or set outputs.pdf = false "
            "(command line: --no-pdf)"
        )


def write_outputs(plan: Plan, folder: Path, *, offline: bool | None = None, pdf: bool | None = None) -> list[Path]:
    """Write every output file of a plan, and its ``manifest.json`` last, into ``folder``.

    This is the low-level writer; :func:`save_plan` (``Plan.save``) adds the folder checks and
    the move into place.

    Parameters
    ----------
    plan
        A solved plan.
    folder
        Destination folder; it must exist and be empty, so that no file of the user's is
        written over.
    offline
        Inline the map's JavaScript (default ``outputs.offline_map``).
    pdf
        Also print ``report.pdf`` with headless Chromium: True requires it, False skips it,
        None (default ``outputs.pdf``) writes it when a browser is installed.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    OutputError
        When ``folder`` is not an empty folder, or ``pdf`` is True and no Chromium is installed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise OutputError(f"output folder {folder} does not exist; create it or use Plan.save, which does")
    if any(folder.iterdir()):
        raise OutputError(f"output folder {folder} is not empty; write into a new or empty folder (Plan.save checks "
                          "and replaces an earlier plan output)")
    out_cfg = plan.city.config.outputs
    pdf = getattr(out_cfg, "pdf", None) if pdf is None else pdf
    check_pdf(pdf)

    gpkg = folder / "plan.gpkg"
    sites = plan.sites.rename_axis("site_id").reset_index()
    _write_layer(sites, gpkg, "sites")
    _write_layer(plan.candidates.rename_axis("site_id").reset_index(), gpkg, "candidates")
    _write_layer(plan.demand.rename_axis("demand_id").reset_index(), gpkg, "demand")
    iso, note = plan_isochrones(plan)
    if iso is not None:
        _write_layer(iso, gpkg, "isochrones")
    elif note:
        log.info("%s", note)
    layers = grid_layers(plan)
    if layers is not None:
        _write_layer(layers.buses, gpkg, "grid_buses")
        _write_layer(layers.lines, gpkg, "grid_lines")
        _write_layer(layers.transformer_layer(), gpkg, "grid_trafos")
    roll = rollout_table(plan)
    _write_layer(roll, gpkg, "rollout")

    _csv_with_lonlat(sites, folder / "sites.csv")
    _csv_with_lonlat(plan.candidates.rename_axis("site_id").reset_index(), folder / "candidates.csv")
    _csv_with_lonlat(plan.demand.rename_axis("demand_id").reset_index(), folder / "demand.csv")
    if plan.siting.assignments is not None:
        write_csv(plan.siting.assignments, folder / "assignments.csv")
    by_sy = plan.demand.assign(year=plan.demand["year"] if "year" in plan.demand else plan.city.config.fleet.year)
    write_csv(by_sy.groupby(["year", "segment"])[[c for c in ("energy_kwh_day", "sessions_day", "peak_kw") if c in by_sy]]
              .sum().round(3).reset_index(), folder / "demand_by_segment_year.csv")
    write_csv(roll, folder / "rollout.csv")
    if layers is not None:
        _csv_with_lonlat(layers.buses, folder / "grid_buses.csv")
        write_csv(_plain(pd.DataFrame(layers.lines.drop(columns="geometry"))), folder / "grid_lines.csv")
        _csv_with_lonlat(layers.transformer_layer(), folder / "grid_trafos.csv")
        write_csv(_violations(plan, layers), folder / "grid_violations.csv")
    if plan.grid_results is not None:
        write_grid_files(plan, folder)
    (folder / "summary.json").write_text(summary_json(plan.summary), encoding="utf-8")

    fmap = build_map(plan, offline=offline, isochrones=iso if iso is not None else False, notes=[note] if note else ())
    fmap.save(folder / "map.html")
    html = folder / "report.html"
    html.write_text(report.render_report(plan, map_file="map.html"), encoding="utf-8")
    if pdf is None:
        pdf = browser.find_chromium() is not None
        if not pdf:
            log.warning("report.pdf skipped: no Chromium found (apt-get install chromium, or set outputs.pdf = false)")
    if pdf:
        report.render_pdf(html, folder / "report.pdf")
    written = sorted(p for p in folder.iterdir() if p.is_file())
    written.append(write_manifest(folder, written, plan=plan))
    log.info("wrote %s", ", ".join(p.name for p in written))
    return written


# --------------------------------------------------------------------------------------------
# Where outputs may go, and replacing an earlier plan's output without touching anything else

#: name of the file that lists what a plan wrote into its output folder
MANIFEST = "manifest.json"
_MANIFEST_KIND = "charge-planner plan output"
#: prefix of the temporary names under which outputs are written before they replace the old ones
TMP_PREFIX = ".charge-planner-"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, files: list[Path], *, plan: Plan | None = None) -> Path:
    """Write ``manifest.json`` into ``folder``: the files a plan wrote there, so that a later run
    recognises its own output and replaces only those files.

    Parameters
    ----------
    folder
        The output folder.
    files
        Files written, all directly inside ``folder``.
    plan
        The plan (its city name and config hash are recorded).

    Returns
    -------
    Path
        The manifest file.
    """
    folder = Path(folder)
    entries = []
    for f in sorted(files, key=lambda p: Path(p).name):
        f = Path(f)
        if f.parent.resolve() != folder.resolve() or f.name == MANIFEST:
            raise OutputError(f"{f}: a manifest lists only files directly inside its folder {folder}")
        entry = {"name": f.name, "bytes": f.stat().st_size, "sha256": _sha256(f)}
        if f.name in FILES:
            entry["description"] = FILES[f.name]
        entries.append(entry)
    summary = plan.summary if plan is not None else {}
    manifest = {
        "kind": _MANIFEST_KIND,
        "package": "charge-planner",
        "version": __version__,
        "city": summary.get("city", plan.city.config.city.name if plan is not None else None),
        "config_hash": summary.get("config_hash"),
        "written_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": entries,
    }
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _plain_name(name: object) -> bool:
    return (isinstance(name, str) and name not in ("", ".", "..", MANIFEST) and "/" not in name
            and "\\" not in name and "\0" not in name)


def read_manifest(folder: Path | str) -> dict[str, Any] | None:
    """The manifest of an earlier plan output in ``folder``, or None.

    None when there is no ``manifest.json`` or when it is not a valid charge-planner manifest
    (unreadable, another program's, or naming a file outside the folder).
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("kind") != _MANIFEST_KIND or data.get("package") != "charge-planner":
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, dict) and _plain_name(f.get("name")) for f in files):
        return None
    return data


@dataclass
class OutputTarget:
    """An output folder that passed :func:`check_output_folder`.

    Attributes
    ----------
    path
        The folder, absolute, symbolic links resolved.
    exists
        True when the folder exists (empty, or holding an earlier plan output).
    previous
        The manifest of the earlier plan output it holds, or None.
    """

    path: Path
    exists: bool
    previous: dict[str, Any] | None


def default_output_folder(config: CityConfig, city_dir: Path | str) -> Path:
    """The output folder of a city: ``outputs.folder`` when set, else ``out/<city folder name>``.

    A relative ``outputs.folder`` (and the default) is relative to the current directory, like
    ``--out``; ``~`` is expanded.
    """
    folder = config.outputs.folder
    if folder:
        return Path(folder).expanduser()
    return Path("out") / Path(city_dir).resolve().name


def _within(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def check_output_folder(
    out: Path | str,
    *,
    city_dir: Path | str | None = None,
    data_root: Path | str | None = None,
    overwrite: bool = False,
) -> OutputTarget:
    """Check that a plan may write into ``out``, before anything is computed or written.

    Accepted: a folder that does not exist yet (its parents are created) in a place that can be
    written, an empty folder, and, with ``overwrite``, a folder holding an earlier plan output
    (a valid ``manifest.json``; only the files it lists will be replaced).

    Parameters
    ----------
    out
        The output folder.
    city_dir
        The city folder: neither it nor a folder containing it may be the output folder.
    data_root
        The data root: neither it nor a folder containing it may be the output folder.
    overwrite
        Allow replacing an earlier plan output.

    Raises
    ------
    OutputError
        One line naming the folder, the reason and what to do.
    """
    given = Path(out).expanduser()
    path = given.resolve()
    for what, folder in (("city folder", city_dir), ("data root", data_root)):
        if folder is None:
            continue
        folder = Path(folder).expanduser().resolve()
        if path == folder:
            raise OutputError(f"output folder {given} is the {what} {folder}; choose a folder of its own, "
                              "e.g. out/<city folder name>")
        if _within(folder, path):
            raise OutputError(f"output folder {given} contains the {what} {folder}; choose a folder of its own, "
                              "e.g. out/<city folder name>")
    if path.exists() and not path.is_dir():
        raise OutputError(f"output folder {given} is a file; choose a folder")
    if not path.exists():
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise OutputError(f"cannot create output folder {given}: {parent} is a file; choose another folder")
        if not _writable(parent):
            raise OutputError(f"cannot create output folder {given}: {parent} is not writable; choose another "
                              "folder or change its permissions")
        return OutputTarget(path=path, exists=False, previous=None)
    if not _writable(path):
        raise OutputError(f"output folder {given} is not writable; choose another folder or change its permissions")
    entries = sorted(p.name for p in path.iterdir())
    if not entries:
        return OutputTarget(path=path, exists=True, previous=None)
    previous = read_manifest(path)
    if previous is None:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        why = (f"its {MANIFEST} is not a charge-planner manifest" if MANIFEST in entries
               else "it is not an earlier plan output (no manifest.json)")
        raise OutputError(f"output folder {given} holds files ({shown}) and {why}; choose a new or empty folder "
                          "(nothing was written)")
    if not overwrite:
        raise OutputError(f"output folder {given} holds an earlier plan's output; pass --overwrite (Python: "
                          "overwrite=True) to replace the files its manifest lists, or choose another folder")
    return OutputTarget(path=path, exists=True, previous=previous)


def _remove_empty_dirs(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


def save_plan(
    plan: Plan,
    out: Path | str | None = None,
    *,
    overwrite: bool = False,
    offline: bool | None = None,
    pdf: bool | None = None,
) -> Path:
    """Write a plan's outputs into a folder, never touching a file the planner did not write.

    Parameters
    ----------
    plan
        A solved plan.
    out
        Output folder (default :func:`default_output_folder`: ``outputs.folder``, else
        ``out/<city folder name>``, relative to the current directory).
    overwrite
        Replace an earlier plan output in ``out``: the files its ``manifest.json`` lists are
        removed, every other file stays.
    offline, pdf
        See :func:`write_outputs`.

    Returns
    -------
    Path
        The output folder (absolute).

    Raises
    ------
    OutputError
        When :func:`check_output_folder` refuses the folder, when a new file would replace a
        file the earlier plan did not write, or when a file cannot be written (nothing is
        left behind, the folder's earlier files are restored).
    """
    city = plan.city
    if out is None:
        out = default_output_folder(city.config, city.city_dir)
    target = check_output_folder(out, city_dir=city.city_dir, data_root=city.data_root, overwrite=overwrite)
    path = target.path
    try:
        save_folder(target, lambda folder: write_outputs(plan, folder, offline=offline, pdf=pdf))
    except OSError as exc:
        raise OutputError(f"cannot write outputs to {out}: {exc.strerror or exc}; nothing was changed") from exc
    log.info("outputs written to %s", path)
    return path


def save_folder(target: OutputTarget, write: Callable[[Path], None], *, what: str = "plan") -> None:
    """Write an output into a checked folder without touching what the planner did not write.

    ``write(folder)`` writes every file (the manifest included) into a temporary folder: next to a new
    output folder, then renamed into place; inside an existing one (empty, or an earlier output), then
    the earlier output's files are moved aside, the new ones in, and the ones set aside deleted. A new
    file that would replace a file the earlier output did not write, or a folder, is refused with
    :class:`OutputError` (``what`` names the writer in the message) and nothing is changed.
    """
    path = target.path
    if not target.exists:
        created = []
        parent = path.parent
        while not parent.exists():
            created.append(parent)
            parent = parent.parent
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent))
        try:
            tmp.chmod(0o755)
            write(tmp)
            # fails (and nothing is replaced) if a non-empty folder appeared there meanwhile
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # the temporary folder made above, holding only our files
            _remove_empty_dirs(created)
            raise
        return
    old = [f["name"] for f in target.previous["files"]] + [MANIFEST] if target.previous else []
    tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=path))
    try:
        write(tmp)
        new = sorted(p.name for p in tmp.iterdir())
        foreign = [n for n in new if n not in old and ((path / n).exists() or (path / n).is_symlink())]
        if foreign:
            raise OutputError(f"{path / foreign[0]} was not written by the earlier output and the new {what} writes a "
                              "file of that name; move it away or choose another folder (nothing was changed)")
        busy = [n for n in new if (path / n).is_dir() and not (path / n).is_symlink()]
        if busy:
            raise OutputError(f"{path / busy[0]} is a folder and the new {what} writes a file of that name; move it "
                              "away or choose another folder (nothing was changed)")
        _swap(path, tmp, old=old, new=[n for n in new if n != MANIFEST] + [MANIFEST])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the temporary folder made above, holding only our files


def _swap(path: Path, tmp: Path, *, old: list[str], new: list[str]) -> None:
    """Move the earlier plan's files from ``path`` aside, the new ones from ``tmp`` in; undo on failure."""
    aside = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}old.", dir=path))
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for name in old:
            f = path / name
            if f.is_symlink() or f.is_file():
                os.replace(f, aside / name)
                moved_out.append(name)
        for name in new:
            os.replace(tmp / name, path / name)
            moved_in.append(name)
    except BaseException:
        for name in reversed(moved_in):
            os.replace(path / name, tmp / name)
        for name in reversed(moved_out):
            os.replace(aside / name, path / name)
        aside.rmdir()
        raise
    for name in moved_out:
        (aside / name).unlink()
    aside.rmdir()
