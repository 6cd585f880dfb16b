"""The grid check in a form pandapower reads alone: the worst hour as a net, the load of every bus.

A plan's load flows are solved by the project's batched solver
(:mod:`~charge_planner.grid.fastflow`). So that a utility engineer can rerun them without this
package, :func:`worst_hour_net` gives the grid with the loads of its worst step put in as ordinary
pandapower elements, and :func:`bus_loads` the load of every bus at every step:

- the base loads (the net's ``load`` table) carry the step's ``p_mw`` and ``q_mvar`` (the peak
  values times the step's base-load factor; their ``scaling`` is kept);
- EV charging is one ``load`` named ``"ev"`` per bus (``q_mvar`` from the EV power factor);
- on-site PV is one ``sgen`` named ``"pv"`` per bus, at unity power factor.

``pandapower.runpp(net, algorithm="nr", init="auto")`` on that net gives the plan's bus voltages
and line and transformer loadings of that step (to the solver's tolerance, 1e-8 MVA). Which step
is the worst: the converged step with the most violations, ties broken by the lowest voltage
outside the slack buses, then by the earliest time; for the peak flow, the peak itself.
"""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import DataError, GridError
from charge_planner.grid.model import _normalise_legacy_tables
from charge_planner.grid.results import GridResults

log = logging.getLogger(__name__)

__all__ = ["BUS_LOAD_COLUMNS", "NET_INFO_KEY", "bus_loads", "worst_hour_net", "worst_step"]

#: Columns of :func:`bus_loads`.
BUS_LOAD_COLUMNS = [
    "year", "time", "bus", "base_p_mw", "base_q_mvar", "ev_p_mw", "ev_q_mvar", "pv_p_mw", "p_mw", "q_mvar",
]

#: Key of the net's record of what the worst-hour net is (mode, time, step, the plan's figures).
NET_INFO_KEY = "charge_planner"


def worst_step(results: GridResults) -> int | None:
    """Position of the worst step of a time series (None for the peak flow).

    The converged step with the most violations (element and kind at that step), ties broken
    by the lowest voltage outside the slack buses, then by the earliest step.

    Raises
    ------
    GridError
        When no step of the time series converged (there is no load flow to reproduce).
    """
    ts = results.time_series
    if ts is None:
        return None
    steps = ts.steps
    ok = steps["converged"].to_numpy(bool)
    if not ok.any():
        raise GridError("no step of the time series converged: there is no worst hour to export")
    pos = np.flatnonzero(ok)
    n_viol = steps["n_violations"].to_numpy(float)[pos]
    vmin = steps["vm_min_pu"].to_numpy(float)[pos]
    # lexsort: the last key is the primary one
    order = np.lexsort((pos, np.nan_to_num(vmin, nan=np.inf), -n_viol))
    return int(pos[order[0]])


def _step_loads(results: GridResults, pos: int | None) -> tuple[float, pd.Series, pd.Series]:
    """Base-load factor, EV [kW] and PV [kW] per bus at step ``pos`` (None: the peak flow)."""
    if pos is None:
        flow = results.flow
        ev = flow.ev_kw_by_bus
        if flow.ev_load_mw > 0 and not len(ev):
            raise DataError("the peak flow does not record its EV load per bus (FlowResult.ev_kw_by_bus): "
                            "run the grid stage again")
        return float(flow.base_load_scale), ev.astype(float), pd.Series(dtype=float)
    a = results.assessment
    if a is None:
        raise DataError("a time-series result without its assessment holds no loads per step")
    factor = 1.0 if a.base_load_factor is None else float(np.asarray(a.base_load_factor, dtype=float)[pos])
    ev = a.ev_kw.iloc[pos] if a.ev_kw.shape[1] else pd.Series(dtype=float)
    pv = a.pv_kw.iloc[pos] if a.pv_kw.shape[1] else pd.Series(dtype=float)
    return factor, ev.astype(float), pv.astype(float)


def _drop_results(net: pandapowerNet) -> None:
    for key in [k for k in list(net.keys()) if k.startswith("res_")]:
        net[key] = net[key].iloc[0:0]
    net.converged = False


