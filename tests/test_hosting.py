"""Hosting capacity computed a block of buses at a time: same figures as a dense computation, bounded memory."""

from __future__ import annotations

import copy
import math
import tracemalloc

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest

from charge_planner.grid import hosting
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.hosting import hosting_capacity, hosting_capacity_bisection
from charge_planner.grid.model import _quiet_pandapower


def _dense_estimates(model: BatchPowerFlow, s: np.ndarray, buses: np.ndarray, *, power_factor: float,
                     vm_min: float, vm_max: float, max_kw: float, abs_tol_kw: float) -> np.ndarray:
    """Linear first estimate per bus from the dense Jacobian (numpy), voltage limits only [kW].

    dS/dVa = j diag(V) conj(diag(I) - Y diag(V)), dS/dVm = diag(V) conj(Y diag(V/|V|)) + conj(diag(I))
    diag(V/|V|); 1 kW at bus b raises the mismatch of its P (and Q) row; dx = -J^-1 dF for every bus at once.
    """
    v = model.solve(s[:, None], keep_voltages=True).v_internal[:, 0]
    y = model.ybus.toarray()
    i = y @ v
    dv_n = np.diag(v / np.abs(v))
    ds_dvm = np.diag(v) @ np.conj(y @ dv_n) + np.conj(np.diag(i)) @ dv_n
    ds_dva = 1j * np.diag(v) @ np.conj(np.diag(i) - y @ np.diag(v))
    pvpq, pq = np.r_[model.pv, model.pq], model.pq
    jac = np.block([[ds_dva[np.ix_(pvpq, pvpq)].real, ds_dvm[np.ix_(pvpq, pq)].real],
                    [ds_dva[np.ix_(pq, pvpq)].imag, ds_dvm[np.ix_(pq, pq)].imag]])
    unit = (1.0 + 1j * math.tan(math.acos(power_factor))) / 1000.0 / model.base_mva
    ib = model.bus_lookup[buses]
    rhs = np.zeros((len(pvpq) + len(pq), len(buses)))
    for col, b in enumerate(ib):
        rhs[np.flatnonzero(pvpq == b), col] = unit.real
        rhs[len(pvpq) + np.flatnonzero(pq == b), col] = unit.imag
    dx = -np.linalg.solve(jac, rhs)
    dvm = np.zeros((model.n_internal, len(buses)))
    dvm[pq] = dx[len(pvpq):]
    pos = model.bus_lookup[model.bus_ids.to_numpy()]
    pos = pos[pos >= 0]
    vm, d = np.abs(v[pos])[:, None], dvm[pos]
    assert ((vm >= vm_min) & (vm <= vm_max)).all()  # every voltage limit holds without added load
    with np.errstate(divide="ignore"):
        reach = np.where(d < 0, (vm - vm_min) / -d, np.where(d > 0, (vm_max - vm) / d, np.inf))
    best = reach.min(axis=0)
    return np.clip(np.where(np.isfinite(best), best, max_kw), abs_tol_kw, max_kw)


def test_blockwise_estimates_equal_the_dense_jacobian(monkeypatch):
    """The first estimates, solved a few buses at a time with the sparse LU, equal the dense
    Jacobian's (numpy, every bus at once) on mv_oberrhein; the refined capacities do not depend
    on the block size."""
    with _quiet_pandapower():
        net = pn.mv_oberrhein()
    model = BatchPowerFlow.from_net(net)
    assert model.zip_p is None and model.zip_q is None  # constant-power loads: no voltage-dependent term
    s = model.load_injections(1)[:, 0]
    kw = dict(power_factor=0.95, vm_min_pu=0.95, vm_max_pu=1.05, max_loading_percent=1e9)
    whole = hosting_capacity(model, s, **kw).table
    n_constraints = 2 * len(model.bus_ids) + len(net.line) + len(net.trafo)
    monkeypatch.setattr(hosting, "_BLOCK_ENTRIES", 3 * (model.n_internal + n_constraints))  # blocks of 3 buses
    blocks = hosting_capacity(model, s, **kw).table
    ref = _dense_estimates(model, s, blocks.index.to_numpy(), power_factor=0.95, vm_min=0.95, vm_max=1.05,
                           max_kw=50_000.0, abs_tol_kw=1.0)
    assert len(blocks) > 100
    np.testing.assert_allclose(blocks["estimate_kw"].to_numpy(), ref, rtol=1e-9)
    for col in ("hosting_capacity_kw", "upper_kw", "estimate_kw"):
        np.testing.assert_array_equal(blocks[col].to_numpy(), whole[col].to_numpy())
    assert (blocks["limit"] == whole["limit"]).all()


def _feeders(n_feeders: int, n_per_feeder: int) -> pp.pandapowerNet:
    """An 11 kV grid of radial cable feeders from one busbar, 10 kW at every bus."""
    net = pp.create_empty_network()
    bar = pp.create_bus(net, vn_kv=11.0)
    pp.create_ext_grid(net, bar)
    n = n_feeders * n_per_feeder
    buses = np.asarray(pp.create_buses(net, n, vn_kv=11.0))
    chain = buses.reshape(n_feeders, n_per_feeder)
    start = np.column_stack([np.full(n_feeders, bar), chain[:, :-1]]).ravel()
    pp.create_lines(net, start, chain.ravel(), length_km=0.03, std_type="NA2XS2Y 1x185 RM/25 12/20 kV")
    pp.create_loads(net, buses, p_mw=0.01)
    return net


