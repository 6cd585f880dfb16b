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

import datetime
import hashlib
import json
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import xyzservices
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from charge_planner.errors import ConfigError
from charge_planner.presets import PUBLIC_USE_CASES, SEGMENTS, SHARE_FIELDS, USE_CASES, get_preset

DATA_ENV_VAR = "CHARGE_PLANNER_DATA"

#: Kinds of point of interest the OSM reader and the synthetic city produce (the keys of
#: ``demand.poi_weights``); the same as :data:`charge_planner.osm.POI_KINDS`.
POI_KINDS: tuple[str, ...] = ("parking", "fuel", "charging_station", "mall", "market", "bus_station", "bus_depot")

#: PLAUSIBILITY BOUND: persons in one city bundle. The largest urban agglomerations stay below
#: it (UN World Urbanization Prospects 2018: Tokyo 37.5 million, Delhi 28.5 million), so a
#: larger total is a typing error (a density check follows once the area is known).
MAX_POPULATION_TOTAL = 50_000_000

#: PLAUSIBILITY BOUND: rated capacity of one synthesised substation [MVA]. The synthesiser
#: builds substations from 10 or 20 MVA units, so less than 10 MVA cannot be built; 33/11 kV
#: and 66/11 kV substations of Asian cities have 2 to 4 units of 10 to 50 MVA, so more than
#: 200 MVA is not one distribution substation. A tiny value asks for thousands of substations.
SUBSTATION_MVA_RANGE = (10.0, 200.0)

#: PLAUSIBILITY BOUND: cut-off travel time to a charger and isochrone drive time [min]. Three
#: hours is beyond any charging trip; larger values make the travel table all-pairs.
MAX_CUTOFF_MIN = 180.0


def _list_to_tuple(value: Any) -> Any:
    """TOML has arrays, not tuples: accept an array where a fixed-length tuple is expected."""
    return tuple(value) if isinstance(value, list) else value


PositiveFloat = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]
BBox = Annotated[tuple[float, float, float, float], BeforeValidator(_list_to_tuple)]
Minutes = Annotated[float, Field(gt=0, le=MAX_CUTOFF_MIN)]


def _known_segment_keys(value: dict[str, Any], where: str) -> dict[str, Any]:
    """Refuse dictionary keys that are not vehicle segments."""
    bad = [s for s in value if s not in SEGMENTS]
    if bad:
        raise ValueError(f"unknown segment(s) {bad} in {where}; use any of {list(SEGMENTS)}")
    return value


