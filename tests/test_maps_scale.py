"""The map at metro scale: simplified layers above :class:`MapDetail` sizes, every element kept at district
scale, and the map of a large synthetic city small enough and quick to open in a real headless Chromium."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_maps import ESCAPED, EVIL, evil_plan, with_config

from charge_planner.outputs.browser import Chromium, find_chromium
from charge_planner.outputs.map_elements import GeoJsonLayer, MapDetail
from charge_planner.outputs.maps import MAJOR_ROADS, build_map
from charge_planner.outputs.views import grid_layers

#: the metro the map must serve: a 30 km x 30 km city in a map.html under 20 MB
METRO_KM, METRO_MB = 30.0, 20.0
#: the large test city: big enough to cross the road, grid and marker sizes of MapDetail, small enough to
#: plan in about a minute
LARGE_KM = 12.0

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (Debian: apt-get install chromium)")


def layer_features(fmap) -> dict[str, int]:
    """Features drawn per layer name (a layer's GeoJSON layers summed)."""
    out: dict[str, int] = {}

    def walk(el, name):
        for ch in el._children.values():
            n = getattr(ch, "layer_name", None) if type(ch).__name__ == "FeatureGroup" else None
            if isinstance(ch, GeoJsonLayer):
                out[name] = out.get(name, 0) + ch.n_features
            walk(ch, n or name)

    walk(fmap, "")
    return out


def payload_bytes(fmap) -> int:
    """Bytes of every GeoJSON payload of the map: what grows with the city's area."""
    total = 0

    def walk(el):
        nonlocal total
        for ch in el._children.values():
            if isinstance(ch, GeoJsonLayer):
                total += len(ch.data.encode("utf-8"))
            walk(ch)

    walk(fmap)
    return total


def one(counts: dict[str, int], prefix: str) -> int:
    hits = [v for k, v in counts.items() if k.startswith(prefix)]
    assert len(hits) == 1, (prefix, list(counts))
    return hits[0]


# ---------------------------------------------------------------------------------------------
# district scale: nothing is simplified
# ---------------------------------------------------------------------------------------------
def test_district_map_keeps_every_cell_site_candidate_road_and_grid_element(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    fmap = build_map(p, offline=False)
    assert fmap.simplified == []
    document = fmap.to_html()
    assert "Simplified for the size" not in document and "L.markerClusterGroup" not in document
    counts = layer_features(fmap)
    d = p.demand[p.demand["year"] == p.city.config.fleet.year]
    cells = d.groupby("cell_id")["energy_kwh_day"].sum()
    assert counts["all segments, 2030"] == int((cells > 0).sum())
    assert counts[f"chosen sites ({len(p.sites)})"] == len(p.sites)
    assert counts[f"candidate sites ({len(p.candidates)})"] == len(p.candidates)
    layers = grid_layers(p)
    assert one(counts, "grid buses") == len(layers.buses)
    assert one(counts, "grid lines") == len(layers.lines)
    # every road edge drawn: one feature per street name
    names = {str(d.get("name") or "") for _, _, d in p.city.roads.edges(data=True)}
    assert counts["road network"] == len(names)
    # every transformer in the EV hosting layer
    from charge_planner.pipeline.adoption import plan_hosting_level

    level = plan_hosting_level(p)
    assert one(counts, "EV hosting per transformer") == len(level.table.dropna(subset=["x_m", "y_m"]))


# ---------------------------------------------------------------------------------------------
# above the limits: each layer simplified as documented (limits lowered on the demo plan)
# ---------------------------------------------------------------------------------------------
def test_demand_cells_merge_into_blocks_that_keep_the_energy(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    fmap = build_map(p, offline=False, detail=MapDetail(demand_cells=100))
    document = fmap.to_html()
    d = p.demand[p.demand["year"] == p.city.config.fleet.year]
    cells = d.groupby("cell_id").agg(energy=("energy_kwh_day", "sum"), geometry=("geometry", "first"))
    # 252 cells of 500 m: 2 x 2 blocks of 1 km, counted by hand from the cell centres
    x = np.array([g.x for g in cells["geometry"]])
    y = np.array([g.y for g in cells["geometry"]])
    bx, by = np.floor((x - x.min()) / 1000.0 + 1e-9), np.floor((y - y.min()) / 1000.0 + 1e-9)
    blocks = pd.Series(cells["energy"].to_numpy()).groupby([bx, by]).sum()
    assert len(cells) > 100 >= len(blocks)
    assert layer_features(fmap)["all segments, 2030 (2×2 blocks)"] == int((blocks > 0).sum())
    # the energy of each block is the sum of its cells': compare the tooltips' kWh/day with the blocks
    tips = re.findall(r"\(2×2 block\) · all segments, 2030\\u003cbr\\u003e([\d,]+) kWh/day", document)
    shown = sorted(float(t.replace(",", "")) for t in tips)
    expected = sorted(blocks[blocks > 0].to_numpy())
    assert len(shown) == len(expected)
    assert np.allclose(shown, expected, atol=0.5 + 1e-9)
    assert "kWh/day per block of 2×2 cells (1 km)" in document  # selector and legend say so
    assert any("merged into blocks of 2×2 cells" in s for s in fmap.simplified)
    assert "Simplified for the size of the city" in document


def test_large_road_network_and_grid_are_reduced_and_say_so(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    fmap = build_map(p, offline=False, detail=MapDetail(road_edges=1000, grid_buses=1000))
    counts = layer_features(fmap)
    # major roads only: the undirected edges whose highway class is major, counted independently
    major = {frozenset((u, v)) for u, v, d in p.city.roads.edges(data=True)
             if str(d.get("highway", "")).removesuffix("_link") in MAJOR_ROADS}
    total = {frozenset((u, v)) for u, v in p.city.roads.edges()}
    label = f"road network: major roads only (motorway to tertiary, {len(major)} of {len(total)} segments)"
    assert label in counts
    # grid: MV lines and violated lines; substation and violated buses; every transformer
    layers = grid_layers(p)
    kv = layers.buses.set_index("bus_id")["vn_kv"]
    mv = (layers.lines["from_bus"].map(kv) > 1.0) & (layers.lines["to_bus"].map(kv) > 1.0)
    violated = layers.lines["violation"].astype(str) != ""
    assert one(counts, "grid lines (loading %): MV lines, LV lines only where violated") == int((mv | violated).sum())
    assert (layers.buses["vn_kv"] <= 1.0).sum() > 0 and (~mv).sum() > 0  # there was LV detail to leave out
    subs = layers.buses["role"].isin(["hv", "mv_substation"]) | layers.buses["slack"].astype(bool)
    bad = layers.buses["violation"].astype(str) != ""
    assert one(counts, "grid buses (lowest voltage pu): substations and violated buses only") == int((subs | bad).sum())
    assert one(counts, "grid transformers") == len(layers.trafos)
    # the violations layer still places every violation, LV ones included
    full = layer_features(build_map(p, offline=False))
    assert one(counts, "grid violations") == one(full, "grid violations") > 0
    assert sum("grid:" in s for s in fmap.simplified) == 1 and sum("road network" in s for s in fmap.simplified) == 1


def test_many_markers_are_clustered_offline_and_stay_escaped(demo_plan):
    p = evil_plan(demo_plan)
    fmap = build_map(p, detail=MapDetail(markers=10))  # offline: the plugin is inlined
    document = fmap.to_html()
    site_layers = sum(k.startswith("chosen sites") for k in layer_features(fmap))
    assert site_layers >= 1 and document.count("L.markerClusterGroup(") == 1 + site_layers
    assert "leaflet.markercluster.js (inlined)" in document and "MarkerCluster.Default.css (inlined)" in document
    assert not re.search(r'<script[^>]+src="https?:', document) and not re.search(r'<link[^>]+href="https?:', document)
    assert f"candidate sites ({len(p.candidates)}, clustered)" in document
    assert EVIL not in document and "<img src=x" not in document
    online = build_map(p, offline=False, detail=MapDetail(markers=10)).to_html()
    assert "cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.4.1/leaflet.markercluster.js" in online


def test_clustered_offline_map_without_the_plugin_package_is_a_clear_error(demo_plan, monkeypatch):
    import sys

    from charge_planner.outputs.map_elements import MapError

    p = with_config(demo_plan, isochrones=False)
    monkeypatch.setitem(sys.modules, "xstatic.pkg.leaflet_markercluster", None)  # not installed
    build_map(p).to_html()  # no cluster at district scale: the plugin is not needed
    with pytest.raises(MapError, match=r"needs the Python package xstatic-leaflet-markercluster \(pip install"):
        build_map(p, detail=MapDetail(markers=10)).to_html()


@needs_chromium
def test_clustered_markers_and_compact_popups_work_in_the_browser(demo_plan, tmp_path):
    p = evil_plan(demo_plan)  # hostile names: the popups built in the browser keep them as text
    path = tmp_path / "map.html"
    build_map(p, detail=MapDetail(markers=10)).save(path)
    with Chromium() as browser:
        page = browser.new_page(width_px=1200, height_px=800)
        page.goto(path.resolve().as_uri())
        assert page.errors == []
        # show the candidate layer: its markers merge into fewer numbered clusters
        page.evaluate("Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
                      ".find(l => l.textContent.includes('candidate sites')).querySelector('input').click()")
        clusters = page.evaluate("document.querySelectorAll('.marker-cluster').length")
        assert 0 < clusters < len(p.candidates) + len(p.sites)
        counted = page.evaluate("Array.from(document.querySelectorAll('.marker-cluster span'))"
                                ".reduce((s, e) => s + Number(e.textContent), 0)")
        assert counted <= len(p.candidates) + len(p.sites) and counted > 0
        # a candidate popup is drawn as a table from its compact rows
        map_var = re.search(r"var (map_\w+) = L\.map\(", path.read_text(encoding="utf-8")).group(1)
        html = page.evaluate(
            f"(() => {{ let out = null; {map_var}.eachLayer(g => {{ if (!out && g instanceof L.MarkerClusterGroup) "
            "{ g.getLayers().forEach(l => { if (!out && l.options.radius === 3.5 && l.getPopup()) "
            "{ out = l.getPopup().getContent(); } }); } }); return out; })()")
        assert html is not None and html.startswith("<div class='cp-popup-title'>") and "<th>status</th>" in html
        assert ESCAPED in html and EVIL not in html
        assert page.errors == [] and page.dialogs == []
        assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0


# ---------------------------------------------------------------------------------------------
# a large synthetic city
# ---------------------------------------------------------------------------------------------
LARGE_TOML = """
[city]
name = "Large test city (synthetic)"
country = "india"
crs = "EPSG:32643"

[data]
source = "synthetic"
seed = 42
width_m = {m:.0f}
height_m = {m:.0f}
population = 1_400_000

[fleet]
year = 2030

[demand]
cell_size_m = 500

[siting]
budget_usd = 1_500_000
max_chargers_per_site = 8
max_sites_per_demand = 10
time_limit_s = 5
mip_gap = 0.005

[grid]
source = "synthesise"
ev_peak_coincidence = 0.5
hosting_capacity = false

[outputs]
isochrones = false
"""


@pytest.fixture(scope="module")
def large_plan(tmp_path_factory):
    import charge_planner as cp

    folder = tmp_path_factory.mktemp("large_city")
    (folder / "city.toml").write_text(LARGE_TOML.format(m=LARGE_KM * 1000), encoding="utf-8")
    return cp.plan(cp.load_city(folder), progress=False)


@needs_chromium
@pytest.mark.scale
def test_large_city_map_is_small_and_opens_quickly(large_plan, tmp_path):
    detail = MapDetail()
    assert large_plan.city.roads.number_of_edges() > detail.road_edges
    assert len(large_plan.grid_results.flow.buses) > detail.grid_buses
    assert len(large_plan.candidates) > detail.markers
    t0 = time.perf_counter()
    fmap = build_map(large_plan)
    path = tmp_path / "map.html"
    fmap.save(path)
    build_s = time.perf_counter() - t0
    size = path.stat().st_size
    payload = payload_bytes(fmap)
    # what grows with the area scales by (30 / 12)^2 = 6.25; Leaflet, the legend and the scripts do not.
    # Conservative: at 30 km the demand cells are merged into blocks as well, which this does not credit.
    metro = (size - payload) + payload * (METRO_KM / LARGE_KM) ** 2
    print(f"\n{LARGE_KM:g} km map: {size / 1e6:.2f} MB ({payload / 1e6:.2f} MB of features), built in {build_s:.1f} s;"
          f" extrapolated to {METRO_KM:g} km: {metro / 1e6:.1f} MB")
    assert len(fmap.simplified) >= 3  # roads, grid, candidates
    assert metro < METRO_MB * 1e6
    with Chromium() as browser:
        page = browser.new_page(width_px=1400, height_px=900)
        t0 = time.perf_counter()
        page.goto(Path(path).resolve().as_uri(), timeout_s=60)
        load_s = time.perf_counter() - t0
        # every demand view's layers exist and the map answers a script after loading
        assert page.evaluate("document.querySelectorAll('.cp-demand select').length") == 2
        t1 = time.perf_counter()
        page.evaluate("(() => { const s = document.querySelector('.cp-demand .cp-seg'); s.value = 'car'; "
                      "s.dispatchEvent(new Event('change')); return 1; })()")
        switch_s = time.perf_counter() - t1
        print(f"opened in headless Chromium in {load_s:.1f} s; demand view switched in {switch_s:.2f} s")
        assert page.errors == []
        assert [u for u in page.requests if u.startswith(("http:", "https:"))] == []
    assert load_s < 15.0 and switch_s < 5.0


def _layer_data(fmap, prefix: str) -> list[dict]:
    """The GeoJSON features of the layer whose name starts with ``prefix``."""
    import json

    found: list[dict] = []

    def walk(el, name):
        for ch in el._children.values():
            n = getattr(ch, "layer_name", None) if type(ch).__name__ == "FeatureGroup" else None
            if isinstance(ch, GeoJsonLayer) and (name or "").startswith(prefix):
                found.extend(json.loads(ch.data)["features"])
            walk(ch, n or name)

    walk(fmap, "")
    return found


def test_many_lines_and_transformers_loaded_up_to_80_percent_are_merged_by_colour_class(demo_plan):
    p = with_config(demo_plan, isochrones=False)
    layers = grid_layers(p)
    fmap = build_map(p, offline=False, detail=MapDetail(grid_elements=50))
    for prefix, table, col, what, geom_type in (
            ("grid lines", layers.lines, "loading_percent", "lines", "MultiLineString"),
            ("grid transformers", layers.trafos, "loading_percent", "transformers", "MultiPoint")):
        loads = table[col].to_numpy(float)
        violated = table["violation"].astype(str).to_numpy() != ""
        light = (loads <= 80.0) & ~violated
        assert light.sum() > 0 and (~light).sum() > 0  # both kinds exist on the demo grid
        feats = _layer_data(fmap, prefix)
        merged = [f for f in feats if f["geometry"]["type"] == geom_type]
        single = [f for f in feats if f["geometry"]["type"] != geom_type]
        # every element loaded over 80 % or violated keeps its own feature; the light ones are in two shapes
        assert len(single) == int((~light).sum())
        by_colour = {f["properties"]["style"].get("color", f["properties"]["style"].get("fillColor")): f for f in merged}
        green, amber = (loads <= 50.0) & light, (loads > 50.0) & light
        for colour, sel in (("#1a9850", green), ("#fdae61", amber)):
            if not sel.any():
                assert colour not in by_colour
                continue
            f = by_colour[colour]
            assert f["properties"]["tip"].startswith(f"{int(sel.sum()):,} {what} loaded ")
            n_parts = len(f["geometry"]["coordinates"])
            expected = sum(len(getattr(g, "geoms", [g])) for g in table.geometry[sel])
            assert n_parts == expected
        assert len(merged) == int(green.any()) + int(amber.any())
    assert sum("drawn as one shape per colour class" in s for s in fmap.simplified) == 2
    # below the size nothing is merged
    full = build_map(p, offline=False)
    assert all(f["geometry"]["type"] in ("LineString", "MultiLineString") for f in _layer_data(full, "grid lines"))
    assert len(_layer_data(full, "grid lines")) == len(layers.lines.dropna(subset=["geometry"]))
    assert not any("one shape per colour class" in s for s in full.simplified)
