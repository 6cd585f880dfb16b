"""Running a sweep on Dask: one plan per scenario, each written as soon as it is done.

:func:`run_scenarios` sends every unfinished scenario of a sweep to a ``dask.distributed``
cluster: a :class:`~distributed.LocalCluster` of ``workers`` processes with one thread each,
or an existing cluster by its scheduler address. A worker loads each city once and keeps it for
the next scenarios of that city; it limits the siting solver to one thread, so that the workers
sharing a machine do not oversubscribe its cores (a :class:`LocalCluster` also sets the BLAS and
OpenMP libraries of its workers to one thread). Each scenario's plan is written by the worker into
its own folder, atomically (:mod:`charge_planner.scenarios.store`); a scenario that fails (a bad
combination of settings, an infeasible model, a worker that died three times while running it)
is recorded with its error and the others go on. The workers of an existing cluster must see the
sweep's output folder, the city bundles and their data at the same paths (a shared file system).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from charge_planner.city import City, load_city
from charge_planner.config import data_root as root_of
from charge_planner.errors import ChargePlannerError, ConfigError
from charge_planner.outputs.comparison import write_comparison
from charge_planner.outputs.write import (
    check_output_folder,
    check_pdf,
    save_folder,
    write_manifest,
    write_outputs,
)
from charge_planner.pipeline.options import Option, option_config, option_row
from charge_planner.pipeline.run import plan
from charge_planner.scenarios.store import SweepFolder, failed_row, read_row, write_scenario_json
from charge_planner.scenarios.sweep import Job, Sweep, load_sweep
from charge_planner.siting.solve import set_solver_threads

log = logging.getLogger(__name__)

__all__ = ["CITY_CACHE_SIZE", "run_job", "run_scenarios"]

#: Cities a worker keeps loaded (the most recently used).
CITY_CACHE_SIZE = 2

#: Times a scenario is submitted again when its task ended without a result the client could fetch (its
#: worker was lost after the task, or the connection to it failed) and the scenario was not written.
RESUBMITS = 2

_cities: OrderedDict[tuple[str, str | None], City] = OrderedDict()
_loads: dict[tuple[str, str | None], int] = {}


def _city(city_dir: str, data_dir: str | None) -> City:
    """The loaded city, from this process's cache (loaded once per worker and city)."""
    key = (city_dir, data_dir)
    city = _cities.get(key)
    if city is None:
        city = load_city(city_dir, data_dir=data_dir)
        _loads[key] = _loads.get(key, 0) + 1
        _cities[key] = city
        while len(_cities) > CITY_CACHE_SIZE:
            _cities.popitem(last=False)
    _cities.move_to_end(key)
    return city


def city_loads() -> dict[tuple[str, str | None], int]:
    """How often this process loaded each city (a worker loads each once while it stays cached)."""
    return dict(_loads)


