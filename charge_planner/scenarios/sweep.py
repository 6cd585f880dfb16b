"""Sweep files: scenarios as overrides of city bundles, checked before anything runs.

A sweep file is TOML::

    cities = ["../kathmandu_thapathali"]      # optional: more city folders (relative to this file)
    set = { "siting.time_limit_s" = 20 }      # optional: settings every scenario shares

    [[scenario]]
    name = "budget_low"                       # letters, digits and . _ - + =; the output folder's name
    description = "half the budget"           # optional
    set = { "siting.budget_usd" = 500000 }    # dotted keys of city.toml

    [axes]                                    # optional: every combination of these values
    "demand.charging_strategy" = ["unmanaged", "managed_offpeak"]

Every scenario runs on every city (the city folder given on the command line first, then
``cities``). With ``[axes]``, each scenario (or, without ``[[scenario]]``, the city as given)
runs once per combination of the axes' values, named ``<scenario>+<key>=<value>+...`` with the
last part of each dotted key. The top-level ``set`` applies to every scenario; a scenario's own
``set`` and the axes' values take precedence over it. Each scenario's configuration is the city's ``city.toml`` with
the overrides, validated as a whole (:func:`~charge_planner.pipeline.options.option_config`);
the sections ``[city]`` and ``[data]`` may not change, since a scenario plans the loaded city.
Every mistake is one :class:`~charge_planner.errors.ConfigError` line naming the sweep file
and the scenario, raised by :func:`load_sweep` before any plan runs.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charge_planner.config import check_bundle_files, find_config, validate_bundle
from charge_planner.errors import ConfigError
from charge_planner.pipeline.options import Option, option_config

__all__ = ["RESERVED_NAMES", "Job", "Sweep", "load_sweep", "parse_sweep", "sweep_jobs"]

#: Names a scenario may not take: the sweep's own files and folders in the output folder.
RESERVED_NAMES = frozenset({"scenarios.csv", "comparison.html", "comparison.pdf", "sweep.json"})

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,119}$")
_TOP_KEYS = {"cities", "set", "scenario", "axes"}
_SCENARIO_KEYS = {"name", "description", "set"}


@dataclass(frozen=True)
class Job:
    """One scenario of one city: what a worker needs to plan it and where it is written.

    Attributes
    ----------
    city_dir
        The city folder (absolute).
    city
        The city's name (``city.name`` of its city.toml).
    scenario
        The scenario's name, unique within the city; also its output folder's name.
    overrides
        Dotted ``section.key`` -> value, over the city's ``city.toml``.
    folder
        The scenario's output folder relative to the sweep's output folder: ``<scenario>`` for a
        sweep of one city, ``<city folder name>/<scenario>`` for several.
    description
        What the scenario means (may be empty).
    """

    city_dir: str
    city: str
    scenario: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    folder: str = ""
    description: str = ""

    @property
    def key(self) -> str:
        """A unique key of the job within a sweep (its folder)."""
        return self.folder

    def overrides_text(self) -> str:
        """The overrides as ``key=value, ...`` (values as JSON)."""
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.overrides.items())


@dataclass(frozen=True)
class Sweep:
    """A checked sweep: its file and its jobs, in order (cities, then scenarios)."""

    path: Path | None
    jobs: tuple[Job, ...]

    @property
    def cities(self) -> list[str]:
        """The city folders, in order."""
        return list(dict.fromkeys(j.city_dir for j in self.jobs))


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """``{"siting": {"budget_usd": 1}}`` (TOML's unquoted dotted keys) -> ``{"siting.budget_usd": 1}``."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = str(value) if isinstance(value, int | float | str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "_"


def _check_value(source: str, where: str, key: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {where}: {key} = {value} is not a finite number")


def _settings(value: Any, source: str, where: str, whose: str) -> dict[str, Any]:
    """A ``set`` table as dotted key -> value (TOML's quoted or unquoted dotted keys alike), values checked."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {where}: 'set' must be a table of dotted keys {whose}, e.g. "
                          "set = { \"siting.budget_usd\" = 500000 }")
    flat: dict[str, Any] = {}
    _flatten("", value, flat)
    for k, v in flat.items():
        _check_value(source, where, k, v)
    return flat


def parse_sweep(data: Mapping[str, Any], *, source: str = "sweep.toml") -> tuple[list[str], list[Option]]:
    """The cities and the scenarios of a parsed sweep file (the axes expanded), checked for form only.

    Returns
    -------
    (cities, scenarios)
        The extra city folders as written, and one :class:`Option` per scenario.

    Raises
    ------
    ConfigError
        One line naming ``source``, the scenario and the key.
    """
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; a sweep file has 'cities', 'set', '[[scenario]]' "
                          "tables and an '[axes]' table")
    cities = data.get("cities", [])
    if not isinstance(cities, list) or not all(isinstance(c, str) and c for c in cities):
        raise ConfigError(f"{source}: 'cities' must be a list of city folders, e.g. cities = [\"../other_city\"]")
    shared = _settings(data.get("set", {}), source, "set", "shared by every scenario")
    raw = data.get("scenario", [])
    if not isinstance(raw, list) or not all(isinstance(s, Mapping) for s in raw):
        raise ConfigError(f"{source}: 'scenario' must be tables written [[scenario]], each with name and set")
    base: list[Option] = []
    for i, s in enumerate(raw, start=1):
        where = f"scenario {i}"
        extra = sorted(set(s) - _SCENARIO_KEYS)
        if extra:
            raise ConfigError(f"{source}: {where}: unknown key(s) {extra}; a scenario has name, description and set")
        name = s.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{source}: {where}: name {name!r} must be 1-120 letters, digits or . _ - + = "
                              "(starting with a letter or digit); it names the scenario's output folder")
        where = f"scenario {name!r}"
        flat = _settings(s.get("set", {}), source, where, "of the scenario")
        description = s.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{source}: {where}: description must be text")
        base.append(Option(name, flat, description))
    axes_raw = data.get("axes", {})
    if not isinstance(axes_raw, Mapping):
        raise ConfigError(f"{source}: 'axes' must be a table of dotted keys, each with a list of values")
    axes: dict[str, list[Any]] = {}
    _flatten_axes(axes_raw, axes, source)
    if not base and not axes:
        raise ConfigError(f"{source}: no scenario; add [[scenario]] tables (name, set) or an [axes] table")
    if not axes:
        scenarios = base
    else:
        starts = base or [Option("base", {}, "the city's settings")]
        scenarios = []
        for start in starts:
            clash = sorted(set(start.overrides) & set(axes))
            if clash:
                raise ConfigError(f"{source}: scenario {start.name!r} sets {clash[0]!r}, which is also an axis; set "
                                  "it in one place")
            for combo in itertools.product(*axes.values()):
                over = dict(start.overrides)
                parts = [start.name] if base else []
                for key, value in zip(axes, combo, strict=True):
                    over[key] = value
                    parts.append(f"{key.rsplit('.', 1)[-1]}={_label(value)}")
                name = "+".join(parts)
                if not _NAME.match(name):
                    raise ConfigError(f"{source}: the scenario name {name!r} made from the axes is too long or not a "
                                      "folder name; use shorter values or name the scenarios")
                text = ", ".join(f"{k} = {json.dumps(v)}" for k, v in zip(axes, combo, strict=True))
                scenarios.append(Option(name, over, f"{start.description + '; ' if start.description else ''}{text}"))
    if shared:
        scenarios = [Option(o.name, {**shared, **o.overrides}, o.description) for o in scenarios]
    names = [s.name for s in scenarios]
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            raise ConfigError(f"{source}: two scenarios are named {n!r} (names are compared ignoring case); "
                              "give each its own name")
        seen.add(n.lower())
        if n.lower() in RESERVED_NAMES:
            raise ConfigError(f"{source}: scenario name {n!r} is taken by a file of the sweep; choose another")
    return list(cities), scenarios


def _flatten_axes(raw: Mapping[str, Any], axes: dict[str, list[Any]], source: str, prefix: str = "") -> None:
    for k, v in raw.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            _flatten_axes(v, axes, source, key)
            continue
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{source}: axis {key!r} must be a non-empty list of values, e.g. {key} = [1, 2]")
        for value in v:
            _check_value(source, f"axis {key!r}", key, value)
        if len({json.dumps(x, sort_keys=True) for x in v}) != len(v):
            raise ConfigError(f"{source}: axis {key!r} lists a value twice")
        axes[key] = list(v)


def sweep_jobs(
    cities: Sequence[Path | str], scenarios: Sequence[Option], *, data_dir: Path | str | None = None,
    source: str = "sweep.toml",
) -> list[Job]:
    """Every (city, scenario) job, each scenario's configuration validated against its city.

    Raises
    ------
    ConfigError, DataError
        A city bundle that is invalid or misses a data file, or a scenario whose overrides are
        not settings of city.toml or give an invalid configuration (one line naming the sweep
        file, the city and the scenario).
    """
    dirs: list[Path] = []
    for c in cities:
        d = Path(c).expanduser().resolve()
        d = d.parent if d.is_file() else d
        if d not in dirs:
            dirs.append(d)
    many = len(dirs) > 1
    names = [d.name for d in dirs]
    if many and len(set(names)) != len(names):
        raise ConfigError(f"{source}: two city folders are named {sorted({n for n in names if names.count(n) > 1})}; "
                          "their scenarios' output folders would clash: rename one")
    jobs = []
    for d in dirs:
        cfg = validate_bundle(d, data_dir=data_dir)
        for o in scenarios:
            where = f"{source}, city {d.name}"
            scenario_cfg = option_config(cfg, o, source=where, what="scenario")
            check_bundle_files(scenario_cfg, find_config(d), data_dir=data_dir, source=f"{where}, scenario {o.name!r}")
            folder = f"{d.name}/{o.name}" if many else o.name
            jobs.append(Job(str(d), cfg.city.name, o.name, dict(o.overrides), folder, o.description))
    return jobs


def load_sweep(
    path: Path | str, city: Path | str | None = None, *, data_dir: Path | str | None = None,
) -> Sweep:
    """Read and check a sweep file; every scenario of every city is validated before it returns.

    Parameters
    ----------
    path
        The sweep file (TOML).
    city
        The first city folder (the command line's CITY_DIR); the file's ``cities`` follow,
        relative to the file's folder.
    data_dir
        The data root of the cities' data files (else ``$CHARGE_PLANNER_DATA``).

    Raises
    ------
    ConfigError
        For a missing or malformed file and every mistake :func:`parse_sweep` and
        :func:`sweep_jobs` find.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"sweep file {path} not found; give the path of a .toml file with [[scenario]] tables")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    extra, scenarios = parse_sweep(data, source=str(path))
    cities: list[Path | str] = [city] if city is not None else []
    cities += [path.parent / c for c in extra]
    if not cities:
        raise ConfigError(f"{path}: no city; give a city folder or list them in cities = [...]")
    for c in cities:
        if not Path(c).exists():
            raise ConfigError(f"{path}: city folder {c} not found")
    return Sweep(path.resolve(), tuple(sweep_jobs(cities, scenarios, data_dir=data_dir, source=str(path))))
