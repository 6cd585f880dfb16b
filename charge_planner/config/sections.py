"""Configuration of a city bundle (``city.toml``), validated with pydantic.

A city bundle is a folder with a ``city.toml``. Relative data paths in it are looked
up first in the city folder, then in the data root (``--data-root`` or the
``CHARGE_PLANNER_DATA`` environment variable), so real data can stay outside the
repository. :func:`load_config` reports every invalid field at once, each with its
dotted path, the value given and what would fix it, in a single
:class:`~charge_planner.errors.ConfigError`; :func:`validate_bundle` also checks that the
data files exist and that a named SimBench grid or pandapower network exists.

Types are strict: ``year = "2030"`` or ``max_chargers_per_site = true`` is an error, not
coerced (a TOML integer is accepted where a decimal number is expected, and a TOML array
where a pair or a bounding box is expected). ``inf`` and ``nan``, which TOML allows, are
refused in every field. Bounds that are not plain physics (a share between 0 and 1, an hour
between 0 and 23) are plausibility bounds; each one says why next to the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from charge_planner.config.base import (
    MAX_POPULATION_TOTAL,
    POI_KINDS,
    BBox,
    Fraction,
    Minutes,
    NonNegative,
    PositiveFloat,
    _known_segment_keys,
    _list_to_tuple,
    _Model,
)
from charge_planner.presets import (
    MAX_DENSITY_PERSONS_KM2,
    MIN_DENSITY_PERSONS_KM2,
    PUBLIC_USE_CASES,
    SEGMENTS,
    SHARE_FIELDS,
    USE_CASES,
    get_preset,
)


class CitySection(_Model):
    """``[city]``: who and where."""

    name: str = Field(min_length=1)
    country: str = Field(min_length=2, description="country name or ISO code; selects the preset")
    crs: str | None = Field(default=None, description="projected metric CRS, e.g. EPSG:32643; default: UTM zone")
    study_area_bbox: BBox | None = Field(
        default=None,
        description="[west, south, east, north] of the study area [degrees, WGS84]: the demand is clipped to it, "
        "and with data.source = 'online' it is the area downloaded when data.place is not given; default: the "
        "bounding box of the road network",
    )

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("city.name is blank; give the city's name")
        if not value.isprintable():
            raise ValueError(f"city.name {value!r} has a line break or control character; write it on one line")
        return value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        try:
            get_preset(value)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        return value

    @field_validator("crs")
    @classmethod
    def _projected_crs(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from pyproj import CRS
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(value)
        except CRSError:
            raise ValueError(f"unknown CRS {value!r}; use an EPSG code such as 'EPSG:32643'") from None
        if not crs.is_projected:
            raise ValueError(f"CRS {value!r} is geographic; use a projected metric CRS such as the city's UTM zone")
        units = {axis.unit_name for axis in crs.axis_info}
        if not units <= {"metre", "meter"}:
            raise ValueError(f"CRS {value!r} measures in {', '.join(sorted(units))}, not metres; use a projected "
                             "metric CRS such as the city's UTM zone")
        return value

    @field_validator("study_area_bbox")
    @classmethod
    def _valid_bbox(cls, value: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if value is None:
            return value
        w, s, e, n = value
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError(f"city.study_area_bbox {list(value)} must be [west, south, east, north] in degrees, "
                             "with west < east and south < north")
        return value


#: Extent of a synthetic city: smallest and largest side, and the demo's default width and height [m].
SYNTHETIC_MIN_SIDE_M = 3_000.0
SYNTHETIC_MAX_SIDE_M = 60_000.0
SYNTHETIC_DEFAULT_SIZE_M = (9_000.0, 7_000.0)
#: ``[data]`` keys read only with ``source = "synthetic"``.
SYNTHETIC_FIELDS = ("width_m", "height_m", "population", "poi_counts")


class DataSection(_Model):
    """``[data]``: where the city's data comes from."""

    source: Literal["synthetic", "files", "online"] = "files"
    seed: int = Field(default=42, ge=0, description="seed of every random draw (numpy needs it non-negative)")
    roads: str | None = Field(
        default=None,
        description="road file: OSM XML (.osm, .osm.gz, .osm.bz2), OSM PBF (.osm.pbf), OSMnx GraphML, "
        "GeoPackage (.gpkg, layers 'edges' [+ 'nodes']) or GeoParquet edges (.parquet)",
    )
    roads_nodes: str | None = Field(default=None, description="GeoParquet nodes file (optional)")
    osm: str | None = Field(
        default=None, description="OSM extract (XML or PBF) for buildings, POIs and power; default: data.roads if it is one"
    )
    mode: Literal["car", "two_wheeler"] = Field(default="car", description="travel mode of the road network")
    segment_modes: dict[str, Literal["car", "two_wheeler"]] = Field(
        default_factory=dict,
        description="travel mode per vehicle segment whose trips to chargers use another road network than "
        "data.mode, e.g. {two_wheeler = \"two_wheeler\", three_wheeler = \"two_wheeler\"}",
    )
    place: str | None = Field(
        default=None,
        description="source 'online': place name to download through osmnx; default: the area of city.study_area_bbox",
    )
    cache_folder: str | None = Field(default=None, description="source 'online': osmnx cache folder")
    population_raster: str | None = None
    population_total: PositiveFloat | None = Field(
        default=None, description="persons in the study area, when no population raster is given (at most 50 million)"
    )
    population_source: str | None = Field(
        default=None,
        description="source and licence of the population data (raster or total), quoted in the report",
    )
    width_m: float | None = Field(
        default=None, ge=SYNTHETIC_MIN_SIDE_M, le=SYNTHETIC_MAX_SIDE_M,
        description="source 'synthetic': east-west extent of the generated city, 3,000-60,000 m (default 9,000)",
    )
    height_m: float | None = Field(
        default=None, ge=SYNTHETIC_MIN_SIDE_M, le=SYNTHETIC_MAX_SIDE_M,
        description="source 'synthetic': north-south extent of the generated city, 3,000-60,000 m (default 7,000)",
    )
    population: float | None = Field(
        default=None, ge=1000, le=MAX_POPULATION_TOTAL,
        description="source 'synthetic': persons of the generated city (default: drawn, 450,000-650,000 per 63 km2)",
    )
    poi_counts: Literal["legacy", "densities"] | None = Field(
        default=None,
        description="source 'synthetic': POI counts of the generated city, 'legacy' (the demo's fixed ranges) or "
        "'densities' (per 100,000 persons, measured on OSM extracts of real cities; docs/sources.md P9); default "
        "'densities' when width_m, height_m or population is given, else 'legacy'",
    )

    @field_validator("population_total")
    @classmethod
    def _plausible_population(cls, value: float | None) -> float | None:
        if value is not None and value > MAX_POPULATION_TOTAL:
            raise ValueError(f"{value:,.0f} persons is more than any city has (the largest, Tokyo, has about 37 "
                             f"million); give the persons of the study area, at most {MAX_POPULATION_TOTAL:,}")
        return value

    @field_validator("segment_modes")
    @classmethod
    def _known_mode_segments(cls, value: dict[str, str]) -> dict[str, str]:
        return _known_segment_keys(value, "segment_modes")

    @model_validator(mode="after")
    def _no_ignored_fields(self) -> DataSection:
        # a field the chosen source never reads is a mistake the user should hear about
        ignored = []
        if self.source != "online":
            ignored += [f"data.{f} (read with source 'online')" for f in ("place", "cache_folder")
                        if getattr(self, f) is not None]
        if self.source != "files":
            ignored += [f"data.{f} (read with source 'files')" for f in ("roads", "roads_nodes", "osm")
                        if getattr(self, f) is not None]
        elif self.roads_nodes is not None and not str(self.roads).lower().endswith((".parquet", ".geoparquet")):
            ignored.append("data.roads_nodes (read with a GeoParquet data.roads)")
        if self.source != "synthetic":
            ignored += [f"data.{f} (read with source 'synthetic')" for f in SYNTHETIC_FIELDS
                        if getattr(self, f) is not None]
        if ignored:
            raise ValueError(f"data.source = {self.source!r} ignores {', '.join(ignored)}; remove it or change "
                             "data.source")
        return self

    @model_validator(mode="after")
    def _plausible_synthetic_city(self) -> DataSection:
        if self.source != "synthetic":
            return self
        width, height = self.synthetic_size_m
        if not 0.5 <= width / height <= 2.0:
            raise ValueError(f"data.width_m / data.height_m = {width:,.0f} / {height:,.0f} m is outside 0.5-2 (the "
                             "synthetic city's ring road must fit); give a less elongated box")
        if self.population is not None:
            area_km2 = width * height / 1e6
            density = self.population / area_km2
            if not MIN_DENSITY_PERSONS_KM2 <= density <= MAX_DENSITY_PERSONS_KM2:
                raise ValueError(
                    f"data.population = {self.population:,.0f} persons on {width / 1000:g} km x {height / 1000:g} km "
                    f"is {density:,.0f} persons/km2, outside {MIN_DENSITY_PERSONS_KM2:,.0f}-"
                    f"{MAX_DENSITY_PERSONS_KM2:,.0f} (no city is so sparse or so dense); change data.population or "
                    "data.width_m/data.height_m"
                )
        return self

    @property
    def synthetic_size_m(self) -> tuple[float, float]:
        """Width and height of a synthetic city: ``width_m`` and ``height_m``, else the demo's [m]."""
        return (self.width_m or SYNTHETIC_DEFAULT_SIZE_M[0], self.height_m or SYNTHETIC_DEFAULT_SIZE_M[1])

    @property
    def synthetic_poi_counts(self) -> str:
        """POI counts of a synthetic city: ``poi_counts``, else "densities" when the size or the
        population is given, else "legacy" (the demo city's published figures)."""
        if self.poi_counts is not None:
            return self.poi_counts
        given = (self.width_m, self.height_m, self.population)
        return "densities" if any(v is not None for v in given) else "legacy"

    @model_validator(mode="after")
    def _needs_roads(self) -> DataSection:
        if self.source == "files" and not self.roads:
            raise ValueError("data.source is 'files' but data.roads is not set; give a road or OSM file")
        if self.source in ("files", "online") and not self.population_raster and self.population_total is None:
            raise ValueError("give data.population_raster or data.population_total (with data.population_source)")
        if self.population_raster and self.population_total is not None:
            raise ValueError("data.population_raster and data.population_total are both set, but only one is used (the "
                             "raster; the total with demand.residential_weights = 'buildings'); give only one")
        return self


