"""Connection cost of a site by its installed power band: the checked band table
(:func:`band_table`), the band of an installed power (:func:`connection_band`) and its cost
(:func:`connection_cost`). Every model and heuristic prices a site's connection this way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from charge_planner.errors import DataError


def band_table(bands: pd.DataFrame | Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Upper limits [kW] and costs [USD] of a connection-band table (columns ``max_kw``,
    ``cost_usd``, or (max_kw, cost_usd) pairs), checked: limits positive and increasing, the last
    one ``inf``; costs >= 0 and not falling from band to band.

    Raises
    ------
    DataError
        Naming what is wrong with the table.
    """
    table = bands if isinstance(bands, pd.DataFrame) else pd.DataFrame(list(bands), columns=["max_kw", "cost_usd"])
    missing = [c for c in ("max_kw", "cost_usd") if c not in table.columns]
    if missing:
        raise DataError(f"site_cost_bands table lacks column(s) {missing}; add them")
    max_kw = table["max_kw"].to_numpy(dtype=float)
    cost = table["cost_usd"].to_numpy(dtype=float)
    if len(max_kw) == 0 or np.isnan(max_kw).any() or (max_kw <= 0).any() or (np.diff(max_kw) <= 0).any():
        raise DataError(f"site_cost_bands max_kw {list(max_kw)}: give positive, increasing upper limits [kW]")
    if not np.isinf(max_kw[-1]):
        raise DataError(f"site_cost_bands: the last band ends at {max_kw[-1]:g} kW; make it open-ended "
                        "(max_kw = inf) so that every site has a band")
    if not np.isfinite(cost).all() or (cost < 0).any() or (np.diff(cost) < 0).any():
        raise DataError(f"site_cost_bands cost_usd {list(cost)}: give costs >= 0 that do not fall with the band")
    return max_kw, cost


def connection_band(power_kw: np.ndarray | float, max_kw: np.ndarray) -> np.ndarray:
    """Index of the connection band of each installed power: the lowest band whose upper limit
    ``max_kw`` [kW] (increasing; the last one ``inf``) is at least the power [kW]."""
    p = np.asarray(power_kw, dtype=float)
    return np.searchsorted(np.asarray(max_kw, dtype=float), p - 1e-9 * np.maximum(np.abs(p), 1.0), side="left")


def connection_cost(power_kw: np.ndarray | float, max_kw: np.ndarray, cost_usd: np.ndarray) -> np.ndarray:
    """Connection cost [USD] of sites of the given installed power [kW]: the cost of their band
    (:func:`connection_band`). Every model and heuristic prices a site's connection this way."""
    return np.asarray(cost_usd, dtype=float)[connection_band(power_kw, max_kw)]
