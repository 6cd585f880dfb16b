"""Scenario sweeps: many rollout options of one or more cities, planned on Dask and compared.

:func:`run_scenarios` (``charge-planner sweep``) reads a sweep file (:func:`load_sweep`), plans
every scenario on a ``dask.distributed`` cluster, writes each scenario's outputs as soon as it is
done, ``scenarios.csv`` with one row per scenario, and ``comparison.html`` (+ PDF); a sweep
stopped at any point finishes when started again, without planning finished scenarios again.
"""

from __future__ import annotations

from charge_planner.scenarios.engine import run_job, run_scenarios
from charge_planner.scenarios.store import ROW_COLUMNS, SweepFolder
from charge_planner.scenarios.sweep import Job, Sweep, load_sweep, parse_sweep, sweep_jobs

__all__ = ["ROW_COLUMNS", "Job", "Sweep", "SweepFolder", "load_sweep", "parse_sweep", "run_job", "run_scenarios",
           "sweep_jobs"]
