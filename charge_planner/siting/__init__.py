"""Siting stage: location models and their solvers."""

from charge_planner.siting.models import CapacitatedSiting
from charge_planner.siting.solve import MatrixModel, SolveResult, solve

__all__ = ["CapacitatedSiting", "MatrixModel", "SolveResult", "solve"]
