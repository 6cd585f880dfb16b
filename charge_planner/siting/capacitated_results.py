"""Result extraction of the capacitated siting model: from a solution vector, the tables of the
final rollout year (``sites``, ``assignments``, ``served_by_segment``) and of every year
(``rollout``, ``served_by_year``, ``assignments_all``) and the JSON-serialisable
:meth:`~charge_planner.siting.capacitated.CapacitatedSiting.summary`. They are defined on the
mixin :class:`CapacitatedResults` that :class:`~charge_planner.siting.capacitated.CapacitatedSiting`
inherits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from charge_planner.errors import InfeasibleError
from charge_planner.siting.bands import SiteBands

if TYPE_CHECKING:
    from charge_planner.siting.capacitated import CapacitatedSiting


class CapacitatedResults:
    """The result tables and summary of :class:`~charge_planner.siting.capacitated.CapacitatedSiting` (a mixin)."""

    def _read_back(self: CapacitatedSiting, x: np.ndarray) -> None:  # type: ignore[misc]  # a mixin of it
        ix = self.index
        y0, n0, x0 = ix["cols"]
        types = ix["types"]
        n_years = ix["n_years"]
        cand = self.candidates
        n_site, n_type = len(cand), len(types)
        c_site, c_type = ix["n_site_idx"], ix["n_type_idx"]
        y = np.round(x[y0:n0]).astype(int).reshape(n_site, n_years)
        nv = np.round(x[n0:x0]).astype(int).reshape(len(c_site), n_years)
        xv = np.clip(x[x0:x0 + len(ix["x_dem"])], 0.0, 1.0)
        d = self.demand["energy_kwh_day"].to_numpy(dtype=float)
        dem_k = ix["dem_k"]
        power = self.charger_types["power_kw"].to_numpy(dtype=float)
        capex = self.charger_types["capex_usd"].to_numpy(dtype=float)
        cap = power * self.charger_types["service_hours_day"].to_numpy(dtype=float)
        band: SiteBands = ix["band"]
        existing = ix["existing"]

        counts = np.zeros((n_years, n_site, n_type), dtype=int)
        for k in range(n_years):
            counts[k, c_site, c_type] = nv[:, k]
        opened = (y > 0) | (counts.sum(axis=2).T > 0)  # n_site x K
        served = d[ix["x_dem"]] * xv
        x_k = dem_k[ix["x_dem"]]

        # spend per site and year: new chargers + the site's fixed cost and connection band in the
        # opening year + the step to a higher band in the year the installed power needs it
        prev = np.concatenate([existing[None], counts[:-1]], axis=0)
        new = np.maximum(counts - prev, 0)
        first_open = np.where(opened.any(axis=1), np.argmax(opened, axis=1), -1)
        charger_spend = new @ capex  # K x n_site
        lv = self._levels(x)  # n_site x K
        site_cost = np.where(lv >= 0, band.level_cost[np.arange(n_site)[:, None], np.maximum(lv, 0)], 0.0).T  # K x n_site
        conn_spend = np.diff(site_cost, axis=0, prepend=0.0)
        spend = charger_spend + conn_spend

        rows = []
        for k, year in enumerate(self.years):
            sk = x_k == k
            served_site = np.bincount(ix["x_site"][sk], weights=served[sk], minlength=n_site)
            on = np.flatnonzero(opened[:, k])
            block = pd.DataFrame({"site_id": cand.index.to_numpy()[on], "year": year})
            for t_i, t in enumerate(types):
                block[f"chargers_{t}"] = counts[k, on, t_i]
            block["new_chargers"] = new[k, on].sum(axis=1)
            block["power_kw"] = counts[k, on] @ power
            block["served_kwh_day"] = served_site[on]
            block["capex_usd"] = spend[k, on]
            block["connection_band"] = np.asarray(band.labels, dtype=object)[lv[on, k]]
            rows.append(block)
        self.rollout = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

        last = n_years - 1
        s_last = x_k == last
        served_site = np.bincount(ix["x_site"][s_last], weights=served[s_last], minlength=n_site)
        cap_site = counts[last] @ cap
        sites = pd.DataFrame(index=cand.index)
        sites["open"] = opened[:, last]
        for t_i, t in enumerate(types):
            sites[f"chargers_{t}"] = counts[last, :, t_i]
        sites["power_kw"] = counts[last] @ power
        sites["served_kwh_day"] = served_site
        sites["capex_usd"] = spend.sum(axis=0)
        sites["charger_capex_usd"] = charger_spend.sum(axis=0)
        sites["connection_cost_usd"] = conn_spend.sum(axis=0)
        sites["connection_band"] = np.asarray(band.labels, dtype=object)[np.maximum(lv[:, last], 0)]
        sites["utilisation"] = np.divide(served_site, cap_site, out=np.zeros(n_site), where=cap_site > 0)
        sites["year_opened"] = [self.years[k] if k >= 0 else -1 for k in first_open]
        sites["existing_chargers"] = existing.sum(axis=1)
        self.sites = sites[sites["open"]].drop(columns="open")

        keep = served > 1e-9
        asg = pd.DataFrame({
            "demand_id": self.demand.index.to_numpy()[ix["x_dem"][keep]],
            "site_id": cand.index.to_numpy()[ix["x_site"][keep]],
            "charger_type": np.asarray(types, dtype=object)[ix["x_type"][keep]],
            "year": np.asarray(self.years)[x_k[keep]],
            "share": xv[keep],
            "served_kwh_day": served[keep],
            "travel_time_s": ix["x_time"][keep],
        })
        self.assignments_all = asg
        self.assignments = asg[asg["year"] == self.years[last]].reset_index(drop=True)

        served_dem = np.bincount(ix["x_dem"], weights=served, minlength=len(d))
        reachable = np.zeros(len(d), dtype=bool)
        reachable[ix["x_dem"]] = True
        last_rows = dem_k == last
        tab = pd.DataFrame({"segment": self.demand["segment"].to_numpy()[last_rows], "demand_kwh_day": d[last_rows],
                            "served_kwh_day": served_dem[last_rows],
                            "reachable_kwh_day": np.where(reachable, d, 0.0)[last_rows]})
        by = tab.groupby("segment").sum()
        by["served_share"] = by["served_kwh_day"] / by["demand_kwh_day"].where(by["demand_kwh_day"] > 0)
        by["reachable_share"] = by["reachable_kwh_day"] / by["demand_kwh_day"].where(by["demand_kwh_day"] > 0)
        self.served_by_segment = by

        dem_year = np.bincount(dem_k, weights=d, minlength=n_years)
        srv_year = np.bincount(x_k, weights=served, minlength=n_years)
        self.served_by_year = pd.DataFrame(
            {
                "demand_kwh_day": dem_year,
                "served_kwh_day": srv_year,
                "served_share": np.divide(srv_year, dem_year, out=np.zeros(n_years), where=dem_year > 0),
                "capex_usd": spend.sum(axis=1),
                "budget_usd": [self.budget_by_year_usd[yr] for yr in self.years],
                "sites_open": opened.sum(axis=0),
                "chargers": counts.sum(axis=(1, 2)),
            },
            index=pd.Index(self.years, name="year"),
        )
        # grid reinforcement options built, with the year each is first built
        opts = ix.get("reinforcements")
        r_spend = np.zeros(n_years)
        if opts is not None and len(opts):
            r0 = ix["r0"]
            r = np.round(x[r0:r0 + len(opts) * n_years]).astype(int).reshape(len(opts), n_years)
            built = r[:, last] > 0
            first = np.argmax(r > 0, axis=1)
            chosen = opts.loc[built].copy()
            chosen["year"] = np.asarray(self.years)[first[built]]
            self.reinforcement = chosen.reset_index(drop=True)
            newly = np.diff(r, axis=1, prepend=0) > 0
            r_spend = (newly * opts["cost_usd"].to_numpy(float)[:, None]).sum(axis=0)
        else:
            self.reinforcement = pd.DataFrame(columns=["group_id", "option", "added_kw", "cost_usd", "year"])
        self.served_by_year["reinforcement_usd"] = r_spend
        on_last = lv[:, last] >= 0
        self.meta = {
            "reinforcement_usd": float(r_spend.sum()),
            "reinforcements": int(len(self.reinforcement)),
            "served_kwh_day": float(srv_year[last]),
            "demand_kwh_day": float(dem_year[last]),
            "capex_usd": float(spend.sum()),
            "charger_capex_usd": float(charger_spend.sum()),
            "connection_cost_usd": float(conn_spend.sum()),
            "sites_by_connection_band": {lab: int((lv[on_last, last] == b).sum()) for b, lab in enumerate(band.labels)},
            "sites_open": int(len(self.sites)),
            "years": [int(yr) for yr in self.years],
        }

    def summary(self: CapacitatedSiting) -> dict[str, Any]:  # type: ignore[misc]  # a mixin of it
        """Solver status and key figures, JSON-serialisable."""
        if self.result is None:
            raise InfeasibleError("the model has not been solved; call solve() first")
        res = self.result
        if self.model is not None:
            rows, cols = self.model.shape
            n_int = int(self.model.integer.sum())
        else:  # a compact copy (see CapacitatedSiting.compact)
            rows, cols, n_int = self.model_size or (0, 0, 0)

        out = {
            "model": "capacitated_multi_type_coverage",
            **res.report(),
            "build_time_s": round(self.build_time_s, 3),
            "rows": rows,
            "columns": cols,
            "integer_columns": n_int,
            **self.meta,
        }
        if self.served_by_year is not None and len(self.years) > 1:
            out["by_year"] = {
                str(y): {k: (round(float(v), 4) if isinstance(v, float | np.floating) else int(v)) for k, v in r.items()}
                for y, r in self.served_by_year.iterrows()
            }
        return out
