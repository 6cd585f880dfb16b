"""Deterministic synthetic demo city: road graph, river, population grid and points of interest.

:func:`generate_city` (in :mod:`~charge_planner.synthetic.city`, whose docstring describes the
model) draws everything from one seeded random generator; the steps live in
:mod:`~charge_planner.synthetic.layout` (river, major-road lines, sub-centres, density fields),
:mod:`~charge_planner.synthetic.roads` (road nodes, edges and graph),
:mod:`~charge_planner.synthetic.population` (population pixels) and
:mod:`~charge_planner.synthetic.pois` (points of interest).
"""

from charge_planner.synthetic.city import SyntheticCity, city_bounds, generate_city
from charge_planner.synthetic.layout import ORIGIN_M
from charge_planner.synthetic.pois import (
    POI_COUNT_MODES,
    POI_COUNT_RANGES,
    POI_DENSITY_PER_100K,
    POI_KINDS,
    poi_count,
)
from charge_planner.synthetic.population import POPULATION_PIXEL_M
from charge_planner.synthetic.roads import CITY_NAME

__all__ = [
    "CITY_NAME",
    "ORIGIN_M",
    "POI_COUNT_MODES",
    "POI_COUNT_RANGES",
    "POI_DENSITY_PER_100K",
    "POI_KINDS",
    "POPULATION_PIXEL_M",
    "SyntheticCity",
    "city_bounds",
    "generate_city",
    "poi_count",
]
