"""Map and report: content, and escaping of untrusted strings (OSM names, user labels)."""

from __future__ import annotations

import copy

from charge_planner.maps import build_map, esc, loading_colour
from charge_planner.report import render_report

EVIL = "<script>alert(1)</script>"


def _evil_plan(demo_plan):
    p = copy.copy(demo_plan)
    p.sites = demo_plan.sites.copy()
    p.sites["name"] = EVIL
    p.candidates = demo_plan.candidates.copy()
    p.candidates["name"] = EVIL
    p.sites["kind"] = '"><img src=x onerror=alert(2)>'
    return p


def test_untrusted_strings_are_escaped_in_map_and_report(demo_plan):
    p = _evil_plan(demo_plan)
    html = build_map(p).get_root().render()
    assert EVIL not in html and "onerror=alert(2)>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    report = render_report(p)
    assert EVIL not in report and "<img src=x" not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report


def test_map_has_layers_and_one_marker_per_site(demo_plan):
    html = build_map(demo_plan).get_root().render()
    for name in ("chosen sites", "candidate sites", "demand (kWh/day per cell)", "grid lines (loading %)"):
        assert name in html
    assert html.count('"className": "cp-site"') == len(demo_plan.sites)
    assert "synthetic demo city" in html


def test_loading_colours_and_esc():
    assert loading_colour(10) == "#1a9850"
    assert loading_colour(90) == "#f46d43"
    assert loading_colour(150) == "#a50026"
    assert esc(None) == "" and esc("a&b") == "a&amp;b"
