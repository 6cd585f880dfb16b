"""The blockwise search and refinement of the EV hosting level (see :mod:`.adoption`).

The EV load is linear in the adoption factor ``a``: the complex bus load at ``a`` is
``s(0) + a (s(1) - s(0))``, so every trial factor and step is one column of a batched load flow.
The columns are solved a block at a time (:meth:`BatchPowerFlow.solve_blocks`, one factorisation per
group of columns) and each block is reduced at once to one margin per target (the city and every
DT), so memory stays at a few hundred MB whatever the grid's size. The first crossing of every target
within the grid of factors is refined by bracketing (regula falsi with bisection steps). The
refinement examines, per target, only the steps whose linear crossing within the grid bracket is near
its earliest one, and spends at most :data:`MAX_REFINE_COLUMNS` load-flow columns: the city first,
then the DTs in order of their crossing; the later ones keep the linear crossing within the grid of
factors and are flagged (``refined`` False in the result).

The on-load tap changers are carried from step to step as in the plan's time series when the searched
axis is a day (up to 96 steps, every step searched; a design day repeats, so its first step starts where
its last ends): the whole day is solved at every factor of the grid and at every trial of the city's
factor (several days in one batched solve, :meth:`HostingCheck.day_blocks`), and each column of a DT's
refinement starts from where the step before it ends at its factor. That path of positions is known
when solved, or when the nearest solved factors on both sides share one (the controlled voltage falls as
the EV load grows, so every factor between them moves the taps alike); otherwise it is predicted from
their voltages interpolated linearly in the factor (counted: ``tap_paths_predicted``). On a longer axis
(the highest hour of each hour of the day, from different days) every column starts from the net's
stored positions.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet
from pandapower.topology import create_nxgraph

from charge_planner.errors import DataError
from charge_planner.grid.fastflow import BatchPowerFlow
from charge_planner.grid.timeseries import build_injections, step_hours

log = logging.getLogger(__name__)

__all__ = [
    "BLOCK_ENTRIES",
    "MAX_REFINE_COLUMNS",
    "TOLERANCE",
    "HostingCheck",
    "HostingSeries",
    "dt_of_buses",
    "search_crossings",
    "search_steps",
]

#: Internal-bus entries of the days solved together for the tap changers' paths (complex voltages, a few
#: arrays of that size at once: some hundreds of MB at most) [-].
DAY_ENTRIES = 2_000_000
#: Relative width of the bracket at which the refinement of a crossing stops [-].
TOLERANCE = 0.002
#: Most refinement rounds (each one batched load flow over every open bracket).
MAX_ROUNDS = 8
#: Internal-bus and limit entries of one block of the search's load flows (about 16 bytes each, some
#: 20 arrays of that size at once: a few hundred MB) [-].
BLOCK_ENTRIES = 1_000_000
#: Most load-flow columns of the refinement (a column solves every limit of the grid at one factor and
#: step); the targets are refined in order of their crossing, the city first, and those still open when
#: it is spent keep the linear crossing within their bracket (the result says how many) [-].
MAX_REFINE_COLUMNS = 5_000
#: Refinement rounds a target is expected to need, for the column budget [-].
ROUNDS_PER_TARGET = 4
#: A step whose linear crossing (within the grid bracket) lies more than this share of the bracket's
#: width above the target's earliest one is not examined by the refinement [-].
STEP_SLACK = 0.5


# ------------------------------------------------------------------------------------- the grid check


@dataclass
class HostingSeries:
    """The grid check's inputs at ``a = 1``: time axis, base-load factor, EV load and PV per bus."""

    index: pd.DatetimeIndex
    base_load_factor: np.ndarray
    ev_kw: pd.DataFrame
    pv_kw: pd.DataFrame
    vm_min_pu: float
    vm_max_pu: float
    max_loading_percent: float
    ev_power_factor: float = 1.0
    #: the tap changers' position at the end of every step in the plan's time series at ``a = 1``
    #: (changers x steps), for an axis longer than a day: each searched step starts where the step before it
    #: ended there (None: from the net's positions)
    tap_path: np.ndarray | None = None