def worst_hour_net(results: GridResults, *, ev_power_factor: float = 1.0) -> pandapowerNet:
    """The grid with the loads of the plan's worst step as pandapower elements.

    Parameters
    ----------
    results
        The grid stage's result: the peak flow (its EV load per bus and base-load scale are in
        the flow) or a time series (its loads per step are in the assessment).
    ev_power_factor
        Power factor of the EV load (lagging) [-], as given to the load flow.

    Returns
    -------
    pandapowerNet
        A deep copy of ``results.model.net`` without results: base loads at the step's
        ``p_mw``/``q_mvar``, one load ``"ev"`` and one static generator ``"pv"`` per bus that
        has them. ``net.name`` names the step; ``net["charge_planner"]`` records ``mode``,
        ``time`` (ISO text, None for the peak), ``step`` (position, None for the peak),
        ``base_load_factor``, ``ev_mw``, ``pv_mw``, ``ev_power_factor`` and the plan's
        ``n_violations``, ``vm_min_pu`` and highest loadings of that step; transformers whose tap
        the flow operated (on-load tap changers) are at that step's positions (``tap_pos`` in
        ``net["charge_planner"]``), their controllers kept in ``net.controller``.

    Raises
    ------
    DataError
        EV or PV at buses not in the grid, negative values, a bad power factor, or a peak flow
        that does not record its EV load per bus.
    GridError
        When no step of the time series converged.
    """
    if not 0.0 < ev_power_factor <= 1.0:
        raise DataError(f"ev_power_factor {ev_power_factor} must lie in (0, 1]")
    pos = worst_step(results)
    factor, ev_kw, pv_kw = _step_loads(results, pos)
    net = copy.deepcopy(results.model.net)
    _drop_results(net)
    _normalise_legacy_tables(net)
    for name, kw in (("EV", ev_kw), ("PV", pv_kw)):
        unknown = pd.Index(kw.index).difference(net.bus.index)
        if len(unknown):
            raise DataError(f"{name} load refers to bus(es) {list(unknown[:5])} that are not in the grid")
        if not np.isfinite(kw.to_numpy(float)).all() or (kw.to_numpy(float) < 0).any():
            raise DataError(f"{name} load holds missing or negative values")
    if len(net.load):
        net.load["p_mw"] = net.load["p_mw"].astype(float) * factor
        net.load["q_mvar"] = net.load["q_mvar"].astype(float) * factor
    ev = ev_kw.groupby(level=0).sum()
    ev = ev[ev > 0]
    pv = pv_kw.groupby(level=0).sum()
    pv = pv[pv > 0]
    tanphi = math.tan(math.acos(ev_power_factor))
    if len(ev):
        p_mw = ev.to_numpy(float) / 1000.0
        pp.create_loads(net, ev.index.to_numpy(np.int64), p_mw=p_mw.tolist(), q_mvar=(p_mw * tanphi).tolist(),
                        name=["ev"] * len(ev))
    if len(pv):
        pp.create_sgens(net, pv.index.to_numpy(np.int64), p_mw=(pv.to_numpy(float) / 1000.0).tolist(),
                        q_mvar=0.0, name=["pv"] * len(pv))
    info: dict[str, object] = {
        "mode": results.mode,
        "time": None,
        "step": pos,
        "base_load_factor": factor,
        "ev_mw": float(ev.sum()) / 1000.0,
        "pv_mw": float(pv.sum()) / 1000.0,
        "ev_power_factor": float(ev_power_factor),
    }
    base = str(net.name) if net.name else "grid"
    if pos is None:
        flow = results.flow
        info.update(n_violations=int(flow.n_violations), vm_min_pu=_free_min(results),
                    line_loading_max_percent=_max_or_none(flow.lines), trafo_loading_max_percent=_max_or_none(flow.trafos),
                    trafo3w_loading_max_percent=_max_or_none(flow.trafos3w))
        net.name = f"{base}: evening peak with EV charging"
    else:
        ts = results.time_series
        assert ts is not None
        row = ts.steps.iloc[pos]
        time = pd.Timestamp(ts.index[pos])
        info.update(time=time.isoformat(), n_violations=int(row["n_violations"]), vm_min_pu=float(row["vm_min_pu"]),
                    line_loading_max_percent=float(row["line_loading_max_percent"]),
                    trafo_loading_max_percent=float(row["trafo_loading_max_percent"]),
                    trafo3w_loading_max_percent=float(row["trafo3w_loading_max_percent"]))
        net.name = f"{base}: worst hour {time:%Y-%m-%d %H:%M}"
    taps = _step_taps(results, pos)
    if len(taps):  # the on-load tap changers where the plan's flow put them at that step
        net.trafo.loc[taps.index, "tap_pos"] = taps.to_numpy()
        info["tap_pos"] = {str(int(t)): int(k) for t, k in taps.items()}
    net[NET_INFO_KEY] = info
    log.info("worst-hour net: %s (%d violation(s), %.3f MW EV, %.3f MW PV, base-load factor %.3f)",
             net.name, info["n_violations"], info["ev_mw"], info["pv_mw"], factor)
    return net


def _step_taps(results: GridResults, pos: int | None) -> pd.Series:
    """Positions of the tap changers operated by the plan's flow at step ``pos`` (the peak when None)."""
    if pos is None:
        return results.flow.tap_pos
    ts = results.time_series
    batch = ts.batch if ts is not None else None
    if batch is None or batch.tap_pos is None or batch.tap_trafos is None:
        return pd.Series(dtype=np.int64)
    return pd.Series(batch.tap_pos[pos], index=batch.tap_trafos, dtype=np.int64)


def _free_min(results: GridResults) -> float | None:
    b = results.buses
    free = b.loc[~b["slack"].astype(bool), "vm_pu"] if "slack" in b.columns else b["vm_pu"]
    return float(free.min()) if free.notna().any() else None


def _max_or_none(table: pd.DataFrame) -> float | None:
    if not len(table) or table["loading_percent"].isna().all():
        return None
    return float(table["loading_percent"].max())


