"""Road network stage (being split into modules; see travel.py for the full stage)."""

from charge_planner.network.travel import *  # noqa: F403
from charge_planner.network.travel import _as_list, _EdgeTable, _packing, _routing_network  # noqa: F401
