"""End-to-end runs: the demo city and central Bengaluru, and the files a plan writes."""

from __future__ import annotations

import json

import pandas as pd
import pyogrio
import pytest

from charge_planner import load_city, plan
from tests.conftest import BENGALURU_DIR, DEMO_DIR, shared


def test_demo_plan_is_solved_and_consistent(demo_plan):
    s = demo_plan.summary
    assert s["synthetic"] is True
    assert s["solver"]["status"] == "optimal"
    assert s["solver"]["gap"] is not None and s["solver"]["gap"] <= demo_plan.city.config.siting.mip_gap + 1e-9
    assert s["solver"]["best_bound"] >= s["solver"]["objective"] - 1e-6
    k = s["kpis"]
    assert 0 < k["served_kwh_day"] <= k["demand_kwh_day"]
    assert k["capex_usd"] <= demo_plan.city.config.siting.budget_usd + 1e-6
    sites = demo_plan.sites
    assert k["sites_open"] == len(sites) > 0
    assert sites["served_kwh_day"].sum() == pytest.approx(k["served_kwh_day"], rel=1e-6)
    # capacity: no site serves more than its chargers can deliver
    types = demo_plan.charger_types
    cap = sum(sites[f"chargers_{t}"] * types.loc[t, "power_kw"] * types.loc[t, "service_hours_day"] for t in types.index)
    assert (sites["served_kwh_day"] <= cap + 1e-6).all()
    assert (sites[[f"chargers_{t}" for t in types.index]].sum(axis=1) <= demo_plan.city.config.siting.max_chargers_per_site).all()
    # every assignment lies within its segment's cut-off
    a = demo_plan.siting.assignments.join(demo_plan.demand["cutoff_s"], on="demand_id")
    assert (a["travel_time_s"] <= a["cutoff_s"] + 1e-9).all()
    assert s["grid"]["converged"] is True
    assert s["package_versions"]["pandapower"] != "not installed"
    assert len(s["config_hash"]) == 16


def test_demo_plan_is_deterministic(demo_plan):
    again = plan(demo_plan.city, progress=False)
    assert again.summary["kpis"] == demo_plan.summary["kpis"]
    assert list(again.sites.index) == list(demo_plan.sites.index)


def test_outputs_written_and_readable(demo_outputs, demo_plan):
    names = {p.name for p in demo_outputs.iterdir()}
    assert {"assignments.csv", "map.html", "plan.gpkg", "report.html", "sites.csv", "summary.json"} <= names
    layers = {name for name, _ in pyogrio.list_layers(demo_outputs / "plan.gpkg")}
    assert {"sites", "candidates", "demand", "grid_buses", "grid_lines"} <= layers
    sites = pyogrio.read_dataframe(demo_outputs / "plan.gpkg", layer="sites")
    assert sites.crs.to_epsg() == 4326
    assert len(sites) == len(demo_plan.sites)
    lon, lat = sites.geometry.x, sites.geometry.y
    assert lon.between(-180, 180).all() and lat.between(-90, 90).all()
    lines = pyogrio.read_dataframe(demo_outputs / "plan.gpkg", layer="grid_lines")
    assert len(lines) == len(demo_plan.flow.lines) and lines.geometry.notna().all()
    summary = json.loads((demo_outputs / "summary.json").read_text())
    assert summary["solver"]["status"] == "optimal" and "gap" in summary["solver"]
    html = (demo_outputs / "map.html").read_text()
    assert html.count("cp-site") >= len(demo_plan.sites)
    report = (demo_outputs / "report.html").read_text()
    assert "Synthetic data" in report and "Assumptions and their sources" in report


