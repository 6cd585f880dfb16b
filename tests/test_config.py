from __future__ import annotations

import math

import pytest
from pydantic import BaseModel

from charge_planner.config import (
    POI_KINDS,
    ChargerTypeConfig,
    CitySection,
    DataSection,
    DemandSection,
    FleetSection,
    GridSection,
    OutputsSection,
    SegmentOverride,
    SitingSection,
    find_config,
    load_config,
    parse_config,
    resolve_data_path,
    validate_bundle,
)
from charge_planner.errors import ConfigError
from charge_planner.presets import SEGMENTS
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


# --- every input that `run` would reject late is rejected by validation --------------------------------------
_CT = {"name": "ac", "power_kw": 7.4, "capex_usd": 1500, "segments": list(SEGMENTS)}


def _with(section: str, **fields):
    """MINIMAL with fields set in one section (dotted section names for nested tables)."""
    data = {k: dict(v) for k, v in MINIMAL.items()}
    head, *rest = section.split(".")
    table = data.setdefault(head, {})
    for part in rest:
        table = table.setdefault(part, {})
    table.update(fields)
    return data


BAD_INPUTS = {
    # value that run rejected late (traceback or a late error) or used silently
    "design_day_feb30": (_with("grid", design_day="02-30"), "grid.design_day", "'02-30'"),
    "design_day_feb29": (_with("grid", design_day="02-29"), "grid.design_day", "'02-29'"),
    "design_day_not_mmdd": (_with("grid", design_day="5-15"), "grid.design_day", "'5-15' is not MM-DD"),
    "design_day_month13": (_with("grid", design_day="13-01"), "grid.design_day", "'13-01'"),
    "seed_negative": (_with("data", source="synthetic", seed=-1), "data.seed", "got -1"),
    "cutoff_inf": (_with("fleet.overrides.car", cutoff_min=math.inf), "fleet.overrides.car.cutoff_min", "inf"),
    "cutoff_huge": (_with("fleet.overrides.car", cutoff_min=1e6), "fleet.overrides.car.cutoff_min", "1000000.0"),
    "kwh_per_session_nan": (_with("fleet.overrides.bus", kwh_per_session=math.nan),
                            "fleet.overrides.bus.kwh_per_session", "nan"),
    "segment_modes_unknown": (_with("data", source="synthetic", segment_modes={"scooter": "two_wheeler"}),
                              "data.segment_modes", "scooter"),
    "segment_modes_unplanned": ({**_with("data", source="synthetic", segment_modes={"bus": "car"}),
                                 "fleet": {"segments": ["car"]}}, "data.segment_modes", "bus"),
    "tiles_url_no_attribution": (_with("outputs", map_tiles="https://tiles.example.org/{z}/{x}/{y}.png"),
                                 "outputs.map_attribution", "tiles.example.org"),
    "tiles_unknown_name": (_with("outputs", map_tiles="nonsense tiles"), "outputs.map_tiles", "nonsense tiles"),
    "tiles_need_api_key": (_with("outputs", map_tiles="Thunderforest.OpenCycleMap"), "outputs.map_tiles", "API key"),
    "attribution_without_tiles": (_with("outputs", map_attribution="me"), "outputs.map_attribution", "custom"),
    "year_string": (_with("fleet", year="2030"), "fleet.year", "'2030'"),
    "max_chargers_bool": (_with("siting", max_chargers_per_site=True), "siting.max_chargers_per_site", "true"),
    "float_for_int": (_with("siting", max_sites_per_demand=10.0), "siting.max_sites_per_demand", "10.0"),
    "bool_string": (_with("grid", hosting_capacity="yes"), "grid.hosting_capacity", "'yes'"),
    "offpeak_strings": (_with("demand", offpeak_hours=["22", "6"]), "demand.offpeak_hours.0", "'22'"),
    "charger_never_sited": ({**MINIMAL, "charger_types": [{**_CT, "use_cases": ["home"]}]}, "charger_types",
                            "serve none of demand.sited_use_cases"),
    "sales_share_at_ceiling": (_with("fleet", sales_share_ceiling=0.25), "fleet.overrides.car.ev_sales_share_target",
                               "0.3 (preset) is not below fleet.sales_share_ceiling 0.25"),
    "sales_share_zero": (_with("fleet.overrides.bus", ev_sales_share_base=0.0),
                         "fleet.overrides.bus.ev_sales_share_base", "is 0;"),
    "raster_weights_without_raster": (_with("demand", residential_weights="raster"), "data.population_raster",
                                      "'raster'"),
    "building_weights_without_total": (_with("demand", residential_weights="buildings"), "data.population_total",
                                       "'buildings'"),
    "no_energy_at_all": ({**MINIMAL, "fleet": {"segments": ["car", "bus"], "overrides": {
        "car": {"km_per_day": 0.0}, "bus": {"vehicles_per_1000": 0.0}}}}, "fleet.overrides",
        "car (km_per_day), bus (vehicles_per_1000) are 0"),
    "place_with_files": (_with("data", source="files", roads="r.osm", population_total=1e5, place="Hanoi"), "data",
                         "ignores data.place (read with source 'online')"),
    "nodes_with_osm_roads": (_with("data", source="files", roads="r.osm", population_total=1e5, roads_nodes="n.parquet"),
                             "data", "ignores data.roads_nodes (read with a GeoParquet data.roads)"),
    "roads_with_synthetic": (_with("data", source="synthetic", roads="r.osm"), "data",
                             "ignores data.roads (read with source 'files')"),
    "raster_and_total": (_with("data", source="files", roads="r.osm", population_raster="p.tif", population_total=1e5),
                         "data", "are both set, but only one is used"),
    "nothing_sited": (_with("fleet", overrides={s: {"share_home": 1.0, "share_depot": 0.0, "share_public_ac": 0.0,
                                                    "share_public_dc": 0.0, "share_swapping": 0.0}
                                                for s in SEGMENTS}),
                      "demand.sited_use_cases", "so there is no demand to site"),
    "sited_home_without_home_charger": (_with("demand", sited_use_cases=["home"]), "demand.sited_use_cases",
                                        "two_wheeler home, three_wheeler home, car home"),
    "power_inf": ({**MINIMAL, "charger_types": [{**_CT, "power_kw": math.inf}]}, "charger_types.0.power_kw", "inf"),
    "service_minutes": ({**MINIMAL, "charger_types": [{**_CT, "service_hours_day": 0.25}]},
                        "charger_types.0.service_hours_day", "0.25"),
    "power_absurd": ({**MINIMAL, "charger_types": [{**_CT, "power_kw": 1e9}]}, "charger_types.0.power_kw", "1000000000.0"),
    "budget_inf": (_with("siting", budget_usd=math.inf), "siting.budget_usd", "inf"),
    "budget_nan": (_with("siting", budget_usd=math.nan), "siting.budget_usd", "nan"),
    "year_budget_inf": (_with("siting", rollout_years=[2030], year_budgets_usd=[math.inf]),
                        "siting.year_budgets_usd.0", "inf"),
    "year_budgets_exceed_budget": (_with("siting", budget_usd=1.5e6, rollout_years=[2028, 2030],
                                         year_budgets_usd=[5e6, 5e6]), "siting.year_budgets_usd", "10,000,000"),
    "spacing_inf": (_with("siting", min_site_spacing_m=math.inf), "siting.min_site_spacing_m", "inf"),
    "spacing_not_applied": (_with("siting", min_site_spacing_m=500.0), "siting.min_site_spacing_m",
                            "does not apply a minimum spacing"),
    "time_limit_inf": (_with("siting", time_limit_s=math.inf), "siting.time_limit_s", "inf"),
    "time_limit_huge": (_with("siting", time_limit_s=1e9), "siting.time_limit_s", "1000000000.0"),
    "substation_tiny": (_with("grid", max_substation_mva=1e-6), "grid.max_substation_mva", "1e-06 MVA"),
    "substation_huge": (_with("grid", max_substation_mva=1e5), "grid.max_substation_mva", "100000 MVA"),
    "population_absurd": (_with("data", source="files", roads="r.osm", population_total=1e15),
                          "data.population_total", "1,000,000,000,000,000"),
    "population_zero": (_with("data", source="files", roads="r.osm", population_total=0), "data.population_total",
                        "got 0"),
    "years_repeated": (_with("fleet", years=[2030, 2030]), "fleet.years", "[2030, 2030]"),
    "years_unsorted": (_with("fleet", years=[2030, 2027]), "fleet.years", "[2030, 2027]"),
    "segments_repeated": (_with("fleet", segments=["car", "car"]), "fleet.segments", "twice"),
    "override_unplanned_segment": ({**_with("fleet.overrides.bus", km_per_day=100.0), "fleet": {
        "segments": ["car"], "overrides": {"bus": {"km_per_day": 100.0}}}}, "fleet.overrides", "bus"),
    "km_per_day_absurd": (_with("fleet.overrides.car", km_per_day=1e12), "fleet.overrides.car.km_per_day", "1000000000000.0"),
    "sited_repeated": (_with("demand", sited_use_cases=["public_ac", "public_ac"]), "demand.sited_use_cases", "twice"),
    "poi_kind_unknown": (_with("demand", poi_weights={"spaceport": 5.0}), "demand.poi_weights", "spaceport"),
    "poi_weight_inf": (_with("demand", poi_weights={"mall": math.inf}), "demand.poi_weights.mall", "inf"),
    "h3_resolution_square": (_with("demand", h3_resolution=9), "demand.h3_resolution", "square"),
    "isochrones_empty": (_with("outputs", isochrones=True, isochrone_minutes=[]), "outputs.isochrone_minutes",
                         "empty"),
    "isochrone_inf": (_with("outputs", isochrone_minutes=[math.inf]), "outputs.isochrone_minutes.0", "inf"),
    "crs_in_feet": (_with("city", crs="EPSG:2263"), "city.crs", "not metres"),
    "name_blank": (_with("city", name="   "), "city.name", "blank"),
    "name_line_break": (_with("city", name="Pune\nerror: fake"), "city.name", "line break"),
    "grid_path_ignored": (_with("grid", path="net.json"), "grid.path", "synthesise"),
    "bbox_inf": (_with("city", study_area_bbox=[77.5, 12.9, math.inf, 13.0]), "city.study_area_bbox.2", "inf"),
    "bbox_west_east": (_with("city", study_area_bbox=[78.0, 12.9, 77.5, 13.0]), "city.study_area_bbox",
                       "[78.0, 12.9, 77.5, 13.0] must be [west, south, east, north]"),
    "bbox_south_north": (_with("city", study_area_bbox=[77.5, 13.0, 78.0, 13.0]), "city.study_area_bbox",
                         "west < east and south < north"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_refused_naming_field_and_value(case):
    data, field, shown = BAD_INPUTS[case]
    with pytest.raises(ConfigError) as err:
        parse_config(data, source="c/city.toml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("c/city.toml: ")
    assert field in msg, msg
    assert shown in msg, msg


def _float_fields(model: type[BaseModel], prefix: str):
    """(dotted path, inf value) of every float field of a model: plain, list, tuple and dict values."""
    for name, info in model.model_fields.items():
        text = str(info.annotation)
        if "float" not in text:
            continue
        path = f"{prefix}.{name}"
        if text.startswith(("list[", "typing.Optional[list[")) or "list[" in text.split("|")[0]:
            yield path + ".0", [math.inf]
        elif "tuple[" in text:
            yield path + ".0", [math.inf, 0.0, 1.0, 1.0]
        elif "dict[" in text:
            key = {"poi_share": "public_ac", "poi_weights": "mall"}[name]
            yield f"{path}.{key}", {key: math.inf}
        else:
            yield path, math.inf


def _every_float_field():
    sections = {"city": CitySection, "data": DataSection, "fleet": FleetSection, "demand": DemandSection,
                "siting": SitingSection,
                "grid": GridSection, "outputs": OutputsSection}
    for section, model in sections.items():
        for path, value in _float_fields(model, section):
            yield path, {section: {path.split(".")[1]: value}}
    for path, value in _float_fields(SegmentOverride, "fleet.overrides.car"):
        yield path, {"fleet": {"overrides": {"car": {path.split(".")[3]: value}}}}
    for path, value in _float_fields(ChargerTypeConfig, "charger_types.0"):
        yield path, {"charger_types": [{**_CT, path.split(".")[2]: value}]}


@pytest.mark.parametrize(("field", "extra"), list(_every_float_field()), ids=lambda v: v if isinstance(v, str) else "")
def test_inf_refused_in_every_float_field(field, extra):
    data = {**MINIMAL, **extra}
    data["siting"] = {**MINIMAL["siting"], **extra.get("siting", {})}
    data["city"] = {**MINIMAL["city"], **extra.get("city", {})}
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert f"{field}: got inf; give a finite number" in str(err.value)


def test_every_float_field_is_covered():
    # the walk above finds the float fields it should (a guard against a walk that finds nothing)
    fields = [f for f, _ in _every_float_field()]
    assert len(fields) >= 35
    for f in ("siting.budget_usd", "grid.max_substation_mva", "fleet.overrides.car.cutoff_min",
              "charger_types.0.power_kw", "outputs.isochrone_minutes.0", "demand.poi_weights.mall",
              "city.study_area_bbox.0", "siting.year_budgets_usd.0"):
        assert f in fields


def test_lenient_where_toml_cannot_say_more():
    # TOML integers where decimals are expected, TOML arrays where pairs and boxes are expected
    cfg = parse_config({**MINIMAL, "city": {**MINIMAL["city"], "study_area_bbox": [77, 12, 78, 13]},
                        "demand": {"offpeak_hours": [22, 6]},
                        "grid": {"design_day": "02-28", "max_substation_mva": 10, "pv_kwp_per_site": 0},
                        "data": {"source": "files", "roads": "r.osm", "population_total": 25_000_000}})
    assert cfg.demand.offpeak_hours == (22, 6) and cfg.city.study_area_bbox == (77.0, 12.0, 78.0, 13.0)
    assert cfg.siting.budget_usd == 1000.0 and isinstance(cfg.siting.budget_usd, float)
    assert cfg.grid.max_substation_mva == 10.0
    tiles = parse_config({**MINIMAL, "outputs": {"map_tiles": "https://t.example.org/{z}/{x}/{y}.png",
                                                  "map_attribution": "© Example"}})
    assert tiles.outputs.map_attribution == "© Example"
    for name in ("none", "OpenStreetMap", "OpenTopoMap", "Esri.WorldImagery"):
        assert parse_config({**MINIMAL, "outputs": {"map_tiles": name}}).outputs.map_tiles == name


def test_sample_bundles_still_validate():
    tomls = [*sorted((DEMO_DIR.parent).glob("*/city.toml")), DEMO_DIR.parents[1] / "charge_planner" / "demo_city.toml"]
    assert len(tomls) >= 6
    for path in tomls:
        assert load_config(path).city.name


def test_poi_kinds_match_the_readers():
    from charge_planner import osm, synthetic

    assert set(POI_KINDS) == set(osm.POI_KINDS) == set(synthetic.POI_KINDS)


def test_city_toml_with_byte_order_mark(tmp_path):
    (tmp_path / "city.toml").write_bytes(b"\xef\xbb\xbf" + (DEMO_DIR / "city.toml").read_bytes())
    assert load_config(tmp_path).city.name == "Demo City (synthetic)"


def test_validate_bundle_reports_every_missing_file(tmp_path):
    text = (BENGALURU_DIR / "city.toml").read_text().replace(
        "[siting]", "[siting]\nexclusion_zones = \"zones.gpkg\"")
    (tmp_path / "city.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        validate_bundle(tmp_path, data_dir=tmp_path / "empty")
    msg = str(err.value)
    assert "data.roads" in msg and "data.osm" in msg and "siting.exclusion_zones" in msg
    assert "\n" not in msg


def test_cli_validate_refuses_impossible_design_day(tmp_path):
    from typer.testing import CliRunner

    from charge_planner.cli import app

    text = (DEMO_DIR / "city.toml").read_text().replace("[grid]", '[grid]\ndesign_day = "02-30"')
    (tmp_path / "city.toml").write_text(text)
    res = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "grid.design_day" in lines[0]
    assert "Traceback" not in res.output


@pytest.mark.parametrize(("grid", "field"), [({"source": "simbench", "code": "nonsense"}, "grid.code"),
                                             ({"source": "pandapower_network", "name": "nonsense"}, "grid.name")])
def test_validate_bundle_refuses_unknown_grid_names(tmp_path, grid, field):
    text = (DEMO_DIR / "city.toml").read_text().split("[grid]")[0]
    text += "[grid]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in grid.items())
    (tmp_path / "city.toml").write_text(text)
    assert load_config(tmp_path).grid.source == grid["source"]  # a valid city.toml ...
    with pytest.raises(ConfigError, match=f"{field}: .*'nonsense'"):  # ... naming a grid that does not exist
        validate_bundle(tmp_path)
    ok = {"simbench": {"source": "simbench", "code": "1-MV-urban--0-sw"},
          "pandapower_network": {"source": "pandapower_network", "name": "mv_oberrhein"}}[grid["source"]]
    (tmp_path / "city.toml").write_text(text.split("[grid]")[0] + "[grid]\n" + "".join(
        f"{k} = {v!r}\n".replace("'", '"') for k, v in ok.items()))
    assert validate_bundle(tmp_path).grid.source == grid["source"]


def test_city_toml_that_is_a_folder_and_a_data_root_that_is_a_file_are_named(tmp_path, monkeypatch):
    from charge_planner.config import data_root, find_config

    (tmp_path / "city" / "city.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"city.toml is a folder, not a file"):
        find_config(tmp_path / "city")
    note = tmp_path / "README.md"
    note.write_text("x")
    with pytest.raises(ConfigError, match=r"^--data-root .*README.md is a file, not a folder"):
        data_root(note)
    monkeypatch.setenv("CHARGE_PLANNER_DATA", str(note))
    with pytest.raises(ConfigError, match=r"^\$CHARGE_PLANNER_DATA .*README.md is a file, not a folder"):
        data_root()
    assert data_root(tmp_path) == tmp_path


@pytest.mark.parametrize(
    ("section", "key", "value", "says"),
    [
        ("grid", "ev_strategy", "managed_offpeak",
         "grid.ev_strategy was merged into demand.charging_strategy; move the value there"),
        ("grid", "peak_hour", 20, "grid.peak_hour was never used and is removed: the peak checked is the worst hour"),
        ("siting", "cell_size_m", 400, "siting.cell_size_m moved to demand.cell_size_m; move the line to [demand]"),
        ("data", "bbox", [77.5, 12.9, 77.6, 13.0], "data.bbox moved to city.study_area_bbox"),
        ("demand", "study_area_bbox", [77.5, 12.9, 77.6, 13.0], "demand.study_area_bbox moved to city.study_area_bbox"),
    ],
)
def test_retired_keys_are_refused_naming_what_replaces_them(section, key, value, says):
    data = {**MINIMAL, section: {**MINIMAL.get(section, {}), key: value}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, source="c/city.toml")
    text = str(err.value)
    assert says in text and "\n" not in text
    assert "unknown field" not in text


def test_cell_size_is_a_demand_setting():
    cfg = parse_config({**MINIMAL, "demand": {"cell_size_m": 250}})
    assert cfg.demand.cell_size_m == 250.0
    assert parse_config(MINIMAL).demand.cell_size_m == 400.0