def run_job(job: Job, out_dir: str, data_dir: str | None = None, *, pdf: bool = False,
            offline: bool | None = None) -> dict[str, Any]:
    """Plan one scenario and write its folder; runs on a worker.

    Returns
    -------
    dict
        The scenario's row of ``scenarios.csv``: status ``ok`` with the comparison figures, or
        ``failed`` with the error in one line (nothing is written for a failed scenario).
    """
    set_solver_threads(1)
    t0 = time.perf_counter()
    folder = Path(out_dir) / job.folder
    done = read_row(folder)
    if done is not None and done.get("overrides") == job.overrides_text():
        # finished already: the cluster runs a task again when the worker holding its result is lost after it
        # ended; its folder is kept as written
        log.info("scenario %s (%s) was finished already; its folder is kept", job.scenario, job.city)
        return done
    try:
        city = _city(job.city_dir, data_dir)
        option = Option(job.scenario, dict(job.overrides), job.description)
        cfg = option_config(city.config, option, source=f"{city.city_dir}/city.toml", what="scenario")
        result = plan(dataclasses.replace(city, config=cfg), progress=False)
        figures = option_row(option, result)
        figures.pop("option")
        row: dict[str, Any] = {"city": job.city, "scenario": job.scenario, "status": "ok", "error": "", **figures,
                               "overrides": job.overrides_text(), "folder": job.folder}
        target = check_output_folder(folder, city_dir=city.city_dir, data_root=city.data_root)

        def write(tmp: Path) -> None:
            files = [p for p in write_outputs(result, tmp, offline=offline, pdf=pdf) if p.name != "manifest.json"]
            row["seconds"] = round(time.perf_counter() - t0, 2)
            files.append(write_scenario_json(tmp, row))
            write_manifest(tmp, files, plan=result)

        save_folder(target, write, what="scenario")
        log.info("scenario %s (%s) planned and written in %.1f s", job.scenario, job.city, row["seconds"])
        return row
    except (ChargePlannerError, OSError) as exc:
        done = read_row(folder)  # written meanwhile by a worker of an earlier, stopped run of the sweep
        if done is not None and done.get("overrides") == job.overrides_text():
            return done
        text = str(exc) if isinstance(exc, ChargePlannerError) else f"cannot write {folder}: {exc.strerror or exc}"
        log.warning("scenario %s (%s) failed: %s", job.scenario, job.city, text)
        return failed_row(job, text, round(time.perf_counter() - t0, 2))
    except Exception as exc:  # any other failure of one scenario must not stop the sweep
        log.exception("scenario %s (%s) failed", job.scenario, job.city)
        return failed_row(job, f"{type(exc).__name__}: {exc}".replace("\n", " "), round(time.perf_counter() - t0, 2))


def _lost_result(job: Job, folder: Path, exc: Exception) -> dict[str, Any] | None:
    """The row of a scenario whose task raised in the cluster, when its worker wrote the scenario before it
    was lost (the row is the folder's ``scenario.json``); None when the scenario is not written."""
    row = read_row(folder)
    if row is not None and row.get("overrides") == job.overrides_text():
        log.info("scenario %s (%s): its result was lost with its worker (%s); the row is read from its folder",
                 job.scenario, job.city, type(exc).__name__)
        return row
    return None


