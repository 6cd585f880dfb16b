"""Rollout options side by side as files: ``options.csv`` and ``options.html``.

:func:`options_html` renders the table of :func:`charge_planner.pipeline.options.compare_options`
as a small HTML report (labels with units, each option's meaning and settings, the column
definitions, every text escaped); :func:`save_options` writes both files with a manifest into an
output folder checked like a plan's (:func:`~charge_planner.outputs.write.check_output_folder`):
the files are written in a temporary folder and moved into place only when all were written, and
only an earlier output's own files are replaced.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from charge_planner.outputs.report_tables import label_of, value_text
from charge_planner.outputs.write import (
    OutputError,
    check_output_folder,
    save_folder,
    write_csv,
    write_manifest,
)
from charge_planner.pipeline.options import DEFAULT_OPTIONS, OPTION_COLUMNS
from charge_planner.version import __version__

log = logging.getLogger(__name__)

__all__ = [
    "OPTIONS_FILES",
    "OPTION_LABELS",
    "SHOWN_OPTION_COLUMNS",
    "option_cell",
    "options_html",
    "save_options",
    "write_options",
]

#: Files an options run writes, with what they hold.
OPTIONS_FILES = {
    "options.csv": "rollout options side by side, one row per option (columns in options.html)",
    "options.html": "rollout options side by side, with each option's settings and the columns' meaning",
}

#: Heading of each column of the options table (others: :func:`label_of`).
OPTION_LABELS = {
    "served_share": "demand served",
    "capex_usd": "capex incl. reinforcement [USD]",
    "reinforcement_usd": "of which grid reinforcement [USD]",
    "utility_reinforcement_usd": "reinforcement still needed [USD]",
    "peak_ev_kw": "peak EV load on the grid [kW]",
    "peak_site_kw": "peak grid draw of the charging sites [kW]",
    "violations": "grid violations",
    "violation_hours": "violation hours [h]",
    "vm_min_pu": "lowest voltage [pu]",
    "renewable_share": "renewable share of charging",
    "co2_t_year": "CO2 of charging [t/yr]",
    "sites_open": "sites",
    "installed_kw": "installed power [kW]",
}

#: Columns of the options table shown in the HTML pages, in order.
SHOWN_OPTION_COLUMNS = ("sites_open", "installed_kw", "served_share", "capex_usd", "reinforcement_usd",
                        "utility_reinforcement_usd", "peak_ev_kw", "peak_site_kw", "violations", "violation_hours",
                        "vm_min_pu", "renewable_share", "co2_t_year")


def option_cell(key: str, value: object) -> str:
    """The text of one cell of the options table ("—" for violations of an option with no grid check)."""
    if key == "violations" and isinstance(value, int | float) and value < 0:
        return "—"  # no grid check
    return value_text(key, value)


def options_html(table: pd.DataFrame, *, city: str, descriptions: Mapping[str, str] | None = None,
                 notes: list[str] | None = None) -> str:
    """The options table as a standalone HTML page.

    Parameters
    ----------
    table
        Output of :func:`~charge_planner.pipeline.options.compare_options`.
    city
        City name for the title.
    descriptions
        Meaning of each option by name (default: those of the default options).
    notes
        Further lines shown under the table (assumptions).
    """
    esc = html.escape
    desc = dict(descriptions or {n: o.description for n, o in DEFAULT_OPTIONS.items()})
    shown = [c for c in SHOWN_OPTION_COLUMNS if c in table.columns]
    head = "".join(f"<th>{esc(OPTION_LABELS.get(c, label_of(c)))}</th>" for c in shown)
    body = []
    for _, row in table.iterrows():
        cells = "".join(f'<td class="num">{esc(option_cell(c, row[c]))}</td>' for c in shown)
        body.append(f"<tr><th>{esc(str(row['option']))}</th>{cells}</tr>")
    settings = []
    for _, row in table.iterrows():
        name = str(row["option"])
        text = desc.get(name, "")
        over = str(row.get("overrides", "")) or "the city's settings"
        settings.append(f"<li><b>{esc(name)}</b>{': ' + esc(text) if text else ''} "
                        f"(<code>{esc(over)}</code>; strategy {esc(str(row.get('strategy', '')))})</li>")
    columns = "".join(f"<li><b>{esc(OPTION_LABELS.get(c, label_of(c)))}</b>: {esc(OPTION_COLUMNS[c])}</li>"
                      for c in shown if c in OPTION_COLUMNS)
    note_items = "".join(f"<li>{esc(n)}</li>" for n in (notes or []))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Rollout options — {esc(city)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; }}
thead th {{ background: #f0f0f0; vertical-align: bottom; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tbody th {{ text-align: left; }}
</style>
</head>
<body>
<h1>Rollout options — {esc(city)}</h1>
<p>Each option plans the city again with the city's settings changed as listed; the figures come from
each plan's siting model and its grid check.</p>
<table>
<thead><tr><th>option</th>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
<h2>Options</h2>
<ul>{''.join(settings)}</ul>
<h2>Columns</h2>
<ul>{columns}</ul>
{f'<h2>Notes</h2><ul>{note_items}</ul>' if note_items else ''}
<p><small>charge-planner {esc(__version__)}, {esc(stamp)}</small></p>
</body>
</html>
"""


def write_options(table: pd.DataFrame, folder: Path, *, city: str, descriptions: Mapping[str, str] | None = None,
                  notes: list[str] | None = None) -> list[Path]:
    """Write ``options.csv``, ``options.html`` and the manifest into an existing ``folder``."""
    folder = Path(folder)
    csv = folder / "options.csv"
    write_csv(table.reset_index(drop=True), csv)
    page = folder / "options.html"
    page.write_text(options_html(table, city=city, descriptions=descriptions, notes=notes), encoding="utf-8")
    files = [csv, page]
    write_manifest(folder, files)
    return files


def save_options(
    table: pd.DataFrame, out: Path | str, *, city: str, city_dir: Path | str | None = None,
    data_root: Path | str | None = None, overwrite: bool = False, descriptions: Mapping[str, str] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write the options table into an output folder, never touching a file the planner did not write.

    The folder is checked as for a plan (new, empty, or an earlier output with ``overwrite``);
    the files are written in a temporary folder first.

    Returns
    -------
    Path
        The output folder (absolute).

    Raises
    ------
    OutputError
        When the folder is refused or a file cannot be written (nothing is left behind).
    """
    target = check_output_folder(out, city_dir=city_dir, data_root=data_root, overwrite=overwrite)
    path = target.path
    try:
        save_folder(target, lambda folder: write_options(table, folder, city=city, descriptions=descriptions,
                                                         notes=notes), what="options")
    except OSError as exc:
        raise OutputError(f"cannot write the options to {out}: {exc.strerror or exc}; nothing was changed") from exc
    log.info("options written to %s", path)
    return path
