"""A sweep's output folder: what is finished, written so that a killed sweep loses nothing.

Layout of ``DIR`` (one city; with several cities each scenario folder is ``DIR/<city folder>/<scenario>``)::

    DIR/sweep.json           the sweep: its file, cities and scenarios (written first)
    DIR/<scenario>/          one plan's outputs (map, report, files) and scenario.json, its row
    DIR/scenarios.csv        one row per scenario: status (ok / failed / pending), error, KPIs
    DIR/comparison.html|pdf  the scenarios compared (written when the sweep ends)

Every file is written under a temporary name and renamed into place, and a scenario's folder
appears only once every file of it was written (:func:`~charge_planner.outputs.write.save_folder`),
so a sweep stopped at any moment (``kill -9`` included) leaves finished scenarios intact and no
half-written file under a final name. A scenario is finished when its folder holds
``scenario.json`` and a valid ``manifest.json``; a sweep started again in the same folder skips
those and runs the others (failed ones again). Leftover temporary files and folders of the
planner (names starting with ``.charge-planner-``) are removed when the sweep starts again.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from charge_planner.outputs.write import (
    TMP_PREFIX,  # the planner's temporary names, shared with Plan.save
    OutputError,
    check_output_folder,
    read_manifest,
    write_csv,
)
from charge_planner.pipeline.options import OPTION_COLUMNS
from charge_planner.scenarios.sweep import Job, Sweep
from charge_planner.version import __version__

log = logging.getLogger(__name__)

__all__ = ["ROW_COLUMNS", "SCENARIO_FILE", "SWEEP_FILE", "SweepFolder", "failed_row", "read_row", "write_scenario_json"]

SWEEP_FILE = "sweep.json"
SCENARIO_FILE = "scenario.json"
_KIND = "charge-planner sweep"

#: Columns of ``scenarios.csv``: the scenario, its status, then the comparison figures of
#: :data:`~charge_planner.pipeline.options.OPTION_COLUMNS`, then where and how long.
ROW_COLUMNS: dict[str, str] = {
    "city": "city name (city.name of its city.toml)",
    "scenario": "scenario name (its output folder's name)",
    "status": "ok (planned and written), failed (see error) or pending (not run yet)",
    "error": "why the scenario failed, in one line",
    **{k: v for k, v in OPTION_COLUMNS.items() if k != "option"},
    "folder": "the scenario's output folder, relative to the sweep's",
    "seconds": "time to plan and write the scenario [s]",
}


_TEXT_COLUMNS = ("city", "scenario", "status", "error", "overrides", "strategy", "folder")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _atomic_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_row(folder: Path) -> dict[str, Any] | None:
    """The row of a finished scenario folder (its ``scenario.json``), or None when it is not finished."""
    try:
        row = json.loads((folder / SCENARIO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or row.get("status") != "ok" or read_manifest(folder) is None:
        return None
    return row


def failed_row(job: Job, error: str, seconds: float = math.nan) -> dict[str, Any]:
    """The row of a scenario that failed."""
    return {"city": job.city, "scenario": job.scenario, "status": "failed", "error": error,
            "overrides": job.overrides_text(), "folder": job.folder, "seconds": seconds}


def _pending_row(job: Job) -> dict[str, Any]:
    return {"city": job.city, "scenario": job.scenario, "status": "pending", "error": "",
            "overrides": job.overrides_text(), "folder": job.folder}


class SweepFolder:
    """The output folder of a sweep, new or holding an earlier run of it.

    Parameters
    ----------
    out
        The folder.
    sweep
        The checked sweep.
    data_root
        The data root (refused as output folder, like the city folders).

    Raises
    ------
    OutputError
        When the folder is a file, not writable, a city folder or data root (or contains one), or
        holds files that are not an earlier sweep's; and when a finished scenario of an earlier
        run was planned with other overrides than the sweep's scenario of that name.
    """

    def __init__(self, out: Path | str, sweep: Sweep, *, data_root: Path | str | None = None) -> None:
        given = Path(out).expanduser()
        self.path = given.resolve()
        self.sweep = sweep
        earlier = self._earlier()
        if earlier is None:
            for city in sweep.cities:
                check_output_folder(given, city_dir=city, data_root=data_root)
        else:  # an earlier sweep's folder: checked not to be (or contain) a city folder or the data root
            for what, folder in [("city folder", c) for c in sweep.cities] + [("data root", data_root)]:
                if folder is not None and Path(folder).expanduser().resolve().is_relative_to(self.path):
                    raise OutputError(f"sweep output folder {given} is or contains the {what} {folder}; choose a "
                                      "folder of its own")
        self.rows: dict[str, dict[str, Any]] = {}
        for job in sweep.jobs:
            row = read_row(self.path / job.folder)
            if row is None:
                continue
            if row.get("overrides") != job.overrides_text() or row.get("city") != job.city:
                raise OutputError(
                    f"{self.path / job.folder} holds scenario {job.scenario!r} planned with other settings "
                    f"({row.get('overrides') or 'none'}); the sweep file now sets {job.overrides_text() or 'none'}: "
                    "rename the scenario, or use another --out")
            self.rows[job.key] = row

    def _earlier(self) -> dict[str, Any] | None:
        """The earlier run's ``sweep.json`` (None for a new or empty folder)."""
        if not self.path.exists():
            return None
        if not self.path.is_dir():
            raise OutputError(f"sweep output folder {self.path} is a file; choose a folder")
        try:
            entries = list(self.path.iterdir())
        except OSError as exc:
            raise OutputError(f"cannot read sweep output folder {self.path}: {exc.strerror or exc}") from exc
        if not entries:
            return None
        try:
            earlier = json.loads((self.path / SWEEP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = None
        if not isinstance(earlier, dict) or earlier.get("kind") != _KIND:
            raise OutputError(f"sweep output folder {self.path} holds files and is not an earlier sweep's (no "
                              f"{SWEEP_FILE}); choose a new or empty folder (nothing was written)")
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise OutputError(f"sweep output folder {self.path} is not writable; choose another folder")
        return earlier

    @property
    def done(self) -> set[str]:
        """Keys of the finished scenarios."""
        return set(self.rows)

    def pending(self) -> list[Job]:
        """The jobs still to run, in order."""
        return [j for j in self.sweep.jobs if j.key not in self.rows]

    def start(self) -> None:
        """Create the folder, remove the planner's leftover temporary files, write ``sweep.json``."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.clean()
        record = {
            "kind": _KIND,
            "package": "charge-planner",
            "version": __version__,
            "sweep_file": str(self.sweep.path) if self.sweep.path else None,
            "cities": self.sweep.cities,
            "scenarios": [{"city": j.city, "city_dir": j.city_dir, "scenario": j.scenario, "folder": j.folder,
                           "overrides": {k: _jsonable(v) for k, v in j.overrides.items()},
                           "description": j.description} for j in self.sweep.jobs],
            "started_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        _atomic_text(self.path / SWEEP_FILE, json.dumps(record, indent=2) + "\n")

    def clean(self) -> None:
        """Remove what a stopped run left under a temporary name (the planner's own files only)."""
        for folder in {self.path, *(self.path / Path(j.folder).parent for j in self.sweep.jobs)}:
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                if p.name.startswith(TMP_PREFIX):  # written by the planner, under a temporary name
                    log.info("removing the unfinished %s", p)
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)

    def record(self, job: Job, row: Mapping[str, Any]) -> None:
        """Take a finished scenario's row (ok or failed) and rewrite ``scenarios.csv``."""
        self.rows[job.key] = dict(row)
        self.write_table()

    def table(self) -> pd.DataFrame:
        """One row per scenario of the sweep, in its order (``pending`` for those not run)."""
        rows = [self.rows.get(j.key) or _pending_row(j) for j in self.sweep.jobs]
        frame = pd.DataFrame(rows)
        for c in ROW_COLUMNS:
            if c not in frame.columns:
                frame[c] = math.nan
        frame = frame[list(ROW_COLUMNS)]
        for c in ROW_COLUMNS:
            if c in _TEXT_COLUMNS:
                frame[c] = frame[c].fillna("").astype(str)
            else:  # rows read back from scenario.json hold None for NaN
                frame[c] = pd.to_numeric(frame[c], errors="coerce")
        return frame

    def write_table(self) -> Path:
        """Write ``scenarios.csv`` (atomically)."""
        path = self.path / "scenarios.csv"
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}scenarios.csv.", dir=self.path)
        os.close(fd)
        try:
            write_csv(self.table(), Path(tmp))
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def write_files(self, write: Callable[[Path], Iterable[Path]]) -> list[Path]:
        """Write files with ``write(folder)`` into a temporary folder, then rename each into ``DIR``."""
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.path))
        try:
            written = [Path(p) for p in write(tmp)]
            out = []
            for p in written:
                if p.parent != tmp:
                    raise OutputError(f"{p}: sweep files are written directly into the sweep's folder")
                target = self.path / p.name
                if target.is_dir():
                    raise OutputError(f"{target} is a folder; the sweep writes a file of that name; move it away")
                os.replace(p, target)
                out.append(target)
            return out
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def write_scenario_json(folder: Path, row: Mapping[str, Any]) -> Path:
    """Write a scenario's row as ``scenario.json`` into its (temporary) output folder."""
    path = folder / SCENARIO_FILE
    path.write_text(json.dumps({k: _jsonable(v) for k, v in row.items()}, indent=2) + "\n", encoding="utf-8")
    return path

