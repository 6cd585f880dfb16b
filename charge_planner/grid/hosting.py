"""Hosting capacity: the largest extra EV load a bus takes before a limit breaks.

For every bus b and every examined hour h, the hosting capacity is the largest extra
load P (kW, at the given power factor) such that the AC load flow with P added at b
converges and no bus voltage leaves [vm_min, vm_max] and no line or transformer exceeds
``max_loading_percent`` — counting only limits that hold without the extra load (a limit
of another element already broken at that hour is reported by the time series, not
blamed on every bus). Two cases are findings, not numbers: an hour whose load flow does
not converge even without added load gives every bus 0 kW (limit ``not_converged``), and
a bus whose own voltage is already outside the band at that hour gets 0 kW (limit
``undervoltage`` or ``overvoltage``); the ``reason`` column says so. A bus's hosting
capacity is the smallest over the examined hours. On-load tap changers start each hour's base case from
the net's positions or from given ones (``tap_start``: where the hour before ended in a time series) and
move as the controller does; the trials of extra load keep the positions the base case settled at.

:func:`hosting_capacity` (fast):

1. one batched load flow of the examined hours; the Jacobian at each hour, factorised once
   (sparse LU), gives the sensitivity of every voltage magnitude and every branch current
   to load at each bus (one right-hand side per bus, solved a block of buses at a time and
   reduced to the bus's first estimate before the next block, so no bus x bus matrix is
   ever held); the first limit reached by the linearised model is the first estimate;
2. a bracket [feasible, infeasible] per (bus, hour) is refined: after each trial the
   binding constraint's margin, drawn as a line through the base case and the trial,
   predicts the root, and the next trial aims just beyond it (after a feasible trial) or
   just short of it (after an infeasible one), kept inside the bracket (bisection when a
   load flow does not converge); every round is ONE batched load flow of all unresolved
   (bus, hour) pairs, started from the linear voltage prediction (grouped and factorised as
   :meth:`BatchPowerFlow.solve` groups them, but built, solved and reduced to each trial's
   binding margin a block of trials at a time). It stops when the bracket is narrower than
   ``rel_tol`` times its feasible end (relative to the answer) or than ``abs_tol_kw``; the
   feasible end, verified by a load flow, is reported;
3. only the hour of a bus's smallest first estimate is searched; every other hour is then
   checked with one load flow at the capacity found: an hour that holds it cannot bind (a
   load feasible at an hour keeps every smaller load feasible there), an hour that does not is
   searched below it, and the bus's capacity is the smallest over the hours searched. A bus
   that takes nothing at some hour (its own voltage out of band, or no solution) is not
   searched at all. Checks share the rounds of the other buses' searches.

:func:`hosting_capacity_bisection` is the brute-force reference: bisection with one
full ``pandapower.runpp`` per trial, used by the tests and the benchmark.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import DataError
from charge_planner.grid.fastflow import BatchPowerFlow, BatchResult
from charge_planner.grid.jacobian import _jacobian, _LevelLU
from charge_planner.grid.model import _normalise_legacy_tables, _quiet_pandapower

log = logging.getLogger(__name__)

__all__ = ["HostingResult", "hosting_capacity", "hosting_capacity_bisection"]

#: Normalisation of margins for the root search: 0.01 pu of voltage ~ 10 % of loading.
_V_SCALE = 0.01
_L_SCALE = 10.0


@dataclass
class HostingResult:
    """Hosting capacity per bus.

    Attributes
    ----------
    table
        Per bus id: ``hosting_capacity_kw`` [kW] (feasible, verified by load flow),
        ``upper_kw`` [kW] (smallest infeasible load found, NaN at the search cap),
        ``estimate_kw`` [kW] (linear sensitivity estimate), ``limit`` (what breaks first:
        ``undervoltage``, ``overvoltage``, ``line``, ``trafo``, ``trafo3w``,
        ``not_converged``, ``search_cap``, or ``unresolved`` when the search ran out of
        rounds before finding any limit), ``limit_id`` (the element), ``hour`` (the
        examined hour that binds, a position in the hours given), ``already_violated``
        (True when the bus reports 0 kW because its own voltage is out of band, or the
        load flow does not converge, before any load is added) and ``reason`` (one line
        in words).
    rounds
        Batched load-flow rounds of the refinement and of the checks of the other hours [-].
    load_flows
        (bus, hour) load flows solved, estimate and refinement together [-].
    seconds
        Wall time [s].
    """

    table: pd.DataFrame
    rounds: int
    load_flows: int
    seconds: float


@dataclass
class _Limits:
    vm_min: float
    vm_max: float
    loading: float


def _margins(res: BatchResult, lim: _Limits) -> tuple[np.ndarray, np.ndarray]:
    """Normalised margins (scenarios x constraints) and their kind codes (constraints)."""
    vm = res.vm_pu
    parts = [(vm - lim.vm_min) / _V_SCALE, (lim.vm_max - vm) / _V_SCALE]
    kinds = [np.zeros(vm.shape[1], dtype=np.int64), np.ones(vm.shape[1], dtype=np.int64)]
    for code, loading in ((2, res.line_loading_percent), (3, res.trafo_loading_percent),
                          (4, res.trafo3w_loading_percent)):
        parts.append((lim.loading - loading) / _L_SCALE)
        kinds.append(np.full(loading.shape[1], code, dtype=np.int64))
    return np.concatenate(parts, axis=1), np.concatenate(kinds)


_KIND_NAMES = np.array(["undervoltage", "overvoltage", "line", "trafo", "trafo3w"])


def _constraint_ids(res: BatchResult) -> np.ndarray:
    return np.concatenate(
        [res.buses.to_numpy(), res.buses.to_numpy(), res.lines.to_numpy(), res.trafos.to_numpy(),
         res.trafos3w.to_numpy()]
    ).astype(object)


#: Largest number of entries (internal buses or constraints x right-hand sides) of one block of
#: the sensitivity computation; a block of 1 million float64 entries holds 8 MB per array [-].
_BLOCK_ENTRIES = 1_000_000
#: Most right-hand sides of one block of the sensitivity computation [-].
_MAX_BLOCK = 512


def _block_width(entries_per_column: int) -> int:
    """Columns per block so that one block holds about :data:`_BLOCK_ENTRIES` entries (2 to 512)."""
    return int(min(_MAX_BLOCK, max(2, _BLOCK_ENTRIES // max(1, entries_per_column))))


def _blocks(n_cols: int, width: int) -> list[np.ndarray]:
    """Consecutive positions ``0 .. n_cols - 1`` in blocks of ``width``; no block of one column
    follows another (a lone last column joins the block before it)."""
    out = [np.arange(a, min(a + width, n_cols)) for a in range(0, n_cols, width)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2:] = [np.concatenate(out[-2:])]
    return out


def _voltage_change(model: BatchPowerFlow, lu: _LevelLU, v: np.ndarray, cols: np.ndarray,
                    unit: complex) -> tuple[np.ndarray, np.ndarray]:
    """Linearised change of every internal voltage per kW added at each internal bus of ``cols``.

    Returns ``dvm`` [pu/kW] and the complex ``dv`` [pu/kW], both n_internal x len(cols): one
    sparse triangular solve per column with the LU of the Jacobian at ``v``.
    """
    pvpq, pq = model._pvpq, model.pq
    npvpq = len(pvpq)
    pos_p = np.full(model.n_internal, -1, dtype=np.int64)
    pos_p[pvpq] = np.arange(npvpq)
    pos_q = np.full(model.n_internal, -1, dtype=np.int64)
    pos_q[pq] = npvpq + np.arange(len(pq))
    # 1 kW of extra load at an internal bus lowers Sbus by `unit`, so the mismatch
    # F = S(V) - Sbus rises by `unit`; dx = -J^-1 dF
    k = len(cols)
    rhs = np.zeros((npvpq + len(pq), k))
    at = np.arange(k)
    okp = pos_p[cols] >= 0
    rhs[pos_p[cols[okp]], at[okp]] = unit.real
    okq = pos_q[cols] >= 0
    rhs[pos_q[cols[okq]], at[okq]] = unit.imag
    dx = -lu.solve(rhs)
    dva = np.zeros((model.n_internal, k))
    dvm = np.zeros((model.n_internal, k))
    dva[pvpq] = dx[:npvpq]
    dvm[pq] = dx[npvpq:]
    dv = v[:, None] * (dvm / np.abs(v)[:, None] + 1j * dva)
    return dvm, dv


def _linear_estimate(
    model: BatchPowerFlow, lu: _LevelLU, v: np.ndarray, cols: np.ndarray, unit: complex, m0: np.ndarray,
    valid: np.ndarray, kinds: np.ndarray, *, max_kw: float, abs_tol_kw: float,
) -> tuple[np.ndarray, np.ndarray]:
    """First estimate of the hosting capacity of the internal buses ``cols`` at one hour.

    The sensitivity of every margin (voltage band, branch loading) to load at each bus gives the
    load at which the first valid margin reaches zero. Returns the estimate [kW] (``max_kw`` when
    no margin falls) and the kind code of the binding constraint (-1: none), per bus of ``cols``.
    """
    k = len(cols)
    dvm, dv = _voltage_change(model, lu, v, cols, unit)
    bus_pos = model.bus_lookup[model.bus_ids.to_numpy()]
    has = bus_pos >= 0
    sens_vm = np.zeros((k, len(model.bus_ids)))
    sens_vm[:, has] = dvm[bus_pos[has]].T  # d vm / d kW
    # margins (vm - vmin)/s and (vmax - vm)/s change by +-dvm/s per kW
    sens_parts = [sens_vm / _V_SCALE, -sens_vm / _V_SCALE]
    i_side = (model.yf @ v, model.yt @ v)
    di_side = (model.yf @ dv, model.yt @ dv)
    bus_side = (model.branch_from, model.branch_to)
    for name in ("line", "trafo", "trafo3w"):
        b = model.branches.get(name)
        if b is None:
            sens_parts.append(np.zeros((k, 0)))
            continue
        # loading = |I| x scale at the side that carries the largest loading now
        n_br, n_sides = b.internal.shape
        value = np.full((n_br, n_sides), -np.inf)
        deriv = np.zeros((n_sides, k, n_br))
        for s in range(n_sides):
            rows = b.internal[:, s]
            ok = rows >= 0
            r = rows[ok]
            side = int(b.side[s])
            cur = i_side[side][r]
            mag = np.abs(cur)
            scale_s = model.base_mva / model.base_kv[bus_side[side][r]] * b.rating_kv_mva[ok, s]
            value[ok, s] = mag * scale_s
            with np.errstate(invalid="ignore", divide="ignore"):
                dmag = (np.conj(cur)[:, None] * di_side[side][r]).real / mag[:, None]
            deriv[s][:, ok] = np.nan_to_num(dmag * scale_s[:, None]).T
        pick = np.argmax(value, axis=1)
        best = deriv[pick, :, np.arange(n_br)].T if n_br else np.zeros((k, 0))
        sens_parts.append(-best / _L_SCALE)
    sens = np.concatenate(sens_parts, axis=1)  # d margin / d kW (buses x constraints)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = np.where((sens < 0) & valid[None, :], m0[None, :] / -sens, np.inf)
    j = np.argmin(reach, axis=1)
    best_reach = reach[np.arange(k), j]
    estimate = np.clip(np.where(np.isfinite(best_reach), best_reach, max_kw), abs_tol_kw, max_kw)
    return estimate, np.where(np.isfinite(best_reach), kinds[j], -1)


@dataclass
class _Trials:
    """One refinement round: the AC load flow of every (bus, hour, load) trial, reduced to the
    binding margin of each trial a block at a time.

    Each trial starts from the linear prediction of its voltages and is iterated (chord
    Newton) with the Jacobian of its hour's base case, factorised once for the estimates; a
    trial that does not converge so is solved by a full Newton-Raphson. Only one block of
    load, start and voltage columns exists at a time, and each block is reduced to one margin
    per trial before the next one is built.
    """

    model: BatchPowerFlow
    s_load: np.ndarray
    v_base: np.ndarray
    lus: list[_LevelLU | None]
    uniq: np.ndarray
    unit: complex
    valid: np.ndarray
    lim: _Limits

    def _loads(self, bi: np.ndarray, hour: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Internal bus load of the trials [pu] (n_internal x trials)."""
        s = self.s_load[:, hour].copy()
        s[self.uniq[bi], np.arange(len(bi))] += p * self.unit
        return s

    def _starts(self, bi: np.ndarray, hour: np.ndarray, p: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """Linear voltage prediction of the trials, with a mild cap so that a far extrapolation
        cannot start near collapse [pu] (n_internal x trials)."""
        model, v_base = self.model, self.v_base
        v_init = v_base[:, hour].copy()
        for h in np.unique(hour):
            at = np.flatnonzero(hour == h)
            lu = self.lus[h]
            assert lu is not None
            _, dv = _voltage_change(model, lu, v_base[:, h], self.uniq[bi[at]], self.unit)
            v_init[:, at] = v_base[:, [h]] + dv * np.minimum(p[at], cap[at])[None, :]
        v_init[model.ref] = v_base[model.ref][:, hour]
        if len(model.pv):
            v_init[model.pv] *= np.abs(v_base[model.pv][:, hour]) / np.abs(v_init[model.pv])
        return v_init

    def run(self, bi: np.ndarray, hour: np.ndarray, p: np.ndarray,
            cap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Converged flag, smallest valid normalised margin and its constraint, per trial."""
        model = self.model
        n, n_trials = model.n_internal, len(bi)
        # every trial is iterated with the factorisation of its hour's base case, the one its
        # linear start was predicted with (no factorisation of its own); trials of one hour are
        # solved in blocks, and a trial's chord iterations depend only on that factorisation, its
        # load and its start, not on the block
        width = _block_width(2 * n)  # a block of trials: its loads, voltages and results hold ~30 arrays of n x width
        converged = np.zeros(n_trials, dtype=bool)
        m_min = np.full(n_trials, -np.inf)
        j_min = np.zeros(n_trials, dtype=np.int64)
        fallback = 0
        for h in np.unique(hour):
            group = np.flatnonzero(hour == h)
            lu = self.lus[h]
            v0 = self.v_base[:, h]
            for cols in _blocks(len(group), width):
                chunk = group[cols]
                sel = (bi[chunk], hour[chunk], p[chunk])
                s_chunk = self._loads(*sel)
                v = self._starts(*sel, cap[chunk])
                v, ok, its, fallbacks = model._iterate(lu, v, s_chunk, v0)
                fallback += fallbacks
                res = model._results(v, ok, its, s_chunk)
                margin, _ = _margins(res, self.lim)
                margin = np.where(self.valid[hour[chunk]], margin, np.inf)
                margin = np.where(np.isnan(margin), -np.inf, margin)
                j = np.argmin(margin, axis=1)
                converged[chunk] = res.converged
                m_min[chunk] = margin[np.arange(len(chunk)), j]
                j_min[chunk] = j
        if fallback:
            log.debug("hosting capacity: %d trial(s) needed a full Newton-Raphson", fallback)
        if not converged.all():
            log.debug("hosting capacity: %d of %d trial load flow(s) did not converge", int((~converged).sum()),
                      n_trials)
        return converged, m_min, j_min


def hosting_capacity(
    model: BatchPowerFlow,
    s_load: np.ndarray,
    *,
    buses: pd.Index | np.ndarray | None = None,
    power_factor: float = 1.0,
    vm_min_pu: float = 0.95,
    vm_max_pu: float = 1.05,
    max_loading_percent: float = 100.0,
    max_kw: float = 50_000.0,
    rel_tol: float = 0.005,
    abs_tol_kw: float = 1.0,
    max_rounds: int = 30,
    tap_start: np.ndarray | None = None,
) -> HostingResult:
    """Hosting capacity of many buses at a few hours (sensitivities refined by batched load flows).

    Parameters
    ----------
    model
        The prepared batched load flow of the grid.
    s_load
        Internal bus load of the examined hours [pu] (n_internal x hours), e.g. columns of
        :meth:`BatchPowerFlow.load_injections` at the worst hours of a time series.
    buses
        pandapower bus ids to examine (default: every supplied bus that is not a slack bus).
    power_factor
        Power factor of the extra load (lagging) [-].
    vm_min_pu, vm_max_pu
        Voltage band [pu].
    max_loading_percent
        Highest admissible loading [%].
    max_kw
        Search cap [kW]; a bus that takes more reports ``max_kw`` with limit ``search_cap``.
    rel_tol
        Relative width of the final bracket [-].
    abs_tol_kw
        Absolute width of the final bracket [kW].
    max_rounds
        Largest number of refinement rounds [-].
    tap_start
        Positions the on-load tap changers start each examined hour from (changers x hours), e.g. where
        the hour before it ended in a time series that carries them; default: the net's positions. The
        hour's base case moves them as the controller does; the trials of extra load keep the positions
        the base case settled at.

    Returns
    -------
    HostingResult
        Table per bus and counts.

    Raises
    ------
    DataError
        Bad parameters or shapes.
    GridError
        Unknown or unsupplied buses.
    """
    t0 = time.perf_counter()
    if not (0.0 < power_factor <= 1.0 and vm_min_pu < vm_max_pu and max_kw > 0 and 0 < rel_tol < 1):
        raise DataError(
            "hosting_capacity: power_factor must lie in (0, 1], vm_min_pu < vm_max_pu, max_kw > 0, 0 < rel_tol < 1"
        )
    s_load = np.asarray(s_load, dtype=complex)
    if s_load.ndim == 1:
        s_load = s_load[:, None]
    if s_load.shape[0] != model.n_internal:
        raise DataError(f"s_load must have {model.n_internal} rows (internal buses), got {s_load.shape[0]}")
    lim = _Limits(vm_min_pu, vm_max_pu, max_loading_percent)
    n_hours = s_load.shape[1]
    if buses is None:
        ids = model.bus_ids.to_numpy()
        ib_all = model.bus_lookup[ids]
        keep = (ib_all >= 0) & ~np.isin(ib_all, model.ref)
        bus_ids = pd.Index(ids[keep])
        # buses merged by closed switches share an internal bus: examine each internal bus once
        ib = ib_all[keep]
    else:
        bus_ids = pd.Index(buses)
        ib = model.internal_bus(bus_ids.to_numpy())
    islands = model.islands()
    if islands is not None and len(bus_ids):
        # islands joined by no branch: a bus's added load changes its own island alone, so each island is
        # searched as a grid of its own (its sensitivities, trials and margins sized to it)
        of_row = model.island_of_rows()
        assert of_row is not None
        of_bus = of_row[ib]
        parts = []
        rounds = flows = 0
        for k in np.unique(of_bus):
            isl = islands[int(k)]
            res = hosting_capacity(
                isl.model, s_load[isl.rows], buses=bus_ids[of_bus == k], power_factor=power_factor,
                vm_min_pu=vm_min_pu, vm_max_pu=vm_max_pu, max_loading_percent=max_loading_percent, max_kw=max_kw,
                rel_tol=rel_tol, abs_tol_kw=abs_tol_kw, max_rounds=max_rounds,
                tap_start=None if tap_start is None or not len(isl.taps) else np.asarray(tap_start)[isl.taps])
            parts.append(res.table)
            rounds, flows = max(rounds, res.rounds), flows + res.load_flows
        table = pd.concat(parts).reindex(bus_ids) if parts else pd.DataFrame(index=pd.Index(bus_ids, name="bus_id"))
        table.index.name = "bus_id"
        seconds = time.perf_counter() - t0
        log.info("hosting capacity of %d buses on %d island(s) at %d hour(s): %d rounds, %d load flows, %.2f s",
                 len(bus_ids), len(parts), n_hours, rounds, flows, seconds)
        return HostingResult(table=table, rounds=rounds, load_flows=flows, seconds=seconds)
    uniq, inverse = np.unique(ib, return_inverse=True)
    n_b = len(uniq)
    tanphi = math.tan(math.acos(power_factor))
    unit = (1.0 + 1j * tanphi) / 1000.0 / model.base_mva  # 1 kW of extra load [pu]

    # 1. base case of each hour and linear estimates, a block of buses at a time
    base = model.solve(s_load, keep_voltages=True, tap_start=tap_start)
    base_margin, kinds = _margins(base, lim)
    valid = np.isfinite(base_margin) & (base_margin >= 0.0)  # hours x constraints that hold without extra load
    cid = _constraint_ids(base)
    estimate = np.full((n_b, n_hours), max_kw)
    v_base = np.zeros((model.n_internal, n_hours), dtype=complex)
    est_kind = np.full((n_b, n_hours), -1, dtype=np.int64)
    lus: list[_LevelLU | None] = [None] * n_hours
    block_width = _block_width(model.n_internal + base_margin.shape[1])
    for h in range(n_hours):
        if not base.converged[h]:
            estimate[:, h] = 0.0
            continue
        assert base.v_internal is not None
        v = base.v_internal[:, h]
        v_base[:, h] = v
        lu = _LevelLU(_jacobian(model.ybus, v, model._pvpq, model.pq, model._dsload_dvm(s_load[:, h], np.abs(v))))
        lus[h] = lu
        for cols in _blocks(n_b, block_width):
            est, kind = _linear_estimate(model, lu, v, uniq[cols], unit, base_margin[h], valid[h], kinds,
                                         max_kw=max_kw, abs_tol_kw=abs_tol_kw)
            estimate[cols, h] = est
            est_kind[cols, h] = kind

    # buses that take nothing at an hour: the hour has no solution, or the bus's own voltage
    # is already out of band (0: none, 1: not converged, 2: undervoltage, 3: overvoltage)
    pre = np.zeros((n_b, n_hours), dtype=np.int64)
    pre_vm = np.full((n_b, n_hours), np.nan)
    for h in range(n_hours):
        if not base.converged[h]:
            pre[:, h] = 1
            continue
        assert base.v_internal is not None
        vm_b = np.abs(base.v_internal[uniq, h])
        pre_vm[:, h] = vm_b
        pre[:, h] = np.where(vm_b < vm_min_pu, 2, np.where(vm_b > vm_max_pu, 3, 0))

    # 2. refinement: bracket [lo, hi] per (bus, hour)
    lo = np.zeros((n_b, n_hours))
    g_lo = np.full((n_b, n_hours), np.nan)
    hi = np.full((n_b, n_hours), np.nan)  # NaN: no infeasible point known yet
    g_hi = np.full((n_b, n_hours), np.nan)
    lim_kind = np.full((n_b, n_hours), -1, dtype=np.int64)
    lim_id = np.full((n_b, n_hours), None, dtype=object)
    for h in range(n_hours):
        if base.converged[h]:
            g_lo[:, h] = np.min(np.where(valid[h], base_margin[h], np.inf), initial=np.inf)
    trial = estimate.copy()
    # a bus that takes nothing at some hour (pre > 0) takes nothing: none of its hours is searched.
    # The others are searched first at the hour of their smallest estimate only; every other hour
    # is then checked with one load flow at the capacity found (``pending`` until then); an hour
    # that fails the check is searched below it, and one that passes cannot bind
    searched = (pre == 0).all(axis=1) if n_hours else np.zeros(n_b, dtype=bool)
    first_hour = np.argmin(estimate, axis=1) if n_hours else np.zeros(n_b, dtype=np.int64)
    active = np.zeros((n_b, n_hours), dtype=bool)
    active[np.flatnonzero(searched), first_hour[searched]] = True
    pending = searched[:, None] & ~active
    checking = np.zeros((n_b, n_hours), dtype=bool)
    passed = np.zeros((n_b, n_hours), dtype=bool)  # checked hours feasible at the bus's capacity
    rounds = 0
    flows = n_hours
    trials = _Trials(model, s_load, v_base, lus, uniq, unit, valid, lim)
    while rounds < max_rounds:
        # buses whose searched hours are all resolved: check their other hours at the capacity found
        ready = pending.any(axis=1) & ~active.any(axis=1)
        if ready.any():
            b_r = np.flatnonzero(ready)
            cap_b = np.where(pending[b_r] | passed[b_r], np.inf, lo[b_r]).min(axis=1)
            at_zero = b_r[cap_b <= 0.0]  # nothing to check: every hour holds without added load
            passed[at_zero] |= pending[at_zero]
            pending[at_zero] = False
            b_c = b_r[cap_b > 0.0]
            check = pending[b_c]
            rows, cols = np.nonzero(check)
            trial[b_c[rows], cols] = cap_b[cap_b > 0.0][rows]
            checking[b_c[rows], cols] = True
            active[b_c[rows], cols] = True
            pending[b_c[rows], cols] = False
        if not active.any():
            break
        rounds += 1
        bi, hi_idx = np.nonzero(active)
        log.debug("hosting capacity round %d: %d (bus, hour) pair(s), %d check(s)", rounds, len(bi),
                  int(checking[bi, hi_idx].sum()))
        p = trial[bi, hi_idx]
        # trial loads past voltage collapse are expected here: they bound the search, not a finding
        converged, m_now, j = trials.run(bi, hi_idx, p, 2.0 * estimate[bi, hi_idx])
        flows += len(bi)
        g = np.where(converged, m_now, -np.inf)
        feasible = g >= 0.0
        # update brackets
        f_b, f_h = bi[feasible], hi_idx[feasible]
        lo[f_b, f_h] = p[feasible]
        g_lo[f_b, f_h] = g[feasible]
        n_b_, n_h_ = bi[~feasible], hi_idx[~feasible]
        hi[n_b_, n_h_] = p[~feasible]
        g_hi[n_b_, n_h_] = g[~feasible]
        lim_kind[n_b_, n_h_] = np.where(converged[~feasible], kinds[j[~feasible]], 5)
        lim_id[n_b_, n_h_] = np.where(converged[~feasible], cid[j[~feasible]], None)
        # at the cap and feasible: done
        capped = feasible & (p >= max_kw)
        active[bi[capped], hi_idx[capped]] = False
        # a checked hour feasible at the bus's capacity is done; one that is not is searched below it
        was_check = checking[bi, hi_idx]
        ok_check = was_check & feasible
        passed[bi[ok_check], hi_idx[ok_check]] = True
        active[bi[ok_check], hi_idx[ok_check]] = False
        checking[bi[was_check], hi_idx[was_check]] = False
        # converged brackets
        width = hi - lo
        done = np.isfinite(width) & ((width <= rel_tol * np.maximum(lo, abs_tol_kw)) | (width <= abs_tol_kw))
        active &= ~done
        # next trial: the binding constraint's margin, drawn as a straight line through the
        # base case and this trial, crosses zero at `root`; aim just beyond it after a
        # feasible trial and just short of it after an infeasible one, so that the bracket
        # closes around the root (bisection when the load flow did not converge)
        m_base = base_margin[hi_idx, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            root = np.where(converged & (m_base - m_now > 0), p * m_base / (m_base - m_now), np.nan)
        aim = np.where(feasible, root * (1.0 + 0.4 * rel_tol), root * (1.0 - 0.4 * rel_tol))
        lo_a, hi_a = lo[bi, hi_idx], hi[bi, hi_idx]
        bracketed = np.isfinite(hi_a)
        width = np.where(bracketed, hi_a - lo_a, np.inf)
        inner_lo = lo_a + np.where(bracketed, 0.05 * width, max(abs_tol_kw, 0.0))
        inner_hi = np.where(bracketed, hi_a - 0.05 * width, np.minimum(2.0 * np.maximum(lo_a, p) + 10.0 * abs_tol_kw, max_kw))
        fallback = np.where(bracketed, 0.5 * (lo_a + hi_a), np.minimum(1.5 * np.maximum(lo_a, abs_tol_kw), max_kw))
        nxt = np.where(np.isfinite(aim), np.clip(aim, inner_lo, inner_hi), fallback)
        nxt = np.minimum(nxt, max_kw)
        trial[bi, hi_idx] = nxt
    if active.any():
        log.warning("hosting capacity: %d (bus, hour) pair(s) not resolved after %d rounds", int(active.sum()), rounds)

    # 3. smallest over hours
    cap_reached = ~np.isfinite(hi)
    hc = np.where(cap_reached, np.maximum(lo, np.where(active, lo, max_kw)), lo)
    hc = np.where(cap_reached & ~active, max_kw, hc)
    hc = np.where(pre > 0, 0.0, hc)
    # the binding hour: the smallest capacity; among equal ones an hour the bus cannot take
    # anything at (no solution, or already out of band) is named first
    h_star = np.lexsort((-(pre > 0).astype(np.int64), hc), axis=-1)[:, 0] if n_hours else np.zeros(n_b, dtype=np.int64)
    r = np.arange(n_b)
    kind_code = lim_kind[r, h_star]
    pre_star = pre[r, h_star]
    # no infeasible load found: the search cap when the search finished there, else unresolved
    # (the capacity is then a verified lower bound)
    limit = np.where(cap_reached[r, h_star], np.where(active[r, h_star], "unresolved", "search_cap"),
                     np.where(kind_code == 5, "not_converged", _KIND_NAMES[np.clip(kind_code, 0, 4)]))
    limit = np.where(pre_star == 1, "not_converged",
                     np.where(pre_star == 2, "undervoltage", np.where(pre_star == 3, "overvoltage", limit)))
    limit_id = lim_id[r, h_star].copy()
    limit_id[pre_star == 1] = None
    own = (pre_star == 2) | (pre_star == 3)
    limit_id[own] = None
    reason = np.empty(n_b, dtype=object)
    for k in range(n_b):
        code, name, h = int(pre_star[k]), str(limit[k]), int(h_star[k])
        if code == 1:
            reason[k] = f"the load flow does not converge at examined hour {h} even without added load"
        elif code in (2, 3):
            reason[k] = f"bus already {name} ({pre_vm[k, h]:.3f} pu) at examined hour {h} before any added load"
        elif name == "search_cap":
            reason[k] = f"takes the search cap of {max_kw:,.0f} kW without breaking a limit"
        elif name == "unresolved":
            reason[k] = f"no limit found within {max_rounds} rounds of the search; the capacity is a lower bound"
        elif name == "not_converged":
            reason[k] = f"the load flow does not converge with more added load (examined hour {h})"
        elif name in ("undervoltage", "overvoltage"):
            reason[k] = f"{name} at bus {lim_id[k, h]} with more added load (examined hour {h})"
        else:
            reason[k] = f"{name} {lim_id[k, h]} overloaded with more added load (examined hour {h})"
    table = pd.DataFrame(
        {
            "hosting_capacity_kw": hc[r, h_star][inverse],
            "upper_kw": np.where(cap_reached | (pre > 0), np.nan, hi)[r, h_star][inverse],
            "estimate_kw": np.where(pre > 0, 0.0, estimate).min(axis=1)[inverse],
            "limit": limit[inverse],
            "limit_id": limit_id[inverse],
            "hour": h_star[inverse],
            "already_violated": (pre_star > 0)[inverse],
            "reason": reason[inverse],
        },
        index=pd.Index(bus_ids, name="bus_id"),
    )
    for code, what in ((1, "an examined hour has no load-flow solution even without added load"),
                       (2, "their voltage is already below the band before any added load"),
                       (3, "their voltage is already above the band before any added load")):
        if (pre_star == code).any():
            log.warning("hosting capacity: 0 kW at %d bus(es): %s", int((pre_star == code).sum()), what)
    seconds = time.perf_counter() - t0
    log.info(
        "hosting capacity of %d buses at %d hour(s): %d rounds, %d load flows, %.2f s",
        len(bus_ids), n_hours, rounds, flows, seconds,
    )
    return HostingResult(table=table, rounds=rounds, load_flows=flows, seconds=seconds)


# ======================================================================================
# Reference: bisection with a full pandapower load flow per trial
# ======================================================================================


def _within(net: pandapowerNet, valid: dict[str, np.ndarray], lim: _Limits) -> bool:
    vm = net.res_bus["vm_pu"].to_numpy(float)
    ok_v = valid["bus"]
    with np.errstate(invalid="ignore"):
        if np.any(ok_v & ((vm < lim.vm_min) | (vm > lim.vm_max))):
            return False
        for name in ("line", "trafo", "trafo3w"):
            if len(net[name]):
                ld = net[f"res_{name}"]["loading_percent"].to_numpy(float)
                if np.any(valid[name] & (ld > lim.loading)):
                    return False
    return True


def hosting_capacity_bisection(
    net: pandapowerNet,
    buses: pd.Index | np.ndarray,
    *,
    power_factor: float = 1.0,
    vm_min_pu: float = 0.95,
    vm_max_pu: float = 1.05,
    max_loading_percent: float = 100.0,
    max_kw: float = 50_000.0,
    rel_tol: float = 0.005,
    abs_tol_kw: float = 1.0,
) -> pd.Series:
    """Brute-force hosting capacity: bisection with one ``pandapower.runpp`` per trial.

    Same definition as :func:`hosting_capacity` at the net's own operating point (one
    hour). It serves as the reference in tests and benchmarks; it is slow by design.

    Parameters
    ----------
    net
        The pandapower net at the examined hour; not modified.
    buses
        pandapower bus ids.
    power_factor, vm_min_pu, vm_max_pu, max_loading_percent, max_kw, rel_tol, abs_tol_kw
        As in :func:`hosting_capacity`.

    Returns
    -------
    pandas.Series
        ``hosting_capacity_kw`` per bus id [kW] (the feasible end of the final bracket).
    """
    work = copy.deepcopy(net)
    _normalise_legacy_tables(work)
    lim = _Limits(vm_min_pu, vm_max_pu, max_loading_percent)
    with _quiet_pandapower():
        pp.runpp(work, numba=False)
    vm0 = work.res_bus["vm_pu"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        valid = {"bus": np.isfinite(vm0) & (vm0 >= lim.vm_min) & (vm0 <= lim.vm_max)}
        for name in ("line", "trafo", "trafo3w"):
            ld = work[f"res_{name}"]["loading_percent"].to_numpy(float) if len(work[name]) else np.zeros(0)
            valid[name] = np.isfinite(ld) & (ld <= lim.loading)
    tanphi = math.tan(math.acos(power_factor))
    extra = pp.create_load(work, int(np.asarray(buses)[0]), p_mw=0.0, q_mvar=0.0, name="hosting probe")

    def feasible(bus: int, kw: float) -> bool:
        work.load.at[extra, "bus"] = bus
        work.load.at[extra, "p_mw"] = kw / 1000.0
        work.load.at[extra, "q_mvar"] = kw / 1000.0 * tanphi
        try:
            with _quiet_pandapower():
                pp.runpp(work, numba=False)
        except pp.LoadflowNotConverged:
            return False
        return _within(work, valid, lim)

    out = {}
    for bus in np.asarray(buses):
        lo, hi = 0.0, max_kw
        if feasible(int(bus), hi):
            out[bus] = max_kw
            continue
        while hi - lo > max(rel_tol * max(lo, abs_tol_kw), abs_tol_kw):
            mid = 0.5 * (lo + hi)
            if feasible(int(bus), mid):
                lo = mid
            else:
                hi = mid
        out[bus] = lo
    return pd.Series(out, name="hosting_capacity_kw", dtype=float).rename_axis("bus_id")
