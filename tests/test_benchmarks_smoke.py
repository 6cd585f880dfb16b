"""The benchmark scripts run end to end in their ``--smoke`` mode and every installed peer agrees.

A smoke run is tiny (a generated 5 km city; 12 hours of a SimBench MV grid): it checks that the
scripts import, that each peer is wired to the same problem as ours, and that their tables agree
(a script exits with status 1 on a disagreement). It is not a timing. Peers that are not installed
(the ``bench`` extra: pandana, numba, lightsim2grid) are skipped by the scripts themselves, which
say so in their output.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "benchmarks"
SCRIPTS = ("bench_network.py", "bench_grid.py")


@pytest.fixture(scope="module")
def smoke_runs() -> Iterator[dict[str, subprocess.Popen]]:
    """Both smoke runs started at once (the grid one spends most of its time compiling numba)."""
    procs = {script: subprocess.Popen([sys.executable, str(BENCH / script), "--smoke"], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=BENCH.parents[1])
             for script in SCRIPTS}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _smoke(procs: dict[str, subprocess.Popen], script: str) -> str:
    out, err = procs[script].communicate(timeout=300)
    code = procs[script].returncode
    assert code == 0, f"{script} --smoke exited with {code}:\n{out}\n{err}"
    return out


def _peer_lines(out: str, names: list[str]) -> dict[str, str]:
    lines = {}
    for name in names:
        found = [line for line in out.splitlines() if line.startswith(name)]
        assert found, f"no row for {name!r} in:\n{out}"
        lines[name] = found[0]
    return lines


def test_network_benchmark_smoke(smoke_runs: dict[str, subprocess.Popen]) -> None:
    out = _smoke(smoke_runs, "bench_network.py")
    assert "ours: travel_table" in out
    assert "DISAGREES" not in out, out
    rows = _peer_lines(out, ["networkx", "pandana"])
    # networkx is a core dependency: it always runs and gives exactly our pairs and times
    assert "same pairs; max |dt| 0.0e+00 s" in rows["networkx"]
    if importlib.util.find_spec("pandana") is None:
        assert "skipped: not installed" in rows["pandana"]
    else:
        assert "DISAGREES" not in rows["pandana"] and "skipped" not in rows["pandana"]


def test_grid_benchmark_smoke(smoke_runs: dict[str, subprocess.Popen]) -> None:
    out = _smoke(smoke_runs, "bench_grid.py")
    assert "ours: BatchPowerFlow" in out
    assert "DISAGREES" not in out, out
    rows = _peer_lines(out, ["pandapower run_timeseries, numba", "pandapower run_timeseries, lightsim2grid",
                             "lightsim2grid TimeSeriesCPP"])
    for line in rows.values():
        assert "DISAGREES" not in line, line
    if importlib.util.find_spec("numba") is None:
        assert "skipped: numba not installed" in rows["pandapower run_timeseries, numba"]
    else:
        # pandapower really ran with numba, and without lightsim2grid, on this peer
        assert "used: numba=True, lightsim2grid=False" in rows["pandapower run_timeseries, numba"]
    if importlib.util.find_spec("lightsim2grid") is None:
        assert "skipped: lightsim2grid not installed" in rows["lightsim2grid TimeSeriesCPP"]
    else:
        assert "used: numba=" in rows["pandapower run_timeseries, lightsim2grid"]
        assert "lightsim2grid=True" in rows["pandapower run_timeseries, lightsim2grid"]
        assert "12/12 converged" in rows["lightsim2grid TimeSeriesCPP"]
