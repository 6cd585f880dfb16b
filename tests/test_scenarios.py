"""Scenario sweeps: the sweep file checked before anything runs, the output folder that loses
nothing, and real Dask clusters of two workers, one of which is killed mid-sweep, and a sweep
killed with SIGKILL and started again."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from charge_planner.errors import ConfigError
from charge_planner.outputs.write import OutputError
from charge_planner.pipeline.options import Option, option_row
from charge_planner.scenarios import ROW_COLUMNS, SweepFolder, load_sweep, parse_sweep, run_scenarios
from charge_planner.scenarios.store import SCENARIO_FILE, SWEEP_FILE

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_cities" / "demo_city"
#: a quick scenario: no grid check (the sweep's mechanics, not the grid, are under test)
QUICK = {"grid.source": "none"}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _verify_folder(folder: Path) -> dict:
    """Every file the scenario's manifest lists is there with its SHA-256; nothing else but the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    assert SCENARIO_FILE in names and "summary.json" in names and "map.html" in names
    for f in manifest["files"]:
        data = (folder / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"]
    assert {p.name for p in folder.iterdir()} == names | {"manifest.json"}
    return json.loads((folder / SCENARIO_FILE).read_text())


def _no_leftovers(out: Path) -> None:
    assert not [p for p in out.rglob(".charge-planner-*")], "temporary files left behind"


# --------------------------------------------------------------------------------------------
# the sweep file


def test_scenarios_and_axes_expand_to_named_combinations():
    cities, scenarios = parse_sweep({
        "cities": ["../other"],
        "scenario": [{"name": "low", "set": {"siting.budget_usd": 5e5}},
                     {"name": "high", "set": {"siting": {"budget_usd": 2e6}}, "description": "more money"}],
        "axes": {"demand.charging_strategy": ["unmanaged", "managed_offpeak"], "grid": {"pv_kwp_per_site": [0, 30.5]}},
    })
    assert cities == ["../other"]
    names = [s.name for s in scenarios]
    assert len(names) == 2 * 2 * 2 and len(set(names)) == 8
    assert names[0] == "low+charging_strategy=unmanaged+pv_kwp_per_site=0"
    assert names[-1] == "high+charging_strategy=managed_offpeak+pv_kwp_per_site=30.5"
    last = scenarios[-1].overrides
    assert last == {"siting.budget_usd": 2e6, "demand.charging_strategy": "managed_offpeak", "grid.pv_kwp_per_site": 30.5}
    assert scenarios[-1].description.startswith("more money; ")
    # axes alone: the city as given, once per combination
    _, only_axes = parse_sweep({"axes": {"siting.budget_usd": [1e6, 2e6]}})
    assert [s.name for s in only_axes] == ["budget_usd=1000000", "budget_usd=2000000"]


@pytest.mark.parametrize(("data", "message"), [
    ({}, "no scenario"),
    ({"scenarios": []}, "unknown key"),
    ({"scenario": [{"name": "a/b"}]}, "name 'a/b'"),
    ({"scenario": [{"name": "a"}, {"name": "A"}]}, "two scenarios are named"),
    ({"scenario": [{"name": "a", "sett": {}}]}, "unknown key(s) ['sett']"),
    ({"scenario": [{"name": "a", "set": {"siting.budget_usd": float("nan")}}]}, "not a finite number"),
    ({"axes": {"siting.budget_usd": []}}, "non-empty list"),
    ({"axes": {"siting.budget_usd": [1, 1]}}, "lists a value twice"),
    ({"scenario": [{"name": "a", "set": {"siting.budget_usd": 1}}], "axes": {"siting.budget_usd": [2]}},
     "also an axis"),
    ({"scenario": [{"name": "scenarios.csv"}]}, "taken by a file of the sweep"),
])
def test_sweep_file_mistakes_are_one_line_errors(data, message):
    with pytest.raises(ConfigError) as err:
        parse_sweep(data, source="my_sweep.toml")
    assert message in str(err.value) and "my_sweep.toml" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("set_line", "message"), [
    ('set = { "siting.budgett_usd" = 1 }', "siting.budgett_usd: unknown field"),
    ('set = { "siting.budget_usd" = -5 }', "siting.budget_usd"),
    ('set = { "data.seed" = 3 }', "changes the city's data"),
    ('set = { "grid.source" = "pandapower_json", "grid.path" = "no_such_grid.json" }', "no_such_grid.json"),
])
def test_every_scenario_is_validated_against_its_city_before_anything_runs(tmp_path, set_line, message):
    sweep = _write(tmp_path / "sweep.toml", f'[[scenario]]\nname = "ok"\n\n[[scenario]]\nname = "bad"\n{set_line}\n')
    with pytest.raises(ConfigError) as err:
        run_scenarios(sweep, tmp_path / "out", city=DEMO, workers=1)
    text = str(err.value)
    assert message in text and "sweep.toml" in text and "\n" not in text
    assert not (tmp_path / "out").exists()  # refused before any folder was made