@contextlib.contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    """A Dask client: of the cluster at ``scheduler``, else of a new LocalCluster of ``workers`` processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ChargePlannerError("scenario sweeps need dask.distributed: pip install 'dask[distributed]'") from exc
    # distributed sets its loggers' levels when imported: keep them no chattier than the caller's set-up
    level = max(logging.getLogger().getEffectiveLevel(), logging.WARNING)
    for name in [n for n in logging.root.manager.loggerDict if n == "distributed" or n.startswith("distributed.")]:
        logging.getLogger(name).setLevel(level)
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ChargePlannerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; check the address "
                                     "(tcp://host:8786) or run with --workers N for a local cluster") from exc
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else max(1, min(os.cpu_count() or 1, 4))
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.WARNING) as cluster, Client(cluster) as client:
        yield client


def run_scenarios(
    sweep: Sweep | Path | str,
    out: Path | str,
    *,
    city: Path | str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    data_dir: Path | str | None = None,
    pdf: bool | None = None,
    scenario_pdf: bool = False,
    offline: bool | None = None,
    progress: bool | None = None,
    on_done: Callable[[Job, dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Plan every scenario of a sweep on Dask and compare them.

    Parameters
    ----------
    sweep
        A sweep file (checked with :func:`~charge_planner.scenarios.sweep.load_sweep`) or a
        checked :class:`Sweep`.
    out
        The sweep's output folder: new, empty, or an earlier run of a sweep, which is then
        completed (finished scenarios are kept, the others run).
    city
        The first city folder (with a sweep file; its ``cities`` follow).
    workers
        Worker processes of a local cluster (default: the machine's cores, at most 4).
    scheduler
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a local cluster.
    data_dir
        The cities' data root (else ``$CHARGE_PLANNER_DATA``).
    pdf
        Print ``comparison.pdf`` with headless Chromium: True requires it, None when one is found.
    scenario_pdf
        Also print each scenario's ``report.pdf`` (slower; off by default).
    offline
        Inline the maps' JavaScript (default ``outputs.offline_map``).
    progress
        Show a progress bar (default: when attached to a terminal).
    on_done
        Called in this process with each finished scenario's job and row.

    Returns
    -------
    pandas.DataFrame
        ``scenarios.csv``: one row per scenario (columns :data:`~charge_planner.scenarios.store.ROW_COLUMNS`).

    Raises
    ------
    ConfigError, DataError, OutputError
        A sweep file, city bundle or output folder that is refused, before any plan runs.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    data = str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep, city, data_dir=data)
    if pdf or scenario_pdf:
        check_pdf(True)
    store = SweepFolder(out, sweep, data_root=root_of(data))
    store.start()
    todo = store.pending()
    store.write_table()
    if len(todo) < len(sweep.jobs):
        log.info("%d of %d scenarios were finished by an earlier run; running the other %d",
                 len(sweep.jobs) - len(todo), len(sweep.jobs), len(todo))
    if todo:
        done = failed = 0
        bar = tqdm(total=len(todo), desc="scenarios", unit="scenario",
                   disable=(None if progress is None else not progress))
        try:
            with _client(workers, scheduler) as client:
                from distributed import KilledWorker, as_completed

                def submit(job: Job, attempt: int) -> Any:
                    return client.submit(run_job, job, str(store.path), data, pdf=scenario_pdf, offline=offline,
                                         key=f"scenario-{index[job.folder]}-{attempt}-{job.folder}", pure=False)

                index = {job.folder: i for i, job in enumerate(todo)}
                futures = {submit(job, 0): (job, 0) for job in todo}
                slots = max(len(client.scheduler_info().get("workers", {})), 1)
                # tracked on this client's event loop (as_completed takes the default client's otherwise, which
                # need not be this one when the caller holds other clients)
                running_futures = as_completed(list(futures), loop=client.loop)
                for fut in running_futures:
                    job, attempt = futures.pop(fut)
                    try:
                        row = fut.result()
                    except Exception as exc:  # the worker died repeatedly, or its result could not be fetched
                        # (distributed may raise when it fetches a result again after the worker holding it died)
                        row = _lost_result(job, store.path / job.folder, exc)
                        if row is None and attempt < RESUBMITS and not isinstance(exc, KilledWorker):
                            log.warning("scenario %s (%s): its result was lost with its worker (%s: %s); running "
                                        "it again", job.scenario, job.city, type(exc).__name__, exc)
                            again = submit(job, attempt + 1)
                            futures[again] = (job, attempt + 1)
                            running_futures.add(again)
                            fut.release()
                            continue
                        if row is None:
                            row = failed_row(job, f"the worker running it failed: {type(exc).__name__}: {exc}"
                                             .replace("\n", " "))
                    # forget the finished task: a worker lost later must not make the cluster run it again
                    fut.release()
                    store.record(job, row)
                    done += 1
                    failed += row["status"] != "ok"
                    running = min(slots, len(todo) - done)
                    bar.update(1)
                    bar.set_postfix(failed=failed, running=running)
                    log.info("sweep: %d of %d scenarios done (%s %s), %d failed, %d running", done, len(todo),
                             job.scenario, row["status"], failed, running)
                    if on_done is not None:
                        on_done(job, row)
        finally:
            bar.close()
    store.clean()  # what a worker that died while writing left behind
    table = store.table()
    title = "Scenario sweep — " + ", ".join(dict.fromkeys(j.city for j in sweep.jobs))
    notes = [f"sweep file {sweep.path}" if sweep.path else "sweep given in Python",
             "each scenario is a full plan of its city with the settings listed changed; its outputs are in its "
             "folder"]
    store.write_files(lambda folder: write_comparison(table, folder, title=title, notes=notes, pdf=pdf))
    ok = int((table["status"] == "ok").sum())
    log.info("sweep done: %d ok, %d failed, %d pending of %d", ok, int((table["status"] == "failed").sum()),
             int((table["status"] == "pending").sum()), len(table))
    return table

