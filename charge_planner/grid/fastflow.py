"""Batched AC load flow: many operating points of one grid solved at once.

:class:`BatchPowerFlow` takes the admittance matrix and the bus injections that
pandapower builds for a net (its internal "ppci" after one ``pandapower.runpp``), so
every element pandapower models (transformer taps and phase shifts, shunts, wards,
several external grids, generators as PV buses, open switches, out-of-service elements)
is represented exactly as in pandapower. Only the injections change from step to step.

Algorithm (polar Newton-Raphson, the formulation of ``pandapower.runpp``):

1. Steps are sorted by their total load and cut into chunks of at most ``chunk_size``.
2. In each chunk, the step with the median load is solved by a full Newton-Raphson; the
   Jacobian at its solution is factorised once (SuperLU, symmetric-mode minimum-degree
   ordering).
3. Every step of the chunk is iterated with that factorisation (a "chord" Newton method):
   the mismatch of all steps is one sparse-matrix x dense-matrix product and the update
   of all steps one forward/backward substitution with as many right-hand sides as steps.
   The triangular solves are level-scheduled: rows that depend on no other row of the
   same level are eliminated together, so one substitution is a few dozen sparse x dense
   products instead of a Python loop over rows.
4. A step whose mismatch is not below the tolerance after ``max_chord_iterations``, or
   that stalls, is solved alone by a full Newton-Raphson from its last iterate.
5. A step that still does not converge is marked ``converged=False`` with NaN results;
   it is never replaced by a neighbouring result.

A grid made of islands, parts joined by no branch and each with its own supply (a synthesised
city's substation areas), has a block-diagonal admittance matrix. Its islands are solved in groups
of about :data:`ISLAND_BUSES` buses: one full Newton-Raphson and Jacobian of the whole grid per
chunk, factorised block by block, then each group iterated, its tap changers operated and its
steps carried on its own, so a group that converged or kept its taps is not iterated again with the
others. Each island is also a grid of its own (its branches, bus ids and elements sliced from the
whole), on which searches that change one island only (hosting capacity, the EV hosting level) run.

Convergence is declared, as in pandapower, when the largest active/reactive power
mismatch is below ``tolerance_mva`` (on ``net.sn_mva``), so the voltages agree with
``pandapower.runpp`` to far better than 1e-6 pu.

This module holds the solver (:class:`BatchPowerFlow`: per-step injections, chord and full
Newton-Raphson iterations, result tables in :class:`BatchResult`); the admittance model it
starts from is built in :mod:`~charge_planner.grid.admittance`, the Jacobian and its
level-scheduled LU live in :mod:`~charge_planner.grid.jacobian`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandapower.auxiliary import pandapowerNet
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu

from charge_planner.errors import DataError, GridError
from charge_planner.grid.admittance import AdmittanceModel, admittance_model
from charge_planner.grid.jacobian import _jacobian, _LevelLU
from charge_planner.grid.model import _bus_label
from charge_planner.grid.oltc import MAX_CONTROL_ROUNDS, TapControl, tap_control

log = logging.getLogger(__name__)

__all__ = ["BatchPowerFlow", "BatchResult"]

#: Steps per chunk that share one Jacobian factorisation [-].
DEFAULT_CHUNK_SIZE = 1024
#: Chord iterations before a step is handed to a full Newton-Raphson [-].
DEFAULT_MAX_CHORD_ITERATIONS = 30
#: Newton-Raphson iterations of a single step (pandapower's default is 10) [-].
DEFAULT_MAX_NEWTON_ITERATIONS = 20
#: Largest number of internal buses x steps solved as one block [-].
_CHUNK_ENTRIES = 4_000_000
#: Internal buses of a group of islands (parts of the grid joined by no branch) solved as one system [-]: on
#: the synthesised metro grids, groups of this size solve a day with the tap changers carried in about a third
#: less time than the whole grid as one system, and far less than each substation's area alone.
ISLAND_BUSES = 4000
#: A chord step whose mismatch falls by less than this factor per iteration is stalling [-].
_STALL_RATIO = 0.7
#: Chord steps that may raise the mismatch before a step counts as stalling (a step started far from the
#: factorised point may overshoot once before it converges) [-].
_FREE_STEPS = 2

# ======================================================================================
# The batched solver
# ======================================================================================


@dataclass
class BatchResult:
    """Result of a batched load flow over ``n_steps`` operating points.

    Attributes
    ----------
    vm_pu
        Voltage magnitude per step and pandapower bus (rows: steps, columns: ``buses``)
        [pu]; NaN for out-of-service or unsupplied buses and for non-converged steps.
    va_degree
        Voltage angle, same shape [degree].
    line_loading_percent
        Loading per step and line (columns: ``lines``) [%], pandapower's definition.
    trafo_loading_percent
        Loading per step and two-winding transformer (columns: ``trafos``) [%].
    trafo3w_loading_percent
        Loading per step and three-winding transformer (columns: ``trafos3w``) [%].
    converged
        Whether each step converged.
    iterations
        Chord plus Newton iterations of each step [-].
    buses, lines, trafos, trafos3w
        pandapower element ids of the columns.
    p_slack_mw
        Active power drawn from all external grids together per step [MW].
    losses_mw
        Active losses of all branches per step [MW].
    solve_s
        Wall time of the solve [s].
    v_internal
        Complex voltages of the internal buses (n_internal x steps) [pu], when asked for.
    tap_pos
        Position of every on-load tap changer operated per step (rows: steps, columns:
        ``tap_trafos``), None when the grid has none (see :mod:`~charge_planner.grid.oltc`).
    tap_trafos
        pandapower ids of those transformers.
    """

    vm_pu: np.ndarray
    va_degree: np.ndarray
    line_loading_percent: np.ndarray
    trafo_loading_percent: np.ndarray
    trafo3w_loading_percent: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    buses: pd.Index
    lines: pd.Index
    trafos: pd.Index
    trafos3w: pd.Index
    p_slack_mw: np.ndarray
    losses_mw: np.ndarray
    solve_s: float = 0.0
    v_internal: np.ndarray | None = None
    tap_pos: np.ndarray | None = None
    tap_trafos: pd.Index | None = None

    @property
    def n_steps(self) -> int:
        """Number of steps [-]."""
        return int(len(self.converged))

    @property
    def non_converged_steps(self) -> np.ndarray:
        """Positions of the steps that did not converge."""
        return np.flatnonzero(~self.converged)

    def vm_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """``vm_pu`` as a DataFrame (steps x bus ids)."""
        return pd.DataFrame(self.vm_pu, index=index, columns=self.buses)


_Factor = tuple[_LevelLU | None, np.ndarray]  # a Jacobian factorisation and the voltages it was taken at


@dataclass
class _Columns:
    """The solution of every step, filled a group of steps at a time."""

    v: np.ndarray  # complex internal voltages (n_internal x n_steps)
    converged: np.ndarray
    iterations: np.ndarray
    taps: np.ndarray | None  # tap positions (changers x n_steps)
    fallbacks: int = 0  # steps that needed a full Newton-Raphson

    def put(self, cols: np.ndarray, v: np.ndarray, ok: np.ndarray, its: np.ndarray, fallbacks: int,
            pos: np.ndarray | None) -> None:
        """Store the solution of the steps ``cols`` (iterations are added to those of earlier passes)."""
        self.fallbacks += fallbacks
        if self.taps is not None and pos is not None:
            self.taps[:, cols] = pos
        self.v[:, cols] = v
        self.converged[cols] = ok
        self.iterations[cols] += its


@dataclass
class _Island:
    """A part of the grid joined to the rest by no branch: its internal rows, its own solver, and its
    tap changers' positions among the grid's."""

    rows: np.ndarray
    model: BatchPowerFlow
    taps: np.ndarray
    unknowns: np.ndarray  # its rows and columns of the whole grid's Jacobian


@dataclass
class BatchPowerFlow(AdmittanceModel):
    """A grid prepared for batched AC load flows (see the module docstring).

    Build it with :meth:`from_net`; then call :meth:`solve` with per-step injections.

    Attributes
    ----------
    net
        A private copy of the net (results of the preparatory load flow included).
    tolerance_mva
        Convergence tolerance on the largest power mismatch [MVA].
    """

    # the fields of AdmittanceModel, then the solver's settings
    tolerance_mva: float = 1e-8
    chunk_size: int = DEFAULT_CHUNK_SIZE
    max_chord_iterations: int = DEFAULT_MAX_CHORD_ITERATIONS
    max_newton_iterations: int = DEFAULT_MAX_NEWTON_ITERATIONS
    taps: TapControl | None = None
    #: solve every island (a part of the grid with its own supply, e.g. one substation's area) on its own
    split_islands: bool = True
    #: buses of a group of islands solved as one system (default :data:`ISLAND_BUSES`) [-]
    island_buses: int | None = None
    _pvpq: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _islands: list[_Island] | None = field(default=None, repr=False)

    # ---------------------------------------------------------------------------- build

    @classmethod
    def from_net(
        cls,
        net: pandapowerNet,
        *,
        tolerance_mva: float = 1e-8,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_chord_iterations: int = DEFAULT_MAX_CHORD_ITERATIONS,
        max_newton_iterations: int = DEFAULT_MAX_NEWTON_ITERATIONS,
    ) -> BatchPowerFlow:
        """Prepare a net: one ``pandapower.runpp`` builds the admittance matrix and injections.

        Parameters
        ----------
        net
            The pandapower net; not modified (a deep copy is used).
        tolerance_mva
            Largest admissible power mismatch [MVA] (pandapower's default is 1e-8).
        chunk_size
            Largest number of steps that share one Jacobian factorisation [-] (smaller for
            large grids: at most 4 million internal buses x steps per block).
        max_chord_iterations
            Chord iterations before a step gets a full Newton-Raphson [-].
        max_newton_iterations
            Full Newton-Raphson iterations of one step [-].

        Raises
        ------
        GridError
            No external grid, islanded loads, or the preparatory load flow does not converge.
        DataError
            A parameter is out of range.
        """
        if not tolerance_mva > 0 or chunk_size < 1 or max_chord_iterations < 1 or max_newton_iterations < 1:
            raise DataError(
                "BatchPowerFlow: tolerance_mva must be > 0 and chunk_size, max_chord_iterations, "
                "max_newton_iterations >= 1"
            )
        m = admittance_model(net, tolerance_mva)
        model = cls(
            **{f.name: getattr(m, f.name) for f in dataclasses.fields(AdmittanceModel)},
            tolerance_mva=float(tolerance_mva),
            chunk_size=int(chunk_size),
            max_chord_iterations=int(max_chord_iterations),
            max_newton_iterations=int(max_newton_iterations),
        )
        model._pvpq = np.r_[m.pv, m.pq]
        trafo = m.branches.get("trafo")
        if trafo is not None:
            on = trafo.internal[:, 0] >= 0
            model.taps = tap_control(model.net, ref=m.ref, bus_lookup=m.bus_lookup, branch_from=m.branch_from,
                                     branch_to=m.branch_to,
                                     trafo_rows=pd.Series(trafo.internal[on, 0], index=trafo.index[on]))
        log.debug(
            "batched load flow prepared: %d internal buses (%d PQ, %d PV, %d slack), %d branches",
            model.n_internal,
            len(m.pq),
            len(m.pv),
            len(m.ref),
            len(m.branch_from),
        )
        return model

    # ---------------------------------------------------------------------------- inputs

    @property
    def n_internal(self) -> int:
        """Number of internal (energised, merged) buses [-]."""
        return int(self.ybus.shape[0])

    def internal_bus(self, bus_ids: np.ndarray | pd.Index) -> np.ndarray:
        """Internal bus of each pandapower bus id (GridError for unknown or de-energised buses)."""
        ids = np.asarray(bus_ids, dtype=np.int64)
        bad = (ids < 0) | (ids >= len(self.bus_lookup))
        out = np.full(len(ids), -1, dtype=np.int64)
        out[~bad] = self.bus_lookup[ids[~bad]]
        missing = ids[out < 0]
        if len(missing):
            labels = ", ".join(_bus_label(self.net, int(b)) if b in self.net.bus.index else str(b) for b in missing[:5])
            raise GridError(
                f"bus(es) {labels} are not in the grid or not supplied (out of service or islanded): "
                "connect the load to a supplied bus"
            )
        return out

    def _element_delta(
        self, table: str, profile: pd.DataFrame | np.ndarray | None, column: str, n_steps: int
    ) -> np.ndarray | None:
        """Change of internal-bus load [pu] (n_internal x steps) when ``table.column`` follows ``profile``."""
        if profile is None:
            return None
        el = self.elements[table]
        tab = self.net[table]
        if isinstance(profile, pd.DataFrame):
            unknown = profile.columns.difference(el.index)
            if len(unknown):
                raise DataError(
                    f"{table}.{column} profile names {table} id(s) {list(unknown[:5])} that are not in the grid"
                )
            pos = el.index.get_indexer(profile.columns)
            values = profile.to_numpy(dtype=float)
        else:
            values = np.asarray(profile, dtype=float)
            if values.ndim != 2 or values.shape[1] != len(el.index):
                raise DataError(
                    f"{table}.{column} profile must have one column per {table} ({len(el.index)}), got shape "
                    f"{values.shape}"
                )
            pos = np.arange(len(el.index))
        if values.shape[0] != n_steps:
            raise DataError(f"{table}.{column} profile has {values.shape[0]} steps, expected {n_steps}")
        if not np.isfinite(values).all():
            raise DataError(f"{table}.{column} profile holds NaN or infinite values; fill them")
        scaling = tab["scaling"].to_numpy(dtype=float)[pos] if "scaling" in tab.columns else np.ones(len(pos))
        base = tab[column].to_numpy(dtype=float)[pos]
        ib = el.internal_bus[pos]
        act = ib >= 0
        delta = (values[:, act] - base[act]) * (scaling[act] * el.sign / self.base_mva)
        incidence = sp.csr_matrix(
            (np.ones(int(act.sum())), (ib[act], np.arange(int(act.sum())))), shape=(self.n_internal, int(act.sum()))
        )
        return np.asarray(incidence @ delta.T)

    def _bus_delta(self, frame: pd.DataFrame | None, what: str, n_steps: int) -> np.ndarray | None:
        if frame is None:
            return None
        if frame.shape[0] != n_steps:
            raise DataError(f"{what} has {frame.shape[0]} steps, expected {n_steps}")
        values = frame.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise DataError(f"{what} holds NaN or infinite values; fill them")
        ib = self.internal_bus(frame.columns.to_numpy())
        incidence = sp.csr_matrix(
            (np.ones(len(ib)), (ib, np.arange(len(ib)))), shape=(self.n_internal, len(ib))
        )
        return np.asarray(incidence @ values.T) / self.base_mva

    def load_injections(
        self,
        n_steps: int,
        *,
        load_p_mw: pd.DataFrame | np.ndarray | None = None,
        load_q_mvar: pd.DataFrame | np.ndarray | None = None,
        sgen_p_mw: pd.DataFrame | np.ndarray | None = None,
        sgen_q_mvar: pd.DataFrame | np.ndarray | None = None,
        bus_p_mw: pd.DataFrame | None = None,
        bus_q_mvar: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Complex internal bus load per step [pu] (n_internal x n_steps), generation counted negative.

        Element profiles replace the element's ``p_mw``/``q_mvar`` (before its ``scaling``),
        as pandapower's ``ConstControl`` does; ``bus_p_mw``/``bus_q_mvar`` add extra
        constant-power load per pandapower bus (negative values inject). Profiles are
        DataFrames (steps x element ids; missing elements keep their value) or arrays with
        one column per element of the table.
        """
        if n_steps < 1:
            raise DataError("n_steps must be at least 1")
        s = np.repeat(self.s_load[:, None], n_steps, axis=1)
        for table, col, prof, imag in (
            ("load", "p_mw", load_p_mw, False),
            ("load", "q_mvar", load_q_mvar, True),
            ("sgen", "p_mw", sgen_p_mw, False),
            ("sgen", "q_mvar", sgen_q_mvar, True),
        ):
            d = self._element_delta(table, prof, col, n_steps)
            if d is not None:
                s += 1j * d if imag else d
        for frame, what, imag in ((bus_p_mw, "bus_p_mw", False), (bus_q_mvar, "bus_q_mvar", True)):
            d = self._bus_delta(frame, what, n_steps)
            if d is not None:
                s += 1j * d if imag else d
        return s

    # ---------------------------------------------------------------------------- solve

    def _sload(self, s_load: np.ndarray, vm: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Voltage-dependent load (ZIP) of the internal buses (or of ``rows`` of them) [pu]."""
        if self.zip_p is None and self.zip_q is None:
            return s_load
        p, q = s_load.real, s_load.imag
        if self.zip_p is not None:
            ci, cz = (c if rows is None else c[rows] for c in self.zip_p)
            ci, cz = (ci[:, None], cz[:, None]) if vm.ndim == 2 else (ci, cz)
            p = p * (1.0 - ci - cz + ci * vm + cz * vm**2)
        if self.zip_q is not None:
            ci, cz = (c if rows is None else c[rows] for c in self.zip_q)
            ci, cz = (ci[:, None], cz[:, None]) if vm.ndim == 2 else (ci, cz)
            q = q * (1.0 - ci - cz + ci * vm + cz * vm**2)
        return p + 1j * q

    def _dsload_dvm(self, s_load: np.ndarray, vm: np.ndarray) -> np.ndarray | None:
        if self.zip_p is None and self.zip_q is None:
            return None
        dp = np.zeros_like(vm)
        dq = np.zeros_like(vm)
        if self.zip_p is not None:
            ci, cz = self.zip_p
            dp = s_load.real * (ci + 2.0 * cz * vm)
        if self.zip_q is not None:
            ci, cz = self.zip_q
            dq = s_load.imag * (ci + 2.0 * cz * vm)
        return dp + 1j * dq

    def _mismatch(self, v: np.ndarray, s_load: np.ndarray, s_bus: np.ndarray | None = None) -> np.ndarray:
        """Stacked real mismatch [P(pv, pq); Q(pq)] (unknowns x steps) [pu].

        ``s_bus`` (generation minus load) may be passed when it does not depend on the voltage.
        """
        if s_bus is None:
            vm = np.abs(v)
            gen = self.s_gen[:, None] if v.ndim == 2 else self.s_gen
            s_bus = gen - self._sload(s_load, vm)
        mis = self.ybus @ v
        np.conjugate(mis, out=mis)
        mis *= v
        mis -= s_bus
        npv, npvpq = len(self.pv), len(self._pvpq)
        return np.concatenate((mis.real[:npvpq], mis.imag[npv:npvpq]), axis=0)

    def _newton_one(self, v: np.ndarray, s_load: np.ndarray) -> tuple[np.ndarray, bool, int]:
        """Full Newton-Raphson of a single step from ``v``; returns (v, converged, iterations)."""
        tol = self.tolerance_mva / self.base_mva
        npvpq = len(self._pvpq)
        v = v.copy()
        for it in range(self.max_newton_iterations + 1):
            f = self._mismatch(v, s_load)
            if not np.all(np.isfinite(f)):
                return v, False, it
            if np.max(np.abs(f), initial=0.0) < tol:
                return v, True, it
            if it == self.max_newton_iterations:
                break
            vm = np.abs(v)
            jac = _jacobian(self.ybus, v, self._pvpq, self.pq, self._dsload_dvm(s_load, vm))
            try:
                dx = -splu(jac, permc_spec="MMD_AT_PLUS_A").solve(f)
            except RuntimeError:
                return v, False, it
            va = np.angle(v)
            va[self._pvpq] += dx[:npvpq]
            vm[self.pq] += dx[npvpq:]
            v = vm * np.exp(1j * va)
        return v, False, self.max_newton_iterations

    def _chord(self, lu: _LevelLU, v: np.ndarray, s_load: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Chord iterations of a block of steps; returns (v, converged, iterations).

        Columns stay in place (slices, no copies) while most steps are still iterating;
        converged or stalled steps get a zero right-hand side. Once fewer than 60 % are
        left, the remaining columns are gathered into a smaller block.
        """
        tol = self.tolerance_mva / self.base_mva
        npv, npvpq = len(self.pv), len(self._pvpq)
        n_steps = v.shape[1]
        converged = np.zeros(n_steps, dtype=bool)
        iterations = np.zeros(n_steps, dtype=np.int64)
        active = np.arange(n_steps)  # chunk columns held in `cur`
        running = np.ones(n_steps, dtype=bool)  # of `cur`'s columns: still iterating
        prev = np.full(n_steps, np.inf)
        constant_power = self.zip_p is None and self.zip_q is None
        cur, cur_s = v, s_load
        cur_bus = self.s_gen[:, None] - s_load if constant_power else None
        vm_pv = np.abs(v[:npv]) if npv else None
        for it in range(self.max_chord_iterations + 1):
            f = self._mismatch(cur, cur_s, cur_bus)
            err = np.max(np.abs(f), axis=0) if f.shape[0] else np.zeros(cur.shape[1])
            finite = np.isfinite(err)
            done = running & finite & (err < tol)
            converged[active[done]] = True
            iterations[active[running]] = it
            stall = running & ~done & (~finite | ((err > _STALL_RATIO * prev[active]) & (it > _FREE_STEPS)))
            running &= ~done & ~stall
            if it == self.max_chord_iterations or not running.any():
                break
            prev[active[running]] = err[running]
            if running.mean() < 0.6:
                if cur is not v:
                    v[:, active] = cur
                keep = running
                active = active[keep]
                cur = v[:, active]
                cur_s = s_load[:, active]
                cur_bus = cur_bus[:, keep] if cur_bus is not None else None
                f = f[:, keep]
                vm_pv = vm_pv[:, keep] if vm_pv is not None else None
                running = np.ones(len(active), dtype=bool)
            elif not running.all():
                f *= running[None, :]
            dx = lu.solve(f)
            # V <- V (1 - j dVa) (1 - dVm/Vm): first-order exact; only the converged mismatch,
            # evaluated exactly, defines the solution. PV magnitudes are reset to their setpoint.
            cur[:npvpq] *= 1.0 - 1j * dx[:npvpq]
            cur[npv:npvpq] *= 1.0 - dx[npvpq:] / np.abs(cur[npv:npvpq])
            if vm_pv is not None:
                cur[:npv] *= vm_pv / np.abs(cur[:npv])
        if cur is not v:
            v[:, active] = cur
        return v, converged, iterations


    def _iterate(self, lu: _LevelLU | None, v: np.ndarray, s_load: np.ndarray,
                 v0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Chord iterations of many columns with one factorisation, then a full Newton-Raphson for each column the
        chord did not converge (from its chord end when usable, else from ``v0``, then from ``v0`` again).

        Returns the voltages, converged flags, iterations per column and the number of full Newton fallbacks.
        The slack rows of ``v`` are each column's slack voltages and are kept.
        """
        if lu is not None:
            v, ok, its = self._chord(lu, v, s_load)
        else:
            ok = np.zeros(v.shape[1], dtype=bool)
            its = np.zeros(v.shape[1], dtype=np.int64)
        bad = np.flatnonzero(~ok)
        for j in bad:
            v0j = v0.copy()
            v0j[self.ref] = v[self.ref, j]  # a column's slack voltage is its own (tap changers)
            usable = np.all(np.isfinite(v[:, j])) and np.abs(v[:, j]).max() < 2.0
            start = v[:, j] if usable else v0j
            vj, okj, itj = self._newton_one(start, s_load[:, j])
            if not okj and usable:
                vj, okj, itj2 = self._newton_one(v0j, s_load[:, j])
                itj += itj2
            v[:, j] = vj
            ok[j] = okj
            its[j] += itj
        return v, ok, its, len(bad)
    def _iterate_controlled(self, lu: _LevelLU | None, v: np.ndarray, s_load: np.ndarray, v0: np.ndarray,
                            start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]:
        """:meth:`_iterate`, then the on-load tap changers operated as pandapower's ``run_control`` does for
        each column on its own: every round moves each tap whose voltage is outside its band one position and
        solves again the columns that moved (from their last voltages), until none moves. Each column starts
        from the net's tap positions, or from ``start`` (changers x columns).

        Returns what :meth:`_iterate` returns and the tap positions (changers x columns; None without changers).
        """
        taps = self.taps
        if taps is None:
            return (*self._iterate(lu, v, s_load, v0), None)
        pos = np.repeat(taps.tap0[:, None], v.shape[1], axis=1) if start is None else start.astype(np.int64)
        v_ref = self.v_start[taps.ref_row]
        v[taps.ref_row] = v_ref[:, None] * taps.slack_scale(pos)
        v, ok, its, fallbacks = self._iterate(lu, v, s_load, v0)
        for _ in range(MAX_CONTROL_ROUNDS):
            vm = np.where(ok[None, :], np.abs(v[taps.bus_row]), np.nan)
            new = taps.next_taps(vm, pos)
            moved = np.flatnonzero((new != pos).any(axis=0))
            if not len(moved):
                break
            pos[:, moved] = new[:, moved]
            v_moved = v[:, moved]  # a copy: the moved columns from their last voltages, at their new taps
            v_moved[taps.ref_row] = v_ref[:, None] * taps.slack_scale(pos[:, moved])
            vv, okk, itk, fb = self._iterate(lu, v_moved, s_load[:, moved], v0)
            v[:, moved], ok[moved] = vv, okk
            its[moved] += itk
            fallbacks += fb
        else:
            log.debug("tap changers: %d control rounds reached", MAX_CONTROL_ROUNDS)
        return v, ok, its, fallbacks, pos

    def _solve_columns(self, s_load: np.ndarray, cols: np.ndarray, out: _Columns, *, v_init: np.ndarray | None = None,
                       start: np.ndarray | None = None, factor: _Factor | None = None) -> _Factor | None:
        """Solve the steps ``cols`` of ``s_load`` into ``out``: grouped in load order, one Jacobian factorisation
        at the median step of each group of at most ``chunk_size`` steps (large grids solve a group in smaller
        blocks so that one block of voltages stays a few tens of MB). Tap changers start from the net's
        positions, or from ``start`` (changers x all steps).

        Returns the factorisation and its voltages when the steps made one group (else None); given back as
        ``factor`` for steps of the same group solved again, it spares a new one."""
        chunks, n_groups = self._chunks(s_load, cols)
        lu: _LevelLU | None = None
        v0 = self.v_start
        if factor is not None and n_groups == 1:
            lu, v0 = factor
            chunks = [(chunk, False) for chunk, _ in chunks]
        for chunk, new_group in chunks:
            s_chunk = s_load[:, chunk]
            if new_group:
                v0, got = self._group_factor(s_load[:, int(chunk[len(chunk) // 2])])
                assert not isinstance(got, list)
                lu = got
            v = np.repeat(v0[:, None], len(chunk), axis=1) if v_init is None else v_init[:, chunk].copy()
            out.put(chunk, *self._iterate_controlled(lu, v, s_chunk, v0, None if start is None else start[:, chunk]))
        return (lu, v0) if n_groups == 1 else None

    def _sequence_taps(self, s_load: np.ndarray, out: _Columns, *, cyclic: bool, length: int,
                       solved_from: np.ndarray | None = None, factor: _Factor | None = None) -> None:
        """Operate the tap changers step after step: each step starts from the positions the previous step
        ended at (the first step from the net's positions, or on a ``cyclic`` axis, a design day that
        repeats, from the last step's), and moves them as :meth:`_iterate_controlled` does. The steps are
        consecutive sequences of ``length`` steps, each carried on its own (solved together).

        ``out`` holds every step solved from the net's positions (or from ``solved_from``, changers x steps).
        The path of positions is first predicted
        step after step from those voltages (the controlled voltage taken as inversely proportional to the
        tap ratio); then every step whose start position differs is solved again from it, and again from
        the position its previous step really ended at, until every step starts where its previous one
        ended (steps whose start did not change keep their solution).
        """
        taps = self.taps
        assert taps is not None and out.taps is not None
        n_steps = out.v.shape[1]
        n_tap, n_seq = len(taps), n_steps // length
        vm = np.where(out.converged[None, :], np.abs(out.v[taps.bus_row]), np.nan)

        def starts_of(path: np.ndarray) -> np.ndarray:
            """Where every step starts: where the step before it in its sequence ends."""
            p = path.reshape(n_tap, n_seq, length)
            first = p[:, :, -1] if cyclic else np.repeat(taps.tap0[:, None], n_seq, axis=1)
            return np.concatenate([first[:, :, None], p[:, :, :-1]], axis=2).reshape(n_tap, n_steps)

        # the predicted path of each sequence (twice round a cyclic day, so that its first step starts from its last)
        u = vm * taps.ratio(out.taps)
        path = np.concatenate([taps.predict_path(u[:, a:a + length], out.taps[:, a + length - 1] if cyclic else None,
                                                 cyclic=cyclic) for a in range(0, n_steps, length)], axis=1)
        solved_from = np.repeat(taps.tap0[:, None], n_steps, axis=1) if solved_from is None else solved_from.copy()
        start = starts_of(path)
        resolved = 0
        for _ in range(length + 1):
            cols = np.flatnonzero((start != solved_from).any(axis=0))
            if not len(cols):
                break
            self._solve_columns(s_load, cols, out, v_init=out.v, start=start, factor=factor)
            solved_from[:, cols] = start[:, cols]
            resolved += len(cols)
            start = starts_of(out.taps)
        else:
            log.warning("tap changers: the positions carried from step to step did not settle after %d passes; "
                        "the last pass is reported", length + 1)
        log.debug("tap changers carried from step to step: %d step(s) solved again", resolved)

    def _solve_into(self, s_load: np.ndarray, out: _Columns, *, v_init: np.ndarray | None, start: np.ndarray | None,
                    taps_in_sequence: str | None, length: int) -> None:
        """Every step of ``s_load`` into ``out`` (see :meth:`solve`): the whole grid as one system, or island
        by island (:meth:`islands`), each carrying its own tap changers from step to step."""
        islands = self.islands()
        cols = np.arange(s_load.shape[1])
        if islands is None:
            factor = self._solve_columns(s_load, cols, out, v_init=v_init, start=start)
            if taps_in_sequence is not None and out.taps is not None and length > 1:
                self._sequence_taps(s_load, out, cyclic=taps_in_sequence == "cyclic", length=length,
                                    solved_from=start, factor=factor)
            return
        n_steps = s_load.shape[1]
        parts = [_Columns(v=np.empty((len(isl.rows), n_steps), dtype=complex), converged=np.zeros(n_steps, bool),
                          iterations=np.zeros(n_steps, dtype=np.int64),
                          taps=None if isl.model.taps is None else np.empty((len(isl.taps), n_steps), np.int64))
                 for isl in islands]
        factors = self._solve_island_columns(s_load, cols, parts, v_init=v_init, start=start)
        out.converged[:] = True
        for k, (isl, part) in enumerate(zip(islands, parts, strict=True)):
            if taps_in_sequence is not None and part.taps is not None and length > 1:
                isl.model._sequence_taps(s_load[isl.rows], part, cyclic=taps_in_sequence == "cyclic", length=length,
                                         solved_from=None if start is None else start[isl.taps],
                                         factor=None if factors is None else factors[k])
            out.v[isl.rows] = part.v
            out.converged &= part.converged
            np.maximum(out.iterations, part.iterations, out=out.iterations)
            out.fallbacks += part.fallbacks
            if part.taps is not None and out.taps is not None:
                out.taps[isl.taps] = part.taps

    def _chunks(self, s_load: np.ndarray, cols: np.ndarray) -> tuple[list[tuple[np.ndarray, bool]], int]:
        """The steps ``cols`` grouped in load order (one factorisation per group of at most ``chunk_size``),
        each group cut into blocks of a few million voltage entries: (block, first block of its group) and the
        number of groups."""
        n = self.n_internal
        order = cols[np.argsort(s_load[:, cols].real.sum(axis=0), kind="stable")]
        block = min(self.chunk_size, max(64, _CHUNK_ENTRIES // n))
        n_groups = max(1, math.ceil(len(order) / self.chunk_size))
        chunks: list[tuple[np.ndarray, bool]] = []
        for group in np.array_split(order, n_groups):
            parts = np.array_split(group, max(1, math.ceil(len(group) / block)))
            chunks += [(part, k == 0) for k, part in enumerate(parts) if len(part)]
        return chunks, n_groups

    def _group_factor(self, s_mid: np.ndarray) -> tuple[np.ndarray, _LevelLU | None | list[_LevelLU | None]]:
        """The Jacobian factorisation of a group of steps at its median step ``s_mid`` (solved by a full
        Newton-Raphson; the preparatory voltages when it fails): its voltages and the factorisation, one per
        island when the grid is split (the islands' blocks of the whole Jacobian)."""
        v_mid, ok_mid, _ = self._newton_one(self.v_start, s_mid)
        v0 = v_mid if ok_mid else self.v_start
        try:
            jac = _jacobian(self.ybus, v0, self._pvpq, self.pq, self._dsload_dvm(s_mid, np.abs(v0)))
        except (RuntimeError, np.linalg.LinAlgError):
            jac = None
        islands = self.islands()
        if islands is None:
            try:
                return v0, None if jac is None else _LevelLU(jac)
            except (RuntimeError, np.linalg.LinAlgError):
                return v0, None
        return v0, self.island_factors(jac)

    def island_factors(self, jac: sp.spmatrix | None) -> list[_LevelLU | None]:
        """The factorisation of every island's block of a Jacobian of the whole grid (None where it fails)."""
        islands = self.islands()
        assert islands is not None
        jac = None if jac is None else sp.csr_matrix(jac)
        lus: list[_LevelLU | None] = []
        for isl in islands:
            try:
                lus.append(None if jac is None else _LevelLU(jac[isl.unknowns][:, isl.unknowns].tocsc()))
            except (RuntimeError, np.linalg.LinAlgError):
                lus.append(None)
        return lus

    def _iterate_each(self, lus: list[_LevelLU | None], v: np.ndarray, s_load: np.ndarray, v0: np.ndarray,
                      start: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]]:
        """:meth:`_iterate_controlled` island by island with each island's factorisation ``lus`` (``v``, ``s_load``,
        ``v0`` and ``start`` of the whole grid): what it returns for every island."""
        islands = self.islands()
        assert islands is not None
        return [isl.model._iterate_controlled(lu, v[isl.rows], s_load[isl.rows], v0[isl.rows],
                                              None if start is None or not len(isl.taps) else start[isl.taps])
                for isl, lu in zip(islands, lus, strict=True)]

    def island_of_rows(self) -> np.ndarray | None:
        """The island (group, see :meth:`islands`) of every internal bus row; None when the grid is not split."""
        islands = self.islands()
        if islands is None:
            return None
        out = np.empty(self.n_internal, dtype=np.int64)
        for k, isl in enumerate(islands):
            out[isl.rows] = k
        return out

    def _solve_island_columns(self, s_load: np.ndarray, cols: np.ndarray, parts: list[_Columns], *,
                              v_init: np.ndarray | None, start: np.ndarray | None) -> list[_Factor] | None:
        """:meth:`_solve_columns` island by island: one full Newton-Raphson and Jacobian of the whole grid per
        group of steps, then each island iterated (and its tap changers operated) on its block alone, so that an
        island that converges or keeps its taps is not iterated again with the others. Returns each island's
        factorisation and voltages when the steps made one group (else None)."""
        islands = self.islands()
        assert islands is not None
        chunks, n_groups = self._chunks(s_load, cols)
        v0 = self.v_start
        lus: list[_LevelLU | None] = [None] * len(islands)
        for chunk, new_group in chunks:
            if new_group:
                v0, got = self._group_factor(s_load[:, int(chunk[len(chunk) // 2])])
                assert isinstance(got, list)
                lus = got
            v = np.repeat(v0[:, None], len(chunk), axis=1) if v_init is None else v_init[:, chunk]
            each = self._iterate_each(lus, v, s_load[:, chunk], v0, None if start is None else start[:, chunk])
            for part, res in zip(parts, each, strict=True):
                part.put(chunk, *res)
        if n_groups != 1:
            return None
        return [(lu, v0[isl.rows]) for lu, isl in zip(lus, islands, strict=True)]

    def islands(self) -> list[_Island] | None:
        """The parts of the grid joined by no branch, each with its own supply, as solvers of their own (None
        when the grid is one part or ``split_islands`` is off).

        The admittance matrix of such a grid is block-diagonal: every part is solved exactly as in the whole,
        but a part converges, and its tap changers move, without the others being iterated again. A grid of
        many substations' areas is then solved in time that grows with its size, not with size x areas.
        """
        if not self.split_islands:
            return None
        if self._islands is None:
            n = self.n_internal
            pattern = sp.csr_matrix((np.ones(self.ybus.nnz), self.ybus.indices, self.ybus.indptr), shape=(n, n))
            n_comp, label = connected_components(pattern, directed=False)
            # the parts packed into groups of about ``island_buses`` buses (in the order of their first bus): a
            # group is iterated as one block-diagonal system, so many small parts do not each pay the fixed
            # cost of a batched step
            size = np.bincount(label, minlength=n_comp)
            limit = ISLAND_BUSES if self.island_buses is None else self.island_buses
            first = np.full(n_comp, n)
            np.minimum.at(first, label, np.arange(n))
            group = np.zeros(n_comp, dtype=np.int64)
            g, filled = 0, 0
            for k in np.argsort(first, kind="stable"):
                if filled and filled + size[k] > limit:
                    g, filled = g + 1, 0
                group[k] = g
                filled += int(size[k])
            of_row = group[label]
            self._islands = [] if g == 0 else [self._island(np.flatnonzero(of_row == k)) for k in range(g + 1)]
        return self._islands or None

    def _island(self, rows: np.ndarray) -> _Island:
        """The solver of the internal ``rows`` (ascending, so its buses keep the order [PV, PQ, slack])."""
        local = np.full(self.n_internal, -1, dtype=np.int64)
        local[rows] = np.arange(len(rows))
        pv, pq, ref = (local[r][local[r] >= 0] for r in (self.pv, self.pq, self.ref))
        taps = None
        tap_idx = np.zeros(0, dtype=np.int64)
        if self.taps is not None:
            tap_idx = np.flatnonzero(local[self.taps.ref_row] >= 0)
            if len(tap_idx):
                t = self.taps
                taps = dataclasses.replace(
                    t, trafos=t.trafos[tap_idx], ref_row=local[t.ref_row[tap_idx]], bus_row=local[t.bus_row[tap_idx]],
                    **{f: getattr(t, f)[tap_idx] for f in ("branch_row", "tap0", "tap_min", "tap_max", "neutral", "step",
                                                            "vm_lower", "vm_upper")})
        zips = {name: None if z is None else (z[0][rows], z[1][rows])
                for name, z in (("zip_p", self.zip_p), ("zip_q", self.zip_q))}
        # its branches, bus ids and elements, so that the island is a grid of its own (results, injections)
        br = np.flatnonzero(local[self.branch_from] >= 0)
        local_br = np.full(len(self.branch_from), -1, dtype=np.int64)
        local_br[br] = np.arange(len(br))

        def remap(where: np.ndarray, to: np.ndarray) -> np.ndarray:
            return np.where(where >= 0, to[np.maximum(where, 0)], -1)

        lookup = remap(self.bus_lookup, local)
        branches = {}
        for name, b in self.branches.items():
            internal = remap(b.internal, local_br)
            keep = (internal >= 0).any(axis=1)
            branches[name] = dataclasses.replace(b, index=b.index[keep], internal=internal[keep],
                                                 rating_kv_mva=b.rating_kv_mva[keep])
        elements = {name: dataclasses.replace(e, internal_bus=remap(e.internal_bus, local))
                    for name, e in self.elements.items()}
        if taps is not None:
            taps.branch_row = local_br[taps.branch_row]
        model = dataclasses.replace(
            self, ybus=self.ybus[rows][:, rows].tocsr(), yf=self.yf[br][:, rows].tocsr(),
            yt=self.yt[br][:, rows].tocsr(), branch_from=local[self.branch_from[br]],
            branch_to=local[self.branch_to[br]], bus_lookup=lookup,
            bus_ids=self.bus_ids[lookup[self.bus_ids.to_numpy()] >= 0], branches=branches, elements=elements,
            pv=pv, pq=pq, ref=ref, v_start=self.v_start[rows], s_gen=self.s_gen[rows], s_load=self.s_load[rows],
            base_kv=self.base_kv[rows], taps=taps, split_islands=False, _pvpq=np.r_[pv, pq], _islands=None, **zips)
        npv, npvpq = len(self.pv), len(self._pvpq)
        pvpq_rows = rows[rows < npvpq]
        pq_rows = rows[(rows >= npv) & (rows < npvpq)]
        return _Island(rows=rows, model=model, taps=tap_idx, unknowns=np.r_[pvpq_rows, npvpq + pq_rows - npv])

    def solve(
        self,
        s_load: np.ndarray,
        *,
        keep_voltages: bool = False,
        v_init: np.ndarray | None = None,
        trial_loads: bool = False,
        taps_in_sequence: str | None = None,
        sequence_length: int | None = None,
        tap_start: np.ndarray | None = None,
    ) -> BatchResult:
        """Solve every step of a load matrix from :meth:`load_injections`.

        Parameters
        ----------
        s_load
            Complex internal bus load per step [pu] (n_internal x n_steps).
        keep_voltages
            Also return the complex internal voltages (``BatchResult.v_internal``).
        v_init
            Start voltages of every step (n_internal x n_steps) [pu], e.g. a linear
            prediction; default: the solution of each chunk's median step.
        trial_loads
            The steps are trial loads of a search that expects some of them to lie past voltage
            collapse (hosting capacity): steps that did not converge are logged at DEBUG. By
            default they are a finding about the grid and logged as a WARNING.
        taps_in_sequence
            None: every step's tap changers start from the net's positions (independent steps, as
            ``pandapower.runpp(net, run_control=True)`` on each). ``"carry"``: the steps are a time
            series, each starting from the positions the previous step ended at (the first from the net's).
            ``"cyclic"``: the same on a design day that repeats (the first step starts from the last's).
        sequence_length
            With ``taps_in_sequence``: the steps are consecutive time series of this many steps each (e.g. one
            design day at several load levels), each carried on its own; default: one series of every step.
        tap_start
            Tap positions every step is first solved from (changers x n_steps), e.g. a prediction of where the
            step before it ends; default: the net's positions. With ``taps_in_sequence`` the steps are then
            carried as described whatever the first guess; without, each step starts from it.

        Returns
        -------
        BatchResult
            Voltages, loadings, convergence per step.
        """
        t0 = time.perf_counter()
        n = self.n_internal
        if s_load.ndim != 2 or s_load.shape[0] != n:
            raise DataError(f"s_load must have shape ({n}, n_steps), got {s_load.shape}")
        if taps_in_sequence not in (None, "carry", "cyclic"):
            raise DataError(f"taps_in_sequence must be None, 'carry' or 'cyclic', got {taps_in_sequence!r}")
        n_steps = s_load.shape[1]
        length = n_steps if sequence_length is None else int(sequence_length)
        if length < 1 or n_steps % length:
            raise DataError(f"sequence_length {sequence_length} must divide the {n_steps} steps")
        out = _Columns(
            v=np.empty((n, n_steps), dtype=complex), converged=np.zeros(n_steps, dtype=bool),
            iterations=np.zeros(n_steps, dtype=np.int64),
            taps=None if self.taps is None else np.empty((len(self.taps), n_steps), dtype=np.int64),
        )
        start = None if tap_start is None or self.taps is None else np.asarray(tap_start, dtype=np.int64)
        self._solve_into(s_load, out, v_init=v_init, start=start, taps_in_sequence=taps_in_sequence, length=length)
        v_all, converged, iterations, taps_all, newton_fallback = out.v, out.converged, out.iterations, out.taps, out.fallbacks
        v_keep = v_all.copy() if keep_voltages else None
        result = self._results(v_all, converged, iterations, s_load, taps_all)
        if v_keep is not None:
            v_keep[:, ~converged] = np.nan
            result.v_internal = v_keep
        result.solve_s = time.perf_counter() - t0
        if newton_fallback:
            log.debug("batched load flow: %d step(s) needed a full Newton-Raphson", newton_fallback)
        if not converged.all():
            log.log(
                logging.DEBUG if trial_loads else logging.WARNING,
                "batched load flow: %d of %d step(s) did not converge (first: step %d); their results are NaN",
                int((~converged).sum()),
                n_steps,
                int(np.flatnonzero(~converged)[0]),
            )
        return result

    def solve_blocks(
        self,
        loads: Callable[[np.ndarray], np.ndarray],
        totals: np.ndarray,
        *,
        block_columns: int,
        trial_loads: bool = False,
        starts: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Iterator[tuple[np.ndarray, BatchResult]]:
        """Solve many steps whose load matrix is never held whole: one block of columns at a time.

        The steps are grouped and factorised as :meth:`solve` groups them (sorted by total
        load, one Jacobian at the median step of each group of ``chunk_size``), but each
        group is iterated and turned into results ``block_columns`` steps at a time, so
        memory is bounded by the block, not by the number of steps.

        Parameters
        ----------
        loads
            Internal bus load of the given step positions [pu] (n_internal x len(positions)).
        totals
            Total active load of every step [pu], the order in which steps are grouped.
        block_columns
            Most steps solved and returned at once [-].
        trial_loads
            As in :meth:`solve`.
        starts
            Tap positions each of the given step positions starts from (changers x len(positions)), e.g.
            where the step before it in a time series ended; default: the net's positions.
        Yields
        ------
        tuple of numpy.ndarray and BatchResult
            The step positions of the block and their results (without internal voltages).
        """
        totals = np.asarray(totals, dtype=float)
        n_steps = len(totals)
        if block_columns < 1:
            raise DataError(f"block_columns must be >= 1, got {block_columns}")
        order = np.argsort(totals, kind="stable")
        n_groups = max(1, math.ceil(n_steps / self.chunk_size))
        failed = 0
        for group in np.array_split(order, n_groups):
            if not len(group):
                continue
            mid = group[len(group) // 2 : len(group) // 2 + 1]
            v0, lu = self._group_factor(loads(mid)[:, 0])
            for a in range(0, len(group), block_columns):
                cols = group[a : a + block_columns]
                s_chunk = loads(cols)
                v = np.repeat(v0[:, None], len(cols), axis=1)
                start = None if starts is None or self.taps is None else starts(cols)
                if isinstance(lu, list):
                    ok = np.ones(len(cols), dtype=bool)
                    its = np.zeros(len(cols), dtype=np.int64)
                    pos = None if self.taps is None else np.repeat(self.taps.tap0[:, None], len(cols), axis=1)
                    each = self._iterate_each(lu, v, s_chunk, v0, start)
                    for isl, (vk, okk, itk, _, pk) in zip(self.islands() or [], each, strict=True):
                        v[isl.rows], ok = vk, ok & okk
                        np.maximum(its, itk, out=its)
                        if pk is not None and pos is not None:
                            pos[isl.taps] = pk
                else:
                    v, ok, its, _, pos = self._iterate_controlled(lu, v, s_chunk, v0, start)
                failed += int((~ok).sum())
                yield cols, self._results(v, ok, its, s_chunk, pos)
        if failed:
            log.log(logging.DEBUG if trial_loads else logging.WARNING,
                    "batched load flow: %d of %d step(s) did not converge; their results are NaN", failed, n_steps)

    # ---------------------------------------------------------------------------- results

    def _results(
        self, v: np.ndarray, converged: np.ndarray, iterations: np.ndarray, s_load: np.ndarray,
        taps: np.ndarray | None = None,
    ) -> BatchResult:
        """Voltages, loadings, slack power and losses per step (v is overwritten with NaN where not converged).

        A tap changer's position is read from its column's slack voltage (see :mod:`~charge_planner.grid.oltc`):
        its high-voltage bus is reported at the external grid's voltage and its high-voltage current corrected.
        ``taps`` (changers x steps), when given, is returned as ``tap_pos``.
        """
        v[:, ~converged] = np.nan
        n_steps = v.shape[1]
        bus_pos = self.bus_lookup[self.bus_ids.to_numpy()]
        has = bus_pos >= 0
        vi = np.abs(v)
        scale = None
        if self.taps is not None:
            rows = self.taps.ref_row
            scale = vi[rows] / np.abs(self.v_start[rows])[:, None]
            vi[rows] = np.abs(self.v_start[rows])[:, None] * np.where(np.isnan(scale), np.nan, 1.0)
            if taps is None:
                taps = self.taps.taps_from_scale(np.nan_to_num(scale, nan=1.0))
        vm = np.full((len(self.bus_ids), n_steps), np.nan)
        va = np.full_like(vm, np.nan)
        vm[has] = vi[bus_pos[has]]
        va[has] = np.angle(v[bus_pos[has]], deg=True)
        # branch currents; |S|/(|V| base_kv) of pandapower equals |I| base_mva / base_kv
        i_f = self.yf @ v
        i_t = self.yt @ v
        i_f_abs = np.abs(i_f)
        if scale is not None and self.taps is not None:
            i_f_abs[self.taps.branch_row] *= scale  # the high-voltage current at the real slack voltage
        i_side = (
            i_f_abs * (self.base_mva / self.base_kv[self.branch_from])[:, None],
            np.abs(i_t) * (self.base_mva / self.base_kv[self.branch_to])[:, None],
        )
        loadings: dict[str, np.ndarray] = {}
        for name in ("line", "trafo", "trafo3w"):
            b = self.branches.get(name)
            if b is None:
                loadings[name] = np.zeros((n_steps, 0))
                continue
            out = np.zeros((len(b.index), n_steps))
            for k in range(b.internal.shape[1]):
                rows = b.internal[:, k]
                ok = rows >= 0
                with np.errstate(invalid="ignore"):
                    lk = i_side[int(b.side[k])][rows[ok]] * b.rating_kv_mva[ok, k][:, None]
                out[ok] = np.fmax(out[ok], lk) if k else lk
            out[:, ~converged] = np.nan
            loadings[name] = out.T
        # power drawn from the slack buses: their injection plus their own load
        v_ref = v[self.ref]
        s_ref = v_ref * np.conj(self.ybus[self.ref] @ v) + self._sload(s_load[self.ref], np.abs(v_ref), self.ref)
        p_slack = s_ref.real.sum(axis=0)
        # branch losses: sum over branches of Re(V_f conj(I_f) + V_t conj(I_t))
        n = self.n_internal
        nbr = len(self.branch_from)
        c_f = sp.csr_matrix((np.ones(nbr), (self.branch_from, np.arange(nbr))), shape=(n, nbr))
        c_t = sp.csr_matrix((np.ones(nbr), (self.branch_to, np.arange(nbr))), shape=(n, nbr))
        into = c_f @ i_f + c_t @ i_t
        losses = (v * np.conj(into)).real.sum(axis=0) * self.base_mva
        return BatchResult(
            vm_pu=vm.T,
            va_degree=va.T,
            line_loading_percent=loadings["line"],
            trafo_loading_percent=loadings["trafo"],
            trafo3w_loading_percent=loadings["trafo3w"],
            converged=converged,
            iterations=iterations,
            buses=self.bus_ids,
            lines=self.branches["line"].index if "line" in self.branches else pd.Index([]),
            trafos=self.branches["trafo"].index if "trafo" in self.branches else pd.Index([]),
            trafos3w=self.branches["trafo3w"].index if "trafo3w" in self.branches else pd.Index([]),
            p_slack_mw=p_slack * self.base_mva,
            losses_mw=losses,
            tap_pos=None if taps is None else taps.T.copy(),
            tap_trafos=None if self.taps is None else self.taps.trafos,
        )

    def run(self, n_steps: int, **profiles: Any) -> BatchResult:
        """:meth:`load_injections` then :meth:`solve` (keyword arguments as in :meth:`load_injections`)."""
        return self.solve(self.load_injections(n_steps, **profiles))
