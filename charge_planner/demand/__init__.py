"""Demand stage: where and when charging energy is needed, per cell, segment, use case and year.

The stage has four parts, each a set of plain functions over tables, in four modules:
:mod:`~charge_planner.demand.fleet` (1, 2), :mod:`~charge_planner.demand.spatial` (3),
:mod:`~charge_planner.demand.profiles` (4) and :mod:`~charge_planner.demand.allocate`
(the allocation and the whole stage). Every name is re-exported here.

1. **Fleet and adoption** (:func:`fleet_projection`). Per segment, a cohort stock model:
   base-year stock = population x vehicles per 1,000; base-year sales = stock x
   ``sales_per_stock``, growing by ``sales_growth_per_year``; vehicles leave the stock by a
   survival curve whose mean is the lifetime (:func:`survival_curve`). The EV share of
   sales follows a logistic S-curve through the base-year share and the target share in
   the target year, saturating at a ceiling (:func:`sales_share`); the same curve, run
   backwards, gives the EV share of the cohorts already on the road, calibrated to the
   observed EV share of the base-year stock where one is given. A policy target for the EV
   share of the stock replaces the sales target: the sales share that reaches it is solved.
   Out come stock, sales, scrappage, EV sales and EV stock per year from the base year to
   the horizon.
2. **Energy by use case** (:func:`energy_by_use_case`): EV stock x km/day x kWh/km,
   split into home/private, depot, public AC, public DC and battery swapping by the
   segment's use-case shares.
3. **Spatial allocation** (:func:`make_cells`, :func:`raster_zonal_sums`,
   :func:`polygon_area_weights`, :func:`point_weights`, :func:`spatial_weights`,
   :func:`allocate_demand`): square or H3 cells clipped to the study area; residents from
   a population raster (exact area-weighted zonal sums), else building footprint area,
   else population points; POI attraction for destination charging; depots for depot
   charging. The city total of every (segment, year, use case) is spread in proportion
   to the cell weights, so the sum over cells equals the total up to floating-point
   rounding.
4. **Hourly profiles** (:func:`charging_profile`): 24 hourly shares per segment and use
   case from an arrival-time distribution, a dwell window and a charging duration;
   strategies "unmanaged" (charge on arrival), "managed_offpeak" (fill the off-peak
   tariff hours of the dwell window) and "solar_following" (follow the PV output within
   the dwell window).

:func:`city_demand` runs all four for a loaded :class:`~charge_planner.city.City` and
returns a :class:`DemandResult`; its ``demand`` table is the DESIGN ``demand`` contract for
every year and use case, and :meth:`DemandResult.for_siting` selects the rows the siting
model consumes (publicly served use cases of the chosen years).
"""

from __future__ import annotations

from charge_planner.assumptions import (
    POI_SHARE,
    POI_WEIGHTS,
    PROFILE_SOURCE,
    PROFILE_SPECS,
    SURVIVAL_SOURCE,
    ProfileSpec,
)
from charge_planner.demand.allocate import (
    DemandResult,
    allocate_demand,
    build_demand,
    city_demand,
    default_study_area,
    population_by_cell,
)
from charge_planner.demand.fleet import (
    UNCALIBRATED_FACTOR,
    check_segments,
    energy_by_use_case,
    fleet_projection,
    sales_share,
    survival_curve,
)
from charge_planner.demand.profiles import (
    PUBLIC_PROFILE,
    PV_SHAPE,
    STRATEGIES,
    _fill,
    cell_peaks,
    charging_profile,
    hourly_load,
    offpeak_mask,
    profile_table,
)
from charge_planner.demand.spatial import (
    DEFAULT_POI_WEIGHT,
    DEPOT_POI_KINDS,
    MIN_BUILDING_COVERAGE,
    SpatialWeights,
    WeightLayer,
    building_coverage,
    h3_resolution_for,
    make_cells,
    point_weights,
    polygon_area_weights,
    raster_zonal_sums,
    residential_layer,
    spatial_weights,
)
from charge_planner.presets import STOCK_SHARE_FIELDS

__all__ = [
    "DEFAULT_POI_WEIGHT",
    "DEPOT_POI_KINDS",
    "MIN_BUILDING_COVERAGE",
    "POI_SHARE",
    "POI_WEIGHTS",
    "PROFILE_SOURCE",
    "PROFILE_SPECS",
    "PUBLIC_PROFILE",
    "PV_SHAPE",
    "STOCK_SHARE_FIELDS",
    "STRATEGIES",
    "SURVIVAL_SOURCE",
    "UNCALIBRATED_FACTOR",
    "DemandResult",
    "ProfileSpec",
    "SpatialWeights",
    "WeightLayer",
    "_fill",
    "allocate_demand",
    "build_demand",
    "building_coverage",
    "cell_peaks",
    "charging_profile",
    "check_segments",
    "city_demand",
    "default_study_area",
    "energy_by_use_case",
    "fleet_projection",
    "h3_resolution_for",
    "hourly_load",
    "make_cells",
    "offpeak_mask",
    "point_weights",
    "polygon_area_weights",
    "population_by_cell",
    "profile_table",
    "raster_zonal_sums",
    "residential_layer",
    "sales_share",
    "spatial_weights",
    "survival_curve",
]