def bus_loads(results: GridResults, *, ev_power_factor: float = 1.0, year: int | None = None) -> pd.DataFrame:
    """Load of every bus at every step of the load flow [MW], long format.

    Parameters
    ----------
    results
        The grid stage's result (peak flow or time series).
    ev_power_factor
        Power factor of the EV load (lagging) [-].
    year
        Year of the loads (a year checked); default ``results.year``, else the year of the
        time axis (the column is empty for a peak flow with neither).

    Returns
    -------
    pandas.DataFrame
        :data:`BUS_LOAD_COLUMNS`, one row per step and bus that carries any load, EV or PV:
        ``year``, ``time`` (step start, local time; NaT for the peak flow), ``bus`` (pandapower
        bus id), ``base_p_mw``/``base_q_mvar`` (in-service base loads x ``scaling`` x the step's
        factor), ``ev_p_mw``/``ev_q_mvar``, ``pv_p_mw`` (on-site PV, generation as a positive
        number) and the net load ``p_mw = base_p_mw + ev_p_mw - pv_p_mw``, ``q_mvar = base_q_mvar
        + ev_q_mvar``. The net's own static generators and fixed elements are in the net, not here.
    """
    if not 0.0 < ev_power_factor <= 1.0:
        raise DataError(f"ev_power_factor {ev_power_factor} must lie in (0, 1]")
    net = results.model.net
    load = net.load
    on = load["in_service"].astype(bool).to_numpy() if len(load) else np.zeros(0, bool)
    scale = load["scaling"].astype(float).to_numpy() * on if len(load) else np.zeros(0)
    p_bus = pd.Series(load["p_mw"].astype(float).to_numpy() * scale, index=load["bus"].to_numpy(np.int64)
                      ).groupby(level=0).sum() if len(load) else pd.Series(dtype=float)
    q_bus = pd.Series(load["q_mvar"].astype(float).to_numpy() * scale, index=load["bus"].to_numpy(np.int64)
                      ).groupby(level=0).sum() if len(load) else pd.Series(dtype=float)
    ts = results.time_series
    if ts is None:
        factor_peak, ev_peak, _ = _step_loads(results, None)
        index = pd.DatetimeIndex([pd.NaT])
        factor = np.full(1, factor_peak)
        ev = ev_peak.groupby(level=0).sum().to_frame().T if len(ev_peak) else pd.DataFrame(index=[0])
        pv = pd.DataFrame(index=[0])
    else:
        a = results.assessment
        if a is None:
            raise DataError("a time-series result without its assessment holds no loads per step")
        index = ts.index
        factor = (np.ones(len(index)) if a.base_load_factor is None
                  else np.asarray(a.base_load_factor, dtype=float))
        ev, pv = a.ev_kw, a.pv_kw
    n = len(index)
    ev_cols = ev.T.groupby(level=0).sum().T if ev.shape[1] else pd.DataFrame(index=range(n))
    pv_cols = pv.T.groupby(level=0).sum().T if pv.shape[1] else pd.DataFrame(index=range(n))
    buses = np.unique(np.concatenate([p_bus.index[(p_bus != 0) | (q_bus.reindex(p_bus.index) != 0)].to_numpy(np.int64),
                                      np.asarray(ev_cols.columns, dtype=np.int64),
                                      np.asarray(pv_cols.columns, dtype=np.int64)]))
    m = len(buses)
    base_p = np.outer(factor, p_bus.reindex(buses, fill_value=0.0).to_numpy())
    base_q = np.outer(factor, q_bus.reindex(buses, fill_value=0.0).to_numpy())
    ev_p = ev_cols.reindex(columns=buses, fill_value=0.0).to_numpy(float) / 1000.0 if m else np.zeros((n, 0))
    pv_p = pv_cols.reindex(columns=buses, fill_value=0.0).to_numpy(float) / 1000.0 if m else np.zeros((n, 0))
    ev_q = ev_p * math.tan(math.acos(ev_power_factor))
    year = year if year is not None else results.year
    if year is not None:
        year_col = pd.array(np.full(n * m, int(year)), dtype="Int64")
    elif ts is not None:
        year_col = pd.array(np.repeat(np.asarray(index.year), m), dtype="Int64")
    else:
        year_col = pd.array(np.full(n * m, pd.NA, dtype=object), dtype="Int64")
    frame = pd.DataFrame({
        "year": year_col,
        "time": np.repeat(index.to_numpy(), m),
        "bus": np.tile(buses, n),
        "base_p_mw": base_p.ravel(),
        "base_q_mvar": base_q.ravel(),
        "ev_p_mw": ev_p.ravel(),
        "ev_q_mvar": ev_q.ravel(),
        "pv_p_mw": pv_p.ravel(),
    })
    frame["p_mw"] = frame["base_p_mw"] + frame["ev_p_mw"] - frame["pv_p_mw"]
    frame["q_mvar"] = frame["base_q_mvar"] + frame["ev_q_mvar"]
    return frame[BUS_LOAD_COLUMNS]
