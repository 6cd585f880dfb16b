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
from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import DataError, GridError
from charge_planner.grid.build import _bus_label, _normalise_legacy_tables, bus_roles, run_pandapower

log = logging.getLogger(__name__)

__all__ = ["FlowResult", "run_peak_flow"]


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
        Per transformer id: ``loading_percent`` [%], ``hv_bus``, ``lv_bus``, ``sn_mva`` (per
        unit) [MVA], ``parallel``, ``violation`` (``""``, ``"overload"``).
    n_violations
        Number of buses, lines and transformers with a violation.
    ev_load_mw
        EV charging load added [MW].
    base_load_mw
        Other in-service load after scaling [MW].
    losses_mw
        Active losses of lines and transformers [MW].
    """

    converged: bool
    buses: pd.DataFrame
    lines: pd.DataFrame
    trafos: pd.DataFrame
    n_violations: int
    ev_load_mw: float
    base_load_mw: float
    losses_mw: float


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
        run_pandapower(work)
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
    for table in (buses, lines, trafos):
        table.index.name = "id"
    n_violations = int((buses["violation"] != "").sum() + (lines["violation"] != "").sum())
    n_violations += int((trafos["violation"] != "").sum())
    base_loads = work.res_load.iloc[:n_base]
    base_mw = float(base_loads["p_mw"][work.load["in_service"].iloc[:n_base].astype(bool)].sum())
    losses = float(work.res_line["pl_mw"].sum()) + float(work.res_trafo["pl_mw"].sum())
    if len(work.trafo3w):
        losses += float(work.res_trafo3w["pl_mw"].sum())
    log.info(
        "peak flow: %.2f MW base + %.2f MW EV; %.3f-%.3f pu; %d violations",
        base_mw,
        ev_mw,
        float(vm.min()),
        float(vm.max()),
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
    )
