"""On-load tap changers operated at every step of the batched load flow.

A pandapower ``DiscreteTapControl`` in ``net.controller`` (the synthesised grid gives one to every
33/11 kV substation transformer) keeps the voltage of its transformer's low-voltage bus inside a
band: while the voltage is below the band the tap moves one position towards a higher voltage,
above it one position towards a lower voltage, until the voltage is inside the band or the tap is
at its end. :class:`TapControl` does exactly that for many steps at once, as
``pandapower.runpp(net, run_control=True)`` does for one step. Independent steps (trial loads, a peak)
start from the tap position stored in the net. A time series carries the position from step to step,
as a tap changer does in service: each step starts where the previous one ended (the first step of a
design day where its last ends, the day repeating), so inside the dead band the tap stays where the
last change left it (``BatchPowerFlow.solve(..., taps_in_sequence=...)``; several days at once with
``sequence_length``, as the EV hosting level's search solves its day at many adoption factors). The relay's time delay (tens
of seconds to a few minutes) is shorter than a step and is not modelled: within a step the tap moves
as many positions as the voltage needs.

How a tap enters the batched flow. When the tap winding is on the high-voltage side (pandapower then
keeps the series impedance at every position) and the transformer's high-voltage bus is a slack bus that
holds nothing but the external grid and this transformer, moving the tap from ratio ``t0`` to ``t``
changes the network behind the transformer exactly as scaling the slack voltage by ``t0 / t``
(the ratio sits on the high-voltage side of pandapower's branch model; its magnetising branch is
scaled with it), so the admittance matrix and its factorisations stay the same for every step. The
results are corrected back: the high-voltage bus keeps its external-grid voltage and the
high-voltage side current is the computed one times ``t0 / t``; powers and losses are unchanged.
A controller of another kind, or one whose transformer is not connected like that, is not run:
its tap stays at the net's position and a warning names it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandapower.auxiliary import pandapowerNet

log = logging.getLogger(__name__)

__all__ = ["TapControl", "controlled_trafos", "tap_control", "MAX_CONTROL_ROUNDS"]

#: Element tables whose presence at a transformer's high-voltage bus rules out per-step operation.
_BUS_ELEMENTS = ("load", "sgen", "gen", "shunt", "ward", "xward", "storage", "motor", "asymmetric_load",
                 "asymmetric_sgen")
#: Most control rounds (one tap position per round), pandapower's ``run_control`` default [-].
MAX_CONTROL_ROUNDS = 30


@dataclass
class TapControl:
    """The on-load tap changers the batched load flow operates (see the module docstring).

    Attributes
    ----------
    trafos
        pandapower ids of the controlled transformers.
    ref_row, bus_row
        Internal rows of each transformer's high-voltage (slack) bus and of the bus it controls.
    branch_row
        Internal branch row of each transformer.
    tap0, tap_min, tap_max, neutral
        The net's tap position and the tap range [-].
    step
        Voltage change of one position [fraction of the rated high voltage].
    vm_lower, vm_upper
        The band of the controlled voltage [pu].
    """

    trafos: pd.Index
    ref_row: np.ndarray
    bus_row: np.ndarray
    branch_row: np.ndarray
    tap0: np.ndarray
    tap_min: np.ndarray
    tap_max: np.ndarray
    neutral: np.ndarray
    step: np.ndarray
    vm_lower: np.ndarray
    vm_upper: np.ndarray

    def __len__(self) -> int:
        return len(self.trafos)

    def ratio(self, taps: np.ndarray) -> np.ndarray:
        """Off-nominal ratio factor of each transformer at ``taps`` (transformers x steps) [-]."""
        return 1.0 + (taps - self.neutral[:, None]) * self.step[:, None]

    def slack_scale(self, taps: np.ndarray) -> np.ndarray:
        """Factor on each transformer's slack voltage that stands for ``taps`` (transformers x steps) [-]."""
        return self.ratio(np.broadcast_to(self.tap0[:, None], taps.shape)) / self.ratio(taps)

    def taps_from_scale(self, scale: np.ndarray) -> np.ndarray:
        """Tap positions whose :meth:`slack_scale` is ``scale`` (inverse, rounded to whole positions)."""
        ratio = self.ratio(np.broadcast_to(self.tap0[:, None], scale.shape)) / scale
        return np.rint((ratio - 1.0) / self.step[:, None] + self.neutral[:, None]).astype(np.int64)

    def next_taps(self, vm: np.ndarray, taps: np.ndarray) -> np.ndarray:
        """One control round: each tap one position towards the band when its voltage is outside.

        ``vm`` and ``taps`` are transformers x steps; NaN voltages (a step that did not converge)
        leave the tap where it is.
        """
        # the tap winding is on the high-voltage side: a higher position lowers the LV voltage
        up = (vm > self.vm_upper[:, None]) & (taps < self.tap_max[:, None])
        down = (vm < self.vm_lower[:, None]) & (taps > self.tap_min[:, None])
        return taps + up.astype(np.int64) - down.astype(np.int64)

    def starts(self, path: np.ndarray, steps: np.ndarray, *, cyclic: bool) -> np.ndarray:
        """Where each of ``steps`` starts on a ``path`` of end positions (transformers x steps of a time series):
        where the step before it ended; the first step of a ``cyclic`` day where its last ends, else at the
        net's positions."""
        prev = np.asarray(steps) - 1
        first = path[:, -1] if cyclic else self.tap0
        return np.where(prev[None, :] >= 0, path[:, np.maximum(prev, 0)], first[:, None])

    def predict_path(self, u: np.ndarray, start: np.ndarray | None = None, *, cyclic: bool = False) -> np.ndarray:
        """The positions a sequence of steps ends at, each step starting where the previous one ended,
        predicted from each step's controlled voltage at unit ratio ``u`` (transformers x steps: the
        voltage times the ratio it was solved at; at position ``p`` the voltage is taken as
        ``u / ratio(p)``, the controlled bus following the slack voltage behind the tap).

        The first step starts from ``start`` (default: the net's positions); on a ``cyclic`` axis, a
        design day that repeats, from the last step's end (the day is predicted twice round).
        NaN voltages leave the tap where it is.

        Returns
        -------
        numpy.ndarray
            End position of every step (transformers x steps).
        """
        n_steps = u.shape[1]
        path = np.empty(u.shape, dtype=np.int64)
        p = (self.tap0 if start is None else np.asarray(start, dtype=np.int64)).copy()
        for _ in range(2 if cyclic else 1):
            for t in range(n_steps):
                for _ in range(MAX_CONTROL_ROUNDS):
                    new = self.next_taps((u[:, t] / self.ratio(p[:, None])[:, 0])[:, None], p[:, None])[:, 0]
                    if (new == p).all():
                        break
                    p = new
                path[:, t] = p
        return path


