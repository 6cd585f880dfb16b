"""Layout of a synthetic city: river, major-road lines, sub-centres and the density fields.

The first draws of :func:`~charge_planner.synthetic.city.generate_city` place the meandering
river (:class:`_River`), the radial arterials and the ring road as dense polylines, and the two
sub-centres on the arterials; :func:`_street_spacing_m` (target spacing of local streets) and
:func:`_density_shape` (relative population density) are the smooth fields every later step of
the generator reads. Also holds the box origin :data:`ORIGIN_M` and the shared array types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString, Polygon

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Box = tuple[float, float, float, float]

ORIGIN_M: tuple[float, float] = (760_000.0, 1_420_000.0)
"""Easting and northing of the lower-left corner of every synthetic city [m]."""

_N_RADIALS = 8
_STREET_SPACING_CORE_M = 75.0
_STREET_SPACING_MAX_M = 500.0
_RIVER_MARGIN_M = 20.0


@dataclass(frozen=True)
class _River:
    """Meandering river: offset ``d(s)`` of the centreline from an axis through the centre."""

    cx: float
    cy: float
    ex: float
    ey: float
    d0_m: float
    amp_m: tuple[float, float]
    wavenumber_per_m: tuple[float, float]
    phase: tuple[float, float]
    half_width_m: float
    centreline: LineString
    area: Polygon

    def offset_m(self, s_m: FloatArray) -> FloatArray:
        """Offset of the centreline from the axis at along-axis position ``s_m`` [m]."""
        return _meander_m(s_m, self.d0_m, self.amp_m, self.wavenumber_per_m, self.phase)

    def side(self, x: FloatArray, y: FloatArray) -> IntArray:
        """Side of the river (+1 or -1) of each point."""
        dx, dy = x - self.cx, y - self.cy
        s = dx * self.ex + dy * self.ey
        d = -dx * self.ey + dy * self.ex
        return np.where(d >= self.offset_m(s), 1, -1).astype(np.int64)

    def distance_m(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Distance of each point from the river centreline [m]."""
        return np.asarray(shapely.distance(shapely.points(x, y), self.centreline), dtype=float)


def _make_river(
    rng: np.random.Generator, cx: float, cy: float, radius_m: float, width_m: float, height_m: float
) -> _River:
    alpha = math.radians(rng.uniform(-8.0, 8.0))
    side = 1.0 if rng.random() < 0.5 else -1.0
    d0 = side * rng.uniform(0.30, 0.36) * radius_m
    amp = (rng.uniform(0.06, 0.10) * radius_m, rng.uniform(0.015, 0.03) * radius_m)
    k = (2 * math.pi / rng.uniform(3000.0, 5000.0), 2 * math.pi / rng.uniform(1200.0, 2000.0))
    phase = (rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))
    half_width = rng.uniform(50.0, 70.0)
    ex, ey = math.cos(alpha), math.sin(alpha)
    reach = 0.6 * math.hypot(width_m, height_m) + 300.0
    s = np.arange(-reach, reach + 25.0, 25.0)
    d = _meander_m(s, d0, amp, k, phase)
    x, y = cx + s * ex - d * ey, cy + s * ey + d * ex
    # keep the stretch that crosses the box (plus 150 m beyond each edge)
    x0, y0 = ORIGIN_M
    inside = np.flatnonzero(
        (x > x0 - 150) & (x < x0 + width_m + 150) & (y > y0 - 150) & (y < y0 + height_m + 150)
    )
    centreline = LineString(np.column_stack([x, y])[inside[0] : inside[-1] + 1])
    area = centreline.buffer(half_width, quad_segs=4)
    shapely.prepare(area)
    return _River(cx, cy, ex, ey, d0, amp, k, phase, half_width, centreline, area)


def _meander_m(
    s_m: FloatArray,
    d0_m: float,
    amp_m: tuple[float, float],
    wavenumber_per_m: tuple[float, float],
    phase: tuple[float, float],
) -> FloatArray:
    """River centreline offset from its axis: a constant plus two sine meanders [m]."""
    return (
        d0_m
        + amp_m[0] * np.sin(wavenumber_per_m[0] * s_m + phase[0])
        + amp_m[1] * np.sin(wavenumber_per_m[1] * s_m + phase[1])
    )


def _make_radials(rng: np.random.Generator, cx: float, cy: float, box: Box) -> list[LineString]:
    theta0 = rng.uniform(0.0, 2 * math.pi)
    reach = 2.0 * max(box[2] - box[0], box[3] - box[1])
    r = np.arange(0.0, reach, 20.0)
    inset = 30.0
    radials = []
    for k in range(_N_RADIALS):
        theta = theta0 + 2 * math.pi * k / _N_RADIALS + rng.uniform(-0.12, 0.12)
        amp, wavelength, phase = rng.uniform(0.02, 0.06), rng.uniform(2000, 4000), rng.uniform(0, 6.3)
        angle = theta + amp * np.sin(2 * math.pi * r / wavelength + phase) * np.minimum(1.0, r / 800)
        x, y = cx + r * np.cos(angle), cy + r * np.sin(angle)
        inside = (x > box[0] + inset) & (x < box[2] - inset) & (y > box[1] + inset) & (y < box[3] - inset)
        n_in = int(np.argmin(inside)) if not inside.all() else len(r)
        radials.append(LineString(np.column_stack([x[:n_in], y[:n_in]])))
    return radials


