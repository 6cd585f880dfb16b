"""Grid model: the :class:`GridModel` record, grid constants and helpers every grid module shares.

It holds the element data the grid stage assumes (standard DT ratings, line std types, transformer
parameter tables, taps, design limits, the default frequency), the pandapower load-flow settings
(:func:`run_pandapower`), bus roles and projected bus coordinates, and the road graph reduced to the
arrays the synthesiser and the site connection walk (:func:`_road_tree`).

Every grid model keeps projected bus coordinates in ``net.bus["x_m"]`` and ``net.bus["y_m"]`` [m]
(wherever geodata exists) and a bus role in ``net.bus["role"]`` (``"hv"``, ``"mv_substation"``,
``"mv"``, ``"lv"``), so that later stages (site connection, load flow, maps) do not need to know
how the grid was made.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import pandapower as pp
import pandas as pd
import pyproj
from pandapower.auxiliary import pandapowerNet
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from charge_planner.errors import DataError

log = logging.getLogger(__name__)

__all__ = [
    "GridModel",
    "bus_roles",
    "bus_xy_m",
    "project_bus_coordinates",
    "run_pandapower",
]

# --------------------------------------------------------------------------------------
# Defaults. Each one not taken from /work/shared/FACTS.md is an ASSUMPTION and is repeated
# in the ``assumptions`` list a synthesised GridModel returns.
# --------------------------------------------------------------------------------------

#: Standard DT ratings [kVA]: IS 1180 (Part 1):2014 Table 1 (standard ratings of 11 kV and 33 kV
#: oil-immersed distribution transformers up to 2,500 kVA; project sources P8.01), of which FACTS
#: G4.03 lists 160, 200, 250, 315, 500, 630 and 1,000 kVA.
STANDARD_DT_RATINGS_KVA: tuple[float, ...] = (100.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 1000.0)

#: DT ratings the synthesiser builds in cities by default [kVA]: 100-630 kVA (P8.02: urban Indian
#: DTs are mostly 100-400 kVA, larger units of 500-630 kVA in dense cores; utilities' statements,
#: conf. M). No unit is paralleled: an area too heavy for the largest one is split between two DTs.
URBAN_DT_RATINGS_KVA: tuple[float, ...] = (100.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0)

#: ASSUMPTION (P8.03): typical peak loading of an urban DT, chosen between published bounds (a city
#: utility augments its DTs loaded beyond 70 % at peak; press and industry counts find many DTs
#: overloaded); no survey of loadings was found. Each DT gets the standard rating
#: nearest (geometric mean rule) to its area's peak kVA / this loading, so peak loadings scatter
#: around it (about 0.67 to 0.85 between ratings 25 % apart, more where the steps are wider).
DT_TYPICAL_PEAK_LOADING = 0.75

#: MV line: overhead ACSR. pandapower's "94-AL1/15-ST1A 10.0" (94 mm2 Al, 0.306 ohm/km,
#: 350 A) stands in for ACSR "Dog" (100 mm2 Al, the usual Indian 11 kV trunk conductor; P8.04,
#: conf. L); the 20 kV variant of the same conductor above 12 kV.
MV_LINE_STD_TYPE = "94-AL1/15-ST1A 10.0"
MV_LINE_STD_TYPE_24KV = "94-AL1/15-ST1A 20.0"

#: LV line: overhead. pandapower's "48-AL1/8-ST1A 0.4" (48 mm2 Al, 0.594 ohm/km, 210 A) stands
#: in for ACSR "Rabbit" / 50 mm2 Al LT aerial bunched cable, common on Indian LT feeders (P8.05,
#: conf. L); DTs of :data:`LV_HEAVY_FROM_KVA` and more, and DTs whose rating shared by their LV
#: feeders exceeds the light conductor's rating, get "94-AL1/15-ST1A 0.4" (94 mm2 Al, 350 A;
#: stands in for ACSR Dog / 95 mm2 Al LT cable) (ASSUMPTION, P8.05).
LV_LINE_STD_TYPE = "48-AL1/8-ST1A 0.4"
LV_LINE_STD_TYPE_HEAVY = "94-AL1/15-ST1A 0.4"
LV_HEAVY_FROM_KVA = 315.0

#: ASSUMPTION (P8.06): longest LV feeder, from the DT to its farthest load along the road [m];
#: a service area reaching farther gets a second DT.
MAX_LV_FEEDER_M = 600.0

#: ASSUMPTION (P8.06): largest voltage drop along an LV feeder at base peak, estimated from the
#: load moment on the light LV conductor, before a service area gets a second DT [pu].
MAX_LV_DROP_PU = 0.08

#: ASSUMPTION: a base-load point (population cell) spreads over the road nodes within this
#: distance of it [m] (half the diagonal of a 500 m cell is 354 m).
LOAD_SPREAD_RADIUS_M = 400.0

#: DT no-load voltage ratio: 11/0.433 kV (FACTS G4.03) on a 415 V system (G4.01), i.e. the
#: LV side is modelled at lv_kv x 433/415 (+4.3 %) at no load.
DT_NO_LOAD_LV_FACTOR = 433.0 / 415.0

#: ASSUMPTION: power factor of the aggregated base load (lagging).
BASE_LOAD_POWER_FACTOR = 0.95

#: ASSUMPTION: DT rating the number of first DT locations is derived from [kVA] (a common
#: urban DT size, P8.02; areas heavier than the typical loading x the largest rating or
#: wider than :data:`MAX_LV_FEEDER_M` are split afterwards).
DESIGN_DT_RATING_KVA = 315.0

#: ASSUMPTION: the first clustering aims at an average area load of this share of
#: target loading x design rating, so that most areas fit the design rating itself rather
#: than rounding up to the next one.
CLUSTER_FILL = 0.8

#: ASSUMPTION: default largest base load of one 11 kV feeder [MW] (about 80 % of the
#: 6.7 MVA thermal rating of the ACSR Dog stand-in at 11 kV: sqrt(3) x 11 kV x 0.35 kA).
DEFAULT_MAX_FEEDER_MW = 5.0

#: ASSUMPTION: rated capacity of one 33/11 kV substation before another one is added [MVA]
#: (3 x 20 MVA units; typical urban substations in India have 2-3 units of 10-20 MVA).
DEFAULT_MAX_SUBSTATION_MVA = 60.0

#: ASSUMPTION: a given substation farther than this from the road network is ignored [m].
SUBSTATION_SNAP_M = 1000.0

#: ASSUMPTION: loading above which the design loop adds a 33/11 kV substation unit [%].
DESIGN_LOADING_PERCENT = 80.0

#: ASSUMPTION: the design loop keeps this margin inside the 0.95-1.05 pu band [pu].
DESIGN_VOLTAGE_MARGIN_PU = 0.005

#: ASSUMPTION: voltage of the 33 kV source (slack) [pu].
EXT_GRID_VM_PU = 1.0

#: ASSUMPTION (P8.07): voltage the substation on-load tap changer holds at the 11 kV busbar [pu].
MV_BUSBAR_SETPOINT_PU = 0.98
#: ASSUMPTION (P8.07): half width of the OLTC's dead band around the set point, 0.75 of a tap step [pu];
#: wider than half a step, so the tap cannot hunt.
MV_BUSBAR_DEADBAND_PU = 0.75 * 1.25 / 100.0

#: ASSUMPTION: 33/11 kV unit transformer parameters by unit rating [MVA] (typical values,
#: not from FACTS): vk, vkr [%], no-load loss pfe [kW], no-load current i0 [%].
SUBSTATION_TRAFO_PARAMETERS: dict[float, dict[str, float]] = {
    10.0: {"vk_percent": 8.35, "vkr_percent": 0.55, "pfe_kw": 9.5, "i0_percent": 0.15},
    20.0: {"vk_percent": 10.0, "vkr_percent": 0.45, "pfe_kw": 16.0, "i0_percent": 0.12},
}

#: ASSUMPTION: OLTC of the 33/11 kV transformer: HV side, +-8 steps of 1.25 % (+-10 %).
SUBSTATION_TAP: dict[str, Any] = {
    "tap_side": "hv",
    "tap_neutral": 0,
    "tap_min": -8,
    "tap_max": 8,
    "tap_step_percent": 1.25,
}

#: ASSUMPTION: off-circuit tap of a DT: HV side, +-2 steps of 2.5 % (+-5 %); synthesised DTs
#: stay at the neutral position :data:`DT_TAP_POSITION` (taps are set once, off load, and
#: rarely revisited).
DT_TAP: dict[str, Any] = {
    "tap_side": "hv",
    "tap_neutral": 0,
    "tap_min": -2,
    "tap_max": 2,
    "tap_step_percent": 2.5,
}

#: ASSUMPTION (P8.08): fixed off-circuit tap position of every synthesised DT.
DT_TAP_POSITION = 0

#: ASSUMPTION: typical oil-immersed 11/0.433 kV DT parameters by rating [kVA] (not from
#: FACTS): vk, vkr [%], pfe [kW], i0 [%]; ratings in between are interpolated on log(kVA).
DT_PARAMETER_TABLE = pd.DataFrame(
    {
        "vk_percent": [4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 5.0],
        "vkr_percent": [1.60, 1.50, 1.45, 1.40, 1.35, 1.30, 1.25, 1.20, 1.05],
        "pfe_kw": [0.30, 0.45, 0.52, 0.60, 0.70, 0.85, 1.00, 1.20, 1.70],
        "i0_percent": [0.45, 0.40, 0.38, 0.35, 0.33, 0.31, 0.30, 0.28, 0.25],
    },
    index=pd.Index([100.0, 160.0, 200.0, 250.0, 315.0, 400.0, 500.0, 630.0, 1000.0], name="rating_kva"),
)

#: Default system frequency [Hz] of a synthesised grid; callers pass the country's
#: (presets ``frequency_hz``: the Philippines 60 Hz, FACTS G4.06; Indonesia 50 Hz, G4.07).
FREQUENCY_HZ = 50.0


@dataclass
class GridModel:
    """A pandapower net with its provenance.

    Attributes
    ----------
    net
        The pandapower net. ``net.bus`` has columns ``x_m``, ``y_m`` (projected coordinates
        in :attr:`crs` [m], NaN where a bus has no geodata) and ``role``.
    source
        ``"synthesised"``, ``"pandapower_json:<path>"``, ``"simbench:<code>"`` or
        ``"pandapower_network:<name>"``.
    crs
        Projected metric CRS of ``x_m``/``y_m``, e.g. ``"EPSG:32643"``.
    assumptions
        Human-readable list; each entry names its source or says "assumption".
    synthetic
        True when the grid was synthesised rather than loaded.
    """

    net: pandapowerNet
    source: str
    crs: str
    assumptions: list[str] = field(default_factory=list)
    synthetic: bool = False


# ======================================================================================
# Shared helpers (also used by connect.py and flow.py)
# ======================================================================================


def _numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


class _DropNumbaNotice(logging.Filter):
    """Drop pandapower's "numba cannot be imported" log notice (nothing else)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("numba cannot be imported")


