"""The offline map and the report opened in a real headless Chromium.

Skipped only when no Chromium is installed (CI installs Debian's ``chromium``, see .ci/run).
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from test_maps import EVIL, evil_plan, with_config

from charge_planner.outputs.browser import Chromium, find_chromium
from charge_planner.outputs.maps import SITE_CLASS, build_map
from charge_planner.outputs.views import YEAR_PALETTE

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="Chromium not installed (Debian: apt-get install chromium)"
)

DRAWN_SITES = (
    f"Array.from(document.querySelectorAll('path.{SITE_CLASS}'))"
    ".filter(e => (e.getAttribute('d') || 'M0 0') !== 'M0 0').length"
)


@pytest.fixture(scope="module")
def browser():
    with Chromium() as b:
        yield b


def _png_pixels(path):
    import matplotlib.image as mpimg

    return mpimg.imread(str(path))[..., :3]


def _colour_pixels(img: np.ndarray, hex_colour: str, tol: float = 0.06) -> int:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return int((np.abs(img - rgb).max(axis=2) < tol).sum())


def test_offline_map_draws_every_site_without_errors_or_network(browser, demo_outputs, demo_plan, tmp_path):
    page = browser.new_page(width_px=1400, height_px=900)
    page.goto((demo_outputs / "map.html").resolve().as_uri())
    assert page.errors == []
    remote = [u for u in page.requests if u.startswith(("http:", "https:"))]
    assert remote == []  # the demo city has no basemap; Leaflet and jQuery are inline
    assert page.evaluate("typeof L") == "object" and page.evaluate("L.version").startswith("1.")
    assert page.evaluate(DRAWN_SITES) == len(demo_plan.sites)
    # the layer control lists the layers and the legend is shown
    assert page.evaluate("document.querySelectorAll('.leaflet-control-layers-overlays label').length") >= 6
    assert page.evaluate("document.querySelector('.cp-legend') !== null")
    shot = page.screenshot(tmp_path / "map.png")
    img = _png_pixels(shot)
    assert img.shape[:2] == (900, 1400) and img.std() > 0.05
    assert _colour_pixels(img, YEAR_PALETTE[0]) > 50  # site markers are visibly drawn


def test_demand_selector_switches_the_demand_view(browser, demo_outputs, demo_plan):
    from charge_planner.outputs.views import DEMAND_COLOUR

    page = browser.new_page()
    page.goto((demo_outputs / "map.html").resolve().as_uri())
    map_var = re.search(r"var (map_\w+) = L\.map\(", (demo_outputs / "map.html").read_text()).group(1)
    count = (f"(() => {{ let n = 0; {map_var}.eachLayer(l => {{ if (l.options && l.options.fillColor === "
             f"'{DEMAND_COLOUR}' && l.getLatLng) n += 1; }}); return n; }})()")

    def choose(segment: str) -> int:
        page.evaluate(f"(() => {{ const s = document.querySelector('.cp-demand .cp-seg'); s.value = '{segment}'; "
                      "s.dispatchEvent(new Event('change')); })()")
        return page.evaluate(count)

    d = demo_plan.demand
    if "year" in d.columns:
        d = d[d["year"] == demo_plan.city.config.fleet.year]
    cells = d.groupby("cell_id")["energy_kwh_day"].sum()
    assert page.evaluate(count) == int((cells > 0).sum())  # all segments shown first
    two = d[d["segment"] == "two_wheeler"].groupby("cell_id")["energy_kwh_day"].sum()
    assert choose("two_wheeler") == int((two > 0).sum())
    assert choose("-") == 0
    assert page.errors == []


def test_report_renders_with_all_charts(browser, demo_outputs, tmp_path):
    page = browser.new_page(width_px=1200, height_px=900)
    page.goto((demo_outputs / "report.html").resolve().as_uri())
    assert page.errors == []
    images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert len(images) >= 4 and all(images)
    assert page.evaluate("document.querySelectorAll('h2').length") >= 10
    shot = page.screenshot(tmp_path / "report.png", full_page=True)
    img = _png_pixels(shot)
    assert img.shape[0] > 3000 and img.std() > 0.05


def test_hostile_names_stay_text_in_the_browser(browser, demo_plan, tmp_path):
    path = tmp_path / "evil_map.html"
    build_map(evil_plan(demo_plan)).save(path)
    document = path.read_text(encoding="utf-8")
    map_var = re.search(r"var (map_\w+) = L\.map\(", document).group(1)
    page = browser.new_page()
    page.goto(path.resolve().as_uri())
    assert page.errors == [] and page.dialogs == []
    # open a site popup and a street tooltip: the hostile names show as text, nothing is injected
    shown = page.evaluate(
        f"""(() => {{
            let popup = null, tip = null;
            {map_var}.eachLayer(l => {{
                if (!popup && l.options && l.options.className === '{SITE_CLASS}' && l.getPopup()) {{
                    l.openPopup(); popup = document.querySelector('.leaflet-popup-content');
                }}
            }});
            const text = popup ? popup.textContent : '';
            {map_var}.eachLayer(l => {{
                if (!tip && l.getTooltip && l.getTooltip() && l.feature && l.feature.geometry.type === 'MultiLineString') {{
                    l.openTooltip(l.getBounds().getCenter()); tip = document.querySelector('.leaflet-tooltip');
                }}
            }});
            return [text, tip ? tip.textContent : '',
                    document.querySelectorAll('img[src="x"]').length,
                    Array.from(document.scripts).filter(s => s.textContent.trim() === 'alert(1)').length];
        }})()"""
    )
    popup_text, tip_text, injected_images, injected_scripts = shown
    assert EVIL in popup_text and EVIL in tip_text
    assert injected_images == 0 and injected_scripts == 0
    assert page.dialogs == [] and page.errors == []
    assert EVIL in page.evaluate("document.title")


def test_report_prints_to_a_readable_pdf(demo_outputs, tmp_path):
    pdf = demo_outputs / "report.pdf"  # written by Plan.save because Chromium is installed
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 4
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed: PDF pages not rasterised")
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    img = _png_pixels(next(tmp_path.glob("page*.png")))
    assert img.std() > 0.05 and img.shape[0] > img.shape[1]  # a portrait page with content


def test_offline_map_of_a_real_city(browser, tmp_path, bengaluru_plan):
    p = with_config(bengaluru_plan, isochrones=False)
    path = tmp_path / "bengaluru.html"
    build_map(p).save(path)
    page = browser.new_page()
    page.goto(path.resolve().as_uri())
    assert page.errors == []
    non_tile = [u for u in page.requests if u.startswith(("http:", "https:")) and "tile.openstreetmap.org" not in u]
    assert non_tile == []
    assert page.evaluate(DRAWN_SITES) == len(p.sites)
    assert "OpenStreetMap" in page.evaluate("document.querySelector('.leaflet-control-attribution').textContent")
