"""Configuration of a city bundle (``city.toml``), validated with pydantic.

A city bundle is a folder with a ``city.toml``. Relative data paths in it are looked
up first in the city folder, then in the data root (``--data-root`` or the
``CHARGE_PLANNER_DATA`` environment variable), so real data can stay outside the
repository. :func:`load_config` reports every invalid field at once, each with its
dotted path and what would fix it, in a single :class:`~charge_planner.errors.ConfigError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from charge_planner.errors import ConfigError
from charge_planner.presets import SEGMENTS, get_preset

DATA_ENV_VAR = "CHARGE_PLANNER_DATA"

PositiveFloat = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CitySection(_Model):
    """``[city]``: who and where."""

    name: str = Field(min_length=1)
    country: str = Field(min_length=2, description="country name or ISO code; selects the preset")
    crs: str | None = Field(default=None, description="projected metric CRS, e.g. EPSG:32643; default: UTM zone")

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
        return value


class DataSection(_Model):
    """``[data]``: where the city's data comes from."""

    source: Literal["synthetic", "files"] = "files"
    seed: int = 42
    roads: str | None = Field(default=None, description="OSMnx GraphML or OSM XML (.osm, .osm.gz, .osm.bz2)")
    osm: str | None = Field(default=None, description="OSM XML extract for POIs and buildings")
    population_raster: str | None = None
    population_total: PositiveFloat | None = Field(
        default=None, description="persons in the study area, when no population raster is given"
    )
    population_source: str | None = None

    @model_validator(mode="after")
    def _needs_roads(self) -> DataSection:
        if self.source == "files":
            if not self.roads:
                raise ValueError("data.source is 'files' but data.roads is not set; give a GraphML or OSM file")
            if not self.population_raster and self.population_total is None:
                raise ValueError(
                    "give data.population_raster or data.population_total (with data.population_source)"
                )
        return self


class SegmentOverride(_Model):
    """Per-segment overrides of the country preset."""

    vehicles_per_1000: Annotated[float, Field(ge=0)] | None = None
    ev_sales_share_base: Share | None = None
    ev_sales_share_target: Share | None = None
    km_per_day: Annotated[float, Field(ge=0)] | None = None
    kwh_per_km: Annotated[float, Field(ge=0)] | None = None
    public_share: Share | None = None
    lifetime_years: PositiveFloat | None = None
    cutoff_min: PositiveFloat | None = None
    kwh_per_session: PositiveFloat | None = None


class FleetSection(_Model):
    """``[fleet]``: adoption assumptions."""

    year: int = Field(default=2030, ge=2000, le=2100, description="plan year")
    base_year: int | None = Field(default=None, ge=2000, le=2100)
    target_year: int | None = Field(default=None, ge=2000, le=2100)
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
        return value

    @field_validator("overrides")
    @classmethod
    def _known_override_keys(cls, value: dict[str, SegmentOverride]) -> dict[str, SegmentOverride]:
        bad = [s for s in value if s not in SEGMENTS]
        if bad:
            raise ValueError(f"unknown segment(s) {bad} in overrides; use any of {list(SEGMENTS)}")
        return value

    @model_validator(mode="after")
    def _years_in_order(self) -> FleetSection:
        if self.base_year is not None and self.target_year is not None and self.target_year < self.base_year:
            raise ValueError(f"target_year {self.target_year} is before base_year {self.base_year}")
        if self.base_year is not None and self.year < self.base_year:
            raise ValueError(f"plan year {self.year} is before base_year {self.base_year}")
        return self


class ChargerTypeConfig(_Model):
    """One ``[[charger_types]]`` entry; replaces the preset's charger types when any is given."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    power_kw: PositiveFloat
    capex_usd: Annotated[float, Field(ge=0)]
    segments: list[str]
    service_hours_day: Annotated[float, Field(gt=0, le=24)] = 12.0
    grid_level: Literal["lv", "mv"] = "lv"

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
    cell_size_m: Annotated[float, Field(ge=50, le=5000)] = 400.0
    max_chargers_per_site: Annotated[int, Field(ge=1, le=200)] = 10
    max_sites_per_demand: Annotated[int, Field(ge=1, le=200)] = 12
    min_site_spacing_m: Annotated[float, Field(ge=0)] = 0.0
    generated_candidates: Annotated[int, Field(ge=0, le=5000)] = 0
    solver: Literal["highs", "cbc"] = "highs"
    time_limit_s: PositiveFloat = 60.0
    mip_gap: Annotated[float, Field(ge=0, le=1)] = 0.01
    fx_local_per_usd: PositiveFloat | None = None


class GridSection(_Model):
    """``[grid]``: the distribution grid to check the plan against."""

    source: Literal["synthesise", "pandapower_json", "simbench", "pandapower_network", "none"] = "synthesise"
    path: str | None = None
    code: str | None = None
    name: str | None = None
    peak_hour: Annotated[int, Field(ge=0, le=23)] = 20
    ev_peak_coincidence: Share = 0.5
    vm_min_pu: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    vm_max_pu: Annotated[float, Field(gt=1.0, lt=1.5)] = 1.05
    max_loading_percent: Annotated[float, Field(gt=0, le=200)] = 100.0

    @model_validator(mode="after")
    def _source_needs(self) -> GridSection:
        need = {"pandapower_json": "path", "simbench": "code", "pandapower_network": "name"}.get(self.source)
        if need and not getattr(self, need):
            raise ValueError(f"grid.source = {self.source!r} needs grid.{need}")
        return self


class OutputsSection(_Model):
    """``[outputs]``: what to write."""

    folder: str = "out"
    map_tiles: str | None = Field(default=None, description="folium tiles; default OpenStreetMap, none for synthetic")


class CityConfig(_Model):
    """A whole ``city.toml``."""

    city: CitySection
    data: DataSection = DataSection(source="synthetic")
    fleet: FleetSection = FleetSection()
    charger_types: list[ChargerTypeConfig] = Field(default_factory=list)
    siting: SitingSection
    grid: GridSection = GridSection()
    outputs: OutputsSection = OutputsSection()

    @model_validator(mode="after")
    def _every_segment_has_a_charger(self) -> CityConfig:
        if self.charger_types:
            served = {s for c in self.charger_types for s in c.segments}
            missing = [s for s in self.fleet.segments if s not in served]
            if missing:
                raise ValueError(f"no charger type serves segment(s) {missing}; add them to a charger_types entry")
            names = [c.name for c in self.charger_types]
            if len(set(names)) != len(names):
                raise ValueError(f"charger type names must be unique, got {names}")
        return self

    def config_hash(self) -> str:
        """SHA-256 of the validated configuration (canonical JSON), first 16 hex digits."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _format_errors(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "required field is missing; add it"
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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML ({exc}); fix the syntax at that line") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    return parse_config(data, source=path)


def data_root(explicit: Path | str | None = None) -> Path | None:
    """The data root: the explicit one, else ``$CHARGE_PLANNER_DATA``, else None."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env) if env else None


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
