"""Solving a mixed-integer model: HiGHS through highspy by default, CBC through pulp as fallback.

Models are assembled as sparse matrices (:class:`MatrixModel`) so that building them is
vectorised, then handed to a solver in one call. Whatever the solver, the result reports
the real termination status, the objective, the best proven bound and the relative gap:
a run stopped by a limit is never called optimal, and a bound is reported only when the
solver proved it.

The work of a solve is capped by deterministic limits (branch-and-bound nodes, interior-point
iterations), so the same model gives the same plan on a fast or a loaded machine; the
wall-clock limit is a safety stop only, and a run it stopped says so (``wall_clock_stop``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from charge_planner.errors import InfeasibleError, SolverError

log = logging.getLogger(__name__)

SolverName = Literal["highs", "cbc"]


@dataclass
class MatrixModel:
    """A mixed-integer linear programme ``max/min c.x  s.t.  row_lower <= A x <= row_upper``.

    Parameters
    ----------
    c
        Objective coefficients, one per column.
    a
        Constraint matrix (any scipy sparse format), rows x columns.
    row_lower, row_upper
        Row bounds (``-inf``/``inf`` for none).
    col_lower, col_upper
        Column bounds.
    integer
        Boolean mask of integer columns.
    maximize
        Sense of the objective.
    col_names, row_names
        Optional labels, used in logs and for the CBC fallback.
    """

    c: np.ndarray
    a: sp.spmatrix | sp.sparray
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    maximize: bool = True
    col_names: list[str] | None = None
    row_names: list[str] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (int(self.a.shape[0]), int(self.a.shape[1]))


@dataclass
class SolveResult:
    """What a solver returned.

    Attributes
    ----------
    status
        "optimal" (proven within the requested gap), "feasible" (a solution whose gap is not
        proven within the requested one: a work limit ended the search, or the solver gave no
        bound), "time_limit" (a solution, the wall-clock safety stop ended the search),
        "infeasible", "unbounded", "no_solution" or "error".
    solver
        Solver that produced it.
    x
        Column values (None when no solution was found).
    objective
        Objective of the solution.
    bound
        Best proven bound on the objective (upper bound when maximising); NaN when none
        was proven.
    gap
        Relative gap ``|bound - objective| / max(|objective|, 1e-9)`` (infinite without a bound).
    time_s
        Wall time of the solve [s].
    wall_clock_stop
        True when the wall-clock safety stop ended (part of) the solve: the plan may then
        depend on the machine's speed and load.
    """

    status: str
    solver: str
    x: np.ndarray | None
    objective: float
    bound: float
    gap: float
    time_s: float
    rows: int = 0
    cols: int = 0
    integer_cols: int = 0
    log: list[str] = field(default_factory=list)
    row_dual: np.ndarray | None = None
    wall_clock_stop: bool = False

    @property
    def has_solution(self) -> bool:
        """True when a feasible solution is available."""
        return self.x is not None

    def report(self) -> dict[str, Any]:
        """``solver``, ``status``, ``objective``, ``best_bound``, ``gap`` (None where not finite),
        ``solve_time_s`` and ``wall_clock_stop``: the solver part of a model's ``summary()``."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {"solver": self.solver, "status": self.status, "objective": num(self.objective),
                "best_bound": num(self.bound), "gap": num(self.gap), "solve_time_s": round(self.time_s, 3),
                "wall_clock_stop": bool(self.wall_clock_stop)}


