"""Grid stage: load or synthesise a pandapower net, connect sites, run time-series load flows.

* :mod:`~charge_planner.grid.model` — the :class:`GridModel` record, grid constants, bus roles
  and coordinates, the project's load-flow settings;
* :mod:`~charge_planner.grid.load` — load a net (pandapower JSON, SimBench, pandapower library)
  and check it;
* :mod:`~charge_planner.grid.synthesise` — synthesise a grid along the roads (design loop);
* :mod:`~charge_planner.grid.feeders` — its building blocks: DT ratings, substations, feeders, the net;
* :mod:`~charge_planner.grid.lv` — LV network synthesis: DT service areas, LV feeders, ``lv_bus_of``;
* :mod:`~charge_planner.grid.connect` — site to bus by road distance, LV/MV level rule;
* :mod:`~charge_planner.grid.flow` — one peak-hour AC load flow;
* :mod:`~charge_planner.grid.fastflow` — batched AC load flow of many steps at once;
* :mod:`~charge_planner.grid.admittance` — its admittance model of a net (pandapower's ppci);
* :mod:`~charge_planner.grid.jacobian` — its Jacobian and level-scheduled sparse LU;
* :mod:`~charge_planner.grid.timeseries` — design day or year, violations with hours;
* :mod:`~charge_planner.grid.hosting` — hosting capacity per bus;
* :mod:`~charge_planner.grid.energy` — on-site PV, hourly grid mix, renewable share, CO2;
* :mod:`~charge_planner.grid.assess` — all of it for a siting plan in one call.
"""

from charge_planner.grid.assess import GridAssessment, assess_grid, site_load_matrix
from charge_planner.grid.connect import connect_sites, connect_sites_detail, grid_level
from charge_planner.grid.energy import (
    EnergyBalance,
    PVProfile,
    charging_energy,
    combustion_co2_kg,
    grid_mix,
    pv_profile,
)
from charge_planner.grid.fastflow import BatchPowerFlow, BatchResult
from charge_planner.grid.flow import FlowResult, run_peak_flow
from charge_planner.grid.hosting import HostingResult, hosting_capacity, hosting_capacity_bisection
from charge_planner.grid.load import check_grid, load_grid
from charge_planner.grid.lv import lv_bus_of
from charge_planner.grid.model import GridModel, bus_roles, bus_xy_m, project_bus_coordinates
from charge_planner.grid.synthesise import synthesise_grid
from charge_planner.grid.timeseries import TimeSeriesResult, base_load_profile, run_time_series, time_index

__all__ = [
    "BatchPowerFlow",
    "BatchResult",
    "EnergyBalance",
    "FlowResult",
    "GridAssessment",
    "GridModel",
    "HostingResult",
    "PVProfile",
    "TimeSeriesResult",
    "assess_grid",
    "base_load_profile",
    "bus_roles",
    "bus_xy_m",
    "charging_energy",
    "check_grid",
    "combustion_co2_kg",
    "connect_sites",
    "connect_sites_detail",
    "grid_level",
    "grid_mix",
    "hosting_capacity",
    "hosting_capacity_bisection",
    "load_grid",
    "lv_bus_of",
    "project_bus_coordinates",
    "pv_profile",
    "run_peak_flow",
    "run_time_series",
    "site_load_matrix",
    "synthesise_grid",
    "time_index",
]
