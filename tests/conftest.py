"""Shared fixtures: small known-answer inputs and one demo plan per test session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CHARGE_PLANNER_DATA", ROOT.parent / "shared" / "data"))
DEMO_DIR = ROOT / "sample_cities" / "demo_city"
BENGALURU_DIR = ROOT / "sample_cities" / "bengaluru_central"


def grid_graph(n: int = 5, spacing_m: float = 200.0, crs: str = "EPSG:32643") -> nx.MultiDiGraph:
    """An n x n street grid, two-way, residential, in a projected CRS."""
    g = nx.MultiDiGraph(crs=crs)
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=500_000.0 + i * spacing_m, y=1_400_000.0 + j * spacing_m)
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                a, b = i + di, j + dj
                if a < n and b < n:
                    u, v = i * n + j, a * n + b
                    g.add_edge(u, v, length=spacing_m, highway="residential")
                    g.add_edge(v, u, length=spacing_m, highway="residential")
    return g


def siting_tables(seed: int, n_d: int = 150, n_s: int = 40, *, existing: bool = False):
    """Random tables for ``CapacitatedSiting.from_tables``: ``n_d`` demand rows of two segments, ``n_s`` sites
    within 2.5 km, two charger types (and one existing charger at the first site with ``existing``)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    demand = pd.DataFrame(
        {"segment": rng.choice(["car", "two_wheeler"], n_d), "energy_kwh_day": rng.uniform(5, 80, n_d).round(1)},
        index=pd.Index([f"d{i}" for i in range(n_d)], name="demand_id"),
    )
    cand = pd.DataFrame({"max_chargers": 4, "fixed_cost_usd": rng.uniform(500, 3000, n_s).round()},
                        index=pd.Index([f"s{j}" for j in range(n_s)], name="site_id"))
    if existing:
        cand["existing_chargers"] = [{"lev": 1}] + [{}] * (n_s - 1)
    types = pd.DataFrame(
        {"power_kw": [50.0, 7.0], "capex_usd": [6000.0, 700.0], "segments": [("car",), ("two_wheeler",)],
         "service_hours_day": [2.0, 6.0]},
        index=pd.Index(["dc", "lev"], name="charger_type"),
    )
    dxy, sxy = rng.uniform(0, 10, (n_d, 2)), rng.uniform(0, 10, (n_s, 2))
    dist = np.hypot(*(dxy[:, None, :] - sxy[None, :, :]).transpose(2, 0, 1))
    i, j = np.nonzero(dist < 2.5)
    travel = pd.DataFrame({"demand_id": demand.index[i], "site_id": cand.index[j], "travel_time_s": dist[i, j] * 100})
    return demand, cand, types, travel


def demo_siting_model(folder: Path, edits: dict[str, str]):
    """The one-year siting model of the demo bundle with its city.toml text edited (``old -> new``), built in
    ``folder`` through the pipeline's own stages."""
    from charge_planner import load_city
    from charge_planner.pipeline.stages import siting_inputs
    from charge_planner.siting import CapacitatedSiting
    from charge_planner.siting.inputs import siting_options

    toml = (DEMO_DIR / "city.toml").read_text(encoding="utf-8")
    for old, new in edits.items():
        assert old in toml, old
        toml = toml.replace(old, new)
    (folder / "city.toml").write_text(toml, encoding="utf-8")
    city = load_city(folder)
    return CapacitatedSiting.from_tables(*siting_inputs(city), **siting_options(city.config))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``scale`` (metro-sized cities, a minute or more each) run only when asked for: ``-m scale``."""
    if "scale" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="metro-scale check; opt in with -m scale")
    for item in items:
        if "scale" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def demo_plan():
    from charge_planner import plan

    return plan(DEMO_DIR, progress=False)


@pytest.fixture(scope="session")
def bengaluru_plan():
    """The central Bengaluru bundle planned once per session, grid-blind (its grid-aware run, as configured, is
    tested through the command line in test_samples.py)."""
    from charge_planner import plan
    from charge_planner.city import load_city

    city = load_city(BENGALURU_DIR, data_dir=shared("bengaluru").parent)
    grid = city.config.grid.model_copy(update={"aware": False})
    city.config = city.config.model_copy(update={"grid": grid})
    return plan(city, progress=False)


@pytest.fixture(scope="session")
def demo_outputs(demo_plan, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    demo_plan.save(out)
    return out


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data {path} not available")
    return path


@pytest.fixture
def slow_machine(monkeypatch) -> float:
    """A machine 1e5 times slower: the clock runs 1e5 times faster, and HiGHS gets 1e5 times less
    real time for each second it is given. Returns the factor."""
    import importlib
    import time as time_module

    solve_module = importlib.import_module("charge_planner.siting.solve")  # the package exports solve()
    factor = 1e5
    real_clock = time_module.perf_counter
    start = real_clock()
    real_highs = solve_module._solve_highs

    def slow_highs(model, *, time_limit_s, **k):
        return real_highs(model, time_limit_s=time_limit_s / factor, **k)

    monkeypatch.setattr(time_module, "perf_counter", lambda: start + (real_clock() - start) * factor)
    monkeypatch.setattr(solve_module, "_solve_highs", slow_highs)
    return factor


@pytest.fixture
def read_only(monkeypatch) -> Callable[[Path], None]:
    """Make folders read-only as ``os.access`` sees them (tests may run as root, for whom chmod does not
    take write access away). Call the returned function with each folder to lock."""
    locked: set[Path] = set()
    real_access = os.access

    def access(path, mode, **kwargs):  # read-only: readable, not writable
        return not (Path(path) in locked and mode & os.W_OK) and real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    return locked.add
