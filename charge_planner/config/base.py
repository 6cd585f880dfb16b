"""Shared pieces of the ``city.toml`` schema: the strict base model, the field types and
plausibility bounds used by several sections, the retired keys and the formatting of
validation errors into one line per bundle."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from charge_planner.presets import SEGMENTS

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


NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


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
    "data.bbox": "data.bbox moved to city.study_area_bbox ([west, south, east, north] in degrees; the area "
    "downloaded and the demand's study area); move the line to [city]",
    "demand.study_area_bbox": "demand.study_area_bbox moved to city.study_area_bbox ([west, south, east, north] in "
    "degrees); move the line to [city]",
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