@contextmanager
def _quiet_pandapower() -> Iterator[None]:
    """Silence two known, harmless notices that pandapower itself emits.

    - pandapower.networks functions call ``runpp`` without ``numba=False`` and log a
      "numba cannot be imported" notice when numba is absent;
    - nets stored before pandapower 3.0 lack ``trafo.tap_dependency_table`` and every load
      flow on them raises a DeprecationWarning (we add the column, see
      :func:`_normalise_legacy_tables`, but reference networks run a load flow while
      being built).
    Only these two messages are filtered; every other warning still surfaces.
    """
    aux_logger = logging.getLogger("pandapower.auxiliary")
    notice_filter = _DropNumbaNotice()
    aux_logger.addFilter(notice_filter)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="tap_dependency_table is missing", category=DeprecationWarning
            )
            yield
    finally:
        aux_logger.removeFilter(notice_filter)


def _normalise_legacy_tables(net: pandapowerNet) -> None:
    """Add ``tap_dependency_table=False`` to transformer tables from before pandapower 3.0.

    Only done when the table has no legacy spline characteristic, i.e. when "no tap
    dependency" is what the data already means.
    """
    for element in ("trafo", "trafo3w"):
        table = net[element]
        if "tap_dependency_table" in table.columns:
            continue
        if any(str(c).endswith("_characteristic") for c in table.columns):
            continue
        table["tap_dependency_table"] = False


