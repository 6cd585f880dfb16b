"""Benchmark of the demand stage's zonal sums and allocation on a city-sized population raster.

Run:  python tests/benchmarks/bench_demand.py [--km 30] [--cell 400] [--repeats 3]

A WorldPop-like raster (EPSG:4326, 3-arc-second pixels, lognormal persons per pixel, some
nodata) is written to a temporary GeoTIFF; a square study area of ``--km`` km is laid over
it in UTM 45N and cut into square cells. Compared side by side on the same inputs:

* ``charge_planner.demand.raster_zonal_sums`` — exact area-weighted sums in the projected CRS;
* exactextract ``exact_extract(..., "sum")`` — the reference for exact coverage-weighted zonal
  sums (C++), cells given in the raster's CRS;
* rasterstats ``zonal_stats(..., stats="sum")`` — pixel-centre rule;
* pixel-centre binning as in ``city.read_population_raster`` + ``demand.population_by_cell``.

Printed: wall time (median of the repeats), total persons and their error against the
persons inside the study area, the largest per-cell difference to exactextract, and the
time ratio of each peer to charge_planner. Then the whole allocation (fleet projection,
energy by use case, allocation for 7 years, profiles, per-cell peaks) on those cells.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

UTM = "EPSG:32645"
RES_DEG = 1 / 1200  # 3 arc-seconds, the WorldPop 100 m grid


def write_raster(path: Path, km: float, seed: int = 7) -> tuple[Path, shapely.Polygon]:
    import rasterio
    from affine import Affine
    from pyproj import Transformer

    to_xy = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    cx, cy = to_xy.transform(85.32, 27.70)
    half = km * 500.0
    area = box(cx - half, cy - half, cx + half, cy + half)
    to_ll = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    left, bottom, right, top = to_ll.transform_bounds(*area.bounds, densify_pts=21)
    left, bottom, right, top = left - 0.01, bottom - 0.01, right + 0.01, top + 0.01
    w = int(np.ceil((right - left) / RES_DEG))
    h = int(np.ceil((top - bottom) / RES_DEG))
    rng = np.random.default_rng(seed)
    vals = rng.lognormal(mean=3.0, sigma=1.2, size=(h, w)).astype("float32")
    vals[rng.random((h, w)) < 0.03] = -3.4e38
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(RES_DEG, 0.0, left, 0.0, -RES_DEG, top), nodata=-3.4e38) as dst:
        dst.write(vals, 1)
    return path, area


def timed(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--km", type=float, default=30.0, help="edge of the square study area [km]")
    parser.add_argument("--cell", type=float, default=400.0, help="cell edge [m]")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from charge_planner.assumptions import segment_table
    from charge_planner.config import parse_config
    from charge_planner.demand import (
        allocate_demand,
        cell_peaks,
        energy_by_use_case,
        fleet_projection,
        make_cells,
        population_by_cell,
        profile_table,
        raster_zonal_sums,
        spatial_weights,
    )

    tmp = Path(tempfile.mkdtemp())
    tif, area = write_raster(tmp / "pop.tif", args.km)
    cells = make_cells(area, crs=UTM, cell_size_m=args.cell)
    import rasterio

    with rasterio.open(tif) as src:
        n_pix = src.width * src.height
    print(f"raster {n_pix:,} pixels of 3 arc-seconds; study area {args.km:g} km x {args.km:g} km; "
          f"{len(cells):,} cells of {args.cell:g} m; {args.repeats} repeats, median wall time")
    print("timings taken on a shared, loaded 2-core machine")

    t_cp, layer = timed(lambda: raster_zonal_sums(tif, cells, study_area=area), args.repeats)
    truth = layer.total
    ours = pd.Series(layer.weight, index=cells.index)

    cells_ll = cells.copy()
    cells_ll["geometry"] = shapely.segmentize(cells.geometry.to_numpy(), 50.0)
    cells_ll = cells_ll.to_crs("EPSG:4326").reset_index()
    from exactextract import exact_extract

    t_ee, ee = timed(lambda: exact_extract(str(tif), cells_ll, "sum", include_cols=["cell_id"], output="pandas"),
                     args.repeats)
    ee = ee.set_index("cell_id")["sum"].reindex(cells.index).fillna(0.0)

    from rasterstats import zonal_stats

    t_rs, rs = timed(lambda: zonal_stats(cells_ll, str(tif), stats="sum", nodata=-3.4e38), args.repeats)
    rs_sum = float(np.nansum([r["sum"] or 0.0 for r in rs]))

    def centres():
        from pyproj import Transformer

        with rasterio.open(tif) as src:
            data = src.read(1, masked=True)
            tr = src.transform
        rows, cols = np.nonzero(~np.ma.getmaskarray(data) & (np.ma.filled(data, 0) > 0))
        x = tr.c + (cols + 0.5) * tr.a
        y = tr.f + (rows + 0.5) * tr.e
        px, py = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(x, y)
        pts = gpd.GeoDataFrame({"population": np.asarray(data[rows, cols], dtype=float)},
                               geometry=gpd.points_from_xy(px, py), crs=UTM)
        return population_by_cell(pts, bounds=area.bounds, cell_size_m=args.cell)

    t_pc, pc = timed(centres, args.repeats)

    print(f"\n{'method':<42}{'time [s]':>10}{'persons':>14}{'error':>11}{'vs ours':>9}")
    rows = [
        ("charge_planner raster_zonal_sums (exact)", t_cp, float(ours.sum())),
        ("exactextract 'sum' (exact, C++)", t_ee, float(ee.sum())),
        ("rasterstats zonal_stats (pixel centres)", t_rs, rs_sum),
        ("pixel-centre binning (population_by_cell)", t_pc, float(pc["population"].sum())),
    ]
    for name, t, total in rows:
        print(f"{name:<42}{t:>10.3f}{total:>14,.0f}{(total - truth) / truth:>+11.2e}{t / t_cp:>9.2f}x")
    print(f"persons inside the study area (area-weighted): {truth:,.1f}")
    diff = (ours - ee).abs()
    print(f"largest per-cell difference to exactextract: {diff.max():.3g} persons "
          f"({(diff / ee.where(ee > 0)).max():.2e} relative)")

    cfg = parse_config({"city": {"name": "bench", "country": "nepal"}, "siting": {"budget_usd": 1}})
    segs = segment_table(cfg)
    pois = gpd.GeoDataFrame({"kind": np.random.default_rng(1).choice(["mall", "market", "parking", "fuel"], 2000)},
                            geometry=cells.sample(2000, replace=True, random_state=1).representative_point().to_numpy(),
                            crs=UTM)

    def allocation():
        w = spatial_weights(cells, layer, pois=pois)
        fleet = fleet_projection(segs, population=truth, base_year=2025, target_year=2030, horizon_year=2035)
        energy = energy_by_use_case(fleet, segs, years=range(2025, 2031))
        profiles = profile_table("managed_offpeak", offpeak_hours=(22, 6))
        demand = allocate_demand(energy, w, segs, profiles=profiles)
        return demand, cell_peaks(demand, profiles), energy

    t_al, (demand, peaks, energy) = timed(allocation, args.repeats)
    g = demand.groupby(["segment", "year", "use_case"])["energy_kwh_day"].sum()
    want = energy["energy_kwh_day"][energy["energy_kwh_day"] > 0]
    err = float(np.max(np.abs(g.reindex(want.index).to_numpy() / want.to_numpy() - 1.0)))
    print(f"\nallocation of 6 years x 5 segments x 5 use cases over {len(cells):,} cells: {t_al:.3f} s, "
          f"{len(demand):,} demand rows, {len(peaks):,} cell-year peaks; worst total conservation error {err:.1e}")


if __name__ == "__main__":
    main()
