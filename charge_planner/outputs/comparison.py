"""Scenario sweeps compared: which scenarios are Pareto-efficient, as an HTML page and its PDF.

A sweep gives one row per scenario (columns below); :func:`pareto_efficient` marks, city by
city, the scenarios no other scenario of the same city beats on every criterion of
:data:`PARETO_OBJECTIVES`; :func:`comparison_html` renders the table, the failed scenarios with
their errors and two charts per city (capex against demand served with the efficient front, and
the grid and energy figures per scenario) as one standalone page; :func:`write_comparison`
writes ``comparison.html`` and prints ``comparison.pdf`` with the report's
:func:`~charge_planner.outputs.report.render_pdf`.

Columns of the table: ``city``, ``scenario`` (unique within a city), ``status`` ("ok" or
"failed"), ``error`` ("" when ok), ``overrides`` ("key=value, ...") and the figures of
:data:`~charge_planner.pipeline.options.OPTION_COLUMNS` (NaN for a failed scenario;
``violations`` -1 when the plan had no grid check). Every string from the table is escaped in
the page, and drawn as plain text (no mathtext) in the charts.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from charge_planner.outputs import browser
from charge_planner.outputs.options import OPTION_LABELS, SHOWN_OPTION_COLUMNS, option_cell
from charge_planner.outputs.report import render_pdf
from charge_planner.outputs.report_charts import chart_pyplot, png_data_uri
from charge_planner.outputs.report_tables import label_of
from charge_planner.outputs.write import OutputError
from charge_planner.pipeline.options import OPTION_COLUMNS
from charge_planner.version import __version__

log = logging.getLogger(__name__)

__all__ = ["COMPARISON_FILES", "PARETO_OBJECTIVES", "PARETO_RTOL", "comparison_html", "criteria_used", "pareto_efficient",
           "write_comparison"]

#: Files :func:`write_comparison` writes, with what they hold.
COMPARISON_FILES = {
    "comparison.html": "the scenarios side by side per city, Pareto-efficient ones marked, with charts",
    "comparison.pdf": "comparison.html printed (when Chromium is installed)",
}

PARETO_OBJECTIVES: dict[str, str] = {
    "served_share": "max",
    "capex_usd": "min",  # chargers, connections and grid reinforcement
    "peak_ev_kw": "min",
    "violations": "min",
    "renewable_share": "max",
    "co2_t_year": "min",
}
"""Criteria of :func:`pareto_efficient` with their sense ("max": higher is better, "min": lower)."""

#: relative tolerance under which two figures count as equal
PARETO_RTOL = 1e-9

#: largest pair array of the dominance check [cells]
_PAIR_CELLS = 4_000_000

_PARETO_COLOUR, _OTHER_COLOUR = "#d94801", "#9e9ac8"
_MAX_CHART_LABEL = 28


def _objective_values(table: pd.DataFrame, key: str) -> pd.Series:
    """A criterion as floats; NaN where it is missing (``violations`` -1: no grid check)."""
    if key not in table.columns:
        return pd.Series(np.nan, index=table.index)
    v = pd.to_numeric(table[key], errors="coerce").astype(float)
    return v.where(v >= 0) if key == "violations" else v


def _ok(table: pd.DataFrame) -> pd.Series:
    if "status" not in table.columns:
        return pd.Series(True, index=table.index)
    return table["status"].astype(str).eq("ok")


def _groups(table: pd.DataFrame, by: str | None) -> list[np.ndarray]:
    """Row positions of each group, in order of appearance."""
    if by is None or by not in table.columns:
        return [np.arange(len(table))]
    keys = table[by].astype(str).to_numpy()
    return [np.flatnonzero(keys == k) for k in pd.unique(keys)]


def criteria_used(table: pd.DataFrame, objectives: Mapping[str, str] = PARETO_OBJECTIVES) -> list[str]:
    """The criteria with a figure for at least one finished scenario of ``table`` (one city)."""
    ok = _ok(table)
    return [k for k in objectives if _objective_values(table[ok.to_numpy()], k).notna().any()]


def pareto_efficient(table: pd.DataFrame, objectives: Mapping[str, str] = PARETO_OBJECTIVES,
                     by: str | None = "city") -> pd.Series:
    """Which scenarios are Pareto-efficient within their city.

    Among the finished scenarios of a city (``status`` "ok") with a finite figure for every
    criterion used there, a scenario is efficient when no other one is at least as good on every
    criterion and strictly better on one. A criterion no finished scenario of the city has a
    figure for (the grid figures without a grid check; ``violations`` -1) is left out for that
    city. Figures within a relative :data:`PARETO_RTOL` of each other count as equal, so
    identical scenarios are both efficient.

    Parameters
    ----------
    table
        One row per scenario (columns in the module docstring); a missing ``status`` counts as "ok".
    objectives
        Column -> "max" or "min" (default :data:`PARETO_OBJECTIVES`).
    by
        Column whose groups are compared separately (None or absent: the whole table at once).

    Returns
    -------
    pandas.Series
        Boolean, on the table's index, named ``pareto``; False for failed scenarios and for
        scenarios missing a figure of a criterion used in their city.

    Raises
    ------
    ValueError
        When a sense is neither "max" nor "min".
    """
    bad = {k: s for k, s in objectives.items() if s not in ("max", "min")}
    if bad:
        raise ValueError(f"Pareto objectives need the sense 'max' or 'min', got {bad}")
    out = np.zeros(len(table), bool)
    for pos in _groups(table, by):
        sub = table.iloc[pos]
        keys = criteria_used(sub, objectives)
        if not keys:
            continue
        values = np.column_stack([_objective_values(sub, k).to_numpy(float) * (1.0 if objectives[k] == "max" else -1.0)
                                  for k in keys])
        rows = _ok(sub).to_numpy() & np.isfinite(values).all(axis=1)
        out[pos[rows]] = ~_dominated(values[rows])
    return pd.Series(out, index=table.index, name="pareto")


def _dominated(v: np.ndarray) -> np.ndarray:
    """Which rows of ``v`` (scenarios x criteria, larger is better) another row dominates.

    All pairs at once, in blocks of candidate rows that keep the pair arrays under
    :data:`_PAIR_CELLS` cells (a sweep of thousands of scenarios stays within memory).
    """
    n, k = v.shape
    out = np.zeros(n, bool)
    step = max(1, _PAIR_CELLS // max(n * k, 1))
    for start in range(0, n, step):
        j = v[start:start + step]
        diff = v[:, None, :] - j[None, :, :]  # [i, j]: how much i beats j
        tol = PARETO_RTOL * np.maximum(np.abs(v[:, None, :]), np.abs(j[None, :, :]))
        out[start:start + step] = ((diff >= -tol).all(axis=2) & (diff > tol).any(axis=2)).any(axis=0)
    return out


def _short(name: str) -> str:
    return name if len(name) <= _MAX_CHART_LABEL else name[: _MAX_CHART_LABEL - 1] + "…"


@contextmanager
def _plain_text(plt: Any) -> Iterator[None]:
    """Names drawn as they are: no mathtext (``$`` in a name), and letters the chart font lacks
    (scripts of the region) drawn as boxes without a warning per glyph."""
    with plt.rc_context({"text.parse_math": False}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        yield


def chart_front(sub: pd.DataFrame, efficient: pd.Series, city: str) -> str | None:
    """Capex incl. reinforcement against demand served, the efficient scenarios marked and named."""
    capex, served = _objective_values(sub, "capex_usd"), _objective_values(sub, "served_share")
    shown = _ok(sub) & capex.notna() & served.notna()
    if not shown.any():
        return None
    plt = chart_pyplot()
    scale, unit = (1e6, "million USD") if capex[shown].abs().max() >= 1e6 else (1e3, "thousand USD")
    x, y, front = capex[shown] / scale, served[shown] * 100.0, efficient[shown].to_numpy(bool)
    with _plain_text(plt):
        fig, ax = plt.subplots(figsize=(7.2, 3.6))
        ax.scatter(x[~front], y[~front], s=28, color=_OTHER_COLOUR, label="dominated", zorder=2)
        ax.scatter(x[front], y[front], s=70, marker="*", color=_PARETO_COLOUR, edgecolors="#222222",
                   linewidths=0.5, label="Pareto-efficient", zorder=3)
        for name, xi, yi in zip(sub.loc[shown, "scenario"][front], x[front], y[front], strict=True):
            ax.annotate(_short(str(name)), (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=7,
                        parse_math=False)
        ax.set_xlabel(f"capex incl. grid reinforcement [{unit}]")
        ax.set_ylabel("demand served [%]")
        ax.set_title(f"{city}: cost against demand served", parse_math=False)
        ax.legend(fontsize=7, loc="lower right")
        return png_data_uri(fig)


def chart_figures(sub: pd.DataFrame, efficient: pd.Series, city: str) -> str | None:
    """Peak EV load, violations, renewable share and CO2 per finished scenario (four small panels)."""
    ok = _ok(sub)
    if not ok.any():
        return None
    plt = chart_pyplot()
    names = [_short(str(n)) for n in sub.loc[ok, "scenario"]]
    colours = [_PARETO_COLOUR if e else _OTHER_COLOUR for e in efficient[ok]]
    panels = (("peak_ev_kw", "peak EV load [kW]", 1.0), ("violations", "grid violations", 1.0),
              ("renewable_share", "renewable share of charging [%]", 100.0), ("co2_t_year", "CO2 of charging [t/yr]", 1.0))
    x = np.arange(len(names))
    with _plain_text(plt):
        width = min(max(7.4, 0.36 * len(names)), 16.0)  # room for the scenario names
        fig, axes = plt.subplots(2, 2, figsize=(width, 4.2 + 0.05 * max(len(max(names, key=len)), 8)), sharex=True)
        for ax, (key, label, factor) in zip(axes.ravel(), panels, strict=True):
            v = _objective_values(sub[ok], key).to_numpy(float) * factor
            ax.set_title(label, fontsize=9)
            if not np.isfinite(v).any():
                ax.text(0.5, 0.5, "no grid check" if key in ("peak_ev_kw", "violations") else "no figure",
                        transform=ax.transAxes, ha="center", va="center", color="#555555")
                ax.set_yticks([])
            else:
                ax.bar(x, np.nan_to_num(v), color=colours)
            ax.set_xticks(x, names, rotation=35 if len(names) <= 8 else 90, ha="right", rotation_mode="anchor",
                          fontsize=7, parse_math=False)
        fig.suptitle(f"{city}: grid and energy per scenario (Pareto-efficient in orange)", fontsize=9,
                     parse_math=False)
        fig.tight_layout()
        return png_data_uri(fig)


def _text(key: str, value: object) -> str:
    """A figure as table text; a missing one (NaN, no grid check) as a dash."""
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return "—"
    return option_cell(key, value)


def _criteria_text(keys: list[str], objectives: Mapping[str, str]) -> str:
    return ", ".join(f"{OPTION_LABELS.get(k, label_of(k))} "
                     f"({'higher' if objectives[k] == 'max' else 'lower'} is better)" for k in keys)


def _city_section(sub: pd.DataFrame, efficient: pd.Series, city: str) -> str:
    esc = html.escape
    shown = [c for c in SHOWN_OPTION_COLUMNS if c in sub.columns]
    has_strategy = "strategy" in sub.columns
    head = "".join(f"<th>{esc(OPTION_LABELS.get(c, label_of(c)))}</th>" for c in shown)
    ok = _ok(sub)
    body = []
    for i, row in sub.iterrows():
        eff = bool(efficient[i])
        cls = ' class="pareto"' if eff else ("" if ok[i] else ' class="failed"')
        cells = "".join(f'<td class="num">{esc(_text(c, row[c]))}</td>' for c in shown)
        strategy = f"<td>{esc(str(row['strategy']))}</td>" if has_strategy else ""
        mark = '<td class="mark">★</td>' if eff else f"<td>{'' if ok[i] else esc(str(row['status']))}</td>"
        body.append(f"<tr{cls}><th>{esc(str(row['scenario']))}</th><td><code>{esc(str(row.get('overrides', '')))}"
                    f"</code></td>{strategy}{mark}{cells}</tr>")
    failed = sub[~ok]
    failed_items = "".join(f"<li><b>{esc(str(r['scenario']))}</b>: {esc(str(r.get('error', '')) or 'no error text')}</li>"
                           for _, r in failed.iterrows())
    keys = criteria_used(sub)
    criteria = (f"<p>Pareto criteria here: {esc(_criteria_text(keys, PARETO_OBJECTIVES))}.</p>" if keys
                else "<p>No scenario of this city finished, so none is marked Pareto-efficient.</p>")
    charts = []
    for chart, alt in ((chart_front, "capex incl. grid reinforcement against demand served, Pareto-efficient "
                        "scenarios marked"), (chart_figures, "peak EV load, violations, renewable share and CO2 per "
                                              "scenario")):
        uri = chart(sub, efficient, city)
        if uri:
            charts.append(f'<figure><img src="{uri}" alt="{esc(alt)}"></figure>')
    return f"""<h2>{esc(city)}</h2>