def test_memory_does_not_grow_with_buses_squared():
    """The hosting estimate of every bus of a 4,000-bus grid holds far less than two dense
    bus x bus float64 matrices (256 MB) at once: the sensitivities are solved a block at a time."""
    with _quiet_pandapower():
        net = _feeders(40, 100)
    model = BatchPowerFlow.from_net(net)
    s = model.load_injections(1)
    tracemalloc.start()
    try:
        table = hosting_capacity(model, s, max_rounds=0).table
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n = model.n_internal
    assert len(table) == n - 1 and (table["estimate_kw"] > 0).all()
    assert peak < 2 * n * len(table) * 8, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("max_rounds", [1])
def test_a_refinement_round_is_solved_in_blocks(max_rounds):
    """One refinement round over every bus of a 2,000-bus grid (2,000 trial load flows) holds
    less than two dense bus x trial complex matrices at once."""
    with _quiet_pandapower():
        net = _feeders(20, 100)
    model = BatchPowerFlow.from_net(net)
    s = model.load_injections(1)
    tracemalloc.start()
    try:
        result = hosting_capacity(model, s, max_rounds=max_rounds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    n = model.n_internal
    assert result.rounds == 1 and result.load_flows == 1 + len(result.table)
    assert peak < 2 * n * len(result.table) * 16, f"peak {peak / 2**20:.0f} MiB"


def test_other_hours_are_checked_not_searched():
    """Three hours of the CIGRE MV grid, its two feeders loaded high at different hours: every bus's
    capacity is the smallest over the hours (equal to each hour searched alone, and to pandapower
    bisection at the hour), and the search costs the load flows of one hour plus about one check per
    other hour, not a full search of every hour."""
    with _quiet_pandapower():
        net = pn.create_cigre_network_mv(with_der=False)
    model = BatchPowerFlow.from_net(net)
    feeder1 = net.load["bus"].to_numpy() <= 11
    scale = np.array([[0.6, 0.3], [0.3, 0.6], [0.45, 0.45]])  # hours x (feeder 1, feeder 2)
    f = np.where(feeder1[None, :], scale[:, [0]], scale[:, [1]])
    p = pd.DataFrame(f * net.load["p_mw"].to_numpy()[None, :], columns=net.load.index)
    q = pd.DataFrame(f * net.load["q_mvar"].to_numpy()[None, :], columns=net.load.index)
    s = model.load_injections(3, load_p_mw=p, load_q_mvar=q)
    kw = dict(vm_min_pu=0.9, vm_max_pu=1.1)
    res = hosting_capacity(model, s, **kw)
    alone = [hosting_capacity(model, s[:, [h]], **kw) for h in range(3)]
    table = res.table
    n_b = len(table)
    by_hour = np.column_stack([a.table["hosting_capacity_kw"].to_numpy() for a in alone])
    np.testing.assert_allclose(table["hosting_capacity_kw"], by_hour.min(axis=1), rtol=0.006)
    assert set(table["hour"].iloc[:11]) != set(table["hour"].iloc[11:])  # the feeders bind at different hours
    assert res.load_flows <= max(a.load_flows for a in alone) + 2 * 2 * n_b
    # pandapower: bisection at each hour, one bus per feeder
    buses = [int(table.index[5]), int(table.index[-1])]
    ref = []
    for h in range(3):
        work = copy.deepcopy(net)
        work.load["p_mw"] = p.iloc[h].to_numpy()
        work.load["q_mvar"] = q.iloc[h].to_numpy()
        ref.append(hosting_capacity_bisection(work, buses, **kw).to_numpy())
    rel = table.loc[buses, "hosting_capacity_kw"].to_numpy() / np.min(ref, axis=0) - 1.0
    assert np.abs(rel).max() < 0.02


def test_trials_reuse_the_factorisation_of_their_hour(monkeypatch):
    """The refinement factorises no Jacobian of its own: one LU per examined hour (its base case, for
    the estimates) serves every trial of the search, whose capacities still equal pandapower bisection."""
    with _quiet_pandapower():
        net = pn.create_cigre_network_mv(with_der=False)
    net.load["scaling"] = 0.5
    model = BatchPowerFlow.from_net(net)
    made = []
    real = hosting._LevelLU

    def counting(jac):
        made.append(jac.shape)
        return real(jac)

    monkeypatch.setattr(hosting, "_LevelLU", counting)
    s = model.load_injections(1)
    res = hosting_capacity(model, np.column_stack([s[:, 0], 0.9 * s[:, 0]]))
    assert res.rounds >= 3 and len(made) == 2
    buses = res.table.index[[2, 9]]
    ref = hosting_capacity_bisection(net, buses)
    assert ((res.table.loc[buses, "hosting_capacity_kw"] - ref) / ref).abs().max() < 0.02