def run_pandapower(net: pandapowerNet, *, control: bool = False) -> None:
    """Run an AC Newton-Raphson load flow with the project's settings.

    Parameters
    ----------
    net
        The pandapower net; results are written to its ``res_*`` tables.
    control
        Run the net's controllers (``net.controller``, e.g. an on-load tap changer), as
        ``pandapower.runpp(net, run_control=True)``; the taps they move are written to the net.

    Raises
    ------
    pandapower.LoadflowNotConverged
        When the load flow does not converge (callers turn this into a GridError).
    """
    # numba is used when it is installed; passing numba=False otherwise avoids pandapower's
    # "numba cannot be imported" notice.
    run_control = bool(control and "controller" in net and len(net.controller)
                       and net.controller["in_service"].astype(bool).any())
    pp.runpp(net, algorithm="nr", init="auto", numba=_numba_available(), run_control=run_control)


def bus_roles(net: pandapowerNet) -> pd.Series:
    """Role of every bus: ``"hv"``, ``"mv_substation"``, ``"mv"`` or ``"lv"``.

    Uses ``net.bus["role"]`` where it is set; otherwise derives it from the nominal
    voltage: ``lv`` below 1 kV, ``mv`` from 1 to 36 kV, ``hv`` above 36 kV, and
    ``mv_substation`` for an MV bus on the low-voltage side of a transformer whose
    high-voltage side has a higher nominal voltage.

    Parameters
    ----------
    net
        The pandapower net.

    Returns
    -------
    pandas.Series
        Role per bus index.
    """
    vn = net.bus["vn_kv"].astype(float)
    derived = pd.Series(np.where(vn < 1.0, "lv", np.where(vn <= 36.0, "mv", "hv")), index=net.bus.index)
    if len(net.trafo):
        hv_vn = vn.reindex(net.trafo["hv_bus"]).to_numpy()
        lv_bus = net.trafo["lv_bus"].to_numpy()
        lv_vn = vn.reindex(lv_bus).to_numpy()
        sub = lv_bus[(hv_vn > lv_vn) & (lv_vn >= 1.0) & (lv_vn <= 36.0)]
        derived.loc[np.unique(sub)] = "mv_substation"
    if "role" in net.bus.columns:
        given = net.bus["role"]
        return given.where(given.isin(["hv", "mv_substation", "mv", "lv"]), derived).astype(str)
    return derived.astype(str)