def island_series(series: HostingSeries, model: BatchPowerFlow, taps: np.ndarray) -> HostingSeries:
    """The inputs of one island of a split grid (:meth:`BatchPowerFlow.islands`): its buses' EV load and PV,
    and its tap changers' path (``taps``: their positions among the grid's changers)."""

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        ids = frame.columns.to_numpy(dtype=np.int64)
        inside = (ids >= 0) & (ids < len(model.bus_lookup))
        inside[inside] = model.bus_lookup[ids[inside]] >= 0
        return frame.loc[:, inside]

    path = None if series.tap_path is None else np.asarray(series.tap_path)[taps]
    return dataclasses.replace(series, ev_kw=own(series.ev_kw), pv_kw=own(series.pv_kw), tap_path=path)


def grid_dts(dts: pd.Series, model: BatchPowerFlow) -> np.ndarray:
    """The DTs of a grid (or of one island of it) whose limits the search watches, sorted: the transformers
    that feed some bus (``dts``: :func:`dt_of_buses`) among the model's."""
    trafos = model.branches["trafo"].index if "trafo" in model.branches else pd.Index([])
    return np.array(sorted(int(d) for d in set(dts) if d >= 0 and d in trafos), dtype=int)


def search_steps(series: HostingSeries) -> np.ndarray:
    """Steps the search examines: all of a design day; for a longer axis, for every hour of the day the
    step of the highest net load (base + EV - PV) at ``a = 1`` (the EV profiles repeat every day)."""
    n = len(series.index)
    if n <= 96:
        return np.arange(n)
    net_load = series.base_load_factor.astype(float).copy()
    total_ev = series.ev_kw.to_numpy(float).sum(axis=1) if series.ev_kw.shape[1] else np.zeros(n)
    total_pv = series.pv_kw.to_numpy(float).sum(axis=1) if series.pv_kw.shape[1] else np.zeros(n)
    scale = max(float(total_ev.max()), 1e-9)
    net_load = net_load + (total_ev - total_pv) / scale
    hours = np.asarray(series.index.hour)
    return np.array(sorted(int(np.flatnonzero(hours == h)[np.argmax(net_load[hours == h])])
                           for h in np.unique(hours)))

def dt_of_buses(net: pandapowerNet) -> pd.Series:
    """The distribution transformer (trafo index) of every bus, -1 for buses of none.

    ``net.bus["dt"]`` when the grid has it (synthesised grids); otherwise the LV buses
    (below 1 kV) connected to a transformer's LV side without passing another transformer.
    """
    if "dt" in net.bus.columns:
        return net.bus["dt"].fillna(-1).astype(int)
    out = pd.Series(-1, index=net.bus.index, name="dt")
    lv = net.bus["vn_kv"].astype(float) < 1.0
    graph = create_nxgraph(net, include_trafos=False, include_trafo3ws=False)
    for t, lv_bus in net.trafo["lv_bus"].items():
        if lv.get(lv_bus, False) and lv_bus in graph:
            buses = list(nx.node_connected_component(graph, lv_bus))
            out.loc[buses] = int(t)
    return out.where(lv, -1)

