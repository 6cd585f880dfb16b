"""Grid synthesis: a radial 33/11/0.4 kV grid along the roads that carries the base load.

Synthesised grids (:func:`synthesise_grid`) follow the roads: 33/11 kV substations, 11 kV
radial overhead feeders along the shortest-path tree of the road graph, one 11/0.433 kV
distribution transformer (DT) per service area, and radial 0.4 kV overhead feeders from each
DT along the roads to the loads of its area (:mod:`~charge_planner.grid.lv`). The grid is
meant to look "as built": DTs of standard ratings at a typical (not a design) loading, no
paralleled units or cables, fixed DT taps; tail ends of long LV feeders sag as real ones do.
It is a plausible stand-in where no utility grid data exists, not a copy of the real grid;
:attr:`GridModel.assumptions` says what was assumed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandapower as pp
import pandas as pd
import pyproj
from pandapower.auxiliary import pandapowerNet
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from charge_planner.errors import DataError, GridError
from charge_planner.grid.feeders import (
    _build_net,
    _Built,
    _choose_rating,
    _Design,
    _initial_feeders,
    _mv_line,
    _place_substations,
    _Section,
    _split_feeder,
    _weighted_kmeans,
    line_std_types,
)
from charge_planner.grid.lv import area_loads_kw, check_lv_feeders, dt_service_areas, lv_feeders, spread_loads
from charge_planner.grid.model import (
    BASE_LOAD_POWER_FACTOR,
    CLUSTER_FILL,
    DEFAULT_MAX_FEEDER_MW,
    DEFAULT_MAX_SUBSTATION_MVA,
    DESIGN_DT_RATING_KVA,
    DESIGN_LOADING_PERCENT,
    DESIGN_VOLTAGE_MARGIN_PU,
    DT_NO_LOAD_LV_FACTOR,
    DT_TAP_POSITION,
    DT_TYPICAL_PEAK_LOADING,
    EXT_GRID_VM_PU,
    FREQUENCY_HZ,
    LOAD_SPREAD_RADIUS_M,
    LV_HEAVY_FROM_KVA,
    LV_LINE_STD_TYPE,
    LV_LINE_STD_TYPE_HEAVY,
    MAX_LV_DROP_PU,
    MAX_LV_FEEDER_M,
    MV_BUSBAR_DEADBAND_PU,
    MV_BUSBAR_SETPOINT_PU,
    SUBSTATION_TAP,
    SUBSTATION_TRAFO_PARAMETERS,
    URBAN_DT_RATINGS_KVA,
    GridModel,
    _bus_label,
    _road_tree,
    _RoadTree,
    run_pandapower,
)

log = logging.getLogger(__name__)

__all__ = ["synthesise_grid"]

#: Most substations synthesis builds: 1,000 x the default 60 MVA is 60 GVA, about seven times the
#: record peak of any city the presets cover (Delhi, about 8.7 GW in June 2024); the 60 km x 60 km
#: synthetic metro of 30 million persons needs 500. More means a base load in the wrong unit or a
#: tiny ``max_substation_mva``.
MAX_SYNTH_SUBSTATIONS = 1_000

#: Largest rating of one 33/11 kV substation suggested as a fix [MVA] (4 x 50 MVA units).
_LARGEST_SUBSTATION_MVA = 200.0

#: Most distribution transformers (DT service areas) synthesis builds: each adds buses, a
#: transformer and a load to every AC load flow of the design loop. The 60 km x 60 km synthetic
#: metro builds 63,419 DTs (157,000 buses) in about 1.5 minutes; more means a base load in the wrong
#: unit or a demand grid too fine for the area.
MAX_SYNTH_DTS = 150_000

_MAX_DESIGN_ROUNDS = 40


# ======================================================================================
# synthesise_grid: inputs
# ======================================================================================


def _crs_equal(a: Any, b: Any) -> bool:
    return pyproj.CRS.from_user_input(a) == pyproj.CRS.from_user_input(b)


def _validate_inputs(
    roads: nx.MultiDiGraph,
    loads: gpd.GeoDataFrame,
    substations: gpd.GeoDataFrame | None,
    ratings: Sequence[float],
    target: float,
    max_feeder_mw: float,
    kv: dict[str, float],
    max_substation_mva: float = DEFAULT_MAX_SUBSTATION_MVA,
) -> str:
    problems: list[str] = []
    crs = roads.graph.get("crs")
    crs_str = ""
    if crs is None:
        problems.append("road graph has no graph attribute 'crs' (project it with osmnx.project_graph)")
    else:
        parsed = pyproj.CRS.from_user_input(crs)
        crs_str = parsed.to_string()
        if not parsed.is_projected:
            problems.append(
                f"road graph CRS {crs_str} is not projected (project it with osmnx.project_graph)"
            )
    if roads.number_of_nodes() < 1:
        problems.append("road graph has no nodes")
    else:
        missing_xy = [n for n, d in roads.nodes(data=True) if "x" not in d or "y" not in d]
        if missing_xy:
            problems.append(f"road nodes {missing_xy[:5]} lack 'x'/'y' coordinates")
    if "base_peak_kw" not in loads.columns:
        problems.append("loads lack column 'base_peak_kw' [kW]")
    else:
        kw = pd.to_numeric(loads["base_peak_kw"], errors="coerce")
        bad = loads.index[~np.isfinite(kw.to_numpy(dtype=float)) | (kw.to_numpy(dtype=float) < 0)]
        if len(bad):
            problems.append(f"loads {list(bad[:5])} have a missing or negative base_peak_kw")
        elif float(kw.sum()) <= 0:
            problems.append("loads carry no base load (base_peak_kw sums to 0)")
    if loads.geometry.isna().any() or loads.geometry.is_empty.any():
        problems.append("some loads have no geometry")
    if crs is not None and loads.crs is not None and not _crs_equal(loads.crs, crs):
        problems.append(
            f"loads are in {loads.crs.to_string()} but roads in {crs_str}: use loads.to_crs(roads CRS)"
        )
    if (
        substations is not None
        and len(substations)
        and crs is not None
        and substations.crs is not None
        and not _crs_equal(substations.crs, crs)
    ):
        problems.append(
            f"substations are in {substations.crs.to_string()} but roads in {crs_str}: "
            "use substations.to_crs(roads CRS)"
        )
    if len(ratings) == 0 or any((not np.isfinite(r)) or r <= 0 for r in ratings):
        problems.append(f"trafo_ratings_kva {list(ratings)} must be a non-empty list of positive ratings")
    if not 0.0 < target <= 1.0:
        problems.append(f"target_trafo_loading {target} must lie in (0, 1]")
    if not max_feeder_mw > 0:
        problems.append(f"max_feeder_mw {max_feeder_mw} must be positive")
    if not max_substation_mva > 0:
        problems.append(f"max_substation_mva {max_substation_mva} must be positive")
    elif len(ratings) and all(np.isfinite(r) and r > 0 for r in ratings) and max_substation_mva < max(ratings) / 1000.0:
        problems.append(
            f"max_substation_mva {max_substation_mva:g} MVA is smaller than one distribution transformer "
            f"({max(ratings):g} kVA): give the rating of a 33/11 kV substation in MVA (default "
            f"{DEFAULT_MAX_SUBSTATION_MVA:g})"
        )
    if not kv["lv"] < kv["mv"] < kv["hv"]:
        problems.append(
            f"voltage levels must satisfy lv_kv < mv_kv < hv_kv, got {kv['lv']}/{kv['mv']}/{kv['hv']}"
        )
    if problems:
        raise DataError("synthesise_grid: " + "; ".join(problems))
    return crs_str


def _shortest_path_forest(tree: _RoadTree, roots: np.ndarray) -> None:
    """Shortest-path forest of the road graph from several substations (each node joins the nearest)."""
    dist, pred, sources = dijkstra(
        tree.graph, directed=False, indices=np.asarray(roots), return_predecessors=True, min_only=True
    )
    tree.roots = np.asarray(roots, dtype=np.int64)
    tree.parent = pred.astype(np.int64)
    tree.dist_m = dist
    lookup = {int(r): i for i, r in enumerate(tree.roots)}
    tree.sub_of = np.array([lookup.get(int(x), -1) for x in sources], dtype=np.int64)


def _load_points(loads: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    geom = loads.geometry
    not_point = geom.geom_type != "Point"
    if not_point.any():
        log.info("%d loads are not points; their centroids are used", int(not_point.sum()))
        geom = geom.where(~not_point, geom.centroid)
    xy = np.column_stack([geom.x.to_numpy(dtype=float), geom.y.to_numpy(dtype=float)])
    kw = pd.to_numeric(loads["base_peak_kw"]).to_numpy(dtype=float)
    keep = kw > 0
    return xy[keep], kw[keep]


# ======================================================================================
# synthesise_grid: the design loop
# ======================================================================================
def _tap_to_setpoint(built: _Built, design: _Design) -> list[str]:
    """The substation OLTC holds the MV busbar at the set point; returns what changed.

    The dead band (+-0.75 step) is wider than the voltage change of one step, so the tap cannot
    hunt; a tap already tried is never tried again.
    """
    vm = built.net.res_bus["vm_pu"]
    step = SUBSTATION_TAP["tap_step_percent"] / 100.0
    tap_changes: list[str] = []
    for i, busbar in enumerate(built.mv_busbar):
        error = MV_BUSBAR_SETPOINT_PU - float(vm.at[int(busbar)])
        if abs(error) <= MV_BUSBAR_DEADBAND_PU:
            continue
        n_steps = int(np.sign(error)) * max(1, round(abs(error) / step))
        new_tap = int(
            np.clip(design.sub_tap_pos[i] - n_steps, SUBSTATION_TAP["tap_min"], SUBSTATION_TAP["tap_max"])
        )
        if new_tap != design.sub_tap_pos[i] and new_tap not in design.taps_tried[i]:
            design.sub_tap_pos[i] = new_tap
            design.taps_tried[i].add(new_tap)
            tap_changes.append(f"substation S{i} tap -> {new_tap}")
    return tap_changes


def _adjust(
    built: _Built,
    design: _Design,
    tree: _RoadTree,
    vm_min: float,
) -> list[str]:
    """One MV design round: look at the load flow and change the design. Returns what changed.

    What a utility's planning keeps in order is kept: the substation OLTC set point, substation
    units below the design loading, 11 kV feeders within the voltage band and below their
    thermal rating (a feeder that is not is split into two from the substation). DTs and LV
    feeders are left as built (one unit of the rating chosen, neutral off-circuit tap).
    """
    net = built.net
    vm = net.res_bus["vm_pu"]
    tap_changes = _tap_to_setpoint(built, design)
    if tap_changes:
        return tap_changes
    changes: list[str] = []
    res_trafo = net.res_trafo["loading_percent"]
    for i, sub_trafo in enumerate(built.sub_trafo):
        sub_loading = float(res_trafo.at[int(sub_trafo)])
        if sub_loading > DESIGN_LOADING_PERCENT:
            design.sub_units[i] = math.ceil(design.sub_units[i] * sub_loading / DESIGN_LOADING_PERCENT)
            changes.append(f"substation S{i} units -> {design.sub_units[i]}")
    if changes:
        design.taps_tried = [{int(t)} for t in design.sub_tap_pos]  # the grid changed: any tap may be right
        return changes
    # MV feeders: below the voltage band at an MV bus or a line above its rating -> split
    bad_feeders: set[int] = set()
    for b in vm.index[vm < vm_min]:
        if net.bus.at[b, "role"] == "mv":
            bad_feeders.add(built.bus_feeder[int(b)])
    if len(net.line):
        over = net.res_line.index[net.res_line["loading_percent"] > 100.0]
        bad_feeders |= {int(f) for f in net.line.loc[over, "feeder"]}
    new_feeders: list[list[int]] = []
    for f, dts in enumerate(design.feeders):
        parts = _split_feeder(tree, dts, design) if f in bad_feeders else None
        if parts is not None:
            new_feeders += parts
            changes.append(f"feeder {f} split")
        else:
            new_feeders.append(dts)
    design.feeders = sorted(new_feeders, key=min)
    if changes:
        design.taps_tried = [{int(t)} for t in design.sub_tap_pos]
    return changes


def _limits_summary(net: pandapowerNet, vm_min: float, vm_max: float) -> tuple[int, str]:
    """Count of elements outside limits and a one-line summary of the worst values."""
    vm = net.res_bus["vm_pu"]
    line = net.res_line["loading_percent"] if len(net.line) else pd.Series(dtype=float)
    trafo = net.res_trafo["loading_percent"]
    worst = (
        f"voltage {vm.min():.3f}-{vm.max():.3f} pu (lowest at bus {_bus_label(net, int(vm.idxmin()))}), "
        f"max line loading {line.max() if len(line) else 0.0:.0f} %, max trafo loading {trafo.max():.0f} %"
    )
    n_bad = int(((vm < vm_min) | (vm > vm_max)).sum() + (line >= 100.0).sum() + (trafo >= 100.0).sum())
    return n_bad, worst


def _check_size(n_dts: int, n_subs: int, total_mva: float, target: float, max_substation_mva: float) -> None:
    """Refuse a synthesis larger than :data:`MAX_SYNTH_DTS` DTs or :data:`MAX_SYNTH_SUBSTATIONS` substations."""
    if n_subs > MAX_SYNTH_SUBSTATIONS or n_subs > n_dts:
        need = total_mva / (target * min(MAX_SYNTH_SUBSTATIONS, n_dts))
        fix = (f"raise grid.max_substation_mva to at least {need:,.1f} MVA" if need <= _LARGEST_SUBSTATION_MVA else
               f"no substation is that large (at most about {_LARGEST_SUBSTATION_MVA:g} MVA): check the population "
               "(persons) and the base load per person (kW)")
        raise GridError(
            f"grid synthesis would need {n_subs:,} substations of max_substation_mva {max_substation_mva:g} MVA for "
            f"{total_mva:,.1f} MVA of base load on {n_dts:,} DT areas (at most {min(MAX_SYNTH_SUBSTATIONS, n_dts):,}): "
            f"{fix}"
        )
    if n_dts > MAX_SYNTH_DTS:
        raise GridError(
            f"grid synthesis would build {n_dts:,} distribution transformers for {total_mva:,.1f} MVA of base load, "
            f"more than {MAX_SYNTH_DTS:,}: plan a smaller area, use a larger demand.cell_size_m, or load a grid file"
        )


def synthesise_grid(
    roads: nx.MultiDiGraph,
    loads: gpd.GeoDataFrame,
    *,
    mv_kv: float = 11.0,
    hv_kv: float = 33.0,
    lv_kv: float = 0.4,
    trafo_ratings_kva: Sequence[float] = URBAN_DT_RATINGS_KVA,
    target_trafo_loading: float = DT_TYPICAL_PEAK_LOADING,
    max_feeder_mw: float = DEFAULT_MAX_FEEDER_MW,
    substations: gpd.GeoDataFrame | None = None,
    max_substation_mva: float = DEFAULT_MAX_SUBSTATION_MVA,
    seed: int = 0,
    frequency_hz: float = FREQUENCY_HZ,
    max_lv_feeder_m: float = MAX_LV_FEEDER_M,
) -> GridModel:
    """Synthesise a radial 33/11/0.4 kV grid that follows the roads and carries the base load.

    Steps:

    1. Base load on the roads: each load point spreads its load over the road nodes within
       400 m nearest to it, in proportion to the road length around each node
       (:func:`~charge_planner.grid.lv.spread_loads`).
    2. DT service areas (:func:`~charge_planner.grid.lv.dt_service_areas`): first DT nodes
       from load-weighted k-means (k = total kVA / (0.8 x ``target_trafo_loading`` x 315 kVA));
       every loaded road node is supplied by the DT nearest along the roads; an area heavier
       than ``target_trafo_loading`` x the largest rating, or with a load farther than
       ``max_lv_feeder_m`` from its DT, gets another DT, until none is. One DT per area,
       never paralleled: it gets the standard rating nearest (geometric mean rule) to the
       area's peak kVA / ``target_trafo_loading``, so loadings scatter around it.
    3. LV feeders (:func:`~charge_planner.grid.lv.lv_feeders`): from each DT along the
       shortest road paths to the loaded nodes of its area, one feeder per road branch at the
       DT, LV buses where feeders branch or end, overhead conductor (``LV_LINE_STD_TYPE``).
    4. Substations: n = ceil(total MVA / (``target_trafo_loading`` x ``max_substation_mva``)).
       Given (OSM) substations near the roads are kept where they are; when fewer than n,
       the others are placed by load (weighted k-means of the DT loads with the given ones
       held fixed). Each sits at its nearest road node; every DT is supplied from the
       substation nearest by road (multi-source shortest paths) and a substation that no
       DT is nearest to is dropped. Units (10 MVA, or 20 MVA above 20 MVA of need) are
       loaded to at most ``target_trafo_loading``; each substation has its own 33 kV source.
    5. 11 kV overhead lines follow the shortest-path forest of the road graph from the
       substation nodes; chains of road nodes without a DT or branch point become one line
       section. Each branch leaving a substation is a feeder; a feeder above ``max_feeder_mw``
       is split in two (the subtree nearest half its load gets its own line from the
       substation) until none is.
    6. Design loop (AC load flow with each DT's load on its LV busbar): the substation OLTC
       holds the 11 kV busbar at ``MV_BUSBAR_SETPOINT_PU`` (dead band +-0.94 %); substation
       units above 80 % loading are added; an 11 kV feeder with a bus below 0.955 pu or a line
       above its rating is split again. Nothing else is reinforced: no paralleled lines, no
       larger DTs, DT taps stay at the neutral position. Each substation transformer keeps a
       pandapower ``DiscreteTapControl`` with that band, so the tap found here is where every
       later load flow starts and the OLTC then acts at every step (:mod:`~charge_planner.grid.oltc`).
    7. The LV feeders are added, the OLTC set again, and the result must converge. Tail ends
       below 0.95 pu and DTs near or above their rating are reported (logged and in the load
       flow), not designed away: a real grid has some.

    Parameters
    ----------
    roads
        osmnx-style road graph in a projected metric CRS (graph attribute ``crs``); node
        attributes ``x``, ``y`` [m]; edge attributes ``length`` [m], optional ``geometry``.
    loads
        Points (same CRS) with column ``base_peak_kw``: diversified evening-peak base load
        around each point [kW].
    mv_kv
        Nominal medium voltage [kV] (FACTS G4.01: India 11 kV and 33 kV).
    hv_kv
        Nominal voltage of the substation's supply [kV] (FACTS G4.01).
    lv_kv
        Nominal low voltage [kV]; 0.4 kV is pandapower's convention for the 400/415 V
        three-phase level (FACTS G4.01, G4.02). DTs have the 11/0.433 kV no-load ratio.
    trafo_ratings_kva
        Standard DT ratings built [kVA] (default :data:`URBAN_DT_RATINGS_KVA`, P8.01-P8.02).
    target_trafo_loading
        Typical peak loading of DTs (ratings scatter around it) and the loading substation
        units are sized for [-] (default :data:`DT_TYPICAL_PEAK_LOADING`, P8.03).
    max_feeder_mw
        Largest base load of one 11 kV feeder [MW] (assumption, see
        :data:`DEFAULT_MAX_FEEDER_MW`).
    substations
        Optional OSM ``power=substation`` features (same CRS). Every one within
        1,000 m of the road network becomes a 33/11 kV substation; when none is that close,
        the one nearest the load centre is used.
    max_substation_mva
        Rated capacity of one substation [MVA] (assumption: 3 x 20 MVA); when the load
        needs more (at ``target_trafo_loading``), further substations are placed by load.
    seed
        Seed of the k-means initialisation [-].
    frequency_hz
        System frequency of the country [Hz] (presets ``frequency_hz``).
    max_lv_feeder_m
        Longest LV feeder from its DT to its farthest load along the road [m] (P8.06).

    Returns
    -------
    GridModel
        ``synthetic=True``; ``source="synthesised"``; ``assumptions`` lists what was assumed.
        ``net.bus["dt"]`` is the supplying DT's trafo index on every LV bus (-1 elsewhere);
        ``net.line["dt"]`` and ``net.line["lv_feeder"]`` name the DT and its LV feeder number
        of every LV line (-1 on 11 kV lines).

    Raises
    ------
    DataError
        Invalid roads, loads or parameters (all problems in one message).
    GridError
        When the load flow of the synthesised grid does not converge, or before any work when
        the grid would need more than :data:`MAX_SYNTH_SUBSTATIONS` substations (or more
        substations than DTs) or more than :data:`MAX_SYNTH_DTS` DTs.
    """
    vm_min, vm_max = 0.95, 1.05
    if frequency_hz not in (50.0, 60.0):
        raise DataError(f"synthesise_grid: frequency_hz {frequency_hz!r} is neither 50 nor 60 Hz, the only public "
                        "grid frequencies; give the country's (presets frequency_hz)")
    if not max_lv_feeder_m > 0:
        raise DataError(f"synthesise_grid: max_lv_feeder_m {max_lv_feeder_m!r} must be positive [m]")
    kv = {"hv": float(hv_kv), "mv": float(mv_kv), "lv": float(lv_kv)}
    ratings = np.array(sorted({float(r) for r in trafo_ratings_kva}), dtype=float)
    crs = _validate_inputs(
        roads, loads, substations, list(trafo_ratings_kva), target_trafo_loading, max_feeder_mw, kv,
        max_substation_mva,
    )
    tree = _road_tree(roads)
    xy, kw = _load_points(loads)
    total_kva = float(kw.sum()) / BASE_LOAD_POWER_FACTOR

    log.info("synthesising grid: %d load points, %.2f MW base load; spreading it on the roads and placing DTs",
             len(kw), float(kw.sum()) / 1000.0)
    # 1.-3. base load on the road nodes, DT service areas, LV feeders
    node_kw = spread_loads(tree, xy, kw, radius_m=LOAD_SPREAD_RADIUS_M)
    not_above = ratings[ratings <= DESIGN_DT_RATING_KVA]
    design_kva = float(not_above[-1]) if len(not_above) else float(ratings[0])
    k_first = math.ceil(total_kva / (CLUSTER_FILL * target_trafo_loading * design_kva))
    _check_size(k_first, 1, total_kva / 1000.0, target_trafo_loading, max_substation_mva)
    loaded = np.flatnonzero(node_kw > 0)
    labels = _weighted_kmeans(tree.xy[loaded], node_kw[loaded], k_first, np.random.default_rng(seed))
    comp_tree = cKDTree(tree.xy[tree.component])
    wsum = np.bincount(labels, weights=node_kw[loaded])
    centres = np.column_stack([np.bincount(labels, weights=node_kw[loaded] * tree.xy[loaded, 0]) / wsum,
                               np.bincount(labels, weights=node_kw[loaded] * tree.xy[loaded, 1]) / wsum])
    first_nodes = loaded[cKDTree(tree.xy[loaded]).query(centres)[1]]
    max_area_kw = target_trafo_loading * float(ratings[-1]) * BASE_LOAD_POWER_FACTOR
    std = line_std_types()
    r_ohm_m, x_ohm_m = (float(std.at[LV_LINE_STD_TYPE, c]) / 1000.0 for c in ("r_ohm_per_km", "x_ohm_per_km"))
    tanphi = math.tan(math.acos(BASE_LOAD_POWER_FACTOR))
    drop_per_kw_m = 1000.0 * (r_ohm_m + x_ohm_m * tanphi) / (kv["lv"] * 1000.0) ** 2
    areas = dt_service_areas(tree, node_kw, first_nodes, max_area_kw=max_area_kw, max_feeder_m=max_lv_feeder_m,
                             max_drop_pu=MAX_LV_DROP_PU, drop_pu_per_kw_m=drop_per_kw_m)
    lv = lv_feeders(tree, areas)
    check_lv_feeders(lv, areas)
    dt_kw = area_loads_kw(areas)
    dt_kva = dt_kw / BASE_LOAD_POWER_FACTOR
    dt_node = areas.dt_node
    n_dts = len(dt_node)
    shared = int((areas.dt_share < 1.0).sum())
    if shared:
        log.info("synthesising grid: %d DTs share a road node heavier than one %g kVA DT", shared, ratings[-1])

    # 4. substations: the given ones near the roads, more placed by load when the load needs them
    total_mva = float(dt_kva.sum()) / 1000.0
    n_needed = max(1, math.ceil(total_mva / (target_trafo_loading * max_substation_mva)))
    _check_size(n_dts, n_needed, total_mva, target_trafo_loading, max_substation_mva)
    log.info("synthesising grid: %d DT areas (%d LV buses); placing %d substation(s)", n_dts,
             n_dts + len(lv.bus_dt), n_needed)
    osm_xy = None
    if substations is not None and len(substations):
        pts = substations.geometry.representative_point()
        osm_xy = np.column_stack([pts.x.to_numpy(dtype=float), pts.y.to_numpy(dtype=float)])
    dt_xy = tree.xy[dt_node]
    # dense cores draw more load than k-means balances: add substations until each one's
    # load fits (at most twice the first estimate)
    def place(n_subs: int) -> tuple[bool, str, np.ndarray]:
        """Substations placed by load and the road tree rooted at them: whether every one's load fits."""
        roots, rule = _place_substations(tree, comp_tree, dt_xy, dt_kva, osm_xy, n_subs, xy, kw)
        _shortest_path_forest(tree, roots)
        used = np.unique(tree.sub_of[dt_node])
        if len(used) < len(roots):  # a substation no DT is nearest to is not built
            _shortest_path_forest(tree, roots[used])
        mva = np.bincount(tree.sub_of[dt_node], weights=dt_kva, minlength=len(tree.roots)) / 1000.0
        return bool(mva.max() <= target_trafo_loading * max_substation_mva or len(used) < len(roots)), rule, mva

    # the count is searched in growing steps (1, 2, 4, ... more), then halved back to the first that fits, so a
    # metro whose core never fits tries a few counts, not every one up to twice the estimate
    n_subs, step, failed = n_needed, 1, n_needed - 1
    fits, sub_rule, sub_mva = place(n_subs)
    while not fits and n_subs < 2 * n_needed:
        failed, n_subs, step = n_subs, min(n_subs + step, 2 * n_needed), 2 * step
        fits, sub_rule, sub_mva = place(n_subs)
    if fits and n_subs - failed > 1:
        best, low = n_subs, failed
        while best - low > 1:
            mid = (best + low) // 2
            if place(mid)[0]:
                best = mid
            else:
                low = mid
        n_subs = best
        fits, sub_rule, sub_mva = place(best)  # the tree rooted at the count chosen
    unit = 10.0 if sub_mva.max() / target_trafo_loading <= 20.0 else 20.0
    units = np.maximum(1, np.ceil(sub_mva / (target_trafo_loading * unit))).astype(np.int64)

    design = _Design(
        dt_node=dt_node,
        dt_p_mw=dt_kw / 1000.0,
        dt_rating_kva=np.array([_choose_rating(float(s), ratings, target_trafo_loading) for s in dt_kva]),
        dt_tap_pos=np.full(n_dts, DT_TAP_POSITION, dtype=np.int64),
        feeders=[],
        sub_unit_mva=unit,
        sub_units=units,
        sub_tap_pos=np.zeros(len(units), dtype=np.int64),
        taps_tried=[{0} for _ in units],
    )
    design.feeders = _initial_feeders(tree, design, max_feeder_mw)
    log.info(
        "synthesising grid: %.2f MW base load, %d DTs, %d feeders, %d substation(s) of %s x %g MVA",
        design.dt_p_mw.sum(),
        n_dts,
        len(design.feeders),
        len(units),
        "/".join(str(int(u)) for u in units),
        unit,
    )

    # 6. MV design loop on the net with each DT's load on its LV busbar
    cache: dict[tuple[int, int], _Section] = {}
    built: _Built | None = None
    rounds = 0
    for round_no in range(_MAX_DESIGN_ROUNDS):
        rounds = round_no + 1
        built = _build_net(tree, design, kv=kv, crs=crs, cache=cache, f_hz=frequency_hz)
        _converge(built, design)
        changes = _adjust(built, design, tree, vm_min + DESIGN_VOLTAGE_MARGIN_PU)
        log.info("synthesising grid: design round %d of at most %d, %d change(s)", rounds, _MAX_DESIGN_ROUNDS,
                 len(changes))
        log.debug("design round %d: %s", round_no, "; ".join(changes) or "no change")
        if not changes:
            break
    else:
        log.warning("synthesised grid: MV design loop stopped after %d rounds before every feeder met its target",
                    rounds)
    # 7. the LV feeders, the OLTC set again on the full grid
    for _ in range(_MAX_DESIGN_ROUNDS):
        built = _build_net(tree, design, kv=kv, crs=crs, cache=cache, f_hz=frequency_hz, lv=lv)
        _converge(built, design)
        if not _tap_to_setpoint(built, design):
            break
    assert built is not None
    net = built.net
    n_bad, summary = _limits_summary(net, vm_min, vm_max)
    dt_loading = net.res_trafo.loc[built.dt_trafo, "loading_percent"].to_numpy()
    lv_vm = net.res_bus.loc[net.bus["role"] == "lv", "vm_pu"].to_numpy()
    log.info(
        "synthesised grid: %d buses (%d LV), %d lines, %d trafos; %s; LV voltage min %.3f / median %.3f pu; "
        "DT peak loading median %.0f %%, 90th percentile %.0f %%, max %.0f %%; %d element(s) outside limits",
        len(net.bus), len(lv_vm), len(net.line), len(net.trafo), summary, lv_vm.min(), np.median(lv_vm),
        np.median(dt_loading), np.percentile(dt_loading, 90), dt_loading.max(), n_bad,
    )
    if design.sub_units.max() * design.sub_unit_mva > 1.5 * max_substation_mva:
        log.warning(
            "a synthesised substation needs %d x %g MVA units (more than max_substation_mva %g): "
            "pass more OSM substations or lower max_substation_mva",
            int(design.sub_units.max()),
            design.sub_unit_mva,
            max_substation_mva,
        )
    # leave no results behind: a GridModel carries the grid, not a load-flow result
    for key in [k for k in list(net) if k.startswith("res_")]:
        net[key] = net[key].iloc[0:0]
    net.converged = False

    mv_type = _mv_line(kv["mv"])
    std = pp.available_std_types(net, "line")
    mv_mva = math.sqrt(3.0) * kv["mv"] * float(std.at[mv_type, "max_i_ka"])
    lv_kva = math.sqrt(3.0) * kv["lv"] * float(std.at[LV_LINE_STD_TYPE, "max_i_ka"]) * 1000.0
    if (kv["hv"], kv["mv"]) == (33.0, 11.0):
        levels = "voltage levels 33/11 kV (FACTS G4.01: India MV 11 kV and 33 kV, dnb.co.in)"
    else:
        levels = f"voltage levels {hv_kv:g}/{mv_kv:g} kV as given by the caller (FACTS G4.01 lists 33/11 kV for India)"
    counts = pd.Series(design.dt_rating_kva).value_counts().sort_index()
    assumptions = [
        levels,
        f"LV level {lv_kv:g} kV (pandapower convention for 400/415 V, FACTS G4.01); DTs {mv_kv:g}/0.433 kV: "
        f"no-load LV voltage {DT_NO_LOAD_LV_FACTOR:.4f} x nominal (433/415 V; India's 11/0.433 kV ratio, FACTS G4.03"
        + ("" if kv["mv"] == 11.0 else ", used at this MV level as an assumption") + ")",
        f"DT ratings from {', '.join(f'{r:g}' for r in ratings)} kVA (IS 1180 (Part 1):2014 standard ratings, P8.01; "
        f"urban range P8.02); built: " + ", ".join(f"{int(c)} x {r:g}" for r, c in counts.items()) + " kVA",
        "DT parameters vk 4.5-5 %, vkr 1.05-1.6 %, pfe 0.3-1.7 kW, i0 0.25-0.45 % by rating (typical values; "
        f"assumption); off-circuit tap fixed at position {DT_TAP_POSITION} (neutral) on every DT (P8.08, assumption)",
        f"one DT per service area, never paralleled: rating nearest (geometric mean rule) to the area's peak kVA / "
        f"{target_trafo_loading:.0%} typical peak loading (P8.03, assumption between a utility's 70 % augmentation trigger and "
        "published overload counts); service areas are the road-distance "
        f"Voronoi cells of the DTs, split while heavier than {target_trafo_loading:.0%} of {ratings[-1]:g} kVA or "
        f"reaching farther than {max_lv_feeder_m:g} m along the road or with an estimated LV drop above "
        f"{MAX_LV_DROP_PU:.0%} (load moment on the light LV conductor; P8.06, assumption)"
        + (f"; {shared} DTs share road nodes heavier than one DT" if shared else ""),
        f"base load spread from each load point over the road nodes within {LOAD_SPREAD_RADIUS_M:g} m nearest to it, "
        "by road length around each node (assumption: customers line the streets); first DT locations from "
        f"load-weighted k-means of the road nodes (k from a {design_kva:g} kVA design rating filled to {CLUSTER_FILL:g} "
        "x the typical loading; assumption) before the areas are split",
        f"LV feeders: overhead, pandapower std type {LV_LINE_STD_TYPE!r} ({lv_kva:.0f} kVA thermal at {lv_kv:g} kV; "
        f"stands in for ACSR Rabbit / 50 mm2 Al LT cable, P8.05, conf. L); {LV_LINE_STD_TYPE_HEAVY!r} (ACSR Dog / "
        f"95 mm2 stand-in, assumption) from DTs of {LV_HEAVY_FROM_KVA:g} kVA up and from DTs whose rating shared by "
        "their feeders exceeds the light conductor's; along the shortest road paths from the DT; "
        "one LV feeder per road branch at the DT; the loads of road nodes between branch points split between the "
        "ends of their section by position (keeps the far-end voltage drop)",
        f"{len(design.sub_units)} substation(s) of "
        f"{'/'.join(str(int(u)) for u in design.sub_units)} x {design.sub_unit_mva:g} MVA {hv_kv:g}/{mv_kv:g} kV, "
        f"at most {max_substation_mva:g} MVA rated per substation before another is added (assumption), vk "
        f"{SUBSTATION_TRAFO_PARAMETERS[design.sub_unit_mva]['vk_percent']:g} %, OLTC +-10 % in 1.25 % steps "
        f"holding the MV busbar at {MV_BUSBAR_SETPOINT_PU:g} pu +-{MV_BUSBAR_DEADBAND_PU * 100:.2f} % at every "
        "step of a load flow (P8.07, assumption)",
        f"each substation fed by its own {hv_kv:g} kV source (external grid) at {EXT_GRID_VM_PU:g} pu, infinite "
        f"short-circuit power; the {hv_kv:g} kV network between them is not modelled (assumption)",
        sub_rule,
        f"{mv_kv:g} kV lines: overhead ACSR, pandapower std type {mv_type!r} ({mv_mva:.1f} MVA at {mv_kv:g} kV; "
        "stands in for ACSR Dog, P8.04, conf. L); no underground cable and no paralleled line (as built)",
        "every DT supplied from the substation nearest by road; feeders routed along the shortest-path tree of the "
        "road graph from that substation; one feeder per "
        f"branch leaving it, halved (subtree closest to half the load) while above {max_feeder_mw:g} MW base load, "
        f"below {vm_min + DESIGN_VOLTAGE_MARGIN_PU:g} pu at an 11 kV bus or above its thermal rating (limit: "
        f"assumption; the default {DEFAULT_MAX_FEEDER_MW:g} MW is about 80 % of the 11 kV line rating)",
        f"limits {vm_min:g}-{vm_max:g} pu (FACTS G4.02 gives +-6 % for Indian LV; +-5 % used; assumption); the "
        f"synthesised base case has {n_bad} element(s) outside limits at base peak ({summary}): reported, not "
        "designed away",
        f"base load power factor {BASE_LOAD_POWER_FACTOR:g} lagging; loads of a DT area assumed coincident at peak "
        "(assumption)",
        f"frequency {frequency_hz:g} Hz (the country's, presets frequency_hz); transformer phase shifts ignored "
        "(assumption)",
    ]
    return GridModel(net=net, source="synthesised", crs=crs, assumptions=assumptions, synthetic=True)


def _converge(built: _Built, design: _Design) -> None:
    """Run the AC load flow of a design state; GridError when it does not converge."""
    try:
        run_pandapower(built.net)
    except pp.LoadflowNotConverged as exc:
        raise GridError(
            f"synthesised grid does not converge ({design.dt_p_mw.sum():.1f} MW base load on "
            f"{len(design.feeders)} feeders): check base_peak_kw units (kW), lower max_feeder_mw "
            "or pass a substation closer to the loads"
        ) from exc