def _parse_point(geo: Any) -> tuple[float, float]:
    if geo is None or (isinstance(geo, float) and math.isnan(geo)):
        return (math.nan, math.nan)
    obj = json.loads(geo) if isinstance(geo, str) else geo
    if not isinstance(obj, dict) or obj.get("type") != "Point":
        return (math.nan, math.nan)
    lon, lat = obj["coordinates"][:2]
    return (float(lon), float(lat))


def bus_xy_m(net: pandapowerNet, crs: str) -> pd.DataFrame:
    """Projected coordinates of every bus, from ``net.bus.geo`` (GeoJSON, EPSG:4326).

    Parameters
    ----------
    net
        The pandapower net; not modified.
    crs
        Projected metric CRS to project to, e.g. ``"EPSG:32643"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``x_m``, ``y_m`` [m] per bus index; NaN where a bus has no usable point.
    """
    out = pd.DataFrame({"x_m": np.nan, "y_m": np.nan}, index=net.bus.index)
    if "geo" not in net.bus.columns or len(net.bus) == 0:
        return out
    lonlat = np.array([_parse_point(g) for g in net.bus["geo"]], dtype=float).reshape(-1, 2)
    ok = np.isfinite(lonlat).all(axis=1)
    valid = ok & (np.abs(lonlat[:, 0]) <= 180.0) & (np.abs(lonlat[:, 1]) <= 90.0)
    if (ok & ~valid).any():
        log.warning(
            "%d bus geo points lie outside longitude/latitude range (schematic coordinates?); "
            "they get no projected coordinates",
            int((ok & ~valid).sum()),
        )
    if valid.any():
        transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = transformer.transform(lonlat[valid, 0], lonlat[valid, 1])
        out.loc[out.index[valid], "x_m"] = np.asarray(x, dtype=float)
        out.loc[out.index[valid], "y_m"] = np.asarray(y, dtype=float)
    return out


