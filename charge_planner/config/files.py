"""Reading a city bundle: finding and parsing ``city.toml``, the data root and data paths,
and :func:`validate_bundle`, which also checks that the named data files and grids exist."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from charge_planner.config.base import DATA_ENV_VAR, _format_errors
from charge_planner.config.model import CityConfig
from charge_planner.config.plan_sections import GridSection
from charge_planner.errors import ConfigError


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
    check_bundle_files(config, path, data_dir=data_dir)
    return config


def check_bundle_files(config: CityConfig, path: Path | str, *, data_dir: Path | str | None = None,
                       source: str | None = None) -> None:
    """Check that every data file a configuration names exists, and that a named grid is known.

    Parameters
    ----------
    config
        The validated configuration.
    path
        Its ``city.toml`` (relative data paths are tried next to it, then under the data root).
    data_dir
        Data root for relative paths; default ``$CHARGE_PLANNER_DATA``.
    source
        What to name in the error (default ``path``).

    Raises
    ------
    ConfigError
        Listing every data file that is not found and an unknown grid, in one line.
    """
    path = Path(path)
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
        raise ConfigError(f"{source or path}: " + "; ".join(problems))


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
