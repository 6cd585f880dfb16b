"""Peak-hour AC load flow with EV charging added to a grid.

:func:`run_peak_flow` adds one ``"ev"`` load per bus to a deep copy of the net, runs a
Newton-Raphson AC load flow and returns voltages, loadings and limit violations as
tables keyed by pandapower element ids. A load flow that does not converge raises
:class:`~charge_planner.errors.GridError`; a previous result is never returned.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import DataError, GridError
from charge_planner.grid.model import _bus_label, _normalise_legacy_tables, bus_roles, run_pandapower
from charge_planner.grid.oltc import controlled_trafos

log = logging.getLogger(__name__)

__all__ = [
    "VIOLATION_COLUMNS",
    "FlowResult",
    "lowest_voltage",
    "run_peak_flow",
    "slack_buses",
    "trafo3w_table",
    "violation_frame",
    "voltage_levels",
]

#: Columns of every violation table (peak flow, design day and year alike).
VIOLATION_COLUMNS = ["kind", "element", "id", "hours", "first", "last", "worst", "unit"]


@dataclass
class FlowResult:
    """Result of one peak load flow.

    Attributes
    ----------
    converged
        Always True (a non-converged load flow raises instead).
    buses
        Per bus id: ``vm_pu``, ``vn_kv`` [kV], ``role``, ``violation`` (``""``,
        ``"undervoltage"``, ``"overvoltage"``), ``x_m``, ``y_m`` [m].
    lines
        Per line id: ``loading_percent`` [%], ``from_bus``, ``to_bus``, ``feeder`` (-1 when
        unknown), ``violation`` (``""``, ``"overload"``).
    trafos
        Per two-winding transformer id: ``loading_percent`` [%], ``hv_bus``, ``lv_bus``,
        ``sn_mva`` (per unit) [MVA], ``parallel``, ``violation`` (``""``, ``"overload"``).
    n_violations
        Number of rows of ``violations`` (elements in violation, plus one for load flows that
        did not converge).
    ev_load_mw
        EV charging load added [MW].
    base_load_mw
        Other in-service load after scaling [MW].
    losses_mw
        Active losses of lines and transformers [MW].
    trafos3w
        Per three-winding transformer id: ``loading_percent`` [%] (pandapower's definition:
        the highest of its three windings), ``hv_bus``, ``mv_bus``, ``lv_bus``, ``sn_mva``
        (largest winding rating) [MVA], ``violation`` (``""``, ``"overload"``).
    violations
        One row per element and kind of violation, the same columns for the peak flow and
        the time series (:data:`VIOLATION_COLUMNS`): ``kind`` (``undervoltage``,
        ``overvoltage``, ``overload``, ``not_converged``), ``element`` (``bus``, ``line``,
        ``trafo``, ``trafo3w``, or ``grid`` for load flows that did not converge), ``id``,
        ``hours`` [h] (NaN for the peak flow: one operating point says nothing about the
        duration), ``first``, ``last`` (times; NaT for the peak flow), ``worst`` (lowest or
        highest value) and ``unit`` (``pu`` or ``%``).
    ev_kw_by_bus
        Peak flow: the EV load added per bus [kW] (one ``"ev"`` load each), so that the flow can
        be rebuilt; empty for a time series (its loads per step are in the assessment).
    base_load_scale
        Peak flow: the factor the base loads' ``scaling`` was multiplied by [-].
    tap_pos
        Peak flow: the position of every transformer tap operated by a controller of the net
        (pandapower ``run_control``), by transformer id; empty when the net has none.

    The ``buses`` table also has ``slack`` (True at external-grid and slack-generator buses,
    whose voltage is a set point, not a result).
    """

    converged: bool
    buses: pd.DataFrame
    lines: pd.DataFrame
    trafos: pd.DataFrame
    n_violations: int
    ev_load_mw: float
    base_load_mw: float
    losses_mw: float
    trafos3w: pd.DataFrame = field(default_factory=lambda: _empty_trafos3w())
    violations: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VIOLATION_COLUMNS))
    ev_kw_by_bus: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    base_load_scale: float = 1.0
    tap_pos: pd.Series = field(default_factory=lambda: pd.Series(dtype=np.int64))


def _empty_trafos3w() -> pd.DataFrame:
    return pd.DataFrame(
        {"loading_percent": pd.Series(dtype=float), "hv_bus": pd.Series(dtype=np.int64),
         "mv_bus": pd.Series(dtype=np.int64), "lv_bus": pd.Series(dtype=np.int64),
         "sn_mva": pd.Series(dtype=float), "violation": pd.Series(dtype=object)},
        index=pd.Index([], name="id", dtype=np.int64),
    )


def trafo3w_table(net: pandapowerNet, index: pd.Index | None = None) -> pd.DataFrame:
    """Static columns of the three-winding transformers (``hv_bus``, ``mv_bus``, ``lv_bus``, ``sn_mva``)."""
    t = net.trafo3w if index is None else net.trafo3w.reindex(index)
    if not len(t):
        return _empty_trafos3w().drop(columns=["loading_percent", "violation"])
    return pd.DataFrame(
        {
            "hv_bus": t["hv_bus"].astype(np.int64),
            "mv_bus": t["mv_bus"].astype(np.int64),
            "lv_bus": t["lv_bus"].astype(np.int64),
            "sn_mva": t[["sn_hv_mva", "sn_mv_mva", "sn_lv_mva"]].astype(float).max(axis=1),
        },
        index=t.index,
    )


def slack_buses(net: pandapowerNet) -> np.ndarray:
    """Ids of the buses whose voltage is a set point: in-service external grids and slack generators."""
    ids = [net.ext_grid.loc[net.ext_grid["in_service"].astype(bool), "bus"].to_numpy()]
    if len(net.gen) and "slack" in net.gen.columns:
        gen = net.gen[net.gen["in_service"].astype(bool) & net.gen["slack"].fillna(False).astype(bool)]
        ids.append(gen["bus"].to_numpy())
    return np.unique(np.concatenate(ids).astype(np.int64)) if ids else np.zeros(0, dtype=np.int64)


def _voltage_extremes(buses: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Buses with a result outside the slack buses, and their lowest and highest voltage [pu]."""
    lo = buses["vm_min_pu"] if "vm_min_pu" in buses.columns else buses["vm_pu"]
    hi = buses["vm_max_pu"] if "vm_max_pu" in buses.columns else buses["vm_pu"]
    keep = lo.notna() & hi.notna()
    if "slack" in buses.columns:
        keep &= ~buses["slack"].astype(bool)
    return buses[keep], lo[keep].astype(float), hi[keep].astype(float)