<p>{len(sub)} scenarios: {int(ok.sum())} finished, {int((~ok).sum())} failed, {int(efficient.sum())} Pareto-efficient.</p>
{criteria}
<table>
<thead><tr><th>scenario</th><th>settings changed</th>{'<th>strategy</th>' if has_strategy else ''}<th>Pareto</th>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
{f'<h3>Failed scenarios</h3><ul class="errors">{failed_items}</ul>' if failed_items else ''}
{''.join(charts)}"""


def _normalised(table: pd.DataFrame) -> pd.DataFrame:
    if "scenario" not in table.columns:
        raise OutputError("the scenario table has no 'scenario' column; give each scenario a name")
    t = table.reset_index(drop=True)
    for col, default in (("city", ""), ("status", "ok"), ("error", ""), ("overrides", "")):
        t[col] = t[col].fillna(default).astype(str) if col in t.columns else default
    return t


def comparison_html(table: pd.DataFrame, *, title: str, notes: list[str] | None = None) -> str:
    """The scenario comparison as one standalone HTML page (charts embedded, no external resource).

    Parameters
    ----------
    table
        One row per scenario (columns in the module docstring).
    title
        Page title.
    notes
        Further lines shown at the end (assumptions of the sweep).

    Raises
    ------
    OutputError
        When the table has no ``scenario`` column.
    """
    esc = html.escape
    t = _normalised(table)
    efficient = pareto_efficient(t)
    ok = _ok(t)
    cities = list(pd.unique(t["city"]))
    sections = [_city_section(t[t["city"] == c], efficient[t["city"] == c], c or "scenarios") for c in cities]
    shown = [c for c in ("strategy", *SHOWN_OPTION_COLUMNS) if c in t.columns and c in OPTION_COLUMNS]
    columns = "".join(f"<li><b>{esc(OPTION_LABELS.get(c, label_of(c)))}</b>: {esc(OPTION_COLUMNS[c])}</li>"
                      for c in shown)
    note_items = "".join(f"<li>{esc(n)}</li>" for n in (notes or []))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    log.info("comparison of %d scenarios in %d cities: %d Pareto-efficient", len(t), len(cities), int(efficient.sum()))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; }}
thead th {{ background: #f0f0f0; vertical-align: bottom; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tbody th {{ text-align: left; }}
tr.pareto {{ background: #fde0c5; }}
tr.failed {{ color: #888; }}
td.mark {{ text-align: center; color: {_PARETO_COLOUR}; }}
ul.errors li {{ color: #a50026; }}
figure img {{ max-width: 100%; }}
@media print {{
  @page {{ size: A4 landscape; margin: 12mm; }}
  body {{ margin: 0; font-size: 10px; }}
  figure {{ break-inside: avoid; }}
  figure img {{ max-height: 120mm; }}
}}
</style>
</head>
<body>
<h1>{esc(title)}</h1>
<p class="summary">{len(t)} scenarios in {len(cities)} {'city' if len(cities) == 1 else 'cities'}: {int(ok.sum())} ok,
{int((~ok).sum())} failed.</p>
<p>A scenario is <b>Pareto-efficient</b> (★, highlighted) when no other finished scenario of the same city is at least
as good on every criterion — {esc(_criteria_text(list(PARETO_OBJECTIVES), PARETO_OBJECTIVES))} — and strictly better
on one; no efficient scenario can be improved on one figure without losing on another. A criterion no scenario of a
city has a figure for (the grid figures when no grid was checked) is left out there; failed scenarios are never
efficient.</p>
{chr(10).join(sections)}
<h2>Columns</h2>
<ul><li><b>settings changed</b>: the scenario's settings that differ from the city's city.toml</li>{columns}
<li><b>Pareto</b>: ★ when the scenario is Pareto-efficient within its city</li></ul>
{f'<h2>Notes</h2><ul>{note_items}</ul>' if note_items else ''}
<p><small>charge-planner {esc(__version__)}, {esc(stamp)}</small></p>
</body>
</html>
"""


