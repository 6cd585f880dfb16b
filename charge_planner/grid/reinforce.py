"""Grid reinforcement options with costs, and applying the chosen ones to a grid.

Per group of :func:`~charge_planner.grid.headroom.group_headroom`:

* ``dt:<t>`` (a distribution transformer and its LV network): the next standard DT rating, or a
  second DT of the same rating beside the first (thermal headroom only: the LV feeders keep their
  voltage drop), a second LV circuit strung on the group's LV lines (halves their impedance: voltage
  headroom, and the lines' thermal rating), or the next rating and the second circuit together;
* ``mv:<t>`` (the MV network of a substation transformer): a second 11 kV underground cable beside
  the MV lines that bind before the substation transformer (their rating doubles), costed per km
  (``mv_cable_per_km``); one more substation unit of the same rating when a unit cost is given for that
  rating (``substation_unit_<MVA>mva``).

A second circuit or cable is offered only where the lines have none yet (``parallel`` 1): on a grid
reinforced already, the options are those of the reinforced grid (its DT ratings and units).

Costs come from :func:`charge_planner.presets.grid_reinforcement_costs` (per DT station installed, per DT
replaced by the next rating on its structure, per substation unit, per km of line) in local currency,
converted to USD at the preset's rate; the added headroom is in kW of
public charging at the group's worst hour, linearised like the headroom itself.
"""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import pandas as pd

from charge_planner.grid.headroom import HEADROOM_POWER_FACTOR
from charge_planner.grid.model import STANDARD_DT_RATINGS_KVA, GridModel, bus_roles

log = logging.getLogger(__name__)

__all__ = ["OPTION_COLUMNS", "apply_reinforcements", "reinforcement_options"]

#: Columns of an option table.
OPTION_COLUMNS = ["group_id", "option", "kind", "added_kw", "cost_usd", "cost_local", "trafo", "new_kva", "lv_km",
                  "lines"]


def _next_rating(kva: float, ratings: tuple[float, ...]) -> float | None:
    bigger = [r for r in ratings if r > kva * 1.001]
    return bigger[0] if bigger else None


