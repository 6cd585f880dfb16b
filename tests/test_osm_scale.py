"""A whole synthetic metro as an OSM PBF: the writer round-trips to the synthetic road graph, and
the streaming reader's memory follows the roads it keeps, not the size of the file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import osmium
import pytest
import shapely
from pyproj import Geod, Transformer
from scipy.spatial import cKDTree

from charge_planner.city import load_city
from charge_planner.errors import DataError
from charge_planner.network import prepare_graph
from charge_planner.osm import read as osm_read
from charge_planner.osm import read_osm
from charge_planner.synthetic import generate_city
from charge_planner.synthetic.osm_export import write_osm
from tests.conftest import shared

# --------------------------------------------------------------------------- round trip


@pytest.fixture(scope="module")
def small_city():
    return generate_city(width_m=5000.0, height_m=5000.0)


@pytest.mark.parametrize(
    ("name", "id_set_budget"),
    [("city.osm.pbf", None), ("city.osm", None), ("city.osm.pbf", 0)],
    ids=["pbf", "xml", "pbf-node-index"],
)
def test_written_city_reads_back_to_the_synthetic_graph(small_city, tmp_path, name, id_set_budget):
    """Every directed street of the synthetic graph comes back with its class, its direction and its
    length, whether pass 3 selects nodes by
    an id set or indexes every node (budget 0, the route real OSM ids take)."""
    city = small_city
    path = write_osm(city, tmp_path / name)
    layers = read_osm(path) if id_set_budget is None else read_osm(path, id_set_budget_bytes=id_set_budget)
    got = layers.roads

    # match the read nodes to the synthetic nodes by position, independently of the writer's ids
    to_m = Transformer.from_crs("EPSG:4326", city.crs, always_xy=True)
    ids = list(got.nodes)
    gx, gy = to_m.transform([got.nodes[n]["x"] for n in ids], [got.nodes[n]["y"] for n in ids])
    labels = list(city.roads.nodes)
    tree = cKDTree(np.column_stack([[city.roads.nodes[n]["x"] for n in labels],
                                    [city.roads.nodes[n]["y"] for n in labels]]))
    dist, idx = tree.query(np.column_stack([gx, gy]))
    assert dist.max() < 0.05  # OSM stores 1e-7 degree, about 1 cm
    node_of = {n: labels[i] for n, i in zip(ids, idx, strict=True)}
    assert len(set(node_of.values())) == city.roads.number_of_nodes() == got.number_of_nodes()

    want = {(u, v): d for u, v, d in city.roads.edges(data=True)}
    back = {(node_of[u], node_of[v]): d for u, v, d in got.edges(data=True)}
    assert got.number_of_edges() == city.roads.number_of_edges() == len(back)
    assert back.keys() == want.keys()  # one-way streets keep their direction only
    assert all(back[e]["highway"] == want[e]["highway"] for e in want)
    assert all(back[e]["name"] == want[e]["name"] for e in want)
    # lengths: the reader's great-circle metres on the 6,371,009 m sphere (as osmnx) against pyproj's
    # geodesic on that sphere along the synthetic geometry, and against the projected lengths
    # (which differ by the UTM scale and the sphere's radius, well under 1 %)
    sphere = Geod(a=6_371_009.0, f=0.0)
    to_deg = Transformer.from_crs(city.crs, "EPSG:4326", always_xy=True)
    geodesic = {e: sphere.line_length(*to_deg.transform(*want[e]["geometry"].xy)) for e in want}
    err = np.array([back[e]["length"] - geodesic[e] for e in want])
    assert np.abs(err).max() < 1.0, np.abs(err).max()
    rel = np.array([back[e]["length"] / want[e]["length"] - 1.0 for e in want])
    assert np.abs(rel).max() < 0.01, np.abs(rel).max()
    assert sum(d["oneway"] for d in back.values()) == sum(bool(d["oneway"]) for d in want.values()) > 0

    # the project's own cleaning keeps all of it: the synthetic graph is strongly connected
    prepared = prepare_graph(got, crs=city.crs)
    assert (prepared.number_of_nodes(), prepared.number_of_edges()) == (
        city.roads.number_of_nodes(), city.roads.number_of_edges())

    # points of interest: same kinds, names and places
    assert Counter(layers.pois["kind"]) == Counter(city.pois["kind"])
    pois = layers.pois.to_crs(city.crs).set_index("name")
    want_pois = city.pois.set_index("name")
    assert sorted(pois.index) == sorted(want_pois.index)
    gap = shapely.distance(pois.geometry.loc[want_pois.index].to_numpy(), want_pois.geometry.to_numpy())
    assert gap.max() < 0.05


def test_a_city_bundle_loads_the_written_city(small_city, tmp_path):
    """``[data] source = "files"`` with the written PBF as ``roads`` gives the synthetic city's graph
    (in its own UTM zone) and its points of interest."""
    write_osm(small_city, tmp_path / "metro.osm.pbf")
    (tmp_path / "city.toml").write_text(textwrap.dedent("""
        [city]
        name = "Demo City (synthetic)"
        country = "india"
        [data]
        source = "files"
        roads = "metro.osm.pbf"
        population_total = 100000
        population_source = "synthetic"
        [siting]
        budget_usd = 100000
    """))
    city = load_city(tmp_path)
    assert city.crs == small_city.crs
    assert (city.roads.number_of_nodes(), city.roads.number_of_edges()) == (
        small_city.roads.number_of_nodes(), small_city.roads.number_of_edges())
    assert Counter(city.pois["kind"]) == Counter(small_city.pois["kind"])


def test_write_osm_refuses_bad_targets(small_city, tmp_path):
    with pytest.raises(DataError, match="not an OSM file name"):
        write_osm(small_city, tmp_path / "city.txt")
    with pytest.raises(DataError, match="does not exist"):
        write_osm(small_city, tmp_path / "missing" / "city.osm.pbf")
    path = write_osm(small_city, tmp_path / "city.osm.pbf")
    size = path.stat().st_size
    with pytest.raises(DataError, match="exists; remove it or pass overwrite=True"):
        write_osm(small_city, path)
    assert path.stat().st_size == size
    write_osm(small_city, path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["city.osm.pbf"]  # no partial file left


# --------------------------------------------------------------------------- scale

_PAD_NODES = 3_000_000
_PAD_WAYS = 300_000
_PAD_FIRST_ID = 10_000_000  # padding ids have 8 digits and follow every id of the city


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers as an (n, width) ASCII array."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + 48).astype(np.uint8)


def _opl(*parts: bytes | np.ndarray) -> bytes:
    """OPL lines of fixed width from constant byte strings and digit columns."""
    n = next(len(p) for p in parts if isinstance(p, np.ndarray))
    cols = [np.broadcast_to(np.frombuffer(p, dtype=np.uint8), (n, len(p))) if isinstance(p, bytes) else p
            for p in parts]
    return np.hstack([*cols, np.full((n, 1), ord("\n"), dtype=np.uint8)]).tobytes()


def _pad(src, dst, *, n_nodes: int, n_ways: int, seed: int = 0) -> None:
    """Copy an OSM file and add data no road or map layer reads: untagged nodes scattered over the
    city and ways of 5 of those nodes tagged barrier=fence, highway=steps or (closed)
    natural=scrub or natural=water."""
    box = osmium.FileProcessor(str(src)).header.box()
    lo, hi = box.bottom_left, box.top_right
    assert 10 <= lo.lon and hi.lon < 100 and 10 <= lo.lat and hi.lat < 100  # two-digit degrees
    rng = np.random.default_rng(seed)
    xi = rng.integers(lo.x, hi.x, n_nodes)
    yi = rng.integers(lo.y, hi.y, n_nodes)
    ids = _PAD_FIRST_ID + np.arange(n_nodes)
    nodes = _opl(b"n", _digits(ids, 8), b" v1 x", _digits(xi // 10**7, 2), b".", _digits(xi % 10**7, 7),
                 b" y", _digits(yi // 10**7, 2), b".", _digits(yi % 10**7, 7))
    # ways in id order (area assembly needs sorted files), all five refs wide: closed ones end where
    # they start
    tags = np.frombuffer(b"barrier=fencenatural=scrubhighway=stepsnatural=water", dtype=np.uint8).reshape(4, 13)
    kind = np.arange(n_ways) % 4
    members = ids[(np.arange(n_ways)[:, None] * 5 + np.arange(5)) % n_nodes]
    members[kind % 2 == 1, 4] = members[kind % 2 == 1, 0]
    refs = [b" Nn", _digits(members[:, 0], 8)]
    for k in range(1, 5):
        refs += [b",n", _digits(members[:, k], 8)]
    ways = _opl(b"w", _digits(_PAD_FIRST_ID + np.arange(n_ways), 8), b" v1 T", tags[kind], *refs)
    with osmium.SimpleWriter(str(dst), header=osmium.FileProcessor(str(src)).header) as writer:
        for entities, extra in ((osmium.osm.NODE, nodes), (osmium.osm.WAY, ways), (osmium.osm.RELATION, b"")):
            with osmium.io.Reader(str(src), entities) as reader:
                osmium.apply(reader, writer)
            if extra:
                with osmium.io.Reader(osmium.io.FileBuffer(extra, "opl")) as reader:
                    osmium.apply(reader, writer)


_MEASURE = textwrap.dedent("""
    import hashlib, json, sys, time
    from charge_planner.osm import read_osm

    def status_mb(key):  # this process's own figures (ru_maxrss would carry the parent's peak over exec)
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(key + ":")) / 1024

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak RSS to the current RSS, after the imports
    before = status_mb("VmRSS")
    start = time.perf_counter()
    layers = read_osm(sys.argv[1])
    seconds = time.perf_counter() - start
    peak = status_mb("VmHWM")
    g = layers.roads
    edges = sorted((u, v, d["highway"], round(d["length"], 3)) for u, v, d in g.edges(data=True))
    nodes = sorted((n, round(d["x"], 7), round(d["y"], 7)) for n, d in g.nodes(data=True))
    print(json.dumps({"seconds": seconds, "before_mb": before, "peak_mb": peak,
                      "nodes": g.number_of_nodes(), "edges": g.number_of_edges(), "pois": len(layers.pois),
                      "digest": hashlib.sha256(repr((nodes, edges)).encode()).hexdigest()}))
