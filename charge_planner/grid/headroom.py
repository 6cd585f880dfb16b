"""Headroom of the grid for public charging, per group of buses, from a checked year.

A group is what one piece of equipment supplies: a distribution transformer (DT) with its LV
network (``dt:<trafo>``; the LV buses named by ``net.bus["dt"]``, else the DT's LV busbar) and,
for sites connected at MV, the MV network of a substation transformer (``mv:<trafo>``). From the
time series of a year, each group gets the public charging power its equipment can still take at
its worst hour, linearised around the checked operating point:

* thermal: ``P_pub + (limit - loading) / 100 x S_rated x pf`` (the transformer's spare apparent power,
  at the power factor of the added load);
* voltage (DT groups): the group's load may grow by the factor that takes its largest voltage drop
  (from the DT's MV-side voltage to the lowest LV bus) to the lower limit:
  ``P_pub + P_group x ((V_src - V_min_allowed) / (V_src - V_low) - 1)``.

The smaller one binds. Headroom is in installed kW of public chargers: the public load at the
worst hour per installed kW of the group's sites (the group's coincidence, else the city's)
converts it. Negative headroom means the group is violated without any public charging (base,
home and depot load): it is reported as such and set to 0 for the siting.
"""

from __future__ import annotations

import logging

import networkx as nx
import numpy as np
import pandapower.topology as top
import pandas as pd

from charge_planner.grid.model import GridModel, bus_roles
from charge_planner.grid.results import GridResults

log = logging.getLogger(__name__)

__all__ = ["bus_groups", "group_headroom"]

#: ASSUMPTION: power factor of charging and of the group's load when converting spare kVA to kW.
HEADROOM_POWER_FACTOR = 0.95


def bus_groups(grid: GridModel) -> pd.DataFrame:
    """Group of every bus: ``group_id`` and ``trafo`` (the transformer whose spare capacity limits it).

    LV buses belong to their DT (``net.bus["dt"]`` when the grid has it, else the DT whose LV busbar
    they are connected to without crossing a transformer); MV buses to the substation transformer
    that feeds their MV network. Buses of neither (HV, unsupplied) are left out.
    """
    net = grid.net
    roles = bus_roles(net)
    g = top.create_nxgraph(net, include_trafos=False, include_trafo3ws=False, respect_switches=True)
    comp = pd.Series({b: c for c, nodes in enumerate(nx.connected_components(g)) for b in nodes}, dtype=int)
    tr = net.trafo[net.trafo["in_service"].astype(bool)]
    lv_role = roles.reindex(tr["lv_bus"]).to_numpy()
    kind = np.where(lv_role == "lv", "dt", np.where(np.isin(lv_role, ["mv", "mv_substation"]), "mv", ""))
    feeds = pd.DataFrame({"trafo": tr.index.to_numpy(), "kind": kind,
                          "comp": comp.reindex(tr["lv_bus"]).to_numpy()})
    feeds = feeds[(feeds["kind"] != "") & feeds["comp"].notna()].drop_duplicates("comp", keep="first")
    by_comp = feeds.set_index("comp")
    on = comp[comp.isin(by_comp.index)]
    t_of = by_comp["trafo"].reindex(on.to_numpy()).to_numpy()
    k_of = by_comp["kind"].reindex(on.to_numpy()).to_numpy()
    out = pd.DataFrame({"bus_id": on.index.to_numpy(), "group_id": [f"{k}:{int(t)}" for k, t in zip(k_of, t_of,
                                                                                                  strict=True)],
                        "trafo": t_of.astype(int)})
    if "dt" in net.bus.columns:  # a synthesised grid names the DT of every LV bus
        dt = net.bus["dt"].reindex(out["bus_id"]).to_numpy()
        named = pd.notna(dt) & (dt >= 0)
        out.loc[named, "trafo"] = dt[named].astype(int)
        out.loc[named, "group_id"] = ["dt:" + str(int(v)) for v in dt[named]]
    return out.set_index("bus_id")