class _Model(BaseModel):
    # strict: no silent coercion of "2030" to 2030 or of true to 1 (int -> float stays allowed);
    # allow_inf_nan=False: TOML's inf and nan are refused in every float field
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class CitySection(_Model):
    """``[city]``: who and where."""

    name: str = Field(min_length=1)
    country: str = Field(min_length=2, description="country name or ISO code; selects the preset")
    crs: str | None = Field(default=None, description="projected metric CRS, e.g. EPSG:32643; default: UTM zone")

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
    place: str | None = Field(default=None, description="source 'online': place name to download through osmnx")
    bbox: BBox | None = Field(default=None, description="source 'online': west, south, east, north [degrees]")
    cache_folder: str | None = Field(default=None, description="source 'online': osmnx cache folder")
    population_raster: str | None = None
    population_total: PositiveFloat | None = Field(
        default=None, description="persons in the study area, when no population raster is given (at most 50 million)"
    )
    population_source: str | None = Field(
        default=None,
        description="source and licence of the population data (raster or total), quoted in the report",
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
            ignored += [f"data.{f} (read with source 'online')" for f in ("place", "bbox", "cache_folder")
                        if getattr(self, f) is not None]
        if self.source != "files":
            ignored += [f"data.{f} (read with source 'files')" for f in ("roads", "roads_nodes", "osm")
                        if getattr(self, f) is not None]
        elif self.roads_nodes is not None and not str(self.roads).lower().endswith((".parquet", ".geoparquet")):
            ignored.append("data.roads_nodes (read with a GeoParquet data.roads)")
        if ignored:
            raise ValueError(f"data.source = {self.source!r} ignores {', '.join(ignored)}; remove it or change "
                             "data.source")
        return self

    @model_validator(mode="after")
    def _needs_roads(self) -> DataSection:
        if self.source == "files" and not self.roads:
            raise ValueError("data.source is 'files' but data.roads is not set; give a road or OSM file")
        if self.source == "online":
            if (self.place is None) == (self.bbox is None):
                raise ValueError("data.source is 'online': give exactly one of data.place or data.bbox")
            if self.bbox is not None:
                w, s, e, n = self.bbox
                if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                    raise ValueError(f"data.bbox {list(self.bbox)} must be [west, south, east, north] in degrees")
        if self.source in ("files", "online") and not self.population_raster and self.population_total is None:
            raise ValueError("give data.population_raster or data.population_total (with data.population_source)")
        if self.population_raster and self.population_total is not None:
            raise ValueError("data.population_raster and data.population_total are both set, but only one is used (the "
                             "raster; the total with demand.residential_weights = 'buildings'); give only one")
        return self


NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


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
    charging_strategy: Literal["unmanaged", "managed_offpeak", "solar_following"] = Field(
        default="unmanaged", description="charging strategy of the demand peaks and of the grid's EV load"
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
    study_area_bbox: BBox | None = Field(
        default=None, description="[min_lon, min_lat, max_lon, max_lat] (WGS84) of the study area; "
        "default: the bounding box of the road network"
    )

    @field_validator("study_area_bbox")
    @classmethod
    def _valid_bbox(cls, value: tuple[float, float, float, float] | None) -> tuple[float, float, float, float] | None:
        if value is None:
            return value
        w, s, e, n = value
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError(f"study_area_bbox {list(value)} is not [min_lon, min_lat, max_lon, max_lat] in degrees "
                             "with min < max")
        return value

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


class ChargerTypeConfig(_Model):
    """One ``[[charger_types]]`` entry; replaces the preset's charger types when any is given."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    # plausibility bound: megawatt charging of heavy trucks (MCS) goes up to 3.75 MW
    power_kw: Annotated[float, Field(gt=0, le=5000)]
    capex_usd: Annotated[float, Field(ge=0)]
    segments: list[str]
    # plausibility bound: a charger delivering energy less than an hour a day is a typing error
    # (minutes for hours); the presets assume 8 to 20 hours
    service_hours_day: Annotated[float, Field(ge=1, le=24)] = Field(
        default=12.0, description="hours a charger delivers energy per day, 1 to 24 [h]"
    )
    grid_level: Literal["lv", "mv"] = "lv"
    use_cases: list[str] = Field(default_factory=lambda: list(PUBLIC_USE_CASES))

    @field_validator("use_cases")
    @classmethod
    def _known_use_cases(cls, value: list[str]) -> list[str]:
        bad = [u for u in value if u not in USE_CASES]
        if bad or not value:
            raise ValueError(f"unknown or no use case(s) {bad}; use any of {list(USE_CASES)}")
        return value

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if s not in SEGMENTS]
        if bad or not value:
            raise ValueError(f"unknown or no segment(s) {bad}; use any of {list(SEGMENTS)}")
        return value


class SitingSection(_Model):
    """``[siting]``: the optimiser's settings."""

    budget_usd: PositiveFloat
    max_chargers_per_site: Annotated[int, Field(ge=1, le=200)] = 10
    max_sites_per_demand: Annotated[int, Field(ge=1, le=200)] = 12
    min_site_spacing_m: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="reserved: the siting model does not apply a spacing yet, so only 0 is accepted [m]"
    )
    generated_candidates: Annotated[int, Field(ge=0, le=5000)] = 0
    solver: Literal["highs", "cbc"] = "highs"
    # plausibility bound: a day; a longer limit is a hang, not a plan
    time_limit_s: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=60.0, description="solver time limit per solve [s]; at most a day"
    )
    mip_gap: Annotated[float, Field(ge=0, le=1)] = 0.01
    fx_local_per_usd: PositiveFloat | None = None
    site_fixed_cost_usd: Annotated[float, Field(ge=0)] | None = Field(
        default=None,
        description="one connection cost for every new site, whatever its power [USD]; default: the country "
        "preset's cost by installed power band (up to 50 kW, 50-150 kW, above 150 kW in India)",
    )
    rollout_years: list[Annotated[int, Field(ge=2000, le=2100)]] | None = Field(
        default=None,
        description="years in which sites open and chargers are added; the last one must be fleet.year; "
        "default: the plan year alone",
    )
    year_budgets_usd: list[Annotated[float, Field(ge=0)]] | None = Field(
        default=None, description="budget of each rollout year [USD]; default: budget_usd split evenly (assumption)"
    )
    carry_over_budget: bool = Field(default=True, description="unspent budget of a year can be spent later")
    equity_floor: Share | None = Field(
        default=None, description="minimum served share of the demand of every cell group, each year"
    )
    equity_group_size_m: Annotated[float, Field(ge=100, le=50_000)] = Field(
        default=2000.0, description="cells are grouped into squares of this size for the equity floor [m] (assumption)"
    )
    min_served_share: Share | None = Field(default=None, description="minimum served share of all demand, each year")
    exclusion_zones: str | None = Field(
        default=None, description="polygon file (GeoJSON, GeoPackage, shapefile) of areas where no site may open"
    )

    @field_validator("min_site_spacing_m")
    @classmethod
    def _spacing_not_applied(cls, value: float) -> float:
        if value > 0:
            raise ValueError(f"siting.min_site_spacing_m = {value:g}: the siting model does not apply a minimum "
                             "spacing between sites yet, so sites closer than that could open; remove the setting")
        return value

    @model_validator(mode="after")
    def _rollout_consistent(self) -> SitingSection:
        years = self.rollout_years
        if years is not None:
            if not years:
                raise ValueError("siting.rollout_years is empty; list at least one year or remove it")
            if sorted(set(years)) != list(years):
                raise ValueError(f"siting.rollout_years {years} must be increasing without repeats")
        if self.year_budgets_usd is not None:
            n = len(years) if years is not None else 1
            if len(self.year_budgets_usd) != n:
                raise ValueError(
                    f"siting.year_budgets_usd has {len(self.year_budgets_usd)} values for {n} rollout year(s); "
                    "give one budget per year of siting.rollout_years"
                )
            total = math.fsum(self.year_budgets_usd)
            if abs(total - self.budget_usd) > 1.0:
                raise ValueError(
                    f"siting.year_budgets_usd sum to {total:,.0f} USD but siting.budget_usd is {self.budget_usd:,.0f}; "
                    "the yearly budgets split the total budget, make them sum to budget_usd"
                )
        return self


