"""Map: layers, markers, offline assets, graceful degradation, and escaping of untrusted strings."""

from __future__ import annotations

import copy
import dataclasses
import re

import geopandas as gpd
import networkx as nx
import pandas as pd
import pytest

from charge_planner.config import OutputsSection
from charge_planner.outputs.map_elements import (
    SITE_CLASS,
    MapError,
    esc,
    inline_assets,
    loading_colour,
    script_json,
    stable_ids,
    voltage_colour,
)
from charge_planner.outputs.maps import build_map
from charge_planner.outputs.report import render_report
from charge_planner.outputs.views import rollout_table, year_colours

EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def with_config(plan, **outputs):
    """Shallow copy of a plan whose city config has other ``[outputs]`` settings."""
    p = copy.copy(plan)
    cfg = plan.city.config.model_copy(update={"outputs": OutputsSection(**outputs)})
    p.city = dataclasses.replace(plan.city, config=cfg)
    return p


def evil_plan(plan):
    """A plan whose site, candidate, street and city names and site kinds are hostile HTML."""
    p = copy.copy(plan)
    p.sites = plan.sites.copy()
    p.sites["name"] = EVIL
    p.sites["kind"] = EVIL_ATTR
    p.candidates = plan.candidates.copy()
    p.candidates["name"] = EVIL
    roads = plan.city.roads.copy()
    nx.set_edge_attributes(roads, EVIL, "name")
    cfg = plan.city.config.model_copy(
        update={"city": plan.city.config.city.model_copy(update={"name": EVIL}), "outputs": OutputsSection(isochrones=False)}
    )
    p.city = dataclasses.replace(plan.city, roads=roads, config=cfg)
    return p


def site_marker_count(document: str) -> int:
    return document.count(f'"className":"{SITE_CLASS}"')


def test_untrusted_strings_are_escaped_in_map_and_report(demo_plan):
    p = evil_plan(demo_plan)
    document = build_map(p, offline=False).to_html()
    assert EVIL not in document and "<img src=x" not in document
    # escaped for HTML, and the JSON payload cannot close the script element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "</script>alert" not in document.lower()
    script_bodies = re.findall(r"<script>(.*?)</script>", document, flags=re.S)
    assert not any("<script" in body for body in script_bodies)
    report = render_report(p)
    assert EVIL not in report and "<img src=x" not in report
    assert ESCAPED in report