def lowest_voltage(buses: pd.DataFrame) -> tuple[float, object]:
    """Lowest voltage of a flow's bus table outside the slack buses, and the bus it is at.

    Returns ``(nan, None)`` when no bus other than a slack bus has a result.
    """
    _, lo, _ = _voltage_extremes(buses)
    if not len(lo):
        return float("nan"), None
    return float(lo.min()), lo.idxmin()


def voltage_levels(buses: pd.DataFrame) -> pd.DataFrame:
    """Lowest and highest bus voltage per nominal voltage, outside the slack buses.

    Parameters
    ----------
    buses
        A flow's bus table (``vn_kv`` and ``vm_pu``, or ``vm_min_pu`` and ``vm_max_pu``,
        and ``slack``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``vn_kv`` [kV] (highest first): ``buses`` (with a result) [-],
        ``vm_min_pu`` [pu], ``bus_vm_min`` (its bus), ``vm_max_pu`` [pu], ``bus_vm_max``.
    """
    kept, lo, hi = _voltage_extremes(buses)
    if not len(kept):
        return pd.DataFrame(columns=["buses", "vm_min_pu", "bus_vm_min", "vm_max_pu", "bus_vm_max"],
                            index=pd.Index([], name="vn_kv", dtype=float))
    vn = kept["vn_kv"].astype(float)
    out = pd.DataFrame(
        {
            "buses": lo.groupby(vn).size(),
            "vm_min_pu": lo.groupby(vn).min(),
            "bus_vm_min": lo.groupby(vn).idxmin(),
            "vm_max_pu": hi.groupby(vn).max(),
            "bus_vm_max": hi.groupby(vn).idxmax(),
        }
    )
    out.index.name = "vn_kv"
    return out.sort_index(ascending=False)


def _drop_results(net: pandapowerNet) -> None:
    for key in [k for k in list(net) if k.startswith("res_")]:
        net[key] = net[key].iloc[0:0]
    net.converged = False


def _last_iteration_lowest(net: pandapowerNet, vm_min_pu: float) -> tuple[int, float] | None:
    """Bus with the lowest voltage magnitude of the last Newton-Raphson iteration.

    pandapower leaves the last iterate in ``net._ppc`` when the load flow fails. A diverged
    iterate can be meaningless, so it is reported only when every magnitude is positive and
    below 2 pu and the lowest one is below ``vm_min_pu``.
    """
    try:
        from pandapower.pypower.idx_bus import VM

        vm_ppc = np.asarray(net._ppc["bus"][:, VM].real, dtype=float)
        lookup = np.asarray(net._pd2ppc_lookups["bus"])
        buses = net.bus.index[net.bus["in_service"].astype(bool)].to_numpy()
        vm = vm_ppc[lookup[buses]]
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    ok = np.isfinite(vm) & (vm > 0.0)
    # A diverged iteration can hold meaningless magnitudes; report only a plausible one.
    if not ok.all() or vm.max() > 2.0 or vm.min() >= vm_min_pu:
        return None
    i = int(np.argmin(vm))
    return int(buses[i]), float(vm[i])