def test_several_cities_each_get_every_scenario(tmp_path):
    other = tmp_path / "second_city"
    other.mkdir()
    _write(other / "city.toml", (DEMO / "city.toml").read_text().replace('name = "Demo City (synthetic)"',
                                                                           'name = "Second <City>"'))
    sweep = _write(tmp_path / "sweep.toml", 'cities = ["second_city"]\n[axes]\n"siting.budget_usd" = [1e6, 2e6]\n')
    s = load_sweep(sweep, DEMO)
    assert [j.folder for j in s.jobs] == ["demo_city/budget_usd=1000000", "demo_city/budget_usd=2000000",
                                          "second_city/budget_usd=1000000", "second_city/budget_usd=2000000"]
    assert s.jobs[2].city == "Second <City>"


# --------------------------------------------------------------------------------------------
# the output folder


def test_output_folder_refuses_foreign_files_and_changed_scenarios(tmp_path):
    sweep = load_sweep(_write(tmp_path / "s.toml", '[[scenario]]\nname = "a"\nset = { "grid.source" = "none" }\n'), DEMO)
    foreign = tmp_path / "theirs"
    foreign.mkdir()
    _write(foreign / "notes.txt", "keep me")
    with pytest.raises(OutputError, match="not an earlier sweep"):
        SweepFolder(foreign, sweep)
    assert (foreign / "notes.txt").read_text() == "keep me"
    # an earlier run's finished scenario with other overrides is not silently reused
    out = tmp_path / "out"
    folder = SweepFolder(out, sweep)
    folder.start()
    (out / "a").mkdir()
    _write(out / "a" / SCENARIO_FILE, json.dumps({"status": "ok", "city": sweep.jobs[0].city, "overrides": "x=1"}))
    from charge_planner.outputs.write import write_manifest

    write_manifest(out / "a", [out / "a" / SCENARIO_FILE])
    with pytest.raises(OutputError, match="planned with other settings"):
        SweepFolder(out, sweep)


def test_restart_removes_only_the_planners_temporary_files(tmp_path):
    sweep = load_sweep(_write(tmp_path / "s.toml", '[[scenario]]\nname = "a"\n'), DEMO)
    out = tmp_path / "out"
    SweepFolder(out, sweep).start()
    (out / ".charge-planner-a.x1y2").mkdir()
    _write(out / ".charge-planner-a.x1y2" / "map.html", "half")
    _write(out / ".charge-planner-scenarios.csv.abc", "half")
    _write(out / "my_notes.txt", "mine")
    again = SweepFolder(out, sweep)
    assert [j.scenario for j in again.pending()] == ["a"]
    again.start()
    _no_leftovers(out)
    assert (out / "my_notes.txt").read_text() == "mine"
    assert json.loads((out / SWEEP_FILE).read_text())["scenarios"][0]["scenario"] == "a"


# --------------------------------------------------------------------------------------------
# real clusters


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as c, Client(c) as client:
        yield client


