"""The grid stage's contracts: what it takes (:class:`GridLoads`) and what it returns (:class:`GridResults`).

The grid stage is run with explicit inputs, so that it can be rerun alone (for another
charging strategy, another year or a changed set of sites) without the siting model:
:class:`GridLoads` holds the base load points, the sites with their power, level and
served energy, and the daily profile of each site's charging. :class:`GridResults` is one
record for the peak flow, the design day and the year alike: the grid model, the flow with
its bus, line and transformer tables (two- and three-winding), the violation table with
hours, the bus each site is connected to and, for a time series, the assessment (energy,
hosting capacity). Maps, report and exports read it without guessing which kind of
result they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from charge_planner.grid.assess import GridAssessment
from charge_planner.grid.flow import FlowResult
from charge_planner.grid.model import GridModel
from charge_planner.grid.timeseries import TimeSeriesResult

__all__ = ["OTHER_LOAD_COLUMNS", "GridLoads", "GridResults", "SITE_LOAD_COLUMNS"]

#: Columns :attr:`GridLoads.sites` must have.
SITE_LOAD_COLUMNS = ("power_kw", "grid_level", "node_id", "served_kwh_day")

#: Columns of :attr:`GridLoads.other`.
OTHER_LOAD_COLUMNS = ("kind", "x", "y", "kwh_day", "peak_kw")


@dataclass
class GridLoads:
    """Loads the grid stage puts on the grid.

    Attributes
    ----------
    base
        Base (non-EV) load points, projected: ``base_peak_kw`` [kW] at the evening peak of the
        plan year, point geometry.
    sites
        Charging sites indexed by ``site_id``, projected: ``power_kw`` [kW] installed,
        ``grid_level`` (``"lv"``/``"mv"``), ``node_id`` (road node, for the connection by road),
        ``served_kwh_day`` [kWh/day], point geometry; other columns are kept.
    site_profiles
        Daily profile of each site's charging, shape (number of sites, 24), rows summing to 1:
        the share of ``served_kwh_day`` drawn in each hour.
    strategy
        Charging strategy the profiles follow (``demand.charging_strategy``).
    offpeak_window
        (start hour, end hour) of the off-peak window the profiles used.
    other
        EV loads that are not charging sites, one row per demand cell and use case: ``kind``
        (``"home"`` or ``"depot"``), ``x``, ``y`` [m] (the cell's centre), ``kwh_day`` [kWh/day] and
        ``peak_kw`` [kW] (its highest hourly draw).
    other_profiles
        Daily profile of each ``other`` row, shape (rows, 24), rows summing to 1.
    year
        The year the loads are for.
    """

    base: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    site_profiles: np.ndarray
    strategy: str = "unmanaged"
    offpeak_window: tuple[int, int] = (22, 6)
    other: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(OTHER_LOAD_COLUMNS)))
    other_profiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 24)))
    year: int | None = None

    def __post_init__(self) -> None:
        missing = [c for c in SITE_LOAD_COLUMNS if c not in self.sites.columns]
        if missing:
            raise ValueError(f"GridLoads.sites lacks column(s) {missing}")
        if "base_peak_kw" not in self.base.columns:
            raise ValueError("GridLoads.base lacks column 'base_peak_kw'")
        shape = np.shape(self.site_profiles)
        if shape != (len(self.sites), 24):
            raise ValueError(f"GridLoads.site_profiles has shape {shape}, expected ({len(self.sites)}, 24)")
        missing = [c for c in OTHER_LOAD_COLUMNS if c not in self.other.columns]
        if missing:
            raise ValueError(f"GridLoads.other lacks column(s) {missing}")
        if np.shape(self.other_profiles) != (len(self.other), 24):
            raise ValueError(f"GridLoads.other_profiles has shape {np.shape(self.other_profiles)}, expected "
                             f"({len(self.other)}, 24)")

    def scaled(self, factor: float) -> GridLoads:
        """The same loads with every EV energy (sites and other loads) multiplied by ``factor``."""
        return replace(
            self, sites=self.sites.assign(served_kwh_day=self.sites["served_kwh_day"] * factor),
            other=self.other.assign(kwh_day=self.other["kwh_day"] * factor, peak_kw=self.other["peak_kw"] * factor),
        )

    def ev_kwh_day(self) -> dict[str, float]:
        """EV energy put on the grid per kind (``public``, ``home``, ``depot``) [kWh/day]."""
        out = {"public": float(self.sites["served_kwh_day"].sum())}
        for kind, kwh in self.other.groupby("kind")["kwh_day"].sum().items():
            out[str(kind)] = float(kwh)
        return out


@dataclass
class GridResults:
    """Result of the grid stage, the same record for the peak flow, a design day and a year.

    Attributes
    ----------
    model
        The grid (synthesised or given) with its assumptions.
    flow
        The load-flow result: a :class:`~charge_planner.grid.flow.FlowResult` at the evening peak,
        or a :class:`~charge_planner.grid.timeseries.TimeSeriesResult` over the day or year (whose
        tables hold the worst value of every element over the horizon).
    mode
        ``"peak"``, ``"day"`` or ``"year"`` (``grid.time_series``).
    site_buses
        Bus of every site, indexed by ``site_id``.
    assessment
        Energy balance and hosting capacity of a time series (None for the peak flow).
    assumptions
        What the stage assumed about the loads (profiles, PV, grid mix), beside the grid model's.
    ev_rows
        Every EV load put on the grid, one row each: ``kind`` (``public``, ``home``, ``depot``),
        ``bus_id``, ``served_kwh_day`` [kWh/day], ``power_kw`` [kW] (the draw's cap), ``pv_kwp``
        [kWp], ``site_id`` (charging sites) or ``cell`` (other loads).
    ev_profiles
        Daily profile of each ``ev_rows`` row (rows x 24).
    year
        The year checked.
    """

    model: GridModel
    flow: FlowResult
    mode: Literal["peak", "day", "year"]
    site_buses: pd.Series = field(default_factory=lambda: pd.Series(dtype=int))
    assessment: GridAssessment | None = None
    assumptions: list[str] = field(default_factory=list)
    ev_rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    ev_profiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 24)))
    year: int | None = None

    @property
    def buses(self) -> pd.DataFrame:
        """Per bus: ``vm_pu`` (lowest over the horizon), ``vn_kv``, ``role``, ``violation``, ``x_m``, ``y_m``, …"""
        return self.flow.buses

    @property
    def lines(self) -> pd.DataFrame:
        """Per line: ``loading_percent`` (highest over the horizon), ``from_bus``, ``to_bus``, ``violation``, …"""
        return self.flow.lines

    @property
    def trafos(self) -> pd.DataFrame:
        """Per two-winding transformer: ``loading_percent``, ``hv_bus``, ``lv_bus``, ``sn_mva``, ``violation``, …"""
        return self.flow.trafos

    @property
    def trafos3w(self) -> pd.DataFrame:
        """Per three-winding transformer: ``loading_percent``, ``hv_bus``, ``mv_bus``, ``lv_bus``, …"""
        return self.flow.trafos3w

    @property
    def violations(self) -> pd.DataFrame:
        """One row per element and kind of violation (:data:`~charge_planner.grid.flow.VIOLATION_COLUMNS`);
        ``hours`` is NaN for the peak flow."""
        return self.flow.violations

    @property
    def time_series(self) -> TimeSeriesResult | None:
        """The time-series result (None for the peak flow)."""
        return self.flow if isinstance(self.flow, TimeSeriesResult) else None

    @property
    def hosting(self) -> pd.DataFrame | None:
        """Hosting capacity per bus (``hosting_capacity_kw``, ``limit``, ``reason``, …), None when not computed."""
        if self.assessment is None or self.assessment.hosting is None:
            return None
        return self.assessment.hosting.table

    def compact(self) -> GridResults:
        """A copy without the raw per-step matrices of the batched load flow (for pickling small)."""
        flow = self.flow
        if isinstance(flow, TimeSeriesResult) and flow.batch is not None:
            flow = replace(flow, batch=None)
            assessment = replace(self.assessment, flow=flow) if self.assessment is not None else None
            return replace(self, flow=flow, assessment=assessment)
        return self