def run_peak_flow(
    net: pandapowerNet,
    ev_load_kw_by_bus: pd.Series,
    *,
    base_load_scale: float = 1.0,
    vm_min_pu: float = 0.95,
    vm_max_pu: float = 1.05,
    max_loading_percent: float = 100.0,
    ev_power_factor: float = 1.0,
) -> FlowResult:
    """Run an AC load flow of the peak hour with EV charging added.

    Parameters
    ----------
    net
        The pandapower net; never modified (the load flow runs on a deep copy whose old
        ``res_*`` tables are dropped first).
    ev_load_kw_by_bus
        EV charging load per pandapower bus id [kW]; repeated ids are summed. One load named
        ``"ev"`` is added per bus.
    base_load_scale
        Factor on the scaling of every existing load [-].
    vm_min_pu
        Lowest admissible bus voltage [pu].
    vm_max_pu
        Highest admissible bus voltage [pu].
    max_loading_percent
        Highest admissible line and transformer loading [%].
    ev_power_factor
        Power factor of the EV load (lagging) [-].

    Returns
    -------
    FlowResult
        Voltages, loadings and violations of the converged load flow.

    Raises
    ------
    DataError
        When EV loads are negative or missing, or a parameter is out of range.
    GridError
        When an EV load refers to a bus not in the net, or the load flow does not converge.
    """
    ev = pd.Series(ev_load_kw_by_bus, dtype=float)
    problems: list[str] = []
    if not np.isfinite(ev.to_numpy()).all() or (ev < 0).any():
        bad = ev.index[~np.isfinite(ev.to_numpy()) | (ev.to_numpy() < 0)]
        problems.append(f"EV load of bus(es) {list(bad[:5])} is missing or negative")
    if not 0.0 < ev_power_factor <= 1.0:
        problems.append(f"ev_power_factor {ev_power_factor} must lie in (0, 1]")
    if not base_load_scale >= 0.0:
        problems.append(f"base_load_scale {base_load_scale} must be >= 0")
    if not vm_min_pu < vm_max_pu:
        problems.append(f"vm_min_pu {vm_min_pu} must be below vm_max_pu {vm_max_pu}")
    if problems:
        raise DataError("run_peak_flow: " + "; ".join(problems))
    ev = ev.groupby(level=0).sum()
    unknown = ev.index.difference(net.bus.index)
    if len(unknown):
        raise GridError(
            f"EV load refers to bus(es) {list(unknown[:5])} that are not in the grid: "
            "connect the sites with connect_sites on this same net"
        )

    work = copy.deepcopy(net)
    _drop_results(work)
    _normalise_legacy_tables(work)
    work.load["scaling"] = work.load["scaling"].astype(float) * base_load_scale
    n_base = len(work.load)
    ev = ev[ev > 0]
    if len(ev):
        tanphi = math.tan(math.acos(ev_power_factor))
        p_mw = ev.to_numpy() / 1000.0
        pp.create_loads(
            work,
            ev.index.to_numpy(),
            p_mw=p_mw.tolist(),
            q_mvar=(p_mw * tanphi).tolist(),
            name=["ev"] * len(ev),
        )
    ev_mw = float(ev.sum()) / 1000.0
    try:
        run_pandapower(work, control=True)
    except pp.LoadflowNotConverged as exc:
        lowest = _last_iteration_lowest(work, vm_min_pu)
        where = (
            f"; last iteration's lowest voltage {lowest[1]:.2f} pu at bus {_bus_label(work, lowest[0])}"
            if lowest
            else ""
        )
        largest = (
            f" (largest {ev.max():.0f} kW at bus {_bus_label(work, int(ev.idxmax()))})" if len(ev) else ""
        )
        raise GridError(
            f"AC load flow does not converge with {ev_mw * 1000.0:.0f} kW of EV charging{largest}{where}: "
            "reduce the chargers at the weakest buses or reinforce the grid there"
        ) from exc

    bus = work.bus
    res_bus = work.res_bus
    vm = res_bus["vm_pu"].astype(float)
    in_service = bus["in_service"].astype(bool)
    violation = np.where(
        in_service & (vm < vm_min_pu),
        "undervoltage",
        np.where(in_service & (vm > vm_max_pu), "overvoltage", ""),
    )
    buses = pd.DataFrame(
        {
            "vm_pu": vm,
            "vn_kv": bus["vn_kv"].astype(float),
            "role": bus_roles(work),
            "slack": bus.index.isin(slack_buses(work)),
            "violation": violation,
            "x_m": bus["x_m"].astype(float) if "x_m" in bus.columns else np.nan,
            "y_m": bus["y_m"].astype(float) if "y_m" in bus.columns else np.nan,
        },
        index=bus.index,
    )
    line_loading = work.res_line["loading_percent"].astype(float).reindex(work.line.index)
    lines = pd.DataFrame(
        {
            "loading_percent": line_loading,
            "from_bus": work.line["from_bus"].astype(np.int64),
            "to_bus": work.line["to_bus"].astype(np.int64),
            "feeder": (
                work.line["feeder"].fillna(-1).astype(np.int64)
                if "feeder" in work.line.columns
                else pd.Series(-1, index=work.line.index, dtype=np.int64)
            ),
            "violation": np.where(line_loading > max_loading_percent, "overload", ""),
        },
        index=work.line.index,
    )
    trafo_loading = work.res_trafo["loading_percent"].astype(float).reindex(work.trafo.index)
    trafos = pd.DataFrame(
        {
            "loading_percent": trafo_loading,
            "hv_bus": work.trafo["hv_bus"].astype(np.int64),
            "lv_bus": work.trafo["lv_bus"].astype(np.int64),
            "sn_mva": work.trafo["sn_mva"].astype(float),
            "parallel": work.trafo["parallel"].astype(np.int64),
            "violation": np.where(trafo_loading > max_loading_percent, "overload", ""),
        },
        index=work.trafo.index,
    )
    trafos3w = _empty_trafos3w()
    if len(work.trafo3w):
        t3_loading = work.res_trafo3w["loading_percent"].astype(float).reindex(work.trafo3w.index)
        trafos3w = trafo3w_table(work)
        trafos3w.insert(0, "loading_percent", t3_loading)
        trafos3w["violation"] = np.where(t3_loading > max_loading_percent, "overload", "")
    for table in (buses, lines, trafos, trafos3w):
        table.index.name = "id"
    rows = [
        {"kind": r.violation, "element": "bus", "id": i, "worst": r.vm_pu, "unit": "pu"}
        for i, r in buses[buses["violation"] != ""].iterrows()
    ]
    for element, table in (("line", lines), ("trafo", trafos), ("trafo3w", trafos3w)):
        rows += [
            {"kind": "overload", "element": element, "id": i, "worst": v, "unit": "%"}
            for i, v in table.loc[table["violation"] != "", "loading_percent"].items()
        ]
    violations = violation_frame(rows)
    n_violations = len(violations)
    base_loads = work.res_load.iloc[:n_base]
    base_mw = float(base_loads["p_mw"][work.load["in_service"].iloc[:n_base].astype(bool)].sum())
    losses = float(work.res_line["pl_mw"].sum()) + float(work.res_trafo["pl_mw"].sum())
    if len(work.trafo3w):
        losses += float(work.res_trafo3w["pl_mw"].sum())
    vm_low, _ = lowest_voltage(buses)
    log.info(
        "peak flow: %.2f MW base + %.2f MW EV; lowest voltage outside the slack buses %.3f pu; %d violations",
        base_mw,
        ev_mw,
        vm_low,
        n_violations,
    )
    return FlowResult(
        converged=True,
        buses=buses,
        lines=lines,
        trafos=trafos,
        n_violations=n_violations,
        ev_load_mw=ev_mw,
        base_load_mw=base_mw,
        losses_mw=losses,
        trafos3w=trafos3w,
        violations=violations,
        ev_kw_by_bus=ev.astype(float),
        base_load_scale=float(base_load_scale),
        tap_pos=_controlled_taps(work),
    )


def _controlled_taps(net: pandapowerNet) -> pd.Series:
    """Tap position of every transformer a tap controller of ``net`` operates, by transformer id."""
    return net.trafo.loc[controlled_trafos(net), "tap_pos"].astype(np.int64).rename("tap_pos")


def violation_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A violation table (:data:`VIOLATION_COLUMNS`) from rows; missing ``hours``/``first``/``last`` are NaN/NaT."""
    frame = pd.DataFrame(rows, columns=VIOLATION_COLUMNS)
    frame["hours"] = frame["hours"].astype(float)
    frame["worst"] = frame["worst"].astype(float)
    for col in ("first", "last"):
        frame[col] = pd.to_datetime(frame[col])
    return frame
