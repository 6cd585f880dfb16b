"""Building the capacitated siting model from tables: :meth:`CapacitatedSiting.from_tables
<charge_planner.siting.capacitated.CapacitatedSiting.from_tables>` checks the input tables and
the targets (columns present, budget positive, shares within 0-1, existing chargers within a
site's maximum, something buildable at all), lays out the columns and assembles the rows block by
block with the ``define_*`` functions of :mod:`charge_planner.siting.rows`. It is defined on the
mixin :class:`CapacitatedBuild` that :class:`~charge_planner.siting.capacitated.CapacitatedSiting`
inherits."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from charge_planner.errors import DataError, InfeasibleError
from charge_planner.siting.bands import _site_bands
from charge_planner.siting.rows import (
    Columns,
    Rows,
    _check_columns,
    _existing_matrix,
    _nothing_to_build,
    _year_budgets,
    assignment_pairs,
    define_assignment_rows,
    define_band_rows,
    define_budget_rows,
    define_capacity_rows,
    define_column_bounds,
    define_equity_rows,
    define_headroom_rows,
    define_installed_rows,
    define_objective,
    define_reinforcement_rows,
    define_rollout_rows,
    define_site_max_rows,
    define_target_rows,
)
from charge_planner.siting.solve import MatrixModel

if TYPE_CHECKING:
    from charge_planner.siting.capacitated import CapacitatedSiting

log = logging.getLogger(__name__)


class CapacitatedBuild:
    """The model builder of :class:`~charge_planner.siting.capacitated.CapacitatedSiting` (a mixin)."""

    @classmethod
    def from_tables(  # type: ignore[misc]  # a mixin of it
        cls: type[CapacitatedSiting],
        demand: pd.DataFrame,
        candidates: pd.DataFrame,
        charger_types: pd.DataFrame,
        travel: pd.DataFrame,
        *,
        budget_usd: float,
        max_sites_per_demand: int | None = None,
        budget_by_year_usd: Mapping[int, float] | Sequence[float] | None = None,
        carry_over: bool = True,
        equity_floor: float | None = None,
        equity_column: str = "equity_group",
        min_served_share: float | None = None,
        headroom: pd.Series | pd.DataFrame | None = None,
        site_groups: pd.Series | None = None,
        headroom_coincidence: float = 1.0,
        site_cost_bands: pd.DataFrame | Sequence[tuple[float, float]] | None = None,
        reinforcements: pd.DataFrame | None = None,
    ) -> CapacitatedSiting:
        """Build the model.

        Parameters
        ----------
        demand
            Indexed by ``demand_id``; columns ``segment``, ``energy_kwh_day`` [kWh/day],
            optional ``year`` (several years make a rollout), ``cutoff_s`` [s] (used in
            messages) and the ``equity_column``.
        candidates
            Indexed by ``site_id``; columns ``max_chargers``, ``fixed_cost_usd`` [USD],
            optional ``allowed_types`` (tuple of charger types allowed there; default all),
            ``existing_chargers`` (dict type -> count, kept at zero cost) and
            ``excluded_reason`` (non-empty: the site may not open, e.g. a flood zone).
        charger_types
            Indexed by ``charger_type``; columns ``power_kw`` [kW], ``capex_usd`` [USD],
            ``segments`` (tuple), ``service_hours_day`` [h], optional ``use_cases`` (tuple;
            with a ``use_case`` column in ``demand``, a type serves only rows of its use cases).
        travel
            Pairs within the cut-off: columns ``demand_id``, ``site_id``, ``travel_time_s`` [s].
        budget_usd
            Total budget [USD]; split evenly over the years when ``budget_by_year_usd`` is
            not given.
        max_sites_per_demand
            Keep only this many nearest candidates per demand row (sparsifies the model); only
            candidates that can host a charger type serving the row (its segment and use case,
            allowed there, not excluded, room for a charger) are counted.
        budget_by_year_usd
            Budget of each rollout year [USD] (mapping year -> USD, or one value per year).
        carry_over
            Unspent budget of a year can be spent later (cumulative budget rows).
        equity_floor
            Minimum served share of the demand of every group in ``equity_column``, each
            year [0-1].
        equity_column
            Demand column naming the group (district or cell group) of each row.
        min_served_share
            Minimum served share of all demand, each year [0-1].
        headroom
            Grid headroom per group [kW] (see the module docstring).
        site_groups
            Grid group of each site (``site_id -> group_id``).
        headroom_coincidence
            Share of a site's installed power counted against its group's headroom [0-1].
        site_cost_bands
            Connection cost of a site by its installed power band: a table with columns
            ``max_kw`` [kW] (increasing, the last one ``inf``) and ``cost_usd`` [USD]
            (non-decreasing), or (max_kw, cost_usd) pairs.
        reinforcements
            Grid reinforcement options the model may build (with ``headroom``): one row per option with
            ``group_id`` (a headroom group), ``option`` (its name), ``added_kw`` [kW] (headroom it adds)
            and ``cost_usd`` [USD] (paid from the budget in the year it is built); at most one option per
            group, kept once built. The chosen ones are in :attr:`reinforcement`. An open site pays the cost of the
            band of its installed power (chargers x power, existing ones included) on top of
            its ``fixed_cost_usd``; the band may rise in a later year, paying the difference.
            A candidate column ``connection_kw`` [kW] gives the connection a site has already
            (its band and the lower ones are paid); so has a site with existing chargers, up to
            their power. Default: no connection cost (``fixed_cost_usd`` alone).
        """
        t0 = time.perf_counter()
        _check_columns(demand, "demand", ["segment", "energy_kwh_day"])
        _check_columns(candidates, "candidates", ["max_chargers", "fixed_cost_usd"])
        _check_columns(charger_types, "charger_types", ["power_kw", "capex_usd", "segments", "service_hours_day"])
        _check_columns(travel, "travel", ["demand_id", "site_id", "travel_time_s"])
        if not budget_usd > 0:
            raise DataError(f"budget_usd = {budget_usd}: the budget must be positive")
        energy = demand["energy_kwh_day"].to_numpy(dtype=float)
        if not np.isfinite(energy).all() or (energy < 0).any():
            raise DataError("demand energy_kwh_day has negative or missing values; fix those rows")
        for name, share in (("equity_floor", equity_floor), ("min_served_share", min_served_share)):
            if share is not None and not 0 <= share <= 1:
                raise DataError(f"{name} = {share}: give a share between 0 and 1")
        if equity_floor is not None and equity_column not in demand.columns:
            raise DataError(f"equity_floor needs the demand column {equity_column!r} naming each row's group; add it")

        demand = demand[demand["energy_kwh_day"] > 0]
        if "year" in demand.columns and len(demand):
            years = sorted(int(y) for y in demand["year"].unique())
            year_of_row = demand["year"].astype(int).to_numpy()
        else:
            years = [0]
            year_of_row = np.zeros(len(demand), dtype=int)
        k_of_year = {y: k for k, y in enumerate(years)}
        n_years = len(years)
        dem_k = np.array([k_of_year[y] for y in year_of_row], dtype=np.int64) if len(demand) else np.zeros(0, np.int64)
        budgets = _year_budgets(years, budget_usd, budget_by_year_usd)

        n_dem, n_site, n_type = len(demand), len(candidates), len(charger_types)
        types = list(charger_types.index)

        # allowed (site, type) pairs -> charger columns
        allowed = np.ones((n_site, n_type), dtype=bool)
        if "allowed_types" in candidates.columns:
            for k, t in enumerate(types):
                allowed[:, k] = candidates["allowed_types"].map(lambda a, t=t: a is None or t in a).to_numpy()
        existing = _existing_matrix(candidates, types)
        allowed |= existing > 0
        c_site, c_type = np.nonzero(allowed)
        n_pairs = len(c_site)
        col_of = -np.ones((n_site, n_type), dtype=np.int64)
        col_of[c_site, c_type] = np.arange(n_pairs)

        excluded = np.zeros(n_site, dtype=bool)
        if "excluded_reason" in candidates.columns:
            excluded = candidates["excluded_reason"].fillna("").astype(str).ne("").to_numpy()
        has_existing = existing.sum(axis=1) > 0
        max_ch = candidates["max_chargers"].to_numpy(dtype=float)
        over = np.flatnonzero(existing.sum(axis=1) > max_ch)
        if len(over):
            j = over[0]
            raise InfeasibleError(
                f"site {candidates.index[j]}: {int(existing[j].sum())} existing chargers exceed its maximum of "
                f"{max_ch[j]:g}; raise max_chargers there (siting.max_chargers_per_site)"
            )

        usable_site = ~excluded | has_existing
        # assignment pairs within reach (nearest first per demand row) and the x columns
        pairs, x_dem, x_site, x_type, x_time = assignment_pairs(
            demand, candidates, charger_types, travel, allowed, usable_site, max_ch, max_sites_per_demand
        )
        n_x = len(x_dem)

        d = demand["energy_kwh_day"].to_numpy(dtype=float)
        power = charger_types["power_kw"].to_numpy(dtype=float)
        cap = power * charger_types["service_hours_day"].to_numpy(dtype=float)
        capex = charger_types["capex_usd"].to_numpy(dtype=float)
        fixed = candidates["fixed_cost_usd"].to_numpy(dtype=float)
        band = _site_bands(site_cost_bands, candidates, allowed, existing, power, max_ch, has_existing, fixed)
        fixed_eff = band.level_cost[:, 0]  # opening a site: its fixed cost and the lowest band not yet paid
        if reinforcements is not None and len(reinforcements):
            if headroom is None:
                raise DataError("reinforcements need headroom: an option adds kW to a group's headroom")
            _check_columns(reinforcements, "reinforcements", ["group_id", "option", "added_kw", "cost_usd"])
            reinforcements = reinforcements.reset_index(drop=True)
            vals = reinforcements[["added_kw", "cost_usd"]].to_numpy(float)
            if not np.isfinite(vals).all() or (vals < 0).any():
                raise DataError("reinforcements: added_kw and cost_usd must be finite and >= 0")
        else:
            reinforcements = None
        r_cost = reinforcements["cost_usd"].to_numpy(float) if reinforcements is not None else None
        cols = Columns(
            n_years=n_years, n_site=n_site, n_pairs=n_pairs, n_up=len(band.up_site), c_site=c_site, c_type=c_type,
            x_dem=x_dem, x_site=x_site, x_type=x_type, pair_x=col_of[x_site, x_type], k_x=dem_k[x_dem],
            n_r=len(reinforcements) if reinforcements is not None else 0,
        )

        ex_cols = existing[c_site, c_type].astype(float)
        existing_cost = float(ex_cols @ capex[c_type])
        total = float(d.sum())
        if total > 0 and not has_existing.any():
            cause = _nothing_to_build(candidates, types, excluded, n_x, band.open_cost(c_site, power[c_type]) + capex[c_type],
                                      usable_site[c_site], budgets, carry_over)
            if cause:
                raise InfeasibleError(cause)
        eps = 1e-4 * max(total, 1.0) / (float(sum(budgets.values())) * n_years)

        # the model, block by block
        c = define_objective(cols, d, eps, fixed_eff, capex, band, r_cost)
        R = Rows()
        labels: dict[str, tuple[int, int, list[str]]] = {}
        define_assignment_rows(R, cols, n_dem)
        define_capacity_rows(R, cols, d, cap)
        define_installed_rows(R, cols)
        define_site_max_rows(R, cols, max_ch)
        define_rollout_rows(R, cols)
        define_band_rows(R, cols, band, power, max_ch)
        budget_rows = define_budget_rows(R, cols, years, budgets, carry_over, fixed_eff, capex, band, existing_cost,
                                         r_cost)
        if equity_floor:
            labels["equity"] = define_equity_rows(R, cols, demand, equity_column, equity_floor, d, dem_k, years)
        if min_served_share:
            labels["target"] = define_target_rows(R, cols, demand, min_served_share, d, dem_k, years)
        if headroom is not None:
            labels["headroom"] = define_headroom_rows(R, cols, headroom, site_groups, candidates, years, power,
                                                      headroom_coincidence, existing, reinforcements)
        if reinforcements is not None:
            define_reinforcement_rows(R, cols, reinforcements)
        col_lower, col_upper, integer = define_column_bounds(cols, max_ch, ex_cols, has_existing, excluded, band)

        a = sp.coo_matrix(
            (np.concatenate(R.vals), (np.concatenate(R.rows), np.concatenate(R.cols))), shape=(R.n, cols.n_var)
        ).tocsc()
        model = MatrixModel(
            c=c, a=a, row_lower=np.concatenate(R.lo), row_upper=np.concatenate(R.hi),
            col_lower=col_lower, col_upper=col_upper, integer=integer, maximize=True,
        )
        index = {
            "types": types, "n_site_idx": c_site, "n_type_idx": c_type, "x_dem": x_dem, "x_site": x_site,
            "x_type": x_type, "x_time": x_time, "cols": (cols.y0, cols.n0, cols.x0), "u0": cols.u0, "band": band,
            "eps": eps, "dem_k": dem_k,
            "existing": existing, "labels": labels, "budget_rows": budget_rows, "n_years": n_years,
            "equity_floor": equity_floor, "min_served_share": min_served_share,
            "budgets": [budgets[y] for y in years], "carry_over": carry_over, "fixed_eff": fixed_eff,
            "max_ch": max_ch, "cap": cap, "capex": capex, "pair_x": cols.pair_x,
            "r0": cols.r0, "reinforcements": reinforcements,
        }
        build = time.perf_counter() - t0
        log.info("capacitated siting model: %d years, %d rows x %d columns (%d integer) built in %.2f s",
                 n_years, R.n, cols.n_var, cols.x0, build)
        return cls(
            demand=demand, candidates=candidates, charger_types=charger_types, pairs=pairs,
            budget_usd=float(budget_usd), model=model, index=index, build_time_s=build, years=years,
            budget_by_year_usd=budgets,
        )