def test_failed_save_leaves_no_partial_output(demo_plan, tmp_path, monkeypatch):
    import charge_planner.outputs.write as outputs

    def boom(plan, folder, **options):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "write_outputs", boom)
    with pytest.raises(RuntimeError):
        demo_plan.save(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_bengaluru_end_to_end(tmp_path, bengaluru_plan):
    city = bengaluru_plan.city
    assert city.crs == "EPSG:32643" and not city.synthetic
    # 6,401 edges in the file; one unclassified edge is tagged as not usable by cars and is dropped
    assert city.roads.number_of_edges() == 6400
    assert set(city.pois["kind"]) >= {"parking", "fuel"}
    result = bengaluru_plan
    s = result.summary
    assert s["solver"]["status"] in ("optimal", "time_limit") and s["solver"]["gap"] is not None
    assert s["kpis"]["sites_open"] > 0
    assert s["grid"]["converged"] and s["grid"]["synthetic"]
    out = result.save(tmp_path / "blr")
    layers = {name for name, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert {"sites", "demand", "grid_lines"} <= layers
    assert "OpenStreetMap contributors" in (out / "report.html").read_text()


REAL_SAMPLES = ["bengaluru_central", "kathmandu_thapathali", "hcmc_district3", "makati_cbd"]


@pytest.mark.parametrize("name", REAL_SAMPLES)
def test_every_real_sample_city_loads_with_the_shared_data(name):
    root = shared("bengaluru").parent
    city = load_city(BENGALURU_DIR.parent / name, data_dir=root)
    assert not city.synthetic and city.roads.number_of_edges() > 300
    assert city.population["population"].sum() > 10_000
    assert len(city.pois) > 0


def test_kathmandu_two_wheeler_plan_end_to_end(tmp_path):
    """A WorldPop raster, Nepal's preset and the two-wheeler road network, through to the outputs."""
    city = load_city(BENGALURU_DIR.parent / "kathmandu_thapathali", data_dir=shared("kathmandu").parent)
    assert city.config.data.mode == "two_wheeler"
    result = plan(city, progress=False)
    s = result.summary
    assert s["solver"]["status"] == "optimal"
    assert s["kpis"]["sites_open"] > 0 and s["kpis"]["served_kwh_day"] > 0
    assert s["grid"]["converged"]
    served = result.siting.served_by_segment
    assert served.loc["two_wheeler", "served_kwh_day"] > 0
    out = result.save(tmp_path / "ktm", pdf=False)
    assert "WorldPop" in (out / "report.html").read_text()


def test_segments_travel_on_the_network_of_their_mode(tmp_path):
    """Cars on the car network, two- and three-wheelers on the two-wheeler one, in one plan."""
    from charge_planner.errors import ConfigError
    from charge_planner.network import id_positions

    text = (BENGALURU_DIR.parent / "kathmandu_thapathali" / "city.toml").read_text()
    text = text.replace('mode = "two_wheeler"', 'mode = "car"\n'
                        'segment_modes = { two_wheeler = "two_wheeler", three_wheeler = "two_wheeler" }')
    (tmp_path / "ktm").mkdir()
    (tmp_path / "ktm" / "city.toml").write_text(text)
    root = shared("kathmandu").parent
    city = load_city(tmp_path / "ktm", data_dir=root)
    car, tw = city.roads_for("car"), city.roads_for("two_wheeler")
    assert city.roads is car and tw.number_of_edges() > car.number_of_edges()
    assert city.mode_of("two_wheeler") == "two_wheeler" and city.mode_of("car") == "car"
    result = plan(city, progress=False)
    travel, demand = result.travel, result.siting.demand
    assert result.summary["counts"]["road_networks"]["two_wheeler"]["edges"] == tw.number_of_edges()
    # every pair's time is the one of its own segment's network
    from charge_planner.network import snap_to_edges, travel_table

    speed = 15.0 / 3.6
    for seg, graph in (("two_wheeler", tw), ("car", car)):
        rows = result.demand[(result.demand["segment"] == seg) & (result.demand["node_id"].astype(str) != "-1")]
        rows = rows.iloc[:40]
        ds, ss = snap_to_edges(graph, rows), snap_to_edges(graph, result.candidates.loc[result.candidates["excluded_reason"] == ""])
        ref = travel_table(graph, ds["node_id"], ss["node_id"], rows["cutoff_s"], demand_access_s=ds["access_m"] / speed,
                           site_access_s=ss["access_m"] / speed, demand_snap=ds, site_snap=ss)
        got = travel[id_positions(travel["demand_id"], rows.index) >= 0]
        key = ["demand_id", "site_id"]
        a = got.astype({"demand_id": str, "site_id": str}).sort_values(key).reset_index(drop=True)
        b = ref.astype({"demand_id": str, "site_id": str}).sort_values(key).reset_index(drop=True)
        assert len(a) > 0
        pd.testing.assert_frame_equal(a.drop(columns="distance_m"), b.drop(columns="distance_m"))
        assert (a["distance_m"] - b["distance_m"]).abs().max() < 0.05  # lengths are packed to about 1 cm per edge
    assert isinstance(travel["demand_id"].dtype, pd.CategoricalDtype)
    assert len(demand) > 0
    # a segment the preset does not know is a configuration error
    (tmp_path / "ktm" / "city.toml").write_text(text.replace("three_wheeler = ", "tuktuk = "))
    with pytest.raises(ConfigError, match="tuktuk"):
        load_city(tmp_path / "ktm", data_dir=root)


def test_no_demand_to_site_is_one_line_not_a_crash(monkeypatch, tmp_path):
    """Should the demand stage leave nothing to site, the run says so instead of failing deep in the pipeline."""
    from typer.testing import CliRunner

    from charge_planner.cli import app
    from charge_planner.demand import DemandResult

    def nothing(self, years):
        return self.demand.iloc[0:0]

    monkeypatch.setattr(DemandResult, "for_siting", nothing)
    res = CliRunner().invoke(app, ["run", str(DEMO_DIR), "--out", str(tmp_path / "out"), "--no-pdf", "--quiet"])
    assert res.exit_code == 2, res.output
    assert res.output.count("\n") == 1 and "no public charging demand to site in 2030" in res.output
    assert not (tmp_path / "out").exists()
