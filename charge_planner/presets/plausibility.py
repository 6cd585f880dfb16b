"""Plausibility data the city loader checks a bundle against.

Each preset country's bounding box (:data:`COUNTRY_BOUNDS_LONLAT`, from Natural Earth) with its
margin, and the lowest and highest credible mean population densities of a study area.
"""

from __future__ import annotations

COUNTRY_BOUNDS_SOURCE = (
    "Natural Earth 1:110m Admin 0 - Countries (public domain), the bounding box of each country's polygons "
    "(as shipped in the naturalearth_lowres test data of pyogrio), rounded outward to 0.01 degree"
)
COUNTRY_BOUNDS_LONLAT: dict[str, tuple[float, float, float, float]] = {
    "india": (68.17, 7.96, 97.41, 35.50),
    "nepal": (80.08, 26.39, 88.18, 30.43),
    "bangladesh": (88.08, 20.67, 92.68, 26.45),
    "sri_lanka": (79.69, 5.96, 81.79, 9.83),
    "philippines": (117.17, 5.58, 126.54, 18.51),
    "vietnam": (102.17, 8.59, 109.34, 23.36),
    "indonesia": (95.29, -10.36, 141.04, 5.48),
    "thailand": (97.37, 5.69, 105.59, 20.42),
}
"""(west, south, east, north) of each preset's country [degrees]; source :data:`COUNTRY_BOUNDS_SOURCE`."""

COUNTRY_BOUNDS_MARGIN_DEG = 3.0
"""Margin around :data:`COUNTRY_BOUNDS_LONLAT` within which data is accepted [degrees] (about 330 km).
The 1:110m polygons leave out small islands: the Batanes (Philippines) reach 21.1 deg N, 2.6 deg
beyond the box; Indira Point (India, Nicobar Islands) lies at 6.75 deg N, 1.2 deg beyond."""

MIN_DENSITY_PERSONS_KM2 = 50.0
"""Lowest mean population density accepted over a study area [persons/km2], a PLAUSIBILITY BOUND.
The degree of urbanisation (Eurostat, FAO, ILO, OECD, UN-Habitat, World Bank 2020, "A
recommendation on the method to delineate cities, urban and rural areas") counts 1 km2 cells
of at least 300 persons as urban clusters; a sixth of that over the whole study area still
allows parks, water and industry. Lower densities mean a total in the wrong unit (thousands
instead of persons), a raster of another quantity, or a place with no one to plan for."""

MAX_DENSITY_PERSONS_KM2 = 500_000.0
"""Highest mean population density accepted over a study area [persons/km2]. The densest
neighbourhoods on record stay below it: Dharavi, Mumbai, is given 0.6 to 1 million residents on
about 2.1 km2 (Wikipedia, "Dharavi"), at most about 480,000/km2; whole districts of Dhaka or
Manila reach 100,000-130,000/km2. Higher densities mean a population in the wrong unit (persons
per km2 instead of per pixel) or a total that belongs to a larger area."""