def _as_indices(value: object) -> list[int]:
    if isinstance(value, list | tuple | np.ndarray | pd.Index):
        return [int(v) for v in value]
    return [int(value)]  # type: ignore[call-overload]


def controlled_trafos(net: pandapowerNet) -> list[int]:
    """Ids of the transformers whose tap an in-service ``DiscreteTapControl`` of ``net`` operates (sorted)."""
    table = net.get("controller")
    ids: set[int] = set()
    if table is not None and len(table):
        for _, c in table.iterrows():
            obj = c["object"]
            if (bool(c.get("in_service", True)) and type(obj).__name__ == "DiscreteTapControl"
                    and getattr(obj, "element", "trafo") == "trafo"):
                ids.update(_as_indices(obj.element_index))
    return sorted(ids & set(net.trafo.index))


def tap_control(
    net: pandapowerNet,
    *,
    ref: np.ndarray,
    bus_lookup: np.ndarray,
    branch_from: np.ndarray,
    branch_to: np.ndarray,
    trafo_rows: pd.Series,
) -> TapControl | None:
    """The tap changers of ``net.controller`` that the batched load flow can operate, or None.

    Parameters
    ----------
    net
        The prepared net (its ``controller`` table is read).
    ref, bus_lookup, branch_from, branch_to
        The admittance model's slack rows, pandapower bus -> internal row, branch ends.
    trafo_rows
        Internal branch row of every in-service transformer (pandapower id -> row).
    """
    table = net.get("controller")
    if table is None or not len(table):
        return None
    ref_set = set(int(r) for r in ref)
    branch_count = np.bincount(np.r_[branch_from, branch_to], minlength=len(bus_lookup))
    rows: list[dict[str, object]] = []
    for cid, c in table.iterrows():
        obj = c["object"]
        if not bool(c.get("in_service", True)):
            continue
        kind = type(obj).__name__
        if kind != "DiscreteTapControl" or getattr(obj, "element", "trafo") != "trafo":
            log.warning("controller %s (%s) is not run by the batched load flow: its element keeps the net's "
                        "setting", cid, kind)
            continue
        for t in _as_indices(obj.element_index):
            why = _unsupported(net, t, obj, ref_set, bus_lookup, branch_count, trafo_rows)
            if why:
                log.warning("tap changer of transformer %s is not operated per step (%s): its tap stays at "
                            "position %s", t, why, net.trafo.at[t, "tap_pos"] if t in net.trafo.index else "?")
                continue
            tr = net.trafo.loc[t]
            rows.append({
                "trafo": t,
                "ref_row": int(bus_lookup[int(tr["hv_bus"])]),
                "bus_row": int(bus_lookup[int(tr["lv_bus"])]),
                "branch_row": int(trafo_rows[t]),
                "tap0": int(tr["tap_pos"]),
                "tap_min": int(tr["tap_min"]),
                "tap_max": int(tr["tap_max"]),
                "neutral": int(tr["tap_neutral"]),
                "step": float(tr["tap_step_percent"]) / 100.0,
                "vm_lower": float(obj.vm_lower_pu),
                "vm_upper": float(obj.vm_upper_pu),
            })
    if not rows:
        return None
    frame = pd.DataFrame(rows).drop_duplicates("trafo")
    if frame["ref_row"].duplicated().any():  # two controlled transformers on one slack bus
        dup = frame.loc[frame["ref_row"].duplicated(keep=False), "trafo"].tolist()
        log.warning("tap changers of transformers %s share one slack bus: they are not operated per step", dup)
        frame = frame[~frame["ref_row"].duplicated(keep=False)]
        if not len(frame):
            return None
    log.debug("batched load flow operates %d on-load tap changer(s)", len(frame))
    return TapControl(
        trafos=pd.Index(frame["trafo"].to_numpy(np.int64)),
        **{k: frame[k].to_numpy(dtype=float if k in ("step", "vm_lower", "vm_upper") else np.int64)
           for k in ("ref_row", "bus_row", "branch_row", "tap0", "tap_min", "tap_max", "neutral", "step",
                     "vm_lower", "vm_upper")},
    )


