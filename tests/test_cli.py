from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charge_planner.cli import app
from tests.conftest import BENGALURU_DIR, DEMO_DIR, ROOT, shared

runner = CliRunner()


def test_validate_ok():
    res = runner.invoke(app, ["validate", str(DEMO_DIR)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output


def test_validate_checks_data_files(tmp_path):
    res = runner.invoke(app, ["validate", str(BENGALURU_DIR)], env={"CHARGE_PLANNER_DATA": str(tmp_path)})
    assert res.exit_code == 2
    assert res.output.count("\n") == 1 and "data.roads" in res.output
    ok = runner.invoke(app, ["validate", str(BENGALURU_DIR), "--data-root", str(shared("bengaluru").parent)])
    assert ok.exit_code == 0, ok.output


def _bad_city(folder, text):
    folder.mkdir()
    (folder / "city.toml").write_text(text)
    return folder


def test_user_mistakes_exit_2_with_one_line_and_no_output(tmp_path):
    demo_toml = (DEMO_DIR / "city.toml").read_text()
    cases = {
        "malformed": "[city\nname = 'x'\n",
        "unknown_field": demo_toml.replace("[siting]", "[siting]\ncolour = 'red'"),
        "unknown_grid": demo_toml.replace('source = "synthesise"', 'source = "ouija"'),
    }
    for name, text in cases.items():
        city = _bad_city(tmp_path / name, text)
        out = tmp_path / f"{name}_out"
        res = runner.invoke(app, ["run", str(city), "--out", str(out), "-q"])
        assert res.exit_code == 2, (name, res.output)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, res.output)
        assert "Traceback" not in res.output
        assert not out.exists()
    missing = runner.invoke(app, ["run", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such file" in missing.output


@pytest.mark.parametrize(
    ("case", "section", "line", "says"),
    [
        ("data_bbox", "[data]", "bbox = [77.4, 12.8, 77.5, 12.9]", "data.bbox moved to city.study_area_bbox"),
        ("demand_bbox", "[demand]", "study_area_bbox = [77.4, 12.8, 77.5, 12.9]",
         "demand.study_area_bbox moved to city.study_area_bbox"),
        ("west_east", "[city]", "study_area_bbox = [77.5, 12.8, 77.4, 12.9]",
         "city.study_area_bbox [77.5, 12.8, 77.4, 12.9] must be [west, south, east, north]"),
    ],
)
def test_study_area_bbox_mistakes_exit_2_with_one_line(tmp_path, case, section, line, says):
    demo_toml = (DEMO_DIR / "city.toml").read_text()
    assert demo_toml.count(f"{section}\n") == 1
    city = _bad_city(tmp_path / case, demo_toml.replace(f"{section}\n", f"{section}\n{line}\n"))
    out = tmp_path / "out"
    for args in (["validate", str(city)], ["run", str(city), "--out", str(out), "-q"]):
        res = runner.invoke(app, args)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
        assert says in lines[0] and "Traceback" not in res.output
        assert "unknown field" not in lines[0]
    assert not out.exists()


def test_run_missing_data_file(tmp_path):
    city = tmp_path / "blr"
    shutil.copytree(BENGALURU_DIR, city)
    res = runner.invoke(app, ["run", str(city), "--out", str(tmp_path / "o"), "--data-root", str(tmp_path)])
    assert res.exit_code == 2 and "data.roads" in res.output
    assert not (tmp_path / "o").exists()


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _one_error_line(res):
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    return res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output


@pytest.fixture
def no_planning(monkeypatch):
    """plan() must not run: the output folder is checked before anything is computed."""
    import charge_planner.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("plan() was called before the output folder was checked")

    monkeypatch.setattr(pipeline, "plan", refuse)


def test_refused_output_folders_exit_2_before_planning_and_keep_every_file(tmp_path, monkeypatch, no_planning, read_only):
    from charge_planner.outputs import write_manifest

    city = tmp_path / "cities" / "town"
    city.mkdir(parents=True)
    (city / "city.toml").write_text((DEMO_DIR / "city.toml").read_text())
    data = tmp_path / "data" / "shared"
    data.mkdir(parents=True)
    (data / "roads.osm").write_text("<osm/>")
    user = tmp_path / "documents"
    user.mkdir()
    (user / "thesis.docx").write_text("years of work")
    (tmp_path / "file.txt").write_text("a file")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "sites.csv").write_text("site_id\n1\n")
    write_manifest(earlier, [earlier / "sites.csv"])
    (earlier / "my notes.txt").write_text("mine")
    locked = tmp_path / "locked"
    locked.mkdir()
    read_only(locked)
    before = _snapshot(tmp_path)
    cases = {
        "dot dot above the city": (city, ["run", ".", "--out", ".."], "contains the city folder"),
        "the city folder": (tmp_path, ["run", str(city), "--out", str(city)], "is the city folder"),
        "above the city": (tmp_path, ["run", str(city), "--out", str(city.parent)], "contains the city folder"),
        "the data root": (tmp_path, ["run", str(city), "--data-root", str(data), "--out", str(data.parent)],
                          "contains the data root"),
        "a user's folder": (tmp_path, ["run", str(city), "--out", str(user)], "thesis.docx"),
        "a user's folder, --overwrite": (tmp_path, ["run", str(city), "--out", str(user), "--overwrite"], "thesis.docx"),
        "an existing file": (tmp_path, ["run", str(city), "--out", "file.txt"], "is a file"),
        "a folder below a file": (tmp_path, ["run", str(city), "--out", "file.txt/out"], "file.txt is a file"),
        "a read-only folder": (tmp_path, ["run", str(city), "--out", str(locked)], "is not writable"),
        "below a read-only folder": (tmp_path, ["run", str(city), "--out", str(locked / "o")], "is not writable"),
        "an earlier output": (tmp_path, ["run", str(city), "--out", str(earlier)], "pass --overwrite"),
        "demo into a user's folder": (tmp_path, ["demo", "--out", str(user)], "thesis.docx"),
    }
    for name, (cwd, args, message) in cases.items():
        monkeypatch.chdir(cwd)
        res = runner.invoke(app, [*args, "-q"])
        assert _one_error_line(res) and message in res.output, (name, res.output)
    assert _snapshot(tmp_path) == before


def test_out_dot_from_the_repository_is_refused(monkeypatch, no_planning):
    monkeypatch.chdir(ROOT)
    res = runner.invoke(app, ["run", "sample_cities/demo_city", "--out", ".", "-q"])
    assert _one_error_line(res) and "contains the city folder" in res.output
    assert (DEMO_DIR / "city.toml").is_file()


class _Result:
    """What the command reads of a plan; ``save`` records where it was asked to write."""

    summary = {"city": "Town", "kpis": {"sites_open": 1, "installed_kw": 50.0, "served_kwh_day": 10.0,
                                        "demand_kwh_day": 20.0, "served_share": 0.5, "capex_usd": 1000.0},
               "solver": {"status": "optimal", "gap": 0.0}}

    def __init__(self):
        self.saved = []

    def save(self, out, **kwargs):
        self.saved.append((out, kwargs))
        return out


def test_run_writes_to_the_outputs_folder_of_city_toml(tmp_path, monkeypatch):
    import charge_planner.pipeline as pipeline

    result = _Result()
    monkeypatch.setattr(pipeline, "plan", lambda *args, **kwargs: result)
    monkeypatch.chdir(tmp_path)
    demo_toml = (DEMO_DIR / "city.toml").read_text()
    town = _bad_city(tmp_path / "town", demo_toml.replace('folder = "out/demo_city"', 'folder = "plans/town_2030"'))
    plain = _bad_city(tmp_path / "plain", demo_toml.replace('folder = "out/demo_city"', ""))
    assert runner.invoke(app, ["run", str(town), "-q"]).exit_code == 0
    assert runner.invoke(app, ["run", str(plain), "-q"]).exit_code == 0
    assert runner.invoke(app, ["run", str(plain), "--out", "elsewhere", "-q"]).exit_code == 0
    assert [out for out, _ in result.saved] == [Path("plans/town_2030"), Path("out/plain"), Path("elsewhere")]
    (tmp_path / "plans" / "town_2030").mkdir(parents=True)
    (tmp_path / "plans" / "town_2030" / "mine.txt").write_text("mine")
    res = runner.invoke(app, ["run", str(town), "-q"])
    assert _one_error_line(res) and "plans/town_2030 holds files (mine.txt)" in res.output
    assert len(result.saved) == 3


def test_demo_twice_replaces_its_own_output_and_keeps_other_files(demo_plan, tmp_path, monkeypatch):
    import charge_planner.pipeline as pipeline
    from charge_planner.outputs import read_manifest
    from tests.test_maps import with_config

    monkeypatch.setattr(pipeline, "plan", lambda *args, **kwargs: with_config(demo_plan, isochrones=False))
    monkeypatch.chdir(tmp_path)
    first = runner.invoke(app, ["demo", "--no-pdf", "-q"])
    out = tmp_path / "out" / "demo_city"  # outputs.folder of the demo city.toml
    assert first.exit_code == 0, first.output
    assert "outputs in out/demo_city" in first.output
    listed = {f["name"] for f in read_manifest(out)["files"]}
    assert {"map.html", "report.html", "plan.gpkg", "sites.csv", "summary.json"} <= listed
    (out / "my notes.txt").write_text("mine")
    second = runner.invoke(app, ["demo", "--no-pdf", "-q"])
    assert second.exit_code == 0, second.output
    assert (out / "my notes.txt").read_text() == "mine"
    assert {p.name for p in out.iterdir()} == listed | {"manifest.json", "my notes.txt"}
    # the demo city as a bundle: another command's output is replaced only with --overwrite
    refused = runner.invoke(app, ["run", str(DEMO_DIR), "--out", str(out), "--no-pdf", "-q"])
    assert _one_error_line(refused) and "--overwrite" in refused.output
    replaced = runner.invoke(app, ["run", str(DEMO_DIR), "--out", str(out), "--no-pdf", "--overwrite", "-q"])
    assert replaced.exit_code == 0, replaced.output
    assert (out / "my notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.rglob(".charge-planner-*")]


def test_pdf_without_a_browser_is_refused_before_planning(tmp_path, monkeypatch, no_planning):
    import charge_planner.outputs.browser as browser

    monkeypatch.setattr(browser, "find_chromium", lambda executable=None: None)
    res = runner.invoke(app, ["run", str(DEMO_DIR), "--out", str(tmp_path / "o"), "--pdf", "-q"])
    assert _one_error_line(res) and "apt-get install chromium" in res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # the roads of Kathmandu under Vietnam's preset: the data lie outside the country
        (('country = "nepal"', 'country = "vietnam"'), "outside Vietnam"),
        # the UTM zone of Ho Chi Minh City for data in Kathmandu
        (('crs = "EPSG:32645"', 'crs = "EPSG:32648"'), "EPSG:32645"),
        # a German example grid under Kathmandu's streets
        (('source = "synthesise"', 'source = "pandapower_network"\nname = "mv_oberrhein"'), "48."),
    ],
    ids=["country", "utm_zone", "grid_far"],
)
def test_validate_refuses_the_data_that_run_refuses(tmp_path, change, expected):
    """`validate` loads the data and checks it as `run` does, before any planning."""
    root = shared("kathmandu").parent
    text = (ROOT / "sample_cities" / "kathmandu_thapathali" / "city.toml").read_text()
    assert change[0] in text
    city = _bad_city(tmp_path / "ktm", text.replace(change[0], change[1]))
    res = runner.invoke(app, ["validate", str(city), "--data-root", str(root)])
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("error:") and expected in res.output
    ran = runner.invoke(app, ["run", str(city), "--data-root", str(root), "--out", str(tmp_path / "out"), "--no-pdf"])
    assert ran.exit_code == 2 and ran.output.splitlines()[-1] == res.output.strip()
    assert not (tmp_path / "out").exists()


def test_summary_line_states_the_proof_as_it_is():
    from charge_planner.cli import summary_line

    s = {"city": "X", "kpis": {"sites_open": 2, "installed_kw": 1234.4, "served_kwh_day": 900.0,
                               "demand_kwh_day": 1000.0, "served_share": 0.9, "capex_usd": 5e5},
         "solver": {"status": "optimal", "gap": 0.0004, "rows": 22320, "columns": 19799, "integer_columns": 431,
                    "solve_time_s": 8.6, "wall_clock_stop": False}}
    line = summary_line(s)
    assert "1,234 kW" in line and "900 of 1,000 kWh/day" in line
    assert "22,320 x 19,799 (431 integer) optimal, gap 0.04 %" in line
    s["solver"].update(status="feasible", gap=None, wall_clock_stop=True)
    line = summary_line(s)
    assert "feasible, no bound" in line and "time_limit_s" in line and "grid" not in line
    s["solver"].update(status="optimal", gap=0.0001, wall_clock_stop=False, solver="greedy")
    assert "optimal (greedy plan, proven by the demand within reach" in summary_line(s)
    # a grid-blind multi-year plan: the plan year's count, and the years checked before it
    s["grid"] = {"violations": 0, "vm_min_pu": 0.9521,
                 "years": {"2026": {"violations": 0}, "2027": {"violations": 0}, "2028": {"violations": 3},
                           "2029": {"violations": 7}, "2030": {"violations": 0}}}
    assert ("grid violations 0, lowest voltage 0.952 pu (2030; violations in the years checked before it: "
            "2028: 3, 2029: 7)") in summary_line(s)
    s["grid"]["years"] = {"2030": {"violations": 0}}
    assert summary_line(s).endswith("grid violations 0, lowest voltage 0.952 pu")


def test_validate_reads_the_exclusion_zones_as_run_does(tmp_path):
    city = tmp_path / "zones"
    shutil.copytree(DEMO_DIR, city)
    toml = (city / "city.toml").read_text().replace("[siting]", '[siting]\nexclusion_zones = "zones.geojson"')
    (city / "city.toml").write_text(toml)
    point = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [77.59, 12.97]}}
    (city / "zones.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [point]}))
    res = runner.invoke(app, ["validate", str(city)])
    assert _one_error_line(res) and "zones.geojson: no polygons in the exclusion-zone file" in res.output, res.output
