"""Admittance model of a pandapower net for the batched load flow, in its internal bus order.

:func:`admittance_model` runs one ``pandapower.runpp`` on a copy of the net and takes from
pandapower's internal case ("ppci") the bus admittance matrix, the branch admittance matrices,
the generation and load injections (with ZIP coefficients), the mapping of pandapower buses,
loads, static generators, storages and branches onto internal buses and rows, and the loading
ratings of lines and transformers; the buses are reordered [PV, PQ, slack] so that every row
selection of the solver in :mod:`~charge_planner.grid.fastflow` is a slice.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd
import scipy.sparse as sp
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import GridError
from charge_planner.grid.flow import _last_iteration_lowest
from charge_planner.grid.load import check_grid
from charge_planner.grid.model import _bus_label, _normalise_legacy_tables, _quiet_pandapower

log = logging.getLogger(__name__)


@dataclass
class _Element:
    """Mapping of one pandapower element table onto internal buses."""

    index: pd.Index
    internal_bus: np.ndarray  # -1 where the element is inactive
    sign: float  # +1 for loads, -1 for generating elements


@dataclass
class _Branches:
    table: str
    index: pd.Index
    internal: np.ndarray  # (n, k) internal branch rows, -1 when out of service
    side: np.ndarray  # (k,) 0 = from side current, 1 = to side current
    rating_kv_mva: np.ndarray  # (n, k) multiplier turning |S|/(vm*base_kv) into loading [% ...]


@dataclass
class AdmittanceModel:
    """Admittance matrices and injections of a net in internal bus order [PV, PQ, slack] (per unit).

    Attributes
    ----------
    net
        The private copy of the net, with the results of the preparatory load flow.
    ybus, yf, yt
        Bus admittance matrix and from/to-side branch admittance matrices.
    ref, pv, pq
        Internal positions of the slack, PV and PQ buses.
    v_start
        Complex voltages of the preparatory load flow [pu].
    s_gen, s_load
        Complex generation and load per internal bus [pu].
    zip_p, zip_q
        Constant-current and constant-impedance shares of active/reactive load, or None.
    base_mva, base_kv
        System base power [MVA] and base voltage per internal bus [kV].
    branch_from, branch_to
        Internal from/to bus of each internal branch.
    bus_lookup
        Internal bus of each pandapower bus id (-1 when not supplied).
    bus_ids
        pandapower bus ids.
    elements, branches
        Loads, static generators and storages, and lines and transformers mapped onto the
        internal buses and branch rows.
    """

    net: pandapowerNet
    ybus: sp.csr_matrix
    yf: sp.csr_matrix
    yt: sp.csr_matrix
    ref: np.ndarray
    pv: np.ndarray
    pq: np.ndarray
    v_start: np.ndarray
    s_gen: np.ndarray
    s_load: np.ndarray
    zip_p: tuple[np.ndarray, np.ndarray] | None
    zip_q: tuple[np.ndarray, np.ndarray] | None
    base_mva: float
    base_kv: np.ndarray
    branch_from: np.ndarray
    branch_to: np.ndarray
    bus_lookup: np.ndarray
    bus_ids: pd.Index
    elements: dict[str, _Element]
    branches: dict[str, _Branches]


def admittance_model(net: pandapowerNet, tolerance_mva: float) -> AdmittanceModel:
    """Prepare a net: one ``pandapower.runpp`` builds the admittance matrix and injections.

    Parameters
    ----------
    net
        The pandapower net; not modified (a deep copy is used).
    tolerance_mva
        Largest admissible power mismatch of the preparatory load flow [MVA].

    Raises
    ------
    GridError
        No external grid, islanded loads, the preparatory load flow does not converge, or the
        net has elements the batched load flow does not support.
    """
    work = copy.deepcopy(net)
    _normalise_legacy_tables(work)
    check_grid(work)
    if len(work.controller) and work.controller["in_service"].astype(bool).any():
        log.info(
            "net has %d controller(s); the batched load flow applies the given injections only "
            "(controllers such as tap changers are not run)",
            int(work.controller["in_service"].astype(bool).sum()),
        )
    try:
        with _quiet_pandapower():
            pp.runpp(work, algorithm="nr", init="auto", numba=False, tolerance_mva=tolerance_mva)
    except pp.LoadflowNotConverged as exc:
        lowest = _last_iteration_lowest(work, 0.95)
        if lowest:
            where = f" (last iteration's lowest voltage {lowest[1]:.2f} pu at bus {_bus_label(work, lowest[0])})"
        elif len(work.load):
            p_load = (work.load["p_mw"] * work.load["scaling"]).where(work.load["in_service"].astype(bool), 0.0)
            big = p_load.idxmax()
            where = (
                f" ({p_load.sum():.1f} MW of load; largest {p_load.max():.2f} MW, load {big} at bus "
                f"{_bus_label(work, int(work.load.at[big, 'bus']))})"
            )
        else:
            where = ""
        raise GridError(
            f"the grid's own base case does not converge in pandapower{where}: check its loads, "
            "transformer taps and external grids before running a time series"
        ) from exc
    opts = work._options
    if opts.get("distributed_slack") or opts.get("tdpf"):
        raise GridError("batched load flow does not support distributed slack or temperature-dependent lines")
    ppc = work._ppc
    internal = ppc["internal"]
    for key in ("svc", "tcsc", "ssc", "vsc"):
        arr = ppc.get(key)
        if arr is not None and len(arr):
            raise GridError(
                f"net has {key} (FACTS) elements: the batched load flow does not support them; "
                "use pandapower's run_timeseries for this grid"
            )
    if "bus_dc" in work and len(work.bus_dc):
        raise GridError("net has DC buses: the batched load flow supports AC grids only; use pandapower's runpp")
    from pandapower.pypower.idx_brch import F_BUS, T_BUS
    from pandapower.pypower.idx_bus import BASE_KV, CID_P, CID_Q, CZD_P, CZD_Q, PD, QD
    from pandapower.pypower.idx_gen import GEN_BUS, GEN_STATUS, PG, QG

    bus = internal["bus"]
    n = bus.shape[0]
    base_mva = float(internal["baseMVA"])
    gen = internal["gen"]
    on = gen[:, GEN_STATUS].real > 0
    s_gen = np.zeros(n, dtype=complex)
    np.add.at(
        s_gen,
        gen[on, GEN_BUS].real.astype(np.int64),
        (gen[on, PG].real + 1j * gen[on, QG].real) / base_mva,
    )
    s_load = (bus[:, PD].real + 1j * bus[:, QD].real) / base_mva
    zip_p = zip_q = None
    if opts.get("voltage_depend_loads"):
        ci_p, cz_p = bus[:, CID_P].real, bus[:, CZD_P].real
        ci_q, cz_q = bus[:, CID_Q].real, bus[:, CZD_Q].real
        if np.any(ci_p) or np.any(cz_p):
            zip_p = (ci_p.copy(), cz_p.copy())
        if np.any(ci_q) or np.any(cz_q):
            zip_q = (ci_q.copy(), cz_q.copy())

    lookup_all = np.asarray(work._pd2ppc_lookups["bus"], dtype=np.int64)
    bus_ids = work.bus.index
    bus_lookup = np.full(int(bus_ids.max()) + 1 if len(bus_ids) else 0, -1, dtype=np.int64)
    mapped = lookup_all[bus_ids.to_numpy()]
    ok = (mapped >= 0) & (mapped < n)
    bus_lookup[bus_ids.to_numpy()[ok]] = mapped[ok]

    is_el = work._is_elements
    elements: dict[str, _Element] = {}
    for table, sign in (("load", 1.0), ("sgen", -1.0), ("storage", 1.0)):
        tab = work[table]
        if not len(tab):
            elements[table] = _Element(tab.index, np.empty(0, dtype=np.int64), sign)
            continue
        active = np.asarray(is_el.get(table, tab["in_service"].to_numpy()), dtype=bool)
        ib = np.full(len(tab), -1, dtype=np.int64)
        ib[active] = bus_lookup[tab["bus"].to_numpy(dtype=np.int64)[active]]
        elements[table] = _Element(tab.index, ib, sign)

    branch_is = np.asarray(internal["branch_is"], dtype=bool)
    ppc_to_int = np.full(len(branch_is), -1, dtype=np.int64)
    ppc_to_int[branch_is] = np.arange(int(branch_is.sum()))
    br = internal["branch"]
    branch_from = br[:, F_BUS].real.astype(np.int64)
    branch_to = br[:, T_BUS].real.astype(np.int64)
    base_kv = bus[:, BASE_KV].real.astype(float)
    ranges = work._pd2ppc_lookups["branch"]
    sqrt3 = math.sqrt(3.0)
    branches: dict[str, _Branches] = {}
    if "line" in ranges:
        f, t = ranges["line"]
        line = work.line
        i_max = (line["max_i_ka"] * line["df"] * line["parallel"]).to_numpy(dtype=float)
        with np.errstate(divide="ignore"):
            mult = np.where(i_max > 0, 100.0 / (sqrt3 * i_max), np.inf)
        rows = ppc_to_int[f:t]
        branches["line"] = _Branches(
            "line", line.index, np.column_stack([rows, rows]), np.array([0, 1]), np.column_stack([mult, mult])
        )
    if "trafo" in ranges:
        f, t = ranges["trafo"]
        tr = work.trafo
        if opts.get("trafo_loading", "current") != "current":
            raise GridError("batched load flow supports trafo_loading='current' only")
        denom = (tr["sn_mva"] * tr["parallel"] * tr["df"]).to_numpy(dtype=float)
        mult = np.column_stack([tr["vn_hv_kv"].to_numpy(float), tr["vn_lv_kv"].to_numpy(float)]) * (
            100.0 / denom
        )[:, None]
        rows = ppc_to_int[f:t]
        branches["trafo"] = _Branches("trafo", tr.index, np.column_stack([rows, rows]), np.array([0, 1]), mult)
    if "trafo3w" in ranges:
        f, t = ranges["trafo3w"]
        t3 = work.trafo3w
        k = len(t3)
        rows = ppc_to_int[f:t]
        internal_rows = np.column_stack([rows[:k], rows[k : 2 * k], rows[2 * k : 3 * k]])
        mult = np.column_stack(
            [
                t3["vn_hv_kv"].to_numpy(float) / t3["sn_hv_mva"].to_numpy(float),
                t3["vn_mv_kv"].to_numpy(float) / t3["sn_mv_mva"].to_numpy(float),
                t3["vn_lv_kv"].to_numpy(float) / t3["sn_lv_mva"].to_numpy(float),
            ]
        ) * 100.0
        branches["trafo3w"] = _Branches("trafo3w", t3.index, internal_rows, np.array([0, 1, 1]), mult)

    ref = np.asarray(internal["ref"], dtype=np.int64)
    pv = np.asarray(internal["pv"], dtype=np.int64)
    pq = np.asarray(internal["pq"], dtype=np.int64)
    # internal order [PV, PQ, slack]: every row selection of the solver becomes a slice
    order = np.r_[pv, pq, ref].astype(np.int64)
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.arange(n)

    def remap(idx: np.ndarray) -> np.ndarray:
        out = np.asarray(idx, dtype=np.int64).copy()
        ok_ = out >= 0
        out[ok_] = inv[out[ok_]]
        return out

    ybus = sp.csr_matrix(internal["Ybus"])[order][:, order].tocsr()
    ybus.sort_indices()
    yf = sp.csr_matrix(internal["Yf"])[:, order].tocsr()
    yt = sp.csr_matrix(internal["Yt"])[:, order].tocsr()
    s_gen, s_load, base_kv = s_gen[order], s_load[order], base_kv[order]
    if zip_p is not None:
        zip_p = (zip_p[0][order], zip_p[1][order])
    if zip_q is not None:
        zip_q = (zip_q[0][order], zip_q[1][order])
    branch_from, branch_to = inv[branch_from], inv[branch_to]
    bus_lookup = remap(bus_lookup)
    for el in elements.values():
        el.internal_bus = remap(el.internal_bus)
    npv, npq = len(pv), len(pq)
    pv = np.arange(npv, dtype=np.int64)
    pq = np.arange(npv, npv + npq, dtype=np.int64)
    ref = np.arange(npv + npq, n, dtype=np.int64)
    return AdmittanceModel(
        net=work,
        ybus=ybus,
        yf=yf,
        yt=yt,
        ref=ref,
        pv=pv,
        pq=pq,
        v_start=np.asarray(internal["V"], dtype=complex)[order].copy(),
        s_gen=s_gen,
        s_load=s_load,
        zip_p=zip_p,
        zip_q=zip_q,
        base_mva=base_mva,
        base_kv=base_kv,
        branch_from=branch_from,
        branch_to=branch_to,
        bus_lookup=bus_lookup,
        bus_ids=bus_ids,
        elements=elements,
        branches=branches,
    )
