"""charge_planner: plan public EV charging for Asian cities.

Public API: :func:`load_city`, :func:`plan`, :class:`Plan`, :func:`load_config`, :func:`run_scenarios`.
"""

from __future__ import annotations

# the outputs layer registers the writer behind Plan.save when it is imported
from charge_planner import outputs  # noqa: F401
from charge_planner.city import City, load_city
from charge_planner.config import load_config
from charge_planner.errors import ChargePlannerError
from charge_planner.pipeline import Plan, plan
from charge_planner.scenarios import run_scenarios
from charge_planner.version import __version__

__all__ = ["ChargePlannerError", "City", "Plan", "__version__", "load_city", "load_config", "plan", "run_scenarios"]
