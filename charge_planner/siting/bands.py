"""Connection bands of the candidate sites: the band table as the capacitated model prices it.

:class:`SiteBands` holds, for every candidate site, the band it has already paid, what it costs
open in each band, and the "at least band b" upgrade columns the model gets where a site can
install more power than the band below allows; :func:`_site_bands` builds it from the
``site_cost_bands`` table, the candidates' ``connection_kw`` and their existing chargers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from charge_planner.errors import DataError
from charge_planner.siting.connection import band_table, connection_band

__all__ = ["SiteBands"]


@dataclass(frozen=True)
class SiteBands:
    """Connection bands of the candidate sites, as the model prices them.

    ``max_kw`` [kW] and ``cost_usd`` [USD] are the bands (the last ``max_kw`` is ``inf``);
    ``paid`` is the band each site has already paid (its ``connection_kw`` or existing
    chargers; -1: none); ``level_cost[j, b]`` [USD] what site ``j`` costs when open in band
    ``b`` (its fixed cost and the bands above ``paid``). The upgrade columns of the model are
    (``up_site``, ``up_band``): "site in band ``up_band`` or higher", only where the site can
    install more than ``max_kw[up_band - 1]``; ``up_cost`` is each one's cost step [USD] and
    ``up_kw`` the power it adds to the site's limit [kW].
    """

    max_kw: np.ndarray
    cost_usd: np.ndarray
    labels: list[str]
    paid: np.ndarray
    existing_kw: np.ndarray
    max_site_kw: np.ndarray
    level_cost: np.ndarray
    up_site: np.ndarray
    up_band: np.ndarray
    up_prev: np.ndarray
    up_kw: np.ndarray
    up_cost: np.ndarray

    def level(self, sites: np.ndarray, power_kw: np.ndarray) -> np.ndarray:
        """Band of open sites with the given installed power [kW] (never below the paid one)."""
        return np.maximum(self.paid[sites], connection_band(power_kw, self.max_kw))

    def open_cost(self, sites: np.ndarray, add_kw: np.ndarray) -> np.ndarray:
        """Cost of opening closed sites with ``add_kw`` [kW] of new chargers [USD]."""
        sites = np.asarray(sites, dtype=np.int64)
        return self.level_cost[sites, self.level(sites, self.existing_kw[sites] + add_kw)]


def _band_labels(max_kw: np.ndarray) -> list[str]:
    if len(max_kw) == 1:
        return ["any power"]
    out = [f"<={max_kw[0]:g} kW"]
    out += [f"{lo:g}-{hi:g} kW" for lo, hi in zip(max_kw[:-2], max_kw[1:-1], strict=True)]
    return [*out, f">{max_kw[-2]:g} kW"]


def _site_bands(
    bands: pd.DataFrame | Sequence[tuple[float, float]] | None,
    candidates: pd.DataFrame,
    allowed: np.ndarray,
    existing: np.ndarray,
    power: np.ndarray,
    max_ch: np.ndarray,
    has_existing: np.ndarray,
    fixed: np.ndarray,
) -> SiteBands:
    if bands is None:
        max_kw, cost = np.array([np.inf]), np.array([0.0])
    else:
        max_kw, cost = band_table(bands)
    n_site, n_b = len(candidates), len(max_kw)
    ex_kw = existing @ power
    top = np.where(allowed, power[None, :], 0.0).max(axis=1) if allowed.size else np.zeros(n_site)
    max_site_kw = np.maximum(max_ch * top, ex_kw)
    conn = np.zeros(n_site)
    if "connection_kw" in candidates.columns:
        conn = candidates["connection_kw"].fillna(0.0).to_numpy(dtype=float)
        if np.isnan(conn).any() or (conn < 0).any():
            raise DataError("candidates connection_kw has negative or missing values; give the existing grid "
                            "connection of each site [kW], 0 where there is none")
    have = np.maximum(conn, ex_kw)
    paid = np.where((have > 0) | has_existing, connection_band(have, max_kw), -1).astype(np.int64)
    step = np.diff(cost, prepend=0.0)  # cost of band b over band b-1
    unpaid = np.arange(n_b)[None, :] > paid[:, None]
    base = np.where(has_existing, 0.0, fixed)
    level_cost = base[:, None] + np.cumsum(np.where(unpaid, step[None, :], 0.0), axis=1)
    # upgrade columns: band b >= 1 where the site can install more than the band below allows
    lower = max_kw[:-1]
    need = max_site_kw[:, None] > lower[None, :] * (1 + 1e-9)
    up_site, up_b = np.nonzero(need)
    up_band = up_b + 1
    pos = -np.ones((n_site, n_b), dtype=np.int64)
    pos[up_site, up_band] = np.arange(len(up_site))
    up_prev = np.where(up_band > 1, pos[up_site, np.maximum(up_band - 1, 0)], -1)
    up_kw = np.minimum(max_kw[up_band], max_site_kw[up_site]) - max_kw[up_band - 1]
    up_cost = np.where(up_band > paid[up_site], step[up_band], 0.0)
    return SiteBands(max_kw=max_kw, cost_usd=cost, labels=_band_labels(max_kw), paid=paid, existing_kw=ex_kw,
                     max_site_kw=max_site_kw, level_cost=level_cost, up_site=up_site.astype(np.int64),
                     up_band=up_band.astype(np.int64), up_prev=up_prev.astype(np.int64), up_kw=up_kw,
                     up_cost=up_cost)
