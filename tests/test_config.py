from __future__ import annotations

import pytest

from charge_planner.config import find_config, load_config, parse_config, resolve_data_path
from charge_planner.errors import ConfigError
from tests.conftest import BENGALURU_DIR, DEMO_DIR

MINIMAL = {"city": {"name": "X", "country": "india"}, "siting": {"budget_usd": 1000}}


def test_sample_configs_are_valid():
    demo = load_config(DEMO_DIR)
    assert demo.data.source == "synthetic"
    assert demo.grid.source == "synthesise"
    blr = load_config(BENGALURU_DIR)
    assert blr.data.roads and blr.data.roads.endswith(".graphml")


def test_every_invalid_field_reported_at_once():
    bad = {
        "city": {"name": "X", "country": "mars", "crs": "EPSG:4326"},
        "siting": {"budget_usd": -5, "colour": "red"},
        "grid": {"source": "ouija"},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(bad, source="x/city.toml")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("x/city.toml: 5 invalid field(s)")
    for path in ("city.country", "city.crs", "siting.budget_usd", "siting.colour", "grid.source"):
        assert path in msg
    assert "unknown field" in msg and "geographic" in msg


def test_missing_required_and_dependent_fields():
    with pytest.raises(ConfigError, match="siting: required field is missing"):
        parse_config({"city": {"name": "X", "country": "in"}})
    with pytest.raises(ConfigError, match="needs grid.code"):
        parse_config({**MINIMAL, "grid": {"source": "simbench"}})
    with pytest.raises(ConfigError, match="data.roads is not set"):
        parse_config({**MINIMAL, "data": {"source": "files", "population_total": 10}})
    with pytest.raises(ConfigError, match="target_year 2020 is before base_year 2024"):
        parse_config({**MINIMAL, "fleet": {"base_year": 2024, "target_year": 2020}})
    with pytest.raises(ConfigError, match="no charger type serves"):
        parse_config({**MINIMAL, "charger_types": [{"name": "ac", "power_kw": 3.3, "capex_usd": 100, "segments": ["car"]}]})


def test_malformed_toml_and_missing_file(tmp_path):
    (tmp_path / "city.toml").write_text("[city\nname = 'x'\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        find_config(tmp_path / "nowhere")


def test_config_hash_is_stable_and_sensitive():
    a = parse_config(MINIMAL)
    b = parse_config(MINIMAL)
    c = parse_config({**MINIMAL, "siting": {"budget_usd": 2000}})
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_resolve_data_path_order(tmp_path, monkeypatch):
    city = tmp_path / "city"
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    city.mkdir()
    (root / "sub" / "a.osm").write_text("x")
    assert resolve_data_path("sub/a.osm", city_dir=city, root=root, field="data.osm") == root / "sub" / "a.osm"
    (city / "sub").mkdir()
    (city / "sub" / "a.osm").write_text("y")
    assert resolve_data_path("sub/a.osm", city_dir=city, root=root, field="data.osm") == city / "sub" / "a.osm"
    with pytest.raises(ConfigError, match="data.roads: file 'b.graphml' not found.*--data-root"):
        resolve_data_path("b.graphml", city_dir=city, root=None, field="data.roads")
