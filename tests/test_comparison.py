"""Scenario comparison: Pareto-efficient scenarios (hand-built fronts), the HTML page (escaping, failed
scenarios, no grid check, charts) and its files (HTML, PDF printed by Chromium)."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from charge_planner.outputs import browser, comparison
from charge_planner.outputs.comparison import (
    PARETO_OBJECTIVES,
    comparison_html,
    pareto_efficient,
    write_comparison,
)
from charge_planner.outputs.write import OutputError
from charge_planner.pipeline.options import OPTION_COLUMNS


def row(scenario: str, served: float = 0.8, capex: float = 100_000.0, *, city: str = "Pune", status: str = "ok",
        error: str = "", overrides: str = "demand.charging_strategy='unmanaged'", peak: float = 500.0,
        violations: int = 2, renewable: float = 0.2, co2: float = 50.0, grid: bool = True) -> dict:
    """One scenario row with the columns of a sweep; figures NaN when failed, grid ones NaN without a check."""
    r = {"city": city, "scenario": scenario, "status": status, "error": error, "overrides": overrides,
         "strategy": "unmanaged", "sites_open": 4, "installed_kw": 240.0, "served_share": served,
         "capex_usd": capex, "reinforcement_usd": 0.0, "utility_reinforcement_usd": np.nan,
         "peak_ev_kw": peak if grid else np.nan, "peak_site_kw": 180.0 if grid else np.nan,
         "violations": violations if grid else -1, "violation_hours": 3.0 if grid else np.nan,
         "vm_min_pu": 0.93 if grid else np.nan, "renewable_share": renewable, "co2_t_year": co2}
    if status != "ok":
        r.update({k: np.nan for k in OPTION_COLUMNS if k not in ("option", "overrides", "strategy")})
    return r


def table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


# ----------------------------------------------------------------------------------------- Pareto


def test_pareto_front_of_five_scenarios_by_hand():
    # Same grid and energy figures; on (served, capex): b (0.8, 80k) beats c (0.7, 90k) and e (0.8, 85k);
    # a (0.9, 100k), b and d (0.5, 50k) trade served demand against cost, none beats another.
    t = table(row("a", 0.9, 100e3), row("b", 0.8, 80e3), row("c", 0.7, 90e3), row("d", 0.5, 50e3),
              row("e", 0.8, 85e3))
    assert pareto_efficient(t).tolist() == [True, True, False, True, False]


def test_a_scenario_worse_on_two_criteria_and_better_on_one_is_efficient():
    # f serves less and costs more than b, but has the highest renewable share: nobody beats it on that
    t = table(row("b", 0.8, 80e3), row("f", 0.6, 95e3, renewable=0.5), row("g", 0.6, 95e3, renewable=0.4))
    assert pareto_efficient(t).tolist() == [True, True, False]
    # every criterion counts, lower-is-better ones included: g with fewer violations is no longer beaten by f
    t.loc[2, "violations"] = 0
    assert pareto_efficient(t).tolist() == [True, True, True]


def test_ties_within_the_tolerance_are_both_efficient():
    # x and y are the same plan (y's capex differs by 1e-12 relative: rounding); z costs 1e-6 more: dominated
    t = table(row("x", 0.8, 100e3), row("y", 0.8, 100e3 * (1 + 1e-12)), row("z", 0.8, 100e3 * (1 + 1e-6)),
              row("x2", 0.8, 100e3))
    assert pareto_efficient(t).tolist() == [True, True, False, True]


def test_a_criterion_without_figures_in_a_city_is_left_out():
    # no grid check: violations -1 and peak EV NaN for every scenario; the front is that of the other criteria
    t = table(row("a", 0.9, 100e3, grid=False), row("b", 0.8, 80e3, grid=False), row("c", 0.7, 90e3, grid=False))
    assert pareto_efficient(t).tolist() == [True, True, False]
    # a scenario missing a figure the city's others have is not compared (not efficient)
    t2 = table(row("a", 0.9, 100e3), row("b", 0.8, 80e3), row("n", 0.95, 10e3, peak=np.nan))
    assert pareto_efficient(t2).tolist() == [True, True, False]


def test_failed_scenarios_are_never_efficient_and_beat_nobody():
    failed = row("broken", status="failed", error="solver failed")
    # a failed row whose stale figures would beat everything must not knock out the finished ones
    stale = {**row("stale", 1.0, 1.0, peak=0.0, violations=0, renewable=1.0, co2=0.0), "status": "failed",
             "error": "grid check failed"}
    t = table(row("a", 0.9, 100e3), failed, row("b", 0.8, 80e3), stale)
    assert pareto_efficient(t).tolist() == [True, False, True, False]


def test_cities_are_compared_separately():
    # Hanoi's scenario is beaten by Pune's "a" on every criterion, but it is the only Hanoi scenario
    t = table(row("a", 0.9, 100e3), row("b", 0.5, 200e3), row("a", 0.5, 200e3, city="Hanoi"))
    assert pareto_efficient(t).tolist() == [True, False, True]
    assert pareto_efficient(t, by=None).tolist() == [True, False, False]
    # the result follows the table's own index
    t.index = [10, 20, 30]
    assert pareto_efficient(t).index.tolist() == [10, 20, 30]
    t.index = [5, 5, 5]  # a repeated index label is no obstacle
    assert pareto_efficient(t).tolist() == [True, False, True]


def test_custom_objectives_and_a_wrong_sense():
    t = table(row("a", 0.9, 100e3), row("b", 0.8, 80e3))
    assert pareto_efficient(t, {"served_share": "max"}).tolist() == [True, False]
    assert pareto_efficient(t, {"capex_usd": "min"}).tolist() == [False, True]
    with pytest.raises(ValueError, match="'max' or 'min'"):
        pareto_efficient(t, {"capex_usd": "lowest"})
    assert set(PARETO_OBJECTIVES) == {"served_share", "capex_usd", "peak_ev_kw", "violations", "renewable_share",
                                      "co2_t_year"}


def test_pareto_matches_a_pairwise_check_on_random_scenarios(monkeypatch):
    # integer figures (many ties) against the definition checked pair by pair; blocks of two candidates
    rng = np.random.default_rng(7)
    senses = {"served_share": "max", "capex_usd": "min", "co2_t_year": "min", "renewable_share": "max"}
    t = pd.DataFrame(rng.integers(0, 4, (60, 4)).astype(float), columns=list(senses))
    t["scenario"] = [f"s{i}" for i in range(60)]
    sign = np.array([1.0 if s == "max" else -1.0 for s in senses.values()])
    v = t[list(senses)].to_numpy() * sign
    expected = [not any((v[i] >= v[j]).all() and (v[i] > v[j]).any() for i in range(60)) for j in range(60)]
    assert 0 < sum(expected) < 60
    assert pareto_efficient(t, senses).tolist() == expected
    monkeypatch.setattr(comparison, "_PAIR_CELLS", 500)
    assert pareto_efficient(t, senses).tolist() == expected


# ------------------------------------------------------------------------------------------- HTML


def _rows_marked(page: str) -> dict[str, bool]:
    """Scenario name (as escaped in the page) -> whether its row is highlighted as Pareto-efficient."""
    return {m.group(2): m.group(1) == ' class="pareto"'
            for m in re.finditer(r'\n<tr( class="[a-z]+")?><th>(.*?)</th>', page)}


def test_every_string_from_the_table_is_escaped():
    evil = "<script>alert(1)</script>"
    t = table(row(evil, 0.9, 100e3, city="<b>Pune</b>", overrides="x=<img src=x onerror=alert(1)>"),
              row("\"&'", 0.8, 80e3, city="<b>Pune</b>"),
              row("tariff $\\nocommand{x}$ 5", 0.7, 60e3, city="<b>Pune</b>"),  # bad mathtext if parsed
              row("gone", status="failed", error="<iframe src=x></iframe>", city="<b>Pune</b>"))
    page = comparison_html(t, title="Sweep <i>", notes=["<u>note</u>"])
    for raw in ("<script", "<img src=x", "<iframe", "<b>Pune", "<i>", "<u>", "\"&'"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&amp;&#x27;" in page
    assert "&lt;iframe src=x&gt;&lt;/iframe&gt;" in page
    marked = _rows_marked(page)
    assert marked["&lt;script&gt;alert(1)&lt;/script&gt;"] and marked["&quot;&amp;&#x27;"]
    assert marked["tariff $\\nocommand{x}$ 5"]  # cheapest of the three: efficient, labelled in the chart
    assert page.count('<img src="data:image/png;base64,') == 2


def test_names_in_regional_scripts_chart_without_warnings():
    # the chart font lacks Devanagari and Thai; the names are drawn (as boxes) and kept in the table as they are
    t = table(row("पुणे ऑफपीक", 0.9, 100e3, city="पुणे"), row("กรุงเทพ", 0.8, 80e3, city="पुणे"))
    page = comparison_html(t, title="Sweep")  # warnings are errors under pytest
    assert page.count('<img src="data:image/png;base64,') == 2
    assert "<th>पुणे ऑफपीक</th>" in page and "<h2>पुणे</h2>" in page


def test_summary_and_failed_scenario_with_its_error():
    t = table(row("a", 0.9, 100e3), row("b", 0.7, 120e3),
              row("c", status="failed", error="InfeasibleError: budget below the cheapest site"))
    page = comparison_html(t, title="Pune sweep")
    assert "3 scenarios in 1 city: 2 ok,\n1 failed." in page
    assert "<h3>Failed scenarios</h3>" in page
    assert "<li><b>c</b>: InfeasibleError: budget below the cheapest site</li>" in page
    assert _rows_marked(page) == {"a": True, "b": False, "c": False}
    assert '<tr class="failed"><th>c</th>' in page
    # the columns are defined from OPTION_COLUMNS, and what Pareto-efficient means is said
    assert OPTION_COLUMNS["capex_usd"] in page and OPTION_COLUMNS["violations"] in page
    assert "Pareto-efficient</b>" in page and "strictly better" in page


def test_a_city_without_grid_check_renders_and_its_front_ignores_the_grid():
    # Hanoi has no grid check (violations -1, grid figures NaN): on the other criteria a (serves more) and
    # b (cheaper) are efficient and c is beaten by b; kept, the empty criteria would leave no scenario comparable
    t = table(row("a", 0.9, 100e3), row("b", 0.8, 80e3),
              row("a", 0.9, 100e3, city="Hanoi", grid=False), row("b", 0.8, 80e3, city="Hanoi", grid=False),
              row("c", 0.7, 90e3, city="Hanoi", grid=False))
    assert pareto_efficient(t).tolist() == [True, True, True, True, False]
    page = comparison_html(t, title="Two cities")
    hanoi = page[page.index("<h2>Hanoi</h2>"):page.index("<h2>Columns</h2>")]
    pune = page[page.index("<h2>Pune</h2>"):page.index("<h2>Hanoi</h2>")]
    assert "grid violations" in pune.split("</p>")[1] and "grid violations" not in hanoi.split("</p>")[1]
    assert "peak EV load" not in hanoi.split("</p>")[1]
    assert '<td class="num">—</td>' in hanoi and ">nan<" not in hanoi
    assert hanoi.count('<img src="data:image/png;base64,') == 2


def test_charts_are_embedded_pngs_and_a_city_with_only_failures_has_none():
    t = table(row("a", 0.9, 100e3), row("b", 0.8, 80e3),
              row("x", city="Dhaka", status="failed", error="no roads"))
    page = comparison_html(t, title="Sweep")
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 2  # Pune's two charts, none for Dhaka
    assert all(base64.b64decode(u).startswith(b"\x89PNG\r\n\x1a\n") for u in uris)
    dhaka = page[page.index("<h2>Dhaka</h2>"):]
    assert "No scenario of this city finished" in dhaka and "data:image" not in dhaka
    assert "http://" not in page and "https://" not in page  # standalone: nothing fetched


def test_a_table_without_scenario_names_is_refused_and_an_empty_one_renders():
    with pytest.raises(OutputError, match="'scenario' column"):
        comparison_html(pd.DataFrame({"city": ["Pune"]}), title="x")
    page = comparison_html(pd.DataFrame(columns=["city", "scenario", "status"]), title="x")
    assert "0 scenarios in 0 cities: 0 ok,\n0 failed." in page


# ------------------------------------------------------------------------------------------ files


def test_write_comparison_html_only_and_refusals(tmp_path, monkeypatch):
    t = table(row("a", 0.9, 100e3), row("b", 0.8, 80e3))
    files = write_comparison(t, tmp_path, title="Sweep", pdf=False)
    assert files == [tmp_path / "comparison.html"]
    assert "<h2>Pune</h2>" in files[0].read_text(encoding="utf-8")
    with pytest.raises(OutputError, match="not an existing folder"):
        write_comparison(t, tmp_path / "missing", title="Sweep", pdf=False)
    monkeypatch.setattr(browser, "find_chromium", lambda *a, **k: None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(OutputError, match="comparison.pdf needs Chromium"):
        write_comparison(t, empty, title="Sweep", pdf=True)
    assert not any(empty.iterdir())  # refused before anything was written
    assert write_comparison(t, empty, title="Sweep") == [empty / "comparison.html"]  # pdf None: skipped


@pytest.mark.skipif(browser.find_chromium() is None, reason="needs Chromium")
def test_write_comparison_prints_the_pdf(tmp_path):
    t = table(row("offpeak_pv", 0.9, 100e3), row("unmanaged", 0.8, 80e3),
              row("broken", status="failed", error="solver failed"))
    files = write_comparison(t, tmp_path, title="Pune sweep")
    assert [f.name for f in files] == ["comparison.html", "comparison.pdf"]
    pdf = tmp_path / "comparison.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "offpeak_pv" in text and "solver failed" in text