def test_sweep_on_two_workers_matches_single_runs_and_survives_a_failure(tmp_path, cluster):
    broken = _write(tmp_path / "broken_grid.json", "{ this is not a pandapower net")
    sweep = _write(tmp_path / "sweep.toml", f"""
[[scenario]]
name = "as_given"

[[scenario]]
name = "broken_grid"
set = {{ "grid.source" = "pandapower_json", "grid.path" = "{broken}" }}

[[scenario]]
name = "no_grid_offpeak"
set = {{ "grid.source" = "none", "demand.charging_strategy" = "managed_offpeak" }}

[[scenario]]
name = "no_grid_small"
set = {{ "grid.source" = "none", "siting.max_chargers_per_site" = 4 }}
""")
    out = tmp_path / "out"
    table = run_scenarios(sweep, out, city=DEMO, scheduler=cluster.scheduler.address, pdf=False)
    assert list(table.columns) == list(ROW_COLUMNS)
    assert table["scenario"].tolist() == ["as_given", "broken_grid", "no_grid_offpeak", "no_grid_small"]
    status = dict(zip(table["scenario"], table["status"], strict=True))
    assert status == {"as_given": "ok", "broken_grid": "failed", "no_grid_offpeak": "ok", "no_grid_small": "ok"}
    err = table.set_index("scenario").loc["broken_grid", "error"]
    assert "broken_grid.json" in err and "\n" not in err
    assert not (out / "broken_grid").exists()  # nothing written for a failed scenario
    csv = pd.read_csv(out / "scenarios.csv", keep_default_na=False)
    assert csv["status"].tolist() == table["status"].tolist()
    for name in ("as_given", "no_grid_offpeak", "no_grid_small"):
        row = _verify_folder(out / name)
        assert row["status"] == "ok" and row["scenario"] == name
    html = (out / "comparison.html").read_text()
    assert "broken_grid.json" in html and "no_grid_small" in html
    _no_leftovers(out)

    # the sweep's rows equal single runs of the same settings, planned here in one process
    import dataclasses

    import charge_planner as cp
    from charge_planner.pipeline.options import option_config

    city = cp.load_city(DEMO)
    for name, over in (("as_given", {}), ("no_grid_small", {"grid.source": "none", "siting.max_chargers_per_site": 4})):
        option = Option(name, over)
        single = option_row(option, cp.plan(dataclasses.replace(city, config=option_config(city.config, option)),
                                            progress=False))
        swept = table.set_index("scenario").loc[name]
        for key in ("sites_open", "installed_kw", "served_share", "capex_usd", "violations", "peak_ev_kw",
                    "vm_min_pu", "co2_t_year"):
            assert swept[key] == pytest.approx(single[key], rel=1e-9, nan_ok=True), (name, key)
    # one load of the city per worker, reused for its next scenarios
    from charge_planner.scenarios.engine import city_loads

    loads = cluster.run(city_loads)
    assert all(n <= 1 for per_worker in loads.values() for n in per_worker.values())
    assert sum(sum(per_worker.values()) for per_worker in loads.values()) <= 2


def test_a_worker_killed_mid_sweep_loses_nothing(tmp_path, cluster):
    sweep = _write(tmp_path / "sweep.toml", '[axes]\n"grid.source" = ["none"]\n'
                                            '"siting.max_chargers_per_site" = [5, 6, 7, 8, 9]\n')
    killed = []

    def kill_a_busy_worker(job, row):
        if killed:
            return
        busy = [w for w, keys in cluster.processing().items() if keys]
        if busy:
            pid = cluster.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    out = tmp_path / "out"
    table = run_scenarios(sweep, out, city=DEMO, scheduler=cluster.scheduler.address, pdf=False,
                          on_done=kill_a_busy_worker)
    assert killed, "no worker was busy when the first scenario finished"
    assert (table["status"] == "ok").all(), table.loc[table["status"] != "ok", ["scenario", "error"]].to_dict("records")
    for folder in table["folder"]:
        _verify_folder(out / folder)
    _no_leftovers(out)
    cluster.wait_for_workers(2, timeout=60)