def reinforcement_options(
    grid: GridModel, headroom: pd.DataFrame, unit_costs_usd: dict[str, float], *, local_per_usd: float,
    max_loading_percent: float = 100.0, ratings: tuple[float, ...] = STANDARD_DT_RATINGS_KVA,
) -> pd.DataFrame:
    """Options for every group of ``headroom`` (see the module docstring), cheapest first per group.

    ``unit_costs_usd`` has ``dt_<rating>kva`` [USD per DT station installed], ``dt_upgrade_<rating>kva``
    [USD per DT replaced by one of that rating; the installed cost when absent], ``substation_unit_<MVA>mva``
    [USD per 33/11 kV unit added] and ``lv_ab_cable_per_km``, ``mv_cable_per_km`` [USD/km]
    (:func:`charge_planner.presets.grid_reinforcement_costs_usd`).
    Options that add no headroom where the group binds are left out.
    """
    net = grid.net
    out = []
    lv_len = _group_lv_km(grid)
    doubled = _paralleled_dts(net)  # DTs whose LV lines have a second circuit already: no other is offered
    for gid, h in headroom.iterrows():
        t = int(h["trafo"])
        kva = float(net.trafo.at[t, "sn_mva"]) * 1000.0
        voltage = float(h["voltage_kw"])
        trafo_kw, line_kw = float(h.get("trafo_kw", h["thermal_kw"])), float(h.get("line_kw", np.inf))
        thermal = min(trafo_kw, line_kw)
        # a second circuit doubles the most loaded line's rating
        line_gain = float(h.get("line_kva", 0.0)) * HEADROOM_POWER_FACTOR * max_loading_percent / 100.0
        if h["kind"] == "dt":
            new = _next_rating(kva, ratings)
            dt_cost = (unit_costs_usd.get(f"dt_upgrade_{new:g}kva", unit_costs_usd.get(f"dt_{new:g}kva", math.nan))
                       if new else math.nan)
            km = 0.0 if t in doubled else float(lv_len.get(t, 0.0))
            lv_cost = unit_costs_usd.get("lv_ab_cable_per_km", math.nan) * km
            gain_t = (new - kva) * HEADROOM_POWER_FACTOR * max_loading_percent / 100.0 if new else 0.0
            # a second circuit halves the LV lines' impedance; taking the group's drop as all LV, the load
            # may grow twice as far before the same drop: the gain is the group's load x (V_src - V_min) / drop
            gain_v = voltage - float(h["public_kw"]) + float(h["group_kw"]) if np.isfinite(voltage) else np.inf
            gain_v = max(gain_v, 0.0)
            head = min(thermal, voltage)
            cand = []
            if new and np.isfinite(dt_cost):
                cand.append((f"DT {kva:g} -> {new:g} kVA", "dt_upgrade",
                             min(trafo_kw + gain_t, line_kw, voltage) - head, dt_cost, new, 0.0))
            same_cost = unit_costs_usd.get(f"dt_{kva:g}kva", math.nan)
            if np.isfinite(same_cost):  # a second DT of the same rating beside the first, sharing the load
                gain_a = kva * HEADROOM_POWER_FACTOR * max_loading_percent / 100.0
                cand.append((f"second {kva:g} kVA DT", "dt_added", min(trafo_kw + gain_a, line_kw, voltage) - head,
                             same_cost, math.nan, 0.0))
            if km > 0 and np.isfinite(lv_cost):
                cand.append(("second LV circuit", "lv_circuit",
                             min(trafo_kw, line_kw + line_gain, voltage + gain_v) - head, lv_cost, math.nan, km))
            if new and np.isfinite(dt_cost) and km > 0 and np.isfinite(lv_cost):
                cand.append((f"DT {kva:g} -> {new:g} kVA and second LV circuit", "dt_upgrade+lv_circuit",
                             min(trafo_kw + gain_t, line_kw + line_gain, voltage + gain_v) - head, dt_cost + lv_cost,
                             new, km))
            for name, kind, gain, cost, new_kva, lv_km in cand:
                if gain > 1e-6 and np.isfinite(gain):
                    out.append({"group_id": gid, "option": name, "kind": kind, "added_kw": float(gain),
                                "cost_usd": float(cost), "cost_local": float(cost) * local_per_usd, "trafo": t,
                                "new_kva": new_kva, "lv_km": lv_km, "lines": ()})
        else:  # an MV network: a second cable beside its binding lines, one more substation unit
            km = float(h.get("mv_cable_km", 0.0) or 0.0)
            lines = [int(i) for i in h.get("mv_cable_lines", ())]
            if lines and (net.line.loc[lines, "parallel"].astype(int) > 1).any():
                km = 0.0  # a second cable is there already
            cable_cost = unit_costs_usd.get("mv_cable_per_km", math.nan) * km
            cable_kw = float(h.get("mv_cable_line_kw", np.nan))
            if km > 0 and np.isfinite(cable_cost) and np.isfinite(cable_kw):
                head = min(thermal, voltage)
                gain = min(trafo_kw, cable_kw, voltage) - head
                lines = tuple(lines)
                if gain > 1e-6:
                    out.append({"group_id": gid, "option": f"second 11 kV cable, {len(lines)} section(s), {km:.2f} km",
                                "kind": "mv_cable", "added_kw": float(gain), "cost_usd": float(cable_cost),
                                "cost_local": float(cable_cost) * local_per_usd, "trafo": t, "new_kva": math.nan,
                                "lv_km": 0.0, "lines": lines})
            # one more unit of the same rating beside the others: the substation's rating grows by one unit,
            # as far as the MV lines and the voltage let the load grow
            unit_kva = kva
            head = min(thermal, voltage)
            gain = min(trafo_kw + unit_kva * HEADROOM_POWER_FACTOR * max_loading_percent / 100.0, line_kw,
                       voltage) - head
            cost = unit_costs_usd.get(f"substation_unit_{unit_kva / 1000:g}mva", math.nan)
            if np.isfinite(cost) and gain > 1e-6 and np.isfinite(gain):
                out.append({"group_id": gid, "option": f"substation unit {unit_kva / 1000:g} MVA", "kind": "mv_unit",
                            "added_kw": gain, "cost_usd": cost, "cost_local": cost * local_per_usd, "trafo": t,
                            "new_kva": math.nan, "lv_km": 0.0, "lines": ()})
    table = pd.DataFrame(out, columns=OPTION_COLUMNS)
    return table.sort_values(["group_id", "cost_usd"], ignore_index=True)


