"""Exports: GeoPackage layers GDAL reads back in EPSG:4326, CSV tables, summary.json, atomic save."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from test_maps import with_config

from charge_planner.outputs import GPKG_LAYERS, OutputError, grid_layers, write_outputs
from charge_planner.outputs.browser import find_chromium


@pytest.fixture(scope="module")
def written(demo_outputs):
    """The demo plan's outputs as ``Plan.save`` wrote them (shared with the other tests)."""
    return demo_outputs, sorted(demo_outputs.iterdir())


def test_every_file_is_written(written):
    folder, files = written
    names = {p.name for p in files}
    for name in ("map.html", "report.html", "plan.gpkg", "sites.csv", "candidates.csv", "assignments.csv", "demand.csv",
                 "demand_by_segment_year.csv", "rollout.csv", "grid_buses.csv", "grid_lines.csv", "grid_trafos.csv",
                 "grid_violations.csv", "summary.json", "manifest.json"):
        assert name in names, name
    assert ("report.pdf" in names) == (find_chromium() is not None)  # by default: when a browser is installed


def test_manifest_lists_every_file_with_its_hash(written, demo_plan):
    import hashlib

    from charge_planner import __version__

    folder, files = written
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["package"] == "charge-planner" and manifest["version"] == __version__
    assert manifest["city"] == demo_plan.summary["city"] and manifest["config_hash"] == demo_plan.summary["config_hash"]
    entries = {f["name"]: f for f in manifest["files"]}
    assert set(entries) == {p.name for p in files} - {"manifest.json"}
    for p in files:
        if p.name != "manifest.json":
            assert entries[p.name]["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest(), p.name
            assert entries[p.name]["bytes"] == p.stat().st_size


def test_saving_over_an_earlier_plan_keeps_the_users_files(demo_plan, tmp_path):
    p = with_config(demo_plan, isochrones=False)
    out = tmp_path / "out"
    p.save(out, pdf=False)
    (out / "my notes.txt").write_text("mine")
    listed = json.loads((out / "manifest.json").read_text())["files"]
    with pytest.raises(OutputError, match="pass --overwrite"):
        p.save(out, pdf=False)
    (out / "sites.csv").write_text("stale")
    p.save(out, pdf=False, overwrite=True)
    assert (out / "my notes.txt").read_text() == "mine"
    assert (out / "sites.csv").read_text() != "stale"
    assert {q.name for q in out.iterdir()} == {f["name"] for f in listed} | {"manifest.json", "my notes.txt"}


def test_geopackage_layers_read_back_with_gdal_in_wgs84(written, demo_plan):
    folder, _ = written
    gpkg = folder / "plan.gpkg"
    layers = dict(pyogrio.list_layers(gpkg))
    for name in ("sites", "candidates", "demand", "grid_buses", "grid_lines", "grid_trafos", "rollout"):
        assert name in layers, name
    assert layers["sites"] == "Point" and layers["grid_lines"] in ("LineString", "MultiLineString")
    assert layers["rollout"] is None  # attribute table without geometry
    for name in ("sites", "candidates", "demand", "grid_buses", "grid_lines", "grid_trafos"):
        info = pyogrio.read_info(gpkg, layer=name)
        assert info["crs"] == "EPSG:4326", name
        assert GPKG_LAYERS[name][:20] in (pyogrio.read_info(gpkg, layer=name).get("layer_metadata") or {}).get(
            "DESCRIPTION", GPKG_LAYERS[name]
        )
    sites = pyogrio.read_dataframe(gpkg, layer="sites")
    assert len(sites) == len(demo_plan.sites)
    assert set(sites["site_id"]) == set(demo_plan.sites.index)
    back = sites.set_index("site_id").to_crs(demo_plan.city.crs)
    moved = back.geometry.distance(demo_plan.sites.geometry.reindex(back.index))
    assert moved.max() < 0.01  # metres: the round trip through EPSG:4326 keeps the positions
    lon, lat = sites.geometry.x, sites.geometry.y
    assert lon.between(-180, 180).all() and lat.between(-90, 90).all()
    demand = pyogrio.read_info(gpkg, layer="demand")
    assert demand["features"] == len(demo_plan.demand)
    grid = grid_layers(demo_plan)
    assert pyogrio.read_info(gpkg, layer="grid_lines")["features"] == len(grid.lines)


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL command-line tools (gdal-bin) not installed")
def test_ogrinfo_opens_the_geopackage(written):
    folder, _ = written
    run = subprocess.run(["ogrinfo", "-ro", "-so", str(folder / "plan.gpkg"), "sites"], capture_output=True, text=True,
                         check=True)
    assert "Geometry: Point" in run.stdout and "EPSG" in run.stdout and "4326" in run.stdout
    assert "Warning" not in run.stderr and "partially supported" not in run.stdout


def test_csv_tables_and_summary(written, demo_plan):
    folder, _ = written
    sites = pd.read_csv(folder / "sites.csv")
    assert len(sites) == len(demo_plan.sites) and {"site_id", "lon", "lat", "power_kw"} <= set(sites.columns)
    back = sites.set_index("site_id")["power_kw"]
    assert (back - demo_plan.sites["power_kw"].reindex(back.index)).abs().max() < 1e-6
    by = pd.read_csv(folder / "demand_by_segment_year.csv")
    assert abs(by["energy_kwh_day"].sum() - demo_plan.demand["energy_kwh_day"].sum()) < 0.01 * len(by)
    roll = pd.read_csv(folder / "rollout.csv")
    assert {"site_id", "year"} <= set(roll.columns)
    violations = pd.read_csv(folder / "grid_violations.csv")
    assert list(violations.columns[:5]) == ["element", "element_id", "violation", "value", "value_unit"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["kpis"]["sites_open"] == len(demo_plan.sites)


def test_pdf_required_without_a_browser_is_a_clear_error(demo_plan, tmp_path, monkeypatch):
    import charge_planner.outputs.browser as browser

    monkeypatch.setattr(browser, "find_chromium", lambda executable=None: None)
    with pytest.raises(OutputError, match="apt-get install chromium"):
        write_outputs(demo_plan, tmp_path, pdf=True)
    assert list(tmp_path.iterdir()) == []  # nothing written before the check


def test_failed_save_leaves_no_partial_output(demo_plan, tmp_path, monkeypatch):
    import charge_planner.outputs.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("report failed")

    monkeypatch.setattr(report, "render_report", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="report failed"):
        with_config(demo_plan, isochrones=False).save(out, pdf=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_isochrones_are_exported_when_the_plan_has_them(demo_plan, tmp_path):
    import geopandas as gpd

    p = with_config(demo_plan, isochrones=False)
    p.isochrones = gpd.GeoDataFrame(
        {"site_id": list(p.sites.index), "minutes": 10.0},
        geometry=p.sites.geometry.buffer(400.0).to_numpy(), crs=p.city.crs,
    )
    write_outputs(p, tmp_path, pdf=False)
    info = pyogrio.read_info(tmp_path / "plan.gpkg", layer="isochrones")
    assert info["crs"] == "EPSG:4326" and info["features"] == len(p.sites)
    assert "coverage: 10-minute drive of a chosen site" in (tmp_path / "map.html").read_text(encoding="utf-8")


def test_command_line_online_and_no_pdf_options(demo_plan, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import charge_planner.pipeline as pipeline
    from charge_planner.cli import app

    monkeypatch.setattr(pipeline, "plan", lambda *args, **kwargs: with_config(demo_plan, isochrones=False))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--online", "--no-pdf", "-q"])
    assert result.exit_code == 0, result.output
    assert not (out / "report.pdf").exists()
    assert 'src="https://cdn.jsdelivr.net/npm/leaflet@' in (out / "map.html").read_text(encoding="utf-8")


def test_csv_cells_that_look_like_formulas_are_written_as_text(tmp_path):
    import pandas as pd

    from charge_planner.outputs import write_csv

    frame = pd.DataFrame({
        "name": ['=HYPERLINK("http://x","y")', "+1 Mall", "@SUM(A1)", "-2", "Plain", "\tTab", None],
        "kw": [1.0, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0],
    })
    write_csv(frame, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", keep_default_na=False)
    assert back["name"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1 Mall", "'@SUM(A1)", "'-2", "Plain",
                                     "'\tTab", ""]
    assert back["kw"].tolist() == [1.0, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0]  # numbers stay numbers
    assert frame["name"].iloc[0].startswith("=")  # the caller's table is not changed


def test_same_plan_gives_the_same_files(demo_plan, tmp_path, monkeypatch):
    """Saved twice, seconds apart, a plan's files are byte-identical but for the manifest (it records the
    time written): the GeoPackage's internal timestamp is fixed, and $SOURCE_DATE_EPOCH sets it."""
    import time

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = demo_plan.save(tmp_path / "a", pdf=False)
    time.sleep(1.1)  # GDAL stamps the GeoPackage to the second
    b = demo_plan.save(tmp_path / "b", pdf=False)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
    assert differ == ["manifest.json"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01
    c = demo_plan.save(tmp_path / "c", pdf=False)
    stamp = pyogrio.read_dataframe(c / "plan.gpkg", sql="SELECT last_change FROM gpkg_contents LIMIT 1")
    assert str(stamp.iloc[0, 0]).startswith("2026-01-01")


# --------------------------------------------------------------------------------------------
# the outputs layer: one-way imports, Plan.save through the registered writer

PACKAGE = Path(__file__).resolve().parents[1] / "charge_planner"
#: the charge_planner modules each outputs module may import, besides the layers below outputs
OUTPUTS_SIBLINGS = {
    "views": set(),
    "browser": set(),
    "map_elements": {"views"},
    "map_grid": {"views", "map_elements"},
    "maps": {"views", "map_elements", "map_grid"},
    "report_tables": {"views"},
    "report_charts": {"views", "report_tables"},
    "report_siting": {"views", "report_tables"},
    "report_grid": {"views", "report_tables", "report_charts"},
    "report_energy": {"views", "report_tables"},
    "report_hosting": {"views"},
    "report_rollout": {"views"},
    "report": {"views", "browser", "report_tables", "report_charts", "report_siting", "report_grid", "report_energy",
               "report_hosting", "report_rollout"},
    "write": {"views", "browser", "maps", "report"},
    "options": {"report_tables", "write"},
    "__init__": {"views", "write", "report"},
}
BELOW_OUTPUTS = ("pipeline", "grid", "siting", "candidates", "demand", "network", "ids", "city", "osm", "synthetic",
                 "assumptions", "presets", "config", "errors", "version")


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(imported charge_planner module, imported inside a function) of every import in a module,
    ``from charge_planner import x`` counted as ``charge_planner.x``; imports under ``if TYPE_CHECKING:`` left out."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, ast.Import):
            found.extend((a.name, in_function) for a in node.names if a.name.startswith("charge_planner"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("charge_planner"):
            if node.module == "charge_planner":
                found.extend((f"charge_planner.{a.name}", in_function) for a in node.names)
            else:
                found.extend((f"{node.module}.{a.name}", in_function) for a in node.names)
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def test_outputs_modules_import_only_downwards_and_at_module_level():
    for name, siblings in OUTPUTS_SIBLINGS.items():
        path = PACKAGE / "outputs" / f"{name}.py"
        for module, in_function in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            assert not in_function, f"{path.name}: {module} imported inside a function"
            parts = module.split(".")
            if parts[1:2] == ["outputs"]:
                assert parts[2] in siblings, f"outputs/{path.name} imports outputs.{parts[2]}"
            else:
                assert parts[1] in BELOW_OUTPUTS, f"outputs/{path.name} imports {module}"


def test_pipeline_and_the_layers_below_do_not_import_outputs():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] in ("outputs", "cli.py", "__init__.py", "scenarios.py", "scenarios"):
            continue
        for module, _ in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            assert not module.startswith("charge_planner.outputs"), f"{'/'.join(rel)} imports {module}"
            # the package itself (``from charge_planner import __version__``) imports outputs
            first = module.split(".")[1]
            assert (PACKAGE / first).is_dir() or (PACKAGE / f"{first}.py").is_file(), (
                f"{'/'.join(rel)} imports {module} from the package, which imports outputs")


def test_plan_save_calls_the_writer_of_the_outputs_layer(demo_plan, tmp_path, monkeypatch):
    import charge_planner
    import charge_planner.outputs.write as write
    from charge_planner import pipeline

    assert pipeline.plan_writer() is charge_planner.outputs.save_plan
    calls = []

    def record(plan, out, **kwargs):
        calls.append((plan, out, kwargs))
        return tmp_path

    monkeypatch.setattr(pipeline.result, "_plan_writer", record)
    assert demo_plan.save(tmp_path / "x", overwrite=True, pdf=False) == tmp_path
    assert calls == [(demo_plan, tmp_path / "x", {"overwrite": True, "offline": None, "pdf": False})]
    assert write.save_plan is charge_planner.outputs.save_plan


def test_report_templates_ship_with_the_outputs_package():
    import tomllib

    data = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = data["tool"]["setuptools"]["package-data"]["charge_planner.outputs"]
    templates = sorted(p.name for p in (PACKAGE / "outputs" / "templates").iterdir())
    assert templates and all(any(Path("templates", t).match(p) for p in patterns) for t in templates)
