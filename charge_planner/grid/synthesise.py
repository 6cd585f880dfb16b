"""Grid synthesis: a radial 33/11/0.4 kV grid along the roads that carries the base load.

Synthesised grids (:func:`synthesise_grid`) follow the roads: a 33/11 kV substation, 11 kV
radial cable feeders along the shortest-path tree of the road graph, 11/0.4 kV
distribution transformers (DTs) at load clusters, and one LV bus per DT carrying the
aggregated base load. They are a plausible stand-in where no utility grid data exists,
not a copy of the real grid; :attr:`GridModel.assumptions` says what was assumed.
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
    _cluster_loads,
    _Design,
    _initial_feeders,
    _mv_cable,
    _place_substations,
    _Section,
    _split_feeder,
)
from charge_planner.grid.model import (
    BASE_LOAD_POWER_FACTOR,
    CLUSTER_FILL,
    DEFAULT_MAX_FEEDER_MW,
    DEFAULT_MAX_SUBSTATION_MVA,
    DESIGN_DT_RATING_KVA,
    DESIGN_LOADING_PERCENT,
    DESIGN_VOLTAGE_MARGIN_PU,
    DT_TAP,
    EXT_GRID_VM_PU,
    FREQUENCY_HZ,
    MAX_LV_SERVICE_RADIUS_M,
    MV_BUSBAR_SETPOINT_PU,
    STANDARD_DT_RATINGS_KVA,
    SUBSTATION_TAP,
    SUBSTATION_TRAFO_PARAMETERS,
    GridModel,
    _bus_label,
    _road_tree,
    _RoadTree,
    run_pandapower,
)

log = logging.getLogger(__name__)

__all__ = ["synthesise_grid"]

#: Most substations synthesis builds: 200 x the default 60 MVA is 12 GVA, above the peak demand
#: of any city the presets cover (Delhi's record peak, about 8.7 GW in June 2024). More means a
#: base load in the wrong unit or a tiny ``max_substation_mva``; placing them would take hours.
MAX_SYNTH_SUBSTATIONS = 200

#: Largest rating of one 33/11 kV substation suggested as a fix [MVA] (4 x 50 MVA units).
_LARGEST_SUBSTATION_MVA = 200.0

#: Most distribution transformers (DT service areas) synthesis builds: each adds buses, a
#: transformer and a load to every AC load flow of the design loop (about 250 DTs take 2 s).
MAX_SYNTH_DTS = 20_000

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
def _next_rating(rating: float, ratings: np.ndarray) -> float | None:
    bigger = ratings[ratings > rating]
    return float(bigger[0]) if len(bigger) else None


def _adjust(
    built: _Built,
    design: _Design,
    tree: _RoadTree,
    ratings: np.ndarray,
    vm_min: float,
    vm_max: float,
) -> list[str]:
    """One design round: look at the load flow and change the design. Returns what changed."""
    net = built.net
    vm = net.res_bus["vm_pu"]
    changes: list[str] = []

    # 1. substation OLTC holds the MV busbar at the setpoint. The dead band (+-0.75 step) is
    # wider than the voltage change of one step, so the tap cannot hunt; a tap already
    # tried is never tried again.
    step = SUBSTATION_TAP["tap_step_percent"] / 100.0
    tap_changes: list[str] = []
    for i, busbar in enumerate(built.mv_busbar):
        error = MV_BUSBAR_SETPOINT_PU - float(vm.at[int(busbar)])
        if abs(error) <= 0.75 * step:
            continue
        n_steps = int(np.sign(error)) * max(1, round(abs(error) / step))
        new_tap = int(
            np.clip(design.sub_tap_pos[i] - n_steps, SUBSTATION_TAP["tap_min"], SUBSTATION_TAP["tap_max"])
        )
        if new_tap != design.sub_tap_pos[i] and new_tap not in design.taps_tried[i]:
            design.sub_tap_pos[i] = new_tap
            design.taps_tried[i].add(new_tap)
            tap_changes.append(f"substation S{i} tap -> {new_tap}")
    if tap_changes:
        return tap_changes

    # 2. thermal: cables, DTs, substation above the design loading
    res_line = net.res_line["loading_percent"]
    for li, loading in res_line[res_line > DESIGN_LOADING_PERCENT].items():
        key = built.line_key[int(li)]
        par = int(net.line.at[li, "parallel"])
        design.section_parallel[key] = math.ceil(par * loading / DESIGN_LOADING_PERCENT)
        changes.append(f"line {li} parallel -> {design.section_parallel[key]}")
    res_trafo = net.res_trafo["loading_percent"]
    for i, sub_trafo in enumerate(built.sub_trafo):
        sub_loading = float(res_trafo.at[int(sub_trafo)])
        if sub_loading > DESIGN_LOADING_PERCENT:
            design.sub_units[i] = math.ceil(design.sub_units[i] * sub_loading / DESIGN_LOADING_PERCENT)
            changes.append(f"substation S{i} units -> {design.sub_units[i]}")
    dt_loading = res_trafo.reindex(built.dt_trafo).to_numpy()
    for d in np.flatnonzero(dt_loading > DESIGN_LOADING_PERCENT):
        bigger = _next_rating(float(design.dt_rating_kva[d]), ratings)
        if bigger is not None:
            design.dt_rating_kva[d] = bigger
        else:
            design.dt_parallel[d] += 1
        changes.append(f"DT{d} upsized")
    if changes:
        design.taps_tried = [{int(t)} for t in design.sub_tap_pos]  # the grid changed: any tap may be right
        return changes

    # 3. voltage
    low_feeders: set[int] = set()
    for b in vm.index[vm < vm_min]:
        role = net.bus.at[b, "role"]
        if role == "mv":
            low_feeders.add(built.bus_feeder[int(b)])
    dt_v_hv = vm.reindex(built.dt_hv_bus).to_numpy()
    dt_v_lv = vm.reindex(built.dt_lv_bus).to_numpy()
    for d in np.flatnonzero(dt_v_lv < vm_min):
        if dt_v_hv[d] < vm_min + 0.01 and built.dt_feeder[d] >= 0:
            low_feeders.add(int(built.dt_feeder[d]))
        elif design.dt_tap_pos[d] > DT_TAP["tap_min"]:
            design.dt_tap_pos[d] -= 1  # HV-side tap down raises the LV voltage
            changes.append(f"DT{d} tap -> {design.dt_tap_pos[d]}")
        else:
            bigger = _next_rating(float(design.dt_rating_kva[d]), ratings)
            if bigger is not None:
                design.dt_rating_kva[d] = bigger
            else:
                design.dt_parallel[d] += 1
            changes.append(f"DT{d} upsized for voltage")
    for d in np.flatnonzero(dt_v_lv > vm_max):
        if design.dt_tap_pos[d] < DT_TAP["tap_max"]:
            design.dt_tap_pos[d] += 1
            changes.append(f"DT{d} tap -> {design.dt_tap_pos[d]}")
    new_feeders: list[list[int]] = []
    for f, dts in enumerate(design.feeders):
        parts = _split_feeder(tree, dts, design) if f in low_feeders else None
        if parts is not None:
            new_feeders += parts
            changes.append(f"feeder {f} split for voltage")
        else:
            new_feeders.append(dts)
            if f in low_feeders:  # a single DT far away: reinforce its cable route
                fkey = min(dts)
                for li, key in built.line_key.items():
                    if key[0] == fkey:
                        design.section_parallel[key] = int(net.line.at[li, "parallel"]) + 1
                changes.append(f"feeder {f} reinforced for voltage")
    design.feeders = sorted(new_feeders, key=min)
    if changes:
        design.taps_tried = [{int(t)} for t in design.sub_tap_pos]
    return changes


def _within_limits(net: pandapowerNet, vm_min: float, vm_max: float) -> tuple[bool, str]:
    vm = net.res_bus["vm_pu"]
    line = net.res_line["loading_percent"] if len(net.line) else pd.Series(dtype=float)
    trafo = net.res_trafo["loading_percent"]
    worst = (
        f"voltage {vm.min():.3f}-{vm.max():.3f} pu (lowest at bus {_bus_label(net, int(vm.idxmin()))}), "
        f"max line loading {line.max() if len(line) else 0.0:.0f} %, max trafo loading {trafo.max():.0f} %"
    )
    ok = bool(vm.min() >= vm_min and vm.max() <= vm_max and (line < 100.0).all() and (trafo < 100.0).all())
    return ok, worst


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
    trafo_ratings_kva: Sequence[float] = STANDARD_DT_RATINGS_KVA,
    target_trafo_loading: float = 0.6,
    max_feeder_mw: float = DEFAULT_MAX_FEEDER_MW,
    substations: gpd.GeoDataFrame | None = None,
    max_substation_mva: float = DEFAULT_MAX_SUBSTATION_MVA,
    seed: int = 0,
    frequency_hz: float = FREQUENCY_HZ,
) -> GridModel:
    """Synthesise a radial 33/11/0.4 kV grid that follows the roads and carries the base load.

    Steps:

    1. Loads are grouped into DT service areas by weighted k-means on their coordinates
       (k = total kVA / (0.8 x ``target_trafo_loading`` x 630 kVA)); an area heavier than
       ``target_trafo_loading`` x the largest rating, or wider than 500 m from its centre,
       is split in two until none is. Each area gets the smallest standard rating loaded to
       at most ``target_trafo_loading``, placed at the road node nearest its load-weighted
       centre, with one LV bus carrying the area's base load.
    2. Substations: n = ceil(total MVA / (``target_trafo_loading`` x ``max_substation_mva``)).
       Given (OSM) substations near the roads are kept where they are; when fewer than n,
       the others are placed by load (weighted k-means of the DT loads with the given ones
       held fixed). Each sits at its nearest road node; every DT is supplied from the
       substation nearest by road (multi-source shortest paths) and a substation that no
       DT is nearest to is dropped. Units (10 MVA, or 20 MVA above 20 MVA of need) are
       loaded to at most ``target_trafo_loading``; each substation has its own 33 kV source.
    3. 11 kV cables follow the shortest-path forest of the (undirected) road graph from the
       substation nodes, using only the union of paths to DT nodes; chains of road nodes
       without a DT or branch point become one line section whose length is the sum of the
       road edge lengths and whose geometry follows the roads.
    4. Feeders: each branch of that tree leaving the substation node is a feeder with its
       own bay. A feeder whose base load exceeds ``max_feeder_mw`` is split in two: the DTs
       of the subtree (of its route) whose load is closest to half the feeder's become a
       new feeder with its own cable from the substation (on a chain: near half and far
       half); repeated until every feeder is within ``max_feeder_mw`` or is a single DT.
       Feeders sharing a road run in parallel cables with their own buses.
    5. Design loop (AC load flow each round): the substation on-load tap changer holds the
       11 kV busbar at 1.03 pu (dead band +-0.9 %); cables above 80 % loading get parallel cables; DTs and
       substation units above 80 % are upsized; a feeder with buses below 0.955 pu is
       split again (or its cables doubled when it has one DT); an LV bus below 0.955 pu whose
       DT sees a healthy MV voltage gets a DT tap boost (then a bigger DT). The result must
       lie within 0.95-1.05 pu with every loading below 100 %, else GridError.

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
        three-phase level (FACTS G4.01, G4.02).
    trafo_ratings_kva
        Standard DT ratings [kVA] (FACTS G4.03).
    target_trafo_loading
        Design loading of DTs and substation units at base peak [-].
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

    Returns
    -------
    GridModel
        ``synthetic=True``; ``source="synthesised"``; ``assumptions`` lists what was assumed.

    Raises
    ------
    DataError
        Invalid roads, loads or parameters (all problems in one message).
    GridError
        When no within-limits base case (0.95-1.05 pu, loadings below 100 %) is reached, or
        before any work when the grid would need more than :data:`MAX_SYNTH_SUBSTATIONS`
        substations (or more substations than DTs) or more than :data:`MAX_SYNTH_DTS` DTs.
    """
    vm_min, vm_max = 0.95, 1.05
    if frequency_hz not in (50.0, 60.0):
        raise DataError(f"synthesise_grid: frequency_hz {frequency_hz!r} is neither 50 nor 60 Hz, the only public "
                        "grid frequencies; give the country's (presets frequency_hz)")
    kv = {"hv": float(hv_kv), "mv": float(mv_kv), "lv": float(lv_kv)}
    ratings = np.array(sorted({float(r) for r in trafo_ratings_kva}), dtype=float)
    crs = _validate_inputs(
        roads, loads, substations, list(trafo_ratings_kva), target_trafo_loading, max_feeder_mw, kv,
        max_substation_mva,
    )
    tree = _road_tree(roads)
    xy, kw = _load_points(loads)
    kva = kw / BASE_LOAD_POWER_FACTOR

    log.info("synthesising grid: %d load points, %.2f MW base load; grouping them into DT areas",
             len(kw), float(kw.sum()) / 1000.0)
    # 1. DT service areas
    not_above = ratings[ratings <= DESIGN_DT_RATING_KVA]
    design_kva = float(not_above[-1]) if len(not_above) else float(ratings[0])
    clusters = _cluster_loads(
        xy,
        kva,
        target=target_trafo_loading,
        max_rating_kva=float(ratings[-1]),
        design_kva=design_kva,
        seed=seed,
    )
    comp_tree = cKDTree(tree.xy[tree.component])
    centres = np.array([np.average(xy[c], axis=0, weights=kva[c]) for c in clusters])
    dt_node = tree.component[comp_tree.query(centres)[1]].astype(np.int64)
    dt_kva = np.array([kva[c].sum() for c in clusters])
    chosen = [_choose_rating(float(s), ratings, target_trafo_loading) for s in dt_kva]

    # 2. substations: the given ones near the roads, more placed by load when the load needs them
    total_mva = float(dt_kva.sum()) / 1000.0
    n_needed = max(1, math.ceil(total_mva / (target_trafo_loading * max_substation_mva)))
    _check_size(len(clusters), n_needed, total_mva, target_trafo_loading, max_substation_mva)
    log.info("synthesising grid: %d DT areas; placing %d substation(s)", len(clusters), n_needed)
    osm_xy = None
    if substations is not None and len(substations):
        pts = substations.geometry.representative_point()
        osm_xy = np.column_stack([pts.x.to_numpy(dtype=float), pts.y.to_numpy(dtype=float)])
    # dense cores draw more load than k-means balances: add substations until each one's
    # load fits (at most twice the first estimate)
    for n_subs in range(n_needed, 2 * n_needed + 1):
        roots, sub_rule = _place_substations(tree, comp_tree, centres, dt_kva, osm_xy, n_subs, xy, kva)
        _shortest_path_forest(tree, roots)
        dt_sub = tree.sub_of[dt_node]
        used = np.unique(dt_sub)
        if len(used) < len(roots):  # a substation no DT is nearest to is not built
            _shortest_path_forest(tree, roots[used])
            dt_sub = tree.sub_of[dt_node]
        sub_mva = np.bincount(dt_sub, weights=dt_kva, minlength=len(tree.roots)) / 1000.0
        if sub_mva.max() <= target_trafo_loading * max_substation_mva or len(used) < len(roots):
            break
    unit = 10.0 if sub_mva.max() / target_trafo_loading <= 20.0 else 20.0
    units = np.maximum(1, np.ceil(sub_mva / (target_trafo_loading * unit))).astype(np.int64)

    design = _Design(
        dt_node=dt_node,
        dt_p_mw=np.array([kw[c].sum() for c in clusters]) / 1000.0,
        dt_rating_kva=np.array([c[0] for c in chosen], dtype=float),
        dt_parallel=np.array([c[1] for c in chosen], dtype=np.int64),
        dt_tap_pos=np.zeros(len(clusters), dtype=np.int64),
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
        len(clusters),
        len(design.feeders),
        len(units),
        "/".join(str(int(u)) for u in units),
        unit,
    )

    # 5. design loop
    cache: dict[tuple[int, int], _Section] = {}
    built: _Built | None = None
    done = False
    rounds = 0
    for round_no in range(_MAX_DESIGN_ROUNDS):
        rounds = round_no + 1
        built = _build_net(tree, design, kv=kv, crs=crs, cache=cache, f_hz=frequency_hz)
        try:
            run_pandapower(built.net)
        except pp.LoadflowNotConverged as exc:
            raise GridError(
                f"synthesised grid does not converge ({design.dt_p_mw.sum():.1f} MW base load on "
                f"{len(design.feeders)} feeders from one substation): check base_peak_kw units (kW) "
                "or pass a substation closer to the loads"
            ) from exc
        changes = _adjust(
            built, design, tree, ratings, vm_min + DESIGN_VOLTAGE_MARGIN_PU, vm_max - DESIGN_VOLTAGE_MARGIN_PU
        )
        log.info("synthesising grid: design round %d of at most %d, %d change(s)", rounds, _MAX_DESIGN_ROUNDS,
                 len(changes))
        log.debug("design round %d: %s", round_no, "; ".join(changes) or "no change")
        if not changes:
            done = True
            break
    assert built is not None
    ok, summary = _within_limits(built.net, vm_min, vm_max)
    if not ok:
        raise GridError(
            f"synthesised grid is outside limits after {rounds} design rounds ({summary}): "
            "lower max_feeder_mw, pass a substation closer to the loads or check base_peak_kw"
        )
    if not done:
        log.warning("synthesised grid: design loop stopped before every item met its target (%s)", summary)
    if design.sub_units.max() * design.sub_unit_mva > 1.5 * max_substation_mva:
        log.warning(
            "a synthesised substation needs %d x %g MVA units (more than max_substation_mva %g): "
            "pass more OSM substations or lower max_substation_mva",
            int(design.sub_units.max()),
            design.sub_unit_mva,
            max_substation_mva,
        )
    net = built.net
    log.info(
        "synthesised grid: %d buses, %d lines, %d trafos; %s",
        len(net.bus),
        len(net.line),
        len(net.trafo),
        summary,
    )
    # leave no results behind: a GridModel carries the grid, not a load-flow result
    for key in [k for k in list(net) if k.startswith("res_")]:
        net[key] = net[key].iloc[0:0]
    net.converged = False

    cable = _mv_cable(kv["mv"])
    cable_mva = math.sqrt(3.0) * kv["mv"] * float(pp.available_std_types(net, "line").at[cable, "max_i_ka"])
    if (kv["hv"], kv["mv"]) == (33.0, 11.0):
        levels = "voltage levels 33/11 kV (FACTS G4.01: India MV 11 kV and 33 kV, dnb.co.in)"
    else:
        levels = f"voltage levels {hv_kv:g}/{mv_kv:g} kV as given by the caller (FACTS G4.01 lists 33/11 kV for India)"
    assumptions = [
        levels,
        f"LV level {lv_kv:g} kV: pandapower convention; FACTS G4.01/G4.03 give 400/415 V three-phase and "
        "11/0.433 kV DTs (the 0.433 kV no-load ratio is not modelled; assumption)",
        f"DT ratings from {', '.join(f'{r:g}' for r in ratings)} kVA (FACTS G4.03, IS 2026-based table, conf. L)",
        "DT parameters vk 4.5-5 %, vkr 1.05-1.5 %, pfe 0.45-1.7 kW, i0 0.25-0.4 % by rating; off-circuit tap "
        "+-5 % in 2.5 % steps (typical values; assumption)",
        f"DTs sized for {target_trafo_loading:.0%} loading at base peak; service areas from load-weighted k-means "
        f"(design rating {design_kva:g} kVA, fill {CLUSTER_FILL:g}), split when heavier than "
        f"{target_trafo_loading:.0%} of the largest rating or wider than {MAX_LV_SERVICE_RADIUS_M:g} m "
        "(assumption); LV networks not modelled, each DT area is one LV bus",
        f"{len(design.sub_units)} substation(s) of "
        f"{'/'.join(str(int(u)) for u in design.sub_units)} x {design.sub_unit_mva:g} MVA {hv_kv:g}/{mv_kv:g} kV, "
        f"at most {max_substation_mva:g} MVA rated per substation before another is added (assumption), vk "
        f"{SUBSTATION_TRAFO_PARAMETERS[design.sub_unit_mva]['vk_percent']:g} %, OLTC +-10 % in 1.25 % steps "
        f"holding the MV busbar at {MV_BUSBAR_SETPOINT_PU:g} pu +-0.9 % (assumption)",
        f"each substation fed by its own {hv_kv:g} kV source (external grid) at {EXT_GRID_VM_PU:g} pu, infinite "
        f"short-circuit power; the {hv_kv:g} kV network between them is not modelled (assumption)",
        sub_rule,
        f"{mv_kv:g} kV cable: pandapower std type {cable!r} (240 mm2 Al XLPE, {cable_mva:.1f} MVA at "
        f"{mv_kv:g} kV; stands in for Indian 11 kV 3x240 mm2 Al XLPE cable"
        + ("" if kv["mv"] <= 24.0 else "; data of a 20 kV cable used as a proxy above 24 kV")
        + f"; assumption); parallel cables where a section exceeds {DESIGN_LOADING_PERCENT:g} % loading",
        "every DT supplied from the substation nearest by road; feeders routed along the shortest-path tree of the "
        "road graph from that substation; one feeder per "
        f"branch leaving it, halved (subtree closest to half the load) while above {max_feeder_mw:g} MW base load "
        f"(limit: assumption; the default {DEFAULT_MAX_FEEDER_MW:g} MW is about 60 % of the 11 kV cable rating)",
        f"design voltage band {vm_min + DESIGN_VOLTAGE_MARGIN_PU:g}-{vm_max - DESIGN_VOLTAGE_MARGIN_PU:g} pu inside "
        f"limits of {vm_min:g}-{vm_max:g} pu (FACTS G4.02 gives +-6 % for Indian LV; +-5 % used; assumption)",
        f"base load power factor {BASE_LOAD_POWER_FACTOR:g} lagging; loads of a DT area assumed coincident at peak "
        "(assumption)",
        f"frequency {frequency_hz:g} Hz (the country's, presets frequency_hz); transformer phase shifts ignored "
        "(assumption)",
    ]
    return GridModel(net=net, source="synthesised", crs=crs, assumptions=assumptions, synthetic=True)