def project_bus_coordinates(net: pandapowerNet, crs: str) -> int:
    """Set ``net.bus["x_m"]`` and ``net.bus["y_m"]`` [m] from ``net.bus.geo``.

    Parameters
    ----------
    net
        The pandapower net; modified in place.
    crs
        Projected metric CRS, e.g. ``"EPSG:32643"``.

    Returns
    -------
    int
        Number of buses that got coordinates.
    """
    xy = bus_xy_m(net, crs)
    net.bus["x_m"] = xy["x_m"]
    net.bus["y_m"] = xy["y_m"]
    return int(xy["x_m"].notna().sum())


def _bus_label(net: pandapowerNet, bus: int) -> str:
    name = net.bus.at[bus, "name"] if "name" in net.bus.columns else None
    return f"{bus} ({name!r})" if isinstance(name, str) and name else str(bus)


# ======================================================================================
# The road graph as arrays (synthesiser and site connection)
# ======================================================================================


@dataclass
class _RoadTree:
    """Road graph reduced to what the synthesiser needs (positions are 0..n-1)."""

    node_ids: list[Any]
    xy: np.ndarray  # (n, 2) [m]
    edges: dict[tuple[int, int], tuple[float, int, np.ndarray]]  # (a<b) -> (length_m, start, coords)
    component: np.ndarray  # positions of the nodes in the component used
    graph: csr_matrix  # symmetric-by-use edge-length matrix [m] (upper triangle)
    roots: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # substation nodes
    parent: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # < 0 at roots
    dist_m: np.ndarray = field(default_factory=lambda: np.empty(0))  # road distance to its substation
    sub_of: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # substation per node

    def is_root(self, node: int) -> bool:
        return bool(self.parent[node] < 0)


def _road_tree(roads: nx.MultiDiGraph) -> _RoadTree:
    node_ids = list(roads.nodes)
    pos = {n: i for i, n in enumerate(node_ids)}
    xy = np.array([(float(roads.nodes[n]["x"]), float(roads.nodes[n]["y"])) for n in node_ids], dtype=float)
    edges: dict[tuple[int, int], tuple[float, int, np.ndarray]] = {}
    bad_length = []
    for u, v, data in roads.edges(data=True):
        a, b = pos[u], pos[v]
        if a == b:
            continue
        length = data.get("length")
        if length is None:
            length = float(np.hypot(*(xy[a] - xy[b])))
        length = float(length)
        if not np.isfinite(length) or length < 0:
            bad_length.append((u, v))
            continue
        key = (a, b) if a < b else (b, a)
        if key in edges and edges[key][0] <= length:
            continue
        geom = data.get("geometry")
        if geom is not None and not geom.is_empty:
            coords = np.asarray(geom.coords, dtype=float)[:, :2]
        else:
            coords = np.vstack([xy[a], xy[b]])
        edges[key] = (length, a, coords)
    if bad_length:
        raise DataError(
            f"road edges {bad_length[:5]} have a missing or negative 'length': fix the road graph"
        )
    if not edges:
        raise DataError("road graph has no edges between distinct nodes: the grid cannot follow the roads")
    n = len(node_ids)
    keys = np.array(list(edges.keys()), dtype=np.int64).reshape(-1, 2)
    # csgraph ignores zero weights in sparse input: floor lengths at 1 mm.
    weights = np.maximum(np.array([edges[tuple(k)][0] for k in keys]), 1e-3)
    graph = csr_matrix((weights, (keys[:, 0], keys[:, 1])), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels, minlength=n_comp)
    biggest = int(np.argmax(sizes))
    component = np.flatnonzero(labels == biggest)
    if n_comp > 1:
        log.info(
            "road graph has %d components; the grid follows the largest (%d of %d nodes)",
            n_comp,
            len(component),
            n,
        )
    return _RoadTree(node_ids=node_ids, xy=xy, edges=edges, component=component, graph=graph)