def apply_reinforcements(grid: GridModel, chosen: pd.DataFrame) -> GridModel:
    """A copy of the grid with the chosen options built (new DT ratings, second LV circuits and MV cables, units)."""
    net = copy.deepcopy(grid.net)
    done = []
    for _, o in chosen.iterrows():
        t = int(o["trafo"])
        if "dt_upgrade" in o["kind"]:
            net.trafo.at[t, "sn_mva"] = float(o["new_kva"]) / 1000.0
        if "lv_circuit" in o["kind"]:
            lines = _group_lv_lines(net, t)
            net.line.loc[lines, "parallel"] = net.line.loc[lines, "parallel"].astype(int) * 2
        if o["kind"] in ("mv_unit", "dt_added"):
            net.trafo.at[t, "parallel"] = int(net.trafo.at[t, "parallel"]) + 1
        if o["kind"] == "mv_cable":
            lines = [int(i) for i in o["lines"]]
            net.line.loc[lines, "parallel"] = net.line.loc[lines, "parallel"].astype(int) * 2
        done.append(str(o["option"]) + f" ({o['group_id']})")
    out = GridModel(net=net, source=grid.source, crs=grid.crs, assumptions=list(grid.assumptions),
                    synthetic=grid.synthetic)
    if done:
        out.assumptions.append(f"reinforced: {len(done)} option(s) built ({'; '.join(done[:5])}"
                               + (" ..." if len(done) > 5 else "") + ")")
    return out


def _paralleled_dts(net: object) -> set[int]:
    """The DTs whose LV network has a line with a second circuit (``net.line["dt"]``, else its buses' DT)."""
    line = net.line  # type: ignore[attr-defined]
    multi = line[line["parallel"].astype(int) > 1]
    if not len(multi):
        return set()
    if "dt" in line.columns:
        return {int(t) for t in multi["dt"] if t >= 0}
    bus = net.bus  # type: ignore[attr-defined]
    if "dt" in bus.columns:
        return {int(t) for t in bus["dt"].reindex(multi["from_bus"]).dropna() if t >= 0}
    return set()


def _group_lv_lines(net: object, trafo: int) -> np.ndarray:
    """LV lines of a DT's network (``net.line["dt"]`` when present, else lines between its LV buses)."""
    line = net.line  # type: ignore[attr-defined]
    if "dt" in line.columns:
        return line.index[line["dt"].to_numpy() == trafo].to_numpy()
    bus = net.bus  # type: ignore[attr-defined]
    if "dt" in bus.columns:
        lv = set(bus.index[bus["dt"].to_numpy() == trafo])
        return line.index[line["from_bus"].isin(lv) & line["to_bus"].isin(lv)].to_numpy()
    return np.zeros(0, dtype=int)


def _group_lv_km(grid: GridModel) -> pd.Series:
    """Length of the LV lines of every DT [km]."""
    net = grid.net
    line = net.line
    if "dt" in line.columns:
        sel = line["dt"].to_numpy() >= 0
        return line.loc[sel].groupby("dt")["length_km"].sum()
    roles = bus_roles(net)
    lv = roles.index[(roles == "lv").to_numpy()]
    if "dt" not in net.bus.columns:
        return pd.Series(dtype=float)
    sel = line["from_bus"].isin(lv) & line["to_bus"].isin(lv)
    return line.loc[sel].groupby(net.bus["dt"].reindex(line.loc[sel, "from_bus"]).to_numpy())["length_km"].sum()