""")


def _measured_read(path) -> dict:
    """Read an OSM file in a fresh interpreter: time, RSS before the read and its peak during it
    (Linux /proc figures), digest of the road graph."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True,
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def metro_files(tmp_path_factory):
    """A 30 km x 30 km synthetic metro (about 86,000 directed road edges) as a PBF, and the same
    file padded with 3 million untagged nodes and 300,000 ways no layer reads."""
    folder = tmp_path_factory.mktemp("metro")
    city = generate_city(width_m=30_000.0, height_m=30_000.0)
    plain = write_osm(city, folder / "metro.osm.pbf")
    padded = folder / "metro_padded.osm.pbf"
    _pad(plain, padded, n_nodes=_PAD_NODES, n_ways=_PAD_WAYS)
    return city, plain, padded


@pytest.mark.slow
@pytest.mark.scale
def test_reading_a_padded_metro_keeps_memory_of_the_roads_only(metro_files):
    city, plain, padded = metro_files
    assert padded.stat().st_size > 10 * plain.stat().st_size
    a = _measured_read(plain)
    b = _measured_read(padded)
    inc_a, inc_b = a["peak_mb"] - a["before_mb"], b["peak_mb"] - b["before_mb"]
    print(f"\nplain  {plain.stat().st_size / 1e6:6.1f} MB: read {a['seconds']:.1f} s, peak RSS +{inc_a:.0f} MB "
          f"({a['edges']} edges)\npadded {padded.stat().st_size / 1e6:6.1f} MB: read {b['seconds']:.1f} s, "
          f"peak RSS +{inc_b:.0f} MB ({b['edges']} edges)")
    assert (a["nodes"], a["edges"]) == (city.roads.number_of_nodes(), city.roads.number_of_edges())
    assert a["pois"] == b["pois"] == len(city.pois)
    assert b["digest"] == a["digest"]  # the same road graph, node for node and edge for edge
    # 3 million more nodes in the file must not show in memory: libosmium's location index of every
    # node (16 bytes a node) would add some 50 MB to the ~165 MB the roads take
    assert inc_b <= 1.2 * inc_a, (inc_a, inc_b)


# --------------------------------------------------------------------------- node selection


def test_id_set_size_counts_the_blocks_of_2_to_the_25_ids_touched():
    ids = np.array([0, 1, 2**25 - 1, 2**25, 3 * 2**25 + 5], dtype=np.int64)  # blocks 0, 1 and 3
    assert osm_read._id_set_bytes(ids) == 3 * 4 * 2**20
    assert osm_read._id_set_bytes(ids, np.array([7], dtype=np.int64)) == 4 * 4 * 2**20  # ways: their own set
    assert osm_read._id_set_bytes(np.empty(0, dtype=np.int64)) == 0


def test_real_osm_ids_index_every_node_location(caplog):
    """A small real extract's road nodes already spread over about a hundred blocks of 2^25 ids
    (an id set of some 400 MiB), so the reader indexes every node location instead."""
    path = shared("bengaluru", "kr_circle_osm_bbox.osm.xml.gz")
    with caplog.at_level("INFO", logger="charge_planner.osm.read"):
        layers = read_osm(path, layers=False)
    found = re.search(r"node ids too spread for an id set \((\d+) MiB\)", caplog.text)
    assert found and int(found.group(1)) > 300, caplog.text
    assert layers.roads.number_of_edges() > 0