class SegmentOverride(_Model):
    """Per-segment overrides of the country preset (units as in :class:`~charge_planner.presets.SegmentPreset`).

    The use-case shares ``share_home``, ``share_depot``, ``share_public_ac``,
    ``share_public_dc`` and ``share_swapping`` must sum to 1 together with the preset's
    values of the shares not given. ``public_share`` is the older, coarser override: it
    rescales the preset's public shares to that total (and home/depot to the rest); it
    cannot be combined with the ``share_*`` fields.

    ``ev_stock_share_base`` is the observed EV share of the base-year stock (the cohorts on
    the road before the base year are calibrated to it); ``ev_stock_share_target`` is a
    minimum EV share of the stock in the target year (when the sales curve falls short, the
    sales share that reaches it is solved; one out of reach is refused). A given
    ``ev_sales_share_target`` without an ``ev_stock_share_target`` replaces the preset's
    stock target.
    """

    # plausibility bounds: no segment has more than one vehicle per person; a vehicle in
    # round-the-clock service at 40 km/h covers under 1,000 km a day; the heaviest e-trucks use
    # about 2 kWh/km; the largest e-truck and e-bus batteries hold under 1,000 kWh
    vehicles_per_1000: Annotated[float, Field(ge=0, le=1000)] | None = None
    sales_per_stock: Annotated[float, Field(gt=0, le=1)] | None = None
    sales_growth_per_year: Annotated[float, Field(gt=-1, le=1)] | None = None
    ev_sales_share_base: Fraction | None = None
    ev_sales_share_target: Fraction | None = None
    lifetime_years: Annotated[float, Field(ge=1, le=60)] | None = None
    km_per_day: Annotated[float, Field(ge=0, le=1000)] | None = None
    kwh_per_km: Annotated[float, Field(ge=0, le=5)] | None = None
    share_home: Fraction | None = None
    share_depot: Fraction | None = None
    share_public_ac: Fraction | None = None
    share_public_dc: Fraction | None = None
    share_swapping: Fraction | None = None
    public_share: Fraction | None = None
    cutoff_min: Minutes | None = None
    kwh_per_session: Annotated[float, Field(gt=0, le=1000)] | None = None
    ev_stock_share_base: Fraction | None = None
    ev_stock_share_target: Fraction | None = None

    @model_validator(mode="after")
    def _shares_consistent(self) -> SegmentOverride:
        given = {f: getattr(self, f) for f in SHARE_FIELDS if getattr(self, f) is not None}
        if self.public_share is not None and given:
            raise ValueError(f"give either public_share or the share_* fields, not both (got {sorted(given)})")
        if len(given) == len(SHARE_FIELDS) and abs(sum(given.values()) - 1.0) > 1e-6:
            raise ValueError(f"use-case shares sum to {sum(given.values()):.6g}, not 1; make share_home + share_depot "
                             "+ share_public_ac + share_public_dc + share_swapping = 1")
        return self