def _make_ring(rng: np.random.Generator, cx: float, cy: float, radius_m: float) -> LineString:
    ring_m = 0.6 * radius_m
    ellipticity, axis, wobble_phase = rng.uniform(0.03, 0.08), rng.uniform(0, math.pi), rng.uniform(0, 6.3)
    phi = np.linspace(0.0, 2 * math.pi, int(2 * math.pi * ring_m / 15.0), endpoint=False)
    rr = ring_m * (1 + ellipticity * np.cos(2 * (phi - axis)) + 0.025 * np.sin(3 * phi + wobble_phase))
    coords = np.column_stack([cx + rr * np.cos(phi), cy + rr * np.sin(phi)])
    return LineString(np.vstack([coords, coords[:1]]))


def _inside(x: float, y: float, box: Box, margin_m: float) -> bool:
    return box[0] + margin_m < x < box[2] - margin_m and box[1] + margin_m < y < box[3] - margin_m


def _place_subcentres(
    rng: np.random.Generator,
    radials: list[LineString],
    river: _River,
    cx: float,
    cy: float,
    radius_m: float,
    box: Box,
) -> tuple[tuple[tuple[float, float], int], tuple[tuple[float, float], int]]:
    """Sub-centre A on the core's side of the river, B beyond it; each on a radial."""
    margin = 0.15 * radius_m
    near: list[tuple[tuple[float, float], int]] = []
    far: list[tuple[tuple[float, float], int]] = []
    core_side = river.side(np.array([cx]), np.array([cy]))[0]
    for k, line in enumerate(radials):
        crossing = line.intersection(river.centreline)
        r_cross = (
            min(line.project(p) for p in shapely.get_parts(crossing)) if not crossing.is_empty else math.inf
        )
        r_a = 0.78 * radius_m
        if r_a < min(r_cross - 0.25 * radius_m, line.length - margin):
            p = line.interpolate(r_a)
            if _inside(p.x, p.y, box, margin) and p.distance(river.centreline) > 0.2 * radius_m:
                near.append(((p.x, p.y), k))
        if math.isfinite(r_cross):
            r_b = r_cross + 0.28 * radius_m
            if r_b < line.length - margin:
                p = line.interpolate(r_b)
                far_side = river.side(np.array([p.x]), np.array([p.y]))[0] != core_side
                if (
                    far_side
                    and _inside(p.x, p.y, box, margin)
                    and p.distance(river.centreline) > 0.18 * radius_m
                ):
                    far.append(((p.x, p.y), k))
    if not near:  # tiny or odd box: fall back to the radial farthest from the river at 0.6 R
        points = [line.interpolate(min(0.6 * radius_m, 0.8 * line.length)) for line in radials]
        k = int(np.argmax([p.distance(river.centreline) for p in points]))
        near = [((points[k].x, points[k].y), k)]
    first = near[int(rng.integers(len(near)))]
    far = [f for f in far if f[1] != first[1]]
    if not far:  # no room beyond the river: a second sub-centre on the core's side
        far = [n for n in near if (n[1] - first[1]) % _N_RADIALS not in (0, 1, _N_RADIALS - 1)]
    if not far:
        k = (first[1] + _N_RADIALS // 2) % _N_RADIALS
        p = radials[k].interpolate(min(0.5 * radius_m, 0.8 * radials[k].length))
        far = [((p.x, p.y), k)]
    second = far[int(rng.integers(len(far)))]
    return first, second


def _street_spacing_m(
    x: FloatArray,
    y: FloatArray,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
) -> FloatArray:
    """Target spacing of local street nodes [m]: 75 m at the centre, up to 500 m outside."""
    urbanity = np.exp(-np.hypot(x - centre[0], y - centre[1]) / (0.33 * radius_m))
    for sx, sy in subcentres:
        urbanity += 0.6 * np.exp(-((np.hypot(x - sx, y - sy) / (0.17 * radius_m)) ** 2))
    spacing = _STREET_SPACING_CORE_M / np.sqrt(np.maximum(urbanity, 1e-9))
    return np.clip(spacing, _STREET_SPACING_CORE_M, _STREET_SPACING_MAX_M)


def _density_shape(
    x: FloatArray,
    y: FloatArray,
    centre: tuple[float, float],
    subcentres: tuple[tuple[float, float], ...],
    radius_m: float,
) -> FloatArray:
    """Relative population density (1 at the centre, before noise)."""
    density = np.exp(-np.hypot(x - centre[0], y - centre[1]) / (0.3 * radius_m)) + 0.04
    for sx, sy in subcentres:
        density += 0.3 * np.exp(-((np.hypot(x - sx, y - sy) / (0.18 * radius_m)) ** 2))
    return density
