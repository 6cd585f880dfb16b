"""Error tree of charge_planner.

Every error a user can cause derives from :class:`ChargePlannerError`. Its message is
one line that names the file, field or element at fault and says how to fix it; the
command-line interface prints it as is and exits with status 2.
"""

from __future__ import annotations


class ChargePlannerError(Exception):
    """Base class of every error raised for bad input or an impossible request."""


class ConfigError(ChargePlannerError):
    """A city.toml (or scenario override) is malformed or inconsistent."""


class DataError(ChargePlannerError):
    """An input data file is missing, unreadable, empty or in the wrong form."""


class InfeasibleError(ChargePlannerError):
    """An optimisation model has no feasible solution; the message names the binding cause."""


class SolverError(ChargePlannerError):
    """A solver is missing, crashed or returned no usable solution."""


class GridError(ChargePlannerError):
    """A grid model is invalid (islanded buses, no external grid) or a load flow failed."""


class StageNotBuiltError(ChargePlannerError):
    """A requested option belongs to a pipeline stage that is not built yet."""


class BrowserError(ChargePlannerError):
    """Chromium is missing, did not start, or a page operation failed or timed out."""


class MapError(ChargePlannerError):
    """The map cannot be built or made to work offline."""


class OutputError(ChargePlannerError):
    """An output file could not be written (e.g. a PDF was asked for and no browser is installed)."""