class FleetSection(_Model):
    """``[fleet]``: adoption assumptions."""

    year: int = Field(default=2030, ge=2000, le=2100, description="plan year")
    base_year: int | None = Field(default=None, ge=2000, le=2100)
    target_year: int | None = Field(default=None, ge=2000, le=2100)
    years: list[Annotated[int, Field(ge=2000, le=2100)]] | None = Field(
        default=None, description="years of the demand table; default: base year to max(target year, plan year)"
    )
    horizon_year: int = Field(default=2035, ge=2000, le=2100, description="last year of the fleet projection")
    sales_share_ceiling: Annotated[float, Field(gt=0, le=1)] = Field(
        default=1.0, description="saturation of the logistic EV sales-share curve [0-1]"
    )
    after_target: Literal["continue", "hold"] = Field(
        default="continue", description="after the target year the S-curve continues, or the share is held"
    )
    survival: Literal["weibull", "fixed"] = Field(
        default="weibull", description="vehicle survival: Weibull with mean = lifetime, or retirement at the lifetime"
    )
    survival_shape: Annotated[float, Field(ge=1, le=20)] = Field(
        default=3.0, description="Weibull shape of the survival curve [-]"
    )
    segments: list[str] = Field(default_factory=lambda: list(SEGMENTS))
    overrides: dict[str, SegmentOverride] = Field(default_factory=dict)

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s not in SEGMENTS]
        if bad:
            raise ValueError(f"unknown segment(s) {bad}; use any of {list(SEGMENTS)}")
        if not value:
            raise ValueError("at least one segment is needed")
        if len(set(value)) != len(value):
            raise ValueError(f"segments {value} name a segment twice; list each once")
        return value

    @field_validator("overrides")
    @classmethod
    def _known_override_keys(cls, value: dict[str, SegmentOverride]) -> dict[str, SegmentOverride]:
        return _known_segment_keys(value, "overrides")

    @model_validator(mode="after")
    def _years_in_order(self) -> FleetSection:
        if self.base_year is not None and self.target_year is not None and self.target_year < self.base_year:
            raise ValueError(f"target_year {self.target_year} is before base_year {self.base_year}")
        if self.base_year is not None and self.year < self.base_year:
            raise ValueError(f"plan year {self.year} is before base_year {self.base_year}")
        if self.years is not None:
            if not self.years:
                raise ValueError("fleet.years is empty; list at least one year or remove it")
            if sorted(set(self.years)) != list(self.years):
                raise ValueError(f"fleet.years {self.years} must be increasing without repeats")
            if self.base_year is not None and min(self.years) < self.base_year:
                raise ValueError(f"fleet.years has {min(self.years)}, before base_year {self.base_year}")
        if self.horizon_year < max([self.year, *(self.years or [])]):
            raise ValueError(f"horizon_year {self.horizon_year} is before the last plan year; raise horizon_year")
        unused = [s for s in self.overrides if s not in self.segments]
        if unused:
            raise ValueError(f"fleet.overrides has segment(s) {unused} that are not in fleet.segments {self.segments}, "
                             "so the override would be ignored; add them to fleet.segments or remove the override")
        return self


