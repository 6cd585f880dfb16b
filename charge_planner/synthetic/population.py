"""Population of a synthetic city: one point per populated 100 m pixel.

The density follows :func:`~charge_planner.synthetic.layout._density_shape` (exponential core,
two Gaussian sub-centres, a rural floor) times log-normal noise, with empty pixels and none in
the river, scaled to a drawn total proportional to the area or to a given total.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from charge_planner.synthetic.layout import Box, _density_shape, _River

POPULATION_PIXEL_M = 100.0
"""Side of a population pixel [m]; each population point is a pixel centre."""


# --------------------------------------------------------------------------- population


def _population(
    rng: np.random.Generator,
    box: Box,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
    river: _River,
    crs: str,
    total_persons: float | None = None,
) -> gpd.GeoDataFrame:
    """Population per 100 m pixel [persons]; empty pixels and river pixels dropped; scaled to
    ``total_persons`` when given, else to a total drawn in proportion to the area."""
    half = 0.5 * POPULATION_PIXEL_M
    gx, gy = np.meshgrid(
        np.arange(box[0] + half, box[2], POPULATION_PIXEL_M),
        np.arange(box[1] + half, box[3], POPULATION_PIXEL_M),
    )
    x, y = gx.ravel(), gy.ravel()
    density = _density_shape(x, y, centre, subcentres, radius_m)
    density *= rng.lognormal(-0.5 * 0.35**2, 0.35, x.size)
    density[rng.random(x.size) < 0.04] = 0.0
    density[shapely.contains_xy(river.area, x, y)] = 0.0
    area_km2 = (box[2] - box[0]) * (box[3] - box[1]) / 1e6
    total = rng.uniform(450_000.0, 650_000.0) * area_km2 / 63.0  # drawn always: later draws stay the same
    if total_persons is not None:
        total = float(total_persons)
    population = np.round(density * total / density.sum())
    populated = population > 0
    return gpd.GeoDataFrame(
        {"population": population[populated].astype(float)},
        geometry=gpd.points_from_xy(x[populated], y[populated]),
        crs=crs,
    )
