"""The notebooks as committed: saved without outputs, one planner run each, no hard-coded results.

They are executed by ``python -m pytest --nbmake notebooks``; these checks read their source only.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
QUICKSTART = NOTEBOOKS / "01_quickstart.ipynb"
REPORT = NOTEBOOKS / "02_siting_report.ipynb"
GRID = NOTEBOOKS / "03_grid_safe_rollout.ipynb"
SWEEP = NOTEBOOKS / "04_scenario_sweep.ipynb"


def _cells(path: Path, kind: str) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _code(path: Path) -> str:
    # IPython magics (``%matplotlib inline``) are not Python
    return "\n".join(line for cell in _cells(path, "code") for line in cell.splitlines() if not line.startswith("%"))


def _calls(source: str) -> list[str]:
    """Dotted names of every call in the source, e.g. ``cp.plan`` or ``model.solve``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f, parts = node.func, []
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            if isinstance(f, ast.Name):
                parts.append(f.id)
            out.append(".".join(reversed(parts)))
    return out


def test_every_notebook_is_checked() -> None:
    assert sorted(NOTEBOOKS.glob("*.ipynb")) == sorted([QUICKSTART, REPORT, GRID, SWEEP])


@pytest.mark.parametrize("path", [QUICKSTART, REPORT, GRID, SWEEP], ids=lambda p: p.name)
def test_notebook_saved_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "clear the outputs before committing"


def test_quickstart_plans_once_with_the_presets_years_into_a_named_folder() -> None:
    calls = _calls(_code(QUICKSTART))
    assert calls.count("cp.plan") == 1
    assert not [c for c in calls if c.endswith(".solve") or c.endswith("build_demand")]  # no second solve
    code = _code(QUICKSTART)
    assert not re.search(r"base_year\s*=\s*\d", code)  # the base year comes from the country preset
    assert "tempfile" not in code
    assert re.search(r'NOTEBOOK_DIR / "out" / "quickstart_demo"', code)
    assert "overwrite=True" in code


def test_quickstart_explains_milp_pu_and_hosting_capacity() -> None:
    text = "\n".join(_cells(QUICKSTART, "markdown"))
    for term in ("mixed-integer linear", "per unit (pu)", "Hosting capacity"):
        assert term in text


def test_siting_report_runs_the_bundle_and_a_validated_change_into_a_named_folder() -> None:
    code = _code(REPORT)
    calls = _calls(code)
    assert calls.count("cp.plan") == 2  # as given, and with the consultant's changes
    assert "parse_config" in calls  # the changes pass the same checks as city.toml
    assert "model_copy" not in code  # which would skip them
    assert re.search(r'NOTEBOOK_DIR / "out" / "kathmandu_siting_report"', code)
    assert "overwrite=True" in code


def test_siting_report_text_quotes_no_result() -> None:
    # figures of a plan (kWh/day, sites, USD) are computed in code cells, never typed into the text
    text = "\n".join(_cells(REPORT, "markdown"))
    assert not re.search(r"\d[\d,.]*\s*(kWh|USD|sites|chargers|kW\b|t of CO2)", text)


def test_grid_safe_rollout_plans_once_compares_strategies_and_reruns_the_worst_hour() -> None:
    code = _code(GRID)
    calls = _calls(code)
    assert calls.count("cp.plan") == 1
    assert calls.count("compare_options") == 1
    assert "option_config" in calls  # the shorter run passes the same checks as city.toml
    assert "model_copy" not in code
    assert "pp.runpp" in calls and "pp.from_json" in calls  # the worst hour rerun in pandapower alone
    assert re.search(r'NOTEBOOK_DIR / "out" / "grid_safe_rollout"', code)
    assert "overwrite=True" in code


def test_grid_safe_rollout_text_quotes_no_result() -> None:
    text = "\n".join(_cells(GRID, "markdown"))
    assert not re.search(r"\d[\d,.]*\s*(kWh|USD|sites|violations?|kW\b|MW\b|pu\b|%)", text)
    for term in ("grid-blind", "headroom", "utility", "hosting", "P8.10"):
        assert term in text


def test_scenario_sweep_runs_the_sample_sweep_on_dask_then_resumes_it() -> None:
    code = _code(SWEEP)
    calls = _calls(code)
    assert calls.count("run_scenarios") == 2  # the sweep, and the same sweep again: nothing planned twice
    assert "load_sweep" in calls  # every scenario checked before anything runs
    assert "cp.plan" not in calls
    assert "workers=2" in code
    assert re.search(r'NOTEBOOK_DIR / "out" / "scenario_sweep"', code)
    assert re.search(r'BUNDLE / "sweep.toml"', code)


def test_scenario_sweep_text_quotes_no_result() -> None:
    text = "\n".join(_cells(SWEEP, "markdown"))
    assert not re.search(r"\d[\d,.]*\s*(kWh|USD|sites|violations?|kW\b|MW\b|pu\b|%)", text)
    for term in ("Pareto-efficient", "sweep file", "scheduler", "status"):
        assert term in text
