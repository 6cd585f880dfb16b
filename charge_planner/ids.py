"""Id helpers shared by every stage: positions of table ids in an index.

Below every stage (imports only :mod:`charge_planner.errors`), so that a stage that reads a
travel table (siting, pipeline) does not need the network stage to look its ids up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from charge_planner.errors import DataError


def id_positions(ids: pd.Series, index: pd.Index, what: str = "id") -> np.ndarray:
    """Position in ``index`` of every id of a travel-table column, -1 where the id is not in it.

    Fast for the categorical id columns of :func:`charge_planner.network.travel_table` (one lookup per category, then
    the codes); plain columns are looked up value by value.

    Raises
    ------
    DataError
        When ``index`` has duplicated labels.
    """
    if not index.is_unique:
        dup = list(index[index.duplicated()][:5])
        raise DataError(f"{what}s must be unique; {dup} appear more than once: drop the duplicated rows")
    if isinstance(ids.dtype, pd.CategoricalDtype):
        codes = ids.cat.codes.to_numpy()
        lookup = np.append(index.get_indexer(ids.cat.categories), -1)  # code -1 (missing) -> -1
        return lookup[codes]
    return index.get_indexer(ids.to_numpy())
