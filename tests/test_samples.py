"""Every bundle in ``sample_cities/`` runs end to end through the command line, as the README shows it.

A bundle added to ``sample_cities/`` is picked up here without touching this file.
"""

from __future__ import annotations

import json
import math

import pyogrio
import pytest
from typer.testing import CliRunner

from charge_planner.cli import app
from charge_planner.config import load_config
from tests.conftest import ROOT, SHARED_DATA

BUNDLES = sorted(p.parent.name for p in (ROOT / "sample_cities").glob("*/city.toml"))


def _strict_json(text: str) -> dict:
    def refuse(token: str) -> float:
        raise ValueError(f"summary.json holds {token}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def _numbers(obj: object) -> list[float]:
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in _numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in _numbers(v)]
    return [float(obj)] if isinstance(obj, int | float) and not isinstance(obj, bool) else []


def test_every_sample_bundle_is_listed():
    assert {"demo_city", "bengaluru_central", "kathmandu_thapathali", "hcmc_district3", "makati_cbd"} <= set(BUNDLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLES)
def test_sample_bundle_runs_end_to_end(name, tmp_path):
    bundle = ROOT / "sample_cities" / name
    cfg = load_config(bundle)
    if cfg.data.source == "files" and not SHARED_DATA.is_dir():
        pytest.skip(f"shared data {SHARED_DATA} not available")
    runner = CliRunner()
    args = ["--data-root", str(SHARED_DATA)] if cfg.data.source == "files" else []
    checked = runner.invoke(app, ["validate", str(bundle), *args])
    assert checked.exit_code == 0, checked.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(bundle), "--out", str(out), "--no-pdf", "--quiet", *args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    for file in ("map.html", "report.html", "plan.gpkg", "sites.csv", "demand.csv", "summary.json"):
        assert (out / file).is_file(), file
    summary = _strict_json((out / "summary.json").read_text())
    assert all(math.isfinite(x) for x in _numbers(summary))
    k = summary["kpis"]
    assert k["sites_open"] > 0
    assert 0 < k["served_kwh_day"] <= k["demand_kwh_day"] * (1 + 1e-9)
    layers = {layer for layer, _ in pyogrio.list_layers(out / "plan.gpkg")}
    assert {"sites", "candidates", "demand"} <= layers
    if cfg.grid.source != "none":
        assert {"grid_buses", "grid_lines"} <= layers
        assert (out / "grid_violations.csv").is_file()
    html = (out / "report.html").read_text()
    assert cfg.city.name.replace("&", "&amp;") in html
    if cfg.grid.source != "none":
        _check_grid_outcome(cfg, summary, out)


def _check_grid_outcome(cfg, summary: dict, out) -> None:
    """Every year from the first rollout year to the plan year is checked (the years between rollout years
    too); a grid-aware bundle starts with violations and ends without in every one, and its multi-year plan
    only grows: no site closes, chargers never decrease, reinforcement is never undone."""
    import pandas as pd

    rollout = cfg.siting_years
    years = [str(y) for y in range(rollout[0], rollout[-1] + 1)]
    assert sorted(summary["grid"]["years"]) == years
    # a year between rollout years has the sites of the rollout year before it
    assert [summary["grid"]["years"][y]["sites_of_rollout_year"] for y in years] == [
        max(r for r in rollout if r <= int(y)) for y in years]
    assert summary["grid"]["violations"] == summary["grid"]["years"][years[-1]]["violations"]
    if not cfg.grid.aware:
        return
    # the report shows every year checked and every round, with what the grid costs
    html = (out / "report.html").read_text()
    assert "Grid-safe rollout" in html and "Rounds of grid-aware siting" in html
    assert all(f'<td class="n">{y}</td>' in html for y in years)
    rounds = summary["grid_aware"]["iterations"]
    assert rounds[0]["violations"] > 0, "the grid-blind first round should show the grid's limits"
    assert rounds[-1]["violations"] == 0 and summary["grid_aware"]["converged"]
    # the loop's assumptions on the linearised headroom are stated with the result
    assert summary["grid_aware"]["headroom_share_used"] == 0.95
    assert summary["grid_aware"]["headroom_cut_while_violated"] == 0.85
    assert sum(v["violations"] for v in summary["grid"]["years"].values()) == 0
    for r in rounds:
        assert {"violations", "served_share", "capex_usd", "reinforcement_usd"} <= set(r)
    assert summary["kpis"]["reinforcement_usd"] == rounds[-1]["reinforcement_usd"]
    roll = pd.read_csv(out / "rollout.csv")
    if roll["year"].nunique() > 1:
        charger_cols = [c for c in roll.columns if c.startswith("chargers_")]
        wide = roll.pivot_table(index="site_id", columns="year", values=charger_cols, aggfunc="sum", fill_value=0)
        for col in charger_cols:
            block = wide[col].to_numpy()
            assert (block[:, 1:] >= block[:, :-1]).all(), f"{col} decreases between rollout years"
        opened = roll.groupby("site_id")["year"].min()
        for site, first in opened.items():
            later = set(roll.loc[roll["site_id"] == site, "year"])
            assert {int(y) for y in rollout if int(y) >= first} <= later, f"site {site} closes after {first}"