def relative_gap(objective: float, bound: float) -> float:
    """``|bound - objective| / max(|objective|, 1e-9)``; infinite when either is not finite."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    return abs(bound - objective) / max(abs(objective), 1e-9)


def lagrangian_bound(model: MatrixModel, row_dual: np.ndarray) -> float:
    """A bound on the objective of ``model`` (upper when maximising, lower when minimising) from
    any row multipliers, valid for the LP relaxation and so for every integer solution.

    For multipliers ``pi`` (signs cleaned so that a row without an upper bound gets no positive
    and one without a lower bound no negative multiplier), every feasible ``x`` has
    ``c.x = (c - A^T pi).x + pi.(A x) <= max over the column box of (c - A^T pi).x + max over
    [row_lower, row_upper] of pi.r``. This holds for *any* ``pi``, so approximate duals (an
    interior point stopped early or without crossover, a first-order method) give a valid
    bound, only a looser one. Both signs of ``row_dual`` are tried (solvers differ in their sign
    convention) and the tighter bound is returned, widened by the floating-point error of the
    sums. Infinite when the box or the rows are unbounded where the multipliers need a limit.
    """
    sense = 1.0 if model.maximize else -1.0
    c = sense * np.asarray(model.c, dtype=float)
    a = sp.csr_matrix(model.a)
    best = math.inf
    for sign in (1.0, -1.0):
        pi = sign * np.nan_to_num(np.asarray(row_dual, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)
        pi = np.where(np.isfinite(model.row_upper), pi, np.minimum(pi, 0.0))
        pi = np.where(np.isfinite(model.row_lower), pi, np.maximum(pi, 0.0))
        row_part = np.where(pi > 0, pi * np.where(np.isfinite(model.row_upper), model.row_upper, 0.0),
                            pi * np.where(np.isfinite(model.row_lower), model.row_lower, 0.0))
        r = c - a.T @ pi
        up_ok = np.isfinite(model.col_upper) | (r <= 0)
        lo_ok = np.isfinite(model.col_lower) | (r >= 0)
        if not (up_ok.all() and lo_ok.all()):
            continue
        col_part = np.where(r > 0, r * np.where(np.isfinite(model.col_upper), model.col_upper, 0.0),
                            r * np.where(np.isfinite(model.col_lower), model.col_lower, 0.0))
        value = float(row_part.sum() + col_part.sum())
        # rounding of the sums: a generous multiple of the machine epsilon times their magnitudes
        box = np.maximum(np.abs(np.where(np.isfinite(model.col_upper), model.col_upper, 0.0)),
                         np.abs(np.where(np.isfinite(model.col_lower), model.col_lower, 0.0)))
        mag = float(np.abs(row_part).sum() + ((np.abs(c) + abs(a).T @ np.abs(pi)) * box).sum())
        best = min(best, value + 1e-10 * mag)
    return sense * best if math.isfinite(best) else sense * math.inf


#: Solver threads of every solve that does not name its own (None: the solver's choice).
_default_threads: int | None = None


def set_solver_threads(threads: int | None) -> None:
    """Limit every later solve in this process to ``threads`` solver threads (None: the solver's choice).

    Parallel runs set 1, so that the runs sharing a machine do not oversubscribe its cores.
    """
    global _default_threads
    if threads is not None and int(threads) < 1:
        raise ValueError(f"solver threads must be at least 1, got {threads}")
    _default_threads = None if threads is None else int(threads)


def solver_threads() -> int | None:
    """The solver threads set by :func:`set_solver_threads` (None: the solver's choice)."""
    return _default_threads


def solve(
    model: MatrixModel,
    solver: SolverName | None = None,
    *,
    time_limit_s: float = 60.0,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    warm_start: np.ndarray | None = None,
    relax: bool = False,
    lp_method: Literal["simplex", "ipm", "pdlp", "choose"] = "choose",
    options: dict[str, Any] | None = None,
    max_nodes: int | None = None,
    lp_iteration_limit: int | None = None,
) -> SolveResult:
    """Solve a :class:`MatrixModel`.

    Parameters
    ----------
    model
        The model.
    solver
        "highs" (default) or "cbc". When HiGHS is not installed, CBC is used and a
        warning is logged.
    time_limit_s
        Wall-clock safety stop [s]. A run it ends is reported as ``status="time_limit"``
        with ``wall_clock_stop=True``: its plan depends on the machine's speed. Cap the work
        with ``max_nodes`` / ``lp_iteration_limit`` for a plan that does not.
    mip_gap
        Relative gap at which the solver may stop.
    threads
        Solver threads (default: :func:`set_solver_threads`' setting, else the solver's choice).
    warm_start
        A feasible solution to start from (HiGHS only).
    relax
        Solve the LP relaxation (integrality dropped); the row duals are returned in
        :attr:`SolveResult.row_dual` (HiGHS only).
    lp_method
        HiGHS LP algorithm for an LP or a relaxation: "simplex", "ipm" (interior point,
        without crossover: fast on large sparse relaxations), "pdlp" (first-order, tolerance
        1e-4: an approximate dual early, also when stopped by the time limit) or "choose".
    options
        Further HiGHS options by name (e.g. ``{"mip_heuristic_effort": 0.2}``).
    max_nodes
        Branch-and-bound node limit (a deterministic work cap; default none). A search it
        ends is "feasible" unless its gap is already within ``mip_gap``.
    lp_iteration_limit
        Iteration limit of an LP or relaxation (interior-point iterations for "ipm", first-order
        iterations for "pdlp", simplex iterations otherwise; HiGHS only). A relaxation it stops returns the dual values
        reached (when HiGHS has them) so that the caller can still derive a valid bound.

    Raises
    ------
    SolverError
        When no solver is available or the solver failed.
    """
    name = solver or "highs"
    if threads is None:
        threads = _default_threads
    if name == "highs":
        try:
            import highspy  # noqa: F401
        except ImportError:
            log.warning("highspy is not installed; falling back to CBC")
            name = "cbc"
    if name == "highs":
        return _solve_highs(
            model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, warm_start=warm_start, relax=relax,
            lp_method=lp_method, options=options, max_nodes=max_nodes, lp_iteration_limit=lp_iteration_limit,
        )
    if relax:
        raise SolverError("the LP relaxation with duals needs the HiGHS solver (pip install highspy)")
    if name == "cbc":
        return _solve_cbc(model, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads, max_nodes=max_nodes)
    raise SolverError(f"unknown solver {name!r}; use 'highs' or 'cbc'")


def _silent_highs(highspy: Any) -> Any:
    """A HiGHS instance with its logging off. The constructor of recent highspy prints a banner
    to the process's standard output before any option can be set; it is sent to the null device."""
    with contextlib.ExitStack() as stack:
        out = sys.__stdout__
        try:
            if out is not None:
                out.flush()
            fd = out.fileno() if out is not None else 1
            saved = os.dup(fd)
        except (OSError, ValueError, AttributeError):  # no real file descriptor (embedded interpreters)
            saved = None
        if saved is not None:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
            stack.callback(os.close, saved)
            stack.callback(os.dup2, saved, fd)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    return h


def _solve_highs(
    model: MatrixModel,
    *,
    time_limit_s: float,
    mip_gap: float,
    threads: int | None,
    warm_start: np.ndarray | None,
    relax: bool = False,
    lp_method: str = "choose",
    options: dict[str, Any] | None = None,
    max_nodes: int | None = None,
    lp_iteration_limit: int | None = None,
) -> SolveResult:
    import highspy

    t0 = time.perf_counter()
    a = sp.csc_matrix(model.a)
    a.sort_indices()
    h = _silent_highs(highspy)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("random_seed", 0)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    for key, value in (options or {}).items():
        if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
            raise SolverError(f"HiGHS option {key}={value!r} was rejected; check its name and type")
    mip = bool(model.integer.any()) and not relax
    if max_nodes is not None and mip:
        h.setOptionValue("mip_max_nodes", int(max_nodes))
    if lp_iteration_limit is not None and not mip:
        key = {"ipm": "ipm_iteration_limit", "pdlp": "pdlp_iteration_limit"}.get(lp_method, "simplex_iteration_limit")
        h.setOptionValue(key, int(lp_iteration_limit))
    if not mip and lp_method != "choose":
        h.setOptionValue("solver", lp_method)
        if lp_method == "ipm":
            h.setOptionValue("run_crossover", "off")
        if lp_method == "pdlp":
            h.setOptionValue("pdlp_optimality_tolerance", 1e-4)
    lp = highspy.HighsLp()
    lp.num_col_ = a.shape[1]
    lp.num_row_ = a.shape[0]
    inf = highspy.kHighsInf
    lp.col_cost_ = np.asarray(model.c, dtype=float)
    lp.col_lower_ = np.where(np.isfinite(model.col_lower), model.col_lower, -inf)
    lp.col_upper_ = np.where(np.isfinite(model.col_upper), model.col_upper, inf)
    lp.row_lower_ = np.where(np.isfinite(model.row_lower), model.row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(model.row_upper), model.row_upper, inf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if mip:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in model.integer
        ]
    lp.sense_ = highspy.ObjSense.kMaximize if model.maximize else highspy.ObjSense.kMinimize
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise SolverError("HiGHS rejected the model (invalid matrix or bounds)")
    if warm_start is not None and mip:
        sol = highspy.HighsSolution()
        sol.col_value = list(np.asarray(warm_start, dtype=float))
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    elapsed = time.perf_counter() - t0
    ms = h.getModelStatus()
    info = h.getInfo()
    has_primal = info.primal_solution_status == 2
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_primal else None
    objective = float(info.objective_function_value) if has_primal else math.nan
    row_dual = None
    if not mip and (info.dual_solution_status == 2 or (lp_method in ("pdlp", "ipm") and info.dual_solution_status >= 1)):
        # duals of a first-order method or of an interior point stopped early are approximate;
        # callers turn them into a valid bound (a Lagrangian value holds for any multipliers)
        row_dual = np.asarray(h.getSolution().row_dual, dtype=float)
    if mip:
        bound = float(info.mip_dual_bound)
    elif lp_method == "ipm" and row_dual is not None:
        # an interior point without crossover ends near, not at, a vertex: its primal objective
        # may lie beyond the optimum (pmed1 of the OR-Library: 5819.0000046 for an optimum of
        # 5819), so the bound is the Lagrangian value of its duals
        bound = lagrangian_bound(model, row_dual)
    elif ms == highspy.HighsModelStatus.kOptimal:
        bound = objective
    else:
        bound = math.nan  # an LP not solved to optimality: its objective bounds nothing
    text = h.modelStatusToString(ms)
    wall = ms == highspy.HighsModelStatus.kTimeLimit
    if ms == highspy.HighsModelStatus.kOptimal:
        st = "optimal"
    elif ms in (highspy.HighsModelStatus.kInfeasible,):
        st = "infeasible"
    elif ms in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        st = "unbounded"
    elif wall:
        st = "time_limit" if has_primal else "no_solution"
    elif ms in (
        highspy.HighsModelStatus.kIterationLimit,
        highspy.HighsModelStatus.kSolutionLimit,
        highspy.HighsModelStatus.kInterrupt,
    ):
        st = "feasible" if has_primal else "no_solution"
    else:
        st = "error" if not has_primal else "feasible"
    gap = relative_gap(objective, bound) if has_primal else math.inf
    if st == "optimal" and mip:
        gap = min(gap, float(info.mip_gap)) if math.isfinite(info.mip_gap) else gap
    if st != "optimal" and mip and has_primal and gap <= mip_gap:
        st = "optimal"  # a limit reached just as the gap closed
    log.info("HiGHS: %s (%s) objective=%.6g bound=%.6g gap=%.4g in %.2f s", st, text, objective, bound, gap, elapsed)
    return SolveResult(
        status=st,
        solver="highs",
        x=x,
        objective=objective,
        bound=bound,
        gap=gap,
        time_s=elapsed,
        rows=a.shape[0],
        cols=a.shape[1],
        integer_cols=int(model.integer.sum()),
        log=[f"HiGHS model status: {text}"],
        row_dual=row_dual,
        wall_clock_stop=wall,
    )


def _solve_cbc(
    model: MatrixModel, *, time_limit_s: float, mip_gap: float, threads: int | None, max_nodes: int | None = None
) -> SolveResult:
    import pulp

    mip = bool(np.asarray(model.integer).any())
    # CBC stops when ``best possible - best <= ratio x max(|best|, |best possible|)``; this ratio
    # makes that guarantee equal to ``mip_gap`` measured against the objective, as reported here
    ratio = mip_gap / (1.0 + mip_gap)
    t0 = time.perf_counter()
    a = sp.csr_matrix(model.a)
    n = a.shape[1]
    prob = pulp.LpProblem("model", pulp.LpMaximize if model.maximize else pulp.LpMinimize)
    xs = [
        prob.add_variable(
            f"x{j}",
            lowBound=None if not np.isfinite(model.col_lower[j]) else float(model.col_lower[j]),
            upBound=None if not np.isfinite(model.col_upper[j]) else float(model.col_upper[j]),
            cat=pulp.LpInteger if model.integer[j] else pulp.LpContinuous,
        )
        for j in range(n)
    ]
    prob += pulp.LpAffineExpression([(xs[j], float(model.c[j])) for j in np.flatnonzero(model.c)])
    for i in range(a.shape[0]):
        lo, hi = a.indptr[i], a.indptr[i + 1]
        expr = pulp.LpAffineExpression([(xs[j], float(v)) for j, v in zip(a.indices[lo:hi], a.data[lo:hi], strict=True)])
        if np.isfinite(model.row_lower[i]) and np.isfinite(model.row_upper[i]) and model.row_lower[i] == model.row_upper[i]:
            prob += expr == float(model.row_lower[i])
            continue
        if np.isfinite(model.row_lower[i]):
            prob += expr >= float(model.row_lower[i])
        if np.isfinite(model.row_upper[i]):
            prob += expr <= float(model.row_upper[i])
    with tempfile.TemporaryDirectory(prefix="cbc-") as tmp:
        log_path = os.path.join(tmp, "cbc.log")
        cbc = _cbc_solver(time_limit_s=time_limit_s, mip_gap=ratio, threads=threads, log_path=log_path,
                          max_nodes=max_nodes)
        prob.solve(cbc)
        try:
            with open(log_path, encoding="utf-8", errors="replace") as fh:
                cbc_log = fh.read()
        except OSError:
            cbc_log = ""
    elapsed = time.perf_counter() - t0
    status = pulp.LpStatus[prob.status]
    sol_status = prob.sol_status
    has_primal = sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    x = np.array([v.value() or 0.0 for v in xs]) if has_primal else None
    objective = float(pulp.value(prob.objective) or 0.0) if has_primal else math.nan
    outcome, logged_bound = _cbc_outcome(cbc_log, maximize=model.maximize)
    wall = outcome.lower().startswith("stopped on time")
    if has_primal:
        bound = _cbc_bound(outcome, logged_bound, objective, maximize=model.maximize, mip=mip, ratio=ratio,
                           pulp_optimal=sol_status == pulp.LpSolutionOptimal)
        gap = relative_gap(objective, bound)
        if gap <= mip_gap * (1 + 1e-9):
            st = "optimal"
        else:
            st = "time_limit" if wall else "feasible"
    elif status == "Infeasible":
        st, bound, gap = "infeasible", math.nan, math.inf
    elif status == "Unbounded":
        st, bound, gap = "unbounded", math.nan, math.inf
    else:
        st, bound, gap = "no_solution", math.nan, math.inf
    log.info("CBC: %s (%s) objective=%.6g bound=%.6g gap=%.4g in %.2f s", st, outcome or status, objective, bound,
             gap, elapsed)
    return SolveResult(
        status=st,
        solver="cbc",
        x=x,
        objective=objective,
        bound=bound,
        gap=gap,
        time_s=elapsed,
        rows=a.shape[0],
        cols=n,
        integer_cols=int(model.integer.sum()),
        log=[f"CBC status: {status}", f"CBC result: {outcome or 'unknown (no log)'}"],
        wall_clock_stop=wall,
    )


_CBC_RESULT = re.compile(r"^Result - (.+?)\s*$", re.MULTILINE)
_CBC_BOUND = re.compile(r"^(Upper|Lower) bound:\s+(\S+)\s*$", re.MULTILINE)


def _cbc_outcome(text: str, *, maximize: bool) -> tuple[str, float]:
    """CBC's final ``Result - ...`` line and the bound of its summary, widened by half a unit of
    its last printed digit (CBC prints it rounded); NaN when not printed or on the wrong side."""
    outcome = _CBC_RESULT.findall(text)
    bound = math.nan
    for kind, value in _CBC_BOUND.findall(text):
        if (kind == "Upper") != maximize:
            continue
        try:
            v = float(value)
        except ValueError:
            continue
        mantissa = value.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(value.lower().split("e")[1]) if "e" in value.lower() else 0
        half_unit = 0.5 * 10.0 ** (exponent - decimals)
        bound = v + half_unit if maximize else v - half_unit
    return (outcome[-1] if outcome else ""), bound


def _cbc_bound(outcome: str, logged: float, objective: float, *, maximize: bool, mip: bool, ratio: float,
               pulp_optimal: bool) -> float:
    """The bound CBC proved, from its result line and summary.

    * a bound in the summary (a search stopped by a limit or within the gap tolerance): that one;
    * a search completed without a ratio gap, or an LP solved: the objective itself;
    * a search completed with a ratio gap: CBC may prune nodes within the gap, so only its
      stopping guarantee holds, ``|bound - best| <= ratio x max(|best|, |bound|)``;
    * otherwise none (NaN).
    """
    sign = 1.0 if maximize else -1.0
    if math.isfinite(logged):
        # a bound on the wrong side of the objective would be a rounding artefact: the objective
        # then is the tighter valid value
        return max(logged, objective) if maximize else min(logged, objective)
    if not pulp_optimal:
        return math.nan
    if not mip:
        return objective
    if outcome.startswith("Optimal solution found") and "gap" not in outcome:
        if ratio <= 0:
            return objective
        return objective + sign * ratio / (1.0 - ratio) * abs(objective)
    return math.nan


def _cbc_solver(*, time_limit_s: float, mip_gap: float, threads: int | None, log_path: str | None = None,
                max_nodes: int | None = None) -> Any:
    """CBC through pulp: a system/`pulp[cbc]` CBC (COIN_CMD) when present, else pulp's bundled binary.
    ``mip_gap`` is passed as CBC's ratio gap; the log goes to ``log_path``."""
    import warnings

    import pulp

    opts: dict[str, Any] = dict(msg=False, timeLimit=time_limit_s, gapRel=mip_gap, threads=threads, logPath=log_path)
    if max_nodes is not None:
        opts["options"] = [f"maxNodes {int(max_nodes)}"]
    coin = pulp.COIN_CMD(**opts)
    if coin.available():
        return coin
    with warnings.catch_warnings():
        # pulp 3.x deprecates its bundled CBC in favour of COIN_CMD; it is still the only CBC many installs have
        warnings.simplefilter("ignore", DeprecationWarning)
        bundled = pulp.PULP_CBC_CMD(**opts)
    if not bundled.available():
        raise SolverError("CBC is not available: install it with `pip install pulp[cbc]`, or use the HiGHS solver")
    return bundled


def require_solution(result: SolveResult, *, what: str) -> np.ndarray:
    """Return the solution vector or raise a clear error saying why there is none."""
    if result.x is not None:
        return result.x
    if result.status == "infeasible":
        raise InfeasibleError(f"{what}: the model is infeasible; relax the budget or targets")
    raise SolverError(
        f"{what}: {result.solver} found no solution ({result.status}) in {result.time_s:.1f} s; "
        "raise siting.time_limit_s or reduce the number of candidates"
    )
