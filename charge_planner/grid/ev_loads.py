"""EV loads that are not charging sites, placed on the grid: home charging and depots.

Home charging of a demand cell goes onto the LV networks that supply the cell's homes: every
bus that carries base load belongs to the nearest cell centre, and a cell's home charging is
shared among its buses in proportion to their base load (a cell without such a bus uses the
LV bus nearest to its centre). A depot (bus, fleet or truck depot) sits at its point: on the
nearest LV bus, or on the nearest MV bus when its peak exceeds the largest load an LV
connection takes.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet
from scipy.spatial import cKDTree

from charge_planner.errors import GridError
from charge_planner.grid.model import bus_roles

log = logging.getLogger(__name__)

__all__ = ["depot_buses", "home_load_shares", "level_buses"]


def level_buses(net: pandapowerNet, level: str) -> pd.DataFrame:
    """In-service buses of a voltage level (``"lv"``: role ``lv``; ``"mv"``: roles ``mv`` and
    ``mv_substation``) that have coordinates, with ``x_m`` and ``y_m``."""
    roles = bus_roles(net)
    want = {"lv"} if level == "lv" else {"mv", "mv_substation"}
    bus = net.bus
    ok = roles.reindex(bus.index).isin(want) & bus["in_service"].astype(bool)
    if "x_m" in bus.columns:
        ok &= bus["x_m"].notna() & bus["y_m"].notna()
    else:
        return pd.DataFrame(columns=["x_m", "y_m"])
    return bus.loc[ok, ["x_m", "y_m"]]


def home_load_shares(net: pandapowerNet, cells_xy: np.ndarray) -> pd.DataFrame:
    """Which buses supply the homes of each cell, and with what share.

    Parameters
    ----------
    net
        The grid, with bus coordinates ``x_m``, ``y_m`` [m] and bus roles.
    cells_xy
        Cell centres (n x 2) [m], in the grid's CRS.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell`` (position in ``cells_xy``), ``bus_id`` and ``share`` (summing to 1 per cell).

    Raises
    ------
    GridError
        When the grid has no LV (or, failing that, MV) bus with coordinates.
    """
    cells_xy = np.asarray(cells_xy, dtype=float).reshape(-1, 2)
    if not len(cells_xy):
        return pd.DataFrame({"cell": np.zeros(0, int), "bus_id": np.zeros(0, int), "share": np.zeros(0)})
    buses = level_buses(net, "lv")
    if buses.empty:
        buses = level_buses(net, "mv")
    if buses.empty:
        raise GridError("the grid has no LV or MV bus with coordinates to put home charging on")
    base = net.load.loc[net.load["in_service"].astype(bool)].groupby("bus")["p_mw"].sum()
    loaded = buses.loc[buses.index.intersection(base[base > 0].index)]
    parts = []
    covered = np.zeros(len(cells_xy), dtype=bool)
    if len(loaded):
        _, cell_of_bus = cKDTree(cells_xy).query(loaded[["x_m", "y_m"]].to_numpy())
        weights = base.reindex(loaded.index).to_numpy(float)
        frame = pd.DataFrame({"cell": cell_of_bus, "bus_id": loaded.index.to_numpy(), "w": weights})
        frame["share"] = frame["w"] / frame.groupby("cell")["w"].transform("sum")
        parts.append(frame[["cell", "bus_id", "share"]])
        covered[np.unique(cell_of_bus)] = True
    rest = np.flatnonzero(~covered)
    if len(rest):
        _, near = cKDTree(buses[["x_m", "y_m"]].to_numpy()).query(cells_xy[rest])
        parts.append(pd.DataFrame({"cell": rest, "bus_id": buses.index.to_numpy()[near], "share": 1.0}))
    return pd.concat(parts, ignore_index=True).sort_values(["cell", "bus_id"], ignore_index=True)


#: ASSUMPTION: a depot is supplied from the LV network of the nearest DT only while its peak stays
#: within this share of that DT's rating; a larger depot gets its own MV connection.
LV_DEPOT_SHARE_OF_DT = 0.5


def depot_buses(net: pandapowerNet, xy: np.ndarray, peak_kw: np.ndarray, *, lv_max_kw: float) -> pd.DataFrame:
    """The bus of each depot: the nearest LV bus, or the nearest MV bus when its peak passes ``lv_max_kw``
    or :data:`LV_DEPOT_SHARE_OF_DT` of the rating of the DT that supplies that LV bus.

    Returns a table with ``bus_id`` and ``grid_level`` (``"lv"``/``"mv"``), one row per depot.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    peak = np.asarray(peak_kw, dtype=float)
    out = pd.DataFrame({"bus_id": np.zeros(len(xy), dtype=np.int64), "grid_level": "lv"})
    if not len(xy):
        return out
    lv, mv = level_buses(net, "lv"), level_buses(net, "mv")
    limit = np.full(len(xy), float(lv_max_kw))
    if not lv.empty and "dt" in net.bus.columns:
        _, near = cKDTree(lv[["x_m", "y_m"]].to_numpy()).query(xy)
        dt = net.bus["dt"].reindex(lv.index.to_numpy()[near]).to_numpy()
        known = pd.notna(dt) & (dt >= 0)
        kva = np.full(len(xy), np.inf)
        kva[known] = net.trafo["sn_mva"].reindex(dt[known].astype(int)).to_numpy(float) * 1000.0
        limit = np.minimum(limit, LV_DEPOT_SHARE_OF_DT * kva)
    wants_mv = (peak > limit) | lv.empty
    if wants_mv.any() and mv.empty:
        wants_mv[:] = False
    if (~wants_mv).any() and lv.empty:
        raise GridError("the grid has no LV or MV bus with coordinates to connect depots to")
    for level, frame, mask in (("mv", mv, wants_mv), ("lv", lv, ~wants_mv)):
        if mask.any():
            _, near = cKDTree(frame[["x_m", "y_m"]].to_numpy()).query(xy[mask])
            out.loc[mask, "bus_id"] = frame.index.to_numpy()[near]
            out.loc[mask, "grid_level"] = level
    return out
