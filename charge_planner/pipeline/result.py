"""The :class:`Plan`: every stage's typed result, and the hook that saves it.

Saving a plan belongs to the outputs layer, above this one: :meth:`Plan.save` calls the writer
that :mod:`charge_planner.outputs` registers with :func:`register_plan_writer` when it is
imported, and ``import charge_planner`` (which runs before any of its modules) imports it.

A plan pickles small, for sending between processes: the solver's matrices and the batched
load flow's per-step matrices are left out, and so are the city's road graphs, which an
unpickled plan reloads from the city bundle the first time they are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from charge_planner.city import City
from charge_planner.demand import DemandResult
from charge_planner.grid.assess import GridAssessment
from charge_planner.grid.flow import FlowResult
from charge_planner.grid.model import GridModel
from charge_planner.grid.results import GridLoads, GridResults
from charge_planner.siting import CapacitatedSiting

__all__ = ["Plan", "register_plan_writer"]

#: Writes a plan's files: ``writer(plan, out_dir, overwrite=, offline=, pdf=) -> folder``;
#: :func:`charge_planner.outputs.save_plan`, registered when :mod:`charge_planner.outputs` is imported.
_plan_writer: Callable[..., Path] | None = None


def register_plan_writer(writer: Callable[..., Path]) -> None:
    """Make ``writer`` the function behind :meth:`Plan.save` (called by :mod:`charge_planner.outputs`)."""
    global _plan_writer
    _plan_writer = writer


def plan_writer() -> Callable[..., Path] | None:
    """The registered plan writer (None before :mod:`charge_planner.outputs` is imported)."""
    return _plan_writer


@dataclass
class Plan:
    """Result of :func:`~charge_planner.pipeline.plan`: every stage's tables and the run's summary.

    Attributes
    ----------
    city
        The city bundle.
    demand
        ``demand`` rows the siting model consumed (publicly served use cases of the rollout
        years), with ``node_id`` and ``access_m``.
    candidates
        ``candidates`` table (excluded ones included, with ``excluded_reason``).
    travel
        Sparse ``travel`` table (pairs within the cut-off).
    siting
        The solved siting model.
    sites
        Chosen sites (``sites`` contract) as a GeoDataFrame; with a grid also ``bus_id``.
    charger_types
        Charger table the plan used.
    segments
        Vehicle segment table the plan used.
    grid_results
        The grid stage's result (:class:`~charge_planner.grid.results.GridResults`), None when
        ``grid.source = "none"``.
    grid_loads
        The loads the grid stage was given (:class:`~charge_planner.grid.results.GridLoads`).
    summary
        JSON-serialisable summary: config hash, package versions, solver status, KPIs.
    demand_result
        The whole demand stage: fleet projection, cells, the ``demand`` table of every
        year and use case, hourly profiles and per-cell peaks.
    unserved
        Unserved energy of every siting demand row and rollout year with its cause
        (:func:`charge_planner.siting.unserved.unserved_demand`).
    grid_years
        The grid check of every year checked (``grid.check_years``; ``grid_results`` is the plan year's).
    grid_iterations
        Grid-aware siting (``grid.aware``): one record per round (violations, served share, capex,
        reinforcement, sites opened and closed); empty otherwise.
    reinforcement
        Grid reinforcements the optimiser chose (``group_id``, ``option``, ``added_kw``, ``cost_usd``, ``year``).
    utility_reinforcement
        Reinforcements the grid needs without any public charging (base, home and depot load), paid by the
        utility and kept apart from the charging budget.
    """

    city: City
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    travel: pd.DataFrame
    siting: CapacitatedSiting
    sites: gpd.GeoDataFrame
    charger_types: pd.DataFrame
    segments: pd.DataFrame
    grid_results: GridResults | None = None
    grid_loads: GridLoads | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    demand_result: DemandResult | None = None
    unserved: pd.DataFrame | None = None
    grid_years: dict[int, GridResults] = field(default_factory=dict)
    grid_iterations: list[dict[str, Any]] = field(default_factory=list)
    reinforcement: pd.DataFrame | None = None
    utility_reinforcement: pd.DataFrame | None = None

    @property
    def grid(self) -> GridModel | None:
        """The grid model (None without a grid)."""
        return self.grid_results.model if self.grid_results is not None else None

    @property
    def flow(self) -> FlowResult | None:
        """The load-flow result, peak or time series (None without a grid)."""
        return self.grid_results.flow if self.grid_results is not None else None

    @property
    def grid_assessment(self) -> GridAssessment | None:
        """Energy balance and hosting capacity of a time series (None for the peak flow or without a grid)."""
        return self.grid_results.assessment if self.grid_results is not None else None

    def __copy__(self) -> Plan:
        # a shallow copy shares every part, the solver's model included (pickling leaves it out)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        # the solved tables stay; the solver's matrix model and its index do not
        state["siting"] = self.siting.compact()
        if self.grid_results is not None:
            state["grid_results"] = self.grid_results.compact()
        state["grid_years"] = {y: r.compact() for y, r in self.grid_years.items()}
        return state

    def save(
        self,
        out_dir: Path | str | None = None,
        *,
        overwrite: bool = False,
        offline: bool | None = None,
        pdf: bool | None = None,
    ) -> Path:
        """Write the map, the report (HTML, and PDF when Chromium is there), GeoPackage, CSVs,
        ``summary.json`` and ``manifest.json`` (the list of files written).

        ``out_dir`` defaults to ``outputs.folder`` (else ``out/<city folder name>``), relative to the
        current directory. A new or empty folder is used; a folder holding an earlier plan output
        is replaced only with ``overwrite=True``, and then only the files its manifest lists are
        removed; any other non-empty folder, the city folder, the data root and folders containing
        them are refused with :class:`~charge_planner.outputs.OutputError`. Files are written to a
        temporary folder and moved into place only when all of them succeeded, so a failure leaves
        no partial output. ``offline`` and ``pdf`` override ``outputs.offline_map`` and
        ``outputs.pdf`` (see :func:`charge_planner.outputs.write_outputs`). Returns the folder.

        The work is done by :func:`charge_planner.outputs.save_plan`, which the outputs layer
        registers (:func:`register_plan_writer`) when ``charge_planner`` is imported.
        """
        if _plan_writer is None:
            raise RuntimeError("no plan writer registered: import charge_planner.outputs (import charge_planner "
                               "does) before Plan.save")
        return _plan_writer(self, out_dir, overwrite=overwrite, offline=offline, pdf=pdf)