class CandidatesSection(_Model):
    """``[candidates]``: candidate sites beyond the tagged points of interest."""

    generate_depots: bool = Field(
        default=True, description="when demand only depots can host (buses) meets no tagged bus depot or bus station, "
        "propose depot candidates on OSM depot/industrial/commercial/retail land, large parking and bus route ends, "
        "flagged as generated"
    )
    # 5,000 m2: a depot of 100-120 buses needs at least five acres (20,234 m2), about 170-200 m2 a bus (P7.01),
    # so 5,000 m2 holds about 25-30 buses
    depot_min_area_m2: Annotated[float, Field(ge=0, le=1_000_000)] = Field(
        default=5000.0, description="smallest land or parking polygon for a generated depot candidate [m2] (P7.01)"
    )
    depot_spacing_m: Annotated[float, Field(ge=0, le=50_000)] = Field(
        default=1000.0, description="smallest distance between two generated depot candidates [m] (assumption)"
    )
    max_generated_depots: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5, description="largest number of generated depot candidates (assumption: keeps the model small)"
    )


class GridSection(_Model):
    """``[grid]``: the distribution grid to check the plan against."""

    source: Literal["synthesise", "pandapower_json", "simbench", "pandapower_network", "none"] = "synthesise"
    path: str | None = None
    code: str | None = None
    name: str | None = None
    ev_peak_coincidence: Share = 0.5
    vm_min_pu: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    vm_max_pu: Annotated[float, Field(gt=1.0, lt=1.5)] = 1.05
    max_loading_percent: Annotated[float, Field(gt=0, le=200)] = 100.0
    time_series: Literal["peak", "day", "year"] = Field(
        default="day", description="'peak': one evening-peak load flow; 'day': a design day; 'year': 8,760 h"
    )
    resolution_min: Literal[15, 60] = 60
    design_day: str = Field(default="05-15", description="MM-DD of the design day")
    residential_share: Share = Field(default=0.7, description="residential share of the base load (assumption)")
    # plausibility bound: 10 MWp is a solar farm of about 6 ha, not a canopy over a charging site
    pv_kwp_per_site: Annotated[float, Field(ge=0, le=10_000)] = Field(
        default=10.0, description="on-site PV per charging site [kWp] (assumption: a canopy of about 60 m2)"
    )
    solar_share_of_renewables: Share = Field(default=0.35, description="shapes the hourly grid mix (assumption)")
    lv_max_site_kw: PositiveFloat = Field(default=500.0, description="sites above this connect at MV (assumption)")
    max_substation_mva: float = Field(
        default=60.0,
        description="synthesiser: rated MVA per substation before another is added, 10 to 200 (see SUBSTATION_MVA_RANGE)",
    )
    hosting_capacity: bool = True
    hosting_hours: Annotated[int, Field(ge=1, le=24)] = 2

    @field_validator("max_substation_mva")
    @classmethod
    def _plausible_substation(cls, value: float) -> float:
        low, high = SUBSTATION_MVA_RANGE
        if not low <= value <= high:
            raise ValueError(f"{value:g} MVA is not the rating of one distribution substation; give {low:g} to "
                             f"{high:g} MVA (the synthesiser builds 10 and 20 MVA units; 33/11 kV substations have "
                             "2 to 4 units of 10 to 50 MVA)")
        return value

    @field_validator("design_day")
    @classmethod
    def _real_day(cls, value: str) -> str:
        if not re.fullmatch(r"\d\d-\d\d", value):
            raise ValueError(f"design_day {value!r} is not MM-DD; write e.g. '05-15'")
        month, day = int(value[:2]), int(value[3:])
        if (month, day) == (2, 29):
            raise ValueError("design_day '02-29' exists only in leap years (and a year time series drops it); "
                             "choose another day, e.g. '02-28'")
        try:
            datetime.date(2001, month, day)  # any common year
        except ValueError:
            raise ValueError(f"design_day {value!r} is not a calendar day; give MM-DD, e.g. '05-15'") from None
        return value

    @model_validator(mode="after")
    def _source_needs(self) -> GridSection:
        needs = {"pandapower_json": "path", "simbench": "code", "pandapower_network": "name"}
        need = needs.get(self.source)
        if need and not getattr(self, need):
            raise ValueError(f"grid.source = {self.source!r} needs grid.{need}")
        ignored = [f"grid.{field} (read with source {source!r})" for source, field in needs.items()
                   if field != need and getattr(self, field) is not None]
        if ignored:
            raise ValueError(f"grid.source = {self.source!r} ignores {', '.join(ignored)}; remove it or change "
                             "grid.source")
        return self