class DemandSection(_Model):
    """``[demand]``: spatial allocation of charging demand and the charging strategy."""

    cell_type: Literal["square", "h3"] = Field(
        default="square", description="square grid of demand.cell_size_m, or H3 hexagons of about that area"
    )
    cell_size_m: Annotated[float, Field(ge=50, le=5000)] = Field(
        default=400.0, description="edge of a square demand cell [m] (H3: the cell area is about its square)"
    )
    h3_resolution: Annotated[int, Field(ge=5, le=11)] | None = Field(
        default=None, description="H3 resolution; default: the one whose cell area is closest to cell_size_m^2"
    )
    residential_weights: Literal["auto", "raster", "buildings", "points"] = Field(
        default="auto", description="auto: population raster, else building footprint area, else population points"
    )
    charging_strategy: Literal["unmanaged", "managed_offpeak", "solar_following", "capped"] = Field(
        default="unmanaged",
        description="charging strategy of the demand peaks and of the grid's EV load; 'capped': unmanaged arrivals, "
        "each site's draw held at grid.charging_cap_share of its installed power (the rest moved to the nearest "
        "hours with room)",
    )
    offpeak_hours: Annotated[
        tuple[Annotated[int, Field(ge=0, le=23)], Annotated[int, Field(ge=0, le=24)]], BeforeValidator(_list_to_tuple)
    ] | None = Field(
        default=None, description="(start, end) hour of the off-peak window; default: the country preset's"
    )
    sited_use_cases: list[str] = Field(
        default_factory=lambda: list(PUBLIC_USE_CASES), description="use cases that reach the siting model"
    )
    poi_share: dict[str, Fraction] = Field(
        default_factory=dict, description="share of a use case's spatial weight from POI attraction (rest: residents)"
    )
    poi_weights: dict[str, NonNegative] = Field(
        default_factory=dict, description="attraction per POI kind (default: charge_planner.demand.POI_WEIGHTS)"
    )

    @field_validator("sited_use_cases")
    @classmethod
    def _known_sited(cls, value: list[str]) -> list[str]:
        bad = [u for u in value if u not in USE_CASES]
        if bad or not value:
            raise ValueError(f"unknown or no use case(s) {bad}; use any of {list(USE_CASES)}")
        if len(set(value)) != len(value):
            raise ValueError(f"sited_use_cases {value} name a use case twice; list each once")
        return value

    @field_validator("poi_weights")
    @classmethod
    def _known_poi_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [k for k in value if k not in POI_KINDS]
        if bad:
            raise ValueError(f"unknown POI kind(s) {bad} in poi_weights; use any of {list(POI_KINDS)}")
        return value

    @model_validator(mode="after")
    def _h3_resolution_needs_h3(self) -> DemandSection:
        if self.h3_resolution is not None and self.cell_type != "h3":
            raise ValueError(f"demand.h3_resolution is set but demand.cell_type is {self.cell_type!r}, which ignores "
                             "it; set cell_type = \"h3\" or remove h3_resolution")
        return self

    @field_validator("poi_share")
    @classmethod
    def _known_poi_share(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [u for u in value if u not in USE_CASES]
        if bad:
            raise ValueError(f"unknown use case(s) {bad} in poi_share; use any of {list(USE_CASES)}")
        return value

    @field_validator("offpeak_hours")
    @classmethod
    def _window_not_empty(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] % 24 == value[1] % 24:
            raise ValueError(f"offpeak_hours {list(value)} is an empty window; give [start, end) hours, e.g. [22, 6]")
        return value
