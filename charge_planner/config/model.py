"""The whole ``city.toml`` (:class:`CityConfig`) and its checks across sections."""

from __future__ import annotations

import hashlib
import json

from pydantic import (
    Field,
    model_validator,
)

from charge_planner.config.base import _Model
from charge_planner.config.plan_sections import (
    CandidatesSection,
    ChargerTypeConfig,
    EnergySection,
    GridSection,
    OutputsSection,
    SitingSection,
)
from charge_planner.config.sections import CitySection, DataSection, DemandSection, FleetSection
from charge_planner.presets import PUBLIC_USE_CASES, SHARE_FIELDS, get_preset


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

    @property
    def siting_years(self) -> list[int]:
        """The years the siting plans: ``siting.rollout_years``, else the plan year alone."""
        return list(self.siting.rollout_years or [self.fleet.year])

    @model_validator(mode="after")
    def _online_area(self) -> CityConfig:
        if self.data.source == "online" and self.data.place is None and self.city.study_area_bbox is None:
            raise ValueError("data.source is 'online': give data.place or city.study_area_bbox (the area to download)")
        return self

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