def group_headroom(
    results: GridResults, *, vm_min_pu: float = 0.95, max_loading_percent: float = 100.0,
) -> pd.DataFrame:
    """Headroom for public charging of every group with a site or a violation, at its worst hour.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group_id``: ``trafo``, ``sn_kva`` [kVA], ``kind`` (``dt``/``mv``), ``hour`` (worst
        step's time), ``loading_percent`` [%], ``vm_low_pu`` [pu], ``public_kw`` (public charging at that
        hour) [kW], ``installed_kw`` (installed power of the group's sites) [kW], ``group_kw`` (all the
        group's load at that hour) [kW], ``thermal_kw``,
        ``voltage_kw``, ``headroom_kw`` [kW of public load], ``headroom_installed_kw`` [kW installed,
        >= 0], ``limit`` (``thermal``/``voltage``), ``violated`` (the group has a violation now),
        ``violated_without_public`` (headroom < 0: base, home and depot load alone violate it),
        ``deficit_kw`` (load to take off without public charging, >= 0) [kW]; for MV groups whose lines bind
        before the substation transformer, ``mv_cable_lines`` (those lines), ``mv_cable_km`` and
        ``mv_cable_line_kw`` (the lines' headroom with a second cable beside them) [kW].
    """
    net = results.model.net
    groups = bus_groups(results.model)
    rows = results.ev_rows
    ts = results.time_series
    if ts is None or ts.batch is None:
        raise ValueError("group_headroom needs a time series with its per-step results (grid.time_series 'day' "
                         "or 'year')")
    batch = ts.batch
    vm = pd.DataFrame(batch.vm_pu, columns=batch.buses)
    tload = pd.DataFrame(batch.trafo_loading_percent, columns=batch.trafos)
    lload = pd.DataFrame(batch.line_loading_percent, columns=batch.lines)
    line_group = groups["group_id"].reindex(net.line["from_bus"].to_numpy())
    line_group.index = net.line.index
    line_kva = (np.sqrt(3.0) * net.bus["vn_kv"].reindex(net.line["from_bus"]).to_numpy() * net.line["max_i_ka"].to_numpy()
                * net.line["parallel"].to_numpy() * 1000.0)
    line_kva = pd.Series(line_kva, index=net.line.index)
    public = rows[rows["kind"] == "public"]
    # public load per bus and step, from the rows' profiles (the same the time series used)
    hours = np.asarray(ts.index.hour)
    prof = results.ev_profiles[rows.index[rows["kind"] == "public"]] if len(public) else np.zeros((0, 24))
    pub_kw = pd.DataFrame((prof[:, hours].T * public["served_kwh_day"].to_numpy()[None, :]),
                          columns=public["bus_id"].to_numpy()).T.groupby(level=0).sum().T
    pub_kw = np.minimum(pub_kw, pd.Series(public.groupby("bus_id")["power_kw"].sum()).reindex(pub_kw.columns)
                        .to_numpy()[None, :]) if len(public) else pub_kw
    installed = public.groupby("bus_id")["power_kw"].sum()
    site_groups = groups["group_id"].reindex(public["bus_id"]).dropna().unique()
    violated_buses = set()
    v = results.violations
    if len(v):
        vb = v[v["element"] == "bus"]["id"].tolist()
        violated_buses |= set(vb)
        vt = v[v["element"] == "trafo"]["id"].tolist()
        violated_buses |= set(groups.index[groups["trafo"].isin(vt)])
        vl = [i for i in v[v["element"] == "line"]["id"].tolist() if i in net.line.index]
        violated_buses |= set(net.line.loc[vl, "from_bus"].tolist())
    hit_groups = groups["group_id"].reindex(list(violated_buses)).dropna().unique()
    wanted = pd.unique(np.concatenate([site_groups, hit_groups]))
    out = []
    load_p = _bus_load_kw(results)
    coinc_city = float(pub_kw.max(axis=0).sum() / installed.sum()) if installed.sum() > 0 else 0.5
    for gid in wanted:
        members = groups.index[groups["group_id"] == gid]
        t = int(groups.loc[members[0], "trafo"])
        tr = net.trafo.loc[t]
        sn_kva = float(tr["sn_mva"]) * float(tr.get("parallel", 1) or 1) * 1000.0
        loading = tload[t].to_numpy() if t in tload.columns else np.zeros(len(ts.index))
        in_vm = [b for b in members if b in vm.columns]
        v_low = vm[in_vm].min(axis=1).to_numpy() if in_vm else np.ones(len(ts.index))
        hv = int(tr["hv_bus"])
        v_src = vm[hv].to_numpy() if hv in vm.columns else np.ones(len(ts.index))
        g_lines = [i for i in line_group.index[(line_group == gid).to_numpy()] if i in lload.columns]
        l_load = lload[g_lines].to_numpy() if g_lines else np.zeros((len(ts.index), 0))
        l_max = np.nan_to_num(l_load.max(axis=1, initial=0.0)) if l_load.shape[1] else np.zeros(len(ts.index))
        # worst hour: the largest overshoot (a loading over its limit, the voltage under its limit)
        score = np.fmax(np.fmax((loading - max_loading_percent) / 10.0, (l_max - max_loading_percent) / 10.0),
                        (vm_min_pu - v_low) / 0.01)
        h = int(np.nanargmax(score)) if np.isfinite(score).any() else 0
        in_pub = [b for b in members if b in pub_kw.columns]
        p_pub = float(pub_kw[in_pub].iloc[h].sum()) if in_pub else 0.0
        inst = float(installed.reindex(members).fillna(0.0).sum())
        in_load = [b for b in members if b in load_p.columns]
        p_group = float(load_p[in_load].iloc[h].sum()) if in_load else 0.0
        thermal = p_pub + (max_loading_percent - float(loading[h])) / 100.0 * sn_kva * HEADROOM_POWER_FACTOR
        # the most loaded line of the group at that hour, as if the group's added load all flowed through it
        line_kw, line_spare_kva = np.inf, 0.0
        if l_load.shape[1]:
            j = int(np.nanargmax(np.nan_to_num(l_load[h], nan=-1.0)))
            kva_j = float(line_kva[g_lines[j]])
            line_kw = p_pub + (max_loading_percent - float(l_load[h, j])) / 100.0 * kva_j * HEADROOM_POWER_FACTOR
            line_spare_kva = kva_j
        trafo_kw = thermal
        thermal = min(thermal, line_kw)
        cable = _mv_cable(str(gid), h, p_pub, trafo_kw, g_lines, l_load, line_kva, net.line["length_km"],
                          max_loading_percent)
        voltage = np.inf
        kind = str(gid).split(":")[0]
        drop = float(v_src[h] - v_low[h])
        if kind == "dt" and drop > 1e-6 and np.isfinite(drop):
            voltage = p_pub + p_group * ((float(v_src[h]) - vm_min_pu) / drop - 1.0)
        head = min(thermal, voltage)
        coinc = p_pub / inst if inst > 0 and p_pub > 0 else coinc_city
        coinc = min(max(coinc, 0.05), 1.0)
        out.append({
            "group_id": gid, "trafo": t, "sn_kva": sn_kva, "kind": kind, "hour": ts.index[h],
            "loading_percent": float(loading[h]), "vm_low_pu": float(v_low[h]), "public_kw": p_pub,
            "installed_kw": inst, "group_kw": p_group, "thermal_kw": thermal, "trafo_kw": trafo_kw,
            "line_kw": line_kw, "line_kva": line_spare_kva, "voltage_kw": voltage, "headroom_kw": head,
            "headroom_installed_kw": max(head, 0.0) / coinc, "coincidence": coinc,
            "limit": ("voltage" if voltage < thermal else ("line" if line_kw < trafo_kw else "trafo")),
            "violated": bool(score[h] > 0), **cable,
        })
    table = pd.DataFrame(out)
    if table.empty:
        return pd.DataFrame(columns=["trafo", "headroom_kw", "headroom_installed_kw"]).rename_axis("group_id")
    # without public charging the group still violates: the rest of the load must shrink by deficit_kw
    table["violated_without_public"] = table["headroom_kw"] < 0
    table["deficit_kw"] = np.maximum(0.0, -table["headroom_kw"])
    return table.set_index("group_id")


