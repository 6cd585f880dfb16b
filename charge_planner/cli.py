"""The ``charge-planner`` command.

``charge-planner demo [--out DIR]`` plans the bundled synthetic demo city;
``charge-planner run CITY_DIR [--out DIR] [--data-root DIR]`` plans a city bundle;
``charge-planner validate CITY_DIR`` checks a ``city.toml``.

User mistakes (missing file, malformed TOML, unknown field, unknown grid source) print one
line on standard error and exit with status 2, leaving no partial output folder.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from charge_planner.errors import ChargePlannerError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Plan public EV charging for a city.")
log = logging.getLogger("charge_planner")

DEMO_CONFIG = Path(__file__).with_name("demo_city.toml")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("pyogrio", "fiona", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: BaseException) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def _run(city: Path, out: Path, data_root: Path | None, *, offline: bool | None = None, pdf: bool | None = None) -> None:
    from charge_planner.pipeline import plan

    try:
        result = plan(city, data_dir=data_root, progress=None)
        result.save(out, offline=offline, pdf=pdf)
    except ChargePlannerError as exc:
        _fail(exc)
    s = result.summary
    k = s["kpis"]
    typer.echo(
        f"{s['city']}: {k['sites_open']} sites, {k['installed_kw']:.0f} kW, "
        f"{k['served_kwh_day']:.0f} of {k['demand_kwh_day']:.0f} kWh/day served ({k['served_share']:.0%}), "
        f"capex {k['capex_usd']:,.0f} USD; MILP {s['solver']['status']} (gap {s['solver']['gap']})"
        + (f"; grid violations {s['grid']['violations']}" if "grid" in s else "")
    )
    typer.echo(f"outputs in {out}")


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")]
Offline = Annotated[
    bool | None,
    typer.Option(
        "--offline/--online",
        help="Inline the map's JavaScript so map.html works without internet (default: outputs.offline_map, on).",
    ),
]
Pdf = Annotated[
    bool | None,
    typer.Option("--pdf/--no-pdf", help="Also print report.pdf with headless Chromium (default: when Chromium is found)."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings only.")]


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out/demo_city"),
    offline: Offline = None,
    pdf: Pdf = None,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Plan the bundled synthetic demo city and write its outputs."""
    _setup_logging(verbose, quiet)
    _run(DEMO_CONFIG, out, None, offline=offline, pdf=pdf)


@app.command()
def run(
    city_dir: Annotated[Path, typer.Argument(help="City folder containing city.toml.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default out/<city folder>).")] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the data named in city.toml (or $CHARGE_PLANNER_DATA).")
    ] = None,
    offline: Offline = None,
    pdf: Pdf = None,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Plan a city bundle and write its outputs."""
    _setup_logging(verbose, quiet)
    target = out or Path("out") / city_dir.resolve().name
    _run(city_dir, target, data_root, offline=offline, pdf=pdf)


@app.command()
def validate(
    city_dir: Annotated[Path, typer.Argument(help="City folder containing city.toml.")],
    data_root: Annotated[Path | None, typer.Option("--data-root", help="Data folder for relative paths.")] = None,
) -> None:
    """Check a city.toml and that the data files it names exist."""
    from charge_planner.config import data_root as root_of
    from charge_planner.config import find_config, load_config, resolve_data_path

    try:
        path = find_config(city_dir)
        cfg = load_config(path)
        root = root_of(data_root)
        for field in ("roads", "osm", "population_raster"):
            value = getattr(cfg.data, field)
            if value and cfg.data.source == "files":
                resolve_data_path(value, city_dir=path.parent, root=root, field=f"data.{field}")
        if cfg.grid.path:
            resolve_data_path(cfg.grid.path, city_dir=path.parent, root=root, field="grid.path")
    except ChargePlannerError as exc:
        _fail(exc)
    typer.echo(f"{path}: valid ({cfg.city.name}, {cfg.city.country}, plan year {cfg.fleet.year})")


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
