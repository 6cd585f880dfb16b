""":func:`plan`: runs the stages in order and returns a :class:`~charge_planner.pipeline.result.Plan`.

city → network (prepared when the city is loaded) → demand → candidates → travel table
→ siting (MILP) → grid (connect sites, AC load flow at the evening peak or over a day/year).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from tqdm.auto import tqdm

from charge_planner.assumptions import charger_table, segment_table
from charge_planner.city import City, load_city
from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.pipeline.loop import check_years, grid_aware_siting
from charge_planner.pipeline.result import Plan
from charge_planner.pipeline.stages import (
    candidates_stage,
    demand_stage,
    load_given_grid,
    siting_stage,
    travel_stage,
)
from charge_planner.pipeline.summary import plan_summary
from charge_planner.siting.unserved import unserved_demand

log = logging.getLogger(__name__)

__all__ = ["plan"]


def plan(city: City | Path | str, *, data_dir: Path | str | None = None, progress: bool | None = None) -> Plan:
    """Run the whole pipeline on a city.

    Parameters
    ----------
    city
        A loaded :class:`~charge_planner.city.City`, or a city folder.
    data_dir
        Data root used when ``city`` is a folder.
    progress
        Show a progress bar (default: when attached to a terminal).
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    bar = tqdm(total=6, desc="planning", unit="stage", disable=(None if progress is None else not progress), leave=False)

    def step(name: str, t0: float) -> float:
        timings[name] = round(time.perf_counter() - t0, 3)
        bar.set_postfix_str(name)
        bar.update(1)
        return time.perf_counter()

    t = time.perf_counter()
    if not isinstance(city, City):
        city = load_city(city, data_dir=data_dir)
    cfg = city.config
    # a grid given as a file, SimBench code or pandapower network is loaded and checked before any work
    # that depends on it, so that a grid of another place is refused up front; a synthesised one follows demand
    given_grid = load_given_grid(city)
    t = step("city", t)

    demand = demand_stage(city)
    t = step("demand", t)

    chargers = charger_table(cfg)
    cand = candidates_stage(city, demand.rows, chargers)
    usable = cand[cand["excluded_reason"] == ""]
    t = step("candidates", t)

    travel = travel_stage(city, demand, usable)
    t = step("travel", t)

    years: dict[int, GridResults] = {}
    loads: dict[int, GridLoads] = {}
    aware = None
    if cfg.grid.source != "none" and cfg.grid.aware:
        # siting and grid together: site, check every year of the rollout, site again with the grid's headroom
        aware = grid_aware_siting(city, demand, usable, chargers, travel, given_grid)
        model, sites, years, loads = aware.model, aware.sites, aware.years, aware.loads
        t = step("siting_and_grid_rounds", t)
    else:
        model, sites = siting_stage(cfg, demand.rows, usable, chargers, travel)
        t = step("siting", t)
        if cfg.grid.source != "none":
            years, loads, _ = check_years(city, demand, model, sites, given_grid)
    results = years[max(years)] if years else None
    if results is not None:
        sites = sites.assign(bus_id=results.site_buses)
    step("grid", t)
    bar.close()

    result = Plan(
        city=city, demand=demand.rows, candidates=cand, travel=travel, siting=model, sites=sites,
        charger_types=chargers, segments=segment_table(cfg), grid_results=results,
        grid_loads=loads[max(loads)] if loads else None, demand_result=demand.result,
        unserved=unserved_demand(model, travel), grid_years=years,
        grid_iterations=aware.iterations if aware is not None else [],
        reinforcement=model.reinforcement, utility_reinforcement=aware.required if aware is not None else None,
    )
    result.summary = plan_summary(result, timings, time.perf_counter() - t_start)
    return result