def test_a_finished_scenario_run_again_keeps_its_folder(tmp_path, monkeypatch):
    """A task the cluster runs again (its result was lost with a worker after it ended) finds the scenario
    finished: it returns the recorded row and leaves the folder as written."""
    from charge_planner.scenarios import engine
    from charge_planner.scenarios.engine import run_job

    # run here, not on a worker: the solver's threads of this test process stay as they are (HiGHS refuses a
    # new thread count once its scheduler runs)
    monkeypatch.setattr(engine, "set_solver_threads", lambda threads: None)

    sweep = load_sweep(_write(tmp_path / "sweep.toml", '[axes]\n"grid.source" = ["none"]\n'), DEMO)
    job = sweep.jobs[0]
    out = tmp_path / "out"
    out.mkdir()
    row = run_job(job, str(out))
    assert row["status"] == "ok"
    files = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / job.folder).iterdir()}

    def no_plan(*args, **kwargs):
        raise AssertionError("a finished scenario was planned again")

    monkeypatch.setattr(engine, "plan", no_plan)
    again = run_job(job, str(out))
    assert again == json.loads((out / job.folder / SCENARIO_FILE).read_text(encoding="utf-8"))
    assert again["seconds"] == row["seconds"]
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / job.folder).iterdir()} == files


def test_a_result_lost_after_its_task_ended_is_read_from_its_folder_or_planned_again(tmp_path, cluster, monkeypatch,
                                                                                      caplog):
    """A task can end and its result be lost before this process fetches it (its worker died meanwhile, or the
    fetch failed). The scenario's row is then read from the folder its worker wrote; a scenario not written is
    submitted again, and only a scenario that still has no result is recorded as failed."""
    from distributed import Future

    from charge_planner.scenarios import engine

    real_result = Future.result
    lost: list[str] = []

    def result_lost_once(fut, *args, **kwargs):
        if "-0-" in str(fut.key) and fut.key not in lost:  # each scenario's first attempt
            real_result(fut, *args, **kwargs)  # the task has ended and written its scenario
            lost.append(fut.key)
            raise RuntimeError("the result could not be fetched")
        return real_result(fut, *args, **kwargs)

    monkeypatch.setattr(Future, "result", result_lost_once)
    sweep = _write(tmp_path / "sweep.toml", '[axes]\n"grid.source" = ["none"]\n'
                                            '"siting.max_chargers_per_site" = [5, 6]\n')
    out = tmp_path / "out"
    # the first scenario: its folder is written, the row is read from it (no second run)
    # the second: its folder is not found when the result is lost (as if its worker died before writing), so it
    # is submitted again; the second attempt finds it finished and returns its row without planning
    real_read = engine.read_row

    def not_written_for_the_second(folder):
        return None if folder.name.endswith("=6") and len(lost) <= 2 else real_read(folder)

    monkeypatch.setattr(engine, "read_row", not_written_for_the_second)
    with caplog.at_level("INFO", logger="charge_planner.scenarios.engine"):
        table = run_scenarios(sweep, out, city=DEMO, scheduler=cluster.scheduler.address, pdf=False)
    assert len(lost) == 2
    assert (table["status"] == "ok").all(), table[["scenario", "error"]].to_dict("records")
    first, second = table["folder"]
    assert "the row is read from its folder" in caplog.text and first.split("+")[-1] in caplog.text
    assert re.search(r"max_chargers_per_site=6 .*running it again", caplog.text)
    for folder in (first, second):
        _verify_folder(out / folder)
    rows = pd.read_csv(out / "scenarios.csv", keep_default_na=False)
    assert rows["status"].tolist() == ["ok", "ok"]
    # a third kind: the result of every attempt is lost and nothing is written -> failed, after the resubmits
    monkeypatch.setattr(Future, "result", lambda fut, *a, **k: (real_result(fut, *a, **k), 1 / 0)[1])
    monkeypatch.setattr(engine, "read_row", lambda folder: None)
    out2 = tmp_path / "out2"
    table = run_scenarios(_write(tmp_path / "one.toml", '[axes]\n"grid.source" = ["none"]\n'), out2, city=DEMO,
                          scheduler=cluster.scheduler.address, pdf=False)
    assert table["status"].tolist() == ["failed"]
    assert "ZeroDivisionError" in table["error"].iloc[0]
    assert caplog.text.count("running it again") >= 1 + engine.RESUBMITS


