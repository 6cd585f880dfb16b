"""Siting stage: location models and their solvers.

* :class:`CapacitatedSiting` — the planner's model: sites, charger counts per type and year,
  assignment within cut-offs, capacity, budgets, equity floor, grid headroom.
* :class:`SetCovering`, :class:`MaximalCoverage`, :class:`PMedian` — the classic models with
  the same shape (``from_tables`` / ``solve`` / tables keyed by ids / ``summary``).
* :func:`solve` — a sparse :class:`MatrixModel` handed to HiGHS (highspy) or CBC (pulp).
"""

from charge_planner.siting.capacitated import CapacitatedSiting
from charge_planner.siting.coverage import MaximalCoverage
from charge_planner.siting.pmedian import PMedian
from charge_planner.siting.set_covering import SetCovering
from charge_planner.siting.solve import MatrixModel, SolveResult, set_solver_threads, solve

__all__ = ["CapacitatedSiting", "MatrixModel", "MaximalCoverage", "PMedian", "SetCovering", "SolveResult", "set_solver_threads",
           "solve"]
