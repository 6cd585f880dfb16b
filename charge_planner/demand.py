"""Demand stage: from people to daily public charging energy per cell and segment.

For each square cell (``siting.cell_size_m``) and segment::

    ev_stock      = population x vehicles_per_1000 / 1000 x ev_stock_share(year)
    energy_kwh_day = ev_stock x km_per_day x kwh_per_km x public_share
    sessions_day   = energy_kwh_day / kwh_per_session
    peak_kw        = energy_kwh_day x hourly share at the evening peak hour

EV stock share comes from a stock-turnover model: the EV share of *sales* follows a
logistic S-curve from the base-year share to the target share in the target year (held
after it); the fleet's age structure is uniform over the vehicle lifetime (constant
sales), and before the base year the EV sales share is assumed to halve for each year
back. Totals are conserved: the sum over cells equals population x rates exactly.
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from charge_planner.errors import DataError

log = logging.getLogger(__name__)

# Hourly shares of public charging energy (unmanaged), 24 values summing to 1.
# Assumption: a daytime destination hump and an evening peak; no sourced profile exists in
# the facts table. The demand model replaces it per segment when profiles are configured.
PUBLIC_PROFILE = np.array(
    [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 8, 6, 3, 2], dtype=float
)
PUBLIC_PROFILE /= PUBLIC_PROFILE.sum()
PROFILE_SOURCE = "assumption: unmanaged public charging, daytime hump and 19-20 h evening peak"


def sales_share(year: float, *, base_year: int, target_year: int, base: float, target: float, steepness: float = 8.0) -> float:
    """EV share of sales in a year (logistic S-curve from ``base`` to ``target``).

    Parameters
    ----------
    year
        Calendar year.
    base_year, target_year
        Years at which the share equals ``base`` and ``target``.
    base, target
        EV share of sales [0-1].
    steepness
        Logistic steepness over the base-target interval [-].
    """
    if year <= base_year:
        return base * 0.5 ** (base_year - year)
    if year >= target_year or target_year == base_year:
        return target
    tau = (year - base_year) / (target_year - base_year)

    def logistic(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    lo, hi = logistic(-steepness / 2), logistic(steepness / 2)
    f = (logistic(steepness * (tau - 0.5)) - lo) / (hi - lo)
    return base + (target - base) * f


def stock_share(year: int, *, base_year: int, target_year: int, base: float, target: float, lifetime_years: float) -> float:
    """EV share of the vehicle stock in a year, with a uniform age structure over the lifetime [0-1]."""
    n = max(int(round(lifetime_years)), 1)
    shares = [
        sales_share(year - k, base_year=base_year, target_year=target_year, base=base, target=target) for k in range(n)
    ]
    return float(np.mean(shares))


def make_cells(bounds: tuple[float, float, float, float], cell_size_m: float, crs: str) -> gpd.GeoDataFrame:
    """Square cells covering ``bounds`` (minx, miny, maxx, maxy) in a projected CRS."""
    minx, miny, maxx, maxy = bounds
    nx_ = max(int(math.ceil((maxx - minx) / cell_size_m)), 1)
    ny_ = max(int(math.ceil((maxy - miny) / cell_size_m)), 1)
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny_))
    ix, iy = ix.ravel(), iy.ravel()
    x0 = minx + ix * cell_size_m
    y0 = miny + iy * cell_size_m
    geoms = [box(a, b, a + cell_size_m, b + cell_size_m) for a, b in zip(x0, y0, strict=True)]
    return gpd.GeoDataFrame(
        {"cell_id": [f"c{i:04d}_{j:04d}" for i, j in zip(ix, iy, strict=True)], "ix": ix, "iy": iy},
        geometry=geoms,
        crs=crs,
    )


def population_by_cell(
    population: gpd.GeoDataFrame, *, bounds: tuple[float, float, float, float], cell_size_m: float
) -> pd.DataFrame:
    """Sum population points into cells and find each cell's population-weighted centre.

    Parameters
    ----------
    population
        Points with column ``population`` [persons], in the projected CRS.
    bounds
        (minx, miny, maxx, maxy) of the study area [m]; points outside are dropped (logged).
    cell_size_m
        Cell edge [m].

    Returns
    -------
    pandas.DataFrame
        Indexed by ``cell_id``: ``population`` [persons], ``x``, ``y`` [m] of the weighted centre.
    """
    if "population" not in population.columns:
        raise DataError("population layer has no 'population' column")
    pop = population["population"].to_numpy(dtype=float)
    if (pop < 0).any() or not np.isfinite(pop).all():
        raise DataError("population layer has negative or missing values; fix or drop those features")
    pts = population.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    minx, miny, maxx, maxy = bounds
    inside = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
    if (~inside).any():
        log.info("dropped %d population points (%.0f persons) outside the study area", (~inside).sum(), pop[~inside].sum())
    x, y, pop = x[inside], y[inside], pop[inside]
    ix = np.floor((x - minx) / cell_size_m).astype(int)
    iy = np.floor((y - miny) / cell_size_m).astype(int)
    frame = pd.DataFrame({"ix": ix, "iy": iy, "pop": pop, "px": pop * x, "py": pop * y})
    g = frame.groupby(["ix", "iy"], sort=True).sum()
    g = g[g["pop"] > 0]
    out = pd.DataFrame(
        {
            "population": g["pop"].to_numpy(),
            "x": (g["px"] / g["pop"]).to_numpy(),
            "y": (g["py"] / g["pop"]).to_numpy(),
        },
        index=pd.Index([f"c{i:04d}_{j:04d}" for i, j in g.index], name="cell_id"),
    )
    return out


def build_demand(
    cells: pd.DataFrame,
    segments: pd.DataFrame,
    *,
    year: int,
    base_year: int,
    target_year: int,
    crs: str,
    peak_hour: int = 20,
) -> gpd.GeoDataFrame:
    """The ``demand`` table for one year.

    Parameters
    ----------
    cells
        Output of :func:`population_by_cell`.
    segments
        Segment parameters (:func:`charge_planner.assumptions.segment_table`).
    year, base_year, target_year
        Plan year and the years of the adoption curve.
    crs
        Projected CRS of the cell coordinates.
    peak_hour
        Hour whose share of the daily profile gives ``peak_kw``.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``demand_id``: ``geometry`` (Point), ``cell_id``, ``segment``, ``year``,
        ``population``, ``ev_stock``, ``energy_kwh_day`` [kWh/day], ``sessions_day`` [1/day],
        ``peak_kw`` [kW], ``cutoff_s`` [s].
    """
    if target_year < base_year:
        raise DataError(f"target year {target_year} is before base year {base_year}")
    frames = []
    for seg, p in segments.iterrows():
        share = stock_share(
            year,
            base_year=base_year,
            target_year=target_year,
            base=float(p["ev_sales_share_base"]),
            target=float(p["ev_sales_share_target"]),
            lifetime_years=float(p["lifetime_years"]),
        )
        ev = cells["population"].to_numpy() * float(p["vehicles_per_1000"]) / 1000.0 * share
        energy = ev * float(p["km_per_day"]) * float(p["kwh_per_km"]) * float(p["public_share"])
        f = pd.DataFrame(
            {
                "cell_id": cells.index.to_numpy(),
                "segment": seg,
                "year": year,
                "population": cells["population"].to_numpy(),
                "ev_stock": ev,
                "ev_stock_share": share,
                "energy_kwh_day": energy,
                "sessions_day": energy / float(p["kwh_per_session"]),
                "peak_kw": energy * PUBLIC_PROFILE[peak_hour],
                "cutoff_s": float(p["cutoff_min"]) * 60.0,
                "x": cells["x"].to_numpy(),
                "y": cells["y"].to_numpy(),
            }
        )
        frames.append(f)
    table = pd.concat(frames, ignore_index=True)
    table = table[table["energy_kwh_day"] > 0].reset_index(drop=True)
    table.index = pd.Index([f"{c}:{s}:{y}" for c, s, y in zip(table["cell_id"], table["segment"], table["year"], strict=True)], name="demand_id")
    gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["x"], table["y"]), crs=crs)
    log.info(
        "demand %d: %d rows, %.0f kWh/day in total (%s)",
        year,
        len(gdf),
        gdf["energy_kwh_day"].sum(),
        ", ".join(f"{s} {v:.0f}" for s, v in gdf.groupby("segment")["energy_kwh_day"].sum().items()),
    )
    return gdf.drop(columns=["x", "y"])