def _mv_cable(gid: str, h: int, p_pub: float, trafo_kw: float, g_lines: list, l_load: np.ndarray,
              line_kva: pd.Series, length_km: pd.Series, max_loading_percent: float) -> dict[str, object]:
    """A second MV cable beside the lines of an MV group that bind before its substation transformer.

    Each line's headroom at the worst hour, as if the group's added load all flowed through it:
    ``P_pub + (limit - loading) / 100 x S_line x pf``. The lines whose headroom is below the
    transformer's get a second circuit (their rating doubles, their loading halves); the group's line
    headroom is then the smallest over every line. DT groups get none (their feeders are LV).
    """
    none = {"mv_cable_lines": (), "mv_cable_km": 0.0, "mv_cable_line_kw": np.nan}
    if not gid.startswith("mv:") or not g_lines:
        return none
    load = np.nan_to_num(l_load[h], nan=0.0)
    kva = line_kva.reindex(g_lines).to_numpy(float)
    head = p_pub + (max_loading_percent - load) / 100.0 * kva * HEADROOM_POWER_FACTOR
    binding = head < trafo_kw
    if not binding.any():
        return none
    doubled = p_pub + (max_loading_percent - load / 2.0) / 100.0 * 2.0 * kva * HEADROOM_POWER_FACTOR
    after = np.where(binding, doubled, head)
    lines = tuple(int(i) for i in np.asarray(g_lines)[binding])
    return {"mv_cable_lines": lines, "mv_cable_km": float(length_km.reindex(lines).sum()),
            "mv_cable_line_kw": float(after.min())}


def _bus_load_kw(results: GridResults) -> pd.DataFrame:
    """Active load per step and bus [kW]: base load (scaled per step) plus every EV load, less PV."""
    net = results.model.net
    ts = results.time_series
    a = results.assessment
    steps = ts.steps
    base = net.load.loc[net.load["in_service"].astype(bool)].groupby("bus")["p_mw"].sum() * 1000.0
    total_base = float(base.sum())
    factor = steps["base_load_mw"].to_numpy() * 1000.0 / total_base if total_base > 0 else np.zeros(len(steps))
    frame = pd.DataFrame(np.outer(factor, base.to_numpy()), index=ts.index, columns=base.index)
    if a is not None and a.ev_kw.shape[1]:
        frame = frame.add(a.ev_kw.reindex(index=ts.index), fill_value=0.0)
    if a is not None and a.pv_kw.shape[1]:
        frame = frame.sub(a.pv_kw.reindex(index=ts.index), fill_value=0.0)
    return frame.reset_index(drop=True)