class HostingCheck:
    """The batched grid check at any (factor, step) pair, as margins per limit (> 0: violated)."""

    def __init__(self, net: pandapowerNet, series: HostingSeries, model: BatchPowerFlow | None = None) -> None:
        self.series = series
        # ``model``: the grid's batched load flow, or one island of it (with :func:`island_series`)
        self.model = BatchPowerFlow.from_net(net) if model is None else model
        n = len(series.index)
        base = build_injections(self.model, n, base_load_factor=series.base_load_factor,
                                pv_kw=series.pv_kw if series.pv_kw.shape[1] else None,
                                ev_power_factor=series.ev_power_factor)
        full = build_injections(self.model, n, base_load_factor=series.base_load_factor,
                                ev_kw=series.ev_kw if series.ev_kw.shape[1] else None,
                                pv_kw=series.pv_kw if series.pv_kw.shape[1] else None,
                                ev_power_factor=series.ev_power_factor)
        self.s0 = base.s_load
        self.ds = full.s_load - base.s_load
        dts = dt_of_buses(net)
        self.dt_ids = grid_dts(dts, self.model)
        bus_ids = self.model.bus_ids
        in_service = net.bus["in_service"].reindex(bus_ids).fillna(False).astype(bool).to_numpy()
        bus_pos = np.flatnonzero(in_service)
        bus_dt = dts.reindex(bus_ids).fillna(-1).astype(int).to_numpy()[bus_pos]
        rows = [pd.DataFrame({"element": "bus", "id": bus_ids[bus_pos], "kind": "undervoltage", "dt": bus_dt}),
                pd.DataFrame({"element": "bus", "id": bus_ids[bus_pos], "kind": "overvoltage", "dt": bus_dt})]
        probe = self.model.solve(self.s0[:, :1], trial_loads=True)
        self.lines, self.trafos, self.trafos3w = probe.lines, probe.trafos, probe.trafos3w
        line_dt = np.full(len(self.lines), -1)
        if len(self.lines):
            fb = dts.reindex(net.line.loc[self.lines, "from_bus"]).fillna(-1).astype(int).to_numpy()
            tb = dts.reindex(net.line.loc[self.lines, "to_bus"]).fillna(-1).astype(int).to_numpy()
            line_dt = np.where(fb == tb, fb, -1)
        rows.append(pd.DataFrame({"element": "line", "id": self.lines, "kind": "overload", "dt": line_dt}))
        trafo_dt = np.where(np.isin(np.asarray(self.trafos), self.dt_ids), np.asarray(self.trafos), -1)
        rows.append(pd.DataFrame({"element": "trafo", "id": self.trafos, "kind": "overload", "dt": trafo_dt}))
        rows.append(pd.DataFrame({"element": "trafo3w", "id": self.trafos3w, "kind": "overload",
                                  "dt": np.full(len(self.trafos3w), -1)}))
        self.table = pd.concat([r for r in rows if len(r)], ignore_index=True)
        self.table["dt"] = self.table["dt"].astype(int)
        self.bus_pos = bus_pos
        self.n_columns_solved = 0
        # the tap changers carried from step to step round the searched day, as in the time series
        step_h = step_hours(series.index)
        self.taps_mode: str | None = None
        if self.model.taps is not None and 1 < n <= 96:
            self.taps_mode = "cyclic" if abs(step_h * n - 24.0) < 1e-9 else "carry"
        # a longer axis (a year): every searched step starts where the time series at a = 1 had the taps the
        # step before (solving the whole year at every factor would cost a year's load flow each)
        self.year_taps: np.ndarray | None = None
        if self.model.taps is not None and self.taps_mode is None and series.tap_path is not None:
            expected = (len(self.model.taps), n)
            if np.shape(series.tap_path) != expected:
                raise DataError(f"tap_path has shape {np.shape(series.tap_path)}; it needs one position per on-load "
                                f"tap changer and step, {expected} (e.g. run_time_series(...).batch.tap_pos.T)")
            self.year_taps = np.asarray(series.tap_path, dtype=np.int64)
        self._paths: dict[float, tuple[np.ndarray, np.ndarray]] = {}  # factor -> (end positions, voltage x ratio)
        self._predicted: dict[float, np.ndarray] = {}  # factor -> predicted end positions
        self.day_solves = 0

    # ---- the tap changers' path through the day at an adoption factor

    def exact_paths(self, factors: np.ndarray) -> None:
        """Solve the whole day at each factor not yet known, its tap changers carried from step to step
        (as :func:`~charge_planner.grid.timeseries.run_time_series` does), and keep the positions each
        step ends at."""
        taps = self.model.taps
        if self.taps_mode is None or taps is None:
            return
        new = [float(f) for f in np.unique(np.round(np.asarray(factors, float), 12)) if float(f) not in self._paths]
        for _ in self.day_blocks(np.array(new)):
            pass

    def day_blocks(self, factors: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Margins of every step of the day at each factor (its tap changers carried from step to step), the
        days of several factors solved together: yields (factors of the block, margins (factors x steps,
        limits, factor-major), converged), and keeps each day's tap positions."""
        taps = self.model.taps
        assert self.taps_mode is not None and taps is not None
        n = len(self.series.index)
        factors = np.round(np.asarray(factors, float), 12)
        # within a few million voltage entries
        per_group = max(1, DAY_ENTRIES // (n * self.model.n_internal))
        for a in range(0, len(factors), per_group):
            group = factors[a:a + per_group]
            s = np.concatenate([self.s0 + self.ds * f for f in group], axis=1)
            # first solved from where the days solved so far predict each step to start (beyond them, from the
            # nearest one's positions)
            start = None
            if self._paths:
                known = np.array(sorted(self._paths))
                guesses = [self._bracketed(float(f))[0] for f in group]
                start = np.concatenate([self._start_of(
                    g if g is not None else self._paths[float(known[np.argmin(np.abs(known - f))])][0], np.arange(n))
                    for g, f in zip(guesses, group, strict=True)], axis=1)
            batch = self.model.solve(s, keep_voltages=True, trial_loads=True, taps_in_sequence=self.taps_mode,
                                     sequence_length=n, tap_start=start)
            assert batch.tap_pos is not None and batch.v_internal is not None
            path = batch.tap_pos.T.astype(np.int64)
            u = np.abs(batch.v_internal[taps.bus_row]) * taps.ratio(path)
            batch.v_internal = None
            for k, f in enumerate(group):
                self._paths[float(f)] = (path[:, k * n:(k + 1) * n], u[:, k * n:(k + 1) * n])
            self.day_solves += len(group)
            self.n_columns_solved += s.shape[1]
            m, ok = self._margins_of(batch)
            yield group, m, ok

    def _path(self, f: float) -> np.ndarray:
        """End positions of every step of the day at factor ``f``: known when solved, or when the nearest
        solved factors on both sides share one path (the controlled voltage falls as the EV load grows,
        so every factor between them moves the taps alike); otherwise predicted from their voltages
        interpolated linearly in the factor."""
        f = float(np.round(f, 12))
        if f in self._paths:
            return self._paths[f][0]
        if f in self._predicted:
            return self._predicted[f]
        path, exact = self._bracketed(f)
        if path is None:
            self.exact_paths(np.array([f]))
            return self._paths[f][0]
        if not exact:
            self._predicted[f] = path
        return path

    def _bracketed(self, f: float) -> tuple[np.ndarray | None, bool]:
        """The path at ``f`` from the nearest solved days on both sides (None without both): theirs when they
        share it (exact), else predicted from their voltages interpolated linearly in the factor."""
        known = np.array(sorted(self._paths))
        below, above = known[known <= f], known[known >= f]
        if not len(below) or not len(above):
            return None, False
        (p_lo, u_lo), (p_hi, u_hi) = self._paths[float(below[-1])], self._paths[float(above[0])]
        if np.array_equal(p_lo, p_hi):
            return p_lo, True
        taps = self.model.taps
        assert taps is not None
        w = (f - below[-1]) / (above[0] - below[-1])
        return taps.predict_path(u_lo + w * (u_hi - u_lo), p_lo[:, -1] if self.taps_mode == "cyclic" else None,
                                 cyclic=self.taps_mode == "cyclic"), False

    def _start_of(self, path: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Where each step starts on a path of the day: where the step before it ends."""
        taps = self.model.taps
        assert taps is not None
        return taps.starts(path, steps, cyclic=self.taps_mode == "cyclic")

    def _starts(self, factors: np.ndarray, steps: np.ndarray) -> Any:
        """The tap positions each (factor, step) column starts from: where the step before it ends."""
        taps = self.model.taps
        if taps is not None and self.year_taps is not None:
            at_one = taps.starts(self.year_taps, np.asarray(steps), cyclic=False)
            return lambda cols: at_one[:, cols]
        if self.taps_mode is None or taps is None:
            return None
        start = np.empty((len(taps), len(factors)), dtype=np.int64)
        for f in np.unique(factors):
            sel = np.flatnonzero(factors == f)
            start[:, sel] = self._start_of(self._path(float(f)), steps[sel])
        return lambda cols: start[:, cols]

    def _margins_of(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        s = self.series
        vm = batch.vm_pu[:, self.bus_pos]
        with np.errstate(invalid="ignore"):
            under = (s.vm_min_pu - vm) / s.vm_min_pu
            over = (vm - s.vm_max_pu) / s.vm_max_pu
            lim = s.max_loading_percent
            parts = [under, over, (batch.line_loading_percent - lim) / lim,
                     (batch.trafo_loading_percent - lim) / lim, (batch.trafo3w_loading_percent - lim) / lim]
        m = np.concatenate([p for p in parts if p.shape[1]], axis=1)
        ok = batch.converged
        m[~ok] = np.nan
        # a bus the converged flow leaves unsupplied (NaN) carries no limit
        m[ok] = np.nan_to_num(m[ok], nan=-np.inf)
        return m, ok

    def margin_blocks(self, factors: np.ndarray, steps: np.ndarray,
                      ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Margins (columns x limits) and convergence (columns) at the pairs (factors[i], steps[i]), a
        block of columns at a time: yields (positions, margins, converged), each block holding about
        :data:`BLOCK_ENTRIES` internal-bus and limit entries.

        A margin is relative: (vm_min - vm) / vm_min, (vm - vm_max) / vm_max, (loading - max) / max;
        NaN where the load flow did not converge.
        """
        factors = np.asarray(factors, float)
        steps = np.asarray(steps, dtype=np.int64)
        width = max(4, BLOCK_ENTRIES // (self.model.n_internal + len(self.table)))
        s0_tot = self.s0.real.sum(axis=0)
        ds_tot = self.ds.real.sum(axis=0)
        totals = s0_tot[steps] + ds_tot[steps] * factors

        def loads(cols: np.ndarray) -> np.ndarray:
            return self.s0[:, steps[cols]] + self.ds[:, steps[cols]] * factors[cols][None, :]

        starts = self._starts(np.round(factors, 12), steps)
        for cols, batch in self.model.solve_blocks(loads, totals, block_columns=width, trial_loads=True,
                                                   starts=starts):
            self.n_columns_solved += len(cols)
            m, ok = self._margins_of(batch)
            yield cols, m, ok



# ------------------------------------------------------------------------------------- the search


def _first_crossing(factors: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every column of g (factors x targets, NaN = violated), the grid bracket of its first
    violation: positions (lo, hi) with hi = -1 when none."""
    bad = np.isnan(g) | (g > 0)
    hit = bad.any(axis=0)
    hi = np.where(hit, np.argmax(bad, axis=0), -1)
    lo = np.where(hi > 0, hi - 1, -1)
    return lo, hi

def search_crossings(check: HostingCheck, steps: np.ndarray, factors: np.ndarray, *,
                     max_columns: int | None = None,
                     ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Run the search; returns the per-target result (city row -1 and every DT), the limits
    violated at a = 0 and counts (``columns_solved``, ``unrefined``, ``refine_columns`` and the
    refinement's budget ``max_columns``).

    Every load flow is solved a block of columns at a time and reduced at once to one margin per
    target, so memory does not grow with factors x steps x limits. ``max_columns`` (default
    :data:`MAX_REFINE_COLUMNS`) bounds the load-flow columns of the refinement: a round that would
    exceed it is not run, and the targets still open keep the linear crossing within their bracket
    (``refined`` False in the result)."""
    max_columns = MAX_REFINE_COLUMNS if max_columns is None else int(max_columns)
    table = check.table
    n_steps = len(steps)
    k = len(factors)
    n_lim = len(table)
    # a = 0 at every search step: the limits violated with no EV
    m0 = np.empty((n_steps, n_lim))
    ok0 = np.zeros(n_steps, bool)
    if check.taps_mode is not None:
        # the tap changers carried round the day (its every step is searched): the whole day at each factor
        for _, mm, okb in check.day_blocks(np.zeros(1)):
            m0[:], ok0[:] = mm, okb
    else:
        for cols, mm, okb in check.margin_blocks(np.zeros(n_steps), steps):
            m0[cols] = mm
            ok0[cols] = okb
    if not ok0.all():
        raise DataError("the grid's load flow does not converge with the base load alone (no EV): the hosting "
                        "level cannot be found; check the grid model")
    already = np.nanmax(m0, axis=0) > 0  # limits violated with no EV
    watched = ~already
    target_ids = np.concatenate([[-1], check.dt_ids])
    n_t = len(target_ids)
    dt_col = table["dt"].to_numpy()
    # target of each limit: its DT (position in target_ids) and the city (position 0)
    dt_target = np.searchsorted(check.dt_ids, dt_col) + 1
    has_dt = np.isin(dt_col, check.dt_ids) & watched
    watched_pos = np.flatnonzero(watched)
    dpos = np.flatnonzero(has_dt)
    d_order = np.argsort(dt_target[dpos], kind="stable")
    tgt_sorted = dt_target[dpos][d_order]
    starts = np.flatnonzero(np.r_[True, tgt_sorted[1:] != tgt_sorted[:-1]]) if len(dpos) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(dpos)] if len(dpos) else np.zeros(0, int)
    seg_of = np.repeat(np.arange(len(starts)), ends - starts) if len(dpos) else np.zeros(0, int)

    def target_margins(flat: np.ndarray, want_arg: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """flat: (columns, limits) -> (columns, targets) max of the watched limits' margins, and the
        argmax limit when asked for."""
        g = np.full((flat.shape[0], n_t), -np.inf)
        arg = np.full((flat.shape[0], n_t), -1) if want_arg else None
        if len(watched_pos):
            wf = np.nan_to_num(flat[:, watched_pos], nan=np.inf)  # a step that did not converge: every target violated
            best = np.argmax(wf, axis=1)
            g[:, 0] = wf[np.arange(len(wf)), best]
            if arg is not None:
                arg[:, 0] = watched_pos[best]
            if len(dpos):
                vs = np.nan_to_num(flat[:, dpos[d_order]], nan=np.inf)
                seg_max = np.maximum.reduceat(vs, starts, axis=1)
                g[:, tgt_sorted[starts]] = seg_max
                if arg is not None:
                    # the first limit of each target's segment that reaches the segment's maximum
                    r, c = np.nonzero(vs == seg_max[:, seg_of])
                    cell, at = np.unique(r * len(starts) + seg_of[c], return_index=True)
                    first = np.zeros((len(vs), len(starts)), dtype=np.int64)
                    first.ravel()[cell] = c[at]
                    arg[:, tgt_sorted[starts]] = dpos[d_order[first]]
        g[np.isnan(flat).all(axis=1)] = np.inf
        return g, arg

    # the grid of factors at every search step, a block of columns at a time
    g = np.empty((k, n_steps, n_t))
    g[0] = target_margins(m0)[0]
    cols_f = np.repeat(factors[1:], n_steps)
    cols_s = np.tile(steps, k - 1)
    step_pos = np.tile(np.arange(n_steps), k - 1)
    fac_pos = np.repeat(np.arange(1, k), n_steps)
    arg_grid = np.full((k, n_steps, n_t), -1, dtype=np.int32)  # the limit that reaches each margin
    ok_grid = np.ones((k, n_steps), dtype=bool)
    def day_columns() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The grid's columns (factor-major, every step of the day) from whole days."""
        done = 0
        for grp, mm, okb in check.day_blocks(factors[1:]):
            yield np.arange(done, done + len(grp) * n_steps), mm, okb
            done += len(grp) * n_steps

    blocks = day_columns() if check.taps_mode is not None else check.margin_blocks(cols_f, cols_s)
    for cols, mm, okb in blocks:
        gb, ab = target_margins(mm, want_arg=True)
        assert ab is not None
        g[fac_pos[cols], step_pos[cols]] = gb
        arg_grid[fac_pos[cols], step_pos[cols]] = ab
        ok_grid[fac_pos[cols], step_pos[cols]] = okb
    g_max = g.max(axis=1)  # (k, targets)
    log.debug("EV hosting level: %d factors x %d steps solved (%d columns)", k, n_steps, check.n_columns_solved)
    lo_i, hi_i = _first_crossing(factors, g_max)
    active = hi_i > 0
    lo = np.where(active, factors[np.maximum(lo_i, 0)], np.nan)
    hi = np.where(active, factors[np.maximum(hi_i, 0)], np.nan)
    glo = np.where(active, g_max[np.maximum(lo_i, 0), np.arange(n_t)], np.nan)
    ghi = np.where(active, g_max[np.maximum(hi_i, 0), np.arange(n_t)], np.nan)
    # steps that matter for each target: those violated at the bracket's upper end whose linear
    # crossing within the bracket is not far above the target's earliest one
    crit: list[np.ndarray] = [np.array([], int)] * n_t
    for t in np.flatnonzero(active):
        g_hi_s, g_lo_s = g[hi_i[t], :, t], g[lo_i[t], :, t]
        bad = np.flatnonzero(g_hi_s > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            at = np.where(np.isfinite(g_hi_s[bad]) & np.isfinite(g_lo_s[bad]) & (g_lo_s[bad] <= 0),
                          -g_lo_s[bad] / (g_hi_s[bad] - g_lo_s[bad]), 0.0)
        crit[t] = bad[at <= at.min() + STEP_SLACK]
    # what fails first at each bracket's upper end: the limit of the largest margin over the critical
    # steps (the first such step), or the load flow when that column did not converge; kept up to date
    # as the refinement moves the upper end
    hi_arg = np.full(n_t, -1)
    hi_fail = np.zeros(n_t, bool)
    for t in np.flatnonzero(active):
        vals = g[hi_i[t], crit[t], t]
        best = int(crit[t][int(np.argmax(vals))])
        hi_arg[t] = arg_grid[hi_i[t], best, t]
        hi_fail[t] = not ok_grid[hi_i[t], best] or bool(np.isinf(g[hi_i[t], best, t]))
    del g, arg_grid
    tlo, thi = glo.copy(), ghi.copy()  # the true margins at the ends (glo, ghi are Illinois-weighted)
    side = np.zeros(n_t, int)  # Illinois: which end was kept last time

    def evaluate(ts: np.ndarray, key: np.ndarray, want_arg: bool = False,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Largest margin of each target ``ts[j]`` over its critical steps at factor ``key[j]``; with
        ``want_arg``, the limit that reaches it and whether its load flow failed. Columns shared
        between targets that ask for the same (factor, step) are solved once."""
        ent_j = np.concatenate([np.full(len(crit[t]), j) for j, t in enumerate(ts)]).astype(int)
        ent_s = np.concatenate([steps[crit[t]] for t in ts]).astype(int)
        ent_f = key[ent_j]
        pairs, ent_pair = np.unique(np.column_stack([ent_f, ent_s]), axis=0, return_inverse=True)
        ent_pair = ent_pair.ravel()
        ent_val = np.full(len(ent_j), -np.inf)
        ent_arg = np.full(len(ent_j), -1)
        ent_ok = np.ones(len(ent_j), bool)
        row_of = np.full(len(pairs), -1)
        by_pair = np.argsort(ent_pair, kind="stable")
        bounds = np.searchsorted(ent_pair[by_pair], np.arange(len(pairs) + 1))
        for cols, mm, okb in check.margin_blocks(pairs[:, 0], pairs[:, 1].astype(int)):
            gg, arg = target_margins(mm, want_arg)
            row_of[cols] = np.arange(len(cols))
            ents = np.concatenate([by_pair[bounds[c]:bounds[c + 1]] for c in cols])
            rows = row_of[ent_pair[ents]]
            tt = ts[ent_j[ents]]
            ent_val[ents] = gg[rows, tt]
            if arg is not None:
                ent_arg[ents] = arg[rows, tt]
                ent_ok[ents] = okb[rows]
            row_of[cols] = -1
        # per target: the largest value over its steps, the first step (ascending) that reaches it
        order = np.lexsort((np.arange(len(ent_j)), -ent_val, ent_j))
        first = order[np.r_[True, ent_j[order][1:] != ent_j[order][:-1]]]
        val = np.full(len(ts), -np.inf)
        val[ent_j[first]] = ent_val[first]
        a_out = np.full(len(ts), -1)
        a_out[ent_j[first]] = ent_arg[first]
        ok_out = np.ones(len(ts), bool)
        ok_out[ent_j[first]] = ent_ok[first]
        return val, a_out, ok_out, len(pairs)

    refine_columns = 0
    # the targets the column budget refines: the city first, then the DTs in order of their crossing
    # within the grid bracket, each counted at ROUNDS_PER_TARGET rounds of its critical steps
    unrefined = np.zeros(n_t, bool)
    cand = np.flatnonzero(active)
    with np.errstate(invalid="ignore", divide="ignore"):
        x0 = np.where(ghi[cand] > glo[cand], lo[cand] - glo[cand] * (hi[cand] - lo[cand]) / (ghi[cand] - glo[cand]),
                      lo[cand])
    cand = cand[np.lexsort((np.nan_to_num(x0, nan=np.inf), cand != 0))]
    rank = np.full(n_t, n_t)
    rank[cand] = np.arange(len(cand))
    n_crit = np.array([len(c) for c in crit])
    cost = np.cumsum(ROUNDS_PER_TARGET * n_crit[cand])
    over = (cost > max_columns) & (cand != 0)
    unrefined[cand[over]] = True
    queue = list(cand[over])  # the next targets in line, admitted when the budget allows
    active_budget = active & ~unrefined
    for _round in range(MAX_ROUNDS):
        open_ = active_budget & (hi - lo > TOLERANCE * hi)
        if queue and _round <= MAX_ROUNDS - ROUNDS_PER_TARGET:
            # what the open targets are not expected to need (two more rounds each) goes to the next ones
            spare = max_columns - refine_columns - 2 * int(n_crit[open_].sum())
            while queue and ROUNDS_PER_TARGET * n_crit[queue[0]] <= spare:
                t = queue.pop(0)
                spare -= ROUNDS_PER_TARGET * n_crit[t]
                unrefined[t] = False
                active_budget[t] = True
                open_[t] = hi[t] - lo[t] > TOLERANCE * hi[t]
        if not open_.any():
            break
        ts = np.flatnonzero(open_)
        # never beyond the budget: the latest targets in line wait out of a round that would pass it
        ts = ts[np.argsort(rank[ts], kind="stable")]
        fit = np.cumsum(n_crit[ts]) <= max(max_columns - refine_columns, int(n_crit[0]))
        fit[ts == 0] = True
        unrefined[ts[~fit]] = True
        active_budget[ts[~fit]] = False
        ts = np.sort(ts[fit])
        if not len(ts):
            break
        a_, b_, fa, fb = lo[ts], hi[ts], glo[ts], ghi[ts]
        w = b_ - a_
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(np.isfinite(fb) & (fb > fa), a_ - fa * (b_ - a_) / (fb - fa), 0.5 * (a_ + b_))
        trial = np.where(np.isfinite(x), np.minimum(np.maximum(x, a_ + 0.05 * w), b_ - 0.05 * w), 0.5 * (a_ + b_))
        key = np.round(trial, 9)
        n_pairs = len({(float(f), int(st)) for f, t in zip(key, ts, strict=True) for st in steps[crit[t]]})
        if not n_pairs:
            break
        log.debug("EV hosting level: refinement round %d, %d open target(s), %d column(s)", _round + 1, len(ts),
                  n_pairs)
        # the city's trial factor gets its own path of the tap changers through the day; a DT's comes from
        # the nearest factors solved so far (the city's included)
        check.exact_paths(key[ts == 0])
        val, arg_val, ok_val, n_solved = evaluate(ts, key, want_arg=True)
        refine_columns += n_solved
        up = val > 0
        t_up, t_dn = ts[up], ts[~up]
        hi[t_up], ghi[t_up], thi[t_up] = key[up], val[up], val[up]
        hi_arg[t_up] = arg_val[up]
        hi_fail[t_up] = ~ok_val[up] | np.isinf(val[up])
        glo[t_up[side[t_up] == 1]] *= 0.5
        side[t_up] = 1
        lo[t_dn], glo[t_dn], tlo[t_dn] = key[~up], val[~up], val[~up]
        halve = t_dn[(side[t_dn] == -1) & np.isfinite(ghi[t_dn])]
        ghi[halve] *= 0.5
        side[t_dn] = -1
    # the crossing within the final bracket (linear), and the limit that fails first at its upper end
    factor = np.where(active, hi, np.nan)
    fin = active & np.isfinite(tlo) & np.isfinite(thi) & (thi > tlo)
    factor[fin] = np.clip(lo[fin] - tlo[fin] * (hi[fin] - lo[fin]) / (thi[fin] - tlo[fin]), lo[fin], hi[fin])
    failing = hi_fail & active
    limits = np.where(active & ~failing, hi_arg, -1)
    out = pd.DataFrame({"target": target_ids, "factor": factor, "limit_pos": limits, "fails": failing & active,
                        "refined": ~unrefined})
    already_rows = table[already].reset_index(drop=True)
    return out, already_rows, {"columns_solved": check.n_columns_solved, "unrefined": int(unrefined.sum()),
                               "refine_columns": refine_columns, "max_columns": max_columns,
                               "tap_days_solved": check.day_solves, "tap_paths_predicted": len(check._predicted)}
