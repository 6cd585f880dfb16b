"""Configuration of a city bundle (``city.toml``), validated with pydantic.

A city bundle is a folder with a ``city.toml``. Relative data paths in it are looked
up first in the city folder, then in the data root (``--data-root`` or the
``CHARGE_PLANNER_DATA`` environment variable), so real data can stay outside the
repository. :func:`load_config` reports every invalid field at once, each with its
dotted path, the value given and what would fix it, in a single
:class:`~charge_planner.errors.ConfigError`; :func:`validate_bundle` also checks that the
data files exist and that a named SimBench grid or pandapower network exists.

Modules: :mod:`.base` (strict base model, shared types and bounds, error formatting),
:mod:`.sections` (``[city]``, ``[data]``, ``[fleet]``, ``[demand]``), :mod:`.plan_sections`
(``[[charger_types]]``, ``[siting]``, ``[candidates]``, ``[grid]``, ``[energy]``,
``[outputs]``), :mod:`.model` (:class:`CityConfig` and its checks across sections) and
:mod:`.files` (reading ``city.toml`` and resolving data paths).
"""

from charge_planner.config.base import (
    DATA_ENV_VAR,
    MAX_CUTOFF_MIN,
    MAX_POPULATION_TOTAL,
    POI_KINDS,
    RETIRED_KEYS,
    SUBSTATION_MVA_RANGE,
    BBox,
    Fraction,
    Minutes,
    NonNegative,
    PositiveFloat,
    Share,
)
from charge_planner.config.files import (
    check_bundle_files,
    data_root,
    find_config,
    load_config,
    parse_config,
    resolve_data_path,
    validate_bundle,
)
from charge_planner.config.model import CityConfig
from charge_planner.config.plan_sections import (
    CandidatesSection,
    ChargerTypeConfig,
    EnergySection,
    GridSection,
    OutputsSection,
    SitingSection,
)
from charge_planner.config.sections import (
    CitySection,
    DataSection,
    DemandSection,
    FleetSection,
    SegmentOverride,
)

__all__ = [
    "DATA_ENV_VAR",
    "MAX_CUTOFF_MIN",
    "MAX_POPULATION_TOTAL",
    "POI_KINDS",
    "RETIRED_KEYS",
    "SUBSTATION_MVA_RANGE",
    "BBox",
    "CandidatesSection",
    "ChargerTypeConfig",
    "CityConfig",
    "CitySection",
    "DataSection",
    "DemandSection",
    "EnergySection",
    "FleetSection",
    "Fraction",
    "GridSection",
    "Minutes",
    "NonNegative",
    "OutputsSection",
    "PositiveFloat",
    "SegmentOverride",
    "Share",
    "SitingSection",
    "check_bundle_files",
    "data_root",
    "find_config",
    "load_config",
    "parse_config",
    "resolve_data_path",
    "validate_bundle",
]
