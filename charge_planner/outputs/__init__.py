"""Outputs of a plan: the interactive map, the HTML/PDF report and the files.

``views`` holds the tables, formats and colours the others share; ``maps`` builds the folium
map from the building blocks in ``map_elements``, ``report`` the HTML report (``templates/``)
from the sections built in ``report_siting``, ``report_grid`` and ``report_energy`` with the
labels, tables and charts of ``report_tables`` and ``report_charts``, and its PDF through
``browser`` (headless Chromium); ``write`` writes every file with its
manifest, checks the output folder and moves the files into place only when all were written.

Importing this package registers :func:`save_plan` as the writer behind
:meth:`charge_planner.pipeline.Plan.save` (``import charge_planner`` imports it).
"""

from __future__ import annotations

from charge_planner.outputs.report import render_pdf, render_report, scenario_table
from charge_planner.outputs.views import GridLayers, grid_layers, rollout_summary
from charge_planner.outputs.write import (
    GPKG_LAYERS,
    MANIFEST,
    OutputError,
    OutputTarget,
    check_output_folder,
    check_pdf,
    default_output_folder,
    read_manifest,
    save_plan,
    write_csv,
    write_manifest,
    write_outputs,
)
from charge_planner.pipeline import register_plan_writer

register_plan_writer(save_plan)

__all__ = [
    "GPKG_LAYERS",
    "MANIFEST",
    "GridLayers",
    "OutputError",
    "OutputTarget",
    "check_output_folder",
    "check_pdf",
    "default_output_folder",
    "grid_layers",
    "read_manifest",
    "render_pdf",
    "render_report",
    "rollout_summary",
    "save_plan",
    "scenario_table",
    "write_csv",
    "write_manifest",
    "write_outputs",
]
