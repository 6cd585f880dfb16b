"""Cells and spatial weights: where in the study area the charging demand of each use case lies.

:func:`make_cells` cuts the study area into square or H3 cells. Weight layers
(:class:`WeightLayer`) put residents or attraction into the cells: exact area-weighted zonal
sums of a population raster (:func:`raster_zonal_sums`), building footprint area
(:func:`polygon_area_weights`) or points (:func:`point_weights`); :func:`residential_layer`
picks the best residents' source available (checking :func:`building_coverage`).
:func:`spatial_weights` mixes residents, POI attraction and depots into each use case's
cell shares (:class:`SpatialWeights`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from charge_planner.assumptions import POI_SHARE, POI_WEIGHTS
from charge_planner.errors import ConfigError, DataError
from charge_planner.presets import USE_CASES

log = logging.getLogger(__name__)

DEFAULT_POI_WEIGHT = 1.0
DEPOT_POI_KINDS: tuple[str, ...] = ("bus_depot", "bus_station")


# =============================================================================================
# 2. Cells
# =============================================================================================
def h3_resolution_for(cell_size_m: float) -> int:
    """The H3 resolution whose average cell area is closest (in ratio) to ``cell_size_m ** 2``."""
    import h3

    target = float(cell_size_m) ** 2
    return min(range(0, 16), key=lambda r: abs(math.log(h3.average_hexagon_area(r, "m^2") / target)))


def _square_cells(area: BaseGeometry, cell_size_m: float) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = area.bounds
    nx_ = max(int(math.ceil((maxx - minx) / cell_size_m)), 1)
    ny_ = max(int(math.ceil((maxy - miny) / cell_size_m)), 1)
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="ij")
    ix, iy = ix.ravel(), iy.ravel()
    x0, y0 = minx + ix * cell_size_m, miny + iy * cell_size_m
    geoms = shapely.box(x0, y0, x0 + cell_size_m, y0 + cell_size_m)
    ids = np.array([f"c{i:04d}_{j:04d}" for i, j in zip(ix, iy, strict=True)], dtype=object)
    return ids, geoms


def _h3_cells(area: BaseGeometry, crs: str, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    import h3
    from pyproj import Transformer

    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    edge = h3.average_hexagon_edge_length(resolution, "m")
    outline = shapely.segmentize(shapely.convex_hull(area), max(edge / 4.0, 1.0))
    lon, lat = to_ll.transform(*np.asarray(outline.exterior.coords).T)
    cells = set(h3.h3shape_to_cells(h3.LatLngPoly(list(zip(lat, lon, strict=True))), resolution))
    c_lon, c_lat = to_ll.transform(area.centroid.x, area.centroid.y)
    cells.add(h3.latlng_to_cell(c_lat, c_lon, resolution))
    target = area.area
    ids: list[str] = []
    geoms: np.ndarray = np.empty(0, dtype=object)
    for _ in range(6):  # grow the ring until the cells cover the study area
        cells |= {n for c in cells for n in h3.grid_disk(c, 1)}
        ids = sorted(cells)
        rings = []
        for c in ids:
            lat_lng = np.asarray(h3.cell_to_boundary(c))
            x, y = to_xy.transform(lat_lng[:, 1], lat_lng[:, 0])
            rings.append(np.column_stack([x, y]))
        geoms = np.array([shapely.Polygon(r) for r in rings], dtype=object)
        covered = float(shapely.area(shapely.intersection(shapely.union_all(geoms), area)))
        if covered >= target * (1.0 - 1e-9):
            break
    return np.array(ids, dtype=object), geoms


def make_cells(
    study_area: BaseGeometry,
    *,
    crs: str,
    cell_type: str = "square",
    cell_size_m: float = 400.0,
    h3_resolution: int | None = None,
) -> gpd.GeoDataFrame:
    """Cells covering the study area, clipped to it.

    Parameters
    ----------
    study_area
        Polygon in the projected ``crs`` [m].
    crs
        Projected metric CRS.
    cell_type
        "square" (edge ``cell_size_m``, aligned to the study area's lower-left corner, ids
        ``c<ix>_<iy>``) or "h3" (H3 hexagons, ids are the H3 indexes).
    cell_size_m
        Square edge, or the size whose square area picks the H3 resolution [m].
    h3_resolution
        Explicit H3 resolution (overrides ``cell_size_m``).

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``cell_id``: ``geometry`` (cell clipped to the study area), ``area_m2``
        [m2]. The cells tile the study area: their areas add up to its area.
    """
    if study_area is None or study_area.is_empty or study_area.area <= 0:
        raise DataError("the study area is empty; check the road network or the given boundary")
    if not (math.isfinite(cell_size_m) and cell_size_m > 0):
        raise ConfigError(f"cell_size_m must be positive, got {cell_size_m!r}")
    if cell_type == "square":
        ids, geoms = _square_cells(study_area, cell_size_m)
    elif cell_type == "h3":
        res = h3_resolution if h3_resolution is not None else h3_resolution_for(cell_size_m)
        ids, geoms = _h3_cells(study_area, crs, res)
    else:
        raise ConfigError(f"cell_type must be 'square' or 'h3', not {cell_type!r}")
    clipped = shapely.intersection(geoms, study_area)
    area = shapely.area(clipped)
    keep = area > 1e-9 * study_area.area
    cells = gpd.GeoDataFrame({"area_m2": area[keep]}, geometry=clipped[keep], crs=crs,
                             index=pd.Index(ids[keep], name="cell_id"))
    log.info("%d %s cells over %.2f km2", len(cells), cell_type, study_area.area / 1e6)
    return cells


# =============================================================================================
# 3. Spatial weights
# =============================================================================================
@dataclass
class WeightLayer:
    """A non-negative weight per cell and its weighted centre.

    Attributes
    ----------
    weight
        Weight per cell, aligned with the cells' order (unit of the layer: persons, m2 of
        footprint, or attraction points).
    wx, wy
        Weight x coordinate sums, per cell [unit x m]; centre = ``wx / weight``.
    total
        Sum of the weights inside the study area.
    source
        What the layer is.
    """

    weight: np.ndarray
    wx: np.ndarray
    wy: np.ndarray
    total: float
    source: str

    def centres(self, cells: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Weighted centre per cell; a cell's representative point where its weight is zero [m]."""
        rep = cells.geometry.representative_point()
        ok = self.weight > 0
        x = np.where(ok, np.divide(self.wx, self.weight, out=np.zeros_like(self.wx), where=ok), rep.x.to_numpy())
        y = np.where(ok, np.divide(self.wy, self.weight, out=np.zeros_like(self.wy), where=ok), rep.y.to_numpy())
        return x, y


