"""Loading a given grid: a pandapower JSON file, a SimBench code or a pandapower library network.

:func:`load_grid` reads the net, normalises transformer tables from before pandapower 3.0, derives
bus roles and projected bus coordinates, and checks it with :func:`check_grid` (a slack exists and
no bus carrying load is islanded).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandapower as pp
import pyproj
from pandapower.auxiliary import pandapowerNet

from charge_planner.errors import ConfigError, DataError, GridError
from charge_planner.grid.model import (
    GridModel,
    _bus_label,
    _normalise_legacy_tables,
    _quiet_pandapower,
    bus_roles,
    project_bus_coordinates,
)

log = logging.getLogger(__name__)

__all__ = ["check_grid", "load_grid"]


def check_grid(net: pandapowerNet) -> None:
    """Check that a net can carry a load flow: a slack exists and no loaded bus is islanded.

    Parameters
    ----------
    net
        The pandapower net; not modified.

    Raises
    ------
    GridError
        When the net has no in-service external grid (or slack generator), or when buses
        carrying in-service load are not connected to any external grid.
    """
    from pandapower import topology

    has_ext_grid = bool(len(net.ext_grid)) and bool(net.ext_grid["in_service"].astype(bool).any())
    has_slack_gen = (
        len(net.gen) > 0
        and "slack" in net.gen.columns
        and bool((net.gen["slack"].astype(bool) & net.gen["in_service"].astype(bool)).any())
    )
    if not (has_ext_grid or has_slack_gen):
        raise GridError(
            "grid has no external grid (slack): add one with pandapower.create_ext_grid at the "
            "bus that feeds the grid (e.g. the HV side of the substation transformer)"
        )
    loads = net.load[net.load["in_service"].astype(bool)]
    loads = loads[(loads["p_mw"].abs() > 0) | (loads["q_mvar"].abs() > 0)]
    loaded = set(int(b) for b in loads["bus"].unique())
    if not loaded:
        return
    unsupplied = topology.unsupplied_buses(net)
    islanded = sorted(loaded & {int(b) for b in unsupplied})
    if islanded:
        shown = ", ".join(_bus_label(net, b) for b in islanded[:5])
        more = f" and {len(islanded) - 5} more" if len(islanded) > 5 else ""
        raise GridError(
            f"{len(islanded)} bus(es) carrying load are not connected to any external grid: "
            f"{shown}{more}; connect them (close a switch, add a line) or set their loads out of service"
        )


def _network_functions() -> dict[str, Any]:
    import pandapower.networks as pn

    out = {}
    for name in dir(pn):
        obj = getattr(pn, name)
        if name.startswith("_") or not callable(obj):
            continue
        if str(getattr(obj, "__module__", "")).startswith("pandapower.networks"):
            out[name] = obj
    return out


def _require_projected(crs: str, what: str) -> str:
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise ConfigError(f"{what}: {crs!r} is not a valid CRS ({exc}); pass e.g. 'EPSG:32643'") from exc
    if not parsed.is_projected:
        raise ConfigError(
            f"{what}: CRS {crs!r} is not projected; pass a projected metric CRS such as the city's UTM zone"
        )
    return parsed.to_string()


def load_grid(
    source: str,
    *,
    path: Path | None = None,
    code: str | None = None,
    name: str | None = None,
    crs: str,
) -> GridModel:
    """Load a pandapower net from a file, SimBench or the pandapower network library.

    The net is checked (:func:`check_grid`), transformer tables from before pandapower 3.0
    are normalised, bus roles are derived where missing (:func:`bus_roles`) and projected
    bus coordinates ``x_m``/``y_m`` are added from ``net.bus.geo`` where it exists.

    Parameters
    ----------
    source
        ``"pandapower_json"``, ``"simbench"`` or ``"pandapower_network"``.
    path
        JSON file written by ``pandapower.to_json`` (source ``"pandapower_json"``).
    code
        SimBench code, e.g. ``"1-MV-urban--0-sw"`` (source ``"simbench"``).
    name
        Function name in ``pandapower.networks``, e.g. ``"mv_oberrhein"``
        (source ``"pandapower_network"``).
    crs
        Projected metric CRS for the bus coordinates, e.g. ``"EPSG:32643"``.

    Returns
    -------
    GridModel
        The loaded grid (``synthetic=False``).

    Raises
    ------
    ConfigError
        Unknown source, SimBench code or network name, a missing argument, or a bad CRS.
    DataError
        The JSON file is missing or unreadable.
    GridError
        No external grid, or islanded buses carrying load.
    """
    crs_str = _require_projected(crs, "load_grid")
    if source == "pandapower_json":
        if path is None:
            raise ConfigError("grid source 'pandapower_json' needs path=<file written by pandapower.to_json>")
        file = Path(path)
        if not file.is_file():
            raise DataError(f"grid file {file} does not exist: check the grid path in the city config")
        try:
            net = pp.from_json(str(file))
        except Exception as exc:  # pandapower raises many kinds on a bad file
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(
                f"grid file {file} is not a readable pandapower JSON ({first}); write it with pandapower.to_json"
            ) from exc
        label = f"pandapower_json:{file}"
        provenance = f"grid read from pandapower JSON file {file}; element parameters as stored there"
    elif source == "simbench":
        if code is None:
            raise ConfigError("grid source 'simbench' needs code=<SimBench code>, e.g. '1-MV-urban--0-sw'")
        import simbench

        codes = simbench.collect_all_simbench_codes()
        if code not in codes:
            examples = ", ".join(c for c in codes if "-MV-" in c and c.endswith("-0-sw"))
            raise ConfigError(f"unknown SimBench code {code!r}; valid codes include {examples}")
        net = simbench.get_simbench_net(code)
        label = f"simbench:{code}"
        provenance = f"SimBench grid {code} (simbench {simbench.__version__}); German reference grid"
    elif source == "pandapower_network":
        functions = _network_functions()
        if name is None or name not in functions:
            examples = ", ".join(
                n for n in ("mv_oberrhein", "create_cigre_network_mv", "case33bw") if n in functions
            )
            raise ConfigError(
                f"unknown pandapower network {name!r}; use a function name of pandapower.networks such as {examples}"
            )
        with _quiet_pandapower():
            net = functions[name]()
        if not isinstance(net, pandapowerNet):
            raise ConfigError(
                f"pandapower.networks.{name}() does not return a single net; choose another network"
            )
        label = f"pandapower_network:{name}"
        provenance = f"pandapower reference network pandapower.networks.{name} (pandapower {pp.__version__})"
    else:
        raise ConfigError(
            f"unknown grid source {source!r}; use one of 'pandapower_json', 'simbench', "
            "'pandapower_network' (or call synthesise_grid)"
        )
    _normalise_legacy_tables(net)
    check_grid(net)
    net.bus["role"] = bus_roles(net)
    n_xy = project_bus_coordinates(net, crs_str)
    if n_xy == 0:
        log.warning("grid %s has no bus geodata: sites cannot be connected to it by location", label)
    else:
        log.info("grid %s: %d of %d buses have coordinates", label, n_xy, len(net.bus))
    assumptions = [
        provenance,
        "bus roles derived from nominal voltage where not given: lv < 1 kV <= mv <= 36 kV < hv (assumption)",
    ]
    return GridModel(net=net, source=label, crs=crs_str, assumptions=assumptions, synthetic=False)
