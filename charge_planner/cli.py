"""The ``charge-planner`` command.

``charge-planner demo [--out DIR] [--overwrite]`` plans the bundled synthetic demo city;
``charge-planner run CITY_DIR [--out DIR] [--overwrite] [--data-root DIR]`` plans a city bundle;
``charge-planner validate CITY_DIR`` checks a ``city.toml``;
``charge-planner options CITY_DIR [--out DIR] [--option NAME ...]`` plans a city once per rollout
option and writes them side by side (``options.csv``, ``options.html``);
``charge-planner sweep CITY_DIR SWEEP.toml --out DIR [--workers N] [--scheduler ADDRESS]`` plans
every scenario of a sweep file on Dask and compares them (``scenarios.csv``, ``comparison.html``);
started again on the same folder, it finishes what an earlier, stopped run left.

The output folder is ``--out``, else ``[outputs] folder`` of the city.toml, else
``out/<city folder name>``, relative to the current directory. It is checked before anything
is computed (:func:`charge_planner.outputs.check_output_folder`): a new or empty folder is
used; an earlier plan output (a folder with the planner's ``manifest.json``) is replaced only
with ``--overwrite``, and then only the files its manifest lists; ``demo`` replaces an earlier
output of the demo city without asking. Any other non-empty folder, a file, a folder that
cannot be written, and the city folder, the data root or a folder containing either are
refused.

User mistakes (missing file, malformed TOML, unknown field, unknown grid source, a refused
output folder) print one line on standard error and exit with status 2, leaving no partial
output and every file that was there before.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from charge_planner import pipeline
from charge_planner.city import load_city
from charge_planner.config import data_root as root_of
from charge_planner.config import find_config, load_config, resolve_data_path, validate_bundle
from charge_planner.errors import ChargePlannerError
from charge_planner.outputs import check_output_folder, check_pdf, default_output_folder, read_manifest
from charge_planner.outputs.options import save_options
from charge_planner.outputs.views import fmt_pct
from charge_planner.pipeline.options import DEFAULT_OPTIONS, compare_options, option_notes, resolve_options
from charge_planner.scenarios import run_scenarios
from charge_planner.siting.inputs import read_exclusion_zones

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Plan public EV charging for a city.")
log = logging.getLogger("charge_planner")

DEMO_CONFIG = Path(__file__).with_name("demo_city.toml")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("pyogrio", "fiona", "matplotlib", "numba", "distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: BaseException) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def _run(
    city: Path,
    out: Path | None,
    data_root: Path | None,
    *,
    overwrite: bool = False,
    replace_city: str | None = None,
    offline: bool | None = None,
    pdf: bool | None = None,
) -> None:
    """Check the output folder, plan the city, save the plan.

    ``replace_city``: an earlier output of the city of that name may be replaced without
    ``overwrite`` (the demo's own output).
    """
    try:
        path = find_config(city)
        cfg = load_config(path)
        target = out if out is not None else default_output_folder(cfg, path.parent)
        if not overwrite and replace_city is not None:
            previous = read_manifest(target.expanduser())
            overwrite = previous is not None and previous.get("city") == replace_city
        check_output_folder(target, city_dir=path.parent, data_root=root_of(data_root), overwrite=overwrite)
        check_pdf(cfg.outputs.pdf if pdf is None else pdf)
        result = pipeline.plan(city, data_dir=data_root, progress=None)
        result.save(target, overwrite=overwrite, offline=offline, pdf=pdf)
    except ChargePlannerError as exc:
        _fail(exc)
    typer.echo(summary_line(result.summary))
    typer.echo(f"outputs in {target}")


def summary_line(s: dict[str, Any]) -> str:
    """The plan in one line: sites, energy served, cost, the siting model and its proof, the grid check."""
    k, sol = s["kpis"], s["solver"]
    gap = "no bound" if sol.get("gap") is None else f"gap {100 * sol['gap']:.4g} %"
    status = sol["status"]
    if sol.get("solver") == "greedy":
        status += " (greedy plan, proven by the demand within reach; no solver search needed)"
    line = (
        f"{s['city']}: {k['sites_open']} sites, {k['installed_kw']:,.0f} kW, "
        f"{k['served_kwh_day']:,.0f} of {k['demand_kwh_day']:,.0f} kWh/day served ({fmt_pct(k['served_share'])}), "
        f"capex {k['capex_usd']:,.0f} USD; MILP {sol.get('rows', 0):,} x {sol.get('columns', 0):,} "
        f"({sol.get('integer_columns', 0):,} integer) {status}, {gap}, {sol.get('solve_time_s', 0):.1f} s"
    )
    if sol.get("wall_clock_stop"):
        line += " (stopped by siting.time_limit_s: the plan may differ on another machine)"
    if "grid" in s:
        g = s["grid"]
        line += f"; grid violations {g['violations']}"
        if g.get("vm_min_pu") is not None:
            line += f", lowest voltage {g['vm_min_pu']:.3f} pu"
        years = g.get("years") or {}
        if len(years) > 1:  # the other years checked (the plan year's count is the one above)
            last = max(years, key=int)
            earlier = [f"{y}: {int(r['violations'])}" for y, r in sorted(years.items(), key=lambda kv: int(kv[0]))
                       if int(r["violations"]) and y != last]
            line += f" ({last}; violations in the years checked before it: {', '.join(earlier) or 'none'})"
        ga = s.get("grid_aware")
        if ga:
            rounds = ga["iterations"]
            line += (f"; grid-aware siting: {len(rounds)} round(s), violations {rounds[0]['violations']} -> "
                     f"{rounds[-1]['violations']}, reinforcement {k.get('reinforcement_usd', 0):,.0f} USD from the "
                     f"budget and {ga.get('utility_reinforcement_usd', 0):,.0f} USD by the utility")
        elif g["violations"]:
            line += " (set grid.aware = true to site around them)"
    return line


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
Overwrite = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Replace an earlier plan output in the output folder: only the files its manifest.json lists are "
        "removed, other files stay.",
    ),
]


@app.command()
def demo(
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default out/demo_city; its earlier demo output is replaced).")
    ] = None,
    overwrite: Overwrite = False,
    offline: Offline = None,
    pdf: Pdf = None,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Plan the bundled synthetic demo city and write its outputs."""
    _setup_logging(verbose, quiet)
    try:
        name = load_config(DEMO_CONFIG).city.name
    except ChargePlannerError as exc:
        _fail(exc)
    _run(DEMO_CONFIG, out, None, overwrite=overwrite, replace_city=name, offline=offline, pdf=pdf)


@app.command()
def run(
    city_dir: Annotated[Path, typer.Argument(help="City folder containing city.toml.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default [outputs] folder, else out/<city folder>).")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the data named in city.toml (or $CHARGE_PLANNER_DATA).")
    ] = None,
    overwrite: Overwrite = False,
    offline: Offline = None,
    pdf: Pdf = None,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Plan a city bundle and write its outputs."""
    _setup_logging(verbose, quiet)
    _run(city_dir, out, data_root, overwrite=overwrite, offline=offline, pdf=pdf)


@app.command()
def validate(
    city_dir: Annotated[Path, typer.Argument(help="City folder containing city.toml.")],
    data_root: Annotated[Path | None, typer.Option("--data-root", help="Data folder for relative paths.")] = None,
    verbose: Verbose = False,
) -> None:
    """Check a city bundle as `run` does before planning: every field of its city.toml, that the data files
    it names exist, and the data itself (roads, population, OSM layers, exclusion zones and a given grid are
    loaded and checked for plausibility: country, CRS, density, distance of the grid)."""
    _setup_logging(verbose, quiet=not verbose)
    try:
        path = find_config(city_dir)
        cfg = validate_bundle(path, data_dir=data_root)
        city = load_city(path.parent, data_dir=data_root)
        pipeline.load_given_grid(city)
        if cfg.siting.exclusion_zones:
            read_exclusion_zones(resolve_data_path(cfg.siting.exclusion_zones, city_dir=city.city_dir,
                                                   root=city.data_root, field="siting.exclusion_zones"), crs=city.crs)
    except ChargePlannerError as exc:
        _fail(exc)
    typer.echo(
        f"{path}: valid ({cfg.city.name}, {cfg.city.country}, plan year {cfg.fleet.year}; "
        f"{city.roads.number_of_edges():,} road edges, {city.population['population'].sum():,.0f} persons)"
    )


@app.command()
def options(
    city_dir: Annotated[Path, typer.Argument(help="City folder containing city.toml.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: the city's output folder with '_options' appended)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="An option to compare (repeat it; default: all of "
                     + ", ".join(DEFAULT_OPTIONS) + ")."),
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the data named in city.toml (or $CHARGE_PLANNER_DATA).")
    ] = None,
    grid_aware: Annotated[
        bool | None,
        typer.Option("--grid-aware/--grid-blind", help="Grid-aware siting (with reinforcement as a choice) for every "
                     "option, or none (default: grid.aware of city.toml)."),
    ] = None,
    overwrite: Overwrite = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Plan a city once per rollout option (charging strategy, on-site PV and batteries, grid
    reinforcement) and write the options side by side: options.csv and options.html."""
    _setup_logging(verbose, quiet)
    try:
        path = find_config(city_dir)
        cfg = load_config(path)
        chosen = resolve_options(option)
        if out is None:
            base = default_output_folder(cfg, path.parent)
            out = base.with_name(base.name + "_options")
        check_output_folder(out, city_dir=path.parent, data_root=root_of(data_root), overwrite=overwrite)
        city = load_city(path.parent, data_dir=data_root)
        table = compare_options(city, chosen, grid_aware=grid_aware, progress=None)
        target = save_options(table, out, city=cfg.city.name, city_dir=path.parent, data_root=root_of(data_root),
                              overwrite=overwrite, descriptions={o.name: o.description for o in chosen},
                              notes=option_notes(cfg, grid_aware=grid_aware))
    except ChargePlannerError as exc:
        _fail(exc)
    for _, r in table.iterrows():
        typer.echo(
            f"{r['option']}: served {fmt_pct(r['served_share'])}, capex {r['capex_usd']:,.0f} USD, peak EV "
            f"{r['peak_ev_kw']:,.0f} kW, violations {r['violations']}, renewable {fmt_pct(r['renewable_share'])}, "
            f"CO2 {r['co2_t_year']:,.0f} t/yr"
        )
    typer.echo(f"outputs in {target}")


@app.command()
def sweep(
    city_dir: Annotated[Path, typer.Argument(help="City folder containing city.toml (the sweep file's cities follow).")],
    sweep_file: Annotated[Path, typer.Argument(help="Sweep file (TOML): [[scenario]] tables with name and set, an "
                                               "optional [axes] table and cities list.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder: new, empty, or an earlier run of the sweep, "
                                      "which is then finished.")],
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes of a local Dask cluster (default: the "
                                 "cores, at most 4).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786) instead "
                                 "of a local cluster; its workers must see the same files.")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the data named in city.toml (or $CHARGE_PLANNER_DATA).")
    ] = None,
    pdf: Pdf = None,
    scenario_pdf: Annotated[
        bool, typer.Option("--scenario-pdf", help="Also print every scenario's report.pdf (slower).")
    ] = False,
    verbose: Verbose = False,
    quiet: Quiet = False,
) -> None:
    """Plan every scenario of a sweep file on Dask, each written to OUT/<scenario>/ as soon as it is
    done, and compare them: scenarios.csv (status and figures) and comparison.html (+ PDF)."""
    _setup_logging(verbose, quiet)
    try:
        table = run_scenarios(sweep_file, out, city=city_dir, workers=workers, scheduler=scheduler,
                              data_dir=data_root, pdf=pdf, scenario_pdf=scenario_pdf, progress=None)
    except ChargePlannerError as exc:
        _fail(exc)
    for _, r in table.iterrows():
        if r["status"] == "ok":
            grid = (f", peak EV {r['peak_ev_kw']:,.0f} kW, violations {int(r['violations'])}" if r["violations"] >= 0
                    else ", no grid check")
            typer.echo(f"{r['city']} / {r['scenario']}: served {fmt_pct(r['served_share'])}, capex "
                       f"{r['capex_usd']:,.0f} USD{grid}")
        else:
            typer.echo(f"{r['city']} / {r['scenario']}: {r['status']}: {r['error']}")
    ok = int((table["status"] == "ok").sum())
    typer.echo(f"{ok} of {len(table)} scenarios ok; outputs in {Path(out).expanduser().resolve()}")
    if ok < len(table):
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