def _bincount(idx: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(idx, weights=w, minlength=n).astype(float) if len(idx) else np.zeros(n)


def raster_zonal_sums(path: Path | str, cells: gpd.GeoDataFrame, *, study_area: BaseGeometry) -> WeightLayer:
    """Persons per cell from a persons-per-pixel raster, by exact area-weighted overlap.

    Each pixel's persons are spread uniformly over its area (the pixel outline projected to
    the cells' CRS). A cell receives ``persons x area(pixel & cell) / area(pixel)``; the
    pixel's share inside the study area is split over the cells in proportion to those
    overlaps, so the sum over cells equals the raster's persons inside the study area to
    floating-point rounding. Only the window of the raster around the study area is read.

    Parameters
    ----------
    path
        GeoTIFF (or any rasterio-readable raster) of persons per pixel, e.g. WorldPop ``ppp``.
    cells
        Output of :func:`make_cells`.
    study_area
        Polygon in the cells' CRS [m].

    Returns
    -------
    WeightLayer
        Persons per cell; ``total`` is the raster's persons inside the study area.

    Raises
    ------
    DataError
        When the raster cannot be read, has no CRS, has negative values near the study area,
        or does not overlap the study area.
    """
    import rasterio
    from pyproj import Transformer

    path = Path(path)
    crs = str(cells.crs)
    try:
        src = rasterio.open(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read the raster ({type(exc).__name__}: {exc})") from None
    with src:
        if src.crs is None:
            raise DataError(f"{path}: the raster has no CRS; set one (e.g. gdal_edit.py -a_srs EPSG:4326)")
        to_src = Transformer.from_crs(crs, src.crs, always_xy=True)
        to_xy = Transformer.from_crs(src.crs, crs, always_xy=True)
        left, bottom, right, top = to_src.transform_bounds(*study_area.bounds, densify_pts=21)
        inv = ~src.transform
        qx, qy = np.array([left, right, right, left]), np.array([bottom, bottom, top, top])
        cols, rows = inv.a * qx + inv.b * qy + inv.c, inv.d * qx + inv.e * qy + inv.f
        c0 = max(int(math.floor(float(np.min(cols)))) - 1, 0)
        r0 = max(int(math.floor(float(np.min(rows)))) - 1, 0)
        c1 = min(int(math.ceil(float(np.max(cols)))) + 1, src.width)
        r1 = min(int(math.ceil(float(np.max(rows)))) + 1, src.height)
        rb = src.bounds
        if c1 <= c0 or r1 <= r0:
            raise DataError(
                f"{path}: the population raster (bounds {rb.left:.5g}, {rb.bottom:.5g}, {rb.right:.5g}, {rb.top:.5g} "
                f"in {src.crs}) does not overlap the study area ({left:.5g}, {bottom:.5g}, {right:.5g}, {top:.5g}); "
                "check the file and its CRS"
            )
        from rasterio.windows import Window

        data = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0), masked=True)
        transform = src.transform
    vals = np.ma.filled(data.astype(float), np.nan)
    valid = np.isfinite(vals)
    if (vals[valid] < 0).any():
        n_neg = int((vals[valid] < 0).sum())
        raise DataError(f"{path}: {n_neg} pixels near the study area have negative values (min {np.nanmin(vals):g}); "
                        "persons per pixel cannot be negative: fix the raster or its nodata value")
    rr, cc = np.nonzero(valid & (vals > 0))
    v = vals[rr, cc]
    rr, cc = rr + r0, cc + c0
    # pixel outlines: corners (c, r), (c+1, r), (c+1, r+1), (c, r+1) through the affine transform
    dc = np.array([0, 1, 1, 0, 0])
    dr = np.array([0, 0, 1, 1, 0])
    pc = cc[:, None] + dc[None, :]
    pr = rr[:, None] + dr[None, :]
    px = transform.a * pc + transform.b * pr + transform.c
    py = transform.d * pc + transform.e * pr + transform.f
    x, y = to_xy.transform(px.ravel(), py.ravel())
    coords = np.stack([np.asarray(x).reshape(px.shape), np.asarray(y).reshape(py.shape)], axis=-1)
    pix = shapely.polygons(coords)
    # raster extent inside the study area (for a coverage message)
    ext = shapely.box(rb.left, rb.bottom, rb.right, rb.top)
    ext = shapely.segmentize(ext, max(abs(transform.a), abs(transform.e)) * 10)
    ex, ey = to_xy.transform(*np.asarray(ext.exterior.coords).T)
    coverage = float(shapely.area(shapely.intersection(shapely.Polygon(np.column_stack([ex, ey])), study_area)))
    coverage /= study_area.area
    if coverage <= 0:
        raise DataError(f"{path}: the population raster does not overlap the study area; check the file and its CRS")
    if coverage < 0.999:
        log.warning("%s covers only %.1f%% of the study area; the rest gets no residents", path.name, 100 * coverage)

    n = len(cells)
    tree = shapely.STRtree(pix)
    hit = tree.query(study_area, predicate="intersects")
    pix, v = pix[hit], v[hit]
    area_pix = shapely.area(pix)
    # pixels wholly inside the study area (most of them) need no clipping
    shapely.prepare(study_area)
    inside = np.ones(len(pix))
    part = ~shapely.contains_properly(study_area, pix)
    inside[part] = shapely.area(shapely.intersection(pix[part], study_area)) / area_pix[part]
    persons_in = v * inside
    total = float(math.fsum(persons_in))
    cell_geoms = cells.geometry.to_numpy()
    cell_tree = shapely.STRtree(cell_geoms)
    p_idx, c_idx = cell_tree.query(pix, predicate="intersects")
    # a pixel wholly inside one cell contributes its whole area at its centroid; others are clipped
    shapely.prepare(cell_geoms)
    whole = shapely.contains_properly(cell_geoms[c_idx], pix[p_idx])
    a = area_pix[p_idx].copy()
    cen = np.empty(len(p_idx), dtype=object)
    pix_cen = shapely.centroid(pix)
    cen[whole] = pix_cen[p_idx[whole]]
    clip = shapely.intersection(pix[p_idx[~whole]], cell_geoms[c_idx[~whole]])
    a[~whole] = shapely.area(clip)
    cen[~whole] = shapely.centroid(clip)
    keep = a > 0
    p_idx, c_idx, cen, a = p_idx[keep], c_idx[keep], cen[keep], a[keep]
    denom = _bincount(p_idx, a, len(pix))
    persons = persons_in[p_idx] * a / denom[p_idx]
    cx, cy = shapely.get_x(cen), shapely.get_y(cen)
    weight = _bincount(c_idx, persons, n)
    layer = WeightLayer(weight=weight, wx=_bincount(c_idx, persons * cx, n), wy=_bincount(c_idx, persons * cy, n),
                        total=total, source=f"{path.name}: persons per pixel, area-weighted zonal sums")
    log.info("%s: %.0f persons in the study area from %d pixels", path.name, total, len(pix))
    return layer


