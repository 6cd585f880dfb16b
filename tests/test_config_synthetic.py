"""[data] keys of a synthetic city: width_m, height_m, population, poi_counts."""

from __future__ import annotations

import pytest

from charge_planner.config import load_config, parse_config
from charge_planner.errors import ConfigError
from tests.conftest import DEMO_DIR

BASE = {"city": {"name": "X", "country": "india"}, "siting": {"budget_usd": 1000}}


def _data(**fields):
    return {**BASE, "data": {"source": "synthetic", **fields}}


def test_metro_keys_validate():
    cfg = parse_config(_data(width_m=30_000, height_m=30_000, population=7_500_000))
    assert cfg.data.synthetic_size_m == (30_000, 30_000)
    assert cfg.data.population == 7_500_000
    assert cfg.data.synthetic_poi_counts == "densities"
    assert parse_config(_data(width_m=12_000, poi_counts="legacy")).data.synthetic_poi_counts == "legacy"


def test_demo_keeps_its_size_and_legacy_counts():
    demo = load_config(DEMO_DIR)
    assert demo.data.synthetic_size_m == (9_000, 7_000)
    assert demo.data.population is None
    assert demo.data.synthetic_poi_counts == "legacy"


BAD = {
    "width_small": (_data(width_m=1_000), "data.width_m", "1000"),
    "height_large": (_data(height_m=100_000), "data.height_m", "100000"),
    "width_inf": (_data(width_m=float("inf")), "data.width_m", "inf"),
    "elongated": (_data(width_m=30_000, height_m=10_000), "data.width_m / data.height_m", "outside 0.5-2"),
    "population_tiny": (_data(population=10), "data.population", "10"),
    "population_huge": (_data(population=9e8), "data.population", "900000000"),
    "population_too_dense": (_data(width_m=3_000, height_m=3_000, population=40_000_000), "data.population",
                             "persons/km2"),
    "population_too_sparse": (_data(width_m=60_000, height_m=60_000, population=10_000), "data.population",
                              "persons/km2"),
    "poi_counts_unknown": (_data(poi_counts="many"), "data.poi_counts", "'many'"),
    "width_with_files": ({**BASE, "data": {"source": "files", "roads": "r.osm", "population_total": 1e5,
                                           "width_m": 20_000}}, "data", "ignores data.width_m (read with source "
                                                                        "'synthetic')"),
    "population_with_online": ({**BASE, "data": {"source": "online", "place": "Hanoi", "population_total": 1e5,
                                                 "population": 1e6}}, "data", "ignores data.population"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_synthetic_keys_refused_in_one_line(case):
    data, field, shown = BAD[case]
    with pytest.raises(ConfigError) as err:
        parse_config(data, source="c/city.toml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("c/city.toml: ")
    assert field in msg, msg
    assert shown in msg, msg