def write_comparison(table: pd.DataFrame, folder: Path | str, *, title: str, notes: list[str] | None = None,
                     pdf: bool | None = None) -> list[Path]:
    """Write ``comparison.html`` (and ``comparison.pdf``) into an existing folder.

    Parameters
    ----------
    table
        One row per scenario (columns in the module docstring).
    folder
        Existing destination folder; moving it into place is the caller's job.
    title, notes
        As for :func:`comparison_html`.
    pdf
        Print ``comparison.pdf`` with headless Chromium: True requires it, False skips it, None
        prints it when a browser is installed.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    OutputError
        When ``folder`` is not a folder or ``pdf`` is True and no Chromium is installed (checked
        before anything is written).
    charge_planner.errors.BrowserError
        When printing the PDF fails.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise OutputError(f"cannot write the comparison into {folder}: it is not an existing folder")
    found = browser.find_chromium() is not None
    if pdf is True and not found:
        raise OutputError("comparison.pdf needs Chromium: install it (Debian: apt-get install chromium) or ask for "
                          "no PDF (pdf=False, command line: --no-pdf)")
    page = folder / "comparison.html"
    page.write_text(comparison_html(table, title=title, notes=notes), encoding="utf-8")
    files = [page]
    if pdf is None and not found:
        log.warning("comparison.pdf skipped: no Chromium found (apt-get install chromium)")
    if pdf or (pdf is None and found):
        files.append(render_pdf(page, folder / "comparison.pdf"))
    log.info("comparison written to %s (%s)", folder, ", ".join(p.name for p in files))
    return files