def polygon_area_weights(polygons: gpd.GeoSeries | gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> WeightLayer:
    """Footprint area per cell (e.g. buildings): each polygon's area split by its overlap with the cells.

    Parameters
    ----------
    polygons
        Polygons in the cells' CRS; other geometry types are ignored.
    cells
        Output of :func:`make_cells`.

    Returns
    -------
    WeightLayer
        Footprint area per cell [m2].
    """
    geoms = polygons.geometry if isinstance(polygons, gpd.GeoDataFrame) else polygons
    if len(geoms) and geoms.crs is not None and cells.crs is not None and not geoms.crs.equals(cells.crs):
        geoms = geoms.to_crs(cells.crs)
    g = geoms.to_numpy()
    g = g[np.isin(shapely.get_type_id(g), (3, 6))] if len(g) else g  # Polygon, MultiPolygon
    n = len(cells)
    if len(g) == 0:
        return WeightLayer(np.zeros(n), np.zeros(n), np.zeros(n), 0.0, "building footprints (none)")
    g = shapely.make_valid(g)
    tree = shapely.STRtree(cells.geometry.to_numpy())
    p_idx, c_idx = tree.query(g, predicate="intersects")
    inter = shapely.intersection(g[p_idx], cells.geometry.to_numpy()[c_idx])
    a = shapely.area(inter)
    cen = shapely.centroid(inter)
    ok = a > 0
    a, c_idx, cen = a[ok], c_idx[ok], cen[ok]
    cx, cy = shapely.get_x(cen), shapely.get_y(cen)
    w = _bincount(c_idx, a, n)
    return WeightLayer(w, _bincount(c_idx, a * cx, n), _bincount(c_idx, a * cy, n), float(w.sum()),
                       f"building footprint area ({len(g)} polygons)")


def point_weights(points: gpd.GeoSeries | gpd.GeoDataFrame, values: np.ndarray | Sequence[float],
                  cells: gpd.GeoDataFrame, *, what: str = "points") -> WeightLayer:
    """Sum point values into the cells (each point counts once, in the first cell that holds it).

    Parameters
    ----------
    points
        Points in the cells' CRS (other geometries count at their representative point).
    values
        Value per point (persons, attraction) [unit of the layer]; must be finite and >= 0.
    cells
        Output of :func:`make_cells`.
    what
        Name used in messages.

    Returns
    -------
    WeightLayer
        Sum of the values of the points inside each cell.

    Raises
    ------
    DataError
        When a value is negative or missing.
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    if len(geoms) and geoms.crs is not None and cells.crs is not None and not geoms.crs.equals(cells.crs):
        geoms = geoms.to_crs(cells.crs)
    vals = np.asarray(values, dtype=float)
    n = len(cells)
    if len(vals) != len(geoms):
        raise DataError(f"{what}: {len(vals)} values for {len(geoms)} points")
    if len(vals) and (not np.isfinite(vals).all() or (vals < 0).any()):
        raise DataError(f"{what} layer has negative or missing values; fix or drop those features")
    if len(vals) == 0:
        return WeightLayer(np.zeros(n), np.zeros(n), np.zeros(n), 0.0, f"{what} (none)")
    pts = shapely.point_on_surface(geoms.to_numpy())
    tree = shapely.STRtree(cells.geometry.to_numpy())
    p_idx, c_idx = tree.query(pts, predicate="intersects")
    order = np.lexsort((c_idx, p_idx))
    p_idx, c_idx = p_idx[order], c_idx[order]
    first = np.unique(p_idx, return_index=True)[1]
    p_idx, c_idx = p_idx[first], c_idx[first]
    outside = len(pts) - len(p_idx)
    if outside:
        log.info("%s: %d of %d points (%.0f of %.0f) lie outside the study area", what, outside, len(pts),
                 vals.sum() - vals[p_idx].sum(), vals.sum())
    x, y = shapely.get_x(pts[p_idx]), shapely.get_y(pts[p_idx])
    w = _bincount(c_idx, vals[p_idx], n)
    return WeightLayer(w, _bincount(c_idx, vals[p_idx] * x, n), _bincount(c_idx, vals[p_idx] * y, n),
                       float(w.sum()), what)


@dataclass
class SpatialWeights:
    """Cell weights of every use case.

    Attributes
    ----------
    cells
        The cells with ``population`` [persons], ``x``, ``y`` (residents' centre) [m],
        ``attraction`` [points] and ``depots`` [points].
    shares
        Cells x use cases; each column sums to 1 (or is all zero when nothing is there).
    cx, cy
        Cells x use cases: the weighted centre of each use case's weight in each cell [m].
    population_total
        Residents of the study area [persons].
    population_source
        Where the residents come from.
    """

    cells: gpd.GeoDataFrame
    shares: pd.DataFrame
    cx: pd.DataFrame
    cy: pd.DataFrame
    population_total: float
    population_source: str


def spatial_weights(
    cells: gpd.GeoDataFrame,
    residential: WeightLayer,
    *,
    population_total: float | None = None,
    pois: gpd.GeoDataFrame | None = None,
    poi_share: Mapping[str, float] | None = None,
    poi_weights: Mapping[str, float] | None = None,
) -> SpatialWeights:
    """Combine residents, POI attraction and depots into one weight column per use case.

    * home: residents;
    * depot: depot POIs (``bus_depot``, ``bus_station``), else residents;
    * public AC, public DC, swapping: ``(1 - a) x residents + a x POI attraction``, both
      normalised to 1, with ``a`` from ``poi_share`` (default :data:`~charge_planner.assumptions.POI_SHARE`); without
      POIs, residents only.

    Parameters
    ----------
    cells
        Output of :func:`make_cells`.
    residential
        Residents' weight layer (raster persons, building area or population points).
    population_total
        Residents of the study area [persons]; default ``residential.total`` (use it when the
        layer is not in persons, e.g. building area).
    pois
        Points of interest with a ``kind`` column.
    poi_share
        Share of each use case's weight from POI attraction [0-1].
    poi_weights
        Attraction per POI kind (default :data:`~charge_planner.assumptions.POI_WEIGHTS`; other kinds count 1).

    Raises
    ------
    DataError
        When the residential layer is empty inside the study area.
    """
    if residential.total <= 0 or residential.weight.sum() <= 0:
        raise DataError(f"no residents in the study area ({residential.source}); check the population data and "
                        "that it overlaps the road network")
    share_of = {**POI_SHARE, **(poi_share or {})}
    kind_w = {**POI_WEIGHTS, **(poi_weights or {})}
    n = len(cells)
    pop_total = float(residential.total if population_total is None else population_total)
    if not (math.isfinite(pop_total) and pop_total > 0):
        raise DataError(f"population total must be a positive number of persons, got {population_total!r}")
    r_sum = float(residential.weight.sum())
    r_norm = residential.weight / r_sum
    rx, ry = residential.centres(cells)
    empty = WeightLayer(np.zeros(n), np.zeros(n), np.zeros(n), 0.0, "none")
    attraction, depots = empty, empty
    if pois is not None and len(pois):
        if "kind" not in pois.columns:
            raise DataError("POI layer has no 'kind' column")
        kinds = pois["kind"].astype(str).to_numpy()
        w = np.array([kind_w.get(k, DEFAULT_POI_WEIGHT) for k in kinds], dtype=float)
        attraction = point_weights(pois, w, cells, what="POI attraction")
        is_depot = np.isin(kinds, DEPOT_POI_KINDS)
        if is_depot.any():
            depots = point_weights(pois[is_depot], np.ones(int(is_depot.sum())), cells, what="depots")
    cols_w, cols_x, cols_y = {}, {}, {}
    for u in USE_CASES:
        if u == "home":
            layers = [(1.0, residential)]
        elif u == "depot":
            layers = [(1.0, depots)] if depots.weight.sum() > 0 else [(1.0, residential)]
        else:
            a = float(share_of.get(u, 0.0))
            if attraction.weight.sum() <= 0:
                a = 0.0
            layers = [(1.0 - a, residential), (a, attraction)]
        w_u = np.zeros(n)
        wx_u = np.zeros(n)
        wy_u = np.zeros(n)
        for coef, layer in layers:
            s = float(layer.weight.sum())
            if coef <= 0 or s <= 0:
                continue
            w_u += coef * layer.weight / s
            wx_u += coef * layer.wx / s
            wy_u += coef * layer.wy / s
        total = w_u.sum()
        if total > 0:
            w_u, wx_u, wy_u = w_u / total, wx_u / total, wy_u / total
        ok = w_u > 0
        cols_w[u] = w_u
        cols_x[u] = np.where(ok, np.divide(wx_u, w_u, out=np.zeros(n), where=ok), rx)
        cols_y[u] = np.where(ok, np.divide(wy_u, w_u, out=np.zeros(n), where=ok), ry)
    if depots.weight.sum() <= 0:
        log.info("no bus depots or stations among the POIs: depot charging follows the residents")
    if attraction.weight.sum() <= 0:
        log.info("no POIs in the study area: destination charging follows the residents")
    out = cells.copy()
    out["population"] = pop_total * r_norm
    out["x"], out["y"] = rx, ry
    out["attraction"] = attraction.weight
    out["depots"] = depots.weight
    idx = cells.index
    return SpatialWeights(
        cells=out,
        shares=pd.DataFrame(cols_w, index=idx),
        cx=pd.DataFrame(cols_x, index=idx),
        cy=pd.DataFrame(cols_y, index=idx),
        population_total=pop_total,
        population_source=residential.source,
    )


MIN_BUILDING_COVERAGE = 0.9


def building_coverage(buildings: gpd.GeoDataFrame, cells: gpd.GeoDataFrame,
                      population: gpd.GeoDataFrame | None) -> float:
    """How completely building footprints are mapped: the share of the population points (or,
    without them, of the cells) that lies in cells holding some footprint [0-1]."""
    has = polygon_area_weights(buildings, cells).weight > 0
    if population is None or len(population) == 0 or "population" not in population.columns:
        return float(has.mean()) if len(has) else 0.0
    pts = point_weights(population, population["population"].to_numpy(dtype=float), cells, what="population")
    return float(pts.weight[has].sum() / pts.weight.sum()) if pts.weight.sum() > 0 else 0.0


def residential_layer(
    cells: gpd.GeoDataFrame,
    *,
    study_area: BaseGeometry,
    raster: Path | str | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    population: gpd.GeoDataFrame | None = None,
    population_total: float | None = None,
    mode: str = "auto",
) -> tuple[WeightLayer, float]:
    """Residents' weight layer and the residents' total, from the best source available.

    "auto" uses the population raster when given, else building footprints (scaled to
    ``population_total``) when they are mapped completely enough (cells with footprints hold
    at least :data:`MIN_BUILDING_COVERAGE` of the population points), else population points.

    Returns
    -------
    tuple
        (layer, residents of the study area [persons]).
    """
    has_buildings = buildings is not None and len(buildings) > 0
    if mode == "auto":
        mode = "raster" if raster is not None else "points"
        if raster is None and has_buildings and population_total:
            coverage = building_coverage(buildings, cells, population)
            if coverage >= MIN_BUILDING_COVERAGE:
                mode = "buildings"
            else:
                log.info("building footprints cover cells with only %.0f%% of the population points (need %.0f%%): "
                         "residents follow the population points; set demand.residential_weights = 'buildings' to "
                         "force them", 100 * coverage, 100 * MIN_BUILDING_COVERAGE)
    if mode == "raster":
        if raster is None:
            raise ConfigError("demand.residential_weights = 'raster' needs data.population_raster")
        layer = raster_zonal_sums(raster, cells, study_area=study_area)
        return layer, layer.total
    if mode == "buildings":
        if not has_buildings:
            raise DataError("demand.residential_weights = 'buildings' but the city has no building footprints")
        if not population_total:
            raise ConfigError("building-area weights need data.population_total (persons in the study area)")
        layer = polygon_area_weights(buildings, cells)
        if layer.total <= 0:
            raise DataError("no building footprint lies inside the study area")
        return layer, float(population_total)
    if mode == "points":
        if population is None or len(population) == 0:
            raise DataError("no population points; give data.population_raster or data.population_total")
        if "population" not in population.columns:
            raise DataError("population layer has no 'population' column")
        layer = point_weights(population, population["population"].to_numpy(dtype=float), cells, what="population")
        return layer, layer.total
    raise ConfigError(f"residential_weights must be 'auto', 'raster', 'buildings' or 'points', not {mode!r}")