def _sweep_cli(city: Path, sweep: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "charge_planner.cli", "sweep", str(city), str(sweep), "--out", str(out),
            "--workers", "2", "--no-pdf", "-q"]


def _finished(out: Path) -> list[Path]:
    """Scenario files of the folders moved into place (a folder still being written is hidden: ".charge-planner-*")."""
    return [p for p in out.glob(f"*/{SCENARIO_FILE}") if not p.parent.name.startswith(".")]


def test_a_sweep_killed_with_sigkill_finishes_when_started_again(tmp_path):
    sweep = _write(tmp_path / "sweep.toml", '[axes]\n"grid.source" = ["none"]\n'
                                            '"siting.max_chargers_per_site" = [5, 6, 7, 8, 9, 10]\n')
    out = tmp_path / "out"
    proc = subprocess.Popen(_sweep_cli(DEMO, sweep, out), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if _finished(out):
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, without warning
        proc.wait()
    finished = {p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _finished(out)}
    assert finished, "no scenario finished before the kill"
    assert len(finished) < 6, "the sweep finished before it could be killed"
    for name in finished:
        _verify_folder(out / name)
    done = subprocess.run(_sweep_cli(DEMO, sweep, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out / "scenarios.csv", keep_default_na=False)
    assert len(table) == 6 and (table["status"] == "ok").all()
    for folder in table["folder"]:
        _verify_folder(out / folder)
    for name, stamp in finished.items():  # not planned again
        p = out / name / SCENARIO_FILE
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp
    _no_leftovers(out)


def test_settings_shared_by_every_scenario_yield_to_the_scenarios_own():
    _, scenarios = parse_sweep({
        "set": {"siting.time_limit_s": 15, "siting": {"budget_usd": 1e6}},
        "scenario": [{"name": "a"}, {"name": "b", "set": {"siting.budget_usd": 2e6}}],
    })
    assert scenarios[0].overrides == {"siting.time_limit_s": 15, "siting.budget_usd": 1e6}
    assert scenarios[1].overrides == {"siting.time_limit_s": 15, "siting.budget_usd": 2e6}
    with pytest.raises(ConfigError, match="shared by every scenario"):
        parse_sweep({"set": 3, "scenario": [{"name": "a"}]})


def test_the_sample_sweep_file_is_valid():
    sweep = load_sweep(DEMO / "sweep.toml", DEMO)
    assert len(sweep.jobs) == 6
    assert {j.overrides["siting.time_limit_s"] for j in sweep.jobs} == {15}


def test_a_sweep_of_two_cities_writes_each_citys_scenarios_apart(tmp_path, cluster):
    other = tmp_path / "second_city"
    other.mkdir()
    _write(other / "city.toml", (DEMO / "city.toml").read_text().replace('name = "Demo City (synthetic)"',
                                                                           'name = "Second City"').replace(
        "budget_usd = 1_500_000", "budget_usd = 2_000_000"))
    sweep = _write(tmp_path / "sweep.toml", 'cities = ["second_city"]\nset = { "grid.source" = "none" }\n'
                                            '[[scenario]]\nname = "as_given"\n')
    out = tmp_path / "out"
    table = run_scenarios(sweep, out, city=DEMO, scheduler=cluster.scheduler.address, pdf=False)
    assert table["folder"].tolist() == ["demo_city/as_given", "second_city/as_given"]
    assert (table["status"] == "ok").all() and table["city"].tolist() == ["Demo City (synthetic)", "Second City"]
    rows = [_verify_folder(out / f) for f in table["folder"]]
    assert [r["city"] for r in rows] == ["Demo City (synthetic)", "Second City"]
    html = (out / "comparison.html").read_text()
    assert "Second City" in html and "Demo City (synthetic)" in html
