"""Grid stage: load or synthesise a pandapower net, connect sites to buses, run load flows."""

from charge_planner.grid.build import (
    GridModel,
    bus_roles,
    bus_xy_m,
    check_grid,
    load_grid,
    project_bus_coordinates,
    synthesise_grid,
)
from charge_planner.grid.connect import connect_sites
from charge_planner.grid.flow import FlowResult, run_peak_flow

__all__ = [
    "FlowResult",
    "GridModel",
    "bus_roles",
    "bus_xy_m",
    "check_grid",
    "connect_sites",
    "load_grid",
    "project_bus_coordinates",
    "run_peak_flow",
    "synthesise_grid",
]
