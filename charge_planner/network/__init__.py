"""Road network stage: projection, speeds, snapping, sparse travel-time tables and isochrones.

The road graph is an osmnx-style ``networkx.MultiDiGraph`` (loaders: :mod:`charge_planner.osm`).

* :mod:`~charge_planner.network.graph`: :func:`prepare_graph` projects it to a metric CRS, sets
  ``speed_kph`` and ``travel_time_s`` on every edge and keeps the largest strongly connected
  component; :func:`lonlat_bounds`, :func:`check_metric_crs`, :func:`utm_crs_for`.
* :mod:`~charge_planner.network.snap`: :func:`snap_to_edges` snaps points to the nearest *edge*
  (their position along the street and the perpendicular access distance); :func:`snap_points`
  snaps to the nearest node.
* :mod:`~charge_planner.network.travel`: :func:`travel_table` computes the sparse demand x site
  table of travel times within each demand row's cut-off (bounded multi-source Dijkstra over the
  reversed graph, in spatially compact batches).
* :mod:`~charge_planner.network.isochrones`: :func:`isochrones` draws the area from which a site
  is reachable within given minutes.

:func:`id_positions` (from :mod:`charge_planner.ids`) turns the id columns of a travel table into
row positions.
"""

from charge_planner.ids import id_positions
from charge_planner.network.graph import (
    CRS_AREA_MARGIN_DEG,
    DEFAULT_SPEED_KPH,
    FALLBACK_SPEEDS_KPH,
    MAX_CRS_SCALE_ERROR,
    TIME_RESOLUTION_S,
    EdgeTable,
    check_metric_crs,
    graph_arrays,
    lonlat_bounds,
    parse_maxspeed,
    prepare_graph,
    utm_crs_for,
)
from charge_planner.network.isochrones import isochrones
from charge_planner.network.snap import snap_points, snap_to_edges
from charge_planner.network.travel import TRAVEL_COLUMNS, _packing, _routing_network, travel_table
from charge_planner.osm.tags import as_list as _as_list

__all__ = [
    "CRS_AREA_MARGIN_DEG",
    "DEFAULT_SPEED_KPH",
    "FALLBACK_SPEEDS_KPH",
    "MAX_CRS_SCALE_ERROR",
    "TIME_RESOLUTION_S",
    "TRAVEL_COLUMNS",
    "EdgeTable",
    "_as_list",
    "_packing",
    "_routing_network",
    "check_metric_crs",
    "graph_arrays",
    "id_positions",
    "isochrones",
    "lonlat_bounds",
    "parse_maxspeed",
    "prepare_graph",
    "snap_points",
    "snap_to_edges",
    "travel_table",
    "utm_crs_for",
]