def _unsupported(net: pandapowerNet, t: int, obj: object, ref_set: set[int], bus_lookup: np.ndarray,
                 branch_count: np.ndarray, trafo_rows: pd.Series) -> str:
    """Why the tap of transformer ``t`` cannot be operated per step ('' when it can)."""
    if t not in net.trafo.index or t not in trafo_rows.index:
        return "the transformer is not in the grid or out of service"
    tr = net.trafo.loc[t]
    if getattr(obj, "side", "lv") != "lv":
        return "it controls the high-voltage side"
    if str(tr.get("tap_side")) != "hv":
        return "its tap winding is not on the high-voltage side"
    if str(tr.get("tap_changer_type")) != "Ratio" or (  # pandapower ignores the tap of any other kind
        pd.notna(tr.get("tap_step_degree")) and float(tr.get("tap_step_degree") or 0.0) != 0.0
    ):
        return "only ratio tap changers without a phase step are operated"
    if any(pd.isna(tr.get(k)) for k in ("tap_pos", "tap_min", "tap_max", "tap_neutral", "tap_step_percent")):
        return "its tap range is not given"
    hv = int(bus_lookup[int(tr["hv_bus"])])
    if hv not in ref_set:
        return "its high-voltage bus is not an external grid"
    hv_bus = int(tr["hv_bus"])
    others = sum(int(((net[el]["bus"] == hv_bus) & net[el]["in_service"].astype(bool)).sum())
                 for el in _BUS_ELEMENTS if el in net and len(net[el]))
    grids = int(((net.ext_grid["bus"] == hv_bus) & net.ext_grid["in_service"].astype(bool)).sum())
    if branch_count[hv] != 1 or others or grids != 1:
        return "its high-voltage bus has other elements than one external grid"
    return ""
