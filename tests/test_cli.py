from __future__ import annotations

import shutil

from typer.testing import CliRunner

from charge_planner.cli import app
from tests.conftest import BENGALURU_DIR, DEMO_DIR, shared

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


def test_run_missing_data_file(tmp_path):
    city = tmp_path / "blr"
    shutil.copytree(BENGALURU_DIR, city)
    res = runner.invoke(app, ["run", str(city), "--out", str(tmp_path / "o"), "--data-root", str(tmp_path)])
    assert res.exit_code == 2 and "data.roads" in res.output
    assert not (tmp_path / "o").exists()
