"""charge_planner: plan public EV charging for Asian cities.

Public API: :func:`load_city`, :func:`plan`, :class:`Plan`, :func:`load_config`.
"""

from __future__ import annotations

__version__ = "0.1.0"

# the outputs layer registers the writer behind Plan.save when it is imported
from charge_planner import outputs  # noqa: E402, F401
from charge_planner.city import City, load_city  # noqa: E402
from charge_planner.config import load_config  # noqa: E402
from charge_planner.errors import ChargePlannerError  # noqa: E402
from charge_planner.pipeline import Plan, plan  # noqa: E402

__all__ = ["ChargePlannerError", "City", "Plan", "__version__", "load_city", "load_config", "plan"]
