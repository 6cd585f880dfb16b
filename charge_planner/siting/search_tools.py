"""Shared tools of the siting heuristics and bounds: the wall-clock :class:`SafetyStop` that every
step of one solve shares, the 0/1 CSR form of a coverage matrix and :func:`covered_weight`, the
demand weight an open set of columns covers, and :func:`csr_gather`, the entries of many rows of a
compressed index at once."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class SafetyStop:
    """A wall-clock safety stop shared by the steps of one solve.

    The heuristics end by their work caps (rounds, swaps, moves, iterations), so that their
    result does not depend on the machine's speed; this clock ends them only when a machine is
    far slower than expected, and records that it did (:attr:`hit`).
    """

    deadline: float
    hit: bool = False

    @classmethod
    def after(cls, seconds: float) -> SafetyStop:
        """A stop ``seconds`` from now [s]."""
        return cls(time.perf_counter() + float(seconds))

    def left(self) -> float:
        """Seconds left [s] (at least 1 ms, so that a solver given it stops at once)."""
        return max(self.deadline - time.perf_counter(), 1e-3)

    def expired(self) -> bool:
        """True (and recorded) once the deadline has passed."""
        if not self.hit and time.perf_counter() >= self.deadline:
            self.hit = True
        return self.hit


def _clock(safety: SafetyStop | None, time_limit_s: float) -> SafetyStop:
    return safety if safety is not None else SafetyStop.after(time_limit_s)


def _csr(a: sp.spmatrix | sp.sparray) -> sp.csr_matrix:
    out = sp.csr_matrix(a, dtype=np.float64)
    out.sum_duplicates()
    out.data[:] = 1.0
    return out


def covered_weight(cover: sp.spmatrix | sp.sparray, weight: np.ndarray, open_idx: np.ndarray) -> float:
    """Weight of the demand rows covered by the open columns ``open_idx``."""
    a = _csr(cover)
    x = np.zeros(a.shape[1])
    x[np.asarray(open_idx, dtype=np.int64)] = 1.0
    return float(weight[(a @ x) > 0].sum())


def csr_gather(ptr: np.ndarray, idx: np.ndarray | None, nodes: np.ndarray) -> np.ndarray:
    """The entries ``idx[ptr[v]:ptr[v + 1]]`` of all ``nodes``, concatenated in their order (the positions
    themselves when ``idx`` is None)."""
    start = ptr[nodes]
    length = ptr[nodes + 1] - start
    total = int(length.sum())
    if not total:
        return np.zeros(0, dtype=np.int64 if idx is None else idx.dtype)
    offset = np.repeat(start - np.cumsum(length) + length, length) + np.arange(total)
    return offset if idx is None else idx[offset]
