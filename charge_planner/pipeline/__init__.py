"""The pipeline: the stages, the :class:`Plan` they fill, and the run's summary.

* :mod:`~charge_planner.pipeline.stages` — one typed function per stage, with explicit inputs
  (demand, candidates, travel, siting, grid loads, grid);
* :mod:`~charge_planner.pipeline.result` — the :class:`Plan` record (pickles small) and the
  hook through which the outputs layer saves it;
* :mod:`~charge_planner.pipeline.summary` — ``summary.json``;
* :mod:`~charge_planner.pipeline.run` — :func:`plan`, the stages in order;
* :mod:`~charge_planner.pipeline.loop` — grid-aware siting (site, check every year of the rollout, site again);
* :mod:`~charge_planner.pipeline.adoption` — how much EV the grid can host;
* :mod:`~charge_planner.pipeline.hosting_search` — the blockwise search and refinement behind it;
* :mod:`~charge_planner.pipeline.options` — rollout options side by side.
"""

from charge_planner.pipeline.adoption import ev_hosting_level, hosting_level_of
from charge_planner.pipeline.loop import GridAwareResult, check_years, grid_aware_siting
from charge_planner.pipeline.options import Option, compare_options
from charge_planner.pipeline.result import Plan, plan_writer, register_plan_writer
from charge_planner.pipeline.run import plan
from charge_planner.pipeline.stages import (
    DemandStage,
    GridLimits,
    base_load_growth_of,
    base_loads,
    candidates_stage,
    demand_stage,
    grid_emissions_of,
    grid_loads,
    grid_stage,
    load_given_grid,
    site_profiles,
    siting_stage,
    travel_stage,
)
from charge_planner.pipeline.summary import (
    PACKAGES,
    demand_result_summary,
    package_versions,
    plan_summary,
    summary_json,
)

__all__ = [
    "PACKAGES",
    "DemandStage",
    "GridAwareResult",
    "GridLimits",
    "Option",
    "check_years",
    "compare_options",
    "ev_hosting_level",
    "grid_aware_siting",
    "hosting_level_of",
    "Plan",
    "base_load_growth_of",
    "base_loads",
    "candidates_stage",
    "demand_result_summary",
    "demand_stage",
    "grid_emissions_of",
    "grid_loads",
    "grid_stage",
    "load_given_grid",
    "package_versions",
    "plan",
    "plan_summary",
    "plan_writer",
    "register_plan_writer",
    "site_profiles",
    "siting_stage",
    "summary_json",
    "travel_stage",
]
