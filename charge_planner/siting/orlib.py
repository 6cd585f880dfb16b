"""Reader of the OR-Library p-median instances (Beasley 1990), used to validate the p-median model.

Format of ``pmedN.txt``: a first line ``n_vertices n_edges p``, then one line per undirected
edge ``i j cost`` with vertices numbered from 1. Distances are shortest paths over that graph.
Where an edge appears more than once, the last occurrence gives its cost (the OR-Library
convention; taking the first or the shortest gives different, wrong optima).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from charge_planner.errors import DataError


def read_pmed(path: Path | str) -> tuple[np.ndarray, int]:
    """Read an OR-Library p-median instance.

    Parameters
    ----------
    path
        A ``pmedN.txt`` file.

    Returns
    -------
    tuple
        The ``n x n`` shortest-path distance matrix [instance units] and ``p``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii").split()
        numbers = np.asarray(text, dtype=np.int64)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not an OR-Library p-median file ({exc}); give a pmedN.txt file") from None
    if len(numbers) < 3:
        raise DataError(f"{path}: the first line must be 'n_vertices n_edges p'")
    n, n_edges, p = (int(v) for v in numbers[:3])
    edges = numbers[3:]
    if len(edges) != 3 * n_edges:
        raise DataError(f"{path}: header says {n_edges} edges but the file has {len(edges) / 3:g}; the file is truncated")
    e = edges.reshape(-1, 3)
    i, j, c = e[:, 0] - 1, e[:, 1] - 1, e[:, 2].astype(float)
    if i.min() < 0 or j.min() < 0 or max(i.max(), j.max()) >= n:
        raise DataError(f"{path}: an edge names a vertex outside 1..{n}")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    key = lo * n + hi
    # the last occurrence of a duplicated edge wins: unique over the reversed list keeps it
    _, last_rev = np.unique(key[::-1], return_index=True)
    last = len(key) - 1 - last_rev
    g = sp.coo_matrix((c[last], (lo[last], hi[last])), shape=(n, n)).tocsr()
    dist = shortest_path(g, method="D", directed=False)
    if not np.isfinite(dist).all():
        raise DataError(f"{path}: the graph is not connected")
    return dist, p


def read_pmed_optima(path: Path | str) -> dict[str, float]:
    """Read ``pmedopt.txt`` (lines ``pmedN value`` after a header) into ``{"pmedN": value}``."""
    out: dict[str, float] = {}
    for line in Path(path).read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("pmed"):
            out[parts[0]] = float(parts[1])
    return out