def test_map_has_every_layer_and_one_marker_per_site(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    fmap = build_map(p, offline=False)
    document = fmap.to_html()
    assert fmap.site_markers == len(p.sites) == site_marker_count(document)
    for name in ("chosen sites", "candidate sites", "all segments, 2030", "two wheeler, 2030", "road network",
                 "grid lines (loading %)", "grid buses", "grid transformers", "grid violations", "cp-demand",
                 "coverage gaps 2030"):
        assert name in document, name
    assert "synthetic demo city" in document
    assert "fitBounds" in document
    # layer control, legend, popups with the site details the issue names
    assert "L.control.layers" in document and "cp-legend" in document
    for detail in ("chargers ", "installed power", "served energy", "grid connection", "hosting capacity"):
        assert detail in document, detail
    # every demand view of each segment has one marker per cell with energy
    cells_2w = (p.demand[p.demand["segment"] == "two_wheeler"].groupby("cell_id")["energy_kwh_day"].sum() > 0).sum()
    assert document.count("two wheeler, 2030\\u003cbr") == cells_2w


def test_offline_map_inlines_leaflet_and_loads_nothing_remote(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    document = build_map(p).to_html()  # offline is the default
    assert not re.search(r'<script[^>]+src="https?:', document)
    assert not re.search(r'<link[^>]+href="https?:', document)
    assert "leaflet.js (inlined)" in document and "jquery-3.7.1.min.js (inlined)" in document
    assert "leaflet.css (inlined)" in document and "url(data:image/png;base64," in document
    assert "sourceMappingURL" not in document
    online = build_map(p, offline=False).to_html()
    assert 'src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"' in online
    # deterministic: the same plan gives byte-identical HTML
    assert build_map(p).to_html() == document
    # shown inline in Jupyter as a sandboxed iframe holding the same document
    assert build_map(p)._repr_html_().startswith("<iframe srcdoc=")


def test_offline_mode_refuses_what_it_cannot_inline():
    plugin = '<html><head><script src="https://cdn.example.org/leaflet.heat.js"></script></head></html>'
    with pytest.raises(MapError, match="leaflet.heat.js"):
        inline_assets(plugin)
    with pytest.raises(MapError, match="awesome-markers"):
        inline_assets("<script>L.AwesomeMarkers.icon({})</script>")
    icons = '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css"/>'
    assert inline_assets(icons) == ""
    local = '<script src="my.js"></script>'
    assert inline_assets(local) == local


def test_map_saves_a_standalone_file(demo_plan, tmp_path):
    p = with_config(demo_plan, isochrones=False)
    path = tmp_path / "map.html"
    build_map(p).save(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and site_marker_count(text) == len(p.sites)


def test_sites_are_coloured_by_opening_year_and_rollout_shown(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    p.sites = demo_plan.sites.copy()
    years = [2026 if i % 3 == 0 else 2028 if i % 3 == 1 else 2030 for i in range(len(p.sites))]
    p.sites["year_opened"] = years
    p.siting = copy.copy(demo_plan.siting)
    p.siting.rollout = None  # no rollout table from the siting stage: derived from year_opened
    document = build_map(p, offline=False).to_html()
    colours = year_colours(years)
    for y, c in colours.items():
        n = years.count(y)
        assert f"chosen sites opened {y} ({n})" in document
        assert document.count(f'"fillColor":"{c}","fillOpacity":0.9,"className":"{SITE_CLASS}"') == n
        assert f"opened {y}</div>" in document  # legend entry
    roll = rollout_table(p)
    assert sorted(roll["year"].unique()) == [2026, 2028, 2030]


def test_isochrones_hosting_capacity_and_time_series_columns_are_drawn_when_present(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    iso = gpd.GeoDataFrame(
        {"site_id": p.sites.index, "minutes": 10.0}, geometry=p.sites.geometry.buffer(500.0).to_numpy(), crs=p.city.crs
    )
    p.sites = demo_plan.sites.copy()
    p.sites["hosting_capacity_kw"] = 123.0
    flow = copy.copy(demo_plan.flow)
    flow.buses = demo_plan.flow.buses.assign(vm_min_pu=lambda b: b["vm_pu"] - 0.01, vm_max_pu=lambda b: b["vm_pu"] + 0.01)
    flow.lines = demo_plan.flow.lines.assign(loading_max_percent=lambda t: t["loading_percent"] * 1.1)
    p.grid_results = dataclasses.replace(demo_plan.grid_results, flow=flow)
    document = build_map(p, isochrones=iso, offline=False).to_html()
    assert "coverage: 10-minute drive of a chosen site" in document
    assert "123 kW" in document
    assert "grid buses (lowest voltage pu)" in document
    assert "isochrones" not in "".join(build_map(p, isochrones=iso, offline=False).notes)


def test_map_degrades_gracefully_without_grid_or_sites(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    p.grid_results = None
    p.sites = demo_plan.sites.iloc[0:0]
    fmap = build_map(p, offline=False)
    document = fmap.to_html()
    assert fmap.site_markers == 0
    assert "grid lines" not in document
    assert any("grid: not modelled" in n for n in fmap.notes)
    assert any("opens no site" in n for n in fmap.notes)
    assert "Not shown:" in document


def test_isochrones_turned_off_give_a_note(demo_plan):
    fmap = build_map(with_config(demo_plan, isochrones=False), offline=False)
    assert any("outputs.isochrones = true" in n for n in fmap.notes)


def test_small_helpers():
    assert loading_colour(10) == "#1a9850"
    assert loading_colour(90) == "#f46d43"
    assert loading_colour(150) == "#a50026"
    assert voltage_colour(0.94, 0.95, 1.05) == "#a50026"
    assert voltage_colour(0.96, 0.95, 1.05) == "#fdae61"
    assert voltage_colour(1.00, 0.95, 1.05) == "#2c7bb6"
    assert voltage_colour(1.06, 0.95, 1.05) == "#762a83"
    assert esc(None) == "" and esc("a&b") == "a&amp;b" and esc('"') == "&quot;"
    assert script_json({"a": "</script>&"}) == '{"a":"\\u003c/script\\u003e\\u0026"}'
    assert list(year_colours([2030, 2026, 2026])) == [2026, 2030]
    a = "map_" + "0" * 31 + "a"
    b = "line_" + "f" * 32
    assert stable_ids(f"{a} {b} {a}") == "map_000001 line_000002 map_000001"


def test_coverage_gaps_label_the_unserved_cells_by_cause(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    d = p.demand[p.demand["year"] == 2030] if "year" in p.demand else p.demand
    d = d[d["energy_kwh_day"] > 0]
    # unserved energy per row from the assignments, independently of the cause table
    served = p.siting.assignments.groupby("demand_id")["served_kwh_day"].sum().reindex(d.index).fillna(0.0)
    short = d[d["energy_kwh_day"] - served > 1e-7 * d["energy_kwh_day"]]
    document = build_map(p, offline=False).to_html()
    assert f"coverage gaps 2030: unserved demand by main cause ({short['cell_id'].nunique()} cells" in document
    # a row with no travel pair to any candidate is labelled "no candidate" in its cell's tooltip
    alone = d[~d.index.isin(set(p.travel["demand_id"]))]
    for cid in alone["cell_id"].unique()[:5]:
        tip = re.search(re.escape(f"\\u003cb\\u003e{cid}\\u003c/b\\u003e: ") + r"[^\"]*kWh/day unserved[^\"]*", document)
        assert tip is not None and "no eligible candidate within reach" in tip.group(0), cid
    assert "0 cells out of reach" not in document and "Unserved demand (main cause)" in document


def test_site_popup_lists_the_chargers_installed_by_year(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    sid = p.sites.index[0]
    t0 = p.charger_types.index[0]
    p.siting = copy.copy(demo_plan.siting)
    p.siting.rollout = pd.DataFrame({"site_id": [sid, sid], "year": [2030, 2026], f"chargers_{t0}": [5, 2]})
    document = build_map(p, offline=False).to_html()
    assert "chargers installed by year" in document and "2026: 2, 2030: 5" in document


def test_custom_tile_url_carries_its_attribution(demo_plan):
    url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    p = with_config(demo_plan, isochrones=False, map_tiles=url, map_attribution="Tiles by Example, CC BY 4.0")
    document = build_map(p, offline=False).to_html()
    assert url in document and "Tiles by Example, CC BY 4.0" in document


def test_generated_depot_candidates_are_labelled_in_popups_legend_and_report(demo_plan):
    """A chosen site and an unchosen candidate flagged as generated depot candidates carry the flag in
    their tooltip and popup, the legend explains it once, the report lists it; others carry none."""
    from charge_planner.candidates import GENERATED_DEPOT_FLAG

    p = with_config(demo_plan, isochrones=False)
    plain = build_map(p, offline=False).to_html()
    assert GENERATED_DEPOT_FLAG not in plain and GENERATED_DEPOT_FLAG not in render_report(p)
    chosen = p.sites.index[0]
    other = next(s for s in p.candidates.index if s not in p.sites.index)
    p.candidates = p.candidates.copy()
    p.candidates["flag"] = ""
    p.candidates.loc[[chosen, other], "flag"] = GENERATED_DEPOT_FLAG
    p.candidates.loc[[chosen, other], "kind"] = "generated_depot"
    p.candidates["area_m2"] = float("nan")
    p.candidates.loc[other, "area_m2"] = 12_345.0
    document = build_map(p, offline=False).to_html()
    # tooltip and popup of the chosen site, of its candidate point and of the other candidate; the legend row
    assert document.count(GENERATED_DEPOT_FLAG) == 7
    assert "12,345 m²" in document or "12,345 m\\u00b2" in document  # the land area in the candidate popup
    html = render_report(p)
    assert f"<small>{GENERATED_DEPOT_FLAG}</small>" in html  # in the sites table, beside the kind
    assert "2 depot candidate(s) were generated on OSM land" in html
