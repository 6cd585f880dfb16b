"""Sections of ``city.toml`` that shape the plan: ``[[charger_types]]``, ``[siting]``,
``[candidates]``, ``[grid]``, ``[energy]`` and ``[outputs]``."""

from __future__ import annotations

import datetime
import math
import re
from typing import Annotated, Literal

import xyzservices
from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from charge_planner.config.base import SUBSTATION_MVA_RANGE, Minutes, PositiveFloat, Share, _Model
from charge_planner.presets import PUBLIC_USE_CASES, SEGMENTS, USE_CASES


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
    charging_cap_share: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.6,
        description="demand.charging_strategy = 'capped': a site's grid draw is held at this share of its installed "
        "power [-] (assumption: a load-management setting, not a published figure)",
    )
    # plausibility bound: 10 MWh is a grid-scale battery, not one at a charging site
    battery_kwh_per_site: Annotated[float, Field(ge=0, le=10_000)] = Field(
        default=0.0,
        description="on-site battery per charging site [kWh]: charged from on-site PV surplus, then from the grid in "
        "the site's lowest-load hours; discharged at its peak; needs grid.battery_kw_per_site",
    )
    battery_kw_per_site: Annotated[float, Field(ge=0, le=10_000)] = Field(
        default=0.0, description="charge and discharge power of the on-site battery [kW]"
    )
    lv_max_site_kw: PositiveFloat = Field(default=500.0, description="sites above this connect at MV (assumption)")
    max_substation_mva: float = Field(
        default=60.0,
        description="synthesiser: rated MVA per substation before another is added, 10 to 200 (see SUBSTATION_MVA_RANGE)",
    )
    hosting_capacity: bool = True
    hosting_hours: Annotated[int, Field(ge=1, le=24)] = 2
    ev_loads: list[Literal["public", "home", "depot"]] = Field(
        default=["public", "home", "depot"],
        description="EV loads put on the grid: charging sites ('public'), home charging on each cell's LV network "
        "('home'), fleet, bus and truck depots ('depot')",
    )
    aware: bool = Field(
        default=False,
        description="grid-aware siting: check every year of the rollout, turn violations into headroom and reinforcement "
        "options, site again until no violation or grid.max_iterations",
    )
    check_years: Literal["every", "rollout"] = Field(
        default="every",
        description="years the grid is checked in: 'every' calendar year from the first rollout year to the plan "
        "year (a year between two rollout years has the earlier one's sites, serving that year's demand), or the "
        "'rollout' years only",
    )
    max_iterations: Annotated[int, Field(ge=1, le=20)] = Field(
        default=5, description="grid-aware siting: most siting runs (the grid-blind one included)"
    )
    reinforcement: bool = Field(
        default=True, description="grid-aware siting: the optimiser may pay for grid reinforcement within the budget"
    )

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
    def _battery_pair(self) -> GridSection:
        if (self.battery_kwh_per_site > 0) != (self.battery_kw_per_site > 0):
            raise ValueError(
                f"grid.battery_kwh_per_site = {self.battery_kwh_per_site:g} and grid.battery_kw_per_site = "
                f"{self.battery_kw_per_site:g}: a battery needs both an energy and a power rating (or both 0)"
            )
        if self.battery_kwh_per_site > 0 and self.time_series == "peak":
            raise ValueError("grid.battery_kwh_per_site needs grid.time_series = 'day' or 'year' (a battery is "
                             "operated over a day; the single evening-peak flow cannot show it)")
        return self

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