class EnergySection(_Model):
    """``[energy]``: which grid series and which baselines count the plan's CO2."""

    grid_series: Literal["electricity_maps", "ember"] = Field(
        default="electricity_maps",
        description="grid intensity AND renewable share from one series: 'electricity_maps' (2024, consumption-based, "
        "imports count; facts E5.01-E5.09) or 'ember' (generation-based)",
    )
    grid_renewable_share: Share | None = Field(
        default=None, description="your renewable share of the chosen series [0-1]; replaces the preset's"
    )
    avoided_emissions_factor: Literal["grid_average", "cea_combined_margin"] = Field(
        default="grid_average",
        description="grid factor of avoided emissions: the series' average, or India's CEA combined margin (E5.11)",
    )
    combustion_basis: Literal["well_to_wheel", "tank_to_wheel"] = Field(
        default="well_to_wheel",
        description="combustion baseline: well to wheel (fuel CO2 + well-to-tank, P6.01-P6.03) or tank-to-wheel",
    )
    base_load_growth_per_year: Annotated[float, Field(ge=-0.1, le=0.3)] | None = Field(
        default=None, description="growth of the base load from its data year to the plan year [1/year]; default the "
        "preset's electricity demand growth (P4.01-P4.08)",
    )


class OutputsSection(_Model):
    """``[outputs]``: what to write."""

    folder: str | None = Field(
        default=None,
        description="output folder, relative to the current directory (~ expanded); default out/<city folder name>; "
        "--out overrides it",
    )
    map_tiles: str | None = Field(
        default=None,
        description='basemap: "none", "OpenStreetMap", an xyzservices provider name (e.g. "OpenTopoMap", "Esri.WorldImagery") or a '
        "tile URL template with {z}, {x}, {y} (then map_attribution is required); default OpenStreetMap, none for "
        "synthetic cities",
    )
    map_attribution: str | None = Field(
        default=None, min_length=1, description="attribution of custom map_tiles, shown on the map (HTML allowed)"
    )
    offline_map: bool = Field(
        default=True, description="inline Leaflet/jQuery in map.html so it works without internet (tiles still need it)"
    )
    pdf: bool | None = Field(
        default=None, description="write report.pdf with headless Chromium: true, false, or unset = when Chromium is found"
    )
    isochrones: bool = Field(
        default=False,
        description="draw and export drive-time areas of the chosen sites (network.isochrones; can take minutes)",
    )
    isochrone_minutes: list[Minutes] | None = Field(
        default=None, description="drive times of the coverage areas [min]; default the shortest segment cut-off"
    )

    @field_validator("isochrone_minutes")
    @classmethod
    def _some_minutes(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not value:
            raise ValueError("isochrone_minutes is empty; list at least one drive time [min] or remove it")
        return value

    @model_validator(mode="after")
    def _tiles_usable(self) -> OutputsSection:
        tiles = self.map_tiles
        if tiles is None or tiles.lower() in ("none", "openstreetmap"):
            if self.map_attribution is not None:
                raise ValueError("outputs.map_attribution is only used with custom outputs.map_tiles; remove it")
            return self
        if all(part in tiles for part in ("{z}", "{x}", "{y}")):
            if not tiles.startswith(("https://", "http://")):
                raise ValueError(f"outputs.map_tiles {tiles!r} is not an http(s) URL template")
            if not self.map_attribution:
                raise ValueError(f"outputs.map_tiles {tiles!r} is a custom tile URL: give its licence in "
                                 "outputs.map_attribution, e.g. '© OpenStreetMap contributors'")
            return self
        try:
            provider = xyzservices.providers.query_name(tiles)
        except ValueError:
            raise ValueError(f"outputs.map_tiles {tiles!r} is neither \"none\", a tile provider name (e.g. "
                             "\"OpenStreetMap\", \"OpenTopoMap\") nor a URL template with {z}, {x}, {y}") from None
        if provider.requires_token():
            raise ValueError(f"outputs.map_tiles {tiles!r} needs an API key; give its URL template with the key "
                             "and outputs.map_attribution instead")
        return self


class CityConfig(_Model):
    """A whole ``city.toml``."""

    city: CitySection
    data: DataSection = DataSection(source="synthetic")
    fleet: FleetSection = FleetSection()
    demand: DemandSection = DemandSection()
    charger_types: list[ChargerTypeConfig] = Field(default_factory=list)
    siting: SitingSection
    candidates: CandidatesSection = CandidatesSection()
    grid: GridSection = GridSection()
    energy: EnergySection = EnergySection()
    outputs: OutputsSection = OutputsSection()

    @model_validator(mode="after")
    def _energy_series_usable(self) -> CityConfig:
        preset = get_preset(self.city.country)
        e = self.energy
        if e.avoided_emissions_factor == "cea_combined_margin" and preset.combined_margin_g_per_kwh is None:
            raise ValueError(f"energy.avoided_emissions_factor = 'cea_combined_margin' is India's CEA combined margin "
                             f"(facts E5.11); city.country is {self.city.country!r}: use 'grid_average'")
        if e.grid_series == "ember" and e.grid_renewable_share is None and (
            preset.ember_co2_g_per_kwh is None or preset.ember_renewable_share is None
        ):
            raise ValueError(f"energy.grid_series = 'ember': the {preset.country} preset has no Ember renewable share; "
                             "give energy.grid_renewable_share so that intensity and share come from one series")
        return self

    @model_validator(mode="after")
    def _use_case_shares_sum_to_one(self) -> CityConfig:
        preset = get_preset(self.city.country)
        problems = []
        for seg, override in self.fleet.overrides.items():
            if override.public_share is not None:
                continue  # rescales the preset's split: always sums to 1
            given = {f: getattr(override, f) for f in SHARE_FIELDS if getattr(override, f) is not None}
            if not given or len(given) == len(SHARE_FIELDS):
                continue  # nothing to merge, or checked by SegmentOverride
            merged = {f: given.get(f, getattr(preset.segments[seg], f).value) for f in SHARE_FIELDS}
            total = sum(merged.values())
            if abs(total - 1.0) > 1e-6:
                parts = ", ".join(f"{f} {v:g}{'' if f in given else ' (preset)'}" for f, v in merged.items())
                problems.append(f"fleet.overrides.{seg}: use-case shares sum to {total:.6g}, not 1 ({parts}); "
                                "give all five share_* fields so they sum to 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _years_after_preset_base_year(self) -> CityConfig:
        preset = get_preset(self.city.country)
        base = self.fleet.base_year or preset.base_year
        target = self.fleet.target_year or preset.target_year
        problems = []
        if target < base:
            problems.append(f"fleet.target_year {target} is before the base year {base}")
        rollout = getattr(self.siting, "rollout_years", None) or []
        early = [y for y in [self.fleet.year, *(self.fleet.years or []), *rollout] if y < base]
        if early:
            problems.append(f"fleet year(s) {sorted(set(early))} are before the base year {base} of the "
                            f"{preset.country} preset; use later years or set fleet.base_year")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _rollout_ends_in_plan_year(self) -> CityConfig:
        years = self.siting.rollout_years
        if years is not None and years[-1] != self.fleet.year:
            raise ValueError(
                f"siting.rollout_years ends in {years[-1]} but the plan year fleet.year is {self.fleet.year}; "
                "make the last rollout year the plan year"
            )
        return self

    @model_validator(mode="after")
    def _every_segment_has_a_charger(self) -> CityConfig:
        if self.charger_types:
            served = {s for c in self.charger_types for s in c.segments}
            missing = [s for s in self.fleet.segments if s not in served]
            if missing:
                raise ValueError(f"charger_types: no charger type serves segment(s) {missing}; add them to a "
                                 "charger_types entry")
            names = [c.name for c in self.charger_types]
            if len(set(names)) != len(names):
                raise ValueError(f"charger_types: names must be unique, got {names}")
            idle = [c.name for c in self.charger_types if not set(c.use_cases) & set(self.demand.sited_use_cases)]
            if idle:
                raise ValueError(f"charger_types {idle}: their use_cases serve none of demand.sited_use_cases "
                                 f"{self.demand.sited_use_cases}, so they could never be built; add a sited use case "
                                 "to their use_cases or remove them")
        return self

    @model_validator(mode="after")
    def _sales_shares_fit_the_s_curve(self) -> CityConfig:
        # the logistic sales-share curve passes through the base and target shares: both must lie
        # strictly between 0 and the ceiling (checked here with the preset's values filled in)
        preset = get_preset(self.city.country)
        ceiling = self.fleet.sales_share_ceiling
        same_year = (self.fleet.base_year or preset.base_year) == (self.fleet.target_year or preset.target_year)
        problems = []
        for seg in self.fleet.segments:
            override = self.fleet.overrides.get(seg)
            shares = {}
            for f in ("ev_sales_share_base", "ev_sales_share_target"):
                given = getattr(override, f) if override is not None else None
                shares[f] = (given, "") if given is not None else (getattr(preset.segments[seg], f).value, " (preset)")
            for f, (v, origin) in shares.items():
                if v <= 0:
                    problems.append(f"fleet.overrides.{seg}.{f} is {v:g}{origin}; an S-curve cannot pass through 0, "
                                    "give a small positive share such as 0.001")
                elif v >= ceiling:
                    problems.append(f"fleet.overrides.{seg}.{f} {v:g}{origin} is not below fleet.sales_share_ceiling "
                                    f"{ceiling:g}; lower the share or raise the ceiling")
            base, target = shares["ev_sales_share_base"][0], shares["ev_sales_share_target"][0]
            if same_year and abs(base - target) > 1e-12:
                problems.append(f"fleet.overrides.{seg}: the base and target years are the same but the sales shares "
                                f"differ ({base:g} vs {target:g}); make them equal or move fleet.target_year")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _every_sited_demand_has_a_charger(self) -> CityConfig:
        # a (segment, sited use case) with a positive share of the energy needs a charger type for
        # both, or that demand can never be served
        preset = get_preset(self.city.country)
        if self.charger_types:
            kinds = [(set(c.use_cases), set(c.segments)) for c in self.charger_types]
            where = "charger_types"
        else:
            kinds = [(set(c.use_cases), set(c.segments)) for c in preset.chargers.values()]
            where = f"the {preset.country} preset's charger types"
        missing = []
        for seg in self.fleet.segments:
            override = self.fleet.overrides.get(seg)
            for u in self.demand.sited_use_cases:
                share = getattr(preset.segments[seg], f"share_{u}").value
                if override is not None and getattr(override, f"share_{u}") is not None:
                    share = getattr(override, f"share_{u}")
                elif override is not None and override.public_share is not None:
                    share *= override.public_share if u in PUBLIC_USE_CASES else 1.0 - override.public_share
                if share > 0 and not any(u in uses and seg in segs for uses, segs in kinds):
                    missing.append(f"{seg} {u}")
        if missing:
            raise ValueError(f"demand.sited_use_cases: no charger type of {where} serves {', '.join(missing)} "
                             "(a positive share of the energy), so that demand could never be served; add a "
                             "[[charger_types]] entry for it or remove the use case from demand.sited_use_cases")
        return self

    @model_validator(mode="after")
    def _some_demand_is_sited(self) -> CityConfig:
        # with no positive share of any segment's energy in a sited use case there is nothing to
        # site: the siting stage would get an empty demand table
        preset = get_preset(self.city.country)
        for seg in self.fleet.segments:
            override = self.fleet.overrides.get(seg)
            for u in self.demand.sited_use_cases:
                share = getattr(preset.segments[seg], f"share_{u}").value
                if override is not None and getattr(override, f"share_{u}") is not None:
                    share = getattr(override, f"share_{u}")
                elif override is not None and override.public_share is not None:
                    share *= override.public_share if u in PUBLIC_USE_CASES else 1.0 - override.public_share
                if share > 0:
                    return self
        raise ValueError(f"demand.sited_use_cases {self.demand.sited_use_cases}: every segment's share of its energy "
                         "in these use cases is 0 (fleet.overrides.<segment>.share_*), so there is no demand to site; "
                         "give a sited use case a positive share or add the use case to demand.sited_use_cases")

    @model_validator(mode="after")
    def _some_segment_uses_energy(self) -> CityConfig:
        preset = get_preset(self.city.country)
        factors = ("vehicles_per_1000", "km_per_day", "kwh_per_km")
        zero = {}
        for seg in self.fleet.segments:
            override = self.fleet.overrides.get(seg)
            merged = {f: getattr(override, f, None) if override is not None else None for f in factors}
            merged = {f: getattr(preset.segments[seg], f).value if v is None else v for f, v in merged.items()}
            zero[seg] = [f for f, v in merged.items() if v == 0]
        if all(zero.values()):
            parts = ", ".join(f"{seg} ({' and '.join(fs)})" for seg, fs in zero.items())
            raise ValueError(f"fleet.overrides: every segment has zero EV energy, so there is no charging demand to "
                             f"plan: {parts} are 0; give them positive values")
        return self

    @model_validator(mode="after")
    def _residential_weights_have_their_data(self) -> CityConfig:
        mode = self.demand.residential_weights
        if mode == "raster" and not self.data.population_raster:
            raise ValueError("demand.residential_weights = 'raster' needs data.population_raster; give the raster or "
                             "use 'auto'")
        if mode == "buildings" and self.data.population_total is None:
            raise ValueError("demand.residential_weights = 'buildings' needs data.population_total (persons in the "
                             "study area); give it or use 'auto'")
        return self

    @model_validator(mode="after")
    def _segment_modes_of_planned_segments(self) -> CityConfig:
        unused = [s for s in self.data.segment_modes if s not in self.fleet.segments]
        if unused:
            raise ValueError(f"data.segment_modes has segment(s) {unused} that are not in fleet.segments "
                             f"{self.fleet.segments}, so the mode would be ignored; add them to fleet.segments or "
                             "remove them from data.segment_modes")
        return self

    def config_hash(self) -> str:
        """SHA-256 of the validated configuration (canonical JSON), first 16 hex digits."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_TOML_TYPE = {bool: "true/false", int: "an integer", float: "a decimal number", str: "a string", list: "an array",
              tuple: "an array", dict: "a table", datetime.date: "a date", datetime.datetime: "a date-time",
              datetime.time: "a time"}

#: what to write instead, by pydantic error type
_TYPE_HINTS = {
    "int_type": "write a whole number without quotes",
    "float_type": "write a number without quotes, e.g. 12.5",
    "bool_type": "write true or false without quotes",
    "string_type": "write it in quotes",
    "list_type": "write an array, e.g. [1, 2]",
    "tuple_type": "write an array, e.g. [1, 2]",
    "dict_type": "write a table",
    "model_type": "write a table",
    "model_attributes_type": "write a table",
    "int_from_float": "write a whole number",
}


def _shown(value: Any) -> str:
    """A value as the user wrote it in TOML, shortened."""
    if isinstance(value, float) and not math.isfinite(value):
        text = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: Keys that were renamed, merged or dropped: an old city.toml gets this message instead of
#: "unknown field".
RETIRED_KEYS: dict[str, str] = {
    "grid.ev_strategy": "grid.ev_strategy was merged into demand.charging_strategy; move the value there",
    "siting.cell_size_m": "siting.cell_size_m moved to demand.cell_size_m; move the line to [demand]",
    "grid.peak_hour": "grid.peak_hour was never used and is removed: the peak checked is the worst hour of the "
    "grid.time_series load flow; delete the line",
}


def _format_errors(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden" and loc in RETIRED_KEYS:
            msg = RETIRED_KEYS[loc]
        elif kind == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif kind == "missing":
            msg = "required field is missing; add it"
        elif kind == "finite_number":
            msg = f"got {_shown(value)}; give a finite number (inf and nan are not allowed)"
        elif kind in _TYPE_HINTS:
            msg = f"{msg}, got {_shown(value)} ({_TOML_TYPE.get(type(value), type(value).__name__)}); {_TYPE_HINTS[kind]}"
        elif kind != "value_error" and not isinstance(value, (dict, BaseModel)):
            msg = f"{msg}, got {_shown(value)}"  # bounds, patterns, literals, lengths
        if loc == "(top level)" or msg.startswith((f"{loc}.", f"{loc} ")):
            parts.append(msg)  # a check across fields names its fields itself
        else:
            parts.append(f"{loc}: {msg}")
    return f"{path}: {len(parts)} invalid field(s): " + "; ".join(parts)


def parse_config(data: dict[str, Any], *, source: Path | str = "city.toml") -> CityConfig:
    """Validate a configuration dictionary.

    Parameters
    ----------
    data
        The parsed TOML document.
    source
        Where it came from, used in error messages.

    Raises
    ------
    ConfigError
        Listing every invalid field with its dotted path.
    """
    try:
        return CityConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(Path(source), exc)) from None


def find_config(city: Path | str) -> Path:
    """Return the ``city.toml`` of a city folder (or the file itself)."""
    path = Path(city)
    if path.is_dir():
        path = path / "city.toml"
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a file; the city folder needs a city.toml file")
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; give a city folder that contains a city.toml")
    return path


def load_config(city: Path | str) -> CityConfig:
    """Read and validate a city's ``city.toml``.

    Parameters
    ----------
    city
        The city folder or its ``city.toml``.
    """
    path = find_config(city)
    try:
        # utf-8-sig: a byte-order mark, which some Windows editors write, is skipped
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML ({exc}); fix the syntax at that line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return parse_config(data, source=path)


def data_root(explicit: Path | str | None = None) -> Path | None:
    """The data root: the explicit one, else ``$CHARGE_PLANNER_DATA``, else None.

    Raises
    ------
    ConfigError
        When the data root given exists but is a file, not a folder.
    """
    if explicit is not None:
        root, origin = Path(explicit).expanduser(), "--data-root"
    else:
        env = os.environ.get(DATA_ENV_VAR)
        if not env:
            return None
        root, origin = Path(env).expanduser(), f"${DATA_ENV_VAR}"
    if root.is_file():
        raise ConfigError(f"{origin} {root} is a file, not a folder; give the folder that holds the data named in "
                          "city.toml")
    return root


def resolve_data_path(value: str, *, city_dir: Path, root: Path | None, field: str) -> Path:
    """Find a data file named in ``city.toml``.

    Relative paths are looked up in the city folder, then in the data root.

    Raises
    ------
    ConfigError
        Naming the field, the places searched and how to point at the data.
    """
    candidate = Path(value).expanduser()
    if candidate.is_absolute():
        if candidate.is_file():
            return candidate
        raise ConfigError(f"{field}: file {candidate} does not exist; fix the path")
    searched = [city_dir / candidate]
    if root is not None:
        searched.append(root / candidate)
    for path in searched:
        if path.is_file():
            return path
    where = " or ".join(str(p) for p in searched)
    hint = "" if root is not None else f"; pass --data-root DIR or set {DATA_ENV_VAR}"
    raise ConfigError(f"{field}: file {value!r} not found in {where}{hint}")


def validate_bundle(city: Path | str, *, data_dir: Path | str | None = None) -> CityConfig:
    """Validate a city bundle as far as it can be without reading the data: its ``city.toml``
    (every field, see :func:`load_config`) and that every data file it names exists.

    Parameters
    ----------
    city
        The city folder or its ``city.toml``.
    data_dir
        Data root for relative paths; default ``$CHARGE_PLANNER_DATA``.

    Raises
    ------
    ConfigError
        Listing every invalid field, or every data file that is not found, in one line.
    """
    path = find_config(city)
    config = load_config(path)
    root = data_root(data_dir)
    named: list[tuple[str, str | None]] = [("data.population_raster", config.data.population_raster),
                                           ("siting.exclusion_zones", config.siting.exclusion_zones)]
    if config.data.source == "files":
        named += [("data.roads", config.data.roads), ("data.roads_nodes", config.data.roads_nodes),
                  ("data.osm", config.data.osm)]
    if config.grid.source == "pandapower_json":
        named.append(("grid.path", config.grid.path))
    problems = []
    for field, value in named:
        if value:
            try:
                resolve_data_path(value, city_dir=path.parent, root=root, field=field)
            except ConfigError as exc:
                problems.append(str(exc))
    problem = _unknown_grid_name(config.grid)
    if problem:
        problems.append(problem)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return config


def _unknown_grid_name(grid: GridSection) -> str | None:
    """Why ``grid.code`` / ``grid.name`` names no SimBench grid / pandapower network, or None."""
    # the grid libraries are imported only for the source that needs them (they take seconds)
    if grid.source == "simbench" and grid.code:
        import simbench

        codes = simbench.collect_all_simbench_codes()
        if grid.code not in codes:
            examples = ", ".join(c for c in codes if "-MV-" in c and c.endswith("-0-sw"))
            return f"grid.code: unknown SimBench code {grid.code!r}; valid codes include {examples}"
    if grid.source == "pandapower_network" and grid.name:
        import pandapower.networks as pn

        obj = getattr(pn, grid.name, None)
        if (grid.name.startswith("_") or not callable(obj)
                or not str(getattr(obj, "__module__", "")).startswith("pandapower.networks")):
            return (f"grid.name: {grid.name!r} is not a network of pandapower.networks; use a function name such "
                    "as 'mv_oberrhein', 'create_cigre_network_mv' or 'case33bw'")
    return None
